// The service state machine's vocabulary and its pure decisions: the states a
// worker can be in, what happens after an exit, how long to back off, and how
// a state reads to old zinit clients. No timers, no processes: the worker
// (supervise/worker.ts) applies these decisions.

import type { RestartPolicy, ServiceDef, SuccessCodes } from './definition.js';
import { formatDuration } from './duration.js';

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
  /**
   * Target up, waiting for dependencies: `waitingFor` may still come,
   * `cannot` never will unless something changes (each says why).
   */
  | {
      readonly kind: 'blocked';
      readonly since: number;
      readonly waitingFor: readonly string[];
      readonly cannot?: readonly string[];
    }
  /** Process spawned; it is not ready yet (or a oneshot is running). */
  | {
      readonly kind: 'starting';
      readonly since: number;
      readonly pid: number;
      /** Failures of the readiness check so far (zinit's test, or a readiness probe). */
      readonly testFailures: number;
      readonly lastTestError: string | null;
      /** What readiness it waits for, when not zinit's test: `READY=1`, `the readiness probe`… */
      readonly awaiting?: string;
    }
  /** Up and ready; with `unready`, running but its readiness probe fails (and why). */
  | {
      readonly kind: 'running';
      readonly since: number;
      readonly pid: number;
      readonly unready?: string;
    }
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
  /**
   * Could not be spawned (the OS error), or given up on after too many
   * restarts. `retryAt` is null when no retry is scheduled.
   */
  | {
      readonly kind: 'failed';
      readonly since: number;
      readonly error: string;
      readonly retryAt: number | null;
    }
  /** A scheduled oneshot between runs: the next at `nextRun` (null: the expression has none left). */
  | {
      readonly kind: 'scheduled';
      readonly since: number;
      readonly nextRun: number | null;
      readonly lastExit: ExitInfo | null;
      /** Whether the last run succeeded; null before the first. */
      readonly succeeded: boolean | null;
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
  'scheduled',
];

/** A dependency counts as up when it is running and ready, or a oneshot that succeeded. */
export function isUp(state: ServiceState): boolean {
  if (state.kind === 'running') return state.unready === undefined;
  if (state.kind === 'scheduled') return state.succeeded === true;
  return state.kind === 'success';
}

/** Whether a process of the service may exist in this state. */
export function hasProcess(state: ServiceState): boolean {
  return state.kind === 'starting' || state.kind === 'running' || state.kind === 'stopping';
}

/** How long a restart waits for the service to come up, unless told otherwise. */
export const RESTART_WAIT_MS = 60_000;

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

/** Only 0 counts as success: zinit's rule, and the default. */
export const ZERO_ONLY: SuccessCodes = { codes: [0], signals: [] };

/** Whether an exit counts as success: 0, or a code or signal of `success_exit_codes`. */
export function exitSucceeded(exit: ExitInfo, codes: SuccessCodes = ZERO_ONLY): boolean {
  if (exit.code !== null) return exit.code === 0 || codes.codes.includes(exit.code);
  return exit.signal !== null && (codes.signals as readonly string[]).includes(exit.signal);
}

export function exitFailed(exit: ExitInfo, codes: SuccessCodes = ZERO_ONLY): boolean {
  return !exitSucceeded(exit, codes);
}

export function shouldRestart(
  policy: RestartPolicy,
  exit: ExitInfo,
  codes: SuccessCodes = ZERO_ONLY,
): boolean {
  if (policy === 'always') return true;
  if (policy === 'on-failure') return exitFailed(exit, codes);
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

/** How a process ended, and whether that counts as success when it would not by default. */
export function describeExit(exit: ExitInfo, codes: SuccessCodes = ZERO_ONLY): string {
  if (exit.oom !== undefined) return `killed by the OOM killer: ${exit.oom}`;
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
  const special = exit.code !== 0 && exitSucceeded(exit, codes);
  return special ? `${how} (counts as success)` : how;
}

/** The short form in a dependant's reason: `exit 1`, `SIGKILL`. */
export function shortExit(exit: ExitInfo): string {
  return exit.signal ?? `exit ${exit.code ?? 0}`;
}

/** A failed state's error when the restart limit was reached. */
export function gaveUpText(count: number, windowMs: number): string {
  return `gave up after ${count} restarts in ${formatDuration(windowMs)}`;
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
    case 'scheduled':
      if (state.lastExit === null) return 'Blocked';
      return state.succeeded ? 'Success' : `Error(${zinitWait(state.lastExit)})`;
  }
}

/** One line a person reads: why the service is in this state (`oneshot`: a run is expected to end). */
export function reasonOf(
  state: ServiceState,
  now: number,
  codes: SuccessCodes = ZERO_ONLY,
  oneshot = false,
): string {
  switch (state.kind) {
    case 'stopped':
      return state.lastExit ? `stopped (${describeExit(state.lastExit)})` : 'not started';
    case 'blocked':
      return blockedReason(state.waitingFor, state.cannot ?? []);
    case 'starting':
      if (oneshot) return 'running once; dependants wait for it to succeed';
      return startingReason(state);
    case 'running':
      return state.unready === undefined ? 'up' : `running, not ready: ${state.unready}`;
    case 'success':
      return 'completed';
    case 'exited':
      return describeExit(state.lastExit, codes);
    case 'backoff': {
      const why = state.error ?? (state.lastExit ? describeExit(state.lastExit, codes) : 'failed');
      return `${why}; restarting in ${Math.max(0, state.retryAt - now)} ms`;
    }
    case 'stopping':
      return `stopping (SIGKILL in ${Math.max(0, state.killAt - now)} ms)`;
    case 'failed':
      return state.retryAt === null
        ? state.error
        : `${state.error}; retrying in ${Math.max(0, state.retryAt - now)} ms`;
    case 'scheduled':
      return scheduledReason(state);
  }
}

function blockedReason(waitingFor: readonly string[], cannot: readonly string[]): string {
  const waiting = waitingFor.length > 0 ? `waiting for ${waitingFor.join(', ')}` : '';
  return [...cannot, waiting].filter((s) => s !== '').join('; ');
}

function startingReason(state: Extract<ServiceState, { kind: 'starting' }>): string {
  const what = state.awaiting;
  if (what === undefined)
    return state.lastTestError
      ? `health test failing (${state.testFailures}x): ${state.lastTestError}`
      : 'started, health test pending';
  return state.lastTestError
    ? `not ready yet (${state.testFailures}x): ${state.lastTestError}`
    : `started, waiting for ${what}`;
}

function scheduledReason(state: Extract<ServiceState, { kind: 'scheduled' }>): string {
  const next =
    state.nextRun === null ? 'no further run' : `next run ${new Date(state.nextRun).toISOString()}`;
  if (state.lastExit === null) return `scheduled; ${next}`;
  const last = state.succeeded ? 'succeeded' : `failed (${shortExit(state.lastExit)})`;
  return `last run ${last}; ${next}`;
}
