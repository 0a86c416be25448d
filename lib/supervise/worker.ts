// One service's worker: it alone owns that service's process, what watches
// its runs (health test, probes, notifications, watchdog: watchers.ts), its
// timers and its state. It decides nothing about other services: the
// manager tells it to start (dependencies are met), to block (they are
// not), to stop, or that a scheduled run is due, and it reports back
// through its hooks when its state changes or it wants starting again.
// Decisions (restart or not, backoff delay, the restart limit) come from the
// pure functions in core/; processes are reached only through the seams.

import type { ServiceDef } from '../core/definition.js';
import { formatDuration, formatSize } from '../core/duration.js';
import { messageOf } from '../core/errors.js';
import type { EventBody } from '../core/events.js';
import { sameJson } from '../core/jsontype.js';
import { admitRestart, withinWindow } from '../core/restart-limit.js';
import type { SignalName } from '../core/signals.js';
import {
  type ExitInfo,
  type ServiceState,
  restartDelay,
  describeExit,
  exitSucceeded,
  gaveUpText,
  hasProcess,
  shouldRestart,
} from '../core/state.js';
import { nextRun } from '../config/schedule.js';
import type { LogStore } from '../logs/ring.js';
import { type LaunchContext, launch } from './launch.js';
import { LeftoverSweeps } from './leftovers.js';
import { ServiceOutput } from './output.js';
import type { Child, Network, Processes, ServiceBox } from './seam.js';
import { StopEscalation } from './stop.js';
import { WorkerRecord } from './record.js';
import { OneTimer } from './timer.js';
import type { Counters, LastUp } from './view.js';
import { RunWatchers, type WatchView } from './watchers.js';

export { EXIT_OUTPUT_GRACE_MS } from './output.js';

export interface WorkerHooks {
  /** The service came up: ready, or a oneshot that succeeded. */
  up(name: string): void;
  /** The service's state changed in any other way too (it started, failed, lost readiness…). */
  changed?(name: string): void;
  /** Its next scheduled run is due at `at` (epoch ms); null: none is. */
  scheduled?(name: string, at: number | null): void;
  /** A stop finished while the target is up again: ask the manager to start it. */
  wantStart(name: string): void;
  /** Daemon event about this service, for stderr and the service's log. */
  event(name: string, text: string): void;
  /** Prefixed lines (`[+] name: text\n`…) for `log: stdout`, a chunk at a time. */
  stdout(data: Buffer, lines: number): void;
  /** Something to go into the event log (a state change, an exit, a restart…). */
  record?(event: EventBody): void;
}

export interface WorkerContext {
  readonly logs: LogStore;
  readonly hooks: WorkerHooks;
  readonly procs: Processes;
  /** The network probes reach; without one, HTTP and TCP checks fail. */
  readonly net?: Network;
}

