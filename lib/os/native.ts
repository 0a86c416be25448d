// The few system calls Node does not offer and an init needs: becoming a
// child subreaper, reaping one exact pid, peeking at exited children without
// reaping them, marking inherited descriptors close-on-exec, sync and
// reboot, malloc_trim, peer credentials (spawning is bound in native-spawn.ts, the
// notification sockets of `notify: systemd` in native-notify.ts). They
// go through koffi (an FFI whose npm package carries prebuilt binaries, so
// nothing is compiled at install). It is loaded on demand and a failure to
// load is a value, not a crash: the caller decides whether it can run
// without. Owns no state beyond the loaded bindings; decides nothing.

import { existsSync, readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { messageOf } from '../core/errors.js';
import { signalNameOf } from '../core/signals.js';
import { WORD_BYTES } from './arch.js';
import type { Accounts } from '../core/host.js';
import { type LimitCalls, bindAccounts, bindLimits } from './native-accounts.js';
import { type NotifyNative, bindNotify } from './native-notify.js';
import { type Bind, bindSpawn, helperStep } from './native-spawn.js';

const PR_SET_CHILD_SUBREAPER = 36;
const P_ALL = 0;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const CLOSE_RANGE_CLOEXEC = 1 << 2;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const POLLHUP = 0x10;
const ECHILD = 10;
const EINTR = 4;

export const REBOOT_CMD = {
  'power-off': 0x4321fedc,
  restart: 0x01234567,
} as const;
export type RebootKind = keyof typeof REBOOT_CMD;

/** A failed system call: which one and the errno, as a person reads it. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: ${errnoName(errno)}`);
    this.name = 'SyscallError';
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM (operation not permitted)',
  3: 'ESRCH (no such process)',
  4: 'EINTR',
  9: 'EBADF',
  10: 'ECHILD (no such child)',
  22: 'EINVAL (invalid argument)',
  38: 'ENOSYS (not supported by this kernel)',
};
function errnoName(n: number): string {
  return ERRNO_NAMES[n] ?? `errno ${n}`;
}

export interface Native {
  /** prctl(PR_SET_CHILD_SUBREAPER): orphans of our descendants become our children. */
  setChildSubreaper(): void;
  /**
   * The pid of one child that has exited and is waiting to be reaped, without
   * reaping it (waitid with WNOWAIT); 0 when there is none.
   */
  peekExited(): number;
  /** waitpid(pid, WNOHANG): true when that exact child was reaped now. */
  reap(pid: number): boolean;
  /** Mark every descriptor from `first` up close-on-exec, so no child inherits it. */
  cloexecFrom(first: number): void;
  sync(): void;
  /** reboot(2); returns only on failure, with the error. */
  reboot(kind: RebootKind): SyscallError;
  /** getsockopt(SO_PEERCRED) on a connected unix socket's descriptor; null when it fails. */
  peerCred(fd: number): PeerCred | null;
  /** getgrnam(3): the group's id, or null when there is no such group. */
  groupId(name: string): number | null;
  /** poll(2) for POLLHUP: true when the peer of a connected socket has closed both directions. */
  hungUp(fd: number): boolean;
  /**
   * posix_spawn in a new session, or null when this libc cannot (no
   * POSIX_SPAWN_SETSID or addchdir_np): then the caller spawns through Node.
   */
  readonly spawn: ((req: SpawnRequest) => SpawnResult) | null;
  /** Whether `spawn` sets up a request's `box` in the child (the spawn library, native/spawn.c, is loaded). */
  readonly spawnsBoxed: boolean;
  /**
   * With the spawn library, `spawn` returns before the child has set itself
   * up: this returns once every child spawned so far has (or has failed, or
   * died). Nothing may signal a child or look at its group before.
   */
  settleSpawns(): void;
  /**
   * With the spawn library, how a child that exited with 127 failed (its
   * set-up or its exec), asked once at its exit; null when it did not.
   */
  spawnFailure(pid: number): SpawnFailure | null;
  /**
   * Whether a child made straight into the empty v2 group `dir` (clone3's
   * CLONE_INTO_CGROUP) runs: asked once, before any spawn may be made so
   * (`NativeBox.into`). False without the spawn library or where it cannot.
   */
  probeSpawnInto(dir: string): boolean;
  /** waitpid(pid, WNOHANG): how that exact child ended if it was reaped now, else null. */
  reapExit(pid: number): WaitStatus | null;
  /** The user and group databases, as libc (and so NSS) reads them. */
  readonly accounts: Accounts;
  /** Limits and niceness set on another process. */
  readonly limits: LimitCalls;
  /** Datagram sockets polled on node's loop, for systemd notifications; null when libuv's calls are missing. */
  readonly notify: NotifyNative | null;
  /** malloc_trim(0): the C heap's free pages back to the system; nothing where libc lacks it (musl). */
  trimMalloc(): void;
}

