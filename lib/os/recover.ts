// What an earlier sminitd of the same socket left running when it died (a
// SIGKILL, an OOM kill, an exit without a stop): finding those processes
// through a source of candidates, and ending them as a stop would. Only
// processes whose daemon is gone count: a live daemon's are never touched.
// Decides nothing about services or when to start them (the manager does).

import { readlinkSync, statSync } from 'node:fs';
import type { SignalName } from '../core/signals.js';
import { signalAll, signalGroup } from './kill.js';
import { MARKER_VAR, SOCKET_VAR, daemonId, formatDaemonId, parseMarker } from './markers.js';
import {
  type ProcStat,
  envValues,
  isAlive,
  processTable,
  processesSince,
  readStat,
} from './procfs.js';

/** One process an earlier daemon started. */
export interface Leftover {
  readonly pid: number;
  /** With pid, who it is: a pid reused since is not it. */
  readonly startTime: number;
  readonly service: string;
  /** The gone daemon that started it. */
  readonly daemonPid: number;
}

/**
 * Where candidates come from: the markers in environments (everywhere), or
 * the populated cgroups of a gone daemon's tree (which also hold processes
 * that cleared their environment). `fresh` asks only for processes started
 * since this daemon did: a rescan for what forked while a stop was under way.
 */
export interface LeftoverSource {
  find(fresh: boolean): Promise<Leftover[]>;
  /**
   * What ended leftovers left behind tidied (empty cgroups): once, when the
   * last of the services' ends under way at the same time is over.
   */
  settle?(): void;
}

/** One service's leftovers, as found at start-up. */
export interface EarlierRun {
  readonly service: string;
  /** The pids of the gone daemons that started them, ascending. */
  readonly daemons: readonly number[];
  readonly processes: readonly Leftover[];
}

/** What ending one service's leftovers came to. */
export interface Ended {
  /** Processes ended (those found at first and any that forked meanwhile). */
  readonly ended: number;
  /** Processes still alive after SIGKILL and its grace (stuck in the kernel). */
  readonly stuck: number;
}

/** How long SIGKILLed leftovers get to be gone before they count as stuck. */
export const KILL_GRACE_MS = 1000;
/** Rescans after a SIGKILL, for processes forked while the stop was under way. */
const RESCANS = 2;

/** A daemon named by a marker is gone when no process has its pid and start time. */
export function daemonGone(pid: number, startTime: number): boolean {
  return !isAlive(pid, startTime);
}

/**
 * Candidates by marker: processes whose environment names `socket` and a
 * daemon that is gone, in this PID and mount namespace (a container's
 * daemon is pid 1 of its own namespace: from outside it looks gone).
 */
export function markerSource(socket: string): LeftoverSource {
  const self = daemonId();
  return {
    async find(fresh) {
      const table = fresh ? await processesSince(process.pid) : await processTable();
      const candidates = table.filter((p) => p.pid !== process.pid && p.state !== 'Z');
      const envs = await envValues(candidates, [SOCKET_VAR, MARKER_VAR]);
      const byPid = new Map(candidates.map((p) => [p.pid, p]));
      const gone = new Map<string, boolean>();
      const found: Leftover[] = [];
      for (const [pid, vars] of envs) {
        const m = vars[SOCKET_VAR] === socket ? parseMarker(vars[MARKER_VAR] ?? '') : null;
        const stat = byPid.get(pid);
        if (m === null || stat === undefined) continue;
        const id = formatDaemonId(m.daemonPid, m.daemonStart);
        if (id === self) continue;
        if (!gone.has(id)) gone.set(id, daemonGone(m.daemonPid, m.daemonStart));
        if (!gone.get(id) || !sameNamespaces(pid)) continue;
        found.push({ pid, startTime: stat.startTime, service: m.service, daemonPid: m.daemonPid });
      }
      return found;
    },
  };
}

const NAMESPACES = ['pid', 'mnt'] as const;
let ownNamespaces: string[] | null = null;

/** A process's pid and mount namespaces (the links' targets); null when they cannot be read. */
export function namespacesOf(pid: number | 'self'): string[] | null {
  try {
    return NAMESPACES.map((ns) => readlinkSync(`/proc/${pid}/ns/${ns}`));
  } catch {
    return null;
  }
}

function sameNamespaces(pid: number): boolean {
  ownNamespaces ??= namespacesOf('self');
  const theirs = namespacesOf(pid);
  // Unreadable links: not ours to judge, so not ours to end.
  return ownNamespaces !== null && theirs !== null && theirs.join() === ownNamespaces.join();
}

/** Leftovers by service, services in name order. */
export function byService(found: readonly Leftover[]): EarlierRun[] {
  const runs = new Map<string, Leftover[]>();
  for (const l of found) {
    const list = runs.get(l.service);
    if (list === undefined) runs.set(l.service, [l]);
    else list.push(l);
  }
  return [...runs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([service, processes]) => ({
      service,
      daemons: [...new Set(processes.map((p) => p.daemonPid))].sort((a, b) => a - b),
      processes,
    }));
}

const key = (l: Leftover): string => `${l.pid}.${l.startTime}`;

