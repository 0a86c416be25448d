// Service files: reading them, validating them against
// schemas/service.schema.json, and turning them into ServiceDefs. Every
// problem in a file is reported at once, at file:line:column. This module
// must not spawn processes or hold manager state; dependency cycles and
// missing dependencies belong to the graph.

import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import {
  EVENT_ID,
  SCALAR_STYLE,
  YAMLException,
  constructFromEvents,
  getScalarValue,
  parseEvents,
  type Event,
} from 'js-yaml';
import { parseDuration, parseSize } from '../core/duration.js';
import { validate as schemaValidate } from './validator.js';
import { SERVICE_EXTENSIONS, nameError, stemOf } from '../core/names.js';
import { type SignalName, signalByName } from '../core/signals.js';
import { split } from '../core/shellwords.js';
import { firstInvalidUtf8 } from '../core/utf8.js';
import type { LogMode, Problem, RestartPolicy, ServiceDef } from '../core/definition.js';

export type ParseResult = { ok: true; def: ServiceDef } | { ok: false; problems: Problem[] };
/** A file's result; `missing` tells a file that is not there from one that is bad. */
export type FileResult =
  | { readonly ok: true; readonly name: string; readonly def: ServiceDef }
  | {
      readonly ok: false;
      readonly name: string;
      readonly problems: Problem[];
      readonly missing: boolean;
    };

export const MAX_FILE_BYTES = 1024 * 1024;

export const DEFAULTS = {
  restart: 'always',
  stopSignal: 'SIGTERM',
  dir: '/',
  shutdownTimeoutMs: 10_000,
  testIntervalMs: 1_000,
  testTimeoutMs: 5_000,
  restartDelayMs: 100,
  restartMaxDelayMs: 30_000,
  stableAfterMs: 10_000,
  logMaxSize: 10 * 1024 * 1024,
  logKeep: 5,
} as const;

const EMPTY = 'empty service file: expected a mapping with at least exec';
const ALIASES = [
  ['exec', 'cmd'],
  ['test', 'healthcheck'],
] as const;
const DURATION_KEYS = {
  shutdown_timeout: 'shutdownTimeoutMs',
  test_interval: 'testIntervalMs',
  test_timeout: 'testTimeoutMs',
  restart_delay: 'restartDelayMs',
  restart_max_delay: 'restartMaxDelayMs',
  stable_after: 'stableAfterMs',
} as const;

interface Spot {
  readonly line: number;
  readonly column: number;
}
/** Where a JSON pointer's value (and, inside a mapping, its key) sits in the source. */
interface Located {
  readonly key?: Spot;
  readonly value: Spot;
}
type Locate = (pointer: string) => Located | undefined;
type Raw = Record<string, unknown>;

// --- entry points -----------------------------------------------------------

export function parseServiceText(name: string, file: string, text: string): ParseResult {
  const at = (spot: Spot | undefined, message: string): Problem => ({
    file,
    line: spot?.line ?? 0,
    column: spot?.column ?? 0,
    message,
  });
  const spotOf = offsetToSpot(text);
  let events: Event[];
  try {
    events = parseEvents(text, {});
  } catch (e) {
    return { ok: false, problems: [...nameProblems(name, file), yamlProblem(file, e, spotOf)] };
  }
  const map = locate(text, events, spotOf);
  const problems = map.problems.map((p) => at(p.spot, p.message));
  if (map.documents > 1) {
    problems.push(at(map.secondDocument, 'expected one YAML document, found several'));
    return { ok: false, problems: [...nameProblems(name, file), ...problems] };
  }
  let value: unknown = null;
  try {
    // Duplicate keys are reported above with their names; `json` makes the
    // last one win so that the rest of the file is still checked.
    value = constructFromEvents(events, { source: text, json: true, maxAliases: 100 })[0];
  } catch (e) {
    return {
      ok: false,
      problems: [...nameProblems(name, file), ...problems, yamlProblem(file, e, spotOf)],
    };
  }
  const located = (pointer: string): Located | undefined => map.spots.get(pointer);
  return check(name, file, value, located, problems);
}

