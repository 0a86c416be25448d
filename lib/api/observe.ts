// The methods that watch rather than act: the event history read and
// followed by cursor, the daemon's status with the cursor to follow on from,
// the dependency graph and why a service waits. Renders the supervisor's
// records for the wire (a cursor and an ISO time on each event); changes
// nothing and knows nothing of connections (the dispatcher bounds them).

import { Errors } from '../core/errors.js';
import type { EventQuery, SminitEvent } from '../core/events.js';
import { sinceMs } from '../logs/ring.js';
import type { EventRecord } from '../supervise/events.js';
import { toGraph, toWhy } from './graph.js';
import type { Handlers, HandlerContext } from './handlers.js';
import { toStatus } from './status.js';
import { VERSION } from './version.js';

/** events_read answers at most this many events; the rest is read on after `next`. */
export const EVENTS_PAGE = 5000;
/** A subscriber with this many bytes unsent is paused; its events wait in the history. */
const FOLLOW_BACKLOG = 1024 * 1024;
/** When sminitd started (epoch ms): the process's own time origin. */
export const STARTED_AT = Math.round(performance.timeOrigin);

/** An event as clients get it: its cursor and time first, then what happened. */
export function toWireEvent(r: EventRecord): SminitEvent {
  return { cursor: r.cursor, time: new Date(r.at).toISOString(), ...r.body };
}

/** The query's `since` as epoch ms, and a cursor that cannot be from this daemon refused. */
function checkQuery(q: EventQuery, newest: number): number {
  const since = sinceMs(q.since);
  if (Number.isNaN(since)) {
    throw Errors.badParams(
      `since: expected epoch ms or an ISO 8601 date, got ${JSON.stringify(q.since)}`,
    );
  }
  if (q.after !== undefined && q.after > newest) throw Errors.cursorAhead(q.after, newest);
  return since;
}

export const observe = ({ manager: m, subscribe }: HandlerContext) =>
  ({
    events_read: async (p) => {
      const since = checkQuery(p, m.events.cursor);
      const { records, next, end, lost } = m.events.read(p, since, EVENTS_PAGE);
      return { events: records.map(toWireEvent), next, end, ...(lost > 0 ? { lost } : {}) };
    },
    events_subscribe: async (p, s) => {
      const since = checkQuery(p, m.events.cursor);
      return subscribe(s, 'events_subscribe', 'events', (id) =>
        m.events.follow(p, since, {
          event: (r) => s.notify('event', { subscription: id, event: toWireEvent(r) }),
          lost: (n) => s.notify('event', { subscription: id, lost: n }),
          congested: () => s.backlog() > FOLLOW_BACKLOG,
        }),
      );
    },
    events_unsubscribe: async (p, s) => {
      const stop = s.subscriptions.get(p.id);
      if (!stop) throw Errors.noSubscription(p.id);
      stop();
      s.subscriptions.delete(p.id);
      return null;
    },
    system_status: async () => {
      const o = await m.overview();
      const now = Date.now();
      return {
        version: VERSION,
        pid: process.pid,
        started: new Date(STARTED_AT).toISOString(),
        uptime_ms: Math.max(0, now - STARTED_AT),
        shutting_down: o.shuttingDown,
        cursor: o.cursor,
        services: o.views.map((v) => toStatus(v, now)),
      };
    },
    service_graph: async () => toGraph(await m.views()),
    service_why: async (p) => {
      await m.view(p.name);
      const views = await m.views();
      // Forgotten in between: as if it had been before.
      if (!views.some((v) => v.name === p.name)) throw Errors.notTracked(p.name);
      return toWhy(views, p.name, STARTED_AT);
    },
  }) satisfies Partial<Handlers>;
