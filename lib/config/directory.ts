// A config directory as sminitd takes it: every service file read
// (load.ts) into sources — services, templates, replicated services — with
// the files that clash refused; then, for a start, the services they stand
// for, less those a dependency cycle runs through. sminitd's start, its
// reload and `sminit check` all read through here, so they accept exactly
// the same files. Starts nothing.

import { basename } from 'node:path';
import {
  type NotLoaded,
  type Problem,
  type ServiceDef,
  type Source,
  formatProblem,
} from '../core/definition.js';
import { findCycles, formatCycle, missingDeps } from '../core/graph.js';
import {
  expandAfter,
  namedInstances,
  replicaName,
  servicesOf,
  sourceOf,
  splitInstance,
} from '../core/instances.js';
import { stemOf } from '../core/names.js';
import type { Host } from '../core/host.js';
import { type ReadCache, readDirFiles } from './load.js';
import { logClashes } from './logfiles.js';

/** The directory as read: what each good file is, and the problems of each bad one. */
export interface ConfigRead {
  readonly dir: string;
  /** Every file that was read whole and clashes with none, by its stem. */
  readonly sources: ReadonlyMap<string, Source>;
  /** Every stem whose file was refused, with its problems. */
  readonly refused: ReadonlyMap<string, readonly Problem[]>;
  /** Every problem, in the order of the files. */
  readonly problems: readonly Problem[];
  /** Why the directory itself could not be read: then nothing in it can be judged. */
  readonly unreadable: string | null;
  /** What was parsed, so a read of unchanged files parses none again. */
  readonly cache: ReadCache;
}

export async function readConfig(
  dir: string,
  cache?: ReadCache,
  host: Host | null = null,
): Promise<ConfigRead> {
  const files = await readDirFiles(dir, cache, host);
  const sources = new Map<string, Source>();
  const refused = new Map<string, Problem[]>();
  const refuse = (stem: string, problems: readonly Problem[]): void => {
    sources.delete(stem);
    refused.set(stem, [...(refused.get(stem) ?? []), ...problems]);
  };
  for (const r of files.results) {
    if (r.ok) sources.set(r.name, sourceOf(r.def, r.replicas));
    else refuse(r.name, r.problems);
  }
  for (const [stem, problems] of clashes(sources)) refuse(stem, problems);
  const problems = [...refused.values()].flat();
  return { dir, sources, refused, problems, unreadable: files.unreadable, cache: files.cache };
}

/**
 * Files that cannot both be taken: a replicated `web.yaml` and any other
 * file of a name `web@…` (its replicas own those names), and services that
 * would write one log file. Each file of a clash, with why.
 */
function clashes(sources: ReadonlyMap<string, Source>): Map<string, Problem[]> {
  const out = new Map<string, Problem[]>();
  const add = (def: ServiceDef, message: string): void => {
    const list = out.get(def.name) ?? [];
    out.set(def.name, [...list, { file: def.file, line: 0, column: 0, message }]);
  };
  for (const [stem, s] of sources) {
    const base = stem.endsWith('@') ? stem.slice(0, -1) : splitInstance(stem)?.base;
    const group = base === undefined ? undefined : sources.get(base);
    if (group?.kind !== 'replicas') continue;
    add(s.def, `its name is one of ${group.def.file}'s replicas (${base}@…); neither is loaded`);
    add(group.def, `${s.def.file} takes a name of its replicas (${base}@…); neither is loaded`);
  }
  const stemOf = new Map<ServiceDef, string>();
  const defs: ServiceDef[] = [];
  for (const [stem, s] of sources) {
    if (s.kind === 'template') continue;
    for (const def of servicesOf(s, s.kind === 'replicas' ? s.replicas : 1).defs) {
      stemOf.set(def, stem);
      defs.push(def);
    }
  }
  const told = new Set<string>();
  for (const { def, other, path } of logClashes(defs)) {
    const [a, b] = [stemOf.get(def) ?? def.name, stemOf.get(other) ?? other.name];
    if (a === b || told.has(`${a}\0${b}`)) continue;
    told.add(`${a}\0${b}`);
    const self = sources.get(a)?.def ?? def;
    const message = `its log file ${path} is also written by ${other.file}; a log file belongs to one service, so neither is loaded`;
    add(self, message);
  }
  return out;
}

export interface Cycle {
  /** The cycle as a closed path: `[a, b, a]`. */
  readonly path: readonly string[];
  /** The services on it, each once: none of them is accepted. */
  readonly members: readonly string[];
}

export interface MissingDeps {
  readonly service: string;
  readonly file: string;
  /** Names in its `after` that no service file defines: it waits for them (blocked). */
  readonly names: readonly string[];
}

