import { z } from 'zod';
import { Cid, IsoDate, UserId } from './common.js';

/**
 * Push notifications: devices (where to push) and preferences (when to push) of a user.
 * Users manage their own; server-side calls name the user with `user_id`.
 */

export const PushProvider = z.enum(['web_push', 'onesignal', 'apns', 'fcm']);
export type PushProvider = z.infer<typeof PushProvider>;

const Base64Url = z.string().regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url');

/** A browser's PushSubscription (`subscription.toJSON()`). */
export const WebPushSubscription = z
  .object({
    endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' }).max(2048),
    expirationTime: z.number().int().nullable().optional(),
    keys: z
      .object({
        /** The browser's P-256 public key (65 bytes uncompressed, base64url). */
        p256dh: Base64Url.min(80).max(100),
        /** The 16-byte auth secret (base64url). */
        auth: Base64Url.min(16).max(32),
      })
      .strict(),
  })
  .strict();

const DeviceToken = z.string().min(1).max(4096);

export const RegisterDeviceBody = z.discriminatedUnion('provider', [
  z
    .object({
      provider: z.literal('web_push'),
      subscription: WebPushSubscription,
      user_id: UserId.optional(),
    })
    .strict(),
  z
    .object({
      provider: z.literal('onesignal'),
      /** The OneSignal subscription id (formerly "player id"). */
      token: DeviceToken,
      user_id: UserId.optional(),
    })
    .strict(),
  z
    .object({
      provider: z.enum(['apns', 'fcm']),
      /** The APNs device token or FCM registration token (kept for providers; not sent by Parley yet). */
      token: DeviceToken,
      user_id: UserId.optional(),
    })
    .strict(),
]);

export const Device = z.object({
  id: z.string(),
  user_id: UserId,
  provider: PushProvider,
  /** web_push: the subscription endpoint; others: the provider's token or subscription id. */
  token: z.string(),
  created_at: IsoDate,
  updated_at: IsoDate,
});
export type Device = z.infer<typeof Device>;

export const DeviceParams = z.object({ device_id: z.uuid() }).strict();
export const DevicesQuery = z.object({ user_id: UserId.optional() }).strict();

export const PushLevel = z.enum(['all', 'mentions', 'none']);

const HhMm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a 24-hour time HH:MM');

/** Daily quiet hours in a time zone; start > end spans midnight (22:00 → 07:00). */
export const DndSchedule = z
  .object({
    start: HhMm,
    end: HhMm,
    /** IANA time zone, e.g. Europe/Berlin. */
    tz: z
      .string()
      .min(1)
      .max(64)
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'must be an IANA time zone such as Europe/Berlin'),
  })
  .strict();

export const PushPreferences = z.object({
  user_id: UserId,
  level: PushLevel,
  /** Per-channel levels that override `level`. */
  channels: z.record(Cid, PushLevel),
  dnd: DndSchedule.nullable(),
  snooze_until: IsoDate.nullable(),
  /** Pushes held back by do-not-disturb are sent (bundled) when it ends; otherwise dropped. */
  deliver_after_dnd: z.boolean(),
});
export type PushPreferences = z.infer<typeof PushPreferences>;

export const UpdatePushPreferencesBody = z
  .object({
    user_id: UserId.optional(),
    level: PushLevel.optional(),
    /** Set a channel's level, or null to fall back to the user's level. */
    channels: z
      .record(Cid, PushLevel.nullable())
      .refine((r) => Object.keys(r).length <= 100, 'at most 100 channels per call')
      .optional(),
    dnd: DndSchedule.nullable().optional(),
    snooze_until: z.iso.datetime({ offset: true }).nullable().optional(),
    deliver_after_dnd: z.boolean().optional(),
  })
  .strict();

/**
 * The `data` of every push (Web Push payload, OneSignal `data`): enough to deep-link to the newest
 * message of the bundle.
 */
export const PushData = z.object({
  type: z.literal('message.new'),
  app_id: z.string(),
  cid: Cid,
  message_id: z.string(),
  /** The thread parent when the newest message is a thread reply. */
  parent_id: z.string().nullable(),
  /** Messages in this bundle, and the channels they came from (the last 10). */
  count: z.number().int(),
  cids: z.array(Cid),
});

/** The JSON a Web Push service worker receives (decrypted `event.data.json()`). */
export const WebPushPayload = z.object({
  title: z.string(),
  body: z.string(),
  /** The user's total unread count (for the app badge). */
  badge: z.number().int(),
  data: PushData,
});
export type WebPushPayload = z.infer<typeof WebPushPayload>;

/** What a client needs to subscribe (null = that provider is off on this server). */
export const PushClientConfig = z.object({
  web_push: z.object({ vapid_public_key: z.string() }).nullable(),
  onesignal: z.object({ app_id: z.string() }).nullable(),
});
