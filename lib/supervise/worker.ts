// One service's worker: it alone owns that service's process, its health
// test, its timers and its state. It decides nothing about other services:
// the manager tells it to start (dependencies are up), to block (they are
// not), or to stop, and it reports back through its hooks when it comes up or
// wants starting again. Decisions (restart or not, backoff delay) come from
// the pure functions in core/state.ts; processes are reached only through
// the process seam it is given.

import type { ServiceDef } from '../core/definition.js';
import { formatSize } from '../core/duration.js';
import { messageOf } from '../core/errors.js';
import type { SignalName } from '../core/signals.js';
import {
  type ExitInfo,
  type ServiceState,
  restartDelay,
  describeExit,
  hasProcess,
  shouldRestart,
} from '../core/state.js';
import type { LogStore } from '../logs/ring.js';
import { type HealthResult, HealthTest } from './health.js';
import { type LaunchContext, launch } from './launch.js';
import { LeftoverSweeps } from './leftovers.js';
import { ServiceOutput } from './output.js';
import type { Child, Processes, ServiceBox } from './seam.js';
import { StopEscalation } from './stop.js';
import { OneTimer } from './timer.js';

export { EXIT_OUTPUT_GRACE_MS } from './output.js';

export interface WorkerHooks {
  /** The service came up: healthy, or a oneshot that exited 0. */
  up(name: string): void;
  /** A stop finished while the target is up again: ask the manager to start it. */
  wantStart(name: string): void;
  /** Daemon event about this service, for stderr and the service's log. */
  event(name: string, text: string): void;
  /** Prefixed lines (`[+] name: text\n`…) for `log: stdout`, a chunk at a time. */
  stdout(data: Buffer, lines: number): void;
}

export interface WorkerContext {
  readonly logs: LogStore;
  readonly hooks: WorkerHooks;
  readonly procs: Processes;
}

/** How often a stopping service's group is checked for stragglers after its main process exited. */
const GROUP_POLL_MS = 10;
/** How long killed groups get to be gone before the cheap check gives way to a scan. */
const GROUP_GONE_WAIT_MS = 500;
/** How long a cgroup killed at the end of a stop gets to be empty. */
const BOX_KILLED_WAIT_MS = 2000;

interface Waiter {
  readonly until: (state: ServiceState) => boolean;
  readonly resolve: (state: ServiceState) => void;
}

export class ServiceWorker {
  private targetNow: 'up' | 'down' = 'down';
  state: ServiceState = { kind: 'stopped', since: Date.now(), lastExit: null };
  /** Restarts since the service was last started by request. */
  restarts = 0;
  /** How many times a process was spawned: the log's run number. */
  run = 0;
  /** How the last process ended, whatever the state now. */
  lastExit: ExitInfo | null = null;

  private attempt = 0;
  private child: Child | null = null;
  private startedAt = 0;
  private frozen = false;
  /** Whether a stop under way sweeps escaped processes itself (a shutdown sweeps once for all). */
  private sweepOnStop = true;
  private waiters: Waiter[] = [];
  /** Ending what an ended run left in its group: the stop signal, the grace, SIGKILL. */
  private ending: Promise<void> | null = null;
  private readonly retry = new OneTimer();
  private readonly launching: LaunchContext;
  private readonly output: ServiceOutput;
  private readonly escalation: StopEscalation;
  private readonly test: HealthTest;
  private readonly leftovers: LeftoverSweeps;
  /** The service's cgroup; null where the host gives none (tracked by group and marker). */
  private readonly box: ServiceBox | null;
  /** The cgroup's OOM kill count when the run started. */
  private oomBase: number | null = null;

