import { type RawBuilder, sql } from 'kysely';
import { AppError } from './errors.js';

/**
 * Compiles Stream-style filter objects ({ field: value }, { field: { $op: value } }, $and, $or)
 * into parameterised SQL. Only whitelisted fields and custom-data keys are reachable, so a filter
 * can never name a column the caller did not allow. Every value becomes a bind parameter.
 */
export type FieldType = 'string' | 'number' | 'boolean' | 'date';

export interface FilterField {
  /** SQL column reference, e.g. `channels.name`. */
  column: string;
  type: FieldType;
}

export interface FilterSpec {
  fields: Record<string, FilterField>;
  /** JSONB column holding custom data: unknown simple keys filter on it. Omit to forbid custom keys. */
  customColumn?: string;
  /** Fields with their own SQL, e.g. channel `members`. Receives the operator and the value. */
  special?: Record<string, (op: Operator, value: unknown) => RawBuilder<boolean>>;
}

const OPERATORS = ['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists'] as const;
export type Operator = (typeof OPERATORS)[number];

const COMPARISON_SQL: Record<Exclude<Operator, '$in' | '$nin' | '$exists'>, string> = {
  $eq: '=',
  $ne: '<>',
  $gt: '>',
  $gte: '>=',
  $lt: '<',
  $lte: '<=',
};

const MAX_DEPTH = 4;
const MAX_CONDITIONS = 50;
const MAX_IN_VALUES = 500;
const CUSTOM_KEY = /^[A-Za-z0-9_]{1,64}$/;

const invalid = (field: string, message: string) => new AppError('FILTER_INVALID', message, { field });
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function compileFilter(filter: Record<string, unknown>, spec: FilterSpec): RawBuilder<boolean> {
  const state = { conditions: 0 };
  return compileGroup(filter, spec, 0, state, 'filter');
}

function compileGroup(
  filter: Record<string, unknown>,
  spec: FilterSpec,
  depth: number,
  state: { conditions: number },
  path: string,
): RawBuilder<boolean> {
  if (depth > MAX_DEPTH) throw invalid(path, `filters may nest at most ${MAX_DEPTH} levels`);
  const parts: RawBuilder<boolean>[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (++state.conditions > MAX_CONDITIONS)
      throw invalid(path, `a filter may have at most ${MAX_CONDITIONS} conditions`);
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0 || !value.every(isPlainObject)) {
        throw invalid(`${path}.${key}`, `${key} takes a non-empty array of filter objects`);
      }
      const inner = value.map((v, i) => compileGroup(v, spec, depth + 1, state, `${path}.${key}[${i}]`));
      parts.push(sql<boolean>`(${sql.join(inner, sql.raw(key === '$and' ? ' and ' : ' or '))})`);
    } else if (key.startsWith('$')) {
      throw invalid(`${path}.${key}`, `unknown operator ${key} at the top of a filter`);
    } else {
      parts.push(compileField(key, value, spec, `${path}.${key}`));
    }
  }
  if (parts.length === 0) return sql<boolean>`true`;
  return sql<boolean>`(${sql.join(parts, sql.raw(' and '))})`;
}

function compileField(name: string, condition: unknown, spec: FilterSpec, path: string): RawBuilder<boolean> {
  const entries: [Operator, unknown][] = isPlainObject(condition)
    ? Object.entries(condition).map(([op, v]) => {
        if (!(OPERATORS as readonly string[]).includes(op)) throw invalid(path, `unknown operator ${op}`);
        return [op as Operator, v];
      })
    : [['$eq', condition]];
  if (entries.length === 0) throw invalid(path, 'an operator object needs at least one operator');

  const special = spec.special?.[name];
  const field = spec.fields[name];
  const parts = entries.map(([op, value]) => {
    if (special) return special(op, value);
    if (field) return compileColumn(field, op, value, path);
    if (spec.customColumn && CUSTOM_KEY.test(name))
      return compileCustom(spec.customColumn, name, op, value, path);
    throw invalid(path, `cannot filter on ${name}`);
  });
  return parts.length === 1 ? parts[0]! : sql<boolean>`(${sql.join(parts, sql.raw(' and '))})`;
}

function checkValue(field: FilterField, value: unknown, path: string): unknown {
  const ok =
    (field.type === 'string' && typeof value === 'string' && value.length <= 1000) ||
    (field.type === 'number' && typeof value === 'number' && Number.isFinite(value)) ||
    (field.type === 'boolean' && typeof value === 'boolean') ||
    (field.type === 'date' && typeof value === 'string' && !Number.isNaN(Date.parse(value)));
  if (!ok) throw invalid(path, `expected a ${field.type}${field.type === 'date' ? ' (ISO 8601)' : ''}`);
  return field.type === 'date' ? new Date(value as string) : value;
}

