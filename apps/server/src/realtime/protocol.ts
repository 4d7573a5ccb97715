/**
 * Centrifugo client protocol v2: the codes and shapes Parley's gateway speaks.
 * See docs/realtime.md and ../shared/reference/centrifugo-protocol.md.
 */

/** Error codes in replies (`{"id":N,"error":{code,message,temporary}}`). */
export const ErrorCode = {
  INTERNAL: 100,
  UNAUTHORIZED: 101,
  UNKNOWN_CHANNEL: 102,
  PERMISSION_DENIED: 103,
  METHOD_NOT_FOUND: 104,
  ALREADY_SUBSCRIBED: 105,
  LIMIT_EXCEEDED: 106,
  BAD_REQUEST: 107,
  NOT_AVAILABLE: 108,
  TOKEN_EXPIRED: 109,
  EXPIRED: 110,
  TOO_MANY_REQUESTS: 111,
  UNRECOVERABLE_POSITION: 112,
} as const;

const TEMPORARY = new Set<number>([ErrorCode.INTERNAL, ErrorCode.TOO_MANY_REQUESTS]);

export interface ProtocolError {
  code: number;
  message: string;
  temporary?: boolean;
}

export const protocolError = (code: number, message: string): ProtocolError => ({
  code,
  message,
  ...(TEMPORARY.has(code) ? { temporary: true } : {}),
});

/** Close codes. 3000–3499 and 4000–4499: clients reconnect; 3500–3999 and 4500–4999: terminal. */
export const DisconnectCode = {
  SHUTDOWN: { code: 3001, reason: 'shutdown' },
  INTERNAL: { code: 3004, reason: 'internal server error' },
  EXPIRED: { code: 3005, reason: 'connection expired' },
  SLOW: { code: 3008, reason: 'slow' },
  WRITE_ERROR: { code: 3009, reason: 'write error' },
  INSUFFICIENT_STATE: { code: 3010, reason: 'insufficient state' },
  FORCE_RECONNECT: { code: 3011, reason: 'force reconnect' },
  NO_PONG: { code: 3012, reason: 'no pong' },
  TOO_MANY_REQUESTS: { code: 3013, reason: 'too many requests' },
  INVALID_TOKEN: { code: 3500, reason: 'invalid token' },
  BAD_REQUEST: { code: 3501, reason: 'bad request' },
  STALE: { code: 3502, reason: 'stale' },
  FORCE_DISCONNECT: { code: 3503, reason: 'force disconnect' },
  CONNECTION_LIMIT: { code: 3504, reason: 'connection limit' },
  CHANNEL_LIMIT: { code: 3505, reason: 'channel limit' },
  PERMISSION_DENIED: { code: 3507, reason: 'permission denied' },
  TOO_MANY_ERRORS: { code: 3509, reason: 'too many errors' },
  /** Application range, terminal: the user was banned from the app. */
  BANNED: { code: 4501, reason: 'banned' },
  /** Application range, terminal: the user was deleted. */
  USER_DELETED: { code: 4502, reason: 'user deleted' },
} as const;
export type Disconnect = { code: number; reason: string };

/** Unsubscribe push codes: below 2500 the client stays unsubscribed; 2500+ it resubscribes. */
export const UnsubscribeCode = {
  SERVER: 2000,
  INSUFFICIENT_STATE: 2500,
  EXPIRED: 2501,
} as const;

export interface StreamPositionWire {
  offset?: number;
  epoch?: string;
}

export interface SubscribeRequest {
  channel: string;
  token?: string;
  data?: unknown;
  recover?: boolean;
  offset?: number;
  epoch?: string;
  positioned?: boolean;
  recoverable?: boolean;
  join_leave?: boolean;
  flag?: number;
  delta?: string;
}

export interface HistoryRequest {
  channel: string;
  limit?: number;
  since?: StreamPositionWire;
  reverse?: boolean;
}

/** A decoded client command: `id` plus exactly one method field (or none: a pong). */
export interface Command {
  id?: number;
  connect?: {
    token?: string;
    data?: unknown;
    name?: string;
    version?: string;
    subs?: Record<string, unknown>;
  };
  subscribe?: SubscribeRequest;
  unsubscribe?: { channel: string };
  publish?: { channel: string; data?: unknown };
  presence?: { channel: string };
  presence_stats?: { channel: string };
  history?: HistoryRequest;
  ping?: Record<string, never>;
  send?: { data?: unknown };
  rpc?: { method?: string; data?: unknown };
  refresh?: { token?: string };
  sub_refresh?: { channel: string; token?: string };
}

export const METHODS = [
  'connect',
  'subscribe',
  'unsubscribe',
  'publish',
  'presence',
  'presence_stats',
  'history',
  'ping',
  'send',
  'rpc',
  'refresh',
  'sub_refresh',
] as const;
export type Method = (typeof METHODS)[number];

export function methodOf(command: Command): Method | undefined {
  for (const m of METHODS) if (command[m] !== undefined) return m;
  return undefined;
}

/** A reply or push as a plain object; codecs turn it into wire bytes. */
export type Reply = Record<string, unknown>;

/**
 * A wire format. JSON: text frames, newline-separated objects. Protobuf: binary frames of
 * uvarint-length-prefixed messages. Replies are built as plain objects (data fields hold JS
 * values) and encoded once per codec, so a publication fanned out to many clients is encoded once.
 */
export interface Codec {
  name: 'json' | 'protobuf';
  /** Throws on malformed input (the gateway then closes with 3501). */
  decodeCommands(frame: Buffer, isBinary: boolean): Command[];
  encodeReply(reply: Reply): string | Buffer;
  /** Joins encoded replies into one WebSocket frame. */
  frame(encoded: (string | Buffer)[]): string | Buffer;
  /** The server ping (an empty reply). */
  ping: string | Buffer;
}
