// A service's watchdog (`notify: systemd` with `watchdog:`): a deadline
// that each WATCHDOG=1 moves on and whose passing is reported once. One
// timer, armed only while a run is watched. Decides nothing about restarts.

import { OneTimer } from './timer.js';

export class Watchdog {
  private readonly timer = new OneTimer();
  private at: number | null = null;
  private ms = 0;

  constructor(private readonly lapsed: (ms: number) => void) {}

  /** When the next WATCHDOG=1 is due (epoch ms); null while nothing is watched. */
  get deadline(): number | null {
    return this.at;
  }

  /** Watch a run: the first WATCHDOG=1 is due within `ms`. */
  begin(ms: number): void {
    this.ms = ms;
    this.ping();
  }

  /** WATCHDOG=1: due again within the timeout from now. */
  ping(): void {
    if (this.ms > 0) this.until(Date.now() + this.ms);
  }

  /** WATCHDOG_USEC=…: a new timeout, from now. */
  retime(ms: number): void {
    if (this.at === null) return;
    this.ms = ms;
    this.ping();
  }

  /** EXTEND_TIMEOUT_USEC=…: not due before `ms` from now. */
  extend(ms: number): void {
    if (this.at !== null && Date.now() + ms > this.at) this.until(Date.now() + ms);
  }

  stop(): void {
    this.timer.clear();
    this.at = null;
  }

  private until(at: number): void {
    this.at = at;
    this.timer.arm(Math.max(0, at - Date.now()), () => {
      this.at = null;
      this.lapsed(this.ms);
    });
  }
}