export interface SpawnRequest {
  /** The program, already looked up in PATH (execve's path). */
  readonly path: string;
  readonly argv: readonly string[];
  /** `NAME=value` strings. */
  readonly envp: readonly string[];
  readonly cwd: string;
  /** stdout and stderr on two new pipes; otherwise /dev/null like stdin. */
  readonly pipes: boolean;
  /**
   * Hold the child until released: a pipe's read end at this descriptor,
   * whose write end comes back as `hold`, for a wrapper that waits on it.
   */
  readonly hold?: number;
  /** A third pipe whose write end is this descriptor in the child (`notify: fd:N`); null for none. */
  readonly notifyFd: number | null;
  /** What the child sets up itself before its exec; only where `spawnsBoxed`. */
  readonly box?: NativeBox;
}

/** A box as the spawn library takes it: every value already checked and numbered. */
export interface NativeBox {
  /** cgroup.procs files the child joins. */
  readonly join: readonly string[];
  /** The first of `join` is a v2 group the child may be made in, instead of joining it. */
  readonly into: boolean;
  /** RLIMIT_* number, soft, hard, for each limit; a negative value is unlimited. */
  readonly limits: readonly number[];
  readonly nice: number | null;
  readonly oom: number | null;
  readonly umask: number | null;
  /** uid, gid, then the supplementary groups; null: as sminitd. */
  readonly ids: readonly number[] | null;
}

/** A spawned child and the parent's (read) ends of its pipes, or -1 without pipes; or the errno. */
export type SpawnResult =
  | {
      readonly pid: number;
      readonly stdout: number;
      readonly stderr: number;
      /** The write end of the hold pipe (close it to release the child), or -1. */
      readonly hold: number;
      readonly notify: number;
    }
  | SpawnFailure;

/** A failed step of a spawn: its errno, the call, and which of the box's cgroups or limits (`cgroup`, `rlimit`). */
export interface SpawnFailure {
  readonly errno: number;
  readonly call: string;
  readonly index: number;
}

/** How a reaped child ended: an exit code, or the signal that killed it. */
export interface WaitStatus {
  readonly code: number | null;
  readonly signal: string | null;
}

/** The process on the other end of a unix socket, as the kernel saw it at connect. */
export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

interface Koffi {
  load(path: string | null): { func(definition: string): (...args: unknown[]) => unknown };
  errno(): number;
  struct(name: string, fields: Record<string, string>): unknown;
  decode(pointer: unknown, type: unknown): unknown;
}

let loaded: Native | string | undefined;

/** The bindings if loadNative has loaded them, else null: for callers that must not wait. */
export function loadedNative(): Native | null {
  return typeof loaded === 'object' ? loaded : null;
}

/** The bindings, or why they could not be loaded. Loaded once. */
export async function loadNative(): Promise<Native | string> {
  if (loaded !== undefined) return loaded;
  try {
    const koffi = (await import('koffi')) as unknown as Koffi;
    loaded = bind(koffi);
  } catch (err) {
    loaded = `cannot load the native bindings (koffi): ${messageOf(err)}`;
  }
  return loaded;
}

type Fn = (...args: unknown[]) => number;

function bind(koffi: Koffi): Native {
  // dlopen(NULL) resolves against what node itself links: glibc or musl alike.
  const libc = koffi.load(null);
  const fn: Bind = (def) => libc.func(def) as Fn;
  const fcntl = fn('int fcntl(int fd, int cmd, ...)');
  return {
    ...bindReaping(fn, koffi),
    ...bindDescriptors(fn, fcntl),
    ...bindMachine(fn, koffi),
    ...bindSockets(fn, libc, koffi),
    ...spawning(fn, fcntl, koffi),
    accounts: bindAccounts(libc, koffi),
    limits: bindLimits(libc, koffi),
    notify: bindNotify(koffi as unknown as Parameters<typeof bindNotify>[0], libc),
  };
}

/** Where the build puts the spawn library (dist/native/, beside dist/lib/). */
const SPAWN_LIBRARY = fileURLToPath(new URL('../../native/sminit-spawn.so', import.meta.url));

/**
 * `SMINIT_SPAWN=posix_spawn` in sminitd's environment: spawn through libc's
 * posix_spawn and the wrapper even where the spawn library is built.
 */
export const SPAWN_VAR = 'SMINIT_SPAWN';

