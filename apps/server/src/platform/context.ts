import type { AppRow, UserRow } from './db.types.js';
import { AppError } from './errors.js';

/** Who is calling: the customer's backend (api secret or server token) or one end user. */
export type Actor = { kind: 'server' } | { kind: 'user'; user: UserRow };

/** Everything a service needs to know about the caller; every query is scoped by `app.id`. */
export interface RequestContext {
  app: AppRow;
  actor: Actor;
}

export const isServer = (ctx: RequestContext) => ctx.actor.kind === 'server';

export function requireServer(ctx: RequestContext) {
  if (ctx.actor.kind !== 'server') throw new AppError('AUTH_SERVER_ONLY');
}

/**
 * The user an action is done as. Users act as themselves (naming another user is refused);
 * server calls must name one with `user_id` when the action needs a user.
 */
export function actingUserId(ctx: RequestContext, requested: string | undefined, field = 'user_id'): string {
  if (ctx.actor.kind === 'user') {
    if (requested !== undefined && requested !== ctx.actor.user.id) {
      throw new AppError('FORBIDDEN', 'users may only act as themselves', { field });
    }
    return ctx.actor.user.id;
  }
  if (!requested)
    throw new AppError('VALIDATION_FAILED', 'server-side calls must name the acting user', { field });
  return requested;
}

/** Like actingUserId, but server calls may act as nobody in particular (full access). */
export function optionalActingUserId(ctx: RequestContext, requested: string | undefined): string | undefined {
  if (ctx.actor.kind === 'user') return actingUserId(ctx, requested);
  return requested;
}
