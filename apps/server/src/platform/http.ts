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
};

/** The one place where failures become HTTP answers: `{ code, message, details }`, never a stack. */
export function toHttpError(error: unknown, logger: Logger, request?: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as FastifyError).validationContext ?? 'body';
    const issues = error.validation.map((v) => {
      const path = [
        where,
        ...String(v.instancePath ?? '')
          .split('/')
          .filter(Boolean),
      ].join('.');
      const message =
        (v.params?.issue as { message?: string } | undefined)?.message ?? v.message ?? 'invalid';
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

export function installErrorHandling(app: FastifyInstance, logger: Logger) {
  app.setErrorHandler((error, request, reply: FastifyReply) => {
    const appError = toHttpError(error, logger, request);
    if (appError.code === 'RATE_LIMITED' || appError.code === 'SLOW_MODE') {
      const retry = (appError.details?.retry_after_seconds as number | undefined) ?? 1;
      reply.header('retry-after', String(retry));
    }
    reply.status(appError.status).send(appError.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
