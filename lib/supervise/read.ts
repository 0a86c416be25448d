// What `sminit add NAME` (or a start of an instance) tracks, read from the
// config directory: NAME's own file (all its replicas, for a replicated
// service), else a replica of a replicated service sminitd knows, else an
// instance of NAME's template. Reads files; tracks nothing.

import type { ServiceDef, Source } from '../core/definition.js';
import { Errors } from '../core/errors.js';
import {
  makeInstance,
  makeReplica,
  replicaNumber,
  servicesOf,
  sourceOf,
  splitInstance,
  templateOf,
} from '../core/instances.js';
import { loadServiceNamed } from '../config/load.js';
import type { Host } from '../core/host.js';

export interface Named {
  /** The services the name stands for. */
  readonly defs: readonly ServiceDef[];
  /** The file read, by its stem; null when the definition came from what was known. */
  readonly file: Source | null;
  readonly stem: string;
}

/** NAME's own file as a source, or null when it has none; its problems are the domain's error. */
export async function readSource(
  dir: string,
  name: string,
  host: Host | null = null,
): Promise<Source | null> {
  const res = await loadServiceNamed(dir, name, host);
  if (res.ok) return sourceOf(res.def, res.replicas);
  if (res.missing) return null;
  throw Errors.fileProblems(res.problems);
}

export async function readNamed(
  dir: string,
  name: string,
  known: ReadonlyMap<string, Source> = new Map(),
  counts: ReadonlyMap<string, number> = new Map(),
  host: Host | null = null,
): Promise<Named> {
  const own = await readSource(dir, name, host);
  if (own?.kind === 'template') throw Errors.isTemplate(name);
  if (own?.kind === 'replicas') {
    const made = servicesOf(own, counts.get(name) ?? own.replicas);
    if (made.problems.length > 0) throw Errors.fileProblems(made.problems);
    return { defs: made.defs, file: own, stem: name };
  }
  if (own) return { defs: [own.def], file: own, stem: name };
  const template = templateOf(name);
  if (template === null) throw Errors.noServiceFile(name, dir);
  return replicaNamed(name, known, counts) ?? instanceNamed(dir, name, template, host);
}

/** `web@2` of a replicated `web` sminitd knows, when 2 is within its count. */
function replicaNamed(
  name: string,
  known: ReadonlyMap<string, Source>,
  counts: ReadonlyMap<string, number>,
): Named | null {
  const group = splitInstance(name)?.base ?? '';
  const source = known.get(group);
  const n = replicaNumber(group, name);
  if (source?.kind !== 'replicas' || n === null || n > (counts.get(group) ?? source.replicas)) {
    return null;
  }
  const made = makeReplica(source.def, n);
  if (!made.ok) throw Errors.fileProblems(made.problems);
  return { defs: [made.def], file: null, stem: group };
}

async function instanceNamed(
  dir: string,
  name: string,
  template: string,
  host: Host | null,
): Promise<Named> {
  const source = await readSource(dir, template, host);
  if (source?.kind !== 'template') throw Errors.noTemplate(name, template, dir);
  const made = makeInstance(source.def, name);
  if (!made.ok) throw Errors.fileProblems(made.problems);
  return { defs: [made.def], file: source, stem: template };
}
