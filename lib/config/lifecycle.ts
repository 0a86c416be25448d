// The lifecycle keys of a service file, already shaped by the schema, turned
// into their ServiceDef fields: probes, notify, ready_log, dependency
// conditions, the restart limit, success exit codes, schedules. The checks
// the schema cannot state (one kind per probe, URLs, ports, cron, which keys
// go together) are placed through the Report. Pure; reads no file.

import type {
  DependencyCondition,
  NotifyMode,
  Probe,
  ProbeCheck,
  RestartLimit,
  Schedule,
  ServiceDef,
  SuccessCodes,
} from '../core/definition.js';
import { parseDuration } from '../core/duration.js';
import { isRecord } from '../core/jsontype.js';
import { isTemplateName, substitute } from '../core/instances.js';
import { nameError } from '../core/names.js';
import { split } from '../core/shellwords.js';
import { type SignalName, signalByName } from '../core/signals.js';
import { escapePointer } from './positions.js';
import type { Report } from './report.js';
import { scheduleProblem } from './schedule.js';

export type Lifecycle = Pick<
  ServiceDef,
  | 'after'
  | 'conditions'
  | 'readiness'
  | 'liveness'
  | 'notify'
  | 'watchdogMs'
  | 'readyLog'
  | 'restartLimit'
  | 'restartCooldownMs'
  | 'successCodes'
  | 'schedule'
>;

/** The service file's object and where its problems go. */
export interface LifecycleInput {
  readonly name: string;
  readonly raw: Record<string, unknown>;
  readonly report: Report;
  readonly oneshot: boolean;
}

const PROBE_KINDS = ['exec', 'http', 'tcp'] as const;
const PROBE_DEFAULTS = {
  readiness: { periodMs: 1000, timeoutMs: 1000 },
  liveness: { periodMs: 10_000, timeoutMs: 1000 },
} as const;
/** The ways a service can say it is ready; a file gives at most one. */
const READINESS_KEYS = ['test', 'healthcheck', 'readiness', 'notify', 'ready_log'] as const;
/** Keys that mean nothing for a oneshot, which is done when it exits. */
const LONG_RUNNING_KEYS = ['readiness', 'liveness', 'notify', 'watchdog', 'ready_log'] as const;

const has = (input: LifecycleInput, key: string): boolean => Object.hasOwn(input.raw, key);
const clean = (input: LifecycleInput, key: string): boolean =>
  has(input, key) && input.report.clean(`/${key}`);

export function lifecycleOf(input: LifecycleInput): Lifecycle {
  keyCombinations(input);
  const { after, conditions } = afterOf(input);
  const notify = notifyOf(input);
  return {
    after,
    conditions,
    readiness: probeOf(input, 'readiness'),
    liveness: probeOf(input, 'liveness'),
    notify,
    watchdogMs: watchdogOf(input, notify),
    readyLog: readyLogOf(input),
    restartLimit: restartLimitOf(input),
    restartCooldownMs: cooldownOf(input),
    successCodes: successCodesOf(input),
    schedule: scheduleOf(input),
  };
}

/** Keys that exclude or need each other. */
function keyCombinations(input: LifecycleInput): void {
  const { report } = input;
  // test and healthcheck are one key (normalise.ts says so when both are given).
  const ways = READINESS_KEYS.filter(
    (k) => has(input, k) && !(k === 'healthcheck' && has(input, 'test')),
  );
  const [first, ...rest] = ways;
  for (const k of rest)
    report.add(
      `/${k}`,
      `both '${first}' and '${k}' say when the service is ready; keep one of test, readiness, notify or ready_log`,
      `/${k}`,
      true,
    );
  if (input.oneshot) {
    for (const k of LONG_RUNNING_KEYS)
      if (has(input, k))
        report.add(`/${k}`, `a oneshot is done when it exits; it takes no '${k}'`, `/${k}`, true);
  } else if (has(input, 'schedule')) {
    report.add(
      '/schedule',
      'only a oneshot runs on a schedule; add oneshot: true',
      '/schedule',
      true,
    );
  }
  if (has(input, 'schedule_timezone') && !has(input, 'schedule'))
    report.add('/schedule_timezone', 'needs a schedule', '/schedule_timezone', true);
  if (has(input, 'restart_cooldown') && !has(input, 'restart_limit'))
    report.add(
      '/restart_cooldown',
      'needs restart_limit (it is the wait after giving up)',
      '/restart_cooldown',
      true,
    );
}

