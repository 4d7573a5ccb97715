import { createTestServer } from '/work/main/apps/server/src/test-support/harness.js';
import { it } from 'vitest';
import WebSocket from 'ws';
import { ParleyClient } from '/work/main/packages/sdk/src/client.js';
it('dbg', async () => {
  const server = await createTestServer();
  const direct = await server.parley.http.listen({ port: 0, host: '127.0.0.1' });
  const app = await server.createApp();
  await app.server.post('/users', { users: [{ id: 'alice' }] });
  const issued: string[] = [];
  const c = new ParleyClient(app.apiKey, { baseUrl: direct, WebSocket });
  c.on('connection.changed', (x) => console.log('state', x));
  await c.connectUser({ id: 'alice' }, async () => { const n = issued.length; const t = await app.token('alice', { expiresIn: n === 0 ? -60 : 3600 }); issued.push(t); console.log('issued', n); return t; });
  const cf = (c as any).session.connection.centrifuge;
  cf.on('error', (e: any) => console.log('error', e.type, e.error));
  await new Promise((r) => setTimeout(r, 3000));
  console.log(c.connectionState, issued.length);
  await c.disconnectUser(); await server.close();
}, 20000);
