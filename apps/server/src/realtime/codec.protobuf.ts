import protobuf from 'protobufjs';
import { CLIENT_PROTO } from './client.proto.js';
import type { Codec, Command, Reply } from './protocol.js';

/**
 * Protobuf wire format (subprotocol `centrifuge-protobuf`): binary frames holding one or more
 * Command/Reply messages, each prefixed with its length as a uvarint. The messages are those of
 * client.proto.ts; `bytes` fields (data, conn_info, chan_info) carry JSON, so the gateway sees the
 * same JS values whichever format a client speaks.
 */

const root = protobuf.parse(CLIENT_PROTO, { keepCase: true }).root;
root.resolveAll();
const CommandType = root.lookupType('centrifugal.centrifuge.protocol.Command');
const ReplyType = root.lookupType('centrifugal.centrifuge.protocol.Reply');

/** Plain objects out of decoded messages: only fields present on the wire, 64-bit ints as numbers. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, defaults: false };

type Convert = (value: unknown) => unknown;

/**
 * Builds, once per message type, a function that copies a plain object of that type and passes
 * every `bytes` field (at any depth: nested messages, repeated fields, map values) through
 * `bytes`. Returns null for types without bytes fields, which are then left untouched.
 */
function bytesConverter(bytes: Convert): (type: protobuf.Type) => Convert | null {
  const plans = new Map<protobuf.Type, Convert | null>();
  const plan = (type: protobuf.Type): Convert | null => {
    const known = plans.get(type);
    if (known !== undefined) return known;
    let self: Convert | null = null;
    // A recursive type refers to itself through this placeholder while its plan is being built.
    plans.set(type, (value) => (self ? self(value) : value));
    const steps: [string, Convert][] = [];
    for (const field of type.fieldsArray) {
      const one =
        field.type === 'bytes'
          ? bytes
          : field.resolvedType instanceof protobuf.Type
            ? plan(field.resolvedType)
            : null;
      if (!one) continue;
      steps.push([field.name, field.map ? eachValue(one) : field.repeated ? eachItem(one) : one]);
    }
    self = steps.length === 0 ? null : convertFields(steps);
    plans.set(type, self);
    return self;
  };
  return plan;
}

function convertFields(steps: [string, Convert][]): Convert {
  return (value) => {
    if (typeof value !== 'object' || value === null) return value;
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const [name, convert] of steps) {
      const field = out[name];
      if (field === undefined || field === null) continue;
      const converted = convert(field);
      if (converted === undefined) delete out[name];
      else out[name] = converted;
    }
    return out;
  };
}

const eachItem =
  (convert: Convert): Convert =>
  (value) =>
    Array.isArray(value) ? value.map(convert) : value;

const eachValue =
  (convert: Convert): Convert =>
  (value) => {
    if (typeof value !== 'object' || value === null) return value;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = convert(item);
    return out;
  };

/** JS value → UTF-8 JSON bytes (raw bytes pass through). */
const toJsonBytes: Convert = (value) => {
  if (value instanceof Uint8Array) return value;
  const json = JSON.stringify(value);
  return json === undefined ? undefined : Buffer.from(json, 'utf8');
};

/** UTF-8 JSON bytes → JS value; bytes that are not JSON stay a string, empty bytes mean absent. */
const fromJsonBytes: Convert = (value) => {
  if (!(value instanceof Uint8Array) || value.length === 0) return undefined;
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

const identity: Convert = (value) => value;
const commandFromWire = bytesConverter(fromJsonBytes)(CommandType) ?? identity;
const replyToWire = bytesConverter(toJsonBytes)(ReplyType) ?? identity;

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export const protobufCodec: Codec = {
  name: 'protobuf',

  /** Throws on text frames and on bytes that are not delimited Commands (the gateway closes 3501). */
  decodeCommands(frame: Buffer, isBinary: boolean): Command[] {
    if (!isBinary) throw new Error('the Protobuf format uses binary frames');
    const reader = protobuf.Reader.create(frame);
    const commands: Command[] = [];
    while (reader.pos < reader.len) {
      const message = CommandType.decodeDelimited(reader);
      commands.push(commandFromWire(CommandType.toObject(message, TO_OBJECT)) as Command);
    }
    return commands;
  },

  encodeReply(reply: Reply): Buffer {
    return asBuffer(ReplyType.encodeDelimited(replyToWire(reply) as Record<string, unknown>).finish());
  },

  /** Delimited messages simply follow each other. */
  frame(encoded: (string | Buffer)[]): Buffer {
    const buffers = encoded.map((e) => (typeof e === 'string' ? Buffer.from(e, 'utf8') : e));
    return buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers);
  },

  /** An empty Reply: its length prefix, 0. */
  ping: Buffer.from([0]),
};