/** Where no network was given: every check fails, and says why. */
const NO_NETWORK: Network = {
  httpGet: () => Promise.resolve({ error: 'no network to probe through' }),
  tcpConnect: () => Promise.resolve('no network to probe through'),
};

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
  /** When the next scheduled run is due; null when none is. */
  nextRunAt: number | null = null;

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
  private readonly watchers: RunWatchers;
  private readonly leftovers: LeftoverSweeps;
  private readonly rec: WorkerRecord;
  /** The service's cgroup; null where the host gives none (tracked by group and marker). */
  private readonly box: ServiceBox | null;
  /** The cgroup's OOM kill count when the run started. */
  private oomBase: number | null = null;
  /** When recent restarts happened, for `restart_limit`. */
  private restartTimes: number[] = [];
  /** Why the run now stopping is being restarted (liveness, watchdog); null for a plain stop. */
  private restarting: string | null = null;
  /** A start by request runs a scheduled oneshot now rather than at its next time. */
  private runNow = false;

  constructor(
    public def: ServiceDef,
    private readonly ctx: WorkerContext,
  ) {
    const emit = (text: string): void => this.emit(text);
    this.rec = new WorkerRecord(
      def.name,
      () => this.def,
      (e) => ctx.hooks.record?.(e),
    );
    const marker = ctx.procs.marker(def.name);
    this.box = ctx.procs.box(def.name);
    this.output = new ServiceOutput(def.name, ctx.logs, {
      event: (text) => ctx.hooks.event(this.name, text),
      stdout: (data, lines) => ctx.hooks.stdout(data, lines),
    });
    this.launching = { procs: ctx.procs, output: this.output, marker };
    this.escalation = new StopEscalation(ctx.procs, emit, this.box);
    this.leftovers = new LeftoverSweeps(ctx.procs, marker, () => this.run, emit, this.box);
    this.watchers = new RunWatchers(
      { ...this.launching, net: ctx.net ?? NO_NETWORK },
      () => this.def,
      def.name,
      {
        ready: (run, how) => this.ready(run, how),
        unready: (run, why) => this.unready(run, why),
        notYet: (run, n, why) => this.notYet(run, n, why),
        checked: (run, c) =>
          this.rec.checked(run, c.probe, c.passed, c.failures, c.error, c.changed),
        restart: (run, why) => this.restartRun(run, why),
        extendStop: (run, ms) => this.extendStop(run, ms),
        event: emit,
      },
    );
  }

  /** Lifetime counts for metrics: restarts, failed checks, give-ups. */
  get counters(): Readonly<Counters> {
    return this.rec.counters;
  }

  /** The last run that came up, for the critical chain. */
  get lastUp(): LastUp | null {
    return this.rec.lastUp;
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

  /** Probes, notifications and the watchdog as they stand. */
  get watching(): WatchView {
    return this.watchers.view;
  }

  /** Restarts within the restart limit's window now (0 without a limit). */
  get restartsInWindow(): number {
    const limit = this.def.restartLimit;
    return limit === null ? 0 : withinWindow(this.restartTimes, Date.now(), limit).length;
  }

  /** The target is up; the manager decides when it may start. */
  wantUp(): void {
    if (!this.frozen) this.targetNow = 'up';
  }

  /** A start by request: target up, earlier failures and any pending retry forgotten. */
  requestStart(): void {
    this.attempt = 0;
    this.restarts = 0;
    this.restartTimes = [];
    this.runNow = true;
    this.retry.clear();
    this.wantUp();
  }

  /**
   * The manager found the dependencies met: spawn unless a process already
   * exists. A scheduled oneshot waits for its time instead, unless a request
   * asked for it now.
   */
  start(): void {
    if (this.frozen) return;
    this.targetNow = 'up';
    if (hasProcess(this.state)) return;
    this.retry.clear();
    if (this.def.schedule !== null && !this.runNow) {
      if (this.state.kind !== 'scheduled') this.awaitSchedule(Date.now());
      return;
    }
    this.runNow = false;
    this.spawn();
  }

  /** Target up, but dependencies are not met: wait (`cannot`: those that never will be, as things are). */
  block(waitingFor: readonly string[], cannot: readonly string[] = []): void {
    if (this.frozen) return;
    this.targetNow = 'up';
    if (hasProcess(this.state)) return;
    this.retry.clear();
    const was = this.state.kind === 'blocked' ? this.state : null;
    if (was && same(was.waitingFor, waitingFor) && same(was.cannot ?? [], cannot)) return;
    if (cannot.length > 0 && !same(was?.cannot ?? [], cannot))
      this.emit(`blocked: ${cannot.join('; ')}`);
    this.setState({
      kind: 'blocked',
      since: was?.since ?? Date.now(),
      waitingFor,
      ...(cannot.length > 0 ? { cannot } : {}),
    });
  }

  /**
   * A scheduled run is due at `at`. One still going is not doubled: this
   * one is skipped and logged. `skip` says why the manager will not run it.
   */
  due(at: number, skip: string | null): void {
    if (this.frozen || this.targetNow !== 'up' || this.def.schedule === null) return;
    const when = new Date(at).toISOString();
    if (skip === null && hasProcess(this.state))
      skip = `run ${this.run} (started ${new Date(this.startedAt).toISOString()}) is still going`;
    if (skip !== null) {
      this.emit(`skipped the run due at ${when}: ${skip}`);
      this.scheduleAfter(at);
      return;
    }
    // The next time is known while this run goes, so an overrun is seen (and skipped).
    this.scheduleAfter(at);
    this.spawn();
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
    this.watchers.stopping();
    this.setNextRun(null);
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
   * A new definition whose changes a running process can take (a reload):
   * output goes where the new `log:` says; a run's checks (test, probes,
   * ready_log) are the new ones from now, a ready run staying ready; one in
   * backoff that the new restart policy would not restart is left exited;
   * a scheduled oneshot waits for the new schedule's next time. The rest is
   * read where it is used (stop signal, timeouts, delays, limits).
   */
  take(def: ServiceDef): void {
    const old = this.def;
    this.def = def;
    this.output.follow(def, !sameJson(old.log, def.log) || old.dir !== def.dir);
    const state = this.state;
    const checked = state.kind === 'starting' || state.kind === 'running';
    if (checked && this.child && !def.oneshot && checksChanged(old, def)) {
      this.watchers.rewatch(this.run, def, state.kind === 'running');
      const now = this.state;
      if (now.kind === 'running' && now.unready !== undefined && def.readiness === null)
        this.ready(this.run, 'no readiness probe since the reload');
    }
    const exit = state.kind === 'backoff' ? state.lastExit : null;
    if (exit && !shouldRestart(def.restart, exit, def.successCodes)) {
      this.retry.clear();
      this.setState({ kind: 'exited', since: Date.now(), lastExit: exit });
    }
    if (old.schedule !== null && def.schedule !== null && !sameJson(old.schedule, def.schedule))
      if (this.targetNow === 'up' && this.nextRunAt !== null) this.scheduleAfter(Date.now());
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
    this.setNextRun(null);
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
    const from = this.state;
    this.state = state;
    this.rec.state(from, state, this.run);
    this.ctx.hooks.changed?.(this.name);
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
    this.watchers.close();
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
    const extras = def.oneshot ? {} : this.watchers.extrasFor(def);
    const run = ++this.run;
    if (typeof extras === 'string') {
      this.setState({
        kind: 'starting',
        since: Date.now(),
        pid: 0,
        testFailures: 0,
        lastTestError: null,
      });
      process.nextTick(() => this.spawnFailed(extras));
      return;
    }
    const kinds = def.log.kind === 'none' ? null : (['stdout', 'stderr'] as const);
    const handlers = {
      failed: (error: string) => this.spawnFailed(error),
      exited: (code: number | null, signal: string | null) =>
        child && this.exited(child, code, signal),
      error: (err: Error) => this.emit(`process error: ${err.message}`),
    };
    const child: Child | null = launch(this.launching, def, def.exec, run, kinds, handlers, extras);
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
    this.afterSpawn(def, child, run);
  }

  /**
   * Without any readiness a long-running service is up once spawned; with
   * one it is starting until its watchers say it is ready; a oneshot is
   * starting until it exits.
   */
  private afterSpawn(def: ServiceDef, child: Child, run: number): void {
    const pid = child.pid ?? 0;
    if (def.oneshot) {
      this.setState({
        kind: 'starting',
        since: this.startedAt,
        pid,
        testFailures: 0,
        lastTestError: null,
      });
      return;
    }
    this.watchers.begin(run, child, def);
    if (this.child !== child || this.state.kind === 'running') return;
    const awaiting = this.watchers.awaiting(def);
    if (def.test === null && awaiting === null) {
      this.becameUp(pid);
      return;
    }
    this.setState({
      kind: 'starting',
      since: this.startedAt,
      pid,
      testFailures: 0,
      lastTestError: null,
      ...(awaiting !== null ? { awaiting } : {}),
    });
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
    if (!this.admit(Date.now())) return;
    // A spawn failure backs off like a crash, so it never busy-loops.
    const { delayMs, nextAttempt } = restartDelay(this.def, this.attempt, 0);
    this.attempt = nextAttempt;
    this.setState({ kind: 'failed', since: Date.now(), error, retryAt: Date.now() + delayMs });
    this.emit(`retrying in ${delayMs} ms`);
    this.rec.restart(this.run, delayMs, error, this.restarts + 1);
    this.retry.arm(delayMs, () => {
      if (this.targetNow === 'up' && !hasProcess(this.state)) {
        this.restarts++;
        this.spawn();
      }
    });
  }

  private becameUp(pid: number): void {
    this.rec.up(this.run, this.startedAt, Date.now());
    this.setState({ kind: 'running', since: Date.now(), pid });
    this.ctx.hooks.up(this.name);
  }

  /** The watchers found run `run` ready: up (first time), or ready again. */
  private ready(run: number, how: string): void {
    const state = this.state;
    if (this.run !== run) return;
    if (state.kind === 'starting') {
      this.emit(how === 'test passed' ? 'healthy: test passed' : `ready: ${how}`);
      this.becameUp(state.pid);
    } else if (state.kind === 'running' && state.unready !== undefined) {
      this.emit(`ready again: ${how}`);
      this.setState({ kind: 'running', since: state.since, pid: state.pid });
      this.ctx.hooks.up(this.name);
    }
  }

  /** Running, but not ready: dependants already started go on; blocked ones wait. */
  private unready(run: number, why: string): void {
    const state = this.state;
    if (this.run !== run || state.kind !== 'running') return;
    this.emit(`not ready: ${why}`);
    this.setState({ ...state, unready: why });
  }

  private notYet(run: number, failures: number, why: string): void {
    const state = this.state;
    if (this.run !== run || state.kind !== 'starting') return;
    this.setState({ ...state, testFailures: failures, lastTestError: why });
    if (failures !== 1) return;
    if (this.def.test !== null)
      this.emit(`health test failed: ${why}; retrying every ${this.def.testIntervalMs} ms`);
    else this.emit(`not ready yet: ${why}`);
  }

  /**
   * Liveness or the watchdog gave up on run `run`: it is stopped as a stop
   * would (the stop signal, SIGKILL after shutdown_timeout), and its end
   * counts as a failure for the restart policy, the backoff and the limit.
   */
  private restartRun(run: number, why: string): void {
    const child = this.child;
    const pid = child?.pid;
    if (this.run !== run || pid === undefined || this.targetNow !== 'up') return;
    if (this.state.kind === 'stopping') return;
    this.emit(why);
    this.restarting = why;
    this.watchers.stopping();
    const timeout = this.def.shutdownTimeoutMs;
    this.setState({ kind: 'stopping', since: Date.now(), pid, killAt: Date.now() + timeout });
    this.escalation.begin(pid, this.def.stopSignal, timeout);
  }

  /** EXTEND_TIMEOUT_USEC while stopping: the SIGKILL waits at least `ms` more. */
  private extendStop(run: number, ms: number): void {
    const state = this.state;
    if (this.run !== run || state.kind !== 'stopping') return;
    const killAt = Date.now() + ms;
    if (killAt <= state.killAt) return;
    this.escalation.extend(state.pid, killAt - Date.now());
    this.setState({ ...state, killAt });
  }

  private exited(child: Child, code: number | null, signal: string | null): void {
    if (child !== this.child) return;
    const pid = child.pid ?? 0;
    const oom = this.oomKilled(signal);
    const exit: ExitInfo = { pid, code, signal, at: Date.now(), ...(oom ? { oom } : {}) };
    this.lastExit = exit;
    this.child = null;
    // The groups whose members may leave orphans behind once they are gone.
    const groups = [pid, this.watchers.testPid];
    const restarting = this.restarting;
    this.restarting = null;
    this.watchers.end();
    this.emit(describeExit(exit, this.def.successCodes));
    this.rec.exit(this.run, pid, code, signal, exit.at - this.startedAt);
    if (this.targetNow === 'down' || (this.state.kind === 'stopping' && restarting === null)) {
      void this.drainGroup(pid, exit, groups);
      return;
    }
    if (restarting !== null) this.escalation.finish();
    // What is left in the group ends as a stop would end it.
    const ended = this.endLeftovers(pid, this.run);
    if (this.def.oneshot) this.oneshotEnded(exit);
    else this.runEnded(exit, groups, ended, restarting);
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
    const ok = exitSucceeded(exit, this.def.successCodes);
    if (ok) this.rec.up(this.run, this.startedAt, exit.at);
    if (this.def.schedule !== null) this.awaitSchedule(exit.at, exit, ok);
    else if (ok) this.setState({ kind: 'success', since: exit.at, lastExit: exit });
    else this.setState({ kind: 'exited', since: exit.at, lastExit: exit });
    if (ok) this.ctx.hooks.up(this.name);
  }

  /** Between scheduled runs: the next one after `after`, and how the last ended. */
  private awaitSchedule(
    after: number,
    exit: ExitInfo | null = null,
    ok: boolean | null = null,
  ): void {
    const at = this.scheduleAfter(after);
    this.setState({
      kind: 'scheduled',
      since: Date.now(),
      nextRun: at,
      lastExit: exit,
      succeeded: ok,
    });
  }

  /** The next scheduled run after `after`, told to the manager; null when there is none. */
  private scheduleAfter(after: number): number | null {
    const schedule = this.def.schedule;
    const at = schedule === null ? null : nextRun(schedule, Math.max(after, Date.now()));
    this.setNextRun(at);
    if (this.state.kind === 'scheduled' && this.state.nextRun !== at)
      this.setState({ ...this.state, nextRun: at });
    return at;
  }

  private setNextRun(at: number | null): void {
    if (this.nextRunAt === at) return;
    this.nextRunAt = at;
    this.ctx.hooks.scheduled?.(this.name, at);
  }

  /**
   * A restart is due at `now`: false when it passes the restart limit, and
   * the service has been given up on (failed; tried again after the
   * cooldown, if one is set).
   */
  private admit(now: number): boolean {
    const limit = this.def.restartLimit;
    const r = admitRestart(this.restartTimes, now, limit);
    this.restartTimes = r.times;
    if (!r.gaveUp || limit === null) return true;
    const error = gaveUpText(limit.count, limit.windowMs);
    const cooldown = this.def.restartCooldownMs;
    this.rec.gaveUp(this.run, limit.count, limit.windowMs, cooldown);
    this.emit(cooldown === null ? error : `${error}; trying again in ${formatDuration(cooldown)}`);
    this.setState({
      kind: 'failed',
      since: now,
      error,
      retryAt: cooldown === null ? null : now + cooldown,
    });
    if (cooldown !== null)
      this.retry.arm(cooldown, () => {
        if (this.targetNow === 'up' && !hasProcess(this.state)) {
          this.restarts++;
          this.spawn();
        }
      });
    return false;
  }

  /**
   * A long-running service's process ended on its own, or was ended by
   * liveness or the watchdog (`failure`: why; always a failure): restart
   * it, or not.
   */
  private runEnded(
    exit: ExitInfo,
    groups: readonly number[],
    ended: Promise<void>,
    failure: string | null,
  ): void {
    const now = exit.at;
    const restart =
      failure === null
        ? shouldRestart(this.def.restart, exit, this.def.successCodes)
        : this.def.restart !== 'never';
    if (!restart || !this.admit(now)) {
      // No next run to collide with: what left the group may finish (and
      // its output is still captured); a stop sweeps it.
      if (!restart) this.setState({ kind: 'exited', since: now, lastExit: exit });
      return;
    }
    // Whatever left the group would otherwise run twice after the restart.
    // The sweep spares the next run (by its run number), so the restart need
    // not wait for it: a respawn costs a spawn, not a scan of /proc.
    const next = this.run + 1;
    // A run ended for failing its checks was not a stable one, however long it lasted.
    const uptime = failure === null ? now - this.startedAt : 0;
    const { delayMs, nextAttempt } = restartDelay(this.def, this.attempt, uptime);
    this.attempt = nextAttempt;
    this.restarts++;
    this.rec.restart(
      this.run,
      delayMs,
      failure ?? describeExit(exit, this.def.successCodes),
      this.restarts,
    );
    if (delayMs === 0) {
      this.emit('restarting now (was up past stable_after)');
      this.setState({ kind: 'backoff', since: now, retryAt: now, lastExit: exit, error: null });
      // In a cgroup the next run starts in an emptied group: the sweep goes
      // first, unless the group is empty already (the usual case), when the
      // next run starts in this very turn.
      if (this.leftovers.blocksRestart && (this.ending !== null || this.box?.populated() !== false))
        this.leftovers.sweep(next, groups, GROUP_GONE_WAIT_MS, ended);
      this.spawn();
      if (!this.leftovers.blocksRestart)
        this.leftovers.sweep(next, groups, GROUP_GONE_WAIT_MS, ended);
      return;
    }
    this.leftovers.sweep(next, groups, GROUP_GONE_WAIT_MS, ended);
    const retryAt = now + delayMs;
    this.setState({ kind: 'backoff', since: now, retryAt, lastExit: exit, error: failure });
    this.emit(`restarting in ${delayMs} ms`);
    this.retry.arm(delayMs, () => {
      if (this.targetNow === 'up' && this.state.kind === 'backoff') this.spawn();
    });
  }

  /** The main process of a stopping service is gone: wait for its group, then sweep. */
  private async drainGroup(pgid: number, exit: ExitInfo, groups: readonly number[]): Promise<void> {
    let empty = false;
    try {
      const killAt = this.state.kind === 'stopping' ? this.state.killAt : Date.now();
      if (this.box !== null) empty = await this.emptyBox(this.box, pgid, killAt);
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
    this.finishStop(exit, empty);
  }

  /**
   * The end of a stop in a cgroup: what left the process group gets the stop
   * signal too and the rest of the grace, then the whole group is killed.
   * Nothing escapes, whatever it did (setsid, a double fork, a cleared
   * environment). True when the group was found empty.
   */
  private async emptyBox(box: ServiceBox, pgid: number, killAt: number): Promise<boolean> {
    // Usually the main process was all there was: one read, at once.
    if (!box.populated()) return true;
    const outside = box.signalOutside(pgid, this.def.stopSignal);
    if (outside > 0) {
      const what = `${outside} process${outside === 1 ? '' : 'es'}`;
      this.emit(
        `${this.def.stopSignal} to ${what} of cgroup ${box.path} outside its process group`,
      );
    }
    if (await box.whenEmpty(killAt)) return true;
    const n = box.kill();
    if (n > 0) {
      this.escalation.forcedKill = true;
      this.emit(`SIGKILL to cgroup ${box.path}: ${n} process${n === 1 ? '' : 'es'} left`);
    }
    return box.whenEmpty(Date.now() + BOX_KILLED_WAIT_MS);
  }

  /** Polls until group `pgid` has no member left, or `deadline` passes. */
  private async groupGone(pgid: number, deadline: number): Promise<void> {
    while (pgid > 1 && this.ctx.procs.groupExists(pgid) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, GROUP_POLL_MS));
    }
  }

  /** `empty`: the cgroup was just found empty (no need to read it again). */
  private finishStop(exit: ExitInfo | null, empty = false): void {
    this.sweepOnStop = true;
    if (this.state.kind === 'stopping' || this.targetNow === 'down') {
      this.setState({ kind: 'stopped', since: Date.now(), lastExit: exit ?? this.lastExit });
      this.emit('stopped');
      this.output.closeFile();
      this.watchers.close();
      if (this.box !== null && (empty || !this.box.populated())) this.box.remove();
    }
    this.escalation.finish();
    if (this.targetNow === 'up' && !hasProcess(this.state)) this.ctx.hooks.wantStart(this.name);
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether what checks a run (its readiness and liveness) differs. */
function checksChanged(a: ServiceDef, b: ServiceDef): boolean {
  return (
    !sameJson(a.test, b.test) ||
    !sameJson(a.readiness, b.readiness) ||
    !sameJson(a.liveness, b.liveness) ||
    a.readyLog !== b.readyLog
  );
}
