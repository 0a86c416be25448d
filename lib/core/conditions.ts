// Dependency conditions as data: whether a dependency's state meets what a
// dependant waits for (`started`, `ready`, `succeeded`, `completed`, or the
// list form's `up`), and, when it can never be met as things stand, why, in
// the words a blocked dependant shows (`migrate failed (exit 1)`). Pure.

import type { DependencyCondition, ServiceDef } from './definition.js';
import { type ServiceState, exitSucceeded, shortExit } from './state.js';

/** A dependency as the judge sees it: null def and state when it is not tracked. */
export interface Dependency {
  readonly name: string;
  readonly def: Pick<ServiceDef, 'oneshot' | 'successCodes'> | null;
  readonly state: ServiceState | null;
}

/**
 * met: the dependant may start. Otherwise `never` says why it cannot start
 * unless something changes (a request, a file), and `note` adds why it still
 * waits (it may come).
 */
export type Verdict =
  | { readonly met: true }
  | { readonly met: false; readonly never: string | null; readonly note: string | null };

const MET: Verdict = { met: true };
const wait = (note: string | null = null): Verdict => ({ met: false, never: null, note });
const never = (why: string): Verdict => ({ met: false, never: why, note: null });

/** The condition `up` means for this dependency: succeeded for a oneshot, ready otherwise. */
export function effectiveCondition(
  cond: DependencyCondition,
  dep: Dependency,
): Exclude<DependencyCondition, 'up'> {
  if (cond !== 'up') return cond;
  return dep.def?.oneshot === true ? 'succeeded' : 'ready';
}

export function judge(cond: DependencyCondition, dep: Dependency): Verdict {
  const s = dep.state;
  if (s === null || dep.def === null) return wait();
  const c = effectiveCondition(cond, dep);
  // Whatever it waits for, a dependency that cannot run at all will not give it.
  if (s.kind === 'failed') {
    if (s.retryAt !== null) return wait(`${s.error}; trying again at ${iso(s.retryAt)}`);
    return never(
      s.error.startsWith('gave up')
        ? `${dep.name} ${s.error}`
        : `${dep.name} could not start: ${s.error}`,
    );
  }
  if (c === 'started') return started(s);
  if (c === 'ready') return dep.def.oneshot ? started(s) : ready(dep.name, s);
  return ended(dep, s, c === 'succeeded');
}

function started(s: ServiceState): Verdict {
  switch (s.kind) {
    case 'starting':
    case 'running':
    case 'success':
    case 'exited':
      return MET;
    case 'backoff':
      return s.lastExit !== null ? MET : wait();
    case 'scheduled':
      return s.lastExit !== null
        ? MET
        : wait(s.nextRun === null ? null : `first run at ${iso(s.nextRun)}`);
    default:
      return wait();
  }
}

function ready(name: string, s: ServiceState): Verdict {
  if (s.kind === 'running') return s.unready === undefined ? MET : wait(`not ready: ${s.unready}`);
  if (s.kind === 'exited')
    return never(`${name} exited (${shortExit(s.lastExit)}) and does not restart`);
  return wait();
}

/** succeeded (`success` true) or completed: the dependency ran and exited. */
function ended(dep: Dependency, s: ServiceState, success: boolean): Verdict {
  const codes = dep.def?.successCodes;
  switch (s.kind) {
    case 'success':
      return MET;
    case 'exited':
      if (!success || exitSucceeded(s.lastExit, codes)) return MET;
      return never(`${dep.name} failed (${shortExit(s.lastExit)})`);
    case 'scheduled': {
      if (s.lastExit === null)
        return wait(s.nextRun === null ? null : `first run at ${iso(s.nextRun)}`);
      if (!success || s.succeeded === true) return MET;
      const next = s.nextRun === null ? '' : `; next run at ${iso(s.nextRun)}`;
      return wait(`last run failed (${shortExit(s.lastExit)})${next}`);
    }
    default:
      return wait();
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