export function parseServiceObject(name: string, file: string, value: unknown): ParseResult {
  return check(name, file, value, null, []);
}

/** Reads and parses one file; the name is the file's stem. */
export async function loadServiceFile(path: string): Promise<FileResult> {
  const base = basename(path);
  const name = stemOf(base) ?? base;
  const fail = (message: string, spot?: Spot, missing = false): FileResult => ({
    ok: false,
    name,
    missing,
    problems: [
      ...nameProblems(name, path),
      { file: path, line: spot?.line ?? 0, column: spot?.column ?? 0, message },
    ],
  });
  let bytes: Uint8Array;
  try {
    const st = await stat(path);
    if (!st.isFile())
      return fail(`not a regular file (${st.isDirectory() ? 'a directory' : 'a special file'})`);
    if (st.size > MAX_FILE_BYTES) return fail(tooBig(st.size));
    bytes = await readAtMost(path, MAX_FILE_BYTES + 1);
  } catch (e) {
    const missing = isRecord(e) && e.code === 'ENOENT';
    return fail(`cannot read: ${osMessage(e)}`, undefined, missing);
  }
  if (bytes.length > MAX_FILE_BYTES) return fail(tooBig(bytes.length));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    const hex = (bytes[bad] ?? 0).toString(16).padStart(2, '0');
    return fail(`not UTF-8 text: invalid byte 0x${hex} at offset ${bad}`, byteSpot(bytes, bad));
  }
  // Problems name the path as given, which reads better; the def keeps it absolute.
  const result = parseServiceText(name, path, text);
  return result.ok
    ? { ok: true, name, def: { ...result.def, file: resolve(path) } }
    : { ...result, name, missing: false };
}

/** NAME's file in `dir`: NAME.yaml, else NAME.yml; `missing` when there is neither. */
export async function loadServiceNamed(dir: string, name: string): Promise<FileResult> {
  let result: FileResult | null = null;
  for (const ext of SERVICE_EXTENSIONS) {
    result = await loadServiceFile(join(dir, name + ext));
    if (result.ok || !result.missing) return result;
  }
  return result as FileResult;
}

/** Every `*.yaml` / `*.yml` directly in `dir`, by name; a bad file never stops the others. */
export async function loadDir(dir: string): Promise<{ defs: ServiceDef[]; problems: Problem[] }> {
  let entries: string[];
  try {
    entries = (await readdir(dir)).filter((f) => stemOf(f) !== null).sort();
  } catch (e) {
    return {
      defs: [],
      problems: [
        { file: dir, line: 0, column: 0, message: `cannot read config directory: ${osMessage(e)}` },
      ],
    };
  }
  const byStem = new Map<string, string[]>();
  for (const f of entries) {
    const stem = stemOf(f) ?? f;
    byStem.set(stem, [...(byStem.get(stem) ?? []), f]);
  }
  const defs: ServiceDef[] = [];
  const problems: Problem[] = [];
  const results = await Promise.all(
    entries.map((f) =>
      (byStem.get(stemOf(f) ?? f)?.length ?? 0) > 1 ? null : loadServiceFile(join(dir, f)),
    ),
  );
  entries.forEach((f, i) => {
    const files = byStem.get(stemOf(f) ?? f) ?? [];
    const result = results[i];
    if (!result) {
      const message = `service '${stemOf(f)}' is defined by both ${files.join(' and ')}; neither is loaded`;
      problems.push({ file: join(dir, f), line: 0, column: 0, message });
    } else if (result.ok) defs.push(result.def);
    else problems.push(...result.problems);
  });
  return { defs, problems };
}

// --- validation and normalisation ----------------------------------------------