/** `after` as a list (each `up`) or a mapping of names to conditions. */
function afterOf(input: LifecycleInput): Pick<Lifecycle, 'after' | 'conditions'> {
  const list = input.raw.after;
  const entries: [string, DependencyCondition, string][] = Array.isArray(list)
    ? list.map((d: unknown, i) => [typeof d === 'string' ? d : '', 'up', `/after/${i}`])
    : isRecord(list)
      ? Object.entries(list).map(([k, v]) => [
          k,
          typeof v === 'string' ? (v as DependencyCondition) : 'up',
          `/after/${escapePointer(k)}`,
        ])
      : [];
  const after: string[] = [];
  const conditions: Record<string, DependencyCondition> = {};
  // A template's or replicated file's `after` may name `${instance}`; each
  // instance's list is checked again once it is substituted.
  const instanced = isTemplateName(input.name) || has(input, 'replicas');
  for (const [dep, cond, at] of entries) {
    if (!input.report.clean(at)) continue;
    // A list item's problem sits on the item; a mapping's on its key.
    const onKey = !Array.isArray(list);
    const invalid = nameError(instanced ? substitute(dep, 'x') : dep);
    if (invalid) input.report.add(at, invalid, at, onKey);
    else if (dep === input.name)
      input.report.add(at, `'${input.name}' cannot come after itself`, at, onKey);
    else if (after.includes(dep))
      input.report.add(
        at,
        `'${dep}' is listed twice (first as after[${Array.isArray(list) ? list.indexOf(dep) : after.indexOf(dep)}])`,
      );
    else {
      after.push(dep);
      conditions[dep] = cond;
    }
  }
  return { after, conditions };
}

function probeOf(input: LifecycleInput, key: 'readiness' | 'liveness'): Probe | null {
  const raw = input.raw[key];
  if (!isRecord(raw) || !clean(input, key)) return null;
  const at = `/${key}`;
  const kinds = PROBE_KINDS.filter((k) => Object.hasOwn(raw, k));
  if (kinds.length === 0) {
    input.report.add(at, 'a probe needs one of exec, http or tcp');
    return null;
  }
  if (kinds.length > 1) {
    input.report.add(
      at,
      `a probe has one kind; '${kinds[0]}' and '${kinds[1]}' are both given`,
      `${at}/${kinds[1]}`,
      true,
    );
    return null;
  }
  const check = checkOf(input, at, kinds[0] ?? 'exec', raw);
  if (raw.status !== undefined && kinds[0] !== 'http')
    input.report.add(`${at}/status`, 'applies to http probes only', `${at}/status`, true);
  const d = PROBE_DEFAULTS[key];
  const ms = (k: string, fallback: number, positive: boolean): number => {
    if (raw[k] === undefined) return fallback;
    const v = parseDuration(raw[k], positive);
    if (typeof v === 'string') input.report.add(`${at}/${k}`, v);
    return typeof v === 'number' ? v : fallback;
  };
  const probe: Probe | null = check && {
    check,
    periodMs: ms('period', d.periodMs, true),
    timeoutMs: ms('timeout', d.timeoutMs, true),
    initialDelayMs: ms('initial_delay', 0, false),
    successThreshold: typeof raw.success_threshold === 'number' ? raw.success_threshold : 1,
    failureThreshold: typeof raw.failure_threshold === 'number' ? raw.failure_threshold : 3,
  };
  return probe;
}

function checkOf(
  input: LifecycleInput,
  at: string,
  kind: (typeof PROBE_KINDS)[number],
  raw: Record<string, unknown>,
): ProbeCheck | null {
  const v = raw[kind];
  const where = `${at}/${kind}`;
  if (typeof v !== 'string' || !input.report.clean(where)) return null;
  const fail = (message: string): null => (input.report.add(where, message), null);
  if (v.includes('\0')) return fail('must not contain a NUL character');
  if (kind === 'exec') {
    const words = split(v);
    if (v.trim() === '') return fail('must not be empty or only whitespace');
    if (!words.ok) return fail(words.error);
    return { kind, argv: words.argv };
  }
  if (kind === 'http') {
    let url: URL | null = null;
    try {
      url = new URL(v);
    } catch {
      // reported below
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      return fail(`expected an http:// or https:// URL, got '${v}'`);
    const statuses = Array.isArray(raw.status) ? raw.status.filter(isNumber) : null;
    return { kind, url: url.href, statuses };
  }
  return tcpOf(v, fail);
}

function tcpOf(v: string, fail: (m: string) => null): ProbeCheck | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]+)$/.exec(v.trim());
  if (!m) return fail(`expected HOST:PORT (such as 127.0.0.1:5432 or [::1]:80), got '${v}'`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return fail(`port ${m[3]} is out of range (1 to 65535)`);
  return { kind: 'tcp', host: m[1] ?? m[2] ?? '', port };
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number';
}