interface SpawnLibrary {
  readonly spawn: Fn;
  readonly settle: Fn;
  readonly failure: Fn;
  readonly probe: Fn;
}

/** The spawn library's calls, or null when it is not built (or asked not to be used). */
function spawnLibrary(koffi: Koffi): SpawnLibrary | null {
  if (process.env[SPAWN_VAR] === 'posix_spawn' || !existsSync(SPAWN_LIBRARY)) return null;
  try {
    const lib = koffi.load(SPAWN_LIBRARY);
    return {
      spawn: lib.func(
        'int sminit_spawn(const char *path, const char **argv, const char **envp, const char *cwd, const int *fds, int nfds, const char **join, int into, const double *limits, int nlimits, int nice, int oom, int umask, const int *ids, int nids, int *out)',
      ) as Fn,
      settle: lib.func('void sminit_spawn_settle(void)') as Fn,
      failure: lib.func('int sminit_spawn_failure(int pid, int *out)') as Fn,
      probe: lib.func('int sminit_spawn_probe(const char *dir)') as Fn,
    };
  } catch {
    return null;
  }
}

function spawning(
  fn: Bind,
  fcntl: Fn,
  koffi: Koffi,
): Pick<Native, 'spawn' | 'spawnsBoxed' | 'settleSpawns' | 'spawnFailure' | 'probeSpawnInto'> {
  const lib = spawnLibrary(koffi);
  const bound = bindSpawn(fn, fcntl, () => koffi.errno(), lib?.spawn ?? null);
  const used = bound?.boxes === true ? lib : null;
  const out = new Int32Array(2);
  return {
    spawn: bound?.spawn ?? null,
    spawnsBoxed: used !== null,
    settleSpawns: used === null ? () => undefined : () => void used.settle(),
    spawnFailure: (pid) => {
      const errno = used === null ? 0 : used.failure(pid, out);
      return errno === 0 ? null : { errno, call: helperStep(out[0] ?? 0), index: out[1] ?? 0 };
    },
    probeSpawnInto: (dir) => used !== null && used.probe(dir) === 1,
  };
}

/** Subreaper, peeking at exited children, reaping one exact pid. */
function bindReaping(
  fn: Bind,
  koffi: Koffi,
): Pick<Native, 'setChildSubreaper' | 'peekExited' | 'reap' | 'reapExit'> {
  const prctl = fn(
    'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
  );
  const waitid = fn('int waitid(int idtype, int id, void *infop, int options)');
  const waitpid = fn('int waitpid(int pid, int *status, int options)');
  // siginfo_t is 128 bytes; si_pid sits after three ints, aligned to the
  // union's pointer alignment: offset 16 on 64-bit, 12 on 32-bit.
  const info = Buffer.alloc(128);
  const pidOffset = WORD_BYTES === 8 ? 16 : 12;
  const status = new Int32Array(1);
  const reap = (pid: number): boolean => {
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new RangeError(`reap: refusing pid ${pid}`);
    for (;;) {
      const r = waitpid(pid, status, WNOHANG);
      if (r === pid) return true;
      if (r === 0) return false;
      const e = koffi.errno();
      if (e === ECHILD) return false;
      if (e !== EINTR) throw new SyscallError(`waitpid(${pid})`, e);
    }
  };
  return {
    setChildSubreaper() {
      if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) {
        throw new SyscallError('prctl(PR_SET_CHILD_SUBREAPER)', koffi.errno());
      }
    },
    peekExited() {
      for (;;) {
        info.fill(0);
        if (waitid(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT) === 0) {
          return info.readInt32LE(pidOffset);
        }
        const e = koffi.errno();
        if (e === ECHILD) return 0;
        if (e !== EINTR) throw new SyscallError('waitid', e);
      }
    },
    reap,
    reapExit: (pid) => (reap(pid) ? decodeWaitStatus(status[0] ?? 0) : null),
  };
}

/** Marking inherited descriptors close-on-exec. */
function bindDescriptors(fn: Bind, fcntl: Fn): Pick<Native, 'cloexecFrom'> {
  let closeRange: Fn | null = null;
  try {
    closeRange = fn('int close_range(unsigned int first, unsigned int last, int flags)');
  } catch {
    // glibc before 2.34: mark descriptors one by one below.
  }
  return {
    cloexecFrom(first) {
      if (closeRange !== null && closeRange(first, 0xffffffff, CLOSE_RANGE_CLOEXEC) === 0) return;
      // Older kernels (before 5.11): one descriptor at a time.
      for (const fd of openDescriptors()) {
        if (fd >= first) fcntl(fd, F_SETFD, 'int', FD_CLOEXEC);
      }
    },
  };
}

