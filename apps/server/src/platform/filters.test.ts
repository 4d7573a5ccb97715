import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-support/harness.js';
import { AppError } from './errors.js';
import { compileFilter, compileSort, type FilterSpec, type SortField } from './filters.js';

/**
 * compileFilter / compileSort run against the real database (PGlite or Postgres) on a probe table
 * with one column of each filterable type and a JSONB custom column.
 */
let server: TestServer;

const SPEC: FilterSpec = {
  fields: {
    id: { column: 'probe.id', type: 'string' },
    name: { column: 'probe.name', type: 'string' },
    score: { column: 'probe.score', type: 'number' },
    active: { column: 'probe.active', type: 'boolean' },
    seen_at: { column: 'probe.seen_at', type: 'date' },
  },
  customColumn: 'probe.custom',
  special: {
    // A field with its own SQL: "tag" matches rows whose custom.tags array holds the value.
    tag: (op, value) => {
      if (op !== '$eq' || typeof value !== 'string') {
        throw new AppError('FILTER_INVALID', 'tag takes one string', { field: 'filter.tag' });
      }
      return sql<boolean>`probe.custom -> 'tags' ? ${value}`;
    },
  },
};
const SORT: Record<string, SortField> = {
  name: { column: 'probe.name' },
  score: { column: 'probe.score', nullsLast: true },
  seen_at: { column: 'probe.seen_at' },
};

const ROWS = [
  {
    id: 'a',
    name: 'alpha',
    score: 10,
    active: true,
    seen_at: '2024-01-01T00:00:00Z',
    custom: { n: 1, s: 'x', tags: ['red'] },
  },
  {
    id: 'b',
    name: 'beta',
    score: 20,
    active: false,
    seen_at: '2024-06-01T00:00:00Z',
    custom: { n: 2, s: 'y', b: true },
  },
  {
    id: 'c',
    name: "it's",
    score: 30,
    active: true,
    seen_at: null,
    custom: { n: '3', tags: ['red', 'blue'] },
  },
  {
    id: 'd',
    name: null,
    score: null,
    active: false,
    seen_at: '2025-01-01T00:00:00Z',
    custom: { n: null, b: false },
  },
  { id: 'e', name: "x' or '1'='1", score: -5, active: true, seen_at: '2023-01-01T00:00:00Z', custom: {} },
];

async function run(filter: Record<string, unknown>, sort: { field: string; direction: 1 | -1 }[] = []) {
  const where = compileFilter(filter, SPEC);
  const order = compileSort(sort, SORT, 'probe.id');
  const result = await sql<{ id: string }>`select id from probe where ${where} order by ${order}`.execute(
    server.database.db,
  );
  return result.rows.map((r) => r.id);
}

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected the filter to be refused');
}

beforeAll(async () => {
  server = await createTestServer();
  const db = server.database.db;
  await sql`create table probe (
    id text primary key, name text, score integer, active boolean not null,
    seen_at timestamptz, custom jsonb not null default '{}'
  )`.execute(db);
  for (const r of ROWS) {
    await sql`insert into probe values (${r.id}, ${r.name}, ${r.score}, ${r.active}, ${r.seen_at}, ${JSON.stringify(r.custom)})`.execute(
      db,
    );
  }
});
afterAll(() => server?.close());

