// A tracked service as the manager sees it at one instant: its definition,
// its state, its process, and where its dependencies stand. Plain data for
// the API to render (as JSON-RPC results, zinit's strings, tables); the
// manager builds one inside its queue, so it is consistent. Types only.

import type { DependencyCondition, ServiceDef } from '../core/definition.js';
import type { ExitInfo, ServiceState } from '../core/state.js';
import type { RecoveredView } from './recovery.js';
import type { WatchView } from './watchers.js';

export interface DependencyView {
  readonly name: string;
  /** What the service waits for of it (`up` for the list form). */
  readonly condition: DependencyCondition;
  /** Its state now; null when it is not tracked. */
  readonly state: ServiceState | null;
}

/** Counts over a worker's life, for metrics: they never go back. */
export interface Counters {
  restarts: number;
  /** Failed checks: the health test's and the probes'. */
  probeFailures: number;
  /** Times a restart limit made it give up. */
  giveUps: number;
}

/** The last run that came up: when it was spawned and when it was up (epoch ms). */
export interface LastUp {
  readonly run: number;
  readonly spawnedAt: number;
  readonly upAt: number;
}

export interface ServiceView {
  readonly name: string;
  readonly def: ServiceDef;
  readonly state: ServiceState;
  readonly target: 'up' | 'down';
  /** The main process, 0 when none runs. */
  readonly pid: number;
  /** When the running process started (epoch ms), null when none runs. */
  readonly upSince: number | null;
  /** Restarts since the service was last started by request. */
  readonly restarts: number;
  /** How the last process ended, whatever the state now. */
  readonly lastExit: ExitInfo | null;
  /** Its cgroup while it has processes; null without one. */
  readonly cgroup: string | null;
  /** Its dependencies as they stand now, in file order. */
  readonly dependencies: readonly DependencyView[];
  /** Lifetime counts (restarts, failed checks, give-ups) of this worker. */
  readonly counters: Readonly<Counters>;
  /** The last run that came up, for the critical chain; null if none has. */
  readonly lastUp: LastUp | null;
  /** The run number: how many times a process was spawned. */
  readonly run: number;
  /** Its probes, notifications and watchdog as they stand. */
  readonly watching: WatchView;
  /** Restarts within the restart limit's window (0 without a limit). */
  readonly restartsInWindow: number;
  /** When its next scheduled run is due (epoch ms); null when none is. */
  readonly nextRun: number | null;
  /** What an earlier sminitd had left running of it, ended at start-up; null when nothing was. */
  readonly recovered: RecoveredView | null;
}
