// One cgroup per service, under the daemon's (cgroup-layout.ts): made at
// its first start with its limits written, joined by every process of it
// before its program runs (wrap.ts), emptied with cgroup.kill (or
// freeze-and-kill), watched for "populated 0" through inotify rather than
// polled, read for exact usage and the OOM killer's count, removed once
// the service stops (after the burst of stops, in one pass; at once when
// the service starts again meanwhile). Health tests run in a child group,
// `NAME/test`, made at the first test.
// Knows nothing of runs or states: the worker decides when.

import { type FSWatcher, existsSync, mkdirSync, rmdirSync, watch, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { GroupLimits } from '../core/definition.js';
import {
  type Controller,
  type Hierarchy,
  type Layout,
  killMembers,
  members,
  removeTree,
} from './cgroup-layout.js';
import { TEST_GROUP, serviceGroupDir } from './cgroup-tree.js';
import { readStat } from './procfs.js';
import { closeKeptIn, readKeptFile } from './small-file.js';

/** Who is in a service's group and what it uses, read at one instant. */
export interface GroupUsage {
  /** The group, as /proc/PID/cgroup names it (`/sminit.42/web`). */
  readonly path: string;
  /** Every process of the service, the health test's included. */
  readonly pids: readonly number[];
  /** Tasks (threads) of all of them. */
  readonly tasks: number;
  /** CPU time used since the group was made, µs (exited processes included). */
  readonly cpuUsec: number;
  /** The memory controller's count, when the group has one; else null (sum the processes'). */
  readonly memoryBytes: number | null;
  /** How many processes the kernel's OOM killer ended in the group; null without a memory controller. */
  readonly oomKills: number | null;
}

const TEST = TEST_GROUP;
/** A group made for a moment at start-up; no service's name has a dot. */
const PROBE_GROUP = 'probe.spawn';

const read = (file: string): string | null => {
  try {
    return readKeptFile(file);
  } catch {
    return null;
  }
};
/** The number after `key ` in a flat keyed file (cgroup.events, cpu.stat, memory.events). */
const keyed = (text: string | null, key: string): number | null => {
  if (text === null) return null;
  let pattern = KEYED.get(key);
  if (pattern === undefined) KEYED.set(key, (pattern = new RegExp(`(?:^|\\n)${key} (\\d+)`)));
  const m = pattern.exec(text);
  return m ? Number(m[1]) : null;
};
/** The few keys read, each pattern made once. */
const KEYED = new Map<string, RegExp>();
const lines = (file: string): number => (read(file) ?? '').split('\n').filter(Boolean).length;

export class ServiceGroup {
  /** The group in the tracking hierarchy. */
  readonly dir: string;
  /** The groups in v1 hierarchies that carry its limits, by controller. */
  private readonly v1 = new Map<Controller, string>();
  private made = false;
  /**
   * Whether the group and its test group were made here and never killed
   * since: a child may then be made straight into them (`bornIn`). Some
   * kernels SIGKILL such a child at birth once its group has had a
   * cgroup.kill (an ancestor's included), comparing the count with the
   * daemon's own group's.
   */
  private readonly fresh = { main: false, test: false };

  /** The directories a `remove` left for the next removal pass; null when none waits. */
  private leftDirs: string[] | null = null;

  constructor(
    private readonly layout: Layout & { readonly tracking: Hierarchy },
    readonly name: string,
    private readonly removals: Removals = new Removals(),
    private readonly spawnInto: { enabled: boolean } = { enabled: false },
  ) {
    this.dir = serviceGroupDir(layout.tracking.root, name);
  }

  /** The group as /proc/PID/cgroup shows it. */
  get path(): string {
    this.shownAs ??= `/${relative(this.layout.tracking.mount, this.dir)}`;
    return this.shownAs;
  }
  private shownAs: string | undefined;

  /** The test group below it. */
  private get testDir(): string {
    return `${this.dir}/${TEST}`;
  }

  /**
   * Make the group with `limits` written, if not yet, and for a health
   * test's process its test group below it; null, or what failed. Only the
   * hierarchies a limit needs are used. The test group is made at the first
   * test: most services have none, and a start and a stop of 1,000 cost a
   * mkdir and an rmdir fewer each.
   */
  ensure(limits: GroupLimits, role: 'main' | 'test' = 'main'): string | null {
    const failed = this.made ? null : this.make(limits);
    if (failed !== null || role === 'main' || this.testMade) return failed;
    try {
      this.fresh.test = mkdirIfMissing(this.testDir);
    } catch (err) {
      return this.cannot(err);
    }
    this.testMade = true;
    return null;
  }
  private testMade = false;

  private make(limits: GroupLimits): string | null {
    // Made again before the removal pass came: removed now, so the limits start afresh.
    this.removeNow();
    try {
      this.fresh.main = mkdirIfMissing(this.dir);
      for (const [c, file, value] of limitFiles(limits, this.layout)) {
        const h = this.layout.controllers[c];
        if (!h) return `the ${c} controller is not available to sminitd`;
        const dir = h.version === 2 ? this.dir : join(h.root, this.name);
        if (h.version === 1) {
          mkdirIfMissing(dir);
          this.v1.set(c, dir);
        }
        writeFileSync(join(dir, file), value);
      }
    } catch (err) {
      return this.cannot(err);
    }
    this.made = true;
    return null;
  }

  private cannot(err: unknown): string {
    const e = err as NodeJS.ErrnoException;
    return `cannot set up cgroup ${this.path}: ${e.code ?? e.message}${e.path ? ` (${e.path})` : ''}`;
  }

  /** The cgroup.procs files a process of the service joins: the test group for a health test. */
  join(role: 'main' | 'test'): string[] {
    const own = role === 'test' ? this.testDir : this.dir;
    return [own, ...this.v1.values()].map((d) => join(d, 'cgroup.procs'));
  }

  /** Whether a process of `role` may be made in its group (the first of `join`) rather than join it. */
  bornIn(role: 'main' | 'test'): boolean {
    return this.spawnInto.enabled && this.fresh[role];
  }

  /** Whether any process of the service (its tests included) is left. */
  populated(): boolean {
    if (!this.made) return false;
    const text = read(`${this.dir}/cgroup.events`);
    return text === null ? members(this.dir).length > 0 : keyed(text, 'populated') !== 0;
  }

  /**
   * Resolves true once the group is empty, false if `deadline` passes first.
   * Watched through inotify on cgroup.events, which the kernel changes when
   * the last process goes: no polling.
   */
  whenEmpty(deadline: number): Promise<boolean> {
    if (!this.populated()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let watcher: FSWatcher | null = null;
      let timer: NodeJS.Timeout | null = null;
      const done = (empty: boolean): void => {
        watcher?.close();
        if (timer) clearTimeout(timer);
        resolve(empty);
      };
      try {
        watcher = watch(join(this.dir, 'cgroup.events'), () => {
          if (!this.populated()) done(true);
        });
        watcher.on('error', () => done(!this.populated()));
      } catch {
        // Not watchable: the deadline still comes.
      }
      timer = setTimeout(() => done(!this.populated()), Math.max(0, deadline - Date.now()));
      // Emptied between the first look and the watch.
      if (!this.populated()) done(true);
    });
  }

  /** SIGKILL to every process of the service at once; how many there were. */
  kill(): number {
    if (!this.made) return 0;
    this.fresh.main = this.fresh.test = false;
    return killGroup(this.dir, this.testGroups());
  }

  /** SIGKILL to the health test's group. */
  killTest(): void {
    if (!this.testMade) return;
    this.fresh.test = false;
    killGroup(this.testDir, []);
  }

  /**
   * The test group, when made: one never made is not looked in (a failed
   * open costs an exception, about 30 µs, against 2 µs for a read).
   */
  private testGroups(): string[] {
    return this.testMade ? [this.testDir] : [];
  }

  /** `signal` to every process of the service outside process group `pgid`; how many. */
  signalOutside(pgid: number, signal: NodeJS.Signals): number {
    let n = 0;
    for (const pid of [this.dir, ...this.testGroups()].flatMap(members)) {
      if (readStat(pid)?.pgrp === pgid) continue;
      try {
        process.kill(pid, signal);
        n++;
      } catch {
        // Gone meanwhile.
      }
    }
    return n;
  }

  /** The OOM killer's count so far; null without a memory controller. */
  oomKills(): number | null {
    const h = this.layout.controllers.memory;
    if (!this.made || !h) return null;
    if (h.version === 2) return keyed(read(`${this.dir}/memory.events`), 'oom_kill');
    const dir = this.v1.get('memory');
    return dir === undefined ? null : keyed(read(`${dir}/memory.oom_control`), 'oom_kill');
  }

  /** What the group holds now; null when it was not made or holds no process. */
  usage(): GroupUsage | null {
    if (!this.made) return null;
    const test = this.testDir;
    const tested = this.testGroups().flatMap(members);
    const pids = [...members(this.dir), ...tested];
    if (pids.length === 0) return null;
    const mem = this.layout.controllers.memory;
    const memDir = mem?.version === 2 ? this.dir : this.v1.get('memory');
    const memFile = mem?.version === 2 ? 'memory.current' : 'memory.usage_in_bytes';
    const memoryText = memDir === undefined ? null : read(`${memDir}/${memFile}`);
    return {
      path: this.path,
      pids,
      // A group that is not threaded holds every thread of its processes:
      // none in the test group while it has no process.
      tasks:
        lines(`${this.dir}/cgroup.threads`) +
        (tested.length > 0 ? lines(`${test}/cgroup.threads`) : 0),
      cpuUsec: keyed(read(`${this.dir}/cpu.stat`), 'usage_usec') ?? 0,
      memoryBytes: memoryText === null ? null : Number(memoryText.trim()),
      oomKills: this.oomKills(),
    };
  }

  /**
   * Remove the groups once empty (a stop, a forget); made again at the next
   * start. The rmdirs wait for the removal pass, off the path of a burst of
   * stops; nothing joins the groups meanwhile (a spawn makes them first).
   */
  remove(): void {
    if (!this.made) return;
    // The test group first: it is below the service's.
    this.leftDirs = [...this.testGroups(), this.dir, ...this.v1.values()];
    this.v1.clear();
    this.made = false;
    this.testMade = false;
    this.removals.add(this);
  }

  /** The removal `remove` left for later, done now (the pass, or a start that cannot wait). */
  removeNow(): void {
    const dirs = this.leftDirs;
    if (dirs === null) return;
    this.leftDirs = null;
    this.removals.delete(this);
    // The shape is known (the test group, if made, below the service's): an
    // rmdir each, no listing, unless something made groups of its own in there.
    for (const dir of dirs) closeKeptIn(dir);
    for (const dir of dirs) if (!rmdirKnown(dir)) removeTree(dir, false);
  }
}

