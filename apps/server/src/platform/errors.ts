import { type ErrorBody, type ErrorCode, ErrorCodes } from '@parley/protocol';

/** A failure the client caused or may act on. One place (http.ts) maps it to an HTTP answer. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: ErrorBody['details'],
  ) {
    super(message ?? ErrorCodes[code].message);
    this.status = ErrorCodes[code].status;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export const fieldError = (code: ErrorCode, field: string, message?: string) =>
  new AppError(code, message, { field });
