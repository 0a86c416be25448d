// The service state machine's vocabulary and its pure decisions: the states a
// worker can be in, what happens after an exit, how long to back off, and how
// a state reads to old zinit clients. No timers, no processes: service.ts
// applies these decisions.

import type { RestartPolicy, ServiceDef } from './definition.js';

/** How a process ended. `at` is epoch ms. */
export interface ExitInfo {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: number;
  /** Set when the kernel's OOM killer ended it: which limit was reached. */
  readonly oom?: string;
}

/** Every state carries `since` (epoch ms): when it was entered. */
export type ServiceState =
  /** Target down and nothing running; `lastExit` is how the last run ended. */
  | { readonly kind: 'stopped'; readonly since: number; readonly lastExit: ExitInfo | null }
  /** Target up, waiting for dependencies to be up. */
  | { readonly kind: 'blocked'; readonly since: number; readonly waitingFor: readonly string[] }
  /** Process spawned; its health test has not passed yet (or a oneshot is running). */
  | {
      readonly kind: 'starting';
      readonly since: number;
      readonly pid: number;
      readonly testFailures: number;
      readonly lastTestError: string | null;
    }
  /** Up and healthy. */
  | { readonly kind: 'running'; readonly since: number; readonly pid: number }
  /** A oneshot that exited 0. */
  | { readonly kind: 'success'; readonly since: number; readonly lastExit: ExitInfo }
  /** Ended and not to be restarted (restart policy, or a failed oneshot). */
  | { readonly kind: 'exited'; readonly since: number; readonly lastExit: ExitInfo }
  /** Ended; the next attempt is due at `retryAt`. */
  | {
      readonly kind: 'backoff';
      readonly since: number;
      readonly retryAt: number;
      readonly lastExit: ExitInfo | null;
      readonly error: string | null;
    }
  /** Stop signal sent; SIGKILL follows at `killAt`. */
  | {
      readonly kind: 'stopping';
      readonly since: number;
      readonly pid: number;
      readonly killAt: number;
    }
  /** Could not be spawned: the OS error. `retryAt` is null when no retry is scheduled. */
  | {
      readonly kind: 'failed';
      readonly since: number;
      readonly error: string;
      readonly retryAt: number | null;
    };

export type StateKind = ServiceState['kind'];
export const STATE_KINDS: readonly StateKind[] = [
  'stopped',
  'blocked',
  'starting',
  'running',
  'success',
  'exited',
  'backoff',
  'stopping',
  'failed',
];

/** A dependency counts as up when it is running (healthy) or a oneshot that succeeded. */
export function isUp(state: ServiceState): boolean {
  return state.kind === 'running' || state.kind === 'success';
}

/** Whether a process of the service may exist in this state. */
export function hasProcess(state: ServiceState): boolean {
  return state.kind === 'starting' || state.kind === 'running' || state.kind === 'stopping';
}

/**
 * Whether a client waiting for a service to come up can be answered: it is
 * up, or it will not come up without something else happening (it exited,
 * failed to spawn, was stopped, crashed into a backoff, waits for a
 * dependency). On its way (spawned and not yet healthy, stopping), it is
 * waited for.
 */
export function isSettled(state: ServiceState): boolean {
  return state.kind !== 'starting' && state.kind !== 'stopping';
}

export function exitFailed(exit: ExitInfo): boolean {
  return exit.code !== 0;
}

export function shouldRestart(policy: RestartPolicy, exit: ExitInfo): boolean {
  if (policy === 'always') return true;
  if (policy === 'on-failure') return exitFailed(exit);
  return false;
}

/**
 * A run shorter than this never counts as stable, whatever `stable_after`
 * says, and a restart after it waits at least MIN_RESTART_DELAY_MS: no
 * service file can make the daemon restart a crashing service in a loop.
 */
export const MIN_STABLE_MS = 1000;
export const MIN_RESTART_DELAY_MS = 100;

