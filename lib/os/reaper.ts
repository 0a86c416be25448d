// Reaping every child libuv does not own: the services' processes spawned
// through posix_spawn (their exit goes back to the Spawner, and so to their
// worker) and orphans. sminitd is a child subreaper (and, as PID 1, the
// reaper of its namespace anyway), so a process whose parent dies is
// reparented to it; nobody else would reap it. On SIGCHLD, at most one pass
// at a time and never more than one per event-loop turn, this reaps exactly
// the exited children libuv does not own. It must never wait for "any child"
// (waitpid(-1)): that would take the exit status of a child libuv spawned.

import { messageOf } from '../core/errors.js';
import type { Native, WaitStatus } from './native.js';
import { processTable, zombieChildren } from './procfs.js';

export interface ReaperOptions {
  readonly native: Native;
  /** True for a pid libuv spawned and will reap itself. */
  readonly owned: (pid: number) => boolean;
  /** A child was reaped: false when nobody was waiting for it (an orphan). */
  readonly exited: (pid: number, status: WaitStatus) => boolean;
  readonly report: (service: string | null, text: string) => void;
}

/** Peeks and reaps in one pass before looking at /proc: a bound, not an expected count. */
const MAX_DIRECT = 4096;

export class Reaper {
  /** Orphans reaped since start. */
  reaped = 0;
  private scheduled = false;
  private running = false;
  private again = false;
  private readonly onSignal = (): void => this.schedule();

  constructor(private readonly opts: ReaperOptions) {}

  /** Listen for SIGCHLD and reap whatever is already waiting. No timers: idle costs nothing. */
  start(): void {
    process.on('SIGCHLD', this.onSignal);
    this.schedule();
  }

  stop(): void {
    process.off('SIGCHLD', this.onSignal);
  }

  /** Resolves after a full pass that began after this call. */
  async settle(): Promise<void> {
    await this.pass();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // libuv reaps its own children while dispatching the same signal, in the
    // poll phase; by the check phase they are gone and rarely stand in the way.
    setImmediate(() => {
      this.scheduled = false;
      void this.pass();
    });
  }

  private async pass(): Promise<void> {
    if (this.running) {
      this.again = true;
      while (this.running) await new Promise<void>((r) => setImmediate(r));
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        await this.reapOnce();
      } while (this.again);
    } catch (err) {
      this.opts.report(null, `reaping orphans: ${messageOf(err)}`);
    } finally {
      this.running = false;
    }
  }

  /**
   * Reap every exited child that is not libuv's. The kernel names one waiting
   * child at a time (waitid with WNOWAIT, which reaps nothing): while that is
   * an orphan, reap it by pid and ask again. If it is one of libuv's, the
   * orphans behind it are found by their state in /proc instead.
   */
  private async reapOnce(): Promise<void> {
    const { native, owned } = this.opts;
    for (let i = 0; i < MAX_DIRECT; i++) {
      const pid = native.peekExited();
      if (pid === 0) return;
      if (owned(pid) || !this.reap(pid)) break;
    }
    const table = await processTable();
    for (const pid of zombieChildren(table, process.pid)) {
      if (!owned(pid)) this.reap(pid);
    }
  }

  private reap(pid: number): boolean {
    const status = this.opts.native.reapExit(pid);
    if (status === null) return false;
    try {
      if (!this.opts.exited(pid, status)) this.reaped++;
    } catch (err) {
      // One exit's listeners failing must not leave the next exits unreaped.
      this.opts.report(null, `after the exit of pid ${pid}: ${messageOf(err)}`);
    }
    return true;
  }
}
