import type { Attachment, Message, UploadResponse } from '@parley/protocol';
import { isRetryable, ParleyApiError, ParleyNetworkError, ParleyUploadCancelledError } from './errors.js';
import { pendingMessage } from './state/reducer.js';
import { selectUploads } from './state/selectors.js';
import type { Store } from './state/store.js';
import type { FileUpload } from './state/types.js';
import type { OutboxItem } from './stores/types.js';
import { isBlob, type UploadData, type UploadOptions } from './uploads.js';

/** A file to send with a message: a File (its name and type are used), or data with a name. */
export type FileToSend = Blob | { data: UploadData; name: string; type?: string };

export interface FileMessageDeps {
  store: Store;
  userId: string;
  upload(cid: string, data: UploadData, options: UploadOptions): Promise<UploadResponse>;
  deleteUpload(cid: string, uploadId: string): Promise<unknown>;
  /** Hands the message, its files uploaded, to the outbox; resolves once the server confirmed it. */
  enqueue(item: OutboxItem): Promise<Message>;
  /** Whether the client is connected (default: always): failures while offline do not count. */
  online?(): boolean;
  /** The wait after `rounds` failed rounds in a row (default: backoff with jitter; tests shorten it). */
  retryDelay?(rounds: number): number;
}

/** How many files upload at the same time, over all messages of the client. */
export const UPLOAD_CONCURRENCY = 3;

/**
 * Failed rounds (network error, 429, 5xx) while online before the message is `failed`. The cap
 * matters because a server refusing a file before reading it (413/415/403) closes the
 * connection, and a client still sending the body often sees a reset instead of the answer:
 * without it such a file would be sent again and again.
 */
export const MAX_UPLOAD_ATTEMPTS = 5;

/** Backoff with full jitter, as the outbox does (1 s, 2 s, 4 s … at most 30 s). */
const backoff = (rounds: number) => {
  const ceiling = Math.min(30_000, 1000 * 2 ** Math.min(rounds, 5));
  return ceiling / 2 + Math.random() * (ceiling / 2);
};

interface LocalFile {
  data: UploadData;
  name: string;
  type: string;
  size: number;
  /** A blob: URL for the placeholder attachment (revoked when the message leaves this queue). */
  preview?: string;
  /** The server's attachment, once uploaded (a retry skips the file). */
  attachment?: Attachment;
}

interface Job {
  /** The message as the user wrote it (its own attachments, without the files). */
  item: OutboxItem;
  files: LocalFile[];
  abort: AbortController;
  waiters: { resolve(m: Message): void; reject(e: unknown): void }[];
  running: boolean;
  /** Failed rounds in a row (for the backoff), and those of them while online (for the cap). */
  rounds: number;
  failures: number;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Messages sent with files, until their files are uploaded. The message shows at once as
 * `sending`, with placeholder attachments (type by MIME, title, size, a local preview URL) and
 * per-file progress in `state.uploads[client_msg_id]`; the files upload in parallel (at most
 * UPLOAD_CONCURRENCY over the client); then the message, with the server's attachments, goes to
 * the outbox like any other (idempotent by client_msg_id) and leaves this queue.
 *
 * Network failures and 429/5xx keep the message `sending` and try again (backoff, or `kick` on
 * reconnect): without limit while the client is offline, at most MAX_UPLOAD_ATTEMPTS rounds
 * while online. Any other failure, or the last of those rounds, makes it `failed` (with that
 * error) until `retry`, which uploads only the files not uploaded yet. `cancel` aborts the
 * uploads, deletes what was uploaded and removes the message. The files live in memory only
 * (the persistent store holds JSON): a page reload or a process exit before the hand-off loses
 * the message.
 */
export class FileMessages {
  private readonly jobs = new Map<string, Job>();
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly deps: FileMessageDeps) {}

  /** Shows the message, uploads its files, then queues it; resolves with the confirmed message. */
  send(item: OutboxItem, files: FileToSend[]): Promise<Message> {
    // The same client_msg_id again (a double tap): that message is on its way already.
    const running = this.jobs.get(item.client_msg_id);
    if (running) return this.wait(running);
    const job: Job = {
      item,
      files: files.map(localFile),
      abort: new AbortController(),
      waiters: [],
      running: false,
      rounds: 0,
      failures: 0,
    };
    this.jobs.set(item.client_msg_id, job);
    this.show(job);
    this.dispatch({
      type: 'local/uploads',
      client_msg_id: item.client_msg_id,
      files: job.files.map((f) => ({
        name: f.name,
        mime_type: f.type,
        loaded: 0,
        total: f.size,
        state: 'queued',
      })),
    });
    const done = this.wait(job);
    void this.run(job);
    return done;
  }

