// Signalling processes and process groups, and waiting until what was killed
// is gone: by exact pid, by group, by a list. A group is how sminit reaches
// every process of a service run; the decision of what to kill is the
// caller's. Reads /proc only to tell a dead process from a live one.

import type { SignalName } from '../core/signals.js';
import { type ProcStat, isAlive, isGone } from './procfs.js';

/** Signal a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: SignalName | 0): boolean {
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

/** Polls until no process is left in `groups` or `deadline` passes; true when they are gone. */
export async function groupsGone(
  groups: readonly number[],
  deadline: number,
  pollMs: number,
): Promise<boolean> {
  for (;;) {
    if (!groups.some((g) => g > 1 && groupExists(g))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Sends `signal` to each pid, skipping those already gone; returns how many
 * were signalled. A negative value names a process group. 0 and -1 are
 * refused: they would reach the caller's own group or every process.
 */
export function signalAll(pids: readonly number[], signal: SignalName | number): number {
  let sent = 0;
  for (const pid of pids) {
    if (!Number.isSafeInteger(pid) || pid === 0 || pid === -1) {
      throw new RangeError(`signalAll: refusing pid ${pid}`);
    }
    try {
      process.kill(pid, signal);
      sent++;
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }
  return sent;
}

/**
 * SIGKILL each process and wait, up to `graceMs`, until none of them is
 * alive (kill() returns before its target is dead). Zombies are skipped, and
 * so is a process that is not ours to kill (EPERM). Returns how many were
 * signalled.
 */
export async function killAndWait(procs: readonly ProcStat[], graceMs: number): Promise<number> {
  const killed: ProcStat[] = [];
  for (const p of procs) {
    if (p.state === 'Z') continue;
    try {
      if (signalAll([p.pid], 'SIGKILL') > 0) killed.push(p);
    } catch {
      // Not ours to kill after all: nothing more can be done for it.
    }
  }
  const deadline = Date.now() + graceMs;
  while (killed.some((p) => isAlive(p.pid, p.startTime)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return killed.length;
}
