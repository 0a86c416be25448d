// A reload's plan, decided before anything is touched: from the files
// sminitd took last, the services it tracks now and the directory as read,
// what starts, stops, restarts or takes its new definition in place, and
// what is refused and why. Per key, whether a change needs a restart. Pure:
// the manager applies a plan; nothing here reads a file or a clock.

import type { Problem, ServiceDef, Source } from './definition.js';
import { findCycles, formatCycle } from './graph.js';
import {
  expandAfter,
  makeInstance,
  makeReplica,
  namedInstances,
  replicaNumber,
  splitInstance,
  type Made,
} from './instances.js';
import { sameJson } from './jsontype.js';

/** Whether a changed key needs a new process, and why. */
export interface KeyEffect {
  readonly restart: boolean;
  readonly why: string;
}

/**
 * Each key of a service file and what changing it does to a service that
 * runs. A key not listed here (one added later) restarts: taking a change
 * without a restart must be shown to be sound, key by key.
 */
export const KEY_EFFECTS: Readonly<Record<string, KeyEffect>> = {
  exec: { restart: true, why: 'the process is the command' },
  env: { restart: true, why: 'a process gets its environment when it starts' },
  dir: { restart: true, why: 'and its working directory' },
  oneshot: { restart: true, why: 'what its run means changes' },
  log: {
    restart: false,
    why: 'output goes to the new place from the next line; to or from `none` restarts (pipes or /dev/null)',
  },
  test: {
    restart: false,
    why: 'the next test run is the new test; a service still starting is tested again at once',
  },
  after: {
    restart: false,
    why: 'the graph changes; a blocked service is evaluated again, a running one keeps running',
  },
  restart: {
    restart: false,
    why: 'read at the next exit; a service in backoff that would not restart now is left exited',
  },
  'signal.stop': { restart: false, why: 'sent at the next stop' },
  shutdown_timeout: { restart: false, why: 'read at the next stop' },
  test_interval: { restart: false, why: 'read before the next test run' },
  test_timeout: { restart: false, why: 'read by the next test run' },
  restart_delay: { restart: false, why: 'read at the next exit' },
  restart_max_delay: { restart: false, why: 'read at the next exit' },
  stable_after: { restart: false, why: 'read at the next exit' },
  readiness: {
    restart: false,
    why: 'the new probe checks the run from now on; a ready service stays ready until it fails',
  },
  liveness: { restart: false, why: 'the new probe checks the run from now on' },
  ready_log: {
    restart: false,
    why: 'a service still starting waits for the new pattern; a ready one stays ready',
  },
  notify: { restart: true, why: 'the socket or descriptor is given to a process as it starts' },
  watchdog: { restart: true, why: 'WATCHDOG_USEC is in the environment a process starts with' },
  restart_limit: { restart: false, why: 'counted at the next restart' },
  restart_cooldown: { restart: false, why: 'read when the limit is next reached' },
  success_exit_codes: { restart: false, why: 'read at the next exit' },
  schedule: {
    restart: false,
    why: 'the next run is at the new time; adding or removing a schedule restarts',
  },
  file: { restart: false, why: 'where the definition is read from (`web.yaml` → `web.yml`)' },
};

/** The file's words for a definition's field. */
const FIELD_KEYS: Readonly<Record<string, string>> = {
  stopSignal: 'signal.stop',
  shutdownTimeoutMs: 'shutdown_timeout',
  testIntervalMs: 'test_interval',
  testTimeoutMs: 'test_timeout',
  restartDelayMs: 'restart_delay',
  restartMaxDelayMs: 'restart_max_delay',
  stableAfterMs: 'stable_after',
  // A mapping's conditions are `after` as the file writes it.
  conditions: 'after',
  watchdogMs: 'watchdog',
  readyLog: 'ready_log',
  restartCooldownMs: 'restart_cooldown',
  successCodes: 'success_exit_codes',
};

