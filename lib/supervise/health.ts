// zinit's health test for one service: its `test` command run in a group of
// its own, SIGKILLed (group and all) when it outlives its timeout or when it
// exits, and run again at the interval until the worker stops asking. It
// reports each run's outcome; the worker decides what a pass or a failure
// means for the service's state.

import type { ServiceDef } from '../core/definition.js';
import { describeExit } from '../core/state.js';
import { type LaunchContext, launch } from './launch.js';
import type { Child } from './seam.js';
import { OneTimer } from './timer.js';

export interface HealthResult {
  /** Which run of the service was tested. */
  readonly run: number;
  readonly passed: boolean;
  /** Why it failed; null on a pass. */
  readonly why: string | null;
}

export class HealthTest {
  private child: Child | null = null;
  private readonly interval = new OneTimer();
  /** Bumped by stop(): a test killed by it reports nothing. */
  private generation = 0;

  constructor(
    private readonly ctx: LaunchContext,
    private readonly def: () => ServiceDef,
    /** Whether the result of a test of `run` still matters. */
    private readonly wanted: (run: number) => boolean,
    private readonly result: (r: HealthResult) => void,
  ) {}

  /** The process group of a test now running, 0 when none. */
  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** Run the test for `run` now. */
  run(run: number): void {
    const def = this.def();
    if (def.test === null || !this.wanted(run)) return;
    const generation = this.generation;
    const wanted = (): boolean => this.generation === generation && this.wanted(run);
    const fail = (why: string): void => {
      if (wanted()) this.result({ run, passed: false, why });
    };
    let timedOut = false;
    let timer: NodeJS.Timeout | null = null;
    const child: Child | null = launch(
      this.ctx,
      def,
      def.test,
      run,
      ['test', 'test'],
      {
        failed: fail,
        exited: (code, signal) => {
          if (timer) clearTimeout(timer);
          // Whatever the test left behind in its groups goes with it.
          if (child?.pid !== undefined) this.killTest(child.pid);
          if (this.child === child) this.child = null;
          if (!wanted()) return;
          if (code === 0) this.result({ run, passed: true, why: null });
          else if (timedOut) fail(`timed out after ${def.testTimeoutMs} ms`);
          else fail(describeExit({ pid: child?.pid ?? 0, code, signal, at: Date.now() }));
        },
      },
      { role: 'test' },
    );
    if (child?.pid === undefined) return;
    const pid = child.pid;
    this.child = child;
    timer = setTimeout(() => {
      timedOut = true;
      this.killTest(pid);
    }, def.testTimeoutMs);
  }

  /** Run the test for `run` again after the interval. */
  again(run: number): void {
    this.interval.arm(this.def().testIntervalMs, () => this.run(run));
  }

  /** No more runs; a test still running is killed with its group. */
  stop(): void {
    this.generation++;
    this.interval.clear();
    const pid = this.child?.pid;
    if (pid !== undefined) this.killTest(pid);
    this.child = null;
  }

  /** SIGKILL to the test's process group, and to its cgroup where it has one. */
  private killTest(pgid: number): void {
    this.ctx.procs.signalGroup(pgid, 'SIGKILL');
    this.ctx.procs.box(this.def().name)?.killTest();
  }
}
