import { appsRepository } from '../domains/apps/apps.repository.js';
import { usersRepository } from '../domains/users/users.repository.js';
import type { RequestContext } from './context.js';
import type { Executor } from './db.js';

/**
 * The request context of a user, rebuilt outside a request (a job acting for the user who
 * scheduled it: reminders, scheduled messages), so the same permission checks apply as if the
 * user made the call now. Undefined when the app or the user no longer exists (or was deleted).
 */
export async function userContext(
  db: Executor,
  appId: string,
  userId: string,
): Promise<RequestContext | undefined> {
  const app = await appsRepository.findById(db, appId);
  if (!app) return undefined;
  const user = await usersRepository.find(db, appId, userId);
  if (!user || user.deleted_at) return undefined;
  return { app, actor: { kind: 'user', user } };
}
