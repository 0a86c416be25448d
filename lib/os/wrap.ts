// A boxed spawn: what must hold before a service's program runs (cgroup
// membership, limits, another user, a umask), so nothing it forks escapes.
// The spawn library (native/spawn.c) sets it all up in the child before its
// exec, from `nativeBox`. Where the library is not built, the program starts
// through a wrapper: a /bin/sh that waits on a descriptor (3) while sminitd
// sets its rlimits, nice and oom_score_adj from outside, joins the service's
// cgroups itself, sets the umask, and execs the program — through
// util-linux's setpriv when the user changes. Builds argv and applies
// limits; decides nothing about which.

import { statSync, writeFileSync } from 'node:fs';
import type { RlimitName } from '../core/definition.js';
import type { ServiceGroup } from './cgroups.js';
import type { LimitCalls } from './native-accounts.js';
import type { NativeBox } from './native.js';
import type { SpawnSetup } from './spawn.js';

/** What a process needs set up before its program runs. */
export interface SpawnBox {
  /** cgroup.procs files it joins (one per hierarchy). */
  readonly join: readonly string[];
  /** The first of `join` is a v2 group it may be made in, without joining (the spawn library only). */
  readonly into: boolean;
  /** Who it runs as; null: as sminitd. */
  readonly credentials: {
    readonly uid: number;
    readonly gid: number;
    readonly groups: readonly number[];
  } | null;
  readonly umask: number | null;
  readonly nice: number | null;
  readonly oomScoreAdj: number | null;
  readonly rlimits: readonly BoxRlimit[];
}

export interface BoxRlimit {
  /** As the file names it, for errors. */
  readonly name: string;
  /** RLIMIT_* number. */
  readonly resource: number;
  readonly soft: number | null;
  readonly hard: number | null;
}

/** Linux's RLIMIT_* numbers (x86, arm, riscv, powerpc, s390 alike). */
export const RLIMIT_RESOURCE: Readonly<Record<RlimitName, number>> = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  rss: 5,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
  sigpending: 11,
  msgqueue: 12,
  rtprio: 14,
};

/**
 * The box of one spawn: the service's group made (with its limits) and
 * joined, its user (when sminitd may change it), its process settings.
 * What cannot be set up is returned as the reason.
 */
export function boxFor(setup: SpawnSetup, group: ServiceGroup | null): SpawnBox | string {
  let join: string[] = [];
  let into = false;
  if (group !== null) {
    const failed = group.ensure(setup.sandbox.limits, setup.role);
    if (failed !== null) return failed;
    join = group.join(setup.role);
    into = group.bornIn(setup.role);
  }
  const u = setup.user;
  // Only root changes users; a file asking another sminitd for it was refused when loaded.
  const root = process.geteuid?.() === 0;
  const { umask, nice, oomScoreAdj } = setup.sandbox;
  const rlimits = Object.entries(setup.sandbox.rlimits).map(([name, l]) => ({
    name,
    resource: RLIMIT_RESOURCE[name as RlimitName] ?? -1,
    soft: l.soft,
    hard: l.hard,
  }));
  return {
    join,
    into,
    credentials: u !== null && root ? { uid: u.uid, gid: u.gid, groups: u.groups } : null,
    umask,
    nice,
    oomScoreAdj,
    rlimits,
  };
}

/** Whether the box asks for anything at all: without, the program is spawned as it is. */
export function boxIsEmpty(box: SpawnBox | undefined): boolean {
  return (
    box === undefined ||
    (box.join.length === 0 && box.credentials === null && box.umask === null && !holds(box))
  );
}

/** Whether sminitd must set something from outside while the wrapper waits. */
export function holds(box: SpawnBox): boolean {
  return box.nice !== null || box.oomScoreAdj !== null || box.rlimits.length > 0;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Where the wrapper waits: descriptor 3, or 4 when the service's readiness pipe (`notify: fd:3`) has 3. */
export function holdFdFor(notifyFd: number | undefined): number {
  return notifyFd === 3 ? 4 : 3;
}

/**
 * The shell's part: wait, set the stack limit, join the groups, the umask,
 * then exec what follows. The stack limit is set from inside because the
 * kernel pins it for the length of an exec and writes its pinned copy back
 * at the end: set from outside while the wrapper's own exec is finishing,
 * it would be lost.
 */
function script(box: SpawnBox, holdFd: number, prlimit: string | null): string {
  const parts: string[] = [];
  if (holds(box)) parts.push(`read _ <&${holdFd}; exec ${holdFd}<&-`);
  const stack = box.rlimits.find((r) => r.resource === RLIMIT_RESOURCE.stack);
  if (stack !== undefined && prlimit !== null) {
    const v = (n: number | null): string => (n === null ? 'unlimited' : String(n));
    parts.push(`${prlimit} --pid $$ --stack=${v(stack.soft)}:${v(stack.hard)} || exit 126`);
  }
  if (box.join.length > 0) {
    parts.push(`${box.join.map((p) => `echo 0 >${quote(p)}`).join(' && ')} || exit 126`);
  }
  if (box.umask !== null) parts.push(`umask ${box.umask.toString(8).padStart(4, '0')}`);
  parts.push('exec "$@"');
  return parts.join('; ');
}

const toolPaths = new Map<string, string | null>();

/** A util-linux tool (setpriv, prlimit), or null when this system has none. */
function tool(name: string): string | null {
  const known = toolPaths.get(name);
  if (known !== undefined) return known;
  let found: string | null = null;
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    if (statSync(`${dir}/${name}`, { throwIfNoEntry: false })?.isFile()) {
      found = `${dir}/${name}`;
      break;
    }
  }
  toolPaths.set(name, found);
  return found;
}

