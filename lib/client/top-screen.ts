// What `sminit top` shows, as a pure function of its model: one frame of
// ANSI text the size of the terminal (a header, the services with state
// colours, an optional log pane, a key line). Owns the layout and the keys'
// meaning; must not read the terminal, the clock or the daemon itself.

import type { ServiceStatus } from './client.js';
import { escapeControls, formatDurationShort, paintState } from './format.js';

export interface Measured {
  /** Percent of one CPU, the service's whole tree summed. */
  readonly cpu: number;
  readonly memory: number;
}

export interface TopModel {
  readonly width: number;
  readonly height: number;
  readonly now: number;
  readonly daemon: string;
  /** By name; each with when its uptime began on this clock (null: not up). */
  readonly services: ReadonlyMap<string, ServiceStatus & { readonly upSince: number | null }>;
  readonly stats: Readonly<Record<string, Measured>>;
  readonly selected: string | null;
  readonly filter: string;
  /** Typing a filter after `/`. */
  readonly filtering: boolean;
  readonly logOpen: boolean;
  readonly log: readonly string[];
  /** The outcome of the last key, or why the stream stopped. */
  readonly message: string;
  readonly live: boolean;
}

const CSI = '\x1b[';
const INVERSE = `${CSI}7m`;
const BOLD = `${CSI}1m`;
const DIM = `${CSI}2m`;
const RESET = `${CSI}0m`;

/** The services the filter lets through, by name. */
export function visible(m: Pick<TopModel, 'services' | 'filter'>): string[] {
  const f = m.filter.toLowerCase();
  return [...m.services.keys()].filter((n) => n.toLowerCase().includes(f)).sort();
}

/** `text` cut or padded to exactly `width` columns (the text is plain: no escapes). */
export function fit(text: string, width: number): string {
  const chars = [...text.replace(/\t/g, ' ')];
  if (chars.length > width) return chars.slice(0, Math.max(0, width - 1)).join('') + '…';
  return chars.join('') + ' '.repeat(width - chars.length);
}

function bytes(n: number): string {
  if (n < 1024 * 1024) return `${Math.round(n / 1024)}K`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)}M`;
  return `${(n / 1024 ** 3).toFixed(2)}G`;
}

function ready(s: ServiceStatus): string {
  if (s.ready !== null) return s.ready ? 'yes' : 'no';
  if (s.status === 'running' || s.status === 'success') return 'yes';
  return s.status === 'starting' ? 'no' : '-';
}

/** Column widths; the reason takes what is left. */
const COLUMNS = [
  ['NAME', 16],
  ['STATE', 9],
  ['READY', 5],
  ['PID', 7],
  ['UPTIME', 7],
  ['RST', 3],
  ['CPU%', 5],
  ['MEM', 6],
] as const;

function cells(m: TopModel, name: string): string[] {
  const s = m.services.get(name);
  if (!s) return [];
  const st = s.pid > 0 ? m.stats[name] : undefined;
  const up = s.pid > 0 && s.upSince !== null ? formatDurationShort(m.now - s.upSince) : '-';
  return [
    name,
    s.status,
    ready(s),
    s.pid > 0 ? String(s.pid) : '-',
    up,
    String(s.restarts),
    st ? st.cpu.toFixed(1) : '-',
    st ? bytes(st.memory) : '-',
    escapeControls(s.reason),
  ];
}

function row(m: TopModel, name: string): string {
  const c = cells(m, name);
  const rest = Math.max(0, m.width - COLUMNS.reduce((a, [, w]) => a + w + 1, 0));
  const plain = COLUMNS.map(([, w], i) => fit(c[i] ?? '', w));
  const reason = fit(c[8] ?? '', rest);
  const s = m.services.get(name);
  const line = fit([...plain, reason].join(' ').trimEnd(), m.width);
  if (name === m.selected) return `${INVERSE}${line}${RESET}`;
  // Too narrow for every column: the row is cut, and plain.
  if (rest === 0) return line;
  const state = s ? paintState(s.status, plain[1] ?? '') : (plain[1] ?? '');
  return [plain[0], state, ...plain.slice(2), `${DIM}${reason}${RESET}`].join(' ');
}

/** The header's counts, up first; a state not named here comes after. */
const HEADER_ORDER = ['running', 'success', 'scheduled', 'starting', 'blocked', 'backoff'];

function header(m: TopModel): string {
  const all = [...m.services.values()];
  const count = (k: string): number => all.filter((s) => s.status === k).length;
  const kinds = [...new Set([...HEADER_ORDER, ...all.map((s) => s.status)])];
  const parts = kinds
    .map((k) => [k, count(k)] as const)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`);
  const left = ` sminit top · ${m.daemon} · ${all.length} services${parts.length ? ': ' + parts.join(', ') : ''}`;
  const right = ` ${m.live ? 'live' : 'disconnected'} `;
  const room = Math.max(0, m.width - [...right].length);
  return `${INVERSE}${BOLD}${fit(left, room)}${right}${RESET}`;
}

function keyLine(m: TopModel): string {
  if (m.filtering) return fit(`/${m.filter}`, m.width);
  const full = '↑↓ select  s start  x stop  r restart  l log  / filter  q quit';
  const keys =
    [...full].length <= m.width ? full : '↑↓ s:start x:stop r:restart l:log /:filter q:quit';
  const text = m.message ? `${m.message}  ·  ${keys}` : keys;
  return `${DIM}${fit(text, m.width)}${RESET}`;
}

/** The first row to show so that the selected one is on screen. */
function scroll(names: readonly string[], selected: string | null, rows: number): number {
  const at = selected === null ? 0 : Math.max(0, names.indexOf(selected));
  return Math.max(0, at - rows + 1);
}

/** One frame: every line the terminal's width, as many lines as it is high. */
export function render(m: TopModel): string {
  const names = visible(m);
  const body = Math.max(1, m.height - 3);
  const logRows = m.logOpen ? Math.max(3, Math.floor(body / 2)) : 0;
  const listRows = Math.max(1, body - logRows);
  const head = COLUMNS.map(([h, w]) => fit(h, w)).join(' ') + ' REASON';
  const lines = [header(m), `${BOLD}${fit(head, m.width)}${RESET}`];
  const first = scroll(names, m.selected, listRows);
  for (let i = 0; i < listRows; i++) {
    const name = names[first + i];
    lines.push(name === undefined ? ' '.repeat(m.width) : row(m, name));
  }
  if (names.length === 0)
    lines[2] = fit(m.filter ? `no service matches /${m.filter}` : 'no services', m.width);
  if (m.logOpen) {
    const title = fit(`── log: ${m.selected ?? '(none)'} `, Math.min(m.width, 40)).trimEnd() + ' ';
    const rule = '─'.repeat(Math.max(0, m.width - [...title].length));
    lines.push(`${BOLD}${fit(title + rule, m.width)}${RESET}`);
    const tail = m.log.slice(-(logRows - 1));
    for (let i = 0; i < logRows - 1; i++) lines.push(fit(tail[i] ?? '', m.width));
  }
  lines.push(keyLine(m));
  return lines
    .slice(0, m.height)
    .map((l, i) => `${CSI}${i + 1};1H${l}${CSI}K`)
    .join('');
}
