// The tracked services: each one's worker, the dependency graph between
// them (and its reverse), replicated services' replicas, what did not load,
// the schedules' one timer, and the services whose last processes are still
// being stopped; who may start, by each dependency's condition. Changed only
// by the manager, from inside its queue, one command at a time; nothing
// here waits.

import { judge } from '../core/conditions.js';
import type { DependencyCondition, NotLoaded, ServiceDef } from '../core/definition.js';
import { Errors } from '../core/errors.js';
import { expandAfter, replicaNumber, splitInstance } from '../core/instances.js';
import { checkName } from '../core/names.js';
import { hasProcess } from '../core/state.js';
import type { LogStore } from '../logs/ring.js';
import { Scheduler } from './scheduler.js';
import type { Network, Processes } from './seam.js';
import type { ServiceView } from './view.js';
import { ServiceWorker } from './worker.js';
import type { EventBody } from '../core/events.js';
import { EarlierLeftovers } from './recovery.js';

export interface ServicesContext {
  readonly logs: LogStore;
  readonly procs: Processes;
  readonly net: Network;
  readonly report: (service: string | null, text: string) => void;
  readonly stdout: (data: Buffer, lines: number) => void;
  /** Where events are recorded. */
  readonly record: (event: EventBody) => void;
  /** Runs `fn` as a command of the manager's queue, after those already queued. */
  readonly post: (fn: () => void) => void;
  /** Whether a shutdown has begun: then nothing starts. */
  readonly shuttingDown: () => boolean;
}

export class Services {
  private readonly workers = new Map<string, ServiceWorker>();
  /** The graph: each service's dependencies as they stand now. */
  private readonly deps = new Map<string, string[]>();
  /**
   * The same edges reversed: who lists a service in `after`. A service coming
   * up re-evaluates only these, instead of scanning every service's list
   * (which made starting N services O(N²)). Kept in step with `deps`.
   */
  private readonly dependants = new Map<string, Set<string>>();
  /** Each replicated service's tracked replicas; an entry, even empty, makes a name replicated. */
  private readonly replicas = new Map<string, Set<string>>();
  /** Untracked workers whose processes are still being stopped. */
  readonly draining = new Map<string, Promise<void>>();
  /** Services whose files did not load, with why; gone once one is tracked. */
  readonly notLoaded = new Map<string, NotLoaded>();
  /** One timer for every scheduled oneshot's next run. */
  readonly scheduler: Scheduler;
  /** Services whose dependants are to be judged again: one queued command each, however many changes. */
  private readonly changed = new Set<string>();

  /** What an earlier daemon of this socket left running: ended before its service starts. */
  readonly earlier: EarlierLeftovers;

  constructor(private readonly ctx: ServicesContext) {
    this.scheduler = new Scheduler((name, at) => ctx.post(() => this.due(name, at)));
    this.earlier = new EarlierLeftovers(ctx.procs, ctx.report);
  }

  /** End what earlier daemons left (found before anything was tracked), each service's as its stop would. */
  recover(runs: Parameters<EarlierLeftovers['begin']>[0]): void {
    this.earlier.begin(
      runs,
      (name) => {
        const def = this.workers.get(name)?.def;
        return def ? { signal: def.stopSignal, timeoutMs: def.shutdownTimeoutMs } : null;
      },
      (name) => this.ctx.post(() => this.earlierGone(name)),
    );
  }

  /** `name`'s leftovers from an earlier daemon are over: say so, and start it if it waits. */
  private earlierGone(name: string): void {
    const w = this.workers.get(name);
    if (w === undefined) {
      const why = this.notLoaded.has(name)
        ? 'not loaded (its file has problems)'
        : 'not in the config any more';
      this.ctx.report(null, this.earlier.message(name, `${name} is ${why}`));
      return;
    }
    const text = this.earlier.message(name, null);
    this.ctx.report(name, text);
    this.ctx.logs.append(name, 'event', w.run, text);
    this.evaluate(name, false);
  }

  // --- reads ----------------------------------------------------------------

  get size(): number {
    return this.workers.size;
  }

  has(name: string): boolean {
    return this.workers.has(name);
  }

  get(name: string): ServiceWorker | undefined {
    return this.workers.get(name);
  }

  /** The worker of a tracked service; the domain's error, naming why, otherwise. */
  worker(name: string): ServiceWorker {
    checkName(name);
    const w = this.workers.get(name);
    if (w) return w;
    const replicas = this.replicas.get(name);
    if (replicas) throw Errors.runsAsReplicas(name, replicas.size);
    const refused = this.notLoaded.get(name);
    throw refused ? Errors.notLoaded(name, refused.why) : Errors.notTracked(name);
  }

