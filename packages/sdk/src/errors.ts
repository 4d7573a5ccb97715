import type { ErrorBody, ErrorCode } from '@parley/protocol';

/** An error answer from the Parley API: the server's stable `code`, HTTP `status` and message. */
export class ParleyApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorBody['details'];

  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.name = 'ParleyApiError';
    this.code = body.code;
    this.status = status;
    this.details = body.details;
  }

  /** Worth retrying later unchanged: rate limits and server-side failures. */
  get transient(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

/** The request never got an answer (offline, DNS, connection refused or reset, timeout). */
export class ParleyNetworkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ParleyNetworkError';
  }
}

/**
 * An upload was cancelled (its AbortSignal fired, or `client.cancelUpload`). `name` is
 * `AbortError`, like the DOM's, so code that already ignores aborted fetches ignores it too.
 */
export class ParleyUploadCancelledError extends Error {
  readonly code = 'UPLOAD_CANCELLED';
  constructor(message = 'The upload was cancelled') {
    super(message);
    this.name = 'AbortError';
  }
}

/** True when the failure says nothing about the request itself, so sending it again later may work. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof ParleyNetworkError) return true;
  if (error instanceof ParleyApiError) return error.transient;
  return false;
}
