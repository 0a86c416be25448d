// Which files a service's `log: {file}` writes (the file and its rotations)
// and which services would write the same one: two writers rotating one
// file scramble each other's lines. Pure: paths are compared as resolved,
// the filesystem is not asked.

import { resolve } from 'node:path';
import type { Problem, ServiceDef } from '../core/definition.js';

/** The log file a service writes, resolved as the worker resolves it; null when it has none. */
export function logFileOf(def: ServiceDef): string | null {
  return def.log.kind === 'file' ? resolve(def.dir, def.log.path) : null;
}

/** Every file a service's log may write: the file and its rotations `.1` … `.keep`. */
function writtenFiles(def: ServiceDef): string[] {
  const path = logFileOf(def);
  if (path === null || def.log.kind !== 'file') return [];
  return [path, ...Array.from({ length: def.log.keep }, (_, i) => `${path}.${i + 1}`)];
}

export interface LogClash {
  readonly def: ServiceDef;
  readonly other: ServiceDef;
  /** A file both would write. */
  readonly path: string;
}

/** For each service that would write a file another one writes, one clash per other service. */
export function logClashes(defs: readonly ServiceDef[]): LogClash[] {
  const writers = new Map<string, ServiceDef[]>();
  for (const def of defs) {
    for (const f of writtenFiles(def)) writers.set(f, [...(writers.get(f) ?? []), def]);
  }
  const clashes: LogClash[] = [];
  const seen = new Set<string>();
  for (const [path, ds] of writers) {
    for (const def of ds) {
      for (const other of ds) {
        const key = `${def.name}\0${other.name}`;
        if (other === def || seen.has(key)) continue;
        seen.add(key);
        clashes.push({ def, other, path });
      }
    }
  }
  return clashes;
}

/** The services of `defs` that share no log file, and a problem for each that does. */
export function refuseSharedLogs(defs: readonly ServiceDef[]): {
  defs: ServiceDef[];
  problems: Problem[];
} {
  const clashes = logClashes(defs);
  const refused = new Set(clashes.map((c) => c.def));
  const problems = clashes.map(({ def, other, path }) => ({
    file: def.file,
    line: 0,
    column: 0,
    message: `its log file ${path} is also written by ${other.file}; a log file belongs to one service, so neither is loaded`,
  }));
  return { defs: defs.filter((d) => !refused.has(d)), problems };
}
