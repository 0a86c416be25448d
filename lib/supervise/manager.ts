// The manager: owner of the service graph and the only way to a worker.
// Every request and every worker event that changes the graph runs through
// one single-consumer queue, one command at a time. A command that must wait
// for processes records the intermediate state first and hands back a promise
// to be awaited outside the queue, so a slow stop never holds up a status.

import { type NotLoaded, type Problem, type ServiceDef, type Source } from '../core/definition.js';
import { Errors, SminitError, messageOf } from '../core/errors.js';
import { formatCycle, startOrder, wouldCycle } from '../core/graph.js';
import { MAX_REPLICAS, makeReplica, replicaNumber, templateOf } from '../core/instances.js';
import { checkName } from '../core/names.js';
import { type Plan, planReload } from '../core/reload.js';
import { parseSignal } from '../core/signals.js';
import { RESTART_WAIT_MS, isSettled } from '../core/state.js';
import { type ConfigRead, readConfig, replicaGroups, whyNotLoaded } from '../config/directory.js';
import type { ReadCache } from '../config/load.js';
import { logClashes } from '../config/logfiles.js';
import { createServiceFile, deleteServiceFile, readServiceFile } from '../config/zinit-files.js';
import type { LogStore } from '../logs/ring.js';
import { applyPlan } from './apply.js';
import { inStopOrder } from './order.js';
import { readNamed, readSource } from './read.js';
import type { Network, Processes, ServiceBox } from './seam.js';
import type { Host } from '../core/host.js';
import { type Outcome, type Selection, failure, select } from './sets.js';
import { Services } from './services.js';
import { SHUTDOWN_MARGIN_MS, shutdownBoundMs } from './shutdown.js';
import { EventLog } from './events.js';
import { count } from '../core/plural.js';
import type { ServiceView } from './view.js';
import type { ServiceWorker } from './worker.js';

export type { Outcome, Selection };

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
  /** Where events are recorded; a history of its own when not given. */
  readonly events?: EventLog;
}

/** Every service at one instant, and the newest event cursor at that instant. */
export interface Overview {
  readonly views: ServiceView[];
  /** Following the events after this cursor continues this picture with nothing missed. */
  readonly cursor: number;
  readonly shuttingDown: boolean;
}

/** Returned by a command that must wait outside the queue. */
interface Later<T> {
  readonly later: Promise<T>;
}

/** What a reload did, or would do. */
export interface ReloadOutcome {
  readonly plan: Plan;
  /** False for a dry run: nothing was changed. */
  readonly applied: boolean;
}

/** What a scale did: the replicas started and those stopped, highest first. */
export interface ScaleOutcome {
  readonly name: string;
  readonly replicas: number;
  readonly started: readonly string[];
  readonly stopped: readonly string[];
}

export class Manager {
  private readonly services: Services;
  private tail: Promise<unknown> = Promise.resolve();
  private shutdownPromise: Promise<boolean> | null = null;
  /** The files taken last, by stem: what a reload compares the directory with. */
  private known = new Map<string, Source>();
  /** Each replicated service's replica count, a scale included. */
  private counts = new Map<string, number>();
  /** What the last directory read parsed. */
  private cache: ReadCache | undefined;
  /** Counts writes through the file API, so a reload read meanwhile is read again. */
  private fileGeneration = 0;
  /** Definitions a reload gave services that are still stopping to restart with them. */
  private readonly incoming = new Map<string, ServiceDef>();

  readonly events: EventLog;

