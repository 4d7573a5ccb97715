import type {
  Message,
  Reaction,
  ScheduleMessageBody,
  SendMessageBody,
  Thread,
  UpdateMessageBody,
  UploadResponse,
} from '@parley/protocol';
import type { z } from 'zod';
import type { FileToSend } from './file-messages.js';
import type { Connection } from './realtime/connection.js';
import type { RestClient } from './rest.js';
import { selectMessage, selectMessages, selectReplies } from './state/selectors.js';
import type { Store } from './state/store.js';
import type { ChannelEntry, LocalMessage } from './state/types.js';
import type { UploadData, UploadOptions } from './uploads.js';

/** What a channel handle needs from its client. */
export interface ChannelHost {
  readonly store: Store;
  readonly rest: RestClient;
  readonly userId: string;
  realtime(): Connection | undefined;
  watchChannel(cid: string, opts: { messages: boolean }): Promise<void>;
  unwatchChannel(cid: string): void;
  queueMessage(cid: string, body: z.input<typeof SendMessageBody>, files?: FileToSend[]): Promise<Message>;
  retryMessage(clientMsgId: string): Promise<Message>;
  loadPage(cid: string, page: 'older' | 'newer', limit: number): Promise<Message[]>;
  loadReplies(
    cid: string,
    parentId: string,
    page: 'latest' | 'older' | 'newer',
    limit: number,
  ): Promise<Message[]>;
  markRead(cid: string, messageId?: string): Promise<void>;
  now(): string;
}

export type SendMessageInput = Omit<z.input<typeof SendMessageBody>, 'user_id'> & {
  /** Files to upload and attach (after `attachments`); see `sendMessage`. */
  files?: FileToSend[];
};

/** How often `typing()` tells the server at most (the gateway also re-publishes at most every 2 s). */
export const TYPING_THROTTLE_MS = 2000;

/**
 * One channel, as seen by the connected user. Reads come from the client's store (so the UI can
 * render before the network answers); every change goes through the store's reducers.
 */
export class ChannelHandle {
  readonly cid: string;
  private lastTypingAt = 0;
  private typingParent: string | null = null;

  constructor(
    private readonly host: ChannelHost,
    readonly type: string,
    readonly id: string,
  ) {
    this.cid = `${type}:${id}`;
  }

  /** The channel's entry in the store (undefined until fetched or loaded from the cache). */
  get state(): ChannelEntry | undefined {
    return this.host.store.getState().channels[this.cid];
  }

  /** Loaded messages in display order, unconfirmed ones (sending, failed) last. */
  get messages(): LocalMessage[] {
    return selectMessages(this.host.store.getState(), this.cid);
  }

  get hasOlder(): boolean {
    return this.host.store.getState().messages[this.cid]?.hasOlder ?? true;
  }

  get hasNewer(): boolean {
    return this.host.store.getState().messages[this.cid]?.hasNewer ?? false;
  }

  get unreadCount(): number {
    return this.host.store.getState().unread.channels[this.cid] ?? 0;
  }

  /**
   * Subscribes to the channel's events, then fetches the channel and its latest messages. Cached
   * data is in the store before this resolves; offline with a cache, it resolves with the cache
   * and refetches when the connection is back.
   */
  async watch(): Promise<ChannelEntry> {
    await this.host.watchChannel(this.cid, { messages: true });
    return this.state!;
  }

  stopWatching(): void {
    this.host.unwatchChannel(this.cid);
  }

  /**
   * Sends a message. It shows at once as `sending` (its id is its client_msg_id), becomes `sent`
   * when the server confirms it, or `failed` (see `retry`). Offline, it waits in the outbox. The
   * promise resolves with the confirmed message; the UI need not wait for it.
   *
   * With `files`, the message shows at once with a placeholder attachment per file (and a local
   * preview URL for a File), and `state.uploads[client_msg_id]` has each file's progress; the
   * files upload (3 at a time), then the message is sent with the server's attachments. A failed
   * upload makes the message `failed` (`retry` uploads only what is missing);
   * `client.cancelUpload(client_msg_id)` stops it. The files are in memory only: a reload before
   * they are uploaded loses the message.
   */
  sendMessage({ files, ...input }: SendMessageInput): Promise<Message> {
    this.lastTypingAt = 0;
    return this.host.queueMessage(this.cid, input, files);
  }

