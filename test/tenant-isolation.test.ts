import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParleyEvent } from '@parley/protocol';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  type ApiResponse,
  apiClient,
  createTestServer,
  type TestApp,
  type TestServer,
} from '../apps/server/src/test-support/harness.js';
import { snapshotOfApp } from './support/db-snapshot.js';

/**
 * Tenant isolation, generated from the route table (`parley.routes`): every route is called with
 * app A's credentials against app B's resources. A route the walker has no entry for fails the
 * test, so a new route cannot ship without being walked.
 *
 * Two kinds of app route:
 * - `denied`: the URL names one of B's resources (cid, user, message, channel type). Every A
 *   caller must get 403 or 404.
 * - `scoped`: the URL names no resource (collections, queries, "my app"). The call acts on A's own
 *   data, so 2xx is right, but the answer must carry nothing of B's (B's private marker, id, key).
 * Whatever the kind: never a 5xx, and afterwards every row of B in the database is unchanged and
 * no event of B was published.
 */

/** Every name, text and custom value of app B carries this; it must never reach an A caller. */
const MARK = 'B-PRIVATE-7f3a';

const B = {
  owner: 'b-owner', // also exists in A (same custom id, different tenant)
  member: 'b-member', // exists only in B
  invitee: 'b-invitee',
  type: 'b-secret-type', // a channel type only B has
  rooms: [
    { type: 'messaging', id: 'b-room' }, // a type both apps have
    { type: 'b-secret-type', id: 'b-room-2' },
  ],
  messageIds: [] as string[],
  webhookIds: [] as string[],
  deliveryIds: [] as string[],
  /** A poll sent in B's first room, an option of it, and a vote on it. */
  pollIds: [] as string[],
  pollMessageIds: [] as string[],
  optionIds: [] as string[],
  voteIds: [] as string[],
  /** B's custom slash command. */
  commandNames: [] as string[],
  scheduledIds: [] as string[],
  deviceIds: [] as string[],
  /** A report in B's moderation queue and B's blocklist. */
  flagIds: [] as string[],
  blocklistNames: [] as string[],
  /** A file B uploaded to its first room, and the signature of its URL. */
  uploadIds: [] as string[],
  fileSignatures: [] as string[],
  /** Secrets B was shown once (webhook signing secrets): they must never reach A either. */
  secrets: [] as string[],
};

type CallerKind = 'server' | 'user';
interface Caller {
  name: string;
  kind: CallerKind;
  client: ApiClient;
}

/** What the walker sends for one route. `acting(kind)` adds `user_id` for server callers only. */
interface Probe {
  /** Default `denied`. */
  expect?: 'denied' | 'scoped';
  body?: (kind: CallerKind) => unknown;
  query?: (kind: CallerKind) => Record<string, string>;
  /** Extra checks of a scoped answer (it is already checked for B's marker and ids). */
  check?: (res: ApiResponse, kind: CallerKind) => void;
}

const acting = (kind: CallerKind, extra: Record<string, unknown> = {}) =>
  kind === 'server' ? { ...extra, user_id: B.owner } : extra;
const actingQuery = (kind: CallerKind): Record<string, string> =>
  kind === 'server' ? { user_id: B.owner } : {};

/** Values substituted for path parameters: each route is walked with every combination. */
const PARAMS: Record<string, () => string[]> = {
  user_id: () => [B.member],
  name: () => [B.type],
  message_id: () => B.messageIds,
  app_id: () => [appB.id],
  reaction_type: () => ['like'],
  webhook_id: () => B.webhookIds,
  flag_id: () => B.flagIds,
  blocklist_name: () => B.blocklistNames,
  delivery_id: () => B.deliveryIds,
  poll_id: () => B.pollIds,
  vote_id: () => B.voteIds,
  command_name: () => B.commandNames,
  scheduled_message_id: () => B.scheduledIds,
  device_id: () => B.deviceIds,
  upload_id: () => B.uploadIds,
  variant: () => ['original'],
  signature: () => B.fileSignatures,
};

