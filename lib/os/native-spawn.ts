// Spawning through koffi, with the few file actions and attributes a
// service needs: a new session, an empty signal mask with every signal at
// its default, stdin on /dev/null, stdout and stderr on two new pipes (or
// /dev/null), a readiness pipe at a descriptor of the service's choosing
// (`notify: fd:N`), a working directory. Through sminit's spawn library
// (native/spawn.c) the child also sets up its box (cgroups, limits, user)
// before its exec; through posix_spawn, where the library is not built, a
// pipe holds a wrapper until the parent has set up the process. It spawns
// and reports errnos; it decides nothing about what to run and keeps no
// state beyond the bound calls.

import type { SpawnRequest, SpawnResult } from './native.js';

/** A bound spawn, and whether it sets up a request's `box` in the child (the spawn library is loaded). */
export interface SpawnBinding {
  readonly spawn: (req: SpawnRequest) => SpawnResult;
  readonly boxes: boolean;
}

const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
const F_DUPFD_CLOEXEC = 1030;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;

type Fn = (...args: unknown[]) => number;

/** What binding a C declaration gives: a function returning an int. */
export type Bind = (def: string) => Fn;

interface SpawnCalls {
  readonly posixSpawn: Fn;
  readonly faInit: Fn;
  readonly faDestroy: Fn;
  readonly faDup2: Fn;
  readonly faOpen: Fn;
  readonly faChdir: Fn;
  readonly pipe2: Fn;
  readonly close: Fn;
  readonly fcntl: Fn;
  readonly errno: () => number;
}

/** The calls, or null when this libc lacks one (addchdir_np came with glibc 2.29). */
function spawnCalls(fn: Bind, fcntl: Fn, errno: () => number): SpawnCalls | null {
  try {
    return {
      posixSpawn: fn(
        'int posix_spawn(int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)',
      ),
      faInit: fn('int posix_spawn_file_actions_init(void *actions)'),
      faDestroy: fn('int posix_spawn_file_actions_destroy(void *actions)'),
      faDup2: fn('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)'),
      faOpen: fn(
        'int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int oflag, uint32_t mode)',
      ),
      faChdir: fn('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)'),
      pipe2: fn('int pipe2(int *fds, int flags)'),
      close: fn('int close(int fd)'),
      fcntl,
      errno,
    };
  } catch {
    return null;
  }
}

/**
 * The attributes every spawn shares (they never change): a new session, an
 * empty mask, every signal at its default. Null when libc refuses them.
 */
function spawnAttributes(fn: Bind): Buffer | null {
  let attrInit: Fn, attrFlags: Fn, attrMask: Fn, attrDefault: Fn, sigEmpty: Fn, sigFill: Fn;
  try {
    attrInit = fn('int posix_spawnattr_init(void *attr)');
    attrFlags = fn('int posix_spawnattr_setflags(void *attr, short flags)');
    attrMask = fn('int posix_spawnattr_setsigmask(void *attr, void *set)');
    attrDefault = fn('int posix_spawnattr_setsigdefault(void *attr, void *set)');
    sigEmpty = fn('int sigemptyset(void *set)');
    sigFill = fn('int sigfillset(void *set)');
  } catch {
    return null;
  }
  // Opaque libc structures, given more room than any libc uses (glibc:
  // 336 bytes; sigset_t 128).
  const attr = Buffer.alloc(1024);
  const empty = Buffer.alloc(256);
  const full = Buffer.alloc(256);
  if (sigEmpty(empty) !== 0 || sigFill(full) !== 0) return null;
  // sigfillset leaves out libc's internal signals (32 and 33 in glibc), and
  // glibc's child then sets those to SIG_IGN, which would survive the exec.
  // The set is a plain bitmask: every signal up to 64, set by hand, is reset.
  full.fill(0xff, 0, 8);
  const flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  const ok =
    attrInit(attr) === 0 &&
    attrMask(attr, empty) === 0 &&
    attrDefault(attr, full) === 0 &&
    attrFlags(attr, flags) === 0;
  return ok ? attr : null;
}

type Pipe = [read: number, write: number];

