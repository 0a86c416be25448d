// What one service's ended runs may have left outside their groups, and the
// sweeps that end it: one the next spawn must wait for (it spares no run, so
// it would take the new one for a leftover), and background sweeps of older
// runs that spare the current one by its run number. A stop waits for both.
// Where the service has a cgroup, a sweep empties it (cgroup.kill) and
// always holds the next spawn back, which then starts in an empty group.
// The finding and killing is the process seam's; this keeps the promises.

import { messageOf } from '../core/errors.js';
import type { Processes, ServiceBox } from './seam.js';
import { count } from '../core/plural.js';

/** How long a swept cgroup gets to be empty. */
const BOX_SWEEP_MS = 2000;

export class LeftoverSweeps {
  /** A sweep the next spawn must wait for. */
  private blocking: Promise<void> | null = null;
  /** A sweep of earlier runs only; a stop waits for it. */
  private background: Promise<void> | null = null;
  private spawnQueued = false;

  constructor(
    private readonly procs: Processes,
    private readonly marker: string,
    /** The service's current run number, asked at each scan. */
    private readonly currentRun: () => number,
    private readonly emit: (text: string) => void,
    /** The service's cgroup, where it has one. */
    private readonly box: ServiceBox | null = null,
  ) {}

  /** Whether the next run must wait for every sweep: true where a cgroup holds the runs. */
  get blocksRestart(): boolean {
    return this.box !== null;
  }

  /** Whether a sweep is under way that holds back the next spawn. */
  get holdsSpawn(): boolean {
    return this.blocking !== null;
  }

  /** Resolves once every sweep under way is done. */
  done(): Promise<void> {
    return Promise.all([this.blocking, this.background]).then(() => undefined);
  }

  /** Runs `spawn` once the blocking sweep is over (once, however often asked meanwhile). */
  spawnAfter(spawn: () => void): void {
    if (this.spawnQueued || this.blocking === null) return;
    this.spawnQueued = true;
    void this.blocking.then(() => {
      this.spawnQueued = false;
      spawn();
    });
  }

  /**
   * Kill, in the background, every process of this service that left its
   * group while the last run ended on its own, sparing run `spare` (the
   * restart's) and any later one, if given; a sweep that spares none holds
   * back the next spawn. `groups` are the last run's process groups, given
   * `waitMs` to be gone before the cheap check for leftovers is trusted; the
   * sweep begins once `after` settles (the groups' own members ended).
   */
  sweep(
    spare: number | null,
    groups: readonly number[],
    waitMs: number,
    after: Promise<void> = Promise.resolve(),
  ): void {
    const { procs, marker, box } = this;
    if (box !== null) spare = null;
    const found = box
      ? after.then(() => (box.populated() ? sweepBox(box) : 0))
      : after
          .then(() => procs.mayHaveEscaped(groups, marker, waitMs))
          .then((may) => (may ? procs.sweepMarked(marker, this.spareFrom(spare)) : 0));
    const sweep: Promise<void> = found
      .then(
        (n) => {
          if (n > 0)
            this.emit(
              `killed ${count(n, 'process', 'processes')} the last run left outside its group`,
            );
        },
        (err: unknown) => this.emit(`while sweeping the last run's leftovers: ${messageOf(err)}`),
      )
      .finally(() => {
        if (this.blocking === sweep) this.blocking = null;
        if (this.background === sweep) this.background = null;
      });
    if (spare === null) this.blocking = sweep;
    else this.background = sweep;
  }

  /** The runs from `first` up to the current one, asked when a sweep scans; null spares none. */
  private spareFrom(first: number | null): (() => readonly number[]) | null {
    if (first === null) return null;
    return () =>
      Array.from({ length: Math.max(1, this.currentRun() - first + 1) }, (_, i) => first + i);
  }
}

/** Everything left in the cgroup, killed at once; resolves with how many once it is empty. */
async function sweepBox(box: ServiceBox): Promise<number> {
  const n = box.kill();
  await box.whenEmpty(Date.now() + BOX_SWEEP_MS);
  return n;
}
