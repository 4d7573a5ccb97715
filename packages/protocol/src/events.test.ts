import { describe, expect, it } from 'vitest';
import { EVENT_NAMES, EventMap } from './events.js';

describe('EventMap', () => {
  it('no payload uses a key of the event envelope (id, type, app_id, created_at)', () => {
    const envelope = ['id', 'type', 'app_id', 'created_at'];
    const clashes = EVENT_NAMES.flatMap((name) =>
      Object.keys(EventMap[name].shape)
        .filter((key) => envelope.includes(key))
        .map((key) => `${name}.${key}`),
    );
    expect(clashes).toEqual([]);
  });
});
