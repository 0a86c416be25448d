// What an earlier sminitd of this socket left running, from start-up until
// it is gone: asked of the process seam once, before anything spawns, then
// ended per service in parallel, each within a bound, and remembered for
// status. Which service waits for its leftovers is the manager's to enforce.

import { messageOf } from '../core/errors.js';
import type { SignalName } from '../core/signals.js';
import type { EarlierRun, Ended, Processes } from './seam.js';
import { SHUTDOWN_MARGIN_MS } from './shutdown.js';

/** What a service's leftovers came to, for status. */
export interface RecoveredView {
  /** Processes an earlier daemon left that were ended. */
  readonly ended: number;
  /** Those that would not end even after SIGKILL. */
  readonly stuck: number;
  /** The pids of the gone daemons that had started them. */
  readonly daemons: readonly number[];
  /** When the last of them was gone (epoch ms). */
  readonly at: number;
}

/** How a stop of a service ends its leftovers; null stop means it is not in the config. */
export interface StopOf {
  readonly signal: SignalName;
  readonly timeoutMs: number;
}

/** A service no longer configured has its leftovers ended as a default stop would. */
const UNCONFIGURED_STOP: StopOf = { signal: 'SIGTERM', timeoutMs: 10_000 };

export class EarlierLeftovers {
  private asked = false;
  private readonly pending = new Map<string, Promise<void>>();
  private readonly results = new Map<string, { run: EarlierRun; view: RecoveredView | null }>();
  private bound: NodeJS.Timeout | null = null;

  constructor(
    private readonly procs: Processes,
    private readonly report: (service: string | null, text: string) => void,
  ) {}

  /** What earlier daemons left: asked only once (at start-up); a failure is reported, not thrown. */
  async find(): Promise<readonly EarlierRun[]> {
    if (this.asked) return [];
    this.asked = true;
    try {
      return await this.procs.findEarlier();
    } catch (err) {
      this.report(null, `could not look for processes an earlier sminitd left: ${messageOf(err)}`);
      return [];
    }
  }

  /**
   * End every run found, all at once: each service's as its own stop would
   * (`stopOf`, null when it is not configured), the whole within the
   * longest timeout plus a margin. `over(name)` is called once for each,
   * when its leftovers are gone or the bound has passed.
   */
  begin(
    runs: readonly EarlierRun[],
    stopOf: (name: string) => StopOf | null,
    over: (name: string) => void,
  ): void {
    if (runs.length === 0) return;
    const stops = runs.map((r) => stopOf(r.service) ?? UNCONFIGURED_STOP);
    const boundMs = Math.max(...stops.map((s) => s.timeoutMs)) + SHUTDOWN_MARGIN_MS;
    const count = runs.reduce((n, r) => n + r.processes.length, 0);
    this.report(
      null,
      `found ${processes(count)} left by an earlier sminitd (${runs.length} services): ending them within ${boundMs} ms`,
    );
    const timedOut = new Promise<null>((resolve) => {
      this.bound = setTimeout(() => resolve(null), boundMs);
    });
    const all = runs.map((run, i) => {
      const stop = stops[i] ?? UNCONFIGURED_STOP;
      const ending = this.procs.endEarlier(run, stop.signal, stop.timeoutMs).catch((err) => {
        this.report(run.service, `while ending an earlier sminitd's processes: ${messageOf(err)}`);
        return null;
      });
      const p = Promise.race([ending, timedOut]).then((result) => {
        this.pending.delete(run.service);
        this.results.set(run.service, { run, view: result && viewOf(run, result) });
        over(run.service);
      });
      this.pending.set(run.service, p);
      return p;
    });
    void Promise.all(all).then(() => this.clearBound());
  }

  /** Whether `name`'s leftovers are still being ended: it must not start yet. */
  holds(name: string): boolean {
    return this.pending.has(name);
  }

  /** Resolves when every ending under way is over (each is bounded). */
  settled(): Promise<void> {
    return Promise.all(this.pending.values()).then(() => undefined);
  }

  /** What `name`'s leftovers came to; null when there were none, or they are still being ended. */
  view(name: string): RecoveredView | null {
    return this.results.get(name)?.view ?? null;
  }

  /** The daemon's line for `name` once its leftovers are over; `untracked` says why it does not start. */
  message(name: string, untracked: string | null): string {
    const r = this.results.get(name);
    if (r === undefined) return '';
    const found = r.view ? r.view.ended + r.view.stuck : r.run.processes.length;
    const head = `found ${processes(found)} of ${name} left by sminitd ${r.run.daemons.join(', ')} (gone)`;
    const then = untracked === null ? ` before starting ${name}` : `; ${untracked}`;
    if (r.view === null) return `${head}: still not gone at the bound; going on${then}`;
    if (r.view.stuck > 0) {
      return `${head}: stopped ${r.view.ended} of them${then}; ${r.view.stuck} would not end even on SIGKILL (stuck in the kernel)`;
    }
    return `${head}: stopped ${found === 1 ? 'it' : 'them'}${then}`;
  }

  private clearBound(): void {
    if (this.bound !== null) clearTimeout(this.bound);
    this.bound = null;
  }
}

function viewOf(run: EarlierRun, result: Ended): RecoveredView {
  return { ended: result.ended, stuck: result.stuck, daemons: run.daemons, at: Date.now() };
}

function processes(n: number): string {
  return n === 1 ? '1 process' : `${n} processes`;
}