/** Collects problems, placing each at its source position (YAML) or naming its JSON pointer. */
class Report {
  readonly problems: Problem[] = [];
  private readonly bad = new Set<string>();
  constructor(
    private readonly file: string,
    private readonly located: Locate | null,
  ) {}

  /**
   * A problem about `subject` (a JSON pointer, '' for the whole file), placed
   * at `spotAt` (default: the subject's value) or at its key when `onKey`.
   */
  add(subject: string, message: string, spotAt = subject, onKey = false): void {
    this.bad.add(subject);
    this.bad.add(spotAt);
    if (!this.located) {
      const text = subject ? `${subject}: ${message}` : message;
      this.problems.push({ file: this.file, line: 0, column: 0, message: text });
      return;
    }
    let found: Located | undefined;
    // A value reached through an alias has no place of its own; use its parent's.
    for (let p = spotAt; !found; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
      found = this.located(p);
      if (p === '') break;
    }
    const spot = onKey ? (found?.key ?? found?.value) : found?.value;
    const text = subject ? `${label(subject)}: ${message}` : message;
    this.problems.push({
      file: this.file,
      line: spot?.line ?? 0,
      column: spot?.column ?? 0,
      message: text,
    });
  }

  /** True when no problem was found at or below `pointer`, so its value has the schema's shape. */
  clean(pointer: string): boolean {
    for (const p of this.bad) if (p === pointer || p.startsWith(pointer + '/')) return false;
    return true;
  }

  keySpot(pointer: string): Spot | undefined {
    return this.located?.(pointer)?.key;
  }
}

function check(
  name: string,
  file: string,
  value: unknown,
  located: Locate | null,
  early: Problem[],
): ParseResult {
  const report = new Report(file, located);
  report.problems.push(...nameProblems(name, file), ...early);
  if (value === null || value === undefined) {
    report.add('', EMPTY);
  } else if (!isRecord(value)) {
    report.add('', `the top level must be a mapping of keys to values, got ${describe(value)}`);
  } else {
    // Compiled from the schema at build time (build/validator.ts).
    if (!schemaValidate(value)) schemaProblems(report, schemaValidate.errors ?? []);
    const def = normalise(name, file, value, report);
    if (def && report.problems.length === 0) return { ok: true, def };
  }
  const problems = report.problems.slice().sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, problems };
}

/** Turns ajv's errors into one readable problem per place. */
function schemaProblems(report: Report, all: ErrorObject[]): void {
  // The root's allOf states the exec/cmd and test/healthcheck rules for
  // editors; normalise() reports them with messages that name the keys.
  const errors = all.filter(
    (e) => !e.schemaPath.startsWith('#/allOf/') && e.propertyName === undefined,
  );
  const skip = new Set<ErrorObject>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf') continue;
    const prefix = `${e.schemaPath}/`;
    for (const x of errors) if (x.schemaPath.startsWith(prefix)) skip.add(x);
    skip.add(e);
    if (e.schemaPath.startsWith('#/definitions/')) {
      const parsed = e.schemaPath.includes('/size/') ? parseSize(e.data) : parseDuration(e.data);
      report.add(
        e.instancePath,
        typeof parsed === 'string' ? parsed : `invalid value ${describe(e.data)}`,
      );
      continue;
    }
    const branches = Array.isArray(e.schema) ? e.schema.filter(isRecord) : [];
    // When the value's type picks one branch, that branch's errors are the precise ones.
    const match = branches.findIndex(
      (b) => typeof b.type === 'string' && jsonTypeMatches(b.type, e.data),
    );
    if (match >= 0) {
      for (const x of errors) if (x.schemaPath.startsWith(`${prefix}${match}/`)) skip.delete(x);
    } else {
      const allowed = branches.flatMap((b) => (Array.isArray(b.enum) ? b.enum : []));
      const expected = branches.map(expectation).join(', or ');
      report.add(
        e.instancePath,
        `must be ${expected}, got ${describe(e.data)}${suggestValue(e.data, allowed)}`,
      );
    }
  }
  for (const e of errors) if (!skip.has(e)) report.add(...schemaMessage(e));
}

