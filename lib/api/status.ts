// How a service reads on the wire: sminit's status record (with zinit's
// fields first, in zinit's words) and zinit's service_list map, made from
// the manager's views. The one place zinit's state strings are produced.

import { type ExitInfo, reasonOf, zinitState } from '../core/state.js';
import type { ServiceView } from '../supervise/view.js';
import type { ExitWire, ServiceStatus } from './wire.js';

export function toStatus(v: ServiceView, now = Date.now()): ServiceStatus {
  const s = v.state;
  const after: Record<string, string> = {};
  const dependencies: Record<string, ServiceStatus['status'] | 'untracked'> = {};
  for (const d of v.dependencies) {
    after[d.name] = d.state ? zinitState(d.state) : 'Unknown';
    dependencies[d.name] = d.state ? d.state.kind : 'untracked';
  }
  return {
    name: v.name,
    pid: v.pid,
    state: zinitState(s),
    target: v.target === 'up' ? 'Up' : 'Down',
    after,
    status: s.kind,
    reason: reasonOf(s, now, v.def.oneshot),
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
    file: v.def.file,
  };
}

/** zinit's service_list: every service and its zinit state string. */
export function zinitList(views: readonly ServiceView[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of views) out[v.name] = zinitState(v.state);
  return out;
}

function exitWire(e: ExitInfo): ExitWire {
  return { pid: e.pid, code: e.code, signal: e.signal, at: new Date(e.at).toISOString() };
}