  /**
   * Uploads a file to the channel, reporting `onProgress({ loaded, total })`; abort with `signal`.
   * Resolves with the upload and the attachment to send in a message (`attachments: [attachment]`).
   */
  uploadFile(file: UploadData, options?: UploadOptions): Promise<UploadResponse> {
    return this.host.rest.uploadFile(this.type, this.id, file, options);
  }

  /**
   * Presses a button of an ephemeral command preview (for /giphy: `{ image_action: 'send' |
   * 'shuffle' | 'cancel' }`): shuffle replaces the preview, send replaces it with the sent
   * message, cancel removes it. Resolves with the server's answer.
   */
  async sendMessageAction(previewId: string, formData: Record<string, string>): Promise<Message> {
    const { message } = await this.host.rest.messageAction(previewId, { form_data: formData });
    const { store } = this.host;
    if (message.id !== previewId || message.deleted_at)
      store.dispatch({ type: 'local/message.remove', cid: this.cid, message_id: previewId });
    if (!message.deleted_at) store.dispatch({ type: 'rest/message', message });
    return message;
  }

  /** Marks `messageId` and everything after it unread (the unread counts follow). */
  async markUnread(messageId: string): Promise<void> {
    const counts = await this.host.rest.markUnread(this.type, this.id, { message_id: messageId });
    this.host.store.dispatch({ type: 'rest/unread', counts });
  }

  /** The channel's pinned messages, most recently pinned first (`next` pages on). */
  pinnedMessages(query: { limit?: number; next?: string } = {}) {
    return this.host.rest.pinnedMessages(this.type, this.id, query);
  }

  /** Schedules a message to be sent at `send_at` (in `state.scheduledMessages` at once). */
  async scheduleMessage(input: Omit<z.input<typeof ScheduleMessageBody>, 'user_id'>) {
    const { scheduled_message } = await this.host.rest.scheduleMessage(this.type, this.id, input);
    this.host.store.dispatch({ type: 'rest/scheduled', scheduled_messages: [scheduled_message] });
    return scheduled_message;
  }

  /**
   * Who is in the channel now: the users with a client watching it (invisible users are not
   * listed). They are marked online in `state.presence`; user.presence events keep it current.
   * Needs the channel watched (`watch()`).
   */
  async queryPresence(): Promise<string[]> {
    const connection = this.host.realtime();
    if (!connection) throw new Error('not connected');
    const users = await connection.presence(`chat:channel:${this.cid}`);
    this.host.store.dispatch({ type: 'rest/online', user_ids: users });
    return users;
  }

  /** Sends a failed message again (same client_msg_id, so never twice). */
  retry(clientMsgId: string): Promise<Message> {
    return this.host.retryMessage(clientMsgId);
  }

  /** Loads the page before the oldest loaded message; resolves with the new messages. */
  loadOlder(limit = 30): Promise<Message[]> {
    return this.host.loadPage(this.cid, 'older', limit);
  }

  /**
   * Jumps to a message: loads the page around it (half before, half from it on), which replaces
   * the loaded window; `loadOlder` / `loadNewer` go on from there. No fetch when it is loaded.
   */
  async loadAround(messageId: string, limit = 30): Promise<LocalMessage[]> {
    if (this.host.store.getState().messages[this.cid]?.byId[messageId]?.status !== 'sent') {
      const { messages } = await this.host.rest.listMessages(this.type, this.id, {
        id_around: messageId,
        limit,
      });
      this.host.store.dispatch({
        type: 'rest/messages',
        cid: this.cid,
        messages,
        page: 'around',
        limit,
        around: messageId,
      });
    }
    return this.messages;
  }

