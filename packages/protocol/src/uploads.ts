import { z } from 'zod';
import { ChannelParams } from './channels.js';
import { Cid, IsoDate, UserId } from './common.js';
import { Attachment } from './messages.js';

/** Longest file name of an upload, in characters (after sanitising). */
export const UPLOAD_NAME_MAX_LENGTH = 255;

/**
 * `POST /channels/:type/:id/uploads?name=…` — the body is the file's raw bytes (no multipart), its
 * Content-Type the file's MIME type and Content-Length its size. Server-side calls may name the
 * uploading user.
 */
export const UploadQuery = z
  .object({
    name: z.string().min(1).max(UPLOAD_NAME_MAX_LENGTH),
    user_id: UserId.optional(),
  })
  .strict();

export const UploadParams = ChannelParams.extend({ upload_id: z.uuid() }).strict();

/** A stored file. `url` / `thumb_url` are capability URLs: they work without credentials. */
export const Upload = z.object({
  id: z.string(),
  cid: Cid,
  /** The uploader; null for a server-side upload that named no user. */
  user_id: UserId.nullable(),
  /** The sanitised file name. */
  name: z.string(),
  /** Sniffed from the bytes for images; otherwise the request's (normalised) Content-Type. */
  mime_type: z.string(),
  file_size: z.number().int().min(0),
  url: z.string(),
  /** Images only: a webp thumbnail that fits in 400×400. */
  thumb_url: z.string().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  blurhash: z.string().optional(),
  created_at: IsoDate,
});
export type Upload = z.infer<typeof Upload>;

/** The upload, and an attachment ready to put in SendMessageBody.attachments. */
export const UploadResponse = z.object({ upload: Upload, attachment: Attachment });
export type UploadResponse = z.infer<typeof UploadResponse>;

export const DeleteUploadResponse = z.object({ upload_id: z.string() });

/** The variants of an upload that `GET /files/…` serves. */
export const FileVariant = z.enum(['original', 'thumb']);
export type FileVariant = z.infer<typeof FileVariant>;

/** `GET /files/:app_id/:upload_id/:variant/:signature` (built by the server; clients use `url`). */
export const FileParams = z
  .object({
    app_id: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_-]+$/),
    upload_id: z.uuid(),
    variant: FileVariant,
    signature: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not a file signature'),
  })
  .strict();