function schemaMessage(e: ErrorObject): [string, string, string?, boolean?] {
  const at = e.instancePath;
  const params: Record<string, unknown> = e.params;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys(
        isRecord(e.parentSchema?.properties) ? e.parentSchema.properties : {},
      );
      return [
        at,
        `unknown key '${key}'${suggest(key, known)}`,
        `${at}/${escapePointer(key)}`,
        true,
      ];
    }
    case 'propertyNames': {
      const key = String(params.propertyName);
      const why = isRecord(e.schema) ? String(e.schema.description) : 'invalid name';
      return [at, `invalid key '${key}': ${why}`, `${at}/${escapePointer(key)}`, true];
    }
    case 'required':
      return [at, `missing required key '${String(params.missingProperty)}'`];
    case 'type':
      return [at, `must be ${typeNames(params.type)}, got ${describe(e.data)}`];
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : [];
      return [
        at,
        `must be ${expectation({ enum: allowed })}, got ${describe(e.data)}${suggestValue(e.data, allowed)}`,
      ];
    }
    case 'minLength':
      return [at, 'must not be empty'];
    case 'minimum':
      return [at, `must be at least ${String(params.limit)}, got ${describe(e.data)}`];
    case 'maximum':
      return [at, `must be at most ${String(params.limit)}, got ${describe(e.data)}`];
    default:
      return [at, e.message ?? `fails ${e.keyword}`];
  }
}

