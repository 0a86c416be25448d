// When scheduled oneshots are due: each service's next run time, and one
// timer for the nearest of them all, whatever the number of services, so
// the daemon has no timer at all when nothing is scheduled. It says which
// runs are due; whether they run is the manager's and the workers' call.

import { OneTimer } from './timer.js';

/** setTimeout takes at most 2^31 - 1 ms (about 24.8 days); a later run is re-armed on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Scheduler {
  private readonly next = new Map<string, number>();
  private readonly timer = new OneTimer();
  private armedFor: number | null = null;

  /** `due` is called for each service whose time has come, with the time it was due. */
  constructor(private readonly due: (name: string, at: number) => void) {}

  /** Whether any run is scheduled (and so a timer armed). */
  get pending(): boolean {
    return this.next.size > 0;
  }

  /** Service `name`'s next run is at `at` (epoch ms); null: it has none. */
  set(name: string, at: number | null): void {
    if (at === null) this.next.delete(name);
    else this.next.set(name, at);
    this.rearm();
  }

  /** Nothing runs any more (shutdown). */
  clear(): void {
    this.next.clear();
    this.rearm();
  }

  private rearm(): void {
    let soonest: number | null = null;
    for (const at of this.next.values()) if (soonest === null || at < soonest) soonest = at;
    if (soonest === this.armedFor) return;
    this.armedFor = soonest;
    if (soonest === null) {
      this.timer.clear();
      return;
    }
    this.timer.arm(Math.min(Math.max(0, soonest - Date.now()), MAX_TIMER_MS), () => this.fire());
  }

  private fire(): void {
    this.armedFor = null;
    const now = Date.now();
    const due = [...this.next].filter(([, at]) => at <= now);
    // Each is forgotten until its worker says when its next run is.
    for (const [name] of due) this.next.delete(name);
    this.rearm();
    for (const [name, at] of due) this.due(name, at);
  }
}