  /** Loads the page after the newest loaded message (after jumping back in history). */
  loadNewer(limit = 30): Promise<Message[]> {
    return this.host.loadPage(this.cid, 'newer', limit);
  }

  /** Marks the channel read (up to `messageId`, or everything); the unread count drops at once. */
  markRead(messageId?: string): Promise<void> {
    return this.host.markRead(this.cid, messageId);
  }

  /**
   * Call on every keystroke: tells the others at most every 2 s. Nothing is sent while offline
   * (typing indicators are ephemeral).
   */
  typing(parentId: string | null = null): void {
    const now = Date.now();
    if (now - this.lastTypingAt < TYPING_THROTTLE_MS && parentId === this.typingParent) return;
    const connection = this.host.realtime();
    if (connection?.connectionState !== 'connected') return;
    this.lastTypingAt = now;
    this.typingParent = parentId;
    void connection.rpc('typing.start', { cid: this.cid, parent_id: parentId }).catch(() => {});
  }

  /** Says the user stopped typing (sending a message does this on the server by itself). */
  stopTyping(): void {
    if (this.lastTypingAt === 0) return;
    this.lastTypingAt = 0;
    const connection = this.host.realtime();
    if (connection?.connectionState !== 'connected') return;
    void connection.rpc('typing.stop', { cid: this.cid, parent_id: this.typingParent }).catch(() => {});
  }

  // ---- threads ----

  /** A thread's loaded replies, oldest first (unconfirmed ones last). */
  replies(parentId: string): LocalMessage[] {
    return selectReplies(this.host.store.getState(), parentId);
  }

  /** The user's thread state (unread replies, read position), once the thread list or a read loaded it. */
  thread(parentId: string): Thread | undefined {
    return this.host.store.getState().threads[parentId];
  }

  /**
   * Loads a thread's replies: `latest` (the default) the newest page, `older`/`newer` the page
   * before/after the loaded ones (cursor pagination, no gaps, no duplicates). Watch the channel to
   * get new replies live.
   */
  loadReplies(
    parentId: string,
    opts: { page?: 'latest' | 'older' | 'newer'; limit?: number } = {},
  ): Promise<Message[]> {
    return this.host.loadReplies(this.cid, parentId, opts.page ?? 'latest', opts.limit ?? 30);
  }

  /** Replies in a thread: optimistic and queued like any message (it shows in the thread at once). */
  sendReply(parentId: string, input: Omit<SendMessageInput, 'parent_id'>): Promise<Message> {
    return this.sendMessage({ ...input, parent_id: parentId });
  }

  /** Marks the thread read (up to `messageId`, or every reply so far); its unread count drops at once. */
  async markThreadRead(parentId: string, messageId?: string): Promise<Thread> {
    if (!messageId)
      this.host.store.dispatch({ type: 'local/thread.read', parent_id: parentId, at: this.host.now() });
    const { thread } = await this.host.rest.markThreadRead(
      parentId,
      messageId ? { message_id: messageId } : {},
    );
    this.host.store.dispatch({ type: 'rest/thread', thread });
    return thread;
  }

  // ---- polls ----

  /** Votes in the poll of a message (`{ option_id }`, or `{ answer_text }` when answers are on). */
  async castPollVote(messageId: string, pollId: string, vote: { option_id?: string; answer_text?: string }) {
    const answer = await this.host.rest.castPollVote(messageId, pollId, { vote });
    this.host.store.dispatch({ type: 'rest/poll', cid: this.cid, message_id: messageId, poll: answer.poll });
    return answer;
  }

  async removePollVote(messageId: string, pollId: string, voteId: string) {
    const answer = await this.host.rest.removePollVote(messageId, pollId, voteId);
    this.host.store.dispatch({ type: 'rest/poll', cid: this.cid, message_id: messageId, poll: answer.poll });
    return answer;
  }

  // ---- reactions ----