/** The checks the schema cannot state, and the defaults; null when something is wrong. */
function normalise(name: string, file: string, raw: Raw, report: Report): ServiceDef | null {
  const has = (key: string) => Object.hasOwn(raw, key);
  const clean = (key: string) => has(key) && report.clean(`/${key}`);
  const nul = (pointer: string, v: unknown) => {
    if (typeof v === 'string' && v.includes('\0'))
      report.add(pointer, 'must not contain a NUL character');
  };

  for (const [main, alias] of ALIASES) {
    if (!has(main) || !has(alias)) continue;
    const [a, b] = [report.keySpot(`/${main}`), report.keySpot(`/${alias}`)];
    const later =
      a && b && (a.line > b.line || (a.line === b.line && a.column > b.column)) ? main : alias;
    report.add(
      '',
      `both '${main}' and '${alias}' are given; they are one key, keep one`,
      `/${later}`,
      true,
    );
  }
  if (!has('exec') && !has('cmd')) report.add('', "missing required key 'exec'");

  const command = (keys: readonly [string, string]): string[] | null => {
    const key = keys.find(has);
    const v = key === undefined ? undefined : raw[key];
    if (key === undefined || typeof v !== 'string' || !report.clean(`/${key}`)) return null;
    const words = split(v);
    if (v.trim() === '') report.add(`/${key}`, 'must not be empty or only whitespace');
    else if (!words.ok) report.add(`/${key}`, words.error);
    else if (words.argv[0] === '') report.add(`/${key}`, 'the program name is empty');
    else nul(`/${key}`, v);
    return words.ok ? words.argv : null;
  };
  const exec = command(ALIASES[0]);
  const test = command(ALIASES[1]);

  const oneshot = raw.oneshot === true;
  let restart: RestartPolicy = oneshot ? 'never' : DEFAULTS.restart;
  if (clean('restart') && isRestartPolicy(raw.restart)) {
    if (oneshot && raw.restart !== 'never') {
      report.add('/restart', "oneshot services never restart; remove 'restart' or set it to never");
    }
    restart = raw.restart;
  }

  const after: string[] = [];
  if (Array.isArray(raw.after)) {
    raw.after.forEach((dep: unknown, i) => {
      if (typeof dep !== 'string' || !report.clean(`/after/${i}`)) return;
      const invalid = nameError(dep);
      if (invalid) report.add(`/after/${i}`, invalid);
      else if (dep === name) report.add(`/after/${i}`, `'${name}' cannot come after itself`);
      else if (!after.includes(dep)) after.push(dep);
    });
  }

  let stopSignal: SignalName = DEFAULTS.stopSignal;
  const stop = isRecord(raw.signal) ? raw.signal.stop : undefined;
  if (typeof stop === 'string' && report.clean('/signal/stop')) {
    const signal = signalByName(stop);
    if (signal) stopSignal = signal;
    else
      report.add(
        '/signal/stop',
        `unknown signal '${stop}'; signal names are like TERM, SIGTERM or term`,
      );
  }

  let log: LogMode = { kind: 'ring' };
  if (raw.log === null || raw.log === 'none') log = { kind: 'none' };
  else if (raw.log === 'stdout') log = { kind: 'stdout' };
  else if (isRecord(raw.log) && typeof raw.log.file === 'string') {
    nul('/log/file', raw.log.file);
    let maxSize: number = DEFAULTS.logMaxSize;
    if (raw.log.max_size !== undefined && report.clean('/log/max_size')) {
      const size = parseSize(raw.log.max_size);
      if (typeof size === 'string') report.add('/log/max_size', size);
      else maxSize = size;
    }
    const keep = typeof raw.log.keep === 'number' ? raw.log.keep : DEFAULTS.logKeep;
    log = { kind: 'file', path: raw.log.file, maxSize, keep };
  }

  const env: Record<string, string> = {};
  if (isRecord(raw.env)) {
    for (const [k, v] of Object.entries(raw.env)) {
      const pointer = `/env/${escapePointer(k)}`;
      if (k.includes('\0')) report.add(pointer, 'must not contain a NUL character', pointer, true);
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        env[k] = String(v);
      nul(pointer, v);
    }
  }

  const dir = typeof raw.dir === 'string' ? raw.dir : DEFAULTS.dir;
  nul('/dir', raw.dir);

  const ms: Record<(typeof DURATION_KEYS)[keyof typeof DURATION_KEYS], number> = {
    shutdownTimeoutMs: DEFAULTS.shutdownTimeoutMs,
    testIntervalMs: DEFAULTS.testIntervalMs,
    testTimeoutMs: DEFAULTS.testTimeoutMs,
    restartDelayMs: DEFAULTS.restartDelayMs,
    restartMaxDelayMs: DEFAULTS.restartMaxDelayMs,
    stableAfterMs: DEFAULTS.stableAfterMs,
  };
  for (const [key, field] of Object.entries(DURATION_KEYS)) {
    if (!clean(key)) continue;
    const parsed = parseDuration(raw[key]);
    if (typeof parsed === 'string') report.add(`/${key}`, parsed);
    else if (parsed === 0 && (key === 'test_interval' || key === 'test_timeout')) {
      report.add(`/${key}`, 'must be more than 0');
    } else ms[field] = parsed;
  }
  if (!has('restart_max_delay'))
    ms.restartMaxDelayMs = Math.max(ms.restartMaxDelayMs, ms.restartDelayMs);
  else if (
    ms.restartMaxDelayMs < ms.restartDelayMs &&
    clean('restart_max_delay') &&
    clean('restart_delay')
  ) {
    report.add(
      '/restart_max_delay',
      `must be at least restart_delay (${String(raw.restart_delay)})`,
    );
  }

  if (!exec || report.problems.length > 0) return null;
  return {
    name,
    file,
    exec,
    test,
    oneshot,
    restart,
    after,
    stopSignal,
    log,
    env,
    dir,
    ...ms,
  };
}

function isRestartPolicy(v: unknown): v is RestartPolicy {
  return v === 'always' || v === 'on-failure' || v === 'never';
}

