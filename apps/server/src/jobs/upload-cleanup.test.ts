import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-support/harness.js';
import { eventually } from '../test-support/webhook-receiver.js';

/** The upload cleanup job is queued by the workers and runs (what it removes: domains/uploads/uploads.test.ts). */
let server: TestServer;
const dataDir = mkdtempSync(join(tmpdir(), 'parley-upload-cleanup-'));

beforeAll(async () => {
  server = await createTestServer({ PARLEY_DATA_DIR: dataDir, JOBS_POLL_INTERVAL_MS: '500' });
});
afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('upload.cleanup', () => {
  it('is queued once per hour when workers start, and runs', async () => {
    await eventually(async () => {
      const { rows } = await sql<{ state: string; data: { hour: string } }>`
        select state, data from pgboss.job where name = 'upload.cleanup'`.execute(server.database.db);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.data.hour).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}$/);
      expect(rows[0]!.state).toBe('completed');
    }, 20_000);
  });
});
