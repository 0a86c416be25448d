// Where this host's cgroups are and which of them sminitd may use: the
// hierarchies mounted (/proc/self/mountinfo), sminitd's own group in each
// (/proc/self/cgroup), and the daemon's group made under it
// (`sminit.PID.START`).
// cgroup v2 tracks and kills; the memory, pids and cpu controllers come from
// v2 where they are delegated, else from v1 hierarchies mounted beside it (a
// hybrid host). Finds and creates; the per-service work is cgroups.ts's.

import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { closeKeptIn, readKeptFile } from './small-file.js';
import { join } from 'node:path';
import type { LimitKey } from '../core/host.js';
import { childGroups } from './cgroup-tree.js';

export type Controller = 'memory' | 'pids' | 'cpu';
const CONTROLLERS: readonly Controller[] = ['memory', 'pids', 'cpu'];

/** One hierarchy's directory for sminitd: the daemon's group in it. */
export interface Hierarchy {
  readonly version: 1 | 2;
  /** The mount point. */
  readonly mount: string;
  /** The daemon's group, absolute (`/sys/fs/cgroup/unified/sminit.42`). */
  readonly root: string;
}

export interface Layout {
  /** The v2 hierarchy that tracks and kills; null when there is none to write. */
  readonly tracking: Hierarchy | null;
  /** Where each controller's limits go, when sminitd may set them. */
  readonly controllers: Readonly<Partial<Record<Controller, Hierarchy>>>;
  /** Why services are not tracked by cgroup, when they are not. */
  readonly fallback: string | null;
}

interface Mount {
  readonly fstype: 'cgroup' | 'cgroup2';
  readonly point: string;
  readonly root: string;
  readonly options: readonly string[];
}

/** The cgroup mounts, from /proc/self/mountinfo. */
export function cgroupMounts(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const f = left.split(' ');
    const [fstype, , superOptions] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const unescape = (s: string): string =>
      s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    mounts.push({
      fstype,
      point: unescape(f[4] ?? ''),
      root: unescape(f[3] ?? '/'),
      options: (superOptions ?? '').split(','),
    });
  }
  return mounts;
}

/** sminitd's own group in each hierarchy, from /proc/self/cgroup: by controller list ('' for v2). */
export function ownGroups(text: string): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[1] ?? '', m[2] ?? '/');
  }
  return own;
}

/** The directory of a group given by its path in the hierarchy, under this mount; null when not visible. */
function dirOf(mount: Mount, path: string): string | null {
  const root = mount.root === '/' ? '' : mount.root;
  if (root !== '' && path !== root && !path.startsWith(root + '/')) return null;
  return join(mount.point, path.slice(root.length));
}

/**
 * The daemon's own group's directory, made. The name carries sminitd's pid
 * and start time, so two daemons under one parent never share it (every
 * container's sminitd is pid 1). One left by a daemon that died is reused
 * once empty; a populated one is someone's, and left alone.
 */
