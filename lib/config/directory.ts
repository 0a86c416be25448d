// A config directory as sminitd takes it: every service file read (load.ts),
// then the services a dependency cycle runs through refused, and the
// dependencies no file defines listed. Both sminitd's start and `sminit
// check` start here, so they accept exactly the same services. Starts nothing.

import type { Problem, ServiceDef } from '../core/definition.js';
import { findCycles, missingDeps } from '../core/graph.js';
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
  return { defs: defs.filter((d) => !refused.has(d.name)), problems, cycles, missing };
}
