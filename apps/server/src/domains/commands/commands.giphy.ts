import { z } from 'zod';
import type { Config } from '../../platform/config.js';
import { AppError } from '../../platform/errors.js';
import { OutboundTimeoutError, outboundRequest } from '../../platform/outbound.js';

/** One GIPHY result, as /giphy shows it. */
export interface Gif {
  id: string;
  title: string;
  url: string;
  width: number;
  height: number;
}

const Dimension = z.union([z.number(), z.string().regex(/^\d+$/)]).transform(Number);

/** The part of GIPHY's search answer Parley reads (GET /v1/gifs/search). */
const SearchAnswer = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      title: z.string().default(''),
      images: z.object({
        fixed_height: z.object({ url: z.url(), width: Dimension, height: Dimension }),
      }),
    }),
  ),
});

/**
 * GIPHY's search endpoint: `GET {GIPHY_BASE_URL}/v1/gifs/search?api_key&q&limit&offset&rating`.
 * The base URL is the operator's (config), so it may be a private stand-in (tests, air-gapped
 * installs). Answers the result at `offset`, or undefined when there is none.
 */
export async function searchGif(config: Config, query: string, offset: number): Promise<Gif | undefined> {
  if (!config.GIPHY_API_KEY) throw new AppError('GIPHY_NOT_CONFIGURED');
  const url = new URL('/v1/gifs/search', config.GIPHY_BASE_URL);
  url.search = new URLSearchParams({
    api_key: config.GIPHY_API_KEY,
    q: query,
    limit: '1',
    offset: String(offset),
    rating: config.GIPHY_RATING,
  }).toString();
  let body: string;
  try {
    const res = await outboundRequest({
      url: url.toString(),
      method: 'GET',
      headers: { accept: 'application/json' },
      timeoutMs: config.COMMAND_TIMEOUT_MS,
      allowPrivate: true,
      maxBodyChars: 1024 * 1024,
    });
    if (res.status < 200 || res.status >= 300)
      throw new AppError('GIPHY_FAILED', `GIPHY answered ${res.status}`, { status: res.status });
    body = res.body;
  } catch (error) {
    if (error instanceof AppError) throw error;
    const reason = error instanceof OutboundTimeoutError ? 'timeout' : (error as Error).message;
    throw new AppError('GIPHY_FAILED', `GIPHY did not answer: ${reason}`, { reason });
  }
  let parsed: z.infer<typeof SearchAnswer>;
  try {
    parsed = SearchAnswer.parse(JSON.parse(body));
  } catch {
    throw new AppError('GIPHY_FAILED', 'GIPHY answered something that is not a search result');
  }
  const first = parsed.data[0];
  if (!first) return undefined;
  const image = first.images.fixed_height;
  return { id: first.id, title: first.title, url: image.url, width: image.width, height: image.height };
}