  names(): string[] {
    return [...this.workers.keys()].sort();
  }

  all(): IterableIterator<ServiceWorker> {
    return this.workers.values();
  }

  depsOf(name: string): readonly string[] {
    return this.deps.get(name) ?? [];
  }

  /** The graph as it stands (for the shutdown's bound and order). */
  graph(): ReadonlyMap<string, readonly string[]> {
    return this.deps;
  }

  isReplicated(name: string): boolean {
    return this.replicas.has(name);
  }

  /** A replicated service's tracked replicas (and `also`, when given), by number. */
  replicasOf(name: string, also?: string): string[] {
    const n = (r: string): number => replicaNumber(name, r) ?? 0;
    const set = new Set(this.replicas.get(name) ?? []);
    if (also !== undefined) set.add(also);
    return [...set].sort((a, b) => n(a) - n(b));
  }

  /** `after` with replicated services named by their tracked replicas. */
  expand(after: readonly string[]): string[] {
    return expandAfter(after, (n) => (this.replicas.has(n) ? this.replicasOf(n) : null));
  }

  viewOf(w: ServiceWorker): ServiceView {
    return {
      name: w.name,
      def: w.def,
      state: w.state,
      target: w.target,
      pid: w.pid,
      upSince: w.upSince,
      restarts: w.restarts,
      lastExit: w.lastExit,
      cgroup: hasProcess(w.state) ? (this.ctx.procs.box(w.name)?.path ?? null) : null,
      dependencies: this.depsOf(w.name).map((d) => ({
        name: d,
        condition: this.conditionOf(w.def, d),
        state: this.workers.get(d)?.state ?? null,
      })),
      counters: { ...w.counters },
      lastUp: w.lastUp,
      run: w.run,
      watching: w.watching,
      restartsInWindow: w.restartsInWindow,
      nextRun: w.nextRunAt,
      recovered: this.earlier.view(w.name),
    };
  }

  // --- changes --------------------------------------------------------------

  /** A replicated service is one whose `after` entries mean all its replicas; or no longer. */
  declareReplicated(name: string, replicated: boolean): void {
    if (replicated && !this.replicas.has(name)) this.replicas.set(name, new Set());
    if (!replicated) this.replicas.delete(name);
  }

  track(def: ServiceDef): ServiceWorker {
    const name = def.name;
    const w = new ServiceWorker(def, {
      logs: this.ctx.logs,
      procs: this.ctx.procs,
      net: this.ctx.net,
      hooks: {
        // changed() below re-judges the dependants of every change, coming up included.
        up: () => undefined,
        changed: (n) => {
          if (this.workers.get(n) !== w || !this.dependants.get(n)?.size) return;
          if (this.changed.has(n)) return;
          this.changed.add(n);
          this.ctx.post(() => {
            this.changed.delete(n);
            this.dependencyUp(n);
          });
        },
        scheduled: (n, at) => {
          if (this.workers.get(n) === w) this.scheduler.set(n, at);
        },
        wantStart: (n) => this.ctx.post(() => this.workers.get(n) === w && this.evaluate(n, false)),
        event: (n, text) => {
          this.ctx.report(n, text);
          this.ctx.logs.append(n, 'event', w.run, text);
        },
        stdout: this.ctx.stdout,
        record: this.ctx.record,
      },
    });
    this.workers.set(name, w);
    this.notLoaded.delete(name);
    if (def.instance?.kind === 'replica') {
      this.declareReplicated(def.instance.of, true);
      this.replicas.get(def.instance.of)?.add(name);
    }
    this.setDeps(name, this.expand(def.after));
    w.wantUp();
    this.ctx.report(name, `loaded from ${def.file}`);
    this.ctx.record({ kind: 'tracked', service: name, file: def.file });
    return w;
  }

  /**
   * The dependency lists tracked services would have with `name` back in
   * the graph: those whose files name it (or the replicated service it is
   * one of), which lost the edge when it was forgotten, in file order.
   */
  edgesTo(name: string, def: ServiceDef): Map<string, string[]> {
    const of = def.instance?.kind === 'replica' ? def.instance.of : null;
    const restored = new Map<string, string[]>();
    for (const [other, w] of this.workers) {
      const now = this.deps.get(other) ?? [];
      const names = w.def.after.includes(name) || (of !== null && w.def.after.includes(of));
      if (!names || now.includes(name) || other === name) continue;
      const full = expandAfter(w.def.after, (n) => (n === of ? this.replicasOf(n, name) : null));
      restored.set(
        other,
        full.filter((d) => d === name || now.includes(d)),
      );
    }
    return restored;
  }

