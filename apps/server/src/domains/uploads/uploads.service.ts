import { createHmac, randomBytes } from 'node:crypto';
import { type Readable, Readable as ReadableStream } from 'node:stream';
import type { Attachment, FileVariant, Upload, UploadQuery, UploadResponse } from '@parley/protocol';
import type { z } from 'zod';
import type { Config } from '../../platform/config.js';
import { optionalActingUserId, type RequestContext } from '../../platform/context.js';
import type { Db } from '../../platform/db.js';
import type { AppRow, UploadRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { constantTimeEqual, uuidv7 } from '../../platform/ids.js';
import { appLimits } from '../../platform/limits.js';
import type { Logger } from '../../platform/logger.js';
import { can } from '../channels/channels.policy.js';
import { type ChannelsService, subjectOf } from '../channels/channels.service.js';
import type { ByteRange, FileStorage, StoredObject } from './storage.js';
import { StorageError } from './storage.js';
import {
  attachmentKind,
  checkAllowedType,
  isDeclaredText,
  normaliseMimeType,
  parseContentLength,
  sanitizeFileName,
  servedAs,
  UploadMeter,
} from './uploads.files.js';
import { processImage } from './uploads.images.js';
import { type UploadKeys, uploadsRepository } from './uploads.repository.js';

type UploadsConfig = Pick<
  Config,
  | 'PARLEY_PUBLIC_URL'
  | 'UPLOAD_MAX_BYTES'
  | 'UPLOAD_BLOCKED_EXTENSIONS'
  | 'UPLOAD_ORPHAN_HOURS'
  | 'UPLOAD_IDLE_TIMEOUT_MS'
>;

export interface UploadInput {
  /** The request body: the file's bytes. */
  body: Readable;
  contentType: string | undefined;
  contentLength: string | undefined;
  /** `scheme://host` of the request: the base of file URLs when PARLEY_PUBLIC_URL is unset. */
  requestOrigin: string;
}

/** A file ready to be served (signature checked, upload live). */
export interface ServedFile {
  key: string;
  size: number;
  contentType: string;
  inline: boolean;
  fileName: string;
  etag: string;
}

/**
 * Every upload must have streamed its bytes within its deadline: UPLOAD_BASE_DEADLINE_S plus its
 * size at UPLOAD_MIN_BYTES_PER_SECOND (a slow mobile link: 100 MB take 53 minutes more). A slower
 * one is aborted, so a pending row older than twice its deadline belongs to a dead process and the
 * cleanup job may remove it without ever taking an upload still in progress.
 */
export const UPLOAD_BASE_DEADLINE_S = 600;
export const UPLOAD_MIN_BYTES_PER_SECOND = 32 * 1024;
const uploadDeadlineMs = (size: number) =>
  (UPLOAD_BASE_DEADLINE_S + size / UPLOAD_MIN_BYTES_PER_SECOND) * 1000;
const CLEANUP_BATCH = 100;

const urlSignature = (key: Buffer, appId: string, uploadId: string, variant: FileVariant) =>
  createHmac('sha256', key).update(`parley-file.${appId}.${uploadId}.${variant}`).digest();

/**
 * File uploads (docs/guides/uploads.md): streams a request body to storage (FileStorage: disk or
 * S3), decodes images (thumbnail, size, blurhash), hands out capability URLs signed with the app's
 * URL key, serves them, deletes uploads, and removes what nothing refers to (the cleanup job).
 *
 * An upload's row is written before its bytes and completed after them, so every stored byte has
 * a row the cleanup job can find, even when the process dies in between.
 */
export class UploadsService {
  /** App id → URL key. Keys never change once created, so they are cached for good. */
  private readonly urlKeys = new Map<string, Buffer>();

  constructor(
    private readonly db: Db,
    private readonly channels: ChannelsService,
    readonly storage: FileStorage,
    private readonly config: UploadsConfig,
    private readonly logger: Logger,
  ) {}

  /** The largest upload of an app: the deployment's limit, lowered by the app's own when set. */
  maxBytes(app: AppRow): number {
    const own = appLimits(app).max_upload_bytes;
    return own === null ? this.config.UPLOAD_MAX_BYTES : Math.min(own, this.config.UPLOAD_MAX_BYTES);
  }

  async upload(
    ctx: RequestContext,
    cid: string,
    query: z.output<typeof UploadQuery>,
    input: UploadInput,
  ): Promise<UploadResponse> {
    const name = sanitizeFileName(query.name);
    if (!name) {
      throw new AppError('VALIDATION_FAILED', 'the file name is empty once control characters are removed', {
        field: 'querystring.name',
      });
    }
    const size = parseContentLength(input.contentLength);
    // Same permission as sending a message, and the channel type must allow uploads.
    const access = await this.channels.access(this.db, ctx, cid, 'send', query.user_id);
    if (!access.config.uploads) {
      throw new AppError('FORBIDDEN', `uploads are turned off for channels of type ${access.channel.type}`, {
        action: 'upload',
      });
    }
    if (access.channel.frozen && !can('send_when_frozen', subjectOf(ctx, access))) {
      throw new AppError('CHANNEL_FROZEN');
    }
    const max = this.maxBytes(ctx.app);
    if (size > max) {
      throw new AppError('UPLOAD_TOO_LARGE', `the file is ${size} bytes; the limit is ${max}`, {
        field: 'file',
        max_bytes: max,
      });
    }
    const declaredType = normaliseMimeType(input.contentType);
    checkAllowedType(name, declaredType, this.config.UPLOAD_BLOCKED_EXTENSIONS);

    const appId = ctx.app.id;
    const id = uuidv7();
    const storageKey = `${appId}/${id}/original`;
    await uploadsRepository.insert(this.db, {
      app_id: appId,
      id,
      cid,
      user_id: access.userId ?? null,
      name,
      mime_type: declaredType,
      file_size: size,
      storage_key: storageKey,
    });
    const stored: string[] = [];
    try {
      const meter = this.meter(input.body, size, max, isDeclaredText(name, declaredType));
      // A put that rejects leaves nothing (the FileStorage contract): only stored keys are removed.
      await this.storage.put(storageKey, meter, { contentType: declaredType, size });
      stored.push(storageKey);

      const bytes = meter.image;
      const image = bytes ? await processImage(bytes) : undefined;
      if (image?.kind === 'too_many_pixels') {
        throw new AppError(
          'UPLOAD_INVALID_IMAGE',
          `the image has ${image.pixels} pixels; at most 50 million are accepted`,
          {
            field: 'file',
          },
        );
      }
      let thumb: { key: string; size: number } | undefined;
      if (image?.kind === 'image') {
        thumb = { key: `${appId}/${id}/thumb`, size: image.thumb.length };
        await this.storage.put(thumb.key, ReadableStream.from([image.thumb]), {
          contentType: 'image/webp',
          size: thumb.size,
        });
        stored.push(thumb.key);
      }
      const row = await uploadsRepository.complete(this.db, appId, id, {
        mime_type:
          image?.kind === 'image'
            ? image.mimeType
            : // A claimed image whose bytes are not one is a plain file of unknown type.
              declaredType.startsWith('image/') && declaredType !== 'image/svg+xml' && !meter.sniffedImage
              ? 'application/octet-stream'
              : declaredType,
        thumb_key: thumb?.key ?? null,
        thumb_size: thumb?.size ?? null,
        width: image?.kind === 'image' ? image.width : null,
        height: image?.kind === 'image' ? image.height : null,
        blurhash: image?.kind === 'image' ? image.blurhash : null,
      });
      // The cleanup job took the upload for dead (it is removing its bytes): the client retries.
      if (!row) {
        throw new AppError('VALIDATION_FAILED', 'the upload took too long and was discarded', {
          field: 'file',
        });
      }
      const upload = await this.toDto(row, this.publicBase(input.requestOrigin));
      return { upload, attachment: toAttachment(upload, row) };
    } catch (error) {
      await this.discard(
        {
          app_id: appId,
          id,
          storage_key: storageKey,
          thumb_key: stored.find((k) => k !== storageKey) ?? null,
        },
        stored,
      );
      throw this.failure(error, 'upload');
    }
  }

  /** Pipes the body through the meter; an aborted request fails the meter (and so the store). */
  private meter(body: Readable, declared: number, limit: number, textual: boolean): UploadMeter {
    const meter = new UploadMeter(declared, limit, textual);
    // The meter may fail before the store listens to it (disk: while directories are made). The
    // store's `put` rejects with that error (it is kept on `meter.errored`); this only keeps an
    // early 'error' event from being unhandled.
    meter.on('error', () => {});
    const aborted = () =>
      meter.destroy(
        new AppError('VALIDATION_FAILED', 'the upload was aborted before the end', { field: 'file' }),
      );
    body.once('error', aborted);
    body.once('close', () => {
      if ('complete' in body && body.complete === false) aborted();
    });
    body.pipe(meter);
    // The client may have gone while the channel was checked: no event will come any more.
    if (body.destroyed) aborted();
    // A client that stops sending (or sends too slowly to finish by the deadline) holds a socket,
    // a row and a partial file: it is cut off.
    const tooSlow = (what: string) =>
      meter.destroy(new AppError('VALIDATION_FAILED', `the upload ${what}`, { field: 'file' }));
    const idleMs = this.config.UPLOAD_IDLE_TIMEOUT_MS;
    const idle = setTimeout(() => tooSlow(`sent no data for ${idleMs} ms`), idleMs).unref();
    const deadline = setTimeout(() => tooSlow('was too slow to finish'), uploadDeadlineMs(declared)).unref();
    // The body already flows into the meter: one more listener takes nothing from it.
    body.on('data', () => idle.refresh());
    const stop = () => {
      clearTimeout(idle);
      clearTimeout(deadline);
    };
    meter.once('end', stop);
    meter.once('close', stop);
    return meter;
  }

  async delete(ctx: RequestContext, cid: string, uploadId: string, requestedUserId?: string): Promise<void> {
    const actingId = optionalActingUserId(ctx, requestedUserId);
    const row = await uploadsRepository.findLive(this.db, ctx.app.id, uploadId);
    if (!row || row.cid !== cid) throw new AppError('UPLOAD_NOT_FOUND', undefined, { field: 'upload_id' });
    // Uploaders delete their own; anyone else needs the channel permission (moderators, owners, admins).
    const own = ctx.actor.kind === 'user' && row.user_id === actingId;
    if (!own) await this.channels.access(this.db, ctx, cid, 'delete_any_upload', requestedUserId);
    const keys = await uploadsRepository.markDeleted(this.db, ctx.app.id, uploadId);
    // Marked deleted: its URLs answer 404 from now on. A failed removal is retried by the job.
    if (keys) await this.removeStored(keys);
  }

  /** Checks a file URL's signature and finds what it serves. */
  async resolveFile(params: {
    app_id: string;
    upload_id: string;
    variant: FileVariant;
    signature: string;
  }): Promise<ServedFile> {
    const key = await this.urlKey(params.app_id, false);
    // Compared as text: base64url's last character carries spare bits, so decoding first would
    // accept several spellings of one signature.
    const expected =
      key && urlSignature(key, params.app_id, params.upload_id, params.variant).toString('base64url');
    if (!expected || !constantTimeEqual(Buffer.from(params.signature), Buffer.from(expected))) {
      throw new AppError('FILE_SIGNATURE_INVALID');
    }
    const row = await uploadsRepository.findLive(this.db, params.app_id, params.upload_id);
    const thumb = params.variant === 'thumb';
    if (!row || (thumb && (!row.thumb_key || row.thumb_size === null))) throw new AppError('FILE_NOT_FOUND');
    const served = servedAs(row, params.variant);
    return {
      key: thumb ? row.thumb_key! : row.storage_key,
      size: thumb ? row.thumb_size! : row.file_size,
      ...served,
      fileName: thumb ? `${row.name.replace(/\.[^.]*$/, '')}-thumb.webp` : row.name,
      // The bytes under an upload id never change: the id and variant are a strong validator.
      etag: `"${row.id}-${params.variant}"`,
    };
  }

  async openFile(file: ServedFile, range?: ByteRange): Promise<StoredObject> {
    let object: StoredObject | undefined;
    try {
      object = await this.storage.get(file.key, range);
    } catch (error) {
      throw this.failure(error, 'serve');
    }
    if (!object) throw new AppError('FILE_NOT_FOUND');
    return object;
  }

  /**
   * The cleanup job (upload.cleanup): removes uploads whose bytes never finished or whose removal
   * failed, uploads of channels that are gone, and uploads older than UPLOAD_ORPHAN_HOURS that no
   * message refers to (a draft or scheduled message of the uploader keeps them too). An upload
   * once seen in a message is marked and not checked again.
   */
  async cleanup(now = new Date()): Promise<{ removed: number; referenced: number }> {
    let removed = 0;
    let referenced = 0;
    const sweep = async (batch: () => Promise<UploadKeys[]>) => {
      for (;;) {
        const rows = await batch();
        let done = 0;
        for (const row of rows) if (await this.removeAll(row)) done++;
        removed += done;
        // Stop when the list is exhausted, or when the store fails (the next run retries).
        if (rows.length < CLEANUP_BATCH || done === 0) return;
      }
    };
    const pending = {
      deadlineSeconds: UPLOAD_BASE_DEADLINE_S,
      minBytesPerSecond: UPLOAD_MIN_BYTES_PER_SECOND,
    };
    await sweep(() => uploadsRepository.stale(this.db, now, pending, CLEANUP_BATCH));
    await sweep(() => uploadsRepository.ofMissingChannels(this.db, CLEANUP_BATCH));
    // Partial files of a process that died mid-write: an upload in progress writes at least once
    // per idle timeout, so twice that without a write is a dead one.
    try {
      const idleBefore = new Date(now.getTime() - 2 * this.config.UPLOAD_IDLE_TIMEOUT_MS);
      removed += (await this.storage.removeStalePartials?.(idleBefore)) ?? 0;
    } catch (error) {
      this.logger.warn({ err: error }, 'could not remove partial upload files; the next run retries');
    }

    const before = new Date(now.getTime() - this.config.UPLOAD_ORPHAN_HOURS * 3_600_000);
    let after: { created_at: Date; id: string } | undefined;
    for (;;) {
      const candidates = await uploadsRepository.unreferencedCandidates(
        this.db,
        before,
        after,
        CLEANUP_BATCH,
      );
      const byApp = new Map<string, string[]>();
      for (const row of candidates) byApp.set(row.app_id, [...(byApp.get(row.app_id) ?? []), row.id]);
      for (const [appId, ids] of byApp) {
        // Decided and marked in one statement (a send claiming one of them meanwhile wins or
        // loses on its row lock); only the bytes of exactly those rows are removed.
        for (const row of await uploadsRepository.deleteUnreferenced(this.db, appId, ids)) {
          if (await this.removeStored(row)) removed++;
        }
        referenced += await uploadsRepository.markSeenInMessages(this.db, appId, ids);
      }
      const last = candidates.at(-1);
      if (!last || candidates.length < CLEANUP_BATCH) break;
      after = { created_at: last.created_at, id: last.id };
    }
    return { removed, referenced };
  }

  /** Marks the upload deleted, then removes its bytes and its row; false when the store failed. */
  private async removeAll(row: UploadKeys): Promise<boolean> {
    await uploadsRepository.markDeleted(this.db, row.app_id, row.id);
    return this.removeStored(row);
  }

  private async removeStored(row: UploadKeys): Promise<boolean> {
    try {
      for (const key of [row.storage_key, row.thumb_key]) if (key) await this.storage.delete(key);
      await uploadsRepository.remove(this.db, row.app_id, row.id);
      return true;
    } catch (error) {
      this.logger.warn(
        { err: error, upload_id: row.id },
        'could not remove an upload’s bytes; the cleanup job retries',
      );
      return false;
    }
  }

  /** After a failed upload: removes what was stored and the row (or leaves it to the job). */
  private async discard(row: UploadKeys, stored: string[]): Promise<void> {
    try {
      for (const key of stored) await this.storage.delete(key);
      await uploadsRepository.remove(this.db, row.app_id, row.id);
    } catch (error) {
      this.logger.warn(
        { err: error, upload_id: row.id },
        'could not discard a failed upload; the cleanup job retries',
      );
      await uploadsRepository.markDeleted(this.db, row.app_id, row.id).catch(() => {});
    }
  }

  /** Store failures become 502 UPLOAD_STORAGE_FAILED (logged); client-caused errors pass through. */
  private failure(error: unknown, what: string): unknown {
    if (error instanceof StorageError) {
      this.logger.error({ err: error, ...error.detail }, `file storage failed (${what})`);
      return new AppError(
        'UPLOAD_STORAGE_FAILED',
        undefined,
        error.detail?.code ? { storage_code: error.detail.code } : undefined,
      );
    }
    return error;
  }

  private publicBase(requestOrigin: string): string {
    return (this.config.PARLEY_PUBLIC_URL ?? requestOrigin).replace(/\/+$/, '');
  }

  /** The app's URL key; created on first use when `create` (its first upload). */
  private async urlKey(appId: string, create: true): Promise<Buffer>;
  private async urlKey(appId: string, create: false): Promise<Buffer | undefined>;
  private async urlKey(appId: string, create: boolean): Promise<Buffer | undefined> {
    const cached = this.urlKeys.get(appId);
    if (cached) return cached;
    const key = create
      ? await uploadsRepository.ensureUrlKey(this.db, appId, randomBytes(32))
      : await uploadsRepository.findUrlKey(this.db, appId);
    if (key) this.urlKeys.set(appId, key);
    return key;
  }

  private async fileUrl(base: string, row: UploadRow, variant: FileVariant): Promise<string> {
    const key = await this.urlKey(row.app_id, true);
    const signature = urlSignature(key, row.app_id, row.id, variant).toString('base64url');
    return `${base}/files/${row.app_id}/${row.id}/${variant}/${signature}`;
  }

  private async toDto(row: UploadRow, base: string): Promise<Upload> {
    return {
      id: row.id,
      cid: row.cid,
      user_id: row.user_id,
      name: row.name,
      mime_type: row.mime_type,
      file_size: row.file_size,
      url: await this.fileUrl(base, row, 'original'),
      ...(row.thumb_key ? { thumb_url: await this.fileUrl(base, row, 'thumb') } : {}),
      ...(row.width !== null ? { width: row.width } : {}),
      ...(row.height !== null ? { height: row.height } : {}),
      ...(row.blurhash !== null ? { blurhash: row.blurhash } : {}),
      created_at: row.created_at.toISOString(),
    };
  }
}

function toAttachment(upload: Upload, row: UploadRow): Attachment {
  return {
    type: attachmentKind(row),
    url: upload.url,
    ...(upload.thumb_url ? { thumb_url: upload.thumb_url } : {}),
    title: upload.name,
    mime_type: upload.mime_type,
    file_size: upload.file_size,
    ...(upload.width !== undefined ? { width: upload.width } : {}),
    ...(upload.height !== undefined ? { height: upload.height } : {}),
    ...(upload.blurhash !== undefined ? { blurhash: upload.blurhash } : {}),
    upload_id: upload.id,
  };
}