const PROBES: Record<string, Probe> = {
  // ops and auth (public): nothing tenant-scoped to walk; dev-token is checked below.
  'GET /health/live': {},
  'GET /health/ready': {},
  'GET /metrics': {},
  'POST /auth/dev-token': {},
  // public, authorised by a signed token naming its app (tested in domains/email/email.test.ts)
  'GET /email/unsubscribe': {},
  // platform admin (checked separately: app credentials never open them)
  'POST /admin/apps': { body: () => ({ name: 'pwned' }) },
  'GET /admin/apps': {},
  'GET /admin/apps/:app_id': {},
  'PATCH /admin/apps/:app_id': { body: () => ({ limits: { app_requests_per_minute: 1 } }) },
  'POST /admin/apps/:app_id/rotate-secret': { body: () => ({}) },
  // the caller's own app
  'GET /app': { expect: 'scoped', check: (res) => expect(res.body.app.id).toBe(appA.id) },
  'PATCH /app': {
    expect: 'scoped',
    body: () => ({ settings: { search_language: 'english' } }),
    check: (res) => expect(res.body.app.id).toBe(appA.id),
  },
  // users
  'POST /users': { expect: 'scoped', body: () => ({ users: [{ id: B.member, name: 'made by A' }] }) },
  'PATCH /users': { body: () => ({ users: [{ id: B.member, set: { name: 'pwned' } }] }) },
  'POST /users/query': {
    expect: 'scoped',
    body: () => ({ filter: { id: { $in: [B.owner, B.member, B.invitee] } }, include_deleted: true }),
  },
  'GET /users/:user_id': {},
  'DELETE /users/:user_id': { query: () => ({ hard: 'true' }) },
  'POST /users/:user_id/revoke-tokens': { body: () => ({}) },
  // channel types
  'GET /channel-types': { expect: 'scoped' },
  'GET /channel-types/:name': {},
  'POST /channel-types': { expect: 'scoped', body: () => ({ name: B.type, config: {} }) },
  'PATCH /channel-types/:name': { body: () => ({ config: { max_message_length: 1 } }) },
  'DELETE /channel-types/:name': {},
  // channels
  'POST /channels': {
    expect: 'scoped',
    body: (kind) => ({
      type: 'messaging',
      id: 'b-room',
      members: [B.owner],
      ...(kind === 'server' ? { created_by: B.owner } : {}),
    }),
  },
  'POST /channels/query': {
    expect: 'scoped',
    body: (kind) => acting(kind, { filter: { cid: { $in: B.rooms.map((r) => `${r.type}:${r.id}`) } } }),
  },
  'GET /channels/:type/:id': { query: actingQuery },
  'PUT /channels/:type/:id': { body: (kind) => acting(kind, { name: 'pwned', frozen: true }) },
  'PATCH /channels/:type/:id': {
    body: (kind) => acting(kind, { set: { name: 'pwned' }, unset: ['custom'] }),
  },
  'POST /channels/:type/:id/truncate': { body: (kind) => acting(kind, { hard: true }) },
  'POST /channels/:type/:id/hide': { body: (kind) => acting(kind, { clear_history: true }) },
  'POST /channels/:type/:id/show': { body: (kind) => acting(kind) },
  'DELETE /channels/:type/:id': { query: actingQuery },
  // members
  'GET /channels/:type/:id/members': { query: actingQuery },
  'POST /channels/:type/:id/members': { body: (kind) => acting(kind, { user_ids: [B.owner] }) },
  'POST /channels/:type/:id/members/remove': { body: (kind) => acting(kind, { user_ids: [B.member] }) },
  'PATCH /channels/:type/:id/members/:user_id': { body: (kind) => acting(kind, { banned: true }) },
  'POST /channels/:type/:id/invites': { body: (kind) => acting(kind, { user_ids: [B.owner] }) },
  'POST /channels/:type/:id/invites/accept': { body: (kind) => acting(kind) },
  'POST /channels/:type/:id/invites/reject': { body: (kind) => acting(kind) },
  // messages
  'POST /channels/:type/:id/messages': { body: (kind) => acting(kind, { text: 'pwned' }) },
  'GET /channels/:type/:id/messages': { query: actingQuery },
  'GET /messages/:message_id': { query: actingQuery },
  'PATCH /messages/:message_id': { body: (kind) => acting(kind, { text: 'pwned' }) },
  'DELETE /messages/:message_id': { query: (kind) => ({ ...actingQuery(kind), hard: 'true' }) },
  // read state
  'POST /channels/:type/:id/read': {
    body: (kind) => acting(kind, { message_id: B.messageIds[B.messageIds.length - 1] }),
  },
  'POST /channels/read': { expect: 'scoped', body: (kind) => acting(kind) },
  'GET /unread': { expect: 'scoped', query: actingQuery },
  // threads and mentions
  'GET /messages/:message_id/replies': { query: actingQuery },
  'POST /threads/:message_id/read': { body: (kind) => acting(kind) },
  'GET /threads': { expect: 'scoped', query: (kind) => ({ ...actingQuery(kind), cid: 'messaging:b-room' }) },
  'GET /mentions': { expect: 'scoped', query: (kind) => ({ ...actingQuery(kind), cid: 'messaging:b-room' }) },
  'GET /mentions/unread': { expect: 'scoped', query: actingQuery },
  // message features: edit history, receipts, pins, stars, drafts, reminders, scheduled messages
  'GET /messages/:message_id/edits': { query: actingQuery },
  'POST /channels/:type/:id/unread': { body: (kind) => acting(kind, { message_id: B.messageIds[0] }) },
  'POST /channels/delivered': {
    body: (kind) => acting(kind, { channels: [{ cid: 'messaging:b-room', message_id: B.messageIds[0] }] }),
  },
  'GET /messages/:message_id/read-by': { query: actingQuery },
  'POST /messages/:message_id/pin': { body: (kind) => acting(kind) },
  'DELETE /messages/:message_id/pin': { query: actingQuery },
  'GET /channels/:type/:id/pinned': { query: actingQuery },
  'POST /messages/:message_id/star': { body: (kind) => acting(kind) },
  'DELETE /messages/:message_id/star': { query: actingQuery },
  'GET /starred': { expect: 'scoped', query: (kind) => ({ ...actingQuery(kind), cid: 'messaging:b-room' }) },
  'GET /drafts': { expect: 'scoped', query: actingQuery },
  'GET /channels/:type/:id/draft': { query: actingQuery },
  'PUT /channels/:type/:id/draft': { body: (kind) => acting(kind, { text: 'pwned' }) },
  'DELETE /channels/:type/:id/draft': { query: actingQuery },
  'POST /messages/:message_id/reminder': { body: (kind) => acting(kind, { remind_in_seconds: 60 }) },
  'PATCH /messages/:message_id/reminder': { body: (kind) => acting(kind, { remind_in_seconds: 60 }) },
  'DELETE /messages/:message_id/reminder': { query: actingQuery },
  'GET /reminders': { expect: 'scoped', query: (kind) => ({ ...actingQuery(kind), status: 'all' }) },
  'POST /channels/:type/:id/scheduled-messages': {
    body: (kind) => acting(kind, { send_at: new Date(Date.now() + 3_600_000).toISOString(), text: 'pwned' }),
  },
  'GET /scheduled-messages': { expect: 'scoped', query: actingQuery },
  'GET /scheduled-messages/:scheduled_message_id': { query: actingQuery },
  'PATCH /scheduled-messages/:scheduled_message_id': { body: (kind) => acting(kind, { text: 'pwned' }) },
  'DELETE /scheduled-messages/:scheduled_message_id': { query: actingQuery },
  // search and sync (A's own channels only: B's room ids and words find nothing of B)
  'POST /search': {
    expect: 'scoped',
    body: (kind) => acting(kind, { query: 'first', cids: ['messaging:b-room', 'b-secret-type:b-room-2'] }),
    check: (res) => expect(res.body.results).toEqual([]),
  },
  'POST /sync': {
    expect: 'scoped',
    body: (kind) =>
      acting(kind, {
        last_sync_at: new Date(Date.now() - 3_600_000).toISOString(),
        channel_cids: ['messaging:b-room', 'b-secret-type:b-room-2'],
      }),
    check: (res) => {
      expect(res.body.resync_required).toBe(false);
      // Only A's own events (the walk's own writes in A); B's are also caught by the marker check.
      expect(res.body.events.every((e: { app_id: string }) => e.app_id !== appB.id)).toBe(true);
    },
  },
  // polls (B's poll, its message, option and vote)
  'POST /polls': {
    expect: 'scoped',
    body: (kind) => acting(kind, { name: 'A poll', options: [{ text: 'yes' }] }),
  },
  'GET /polls/:poll_id': { query: actingQuery },
  'PATCH /polls/:poll_id': { body: (kind) => acting(kind, { is_closed: true }) },
  'POST /polls/:poll_id/options': { body: (kind) => acting(kind, { text: 'pwned' }) },
  'POST /messages/:message_id/polls/:poll_id/vote': {
    body: (kind) => acting(kind, { vote: { option_id: B.optionIds[0] } }),
  },
  'DELETE /messages/:message_id/polls/:poll_id/vote/:vote_id': { query: actingQuery },
  // slash commands (B's custom command; B's command preview is among B.messageIds)
  'POST /commands': { expect: 'scoped', body: () => ({ name: 'a-cmd', url: 'http://127.0.0.1:9/a-cmd' }) },
  'GET /commands': { expect: 'scoped' },
  'GET /commands/:command_name': {},
  'PUT /commands/:command_name': { body: () => ({ description: 'pwned', rotate_secret: true }) },
  'DELETE /commands/:command_name': {},
  'GET /channels/:type/:id/commands': { query: actingQuery },
  'POST /messages/:message_id/action': {
    body: (kind) => acting(kind, { form_data: { image_action: 'send' } }),
  },
  // moderation (B.member exists only in B: A's moderators cannot mute, block, ban or report them)
  'GET /moderation/mutes': { expect: 'scoped', query: actingQuery },
  'POST /moderation/mute-user': { body: (kind) => acting(kind, { target_id: B.member }) },
  'POST /moderation/unmute-user': { body: (kind) => acting(kind, { target_id: B.member }) },
  'POST /moderation/mute-channel': { body: (kind) => acting(kind, { cid: 'messaging:b-room' }) },
  'POST /moderation/unmute-channel': { body: (kind) => acting(kind, { cid: 'messaging:b-room' }) },
  'GET /moderation/blocks': { expect: 'scoped', query: actingQuery },
  'POST /moderation/block': { body: (kind) => acting(kind, { target_id: B.member }) },
  'POST /moderation/unblock': { body: (kind) => acting(kind, { target_id: B.member }) },
  'POST /moderation/ban': { body: () => ({ target_id: B.member, reason: 'pwned' }) },
  'POST /moderation/unban': { body: () => ({ target_id: B.member, cid: 'messaging:b-room' }) },
  'GET /moderation/bans': {
    expect: 'scoped',
    query: () => ({ target_id: B.member }),
    check: (res) => expect(res.body.bans).toEqual([]),
  },
  'POST /moderation/shadow-ban': { body: () => ({ target_id: B.member }) },
  'POST /moderation/remove-shadow-ban': { body: () => ({ target_id: B.member }) },
  'POST /moderation/flag': {
    body: (kind) => acting(kind, { message_id: B.messageIds[0], reason: 'pwned' }),
  },
  'GET /moderation/flags': {
    expect: 'scoped',
    query: () => ({ target_id: B.member }),
    check: (res) => expect(res.body.flags).toEqual([]),
  },
  'POST /moderation/flags/:flag_id/review': { body: () => ({ action: 'ban_user' }) },
  'GET /moderation/blocklists': {
    expect: 'scoped',
    check: (res) => expect(res.body.blocklists).toEqual([]),
  },
  'POST /moderation/blocklists': {
    expect: 'scoped',
    body: () => ({ name: 'a-words', words: ['pwned'], behavior: 'block' }),
  },
  'GET /moderation/blocklists/:blocklist_name': {},
  'PATCH /moderation/blocklists/:blocklist_name': { body: () => ({ words: ['pwned'] }) },
  'DELETE /moderation/blocklists/:blocklist_name': {},
  'GET /moderation/audit-log': {
    expect: 'scoped',
    query: () => ({ target_id: B.member }),
    check: (res) => expect(res.body.entries).toEqual([]),
  },
  // reactions
  'POST /messages/:message_id/reactions': { body: (kind) => acting(kind, { type: 'like' }) },
  'DELETE /messages/:message_id/reactions/:reaction_type': { query: actingQuery },
  'GET /messages/:message_id/reactions': { query: actingQuery },
  // webhooks (server only)
  'POST /webhooks': {
    expect: 'scoped',
    body: () => ({ url: 'http://127.0.0.1:9/a-hook', events: ['message.new'], active: false }),
  },
  'GET /webhooks': { expect: 'scoped' },
  // email preferences of the acting user (A's own; B's address never shows)
  'GET /email/preferences': { expect: 'scoped', query: actingQuery },
  'PUT /email/preferences': {
    expect: 'scoped',
    body: (kind) => acting(kind, { email: 'a-owner@example.com', digest: false }),
  },
  // push: devices and preferences of the acting user (A's own; B's device tokens never show)
  'GET /push/config': { expect: 'scoped' },
  'POST /devices': {
    expect: 'scoped',
    body: (kind) => acting(kind, { provider: 'onesignal', token: 'a-device-token' }),
  },
  'GET /devices': { expect: 'scoped', query: actingQuery },
  'DELETE /devices/:device_id': { query: actingQuery },
  'GET /push/preferences': { expect: 'scoped', query: actingQuery },
  'PATCH /push/preferences': {
    expect: 'scoped',
    body: (kind) => acting(kind, { level: 'none', channels: { 'messaging:b-room': 'none' } }),
  },
  'GET /webhooks/:webhook_id': {},
  'PATCH /webhooks/:webhook_id': { body: () => ({ url: 'http://127.0.0.1:9/pwned', active: true }) },
  'DELETE /webhooks/:webhook_id': {},
  'GET /webhooks/:webhook_id/deliveries': {},
  'POST /webhooks/:webhook_id/deliveries/:delivery_id/redeliver': {},
  // uploads: a (JSON-looking) body and a name, so the refusal is about the channel, not the request
  'POST /channels/:type/:id/uploads': {
    query: (kind) => ({ ...actingQuery(kind), name: 'pwned.txt' }),
    body: () => ({ pwned: true }),
  },
  'DELETE /channels/:type/:id/uploads/:upload_id': { query: actingQuery },
  // public, authorised by the URL's signature with the app's key (tested in domains/uploads/uploads.test.ts)
  'GET /files/:app_id/:upload_id/:variant/:signature': {},
};