/** How long the removal pass waits after the last stop; and at most after the first. */
const REMOVAL_QUIET_MS = 20;
const REMOVAL_MAX_WAIT_MS = 1000;

/**
 * The groups whose removal waits: one pass once stops have been quiet for a
 * moment (or a second after the first), so a burst of stops reaps its
 * processes without an rmdir between two of them. A timer only while one waits.
 */
export class Removals {
  private readonly waiting = new Set<ServiceGroup>();
  private timer: NodeJS.Timeout | null = null;
  private firstAt = 0;
  private lastAt = 0;

  add(group: ServiceGroup): void {
    this.lastAt = Date.now();
    if (this.waiting.size === 0) this.firstAt = this.lastAt;
    this.waiting.add(group);
    if (this.timer === null) this.arm(REMOVAL_QUIET_MS);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      const now = Date.now();
      const quietIn = this.lastAt + REMOVAL_QUIET_MS - now;
      const maxIn = this.firstAt + REMOVAL_MAX_WAIT_MS - now;
      if (quietIn > 0 && maxIn > 0) this.arm(Math.min(quietIn, maxIn));
      else this.flush();
    }, ms);
  }

  delete(group: ServiceGroup): void {
    this.waiting.delete(group);
    if (this.waiting.size === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Every waiting removal, now. */
  flush(): void {
    for (const g of [...this.waiting]) g.removeNow();
  }
}

/** rmdir; false when the directory is still there for a reason other than being gone (a group below). */
function rmdirKnown(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** mkdir, unless it is there; whether it was made now. */
function mkdirIfMissing(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
}

/**
 * cgroup.kill where the kernel has it (5.14); else freeze, SIGKILL every
 * member and thaw, so nothing forks in between. Returns how many there were.
 */
function killGroup(dir: string, below: readonly string[]): number {
  const groups = [dir, ...below];
  const all = (): number[] => groups.flatMap(members);
  const n = all().length;
  if (n === 0) return 0;
  if (existsSync(join(dir, 'cgroup.kill'))) {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
    return n;
  }
  const freeze = join(dir, 'cgroup.freeze');
  const canFreeze = existsSync(freeze);
  if (canFreeze) writeFileSync(freeze, '1');
  for (let round = 0; round < 3 && all().length > 0; round++) groups.forEach(killMembers);
  if (canFreeze) writeFileSync(freeze, '0');
  return n;
}

/** The files each limit is written to, in each version's terms. */
function limitFiles(limits: GroupLimits, layout: Layout): [Controller, string, string][] {
  const v = (c: Controller): 1 | 2 => layout.controllers[c]?.version ?? 2;
  const out: [Controller, string, string][] = [];
  if (limits.memoryMax !== null) {
    out.push([
      'memory',
      v('memory') === 2 ? 'memory.max' : 'memory.limit_in_bytes',
      String(limits.memoryMax),
    ]);
  }
  if (limits.memoryHigh !== null) out.push(['memory', 'memory.high', String(limits.memoryHigh)]);
  if (limits.pidsMax !== null) out.push(['pids', 'pids.max', String(limits.pidsMax)]);
  if (limits.cpuMax !== null) {
    const { quotaUs, periodUs } = limits.cpuMax;
    if (v('cpu') === 2) out.push(['cpu', 'cpu.max', `${quotaUs} ${periodUs}`]);
    else {
      out.push(['cpu', 'cpu.cfs_period_us', String(periodUs)]);
      out.push(['cpu', 'cpu.cfs_quota_us', String(quotaUs)]);
    }
  }
  if (limits.cpuWeight !== null) {
    const w = limits.cpuWeight;
    if (v('cpu') === 2) out.push(['cpu', 'cpu.weight', String(w)]);
    // systemd's mapping: weight 100 is 1024 shares.
    else
      out.push([
        'cpu',
        'cpu.shares',
        String(Math.min(262144, Math.max(2, Math.round((w * 1024) / 100)))),
      ]);
  }
  return out;
}

/** Every service's group, under the daemon's; absent where sminitd cannot make cgroups. */
export class Cgroups {
  private readonly groups = new Map<string, ServiceGroup>();
  private readonly removals = new Removals();
  private readonly spawnInto = { enabled: false };
  constructor(readonly layout: Layout & { readonly tracking: Hierarchy }) {}

  /**
   * Let children be made straight into their groups if `probe` says a child
   * made so into an empty group of the daemon's (made for it) runs.
   */
  allowSpawnInto(probe: (dir: string) => boolean): void {
    const dir = join(this.layout.tracking.root, PROBE_GROUP);
    try {
      mkdirSync(dir);
    } catch {
      return;
    }
    try {
      this.spawnInto.enabled = probe(dir);
    } finally {
      rmdirKnown(dir);
    }
  }

  /** The service's group (an object; the directories are made by `ensure`). */
  of(service: string): ServiceGroup {
    let g = this.groups.get(service);
    if (g === undefined)
      this.groups.set(
        service,
        (g = new ServiceGroup(this.layout, service, this.removals, this.spawnInto)),
      );
    return g;
  }

  /** Whether a group object exists for the service (it started since sminitd did). */
  has(service: string): boolean {
    return this.groups.has(service);
  }

  /** Every process of every service, SIGKILLed; then every group removed. How many were killed. */
  killAll(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.kill();
    return n;
  }

  /** At exit: the daemon's groups, in every hierarchy, removed (what is left killed first). */
  removeAll(): void {
    this.removals.flush();
    const roots = new Set([
      this.layout.tracking.root,
      ...Object.values(this.layout.controllers).map((h) => h.root),
    ]);
    for (const root of roots) removeTree(root, true);
    this.groups.clear();
  }
}
