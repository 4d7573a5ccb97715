import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

/** The ConfigError `loadConfig(env)` throws (fails the test when it does not throw). */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env as NodeJS.ProcessEnv);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('loadConfig', () => {
  it('has working defaults for an empty environment (PGlite in ./.parley-data, no Redis)', () => {
    expect(loadConfig({})).toEqual({
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: 3000,
      DATABASE_POOL_SIZE: 10,
      MESSAGE_GROUP_COMMIT: true,
      PARLEY_DATA_DIR: './.parley-data',
      PARLEY_SEED_DEMO: true,
      LOG_LEVEL: 'info',
      BODY_LIMIT_BYTES: 1024 * 1024,
      RATE_LIMITS_ENABLED: true,
      REALTIME_REDIS_PREFIX: 'parley',
      JOBS_WORKERS: true,
      JOBS_POLL_INTERVAL_MS: 2000,
      JOBS_CONCURRENCY: 4,
      JOBS_MAINTENANCE_INTERVAL_SECONDS: 60,
      JOBS_SHUTDOWN_TIMEOUT_MS: 8000,
      WEBHOOK_TIMEOUT_MS: 10_000,
      WEBHOOK_RETRY_LIMIT: 8,
      WEBHOOK_RETRY_DELAY_SECONDS: 10,
      WEBHOOK_LOG_RETENTION_DAYS: 30,
      OUTBOUND_ALLOW_PRIVATE: false,
      AMQP_EXCHANGE: 'parley.events',
      NATS_SUBJECT_PREFIX: 'parley',
      EVENT_EXPORT_RETRY_LIMIT: 20,
      EMAIL_FROM: 'Parley <no-reply@localhost>',
      EMAIL_MENTION_DELAY_SECONDS: 600,
      EMAIL_DIGEST_DELAY_SECONDS: 3600,
      VAPID_SUBJECT: 'mailto:push@parley.localhost',
      ONESIGNAL_BASE_URL: 'https://api.onesignal.com',
      PUSH_BUNDLE_WINDOW_MS: 5000,
      PUSH_TIMEOUT_MS: 10_000,
      PUSH_RETRY_LIMIT: 5,
      GIPHY_BASE_URL: 'https://api.giphy.com',
      GIPHY_RATING: 'g',
      COMMAND_TIMEOUT_MS: 5000,
      UPLOAD_STORAGE: 'disk',
      UPLOAD_MAX_BYTES: 100 * 1024 * 1024,
      UPLOAD_BLOCKED_EXTENSIONS: expect.arrayContaining(['exe', 'bat', 'msi', 'scr', 'ps1']),
      UPLOAD_ORPHAN_HOURS: 24,
      UPLOAD_IDLE_TIMEOUT_MS: 60_000,
      S3_REGION: 'us-east-1',
    });
  });

  it('reads and converts every variable', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      HOST: '0.0.0.0',
      PORT: '8080',
      DATABASE_URL: 'postgres://parley:pw@db:5432/parley',
      DATABASE_POOL_SIZE: '25',
      REDIS_URL: 'rediss://cache:6380/1',
      PARLEY_DATA_DIR: '/var/lib/parley',
      PARLEY_ADMIN_TOKEN: 'a-very-long-admin-token',
      PARLEY_SEED_DEMO: '0',
      PARLEY_PUBLIC_URL: 'https://chat.example.com',
      LOG_LEVEL: 'warn',
      BODY_LIMIT_BYTES: '2048',
      RATE_LIMITS_ENABLED: 'false',
    });
    expect(config).toMatchObject({
      NODE_ENV: 'production',
      PORT: 8080,
      DATABASE_URL: 'postgres://parley:pw@db:5432/parley',
      DATABASE_POOL_SIZE: 25,
      REDIS_URL: 'rediss://cache:6380/1',
      PARLEY_ADMIN_TOKEN: 'a-very-long-admin-token',
      PARLEY_SEED_DEMO: false,
      BODY_LIMIT_BYTES: 2048,
      RATE_LIMITS_ENABLED: false,
    });
    expect(loadConfig({ DATABASE_URL: 'postgresql://localhost/x', PARLEY_SEED_DEMO: 'true' })).toMatchObject({
      DATABASE_URL: 'postgresql://localhost/x',
      PARLEY_SEED_DEMO: true,
    });
  });

  it('treats empty variables as unset and ignores unrelated ones', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '', REDIS_URL: '', PATH: '/usr/bin', HOME: '/root' });
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(config).not.toHaveProperty('PATH');
  });

  it('accepts PORT 0 (any free port) and 65535', () => {
    expect(loadConfig({ PORT: '0' }).PORT).toBe(0);
    expect(loadConfig({ PORT: '65535' }).PORT).toBe(65535);
  });

  it.each(['abc', '-1', '65536', '80.5', ' ', '0x50', '1e3', '3000abc'])(
    'refuses PORT=%j naming PORT',
    (port) => {
      const error = configError({ PORT: port });
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^PORT: /);
      expect(error.message).toContain('PORT');
    },
  );

  it.each(['mysql://localhost/db', 'localhost:5432', 'http://postgres@localhost/x'])(
    'refuses DATABASE_URL=%j naming DATABASE_URL',
    (url) => {
      const error = configError({ DATABASE_URL: url });
      expect(error.problems).toEqual([expect.stringMatching(/^DATABASE_URL: must be a postgres:\/\/ URL/)]);
    },
  );

  it.each(['http://localhost:6379', 'localhost:6379', 'redis:/x'])(
    'refuses REDIS_URL=%j naming REDIS_URL',
    (url) => {
      const error = configError({ REDIS_URL: url });
      expect(error.problems).toEqual([expect.stringMatching(/^REDIS_URL: must be a redis:\/\/ URL/)]);
    },
  );

  it('names every bad variable at once', () => {
    const error = configError({
      PORT: 'x',
      DATABASE_URL: 'mysql://x',
      REDIS_URL: 'x',
      LOG_LEVEL: 'loud',
      NODE_ENV: 'staging',
      PARLEY_SEED_DEMO: 'yes',
      DATABASE_POOL_SIZE: '0',
      BODY_LIMIT_BYTES: '10',
    });
    const names = error.problems.map((p) => p.split(':')[0]).sort();
    expect(names).toEqual([
      'BODY_LIMIT_BYTES',
      'DATABASE_POOL_SIZE',
      'DATABASE_URL',
      'LOG_LEVEL',
      'NODE_ENV',
      'PARLEY_SEED_DEMO',
      'PORT',
      'REDIS_URL',
    ]);
    expect(error.message.split('\n')[0]).toBe('Invalid configuration:');
  });

  it('shows the bad value, but never a password or the admin token', () => {
    expect(configError({ PORT: 'abc' }).problems[0]).toContain('"abc"');
    const db = configError({ DATABASE_URL: 'mysql://root:hunter2@db/app' });
    expect(db.message).not.toContain('hunter2');
    expect(db.message).toContain('mysql://root:***@db/app');
    const redis = configError({ REDIS_URL: 'http://:s3cret@cache:6379' });
    expect(redis.message).not.toContain('s3cret');
    const admin = configError({ PARLEY_ADMIN_TOKEN: 'short-secret' });
    expect(admin.problems[0]).toMatch(/^PARLEY_ADMIN_TOKEN: must be at least 16 characters/);
    expect(admin.message).not.toContain('short-secret');
  });

  it('validates the export, email and outbound variables (passwords masked)', () => {
    const config = loadConfig({
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
      NATS_URL: 'nats://127.0.0.1:4222',
      SMTP_URL: 'smtps://mailer:pw@smtp.example.com:465',
      OUTBOUND_ALLOW_PRIVATE: 'true',
      EMAIL_MENTION_DELAY_SECONDS: '0',
    });
    expect(config).toMatchObject({ OUTBOUND_ALLOW_PRIVATE: true, EMAIL_MENTION_DELAY_SECONDS: 0 });
    const smtp = configError({ SMTP_URL: 'http://mailer:t0psecret@smtp.example.com' });
    expect(smtp.problems[0]).toMatch(/^SMTP_URL: must be an smtp:\/\/ or smtps:\/\/ URL/);
    expect(smtp.message).not.toContain('t0psecret');
    const amqp = configError({ AMQP_URL: 'redis://u:hidden@mq' });
    expect(amqp.message).not.toContain('hidden');
    expect(configError({ NATS_SUBJECT_PREFIX: 'a..b' }).problems[0]).toMatch(/^NATS_SUBJECT_PREFIX/);
    expect(configError({ OUTBOUND_ALLOW_PRIVATE: 'yes' }).problems[0]).toMatch(/^OUTBOUND_ALLOW_PRIVATE/);
  });

  it('validates the upload variables: S3 storage needs its endpoint, bucket and keys (secret hidden)', () => {
    const s3 = {
      UPLOAD_STORAGE: 's3',
      S3_ENDPOINT: 'http://minio:9000',
      S3_BUCKET: 'parley-files',
      S3_ACCESS_KEY_ID: 'minio',
      S3_SECRET_ACCESS_KEY: 'minio-secret-key',
    };
    expect(loadConfig(s3)).toMatchObject({ ...s3, S3_REGION: 'us-east-1' });
    const missing = configError({ UPLOAD_STORAGE: 's3', S3_ENDPOINT: 'http://minio:9000' });
    expect(missing.problems).toEqual([
      expect.stringMatching(/^S3_BUCKET: required when UPLOAD_STORAGE=s3/),
      expect.stringMatching(/^S3_ACCESS_KEY_ID: required/),
      expect.stringMatching(/^S3_SECRET_ACCESS_KEY: required/),
    ]);
    expect(configError({ ...s3, S3_ENDPOINT: 'http://minio:9000/bucket' }).problems[0]).toMatch(
      /^S3_ENDPOINT/,
    );
    expect(configError({ ...s3, S3_BUCKET: 'Bad_Bucket' }).problems[0]).toMatch(/^S3_BUCKET/);
    expect(configError({ ...s3, S3_BUCKET: 'x', S3_SECRET_ACCESS_KEY: 'hunter2' }).message).not.toContain(
      'hunter2',
    );
    expect(configError({ UPLOAD_STORAGE: 'ftp' }).problems[0]).toMatch(/^UPLOAD_STORAGE/);
    expect(configError({ UPLOAD_MAX_BYTES: '10MB' }).problems[0]).toMatch(/^UPLOAD_MAX_BYTES/);
    expect(loadConfig({ UPLOAD_BLOCKED_EXTENSIONS: ' .EXE, sh ,' }).UPLOAD_BLOCKED_EXTENSIONS).toEqual([
      'exe',
      'sh',
    ]);
    expect(loadConfig({ UPLOAD_BLOCKED_EXTENSIONS: 'none' }).UPLOAD_BLOCKED_EXTENSIONS).toEqual([]);
  });
});