/** Uploaded files of the walk (B's upload) live here, not in the working directory. */
const dataDir = mkdtempSync(join(tmpdir(), 'parley-tenant-'));
let server: TestServer;
let appA: TestApp;
let appB: TestApp;
let callersA: Caller[];
const eventsOfB: ParleyEvent[] = [];

async function signed(secret: string, claims: Record<string, unknown>) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .sign(new TextEncoder().encode(secret));
}

function ok(res: ApiResponse, what: string) {
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(200);
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
  return res;
}

/** Every row of app B, in every table that has an app_id column (new tables are covered too). */
const snapshotOfB = () => snapshotOfApp(server.database.db, appB.id);

/** Expands a route URL into concrete paths on B's resources. */
function pathsFor(url: string): string[] {
  let paths = [url];
  if (url.includes(':type/:id')) {
    paths = paths.flatMap((p) => B.rooms.map((r) => p.replace(':type/:id', `${r.type}/${r.id}`)));
  }
  for (const name of url.match(/:(\w+)/g)?.map((m) => m.slice(1)) ?? []) {
    if (name === 'type' || name === 'id') continue;
    const values = PARAMS[name];
    if (!values) throw new Error(`the walker has no value for path parameter :${name} of ${url}`);
    paths = paths.flatMap((p) => values().map((v) => p.replace(`:${name}`, encodeURIComponent(v))));
  }
  return paths;
}