/**
 * `fd` itself when above 2 (stdio may be closed in the daemon), else a
 * close-on-exec copy above 2 in its place; or -errno, `fd` closed either way.
 */
function aboveStdio(c: SpawnCalls, fd: number): number {
  if (fd > 2) return fd;
  const high = c.fcntl(fd, F_DUPFD_CLOEXEC, 'int', 3);
  const e = c.errno();
  c.close(fd);
  return high < 0 ? -e : high;
}

/** A pipe whose ends are both above 2, close-on-exec; or the errno. */
function makePipe(c: SpawnCalls, fds: Int32Array): Pipe | number {
  if (c.pipe2(fds, O_CLOEXEC) !== 0) return c.errno();
  const ends: Pipe = [fds[0] ?? -1, fds[1] ?? -1];
  for (let i = 0; i < 2; i++) {
    const fd = aboveStdio(c, ends[i] ?? -1);
    if (fd < 0) {
      c.close(ends[1 - i] ?? -1);
      return -fd;
    }
    ends[i] = fd;
  }
  return ends;
}

/** The first failing call of a spawn: its errno and name. */
type Failure = { errno: number; call: string; index: number };

/** Records the first call that did not return 0. */
class Steps {
  failed: Failure | null = null;
  step(call: string, rc: number): void {
    if (this.failed === null && rc !== 0) this.failed = { errno: rc, call, index: 0 };
  }
}

/**
 * stdin on /dev/null; stdout and stderr on the pipes' write ends, or
 * /dev/null; the readiness pipe's write end and the hold pipe's read end at
 * their descriptors (after stdio, so they may take any number from 3); the
 * directory.
 */
function addFileActions(
  c: SpawnCalls,
  actions: Buffer,
  pipes: readonly [Pipe, Pipe] | null,
  notify: Placed | null,
  hold: Placed | null,
  cwd: string,
  s: Steps,
): void {
  s.step('addopen', c.faOpen(actions, 0, '/dev/null', O_RDWR, 0));
  if (pipes) {
    s.step('adddup2', c.faDup2(actions, pipes[0][1], 1));
    s.step('adddup2', c.faDup2(actions, pipes[1][1], 2));
  } else {
    s.step('addopen', c.faOpen(actions, 1, '/dev/null', O_RDWR, 0));
    s.step('adddup2', c.faDup2(actions, 1, 2));
  }
  if (notify) s.step('adddup2', c.faDup2(actions, notify.pipe[1], notify.fd));
  if (hold) s.step('adddup2', c.faDup2(actions, hold.pipe[0], hold.fd));
  s.step('addchdir_np', c.faChdir(actions, cwd));
}

/** A pipe end the child gets at descriptor `fd`: the readiness pipe's write end, the hold pipe's read end. */
type Placed = { readonly pipe: Pipe; readonly fd: number };

/**
 * A pipe whose end `end` is numbered none of `taken` (the descriptors the
 * child's ends go to): a dup2 onto the same number would leave it
 * close-on-exec in the child, and one onto another's would close it first.
 */
function pipeAvoiding(
  c: SpawnCalls,
  fds: Int32Array,
  end: 0 | 1,
  taken: readonly number[],
): Pipe | number {
  const p = makePipe(c, fds);
  if (typeof p === 'number' || !taken.includes(p[end])) return p;
  const other = c.fcntl(p[end], F_DUPFD_CLOEXEC, 'int', Math.max(...taken) + 1);
  const e = c.errno();
  c.close(p[end]);
  if (other < 0) {
    c.close(p[1 - end] ?? -1);
    return e;
  }
  p[end] = other;
  return p;
}

/** Buffers every spawn reuses: the file actions, the pid out-parameter, pipe2's pair. */
interface Scratch {
  readonly actions: Buffer;
  readonly pid: Int32Array;
  readonly fds: Int32Array;
}

function closeAll(c: SpawnCalls, pipes: readonly Pipe[]): void {
  for (const p of pipes) for (const fd of p) c.close(fd);
}

