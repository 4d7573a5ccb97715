import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { CLIENT_PROTO } from './client.proto.js';
import { jsonCodec } from './codec.json.js';
import { protobufCodec } from './codec.protobuf.js';

// The schema plays the client here: it encodes commands and decodes replies.
const root = protobuf.parse(CLIENT_PROTO, { keepCase: true }).root;
const Command = root.lookupType('centrifugal.centrifuge.protocol.Command');
const Reply = root.lookupType('centrifugal.centrifuge.protocol.Reply');

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const text = (bytes: unknown) => Buffer.from(bytes as Uint8Array).toString('utf8');

function encodeCommands(...commands: Record<string, unknown>[]): Buffer {
  const writer = protobuf.Writer.create();
  for (const command of commands) Command.encodeDelimited(command, writer);
  return Buffer.from(writer.finish());
}

/** A decoded reply: deeply dynamic, read field by field by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: the shape is whatever the wire held
type Wire = any;

/** Every delimited Reply of a frame, as plain objects with byte fields still bytes. */
function decodeReplies(frame: string | Buffer): Wire[] {
  expect(Buffer.isBuffer(frame)).toBe(true);
  const reader = protobuf.Reader.create(frame as Buffer);
  const replies: Wire[] = [];
  while (reader.pos < reader.len)
    replies.push(Reply.toObject(Reply.decodeDelimited(reader), { longs: Number }));
  return replies;
}

const decodeReply = (reply: Record<string, unknown>) => {
  const replies = decodeReplies(protobufCodec.encodeReply(reply));
  expect(replies).toHaveLength(1);
  return replies[0]!;
};

const info = { user: 'alice', client: 'c1', conn_info: { name: 'Alice' }, chan_info: { role: 'owner' } };

describe('protobuf codec: commands', () => {
  it('decodes bytes laid out as client.proto says (field numbers, uvarint length prefix)', () => {
    // Command{id:1 (field 1, varint), connect (field 4): ConnectRequest{token "t" (1), data {"a":1} (2)}}
    const data = json({ a: 1 });
    const connect = Buffer.concat([Buffer.from([0x0a, 0x01, 0x74, 0x12, data.length]), data]);
    const command = Buffer.concat([Buffer.from([0x08, 0x01, 0x22, connect.length]), connect]);
    const frame = Buffer.concat([Buffer.from([command.length]), command]);
    expect(protobufCodec.decodeCommands(frame, true)).toEqual([
      { id: 1, connect: { token: 't', data: { a: 1 } } },
    ]);
  });

  it('decodes several commands of one frame, in order, with JSON bytes as JS values', () => {
    const frame = encodeCommands(
      { id: 1, connect: { token: 'tok', name: 'java', data: json({ api_key: 'k' }) } },
      {
        id: 2,
        subscribe: {
          channel: 'chat:channel:a',
          recover: true,
          offset: 7,
          epoch: 'e1',
          join_leave: true,
          flag: 1,
        },
      },
      {
        id: 3,
        history: { channel: 'chat:channel:a', limit: 10, since: { offset: 3, epoch: 'e1' }, reverse: true },
      },
      { id: 4, rpc: { method: 'typing.start', data: json({ cid: 'messaging:a' }) } },
      { id: 5, publish: { channel: 'c', data: json('just a string') } },
      { id: 6, presence: { channel: 'c' } },
      { id: 7, presence_stats: { channel: 'c' } },
      { id: 8, unsubscribe: { channel: 'c' } },
      { id: 9, refresh: { token: 'new' } },
      { id: 10, sub_refresh: { channel: 'c', token: 'st' } },
      { id: 11, ping: {} },
      { send: { data: json([1, 2]) } },
      {}, // the client's pong: an empty command
    );
    expect(protobufCodec.decodeCommands(frame, true)).toEqual([
      { id: 1, connect: { token: 'tok', name: 'java', data: { api_key: 'k' } } },
      {
        id: 2,
        subscribe: {
          channel: 'chat:channel:a',
          recover: true,
          offset: 7,
          epoch: 'e1',
          join_leave: true,
          flag: 1,
        },
      },
      {
        id: 3,
        history: { channel: 'chat:channel:a', limit: 10, since: { offset: 3, epoch: 'e1' }, reverse: true },
      },
      { id: 4, rpc: { method: 'typing.start', data: { cid: 'messaging:a' } } },
      { id: 5, publish: { channel: 'c', data: 'just a string' } },
      { id: 6, presence: { channel: 'c' } },
      { id: 7, presence_stats: { channel: 'c' } },
      { id: 8, unsubscribe: { channel: 'c' } },
      { id: 9, refresh: { token: 'new' } },
      { id: 10, sub_refresh: { channel: 'c', token: 'st' } },
      { id: 11, ping: {} },
      { send: { data: [1, 2] } },
      {},
    ]);
  });

  it('keeps bytes that are not JSON as a string, drops empty bytes, decodes connect subs', () => {
    const frame = encodeCommands(
      { id: 1, rpc: { method: 'm', data: Buffer.from('not json {') } },
      { id: 2, rpc: { method: 'm', data: Buffer.alloc(0) } },
      {
        id: 3,
        connect: {
          token: 't',
          subs: { srv: { recover: true, offset: 4, epoch: 'e', data: json({ x: 1 }) } },
        },
      },
    );
    expect(protobufCodec.decodeCommands(frame, true)).toEqual([
      { id: 1, rpc: { method: 'm', data: 'not json {' } },
      { id: 2, rpc: { method: 'm' } },
      {
        id: 3,
        connect: { token: 't', subs: { srv: { recover: true, offset: 4, epoch: 'e', data: { x: 1 } } } },
      },
    ]);
  });

  it('decodes an empty frame to no commands', () => {
    expect(protobufCodec.decodeCommands(Buffer.alloc(0), true)).toEqual([]);
  });

  it('throws on text frames and on bytes that are not delimited commands', () => {
    const valid = encodeCommands({ id: 1, connect: { token: 't' } });
    expect(() => protobufCodec.decodeCommands(valid, false)).toThrow();
    expect(() => protobufCodec.decodeCommands(Buffer.from('{"id":1,"connect":{}}'), false)).toThrow();
    // A length prefix longer than the frame.
    expect(() => protobufCodec.decodeCommands(Buffer.from([0x10, 0x08, 0x01]), true)).toThrow();
    // A complete first command, then a truncated one.
    expect(() => protobufCodec.decodeCommands(Buffer.concat([valid, valid.subarray(0, 3)]), true)).toThrow();
    // Wire type 7 does not exist (on field 2, which Command does not define).
    expect(() => protobufCodec.decodeCommands(Buffer.from([0x02, 0x17, 0x00]), true)).toThrow();
    // A length prefix that never ends.
    expect(() =>
      protobufCodec.decodeCommands(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), true),
    ).toThrow();
  });
});