/**
 * A checked value as a bind parameter. Numbers are cast to numeric: Postgres would otherwise type
 * the parameter after an integer column and fail on 2.5 instead of comparing.
 */
const param = (field: FilterField, value: unknown) =>
  field.type === 'number' ? sql`cast(${value} as numeric)` : sql`${value}`;

function compileColumn(field: FilterField, op: Operator, value: unknown, path: string): RawBuilder<boolean> {
  const column = sql.ref(field.column);
  if (op === '$exists') {
    if (typeof value !== 'boolean') throw invalid(path, '$exists takes true or false');
    return value ? sql<boolean>`${column} is not null` : sql<boolean>`${column} is null`;
  }
  if (op === '$in' || op === '$nin') {
    const values = checkList(value, path).map((v) => checkValue(field, v, path));
    const list = sql.join(values.map((v) => param(field, v)));
    // Like $ne, $nin matches rows where the field is empty (as custom fields do, and as Mongo does).
    return op === '$in'
      ? sql<boolean>`${column} in (${list})`
      : sql<boolean>`(${column} is null or ${column} not in (${list}))`;
  }
  if (value === null && (op === '$eq' || op === '$ne')) {
    return op === '$eq' ? sql<boolean>`${column} is null` : sql<boolean>`${column} is not null`;
  }
  const checked = param(field, checkValue(field, value, path));
  if (op === '$ne') return sql<boolean>`${column} is distinct from ${checked}`;
  return sql<boolean>`${column} ${sql.raw(COMPARISON_SQL[op])} ${checked}`;
}

function compileCustom(
  column: string,
  key: string,
  op: Operator,
  value: unknown,
  path: string,
): RawBuilder<boolean> {
  const target = sql`(${sql.ref(column)} -> ${key})`;
  if (op === '$exists') {
    if (typeof value !== 'boolean') throw invalid(path, '$exists takes true or false');
    return value
      ? sql<boolean>`${sql.ref(column)} ? ${key}`
      : sql<boolean>`not (${sql.ref(column)} ? ${key})`;
  }
  const json = (v: unknown) => {
    if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) {
      throw invalid(path, 'custom fields compare with strings, numbers, booleans or null');
    }
    return sql`cast(${JSON.stringify(v)} as jsonb)`;
  };
  if (op === '$in' || op === '$nin') {
    const list = sql.join(checkList(value, path).map(json));
    return op === '$in'
      ? sql<boolean>`${target} in (${list})`
      : sql<boolean>`coalesce(${target} not in (${list}), true)`;
  }
  if (op === '$ne') return sql<boolean>`${target} is distinct from ${json(value)}`;
  if (op === '$eq') return sql<boolean>`${target} = ${json(value)}`;
  // jsonb orders values of different types too (boolean > number > string > null), so a range
  // compares only values of the same JSON type: { age: { $gt: 18 } } never matches "abc" or true.
  if (value === null) throw invalid(path, `${op} needs a string, number or boolean`);
  const operand = json(value);
  return sql<boolean>`(jsonb_typeof(${target}) = jsonb_typeof(${operand}) and ${target} ${sql.raw(COMPARISON_SQL[op])} ${operand})`;
}

export function checkList(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_IN_VALUES) {
    throw invalid(path, `$in and $nin take a non-empty array of at most ${MAX_IN_VALUES} values`);
  }
  return value;
}

export interface SortField {
  column: string;
  /** Where nulls go when sorting descending (e.g. channels without messages last). */
  nullsLast?: boolean;
}

/** Turns [{ field, direction }] into an ORDER BY list over whitelisted fields. */
export function compileSort(
  sort: { field: string; direction: 1 | -1 }[],
  fields: Record<string, SortField>,
  tieBreaker: string,
): RawBuilder<unknown> {
  const parts = sort.map(({ field, direction }, i) => {
    const spec = fields[field];
    if (!spec) {
      throw new AppError(
        'SORT_INVALID',
        `cannot sort on ${field}; allowed: ${Object.keys(fields).join(', ')}`,
        {
          field: `sort[${i}].field`,
        },
      );
    }
    const dir = direction === 1 ? 'asc' : 'desc';
    const nulls = spec.nullsLast ? ' nulls last' : '';
    return sql`${sql.ref(spec.column)} ${sql.raw(dir + nulls)}`;
  });
  parts.push(sql`${sql.ref(tieBreaker)} asc`);
  return sql.join(parts);
}
