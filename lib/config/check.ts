// `sminit check DIR`: validates a config directory offline — every file, and
// the graph they make (cycles, dependencies on services that do not exist),
// as sminitd would take it (directory.ts). Reads files; starts nothing.

import { formatProblem } from '../core/definition.js';
import { formatCycle } from '../core/graph.js';
import { loadConfig } from './directory.js';

export interface CheckReport {
  readonly ok: boolean;
  readonly lines: string[];
}

export async function checkDir(dir: string): Promise<CheckReport> {
  const config = await loadConfig(dir);
  const lines = config.problems.map(formatProblem);
  for (const cycle of config.cycles)
    lines.push(`${dir}: dependency cycle ${formatCycle(cycle.path)}`);
  for (const { file, names } of config.missing)
    for (const m of names) lines.push(`${file}: 'after' names '${m}', which has no service file`);
  if (lines.length > 0)
    return { ok: false, lines: [...lines, `${lines.length} problem(s) in ${dir}`] };
  return { ok: true, lines: [`${dir}: ${config.defs.length} services, no problems`] };
}
