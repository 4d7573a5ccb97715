import { type App, AppLimits, AppSettings, DEFAULT_CHANNEL_TYPES } from '@parley/protocol';
import type { JobSystem } from '../../jobs/boss.js';
import type { Db } from '../../platform/db.js';
import { isUniqueViolation } from '../../platform/db.js';
import type { AppRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { constantTimeEqual, randomToken, sha256, uuidv7 } from '../../platform/ids.js';
import { ShortCache } from '../../platform/short-cache.js';
import { channelTypesRepository } from '../channel-types/channel-types.repository.js';
import { appsRepository } from './apps.repository.js';

/**
 * The api secret is 64 random bytes (86 characters), longer than SHA-256's 64-byte block, so
 * HMAC-SHA256 keyed with the secret equals HMAC-SHA256 keyed with SHA-256(secret). We store only
 * that hash and still verify tokens the customer signs with the secret itself.
 * See docs/decisions/0002-api-secret-storage.md.
 */
export const newApiSecret = () => `sk_${randomToken(64)}`;
export const newApiKey = () => `pk_${randomToken(15)}`;

export function toAppDto(row: AppRow): App {
  return {
    id: row.id,
    name: row.name,
    api_key: row.api_key,
    settings: AppSettings.parse(row.settings),
    limits: AppLimits.parse(row.limits),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export interface CreateAppInput {
  name: string;
  settings?: Partial<AppSettings>;
  limits?: Partial<AppLimits>;
}

export class AppsService {
  /** Resolved api keys: trusted for SHORT_CACHE_MS, so a rotation reaches other processes within it. */
  private readonly byApiKey = new ShortCache<AppRow>();

  constructor(
    private readonly db: Db,
    /** Enqueues the search re-index when search_language changes (absent: no re-index). */
    private readonly jobs?: JobSystem,
  ) {}

  async create(input: CreateAppInput): Promise<{ app: App; api_secret: string; row: AppRow }> {
    const secret = newApiSecret();
    try {
      const row = await this.db.transaction().execute(async (tx) => {
        const app = await appsRepository.insert(tx, {
          id: uuidv7(),
          name: input.name,
          api_key: newApiKey(),
          secret_hash: sha256(secret),
          settings: AppSettings.parse(input.settings ?? {}),
          limits: AppLimits.parse(input.limits ?? {}),
        });
        await channelTypesRepository.insertMany(tx, app.id, DEFAULT_CHANNEL_TYPES);
        return app;
      });
      return { app: toAppDto(row), api_secret: secret, row };
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError('APP_NAME_TAKEN', undefined, { field: 'name' });
      throw error;
    }
  }

  async list(): Promise<App[]> {
    return (await appsRepository.list(this.db)).map(toAppDto);
  }

  async get(id: string): Promise<App> {
    return toAppDto(await this.getRow(id));
  }

  async getRow(id: string): Promise<AppRow> {
    const row = await appsRepository.findById(this.db, id);
    if (!row) throw new AppError('APP_NOT_FOUND');
    return row;
  }

  async findByName(name: string): Promise<AppRow | undefined> {
    return appsRepository.findByName(this.db, name);
  }

  async update(
    id: string,
    patch: { settings?: Partial<AppSettings>; limits?: Partial<AppLimits> },
  ): Promise<App> {
    const current = await this.getRow(id);
    const settings = patch.settings
      ? AppSettings.parse({ ...(current.settings as object), ...patch.settings })
      : undefined;
    const language = settings?.search_language;
    const reindex =
      this.jobs !== undefined &&
      language !== undefined &&
      language !== AppSettings.parse(current.settings ?? {}).search_language;
    // A new search_language re-indexes the app's messages (docs/guides/search-and-sync.md): the
    // job is enqueued in the transaction of the change, so it exists exactly when the change does.
    const row = await this.db.transaction().execute(async (tx) => {
      const updated = await appsRepository.update(tx, id, {
        ...(settings ? { settings } : {}),
        ...(patch.limits
          ? { limits: AppLimits.parse({ ...(current.limits as object), ...patch.limits }) }
          : {}),
      });
      if (updated && reindex)
        await this.jobs!.send(tx, 'search.reindex', { app_id: id, language: language!, after: null });
      return updated;
    });
    if (!row) throw new AppError('APP_NOT_FOUND');
    this.forget(row.api_key);
    return toAppDto(row);
  }

  /** Issues a new secret; the old one keeps working for `graceSeconds` (0 = stops at once). */
  async rotateSecret(id: string, graceSeconds: number): Promise<{ app: App; api_secret: string }> {
    const secret = newApiSecret();
    const until = graceSeconds > 0 ? new Date(Date.now() + graceSeconds * 1000) : null;
    const row = await appsRepository.replaceSecret(this.db, id, sha256(secret), until);
    if (!row) throw new AppError('APP_NOT_FOUND');
    this.forget(row.api_key);
    return { app: toAppDto(row), api_secret: secret };
  }

  /** Resolves an api key to its app, with a short cache: this runs on every request. */
  async resolveApiKey(apiKey: string): Promise<AppRow> {
    return this.byApiKey.get(apiKey, async () => {
      const row = await appsRepository.findByApiKey(this.db, apiKey);
      if (!row) throw new AppError('AUTH_API_KEY_INVALID');
      return row;
    });
  }

  /** The HMAC keys a token or raw secret may match: the current one and, during a rotation's grace, the previous. */
  static verificationKeys(app: AppRow): Buffer[] {
    const keys = [app.secret_hash];
    if (
      app.previous_secret_hash &&
      app.previous_secret_expires_at &&
      app.previous_secret_expires_at > new Date()
    ) {
      keys.push(app.previous_secret_hash);
    }
    return keys;
  }

  static secretMatches(app: AppRow, secret: string): boolean {
    const hash = sha256(secret);
    return AppsService.verificationKeys(app).some((key) => constantTimeEqual(key, hash));
  }

  private forget(apiKey: string) {
    this.byApiKey.delete(apiKey);
  }
}
