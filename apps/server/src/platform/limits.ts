import { AppLimits } from '@parley/protocol';
import type { AppRow } from './db.types.js';
import { AppError } from './errors.js';

export const appLimits = (app: AppRow) => AppLimits.parse(app.limits);

/** Custom data is stored as JSONB; cap its serialised size per app so one row cannot grow unbounded. */
export function checkCustomSize(app: AppRow, custom: unknown, field: string) {
  const max = appLimits(app).max_custom_data_bytes;
  const size = Buffer.byteLength(JSON.stringify(custom ?? {}));
  if (size > max)
    throw new AppError('CUSTOM_DATA_TOO_LARGE', `custom data is ${size} bytes; the limit is ${max}`, {
      field,
    });
}
