// The manager: owner of the service graph and the only way to a worker.
// Every request and every worker event that changes the graph runs through
// one single-consumer queue, one command at a time. A command that must wait
// for processes records the intermediate state first and hands back a promise
// to be awaited outside the queue, so a slow stop never holds up a status.

import { loadServiceNamed } from '../config/load.js';
import { logClashes } from '../config/logfiles.js';
import { Errors, SminitError, messageOf } from '../core/errors.js';
import { createServiceFile, deleteServiceFile, readServiceFile } from '../config/zinit-files.js';
import { formatCycle, wouldCycle } from '../core/graph.js';
import type { LogStore } from '../logs/ring.js';
import { checkName } from '../core/names.js';
import { parseSignal } from '../core/signals.js';
import { ServiceWorker } from './worker.js';
import type { Network, Processes, ServiceBox } from './seam.js';
import { Scheduler } from './scheduler.js';
import { SHUTDOWN_MARGIN_MS, shutdownBoundMs } from './shutdown.js';
import { RESTART_WAIT_MS, hasProcess, isSettled } from '../core/state.js';
import { judge } from '../core/conditions.js';
import type { NotLoaded, Problem, ServiceDef } from '../core/definition.js';
import type { Host } from '../core/host.js';
import type { ServiceView } from './view.js';

export interface ManagerOptions {
  readonly configDir: string;
  readonly logs: LogStore;
  /** Daemon events, already formatted with the service name. */
  readonly report: (service: string | null, text: string) => void;
  /** Output of services with `log: stdout`: prefixed lines, a chunk at a time. */
  readonly stdout: (data: Buffer, lines: number) => void;
  /** The operating system, as workers reach it. */
  readonly procs: Processes;
  /** What the host offers service files (users, groups, enforceable limits); none in unit tests. */
  readonly host?: Host;
  /** The network, as probes reach it. */
  readonly net: Network;
}

/** Returned by a command that must wait outside the queue. */
interface Later<T> {
  readonly later: Promise<T>;
}

export class Manager {
  private readonly workers = new Map<string, ServiceWorker>();
  /** The graph: each service's dependencies as they stand now. */
  private readonly deps = new Map<string, string[]>();
  /**
   * The same edges reversed: who lists a service in `after`. A service coming
   * up re-evaluates only these, instead of scanning every service's list
   * (which made starting N services O(N²)). Kept in step with `deps`.
   */
  private readonly dependants = new Map<string, Set<string>>();
  /** Services whose files did not load, with why; gone once one is tracked. */
  private readonly notLoaded = new Map<string, NotLoaded>();
  /** Untracked workers whose processes are still being stopped. */
  private readonly draining = new Map<string, Promise<void>>();
  private tail: Promise<unknown> = Promise.resolve();
  private shutdownPromise: Promise<boolean> | null = null;
  /** One timer for every scheduled oneshot's next run. */
  private readonly scheduler = new Scheduler((name, at) => this.post(() => this.due(name, at)));
  /** Services whose dependants are to be judged again: one queued command each, however many changes. */
  private readonly changed = new Set<string>();

  constructor(private readonly opts: ManagerOptions) {}

  get isShuttingDown(): boolean {
    return this.shutdownPromise !== null;
  }

  // --- the queue -----------------------------------------------------------

  /** Run `fn` alone; if it returns `{later}`, await that after releasing the queue. */
  private async command<T>(fn: () => T | Later<T> | Promise<T | Later<T>>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    const out = await run;
    if (out !== null && typeof out === 'object' && 'later' in out) return (out as Later<T>).later;
    return out as T;
  }

  /** Worker events take the same queue as requests. */
  private post(fn: () => void): void {
    void this.command(fn).catch((err: unknown) =>
      this.opts.report(null, `internal error in event handler: ${messageOf(err)}`),
    );
  }

  /** Hold the queue until `until` settles: every command queued meanwhile waits. */
  hold(until: Promise<unknown>): void {
    void this.command(() =>
      until.then(
        () => undefined,
        () => undefined,
      ),
    );
  }

  // --- reads ----------------------------------------------------------------

