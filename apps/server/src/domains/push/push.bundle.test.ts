import { describe, expect, it } from 'vitest';
import { type BundleItem, buildBundle, MAX_BUNDLE_CIDS } from './push.bundle.js';

const item = (n: number, cid = 'messaging:general', extra: Partial<BundleItem> = {}): BundleItem => ({
  message_id: `m${n}`,
  cid,
  parent_id: null,
  text: `text ${n}`,
  sender_id: 'bob',
  sender_name: 'Bob',
  channel_name: 'General',
  ...extra,
});

describe('buildBundle', () => {
  it('one message: sender and channel as title, the text as body, deep link to it', () => {
    expect(buildBundle('app1', [item(1)], 3, 'b1')).toEqual({
      title: 'Bob in General',
      body: 'text 1',
      badge: 3,
      bundle_id: 'b1',
      data: {
        type: 'message.new',
        app_id: 'app1',
        cid: 'messaging:general',
        message_id: 'm1',
        parent_id: null,
        count: 1,
        cids: ['messaging:general'],
      },
    });
  });

  it('several messages of one chat, then of two chats; the newest is the deep link', () => {
    const one = buildBundle('a', [item(1), item(2), item(3, undefined, { parent_id: 'p1' })], 0, 'b');
    expect(one.title).toBe('3 new messages in General');
    expect(one.body).toBe('Bob: text 3');
    expect(one.data).toMatchObject({ message_id: 'm3', parent_id: 'p1', count: 3 });
    const two = buildBundle(
      'a',
      [item(1), item(2, 'team:ops', { channel_name: null }), item(3), item(4), item(5)],
      0,
      'b',
    );
    expect(two.title).toBe('5 new messages from 2 chats');
    expect(two.data.cids).toEqual(['messaging:general', 'team:ops']);
  });

  it('falls back to the user id, a neutral text, clips long text and caps the channel list', () => {
    const push = buildBundle(
      'a',
      [item(1, 'x:y', { sender_name: null, channel_name: null, text: '' })],
      0,
      'b',
    );
    expect(push.title).toBe('bob');
    expect(push.body).toBe('sent a message');
    expect(buildBundle('a', [item(1, undefined, { text: 'x'.repeat(500) })], 0, 'b').body).toHaveLength(180);
    const many = Array.from({ length: 30 }, (_, i) => item(i, `messaging:c${i}`));
    const bundle = buildBundle('a', many, 0, 'b');
    expect(bundle.title).toBe('30 new messages from 30 chats');
    expect(bundle.data.cids).toHaveLength(MAX_BUNDLE_CIDS);
    expect(bundle.data.cids.at(-1)).toBe('messaging:c29');
    expect(() => buildBundle('a', [], 0, 'b')).toThrow();
  });
});
