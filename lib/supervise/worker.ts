// One service's worker: it alone owns that service's process, its health
// test, its timers and its state. It decides nothing about other services:
// the manager tells it to start (dependencies are up), to block (they are
// not), or to stop, and it reports back through its hooks when it comes up or
// wants starting again. Decisions (restart or not, backoff delay) come from
// the pure functions in state.ts.

import type { SignalName } from '../core/signals.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { messageOf } from '../core/errors.js';
import { FileLog } from '../logs/file.js';
import {
  Capture,
  type LogStore,
  type Segment,
  type SegmentSink,
  renderSegment,
} from '../logs/ring.js';
import { findByEnv, killAndWait, processesSince } from '../os/procfs.js';
import {
  MARKER_VAR,
  RUN_VAR,
  describeSpawnError,
  groupExists,
  signalGroup,
  spawnGroup,
  strangerChildren,
  type Child,
} from '../os/spawn.js';
import {
  type ExitInfo,
  type ServiceState,
  backoff,
  describeExit,
  hasProcess,
  isSettled,
  shouldRestart,
} from '../core/state.js';
import type { ServiceDef } from '../core/definition.js';
import type { LogStream } from '../core/logline.js';

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
  /** Value of the marker variable for this service's processes. */
  readonly marker: string;
}

/** How often a stopping service's group is checked for stragglers after its main process exited. */
const GROUP_POLL_MS = 10;
/**
 * How long an exit waits for the process's output pipes to close, so its
 * last lines come before the exit in the log. Only a process left holding
 * them (a grandchild) makes it wait that long; its later lines still arrive.
 */
export const EXIT_OUTPUT_GRACE_MS = 50;

/** One output pipe being captured. */
interface Output {
  readonly capture: Capture;
  ended: boolean;
  readonly onEnd: (() => void)[];
}

/** Runs `done` once every output has ended, or `graceMs` after the call if one stays open. */
function afterOutput(outputs: readonly Output[], graceMs: number, done: () => void): void {
  let open = outputs.filter((o) => !o.ended).length;
  if (open === 0) {
    done();
    return;
  }
  let called = false;
  const finish = (): void => {
    if (called) return;
    called = true;
    clearTimeout(timer);
    // The unfinished last line belongs to the process that wrote it.
    for (const o of outputs) o.capture.flush();
    done();
  };
  const timer = setTimeout(finish, graceMs);
  for (const o of outputs) {
    if (!o.ended) o.onEnd.push(() => --open === 0 && finish());
  }
}

type Settled = (state: ServiceState) => void;

export class ServiceWorker {
  target: 'up' | 'down' = 'down';
  state: ServiceState = { kind: 'stopped', since: Date.now(), lastExit: null };
  /** Restarts since the service was last started by request. */
  restarts = 0;
  /** How many times a process was spawned: the log's run number. */
  run = 0;

  private attempt = 0;
  private child: Child | null = null;
  private startedAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  private testTimer: NodeJS.Timeout | null = null;
  private testChild: Child | null = null;
  private stopWaiters: (() => void)[] = [];
  /** Where output goes besides the ring (`log: file` or `log: stdout`); opened on first spawn. */
  private sink: { segment: SegmentSink; file: FileLog | null } | null = null;
  private settleWaiters: Settled[] = [];
  /** How the last process ended, whatever the state now. */
  lastExit: ExitInfo | null = null;
  /** The last stop had to SIGKILL the group after the timeout. */
  forcedKill = false;

  constructor(
    public def: ServiceDef,
    private readonly ctx: WorkerContext,
  ) {}