  /** The services whose files did not load, by name, with why. */
  notLoadedList(): Promise<NotLoaded[]> {
    return this.command(() =>
      [...this.notLoaded.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    );
  }

  /** Every tracked service as it stands, by name. */
  views(): Promise<ServiceView[]> {
    return this.command(() => [...this.sorted()].map(([, w]) => this.viewOf(w)));
  }

  view(name: string): Promise<ServiceView> {
    return this.command(() => this.viewOf(this.worker(name)));
  }

  /** The service's cgroup, for what it holds now; null where sminitd makes none. */
  boxOf(name: string): Promise<ServiceBox | null> {
    return this.command(() => (this.worker(name), this.opts.procs.box(name)));
  }

  /** The worker's process id, for stats; 0 when none runs. */
  pidOf(name: string): Promise<number> {
    return this.command(() => this.worker(name).pid);
  }

  names(): string[] {
    return [...this.workers.keys()].sort();
  }

  // --- changes --------------------------------------------------------------

  /**
   * Track services at start-up; cycles were already rejected by the loader.
   * `notLoaded` are the services whose files did not load: list and status
   * show them, with why, until a file of theirs is added.
   */
  load(defs: readonly ServiceDef[], notLoaded: readonly NotLoaded[] = []): Promise<void> {
    return this.command(() => {
      for (const n of notLoaded) this.notLoaded.set(n.name, n);
      for (const def of defs) this.track(def);
      for (const name of this.workers.keys()) this.evaluate(name, true);
    });
  }

  start(name: string): Promise<null> {
    return this.command(() => {
      this.refuseIfShuttingDown();
      this.worker(name).requestStart();
      this.evaluate(name, true);
      return null;
    });
  }

  stop(name: string): Promise<null> {
    return this.command(() => ({
      later: this.worker(name)
        .stop()
        .then(() => null),
    }));
  }

  /**
   * Stop then start, answering once the service is up again (running, or a
   * oneshot that succeeded), or cannot come up, or `timeoutMs` has passed.
   */
  restart(name: string, timeoutMs = RESTART_WAIT_MS): Promise<ServiceView> {
    return this.command(() => {
      this.refuseIfShuttingDown();
      const w = this.worker(name);
      const stopped = w.stop();
      const later = stopped.then(() =>
        this.command(() => {
          if (this.workers.get(name) !== w) throw Errors.notTracked(name);
          this.refuseIfShuttingDown();
          w.requestStart();
          this.evaluate(name, true);
          // Started by someone else meanwhile, the state may be final already.
          return { later: w.when(isSettled, timeoutMs).then(() => this.viewOf(w)) };
        }),
      );
      return { later };
    });
  }

  /** Track NAME from the config directory and start it (zinit's monitor). */
  monitor(name: string): Promise<null> {
    return this.command(async () => {
      this.refuseIfShuttingDown();
      checkName(name);
      if (this.workers.has(name)) {
        throw Errors.alreadyTracked(name);
      }
      const def = await this.readDef(name).catch((err: unknown) => this.refused(name, err));
      if (this.workers.has(name)) {
        throw Errors.alreadyTracked(name);
      }
      // Dependants whose files name it get their edges back, so the check
      // (and the graph after it) counts them.
      const restored = this.edgesTo(name);
      const cycle = wouldCycle(withEdges(this.deps, restored), name, def.after);
      if (cycle) throw Errors.wouldCloseCycle(name, formatCycle(cycle));
      const clash = logClashes([...[...this.workers.values()].map((w) => w.def), def]).find(
        (c) => c.def === def,
      );
      if (clash) throw Errors.sharedLogFile(def.file, clash.path, clash.other.file);
      this.track(def);
      this.notLoaded.delete(name);
      for (const [other, after] of restored) this.setDeps(other, after);
      this.evaluate(name, true);
      return null;
    });
  }

  /** Stop and untrack; the service disappears from every dependency list. */
  forget(name: string): Promise<null> {
    return this.command(() => {
      const w = this.worker(name);
      this.workers.delete(name);
      this.scheduler.set(name, null);
      this.setDeps(name, null);
      this.opts.report(name, 'untracked');
      const freed: string[] = [];
      for (const other of this.dependants.get(name) ?? []) {
        const after = this.deps.get(other);
        const i = after?.indexOf(name) ?? -1;
        if (i !== -1) {
          after?.splice(i, 1);
          freed.push(other);
        }
      }
      this.dependants.delete(name);
      for (const other of freed) this.evaluate(other, false);
      const stopped = w.stop();
      const gone = stopped.then(() => {
        if (this.draining.get(name) === gone) this.draining.delete(name);
      });
      this.draining.set(name, gone);
      return { later: gone.then(() => null) };
    });
  }

  kill(name: string, signal: string): Promise<null> {
    return this.command(() => {
      const sig = parseSignal(signal);
      if (sig === null) throw Errors.badSignal(signal);
      const w = this.worker(name);
      if (!w.kill(sig)) throw Errors.notRunning(name);
      this.opts.report(name, `sent ${sig} to process group ${w.pid}`);
      return null;
    });
  }

  // zinit's file API. These change (or read) the config directory, not the
  // graph, but run in the queue so they never interleave with monitor reading
  // the same files.

  /** Write NAME.yaml; tracking it is service_monitor's job. */
  createFile(name: string, content: unknown): Promise<string> {
    return this.command(() =>
      createServiceFile(this.opts.configDir, name, content, this.opts.host ?? null),
    );
  }

  /** Remove NAME's file; a tracked service stays tracked (zinit does the same). */
  deleteFile(name: string): Promise<string> {
    return this.command(() => deleteServiceFile(this.opts.configDir, name));
  }

  readFile(name: string): Promise<Record<string, unknown>> {
    return this.command(() => readServiceFile(this.opts.configDir, name, this.opts.host ?? null));
  }

  /**
   * Stop everything, dependants before their dependencies, independent
   * services in parallel; then kill whatever any service left behind.
   * Resolves true when every service stopped within its own timeout. It
   * cannot hang: past the bound (the longest chain of shutdown timeouts plus
   * a margin) or on force(), everything left is SIGKILLed and it resolves false.
   */
  shutdown(): Promise<boolean> {
    if (this.shutdownPromise) return this.shutdownPromise;
    // Outside the queue on purpose: from this instant nothing may spawn
    // again, even while a slow command still holds the queue.
    for (const w of this.workers.values()) w.freeze();
    this.scheduler.clear();
    const boundMs = shutdownBoundMs(
      this.deps,
      (n) => this.workers.get(n)?.def.shutdownTimeoutMs ?? 0,
    );
    this.opts.report(
      null,
      `shutting down ${this.workers.size} services; bound ${boundMs} ms (longest chain of shutdown timeouts + ${SHUTDOWN_MARGIN_MS} ms)`,
    );
    const ordered = this.command(() => ({ later: this.stopAll() }));
    const result = new Promise<boolean>((resolve) => {
      let done = false;
      const killAll = (why: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.opts.report(null, `${why}: killing every process left`);
        for (const w of this.workers.values()) w.kill('SIGKILL');
        void this.opts.procs
          .killLeftovers()
          .then((n) => this.opts.report(null, `killed ${n} leftover processes`))
          .catch((err: unknown) => this.opts.report(null, `final sweep: ${messageOf(err)}`))
          .then(() => resolve(false));
      };
      const timer = setTimeout(() => killAll(`shutdown bound of ${boundMs} ms reached`), boundMs);
      this.forceShutdown = killAll;
      ordered.then(
        (clean) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(clean);
        },
        (err: unknown) => {
          this.opts.report(null, `ordered stop failed: ${messageOf(err)}`);
          killAll('ordered stop failed');
        },
      );
    });
    this.shutdownPromise = result;
    return result;
  }