// --- source positions --------------------------------------------------------------

interface LocateResult {
  spots: Map<string, Located>;
  problems: { spot: Spot | undefined; message: string }[];
  documents: number;
  secondDocument: Spot | undefined;
}

type Frame =
  | { kind: 'doc' }
  | { kind: 'seq'; path: string | null; index: number }
  | {
      kind: 'map';
      path: string | null;
      /** undefined: the next node is a key; null: a key that is not a plain scalar. */
      key: string | null | undefined;
      keySpot: Spot | undefined;
      seen: Map<string, Spot>;
    };

/**
 * Walks the parser's events to find where every value (and key) starts, by
 * JSON pointer, and reports duplicate keys by name: js-yaml's own duplicate
 * error names neither the key nor the first occurrence.
 */
function locate(
  text: string,
  events: Event[],
  spotOf: (offset: number) => Spot | undefined,
): LocateResult {
  const out: LocateResult = {
    spots: new Map(),
    problems: [],
    documents: 0,
    secondDocument: undefined,
  };
  const stack: Frame[] = [];
  for (const ev of events) {
    if (ev.type === EVENT_ID.DOCUMENT) {
      out.documents++;
      stack.push({ kind: 'doc' });
      continue;
    }
    if (ev.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    const spot = spotOf(startOf(ev));
    const top = stack.at(-1);
    let path: string | null = null;
    let keySpot: Spot | undefined;
    if (!top) continue;
    if (top.kind === 'doc') {
      if (out.documents === 1) path = '';
      else out.secondDocument ??= spot;
    } else if (top.kind === 'seq') {
      path = top.path === null ? null : `${top.path}/${top.index}`;
      top.index++;
    } else if (top.key === undefined) {
      if (ev.type === EVENT_ID.SCALAR) {
        const key = getScalarValue(text, ev);
        const first = top.seen.get(key);
        if (first && top.path !== null) {
          const where = top.path ? `${label(top.path)}: ` : '';
          out.problems.push({
            spot,
            message: `${where}duplicate key '${key}' (first at line ${first.line})`,
          });
        } else if (spot) top.seen.set(key, spot);
        top.key = key;
        top.keySpot = spot;
      } else {
        top.key = null;
        if (ev.type === EVENT_ID.MAPPING)
          stack.push({
            kind: 'map',
            path: null,
            key: undefined,
            keySpot: undefined,
            seen: new Map(),
          });
        if (ev.type === EVENT_ID.SEQUENCE) stack.push({ kind: 'seq', path: null, index: 0 });
      }
      continue;
    } else {
      path = top.key === null || top.path === null ? null : `${top.path}/${escapePointer(top.key)}`;
      keySpot = top.keySpot;
      top.key = undefined;
    }
    const value = spot ?? keySpot;
    if (path !== null && value) out.spots.set(path, keySpot ? { key: keySpot, value } : { value });
    if (ev.type === EVENT_ID.MAPPING)
      stack.push({ kind: 'map', path, key: undefined, keySpot: undefined, seen: new Map() });
    if (ev.type === EVENT_ID.SEQUENCE) stack.push({ kind: 'seq', path, index: 0 });
  }
  return out;
}

/** Where a node's text begins, counting its anchor, tag and opening quote; -1 for an empty scalar. */
function startOf(
  ev: Exclude<Event, { type: typeof EVENT_ID.DOCUMENT | typeof EVENT_ID.POP }>,
): number {
  let own: number;
  if (ev.type === EVENT_ID.SCALAR) {
    const quoted =
      ev.style === SCALAR_STYLE.SINGLE_QUOTED || ev.style === SCALAR_STYLE.DOUBLE_QUOTED;
    own = ev.valueStart < 0 ? -1 : ev.valueStart - (quoted ? 1 : 0);
  } else own = ev.type === EVENT_ID.ALIAS ? ev.anchorStart - 1 : ev.start;
  // anchorStart points past the `&`.
  const anchor = ev.type !== EVENT_ID.ALIAS && ev.anchorStart >= 0 ? ev.anchorStart - 1 : -1;
  const tag = ev.type !== EVENT_ID.ALIAS ? ev.tagStart : -1;
  const starts = [own, anchor, tag].filter((n) => n >= 0);
  return starts.length ? Math.min(...starts) : -1;
}

function offsetToSpot(text: string): (offset: number) => Spot | undefined {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  return (offset) => {
    if (offset < 0) return undefined;
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (lineStarts[lo] ?? 0) + 1 };
  };
}

