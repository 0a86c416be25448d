// Why a service is where it is, from the graph and the states alone: the
// chains of waiting from a blocked service down to each root cause, the
// sentence a person reads for each, and the critical chain of its last start
// (which dependency came up last before it, and so on, as systemd-analyze
// critical-chain shows). Pure functions on plain data: no clock, no I/O.

import { count } from './plural.js';
import type { SuccessCodes } from './definition.js';
import { type ServiceState, type StateKind, describeExit, reasonOf } from './state.js';

/** What the reasoning needs of one service. */
export interface WhyNode {
  readonly name: string;
  readonly state: ServiceState;
  readonly target: 'up' | 'down';
  readonly oneshot: boolean;
  /** Exits that count as success besides 0 (`success_exit_codes`). */
  readonly codes?: SuccessCodes;
  /** Its dependencies now, in file order. */
  readonly after: readonly string[];
  /** Its last run that came up: spawned and up (epoch ms); null if none has. */
  readonly lastUp: { readonly spawnedAt: number; readonly upAt: number } | null;
}

export type WhyGraph = ReadonlyMap<string, WhyNode>;

/**
 * Every chain of waiting from `name` to a service that is not itself waiting
 * (or is not tracked), `name` first. A service that waits for nothing is a
 * chain of one. Each service is followed once: a chain that reaches one
 * already followed (a shared dependency, or a cycle closing) ends there, so
 * there are never more chains than services.
 */
export function waitChains(g: WhyGraph, name: string): string[][] {
  const chains: string[][] = [];
  const followed = new Set<string>();
  const stack: string[][] = [[name]];
  while (stack.length > 0) {
    const path = stack.pop() as string[];
    const last = path[path.length - 1] as string;
    const waits = followed.has(last) ? [] : waitsFor(g.get(last));
    followed.add(last);
    if (waits.length === 0) chains.push(path);
    // Reversed onto the stack, so chains come out in the order of `after`.
    for (const d of [...waits].reverse()) stack.push([...path, d]);
  }
  return chains;
}

/** What a node is blocked on: names (and notes such as `web (previous instance stopping)`). */
function waitsFor(node: WhyNode | undefined): readonly string[] {
  return node?.state.kind === 'blocked' ? node.state.waitingFor : [];
}

/**
 * The chain as one sentence: `web waits for api, which waits for db, whose
 * health test has failed 4 times: connection refused`.
 */
export function chainSentence(g: WhyGraph, chain: readonly string[], now: number): string {
  const [first, ...rest] = chain;
  if (first === undefined) return '';
  const subject = g.get(first);
  if (rest.length === 0)
    return subject ? `${first} ${standing(subject, now)}` : `${first} is not tracked`;
  const parts = [`${first} waits for ${rest[0]}`];
  rest.forEach((name, i) => {
    const node = g.get(name);
    const last = i === rest.length - 1;
    if (!last) parts.push(`which waits for ${rest[i + 1]}`);
    else if (node === undefined) parts.push(untracked(name));
    else parts.push(rootCause(node, now));
  });
  return parts.join(', ');
}

function untracked(name: string): string {
  const own = / \(previous instance stopping\)$/.exec(name);
  if (own) return 'whose previous instance is still stopping';
  return `which is not tracked (no service file of that name is loaded: sminit add ${name})`;
}

/** A root cause as the end of a sentence, after its name: `whose health test has failed…`. */
function rootCause(n: WhyNode, now: number): string {
  const s = n.state;
  switch (s.kind) {
    case 'starting':
      return startingCause(n, s);
    case 'stopped':
      return n.target === 'down'
        ? `which is stopped (start it: sminit start ${n.name})`
        : 'which is stopped';
    case 'exited':
      return `which ${describeExit(s.lastExit, n.codes)} and is not restarted`;
    case 'backoff':
      return `which is in backoff: ${reasonOf(s, now, n.codes)}`;
    case 'failed':
      return `which cannot be started: ${reasonOf(s, now, n.codes)}`;
    case 'stopping':
      return `which is ${reasonOf(s, now)}`;
    case 'blocked':
      return `which is blocked: ${reasonOf(s, now)}`;
    case 'scheduled':
      return `which is scheduled: ${reasonOf(s, now, n.codes)}`;
    case 'running':
      return s.unready === undefined
        ? 'which is up now (running)'
        : `which is running but not ready: ${s.unready}`;
    case 'success':
      return `which is up now (${s.kind})`;
  }
}

/** A starting dependency: what it has not given yet (its exit, its test, its readiness). */
function startingCause(n: WhyNode, s: Extract<ServiceState, { kind: 'starting' }>): string {
  if (n.oneshot) return 'which is still running (a oneshot: it must succeed first)';
  const failed = `${count(s.testFailures, 'time')}: ${s.lastTestError ?? ''}`;
  if (s.awaiting === undefined)
    return s.testFailures > 0
      ? `whose health test has failed ${failed}`
      : 'whose health test has not passed yet';
  if (s.testFailures > 0) return `whose readiness has failed ${failed}`;
  return `which waits for ${s.awaiting}`;
}

const PHRASES: Readonly<Record<StateKind, string>> = {
  running: 'is running',
  blocked: 'is blocked',
  starting: 'is starting',
  success: 'has succeeded',
  exited: 'has exited',
  backoff: 'is in backoff',
  stopping: 'is stopping',
  stopped: 'is stopped',
  failed: 'has failed',
  scheduled: 'is scheduled',
};

/** A state after a service's name: `is in backoff`, `has exited`. */
export function statePhrase(kind: StateKind): string {
  return PHRASES[kind];
}

/** A service on its own: where it stands. */
function standing(n: WhyNode, now: number): string {
  return `${statePhrase(n.state.kind)}: ${reasonOf(n.state, now, n.codes, n.oneshot)}`;
}

export interface CriticalLink {
  readonly name: string;
  readonly spawnedAt: number;
  readonly upAt: number;
}

/**
 * The critical chain of `name`'s last start: the service, then among its
 * dependencies the one that came up last before it was spawned, and so on
 * down. Null when it never came up.
 */
export function criticalChain(g: WhyGraph, name: string): CriticalLink[] | null {
  const start = g.get(name);
  if (!start?.lastUp) return null;
  const chain: CriticalLink[] = [{ name, ...start.lastUp }];
  const seen = new Set([name]);
  for (let at = start; ;) {
    const spawned = at.lastUp?.spawnedAt ?? 0;
    let gate: WhyNode | null = null;
    for (const d of at.after) {
      const dep = g.get(d);
      if (!dep?.lastUp || seen.has(d) || dep.lastUp.upAt > spawned) continue;
      if (gate === null || dep.lastUp.upAt > (gate.lastUp?.upAt ?? 0)) gate = dep;
    }
    if (gate === null || gate.lastUp === null) return chain;
    seen.add(gate.name);
    chain.push({ name: gate.name, ...gate.lastUp });
    at = gate;
  }
}