  constructor(
    public def: ServiceDef,
    private readonly ctx: WorkerContext,
  ) {
    const emit = (text: string): void => this.emit(text);
    const marker = ctx.procs.marker(def.name);
    this.box = ctx.procs.box(def.name);
    this.output = new ServiceOutput(def.name, ctx.logs, {
      event: (text) => ctx.hooks.event(this.name, text),
      stdout: (data, lines) => ctx.hooks.stdout(data, lines),
    });
    this.launching = { procs: ctx.procs, output: this.output, marker };
    this.escalation = new StopEscalation(ctx.procs, emit, this.box);
    this.leftovers = new LeftoverSweeps(ctx.procs, marker, () => this.run, emit, this.box);
    this.test = new HealthTest(
      this.launching,
      () => this.def,
      (run) => this.run === run && this.state.kind === 'starting',
      (r) => this.tested(r),
    );
  }

  get name(): string {
    return this.def.name;
  }

  get target(): 'up' | 'down' {
    return this.targetNow;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get upSince(): number | null {
    return this.child ? this.startedAt : null;
  }

  /** The last stop had to SIGKILL the group after the timeout. */
  get forcedKill(): boolean {
    return this.escalation.forcedKill;
  }

  /** The target is up; the manager decides when it may start. */
  wantUp(): void {
    if (!this.frozen) this.targetNow = 'up';
  }

  /** A start by request: target up, earlier failures and any pending retry forgotten. */
  requestStart(): void {
    this.attempt = 0;
    this.restarts = 0;
    this.retry.clear();
    this.wantUp();
  }

  /** The manager found the dependencies up: spawn unless a process already exists. */
  start(): void {
    if (this.frozen) return;
    this.targetNow = 'up';
    if (hasProcess(this.state)) return;
    this.retry.clear();
    this.spawn();
  }

  /** Target up, but dependencies are not: wait. */
  block(waitingFor: readonly string[]): void {
    if (this.frozen) return;
    this.targetNow = 'up';
    if (hasProcess(this.state)) return;
    this.retry.clear();
    this.setState({ kind: 'blocked', since: Date.now(), waitingFor });
  }

  /** Whether the worker is at rest with its target up, waiting for the manager. */
  get idle(): boolean {
    return !hasProcess(this.state) && !this.retry.pending;
  }

  kill(signal: SignalName): boolean {
    const pid = this.child?.pid;
    return pid !== undefined && this.ctx.procs.signalGroup(pid, signal);
  }

  /**
   * Set the target down and stop the process group: the stop signal, then
   * SIGKILL after the timeout, then any marked process that left the group.
   * Resolves when they are gone. `sweep: false` leaves the escaped-process
   * sweep to the caller (a shutdown does one sweep for every service).
   */
  stop(sweep = true): Promise<void> {
    this.targetNow = 'down';
    this.retry.clear();
    this.test.stop();
    const pid = this.child?.pid;
    if (this.state.kind !== 'stopping' && pid === undefined) return this.stopAtRest(sweep);
    this.sweepOnStop = this.sweepOnStop && sweep;
    const done = this.escalation.wait();
    // Already on its way down (perhaps draining the group): just wait with the others.
    if (this.state.kind === 'stopping' || pid === undefined) return done;
    const timeout = this.def.shutdownTimeoutMs;
    this.setState({ kind: 'stopping', since: Date.now(), pid, killAt: Date.now() + timeout });
    this.escalation.begin(pid, this.def.stopSignal, timeout);
    return done;
  }

  /**
   * Shutdown has begun: never spawn again, whatever timer or exit comes. A
   * running process keeps running until stop() (its dependants stop first);
   * one that exits meanwhile is not restarted, and a pending retry is dropped.
   */
  freeze(): void {
    this.frozen = true;
    this.targetNow = 'down';
    this.retry.clear();
    if (!hasProcess(this.state) && this.state.kind !== 'stopped') {
      this.setState({ kind: 'stopped', since: Date.now(), lastExit: this.lastExit });
    }
  }

  /**
   * Resolves with the state as soon as `until` holds for it (now, or at a
   * change), or with the state as it is after `timeoutMs`.
   */
  when(until: (state: ServiceState) => boolean, timeoutMs: number): Promise<ServiceState> {
    if (until(this.state)) return Promise.resolve(this.state);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        until,
        resolve: (state) => {
          clearTimeout(timer);
          resolve(state);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(this.state);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  // --- internals -----------------------------------------------------------

  private setState(state: ServiceState): void {
    this.state = state;
    if (this.waiters.length === 0) return;
    const done = this.waiters.filter((w) => w.until(state));
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve(state);
  }

  private emit(text: string): void {
    this.ctx.hooks.event(this.name, text);
    this.output.event(text);
  }

  /** A stop with no process running: stopped once the last run's leftovers are gone. */
  private stopAtRest(sweep: boolean): Promise<void> {
    const wasExited = this.state.kind === 'exited';
    if (this.state.kind !== 'stopped') {
      this.setState({ kind: 'stopped', since: Date.now(), lastExit: this.lastExit });
    }
    // Stopped means nothing of it runs: an exited run may have left some outside its group.
    const ending = this.ending ?? Promise.resolve();
    if (wasExited && sweep && !this.leftovers.holdsSpawn) {
      this.leftovers.sweep(null, [this.lastExit?.pid ?? 0], 0, ending);
    }
    return Promise.all([ending, this.leftovers.done()]).then(() => undefined);
  }

  private spawn(): void {
    if (this.frozen) return;
    if (this.ending) {
      // The last run's group is still being ended: two runs never overlap.
      this.spawnAfterEnding(this.ending);
      return;
    }
    if (this.leftovers.holdsSpawn) {
      // The last run's escaped processes are still being killed; a new run
      // must not start before, or the sweep would take it for one of them.
      this.leftovers.spawnAfter(() => {
        if (this.targetNow === 'up' && !hasProcess(this.state)) this.spawn();
      });
      return;
    }
    const def = this.def;
    const run = ++this.run;
    const kinds = def.log.kind === 'none' ? null : (['stdout', 'stderr'] as const);
    const child: Child | null = launch(this.launching, def, def.exec, run, kinds, {
      failed: (error) => this.spawnFailed(error),
      exited: (code, signal) => child && this.exited(child, code, signal),
      error: (err) => this.emit(`process error: ${err.message}`),
    });
    if (child?.pid === undefined) {
      // The error follows on the next tick; until then the worker counts as
      // starting, so nothing spawns twice and no waiter hears a placeholder.
      this.setState({
        kind: 'starting',
        since: Date.now(),
        pid: 0,
        testFailures: 0,
        lastTestError: null,
      });
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    this.oomBase = this.box?.oomKills() ?? null;
    this.emit(`started: pid ${child.pid}, run ${run}: ${def.exec.join(' ')}`);
    // Without a health test a long-running service is up once spawned; a
    // oneshot is starting until it exits.
    if (def.test === null && !def.oneshot) {
      this.becameUp(child.pid);
      return;
    }
    const since = this.startedAt;
    this.setState({
      kind: 'starting',
      since,
      pid: child.pid,
      testFailures: 0,
      lastTestError: null,
    });
    if (!def.oneshot) this.test.run(run);
  }

  private spawnAfterEnding(ending: Promise<void>): void {
    if (this.spawnWaits) return;
    this.spawnWaits = true;
    void ending.then(() => {
      this.spawnWaits = false;
      if (this.targetNow === 'up' && !hasProcess(this.state)) this.spawn();
    });
  }
  private spawnWaits = false;

  private spawnFailed(error: string): void {
    this.emit(`failed to start: ${error}`);
    if (this.targetNow === 'down' || this.def.restart === 'never') {
      this.setState({ kind: 'failed', since: Date.now(), error, retryAt: null });
      this.finishStop(null);
      return;
    }
    // A spawn failure backs off like a crash, so it never busy-loops.
    const { delayMs, nextAttempt } = restartDelay(this.def, this.attempt, 0);
    this.attempt = nextAttempt;
    this.setState({ kind: 'failed', since: Date.now(), error, retryAt: Date.now() + delayMs });
    this.emit(`retrying in ${delayMs} ms`);
    this.retry.arm(delayMs, () => {
      if (this.targetNow === 'up' && !hasProcess(this.state)) {
        this.restarts++;
        this.spawn();
      }
    });
  }

  private becameUp(pid: number): void {
    this.setState({ kind: 'running', since: Date.now(), pid });
    this.ctx.hooks.up(this.name);
  }

  private tested(r: HealthResult): void {
    const state = this.state;
    if (this.run !== r.run || state.kind !== 'starting') return;
    if (r.passed) {
      this.emit('healthy: test passed');
      this.becameUp(state.pid);
      return;
    }
    this.setState({ ...state, testFailures: state.testFailures + 1, lastTestError: r.why });
    if (state.testFailures === 0)
      this.emit(`health test failed: ${r.why}; retrying every ${this.def.testIntervalMs} ms`);
    this.test.again(r.run);
  }

  private exited(child: Child, code: number | null, signal: string | null): void {
    if (child !== this.child) return;
    const pid = child.pid ?? 0;
    const oom = this.oomKilled(signal);
    const exit: ExitInfo = { pid, code, signal, at: Date.now(), ...(oom ? { oom } : {}) };
    this.lastExit = exit;
    this.child = null;
    // The groups whose members may leave orphans behind once they are gone.
    const groups = [pid, this.test.pid];
    this.test.stop();
    this.emit(describeExit(exit));
    if (this.state.kind === 'stopping' || this.targetNow === 'down') {
      void this.drainGroup(pid, exit, groups);
      return;
    }
    // What is left in the group ends as a stop would end it.
    const ended = this.endLeftovers(pid, this.run);
    if (this.def.oneshot) this.oneshotEnded(exit);
    else this.runEnded(exit, groups, ended);
  }

  /** Which limit was reached, when the OOM killer struck in the group during this run and the process died of SIGKILL. */
  private oomKilled(signal: string | null): string | null {
    const base = this.oomBase;
    if (signal !== 'SIGKILL' || base === null) return null;
    const now = this.box?.oomKills() ?? null;
    if (now === null || now <= base) return null;
    const max = this.def.sandbox.limits.memoryMax;
    return max === null ? 'a memory limit was reached' : `memory_max ${formatSize(max)} reached`;
  }

  /**
   * What an ended run left in its group gets the stop signal, the shutdown
   * timeout's grace and then SIGKILL, as in a stop, in the background; the
   * log says how many there were. Resolves when they are gone.
   */
  private endLeftovers(pgid: number, run: number): Promise<void> {
    const { procs } = this.ctx;
    if (!procs.groupExists(pgid)) return Promise.resolve();
    const def = this.def;
    const ending = (async (): Promise<void> => {
      const n = await procs.groupSize(pgid);
      procs.signalGroup(pgid, def.stopSignal);
      await this.groupGone(pgid, Date.now() + def.shutdownTimeoutMs);
      const forced = procs.signalGroup(pgid, 'SIGKILL');
      if (n === 0) return;
      const what = `${n} leftover process${n === 1 ? '' : 'es'} of run ${run}`;
      this.emit(
        forced ? `ended ${what} (SIGKILL after ${def.shutdownTimeoutMs} ms)` : `ended ${what}`,
      );
    })()
      .catch((err: unknown) =>
        this.emit(`while ending the leftovers of run ${run}: ${messageOf(err)}`),
      )
      .finally(() => {
        if (this.ending === ending) this.ending = null;
      });
    this.ending = ending;
    return ending;
  }

  private oneshotEnded(exit: ExitInfo): void {
    if (exit.code === 0) {
      this.setState({ kind: 'success', since: exit.at, lastExit: exit });
      this.ctx.hooks.up(this.name);
    } else {
      this.setState({ kind: 'exited', since: exit.at, lastExit: exit });
    }
  }

  /** A long-running service's process ended on its own: restart it, or not. */
  private runEnded(exit: ExitInfo, groups: readonly number[], ended: Promise<void>): void {
    const now = exit.at;
    if (!shouldRestart(this.def.restart, exit)) {
      // No next run to collide with: what left the group may finish (and
      // its output is still captured); a stop sweeps it.
      this.setState({ kind: 'exited', since: now, lastExit: exit });
      return;
    }
    // Whatever left the group would otherwise run twice after the restart.
    // The sweep spares the next run (by its run number), so the restart need
    // not wait for it: a respawn costs a spawn, not a scan of /proc.
    const next = this.run + 1;
    const { delayMs, nextAttempt } = restartDelay(this.def, this.attempt, now - this.startedAt);
    this.attempt = nextAttempt;
    this.restarts++;
    if (delayMs === 0) {
      this.emit('restarting now (was up past stable_after)');
      this.setState({ kind: 'backoff', since: now, retryAt: now, lastExit: exit, error: null });
      // In a cgroup the next run starts in an emptied group: the sweep goes first.
      if (this.leftovers.blocksRestart)
        this.leftovers.sweep(next, groups, GROUP_GONE_WAIT_MS, ended);
      this.spawn();
      if (!this.leftovers.blocksRestart)
        this.leftovers.sweep(next, groups, GROUP_GONE_WAIT_MS, ended);
      return;
    }
    this.leftovers.sweep(next, groups, GROUP_GONE_WAIT_MS, ended);
    const retryAt = now + delayMs;
    this.setState({ kind: 'backoff', since: now, retryAt, lastExit: exit, error: null });
    this.emit(`restarting in ${delayMs} ms`);
    this.retry.arm(delayMs, () => {
      if (this.targetNow === 'up' && this.state.kind === 'backoff') this.spawn();
    });
  }

  /** The main process of a stopping service is gone: wait for its group, then sweep. */
  private async drainGroup(pgid: number, exit: ExitInfo, groups: readonly number[]): Promise<void> {
    try {
      const killAt = this.state.kind === 'stopping' ? this.state.killAt : Date.now();
      if (this.box !== null) await this.emptyBox(this.box, pgid, killAt);
      else {
        await this.groupGone(pgid, killAt);
        this.escalation.killRest(pgid);
        const procs = this.ctx.procs;
        const marker = this.launching.marker;
        if (this.sweepOnStop && (await procs.mayHaveEscaped(groups, marker, GROUP_GONE_WAIT_MS))) {
          await procs.sweepMarked(marker, null);
        }
      }
    } catch (err) {
      this.emit(`while stopping: ${messageOf(err)}`);
    }
    this.finishStop(exit);
  }

  /**
   * The end of a stop in a cgroup: what left the process group gets the stop
   * signal too and the rest of the grace, then the whole group is killed.
   * Nothing escapes, whatever it did (setsid, a double fork, a cleared
   * environment).
   */
  private async emptyBox(box: ServiceBox, pgid: number, killAt: number): Promise<void> {
    if (!box.populated()) return;
    box.signalOutside(pgid, this.def.stopSignal);
    if (await box.whenEmpty(killAt)) return;
    const n = box.kill();
    if (n > 0) {
      this.escalation.forcedKill = true;
      this.emit(`SIGKILL to cgroup ${box.path}: ${n} process${n === 1 ? '' : 'es'} left`);
    }
    await box.whenEmpty(Date.now() + BOX_KILLED_WAIT_MS);
  }

  /** Polls until group `pgid` has no member left, or `deadline` passes. */
  private async groupGone(pgid: number, deadline: number): Promise<void> {
    while (pgid > 1 && this.ctx.procs.groupExists(pgid) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, GROUP_POLL_MS));
    }
  }

  private finishStop(exit: ExitInfo | null): void {
    this.sweepOnStop = true;
    if (this.state.kind === 'stopping' || this.targetNow === 'down') {
      this.setState({ kind: 'stopped', since: Date.now(), lastExit: exit ?? this.lastExit });
      this.emit('stopped');
      this.output.closeFile();
      if (this.box !== null && !this.box.populated()) this.box.remove();
    }
    this.escalation.finish();
    if (this.targetNow === 'up' && !hasProcess(this.state)) this.ctx.hooks.wantStart(this.name);
  }
}
