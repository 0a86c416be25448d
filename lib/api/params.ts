// A method's parameters as clients send them (positional or named) turned
// into one checked object with the names wire.ts gives them. Pure: it knows
// the method table and the name rule, nothing of sockets or the manager.

import { Errors, type SminitError } from '../core/errors.js';
import { describeSchema, isRecord, matchesSchema } from '../core/jsontype.js';
import { checkName, patternError } from '../core/names.js';
import { METHODS, type MethodName } from './wire.js';

type ParamSpecs = (typeof METHODS)[MethodName]['params'];

/** Positional or named params → a checked object with the method's parameter names. */
export function normaliseParams(method: MethodName, raw: unknown): Record<string, unknown> {
  const spec = METHODS[method].params;
  const named = byName(method, spec, raw);
  const out: Record<string, unknown> = {};
  for (const p of spec) {
    const v = named[p.name];
    if (v === undefined || (v === null && !p.required)) {
      if (p.required) throw invalid(`${method}: missing parameter '${p.name}'`);
      continue;
    }
    if (!matchesSchema(p.schema, v)) {
      throw invalid(`${method}: parameter '${p.name}' must be ${describeSchema(p.schema, 'json')}`);
    }
    checkNames(p.name, v);
    out[p.name] = v;
  }
  return out;
}

/** The params as an object by name; refuses too many positions and unknown names. */
function byName(method: MethodName, spec: ParamSpecs, raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (Array.isArray(raw)) {
    if (raw.length > spec.length)
      throw invalid(`${method} takes at most ${spec.length} parameters, got ${raw.length}`);
    const named: Record<string, unknown> = {};
    raw.forEach((v, i) => {
      const p = spec[i];
      if (p) named[p.name] = v;
    });
    return named;
  }
  if (!isRecord(raw)) throw invalid(`${method}: params must be an array or an object`);
  for (const key of Object.keys(raw)) {
    if (!spec.some((p) => p.name === key)) throw invalid(`${method}: unknown parameter '${key}'`);
  }
  return raw;
}

/** Service names go through the one name rule, so none can name a path. */
function checkNames(param: string, v: unknown): void {
  const names = param === 'name' || param === 'filter' ? [v] : param === 'names' ? v : [];
  for (const n of names as unknown[]) checkName(n);
  if (param !== 'patterns') return;
  for (const p of v as string[]) {
    const why = patternError(p);
    if (why !== null) throw Errors.badParams(why);
  }
}

function invalid(message: string): SminitError {
  return Errors.badParams(message);
}