/**
 * The delay before the next restart: `backoff`'s, with the floor no file can
 * lower (a run up less than MIN_STABLE_MS waits at least MIN_RESTART_DELAY_MS).
 */
export function restartDelay(
  def: Pick<ServiceDef, 'restartDelayMs' | 'restartMaxDelayMs' | 'stableAfterMs'>,
  attempt: number,
  uptimeMs: number,
): { delayMs: number; nextAttempt: number } {
  const floored = { ...def, stableAfterMs: Math.max(def.stableAfterMs, MIN_STABLE_MS) };
  const b = backoff(floored, attempt, uptimeMs);
  if (uptimeMs >= floored.stableAfterMs) return b;
  return { delayMs: Math.max(b.delayMs, MIN_RESTART_DELAY_MS), nextAttempt: b.nextAttempt };
}

/**
 * The delay before attempt number `attempt` (0 for the first restart after a
 * start), and the attempt number to use next time. A run that stayed up past
 * `stableAfterMs` resets the backoff and restarts at once.
 */
export function backoff(
  def: Pick<ServiceDef, 'restartDelayMs' | 'restartMaxDelayMs' | 'stableAfterMs'>,
  attempt: number,
  uptimeMs: number,
): { delayMs: number; nextAttempt: number } {
  if (uptimeMs >= def.stableAfterMs) return { delayMs: 0, nextAttempt: 0 };
  const delay = def.restartDelayMs * 2 ** Math.min(attempt, 30);
  return { delayMs: Math.min(delay, def.restartMaxDelayMs), nextAttempt: attempt + 1 };
}

export function describeExit(exit: ExitInfo): string {
  if (exit.oom !== undefined) return `killed by the OOM killer: ${exit.oom}`;
  return exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** zinit's Debug rendering of a wait status, e.g. `Exited(Pid(12), 1)`. */
function zinitWait(exit: ExitInfo): string {
  return exit.signal !== null
    ? `Signaled(Pid(${exit.pid}), ${exit.signal}, false)`
    : `Exited(Pid(${exit.pid}), ${exit.code ?? 0})`;
}

/** The state string zinit clients match on (`Running`, `Blocked`, `Error(...)`, …). */
export function zinitState(state: ServiceState): string {
  switch (state.kind) {
    case 'blocked':
      return 'Blocked';
    case 'starting':
      return state.testFailures > 0 ? 'TestFailure' : 'Spawned';
    case 'running':
    case 'stopping':
      return 'Running';
    case 'success':
      return 'Success';
    case 'exited':
      return `Error(${zinitWait(state.lastExit)})`;
    case 'backoff':
      return state.lastExit ? `Error(${zinitWait(state.lastExit)})` : 'Failure';
    case 'stopped':
      return state.lastExit ? `Error(${zinitWait(state.lastExit)})` : 'Unknown';
    case 'failed':
      return 'Failure';
  }
}

/** One line a person reads: why the service is in this state. */
export function reasonOf(state: ServiceState, now: number): string {
  switch (state.kind) {
    case 'stopped':
      return state.lastExit ? `stopped (${describeExit(state.lastExit)})` : 'not started';
    case 'blocked':
      return `waiting for ${state.waitingFor.join(', ')}`;
    case 'starting':
      return state.lastTestError
        ? `health test failing (${state.testFailures}x): ${state.lastTestError}`
        : 'started, health test pending';
    case 'running':
      return 'up';
    case 'success':
      return 'completed';
    case 'exited':
      return describeExit(state.lastExit);
    case 'backoff': {
      const why = state.error ?? (state.lastExit ? describeExit(state.lastExit) : 'failed');
      return `${why}; restarting in ${Math.max(0, state.retryAt - now)} ms`;
    }
    case 'stopping':
      return `stopping (SIGKILL in ${Math.max(0, state.killAt - now)} ms)`;
    case 'failed':
      return state.retryAt === null
        ? state.error
        : `${state.error}; retrying in ${Math.max(0, state.retryAt - now)} ms`;
  }
}