  /** Cut a shutdown short: SIGKILL everything now (a third signal). */
  force(): void {
    this.forceShutdown?.('forced');
  }
  private forceShutdown: ((why: string) => void) | null = null;

  private async stopAll(): Promise<boolean> {
    const dependants = new Map<string, string[]>();
    for (const [name, after] of this.deps) {
      for (const d of after) {
        if (!dependants.has(d)) dependants.set(d, []);
        dependants.get(d)?.push(name);
      }
    }
    let clean = true;
    const stops = new Map<string, Promise<void>>();
    const visiting = new Set<string>();
    const stopOne = (name: string): Promise<void> => {
      const known = stops.get(name);
      if (known) return known;
      visiting.add(name);
      // A dependency cycle must not make the shutdown wait on itself.
      const first = (dependants.get(name) ?? []).filter((d) => !visiting.has(d) || stops.has(d));
      const p = Promise.all(first.map(stopOne)).then(async () => {
        const w = this.workers.get(name);
        if (!w) return;
        await w.stop(false);
        if (w.forcedKill) clean = false;
      });
      stops.set(name, p);
      return p;
    };
    await Promise.all([...this.workers.keys()].map(stopOne));
    await Promise.all(this.draining.values());
    // Grandchildren that left their group: by marker, and by parentage for
    // those that also dropped the marker from their environment.
    const swept = await this.opts.procs.killLeftovers().catch((err: unknown) => {
      this.opts.report(null, `final sweep: ${messageOf(err)}`);
      return 0;
    });
    if (swept > 0) this.opts.report(null, `killed ${swept} leftover processes`);
    this.opts.report(null, 'all services stopped');
    return clean;
  }

