// Reading Linux /proc: one process's stat, the whole process table, trees,
// groups, a marker in the environment, liveness that survives pid reuse,
// resource use. It only reads: it decides nothing, signals nothing, and
// keeps no state beyond two constants read once (kill.ts signals).
//
// Processes vanish at any moment, so ENOENT and ESRCH (and, for environ,
// EACCES) mean "not there" and are swallowed; any other error propagates.

import { WORD_BYTES } from './arch.js';
import { readFileSync } from 'node:fs';
import { type FileHandle, open, readdir } from 'node:fs/promises';
import { endianness } from 'node:os';
import { readSmallFile } from './small-file.js';
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface ProcStat {
  readonly pid: number;
  /** Executable name as the kernel keeps it (at most 15 bytes); may hold spaces and ')'. */
  readonly comm: string;
  /** One letter: R, S, D, Z, T, t, X, I, … */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
  /** Field 22: start time after boot, in clock ticks; with pid, identifies a process. */
  readonly startTime: number;
  /** User and system CPU time, clock ticks. */
  readonly utime: number;
  readonly stime: number;
  /** User and system CPU time of its children it has waited for, clock ticks. */
  readonly cutime: number;
  readonly cstime: number;
  /** Field 20: threads in the process. */
  readonly threads: number;
  /** Field 24: resident set size, pages. */
  readonly rssPages: number;
}

export interface ProcessStats {
  readonly pid: number;
  readonly rssBytes: number;
  /** User + system time of the process itself (not of reaped children), clock ticks. */
  readonly cpuTicks: number;
}

export function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}

function validPid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 0;
}

/** Parses the text of /proc/PID/stat; throws on text that is not one. */
export function parseStat(text: string): ProcStat {
  // comm is whatever the executable was called, parentheses included, so the
  // only safe split is at the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`malformed /proc stat: ${JSON.stringify(text)}`);
  // rest[0] is field 3 (state): field n is rest[n - 3].
  const rest = text.slice(close + 2).split(' ');
  const num = (field: number): number => {
    const v = Number(rest[field - 3]);
    if (!Number.isFinite(v)) throw new Error(`malformed /proc stat field ${field}: ${text}`);
    return v;
  };
  return {
    pid: Number(text.slice(0, open - 1)),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: num(4),
    pgrp: num(5),
    session: num(6),
    utime: num(14),
    stime: num(15),
    cutime: num(16),
    cstime: num(17),
    threads: num(20),
    startTime: num(22),
    rssPages: num(24),
  };
}

/** The stat of one process, or null when there is no such process. */
export function readStat(pid: number): ProcStat | null {
  const text = readProcFile(pid, 'stat', 'utf8');
  return text === null ? null : parseStat(text);
}

/** The text of /proc/PID/NAME, or null when there is no such process. */
function readProcFile(pid: number, name: string, encoding?: 'utf8'): string | null {
  if (!validPid(pid)) return null;
  try {
    return readSmallFile(`/proc/${pid}/${name}`, encoding);
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  }
}

// Reads between yields in processTable. Measured here with 370 processes:
// synchronous reads in batches of 64 take 4.6 ms per scan with the event loop
// held at most ~2.8 ms; fs/promises (open/read/close per file through the
// thread pool) takes 10-23 ms. A stat read never waits on the target's memory
// lock (unlike environ), so a short synchronous batch cannot hang.
const SCAN_BATCH = 64;

/** Every process, in /proc order; those that exit during the scan are left out. */
export async function processTable(): Promise<ProcStat[]> {
  const table: ProcStat[] = [];
  let n = 0;
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!validPid(pid) || String(pid) !== entry) continue;
    const s = readStat(pid);
    if (s !== null) table.push(s);
    if (++n % SCAN_BATCH === 0) await nextTurn();
  }
  return table;
}

/** Every process below the roots by parentage, roots excluded, breadth-first. */
export function descendants(table: readonly ProcStat[], rootPids: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const p of table) {
    const list = children.get(p.ppid);
    if (list === undefined) children.set(p.ppid, [p.pid]);
    else list.push(p.pid);
  }
  const seen = new Set<number>(rootPids);
  const found: number[] = [];
  const queue = [...rootPids];
  for (let head = 0; head < queue.length; head++) {
    for (const c of children.get(queue[head]!) ?? []) {
      // pid 0 is its own "parent" for the kernel's first tasks; guard loops.
      if (seen.has(c)) continue;
      seen.add(c);
      found.push(c);
      queue.push(c);
    }
  }
  return found;
}

