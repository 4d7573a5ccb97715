import { ErrorCodes } from '@parley/protocol';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError } from './errors.js';
import type { Logger } from './logger.js';

const FASTIFY_CODES: Record<string, AppError['code']> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_BAD_URL: 'VALIDATION_FAILED',
  FST_ERR_MAX_PARAM_LENGTH: 'VALIDATION_FAILED',
};

/**
 * PostgreSQL "data exception" codes that only a client's value can cause (our schemas should stop
 * them first; this is the safety net that keeps them 400s): a character the database cannot store
 * (U+0000 in text or jsonb).
 */
const DATABASE_VALUE_CODES = new Set(['22021', '22P05']);

/** The one place where failures become HTTP answers: `{ code, message, details }`, never a stack. */
export function toHttpError(error: unknown, logger: Logger, request?: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as FastifyError).validationContext ?? 'body';
    const issues = error.validation.map((v) => {
      const keys = (v.params as { keys?: unknown } | undefined)?.keys;
      const unknownKey = v.keyword === 'unrecognized_keys' && Array.isArray(keys) ? keys[0] : undefined;
      const path = [
        where,
        ...String(v.instancePath ?? '')
          .split('/')
          .filter(Boolean),
        // An unknown field is named by its own path, so clients can point at it.
        ...(typeof unknownKey === 'string' ? [unknownKey] : []),
      ].join('.');
      const message = v.message ?? 'invalid';
      return { path, message };
    });
    const first = issues[0];
    return new AppError('VALIDATION_FAILED', first ? `${first.path}: ${first.message}` : undefined, {
      field: first?.path,
      issues,
    });
  }
  const fastifyError = error as FastifyError;
  if (fastifyError?.code && FASTIFY_CODES[fastifyError.code]) {
    return new AppError(FASTIFY_CODES[fastifyError.code]!, fastifyError.message);
  }
  if (error instanceof SyntaxError && (error as FastifyError).statusCode === 400) {
    return new AppError('INVALID_JSON', error.message);
  }
  if (typeof fastifyError?.code === 'string' && DATABASE_VALUE_CODES.has(fastifyError.code)) {
    logger.warn({ err: error, url: request?.url }, 'database refused a value that validation let through');
    return new AppError('VALIDATION_FAILED', 'a value contains characters that cannot be stored');
  }
  if (fastifyError?.statusCode === 429) return new AppError('RATE_LIMITED');
  if (fastifyError?.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new AppError('VALIDATION_FAILED', fastifyError.message);
  }
  if (isResponseSerializationError(error)) {
    logger.error({ err: error, url: request?.url }, 'response did not match its schema');
  } else {
    logger.error({ err: error, url: request?.url }, 'unhandled error');
  }
  return new AppError('INTERNAL', ErrorCodes.INTERNAL.message);
}

/** Sends any failure as `{ code, message, details }` with its status (and Retry-After when limited). */
export function sendError(error: unknown, logger: Logger, request: FastifyRequest, reply: FastifyReply) {
  const appError = toHttpError(error, logger, request);
  if (appError.code === 'RATE_LIMITED' || appError.code === 'SLOW_MODE') {
    const retry = (appError.details?.retry_after_seconds as number | undefined) ?? 1;
    reply.header('retry-after', String(retry));
  }
  return reply.status(appError.status).send(appError.toBody());
}

/**
 * For Fastify's `frameworkErrors` option: failures the router raises before any route or error
 * handler runs (a malformed %-escape, a path parameter over maxParamLength) get the same body.
 */
export const frameworkErrors =
  (logger: Logger) => (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
    sendError(error, logger, request, reply);

export function installErrorHandling(app: FastifyInstance, logger: Logger) {
  app.setErrorHandler((error, request, reply: FastifyReply) => sendError(error, logger, request, reply));
  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}

/** The path of the first string (value or key) holding U+0000, which PostgreSQL cannot store. */
export function findNulCharacter(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (typeof value !== 'object' || value === null || depth > 64) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = `${path}.${key}`;
    if (key.includes('\u0000')) return at;
    const found = findNulCharacter(item, at, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Request bodies are JSON objects: other media types (text/plain included, which Fastify would
 * otherwise accept as a string) are 415, and no string anywhere in the body, query or path may
 * contain U+0000 (PostgreSQL cannot store it; it would fail as a 500 deep in a write).
 */
export function installBodyRules(app: FastifyInstance) {
  app.removeContentTypeParser('text/plain');
  app.addHook('preValidation', async (request) => {
    const where =
      findNulCharacter(request.params, 'params') ??
      findNulCharacter(request.query, 'querystring') ??
      findNulCharacter(request.body, 'body');
    if (where)
      throw new AppError('VALIDATION_FAILED', `${where}: text may not contain the NUL character (\\u0000)`, {
        field: where,
      });
  });
}
