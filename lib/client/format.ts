// What the CLI prints for people: the service table, one service's status,
// log lines (coloured on a terminal), process stats. Pure functions of the
// wire types, so what people read can be snapshot-tested; no I/O. For a
// terminal, what services wrote is shown with its control characters
// escaped, so a service cannot drive an admin's terminal.

import type {
  LimitsWire,
  LogLine,
  NotLoadedWire,
  NotifyWire,
  ProbeWire,
  ServiceStats,
  ServiceStatus,
  SminitEvent,
  StateKind,
} from '../api/wire.js';
import { count } from '../core/plural.js';

/**
 * Control characters (C0 but tab, DEL, C1) as `\xNN` / `\u009b`: an escape
 * sequence a service wrote reaches a terminal as text, not as a command.
 */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u00${code.toString(16)}`;
  });
}

const shown = (escape: boolean) => (s: string) => (escape ? escapeControls(s) : s);

export function formatDurationShort(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** Each cell after padding, for colour: escape codes must not count in a column's width. */
type Paint = (row: number, col: number, padded: string) => string;

function table(rows: readonly (readonly string[])[], paint?: Paint): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r, row) =>
      r
        .map((c, i) => {
          const padded = i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0);
          return paint ? paint(row, i, padded) : padded;
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Green for up, yellow for on the way (or waiting), red for down on its own; stopped stays plain. */
const STATE_COLOURS: Readonly<Record<StateKind, number | null>> = {
  running: 32,
  success: 32,
  starting: 33,
  backoff: 33,
  blocked: 33,
  stopping: 33,
  failed: 31,
  exited: 31,
  stopped: null,
  scheduled: null,
};

/** `text` (a state, perhaps padded) in its state's colour; the padding stays outside the codes. */
export function paintState(state: StateKind, text: string): string {
  const code = STATE_COLOURS[state];
  if (code === null) return text;
  const word = text.trimEnd();
  return `\x1b[${code}m${word}\x1b[0m${text.slice(word.length)}`;
}

export function formatList(
  services: readonly ServiceStatus[],
  escape = false,
  notLoaded: readonly NotLoadedWire[] = [],
  colour = false,
): string {
  if (services.length === 0 && notLoaded.length === 0) return 'no services tracked';
  const safe = shown(escape);
  const rows = [['NAME', 'STATE', 'READY', 'PID', 'UPTIME', 'RESTARTS', 'REASON']];
  for (const s of services) {
    rows.push([
      s.name,
      s.status,
      s.ready === null ? '-' : s.ready ? 'ready' : 'not ready',
      s.pid ? String(s.pid) : '-',
      s.uptime_ms === null ? '-' : formatDurationShort(s.uptime_ms),
      String(s.restarts),
      safe(s.reason),
    ]);
  }
  // What did not load, after what runs: the first problem says why (status NAME has them all).
  for (const n of notLoaded) {
    rows.push([n.name, 'not loaded', '-', '-', '-', '-', safe(n.why.split('\n')[0] ?? '')]);
  }
  const paint: Paint = (row, col, padded) => {
    const s = services[row - 1];
    return s && col === 1 ? paintState(s.status, padded) : padded;
  };
  return table(rows, colour ? paint : undefined);
}

export function formatStatus(
  s: ServiceStatus,
  recent: readonly LogLine[] = [],
  escape = false,
): string {
  const safe = shown(escape);
  const lines = [
    `name:      ${s.name}`,
    `state:     ${s.status} (${safe(s.reason)})`,
    `since:     ${s.since}`,
    `pid:       ${s.pid || '-'}`,
    `target:    ${s.target}`,
    `uptime:    ${s.uptime_ms === null ? '-' : formatDurationShort(s.uptime_ms)}`,
    `restarts:  ${s.restarts}${limitText(s)}`,
  ];
  if (s.ready !== null) lines.push(`ready:     ${s.ready ? 'yes' : 'no'}`);
  for (const p of s.probes) lines.push(probeLine(p, safe));
  if (s.notify) lines.push(`notify:    ${notifyText(s.notify, safe)}`);
  if (s.schedule) lines.push(`schedule:  ${scheduleText(s.schedule)}`);
  if (s.recovered) lines.push(`recovered: ${recoveredText(s.recovered)}`);
  if (s.last_exit) {
    const e = s.last_exit;
    const how = e.oom_kill ? e.description : e.signal ? `signal ${e.signal}` : `code ${e.code}`;
    lines.push(`last exit: ${how} (pid ${e.pid}) at ${e.at}`);
  }
  if (s.next_attempt) lines.push(`next try:  ${s.next_attempt}`);
  const deps = Object.entries(s.dependencies).map(([d, st]) => {
    const cond = s.conditions?.[d] ?? 'up';
    return cond === 'up' ? `${d} (${st})` : `${d} (${st}; needs ${cond})`;
  });
  lines.push(`after:     ${deps.length ? deps.join(', ') : '-'}`);
  lines.push(`file:      ${safe(s.file)}`);
  lines.push(...boxLines(s));
  if (recent.length > 0) {
    lines.push('recent log:');
    for (const l of recent) lines.push(`  ${formatLogLine(l, false, false, escape)}`);
  }
  return lines.join('\n');
}

const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

/** Who it runs as, its cgroup and what that holds, its limits: only the lines that say something. */
function boxLines(s: ServiceStatus): string[] {
  const lines: string[] = [];
  const u = s.user;
  if (u)
    lines.push(
      `user:      ${u.user} (uid ${u.uid}), group ${u.group} (gid ${u.gid}), groups ${u.groups.join(',') || '-'}`,
    );
  if (s.cgroup) lines.push(`cgroup:    ${s.cgroup}`);
  const g = s.usage;
  if (g) {
    lines.push(
      `usage:     ${count(g.processes, 'process', 'processes')}, ${count(g.tasks, 'task', 'tasks')}, ${mib(g.memory_usage)}, CPU ${(g.cpu_time_ms / 1000).toFixed(2)} s`,
    );
  }
  const limits = limitsText(s.limits);
  if (limits !== '') lines.push(`limits:    ${limits}`);
  return lines;
}

/** The limits in force, as a service file would write them. */
export function limitsText(l: LimitsWire): string {
  const parts: string[] = [];
  const put = (key: string, v: string | number | null): void => {
    if (v !== null) parts.push(`${key} ${v}`);
  };
  put('umask', l.umask);
  put('nice', l.nice);
  put('oom_score_adj', l.oom_score_adj);
  for (const [name, r] of Object.entries(l.rlimits)) {
    put(name, r.soft === r.hard ? String(r.soft) : `${r.soft}:${r.hard}`);
  }
  put('memory_max', l.memory_max);
  put('memory_high', l.memory_high);
  put('pids_max', l.pids_max);
  put('cpu_max', l.cpu_max);
  put('cpu_weight', l.cpu_weight);
  return parts.join(', ');
}

/** ` (3 within 1m; limit 5)` for a service with a restart limit. */
function limitText(s: ServiceStatus): string {
  const l = s.restart_limit;
  if (!l) return '';
  const cooldown = l.cooldown_ms === null ? '' : `, then again after ${shortMs(l.cooldown_ms)}`;
  return ` (${l.restarts_in_window} within ${shortMs(l.window_ms)}; limit ${l.count}${cooldown})`;
}

function shortMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : formatDurationShort(ms).replace(/^(\d+m)00s$/, '$1');
}

/** `readiness: http http://…/health: passing (HTTP 200 at T); 0 failures in a row; next T`. */
function probeLine(p: ProbeWire, safe: (s: string) => string): string {
  const head = `${`${p.role}:`.padEnd(10)} ${p.kind} ${safe(p.target)}`;
  const last = p.last ? ` (last: ${safe(p.last.reason)} at ${p.last.at})` : ' (not run yet)';
  const next = p.next_run ? `; next ${p.next_run}` : '';
  return `${head}: ${p.passing ? 'passing' : 'failing'}${last}; ${p.failures} failures in a row${next}`;
}

function notifyText(n: NotifyWire, safe: (s: string) => string): string {
  const parts = [n.mode === 'fd' ? `fd:${n.fd}` : 'systemd'];
  if (n.status !== null) parts.push(`status "${safe(n.status)}"`);
  if (n.main_pid !== null) parts.push(`main pid ${n.main_pid}`);
  if (n.reloading) parts.push('reloading');
  if (n.stopping) parts.push('stopping');
  if (n.watchdog_ms !== null)
    parts.push(
      `watchdog ${shortMs(n.watchdog_ms)}${n.watchdog_deadline ? ` (due by ${n.watchdog_deadline})` : ''}`,
    );
  return parts.join(', ');
}

/** `ended 3 processes left by an earlier sminitd (5963, at …)`. */
function recoveredText(r: NonNullable<ServiceStatus['recovered']>): string {
  const n = r.ended === 1 ? '1 process' : `${r.ended} processes`;
  const stuck = r.stuck > 0 ? `; ${r.stuck} would not end` : '';
  return `ended ${n} left by an earlier sminitd (sminitd ${r.daemons.join(', ')}, at ${r.at}${stuck})`;
}

function scheduleText(s: NonNullable<ServiceStatus['schedule']>): string {
  const zone = s.timezone === null ? '' : ` (${s.timezone})`;
  const next = s.next_run === null ? 'no next run' : `next run ${s.next_run}`;
  const last =
    s.last_run_succeeded === null
      ? ''
      : `; last run ${s.last_run_succeeded ? 'succeeded' : 'failed'}`;
  return `${s.cron}${zone}; ${next}${last}`;
}

// Bright, distinct colours for service names; red and dim are kept for stderr and events.
const NAME_COLOURS = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94];

function colourOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return NAME_COLOURS[h % NAME_COLOURS.length] as number;
}