  get name(): string {
    return this.def.name;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get upSince(): number | null {
    return this.child ? this.startedAt : null;
  }

  /** The manager found the dependencies up: spawn unless a process already exists. */
  start(): void {
    if (this.frozen) return;
    this.target = 'up';
    if (hasProcess(this.state)) return;
    this.clearRetry();
    this.spawn();
  }

  /** Target up, but dependencies are not: wait. */
  block(waitingFor: readonly string[]): void {
    if (this.frozen) return;
    this.target = 'up';
    if (hasProcess(this.state)) return;
    this.clearRetry();
    this.setState({ kind: 'blocked', since: Date.now(), waitingFor });
  }

  /** A start by request forgets earlier failures and any pending retry. */
  resetBackoff(): void {
    this.attempt = 0;
    this.restarts = 0;
    this.clearRetry();
  }

  /** Whether the worker is at rest with its target up, waiting for the manager. */
  get idle(): boolean {
    return !hasProcess(this.state) && this.retryTimer === null;
  }

  kill(signal: SignalName): boolean {
    const pid = this.child?.pid;
    return pid !== undefined && signalGroup(pid, signal);
  }

  /**
   * Set the target down and stop the process group: the stop signal, then
   * SIGKILL after the timeout, then any marked process that left the group.
   * Resolves when they are gone. `sweep: false` leaves the escaped-process
   * sweep to the caller (a shutdown does one sweep for every service).
   */
  stop(sweep = true): Promise<void> {
    this.target = 'down';
    this.clearRetry();
    this.stopTest();
    const child = this.child;
    const pid = child?.pid;
    if (this.state.kind !== 'stopping' && (child === null || pid === undefined)) {
      const wasExited = this.state.kind === 'exited';
      if (this.state.kind !== 'stopped') {
        this.setState({ kind: 'stopped', since: Date.now(), lastExit: this.lastExit });
      }
      // Stopped means nothing of it runs: wait for the last run's leftovers,
      // and an exited run may have left some outside its group.
      if (wasExited && sweep && this.leftovers === null) {
        this.sweepLeftovers(null, [this.lastExit?.pid ?? 0], 0);
      }
      return Promise.all([this.leftovers, this.oldRuns]).then(() => undefined);
    }
    this.sweepOnStop = this.sweepOnStop && sweep;
    const done = new Promise<void>((resolve) => this.stopWaiters.push(resolve));
    // Already on its way down (perhaps draining the group): just wait with the others.
    if (this.state.kind === 'stopping' || pid === undefined) return done;
    const timeout = this.def.shutdownTimeoutMs;
    this.forcedKill = false;
    this.setState({ kind: 'stopping', since: Date.now(), pid, killAt: Date.now() + timeout });
    this.emit(`stopping: ${this.def.stopSignal} to process group ${pid}`);
    signalGroup(pid, this.def.stopSignal);
    this.killTimer = setTimeout(() => {
      this.killTimer = null;
      if (signalGroup(pid, 'SIGKILL')) {
        this.forcedKill = true;
        this.emit(`did not stop within ${timeout} ms: SIGKILL to process group ${pid}`);
      }
    }, timeout);
    return done;
  }
  private sweepOnStop = true;

  /**
   * Shutdown has begun: never spawn again, whatever timer or exit comes. A
   * running process keeps running until stop() (its dependants stop first);
   * one that exits meanwhile is not restarted, and a pending retry is dropped.
   */
  freeze(): void {
    this.frozen = true;
    this.target = 'down';
    this.clearRetry();
    if (!hasProcess(this.state) && this.state.kind !== 'stopped') {
      this.setState({ kind: 'stopped', since: Date.now(), lastExit: this.lastExit });
    }
  }
  private frozen = false;

  /** Resolves at the next state a waiting client cares about (up, down, or failing). */
  settled(): Promise<ServiceState> {
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  // --- internals -----------------------------------------------------------

  private setState(state: ServiceState): void {
    this.state = state;
    if (isSettled(state) && this.settleWaiters.length > 0) {
      const waiters = this.settleWaiters;
      this.settleWaiters = [];
      for (const w of waiters) w(state);
    }
  }

  private emit(text: string): void {
    this.ctx.hooks.event(this.name, text);
    this.sink?.file?.event(text);
  }

  /** The file or stdout writer `log:` asks for, made once and kept across runs. */
  private outputSink(): { segment: SegmentSink; file: FileLog | null } | null {
    const mode = this.def.log;
    if (this.sink) return this.sink;
    if (mode.kind === 'file') {
      const file = new FileLog({
        path: resolve(this.def.dir, mode.path),
        maxSize: mode.maxSize,
        keep: mode.keep,
        onError: (message) => this.ctx.hooks.event(this.name, message),
      });
      this.sink = { segment: (seg) => file.segment(seg), file };
    } else if (mode.kind === 'stdout') {
      const { hooks } = this.ctx;
      const prefixes = new Map<string, Buffer>();
      this.sink = {
        file: null,
        segment: (seg: Segment) => {
          let prefix = prefixes.get(seg.stream);
          if (!prefix) {
            prefix = Buffer.from(`${seg.stream === 'stdout' ? '[+]' : '[-]'} ${this.name}: `);
            prefixes.set(seg.stream, prefix);
          }
          hooks.stdout(renderSegment(seg, prefix), seg.count - seg.start);
        },
      };
    }
    return this.sink;
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private spawn(): void {
    if (this.frozen) return;
    if (this.leftovers) {
      // The last run's escaped processes are still being killed; a new run
      // must not start before, or the sweep would take it for one of them.
      if (!this.spawnQueued) {
        this.spawnQueued = true;
        void this.leftovers.then(() => {
          this.spawnQueued = false;
          if (this.target === 'up' && !hasProcess(this.state)) this.spawn();
        });
      }
      return;
    }
    const def = this.def;
    this.run++;
    const run = this.run;
    const mode = def.log.kind;
    const child = spawnGroup({
      argv: def.exec,
      cwd: def.dir,
      env: def.env,
      marker: this.ctx.marker,
      run,
      stdio: mode === 'none' ? 'ignore' : 'pipe',
    });
    if (child.pid === undefined) {
      // The 'error' event follows on the next tick with the OS error; until
      // then the worker counts as starting, so nothing spawns twice and no
      // waiter hears a placeholder instead of the real error.
      const since = Date.now();
      this.setState({ kind: 'starting', since, pid: 0, testFailures: 0, lastTestError: null });
      child.once('error', (err) => this.spawnFailed(err));
      return;
    }
    child.on('error', (err) => this.emit(`process error: ${err.message}`));
    this.child = child;
    this.startedAt = Date.now();
    const pid = child.pid;
    const outputs = [
      this.capture(child.stdout, 'stdout', run),
      this.capture(child.stderr, 'stderr', run),
    ].filter((o): o is Output => o !== null);
    child.once('exit', (code, signal) =>
      afterOutput(outputs, EXIT_OUTPUT_GRACE_MS, () => this.exited(child, code, signal)),
    );
    this.emit(`started: pid ${pid}, run ${run}: ${def.exec.join(' ')}`);
    // Without a health test a long-running service is up once spawned; a
    // oneshot is starting until it exits.
    if (def.test === null && !def.oneshot) {
      this.becameUp(pid);
      return;
    }
    const since = this.startedAt;
    this.setState({ kind: 'starting', since, pid, testFailures: 0, lastTestError: null });
    if (!def.oneshot) this.runTest(run);
  }

  private spawnFailed(err: NodeJS.ErrnoException): void {
    const def = this.def;
    const argv0 = def.exec[0] ?? '';
    const error = describeSpawnError(
      err,
      argv0,
      def.dir,
      err.code !== 'ENOENT' || existsSync(def.dir),
    );
    this.emit(`failed to start: ${error}`);
    if (this.target === 'down' || def.restart === 'never') {
      this.setState({ kind: 'failed', since: Date.now(), error, retryAt: null });
      this.finishStop(null);
      return;
    }
    // A spawn failure backs off like a crash, so it never busy-loops.
    const { delayMs, nextAttempt } = backoff(def, this.attempt, 0);
    this.attempt = nextAttempt;
    const retryAt = Date.now() + delayMs;
    this.setState({ kind: 'failed', since: Date.now(), error, retryAt });
    this.emit(`retrying in ${delayMs} ms`);
    this.scheduleRetry(delayMs);
  }

  private scheduleRetry(delayMs: number): void {
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.target === 'up' && !hasProcess(this.state)) {
        this.restarts++;
        this.spawn();
      }
    }, delayMs);
  }

