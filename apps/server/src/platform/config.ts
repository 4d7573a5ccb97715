import { z } from 'zod';

const Bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/** A whole number written in decimal digits: ' ', '0x50' or '1e3' are mistakes, not 0, 80 or 1000. */
const Int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const ConfigSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().default('127.0.0.1'),
    PORT: Int(0, 65535).default(3000),
    /** Unset → embedded PGlite in PARLEY_DATA_DIR; set → real PostgreSQL. */
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    DATABASE_POOL_SIZE: Int(1, 200).default(10),
    /** Commit plain message sends of one app together while a commit is under way (ADR 0016). */
    MESSAGE_GROUP_COMMIT: Bool.default(true),
    /** Set → rate limits (and later the realtime broker) share state through Redis. */
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// URL')
      .optional(),
    PARLEY_DATA_DIR: z.string().default('./.parley-data'),
    /** Guards the platform admin API (/admin/*). Unset → the admin API answers 401 to everyone. */
    PARLEY_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Seed the demo app, users and channels on first start. */
    PARLEY_SEED_DEMO: Bool.default(true),
    PARLEY_PUBLIC_URL: z.string().optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Largest accepted request body, in bytes. */
    BODY_LIMIT_BYTES: Int(1024, 50 * 1024 * 1024).default(1024 * 1024),
    RATE_LIMITS_ENABLED: Bool.default(true),
    /** Key prefix of the realtime broker's Redis keys (several deployments may share one Redis). */
    REALTIME_REDIS_PREFIX: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_.:-]+$/)
      .default('parley'),
    /** Run job workers (webhook deliveries, ...) in this process. Set false on API-only nodes when
     * `npm run parley -- worker` processes run the jobs. Jobs are always enqueued. */
    JOBS_WORKERS: Bool.default(true),
    /** How often an idle worker asks the database for jobs (a worker is also woken after a local write). */
    JOBS_POLL_INTERVAL_MS: Int(500, 60_000).default(2000),
    /** Jobs of one kind this process runs at once. */
    JOBS_CONCURRENCY: Int(1, 100).default(4),
    /** How often stuck jobs (their worker died) are failed and retried, and old jobs archived. */
    JOBS_MAINTENANCE_INTERVAL_SECONDS: Int(1, 3600).default(60),
    /** On shutdown, how long running jobs may take to finish before they are failed (and retried later). */
    JOBS_SHUTDOWN_TIMEOUT_MS: Int(1000, 600_000).default(8000),
    /** Time limit of one webhook request. */
    WEBHOOK_TIMEOUT_MS: Int(100, 60_000).default(10_000),
    /** Retries of a failed webhook delivery before it goes to the dead-letter queue. */
    WEBHOOK_RETRY_LIMIT: Int(0, 50).default(8),
    /** Base delay before the first retry; doubles with every retry, with random jitter. */
    WEBHOOK_RETRY_DELAY_SECONDS: Int(1, 3600).default(10),
    /** Delivery-log rows older than this many days are deleted by the daily `webhook.prune` job. */
    WEBHOOK_LOG_RETENTION_DAYS: Int(1, 3650).default(30),
    /**
     * Outbound requests to app-chosen URLs (webhooks, the before-send hook, commands) are refused when
     * the host resolves to a private, loopback or link-local address (SSRF guard), unless this is
     * true. Off by default: a tenant must not reach the server's own network. Tests and dev set it.
     */
    OUTBOUND_ALLOW_PRIVATE: Bool.default(false),
    /** Set → domain events are also published to this RabbitMQ (topic exchange AMQP_EXCHANGE). */
    AMQP_URL: z
      .string()
      .regex(/^amqps?:\/\//, 'must be an amqp:// URL')
      .optional(),
    /** The topic exchange events go to; routing key `<app id>.<event type>`. */
    AMQP_EXCHANGE: z.string().min(1).max(255).default('parley.events'),
    /** Set → domain events are also published to this NATS server, subject `<prefix>.<app id>.<event type>`. */
    NATS_URL: z
      .string()
      .regex(/^(nats|tls|wss?):\/\//, 'must be a nats:// URL')
      .optional(),
    NATS_SUBJECT_PREFIX: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
      .default('parley'),
    /** Retries of a failed event export (broker down) before it goes to the dead-letter queue. */
    EVENT_EXPORT_RETRY_LIMIT: Int(0, 100).default(20),
    /** Web Push (VAPID) keys, base64url, as printed by `npx web-push generate-vapid-keys`. Unset → in
     * development a key pair is generated once and kept in PARLEY_DATA_DIR/vapid.json; in production
     * Web Push is off. */
    VAPID_PUBLIC_KEY: z
      .string()
      .regex(/^[A-Za-z0-9_-]{87}$/, 'must be a base64url P-256 public key (87 characters)')
      .optional(),
    VAPID_PRIVATE_KEY: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url P-256 private key (43 characters)')
      .optional(),
    /** Contact of the push sender for push services: a mailto: or https: URL. */
    VAPID_SUBJECT: z
      .string()
      .regex(/^(mailto:|https:\/\/)/, 'must be a mailto: or https:// URL')
      .default('mailto:push@parley.localhost'),
    /** OneSignal REST API base URL (a stand-in speaking the same contract in tests). */
    ONESIGNAL_BASE_URL: z
      .string()
      .regex(/^https?:\/\//, 'must be an http(s):// URL')
      .default('https://api.onesignal.com'),
    /** Set both → pushes to OneSignal subscriptions go through this OneSignal app. */
    ONESIGNAL_APP_ID: z.string().min(1).max(64).optional(),
    ONESIGNAL_API_KEY: z.string().min(1).max(512).optional(),
    /** Messages to one user within this window become one push ("5 new messages from 2 chats"). */
    PUSH_BUNDLE_WINDOW_MS: Int(0, 600_000).default(5000),
    /** Time limit of one request to a push service. */
    PUSH_TIMEOUT_MS: Int(100, 60_000).default(10_000),
    /** Retries of a failed push job before it goes to the dead-letter queue. */
    PUSH_RETRY_LIMIT: Int(0, 50).default(5),
    /** Set → email (offline mentions, digests, invites) is sent through this SMTP server (smtp:// or smtps://). */
    SMTP_URL: z
      .string()
      .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
      .optional(),
    /** The From address of every email. */
    EMAIL_FROM: z.string().min(3).max(320).default('Parley <no-reply@localhost>'),
    /** How long after a mention the mention email is sent (only if still unread and the user is offline). */
    EMAIL_MENTION_DELAY_SECONDS: Int(0, 7 * 24 * 3600).default(600),
    /** How long after the first unread message the digest of unread messages is sent. */
    EMAIL_DIGEST_DELAY_SECONDS: Int(0, 7 * 24 * 3600).default(3600),
    /** Base URL of the GIPHY API (or a compatible stand-in) used by the /giphy command. */
    GIPHY_BASE_URL: z
      .string()
      .regex(/^https?:\/\//, 'must be an http(s):// URL')
      .default('https://api.giphy.com'),
    /** GIPHY API key; unset → /giphy answers GIPHY_NOT_CONFIGURED. */
    GIPHY_API_KEY: z.string().min(1).optional(),
    /** GIPHY content rating of /giphy results (g, pg, pg-13, r). */
    GIPHY_RATING: z.enum(['g', 'pg', 'pg-13', 'r']).default('g'),
    /** Time limit of one custom slash command request (and of one GIPHY search). */
    COMMAND_TIMEOUT_MS: Int(100, 30_000).default(5000),
    /** Where uploaded files are kept: `disk` (PARLEY_DATA_DIR/uploads) or `s3` (any S3-compatible store). */
    UPLOAD_STORAGE: z.enum(['disk', 's3']).default('disk'),
    /** Largest accepted upload, in bytes (an app's `limits.max_upload_bytes` may only lower it). */
    UPLOAD_MAX_BYTES: Int(1, 50 * 1024 * 1024 * 1024).default(100 * 1024 * 1024),
    /** Comma-separated file extensions refused with 415 (replaces the default list; "none" blocks nothing). */
    UPLOAD_BLOCKED_EXTENSIONS: z
      .string()
      .default('exe,dll,com,bat,cmd,cpl,msi,msp,scr,pif,vbs,vbe,jse,wsf,wsh,hta,ps1,psm1,reg,lnk,jar')
      .transform((list) =>
        list.trim().toLowerCase() === 'none'
          ? []
          : list
              .split(',')
              .map((e) => e.trim().toLowerCase().replace(/^\./, ''))
              .filter(Boolean),
      ),
    /** Uploads no message (or draft, or scheduled message) refers to are deleted after this many hours. */
    UPLOAD_ORPHAN_HOURS: Int(1, 24 * 365).default(24),
    /** An upload whose client sends no byte for this long is aborted (nothing of it is kept). */
    UPLOAD_IDLE_TIMEOUT_MS: Int(100, 3_600_000).default(60_000),
    /** S3-compatible storage (UPLOAD_STORAGE=s3), path-style: `<S3_ENDPOINT>/<S3_BUCKET>/<key>`. */
    S3_ENDPOINT: z
      .string()
      .regex(/^https?:\/\/[^/]+\/?$/, 'must be an http(s):// base URL without a path')
      .optional(),
    S3_BUCKET: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
      .optional(),
    /** The region in the request signature (MinIO and most S3-compatible stores accept us-east-1). */
    S3_REGION: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/)
      .default('us-east-1'),
    S3_ACCESS_KEY_ID: z.string().min(1).max(256).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).max(256).optional(),
  })
  .superRefine((config, ctx) => {
    if (config.UPLOAD_STORAGE !== 's3') return;
    for (const name of ['S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const) {
      if (config[name] === undefined)
        ctx.addIssue({ code: 'custom', path: [name], message: 'required when UPLOAD_STORAGE=s3' });
    }
  });

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Variables whose value must never reach a log, even when it is wrong. */
const SECRET_VARIABLES = new Set([
  'PARLEY_ADMIN_TOKEN',
  'GIPHY_API_KEY',
  'VAPID_PRIVATE_KEY',
  'ONESIGNAL_API_KEY',
  'S3_SECRET_ACCESS_KEY',
]);

/** How a bad value is shown in an error: secrets hidden, passwords in URLs masked. */
function shown(name: string, value: string | undefined): string {
  if (value === undefined) return 'nothing';
  if (SECRET_VARIABLES.has(name)) return `a value of ${value.length} characters`;
  return JSON.stringify(value.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@'));
}

/** Reads and validates the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = ConfigSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => {
        const name = String(i.path[0]);
        return `${i.path.join('.')}: ${i.message} (got ${shown(name, env[name])})`;
      }),
    );
  }
  return result.data;
}
