import type {
  Block,
  ChannelMute,
  ChannelState,
  Draft,
  Message,
  Poll,
  Reaction,
  Reminder,
  ScheduledMessage,
  SortSpec,
  Thread,
  UnreadCounts,
  User,
  UserMute,
} from '@parley/protocol';
import type { z } from 'zod';
import type { CachedState } from '../stores/types.js';
import type { FileUpload, LocalMessage, ServerEvent } from './types.js';

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
      /**
       * `latest`: the newest page; `older`/`newer`: the page before/after the loaded window;
       * `around`: a jump (the page around `around`, which replaces the window).
       */
      page: 'latest' | 'older' | 'newer' | 'around';
      limit: number;
      around?: string;
    }
  | { type: 'rest/message'; message: Message }
  /** A page of a thread's replies (GET /messages/{id}/replies), same paging as `rest/messages`. */
  | {
      type: 'rest/replies';
      parent_id: string;
      messages: Message[];
      page: 'latest' | 'older' | 'newer';
      limit: number;
    }
  /** A page of the thread list (GET /threads); `append` for the pages after the first. */
  | { type: 'rest/threads'; threads: Thread[]; next: string | null; append: boolean }
  /** One thread's state (the answer to a thread mark-read). */
  | { type: 'rest/thread'; thread: Thread }
  /** A page of mentions, newest first (GET /mentions); `append` for older pages. */
  | { type: 'rest/mentions'; messages: Message[]; append: boolean; limit: number }
  /**
   * Sets the connected user's own reactions on a message (optimistic toggle, or its undoing);
   * the message's counts and scores move by the difference.
   */
  | { type: 'local/reactions.own'; cid: string; message_id: string; own: Reaction[] }
  /** A poll as the server answered a vote or an update (with the user's own votes). */
  | { type: 'rest/poll'; cid: string; message_id: string; poll: Poll }
  /** The user read a thread up to its latest reply (optimistic; the server's answer follows). */
  | { type: 'local/thread.read'; parent_id: string; at: string }
  /** An optimistic edit of a confirmed message (or its undoing); server copies with a later updated_at win. */
  | { type: 'local/message.patch'; message: Message }
  | { type: 'rest/unread'; counts: UnreadCounts }
  | { type: 'rest/users'; users: User[] }
  /** A message being sent: shown as `sending` (a known one keeps its content unless `replace`). */
  | { type: 'local/message.sending'; message: LocalMessage; replace?: boolean }
  /** Sets (or with null removes) the files of a message sent with files, by client_msg_id. */
  | { type: 'local/uploads'; client_msg_id: string; files: FileUpload[] | null }
  /** One file's progress or state changed (`error` stays only when the change sets it). */
  | { type: 'local/upload'; client_msg_id: string; index: number; change: Partial<FileUpload> }
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
  | { type: 'local/channel.forget'; cid: string }
  /** The user's blocks (GET /moderation/blocks): replaces the known ones; blocked users' messages leave the lists. */
  | { type: 'rest/blocks'; blocks: Block[] }
  /** The user's mutes (GET /moderation/mutes): replaces the known ones. */
  | { type: 'rest/mutes'; user_mutes: UserMute[]; channel_mutes: ChannelMute[] }
  /** Drafts, reminders, scheduled messages from REST: merged into what is known. */
  | { type: 'rest/drafts'; drafts: Draft[] }
  | { type: 'rest/reminders'; reminders: Reminder[] }
  | { type: 'rest/scheduled'; scheduled_messages: ScheduledMessage[] }
  /** Something the user deleted over REST (its event follows): a draft by `draftKey`, a reminder by message id, a scheduled message by id. */
  | { type: 'local/removed'; what: 'drafts' | 'reminders' | 'scheduledMessages'; key: string }
  /** Takes a message out of the lists (an ephemeral preview that was sent or cancelled). */
  | { type: 'local/message.remove'; cid: string; message_id: string }
  /** These users are connected now (a channel's presence query): online, last activity kept. */
  | { type: 'rest/online'; user_ids: string[] }
  /** The user starred (`starred_at`) or unstarred (null) a message. */
  | { type: 'rest/star'; message_id: string; starred_at: string | null };

/** What `reduce` accepts. */
export type Action = ServerEvent | LocalAction;