/** Both stdio pipes, or the errno of the first that could not be made. */
function openPipes(c: SpawnCalls, fds: Int32Array): [Pipe, Pipe] | Failure {
  const out = makePipe(c, fds);
  if (typeof out === 'number') return { errno: out, call: 'pipe2', index: 0 };
  const err = makePipe(c, fds);
  if (typeof err === 'number') {
    closeAll(c, [out]);
    return { errno: err, call: 'pipe2', index: 0 };
  }
  return [out, err];
}

type Opened = {
  pipes: [Pipe, Pipe] | null;
  notify: Placed | null;
  hold: Placed | null;
};

/** The stdio pipes, the readiness pipe and the hold pipe a request asks for, or the errno of the first that failed. */
function openAll(c: SpawnCalls, fds: Int32Array, req: SpawnRequest): Opened | Failure {
  const pipes = req.pipes ? openPipes(c, fds) : null;
  if (pipes !== null && !Array.isArray(pipes)) return pipes;
  const holdFd = req.hold ?? null;
  const taken = [req.notifyFd, holdFd].filter((fd): fd is number => fd !== null);
  let notify: Placed | null = null;
  if (req.notifyFd !== null) {
    const p = pipeAvoiding(c, fds, 1, taken);
    if (typeof p === 'number') {
      closeAll(c, pipes ?? []);
      return { errno: p, call: 'pipe2', index: 0 };
    }
    notify = { pipe: p, fd: req.notifyFd };
  }
  if (holdFd === null) return { pipes, notify, hold: null };
  const h = pipeAvoiding(c, fds, 0, taken);
  if (typeof h !== 'number') return { pipes, notify, hold: { pipe: h, fd: holdFd } };
  closeAll(c, [...(pipes ?? []), ...(notify ? [notify.pipe] : [])]);
  return { errno: h, call: 'pipe2', index: 0 };
}

/** Starts the child of an opened request, its pid in `x.pid`; the first failure, or null. */
type Launch = (opened: Opened, req: SpawnRequest) => Failure | null;

/** Through posix_spawn: the file actions, then the call. */
function posixLaunch(c: SpawnCalls, attr: Buffer, x: Scratch): Launch {
  return ({ pipes, notify, hold }, req) => {
    const s = new Steps();
    s.step('posix_spawn_file_actions_init', c.faInit(x.actions));
    if (s.failed !== null) return s.failed;
    try {
      addFileActions(c, x.actions, pipes, notify, hold, req.cwd, s);
      if (s.failed === null) {
        const argv = [...req.argv, null];
        const envp = [...req.envp, null];
        s.step('posix_spawn', c.posixSpawn(x.pid, req.path, x.actions, attr, argv, envp));
      }
    } finally {
      c.faDestroy(x.actions);
    }
    return s.failed;
  };
}

/** What the spawn library's child failed at (native/spawn.c's `enum step`), by number. */
const HELPER_STEPS = [
  'spawn',
  'dup3',
  'chdir',
  'cgroup',
  'rlimit',
  'nice',
  'oom_score_adj',
  'setgroups',
  'setresgid',
  'setresuid',
  'execve',
  'clone',
] as const;

/** The call a step number of the spawn library names. */
export function helperStep(step: number): string {
  return HELPER_STEPS[step] ?? 'spawn';
}

/** Not set, to the spawn library (C's INT_MIN). */
const UNSET = -0x80000000;

/** The descriptors the child gets, as (from, to) pairs placed in order: stdio first, then the readiness pipe. */
function placements(devNull: number, opened: Opened): Int32Array {
  const { pipes, notify } = opened;
  const pairs = [devNull, 0];
  if (pipes) pairs.push(pipes[0][1], 1, pipes[1][1], 2);
  else pairs.push(devNull, 1, devNull, 2);
  if (notify) pairs.push(notify.pipe[1], notify.fd);
  return Int32Array.from(pairs);
}