/**
 * Finds once at start-up and ends per service: the stop signal to each
 * group, the timeout, SIGKILL, then a rescan for what forked meanwhile.
 * Rescans asked for at the same time share one read of /proc; the sources
 * settle once all the ends under way are over, not once per service.
 */
export class Recovery {
  private scan: { started: number; promise: Promise<Leftover[]> } | null = null;
  /** Ends under way. */
  private ending = 0;

  constructor(private readonly sources: readonly LeftoverSource[]) {}

  async find(): Promise<EarlierRun[]> {
    return byService(await this.findAll(false));
  }

  /** Every source's finds, each process once. */
  private async findAll(fresh: boolean): Promise<Leftover[]> {
    const all = await Promise.all(this.sources.map((s) => s.find(fresh)));
    return [...new Map(all.flat().map((l) => [key(l), l])).values()];
  }

  async end(run: EarlierRun, signal: SignalName, timeoutMs: number): Promise<Ended> {
    this.ending++;
    try {
      return await this.endRun(run, signal, timeoutMs);
    } finally {
      // Settled even after a failed end: the others' trees are still to tidy.
      if (--this.ending === 0) for (const s of this.sources) s.settle?.();
    }
  }

  private async endRun(run: EarlierRun, signal: SignalName, timeoutMs: number): Promise<Ended> {
    const known = new Map(run.processes.map((l) => [key(l), l]));
    await signalLeftovers([...known.values()], signal);
    await allGone([...known.values()], Date.now() + timeoutMs);
    for (let round = 0; round <= RESCANS; round++) {
      const left = [...known.values()].filter((l) => isAlive(l.pid, l.startTime));
      await signalLeftovers(left, 'SIGKILL');
      await allGone(left, Date.now() + KILL_GRACE_MS);
      if (round === RESCANS) break;
      const more = (await this.rescan(Date.now())).filter(
        (l) => l.service === run.service && !known.has(key(l)),
      );
      if (more.length === 0) break;
      for (const l of more) known.set(key(l), l);
    }
    const stuck = [...known.values()].filter((l) => isAlive(l.pid, l.startTime)).length;
    return { ended: known.size - stuck, stuck };
  }

  /** A scan of processes born since this daemon, begun no earlier than `after` (epoch ms). */
  private rescan(after: number): Promise<Leftover[]> {
    const current = this.scan;
    if (current !== null && current.started >= after) return current.promise;
    const entry = { started: Infinity, promise: Promise.resolve<Leftover[]>([]) };
    const before = current?.promise.catch(() => []) ?? Promise.resolve([]);
    entry.promise = before.then(() => {
      entry.started = Date.now();
      return this.findAll(true);
    });
    this.scan = entry;
    return entry.promise;
  }
}

/**
 * `signal` to each leftover still alive: to its whole group when it leads
 * one (members that dropped the marker are reached too) and every member is
 * its owner's, else to it alone: a marker is only an environment variable,
 * and must not let a process's owner have another user's processes killed.
 */
async function signalLeftovers(leftovers: readonly Leftover[], signal: SignalName): Promise<void> {
  const live = leftovers
    .map((l) => ({ l, now: readStat(l.pid) }))
    .filter(({ l, now }) => now !== null && now.startTime === l.startTime && now.state !== 'Z');
  const leaders = live.filter(({ l, now }) => now?.pgrp === l.pid && l.pid > 1).map(({ l }) => l);
  const groups = new Set<number>();
  if (leaders.length > 0) {
    const table = await recentTable();
    for (const g of leaders) {
      const owner = ownerOf(g.pid);
      const members = table.filter((p) => p.pgrp === g.pid);
      const mine = (pid: number): boolean => [owner, null].includes(ownerOf(pid));
      if (owner !== null && members.every((p) => mine(p.pid))) groups.add(g.pid);
    }
  }
  const alone = live.filter(({ now }) => !groups.has(now?.pgrp ?? 0)).map(({ l }) => l.pid);
  for (const g of groups) quietly(() => signalGroup(g, signal));
  for (const pid of alone) quietly(() => signalAll([pid], signal));
}

let shared: { at: number; table: Promise<ProcStat[]> } | null = null;
/** One read of the process table for every service's leftovers signalled within a few ms. */
function recentTable(): Promise<ProcStat[]> {
  if (shared === null || Date.now() - shared.at > TABLE_REUSE_MS) {
    shared = { at: Date.now(), table: processTable() };
  }
  return shared.table;
}
const TABLE_REUSE_MS = 20;

/** The uid a process runs as (its /proc directory's owner); null once it is gone. */
function ownerOf(pid: number): number | null {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return null;
  }
}

function quietly(send: () => unknown): void {
  try {
    send();
  } catch {
    // Not ours to signal (EPERM): what stays counts as stuck.
  }
}

/** Waits, polling with a growing pause, until none of `leftovers` is alive or `deadline` passes. */
async function allGone(leftovers: readonly Leftover[], deadline: number): Promise<boolean> {
  let pause = 2;
  for (;;) {
    if (!leftovers.some((l) => isAlive(l.pid, l.startTime))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(1, deadline - Date.now()))));
    pause = Math.min(pause * 2, 50);
  }
}
