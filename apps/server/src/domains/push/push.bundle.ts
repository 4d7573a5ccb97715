import type { PushMessage } from './push.providers.js';

/** What a bundle is built from: the user's due pushes, oldest first. */
export interface BundleItem {
  message_id: string;
  cid: string;
  parent_id: string | null;
  text: string | null;
  sender_name: string | null;
  sender_id: string | null;
  channel_name: string | null;
}

const BODY_CHARS = 180;
/** Channels listed in `data.cids` (Web Push payloads must stay under 4 KB). */
export const MAX_BUNDLE_CIDS = 10;

const clip = (text: string) => (text.length > BODY_CHARS ? `${text.slice(0, BODY_CHARS - 1)}…` : text);

/**
 * One push for several messages: a single message shows its sender and text; several show
 * "5 new messages from 2 chats" with the newest as the body. The data deep-links to the newest
 * message (its channel, and its thread parent for a reply). Pure.
 */
export function buildBundle(
  appId: string,
  items: readonly BundleItem[],
  badge: number,
  bundleId: string,
): PushMessage {
  if (items.length === 0) throw new Error('a bundle needs at least one message');
  const newest = items.at(-1)!;
  const cids = [...new Set(items.map((i) => i.cid))];
  const sender = newest.sender_name || newest.sender_id || 'Someone';
  const line = clip(newest.text?.trim() || 'sent a message');
  const where = newest.channel_name ? ` in ${newest.channel_name}` : '';
  const title =
    items.length === 1
      ? `${sender}${where}`
      : `${items.length} new messages${cids.length > 1 ? ` from ${cids.length} chats` : where}`;
  const body = items.length === 1 ? line : `${sender}: ${line}`;
  return {
    title,
    body,
    badge,
    bundle_id: bundleId,
    data: {
      type: 'message.new',
      app_id: appId,
      cid: newest.cid,
      message_id: newest.message_id,
      parent_id: newest.parent_id,
      count: items.length,
      cids: cids.slice(-MAX_BUNDLE_CIDS),
    },
  };
}
