// The restart limit as data: the times of recent restarts, whether one more
// would pass `restart_limit` (more than N within the window), and how many
// fall in the window now. Pure; the worker keeps the times and acts.

import type { RestartLimit } from './definition.js';

/** The restart times still inside the window at `now`, oldest first. */
export function withinWindow(times: readonly number[], now: number, limit: RestartLimit): number[] {
  return times.filter((t) => t > now - limit.windowMs && t <= now);
}

/**
 * A restart asked for at `now`: the times to keep, and whether the limit is
 * reached so the restart must not happen (more than `count` in the window).
 */
export function admitRestart(
  times: readonly number[],
  now: number,
  limit: RestartLimit | null,
): { times: number[]; gaveUp: boolean } {
  if (limit === null) return { times: [], gaveUp: false };
  const kept = [...withinWindow(times, now, limit), now];
  return kept.length > limit.count
    ? { times: kept.slice(0, -1), gaveUp: true }
    : { times: kept, gaveUp: false };
}