  // --- internals -------------------------------------------------------------

  private *sorted(): Iterable<[string, ServiceWorker]> {
    for (const name of this.names()) {
      const w = this.workers.get(name);
      if (w) yield [name, w];
    }
  }

  private refuseIfShuttingDown(): void {
    if (this.shutdownPromise) throw Errors.shuttingDown();
  }

  private worker(name: string): ServiceWorker {
    checkName(name);
    const w = this.workers.get(name);
    if (w) return w;
    const refused = this.notLoaded.get(name);
    throw refused ? Errors.notLoaded(name, refused.why) : Errors.notTracked(name);
  }

  /** A file that did not load when asked to: shown as not loaded from now on, and thrown on. */
  private refused(name: string, err: unknown): never {
    if (err instanceof SminitError && err.kind === 'file-error') {
      const file = Array.isArray(err.data)
        ? String((err.data[0] as Problem | undefined)?.file ?? name)
        : name;
      this.notLoaded.set(name, { name, file, why: err.message });
    }
    throw err;
  }

  private async readDef(name: string): Promise<ServiceDef> {
    const res = await loadServiceNamed(this.opts.configDir, name, this.opts.host ?? null);
    if (res.ok) return res.def;
    if (res.missing) throw Errors.noServiceFile(name, this.opts.configDir);
    throw Errors.fileProblems(res.problems);
  }

  private track(def: ServiceDef): void {
    const name = def.name;
    const w = new ServiceWorker(def, {
      logs: this.opts.logs,
      procs: this.opts.procs,
      net: this.opts.net,
      hooks: {
        // changed() below re-judges the dependants of every change, coming up included.
        up: () => undefined,
        changed: (n) => {
          if (this.workers.get(n) !== w || !this.dependants.get(n)?.size) return;
          if (this.changed.has(n)) return;
          this.changed.add(n);
          this.post(() => {
            this.changed.delete(n);
            this.dependencyUp(n);
          });
        },
        scheduled: (n, at) => {
          if (this.workers.get(n) === w) this.scheduler.set(n, at);
        },
        wantStart: (n) => this.post(() => this.workers.get(n) === w && this.evaluate(n, false)),
        event: (n, text) => {
          this.opts.report(n, text);
          this.opts.logs.append(n, 'event', w.run, text);
        },
        stdout: this.opts.stdout,
      },
    });
    this.workers.set(name, w);
    this.setDeps(name, [...def.after]);
    w.wantUp();
    this.opts.report(name, `loaded from ${def.file}`);
  }

  /**
   * The dependency lists tracked services would have with `name` back in the
   * graph: those whose files name it, which lost the edge when it was
   * forgotten, in file order.
   */
  private edgesTo(name: string): Map<string, string[]> {
    const restored = new Map<string, string[]>();
    for (const [other, w] of this.workers) {
      const now = this.deps.get(other) ?? [];
      if (!w.def.after.includes(name) || now.includes(name)) continue;
      restored.set(
        other,
        w.def.after.filter((d) => d === name || now.includes(d)),
      );
    }
    return restored;
  }

