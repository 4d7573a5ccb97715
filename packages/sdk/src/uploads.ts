import type { UploadResponse } from '@parley/protocol';
import { ParleyNetworkError, ParleyUploadCancelledError } from './errors.js';
import type { ResponseLike, RestClient } from './rest.js';

/** What can be uploaded: a File or Blob, or bytes (a Node Buffer is a Uint8Array). */
export type UploadData = Blob | ArrayBuffer | Uint8Array;

export interface UploadProgress {
  /**
   * Bytes sent so far: never goes down within one send, and ends at `total` once the server has
   * answered. When the file is sent again (after a 401 and a token refresh the whole body is
   * repeated) it starts again from 0, so the numbers show what is really on its way.
   */
  loaded: number;
  total: number;
}

export interface UploadOptions {
  /** The file name (default: the File's name, else `file`); the server sanitises it. */
  name?: string;
  /** The MIME type (default: the Blob's type, else application/octet-stream); images are sniffed anyway. */
  type?: string;
  onProgress?: (progress: UploadProgress) => void;
  /**
   * Aborting rejects the upload with a `ParleyUploadCancelledError`. An abort during the body
   * leaves nothing on the server; an abort after the server has stored the file (its answer still
   * on the way) leaves an upload no message references, which the server's cleanup job deletes.
   */
  signal?: AbortSignal;
}

export const isBlob = (value: unknown): value is Blob => typeof Blob !== 'undefined' && value instanceof Blob;

/** Bytes handed to fetch per pull of the request body stream (so progress moves in steps of this). */
const CHUNK = 64 * 1024;

/**
 * POST /channels/{type}/{id}/uploads with the file as the raw body (no multipart, so the bytes
 * stream and progress is exact). Where XMLHttpRequest exists (browsers, React Native) it is used
 * for its upload progress events; elsewhere (Node) fetch gets a body stream that counts the bytes
 * as fetch pulls them. Credentials, the token refresh and error answers go through
 * `RestClient.call` like every other route.
 */
export async function uploadFile(
  rest: RestClient,
  channelType: string,
  channelId: string,
  data: UploadData,
  options: UploadOptions = {},
): Promise<UploadResponse> {
  const blob = isBlob(data) ? data : undefined;
  const name = options.name ?? (blob as Partial<File> | undefined)?.name ?? 'file';
  const type = options.type || blob?.type || 'application/octet-stream';
  const total = blob ? blob.size : (data as ArrayBuffer | Uint8Array).byteLength;
  const path = `/channels/${encodeURIComponent(channelType)}/${encodeURIComponent(channelId)}/uploads`;
  const url = rest.url(path, { name }).toString();
  const { signal } = options;
  let reported = -1;
  const progress = (loaded: number) => {
    // Monotonic within one send; `send` below resets it for a repeated one.
    loaded = Math.min(loaded, total);
    if (loaded <= reported) return;
    reported = loaded;
    options.onProgress?.({ loaded, total });
  };
  if (signal?.aborted) throw new ParleyUploadCancelledError();
  try {
    const answer = await rest.call<UploadResponse>(async (headers) => {
      // `call` may have awaited the token provider (or a refresh) since the check above.
      if (signal?.aborted) throw new ParleyUploadCancelledError();
      headers['content-type'] = type;
      // A repeated send (after a token refresh) starts from 0 again: the bytes go once more.
      if (reported >= 0) {
        reported = -1;
        progress(0);
      }
      return typeof XMLHttpRequest === 'function'
        ? viaXhr(url, headers, data, progress, signal)
        : viaFetch(rest.fetch, url, headers, data, total, progress, signal);
    });
    progress(total);
    return answer;
  } catch (error) {
    if (signal?.aborted) throw new ParleyUploadCancelledError();
    throw error;
  }
}

/** Browsers and React Native: XHR is the one API with upload progress events. */
function viaXhr(
  url: string,
  headers: Record<string, string>,
  data: UploadData,
  progress: (loaded: number) => void,
  signal: AbortSignal | undefined,
): Promise<ResponseLike> {
  return new Promise((resolve, reject) => {
    // An already aborted signal never fires 'abort' again: the listener below would miss it.
    if (signal?.aborted) return reject(new ParleyUploadCancelledError());
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    for (const [key, value] of Object.entries(headers)) xhr.setRequestHeader(key, value);
    xhr.upload.onprogress = (e) => progress(e.loaded);
    xhr.onload = () =>
      resolve({
        ok: xhr.status >= 200 && xhr.status < 300,
        status: xhr.status,
        statusText: xhr.statusText,
        json: async () => JSON.parse(xhr.responseText),
      });
    xhr.onerror = xhr.ontimeout = () => reject(new ParleyNetworkError(`POST ${url} failed`));
    xhr.onabort = () => reject(new ParleyUploadCancelledError());
    const abort = () => xhr.abort();
    signal?.addEventListener('abort', abort, { once: true });
    xhr.onloadend = () => signal?.removeEventListener('abort', abort);
    xhr.send(data as XMLHttpRequestBodyInit);
  });
}

/** Node: a streamed body (Content-Length set, so the server can refuse a large file before reading it). */
async function viaFetch(
  fetchImpl: typeof fetch,
  url: string,
  headers: Record<string, string>,
  data: UploadData,
  total: number,
  progress: (loaded: number) => void,
  signal: AbortSignal | undefined,
): Promise<ResponseLike> {
  headers['content-length'] = String(total);
  const reader = isBlob(data) ? data.stream().getReader() : undefined;
  // What is left of the bytes, or of the Blob's last chunk (which may be the whole file at once).
  let rest = reader ? undefined : data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBuffer);
  let loaded = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!rest?.byteLength) rest = reader && (await reader.read()).value;
        if (!rest) return controller.close();
        const chunk = rest.subarray(0, CHUNK);
        rest = rest.subarray(CHUNK);
        loaded += chunk.byteLength;
        controller.enqueue(chunk);
        progress(loaded);
      },
      cancel: (reason) => reader?.cancel(reason),
    },
    // Pull only when fetch asks for more: the count follows what was actually handed over.
    { highWaterMark: 0 },
  );
  try {
    // `duplex` is not in the DOM typings yet; Node's fetch requires it for a stream body.
    return await fetchImpl(url, { method: 'POST', headers, body, signal, duplex: 'half' } as RequestInit);
  } catch (cause) {
    throw new ParleyNetworkError(`POST ${url} failed: ${(cause as Error)?.message ?? cause}`, { cause });
  }
}
