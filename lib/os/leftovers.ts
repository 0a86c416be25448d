// Finding and ending what a service left behind once its run ended: the
// processes that left their group (setsid), found by the marker every
// process of a service inherits, and, at shutdown, every descendant of the
// daemon and every process carrying its marker. The cheap check first (the
// children of the daemon it did not spawn), the scan of every process's
// environment only when that says it must. Decides nothing about when.

import { readdirSync } from 'node:fs';
import { readSmallFile } from './small-file.js';
import { groupsGone, killAndWait } from './kill.js';
import { DAEMON_VAR, MARKER_VAR, RUN_VAR, daemonId } from './markers.js';
import { descendants, findByEnv, processTable, processesSince } from './procfs.js';
import type { Spawner } from './spawn.js';

/** How long a sweep waits for the processes it killed to be gone. */
const SWEEP_WAIT_MS = 2000;
const GROUP_GONE_POLL_MS = 2;

/**
 * Children of this process that it did not spawn (orphans reparented to it),
 * from /proc/self/task/<tid>/children, which every thread keeps for the
 * children it has (an orphan goes to any one of them). Null when that cannot
 * be known: orphans are not adopted here, or the kernel lacks the file.
 */
export function strangerChildren(spawner: Spawner): number[] | null {
  if (!spawner.adoptsOrphans) return null;
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  const found: number[] = [];
  for (const tid of tids) {
    let text: string;
    try {
      text = readSmallFile(`/proc/self/task/${tid}/children`);
    } catch (err) {
      // A thread that ended since the listing had no children left to tell;
      // but no such file for the main thread means a kernel without it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && tid !== String(process.pid)) continue;
      return null;
    }
    for (const word of text.split(' ')) {
      const pid = Number(word);
      if (word !== '' && !spawner.isOwnChild(pid)) found.push(pid);
    }
  }
  return found;
}

/**
 * Whether a process of this service may still live outside its groups, so
 * that every process's environment must be read to find it. Where orphans
 * are reparented to sminitd (a subreaper, or PID 1), every live process of a
 * run whose main process is gone is a child of sminitd or below one that is,
 * and that topmost one carries the marker it inherited. So when no child
 * sminitd did not spawn carries the marker, nothing is left, and a restart
 * or a stop costs a few small reads instead of a scan of /proc. The groups
 * just killed get `waitMs` to be gone first: their dying members would
 * count. True whenever it cannot be told.
 */
export async function mayHaveEscaped(
  spawner: Spawner,
  groups: readonly number[],
  marker: string | readonly string[],
  waitMs: number,
): Promise<boolean> {
  const markers = typeof marker === 'string' ? [marker] : marker;
  // Never inside the exit handler that asks: a respawn's own work and its
  // events go out first, the reading of /proc after.
  await new Promise<void>((r) => setImmediate(r));
  if (!(await groupsGone(groups, Date.now() + waitMs, GROUP_GONE_POLL_MS))) return true;
  // A stranger that exits while its environment is read (a daemon's
  // double fork) leaves its child to be reparented after the listing: read
  // the list again until it holds no one new.
  const seen = new Set<number>();
  for (let round = 0; round < STRANGER_ROUNDS; round++) {
    const strangers = strangerChildren(spawner);
    if (strangers === null) return true;
    const fresh = strangers.filter((p) => !seen.has(p));
    if (fresh.length === 0) return false;
    for (const p of fresh) seen.add(p);
    for (const m of markers) if ((await findByEnv(fresh, MARKER_VAR, m)).length > 0) return true;
  }
  return true;
}
/** Readings of sminitd's children before a list that still changes counts as "cannot tell". */
const STRANGER_ROUNDS = 5;

/**
 * SIGKILL every process whose environment has `key=value` (what escaped its
 * group) and wait until they are gone; scans again in case one forked
 * meanwhile. Returns how many it killed.
 */
export async function sweepMarked(
  value: string,
  key = MARKER_VAR,
  spareRuns: (() => readonly number[]) | null = null,
): Promise<number> {
  const deadline = Date.now() + SWEEP_WAIT_MS;
  let killed = 0;
  for (let round = 0; round < 3; round++) {
    const table = await processesSince(process.pid);
    let pids = await findByEnv(table, key, value);
    // Asked at each scan: a run started since the sweep began is spared too.
    for (const run of spareRuns?.() ?? []) {
      if (pids.length === 0) break;
      const spared = new Set(await findByEnv(pids, RUN_VAR, String(run)));
      pids = pids.filter((p) => !spared.has(p));
    }
    const marked = new Set(pids);
    const live = table.filter((p) => marked.has(p.pid) && p.state !== 'Z');
    if (live.length === 0) break;
    killed += await killAndWait(live, Math.max(0, deadline - Date.now()));
  }
  return killed;
}

/** How long the final sweep waits for what it killed to be gone (a process stuck in the kernel may not go). */
const LEFTOVER_GRACE_MS = 1000;

/**
 * SIGKILL every process left by any service: every descendant of the daemon
 * (as a subreaper it inherits those that left their group and lost their
 * parent, whatever their environment) and, with `byMarker` (where services
 * have no cgroup to keep them), every process carrying the daemon's marker
 * (those that went elsewhere). Returns how many were killed.
 */
export async function killLeftovers(byMarker = true): Promise<number> {
  const self = process.pid;
  const table = await processTable();
  const marked = byMarker
    ? await findByEnv(await processesSince(self), DAEMON_VAR, daemonId())
    : [];
  const targets = new Set([...descendants(table, [self]), ...marked]);
  targets.delete(self);
  // Waiting, briefly, makes "after shutdown nothing remains" hold when the daemon exits.
  return killAndWait(
    table.filter((p) => targets.has(p.pid)),
    LEFTOVER_GRACE_MS,
  );
}
