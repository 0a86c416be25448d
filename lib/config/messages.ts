// ajv's schema errors turned into what a person reads: one problem per
// place, in a service file's words (list, mapping), with a did-you-mean for
// near misses. Pure; the checks the schema cannot state are normalise.ts's.

import type { ErrorObject } from 'ajv';
import { parseDuration, parseSize } from '../core/duration.js';
import {
  describeSchema,
  describeTypes,
  describeValue,
  isRecord,
  matchesType,
} from '../core/jsontype.js';
import { escapePointer } from './positions.js';
import type { Report } from './report.js';

/** Turns ajv's errors into one readable problem per place. */
export function schemaProblems(report: Report, all: readonly ErrorObject[]): void {
  // The root's allOf states the exec/cmd and test/healthcheck rules for
  // editors; normalise() reports them with messages that name the keys.
  const errors = all.filter(
    (e) => !e.schemaPath.startsWith('#/allOf/') && e.propertyName === undefined,
  );
  const skip = new Set<ErrorObject>();
  const merged = new Map<ErrorObject, Placed>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf') continue;
    const placed = anyOfProblem(e, errors, skip);
    if (placed) merged.set(e, placed);
  }
  // In ajv's order, so problems without a place (an RPC object) keep the schema's order.
  for (const e of errors) {
    const placed = merged.get(e) ?? (skip.has(e) ? null : schemaMessage(e));
    if (placed) report.add(...placed);
  }
}

/**
 * One problem for a value that fits none of anyOf's branches; its branches'
 * own errors are skipped, unless the value's type picks one branch, whose
 * errors are then the precise ones.
 */
function anyOfProblem(
  e: ErrorObject,
  errors: readonly ErrorObject[],
  skip: Set<ErrorObject>,
): Placed | null {
  const prefix = `${e.schemaPath}/`;
  for (const x of errors) if (x.schemaPath.startsWith(prefix)) skip.add(x);
  skip.add(e);
  if (e.schemaPath.startsWith('#/definitions/')) {
    const parsed = e.schemaPath.includes('/size/') ? parseSize(e.data) : parseDuration(e.data);
    return [
      e.instancePath,
      typeof parsed === 'string' ? parsed : `invalid value ${describeValue(e.data)}`,
    ];
  }
  const branches = Array.isArray(e.schema) ? e.schema.filter(isRecord) : [];
  const match = branches.findIndex(
    (b) => typeof b.type === 'string' && matchesType(b.type, e.data),
  );
  if (match >= 0) {
    for (const x of errors) if (x.schemaPath.startsWith(`${prefix}${match}/`)) skip.delete(x);
    return null;
  }
  const allowed = branches.flatMap((b) => (Array.isArray(b.enum) ? b.enum : []));
  const expected = describeSchema({ anyOf: branches }, 'yaml');
  return [
    e.instancePath,
    `must be ${expected}, got ${describeValue(e.data)}${suggestValue(e.data, allowed)}`,
  ];
}

type Placed = [subject: string, message: string, spotAt?: string, onKey?: boolean];

function schemaMessage(e: ErrorObject): Placed {
  const at = e.instancePath;
  const params: Record<string, unknown> = e.params;
  switch (e.keyword) {
    case 'additionalProperties':
      return unknownKey(e, String(params.additionalProperty));
    case 'propertyNames': {
      const key = String(params.propertyName);
      const why = isRecord(e.schema) ? String(e.schema.description) : 'invalid name';
      return [at, `invalid key '${key}': ${why}`, `${at}/${escapePointer(key)}`, true];
    }
    case 'required':
      return [at, `missing required key '${String(params.missingProperty)}'`];
    case 'type':
      return [
        at,
        `must be ${describeTypes(String(params.type).split(','), 'yaml')}, got ${describeValue(e.data)}`,
      ];
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : [];
      return [
        at,
        `must be ${describeSchema({ enum: allowed }, 'yaml')}, got ${describeValue(e.data)}${suggestValue(e.data, allowed)}`,
      ];
    }
    case 'minLength':
      return [at, 'must not be empty'];
    case 'minimum':
      return [at, `must be at least ${String(params.limit)}, got ${describeValue(e.data)}`];
    case 'maximum':
      return [at, `must be at most ${String(params.limit)}, got ${describeValue(e.data)}`];
    default:
      return [at, e.message ?? `fails ${e.keyword}`];
  }
}

function unknownKey(e: ErrorObject, key: string): Placed {
  const known = Object.keys(isRecord(e.parentSchema?.properties) ? e.parentSchema.properties : {});
  const at = e.instancePath;
  const near = suggest(key, known);
  // In a probe, a key that is no near miss is most likely a kind sminit does not have.
  const message =
    e.parentSchema?.title === 'probe' && near === ''
      ? `unknown probe kind '${key}'; a probe is one of exec, http or tcp`
      : `unknown key '${key}'${near}`;
  return [at, message, `${at}/${escapePointer(key)}`, true];
}

/** ` (did you mean 'x'?)` when exactly such a near miss exists, else ''. */
function suggest(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance && d < Math.max(word.length, 2)) [best, bestDistance] = [c, d];
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

function suggestValue(v: unknown, allowed: readonly unknown[]): string {
  return typeof v === 'string'
    ? suggest(
        v,
        allowed.filter((a): a is string => typeof a === 'string'),
      )
    : '';
}

/** Edit distance counting a swap of neighbours as one edit (`exce` → `exec`). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const prev = d[i - 1]!;
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}
