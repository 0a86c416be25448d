// What makes a shutdown finish, whatever the services do: the bound on its
// length, the heaviest dependency chain of shutdown timeouts plus a margin.
// The order of the stop itself is the manager's, the last sweep of what any
// service left behind the process seam's (os/leftovers.ts). Pure.

import { type Deps, longestChain } from '../core/graph.js';

/**
 * Added to the longest chain of timeouts: noticing exits, draining groups and
 * the final sweep, on a loaded machine. Small next to any real timeout.
 */
export const SHUTDOWN_MARGIN_MS = 2000;

/** How long a full stop may take: each link of the chain waits at most its own timeout. */
export function shutdownBoundMs(deps: Deps, timeoutOf: (name: string) => number): number {
  return longestChain(deps, timeoutOf) + SHUTDOWN_MARGIN_MS;
}
