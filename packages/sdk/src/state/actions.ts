import type { ChannelState, Message, SortSpec, UnreadCounts, User } from '@parley/protocol';
import type { z } from 'zod';
import type { CachedState } from '../stores/types.js';
import type { LocalMessage, ServerEvent } from './types.js';

/** REST answers, local optimistic actions and cache loads: everything besides server events. */
export type LocalAction =
  | { type: 'local/reset'; userId: string | null }
  | { type: 'local/hydrate'; cache: CachedState }
  | { type: 'rest/channels'; channels: ChannelState[] }
  | {
      type: 'rest/query';
      key: string;
      sort: z.output<typeof SortSpec>;
      channels: ChannelState[];
      offset: number;
      limit: number;
    }
  | {
      type: 'rest/messages';
      cid: string;
      messages: Message[];
      /** `latest`: the newest page; `older`/`newer`: the page before/after the loaded window. */
      page: 'latest' | 'older' | 'newer';
      limit: number;
    }
  | { type: 'rest/message'; message: Message }
  /** An optimistic edit of a confirmed message (or its undoing); server copies with a later updated_at win. */
  | { type: 'local/message.patch'; message: Message }
  | { type: 'rest/unread'; counts: UnreadCounts }
  | { type: 'rest/users'; users: User[] }
  | { type: 'local/message.sending'; message: LocalMessage }
  | {
      type: 'local/message.failed';
      cid: string;
      client_msg_id: string;
      error: { code: string; message: string };
    }
  | { type: 'local/message.discard'; cid: string; client_msg_id: string }
  | { type: 'local/mark_read'; cid: string; at: string }
  /** A typing indicator timed out (no typing.stop came). */
  | { type: 'local/typing.clear'; cid: string; user_id: string }
  | { type: 'local/channel.forget'; cid: string };

/** What `reduce` accepts. */
export type Action = ServerEvent | LocalAction;
