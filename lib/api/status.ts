// How a service reads on the wire: sminit's status record (with zinit's
// fields first, in zinit's words) and zinit's service_list map, made from
// the manager's views. The one place zinit's state strings are produced.

import type { Rlimit, ServiceDef } from '../core/definition.js';
import {
  type ExitInfo,
  type ServiceState,
  describeExit,
  reasonOf,
  zinitState,
} from '../core/state.js';
import type { ProbeView } from '../supervise/probe.js';
import type { ServiceView } from '../supervise/view.js';
import type {
  ExitWire,
  GroupUsageWire,
  LimitsWire,
  NotifyWire,
  ProbeWire,
  RestartLimitWire,
  RlimitWire,
  ScheduleWire,
  ServiceStatus,
  UserWire,
} from './wire.js';

/** A service's status record; `usage` given (null included) for service_status alone. */
export function toStatus(
  v: ServiceView,
  now = Date.now(),
  usage?: GroupUsageWire | null,
): ServiceStatus {
  const s = v.state;
  const after: Record<string, string> = {};
  const dependencies: Record<string, ServiceStatus['status'] | 'untracked'> = {};
  const conditions: Record<string, ServiceStatus['conditions'][string]> = {};
  for (const d of v.dependencies) {
    after[d.name] = d.state ? zinitState(d.state) : 'Unknown';
    dependencies[d.name] = d.state ? d.state.kind : 'untracked';
    conditions[d.name] = d.condition;
  }
  return {
    name: v.name,
    pid: v.pid,
    state: zinitState(s),
    target: v.target === 'up' ? 'Up' : 'Down',
    after,
    status: s.kind,
    reason: reasonOf(s, now, v.def.successCodes, v.def.oneshot),
    since: new Date(s.since).toISOString(),
    uptime_ms: v.upSince === null ? null : now - v.upSince,
    restarts: v.restarts,
    oneshot: v.def.oneshot,
    last_exit: v.lastExit ? exitWire(v.lastExit) : null,
    next_attempt:
      s.kind === 'backoff' || (s.kind === 'failed' && s.retryAt !== null)
        ? new Date(s.retryAt ?? now).toISOString()
        : null,
    dependencies,
    conditions,
    file: v.def.file,
    ready: readyOf(s, v.def.oneshot),
    probes: v.watching.probes.map(probeWire),
    notify: notifyWire(v),
    restart_limit: limitWire(v),
    schedule: scheduleWire(v, s),
    recovered: v.recovered && {
      ended: v.recovered.ended,
      stuck: v.recovered.stuck,
      daemons: [...v.recovered.daemons],
      at: new Date(v.recovered.at).toISOString(),
    },
    user: userWire(v.def),
    cgroup: v.cgroup,
    limits: limitsWire(v.def),
    ...(usage !== undefined ? { usage } : {}),
  };
}

function userWire(def: ServiceDef): UserWire | null {
  const u = def.user;
  if (u === null) return null;
  return { user: u.user, uid: u.uid, group: u.group, gid: u.gid, groups: u.groups };
}

/** The limits the file sets, as sminit applies them. */
export function limitsWire(def: ServiceDef): LimitsWire {
  const { umask, nice, oomScoreAdj, rlimits, limits } = def.sandbox;
  const one = (n: number | null): number | 'unlimited' => n ?? 'unlimited';
  const rl: Record<string, RlimitWire> = {};
  for (const [name, l] of Object.entries(rlimits) as [string, Rlimit][]) {
    rl[name] = { soft: one(l.soft), hard: one(l.hard) };
  }
  const cpu = limits.cpuMax;
  return {
    umask: umask === null ? null : umask.toString(8).padStart(4, '0'),
    nice,
    oom_score_adj: oomScoreAdj,
    rlimits: rl,
    memory_max: limits.memoryMax,
    memory_high: limits.memoryHigh,
    pids_max: limits.pidsMax,
    cpu_max: cpu === null ? null : `${Math.round((cpu.quotaUs / cpu.periodUs) * 10000) / 100}%`,
    cpu_weight: limits.cpuWeight,
  };
}

function readyOf(s: ServiceState, oneshot: boolean): boolean | null {
  if (oneshot) return null;
  if (s.kind === 'running') return s.unready === undefined;
  return s.kind === 'starting' ? false : null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function probeWire(p: ProbeView): ProbeWire {
  const last = p.tally.last;
  return {
    role: p.role,
    kind: p.kind,
    target: p.target,
    passing: p.tally.passing,
    last: last && { ok: last.ok, reason: last.reason, at: new Date(last.at).toISOString() },
    failures: p.tally.failures,
    successes: p.tally.successes,
    next_run: iso(p.nextAt),
  };
}

function notifyWire(v: ServiceView): NotifyWire | null {
  const mode = v.def.notify;
  if (mode === null) return null;
  const n = v.watching.notify;
  return {
    mode: mode.kind,
    fd: mode.kind === 'fd' ? mode.fd : null,
    socket: n?.socket ?? null,
    status: n?.status ?? null,
    main_pid: n?.mainPid ?? null,
    reloading: n?.reloading ?? false,
    stopping: n?.stopping ?? false,
    watchdog_ms: v.def.watchdogMs,
    watchdog_deadline: iso(v.watching.watchdogDeadline),
  };
}

function limitWire(v: ServiceView): RestartLimitWire | null {
  const l = v.def.restartLimit;
  return (
    l && {
      count: l.count,
      window_ms: l.windowMs,
      restarts_in_window: v.restartsInWindow,
      cooldown_ms: v.def.restartCooldownMs,
    }
  );
}

function scheduleWire(v: ServiceView, s: ServiceState): ScheduleWire | null {
  const sch = v.def.schedule;
  return (
    sch && {
      cron: sch.cron,
      timezone: sch.timezone,
      next_run: iso(v.nextRun),
      last_run_succeeded: s.kind === 'scheduled' ? s.succeeded : null,
    }
  );
}

/** zinit's service_list: every service and its zinit state string. */
export function zinitList(views: readonly ServiceView[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of views) out[v.name] = zinitState(v.state);
  return out;
}

function exitWire(e: ExitInfo): ExitWire {
  return {
    pid: e.pid,
    code: e.code,
    signal: e.signal,
    at: new Date(e.at).toISOString(),
    description: describeExit(e),
    oom_kill: e.oom !== undefined,
  };
}
