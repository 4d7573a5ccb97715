import { Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../../platform/errors.js';
import { uriEncode } from './s3-signing.js';
import { IMAGE_MAX_BYTES, isExecutable, looksLikeImage } from './uploads.images.js';

/**
 * File-level rules of uploads, free of I/O: names, types, what is shown inline, and the meter
 * that counts and sniffs the bytes as they stream through.
 */

/** MIME types of executables, refused like their extensions. */
const BLOCKED_MIME_TYPES = new Set([
  'application/x-msdownload',
  'application/x-msdos-program',
  'application/x-dosexec',
  'application/x-ms-installer',
  'application/vnd.microsoft.portable-executable',
]);

/**
 * The name as stored and served: its last path segment, NFC, without control, bidi-override and
 * zero-width characters (the "gpj.exe" trick; "x.ex\u200be" that looks like "x.exe"), whitespace collapsed, trailing dots and spaces dropped (Windows
 * drops them too, which would turn "x.exe." into "x.exe"), at most 255 characters.
 */
export function sanitizeFileName(raw: string): string {
  const last = raw.normalize('NFC').split(/[/\\]/).pop() ?? '';
  const clean = last
    .replace(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
      /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u200b-\u200d\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g,
      '',
    )
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[. ]+$/, '');
  return [...clean].slice(0, 255).join('');
}

export const extensionOf = (name: string) => {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
};

/** `type/subtype` in lower case without parameters; anything unparseable is application/octet-stream. */
export function normaliseMimeType(header: string | undefined): string {
  const type = (header ?? '').split(';')[0]!.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/.test(type)
    ? type
    : 'application/octet-stream';
}

export function checkAllowedType(name: string, mimeType: string, blockedExtensions: readonly string[]): void {
  const ext = extensionOf(name);
  if ((ext && blockedExtensions.includes(ext)) || BLOCKED_MIME_TYPES.has(mimeType)) {
    throw new AppError(
      'UPLOAD_TYPE_NOT_ALLOWED',
      `files of type ${ext ? `.${ext}` : mimeType} may not be uploaded`,
      {
        field: 'file',
      },
    );
  }
}

/** The required Content-Length as a number; chunked or malformed bodies are refused. */
export function parseContentLength(header: string | undefined): number {
  if (header === undefined || !/^\d{1,16}$/.test(header)) {
    throw new AppError('VALIDATION_FAILED', 'an upload needs a Content-Length header with the file size', {
      field: 'Content-Length',
    });
  }
  return Number(header);
}

const TEXT_EXTENSIONS = new Set(['txt', 'text', 'md', 'markdown', 'csv', 'tsv', 'log']);

/** Whether a file is declared text by both its type and its extension (see UploadMeter). */
export const isDeclaredText = (name: string, mimeType: string) =>
  mimeType.startsWith('text/') && TEXT_EXTENSIONS.has(extensionOf(name));

export type AttachmentKind = 'image' | 'video' | 'audio' | 'file';

/** Images are those we decoded (they have a size); video and audio by their type; the rest are files. */
export function attachmentKind(row: { mime_type: string; width: number | null }): AttachmentKind {
  if (row.width !== null) return 'image';
  if (row.mime_type.startsWith('video/')) return 'video';
  if (row.mime_type.startsWith('audio/')) return 'audio';
  return 'file';
}

/** Types sent as themselves although they are downloads: they cannot run as a page or a script. */
const SAFE_DOWNLOAD_TYPES = new Set(['application/pdf', 'text/plain']);

/**
 * How a stored file is served. Decoded images, video and audio are shown inline with their type;
 * everything else is a download sent as application/octet-stream, except a few types that cannot
 * run (PDF, plain text with a charset). A denylist of "risky" types would miss some (text/jscript,
 * text/css, …). With nosniff and the sandbox CSP on every answer, no upload runs on our origin.
 */
export function servedAs(
  row: { mime_type: string; width: number | null },
  variant: 'original' | 'thumb',
): { contentType: string; inline: boolean } {
  if (variant === 'thumb') return { contentType: 'image/webp', inline: true };
  const kind = attachmentKind(row);
  if (kind !== 'file') return { contentType: row.mime_type, inline: true };
  if (!SAFE_DOWNLOAD_TYPES.has(row.mime_type))
    return { contentType: 'application/octet-stream', inline: false };
  return {
    contentType: row.mime_type.startsWith('text/') ? `${row.mime_type}; charset=utf-8` : row.mime_type,
    inline: false,
  };
}

/** RFC 6266 / 5987: an ASCII fallback name and the exact UTF-8 name. */
export function contentDisposition(inline: boolean, name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%;]/g, '_');
  return `${inline ? 'inline' : 'attachment'}; filename="${fallback}"; filename*=UTF-8''${uriEncode(name)}`;
}

/**
 * Counts the bytes of an upload as they pass, refuses more than the declared size or the limit,
 * refuses executables by their first bytes, and keeps a copy of images (up to IMAGE_MAX_BYTES) for
 * sharp. Memory held: the sniffed head, plus the image when there is one.
 */
export class UploadMeter extends Transform {
  bytes = 0;
  /** Whether the first bytes are those of a raster image. */
  sniffedImage = false;
  private head: Buffer[] = [];
  private headLength = 0;
  private decided = false;
  private imageChunks: Buffer[] | undefined;

  constructor(
    private readonly declared: number,
    private readonly limit: number,
    /** Declared as text by both type and extension: "MZ" at its start is a word, not a program. */
    private readonly textual = false,
  ) {
    super();
  }

  /** The whole image, when the bytes were one small enough to decode. */
  get image(): Buffer | undefined {
    return this.imageChunks ? Buffer.concat(this.imageChunks) : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.bytes += chunk.length;
    if (this.bytes > this.declared || this.bytes > this.limit) {
      callback(
        new AppError('UPLOAD_TOO_LARGE', 'the body is larger than its Content-Length or the limit', {
          field: 'file',
        }),
      );
      return;
    }
    if (!this.decided) {
      this.head.push(chunk);
      this.headLength += chunk.length;
      if (this.headLength >= 16) {
        const error = this.decide();
        if (error) return callback(error);
      }
    } else {
      this.imageChunks?.push(chunk);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback) {
    const error = this.decided ? undefined : this.decide();
    if (error) return callback(error);
    if (this.bytes !== this.declared) {
      return callback(
        new AppError('VALIDATION_FAILED', 'the body is shorter than its Content-Length', { field: 'file' }),
      );
    }
    callback();
  }

  private decide(): AppError | undefined {
    this.decided = true;
    const head = Buffer.concat(this.head);
    this.head = [];
    if (!this.textual && isExecutable(head)) {
      return new AppError('UPLOAD_TYPE_NOT_ALLOWED', 'executables may not be uploaded', { field: 'file' });
    }
    this.sniffedImage = looksLikeImage(head);
    if (this.sniffedImage && this.declared <= IMAGE_MAX_BYTES) this.imageChunks = [head];
    return undefined;
  }
}
