// What happened, as data: every kind of event the daemon records (a service's
// state changed, a run exited, a restart was scheduled, the daemon started or
// began its shutdown…), one union tagged by `kind`. Shared below the event
// log and the API, as the log line's shape is; the API adds only the cursor
// and the time. Pure: no clock, no I/O.

import type { StateKind } from './state.js';

/** The daemon itself: started, began its shutdown, stopped everything. */
export interface DaemonEvent {
  readonly kind: 'daemon';
  readonly service: null;
  readonly action: 'started' | 'shutdown' | 'stopped';
  /** A person's sentence: the version and pid, the shutdown bound, clean or not. */
  readonly detail: string;
}

/** A service entered the graph (at start-up, or by `add`). */
export interface TrackedEvent {
  readonly kind: 'tracked';
  readonly service: string;
  readonly file: string;
}

/** A service left the graph (`delete`). */
export interface UntrackedEvent {
  readonly kind: 'untracked';
  readonly service: string;
}

/** A service's state changed kind (running → backoff, blocked → starting…). */
export interface StateEvent {
  readonly kind: 'state';
  readonly service: string;
  readonly from: StateKind;
  readonly to: StateKind;
  /** The main process in the new state, 0 when none runs. */
  readonly pid: number;
  /** The run the new state belongs to (the log's run number). */
  readonly run: number;
  /** Why, as `status` says it at that instant. */
  readonly reason: string;
}

/** A run's main process ended. */
export interface ExitEvent {
  readonly kind: 'exit';
  readonly service: string;
  readonly run: number;
  readonly pid: number;
  readonly code: number | null;
  readonly signal: string | null;
  /** How long the run was up, in ms. */
  readonly uptime_ms: number;
}

/** A restart was scheduled after a run ended or a spawn failed. */
export interface RestartEvent {
  readonly kind: 'restart';
  readonly service: string;
  /** The run that ended (the next one is run + 1). */
  readonly run: number;
  readonly delay_ms: number;
  /** Restarts since the service was last started by request, this one included. */
  readonly restarts: number;
  /** What ended the run: its exit, or the spawn error. */
  readonly reason: string;
}

/** The health test's result changed: its first failure in a run, or its pass. */
export interface TestEvent {
  readonly kind: 'test';
  readonly service: string;
  readonly run: number;
  readonly passed: boolean;
  /** Failures in this run so far. */
  readonly failures: number;
  /** Why the last run of the test failed; null once it passed. */
  readonly error: string | null;
}

/** What checks a run: zinit's health test, or a readiness or liveness probe. */
export type ProbeName = 'test' | 'readiness' | 'liveness';

/**
 * A readiness or liveness probe's result changed: its first failure in a
 * run, or a pass after failing (each check is not an event; status counts
 * them). Whether that flips readiness is a `ready` event, or a restart.
 */
export interface ProbeEvent {
  readonly kind: 'probe';
  readonly service: string;
  readonly run: number;
  readonly probe: 'readiness' | 'liveness';
  readonly passed: boolean;
  /** Failures in a row, this one included; 0 once it passed. */
  readonly failures: number;
  readonly error: string | null;
}

/** A running service lost its readiness (its readiness probe), or found it again. */
export interface ReadyEvent {
  readonly kind: 'ready';
  readonly service: string;
  readonly run: number;
  readonly ready: boolean;
  /** Why it is not ready; `ready again` once it is. */
  readonly reason: string;
}

/** The restart limit was reached: sminit stopped restarting the service (it is failed). */
export interface GiveUpEvent {
  readonly kind: 'give_up';
  readonly service: string;
  readonly run: number;
  /** The limit: this many restarts… */
  readonly restarts: number;
  /** …within this window. */
  readonly window_ms: number;
  /** When it is tried again (restart_cooldown); null: not until it is started. */
  readonly retry_in_ms: number | null;
}

/**
 * Every event, by kind. A feature that records something new adds its
 * interface here, its name to EVENT_KINDS, its fields to eventSchemas in
 * api/wire.ts and its sentence to describeEvent in client/format.ts; the
 * compiler points at each place that must learn it. Workers record through
 * supervise/record.ts; elsewhere, the manager's EventLog.record.
 */
export type EventBody =
  | DaemonEvent
  | TrackedEvent
  | UntrackedEvent
  | StateEvent
  | ExitEvent
  | RestartEvent
  | TestEvent
  | ProbeEvent
  | ReadyEvent
  | GiveUpEvent;

export type EventKind = EventBody['kind'];

export const EVENT_KINDS: readonly EventKind[] = [
  'daemon',
  'tracked',
  'untracked',
  'state',
  'exit',
  'restart',
  'test',
  'probe',
  'ready',
  'give_up',
];

/** An event as clients get it: its body, the cursor it was given and when it happened. */
export type SminitEvent = EventBody & {
  /** Daemon-wide and increasing by one: the last one seen is where to resume. */
  readonly cursor: number;
  /** ISO time with milliseconds. */
  readonly time: string;
};

export interface EventQuery {
  /** Only events after this cursor (the last one a client saw); 0 or absent: the whole history. */
  readonly after?: number;
  /** Only events at or after this time: epoch ms or an ISO 8601 date. */
  readonly since?: number | string;
  /** Only events about these services (daemon events always pass); all when absent or empty. */
  readonly names?: readonly string[];
  /** Only these kinds; all when absent or empty. */
  readonly kinds?: readonly EventKind[];
  /** At most this many of the most recent matching events. */
  readonly n?: number;
}

export interface EventRead {
  /** Oldest first. */
  readonly events: SminitEvent[];
  /** The cursor to resume after: the last event read, or where the read ended. */
  readonly next: number;
  /** The newest cursor when read. */
  readonly end: number;
  /** Events after `after` the history no longer holds (of any service or kind). */
  readonly lost?: number;
}