describe('protobuf codec: replies and pushes', () => {
  it('encodes the ping as the single byte 0x00, like an empty reply', () => {
    expect(Buffer.isBuffer(protobufCodec.ping)).toBe(true);
    expect([...(protobufCodec.ping as Buffer)]).toEqual([0]);
    expect([...(protobufCodec.encodeReply({}) as Buffer)]).toEqual([0]);
  });

  it('lays out an error reply as client.proto says', () => {
    // Reply{id:2 (1), error (2): Error{code 103 (1), message "no" (2), temporary true (3)}}
    const bytes = protobufCodec.encodeReply({ id: 2, error: { code: 103, message: 'no', temporary: true } });
    expect([...(bytes as Buffer)]).toEqual([12, 0x08, 2, 0x12, 8, 0x08, 103, 0x12, 2, 0x6e, 0x6f, 0x18, 1]);
  });

  it('encodes a publication push: data and info as JSON bytes, offset as uint64, tags', () => {
    const reply = decodeReply({
      push: {
        channel: 'chat:channel:a',
        pub: { data: { type: 'message.new', n: 1 }, offset: 42, info, tags: { t: 'v' } },
      },
    });
    expect(reply.id).toBeUndefined();
    expect(reply.push.channel).toBe('chat:channel:a');
    expect(JSON.parse(text(reply.push.pub.data))).toEqual({ type: 'message.new', n: 1 });
    expect(reply.push.pub.offset).toBe(42);
    expect(reply.push.pub.tags).toEqual({ t: 'v' });
    expect(reply.push.pub.info.user).toBe('alice');
    expect(JSON.parse(text(reply.push.pub.info.conn_info))).toEqual({ name: 'Alice' });
    expect(JSON.parse(text(reply.push.pub.info.chan_info))).toEqual({ role: 'owner' });
  });

  it('encodes a publication beyond 32 bits of offset exactly', () => {
    const reply = decodeReply({ push: { channel: 'c', pub: { data: 'x', offset: 2 ** 40 + 3 } } });
    expect(reply.push.pub.offset).toBe(2 ** 40 + 3);
    expect(text(reply.push.pub.data)).toBe('"x"');
  });

  it('encodes join, leave and unsubscribe pushes', () => {
    const join = decodeReply({ push: { channel: 'c', join: { info } } });
    expect(join.push.join.info.client).toBe('c1');
    expect(JSON.parse(text(join.push.join.info.conn_info))).toEqual({ name: 'Alice' });
    const leave = decodeReply({ push: { channel: 'c', leave: { info: { user: 'bob', client: 'c2' } } } });
    expect(leave.push.leave.info).toEqual({ user: 'bob', client: 'c2' });
    const unsubscribe = decodeReply({
      push: { channel: 'c', unsubscribe: { code: 2500, reason: 'insufficient state' } },
    });
    expect(unsubscribe.push.unsubscribe).toEqual({ code: 2500, reason: 'insufficient state' });
  });

  it('encodes connect, subscribe, history, presence, presence_stats, rpc and refresh results', () => {
    const connect = decodeReply({
      id: 1,
      connect: {
        client: 'c1',
        version: 'v',
        ping: 25,
        pong: true,
        expires: true,
        ttl: 300,
        data: { hello: true },
        subs: {
          srv: { recoverable: true, epoch: 'e', offset: 2, publications: [{ data: { n: 2 }, offset: 2 }] },
        },
      },
    });
    expect(connect.id).toBe(1);
    expect(connect.connect).toMatchObject({
      client: 'c1',
      version: 'v',
      ping: 25,
      pong: true,
      expires: true,
      ttl: 300,
    });
    expect(JSON.parse(text(connect.connect.data))).toEqual({ hello: true });
    expect(JSON.parse(text(connect.connect.subs.srv.publications[0].data))).toEqual({ n: 2 });
    expect(connect.connect.subs.srv.offset).toBe(2);

    const subscribe = decodeReply({
      id: 2,
      subscribe: {
        recoverable: true,
        positioned: true,
        epoch: 'e1',
        offset: 5,
        was_recovering: true,
        recovered: true,
        publications: [
          { data: { n: 6 }, offset: 6 },
          { data: { n: 7 }, offset: 7, info },
        ],
      },
    });
    expect(subscribe.subscribe).toMatchObject({
      recoverable: true,
      positioned: true,
      epoch: 'e1',
      offset: 5,
      was_recovering: true,
      recovered: true,
    });
    expect(subscribe.subscribe.publications.map((p: Wire) => [JSON.parse(text(p.data)), p.offset])).toEqual([
      [{ n: 6 }, 6],
      [{ n: 7 }, 7],
    ]);
    expect(JSON.parse(text(subscribe.subscribe.publications[1].info.chan_info))).toEqual({ role: 'owner' });

    const history = decodeReply({
      id: 3,
      history: { publications: [{ data: [1], offset: 9 }], epoch: 'e1', offset: 9 },
    });
    expect(history.history.epoch).toBe('e1');
    expect(history.history.offset).toBe(9);
    expect(JSON.parse(text(history.history.publications[0].data))).toEqual([1]);

    const presence = decodeReply({
      id: 4,
      presence: { presence: { c1: info, c2: { user: 'bob', client: 'c2' } } },
    });
    expect(Object.keys(presence.presence.presence).sort()).toEqual(['c1', 'c2']);
    expect(JSON.parse(text(presence.presence.presence.c1.conn_info))).toEqual({ name: 'Alice' });
    expect(presence.presence.presence.c2).toEqual({ user: 'bob', client: 'c2' });

    const stats = decodeReply({ id: 5, presence_stats: { num_clients: 3, num_users: 2 } });
    expect(stats.presence_stats).toEqual({ num_clients: 3, num_users: 2 });

    const rpc = decodeReply({ id: 6, rpc: { data: { unread: 0 } } });
    expect(JSON.parse(text(rpc.rpc.data))).toEqual({ unread: 0 });

    const refresh = decodeReply({ id: 7, refresh: { client: 'c1', version: 'v', expires: true, ttl: 60 } });
    expect(refresh.refresh).toEqual({ client: 'c1', version: 'v', expires: true, ttl: 60 });

    const empty = decodeReply({ id: 8, unsubscribe: {} });
    expect(empty).toEqual({ id: 8, unsubscribe: {} });
  });

  it('does not change the reply it encodes (one reply object is encoded by every codec)', () => {
    const reply = { push: { channel: 'c', pub: { data: { n: 1 }, offset: 1, info } } };
    const before = structuredClone(reply);
    protobufCodec.encodeReply(reply);
    expect(reply).toEqual(before);
    expect(jsonCodec.encodeReply(reply)).toBe(JSON.stringify(before));
  });

  it('frames several replies by concatenating them', () => {
    const parts = [
      protobufCodec.encodeReply({ id: 1, presence_stats: { num_clients: 1, num_users: 1 } }),
      protobufCodec.ping,
      protobufCodec.encodeReply({ push: { channel: 'c', pub: { data: { n: 1 }, offset: 1 } } }),
    ];
    const frame = protobufCodec.frame(parts);
    expect(frame).toEqual(Buffer.concat(parts as Buffer[]));
    const replies = decodeReplies(frame);
    expect(replies).toHaveLength(3);
    expect(replies[0]!.presence_stats).toEqual({ num_clients: 1, num_users: 1 });
    expect(replies[1]).toEqual({});
    expect(replies[2]!.push.pub.offset).toBe(1);
  });
});