  constructor(private readonly opts: ManagerOptions) {
    const events = opts.events ?? new EventLog();
    this.events = events;
    this.services = new Services({
      record: (e) => events.record(e),
      logs: opts.logs,
      procs: opts.procs,
      net: opts.net,
      report: opts.report,
      stdout: opts.stdout,
      post: (fn) => this.post(fn),
      shuttingDown: () => this.shutdownPromise !== null,
    });
  }

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
      [...this.services.notLoaded.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    );
  }

  /** Every tracked service as it stands, by name. */
  views(): Promise<ServiceView[]> {
    return this.command(() => this.services.names().map((n) => this.viewOf(n)));
  }

  /** Every service and the event cursor, read in one step: no event falls between them. */
  overview(): Promise<Overview> {
    return this.command(() => ({
      views: this.services.names().map((n) => this.viewOf(n)),
      cursor: this.events.cursor,
      shuttingDown: this.isShuttingDown,
    }));
  }

  /** Resolves once the queue has reached it: the manager is not stuck. */
  ping(): Promise<void> {
    return this.command(() => undefined);
  }

  view(name: string): Promise<ServiceView> {
    return this.command(() => this.services.viewOf(this.services.worker(name)));
  }

  /** A service as it stands and its cgroup (null where sminitd makes none), in one step. */
  viewAndBox(name: string): Promise<{ view: ServiceView; box: ServiceBox | null }> {
    return this.command(() => {
      const w = this.services.worker(name);
      return { view: this.services.viewOf(w), box: this.opts.procs.box(name) };
    });
  }

  /** How many services are on their way up: to be spawned, waiting for a dependency, or not yet ready. */
  starting(): number {
    let n = 0;
    for (const w of this.services.all()) {
      const k = w.state.kind;
      if (w.target === 'up' && (k === 'stopped' || k === 'starting' || k === 'blocked')) n++;
    }
    return n;
  }

  names(): string[] {
    return this.services.names();
  }

  // --- changes --------------------------------------------------------------

  /**
   * Track services at start-up; cycles were already rejected by the loader.
   * `notLoaded` are the services whose files did not load: list and status
   * show them, with why, until a file of theirs is added. `sources` are the
   * files they came from (what a reload compares with); without them, each
   * service stands for a file of its own. `cache`: what reading them parsed.
   */
  load(
    defs: readonly ServiceDef[],
    notLoaded: readonly NotLoaded[] = [],
    sources?: ReadonlyMap<string, Source>,
    cache?: ReadCache,
  ): Promise<void> {
    return this.command(async () => {
      // Before anything spawns: a service whose earlier instance still runs waits for it to end.
      const earlier = await this.services.earlier.find();
      this.cache = cache;
      for (const n of notLoaded) this.services.notLoaded.set(n.name, n);
      this.known = new Map(sources ?? defs.map((d) => [d.name, { kind: 'service', def: d }]));
      for (const [group, replicas] of replicaGroups(this.known)) {
        this.counts.set(group, replicas.length);
        this.services.declareReplicated(group, true);
      }
      for (const def of defs) this.services.track(def);
      this.services.refreshDeps(this.services.names());
      this.services.recover(earlier);
      for (const name of this.services.names()) this.services.evaluate(name, true);
    });
  }

  start(name: string): Promise<null> {
    return this.command(async () => {
      this.refuseIfShuttingDown();
      // An instance of a template (or a replica) is made by starting it.
      if (!this.services.has(name) && templateOf(name) !== null) await this.adopt(name);
      const w = this.services.worker(name);
      w.requestStart();
      this.services.evaluate(name, true);
      return null;
    });
  }

  stop(name: string): Promise<null> {
    return this.command(() => ({
      later: this.services
        .worker(name)
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
      const w = this.services.worker(name);
      const stopped = w.stop();
      const later = stopped.then(() =>
        this.command(() => {
          if (this.services.get(name) !== w) throw Errors.notTracked(name);
          this.refuseIfShuttingDown();
          w.requestStart();
          this.services.evaluate(name, true);
          // Started by someone else meanwhile, the state may be final already.
          return { later: w.when(isSettled, timeoutMs).then(() => this.services.viewOf(w)) };
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
      if (this.services.has(name)) throw Errors.alreadyTracked(name);
      await this.adopt(name);
      return null;
    });
  }

  /** Stop and untrack; the service disappears from every dependency list. */
  forget(name: string): Promise<null> {
    return this.command(() => {
      const names = this.services.isReplicated(name)
        ? this.services.replicasOf(name)
        : [this.services.worker(name).name];
      if (names.length === 0) throw Errors.runsAsReplicas(name, 0);
      return { later: this.untrackAndStop(names).then(() => null) };
    });
  }

  kill(name: string, signal: string): Promise<null> {
    return this.command(() => {
      const sig = parseSignal(signal);
      if (sig === null) throw Errors.badSignal(signal);
      const w = this.services.worker(name);
      if (!w.kill(sig)) throw Errors.notRunning(name);
      this.opts.report(name, `sent ${sig} to process group ${w.pid}`);
      return null;
    });
  }

  // --- many services at once ------------------------------------------------
  // Each is one command: the set is chosen and every change made at once;
  // stops go dependants first, starts dependencies first.

  startMany(sel: Selection): Promise<Outcome[]> {
    return this.command(async () => {
      this.refuseIfShuttingDown();
      const { names, untracked, failed } = select(this.services, sel, 'services_start');
      const made: string[] = [];
      const refused: Outcome[] = [];
      for (const name of untracked) {
        try {
          if (templateOf(name) === null) throw Errors.notTracked(name);
          made.push(...(await this.adopt(name)));
        } catch (err) {
          if (!(err instanceof SminitError)) throw err;
          refused.push(failure(name, err));
        }
      }
      const all = this.inStartOrder([...names, ...made.filter((n) => !names.includes(n))]);
      for (const name of all) this.services.get(name)?.requestStart();
      for (const name of all) this.services.evaluate(name, true);
      return [...all.map((n) => this.done(n)), ...refused, ...failed];
    });
  }

  stopMany(sel: Selection): Promise<Outcome[]> {
    return this.command(() => {
      const { names, untracked, failed } = select(this.services, sel, 'services_stop');
      // One check for escaped processes after the set, not one per service:
      // each reads sminitd's list of children, as long as the set is large.
      const runs = new Map(names.map((n) => [n, this.services.worker(n).run]));
      const stops = inStopOrder(
        names,
        (n) => this.services.depsOf(n),
        (n) => this.services.worker(n).stop(false),
      );
      const swept = Promise.all(stops.values()).then(() => this.sweepEscaped(runs));
      const later = swept.then(() => this.finish(stops, untracked, failed));
      return { later };
    });
  }

  restartMany(sel: Selection, timeoutMs = RESTART_WAIT_MS): Promise<Outcome[]> {
    return this.command(() => {
      this.refuseIfShuttingDown();
      const { names, untracked, failed } = select(this.services, sel, 'services_restart');
      const workers = new Map(names.map((n) => [n, this.services.worker(n)]));
      const stops = inStopOrder(
        names,
        (n) => this.services.depsOf(n),
        (n) => (workers.get(n) as ServiceWorker).stop(),
      );
      const later = Promise.all(stops.values())
        .then(() => this.command(() => this.startAgain(workers, timeoutMs)))
        .then((done) => [...done, ...untracked.map(untrackedFailure), ...failed]);
      return { later };
    });
  }

  killMany(sel: Selection, signal: string): Promise<Outcome[]> {
    return this.command(() => {
      const sig = parseSignal(signal);
      if (sig === null) throw Errors.badSignal(signal);
      const { names, untracked, failed } = select(this.services, sel, 'services_kill');
      const order = [
        ...inStopOrder(
          names,
          (n) => this.services.depsOf(n),
          () => Promise.resolve(),
        ).keys(),
      ];
      const done = order.map((name) => {
        const w = this.services.worker(name);
        if (!w.kill(sig)) return failure(name, Errors.notRunning(name));
        this.opts.report(name, `sent ${sig} to process group ${w.pid}`);
        return this.done(name);
      });
      return [...done, ...untracked.map(untrackedFailure), ...failed];
    });
  }

  forgetMany(sel: Selection): Promise<Outcome[]> {
    return this.command(() => {
      const { names, untracked, failed } = select(this.services, sel, 'services_forget');
      const later = this.untrackAndStop(names).then((order) => [
        ...order.map((name) => ({ name, error: null, view: null })),
        ...untracked.map(untrackedFailure),
        ...failed,
      ]);
      return { later };
    });
  }

  statusMany(sel: Selection): Promise<Outcome[]> {
    return this.command(() => {
      const { names, untracked, failed } = select(this.services, sel, 'services_status');
      return [...names.map((n) => this.done(n)), ...untracked.map(untrackedFailure), ...failed];
    });
  }

  // --- replicas -------------------------------------------------------------

  /**
   * Run `count` replicas of a replicated service: new ones start, surplus
   * ones stop one after another from the highest number down. Lasts until
   * its file's `replicas` changes (and a reload applies it) or sminitd stops.
   */
  scale(name: string, count: number): Promise<ScaleOutcome> {
    return this.command(() => {
      this.refuseIfShuttingDown();
      checkName(name);
      if (!Number.isSafeInteger(count) || count < 0 || count > MAX_REPLICAS) {
        throw Errors.badParams(
          `replicas must be a whole number from 0 to ${MAX_REPLICAS}, got ${count}`,
        );
      }
      const source = this.known.get(name);
      if (source?.kind !== 'replicas') {
        throw this.services.has(name) || source
          ? Errors.notReplicated(name)
          : Errors.notTracked(name);
      }
      this.counts.set(name, count);
      const started = this.addReplicas(source.def, count);
      const surplus = this.services
        .replicasOf(name)
        .filter((r) => (replicaNumber(name, r) ?? 0) > count)
        .reverse();
      const workers = surplus.map((r) => this.services.untrack(r));
      let chain: Promise<void> = Promise.resolve();
      for (const w of workers) {
        chain = chain.then(() => w.stop());
        this.services.drain(w.name, chain);
      }
      return { later: chain.then(() => ({ name, replicas: count, started, stopped: surplus })) };
    });
  }

  /** Track (and start) the replicas from 1 to `count` that are not tracked; their names. */
  private addReplicas(def: ServiceDef, count: number): string[] {
    const started: string[] = [];
    for (let i = 1; i <= count; i++) {
      const made = makeReplica(def, i);
      if (!made.ok || this.services.has(made.def.name)) continue;
      this.trackAgain(made.def);
      started.push(made.def.name);
    }
    return started;
  }

  // --- reload ---------------------------------------------------------------

  /**
   * Read the config directory again and apply what changed, as planned by
   * core/reload.ts; with `dryRun`, only the plan. Answers once the stops it
   * needed are over and every start has been asked for.
   */
  reload(dryRun = false): Promise<ReloadOutcome> {
    const generation = this.fileGeneration;
    const dir = this.opts.configDir;
    const read = readConfig(dir, this.cache, this.opts.host ?? null);
    return this.command(async () => {
      this.refuseIfShuttingDown();
      // A file written or removed through the API meanwhile: read what is there now.
      const r: ConfigRead =
        generation === this.fileGeneration
          ? await read
          : await readConfig(dir, this.cache, this.opts.host ?? null);
      if (r.unreadable !== null) throw Errors.cannotReadConfig(dir, r.unreadable);
      this.cache = r.cache;
      const tracked = new Map(
        this.services.names().map((n) => [n, this.incoming.get(n) ?? this.worker(n).def]),
      );
      const plan = planReload({
        known: this.known,
        tracked,
        counts: this.counts,
        next: r.sources,
        refused: r.refused,
      });
      if (dryRun) return { plan, applied: false };
      this.noteRefused(r, plan);
      return { later: this.apply(plan).then(() => ({ plan, applied: true })) };
    });
  }

  /** What list and status show as not loaded: the files this read refused, less what still runs. */
  private noteRefused(r: ConfigRead, plan: Plan): void {
    const { notLoaded } = this.services;
    notLoaded.clear();
    for (const n of whyNotLoaded(r.problems, [], [])) notLoaded.set(n.name, n);
    for (const e of plan.entries) {
      if (e.action === 'refuse' && e.cycle !== null && !notLoaded.has(e.name))
        notLoaded.set(e.name, { name: e.name, file: e.name, why: e.why });
    }
    for (const name of this.services.names()) notLoaded.delete(name);
  }

  private apply(plan: Plan): Promise<void> {
    const stems = new Set([...this.known.keys(), ...plan.known.keys()]);
    this.known = new Map(plan.known);
    this.counts = new Map(plan.counts);
    // Whether `after: [NAME]` means NAME's replicas follows the files as taken now.
    for (const stem of stems) {
      this.services.declareReplicated(stem, this.known.get(stem)?.kind === 'replicas');
    }
    return applyPlan(plan, {
      services: this.services,
      incoming: this.incoming,
      trackAgain: (def) => this.trackAgain(def),
      later: (fn) => this.command(fn),
    });
  }

  // zinit's file API. These change (or read) the config directory, not the
  // graph, but run in the queue so they never interleave with monitor reading
  // the same files. What they write is what the next reload compares with.

  /** Write NAME.yaml; tracking it is service_monitor's job. */
  createFile(name: string, content: unknown): Promise<string> {
    return this.command(async () => {
      const host = this.opts.host ?? null;
      const said = await createServiceFile(this.opts.configDir, name, content, host);
      this.fileGeneration++;
      const source = await readSource(this.opts.configDir, name, host).catch(() => null);
      if (source) this.known.set(name, source);
      return said;
    });
  }

  /** Remove NAME's file; a tracked service stays tracked (zinit does the same). */
  deleteFile(name: string): Promise<string> {
    return this.command(async () => {
      const said = await deleteServiceFile(this.opts.configDir, name);
      this.fileGeneration++;
      this.known.delete(name);
      return said;
    });
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
    for (const w of this.services.all()) w.freeze();
    this.services.scheduler.clear();
    const boundMs = shutdownBoundMs(
      this.services.graph(),
      (n) => this.services.get(n)?.def.shutdownTimeoutMs ?? 0,
    );
    const detail = `shutting down ${count(this.services.size, 'service')}; bound ${boundMs} ms (longest chain of shutdown timeouts + ${SHUTDOWN_MARGIN_MS} ms)`;
    this.opts.report(null, detail);
    this.events.record({ kind: 'daemon', service: null, action: 'shutdown', detail });
    const ordered = this.command(() => ({ later: this.stopAll() }));
    const result = new Promise<boolean>((resolve) => {
      let done = false;
      const killAll = (why: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.opts.report(null, `${why}: killing every process left`);
        for (const w of this.services.all()) w.kill('SIGKILL');
        void this.opts.procs
          .killLeftovers()
          .then((n) =>
            this.opts.report(null, `killed ${count(n, 'leftover process', 'leftover processes')}`),
          )
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
    this.shutdownPromise = result.then((clean) => {
      const detail = clean ? 'every service stopped' : 'stopped; some services had to be killed';
      this.events.record({ kind: 'daemon', service: null, action: 'stopped', detail });
      return clean;
    });
    return this.shutdownPromise;
  }

  /** Cut a shutdown short: SIGKILL everything now (a third signal). */
  force(): void {
    this.forceShutdown?.('forced');
  }
  private forceShutdown: ((why: string) => void) | null = null;

  private async stopAll(): Promise<boolean> {
    let clean = true;
    const stops = inStopOrder(
      this.services.names(),
      (n) => this.services.depsOf(n),
      async (n) => {
        const w = this.services.get(n);
        if (!w) return;
        await w.stop(false);
        if (w.forcedKill) clean = false;
      },
    );
    await Promise.all(stops.values());
    await Promise.all(this.services.draining.values());
    await this.services.earlier.settled();
    // Grandchildren that left their group: by marker, and by parentage for
    // those that also dropped the marker from their environment.
    const swept = await this.opts.procs.killLeftovers().catch((err: unknown) => {
      this.opts.report(null, `final sweep: ${messageOf(err)}`);
      return 0;
    });
    if (swept > 0) {
      this.opts.report(null, `killed ${count(swept, 'leftover process', 'leftover processes')}`);
    }
    this.opts.report(null, 'all services stopped');
    return clean;
  }

  // --- internals -------------------------------------------------------------

  private refuseIfShuttingDown(): void {
    if (this.shutdownPromise) throw Errors.shuttingDown();
  }

  private worker(name: string): ServiceWorker {
    return this.services.worker(name);
  }

  private viewOf(name: string): ServiceView {
    return this.services.viewOf(this.worker(name));
  }

  private done(name: string): Outcome {
    return { name, error: null, view: this.viewOf(name) };
  }

  private inStartOrder(names: readonly string[]): string[] {
    const set = new Set(names);
    const sub = new Map(names.map((n) => [n, this.services.depsOf(n).filter((d) => set.has(d))]));
    return startOrder(sub).flat();
  }

  /**
   * Track `name` from its file: the file of that name (all its replicas,
   * for a replicated service), or an instance of its template, or a replica
   * of its replicated service. Refuses a cycle its dependants would close.
   * The names now tracked.
   */
  private async adopt(name: string): Promise<string[]> {
    const read = await readNamed(
      this.opts.configDir,
      name,
      this.known,
      this.counts,
      this.opts.host ?? null,
    ).catch((err: unknown) => this.refused(name, err));
    const defs = read.defs.filter((d) => !this.services.has(d.name));
    if (defs.length === 0) throw Errors.alreadyTracked(name);
    if (this.services.has(name)) throw Errors.alreadyTracked(name);
    for (const def of defs) this.refuseCycle(def);
    const running = [...this.services.all()].map((w) => w.def);
    for (const c of logClashes([...running, ...defs])) {
      if (defs.includes(c.def) && !defs.includes(c.other))
        throw Errors.sharedLogFile(c.def.file, c.path, c.other.file);
    }
    if (read.file && !this.known.has(read.stem)) this.known.set(read.stem, read.file);
    if (read.file?.kind === 'replicas' && !this.counts.has(read.stem)) {
      this.counts.set(read.stem, read.file.replicas);
    }
    for (const def of defs) this.trackAgain(def);
    return defs.map((d) => d.name);
  }

  /** A file that did not load when asked to: shown as not loaded from now on, and thrown on. */
  private refused(name: string, err: unknown): never {
    if (err instanceof SminitError && err.kind === 'file-error') {
      const file = Array.isArray(err.data)
        ? String((err.data[0] as Problem | undefined)?.file ?? name)
        : name;
      this.services.notLoaded.set(name, { name, file, why: err.message });
    }
    throw err;
  }

  private refuseCycle(def: ServiceDef): void {
    const restored = this.services.edgesTo(def.name, def);
    const graph = new Map<string, readonly string[]>(this.services.graph());
    for (const [other, after] of restored) graph.set(other, after);
    const cycle = wouldCycle(graph, def.name, this.services.expand(def.after));
    if (cycle) throw Errors.wouldCloseCycle(def.name, formatCycle(cycle));
  }

  /** Track a service (again): its dependants' files give it their edges back, and it starts. */
  private trackAgain(def: ServiceDef): void {
    const restored = this.services.edgesTo(def.name, def);
    this.services.track(def);
    this.services.restoreEdges(def.name, restored);
    this.services.evaluate(def.name, true);
  }

  /** Untrack `names` at once, then stop them, dependants first; resolves with the order, once all are down. */
  private async untrackAndStop(names: readonly string[]): Promise<string[]> {
    const deps = new Map(names.map((n) => [n, [...this.services.depsOf(n)]]));
    const workers = new Map(names.map((n) => [n, this.services.untrack(n)]));
    const stops = inStopOrder(
      names,
      (n) => deps.get(n) ?? [],
      (n) => (workers.get(n) as ServiceWorker).stop(),
    );
    for (const [name, stopped] of stops) this.services.drain(name, stopped);
    await Promise.all(stops.values());
    return [...stops.keys()];
  }

  /** Once stops are over: each stopped service's outcome, in the order it stopped. */
  /**
   * Kill what the runs of a set of stopped services left outside their
   * groups, sparing any run started since (`runs`: each one's last run at
   * the stop).
   */
  private async sweepEscaped(runs: ReadonlyMap<string, number>): Promise<void> {
    const { procs } = this.opts;
    const markers = [...runs.keys()].map((n) => procs.marker(n));
    if (!(await procs.mayHaveEscaped([], markers, 0).catch(() => true))) return;
    for (const [name, run] of runs) {
      const later = (): number[] => {
        const w = this.services.get(name);
        return w && w.run > run ? [w.run] : [];
      };
      await procs
        .sweepMarked(procs.marker(name), later)
        .catch((err: unknown) => this.opts.report(name, `while sweeping: ${messageOf(err)}`));
    }
  }

  private async finish(
    stops: ReadonlyMap<string, Promise<void>>,
    untracked: readonly string[],
    failed: readonly Outcome[],
  ): Promise<Outcome[]> {
    await Promise.all(stops.values());
    return this.command(() => [
      ...[...stops.keys()].map((n) =>
        this.services.has(n) ? this.done(n) : { name: n, error: null, view: null },
      ),
      ...untracked.map(untrackedFailure),
      ...failed,
    ]);
  }

  /** The second half of a restart of many: start what is still tracked, then wait for each. */
  private startAgain(
    workers: ReadonlyMap<string, ServiceWorker>,
    timeoutMs: number,
  ): Later<Outcome[]> {
    const names = this.inStartOrder([...workers.keys()]);
    const gone = new Set(names.filter((n) => this.services.get(n) !== workers.get(n)));
    if (this.shutdownPromise) {
      return { later: Promise.resolve(names.map((n) => failure(n, Errors.shuttingDown()))) };
    }
    for (const n of names) if (!gone.has(n)) workers.get(n)?.requestStart();
    for (const n of names) if (!gone.has(n)) this.services.evaluate(n, true);
    const later = Promise.all(
      names.map(async (n): Promise<Outcome> => {
        const w = workers.get(n) as ServiceWorker;
        if (gone.has(n)) return failure(n, Errors.notTracked(n));
        await w.when(isSettled, timeoutMs);
        return { name: n, error: null, view: this.services.viewOf(w) };
      }),
    );
    return { later };
  }
}

function untrackedFailure(name: string): Outcome {
  return failure(name, Errors.notTracked(name));
}
