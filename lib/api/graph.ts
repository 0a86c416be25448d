// The dependency graph and the answer to "why", as the wire carries them,
// made from the manager's views: each node with its state, each edge with
// the condition it waits on and whether that holds; the chains of waiting
// and the critical chain (core/why.ts reasons, this file renders). No I/O.

import { effectiveCondition, judge } from '../core/conditions.js';
import type { SuccessCodes } from '../core/definition.js';
import { type ServiceState, reasonOf } from '../core/state.js';
import { type WhyGraph, chainSentence, criticalChain, waitChains } from '../core/why.js';
import type { DependencyView, ServiceView } from '../supervise/view.js';
import type { EdgeCondition, Graph, GraphEdge, GraphNode, Why, WhyStep } from './wire.js';

/** What a dependant waits for of `dep` (`up` made what it means for it), and whether that holds. */
function edgeOf(
  d: DependencyView,
  dep: ServiceView | undefined,
): { condition: EdgeCondition; met: boolean } {
  if (dep === undefined) return { condition: 'tracked', met: false };
  const judged = { name: d.name, def: dep.def, state: dep.state };
  return {
    condition: effectiveCondition(d.condition, judged),
    met: judge(d.condition, judged).met,
  };
}

function untrackedNode(name: string): GraphNode {
  return { name, status: 'untracked', target: null, oneshot: false, reason: 'not tracked' };
}

export function toGraph(views: readonly ServiceView[], now = Date.now()): Graph {
  const byName = new Map(views.map((v) => [v.name, v]));
  const nodes: GraphNode[] = views.map((v) => ({
    name: v.name,
    status: v.state.kind,
    target: v.target === 'up' ? 'Up' : 'Down',
    oneshot: v.def.oneshot,
    reason: reasonOf(v.state, now, v.def.successCodes, v.def.oneshot),
  }));
  const edges: GraphEdge[] = [];
  const missing = new Set<string>();
  for (const v of views) {
    for (const d of v.dependencies) {
      const dep = byName.get(d.name);
      if (dep === undefined) missing.add(d.name);
      edges.push({ from: v.name, to: d.name, ...edgeOf(d, dep) });
    }
  }
  for (const name of [...missing].sort()) nodes.push(untrackedNode(name));
  return { nodes, edges };
}

function whyGraph(views: readonly ServiceView[]): WhyGraph {
  return new Map(
    views.map((v) => [
      v.name,
      {
        name: v.name,
        state: v.state,
        target: v.target,
        oneshot: v.def.oneshot,
        codes: v.def.successCodes,
        after: v.dependencies.map((d) => d.name),
        lastUp: v.lastUp,
      },
    ]),
  );
}

function step(g: WhyGraph, name: string, now: number): WhyStep {
  const n = g.get(name);
  if (!n) return { service: name, status: 'untracked', reason: 'not tracked' };
  const reason = reasonOf(n.state, now, n.codes, n.oneshot);
  return { service: name, status: n.state.kind, reason };
}

/** Why `name` is in its state; `started` is sminitd's start (epoch ms), for the chain's times. */
export function toWhy(
  views: readonly ServiceView[],
  name: string,
  started: number,
  now = Date.now(),
): Why {
  const g = whyGraph(views);
  const self = g.get(name) as { state: ServiceState; oneshot: boolean; codes: SuccessCodes };
  const chains = waitChains(g, name);
  const iso = (ms: number): string => new Date(ms).toISOString();
  const critical = criticalChain(g, name);
  return {
    service: name,
    status: self.state.kind,
    reason: reasonOf(self.state, now, self.codes, self.oneshot),
    summary: chains.map((c) => chainSentence(g, c, now)),
    chains: chains.map((c) => c.map((n) => step(g, n, now))),
    critical:
      critical?.map((l) => ({
        service: l.name,
        spawned_at: iso(l.spawnedAt),
        up_at: iso(l.upAt),
        at_ms: Math.max(0, Math.round(l.upAt - started)),
        took_ms: Math.max(0, l.upAt - l.spawnedAt),
      })) ?? null,
  };
}