  private becameUp(pid: number): void {
    this.setState({ kind: 'running', since: Date.now(), pid });
    this.ctx.hooks.up(this.name);
  }

  /** Reads a pipe as it comes, in whole chunks, into the ring (and the file or stdout). */
  private capture(stream: Readable | null, kind: LogStream, run: number): Output | null {
    if (!stream) return null;
    const sink = kind === 'test' ? null : (this.outputSink()?.segment ?? null);
    const capture = new Capture(this.ctx.logs, this.name, kind, run, sink);
    const out: Output = { capture, ended: false, onEnd: [] };
    const ended = (): void => {
      if (out.ended) return;
      out.ended = true;
      capture.flush();
      for (const fn of out.onEnd.splice(0)) fn();
    };
    stream.on('data', (chunk: Buffer) => capture.push(chunk));
    stream.on('end', ended);
    stream.on('close', ended);
    stream.on('error', ended);
    return out;
  }

  private runTest(run: number): void {
    const def = this.def;
    if (def.test === null || this.run !== run || this.state.kind !== 'starting') return;
    const child = spawnGroup({
      argv: def.test,
      cwd: def.dir,
      env: def.env,
      marker: this.ctx.marker,
      run,
      stdio: 'pipe',
    });
    if (child.pid === undefined) {
      child.once('error', (err) => {
        const argv0 = def.test?.[0] ?? '';
        this.testFailed(run, describeSpawnError(err, argv0, def.dir, existsSync(def.dir)));
      });
      return;
    }
    const pid = child.pid;
    this.testChild = child;
    const outputs = [
      this.capture(child.stdout, 'test', run),
      this.capture(child.stderr, 'test', run),
    ].filter((o): o is Output => o !== null);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup(pid, 'SIGKILL');
    }, def.testTimeoutMs);
    child.on('error', () => {});
    const onExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      // Whatever the test left behind in its group goes with it.
      signalGroup(pid, 'SIGKILL');
      if (this.testChild === child) this.testChild = null;
      if (this.run !== run || this.state.kind !== 'starting') return;
      if (code === 0) {
        this.emit('healthy: test passed');
        this.becameUp(this.state.pid);
        return;
      }
      const why = timedOut
        ? `timed out after ${def.testTimeoutMs} ms`
        : describeExit({ pid, code, signal, at: Date.now() });
      this.testFailed(run, why);
    };
    child.once('exit', (code, signal) =>
      afterOutput(outputs, EXIT_OUTPUT_GRACE_MS, () => onExit(code, signal)),
    );
  }

  private testFailed(run: number, why: string): void {
    const state = this.state;
    if (this.run !== run || state.kind !== 'starting') return;
    this.setState({ ...state, testFailures: state.testFailures + 1, lastTestError: why });
    if (state.testFailures === 0)
      this.emit(`health test failed: ${why}; retrying every ${this.def.testIntervalMs} ms`);
    this.testTimer = setTimeout(() => {
      this.testTimer = null;
      this.runTest(run);
    }, this.def.testIntervalMs);
  }

  private stopTest(): void {
    if (this.testTimer) clearTimeout(this.testTimer);
    this.testTimer = null;
    const pid = this.testChild?.pid;
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    this.testChild = null;
  }

  private exited(child: Child, code: number | null, signal: string | null): void {
    if (child !== this.child) return;
    const pid = child.pid ?? 0;
    const now = Date.now();
    const exit: ExitInfo = { pid, code, signal, at: now };
    this.lastExit = exit;
    this.child = null;
    // The groups whose members may leave orphans behind once they are gone.
    const groups = [pid, this.testChild?.pid ?? 0];
    this.stopTest();
    this.emit(describeExit(exit));
    if (this.state.kind === 'stopping' || this.target === 'down') {
      void this.drainGroup(pid, exit, groups);
      return;
    }
    const def = this.def;
    if (def.oneshot) {
      if (code === 0) {
        this.setState({ kind: 'success', since: now, lastExit: exit });
        this.ctx.hooks.up(this.name);
      } else {
        this.setState({ kind: 'exited', since: now, lastExit: exit });
      }
      return;
    }
    // What is left in the group goes with the main process.
    signalGroup(pid, 'SIGKILL');
    if (!shouldRestart(def.restart, exit)) {
      // No next run to collide with: what left the group may finish (and
      // its output is still captured); a stop sweeps it.
      this.setState({ kind: 'exited', since: now, lastExit: exit });
      return;
    }
    // Whatever left the group would otherwise run twice after the restart.
    // The sweep spares the next run (by its run number), so the restart need
    // not wait for it: a respawn costs a spawn, not a scan of /proc.
    const next = this.run + 1;
    const { delayMs, nextAttempt } = backoff(def, this.attempt, now - this.startedAt);
    this.attempt = nextAttempt;
    this.restarts++;
    if (delayMs === 0) {
      this.emit('restarting now (was up past stable_after)');
      this.setState({ kind: 'backoff', since: now, retryAt: now, lastExit: exit, error: null });
      this.spawn();
      this.sweepLeftovers(next, groups, GROUP_GONE_WAIT_MS);
      return;
    }
    this.sweepLeftovers(next, groups, GROUP_GONE_WAIT_MS);
    this.setState({
      kind: 'backoff',
      since: now,
      retryAt: now + delayMs,
      lastExit: exit,
      error: null,
    });
    this.emit(`restarting in ${delayMs} ms`);
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.target === 'up' && this.state.kind === 'backoff') this.spawn();
    }, delayMs);
  }

  /**
   * Kill, in the background, every process of this service that left its
   * group (setsid) while the last run ended on its own, sparing run `spare`
   * (the restart's) if given. A stop does not return before it is done; a
   * sweep that spares no run also holds back the next spawn. `groups` are
   * the last run's process groups, given `waitMs` to be gone before the
   * cheap check for leftovers is trusted.
   */
  private sweepLeftovers(spare: number | null, groups: readonly number[], waitMs: number): void {
    const marker = this.ctx.marker;
    const sweep: Promise<void> = mayHaveEscaped(groups, marker, waitMs)
      .then((may) => (may ? sweepMarked(marker, MARKER_VAR, this.spareFrom(spare)) : 0))
      .then(
        (n) => {
          if (n > 0) this.emit(`killed ${n} processes the last run left outside its group`);
        },
        (err: unknown) => this.emit(`while sweeping the last run's leftovers: ${messageOf(err)}`),
      )
      .finally(() => {
        if (this.leftovers === sweep) this.leftovers = null;
        if (this.oldRuns === sweep) this.oldRuns = null;
      });
    if (spare === null) this.leftovers = sweep;
    else this.oldRuns = sweep;
  }
  /** The runs from `first` up to the current one, asked when a sweep scans; null spares none. */
  private spareFrom(first: number | null): (() => readonly number[]) | null {
    if (first === null) return null;
    return () => Array.from({ length: Math.max(1, this.run - first + 1) }, (_, i) => first + i);
  }
  /** A sweep the next spawn must wait for. */
  private leftovers: Promise<void> | null = null;
  /** A sweep of earlier runs only; a stop waits for it. */
  private oldRuns: Promise<void> | null = null;
  private spawnQueued = false;

  /** The main process of a stopping service is gone: wait for its group, then sweep. */
  private async drainGroup(pgid: number, exit: ExitInfo, groups: readonly number[]): Promise<void> {
    try {
      const killAt = this.state.kind === 'stopping' ? this.state.killAt : Date.now();
      await groupsGone([pgid], killAt, GROUP_POLL_MS);
      if (signalGroup(pgid, 'SIGKILL')) this.forcedKill = true;
      if (this.sweepOnStop && (await mayHaveEscaped(groups, this.ctx.marker, GROUP_GONE_WAIT_MS))) {
        await sweepMarked(this.ctx.marker);
      }
    } catch (err) {
      this.emit(`while stopping: ${messageOf(err)}`);
    }
    this.finishStop(exit);
  }

  private finishStop(exit: ExitInfo | null): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
    this.sweepOnStop = true;
    if (this.state.kind === 'stopping' || this.target === 'down') {
      this.setState({ kind: 'stopped', since: Date.now(), lastExit: exit ?? this.lastExit });
      this.emit('stopped');
      // Not needed while stopped; the next line (a restart, a straggler) opens it again.
      this.sink?.file?.close();
    }
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const w of waiters) w();
    if (this.target === 'up' && !hasProcess(this.state)) this.ctx.hooks.wantStart(this.name);
  }
}

