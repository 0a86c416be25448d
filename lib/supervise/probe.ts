// One probe of one service (readiness or liveness): its check run every
// period, one at a time, through the process seam (a command in a group of
// its own, killed with its group on timeout) or the network seam (HTTP,
// TCP); each result tallied by the pure rules in core/probe.ts. It reports
// every result and each flip; what a flip means for the service is the
// worker's. A probe has a timer only while it is between two checks.

import type { Probe, ServiceDef } from '../core/definition.js';
import {
  type CheckResult,
  type Tally,
  httpPasses,
  initialTally,
  probeTarget,
  record,
} from '../core/probe.js';
import { describeExit } from '../core/state.js';
import { type LaunchContext, launch } from './launch.js';
import type { Child, Network } from './seam.js';
import { OneTimer } from './timer.js';

export type ProbeRole = 'readiness' | 'liveness';

/** A probe as status shows it. */
export interface ProbeView {
  readonly role: ProbeRole;
  readonly kind: Probe['check']['kind'];
  readonly target: string;
  readonly tally: Tally;
  /** When the next check is due (epoch ms), null when none is. */
  readonly nextAt: number | null;
}

export interface ProbeHooks {
  /** Every result, with the tally after it and whether it flipped. */
  result(role: ProbeRole, tally: Tally, flipped: boolean): void;
}

export class ProbeRunner {
  private tally: Tally;
  private readonly timer = new OneTimer();
  private nextAt: number | null = null;
  /** Which run of the service is being probed; 0 when none. */
  private run = 0;
  private child: Child | null = null;
  private checkTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly role: ProbeRole,
    private readonly probe: Probe,
    private readonly ctx: LaunchContext & { readonly net: Network },
    private readonly def: () => ServiceDef,
    private readonly hooks: ProbeHooks,
  ) {
    this.tally = initialTally(role === 'liveness');
  }

  get passing(): boolean {
    return this.tally.passing;
  }

  get view(): ProbeView {
    const check = this.probe.check;
    return {
      role: this.role,
      kind: check.kind,
      target: probeTarget(check),
      tally: this.tally,
      nextAt: this.nextAt,
    };
  }

  /**
   * Probe run `run` from now on, the first check after `delayMs`; `passing`:
   * where the tally starts (a reload's new readiness probe of a ready run
   * starts passing, so its first failures make it unready).
   */
  begin(run: number, delayMs: number, passing = this.role === 'liveness'): void {
    this.stop();
    this.run = run;
    this.tally = initialTally(passing);
    this.schedule(delayMs);
  }

  /** No more checks; one under way is abandoned (a command's group killed). */
  stop(): void {
    this.run = 0;
    this.timer.clear();
    this.nextAt = null;
    if (this.checkTimer) clearTimeout(this.checkTimer);
    this.checkTimer = null;
    const pid = this.child?.pid;
    if (pid !== undefined) this.ctx.procs.signalGroup(pid, 'SIGKILL');
    this.child = null;
  }

  private schedule(ms: number): void {
    this.nextAt = Date.now() + ms;
    this.timer.arm(ms, () => {
      this.nextAt = null;
      this.check(this.run);
    });
  }

  private check(run: number): void {
    if (run === 0 || run !== this.run) return;
    const done = (ok: boolean, reason: string): void => {
      if (run !== this.run) return;
      this.finished({ ok, reason, at: Date.now() });
    };
    const { check, timeoutMs } = this.probe;
    if (check.kind === 'exec') this.exec(check.argv, run, done);
    else if (check.kind === 'http')
      void this.ctx.net.httpGet(check.url, timeoutMs).then((r) => {
        if ('error' in r) done(false, r.error);
        else done(httpPasses(r.status, check.statuses), `HTTP ${r.status}`);
      });
    else
      void this.ctx.net
        .tcpConnect(check.host, check.port, timeoutMs)
        .then((err) => done(err === null, err ?? 'connected'));
  }

  private finished(r: CheckResult): void {
    const { tally, flipped } = record(this.tally, r, this.probe);
    this.tally = tally;
    this.schedule(this.probe.periodMs);
    this.hooks.result(this.role, tally, flipped);
  }

  /** The command in a group of its own, SIGKILLed with its group on timeout or when it exits. */
  private exec(
    argv: readonly string[],
    run: number,
    done: (ok: boolean, why: string) => void,
  ): void {
    const def = this.def();
    const timeoutMs = this.probe.timeoutMs;
    let timedOut = false;
    const child: Child | null = launch(
      this.ctx,
      def,
      argv,
      run,
      ['test', 'test'],
      {
        failed: (error) => done(false, error),
        exited: (code, signal) => {
          if (this.checkTimer) clearTimeout(this.checkTimer);
          this.checkTimer = null;
          if (child?.pid !== undefined) this.ctx.procs.signalGroup(child.pid, 'SIGKILL');
          if (this.child === child) this.child = null;
          if (timedOut) done(false, `timed out after ${timeoutMs} ms`);
          else
            done(code === 0, describeExit({ pid: child?.pid ?? 0, code, signal, at: Date.now() }));
        },
      },
      { role: 'test' },
    );
    if (child?.pid === undefined) return;
    const pid = child.pid;
    this.child = child;
    this.checkTimer = setTimeout(() => {
      timedOut = true;
      this.ctx.procs.signalGroup(pid, 'SIGKILL');
    }, timeoutMs);
  }
}