function notifyOf(input: LifecycleInput): NotifyMode | null {
  const v = input.raw.notify;
  if (typeof v !== 'string' || !clean(input, 'notify')) return null;
  if (v === 'systemd') return { kind: 'systemd' };
  const m = /^fd:([0-9]+)$/.exec(v);
  const fd = m ? Number(m[1]) : NaN;
  if (m && fd >= 3 && fd <= 1023) return { kind: 'fd', fd };
  input.report.add(
    '/notify',
    m
      ? `fd:${m[1]}: the descriptor must be 3 to 1023 (0, 1 and 2 are stdin, stdout and stderr)`
      : `expected systemd or fd:N (N from 3), got '${v}'`,
  );
  return null;
}

function watchdogOf(input: LifecycleInput, notify: NotifyMode | null): number | null {
  if (!clean(input, 'watchdog')) return null;
  if (notify?.kind !== 'systemd') {
    if (input.report.clean('/notify'))
      input.report.add('/watchdog', 'needs notify: systemd (WATCHDOG=1 comes that way)');
    return null;
  }
  return positiveDuration(input, 'watchdog');
}

function positiveDuration(input: LifecycleInput, key: string): number | null {
  const v = parseDuration(input.raw[key], true);
  if (typeof v === 'string') {
    input.report.add(`/${key}`, v);
    return null;
  }
  return v;
}

function readyLogOf(input: LifecycleInput): string | null {
  const v = input.raw.ready_log;
  if (typeof v !== 'string' || !clean(input, 'ready_log')) return null;
  try {
    new RegExp(v);
  } catch (err) {
    input.report.add(
      '/ready_log',
      `invalid regular expression: ${err instanceof Error ? err.message : String(err)}`,
    );
    return null;
  }
  return v;
}

function restartLimitOf(input: LifecycleInput): RestartLimit | null {
  const v = input.raw.restart_limit;
  if (!isRecord(v) || !clean(input, 'restart_limit') || typeof v.count !== 'number') return null;
  const windowMs = parseDuration(v.window, true);
  if (typeof windowMs === 'string') {
    input.report.add('/restart_limit/window', windowMs);
    return null;
  }
  return { count: v.count, windowMs };
}

function cooldownOf(input: LifecycleInput): number | null {
  return clean(input, 'restart_cooldown') ? positiveDuration(input, 'restart_cooldown') : null;
}

function successCodesOf(input: LifecycleInput): SuccessCodes {
  const list = input.raw.success_exit_codes;
  const codes = [0];
  const signals: SignalName[] = [];
  if (!Array.isArray(list)) return { codes, signals };
  list.forEach((v: unknown, i) => {
    const at = `/success_exit_codes/${i}`;
    if (!input.report.clean(at)) return;
    if (typeof v === 'number') {
      if (!codes.includes(v)) codes.push(v);
      return;
    }
    const sig = typeof v === 'string' ? signalByName(v) : null;
    if (sig === null)
      input.report.add(at, `unknown signal '${String(v)}'; give an exit code or a signal name`);
    else if (!signals.includes(sig)) signals.push(sig);
  });
  return { codes, signals };
}

function scheduleOf(input: LifecycleInput): Schedule | null {
  const cron = input.raw.schedule;
  if (typeof cron !== 'string' || !clean(input, 'schedule') || !input.oneshot) return null;
  const tz = input.raw.schedule_timezone;
  const timezone = typeof tz === 'string' && clean(input, 'schedule_timezone') ? tz : null;
  const problem = scheduleProblem(cron, timezone);
  if (problem === null) return { cron, timezone };
  const zone = problem.startsWith('unknown time zone');
  input.report.add(zone ? '/schedule_timezone' : '/schedule', problem);
  return null;
}