// --- small helpers ---------------------------------------------------------------------

function nameProblems(name: string, file: string): Problem[] {
  const error = nameError(name);
  return error ? [{ file, line: 0, column: 0, message: error }] : [];
}

function yamlProblem(
  file: string,
  e: unknown,
  spotOf: (offset: number) => Spot | undefined,
): Problem {
  if (e instanceof YAMLException) {
    // js-yaml counts a lone CR as a line break; every other position here
    // (and every editor's `:line`) counts LF only, so place it by offset.
    const spot = e.mark ? spotOf(e.mark.position) : undefined;
    return {
      file,
      line: spot?.line ?? 0,
      column: spot?.column ?? 0,
      message: `invalid YAML: ${e.reason}`,
    };
  }
  return { file, line: 0, column: 0, message: `invalid YAML: ${String(e)}` };
}

function isRecord(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** `/signal/stop` → `signal.stop`, `/after/1` → `after[1]`: how a person names a key. */
function label(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((acc, s) => (/^[0-9]+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return 'a list';
  if (isRecord(v)) return 'a mapping';
  return String(v);
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'null',
};

function typeNames(type: unknown): string {
  const types = String(type).split(',');
  if (types.length === 1) return TYPE_NAMES[types[0] ?? ''] ?? String(type);
  const bare = types.map((t) => (t === 'object' ? 'mapping' : t === 'array' ? 'list' : t));
  return `a ${bare.slice(0, -1).join(', ')} or ${bare.at(-1)}`;
}

function expectation(branch: Raw): string {
  if (Array.isArray(branch.enum)) return `one of ${branch.enum.map((v) => String(v)).join(', ')}`;
  return typeNames(branch.type);
}

function jsonTypeMatches(type: string, v: unknown): boolean {
  if (type === 'object') return isRecord(v);
  if (type === 'array') return Array.isArray(v);
  if (type === 'integer') return typeof v === 'number';
  if (type === 'null') return v === null;
  return typeof v === type;
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

function tooBig(size: number): string {
  return `file is ${size} bytes; a service file may be at most ${MAX_FILE_BYTES} bytes (1 MiB)`;
}

function osMessage(e: unknown): string {
  const code = isRecord(e) && typeof e.code === 'string' ? e.code : undefined;
  const what: Record<string, string> = {
    ENOENT: 'no such file or directory',
    ELOOP: 'too many levels of symbolic links (a symlink loop?)',
    EACCES: 'permission denied',
    ENOTDIR: 'not a directory',
  };
  const text = (code && what[code]) ?? (e instanceof Error ? e.message : String(e));
  return code ? `${text} (${code})` : text;
}

async function readAtMost(path: string, limit: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = new Uint8Array(limit);
    let filled = 0;
    while (filled < limit) {
      const { bytesRead } = await handle.read(buffer, filled, limit - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

function byteSpot(bytes: Uint8Array, offset: number): Spot {
  const lineStart = offset === 0 ? 0 : bytes.lastIndexOf(0x0a, offset - 1) + 1;
  const line = bytes.subarray(0, lineStart).reduce((n, x) => n + (x === 0x0a ? 1 : 0), 1);
  const column = new TextDecoder().decode(bytes.subarray(lineStart, offset)).length + 1;
  return { line, column };
}
