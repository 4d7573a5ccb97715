import { AppError } from './errors.js';

/**
 * Opaque `next` cursors of keyset-paginated lists: the sort key of the last row of a page (a time
 * and the tie-breaking ids), base64url-encoded JSON. A cursor that does not decode to the expected
 * shape is refused with VALIDATION_FAILED on `query.next`.
 */
export function encodeCursor(at: Date, ...keys: string[]): string {
  return Buffer.from(JSON.stringify([at.toISOString(), ...keys])).toString('base64url');
}

export function decodeCursor(next: string, keyCount: number): { at: Date; keys: string[] } {
  try {
    const parts = JSON.parse(Buffer.from(next, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(parts) || parts.length !== keyCount + 1) throw new Error('bad cursor');
    if (!parts.every((p) => typeof p === 'string' && p.length <= 300)) throw new Error('bad cursor');
    const at = new Date(parts[0] as string);
    if (Number.isNaN(at.getTime())) throw new Error('bad cursor');
    return { at, keys: parts.slice(1) as string[] };
  } catch {
    throw new AppError('VALIDATION_FAILED', 'next is not a cursor this list returned', {
      field: 'query.next',
    });
  }
}

export const isUuid = (s: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/** A uuid key of a cursor (message ids, schedule ids), or VALIDATION_FAILED. */
export function uuidKey(key: string | undefined): string {
  if (!key || !isUuid(key)) {
    throw new AppError('VALIDATION_FAILED', 'next is not a cursor this list returned', {
      field: 'query.next',
    });
  }
  return key;
}
