// Spawning: one service process = one process group (and session), so a
// signal to -pgid reaches the process and every descendant that stayed in its
// group. Two ways to spawn, one interface (`Child`): the native layer (the
// spawn library, or posix_spawn where it is not built), once init has its
// reaper listening (the reaper hands each exit back here), and Node's
// child_process when the native layer is missing. A `Spawner` keeps the children of each way that have not been
// reaped yet, so the reaper takes no exit that belongs to libuv and every
// exit it takes reaches its child. Environments are cached per definition.

import { ChildProcess, spawn, type StdioOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, closeSync, constants as fsConstants, existsSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { DAEMON_VAR, MARKER_VAR, RUN_VAR, SOCKET_VAR, daemonId, socketMarker } from './markers.js';
import { signalGroup } from './kill.js';
import type { Native, SpawnRequest, SpawnResult, WaitStatus } from './native.js';
import type { RunAs, Sandbox } from '../core/definition.js';
import type { LimitCalls } from './native-accounts.js';
import {
  type SpawnBox,
  boxFailure,
  boxIsEmpty,
  holdFdFor,
  holds,
  nativeBox,
  setUp,
  wrappedArgv,
} from './wrap.js';

export type { SpawnBox };

export interface SpawnSpec {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly marker: string;
  /** The service's run number, set in RUN_VAR. */
  readonly run: number;
  readonly stdio: 'pipe' | 'ignore';
  /** A pipe's write end at this descriptor in the child (`notify: fd:N`); its read end is `notify`. */
  readonly notifyFd?: number;
  /** Variables set to the child's own pid (WATCHDOG_PID), through a `sh` that then execs the program. */
  readonly pidVars?: readonly string[];
  /** Where and as whom it runs: the service's sandbox, made into `box` by the system before spawning. */
  readonly setup?: SpawnSetup;
  /** What must hold before the program runs (cgroups, limits, user); absent or empty: nothing. */
  readonly box?: SpawnBox;
}

export interface SpawnSetup {
  readonly service: string;
  /** The main process, or a health test (which runs in the service's test group). */
  readonly role: 'main' | 'test';
  readonly sandbox: Sandbox;
  readonly user: RunAs | null;
}

// Reading process.env goes through getenv for every variable: spreading it
// cost ~0.1 ms a spawn here, a tenth of a second for 1,000 services. A
// service's environment is built once per definition (its env object) and
// marker, and reused by every spawn and health test. The daemon never changes
// its own environment, so the cached copies cannot go stale.
const envCache = new WeakMap<object, Map<string, Readonly<Record<string, string | undefined>>>>();
let inherited: Readonly<Record<string, string | undefined>> | null = null;

const envpCache = new WeakMap<object, Map<string, readonly string[]>>();

/** The daemon's own environment, read once (see above). */
function inheritedEnv(): Readonly<Record<string, string | undefined>> {
  inherited ??= { ...process.env };
  return inherited;
}

/**
 * What a child has over the daemon's environment: its definition's
 * variables, the markers, and RUN_VAR taken out (set at each spawn).
 * Undefined means "not passed on".
 */
function ownVars(spec: SpawnSpec): Map<string, string | undefined> {
  const own = new Map<string, string | undefined>(Object.entries(spec.env));
  own.set(MARKER_VAR, spec.marker);
  own.set(DAEMON_VAR, daemonId());
  // Never an outer daemon's socket: that one would take this process for its own leftover.
  own.set(SOCKET_VAR, socketMarker() ?? undefined);
  own.set(RUN_VAR, undefined);
  return own;
}

function baseEnv(spec: SpawnSpec): Readonly<Record<string, string | undefined>> {
  let byMarker = envCache.get(spec.env);
  if (byMarker === undefined) envCache.set(spec.env, (byMarker = new Map()));
  let env = byMarker.get(spec.marker);
  if (env === undefined) {
    // Node's spawn passes no variable whose value is undefined.
    env = { ...inheritedEnv(), ...Object.fromEntries(ownVars(spec)) };
    byMarker.set(spec.marker, env);
  }
  return env;
}

function childEnv(spec: SpawnSpec): Readonly<Record<string, string | undefined>> {
  return { ...baseEnv(spec), [RUN_VAR]: String(spec.run) };
}

/**
 * The daemon's own variables as execve takes them (`NAME=value`), made once:
 * every child's envp points at the same strings, so 1,000 services hold one
 * copy of the environment, not 1,000 (some 2 KiB each on a busy host).
 */
let inheritedPairs: ReadonlyMap<string, string> | null = null;
/** The daemon's and the socket's marker strings, the same in every child. */
const sharedPairs = new Map<string, string>();

function inheritedEnvp(): ReadonlyMap<string, string> {
  if (inheritedPairs === null) {
    const pairs = new Map<string, string>();
    for (const [k, v] of Object.entries(inheritedEnv())) {
      if (v !== undefined) pairs.set(k, `${k}=${v}`);
    }
    inheritedPairs = pairs;
  }
  return inheritedPairs;
}

function shared(pair: string): string {
  const known = sharedPairs.get(pair);
  if (known !== undefined) return known;
  sharedPairs.set(pair, pair);
  return pair;
}

/** The environment as execve takes it (`NAME=value`, run number last); built once per definition. */
function childEnvp(spec: SpawnSpec): string[] {
  let byMarker = envpCache.get(spec.env);
  if (byMarker === undefined) envpCache.set(spec.env, (byMarker = new Map()));
  let envp = byMarker.get(spec.marker);
  if (envp === undefined) {
    // What this child has of its own; RUN_VAR comes last, at each spawn.
    const own = ownVars(spec);
    const list: string[] = [];
    for (const [k, pair] of inheritedEnvp()) if (!own.has(k)) list.push(pair);
    for (const [k, v] of own) {
      if (v === undefined) continue;
      const pair = `${k}=${v}`;
      list.push(k === DAEMON_VAR || k === SOCKET_VAR ? shared(pair) : pair);
    }
    envp = list;
    byMarker.set(spec.marker, envp);
  }
  return [...envp, `${RUN_VAR}=${spec.run}`];
}

/** What a worker needs of a child, whichever way it was spawned. */
export interface Child {
  /** Undefined when the spawn failed; 'error' follows on the next tick. */
  readonly pid?: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** The read end of the `notifyFd` pipe, when one was asked for. */
  readonly notify?: Readable | null;
  once(event: 'exit', listener: (code: number | null, signal: string | null) => void): this;
  once(event: 'error', listener: (err: NodeJS.ErrnoException) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

/** A child spawned through posix_spawn; its exit comes from the reaper. */
class NativeChild extends EventEmitter implements Child {
  constructor(
    readonly pid: number | undefined,
    readonly stdout: Readable | null,
    readonly stderr: Readable | null,
    readonly notify: Readable | null = null,
    /** What it was asked to run and in what box, for a failure after the spawn returned. */
    readonly file = '',
    readonly box: SpawnBox | null = null,
  ) {
    super();
  }
}

/**
 * argv run through `sh`, which sets each of `vars` to its own pid and then
 * execs the program in its place (same pid): how a child learns its pid
 * (WATCHDOG_PID) before it runs, which posix_spawn cannot arrange.
 */
function withPidVars(vars: readonly string[], program: string, args: readonly string[]): string[] {
  const set = vars.filter((v) => /^[A-Z_][A-Z0-9_]*$/.test(v)).map((v) => `export ${v}=$$; `);
  return ['/bin/sh', '-c', `${set.join('')}exec "$0" "$@"`, program, ...args];
}

/**
 * Spawns children and keeps, until each is reaped, which way it was spawned:
 * libuv reaps its own, the reaper everything else. Never throws: a failure
 * the OS reports at once is delivered as the child's 'error' event.
 */
export class Spawner {
  private nativeSpawn: ((req: SpawnRequest) => SpawnResult) | null = null;
  private native: Native | null = null;
  /** Whether children spawned in this turn may still be setting themselves up. */
  private unsettled = false;
  private limitCalls: LimitCalls | null = null;
  /** Pids libuv spawned whose exit it has not delivered yet: libuv alone reaps them. */
  private readonly libuvChildren = new Set<number>();
  /** Children spawned through posix_spawn and not reaped yet. */
  private readonly nativeChildren = new Map<number, NativeChild>();
  /** Whether orphaned descendants become children of this process (subreaper or PID 1). */
  adoptsOrphans = false;

  /**
   * From now on spawn through posix_spawn. Only once something reaps every
   * child that is not libuv's and hands its exit to `childExited`.
   */
  useNative(native: Native): boolean {
    this.nativeSpawn = native.spawn;
    this.native = native;
    this.limitCalls = native.limits;
    return this.nativeSpawn !== null;
  }

  /**
   * Returns once every child spawned so far is in its session and cgroups
   * with its limits and user set: before anything signals a child or looks
   * at its group. Also done at the end of every turn that spawned.
   */
  settle(): void {
    if (!this.unsettled) return;
    this.unsettled = false;
    this.native?.settleSpawns();
  }

  /** Whether the native spawn sets up a box in the child (the spawn library): then no wrapper. */
  private get boxesInChild(): boolean {
    return this.native?.spawnsBoxed === true;
  }

  /** Whether `pid` is a child libuv spawned and will reap (so nobody else may). */
  isLibuvChild(pid: number): boolean {
    return this.libuvChildren.has(pid);
  }

  /** Whether `pid` is a child spawned here (by either way) and not reaped yet. */
  isOwnChild(pid: number): boolean {
    return this.nativeChildren.has(pid) || this.libuvChildren.has(pid);
  }

  /** The reaper took `pid`: deliver its exit. False when it was not one of ours (an orphan). */
  childExited(pid: number, status: WaitStatus): boolean {
    const child = this.nativeChildren.get(pid);
    if (child === undefined) return false;
    this.nativeChildren.delete(pid);
    // The spawn library returns before the child's set-up and exec: one that failed ends it with 127.
    const failed = status.code === 127 ? (this.native?.spawnFailure(pid) ?? null) : null;
    if (failed !== null && child.listenerCount('error') > 0) {
      const { errno, call, index } = failed;
      const boxed = child.box === null ? null : boxFailure(child.box, call, errno, index);
      child.emit('error', boxed !== null ? boxError(boxed) : spawnError(errno, call, child.file));
    }
    child.emit('exit', status.code, status.signal);
    return true;
  }

  /** Spawn in a new session. Never throws. */
  spawn(spec: SpawnSpec): Child {
    const native = this.nativeSpawn;
    const box = boxIsEmpty(spec.box) ? null : (spec.box ?? null);
    if (native !== null) {
      try {
        if (box === null || this.boxesInChild) return this.spawnNative(native, spec, box);
        return this.spawnBoxed(native, spec, box);
      } catch (err) {
        // Not expected (every OS error is a value on this path), but a spawn
        // must fail as the service's error, never as the caller's exception.
        const e: NodeJS.ErrnoException = err instanceof Error ? err : new Error(String(err));
        return failedChild(e);
      }
    }
    if (box === null) return this.spawnLibuv(spec);
    const argv = wrappedArgv(spec.argv, box, holdFdFor(spec.notifyFd));
    if (typeof argv === 'string') return failedChild(boxError(argv));
    if (holds(box)) return failedChild(boxError(setUp(0, box, null) ?? ''));
    return this.spawnLibuv({ ...spec, argv });
  }

  /**
   * Through the wrapper: the program is looked up first (so a missing one
   * fails as it does unwrapped), then the wrapper spawned, set up while it
   * waits, and released. A failed set-up kills it before it is released.
   */
  private spawnBoxed(
    spawnFn: (req: SpawnRequest) => SpawnResult,
    spec: SpawnSpec,
    box: SpawnBox,
  ): Child {
    const file = spec.argv[0] ?? '';
    const envp = childEnvp(spec);
    const pathVar = envp.find((e) => e.startsWith('PATH='));
    const program = findProgram(file, pathVar?.slice(5), spec.cwd);
    // Unwrapped, execve would say why a path cannot run; wrapped, it must be asked first.
    const unusable = typeof program === 'number' ? program : cannotExecute(program, spec.cwd);
    if (unusable !== 0) return failedChild(spawnError(unusable, 'spawn', file));
    const argv = wrappedArgv(spec.argv, box, holdFdFor(spec.notifyFd));
    if (typeof argv === 'string') return failedChild(boxError(argv));
    return this.spawnNative(spawnFn, { ...spec, argv }, box);
  }

  private spawnNative(
    spawnFn: (req: SpawnRequest) => SpawnResult,
    spec: SpawnSpec,
    box: SpawnBox | null = null,
  ): Child {
    const file = spec.argv[0] ?? '';
    for (const s of spec.argv) {
      if (s.includes('\0')) return failedChild(spawnError(constants.errno.EINVAL, 'spawn', file));
    }
    const envp = childEnvp(spec);
    const pathVar = envp.find((e) => e.startsWith('PATH='));
    const program = findProgram(file, pathVar?.slice(5), spec.cwd);
    if (typeof program === 'number') return failedChild(spawnError(program, 'spawn', file));
    // The spawn library returns before the exec: what would fail it is asked first.
    const unusable = this.boxesInChild ? beforeExec(program, file, spec) : 0;
    if (unusable !== 0) return failedChild(spawnError(unusable, 'spawn', file));
    // In the child (the spawn library), or by the wrapper held until set up from outside.
    const inChild = box !== null && this.boxesInChild;
    const hold = box !== null && !inChild && holds(box);
    const run = (path: string, argv: readonly string[]): SpawnResult =>
      spawnFn({
        path,
        argv,
        envp,
        cwd: spec.cwd,
        pipes: spec.stdio === 'pipe',
        notifyFd: spec.notifyFd ?? null,
        ...(hold ? { hold: holdFdFor(spec.notifyFd) } : {}),
        ...(inChild ? { box: nativeBox(box) } : {}),
      });
    let r = spec.pidVars?.length
      ? run('/bin/sh', withPidVars(spec.pidVars, program, spec.argv.slice(1)))
      : run(program, spec.argv);
    // (The library's child does this itself: its exec failures come at its exit.)
    if ('errno' in r && r.errno === constants.errno.ENOEXEC && box === null) {
      // A script without a #! line: execvp hands it to the shell, and so does this.
      r = run('/bin/sh', ['/bin/sh', program, ...spec.argv.slice(1)]);
    }
    if ('errno' in r) {
      const unboxed = box === null ? null : boxFailure(box, r.call, r.errno, r.index);
      return failedChild(unboxed !== null ? boxError(unboxed) : spawnError(r.errno, 'spawn', file));
    }
    return this.watch(r, box, file);
  }

  /**
   * The spawned child, its pipes as sockets, registered before control
   * returns to the event loop, hence before the reaper could look at any
   * SIGCHLD; a held wrapper is set up and released first.
   */
  private watch(
    r: Exclude<SpawnResult, { errno: number }>,
    box: SpawnBox | null,
    file: string,
  ): Child {
    const pid = r.pid;
    const sockets: Socket[] = [];
    const fds = [r.stdout, r.stderr, r.notify];
    const failed = box !== null && r.hold >= 0 ? this.release(pid, box, r.hold) : null;
    try {
      if (failed !== null) throw boxError(failed);
      const pipe = (i: number): Socket | null => {
        const fd = fds[i] ?? -1;
        if (fd < 0) return null;
        const socket = new Socket({ fd, readable: true, writable: false });
        sockets.push(socket);
        fds[i] = -1;
        return socket;
      };
      const child = new NativeChild(pid, pipe(0), pipe(1), pipe(2), file, box);
      this.nativeChildren.set(pid, child);
      if (this.boxesInChild && !this.unsettled) {
        // The children of one turn set themselves up side by side; the turn's end waits for all.
        this.unsettled = true;
        queueMicrotask(() => this.settle());
      }
      return child;
    } catch (err) {
      // The process runs but cannot be watched: it goes, and its exit is nobody's.
      this.nativeChildren.set(pid, new NativeChild(pid, null, null));
      this.native?.settleSpawns();
      signalGroup(pid, 'SIGKILL');
      for (const socket of sockets) socket.destroy();
      for (const fd of fds) if (fd >= 0) closeSync(fd);
      return failedChild(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Set up the waiting wrapper and release it; what failed, or null. On a
   * failure it is killed before it is released, so its program never runs.
   */
  private release(pid: number, box: SpawnBox, hold: number): string | null {
    let failed: string | null;
    try {
      failed = setUp(pid, box, this.limitCalls);
    } catch (err) {
      failed = err instanceof Error ? err.message : String(err);
    }
    if (failed !== null) signalGroup(pid, 'SIGKILL');
    closeSync(hold);
    return failed;
  }

  /** Node's child_process, when the native layer cannot spawn. */
  private spawnLibuv(spec: SpawnSpec): Child {
    const [file, ...args] = spec.pidVars?.length
      ? withPidVars(spec.pidVars, spec.argv[0] ?? '', spec.argv.slice(1))
      : spec.argv;
    const io: ('ignore' | 'pipe')[] =
      spec.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'ignore', 'ignore'];
    if (spec.notifyFd !== undefined) {
      while (io.length < spec.notifyFd) io.push('ignore');
      io[spec.notifyFd] = 'pipe';
    }
    const stdio: StdioOptions = io;
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
      this.libuvChildren.add(pid);
      child.once('exit', () => this.libuvChildren.delete(pid));
    }
    if (spec.notifyFd === undefined) return child;
    const notify = child.stdio[spec.notifyFd];
    return Object.assign(child, { notify: notify && 'read' in notify ? notify : null });
  }
}

/** errno → code; the first name wins among aliases (EAGAIN, not EWOULDBLOCK), as libuv names them. */
const ERRNO_CODES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) {
  if (!ERRNO_CODES.has(n)) ERRNO_CODES.set(n, name);
}

function spawnError(errno: number, call: string, file: string): NodeJS.ErrnoException {
  const code = ERRNO_CODES.get(errno) ?? `errno ${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${call} ${file} ${code}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = call;
  err.path = file;
  return err;
}

/** A box that cannot be set up: the reason as a spawn error (no errno; its message says it). */
function boxError(message: string): NodeJS.ErrnoException {
  return new Error(message);
}

/** A spawn that fails before anything runs, for `reason`: 'error' follows on the next tick. */
export function failedSpawn(reason: string): Child {
  return failedChild(boxError(reason));
}

function failedChild(err: NodeJS.ErrnoException): NativeChild {
  const child = new NativeChild(undefined, null, null);
  process.nextTick(() => child.emit('error', err));
  return child;
}

/**
 * The program execve should run, as execvp finds it: a name with a slash
 * as it is (relative to the child's working directory), otherwise the first
 * executable file of that name in the child's PATH. When there is none, the
 * errno execvp would give: EACCES if a file of that name exists but may not
 * be run, else ENOENT. Looked up at every spawn, so a program installed or
 * moved meanwhile is found as execvp would find it.
 */
export function findProgram(file: string, path: string | undefined, cwd: string): string | number {
  if (file.includes('/')) return file;
  let denied = false;
  for (const dir of (path ?? '/bin:/usr/bin').split(':')) {
    const candidate = join(dir === '' ? '.' : dir, file);
    const abs = isAbsolute(candidate) ? candidate : resolve(cwd, candidate);
    try {
      // No exception for a directory that lacks it, the usual case: a stat that may find nothing.
      const st = statSync(abs, { throwIfNoEntry: false });
      if (st === undefined || st.isDirectory()) continue;
      accessSync(abs, fsConstants.X_OK);
      return abs;
    } catch {
      // There, but not ours to run (or to search): remembered, and the next directory.
      denied = true;
    }
  }
  return denied ? constants.errno.EACCES : constants.errno.ENOENT;
}

/** The longest string execve takes (MAX_ARG_STRLEN, 32 pages of 4 KiB, with its NUL). */
const MAX_ARG_STRLEN = 32 * 4096;

/**
 * The errno a spawn of `program` would fail with that can be known before
 * it: an argument or variable too long, a working directory that is not
 * one, a path given with a slash that cannot run (one found in PATH was
 * checked by findProgram). 0 otherwise.
 */
function beforeExec(program: string, file: string, spec: SpawnSpec): number {
  for (const list of [spec.argv, Object.values(spec.env)]) {
    for (const s of list) {
      const long = s.length >= MAX_ARG_STRLEN / 3 && Buffer.byteLength(s) >= MAX_ARG_STRLEN;
      if (long) return constants.errno.E2BIG;
    }
  }
  const dir = statSync(spec.cwd, { throwIfNoEntry: false });
  if (dir === undefined) return constants.errno.ENOENT;
  if (!dir.isDirectory()) return constants.errno.ENOTDIR;
  return program === file ? cannotExecute(program, spec.cwd) : 0;
}

/** The errno execve would fail with for `path` (relative to `cwd`), or 0 when it looks runnable. */
function cannotExecute(path: string, cwd: string): number {
  const abs = isAbsolute(path) ? path : resolve(cwd, path);
  try {
    if (statSync(abs).isDirectory()) return constants.errno.EACCES;
    accessSync(abs, fsConstants.X_OK);
    return 0;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const n = (constants.errno as Record<string, number>)[code];
    // A missing working directory is the spawn's own error to report.
    return code === 'ENOENT' && !existsSync(cwd) ? 0 : (n ?? constants.errno.EACCES);
  }
}

/** A spawn error as a person reads it: what failed and why. */
export function describeSpawnError(err: NodeJS.ErrnoException, argv0: string, cwd: string): string {
  switch (err.code) {
    case 'ENOENT':
      return existsSync(cwd)
        ? `cannot run '${argv0}': no such file or directory (ENOENT)`
        : `cannot run '${argv0}': working directory '${cwd}' does not exist (ENOENT)`;
    case 'ENOTDIR':
      // Either the working directory is something else, or a directory on the program's path is.
      return statSync(cwd, { throwIfNoEntry: false })?.isDirectory() === false
        ? `cannot run '${argv0}': working directory '${cwd}' is not a directory (ENOTDIR)`
        : `cannot run '${argv0}': a component of its path is not a directory (ENOTDIR)`;
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
