import { describe, expect, it } from 'vitest';
import { constantTimeEqual, randomToken, sha256, uuidv7 } from './ids.js';

describe('ids', () => {
  it('uuidv7 is an RFC 9562 version 7 id whose first 48 bits are the milliseconds', () => {
    const at = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
    const id = uuidv7(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replace('-', '').slice(0, 12), 16)).toBe(at);
  });

  it('uuidv7 ids of later milliseconds sort after earlier ones, and never repeat', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => uuidv7(1_700_000_000_000 + i));
    expect([...ids].sort()).toEqual(ids);
    const same = new Set(Array.from({ length: 1000 }, () => uuidv7(1_700_000_000_000)));
    expect(same.size).toBe(1000);
  });

  it('randomToken gives url-safe text of the requested entropy', () => {
    expect(randomToken(64)).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(randomToken(15)).not.toBe(randomToken(15));
  });

  it('constantTimeEqual compares contents and refuses different lengths', () => {
    expect(constantTimeEqual(sha256('a'), sha256('a'))).toBe(true);
    expect(constantTimeEqual(sha256('a'), sha256('b'))).toBe(false);
    expect(constantTimeEqual(sha256('a'), sha256('a').subarray(0, 31))).toBe(false);
    expect(sha256('abc').toString('hex')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
