import { z } from 'zod';
import { IsoDate } from './common.js';
import { WebhookUrl } from './webhooks.js';

export const AppLimits = z
  .object({
    /** Requests per minute for the whole app (all users and server calls). */
    app_requests_per_minute: z.number().int().min(1).max(1_000_000).default(6000),
    /** Requests per minute for one user. */
    user_requests_per_minute: z.number().int().min(1).max(100_000).default(600),
    /** Largest custom data object (users, channels, messages), in bytes of JSON. */
    max_custom_data_bytes: z.number().int().min(64).max(65_536).default(5120),
    /** Largest file upload, in bytes; null = the deployment's UPLOAD_MAX_BYTES (which also caps this). */
    max_upload_bytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).nullable().default(null),
  })
  .strict();
export type AppLimits = z.infer<typeof AppLimits>;

/**
 * The synchronous before-message-send hook (docs/webhooks.md#before-send-hook): Parley POSTs every
 * new message to `url` (signed like webhooks) before storing it; the answer approves, rejects or
 * rewrites it. When no valid answer comes within `timeout_ms`, `failure_policy` decides.
 */
export const BeforeSendHookConfig = z
  .object({
    url: WebhookUrl,
    timeout_ms: z.number().int().min(100).max(10_000).default(2000),
    /** fail_open: send the message unchanged; fail_closed: refuse it (BEFORE_SEND_HOOK_FAILED). */
    failure_policy: z.enum(['fail_open', 'fail_closed']).default('fail_open'),
  })
  .strict();
export type BeforeSendHookConfig = z.infer<typeof BeforeSendHookConfig>;

export const AppSettings = z
  .object({
    /** Allow the unsigned development token endpoint. Never in production. */
    dev_tokens: z.boolean().default(false),
    /** Full-text search language (a Postgres text search configuration). */
    search_language: z.string().min(1).max(64).default('english'),
    /** Name of the blocklist applied to every message of the app (on send and edit); null = none. */
    blocklist: z.string().min(1).max(64).nullable().default(null),
    /** The before-message-send hook; null = none. */
    before_send_hook: BeforeSendHookConfig.nullable().default(null),
    /** Where custom slash commands without their own url are sent (docs/guides/polls-and-commands.md). */
    commands_url: WebhookUrl.nullable().default(null),
  })
  .strict();
export type AppSettings = z.infer<typeof AppSettings>;

export const App = z.object({
  id: z.string(),
  name: z.string(),
  api_key: z.string(),
  settings: AppSettings,
  limits: AppLimits,
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type App = z.infer<typeof App>;

/** Returned once, when an app is created or its secret rotated: the secret is never shown again. */
export const AppWithSecret = App.extend({ api_secret: z.string() });

export const AppName = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9 _.-]+$/, 'app names may contain letters, digits, spaces and _ . -');

/**
 * The fields of a defaulted object, all optional and without their defaults: in a PATCH body a
 * field left out must keep its stored value (zod 4 applies a default even inside `.partial()`).
 */
function patchOf<Shape extends Record<string, z.ZodDefault<z.ZodType>>>(schema: z.ZodObject<Shape>) {
  const shape = Object.fromEntries(
    Object.entries(schema.shape).map(([key, field]) => [key, field.unwrap().optional()]),
  ) as { [K in keyof Shape]: z.ZodOptional<ReturnType<Shape[K]['unwrap']>> };
  return z.object(shape).strict();
}
export const AppSettingsPatch = patchOf(AppSettings);
export const AppLimitsPatch = patchOf(AppLimits);

export const CreateAppBody = z
  .object({
    name: AppName,
    settings: AppSettings.partial().optional(),
    limits: AppLimits.partial().optional(),
  })
  .strict();

export const UpdateAppBody = z
  .object({
    settings: AppSettingsPatch.optional(),
    limits: AppLimitsPatch.optional(),
  })
  .strict();

export const RotateSecretBody = z
  .object({
    /** Keep the old secret valid for this many seconds so deployed backends can switch over. */
    grace_period_seconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(0),
  })
  .strict();