export interface Config {
  /** The services to track: every good file's, replicas and named instances included, less the members of cycles. */
  readonly defs: readonly ServiceDef[];
  /** Every problem of the files that were not loaded, at file:line:col. */
  readonly problems: readonly Problem[];
  readonly cycles: readonly Cycle[];
  readonly missing: readonly MissingDeps[];
  /** Each service that has a file but is not loaded, with why: for list and status. */
  readonly notLoaded: readonly NotLoaded[];
  /** The files taken, by stem: what a reload compares the directory with. */
  readonly sources: ReadonlyMap<string, Source>;
  /** What was parsed, so the first reload parses only what changed since. */
  readonly cache: ReadCache;
}

export async function loadConfig(dir: string, host: Host | null = null): Promise<Config> {
  const read = await readConfig(dir, undefined, host);
  if (read.unreadable !== null) {
    const message = `cannot read config directory: ${read.unreadable}`;
    const problems = [{ file: dir, line: 0, column: 0, message }];
    const cache = new Map();
    return {
      defs: [],
      problems,
      cycles: [],
      missing: [],
      sources: new Map(),
      notLoaded: [],
      cache,
    };
  }
  const { defs, problems } = startingServices(read.sources);
  const groups = replicaGroups(read.sources);
  const graph = new Map(
    defs.map((d) => [d.name, expandAfter(d.after, (n) => groups.get(n) ?? null)]),
  );
  const cycles = findCycles(graph).map((path) => ({ path, members: [...new Set(path)] }));
  const refused = new Set(cycles.flatMap((c) => c.members));
  const missing = [...missingDeps(graph)].map(([service, names]) => ({
    service,
    file: defs.find((d) => d.name === service)?.file ?? service,
    names,
  }));
  // A file none of whose services were taken is not taken either: a reload
  // tries it again. A template stays, whatever became of its instances.
  const sources = new Map(read.sources);
  for (const def of defs) {
    const stem = def.instance?.kind === 'replica' ? def.instance.of : def.name;
    if (refused.has(def.name) && sources.get(stem)?.kind !== 'template') sources.delete(stem);
  }
  const all = [...read.problems, ...problems];
  return {
    defs: defs.filter((d) => !refused.has(d.name)),
    problems: all,
    cycles,
    missing,
    sources,
    notLoaded: whyNotLoaded(all, cycles, defs),
    cache: read.cache,
  };
}

/** Each replicated service's replicas, by its name, at the count its file gives. */
export function replicaGroups(sources: ReadonlyMap<string, Source>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const [stem, s] of sources) {
    if (s.kind === 'replicas')
      groups.set(
        stem,
        Array.from({ length: s.replicas }, (_, i) => replicaName(stem, i + 1)),
      );
  }
  return groups;
}

/**
 * The services a directory starts: each file's, its replicas, and the
 * instances of templates that some service names in `after` (and those
 * they name, in turn).
 */
function startingServices(sources: ReadonlyMap<string, Source>): {
  defs: ServiceDef[];
  problems: Problem[];
} {
  const defs: ServiceDef[] = [];
  const problems: Problem[] = [];
  const take = (made: { defs: ServiceDef[]; problems: Problem[] }): ServiceDef[] => {
    defs.push(...made.defs);
    problems.push(...made.problems);
    return made.defs;
  };
  for (const s of sources.values()) {
    if (s.kind !== 'template') take(servicesOf(s, s.kind === 'replicas' ? s.replicas : 1));
  }
  const have = new Set(defs.map((d) => d.name));
  const isTemplate = (t: string): boolean => sources.get(t)?.kind === 'template';
  let fresh: readonly ServiceDef[] = defs;
  while (fresh.length > 0) {
    const named = namedInstances(fresh, (n) => have.has(n), isTemplate);
    fresh = named.flatMap((name) => {
      have.add(name);
      const template = sources.get(`${splitInstance(name)?.base ?? ''}@`);
      return template ? take(servicesOf(template, 0, [name])) : [];
    });
  }
  return { defs, problems };
}

/** Problems by the service their file stands for, then each cycle member's cycle. */
export function whyNotLoaded(
  problems: readonly Problem[],
  cycles: readonly Cycle[],
  defs: readonly ServiceDef[],
): NotLoaded[] {
  const found = new Map<string, { file: string; lines: string[] }>();
  const entry = (name: string, file: string): string[] => {
    let e = found.get(name);
    if (e === undefined) found.set(name, (e = { file, lines: [] }));
    return e.lines;
  };
  for (const p of problems) {
    const name = stemOf(basename(p.file));
    if (name !== null) entry(name, p.file).push(formatProblem(p));
  }
  for (const c of cycles) {
    for (const m of c.members) {
      const file = defs.find((d) => d.name === m)?.file ?? m;
      entry(m, file).push(`${file}: on a dependency cycle ${formatCycle(c.path)}`);
    }
  }
  return [...found].map(([name, e]) => ({ name, file: e.file, why: e.lines.join('\n') }));
}
