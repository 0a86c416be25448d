// Spawning and signalling: one service process = one process group (and
// session), created with `detached: true`, so a signal to -pgid reaches the
// process and every descendant that stayed in its group. Its one piece of
// state is the set of children libuv owns and has not reaped yet, so the
// orphan reaper (reaper.ts) never takes a service's exit status.

import { ChildProcess, spawn, type StdioOptions } from 'node:child_process';
import { constants } from 'node:os';
import { readStat } from './proc.js';

/** The variable that marks every process a service starts, so ones that left the group can be found. */
export const MARKER_VAR = 'SMINIT_SERVICE';
/** Marks every process of any service of this daemon: one sweep finds them all at shutdown. */
export const DAEMON_VAR = 'SMINIT_DAEMON';
/** Which start of the service a process belongs to: a restart sweeps the old run's, not the new one's. */
export const RUN_VAR = 'SMINIT_RUN';

let selfId: string | null = null;

/**
 * A daemon's identity in markers: its pid and start time. The pid alone is
 * not enough: every container's sminitd is pid 1, and a host's sminitd must
 * never take a container's processes for its own.
 */
export function daemonId(pid: number = process.pid): string {
  if (pid === process.pid && selfId !== null) return selfId;
  const id = `${pid}.${readStat(pid)?.startTime ?? 0}`;
  if (pid === process.pid) selfId = id;
  return id;
}

/** The marker value of one service of the daemon `daemonPid` (which must be running). */
export function markerValue(daemonPid: number, service: string): string {
  return `${daemonId(daemonPid)}:${service}`;
}

export interface SpawnSpec {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly marker: string;
  /** The service's run number, set in RUN_VAR. */
  readonly run: number;
  readonly stdio: 'pipe' | 'ignore';
}

// Reading process.env goes through getenv for every variable: spreading it
// cost ~0.1 ms a spawn here, a tenth of a second for 1,000 services. A
// service's environment is built once per definition (its env object) and
// marker, and reused by every spawn and health test. The daemon never changes
// its own environment, so the cached copies cannot go stale.
const envCache = new WeakMap<object, Map<string, Readonly<Record<string, string | undefined>>>>();
let inherited: Readonly<Record<string, string | undefined>> | null = null;

function childEnv(spec: SpawnSpec): Readonly<Record<string, string | undefined>> {
  let byMarker = envCache.get(spec.env);
  if (byMarker === undefined) envCache.set(spec.env, (byMarker = new Map()));
  let env = byMarker.get(spec.marker);
  if (env === undefined) {
    inherited ??= { ...process.env };
    env = {
      ...inherited,
      ...spec.env,
      [MARKER_VAR]: spec.marker,
      [DAEMON_VAR]: daemonId(),
    };
    byMarker.set(spec.marker, env);
  }
  return { ...env, [RUN_VAR]: String(spec.run) };
}

/** Pids spawned here whose exit libuv has not delivered yet: libuv alone reaps them. */
const spawned = new Set<number>();

/** Whether `pid` is a child libuv spawned and will reap (so nobody else may). */
export function isSpawnedChild(pid: number): boolean {
  return spawned.has(pid);
}

/**
 * Spawn in a new session. Never throws: a failure the OS reports at once is
 * delivered as the child's 'error' event, as libuv does for ENOENT.
 */
export function spawnGroup(spec: SpawnSpec): ChildProcess {
  const [file, ...args] = spec.argv;
  const stdio: StdioOptions = spec.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'ignore';
  let child: ChildProcess;
  try {
    child = spawn(file ?? '', args, {
      cwd: spec.cwd,
      env: childEnv(spec),
      detached: true,
      stdio,
      windowsHide: true,
    });
  } catch (err) {
    // Node emits 'error' only for the failures it counts as run-time ones
    // (ENOENT, EACCES, EAGAIN, EMFILE, ENFILE) and throws the rest: E2BIG
    // (an argument over 128 KiB), ENAMETOOLONG, EPERM… Deliver them the
    // same way, so one bad service can never throw through its caller.
    const failed = new ChildProcess();
    process.nextTick(() => failed.emit('error', err));
    return failed;
  }
  // Registered before control returns to the event loop, hence before any
  // SIGCHLD could be handled; 'exit' comes only after libuv has reaped it.
  const pid = child.pid;
  if (pid !== undefined) {
    spawned.add(pid);
    child.once('exit', () => spawned.delete(pid));
  }
  return child;
}

/** Signal a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  if (pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

export function groupExists(pgid: number): boolean {
  return signalGroup(pgid, 0);
}

/** Canonical signal name (`SIGHUP`) from `hup`, `HUP`, `sighup`, or a number; null if unknown. */
export function parseSignal(input: string | number): NodeJS.Signals | null {
  const signals = constants.signals as Record<string, number>;
  if (typeof input === 'number' || /^\d+$/.test(input)) {
    const n = Number(input);
    const found = Object.entries(signals).find(([, v]) => v === n);
    return found ? (found[0] as NodeJS.Signals) : null;
  }
  const up = input.trim().toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  return Object.hasOwn(signals, name) ? (name as NodeJS.Signals) : null;
}

/** A spawn error as a person reads it: what failed and why. */
export function describeSpawnError(
  err: NodeJS.ErrnoException,
  argv0: string,
  cwd: string,
  cwdExists: boolean,
): string {
  switch (err.code) {
    case 'ENOENT':
      return cwdExists
        ? `cannot run '${argv0}': no such file or directory (ENOENT)`
        : `cannot run '${argv0}': working directory '${cwd}' does not exist (ENOENT)`;
    case 'EACCES':
      return `cannot run '${argv0}': permission denied, not executable, or a directory (EACCES)`;
    case 'EAGAIN':
      return `cannot run '${argv0}': process limit reached (EAGAIN)`;
    case 'EMFILE':
    case 'ENFILE':
      return `cannot run '${argv0}': out of file descriptors (${err.code})`;
    case 'E2BIG':
      return `cannot run '${argv0}': arguments or environment too long (E2BIG)`;
    case 'ENAMETOOLONG':
      return `cannot run '${argv0}': a path is too long (ENAMETOOLONG)`;
    case 'ENOMEM':
      return `cannot run '${argv0}': out of memory (ENOMEM)`;
    default:
      return `cannot run '${argv0}': ${err.message}`;
  }
}