  /** Each service's dependencies expanded again: replicated services may have gained replicas. */
  refreshDeps(names: Iterable<string>): void {
    for (const name of names) {
      const w = this.workers.get(name);
      if (w && w.def.after.some((d) => this.replicas.has(d)))
        this.setDeps(name, this.expand(w.def.after));
    }
  }

  /** Gives the dependants of `name` back their edges to it (it was tracked again). */
  restoreEdges(name: string, restored: ReadonlyMap<string, string[]>): void {
    for (const [other, after] of restored) this.setDeps(other, after);
  }

  /**
   * Untrack: the service leaves the graph and every dependency list, and
   * dependants that waited only for it are evaluated again. Its worker is
   * returned to be stopped; `stopped` is marked as its draining.
   */
  untrack(name: string): ServiceWorker {
    const w = this.worker(name);
    this.workers.delete(name);
    this.scheduler.set(name, null);
    this.setDeps(name, null);
    const of = w.def.instance?.kind === 'replica' ? w.def.instance.of : null;
    if (of !== null) this.replicas.get(of)?.delete(name);
    this.ctx.report(name, 'untracked');
    this.ctx.record({ kind: 'untracked', service: name });
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
    return w;
  }

  /** An untracked service's stop under way: a new one of its name waits for it. */
  drain(name: string, stopped: Promise<void>): Promise<void> {
    const gone = stopped.then(() => {
      if (this.draining.get(name) === gone) this.draining.delete(name);
    });
    this.draining.set(name, gone);
    return gone;
  }

  /** Replace (or, with null, remove) a service's dependency list, and its reverse edges. */
  setDeps(name: string, after: string[] | null): void {
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

  dependencyUp(name: string): void {
    for (const other of this.dependants.get(name) ?? []) this.evaluate(other, false);
  }

  /** The condition `def` puts on dependency `dep`: a replica's is its service's. */
  private conditionOf(def: ServiceDef, dep: string): DependencyCondition {
    const own = def.conditions[dep];
    if (own !== undefined) return own;
    const base = splitInstance(dep)?.base;
    return (
      (base !== undefined && this.replicas.has(base) ? def.conditions[base] : undefined) ?? 'up'
    );
  }

  /**
   * What `name` still waits for (dependencies whose condition is not met
   * yet, and its own previous instance) and what it cannot start for as
   * things stand (a dependency that failed, gave up, exited for good).
   */
  private verdicts(name: string): { waiting: string[]; cannot: string[] } {
    const def = this.workers.get(name)?.def;
    const waiting: string[] = [];
    const cannot: string[] = [];
    for (const d of this.depsOf(name)) {
      const dep = this.workers.get(d);
      const cond = def ? this.conditionOf(def, d) : 'up';
      const v = judge(cond, { name: d, def: dep?.def ?? null, state: dep?.state ?? null });
      if (v.met) continue;
      if (v.never !== null) cannot.push(v.never);
      else {
        const what = [cond === 'up' ? null : cond, v.note].filter((x) => x !== null).join(': ');
        waiting.push(what === '' ? d : `${d} (${what})`);
      }
    }
    if (this.draining.has(name)) waiting.push(`${name} (previous instance stopping)`);
    if (this.earlier.holds(name)) waiting.push('the processes an earlier sminitd left to end');
    return { waiting, cannot };
  }

  /** A scheduled run of `name` is due: run, unless its dependencies are not met. */
  private due(name: string, at: number): void {
    const w = this.workers.get(name);
    if (!w || this.ctx.shuttingDown()) return;
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
  evaluate(name: string, requested: boolean): void {
    const w = this.workers.get(name);
    if (!w || w.target !== 'up' || this.ctx.shuttingDown()) return;
    if (hasProcess(w.state) || !w.idle) return;
    if (!requested && w.state.kind !== 'blocked' && w.state.kind !== 'stopped') return;
    const { waiting, cannot } = this.verdicts(name);
    if (waiting.length > 0 || cannot.length > 0) {
      w.block(waiting, cannot);
      const previous = this.draining.get(name);
      if (previous) void previous.then(() => this.ctx.post(() => this.evaluate(name, false)));
      return;
    }
    w.start();
  }
}