/** sync and reboot: the last acts of a machine's init. */
function bindMachine(fn: Bind, koffi: Koffi): Pick<Native, 'sync' | 'reboot' | 'trimMalloc'> {
  const sync = fn('void sync(void)');
  const reboot = fn('int reboot(int cmd)');
  let trim: Fn | null = null;
  try {
    trim = fn('int malloc_trim(size_t pad)');
  } catch {
    // glibc's own call: musl has none, and nothing to trim the same way.
  }
  return {
    trimMalloc() {
      trim?.(0);
    },
    sync() {
      sync();
    },
    reboot(kind) {
      reboot(REBOOT_CMD[kind]);
      return new SyscallError(`reboot(${kind})`, koffi.errno());
    },
  };
}

/** Who is on the other end of a unix socket, whether it hung up; a group's id. */
function bindSockets(
  fn: Bind,
  libc: ReturnType<Koffi['load']>,
  koffi: Koffi,
): Pick<Native, 'peerCred' | 'hungUp' | 'groupId'> {
  const getsockopt = fn(
    'int getsockopt(int fd, int level, int optname, void *optval, void *optlen)',
  );
  const poll = fn('int poll(void *fds, unsigned long nfds, int timeout)');
  const getgrnam = libc.func('void *getgrnam(const char *name)') as (name: string) => unknown;
  // struct group begins with two pointers, then gr_gid.
  const groupHead = koffi.struct('sminit_group_head', {
    gr_name: 'char *',
    gr_passwd: 'char *',
    gr_gid: 'uint32_t',
  });
  const pollfd = Buffer.alloc(8);
  const ucred = Buffer.alloc(12);
  const ucredLength = new Uint32Array(1);
  return {
    peerCred(fd) {
      ucredLength[0] = ucred.length;
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, ucredLength) !== 0) return null;
      if (ucredLength[0] !== ucred.length) return null;
      // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
      return { pid: ucred.readInt32LE(0), uid: ucred.readUInt32LE(4), gid: ucred.readUInt32LE(8) };
    },
    hungUp(fd) {
      // struct pollfd { int fd; short events; short revents; }; POLLHUP needs no asking.
      pollfd.writeInt32LE(fd, 0);
      pollfd.writeInt16LE(0, 4);
      pollfd.writeInt16LE(0, 6);
      return poll(pollfd, 1, 0) === 1 && (pollfd.readInt16LE(6) & POLLHUP) !== 0;
    },
    groupId(name) {
      const group = getgrnam(name);
      if (!group) return null;
      const head = koffi.decode(group, groupHead) as { gr_gid: number };
      return head.gr_gid;
    },
  };
}

/** A wait(2) status as exit code or signal, as Node's 'exit' event gives them. */
export function decodeWaitStatus(raw: number): WaitStatus {
  const sig = raw & 0x7f;
  if (sig === 0) return { code: (raw >> 8) & 0xff, signal: null };
  return { code: null, signal: signalNameOf(sig) };
}

/**
 * Who is connected on a unix socket: SO_PEERCRED through the socket's
 * descriptor. Node offers neither, so this reaches into the handle libuv
 * keeps (`_handle.fd`); null when the bindings are not loaded, the handle
 * has no descriptor, or the call fails. Never throws.
 */
export function peerCred(socket: Socket): PeerCred | null {
  return onSocketFd(socket, null, (native, fd) => native.peerCred(fd));
}

/**
 * Whether the peer of a socket that has seen its end of input is gone for
 * good (closed, not just done sending): a half-closed client may still be
 * reading a stream, a closed one never will. False when it cannot be told.
 */
export function peerHungUp(socket: Socket): boolean {
  return onSocketFd(socket, false, (native, fd) => native.hungUp(fd));
}

/** `call` on a socket's descriptor through the loaded bindings; `otherwise` when it cannot be made or throws. */
function onSocketFd<T>(socket: Socket, otherwise: T, call: (native: Native, fd: number) => T): T {
  const fd = socketFd(socket);
  if (fd === null || loaded === undefined || typeof loaded === 'string') return otherwise;
  try {
    return call(loaded, fd);
  } catch {
    return otherwise;
  }
}

/** The descriptor libuv holds for a socket (`_handle.fd`), or null. */
function socketFd(socket: Socket): number | null {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isSafeInteger(fd) && fd >= 0 ? fd : null;
}

function openDescriptors(): number[] {
  return readdirSync('/proc/self/fd')
    .map(Number)
    .filter((n) => Number.isSafeInteger(n));
}
