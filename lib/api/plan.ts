// How a reload's plan reads: on the wire (a line per change, a refused
// file's problems at file:line:col) and as the table people read, one line
// each (`+ web  new: start`), the same for the CLI and sminitd's own log.
// Pure; the plan itself is core/reload.ts's.

import { formatProblem } from '../core/definition.js';
import type { Plan, PlanEntry } from '../core/reload.js';
import type { PlanLine, ReloadResult } from './wire.js';

const MARKS: Readonly<Record<PlanLine['action'], PlanLine['mark']>> = {
  start: '+',
  stop: '-',
  restart: '~',
  update: '~',
  none: ' ',
  refuse: '!',
};

export function reloadResult(plan: Plan, applied: boolean): ReloadResult {
  const changes = plan.entries.map(lineOf);
  const refused = changes.filter((c) => c.action === 'refuse').length;
  return { applied, changes, refused, unchanged: plan.unchanged };
}

function lineOf(e: PlanEntry): PlanLine {
  return {
    name: e.name,
    action: e.action,
    mark: MARKS[e.action],
    why: e.why,
    changed: e.changed,
    problems: e.problems.map(formatProblem),
    cycle: e.cycle,
  };
}

/** What is done about a line, after its reason: `start`, `no restart`, `refused: …`. */
function outcome(l: PlanLine): string {
  switch (l.action) {
    case 'update':
      return 'no restart';
    case 'none':
      return 'nothing';
    case 'refuse':
      return 'refused, left as it is';
    default:
      return l.action;
  }
}

/** The plan as a table: a line per change (a refused file's problems below it), then a summary. */
export function planTable(r: ReloadResult): string[] {
  const width = Math.max(0, ...r.changes.map((c) => c.name.length));
  const out: string[] = [];
  for (const c of r.changes) {
    out.push(`${c.mark} ${c.name.padEnd(width)}  ${c.why}: ${outcome(c)}`);
    for (const p of c.problems) out.push(`    ${p}`);
  }
  const changed = r.changes.filter((c) => c.action !== 'refuse' && c.action !== 'none').length;
  const what = `${changed} change${changed === 1 ? '' : 's'}, ${r.refused} refused, ${r.unchanged} unchanged`;
  out.push(r.applied ? `reloaded: ${what}` : `dry run: ${what}; nothing was changed`);
  return out;
}