/** The argv that runs `argv` inside `box`, or why it cannot be built here. */
export function wrappedArgv(
  argv: readonly string[],
  box: SpawnBox,
  holdFd: number,
): string[] | string {
  const creds = box.credentials;
  let prefix: string[] = [];
  if (creds !== null) {
    const setpriv = tool('setpriv');
    if (setpriv === null) return 'another user needs setpriv (util-linux), which is not installed';
    const groups =
      creds.groups.length > 0 ? `--groups=${creds.groups.join(',')}` : '--clear-groups';
    prefix = [setpriv, `--reuid=${creds.uid}`, `--regid=${creds.gid}`, groups, '--'];
  }
  const stack = box.rlimits.some((r) => r.resource === RLIMIT_RESOURCE.stack);
  const prlimit = stack ? tool('prlimit') : null;
  if (stack && prlimit === null)
    return 'rlimits.stack needs prlimit (util-linux), which is not installed';
  const bare = box.join.length === 0 && box.umask === null && !holds(box);
  if (bare) return [...prefix, ...argv];
  return ['/bin/sh', '-c', script(box, holdFd, prlimit), 'sminit', ...prefix, ...argv];
}

/**
 * While the wrapper waits: its rlimits, nice and oom_score_adj, set from
 * outside. Returns what failed, or null; the caller releases the wrapper
 * (closing the hold pipe) only after killing it on a failure.
 */
export function setUp(pid: number, box: SpawnBox, calls: LimitCalls | null): string | null {
  if (calls === null) {
    return 'rlimits, nice and oom_score_adj need the native layer, which is not loaded';
  }
  for (const r of box.rlimits) {
    // The stack limit is the wrapper's own to set (see script()).
    if (r.resource === RLIMIT_RESOURCE.stack) continue;
    const errno = calls.prlimit(pid, r.resource, r.soft, r.hard);
    if (errno !== 0) return `cannot set rlimits.${r.name}: ${errnoText(errno)}`;
  }
  if (box.nice !== null) {
    const errno = calls.setNice(pid, box.nice);
    if (errno !== 0) return `cannot set nice ${box.nice}: ${errnoText(errno)}`;
  }
  if (box.oomScoreAdj !== null) {
    try {
      writeFileSync(`/proc/${pid}/oom_score_adj`, String(box.oomScoreAdj));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      return `cannot set oom_score_adj ${box.oomScoreAdj}: ${code}`;
    }
  }
  return null;
}

/**
 * The box as the spawn library (native/spawn.c) sets it up in the child
 * itself, before its exec: no wrapper, nothing set from outside, nothing
 * to wait for.
 */
export function nativeBox(box: SpawnBox): NativeBox {
  const c = box.credentials;
  return {
    join: box.join,
    into: box.into,
    limits: box.rlimits.flatMap((r) => [r.resource, r.soft ?? -1, r.hard ?? -1]),
    nice: box.nice,
    oom: box.oomScoreAdj,
    umask: box.umask,
    ids: c === null ? null : [c.uid, c.gid, ...c.groups],
  };
}

/** What the spawn library's child could not set up, as setUp says it; null for a failure outside the box. */
export function boxFailure(box: SpawnBox, call: string, errno: number, index = 0): string | null {
  const why = errnoText(errno);
  const c = box.credentials;
  switch (call) {
    case 'cgroup':
      return `cannot join the service's cgroup (${box.join[index] ?? '?'}): ${why}`;
    case 'rlimit':
      return `cannot set rlimits.${box.rlimits[index]?.name ?? '?'}: ${why}`;
    case 'nice':
      return `cannot set nice ${box.nice}: ${why}`;
    case 'oom_score_adj':
      return `cannot set oom_score_adj ${box.oomScoreAdj}: ${why}`;
    case 'setgroups':
    case 'setresgid':
    case 'setresuid':
      return `cannot run as uid ${c?.uid} gid ${c?.gid} (${call}): ${why}`;
    default:
      return null;
  }
}

const ERRNO_TEXT: Readonly<Record<number, string>> = {
  1: 'operation not permitted (EPERM)',
  2: 'no such file or directory (ENOENT)',
  13: 'permission denied (EACCES)',
  22: 'invalid argument (EINVAL)',
};
function errnoText(n: number): string {
  return ERRNO_TEXT[n] ?? `errno ${n}`;
}