describe('compileFilter on columns', () => {
  it.each([
    [{}, ['a', 'b', 'c', 'd', 'e']],
    [{ name: 'alpha' }, ['a']],
    [{ name: { $eq: 'beta' } }, ['b']],
    [{ name: { $ne: 'alpha' } }, ['b', 'c', 'd', 'e']],
    [{ name: { $in: ['alpha', 'beta', 'nope'] } }, ['a', 'b']],
    [{ name: { $nin: ['alpha', 'beta'] } }, ['c', 'd', 'e']],
    [{ name: null }, ['d']],
    [{ name: { $ne: null } }, ['a', 'b', 'c', 'e']],
    [{ name: { $exists: true } }, ['a', 'b', 'c', 'e']],
    [{ name: { $exists: false } }, ['d']],
    [{ score: 20 }, ['b']],
    [{ score: { $gt: 10 } }, ['b', 'c']],
    [{ score: { $gte: 10 } }, ['a', 'b', 'c']],
    [{ score: { $lt: 10 } }, ['e']],
    [{ score: { $lte: 10 } }, ['a', 'e']],
    [{ score: { $gt: 0, $lt: 25 } }, ['a', 'b']],
    [{ score: { $in: [10, 30] } }, ['a', 'c']],
    [{ score: { $nin: [10, 30] } }, ['b', 'd', 'e']],
    [{ score: 2.5 }, []],
    [{ active: true }, ['a', 'c', 'e']],
    [{ active: { $ne: true } }, ['b', 'd']],
    [{ seen_at: { $gt: '2024-01-01T00:00:00Z' } }, ['b', 'd']],
    [{ seen_at: { $gte: '2024-01-01T00:00:00.000Z' } }, ['a', 'b', 'd']],
    [{ seen_at: { $lt: '2024-01-01T00:00:00+01:00' } }, ['e']],
    [{ seen_at: { $lte: '2024-06-01' } }, ['a', 'b', 'e']],
    [{ seen_at: { $exists: false } }, ['c']],
    [{ seen_at: { $in: ['2024-06-01T00:00:00Z', '2025-01-01T00:00:00Z'] } }, ['b', 'd']],
    [{ name: 'alpha', active: true }, ['a']],
    [{ name: 'alpha', active: false }, []],
    [{ $and: [{ active: true }, { score: { $gt: 0 } }] }, ['a', 'c']],
    [{ $or: [{ name: 'alpha' }, { score: { $lt: 0 } }] }, ['a', 'e']],
    [{ $or: [{ $and: [{ active: false }, { score: 20 }] }, { id: 'd' }] }, ['b', 'd']],
    [{ $and: [{}] }, ['a', 'b', 'c', 'd', 'e']],
  ])('%j → %j', async (filter, expected) => {
    expect(await run(filter)).toEqual(expected);
  });
});

describe('compileFilter on custom data', () => {
  it.each([
    [{ s: 'x' }, ['a']],
    [{ n: 1 }, ['a']],
    [{ n: '3' }, ['c']],
    [{ n: 3 }, []],
    [{ n: null }, ['d']],
    [{ n: { $ne: 1 } }, ['b', 'c', 'd', 'e']],
    [{ n: { $in: [1, '3'] } }, ['a', 'c']],
    [{ n: { $nin: [1, 2] } }, ['c', 'd', 'e']],
    [{ n: { $gt: 1 } }, ['b']],
    [{ n: { $gte: 1 } }, ['a', 'b']],
    [{ n: { $lt: 2 } }, ['a']],
    [{ n: { $lte: 100 } }, ['a', 'b']],
    [{ n: { $gt: '' } }, ['c']],
    [{ b: true }, ['b']],
    [{ b: { $gt: false } }, ['b']],
    [{ b: { $exists: true } }, ['b', 'd']],
    [{ b: { $exists: false } }, ['a', 'c', 'e']],
    [{ missing: { $exists: true } }, []],
    [{ tag: 'red' }, ['a', 'c']],
    [{ tag: 'blue', active: true }, ['c']],
  ])('%j → %j', async (filter, expected) => {
    expect(await run(filter)).toEqual(expected);
  });

  it('a range on one JSON type never matches values of another type', async () => {
    // jsonb orders booleans above numbers and strings below: without a type check, { n: { $gt: 1 } }
    // would match true and { n: { $lt: 2 } } would match every string and null.
    expect(await run({ b: { $gt: 0 } })).toEqual([]);
    expect(await run({ n: { $lt: 'z' } })).toEqual(['c']);
  });
});