export function groupMembers(table: readonly ProcStat[], pgid: number): number[] {
  return table.filter((p) => p.pgrp === pgid && p.state !== 'Z').map((p) => p.pid);
}

function unreadable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return isGone(err) || code === 'EACCES' || code === 'EPERM';
}

/**
 * Processes whose initial environment holds exactly `key=value`. The daemon
 * puts a marker variable in every service's environment; descendants inherit
 * it, so this finds those that left the group with setsid. Reads go through
 * the thread pool: reading environ takes the target's memory lock and can
 * block on a process stuck in the kernel. Other users' processes cannot be
 * read without privilege and are skipped.
 */
export async function findByEnv(
  processes: readonly ProcStat[] | readonly number[],
  key: string,
  value: string,
): Promise<number[]> {
  const needle = Buffer.from(`${key}=${value}\0`);
  const found = await scanEnvirons(processes, (env) => hasEntry(env, needle) || null);
  return [...found.keys()];
}

/**
 * The values of `keys` in the initial environment of each process that has
 * the first of them (a process without it is left out), read as findByEnv
 * reads: through the thread pool, unreadable ones skipped.
 */
export async function envValues(
  processes: readonly ProcStat[] | readonly number[],
  keys: readonly [string, ...string[]],
): Promise<Map<number, Record<string, string>>> {
  const first = Buffer.from(`${keys[0]}=`);
  return scanEnvirons(processes, (env) => {
    if (env.indexOf(first) < 0) return null;
    const out: Record<string, string> = {};
    for (const entry of env.toString('utf8').split('\0')) {
      const eq = entry.indexOf('=');
      const k = entry.slice(0, eq);
      if (eq > 0 && keys.includes(k) && !(k in out)) out[k] = entry.slice(eq + 1);
    }
    return keys[0] in out ? out : null;
  });
}

/** Each process's environ given to `pick`; what it returns for each, when not null, by pid, in order. */
async function scanEnvirons<T>(
  processes: readonly ProcStat[] | readonly number[],
  pick: (env: Buffer) => T | null,
): Promise<Map<number, T>> {
  const pids = processes.map((p) => (typeof p === 'number' ? p : p.pid)).filter(validPid);
  const hits: (T | null)[] = new Array<T | null>(pids.length).fill(null);
  // A few lanes, each reusing one buffer: readFile would allocate 64 KiB per
  // file (the size of a /proc file is unknown), tens of MiB per scan of a
  // busy machine, and the allocator keeps what a sweep on every crash churns.
  let next = 0;
  const lane = async (): Promise<void> => {
    let buf: Buffer = Buffer.allocUnsafe(ENVIRON_BUFFER);
    for (let i = next++; i < pids.length; i = next++) {
      const env = await readEnviron(pids[i]!, buf);
      if (env === null) continue;
      buf = env.buffer;
      hits[i] = pick(env.data);
    }
  };
  await Promise.all(Array.from({ length: Math.min(ENVIRON_LANES, pids.length) }, lane));
  const out = new Map<number, T>();
  pids.forEach((pid, i) => {
    const hit = hits[i];
    if (hit !== null && hit !== undefined) out.set(pid, hit);
  });
  return out;
}

/** As many reads in flight as the thread pool has threads by default. */
const ENVIRON_LANES = 4;
const ENVIRON_BUFFER = 16 * 1024;

/**
 * The environ of `pid` read into `buf` (grown when too small); null when the
 * process is gone or not ours to read.
 */
async function readEnviron(
  pid: number,
  buf: Buffer,
): Promise<{ data: Buffer; buffer: Buffer } | null> {
  let fh: FileHandle;
  try {
    fh = await open(`/proc/${pid}/environ`, 'r');
  } catch (err) {
    if (unreadable(err)) return null;
    throw err;
  }
  try {
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return { data: buf.subarray(0, length), buffer: buf };
  } catch (err) {
    if (unreadable(err)) return null;
    throw err;
  } finally {
    await fh.close();
  }
}

