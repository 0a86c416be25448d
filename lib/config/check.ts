// `sminit check PATH`: validates offline, as `nginx -t` does — a config
// directory as sminitd would take it (every file, cycles, dependencies on
// services that do not exist; directory.ts), or one service file alone.
// Reads files; starts nothing.

import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { type Problem, formatProblem } from '../core/definition.js';
import { formatCycle } from '../core/graph.js';
import type { Host } from '../core/host.js';
import { stemOf } from '../core/names.js';
import { loadConfig } from './directory.js';
import { loadServiceFile } from './load.js';
import { count } from '../core/plural.js';

export interface CheckReport {
  readonly ok: boolean;
  /** The directory or file checked, as given. */
  readonly path: string;
  readonly kind: 'directory' | 'file';
  /** The services that would load, by name. */
  readonly services: readonly string[];
  /** Every problem, at file:line:col where it has a place. */
  readonly problems: readonly Problem[];
}

/** A directory, or one service file when `path` is a file (or named like one). */
export async function checkPath(path: string, host: Host | null = null): Promise<CheckReport> {
  const isFile = await stat(path).then(
    (st) => st.isFile(),
    () => stemOf(basename(path)) !== null,
  );
  return isFile ? checkFile(path, host) : checkDir(path, host);
}

export async function checkDir(dir: string, host: Host | null = null): Promise<CheckReport> {
  const config = await loadConfig(dir, host);
  const problems = [...config.problems];
  const at = (file: string, message: string): Problem => ({ file, line: 0, column: 0, message });
  for (const cycle of config.cycles)
    problems.push(at(dir, `dependency cycle ${formatCycle(cycle.path)}`));
  for (const { file, names } of config.missing)
    for (const m of names)
      problems.push(at(file, `'after' names '${m}', which has no service file`));
  const services = config.defs.map((d) => d.name);
  return { ok: problems.length === 0, path: dir, kind: 'directory', services, problems };
}

/** One file on its own: its problems; the services it names in `after` are not looked for. */
export async function checkFile(file: string, host: Host | null = null): Promise<CheckReport> {
  const result = await loadServiceFile(file, host);
  const ok = result.ok;
  const services = ok ? [result.name] : [];
  return { ok, path: file, kind: 'file', services, problems: ok ? [] : result.problems };
}

/** The report as people read it: a problem a line and a count, or one line saying all is well. */
export function checkLines(r: CheckReport): string[] {
  if (!r.ok)
    return [
      ...r.problems.map(formatProblem),
      `${count(r.problems.length, 'problem')} in ${r.path}`,
    ];
  const what =
    r.kind === 'file' ? `service '${r.services[0] ?? ''}'` : count(r.services.length, 'service');
  return [`${r.path}: ${what}, no problems`];
}