/** One line as `TIME MARK NAME: TEXT`; `escape` for a terminal (see escapeControls). */
export function formatLogLine(l: LogLine, withName = true, colour = false, escape = false): string {
  const mark =
    l.stream === 'stdout' ? '+' : l.stream === 'stderr' ? '-' : l.stream === 'test' ? 't' : '*';
  const said = shown(escape)(l.text);
  if (!colour) return `${l.time} ${mark}${withName ? ` ${l.service}:` : ''} ${said}`;
  const paint = (code: number | string, s: string): string => `\x1b[${code}m${s}\x1b[0m`;
  const name = withName ? ` ${paint(colourOf(l.service), `${l.service}:`)}` : '';
  const markShown = l.stream === 'stderr' ? paint(31, mark) : mark;
  const text = l.stream === 'event' ? paint(2, said) : said;
  return `${paint(2, l.time)} ${markShown}${name} ${text}`;
}

/** Colour when asked, else on a terminal unless NO_COLOR is set (https://no-color.org). */
export function useColour(
  flag: boolean | null,
  isTTY: boolean,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (flag !== null) return flag;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return isTTY && env.TERM !== 'dumb';
}

export function formatStats(s: ServiceStats): string {
  const rows = [
    ['PID', 'MEMORY', 'CPU'],
    [String(s.pid), mib(s.memory_usage), `${s.cpu_usage}%`],
  ];
  for (const c of s.children) rows.push([`  ${c.pid}`, mib(c.memory_usage), `${c.cpu_usage}%`]);
  return `${s.name}\n${table(rows)}`;
}