/** How long a sweep waits for the processes it killed to be gone. */
const SWEEP_WAIT_MS = 2000;
/** How long killed groups get to be gone before the cheap check gives way to a scan. */
const GROUP_GONE_WAIT_MS = 500;
const GROUP_GONE_POLL_MS = 2;

/** Polls until no process is left in `groups` or `deadline` passes; true when they are gone. */
async function groupsGone(
  groups: readonly number[],
  deadline: number,
  pollMs: number,
): Promise<boolean> {
  for (;;) {
    if (!groups.some((g) => g > 1 && groupExists(g))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Whether a process of this service may still live outside its groups, so
 * that every process's environment must be read to find it. Where orphans
 * are reparented to sminitd (a subreaper, or PID 1), every live process of a
 * run whose main process is gone is a child of sminitd or below one that is,
 * and that topmost one carries the marker it inherited. So when no child
 * sminitd did not spawn carries the marker, nothing is left, and a restart
 * or a stop costs a few small reads instead of a scan of /proc. The groups
 * just killed get `waitMs` to be gone first: their dying members would
 * count. True whenever it cannot be told.
 */
export async function mayHaveEscaped(
  groups: readonly number[],
  marker: string,
  waitMs: number,
): Promise<boolean> {
  // Never inside the exit handler that asks: a respawn's own work and its
  // events go out first, the reading of /proc after.
  await new Promise<void>((r) => setImmediate(r));
  if (!(await groupsGone(groups, Date.now() + waitMs, GROUP_GONE_POLL_MS))) return true;
  // A stranger that exits while its environment is read (a daemon's
  // double fork) leaves its child to be reparented after the listing: read
  // the list again until it holds no one new.
  const seen = new Set<number>();
  for (let round = 0; round < STRANGER_ROUNDS; round++) {
    const strangers = strangerChildren();
    if (strangers === null) return true;
    const fresh = strangers.filter((p) => !seen.has(p));
    if (fresh.length === 0) return false;
    for (const p of fresh) seen.add(p);
    if ((await findByEnv(fresh, MARKER_VAR, marker)).length > 0) return true;
  }
  return true;
}
/** Readings of sminitd's children before a list that still changes counts as "cannot tell". */
const STRANGER_ROUNDS = 5;

/**
 * SIGKILL every process whose environment has `key=value` (what escaped its
 * group) and wait until they are gone; scans again in case one forked
 * meanwhile. Returns how many it killed.
 */
export async function sweepMarked(
  value: string,
  key = MARKER_VAR,
  spareRuns: (() => readonly number[]) | null = null,
): Promise<number> {
  const deadline = Date.now() + SWEEP_WAIT_MS;
  let killed = 0;
  for (let round = 0; round < 3; round++) {
    const table = await processesSince(process.pid);
    let pids = await findByEnv(table, key, value);
    // Asked at each scan: a run started since the sweep began is spared too.
    for (const run of spareRuns?.() ?? []) {
      if (pids.length === 0) break;
      const spared = new Set(await findByEnv(pids, RUN_VAR, String(run)));
      pids = pids.filter((p) => !spared.has(p));
    }
    const marked = new Set(pids);
    const live = table.filter((p) => marked.has(p.pid) && p.state !== 'Z');
    if (live.length === 0) break;
    killed += await killAndWait(live, Math.max(0, deadline - Date.now()));
  }
  return killed;
}
