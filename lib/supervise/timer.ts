// A worker's timers, one object each: at most one callback pending, armed
// again to replace it, cleared when it no longer matters. So "no timer while
// nothing is pending" holds by construction. No other state.

export class OneTimer {
  private handle: NodeJS.Timeout | null = null;

  /** Whether a callback is waiting to run. */
  get pending(): boolean {
    return this.handle !== null;
  }

  /** Run `fn` after `ms`, replacing whatever was pending. */
  arm(ms: number, fn: () => void): void {
    this.clear();
    this.handle = setTimeout(() => {
      this.handle = null;
      fn();
    }, ms);
  }

  clear(): void {
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = null;
  }
}