function keyOf(field: string): string {
  return (
    FIELD_KEYS[field] ?? field.replace(/Ms$/, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
  );
}

/** The keys in which `next` differs from `old`, and whether any of them needs a restart. */
export function changes(old: ServiceDef, next: ServiceDef): { keys: string[]; restart: boolean } {
  const fields = new Set([...Object.keys(old), ...Object.keys(next)]);
  fields.delete('name');
  // Where it came from is not a key of the file; a different origin shows in what it makes.
  fields.delete('instance');
  const keys: string[] = [];
  let restart = false;
  for (const f of fields) {
    const a = (old as unknown as Record<string, unknown>)[f];
    const b = (next as unknown as Record<string, unknown>)[f];
    if (sameJson(a, b)) continue;
    const key = keyOf(f);
    if (!keys.includes(key)) keys.push(key);
    if (key === 'log') restart ||= old.log.kind === 'none' || next.log.kind === 'none';
    else if (key === 'schedule') restart ||= old.schedule === null || next.schedule === null;
    else restart ||= KEY_EFFECTS[key]?.restart ?? true;
  }
  return { keys, restart };
}

export type Action = 'start' | 'stop' | 'restart' | 'update' | 'none' | 'refuse';

export interface PlanEntry {
  /** The service, or for a refused file its stem. */
  readonly name: string;
  readonly action: Action;
  /** Why, in a few words: `new`, `removed`, `exec, env changed`, `replicas 3 → 5`… */
  readonly why: string;
  /** For a restart or an update: the keys that changed. */
  readonly changed: readonly string[];
  /** The definition it takes: for start, restart and update. */
  readonly def: ServiceDef | null;
  /** For a refusal: the file's problems (none when it is a cycle's). */
  readonly problems: readonly Problem[];
  /** For a refusal: the dependency cycle the change would close. */
  readonly cycle: readonly string[] | null;
}

export interface PlanInput {
  /** The files sminitd took last, by stem (what it last read, or wrote, or was told). */
  readonly known: ReadonlyMap<string, Source>;
  /** The services tracked now, each with its definition. */
  readonly tracked: ReadonlyMap<string, ServiceDef>;
  /** Each replicated service's replica count now (a scale included). */
  readonly counts: ReadonlyMap<string, number>;
  /** The directory as read: every good file, by stem. */
  readonly next: ReadonlyMap<string, Source>;
  /** The stems of files that were refused, with their problems. */
  readonly refused: ReadonlyMap<string, readonly Problem[]>;
}

export interface Plan {
  /** Start, restart and update first, then stops, then what is left alone or refused. */
  readonly entries: readonly PlanEntry[];
  /** Tracked services the plan leaves exactly as they are. */
  readonly unchanged: number;
  /** What the next reload compares with once this one is applied. */
  readonly known: ReadonlyMap<string, Source>;
  readonly counts: ReadonlyMap<string, number>;
}

/** Which file a tracked service belongs to: its own, its template's, or its replicated file's. */
export function stemOf(def: ServiceDef): string {
  return def.instance?.of ?? def.name;
}

const UNCHANGED = 'unchanged';

interface Claim {
  readonly stem: string;
  readonly made: Made;
  readonly why: string;
}

/** What the directory as read changes, and what it leaves alone. */
export function planReload(input: PlanInput): Plan {
  const stems = [
    ...new Set([...input.known.keys(), ...input.next.keys(), ...input.refused.keys()]),
  ];
  const changed = stems.filter((s) => !input.refused.has(s) && !same(input, s));
  const counts = new Map(input.counts);
  const claims = claimsOf(input, changed, counts);
  const entries: PlanEntry[] = [];
  for (const [name, claim] of claims) {
    const e = entryFor(input, name, claim);
    // A file changed where this service's part of it did not: nothing to say.
    if (e.action !== 'none' || e.why !== UNCHANGED) entries.push(e);
  }
  entries.push(...stops(input, changed, claims, counts));
  entries.push(...namedEntries(input, entries));
  const refusals = refuseCycles(input, entries);
  for (const s of input.refused.keys())
    entries.push(refusal(s, 'does not load', input.refused.get(s)));
  const known = new Map(input.known);
  for (const s of changed) {
    if (refusals.has(s)) continue;
    const now = input.next.get(s);
    if (now) known.set(s, now);
    else known.delete(s);
  }
  for (const s of counts.keys()) {
    if (known.get(s)?.kind !== 'replicas' || refusals.has(s)) counts.delete(s);
  }
  for (const s of refusals) {
    const n = input.counts.get(s);
    if (n !== undefined && known.get(s)?.kind === 'replicas') counts.set(s, n);
  }
  return { entries: ordered(entries), unchanged: unchangedCount(input, entries), known, counts };
}

function same(input: PlanInput, stem: string): boolean {
  const a = input.known.get(stem);
  const b = input.next.get(stem);
  return a !== undefined && b !== undefined && sameJson(a, b);
}

/**
 * The services each changed file now stands for, by name: its own, its
 * replicas at the count that applies, its template's instances that run.
 * A file of a service's own name comes before a template's instance of it.
 */
function claimsOf(
  input: PlanInput,
  changed: readonly string[],
  counts: Map<string, number>,
): Map<string, Claim> {
  const claims = new Map<string, Claim>();
  for (const stem of changed) {
    const now = input.next.get(stem);
    if (!now) continue;
    if (now.kind === 'service')
      claims.set(stem, { stem, made: { ok: true, def: now.def }, why: 'new' });
    else if (now.kind === 'replicas') {
      const old = input.known.get(stem);
      const kept = old?.kind === 'replicas' && old.replicas === now.replicas;
      const count = kept ? (input.counts.get(stem) ?? now.replicas) : now.replicas;
      counts.set(stem, count);
      const was = old?.kind === 'replicas' ? (input.counts.get(stem) ?? old.replicas) : null;
      const why = was !== null && was !== count ? `replicas ${was} → ${count}` : 'new';
      for (let i = 1; i <= count; i++)
        claims.set(`${stem}@${i}`, { stem, made: makeReplica(now.def, i), why });
    } else {
      for (const [name, def] of input.tracked) {
        if (def.instance?.of !== stem || input.next.has(name)) continue;
        claims.set(name, { stem, made: makeInstance(now.def, name), why: 'new' });
      }
    }
  }
  return claims;
}

function entryFor(input: PlanInput, name: string, claim: Claim): PlanEntry {
  if (!claim.made.ok) return refusal(name, 'cannot be made from its file', claim.made.problems);
  const def = claim.made.def;
  const old = input.tracked.get(name);
  if (old === undefined) {
    // Untracked since `sminit delete`, or written with service_create and not added.
    const forgotten = input.known.get(claim.stem)?.kind === 'service' && claim.stem === name;
    if (forgotten) return entry(name, 'none', 'changed; not tracked, so left alone', def);
    return entry(name, 'start', claim.why, def);
  }
  const c = changes(old, def);
  if (c.keys.length === 0) return entry(name, 'none', UNCHANGED, def);
  return entry(name, c.restart ? 'restart' : 'update', `${c.keys.join(', ')} changed`, def, c.keys);
}

/** Tracked services whose file changed and no longer stands for them. */
function stops(
  input: PlanInput,
  changed: readonly string[],
  claims: ReadonlyMap<string, Claim>,
  counts: ReadonlyMap<string, number>,
): PlanEntry[] {
  const changedSet = new Set(changed);
  const out: PlanEntry[] = [];
  for (const [name, def] of input.tracked) {
    const stem = stemOf(def);
    if (!changedSet.has(stem) || claims.has(name)) continue;
    const old = input.known.get(stem);
    const now = input.next.get(stem);
    let why = 'removed';
    if (now?.kind === 'replicas' && old?.kind === 'replicas') {
      why = `replicas ${input.counts.get(stem) ?? old.replicas} → ${counts.get(stem) ?? now.replicas}`;
    } else if (now?.kind === 'replicas') why = `now runs as replicas of ${now.def.file}`;
    else if (now !== undefined) why = 'no longer a replica';
    out.push(entry(name, 'stop', why, null));
  }
  return out;
}

/**
 * Instances of templates that a started or changed service names in
 * `after` and that do not run: made from their template, and those they
 * name in turn.
 */
function namedEntries(input: PlanInput, entries: readonly PlanEntry[]): PlanEntry[] {
  const stopping = new Set(entries.filter((e) => e.action === 'stop').map((e) => e.name));
  const have = new Set([...input.tracked.keys()].filter((n) => !stopping.has(n)));
  for (const e of entries) if (e.action === 'start') have.add(e.name);
  const isTemplate = (t: string): boolean => input.next.get(t)?.kind === 'template';
  const out: PlanEntry[] = [];
  let fresh = entries.flatMap((e) =>
    e.def && e.action !== 'none' && e.action !== 'refuse' ? [e.def] : [],
  );
  while (fresh.length > 0) {
    const named = namedInstances(fresh, (n) => have.has(n), isTemplate);
    fresh = [];
    for (const name of named) {
      have.add(name);
      const template = input.next.get(`${splitInstance(name)?.base ?? ''}@`);
      if (!template) continue;
      const made = makeInstance(template.def, name);
      if (!made.ok) out.push(refusal(name, 'cannot be made from its template', made.problems));
      else {
        out.push(entry(name, 'start', 'an instance named in after', made.def));
        fresh.push(made.def);
      }
    }
  }
  return out;
}

/**
 * Changes that would close a dependency cycle become refusals, with the
 * cycle named; the rest of the plan stands. Returns the stems of the files
 * whose change was (in part) refused, so the next reload tries them again.
 */
function refuseCycles(input: PlanInput, entries: PlanEntry[]): Set<string> {
  const refusedStems = new Set<string>();
  for (;;) {
    const cycles = findCycles(graphAfter(input, entries));
    if (cycles.length === 0) return refusedStems;
    let refusedAny = false;
    for (const cycle of cycles) {
      const members = new Set(cycle);
      entries.forEach((e, i) => {
        if (!members.has(e.name) || !addsEdges(e)) return;
        refusedAny = true;
        const def = e.def ?? input.tracked.get(e.name);
        if (def) refusedStems.add(stemOf(def));
        const why = `would close a dependency cycle ${formatCycle(cycle)}`;
        entries[i] = { ...refusal(e.name, why, []), cycle };
      });
    }
    // The graph before was acyclic, so some change closed each cycle; never loop on one.
    if (!refusedAny) return refusedStems;
  }
}

function addsEdges(e: PlanEntry): boolean {
  return (
    e.action === 'start' ||
    ((e.action === 'restart' || e.action === 'update') && e.changed.includes('after'))
  );
}

/** The dependency graph once `entries` are applied, replicated services named by their replicas. */
function graphAfter(input: PlanInput, entries: readonly PlanEntry[]): Map<string, string[]> {
  const defs = new Map(input.tracked);
  for (const e of entries) {
    if (e.action === 'stop') defs.delete(e.name);
    else if (e.def && e.action !== 'none' && e.action !== 'refuse') defs.set(e.name, e.def);
  }
  const groups = new Map<string, string[]>();
  for (const [name, def] of defs) {
    if (def.instance?.kind !== 'replica') continue;
    const list = groups.get(def.instance.of) ?? [];
    list.push(name);
    groups.set(def.instance.of, list);
  }
  const graph = new Map<string, string[]>();
  for (const [name, def] of defs)
    graph.set(
      name,
      expandAfter(def.after, (n) => groups.get(n) ?? null),
    );
  return graph;
}

function unchangedCount(input: PlanInput, entries: readonly PlanEntry[]): number {
  const touched = new Set(entries.filter((e) => e.action !== 'none').map((e) => e.name));
  let n = 0;
  for (const name of input.tracked.keys()) if (!touched.has(name)) n++;
  return n;
}

const ORDER: Readonly<Record<Action, number>> = {
  start: 0,
  restart: 1,
  update: 1,
  stop: 2,
  none: 3,
  refuse: 4,
};

/** By action, then by name, replicas by number. */
function ordered(entries: readonly PlanEntry[]): PlanEntry[] {
  return [...entries].sort((a, b) => ORDER[a.action] - ORDER[b.action] || byName(a.name, b.name));
}

function byName(a: string, b: string): number {
  const sa = splitInstance(a);
  const sb = splitInstance(b);
  if (sa && sb && sa.base === sb.base) {
    const na = replicaNumber(sa.base, a);
    const nb = replicaNumber(sb.base, b);
    if (na !== null && nb !== null) return na - nb;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function entry(
  name: string,
  action: Action,
  why: string,
  def: ServiceDef | null,
  changedKeys: readonly string[] = [],
): PlanEntry {
  return { name, action, why, changed: changedKeys, def, problems: [], cycle: null };
}

function refusal(name: string, why: string, problems: readonly Problem[] = []): PlanEntry {
  return { name, action: 'refuse', why, changed: [], def: null, problems, cycle: null };
}