  /** Uploads the files that are not uploaded yet, then sends; undefined when not a message of this queue. */
  retry(clientMsgId: string): Promise<Message> | undefined {
    const job = this.jobs.get(clientMsgId);
    if (!job) return undefined;
    job.rounds = job.failures = 0;
    this.show(job);
    const done = this.wait(job);
    void this.run(job);
    return done;
  }

  /**
   * Cancels a message's uploads: aborts them, deletes the files already uploaded, removes the
   * message, and rejects its send with a `ParleyUploadCancelledError`. False when the message is
   * not uploading (never was, or already handed to the outbox).
   */
  cancel(clientMsgId: string): boolean {
    const job = this.jobs.get(clientMsgId);
    if (!job) return false;
    const { cid } = job.item;
    this.drop(job, new ParleyUploadCancelledError());
    this.dispatch({ type: 'local/message.discard', cid, client_msg_id: clientMsgId });
    for (const f of job.files) this.forget(cid, f.attachment);
    return true;
  }

  /** Tries the messages waiting for the network again now (on reconnect). */
  kick(): void {
    for (const job of this.jobs.values()) if (job.timer) void this.run(job);
  }

  /** The session ends: every upload stops, and the messages are lost (their files were in memory). */
  stop(): void {
    this.stopped = true;
    for (const job of [...this.jobs.values()]) this.drop(job, new ParleyUploadCancelledError('disconnected'));
  }

  private drop(job: Job, error: Error) {
    this.jobs.delete(job.item.client_msg_id);
    job.abort.abort();
    clearTimeout(job.timer);
    this.dispatch({ type: 'local/uploads', client_msg_id: job.item.client_msg_id, files: null });
    revoke(job);
    this.settle(job, undefined, error);
  }

  private async run(job: Job): Promise<void> {
    if (job.running) return;
    job.running = true;
    clearTimeout(job.timer);
    job.timer = undefined;
    const todo = job.files.flatMap((f, i) => (f.attachment ? [] : [i]));
    const shown = selectUploads(this.deps.store.getState(), job.item.client_msg_id);
    for (const i of todo)
      if (shown[i]?.state !== 'queued') this.change(job, i, { state: 'queued', loaded: 0 });
    const errors = await Promise.all(todo.map((i) => this.slot(() => this.uploadOne(job, i))));
    job.running = false;
    if (this.jobs.get(job.item.client_msg_id) !== job) return; // cancelled meanwhile
    const error =
      errors.find((e) => e !== undefined && !isRetryable(e)) ?? errors.find((e) => e !== undefined);
    if (error === undefined) return this.handOff(job);
    const offline = error instanceof ParleyNetworkError && this.deps.online?.() === false;
    job.rounds++;
    if (!offline) job.failures++;
    if (isRetryable(error) && job.failures < MAX_UPLOAD_ATTEMPTS) {
      // A reconnect kicks sooner.
      const delay = (this.deps.retryDelay ?? backoff)(job.rounds);
      job.timer = setTimeout(() => void this.run(job), delay);
      return;
    }
    // Given up: the files left waiting for another round fail too.
    todo.forEach((fileIndex, k) => {
      if (isRetryable(errors[k]))
        this.change(job, fileIndex, { state: 'failed', error: errorDetail(errors[k]) });
    });
    const detail = errorDetail(error);
    const { cid, client_msg_id } = job.item;
    this.dispatch({ type: 'local/message.failed', cid, client_msg_id, error: detail });
    this.settle(job, undefined, error);
  }

  /** Uploads file `i`; resolves with its error (never rejects). */
  private async uploadOne(job: Job, i: number): Promise<unknown> {
    const file = job.files[i]!;
    const { signal } = job.abort;
    if (signal.aborted) return new ParleyUploadCancelledError();
    this.change(job, i, { state: 'uploading', loaded: 0 });
    let shown = 0;
    try {
      const { attachment } = await this.deps.upload(job.item.cid, file.data, {
        name: file.name,
        type: file.type,
        signal,
        onProgress: ({ loaded }) => {
          // At most about a hundred store updates per file (a repeated send goes back to 0).
          if (Math.abs(loaded - shown) < file.size / 100 && loaded < file.size) return;
          shown = loaded;
          this.change(job, i, { loaded });
        },
      });
      file.attachment = attachment;
      // Finished just as it was cancelled: the server has it, so delete it again.
      if (signal.aborted) this.forget(job.item.cid, attachment);
      this.change(job, i, { state: 'done', loaded: file.size });
      return undefined;
    } catch (error) {
      const state = signal.aborted ? 'cancelled' : isRetryable(error) ? 'queued' : 'failed';
      this.change(job, i, { state, loaded: 0, error: errorDetail(error) });
      return error;
    }
  }

