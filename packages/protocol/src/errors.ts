/**
 * Stable error codes shared by the server, the SDK and the UI. A code never changes meaning once
 * published; add new ones instead. `status` is the HTTP status the server answers with.
 */
export const ErrorCodes = {
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  INVALID_CID: { status: 400, message: 'A channel id must look like type:id' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be JSON' },
  AUTH_MISSING: { status: 401, message: 'Authentication is required' },
  AUTH_API_KEY_INVALID: { status: 401, message: 'The api key is unknown' },
  AUTH_SECRET_INVALID: { status: 401, message: 'The api secret is wrong' },
  AUTH_TOKEN_INVALID: { status: 401, message: 'The token is not valid' },
  AUTH_TOKEN_EXPIRED: { status: 401, message: 'The token has expired' },
  AUTH_TOKEN_REVOKED: { status: 401, message: 'The token was revoked' },
  AUTH_ADMIN_TOKEN_INVALID: { status: 401, message: 'The platform admin token is wrong' },
  AUTH_SERVER_ONLY: { status: 403, message: 'Only server-side calls may do this' },
  DEV_TOKENS_DISABLED: { status: 403, message: 'Development tokens are disabled for this app' },
  USER_BANNED: { status: 403, message: 'The user is banned' },
  USER_DELETED: { status: 403, message: 'The user was deleted' },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do this' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  APP_NOT_FOUND: { status: 404, message: 'The app does not exist' },
  USER_NOT_FOUND: { status: 404, message: 'The user does not exist' },
  CHANNEL_NOT_FOUND: { status: 404, message: 'The channel does not exist' },
  CHANNEL_TYPE_NOT_FOUND: { status: 404, message: 'The channel type does not exist' },
  MEMBER_NOT_FOUND: { status: 404, message: 'The user is not a member of this channel' },
  MESSAGE_NOT_FOUND: { status: 404, message: 'The message does not exist' },
  WEBHOOK_NOT_FOUND: { status: 404, message: 'The webhook endpoint does not exist' },
  WEBHOOK_DELIVERY_NOT_FOUND: { status: 404, message: 'The webhook delivery does not exist' },
  APP_NAME_TAKEN: { status: 409, message: 'An app with that name already exists' },
  CHANNEL_EXISTS: { status: 409, message: 'A channel with that id already exists' },
  CHANNEL_TYPE_EXISTS: { status: 409, message: 'A channel type with that name already exists' },
  CHANNEL_FROZEN: { status: 403, message: 'The channel is frozen' },
  SLOW_MODE: { status: 429, message: 'Slow mode is on: wait before sending again' },
  MESSAGE_TOO_LONG: { status: 400, message: 'The message text is too long' },
  MESSAGE_EMPTY: { status: 400, message: 'A message needs text or attachments' },
  MESSAGE_DELETED: { status: 400, message: 'The message was deleted' },
  THREAD_NESTED: { status: 400, message: 'Threads do not nest: reply to the thread parent' },
  TOO_MANY_MENTIONS: { status: 400, message: 'The message mentions too many users' },
  TOO_MANY_REACTIONS: { status: 400, message: 'Too many reactions by this user on this message' },
  REACTION_NOT_FOUND: { status: 404, message: 'The reaction does not exist' },
  CUSTOM_DATA_TOO_LARGE: { status: 400, message: 'Custom data is too large' },
  FILTER_INVALID: { status: 400, message: 'The filter is not valid' },
  SORT_INVALID: { status: 400, message: 'The sort is not valid' },
  NOT_INVITED: { status: 400, message: 'There is no pending invite for this user' },
  RATE_LIMITED: { status: 429, message: 'Too many requests' },
  NOT_READY: { status: 503, message: 'The server is not ready' },
  INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

/** The body of every error answer, on every route. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Which field was wrong and why; present for validation errors. */
  details?: { field?: string; issues?: { path: string; message: string }[]; [key: string]: unknown };
}
