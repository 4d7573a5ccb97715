import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Config, loadConfig } from '../platform/config.js';
import { type DatabaseHandle, openDatabase } from '../platform/db.js';
import { createLogger } from '../platform/logger.js';
import { migrateToLatest } from '../platform/migrate.js';
import { type BuildOptions, buildServer, type Parley } from '../server.js';

/**
 * A real server on a real database for domain tests: in-memory PGlite by default, or a fresh
 * database on the PostgreSQL server named by DATABASE_URL (created here, dropped on close).
 */
export interface TestServer {
  parley: Parley;
  config: Config;
  database: DatabaseHandle;
  /** Creates an app (tenant) and returns clients for its server side and its users. */
  createApp(name?: string): Promise<TestApp>;
  close(): Promise<void>;
}

export interface TestApp {
  id: string;
  apiKey: string;
  secret: string;
  /** Calls as the app's backend (Authorization: Secret). */
  server: ApiClient;
  /** Calls as one end user (a signed user token). */
  as(userId: string): Promise<ApiClient>;
  token(userId: string, opts?: { expiresIn?: number; iat?: number }): Promise<string>;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface ApiClient {
  get<T = any>(url: string): Promise<ApiResponse<T>>;
  post<T = any>(url: string, body?: unknown): Promise<ApiResponse<T>>;
  put<T = any>(url: string, body?: unknown): Promise<ApiResponse<T>>;
  patch<T = any>(url: string, body?: unknown): Promise<ApiResponse<T>>;
  delete<T = any>(url: string): Promise<ApiResponse<T>>;
  request<T = any>(
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>>;
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export function apiClient(parley: Parley, headers: Record<string, string>): ApiClient {
  const request = async (method: string, url: string, body?: unknown, extra: Record<string, string> = {}) => {
    const res = await parley.http.inject({
      method: method as 'GET',
      url,
      headers: {
        ...headers,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...extra,
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    let parsed: unknown = res.body;
    try {
      parsed = res.body ? JSON.parse(res.body) : undefined;
    } catch {}
    return { status: res.statusCode, body: parsed as any, headers: res.headers };
  };
  return {
    request,
    get: (url) => request('GET', url),
    post: (url, body = {}) => request('POST', url, body),
    put: (url, body = {}) => request('PUT', url, body),
    patch: (url, body = {}) => request('PATCH', url, body),
    delete: (url) => request('DELETE', url),
  };
}

/** A fresh database on the PostgreSQL server of `baseUrl`, dropped by `drop()`. */
export async function createPostgresDatabase(
  baseUrl: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `parley_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export async function createTestServer(
  overrides: Partial<Record<string, string>> = {},
  buildOptions: BuildOptions = {},
): Promise<TestServer> {
  const baseUrl = process.env.DATABASE_URL;
  const pgDb = baseUrl ? await createPostgresDatabase(baseUrl) : undefined;
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PARLEY_ADMIN_TOKEN: ADMIN_TOKEN,
    PARLEY_SEED_DEMO: 'false',
    RATE_LIMITS_ENABLED: 'false',
    // Local receivers (webhooks, hooks) listen on 127.0.0.1: tests allow private outbound targets.
    OUTBOUND_ALLOW_PRIVATE: 'true',
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...overrides,
  } as NodeJS.ProcessEnv);
  const database = await openDatabase(config, { inMemory: true });
  await migrateToLatest(database.db);
  const parley = await buildServer(config, database, createLogger(config), buildOptions);
  const admin = apiClient(parley, { 'x-admin-token': ADMIN_TOKEN });
  let counter = 0;

  return {
    parley,
    config,
    database,
    async createApp(name = `app-${randomBytes(4).toString('hex')}-${++counter}`) {
      const res = await admin.post('/admin/apps', { name });
      if (res.status !== 201) throw new Error(`createApp failed: ${JSON.stringify(res.body)}`);
      const { id, api_key: apiKey, api_secret: secret } = res.body.app;
      const token = async (userId: string, opts: { expiresIn?: number; iat?: number } = {}) => {
        const { SignJWT } = await import('jose');
        const jwt = new SignJWT({ user_id: userId })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuedAt(opts.iat);
        if (opts.expiresIn !== undefined)
          jwt.setExpirationTime(Math.floor(Date.now() / 1000) + opts.expiresIn);
        return jwt.sign(new TextEncoder().encode(secret));
      };
      return {
        id,
        apiKey,
        secret,
        server: apiClient(parley, { 'x-api-key': apiKey, authorization: `Secret ${secret}` }),
        token,
        as: async (userId: string) =>
          apiClient(parley, { 'x-api-key': apiKey, authorization: `Bearer ${await token(userId)}` }),
      };
    },
    async close() {
      await parley.close();
      await database.close();
      await pgDb?.drop();
    },
  };
}