function withQuery(path: string, query: Record<string, string> | undefined) {
  const qs = new URLSearchParams(query ?? {}).toString();
  return qs ? `${path}?${qs}` : path;
}

function expectNoLeak(res: ApiResponse, what: string) {
  const text = JSON.stringify(res.body ?? '');
  for (const secret of [MARK, appB.id, appB.apiKey, appB.secret, ...B.secrets]) {
    expect(text.includes(secret), `${what} leaked ${secret}: ${text}`).toBe(false);
  }
}

const hasRoute = (key: string) => server.parley.routes.some((r) => `${r.method} ${r.url}` === key);

beforeAll(async () => {
  // No job workers: B's webhook deliveries stay as queued, so B's rows cannot change under the walk.
  server = await createTestServer({ JOBS_WORKERS: 'false', PARLEY_DATA_DIR: dataDir });
  appA = await server.createApp('tenant-a');
  appB = await server.createApp('tenant-b');
  server.parley.bus.subscribe((e) => {
    if (e.app_id === appB.id) eventsOfB.push(e);
  });

  // App B: users, a private channel type, two channels with members, messages, a thread, mentions,
  // reactions, an invite, read state, and a webhook with queued deliveries.
  const b = appB.server;
  if (hasRoute('POST /webhooks')) {
    const hook = ok(
      await b.post('/webhooks', { url: 'http://127.0.0.1:9/b-hook', events: ['*'], description: MARK }),
      'B webhook',
    );
    B.webhookIds.push(hook.body.webhook.id);
    B.secrets.push(hook.body.webhook.secret);
  }
  ok(
    await b.post('/users', {
      users: [B.owner, B.member, B.invitee].map((id) => ({ id, name: `${MARK} ${id}`, custom: { s: MARK } })),
    }),
    'B users',
  );
  if (hasRoute('PUT /email/preferences')) {
    ok(
      await b.put('/email/preferences', { user_id: B.owner, email: `${MARK}@example.com` }),
      'B email preferences',
    );
  }
  if (hasRoute('POST /devices')) {
    const device = ok(
      await b.post('/devices', { provider: 'onesignal', token: `${MARK}-device`, user_id: B.owner }),
      'B device',
    );
    B.deviceIds.push(device.body.device.id);
  }
  ok(
    await b.post('/channel-types', {
      name: B.type,
      config: { max_message_length: 4321, commands: [`${MARK}-cmd`] },
    }),
    'B type',
  );
  for (const room of B.rooms) {
    ok(
      await b.post('/channels', {
        ...room,
        name: `${MARK} ${room.id}`,
        custom: { s: MARK },
        members: [B.owner, B.member],
        created_by: B.owner,
      }),
      'B channel',
    );
    const path = `/channels/${room.type}/${room.id}`;
    ok(await b.post(`${path}/invites`, { user_ids: [B.invitee], user_id: B.owner }), 'B invite');
    const first = ok(await b.post(`${path}/messages`, { text: `${MARK} first`, user_id: B.owner }), 'B send');
    const mention = ok(
      await b.post(`${path}/messages`, {
        text: `${MARK} @owner`,
        user_id: B.member,
        mentioned_user_ids: [B.owner],
      }),
      'B mention',
    );
    const reply = ok(
      await b.post(`${path}/messages`, {
        text: `${MARK} reply`,
        user_id: B.member,
        parent_id: first.body.message.id,
      }),
      'B reply',
    );
    B.messageIds.push(first.body.message.id, mention.body.message.id, reply.body.message.id);
    if (hasRoute('POST /messages/:message_id/reactions')) {
      ok(
        await b.post(`/messages/${first.body.message.id}/reactions`, { type: 'like', user_id: B.member }),
        'B reaction',
      );
    }
    ok(await b.post(`${path}/read`, { user_id: B.member }), 'B read');
    // B's per-user message state: a pin, a star, a draft, a reminder, a scheduled message.
    if (hasRoute('POST /messages/:message_id/pin')) {
      const id = first.body.message.id;
      ok(await b.post(`/messages/${id}/pin`, { user_id: B.owner }), 'B pin');
      ok(await b.post(`/messages/${id}/star`, { user_id: B.owner }), 'B star');
      ok(await b.put(`${path}/draft`, { text: `${MARK} draft`, user_id: B.owner }), 'B draft');
      ok(
        await b.post(`/messages/${id}/reminder`, { remind_in_seconds: 3600, user_id: B.owner }),
        'B reminder',
      );
      const later = ok(
        await b.post(`${path}/scheduled-messages`, {
          send_at: new Date(Date.now() + 3_600_000).toISOString(),
          text: `${MARK} later`,
          user_id: B.owner,
        }),
        'B scheduled',
      );
      B.scheduledIds.push(later.body.scheduled_message.id);
      ok(await b.patch(`/messages/${id}`, { text: `${MARK} first, edited`, user_id: B.owner }), 'B edit');
    }
  }
  // B's poll (sent in its first room, with a vote), custom command and /giphy-style preview.
  if (hasRoute('POST /polls')) {
    const room = `/channels/${B.rooms[0]!.type}/${B.rooms[0]!.id}`;
    const poll = ok(
      await b.post('/polls', {
        name: `${MARK} poll`,
        options: [{ text: `${MARK} yes` }, { text: 'no' }],
        allow_user_suggested_options: true,
        user_id: B.owner,
      }),
      'B poll',
    );
    const sent = ok(
      await b.post(`${room}/messages`, { poll_id: poll.body.poll.id, user_id: B.owner }),
      'B poll sent',
    );
    B.pollIds.push(poll.body.poll.id);
    B.pollMessageIds.push(sent.body.message.id);
    B.messageIds.push(sent.body.message.id);
    B.optionIds.push(...poll.body.poll.options.map((o: { id: string }) => o.id));
    const vote = ok(
      await b.post(`/messages/${sent.body.message.id}/polls/${poll.body.poll.id}/vote`, {
        vote: { option_id: B.optionIds[0] },
        user_id: B.member,
      }),
      'B vote',
    );
    B.voteIds.push(vote.body.vote.id);
  }
  if (hasRoute('POST /commands')) {
    const command = ok(
      await b.post('/commands', { name: 'b-secret-cmd', description: MARK, url: 'http://127.0.0.1:9/b-cmd' }),
      'B command',
    );
    B.commandNames.push('b-secret-cmd');
    B.secrets.push(command.body.secret);
    // A pending preview of B's (as /giphy leaves one), written directly: no GIPHY stand-in here.
    const previewId = crypto.randomUUID();
    await server.database.db
      .insertInto('command_previews')
      .values({
        app_id: appB.id,
        id: previewId,
        cid: `${B.rooms[0]!.type}:${B.rooms[0]!.id}`,
        user_id: B.owner,
        command: 'b-secret-cmd',
        args: MARK,
        parent_id: null,
        state: JSON.stringify({ kind: 'custom', text: MARK, attachments: [] }),
        expires_at: new Date(Date.now() + 3_600_000),
      })
      .execute();
    B.messageIds.splice(1, 0, previewId);
  }
  // B's moderation data: a report in the queue, a blocklist, a channel ban (audited).
  if (hasRoute('POST /moderation/flag')) {
    const flag = ok(
      await b.post('/moderation/flag', { message_id: B.messageIds[0], reason: MARK, user_id: B.member }),
      'B flag',
    );
    B.flagIds.push(flag.body.flag.id);
    ok(
      await b.post('/moderation/blocklists', { name: 'b-words', words: [MARK], behavior: 'mask' }),
      'B list',
    );
    B.blocklistNames.push('b-words');
    ok(
      await b.post('/moderation/ban', { target_id: B.invitee, cid: 'messaging:b-room', reason: MARK }),
      'B ban',
    );
  }
  if (hasRoute('POST /channels/:type/:id/uploads')) {
    const room = B.rooms[0]!;
    const res = await server.parley.http.inject({
      method: 'POST',
      url: `/channels/${room.type}/${room.id}/uploads?name=${MARK}.txt&user_id=${B.owner}`,
      headers: {
        'x-api-key': appB.apiKey,
        authorization: `Secret ${appB.secret}`,
        'content-type': 'text/plain',
      },
      payload: `${MARK} file`,
    });
    expect(res.statusCode, res.body).toBe(201);
    const { upload } = res.json();
    B.uploadIds.push(upload.id);
    B.fileSignatures.push(upload.url.split('/').at(-1));
  }
  for (const webhookId of B.webhookIds) {
    const deliveries = ok(await b.get(`/webhooks/${webhookId}/deliveries`), 'B deliveries');
    B.deliveryIds.push(...deliveries.body.deliveries.slice(0, 2).map((d: { id: string }) => d.id));
    expect(B.deliveryIds.length).toBeGreaterThan(0);
  }

  // App A: an admin user, a user with the same custom id as B's owner, and a channel of its own.
  ok(
    await appA.server.post('/users', {
      users: [
        { id: 'a-admin', role: 'admin', name: 'A admin' },
        { id: B.owner, name: 'A twin of b-owner' },
      ],
    }),
    'A users',
  );
  ok(
    await appA.server.post('/channels', {
      type: 'messaging',
      id: 'a-room',
      members: ['a-admin', B.owner],
      created_by: 'a-admin',
    }),
    'A channel',
  );
  const bearer = (token: string) =>
    apiClient(server.parley, { 'x-api-key': appA.apiKey, authorization: `Bearer ${token}` });
  callersA = [
    { name: 'A server (Secret)', kind: 'server', client: appA.server },
    {
      name: 'A server (server JWT)',
      kind: 'server',
      client: bearer(await signed(appA.secret, { server: true })),
    },
    { name: 'A admin user', kind: 'user', client: await appA.as('a-admin') },
    { name: 'A user with B owner’s id', kind: 'user', client: await appA.as(B.owner) },
  ];
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('tenant isolation: every route, app A against app B', () => {
  it('has a probe for every route and a route for every probe', () => {
    const keys = server.parley.routes.map((r) => `${r.method} ${r.url}`);
    const unwalked = keys.filter((k) => !PROBES[k]);
    expect(
      unwalked,
      'routes the tenant walk does not know: add a probe in test/tenant-isolation.test.ts',
    ).toEqual([]);
    expect(
      Object.keys(PROBES).filter((k) => !keys.includes(k)),
      'probes for routes that no longer exist',
    ).toEqual([]);
    for (const route of server.parley.routes) pathsFor(route.url); // every path parameter has values
  });

  it('answers 403/404 for B’s resources and only A’s data otherwise, never a 5xx, and B is unchanged', async () => {
    const before = await snapshotOfB();
    // The snapshot really holds B's data (an empty one would prove nothing).
    expect(before.users).toHaveLength(3);
    expect(before.channels).toHaveLength(2);
    expect(before.members).toHaveLength(6);
    expect(before.messages).toHaveLength(6 + B.pollMessageIds.length);
    expect(before.channel_types!.length).toBeGreaterThan(4);
    const eventsBefore = eventsOfB.length;
    const appRoutes = server.parley.routes.filter((r) => r.auth === 'app' || r.auth === 'server');
    expect(appRoutes.length).toBeGreaterThan(30);
    // Denied routes first: scoped ones write to A (e.g. a user with B's id) and must not mask them.
    const ordered = [
      ...appRoutes.filter((r) => (PROBES[`${r.method} ${r.url}`]!.expect ?? 'denied') === 'denied'),
      ...appRoutes.filter((r) => PROBES[`${r.method} ${r.url}`]!.expect === 'scoped'),
    ];
    const failures: string[] = [];
    let calls = 0;
    for (const route of ordered) {
      const probe = PROBES[`${route.method} ${route.url}`]!;
      const callers = callersA.filter((c) => route.auth === 'app' || c.kind === 'server');
      for (const path of pathsFor(route.url)) {
        for (const caller of callers) {
          const url = withQuery(path, probe.query?.(caller.kind));
          const body = probe.body?.(caller.kind);
          const res = await caller.client.request(route.method, url, body);
          calls++;
          const what = `${caller.name}: ${route.method} ${url} → ${res.status} ${JSON.stringify(res.body)}`;
          if (res.status >= 500) failures.push(`5xx: ${what}`);
          else if ((probe.expect ?? 'denied') === 'denied' && res.status !== 403 && res.status !== 404)
            failures.push(`not denied: ${what}`);
          else if (
            res.status >= 400 &&
            (typeof res.body?.code !== 'string' || typeof res.body?.message !== 'string')
          )
            failures.push(`error without {code, message}: ${what}`);
          try {
            expectNoLeak(res, what);
            if (probe.check && res.status < 300) probe.check(res, caller.kind);
          } catch (error) {
            failures.push((error as Error).message);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(150);
    expect(await snapshotOfB()).toEqual(before);
    expect(eventsOfB.slice(eventsBefore)).toEqual([]);
  });

  it('never opens admin routes to app credentials, even with B’s app id in the path', async () => {
    const adminRoutes = server.parley.routes.filter((r) => r.auth === 'admin');
    expect(adminRoutes.length).toBeGreaterThan(0);
    const before = await snapshotOfB();
    for (const route of adminRoutes) {
      const probe = PROBES[`${route.method} ${route.url}`]!;
      for (const path of pathsFor(route.url)) {
        for (const caller of callersA) {
          const res = await caller.client.request(route.method, path, probe.body?.(caller.kind));
          expect(res.status, `${caller.name}: ${route.method} ${path}`).toBe(401);
          expect(res.body.code).toBe('AUTH_ADMIN_TOKEN_INVALID');
        }
        // A's api secret is not an admin token either.
        const res = await caller(appA.apiKey, { 'x-admin-token': appA.secret }).request(
          route.method,
          path,
          probe.body?.('server'),
        );
        expect(res.status).toBe(401);
      }
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it('does not mint dev tokens for another app’s users through A’s api key', async () => {
    const res = await caller(appA.apiKey, {}).post('/auth/dev-token', { user_id: B.owner });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('DEV_TOKENS_DISABLED');
  });
});

function caller(apiKey: string, headers: Record<string, string>) {
  return apiClient(server.parley, { 'x-api-key': apiKey, ...headers });
}

describe('cross-app credentials', () => {
  it('rejects A’s api key with B’s secret', async () => {
    const res = await caller(appA.apiKey, { authorization: `Secret ${appB.secret}` }).get('/app');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_SECRET_INVALID');
    const users = await caller(appA.apiKey, { authorization: `Secret ${appB.secret}` }).post(
      '/users/query',
      {},
    );
    expect(users.status).toBe(401);
  });

  it('rejects a user token signed by B’s secret sent with A’s api key', async () => {
    const token = await signed(appB.secret, { user_id: B.owner });
    const res = await caller(appA.apiKey, { authorization: `Bearer ${token}` }).get(
      '/channels/messaging/a-room',
    );
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_TOKEN_INVALID');
    // The same token is fine with B's own key: the rejection is about the app, not the token.
    const own = await caller(appB.apiKey, { authorization: `Bearer ${token}` }).get(
      '/channels/messaging/b-room',
    );
    expect(own.status).toBe(200);
  });

  it('rejects a server token signed by B’s secret sent with A’s api key', async () => {
    const token = await signed(appB.secret, { server: true });
    const res = await caller(appA.apiKey, { authorization: `Bearer ${token}` }).get('/app');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('AUTH_TOKEN_INVALID');
  });

  it('rejects B’s api key with A’s secret and A’s tokens', async () => {
    const secret = await caller(appB.apiKey, { authorization: `Secret ${appA.secret}` }).get('/app');
    expect(secret.status).toBe(401);
    const token = await appA.token('a-admin');
    const bearer = await caller(appB.apiKey, { authorization: `Bearer ${token}` }).get('/users/b-member');
    expect(bearer.status).toBe(401);
    expect(JSON.stringify(bearer.body)).not.toContain(MARK);
  });
});
