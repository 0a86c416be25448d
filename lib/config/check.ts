// `sminit check DIR`: validates a config directory offline — every file, and
// the graph they make (cycles, dependencies on services that do not exist).
// Reads files; starts nothing.

import { loadDir } from './load.js';
import { findCycles, formatCycle, missingDeps } from '../core/graph.js';
import { formatProblem } from '../core/definition.js';

export interface CheckReport {
  readonly ok: boolean;
  readonly lines: string[];
}

export async function checkDir(dir: string): Promise<CheckReport> {
  const { defs, problems } = await loadDir(dir);
  const lines = problems.map(formatProblem);
  const graph = new Map(defs.map((d) => [d.name, [...d.after]]));
  for (const cycle of findCycles(graph))
    lines.push(`${dir}: dependency cycle ${formatCycle(cycle)}`);
  for (const [name, missing] of missingDeps(graph)) {
    const def = defs.find((d) => d.name === name);
    for (const m of missing)
      lines.push(`${def?.file ?? name}: 'after' names '${m}', which has no service file`);
  }
  if (lines.length > 0)
    return { ok: false, lines: [...lines, `${lines.length} problem(s) in ${dir}`] };
  return { ok: true, lines: [`${dir}: ${defs.length} services, no problems`] };
}
