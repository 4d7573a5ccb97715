import { z } from 'zod';

/** Custom data attached to users, channels and messages: a JSON object whose size is checked by the server. */
export const CustomData = z.record(z.string(), z.unknown());

export const UserId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9@_.\-=]+$/, 'user ids may contain letters, digits and @ _ . - =');

export const ChannelTypeName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9_-]+$/, 'channel type names are lower-case letters, digits, _ and -');

export const ChannelIdPart = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_\-!]+$/, 'channel ids may contain letters, digits, _ - and !');

export const Cid = z
  .string()
  .max(200)
  .regex(/^[a-z0-9_-]{1,64}:[A-Za-z0-9_\-!]{1,128}$/, 'a cid looks like type:id');

export const IsoDate = z.string().describe('ISO 8601 date-time');

export const Ok = z.object({ ok: z.literal(true) });

export const ErrorResponse = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
