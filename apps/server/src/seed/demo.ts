import type { RequestContext } from '../platform/context.js';
import type { AppRow } from '../platform/db.types.js';
import type { Services } from '../server.js';

export const DEMO_APP_NAME = 'demo';

const DEMO_USERS = [
  { id: 'alice', name: 'Alice Martin', role: 'admin' as const },
  { id: 'bob', name: 'Bob Chen', role: 'user' as const },
  { id: 'carol', name: 'Carol Diaz', role: 'moderator' as const },
  { id: 'dave', name: 'Dave Okafor', role: 'user' as const },
];

export interface DemoSeedResult {
  app: AppRow;
  /** Only on the first start: the secret is never shown again. */
  apiSecret?: string;
  created: boolean;
}

/** Creates the demo app with users, channels and a few messages, once. Dev tokens are on for it only. */
export async function seedDemo(services: Services): Promise<DemoSeedResult> {
  const existing = await services.apps.findByName(DEMO_APP_NAME);
  if (existing) return { app: existing, created: false };
  const { row, api_secret } = await services.apps.create({
    name: DEMO_APP_NAME,
    settings: { dev_tokens: true },
  });
  const ctx: RequestContext = { app: row, actor: { kind: 'server' } };
  await services.users.upsert(ctx, DEMO_USERS);
  const all = DEMO_USERS.map((u) => u.id);
  await services.channels.create(ctx, {
    type: 'messaging',
    id: 'general',
    name: 'General',
    members: all,
    created_by: 'alice',
    distinct: false,
  });
  await services.channels.create(ctx, {
    type: 'team',
    id: 'engineering',
    name: 'Engineering',
    members: ['alice', 'bob', 'carol'],
    created_by: 'carol',
    distinct: false,
  });
  await services.channels.create(ctx, {
    type: 'messaging',
    members: ['alice', 'bob'],
    created_by: 'alice',
    distinct: true,
  });
  const say = (user_id: string, text: string) =>
    services.messages.send(ctx, 'messaging:general', {
      user_id,
      text,
      attachments: [],
      mentioned_user_ids: [],
      show_in_channel: false,
    });
  await say('alice', 'Welcome to Parley! This is the demo app.');
  await say('bob', 'Hi everyone 👋');
  await say('carol', 'Try the API: the README has a one-minute curl tour.');
  return { app: row, apiSecret: api_secret, created: true };
}
