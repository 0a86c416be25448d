// What one worker tells the event log, and the lifetime counters and last
// start it keeps for metrics and the critical chain. It turns the worker's
// transitions into event bodies; it decides nothing and owns no timer.

import type { EventBody, ProbeName } from '../core/events.js';
import { type ServiceState, reasonOf } from '../core/state.js';
import type { ServiceDef } from '../core/definition.js';
import type { Counters, LastUp } from './view.js';

export class WorkerRecord {
  readonly counters: Counters = { restarts: 0, probeFailures: 0, giveUps: 0 };
  lastUp: LastUp | null = null;

  constructor(
    private readonly service: string,
    private readonly def: () => ServiceDef,
    private readonly record: (event: EventBody) => void,
  ) {}

  /** A change of state: recorded when its kind or its process changes, or its readiness. */
  state(from: ServiceState, to: ServiceState, run: number): void {
    const { service } = this;
    if (from.kind === to.kind && pidIn(from) === pidIn(to)) {
      if (from.kind !== 'running' || to.kind !== 'running') return;
      if (from.unready === to.unready) return;
      const ready = to.unready === undefined;
      const reason = to.unready ?? 'ready again';
      this.record({ kind: 'ready', service, run, ready, reason });
      return;
    }
    const def = this.def();
    const reason = reasonOf(to, Date.now(), def.successCodes, def.oneshot);
    this.record({
      kind: 'state',
      service,
      from: from.kind,
      to: to.kind,
      pid: pidIn(to),
      run,
      reason,
    });
  }

  /** Run `run` came up (spawned at `spawnedAt`), for the critical chain. */
  up(run: number, spawnedAt: number, upAt: number): void {
    this.lastUp = { run, spawnedAt, upAt };
  }

  /** A restart is scheduled; `restarts` counts it already. */
  restart(run: number, delayMs: number, reason: string, restarts: number): void {
    this.counters.restarts++;
    const { service } = this;
    this.record({ kind: 'restart', service, run, delay_ms: delayMs, restarts, reason });
  }

  exit(run: number, pid: number, code: number | null, signal: string | null, uptime: number): void {
    const { service } = this;
    this.record({ kind: 'exit', service, run, pid, code, signal, uptime_ms: Math.max(0, uptime) });
  }

  /**
   * A check's result: every failure is counted; an event is recorded when
   * the result changes (the first failure of a run, a pass after failing).
   */
  checked(
    run: number,
    probe: ProbeName,
    passed: boolean,
    failures: number,
    error: string | null,
    changed: boolean,
  ): void {
    if (!passed) this.counters.probeFailures++;
    if (!changed) return;
    const { service } = this;
    if (probe === 'test') this.record({ kind: 'test', service, run, passed, failures, error });
    else this.record({ kind: 'probe', service, run, probe, passed, failures, error });
  }

  /** The restart limit was reached: `count` restarts in `windowMs`; tried again after `retryMs`. */
  gaveUp(run: number, count: number, windowMs: number, retryMs: number | null): void {
    this.counters.giveUps++;
    const { service } = this;
    this.record({
      kind: 'give_up',
      service,
      run,
      restarts: count,
      window_ms: windowMs,
      retry_in_ms: retryMs,
    });
  }
}

/** The main process a state names, 0 when none. */
function pidIn(state: ServiceState): number {
  return 'pid' in state ? state.pid : 0;
}
