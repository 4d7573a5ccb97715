import {
  ActingUserQuery,
  ChannelParams,
  DeleteUploadResponse,
  ErrorResponse,
  FileParams,
  UploadParams,
  UploadQuery,
  UploadResponse,
} from '@parley/protocol';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { cidOf } from '../../platform/cid.js';
import { AppError } from '../../platform/errors.js';
import type { Services } from '../../server.js';
import type { ByteRange } from './storage.js';
import { contentDisposition } from './uploads.files.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['uploads'];

/** Whether an If-None-Match header names the ETag (or is `*`). */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === etag || t === '*');
}

/**
 * The one byte range of a Range header (RFC 9110 §14): `bytes=a-b`, `bytes=a-` or `bytes=-n`.
 * Anything else (several ranges, other units, garbage, an If-Range that no longer matches) is
 * ignored and the whole file is sent, as the RFC allows; a range starting past the end is
 * 'unsatisfiable' (416).
 */
export function parseRange(
  header: string | undefined,
  size: number,
  ifRange: string | undefined,
  etag: string,
): ByteRange | 'unsatisfiable' | undefined {
  // An empty file has no byte to range over: it is sent whole (empty), whatever was asked.
  if (!header || size === 0 || (ifRange !== undefined && ifRange.trim() !== etag)) return undefined;
  const m = header.trim().match(/^bytes=(\d*)-(\d*)$/);
  if (!m || (!m[1] && !m[2])) return undefined;
  if (!m[1]) {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  if (m[2] && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export const uploadsRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };

    // The upload route reads the raw body itself (streamed to storage), whatever its media type:
    // in this context no parser reads it, so BODY_LIMIT_BYTES does not apply (UPLOAD_MAX_BYTES does).
    await app.register(async (scope) => {
      const raw = scope.withTypeProvider<ZodTypeProvider>();
      raw.removeAllContentTypeParsers();
      raw.addContentTypeParser('*', (_request, _payload, done) => done(null));
      raw.post(
        '/channels/:type/:id/uploads',
        {
          ...anyCaller,
          schema: {
            tags,
            description:
              'Uploads one file: the body is its raw bytes, Content-Type its MIME type, Content-Length its size (required). The answer carries an `attachment` to send in a message.',
            params: ChannelParams,
            querystring: UploadQuery,
            response: {
              201: UploadResponse,
              ...errors,
              413: ErrorResponse,
              415: ErrorResponse,
              422: ErrorResponse,
              502: ErrorResponse,
            },
          },
        },
        async (req, reply) => {
          try {
            const result = await services.uploads.upload(req.ctx, cidOf(req.params), req.query, {
              body: req.raw,
              contentType: req.headers['content-type'],
              contentLength: req.headers['content-length'],
              requestOrigin: `${req.protocol}://${req.host}`,
            });
            reply.status(201);
            return result;
          } catch (error) {
            // Refused before the body was read (403, 413, …): close the connection rather than
            // reading megabytes we will not keep.
            if (!req.raw.complete) reply.header('connection', 'close');
            throw error;
          }
        },
      );
    });

    app.delete(
      '/channels/:type/:id/uploads/:upload_id',
      {
        ...anyCaller,
        schema: {
          tags,
          params: UploadParams,
          querystring: ActingUserQuery,
          response: { 200: DeleteUploadResponse, ...errors, 502: ErrorResponse },
        },
      },
      async (req) => {
        const { upload_id: uploadId } = req.params;
        await services.uploads.delete(req.ctx, cidOf(req.params), uploadId, req.query.user_id);
        return { upload_id: uploadId };
      },
    );

    app.get(
      '/files/:app_id/:upload_id/:variant/:signature',
      {
        config: { auth: 'public' as const },
        schema: {
          tags,
          description:
            'Serves an uploaded file or its thumbnail. The URL is a capability (signed by the server): no credentials. Supports Range (206/416) and If-None-Match (304).',
          params: FileParams,
          response: {
            400: ErrorResponse,
            403: ErrorResponse,
            404: ErrorResponse,
            416: ErrorResponse,
            502: ErrorResponse,
          },
        },
      },
      async (req, typedReply) => {
        // The answer is the file's bytes (a stream), not a serialised schema.
        const reply = typedReply as FastifyReply;
        const file = await services.uploads.resolveFile(req.params);
        // Validators and caching only on answers about the file itself: an error (404, 416, 502)
        // cached for a year would outlive its cause.
        const cacheable = () =>
          reply
            .header('etag', file.etag)
            .header('cache-control', 'private, max-age=31536000, immutable')
            .header('x-content-type-options', 'nosniff');
        if (etagMatches(req.headers['if-none-match'], file.etag)) return cacheable().status(304).send();
        const ifRange = req.headers['if-range'];
        const range = parseRange(
          req.headers.range,
          file.size,
          typeof ifRange === 'string' ? ifRange : undefined,
          file.etag,
        );
        if (range === 'unsatisfiable') {
          reply.header('content-range', `bytes */${file.size}`);
          throw new AppError('RANGE_NOT_SATISFIABLE', undefined, { size: file.size });
        }
        const object = await services.uploads.openFile(file, range);
        cacheable()
          .header('content-type', file.contentType)
          .header('content-disposition', contentDisposition(file.inline, file.fileName))
          // Even a file opened directly can run nothing on our origin.
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('accept-ranges', 'bytes');
        if (range) {
          reply
            .status(206)
            .header('content-range', `bytes ${range.start}-${range.end}/${file.size}`)
            .header('content-length', range.end - range.start + 1);
        } else {
          reply.header('content-length', file.size);
        }
        return reply.send(object.body);
      },
    );
  };
