import { createHash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

// Random bytes for ids, drawn from the CSPRNG 4 KiB at a time (one syscall per 256 ids instead of
// one per id: a group commit makes a hundred ids at once). Each byte is used once.
const randomPool = Buffer.alloc(4096);
let randomPoolOffset = randomPool.length;
const idBytes = Buffer.alloc(16);

/** RFC 9562 UUIDv7: 48 bits of Unix milliseconds then random bits, so ids sort by creation time. */
export function uuidv7(now = Date.now()): string {
  if (randomPoolOffset + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  randomPool.copy(idBytes, 0, randomPoolOffset, randomPoolOffset + 16);
  randomPoolOffset += 16;
  idBytes.writeUIntBE(now, 0, 6);
  idBytes[6] = (idBytes[6]! & 0x0f) | 0x70;
  idBytes[8] = (idBytes[8]! & 0x3f) | 0x80;
  const hex = idBytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const randomToken = (bytes: number) => randomBytes(bytes).toString('base64url');

export const sha256 = (text: string) => createHash('sha256').update(text).digest();

export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
