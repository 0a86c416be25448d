// A service file's object, already checked against the schema, turned into
// a ServiceDef: the checks the schema cannot state (aliases, shell words,
// signal names, durations, the name rule for dependencies) and the defaults.
// Pure; it places every problem through the Report and reads no file.

import { parseDuration, parseSize } from '../core/duration.js';
import type { LogMode, RestartPolicy, ServiceDef } from '../core/definition.js';
import { isRecord } from '../core/jsontype.js';
import { split } from '../core/shellwords.js';
import { type SignalName, signalByName } from '../core/signals.js';
import type { Host } from '../core/host.js';
import { lifecycleOf } from './lifecycle.js';
import { escapePointer } from './positions.js';
import type { Report } from './report.js';
import { envFilesOf, runAsOf, sandboxOf } from './sandbox.js';

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

type Raw = Record<string, unknown>;
type Durations = Record<(typeof DURATION_KEYS)[keyof typeof DURATION_KEYS], number>;

/** The object being normalised and where its problems go. */
interface Input {
  readonly name: string;
  readonly raw: Raw;
  readonly report: Report;
}

const has = (input: Input, key: string): boolean => Object.hasOwn(input.raw, key);
const clean = (input: Input, key: string): boolean =>
  has(input, key) && input.report.clean(`/${key}`);

function refuseNul(input: Input, pointer: string, v: unknown): void {
  if (typeof v === 'string' && v.includes('\0'))
    input.report.add(pointer, 'must not contain a NUL character');
}

/** The checks the schema cannot state, and the defaults; null when something is wrong. */
export function normalise(
  name: string,
  file: string,
  raw: Raw,
  report: Report,
  host: Host | null = null,
): ServiceDef | null {
  const input: Input = { name, raw, report };
  const boxed = { raw, report, host };
  aliasProblems(input);
  const exec = command(input, ALIASES[0]);
  const test = command(input, ALIASES[1]);
  const oneshot = raw.oneshot === true;
  if (oneshot) noHealthTest(input);
  const def = {
    restart: restartOf(input, oneshot),
    ...lifecycleOf({ ...input, oneshot }),
    stopSignal: stopSignalOf(input),
    log: logOf(input),
    env: envOf(input),
    envFiles: envFilesOf(boxed),
    user: runAsOf(boxed),
    sandbox: sandboxOf(boxed),
    dir: dirOf(input),
    ...durationsOf(input),
  };
  if (!exec || report.problems.length > 0) return null;
  return { name, file, exec, test, oneshot, ...def };
}

