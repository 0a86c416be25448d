// A reload's plan applied to the tracked services, in one command of the
// manager's queue: removed services leave the graph and stop, new ones are
// tracked and start, changed ones take their definition in place or stop
// and start again with it. Stops go dependants first. Decides nothing: the
// plan (core/reload.ts) did.

import type { ServiceDef } from '../core/definition.js';
import { startOrder } from '../core/graph.js';
import type { Plan, PlanEntry } from '../core/reload.js';
import { inStopOrder } from './order.js';
import type { Services } from './services.js';
import type { ServiceWorker } from './worker.js';

export interface ApplyContext {
  readonly services: Services;
  /** Definitions of services stopping to restart with them; a later reload sees these. */
  readonly incoming: Map<string, ServiceDef>;
  /** Track a service, giving its dependants' edges back, and evaluate it. */
  readonly trackAgain: (def: ServiceDef) => void;
  /** Run `fn` as a later command of the queue. */
  readonly later: (fn: () => void) => Promise<void>;
}

/** Applies `plan` now; resolves once every stop it needed is over and every restart asked for. */
export function applyPlan(plan: Plan, ctx: ApplyContext): Promise<void> {
  const { services } = ctx;
  const of = (action: PlanEntry['action']): PlanEntry[] =>
    plan.entries.filter((e) => e.action === action);
  const restarts = of('restart');
  const stopping = [...of('stop'), ...restarts].map((e) => e.name);
  // The order among them is the graph's before anything changes.
  const deps = new Map(stopping.map((n) => [n, [...services.depsOf(n)]]));
  const removed = new Map(of('stop').map((e) => [e.name, services.untrack(e.name)]));
  for (const def of inOrder(of('start'))) ctx.trackAgain(def);
  for (const e of of('update')) update(ctx, e);
  const workers = new Map<string, ServiceWorker>(removed);
  const wasUp = new Map<string, boolean>();
  for (const e of restarts) {
    const w = services.worker(e.name);
    workers.set(e.name, w);
    wasUp.set(e.name, w.target === 'up');
    if (e.def) {
      ctx.incoming.set(e.name, e.def);
      services.setDeps(e.name, services.expand(e.def.after));
    }
  }
  const stops = inStopOrder(
    stopping,
    (n) => deps.get(n) ?? [],
    (n) => (workers.get(n) as ServiceWorker).stop(),
  );
  for (const name of removed.keys()) {
    const stopped = stops.get(name);
    if (stopped) services.drain(name, stopped);
  }
  const started = restarts.map((e) =>
    (stops.get(e.name) ?? Promise.resolve()).then(() =>
      ctx.later(() => startAgain(ctx, workers.get(e.name), e.name, wasUp.get(e.name) ?? false)),
    ),
  );
  return Promise.all([...stops.values(), ...started]).then(() => undefined);
}

/** New services in the order they start: each after its new dependencies. */
function inOrder(entries: readonly PlanEntry[]): ServiceDef[] {
  const defs = new Map(entries.flatMap((e) => (e.def ? [[e.name, e.def] as const] : [])));
  return startOrder(new Map([...defs].map(([n, d]) => [n, [...d.after]])))
    .flat()
    .flatMap((n) => {
      const d = defs.get(n);
      return d ? [d] : [];
    });
}

function update(ctx: ApplyContext, e: PlanEntry): void {
  const { services } = ctx;
  const w = services.get(e.name);
  if (!w || !e.def) return;
  // Stopping to restart: it starts with this definition instead.
  if (ctx.incoming.has(e.name)) ctx.incoming.set(e.name, e.def);
  else w.take(e.def);
  if (e.changed.includes('after')) {
    services.setDeps(e.name, services.expand(e.def.after));
    services.evaluate(e.name, false);
  }
}

/** The second half of a restart: the new definition, and a start if its target was up. */
function startAgain(
  ctx: ApplyContext,
  w: ServiceWorker | undefined,
  name: string,
  wasUp: boolean,
): void {
  const def = ctx.incoming.get(name);
  ctx.incoming.delete(name);
  if (!w || ctx.services.get(name) !== w || !def) return;
  w.take(def);
  if (!wasUp) return;
  w.requestStart();
  ctx.services.evaluate(name, true);
}
