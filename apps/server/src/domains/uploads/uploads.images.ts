import { encode } from 'blurhash';
import sharp, { type Metadata } from 'sharp';

// Every upload is a different image: libvips' operation cache would only hold memory.
sharp.cache(false);

/** Images with more pixels than this are refused (decompression bombs): 50 megapixels. */
export const IMAGE_MAX_PIXELS = 50_000_000;
/**
 * Images are decoded from memory; larger ones are kept as plain files (no thumbnail). Bounds the
 * memory one upload can hold, whatever UPLOAD_MAX_BYTES is.
 */
export const IMAGE_MAX_BYTES = 32 * 1024 * 1024;
/** Thumbnails fit inside this box (never enlarged). */
export const THUMB_SIZE = 400;

/** Images decoded at once (each holds a decoded image and a libvips thread pool): a burst queues. */
export const IMAGE_CONCURRENCY = 2;

/** At most `limit` tasks run at once; the others wait their turn, first come first served. */
export class Semaphore {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  get active(): number {
    return this.running;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line (running stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

const decoding = new Semaphore(IMAGE_CONCURRENCY);

/** The raster formats we decode, and their MIME types. SVG is deliberately absent (scripts). */
const RASTER: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  heif: 'image/heif',
  tiff: 'image/tiff',
};

/** Whether the first bytes are those of a raster format we decode (the client's type is not trusted). */
export function looksLikeImage(head: Buffer): boolean {
  const ascii = (start: number, end: number) => head.subarray(start, end).toString('latin1');
  if (head.length < 12) return false;
  if (head[0] === 0x89 && ascii(1, 4) === 'PNG') return true;
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return true;
  if (ascii(0, 4) === 'GIF8') return true;
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return true;
  if (ascii(4, 8) === 'ftyp' && /^(avif|avis|heic|heix|mif1|msf1)$/.test(ascii(8, 12))) return true;
  return ascii(0, 4) === 'II*\u0000' || ascii(0, 4) === 'MM\u0000*';
}

/** A Windows executable (MZ header): refused whatever its name or declared type. */
export const isExecutable = (head: Buffer) => head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a;

export type ImageResult =
  | { kind: 'image'; mimeType: string; width: number; height: number; thumb: Buffer; blurhash: string }
  | { kind: 'not_image' }
  | { kind: 'too_many_pixels'; pixels: number };

/**
 * Decodes an image: its real format (from the bytes), its displayed size (EXIF orientation
 * applied), a webp thumbnail that fits in 400×400 and a blurhash. Bytes that sharp cannot decode
 * as one of our raster formats are `not_image` (stored as a plain file by the caller). At most
 * IMAGE_CONCURRENCY images are decoded at once.
 */
export function processImage(bytes: Buffer): Promise<ImageResult> {
  return decoding.run(() => decode(bytes));
}

async function decode(bytes: Buffer): Promise<ImageResult> {
  let meta: Metadata;
  try {
    // Header only: cheap, and tells the pixel count before anything is decoded.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    return { kind: 'not_image' };
  }
  const mimeType = meta.format ? RASTER[meta.format] : undefined;
  if (!mimeType || !meta.width || !meta.height) return { kind: 'not_image' };
  const pixels = meta.width * (meta.pageHeight ?? meta.height);
  if (pixels > IMAGE_MAX_PIXELS) return { kind: 'too_many_pixels', pixels };
  try {
    // The one full decode; the blurhash is computed from the (small) thumbnail.
    const thumb = await sharp(bytes, { limitInputPixels: IMAGE_MAX_PIXELS, failOn: 'error' })
      .rotate()
      .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer();
    const small = await sharp(thumb)
      .resize(32, 32, { fit: 'inside' })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width: w, height: h } = small.info;
    // More components along the longer side: the placeholder keeps the image's proportions.
    const blurhash = encode(new Uint8ClampedArray(small.data), w, h, w >= h ? 4 : 3, w >= h ? 3 : 4);
    const oriented = meta.autoOrient ?? { width: meta.width, height: meta.pageHeight ?? meta.height };
    return { kind: 'image', mimeType, width: oriented.width, height: oriented.height, thumb, blurhash };
  } catch {
    // A valid header over a broken body (truncated, corrupt): not an image we can show.
    return { kind: 'not_image' };
  }
}