function aliasProblems(input: Input): void {
  const { report } = input;
  for (const [main, alias] of ALIASES) {
    if (!has(input, main) || !has(input, alias)) continue;
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
  if (!has(input, 'exec') && !has(input, 'cmd')) report.add('', "missing required key 'exec'");
}

/** `exec` or `test` (whichever spelling is given) split into argv. */
function command(input: Input, keys: readonly [string, string]): string[] | null {
  const key = keys.find((k) => has(input, k));
  const v = key === undefined ? undefined : input.raw[key];
  if (key === undefined || typeof v !== 'string' || !input.report.clean(`/${key}`)) return null;
  const words = split(v);
  const at = `/${key}`;
  if (v.trim() === '') input.report.add(at, 'must not be empty or only whitespace');
  else if (!words.ok) input.report.add(at, words.error);
  else if (words.argv[0] === '') input.report.add(at, 'the program name is empty');
  else refuseNul(input, at, v);
  return words.ok ? words.argv : null;
}

/** A oneshot is done when it exits 0: a health test would never run. */
function noHealthTest(input: Input): void {
  for (const key of ALIASES[1]) {
    if (has(input, key))
      input.report.add(
        `/${key}`,
        `oneshot services have no health test (one is done when it exits 0); remove '${key}'`,
      );
  }
}

function restartOf(input: Input, oneshot: boolean): RestartPolicy {
  const v = input.raw.restart;
  if (!clean(input, 'restart') || !isRestartPolicy(v)) return oneshot ? 'never' : DEFAULTS.restart;
  if (oneshot && v !== 'never') {
    input.report.add(
      '/restart',
      "oneshot services never restart; remove 'restart' or set it to never",
    );
  }
  return v;
}

function isRestartPolicy(v: unknown): v is RestartPolicy {
  return v === 'always' || v === 'on-failure' || v === 'never';
}

function stopSignalOf(input: Input): SignalName {
  const stop = isRecord(input.raw.signal) ? input.raw.signal.stop : undefined;
  if (typeof stop !== 'string' || !input.report.clean('/signal/stop')) return DEFAULTS.stopSignal;
  const signal = signalByName(stop);
  if (signal) return signal;
  input.report.add(
    '/signal/stop',
    `unknown signal '${stop}'; signal names are like TERM, SIGTERM or term`,
  );
  return DEFAULTS.stopSignal;
}

function logOf(input: Input): LogMode {
  const log = input.raw.log;
  if (log === null || log === 'none') return { kind: 'none' };
  if (log === 'stdout') return { kind: 'stdout' };
  if (!isRecord(log) || typeof log.file !== 'string') return { kind: 'ring' };
  refuseNul(input, '/log/file', log.file);
  let maxSize: number = DEFAULTS.logMaxSize;
  if (log.max_size !== undefined && input.report.clean('/log/max_size')) {
    const size = parseSize(log.max_size);
    if (typeof size === 'string') input.report.add('/log/max_size', size);
    else maxSize = size;
  }
  const keep = typeof log.keep === 'number' ? log.keep : DEFAULTS.logKeep;
  return { kind: 'file', path: log.file, maxSize, keep };
}

function envOf(input: Input): Record<string, string> {
  const env: Record<string, string> = {};
  if (!isRecord(input.raw.env)) return env;
  for (const [k, v] of Object.entries(input.raw.env)) {
    const pointer = `/env/${escapePointer(k)}`;
    if (k.includes('\0'))
      input.report.add(pointer, 'must not contain a NUL character', pointer, true);
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      env[k] = String(v);
    refuseNul(input, pointer, v);
  }
  return env;
}

function dirOf(input: Input): string {
  refuseNul(input, '/dir', input.raw.dir);
  return typeof input.raw.dir === 'string' ? input.raw.dir : DEFAULTS.dir;
}

/** Durations that must be more than 0. */
const POSITIVE_DURATIONS = new Set([
  'test_interval',
  'test_timeout',
  'restart_delay',
  'stable_after',
]);

function durationsOf(input: Input): Durations {
  const ms: Durations = {
    shutdownTimeoutMs: DEFAULTS.shutdownTimeoutMs,
    testIntervalMs: DEFAULTS.testIntervalMs,
    testTimeoutMs: DEFAULTS.testTimeoutMs,
    restartDelayMs: DEFAULTS.restartDelayMs,
    restartMaxDelayMs: DEFAULTS.restartMaxDelayMs,
    stableAfterMs: DEFAULTS.stableAfterMs,
  };
  for (const [key, field] of Object.entries(DURATION_KEYS)) {
    if (!clean(input, key)) continue;
    // A zero delay would restart a crashing service in a loop; zero intervals spin too.
    const positive = POSITIVE_DURATIONS.has(key);
    const parsed = parseDuration(input.raw[key], positive);
    if (typeof parsed === 'string') input.report.add(`/${key}`, parsed);
    else ms[field] = parsed;
  }
  delayBounds(input, ms);
  return ms;
}

/** The backoff's cap follows a long first delay unless given; a given cap must not be below it. */
function delayBounds(input: Input, ms: Durations): void {
  if (!has(input, 'restart_max_delay')) {
    ms.restartMaxDelayMs = Math.max(ms.restartMaxDelayMs, ms.restartDelayMs);
    return;
  }
  if (
    ms.restartMaxDelayMs < ms.restartDelayMs &&
    clean(input, 'restart_max_delay') &&
    clean(input, 'restart_delay')
  ) {
    input.report.add(
      '/restart_max_delay',
      `must be at least restart_delay (${String(input.raw.restart_delay)})`,
    );
  }
}
