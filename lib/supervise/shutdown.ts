// What makes a shutdown finish, whatever the services do: the bound on its
// length (the heaviest dependency chain of shutdown timeouts plus a margin),
// and the last sweep that kills whatever any service left behind, found both
// by parentage and by the daemon's marker. The order of the stop itself is
// the manager's; this module keeps no state.

import { type Deps, longestChain } from '../core/graph.js';
import { descendants, findByEnv, killAndWait, processTable, processesSince } from '../os/procfs.js';
import { DAEMON_VAR, daemonId } from '../os/spawn.js';

/**
 * Added to the longest chain of timeouts: noticing exits, draining groups and
 * the final sweep, on a loaded machine. Small next to any real timeout.
 */
export const SHUTDOWN_MARGIN_MS = 2000;

/** How long the final sweep waits for what it killed to be gone (a process stuck in the kernel may not go). */
const LEFTOVER_GRACE_MS = 1000;

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
    ...(await findByEnv(await processesSince(self), DAEMON_VAR, daemonId())),
  ]);
  targets.delete(self);
  // Waiting, briefly, makes "after shutdown nothing remains" hold when the daemon exits.
  return killAndWait(
    table.filter((p) => targets.has(p.pid)),
    LEFTOVER_GRACE_MS,
  );
}