  /** The files are uploaded: the message, with the server's attachments, goes to the outbox. */
  private handOff(job: Job) {
    const { item } = job;
    this.jobs.delete(item.client_msg_id);
    const body = { ...item.body, attachments: attachmentsOf(job) };
    const queued: OutboxItem = { ...item, body };
    // The placeholder becomes the message as it will be sent: no local preview URLs left to revoke.
    this.show(job);
    this.dispatch({ type: 'local/uploads', client_msg_id: item.client_msg_id, files: null });
    revoke(job);
    this.deps.enqueue(queued).then(
      (message) => this.settle(job, message),
      (error) => this.settle(job, undefined, error),
    );
  }

  /** Puts the message in the store as `sending`, with an attachment per file (placeholder until uploaded). */
  private show(job: Job) {
    const { cid, body, created_at } = job.item;
    const message = pendingMessage(
      cid,
      this.deps.userId,
      { ...body, attachments: attachmentsOf(job) },
      created_at,
    );
    this.dispatch({ type: 'local/message.sending', message, replace: true });
  }

  private change(job: Job, index: number, change: Partial<FileUpload>) {
    this.dispatch({ type: 'local/upload', client_msg_id: job.item.client_msg_id, index, change });
  }

  private dispatch(action: Parameters<Store['dispatch']>[0]) {
    if (!this.stopped) this.deps.store.dispatch(action);
  }

  /** Best effort: an upload no message will reference. */
  private forget(cid: string, attachment: Attachment | undefined) {
    if (attachment?.upload_id) void this.deps.deleteUpload(cid, attachment.upload_id).catch(() => {});
  }

  /** Runs `work` when one of the UPLOAD_CONCURRENCY slots is free. */
  private async slot<T>(work: () => Promise<T>): Promise<T> {
    if (this.active < UPLOAD_CONCURRENCY) this.active++;
    else await new Promise<void>((resolve) => this.queue.push(resolve)); // the slot is handed over
    try {
      return await work();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }

  private wait(job: Job): Promise<Message> {
    const promise = new Promise<Message>((resolve, reject) => job.waiters.push({ resolve, reject }));
    // The UI need not await a send: an unawaited failure must not become an unhandled rejection.
    promise.catch(() => {});
    return promise;
  }

  private settle(job: Job, message?: Message, error?: unknown) {
    for (const w of job.waiters.splice(0)) message ? w.resolve(message) : w.reject(error);
  }
}

function localFile(file: FileToSend): LocalFile {
  const { data, name, type } = isBlob(file)
    ? { data: file, name: (file as Partial<File>).name ?? 'file', type: file.type }
    : file;
  const blob = isBlob(data) ? data : undefined;
  // A preview only for what already is a Blob (a picked File): bytes would have to be copied.
  // React Native has createObjectURL but may throw without its blob module: then no preview.
  let preview: string | undefined;
  try {
    preview = blob && URL.createObjectURL(blob);
  } catch {}
  return {
    data,
    name,
    type: type || blob?.type || 'application/octet-stream',
    size: blob ? blob.size : (data as ArrayBuffer).byteLength,
    ...(preview ? { preview } : {}),
  };
}

/** The message's attachments: its own, then one per file (the server's once uploaded, else a placeholder). */
function attachmentsOf(job: Job): Attachment[] {
  const own = job.item.body.attachments ?? [];
  return [
    ...own,
    ...job.files.map(
      (f): Attachment =>
        f.attachment ?? {
          type: (/^(image|video|audio)\//.exec(f.type)?.[1] ?? 'file') as Attachment['type'],
          title: f.name,
          mime_type: f.type,
          file_size: f.size,
          ...(f.preview ? { url: f.preview } : {}),
        },
    ),
  ];
}

function revoke(job: Job) {
  for (const f of job.files) if (f.preview) URL.revokeObjectURL(f.preview);
}

function errorDetail(error: unknown): { code: string; message: string } {
  if (error instanceof ParleyApiError || error instanceof ParleyUploadCancelledError)
    return { code: error.code, message: error.message };
  const code = error instanceof ParleyNetworkError ? 'NETWORK' : 'INTERNAL';
  return { code, message: String((error as Error)?.message ?? error) };
}