/** What an event says, after its service's name: `running → backoff (exited with code 1; …)`. */
export function describeEvent(e: SminitEvent): string {
  switch (e.kind) {
    case 'daemon':
      return e.detail;
    case 'tracked':
      return `tracked (${e.file})`;
    case 'untracked':
      return 'untracked';
    case 'state':
      return `${e.from} → ${e.to}${e.pid ? `, pid ${e.pid}` : ''} (${e.reason})`;
    case 'exit': {
      const how = e.signal !== null ? `killed by ${e.signal}` : `exited with code ${e.code}`;
      const up = e.uptime_ms < 1000 ? `${e.uptime_ms} ms` : formatDurationShort(e.uptime_ms);
      return `run ${e.run} (pid ${e.pid}) ${how} after ${up}`;
    }
    case 'restart':
      return `restart ${e.restarts} in ${e.delay_ms} ms (${e.reason})`;
    case 'test':
      return e.passed
        ? `health test passed after ${count(e.failures, 'failure')}`
        : `health test failing: ${e.error ?? ''}`;
    case 'probe':
      return e.passed
        ? `${e.probe} probe passing again`
        : `${e.probe} probe failing: ${e.error ?? ''}`;
    case 'ready':
      return e.ready ? 'ready again' : `not ready: ${e.reason}`;
    case 'give_up': {
      const retry =
        e.retry_in_ms === null ? '' : `; trying again in ${formatDurationShort(e.retry_in_ms)}`;
      return `gave up: ${count(e.restarts, 'restart')} within ${formatDurationShort(e.window_ms)}${retry}`;
    }
  }
}

/** One event as a line: `TIME #CURSOR NAME: WHAT`; `escape` for a terminal. */
export function formatEvent(e: SminitEvent, colour = false, escape = false): string {
  const said = shown(escape)(describeEvent(e));
  const who = e.service ?? 'sminitd';
  if (!colour) return `${e.time} #${e.cursor} ${who}: ${said}`;
  const dim = (s: string): string => `\x1b[2m${s}\x1b[0m`;
  const name = `\x1b[${colourOf(who)}m${who}:\x1b[0m`;
  const text = e.kind === 'state' ? said.replace(`→ ${e.to}`, `→ ${paintState(e.to, e.to)}`) : said;
  return `${dim(e.time)} ${dim(`#${e.cursor}`)} ${name} ${text}`;
}
