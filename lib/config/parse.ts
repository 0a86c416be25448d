// One service file's text (or an object sent over RPC) to a ServiceDef or
// every problem in it at once: YAML parsing, the schema, then normalise.ts.
// Pure: reading files is load.ts's, and the graph (cycles, missing
// dependencies) is judged over a whole directory, not here.

import { YAMLException, constructFromEvents, parseEvents, type Event } from 'js-yaml';
import type { Problem, ServiceDef } from '../core/definition.js';
import type { Host } from '../core/host.js';
import { describeValue, isRecord } from '../core/jsontype.js';
import { INSTANCE_VAR, isTemplateName } from '../core/instances.js';
import { nameError } from '../core/names.js';
import { schemaProblems } from './messages.js';
import { normalise } from './normalise.js';
import { type Locate, type SpotOf, escapePointer, locate, offsetToSpot } from './positions.js';
import { type EnvSource, envSource } from './source.js';
import { Report } from './report.js';
import { validate as schemaValidate } from './validator.js';

/** A definition, and the file's `replicas` (null when it has none), or every problem. */
export type ParseResult =
  { ok: true; def: ServiceDef; replicas: number | null } | { ok: false; problems: Problem[] };

const EMPTY = 'empty service file: expected a mapping with at least exec';

export function parseServiceText(
  name: string,
  file: string,
  text: string,
  host: Host | null = null,
): ParseResult {
  const read = readYaml(file, text);
  if (!read.ok) return { ok: false, problems: [...nameProblems(name, file), ...read.problems] };
  return check(name, file, read.value, read.located, read.problems, host);
}

/** A file's content as it reads, env values in their own words: what service_get answers. */
export function serviceValue(text: string): unknown {
  const read = readYaml('', text);
  return read.ok ? read.value : undefined;
}

type YamlRead =
  | { ok: true; value: unknown; located: Locate; problems: Problem[] }
  | { ok: false; problems: Problem[] };

/** One YAML document's value, where each of its parts is, and the problems seen so far. */
function readYaml(file: string, text: string): YamlRead {
  const spotOf = offsetToSpot(text);
  let events: Event[];
  try {
    events = parseEvents(text, {});
  } catch (e) {
    return { ok: false, problems: [yamlProblem(file, e, spotOf)] };
  }
  const map = locate(text, events, spotOf);
  const problems = map.problems.map((p): Problem => placed(file, p.spot, p.message));
  if (map.documents > 1) {
    const second = placed(file, map.secondDocument, 'expected one YAML document, found several');
    return { ok: false, problems: [...problems, second] };
  }
  let value: unknown = null;
  try {
    // Duplicate keys are reported above with their names; `json` makes the
    // last one win so that the rest of the file is still checked.
    value = constructFromEvents(events, { source: text, json: true, maxAliases: 100 })[0];
  } catch (e) {
    return { ok: false, problems: [...problems, yamlProblem(file, e, spotOf)] };
  }
  const located: Locate = (pointer) => map.spots.get(pointer);
  const env = envSource(text, events);
  keepEnvText(value, env.texts);
  if (isRecord(value) && typeof value.umask === 'number' && env.umask !== undefined) {
    value.umask = env.umask;
  }
  for (const key of env.badKeys) problems.push(badEnvKey(file, key, located));
  return { ok: true, value, located, problems };
}

/** Env values YAML read as numbers or booleans become the text they were written as. */
function keepEnvText(value: unknown, texts: EnvSource['texts']): void {
  if (!isRecord(value) || !isRecord(value.env)) return;
  const env = value.env;
  for (const [key, text] of texts) {
    const v = env[key];
    if (typeof v === 'number' || typeof v === 'boolean') env[key] = text;
  }
}

export function parseServiceObject(
  name: string,
  file: string,
  value: unknown,
  host: Host | null = null,
): ParseResult {
  return check(name, file, value, null, [], host);
}

function check(
  name: string,
  file: string,
  value: unknown,
  located: Locate | null,
  early: Problem[],
  host: Host | null,
): ParseResult {
  const report = new Report(file, located);
  report.push(...nameProblems(name, file), ...early);
  if (value === null || value === undefined) {
    report.add('', EMPTY);
  } else if (!isRecord(value)) {
    report.add(
      '',
      `the top level must be a mapping of keys to values, got ${describeValue(value)}`,
    );
  } else {
    // Compiled from the schema at build time (build/validator.ts).
    if (!schemaValidate(value)) schemaProblems(report, schemaValidate.errors ?? []);
    const def = normalise(name, file, value, report, host);
    const replicas = def ? instanceProblems(def, value, report) : null;
    if (def && report.problems.length === 0) return { ok: true, def, replicas };
  }
  return { ok: false, problems: report.sorted() };
}

/**
 * What only a template or a replicated file can get wrong: a template runs
 * no replicas, and instances must not share a log file. The replica count.
 */
function instanceProblems(
  def: ServiceDef,
  raw: Record<string, unknown>,
  report: Report,
): number | null {
  const replicas = typeof raw.replicas === 'number' ? raw.replicas : null;
  const template = isTemplateName(def.name);
  if (template && Object.hasOwn(raw, 'replicas')) {
    report.add(
      '/replicas',
      `a template takes no replicas: its instances are started by name (sminit start ${def.name}NAME)`,
    );
  }
  const many = template || (replicas !== null && replicas > 1);
  if (many && def.log.kind === 'file' && !def.log.path.includes(INSTANCE_VAR)) {
    report.add(
      '/log/file',
      `every instance would write this one file; put ${INSTANCE_VAR} in its name`,
    );
  }
  return replicas;
}

/** A key YAML reads as null, a number or a boolean would become a name like `null`. */
function badEnvKey(file: string, key: EnvSource['badKeys'][number], located: Locate): Problem {
  const spot = located(`/env/${escapePointer(key.text)}`)?.key;
  const message = `env: invalid key '${key.text}': YAML reads it as ${key.reads}; quote it to use it as a name`;
  return placed(file, spot, message);
}

/** The name is the file's stem: a bad one is a problem of the file. */
export function nameProblems(name: string, file: string): Problem[] {
  const error = nameError(name);
  return error ? [{ file, line: 0, column: 0, message: error }] : [];
}

function placed(
  file: string,
  spot: { line: number; column: number } | undefined,
  message: string,
): Problem {
  return { file, line: spot?.line ?? 0, column: spot?.column ?? 0, message };
}

function yamlProblem(file: string, e: unknown, spotOf: SpotOf): Problem {
  if (e instanceof YAMLException) {
    // js-yaml counts a lone CR as a line break; every other position here
    // (and every editor's `:line`) counts LF only, so place it by offset.
    const spot = e.mark ? spotOf(e.mark.position) : undefined;
    return placed(file, spot, `invalid YAML: ${e.reason}`);
  }
  return placed(file, undefined, `invalid YAML: ${String(e)}`);
}
