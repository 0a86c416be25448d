// A stop's escalation, for one worker: the stop signal to the group, SIGKILL
// once the service's shutdown timeout passes (to its whole cgroup where it
// has one), and everyone waiting for the stop answered when it is over.
// Whether the SIGKILL had to be sent is kept for the shutdown's exit status.
// No decisions about restarts.

import type { SignalName } from '../core/signals.js';
import type { Processes, ServiceBox } from './seam.js';
import { OneTimer } from './timer.js';

export class StopEscalation {
  private readonly killTimer = new OneTimer();
  private waiters: (() => void)[] = [];
  /** The last stop had to SIGKILL the group after the timeout. */
  forcedKill = false;

  constructor(
    private readonly procs: Processes,
    private readonly emit: (text: string) => void,
    private readonly box: ServiceBox | null = null,
  ) {}

  /** Resolves when the stop under way (or the next one) is over. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** The stop signal to group `pgid` now, SIGKILL after `timeoutMs`. */
  begin(pgid: number, signal: SignalName, timeoutMs: number): void {
    this.forcedKill = false;
    // The signal first: the process ends on another core while this one logs.
    this.procs.signalGroup(pgid, signal);
    this.emit(`stopping: ${signal} to process group ${pgid}`);
    this.begun = Date.now();
    this.killAfter(pgid, timeoutMs, timeoutMs);
  }

  /** The service asked for more time (EXTEND_TIMEOUT_USEC): SIGKILL in `ms` instead. */
  extend(pgid: number, ms: number): void {
    if (this.killTimer.pending) this.killAfter(pgid, ms, Date.now() - this.begun + ms);
  }
  private begun = 0;

  /** SIGKILL in `ms` (to the whole cgroup where there is one); `totalMs` is the whole grace, as the log says it. */
  private killAfter(pgid: number, ms: number, totalMs: number): void {
    this.killTimer.arm(ms, () => {
      const box = this.box;
      if (box !== null && box.populated()) {
        this.forcedKill = true;
        this.procs.signalGroup(pgid, 'SIGKILL');
        this.emit(
          `did not stop within ${totalMs} ms: SIGKILL to process group ${pgid} and cgroup ${box.path}`,
        );
        box.kill();
      } else if (this.procs.signalGroup(pgid, 'SIGKILL')) {
        this.forcedKill = true;
        this.emit(`did not stop within ${totalMs} ms: SIGKILL to process group ${pgid}`);
      }
    });
  }

  /** What is left of the group after its main process is gone, at the end of a stop. */
  killRest(pgid: number): void {
    if (this.procs.signalGroup(pgid, 'SIGKILL')) this.forcedKill = true;
  }

  /** The stop is over: no SIGKILL pending, every waiter answered. */
  finish(): void {
    this.killTimer.clear();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
