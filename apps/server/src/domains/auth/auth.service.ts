import { timingSafeEqual, webcrypto } from 'node:crypto';
import { AppSettings } from '@parley/protocol';
import { type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Actor, RequestContext } from '../../platform/context.js';
import type { Db } from '../../platform/db.js';
import type { AppRow, UserRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { byApp, ReadBatcher } from '../../platform/read-batcher.js';
import { AppsService } from '../apps/apps.service.js';
import { usersRepository } from '../users/users.repository.js';

export interface Credentials {
  apiKey: string | undefined;
  authorization: string | undefined;
}

/**
 * Turns request credentials into a RequestContext.
 * - `Authorization: Bearer <jwt>`: HS256 signed with the app's api secret. A `user_id` (or `sub`)
 *   claim makes a user call; `server: true` makes a server call. `exp` is honoured; `iat` is
 *   checked against the user's token revocation time.
 * - `Authorization: Secret <api secret>`: a server call.
 * Anything else is a 401 with a stable code.
 */
export class AuthService {
  /** Every authenticated call reads its user: concurrent reads share one query (ADR 0017). */
  private readonly userReads: ReadBatcher<{ appId: string; id: string }, UserRow>;

  constructor(
    private readonly db: Db,
    private readonly apps: AppsService,
  ) {
    this.userReads = new ReadBatcher<{ appId: string; id: string }, UserRow>(
      async (keys) => {
        const rows = await usersRepository.findMany(
          db,
          keys[0]!.appId,
          keys.map((key) => key.id),
        );
        return new Map(rows.map((row) => [`${row.app_id}/${row.id}`, row]));
      },
      (key) => `${key.appId}/${key.id}`,
      byApp,
    );
  }

  async authenticate(credentials: Credentials): Promise<RequestContext> {
    if (!credentials.apiKey) throw new AppError('AUTH_MISSING', 'send the api key in the X-Api-Key header');
    const app = await this.apps.resolveApiKey(credentials.apiKey);
    const header = credentials.authorization?.trim();
    if (!header)
      throw new AppError('AUTH_MISSING', 'send Authorization: Bearer <token> or Secret <api secret>');
    const [scheme, value] = header.split(/\s+/, 2);
    if (scheme?.toLowerCase() === 'secret' && value) {
      if (!AppsService.secretMatches(app, value)) throw new AppError('AUTH_SECRET_INVALID');
      return { app, actor: { kind: 'server' } };
    }
    if (scheme?.toLowerCase() === 'bearer' && value)
      return { app, actor: await this.actorFromToken(app, value) };
    throw new AppError('AUTH_MISSING', 'the Authorization scheme must be Bearer or Secret');
  }

  async actorFromToken(app: AppRow, token: string): Promise<Actor> {
    const claims = await verifyAppToken(app, token);
    if (claims.server === true) return { kind: 'server' };
    const userId = typeof claims.user_id === 'string' ? claims.user_id : claims.sub;
    if (!userId || !/^[A-Za-z0-9@_.\-=]{1,128}$/.test(userId)) {
      throw new AppError('AUTH_TOKEN_INVALID', 'the token has no valid user_id claim');
    }
    // One read on the hot path; the first valid token of an unknown user creates it.
    const user =
      (await this.userReads.load({ appId: app.id, id: userId })) ??
      (await usersRepository.ensure(this.db, app.id, userId));
    if (user.deleted_at) throw new AppError('USER_DELETED');
    if (user.tokens_revoked_at && isRevoked(claims.iat, user.tokens_revoked_at))
      throw new AppError('AUTH_TOKEN_REVOKED');
    return { kind: 'user', user };
  }

  /** Signs a user token for the demo app's dev-token endpoint and the CLI. */
  static async signUserToken(secretOrKey: string | Uint8Array, userId: string, expiresInSeconds?: number) {
    const key = typeof secretOrKey === 'string' ? new TextEncoder().encode(secretOrKey) : secretOrKey;
    const jwt = new SignJWT({ user_id: userId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt();
    if (expiresInSeconds) jwt.setExpirationTime(`${expiresInSeconds}s`);
    return jwt.sign(key);
  }

  /** Dev tokens are signed with the stored key (equivalent to the secret, see AppsService). */
  async devToken(app: AppRow, userId: string): Promise<string> {
    if (!AppSettings.parse(app.settings).dev_tokens) throw new AppError('DEV_TOKENS_DISABLED');
    return AuthService.signUserToken(app.secret_hash, userId);
  }
}

/**
 * `iat` has whole-second precision, so "issued before T" compares seconds: a token minted in the
 * same second as (just after) a revocation keeps working, otherwise a backend that revokes and
 * re-issues at once would hand out a token that never works. A token without `iat` is revoked.
 */
function isRevoked(iat: unknown, revokedAt: Date): boolean {
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return true;
  return iat < Math.floor(revokedAt.getTime() / 1000);
}

/** `aud`, when present, must name this app's api key (a string, or an array containing it). */
function audienceMatches(aud: unknown, apiKey: string): boolean {
  if (aud === undefined) return true;
  return Array.isArray(aud) ? aud.includes(apiKey) : aud === apiKey;
}

/**
 * Tokens whose signature already checked out, with the key that verified them: a client sends the
 * same token with every request and connection, and an HS256 check through jose/WebCrypto (key
 * import, async verify) costs about 80 µs of CPU (bench/RESULTS.md), a hit under 1 µs. A hit
 * still needs its key to be one of the app's current keys (a rotated-out secret misses) and `exp`
 * to be in the future; `nbf` passed when the token was verified. Revocation and deletion are
 * checked per request on the user row, after this. Bounded: the oldest entries go first.
 */
const verifiedTokens = new Map<string, { key: Uint8Array; payload: JWTPayload }>();
const VERIFIED_TOKENS_MAX = 20_000;

/**
 * Imported HMAC keys by secret: jose imports a raw key on every verify (an async WebCrypto job),
 * which a connect storm of distinct tokens would pay once per token. Bounded like verifiedTokens.
 */
const hmacKeys = new Map<string, Promise<webcrypto.CryptoKey>>();
const HMAC_KEYS_MAX = 1_000;

function hmacKey(secret: Uint8Array): Promise<webcrypto.CryptoKey> {
  const id = Buffer.from(secret).toString('base64');
  let key = hmacKeys.get(id);
  if (!key) {
    if (hmacKeys.size >= HMAC_KEYS_MAX) hmacKeys.delete(hmacKeys.keys().next().value!);
    key = webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    key.catch(() => hmacKeys.delete(id));
    hmacKeys.set(id, key);
  }
  return key;
}

/** Keys are Buffers on PostgreSQL and plain Uint8Arrays on PGlite. */
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && timingSafeEqual(a, b);

function rememberVerified(token: string, key: Uint8Array, payload: JWTPayload) {
  if (verifiedTokens.size >= VERIFIED_TOKENS_MAX) {
    const oldest = verifiedTokens.keys().next().value;
    if (oldest !== undefined) verifiedTokens.delete(oldest);
  }
  verifiedTokens.set(token, { key, payload });
}

async function verifyAppToken(app: AppRow, token: string) {
  const keys = AppsService.verificationKeys(app);
  const known = verifiedTokens.get(token);
  if (known && keys.some((key) => sameBytes(key, known.key))) {
    const { payload } = known;
    // jose's rule, without clock tolerance: expired once exp <= now.
    if (typeof payload.exp === 'number' && payload.exp <= Math.floor(Date.now() / 1000)) {
      verifiedTokens.delete(token);
      throw new AppError('AUTH_TOKEN_EXPIRED');
    }
    if (!audienceMatches(payload.aud, app.api_key)) {
      throw new AppError('AUTH_TOKEN_INVALID', 'the token was issued for another app');
    }
    return payload;
  }
  let lastError: unknown;
  for (const key of keys) {
    try {
      const { payload } = await jwtVerify(token, await hmacKey(key), { algorithms: ['HS256'] });
      if (!audienceMatches(payload.aud, app.api_key)) {
        throw new AppError('AUTH_TOKEN_INVALID', 'the token was issued for another app');
      }
      rememberVerified(token, key, payload);
      return payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new AppError('AUTH_TOKEN_EXPIRED');
      if (error instanceof AppError) throw error;
      lastError = error;
    }
  }
  const reason =
    lastError instanceof joseErrors.JOSEAlgNotAllowed ? 'only HS256 tokens are accepted' : undefined;
  throw new AppError('AUTH_TOKEN_INVALID', reason);
}
