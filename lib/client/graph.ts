// `sminit graph` and `sminit why`: the dependency graph drawn as Graphviz
// DOT, Mermaid or JSON, each node in its state's colour and each edge with
// its condition (dashed while unmet); why a service waits, chain by chain,
// and its last start's critical chain as systemd-analyze prints one. Pure
// renderers of the wire types, plus the two verbs that print them.

import type { Client } from './client.js';
import type { CliArgs, GraphFormat } from './args.js';
import { paintState, useColour } from './format.js';
import type { Graph, GraphNode, StateKind, Why } from '../api/wire.js';
import { statePhrase } from '../core/why.js';

/** Fill colours by state, light enough for black text (Graphviz and Mermaid alike). */
const FILL: Readonly<Record<StateKind | 'untracked', string>> = {
  running: '#b7e4c7',
  success: '#d8f3dc',
  starting: '#ffe8a1',
  backoff: '#ffd6a5',
  blocked: '#fff3bf',
  stopping: '#ffe8a1',
  failed: '#ffadad',
  exited: '#ffc9c9',
  stopped: '#e9ecef',
  scheduled: '#dbe4ff',
  untracked: '#ffffff',
};

/** A DOT string: quoted, with `"` and `\` escaped (names are plain, reasons may not be). */
const q = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;

export function toDot(g: Graph): string {
  const lines = [
    'digraph sminit {',
    '  rankdir=LR;',
    '  node [shape=box, style="rounded,filled", fontname="sans-serif"];',
    '  edge [fontname="sans-serif", fontsize=10];',
  ];
  for (const n of g.nodes) {
    const style = n.status === 'untracked' ? ', style="rounded,dashed"' : '';
    lines.push(`  ${q(n.name)} [label=${q(label(n))}, fillcolor=${q(FILL[n.status])}${style}];`);
  }
  for (const e of g.edges) {
    const style = e.met ? '' : ', style=dashed';
    lines.push(`  ${q(e.from)} -> ${q(e.to)} [label=${q(e.condition)}${style}];`);
  }
  lines.push('}');
  return lines.join('\n');
}

function label(n: GraphNode): string {
  const kind = n.oneshot ? ' (oneshot)' : '';
  return `${n.name}${kind}\n${n.status}`;
}

export function toMermaid(g: Graph): string {
  // Mermaid ids may not hold every character a name may (`@`): number them.
  const id = new Map(g.nodes.map((n, i) => [n.name, `n${i}`]));
  const lines = ['flowchart LR'];
  for (const n of g.nodes) {
    const text = label(n).replace('\n', '<br/>').replace(/"/g, '#quot;');
    lines.push(`  ${id.get(n.name)}["${text}"]:::${n.status}`);
  }
  for (const e of g.edges) {
    const arrow = e.met ? '-->' : '-.->';
    lines.push(`  ${id.get(e.from)} ${arrow}|${e.condition}| ${id.get(e.to)}`);
  }
  for (const [state, fill] of Object.entries(FILL)) {
    lines.push(`  classDef ${state} fill:${fill},stroke:#555,color:#000`);
  }
  return lines.join('\n');
}

export function renderGraph(g: Graph, format: GraphFormat): string {
  if (format === 'json') return JSON.stringify(g, null, 2);
  return format === 'mermaid' ? toMermaid(g) : toDot(g);
}

/** Seconds with milliseconds, as systemd-analyze writes them: `1.105s`, `250ms`. */
function secs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(3)}s`;
}

/** `why`'s answer as people read it; `colour` paints the states. */
export function formatWhy(w: Why, colour = false): string {
  const phrase = statePhrase(w.status);
  const lines = [`${w.service} ${colour ? paintState(w.status, phrase) : phrase}: ${w.reason}`];
  const waits = w.chains.some((c) => c.length > 1);
  if (waits) for (const s of w.summary) lines.push(`  ${s}`);
  lines.push('');
  if (w.critical === null) {
    lines.push(`${w.service} has not come up since sminitd started: no critical chain yet`);
    return lines.join('\n');
  }
  lines.push(
    'The critical chain of its last start (@ up after sminitd started, + time to come up):',
  );
  w.critical.forEach((l, i) => {
    const lead = i === 0 ? '' : `${'  '.repeat(i - 1)}└─`;
    lines.push(`${lead}${l.service} @${secs(l.at_ms)} +${secs(l.took_ms)}`);
  });
  return lines.join('\n');
}

export async function graph(c: Client, a: CliArgs): Promise<number> {
  const g = await c.graph();
  process.stdout.write(renderGraph(g, a.json ? 'json' : a.format) + '\n');
  return 0;
}

export async function why(c: Client, a: CliArgs, name: string): Promise<number> {
  const w = await c.why(name);
  if (a.json) process.stdout.write(JSON.stringify(w, null, 2) + '\n');
  else {
    const colour = useColour(a.color, process.stdout.isTTY === true);
    process.stdout.write(formatWhy(w, colour) + '\n');
  }
  return 0;
}