/** Whether NUL-separated `env` has an entry equal to `needle` (which ends in NUL). */
function hasEntry(env: Buffer, needle: Buffer): boolean {
  // The last entry may lack its terminator if the process rewrote its memory.
  const haystack = env.length > 0 && env[env.length - 1] !== 0 ? Buffer.concat([env, ZERO]) : env;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
    if (at === 0 || haystack[at - 1] === 0) return true;
  }
  return false;
}
const ZERO = Buffer.from([0]);

/**
 * True while the process that had `startTime` is running: not exited, not a
 * zombie awaiting its parent, and not a newer process that reused the pid
 * (kill(pid, 0) cannot tell any of these apart).
 */
export function isAlive(pid: number, startTime: number): boolean {
  const s = readStat(pid);
  return s !== null && s.startTime === startTime && s.state !== 'Z' && s.state !== 'X';
}

/** Pids with state Z whose parent is `parentPid`: exited children nobody has reaped. */
export function zombieChildren(table: readonly ProcStat[], parentPid: number): number[] {
  return table.filter((p) => p.state === 'Z' && p.ppid === parentPid).map((p) => p.pid);
}

/**
 * Memory and CPU of one process, from a single read of its stat; null if it
 * is gone. Synchronous, as readStat: through the thread pool one small file
 * is four round trips (open, fstat, read, close), each a wake-up of a pool
 * thread and then of the loop, which made a status answer wait about 1 ms.
 */
export function processStats(pid: number): ProcessStats | null {
  const s = readStat(pid);
  // stat's rss, within a few pages of VmRSS: one file gives both figures.
  return s === null
    ? null
    : { pid, rssBytes: s.rssPages * pageSize(), cpuTicks: s.utime + s.stime };
}

/**
 * Resident memory of one process, bytes (VmRSS); null if it is gone. From
 * statm, which the kernel writes in about two thirds of the time stat
 * takes, and which is exact where stat's rss field lags by a few pages
 * (kept per CPU and summed lazily).
 */
export function processRss(pid: number): number | null {
  const text = readProcFile(pid, 'statm');
  // size resident shared text lib data dt, in pages
  const resident = Number(text?.split(' ', 2)[1]);
  return Number.isFinite(resident) ? resident * pageSize() : null;
}

// The kernel hands every process its tick rate and page size in the
// auxiliary vector; reading /proc/self/auxv once is cheaper than spawning
// getconf, and Node exposes no sysconf.
const AT_PAGESZ = 6;
const AT_CLKTCK = 17;
let auxv: { clockTicks: number; pageSize: number } | undefined;

function readAuxv(): { clockTicks: number; pageSize: number } {
  if (auxv !== undefined) return auxv;
  const found = { clockTicks: 100, pageSize: 4096 };
  try {
    const buf = readFileSync('/proc/self/auxv');
    const wide = WORD_BYTES === 8;
    const word = WORD_BYTES;
    const le = endianness() === 'LE';
    const at = (off: number): number =>
      wide
        ? Number(le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off))
        : le
          ? buf.readUInt32LE(off)
          : buf.readUInt32BE(off);
    for (let off = 0; off + 2 * word <= buf.length; off += 2 * word) {
      const type = at(off);
      if (type === 0) break;
      const value = at(off + word);
      if (type === AT_CLKTCK && value > 0) found.clockTicks = value;
      if (type === AT_PAGESZ && value > 0) found.pageSize = value;
    }
  } catch {
    // No auxv (an unusual /proc): the Linux defaults above hold on every
    // architecture we run on.
  }
  auxv = found;
  return found;
}

/** Clock ticks per second, the unit of startTime, utime and stime (USER_HZ). */
export function clockTicks(): number {
  return readAuxv().clockTicks;
}

/** Bytes per page, the unit of rssPages. */
export function pageSize(): number {
  return readAuxv().pageSize;
}

/**
 * Every process but `pid` that started no earlier than it: the only ones
 * that can carry markers it set, so a search of environments need read no
 * older process on the machine.
 */
export async function processesSince(pid: number): Promise<ProcStat[]> {
  const born = readStat(pid)?.startTime ?? 0;
  return (await processTable()).filter((p) => p.startTime >= born && p.pid !== pid);
}