  /**
   * Adds a reaction (or sets its score): it shows at once and is undone if the server refuses it.
   * `enforce_unique` replaces the user's other reactions on the message.
   */
  async sendReaction(
    messageId: string,
    type: string,
    opts: { score?: number; enforce_unique?: boolean } = {},
  ): Promise<Message> {
    const before = this.ownReactions(messageId);
    if (before) {
      const now = this.host.now();
      const previous = before.find((r) => r.type === type);
      const reaction: Reaction = {
        message_id: messageId,
        user_id: this.host.userId,
        type,
        score: opts.score ?? 1,
        created_at: previous?.created_at ?? now,
        updated_at: now,
      };
      const own = opts.enforce_unique ? [reaction] : [reaction, ...before.filter((r) => r.type !== type)];
      this.setOwnReactions(messageId, own);
    }
    return this.reactionCall(messageId, before, () =>
      this.host.rest.sendReaction(messageId, {
        type,
        ...(opts.score !== undefined ? { score: opts.score } : {}),
        ...(opts.enforce_unique !== undefined ? { enforce_unique: opts.enforce_unique } : {}),
      }),
    );
  }

  /** Removes the user's reaction of `type`: it goes at once and comes back if the server refuses. */
  async deleteReaction(messageId: string, type: string): Promise<Message> {
    const before = this.ownReactions(messageId);
    if (before)
      this.setOwnReactions(
        messageId,
        before.filter((r) => r.type !== type),
      );
    return this.reactionCall(messageId, before, () => this.host.rest.deleteReaction(messageId, type));
  }

  /** Adds the reaction when the user has not left it, removes it when they have. */
  toggleReaction(messageId: string, type: string, opts: { enforce_unique?: boolean } = {}): Promise<Message> {
    const own = this.ownReactions(messageId) ?? [];
    return own.some((r) => r.type === type)
      ? this.deleteReaction(messageId, type)
      : this.sendReaction(messageId, type, opts);
  }

  private ownReactions(messageId: string): Reaction[] | undefined {
    const message = selectMessage(this.host.store.getState(), this.cid, messageId);
    return message ? (message.own_reactions ?? []) : undefined;
  }

  private setOwnReactions(messageId: string, own: Reaction[]) {
    this.host.store.dispatch({ type: 'local/reactions.own', cid: this.cid, message_id: messageId, own });
  }

  private async reactionCall(
    messageId: string,
    before: Reaction[] | undefined,
    call: () => Promise<{ message: Message }>,
  ): Promise<Message> {
    try {
      const { message } = await call();
      this.host.store.dispatch({ type: 'local/message.patch', message });
      return message;
    } catch (error) {
      if (before) this.setOwnReactions(messageId, before);
      throw error;
    }
  }

  /** Edits a message; the edit shows at once and is undone if the server refuses it. */
  async updateMessage(messageId: string, patch: Omit<z.input<typeof UpdateMessageBody>, 'user_id'>) {
    const before = this.host.store.getState().messages[this.cid]?.byId[messageId];
    if (before) {
      const optimistic = { ...before, ...patch, edited_at: this.host.now() } as Message;
      this.host.store.dispatch({ type: 'local/message.patch', message: optimistic });
    }
    try {
      const { message } = await this.host.rest.updateMessage(messageId, patch);
      this.host.store.dispatch({ type: 'rest/message', message });
      return message;
    } catch (error) {
      if (before) this.host.store.dispatch({ type: 'local/message.patch', message: before });
      throw error;
    }
  }

  /** Deletes a message (a soft delete leaves a `deleted` tombstone, as the server does). */
  async deleteMessage(messageId: string, opts: { hard?: boolean } = {}) {
    const { message } = await this.host.rest.deleteMessage(messageId, opts);
    this.host.store.dispatch({ type: 'message.deleted', ...deletedEvent(message, opts.hard ?? false) });
    return message;
  }
}

/** The answer to a delete, in the shape of the event the server publishes for it. */
function deletedEvent(message: Message, hard: boolean) {
  return {
    id: `local-${message.id}`,
    app_id: '',
    created_at: message.updated_at,
    cid: message.cid,
    message,
    hard,
  };
}
