// A tracked service as the manager sees it at one instant: its definition,
// its state, its process, and where its dependencies stand. Plain data for
// the API to render (as JSON-RPC results, zinit's strings, tables); the
// manager builds one inside its queue, so it is consistent. Types only.

import type { DependencyCondition, ServiceDef } from '../core/definition.js';
import type { ExitInfo, ServiceState } from '../core/state.js';
import type { WatchView } from './watchers.js';

export interface DependencyView {
  readonly name: string;
  /** What the service waits for of it (`up` for the list form). */
  readonly condition: DependencyCondition;
  /** Its state now; null when it is not tracked. */
  readonly state: ServiceState | null;
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
  /** Its probes, notifications and watchdog as they stand. */
  readonly watching: WatchView;
  /** Restarts within the restart limit's window (0 without a limit). */
  readonly restartsInWindow: number;
  /** When its next scheduled run is due (epoch ms); null when none is. */
  readonly nextRun: number | null;
}