function makeRoot(parent: string, name: string): string {
  for (let attempt = 0; ; attempt++) {
    const dir = join(parent, attempt === 0 ? name : `${name}-${attempt}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 10) throw err;
      removeTree(dir, false);
      if (!existsSync(dir)) {
        mkdirSync(dir);
        return dir;
      }
    }
  }
}

/** Removes a group and the groups below it, killing what they hold first when asked. */
export function removeTree(dir: string, kill: boolean): void {
  for (const e of childGroups(dir)) removeTree(join(dir, e), kill);
  if (kill) killMembers(dir);
  closeKeptIn(dir); // read for its members: let the kernel free it
  try {
    rmdirSync(dir);
  } catch {
    // Still populated (a process stuck in the kernel) or gone already.
  }
}

/** SIGKILL to every process of one group (not below it). */
export function killMembers(dir: string): number {
  let n = 0;
  for (const pid of members(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // Gone meanwhile.
    }
  }
  return n;
}

/** The processes of one group (cgroup.procs); none when it cannot be read. */
export function members(dir: string): number[] {
  try {
    return readKeptFile(`${dir}/cgroup.procs`)
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  } catch {
    return [];
  }
}

const why = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'EROFS'
    ? 'read-only file system (EROFS)'
    : e.code === 'EACCES' || e.code === 'EPERM'
      ? `permission denied (${e.code})`
      : (e.code ?? String(err));
};

/**
 * Finds the hierarchies and makes the daemon's group in each it may use.
 * `name` is the daemon's group's name. Never throws: what cannot be used is
 * left out, and `fallback` says why when nothing tracks.
 */
export function detectLayout(name: string): Layout {
  let mounts: Mount[];
  let own: Map<string, string>;
  try {
    mounts = cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    own = ownGroups(readFileSync('/proc/self/cgroup', 'utf8'));
  } catch (err) {
    return { tracking: null, controllers: {}, fallback: `cannot read /proc: ${why(err)}` };
  }
  const v2mount = mounts.find((m) => m.fstype === 'cgroup2');
  const v2path = own.get('');
  let tracking: Hierarchy | null = null;
  let fallback: string | null = 'no cgroup v2 hierarchy is mounted';
  const v2dir = v2mount && v2path !== undefined ? dirOf(v2mount, v2path) : null;
  if (v2mount && v2dir !== null) {
    try {
      tracking = { version: 2, mount: v2mount.point, root: makeRoot(v2dir, name) };
      fallback = null;
    } catch (err) {
      fallback = `cannot create cgroups under ${v2dir}: ${why(err)}`;
    }
  }
  const controllers: Partial<Record<Controller, Hierarchy>> = {};
  if (tracking !== null && v2dir !== null) delegate(tracking, v2dir, controllers);
  for (const c of CONTROLLERS) {
    if (controllers[c] || tracking === null) continue;
    const m = mounts.find((x) => x.fstype === 'cgroup' && x.options.includes(c));
    const path = [...own].find(([list]) => list.split(',').includes(c))?.[1];
    const dir = m && path !== undefined ? dirOf(m, path) : null;
    if (!m || dir === null) continue;
    try {
      controllers[c] = { version: 1, mount: m.point, root: makeRoot(dir, name) };
    } catch {
      // Not ours to write: the limits it would enforce are refused.
    }
  }
  return { tracking, controllers, fallback };
}

/**
 * cgroup v2's controllers, where the parent offers them: enabled for the
 * daemon's group and its children. A group with processes cannot pass
 * controllers on, so when sminitd is alone in its own group (a unit with
 * Delegate=yes, a container's init) it moves itself into a leaf first.
 */
function delegate(
  tracking: Hierarchy,
  ownDir: string,
  out: Partial<Record<Controller, Hierarchy>>,
): void {
  const offered = readWords(join(ownDir, 'cgroup.controllers'));
  const wanted = CONTROLLERS.filter((c) => offered.includes(c));
  if (wanted.length === 0) return;
  const enable = (dir: string): boolean => {
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
      return true;
    } catch {
      return false;
    }
  };
  let ok =
    readWords(join(ownDir, 'cgroup.subtree_control')).length >= wanted.length || enable(ownDir);
  if (!ok && members(ownDir).every((p) => p === process.pid)) {
    try {
      const leaf = join(ownDir, 'sminitd');
      if (!statSync(leaf, { throwIfNoEntry: false })) mkdirSync(leaf);
      writeFileSync(join(leaf, 'cgroup.procs'), '0');
      ok = enable(ownDir);
    } catch {
      ok = false;
    }
  }
  if (!ok || !enable(tracking.root)) return;
  for (const c of wanted) out[c] = tracking;
}

function readWords(file: string): string[] {
  try {
    return readFileSync(file, 'latin1').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

const NEEDS: Readonly<Record<LimitKey, Controller>> = {
  memory_max: 'memory',
  memory_high: 'memory',
  pids_max: 'pids',
  cpu_max: 'cpu',
  cpu_weight: 'cpu',
};

/** Why a limit cannot be enforced with this layout, or null when it can. */
export function unenforceable(layout: Layout, key: LimitKey): string | null {
  if (layout.tracking === null) {
    return `sminitd has no cgroups here (${layout.fallback ?? 'none'})`;
  }
  const c = NEEDS[key];
  const h = layout.controllers[c];
  if (!h) return `the ${c} controller is not available to sminitd`;
  if (key === 'memory_high' && h.version === 1) {
    return "memory_high needs cgroup v2's memory controller; this host has only cgroup v1's";
  }
  return null;
}
