import { z } from 'zod';
import { IsoDate, UserId } from './common.js';

/** A user's email address and which emails they get (docs/guides/email.md). */
export const EmailPreferences = z.object({
  user_id: z.string(),
  /** Where emails go; null = no email at all. */
  email: z.email().nullable(),
  /** An email when mentioned and still unread after a delay while offline. */
  mentions: z.boolean(),
  /** A digest of unread messages after a delay. */
  digest: z.boolean(),
  /** Set by the unsubscribe link "all email": nothing is sent until preferences are saved again. */
  unsubscribed_at: IsoDate.nullable(),
  updated_at: IsoDate.nullable(),
});
export type EmailPreferences = z.infer<typeof EmailPreferences>;

/** Fields left out keep their value. Saving preferences clears an "all email" unsubscribe. */
export const UpdateEmailPreferencesBody = z
  .object({
    email: z.email().max(320).nullable().optional(),
    mentions: z.boolean().optional(),
    digest: z.boolean().optional(),
    /** Server-side calls act for this user. */
    user_id: UserId.optional(),
  })
  .strict();

export const EmailPreferencesQuery = z.object({ user_id: UserId.optional() }).strict();

export const UnsubscribeQuery = z.object({ token: z.string().min(1).max(1000) }).strict();

export const UnsubscribeResponse = z.object({
  ok: z.literal(true),
  user_id: z.string(),
  /** What was turned off: mentions, digest, or all email. */
  unsubscribed: z.enum(['mentions', 'digest', 'all']),
});