/** Through the spawn library: the child places its descriptors and sets up its box itself. */
function helperLaunch(helper: Fn, devNull: number, x: Scratch): Launch {
  const out = new Int32Array(3);
  const noIds = new Int32Array(0);
  const noLimits = new Float64Array(0);
  return (opened, req) => {
    const fds = placements(devNull, opened);
    const b = req.box;
    const ids = b?.ids ? Int32Array.from(b.ids) : noIds;
    const limits = b && b.limits.length > 0 ? Float64Array.from(b.limits) : noLimits;
    const join = b && b.join.length > 0 ? [...b.join, null] : null;
    const into = b?.into === true ? 1 : 0;
    const argv = [...req.argv, null];
    const envp = [...req.envp, null];
    const [nice, oom, umask] = [b?.nice ?? UNSET, b?.oom ?? UNSET, b?.umask ?? UNSET];
    const n = [fds.length / 2, limits.length / 3, ids.length];
    helper(
      req.path,
      argv,
      envp,
      req.cwd,
      fds,
      n[0],
      join,
      into,
      limits,
      n[1],
      nice,
      oom,
      umask,
      ids,
      n[2],
      out,
    );
    x.pid[0] = out[0] ?? 0;
    if ((out[0] ?? 0) > 0) return null;
    return { errno: out[1] ?? 0, call: helperStep(out[2] ?? 0), index: 0 };
  };
}

/** One spawn: pipes, the launch, and the parent keeps only the read ends. */
function spawnRequest(c: SpawnCalls, launch: Launch, x: Scratch, req: SpawnRequest): SpawnResult {
  const opened = openAll(c, x.fds, req);
  if ('errno' in opened) return opened;
  const { pipes, notify, hold } = opened;
  const all = [...(pipes ?? []), ...(notify ? [notify.pipe] : []), ...(hold ? [hold.pipe] : [])];
  let failed: Failure | null;
  try {
    failed = launch(opened, req);
  } catch (e) {
    closeAll(c, all);
    throw e;
  }
  if (failed !== null) {
    closeAll(c, all);
    return failed;
  }
  // The child holds the write ends now; ours would keep its pipes open for
  // ever. Of the hold pipe the child has the read end; the write end releases it.
  for (const p of [...(pipes ?? []), ...(notify ? [notify.pipe] : [])]) c.close(p[1]);
  if (hold) c.close(hold.pipe[0]);
  return {
    pid: x.pid[0] ?? 0,
    stdout: pipes ? pipes[0][0] : -1,
    stderr: pipes ? pipes[1][0] : -1,
    notify: notify ? notify.pipe[0] : -1,
    hold: hold ? hold.pipe[1] : -1,
  };
}

/** /dev/null, opened once above stdio and close-on-exec: every child's stdin (and stdout without pipes). */
function openDevNull(c: SpawnCalls, open: Fn): number {
  const fd = open('/dev/null', O_RDWR | O_CLOEXEC);
  return fd < 0 ? fd : aboveStdio(c, fd);
}

/**
 * Spawning with the few file actions a service needs: through the spawn
 * library when it is loaded (`helper`, native/spawn.c: the child sets up its
 * own box, so `SpawnRequest.box` is honoured and `boxes` is true), else
 * through posix_spawn. Both clone with CLONE_VM: the child shares the
 * daemon's memory until exec instead of copying its page tables, so a spawn
 * costs the same however large the daemon grows (a fork from Node costs more
 * the more it holds). posix_spawn (CLONE_VFORK) returns after the exec, its
 * failure the return value; the library returns at once, and a failure in
 * the child comes at its exit (Native.spawnFailure). Null when this libc
 * cannot.
 */
export function bindSpawn(
  fn: Bind,
  fcntl: Fn,
  errno: () => number,
  helper: Fn | null,
): SpawnBinding | null {
  const c = spawnCalls(fn, fcntl, errno);
  const attr = spawnAttributes(fn);
  if (c === null || attr === null) return null;
  const scratch: Scratch = {
    actions: Buffer.alloc(512),
    pid: new Int32Array(1),
    fds: new Int32Array(2),
  };
  const devNull =
    helper === null ? -1 : openDevNull(c, fn('int open(const char *path, int flags)'));
  const launch =
    helper !== null && devNull >= 0
      ? helperLaunch(helper, devNull, scratch)
      : posixLaunch(c, attr, scratch);
  return { spawn: (req) => spawnRequest(c, launch, scratch, req), boxes: devNull >= 0 };
}
