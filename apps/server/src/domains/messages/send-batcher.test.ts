import { SendMessageBody } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../platform/context.js';
import { MAX_BATCHES_IN_FLIGHT, MAX_SEND_BATCH, type QueuedSend, SendBatcher } from './send-batcher.js';

/** A batcher whose flushes stay open until the test releases them, recording what each batch held. */
function heldBatcher() {
  const batches: { texts: string[]; release: () => void }[] = [];
  const batcher = new SendBatcher(
    (items: QueuedSend[]) =>
      new Promise<void>((resolve) => {
        batches.push({
          texts: items.map((item) => item.body.text ?? ''),
          release: () => {
            for (const item of items)
              item.resolve({ message: { text: item.body.text } as never, created: true });
            resolve();
          },
        });
      }),
  );
  const send = (app: string, text: string) =>
    batcher.submit({
      ctx: { app: { id: app } } as RequestContext,
      cid: 'messaging:a',
      userId: 'u',
      body: bodyOf(text),
    });
  return { batches, send };
}

/** A send body with the schema's defaults, as the route hands it over. */
const bodyOf = (text: string) => SendMessageBody.parse({ text });

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('SendBatcher', () => {
  it('commits the sends of one turn together, overlaps two batches and queues the rest for the next', async () => {
    const { batches, send } = heldBatcher();
    const first = [send('a', '1'), send('a', '2')];
    await turn();
    expect(batches.map((b) => b.texts)).toEqual([['1', '2']]);

    // While the first batch commits, a second starts with what arrived meanwhile.
    const second = send('a', '3');
    await turn();
    expect(batches.map((b) => b.texts)).toEqual([['1', '2'], ['3']]);
    expect(MAX_BATCHES_IN_FLIGHT).toBe(2);

    // Both lanes busy: new sends wait for one of them, then go as one batch.
    const third = [send('a', '4'), send('a', '5')];
    await turn();
    expect(batches).toHaveLength(2);
    batches[0]!.release();
    await Promise.all(first);
    await turn();
    expect(batches.map((b) => b.texts)).toEqual([['1', '2'], ['3'], ['4', '5']]);
    batches[1]!.release();
    batches[2]!.release();
    expect((await second).message.text).toBe('3');
    expect((await Promise.all(third)).map((o) => o.message.text)).toEqual(['4', '5']);
  });

  it('keeps apps apart and caps a batch at MAX_SEND_BATCH', async () => {
    const { batches, send } = heldBatcher();
    const many = Array.from({ length: MAX_SEND_BATCH + 1 }, (_, i) => send('a', `a${i}`));
    const other = send('b', 'b0');
    await turn();
    await turn(); // the second lane of app a starts a turn later
    expect(batches.map((b) => b.texts.length)).toEqual([MAX_SEND_BATCH, 1, 1]);
    expect(batches[1]!.texts).toEqual(['b0']);
    expect(batches[2]!.texts).toEqual([`a${MAX_SEND_BATCH}`]);
    for (const batch of batches) batch.release();
    await Promise.all([...many, other]);
  });

  it('rejects a batch whose flush fails and goes on with the next', async () => {
    let fail = true;
    const batcher = new SendBatcher(async (items) => {
      if (fail) throw new Error('database down');
      for (const item of items) item.resolve({ message: { text: item.body.text } as never, created: true });
    });
    const ctx = { app: { id: 'a' } } as RequestContext;
    const failed = batcher.submit({ ctx, cid: 'messaging:a', userId: 'u', body: bodyOf('x') });
    await expect(failed).rejects.toThrow('database down');
    fail = false;
    const ok = await batcher.submit({ ctx, cid: 'messaging:a', userId: 'u', body: bodyOf('y') });
    expect(ok.message.text).toBe('y');
  });
});
