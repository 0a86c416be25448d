// A config directory as sminitd takes it: every service file read (load.ts),
// then the services a dependency cycle runs through refused, and the
// dependencies no file defines listed. Both sminitd's start and `sminit
// check` start here, so they accept exactly the same services. Starts nothing.

import { basename } from 'node:path';
import {
  type NotLoaded,
  type Problem,
  type ServiceDef,
  formatProblem,
} from '../core/definition.js';
import { findCycles, formatCycle, missingDeps } from '../core/graph.js';
import { stemOf } from '../core/names.js';
import type { Host } from '../core/host.js';
import { loadDir } from './load.js';

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
  /** The services to track: every good file, less the members of cycles. */
  readonly defs: readonly ServiceDef[];
  /** Every problem of the files that were not loaded, at file:line:col. */
  readonly problems: readonly Problem[];
  readonly cycles: readonly Cycle[];
  readonly missing: readonly MissingDeps[];
  /** Each service that has a file but is not loaded, with why: for list and status. */
  readonly notLoaded: readonly NotLoaded[];
}

export async function loadConfig(dir: string, host: Host | null = null): Promise<Config> {
  const { defs, problems } = await loadDir(dir, host);
  const graph = new Map(defs.map((d) => [d.name, [...d.after]]));
  const cycles = findCycles(graph).map((path) => ({ path, members: [...new Set(path)] }));
  const refused = new Set(cycles.flatMap((c) => c.members));
  const missing = [...missingDeps(graph)].map(([service, names]) => ({
    service,
    file: defs.find((d) => d.name === service)?.file ?? service,
    names,
  }));
  const accepted = defs.filter((d) => !refused.has(d.name));
  const notLoaded = whyNotLoaded(problems, cycles, defs);
  return { defs: accepted, problems, cycles, missing, notLoaded };
}

/** Problems by the service their file stands for, then each cycle member's cycle. */
function whyNotLoaded(
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
