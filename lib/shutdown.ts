// What makes a shutdown finish, whatever the services do: the bound on its
// length (the heaviest dependency chain of shutdown timeouts plus a margin),
// and the last sweep that kills whatever any service left behind, found both
// by parentage and by the daemon's marker. The order of the stop itself is
// the manager's; this module keeps no state.

import { type Deps, longestChain } from './graph.js';
import { descendants, findByEnv, processTable, signalAll } from './proc.js';
import { DAEMON_VAR } from './process.js';

/**
 * Added to the longest chain of timeouts: noticing exits, draining groups and
 * the final sweep, on a loaded machine. Small next to any real timeout.
 */
export const SHUTDOWN_MARGIN_MS = 2000;

/** How long a full stop may take: each link of the chain waits at most its own timeout. */
export function shutdownBoundMs(deps: Deps, timeoutOf: (name: string) => number): number {
  return longestChain(deps, timeoutOf) + SHUTDOWN_MARGIN_MS;
}

/**
 * SIGKILL every process left by any service: every descendant of the daemon
 * (as a subreaper it inherits those that left their group and lost their
 * parent, whatever their environment) and every process carrying the
 * daemon's marker (those that went elsewhere). Returns how many were killed.
 */
export async function killLeftovers(): Promise<number> {
  const self = process.pid;
  const table = await processTable();
  const targets = new Set([
    ...descendants(table, [self]),
    ...(await findByEnv(table, DAEMON_VAR, String(self))),
  ]);
  targets.delete(self);
  let killed = 0;
  for (const pid of targets) {
    try {
      killed += signalAll([pid], 'SIGKILL');
    } catch {
      // Not ours to kill after all (EPERM): nothing more can be done for it.
    }
  }
  return killed;
}