describe('injection attempts', () => {
  it('values are bound as parameters, never spliced into the SQL', async () => {
    const evil = "x' or '1'='1";
    expect(await run({ name: evil })).toEqual(['e']);
    expect(await run({ name: "alpha'; drop table probe; --" })).toEqual([]);
    expect(await run({ s: "x' or '1'='1" })).toEqual([]);
    expect(await run({ name: { $in: [evil, "it's"] } })).toEqual(['c', 'e']);
    const compiled =
      sql`select 1 where ${compileFilter({ name: evil, s: evil, n: { $in: [evil] } }, SPEC)}`.compile(
        server.database.db,
      );
    expect(compiled.sql).not.toContain("1'='1");
    expect(compiled.parameters).toContain(evil);
    expect(await run({})).toHaveLength(5); // the table is still there
  });

  it('field names outside the whitelist are refused, whatever they contain', () => {
    const names = [
      'name; drop table probe',
      'name"',
      'probe.name',
      "custom->>'s'",
      'custom.s',
      '1=1 or name',
      'a'.repeat(65),
      '',
      'naïve',
    ];
    for (const name of names) {
      const error = refusal(() => compileFilter({ [name]: 'x' }, SPEC));
      expect(error.code).toBe('FILTER_INVALID');
      expect(error.details?.field).toBe(`filter.${name}`);
    }
  });

  it('operators outside the list are refused', () => {
    for (const op of ['$regex', '$where', '$like', '$contains', '$eq;', '$not', 'or']) {
      const error = refusal(() => compileFilter({ name: { [op]: 'x' } }, SPEC));
      expect(error.code).toBe('FILTER_INVALID');
      expect(error.details?.field).toBe('filter.name');
    }
    expect(refusal(() => compileFilter({ $where: 'true' }, SPEC)).details?.field).toBe('filter.$where');
  });

  it('values of the wrong type are refused', () => {
    const cases: Record<string, unknown>[] = [
      { name: 1 },
      { name: true },
      { name: ['a'] },
      { name: 'x'.repeat(1001) },
      { score: '10' },
      { score: { $gt: '1; drop table probe' } },
      { active: 'true' },
      { seen_at: 'yesterday' },
      { seen_at: 1700000000 },
      { name: { $exists: 1 } },
      { name: { $in: [] } },
      { name: { $in: 'alpha' } },
      { name: { $in: ['a', 1] } },
      { s: { $eq: { nested: 1 } } },
      { s: { $in: [['x']] } },
      { s: { $gt: null } },
      { s: { $exists: 'yes' } },
      { name: {} },
    ];
    for (const filter of cases) {
      expect(refusal(() => compileFilter(filter, SPEC)).code, JSON.stringify(filter)).toBe('FILTER_INVALID');
    }
  });

  it('custom keys are refused when the spec has no custom column', () => {
    const error = refusal(() => compileFilter({ s: 'x' }, { fields: SPEC.fields }));
    expect(error).toMatchObject({ code: 'FILTER_INVALID', details: { field: 'filter.s' } });
  });
});

describe('limits', () => {
  const nest = (levels: number): Record<string, unknown> =>
    levels === 0 ? { name: 'alpha' } : { $and: [nest(levels - 1)] };

  it('nesting: four levels of $and/$or are fine, five are refused', async () => {
    expect(await run(nest(4))).toEqual(['a']);
    const error = refusal(() => compileFilter(nest(5), SPEC));
    expect(error.code).toBe('FILTER_INVALID');
    expect(error.details?.field).toBe('filter.$and[0].$and[0].$and[0].$and[0].$and[0]');
  });

  it('conditions: at most 50 per filter, nested ones included', async () => {
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, { $exists: false }]));
    expect(await run(fifty)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const fiftyOne = { ...fifty, k50: { $exists: false } };
    expect(refusal(() => compileFilter(fiftyOne, SPEC)).code).toBe('FILTER_INVALID');
    const spread = { $or: [fifty, { name: 'alpha' }] };
    expect(refusal(() => compileFilter(spread, SPEC)).code).toBe('FILTER_INVALID');
  });

  it('$in lists: at most 500 values', async () => {
    const values = Array.from({ length: 500 }, (_, i) => `v${i}`);
    expect(await run({ name: { $in: [...values.slice(1), 'beta'] } })).toEqual(['b']);
    expect(refusal(() => compileFilter({ name: { $in: [...values, 'x'] } }, SPEC)).code).toBe(
      'FILTER_INVALID',
    );
  });

  it('$and/$or take a non-empty array of objects', () => {
    for (const bad of [[], {}, 'x', [1], [null], [[{ name: 'a' }]]]) {
      const error = refusal(() => compileFilter({ $or: bad }, SPEC));
      expect(error).toMatchObject({ code: 'FILTER_INVALID', details: { field: 'filter.$or' } });
    }
  });
});

describe('compileSort', () => {
  it('orders by whitelisted fields, both directions, ties broken by the tie-breaker', async () => {
    expect(await run({}, [{ field: 'name', direction: 1 }])).toEqual(['a', 'b', 'c', 'e', 'd']);
    expect(await run({}, [{ field: 'score', direction: -1 }])).toEqual(['c', 'b', 'a', 'e', 'd']);
    expect(await run({}, [{ field: 'score', direction: 1 }])).toEqual(['e', 'a', 'b', 'c', 'd']);
    expect(await run({}, [{ field: 'seen_at', direction: 1 }])).toEqual(['e', 'a', 'b', 'd', 'c']);
    expect(await run({ active: true }, [{ field: 'score', direction: -1 }])).toEqual(['c', 'a', 'e']);
    expect(await run({}, [])).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('refuses fields outside the whitelist with SORT_INVALID naming the position', () => {
    for (const field of ['id; drop table probe', 'custom', 'active', 'name desc', '']) {
      const error = refusal(() =>
        compileSort(
          [
            { field: 'name', direction: 1 },
            { field, direction: -1 },
          ],
          SORT,
          'probe.id',
        ),
      );
      expect(error).toMatchObject({ code: 'SORT_INVALID', details: { field: 'sort[1].field' } });
    }
  });
});