  /** Replace (or, with null, remove) a service's dependency list, and its reverse edges. */
  private setDeps(name: string, after: string[] | null): void {
    for (const d of this.deps.get(name) ?? []) this.dependants.get(d)?.delete(name);
    if (after === null) {
      this.deps.delete(name);
      return;
    }
    this.deps.set(name, after);
    for (const d of after) {
      let set = this.dependants.get(d);
      if (set === undefined) this.dependants.set(d, (set = new Set()));
      set.add(name);
    }
  }

  private dependencyUp(name: string): void {
    for (const other of this.dependants.get(name) ?? []) this.evaluate(other, false);
  }

  /**
   * What `name` still waits for (dependencies whose condition is not met
   * yet, and its own previous instance) and what it cannot start for as
   * things stand (a dependency that failed, gave up, exited for good).
   */
  private verdicts(name: string): { waiting: string[]; cannot: string[] } {
    const conditions = this.workers.get(name)?.def.conditions ?? {};
    const waiting: string[] = [];
    const cannot: string[] = [];
    for (const d of this.deps.get(name) ?? []) {
      const dep = this.workers.get(d);
      const cond = conditions[d] ?? 'up';
      const v = judge(cond, { name: d, def: dep?.def ?? null, state: dep?.state ?? null });
      if (v.met) continue;
      if (v.never !== null) cannot.push(v.never);
      else {
        const what = [cond === 'up' ? null : cond, v.note].filter((x) => x !== null).join(': ');
        waiting.push(what === '' ? d : `${d} (${what})`);
      }
    }
    if (this.draining.has(name)) waiting.push(`${name} (previous instance stopping)`);
    return { waiting, cannot };
  }

  /** A scheduled run of `name` is due: run, unless its dependencies are not met. */
  private due(name: string, at: number): void {
    const w = this.workers.get(name);
    if (!w || this.shutdownPromise) return;
    const { waiting, cannot } = this.verdicts(name);
    const why = [...cannot, waiting.length > 0 ? `waiting for ${waiting.join(', ')}` : '']
      .filter((x) => x !== '')
      .join('; ');
    w.due(at, why === '' ? null : why);
  }

  /**
   * Start a worker whose target is up if everything it needs is up, or mark it
   * blocked. `requested` also restarts a service at rest (exited, success).
   */
  private evaluate(name: string, requested: boolean): void {
    const w = this.workers.get(name);
    if (!w || w.target !== 'up' || this.shutdownPromise) return;
    if (hasProcess(w.state) || !w.idle) return;
    if (!requested && w.state.kind !== 'blocked' && w.state.kind !== 'stopped') return;
    const { waiting, cannot } = this.verdicts(name);
    if (waiting.length > 0 || cannot.length > 0) {
      w.block(waiting, cannot);
      const previous = this.draining.get(name);
      if (previous) void previous.then(() => this.post(() => this.evaluate(name, false)));
      return;
    }
    w.start();
  }

  private viewOf(w: ServiceWorker): ServiceView {
    return {
      name: w.name,
      def: w.def,
      state: w.state,
      target: w.target,
      pid: w.pid,
      upSince: w.upSince,
      restarts: w.restarts,
      lastExit: w.lastExit,
      cgroup: hasProcess(w.state) ? (this.opts.procs.box(w.name)?.path ?? null) : null,
      dependencies: (this.deps.get(w.name) ?? []).map((d) => ({
        name: d,
        condition: w.def.conditions[d] ?? 'up',
        state: this.workers.get(d)?.state ?? null,
      })),
      watching: w.watching,
      restartsInWindow: w.restartsInWindow,
      nextRun: w.nextRunAt,
    };
  }
}

/** `deps` with some services' lists replaced: a copy, for a check before the change. */
function withEdges(
  deps: ReadonlyMap<string, readonly string[]>,
  lists: ReadonlyMap<string, readonly string[]>,
): Map<string, readonly string[]> {
  const out = new Map(deps);
  for (const [name, after] of lists) out.set(name, after);
  return out;
}
