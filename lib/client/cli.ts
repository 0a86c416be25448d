// The CLI's verbs: argument parsing (pure), output formatting (pure, so what
// people read can be snapshot-tested) and running a verb through the client.
// Imports nothing heavy at load time: `check` loads the validator on demand.

import { Client, ConnectError, DEFAULT_SOCKET, RpcError } from './client.js';
import {
  LOG_STREAMS,
  type LogLine,
  type LogQuery,
  type LogStream,
  type ServiceStats,
  type ServiceStatus,
} from '../api/wire.js';

export interface VerbSpec {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly usage: string;
  readonly describe: string;
  /** Positional arguments: required count and the most allowed (Infinity for a list). */
  readonly min: number;
  readonly max: number;
}

const verb = (
  name: string,
  usage: string,
  describe: string,
  min = 0,
  max = min,
  aliases: string[] = [],
): VerbSpec => ({
  name,
  aliases,
  usage,
  describe,
  min,
  max,
});

export const VERBS: readonly VerbSpec[] = [
  verb('list', 'list', 'every service: state, pid, uptime, restarts'),
  verb('status', 'status <name>', 'one service in detail', 1),
  verb('start', 'start <name>', 'start a service (once its dependencies are up)', 1),
  verb('stop', 'stop <name>', 'stop a service and wait until its processes are gone', 1),
  verb('restart', 'restart <name>', 'stop, start, and wait until it is up or say why not', 1),
  verb('add', 'add <name>', 'track NAME.yaml from the config directory and start it', 1, 1, [
    'monitor',
  ]),
  verb('delete', 'delete <name>', 'stop a service and untrack it', 1, 1, ['forget']),
  verb(
    'kill',
    'kill <name> [signal]',
    "send a signal (default SIGTERM) to the service's process group",
    1,
    2,
  ),
  verb(
    'log',
    'log [name..]',
    'follow the log (-s: snapshot and exit; -n N: last N lines; --since 10m|TIME; --stream stdout|stderr; --json)',
    0,
    Infinity,
  ),
  verb('stats', 'stats <name>', 'memory and CPU of the service and its processes', 1),
  verb('check', 'check [dir]', 'validate a config directory offline, like nginx -t', 0, 1),
  verb('init', 'init [-c DIR] [-b LINES] [--container]', "run the daemon, as zinit's init does"),
  verb('shutdown', 'shutdown', 'stop every service in order, then stop sminitd'),
  verb('reboot', 'reboot', 'stop every service in order, then reboot (or exit)'),
];

export interface CliArgs {
  readonly verb: string;
  readonly args: readonly string[];
  readonly socket: string;
  readonly json: boolean;
  readonly snapshot: boolean;
  readonly lines: number | null;
  /** No -s and no $SMINIT_SOCKET: zinit's socket is tried when sminit's is absent. */
  readonly defaultSocket: boolean;
  /** `log --since`: epoch ms. */
  readonly since: number | null;
  readonly stream: LogStream | null;
  /** `--color` / `--no-color`; null: colour on a terminal unless NO_COLOR is set. */
  readonly color: boolean | null;
}

/** zinit's socket: where zinit's CLI and libraries look by default. */
export const ZINIT_SOCKET = '/var/run/zinit.sock';
export const ZINIT_CONFIG = '/etc/zinit/';

/**
 * `sminit [-s SOCKET] [-d] init [-c DIR] [-b LINES] [--container] [sminitd options]`,
 * zinit's way of starting the daemon, as sminitd's arguments; null when the
 * verb is not init. zinit's defaults apply: /etc/zinit and /var/run/zinit.sock
 * (or $SMINIT_SOCKET), so a zinit setup starts unchanged.
 */
export function initArgs(argv: readonly string[], env = process.env): string[] | null {
  let socket: string | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-s' || a === '--socket') socket = argv[++i];
    else if (a.startsWith('--socket=')) socket = a.slice('--socket='.length);
    else if (a === '-d' || a === '--debug') continue;
    else break;
  }
  if (argv[i] !== 'init') return null;
  let config: string = ZINIT_CONFIG;
  const rest: string[] = [];
  for (i++; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-c' || a === '--config') config = argv[++i] ?? config;
    else if (a === '-s' || a === '--socket') socket = argv[++i];
    else if (a === '-d' || a === '--debug') continue;
    else rest.push(a);
  }
  return ['-c', config, '-s', socket ?? env.SMINIT_SOCKET ?? ZINIT_SOCKET, ...rest];
}

/**
 * `--since`: a duration back from now (`90s`, `10m`, `1h30m`, `2d`), a date
 * and time (`2025-01-31T10:00:00Z`, `2025-01-31 10:00`), or a time today
 * (`10:00`, `10:00:30`, local). Epoch ms, or a message saying why not.
 */
export function parseSince(value: string, now = Date.now()): number | string {
  const text = value.trim();
  const days = /^(\d+(?:\.\d+)?)d$/.exec(text);
  if (days) return now - Number(days[1]) * 86_400_000;
  const dur = /^(\d+(?:\.\d+)?(ms|s|m|h))+$/.test(text) ? durationMs(text) : null;
  if (dur !== null) return now - dur;
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (clock) {
    const d = new Date(now);
    d.setHours(Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0), 0);
    return d.getTime();
  }
  const date = Date.parse(/^\d{4}-\d{2}-\d{2} \d/.test(text) ? text.replace(' ', 'T') : text);
  if (!Number.isNaN(date)) return date;
  return `--since wants a duration (10m, 2h, 1d) or a time (10:00, 2025-01-31T10:00:00Z), got '${value}'`;
}

function durationMs(text: string): number {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    ms += Number(m[1]) * (unit[m[2] ?? ''] ?? 0);
  }
  return ms;
}

/** Parses argv (without node and script). Returns 'help' for help; throws a usage message. */
export function parseArgs(
  argv: readonly string[],
  env = process.env,
  now = Date.now(),
): CliArgs | 'help' {
  let socket = env.SMINIT_SOCKET ?? DEFAULT_SOCKET;
  let defaultSocket = env.SMINIT_SOCKET === undefined;
  let json = false;
  let snapshot = false;
  let lines: number | null = null;
  let since: number | null = null;
  let stream: LogStream | null = null;
  let color: boolean | null = null;
  const positional: string[] = [];
  // Before the verb, -s is always the socket; after `log`, it means snapshot.
  let verbName: string | undefined;
  for (let i = 0; i < argv.length && verbName === undefined; i++) {
    const a = argv[i] as string;
    if (['-s', '--socket', '-n', '--lines', '--since', '--stream'].includes(a)) i++;
    else if (!a.startsWith('-')) verbName = a;
  }
  const isLog = verbName === 'log';
  let seenVerb = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h' || a === '--help' || (a === 'help' && positional.length === 0)) return 'help';
    if (a === verbName) seenVerb = true;
    if (a === '--socket' || (a === '-s' && !(isLog && seenVerb))) {
      socket = value();
      defaultSocket = false;
    } else if (a.startsWith('--socket=')) {
      socket = a.slice('--socket='.length);
      defaultSocket = false;
    } else if (a === '-d' || a === '--debug')
      continue; // zinit's debug flag: nothing to do
    else if (a === '--json') json = true;
    else if (isLog && (a === '-s' || a === '--snapshot')) snapshot = true;
    else if (isLog && (a === '-n' || a === '--lines')) {
      const v = value();
      if (!/^\d+$/.test(v)) throw new Error(`-n wants a number of lines, got '${v}'`);
      lines = Number(v);
    } else if (isLog && a === '--since') {
      const v = parseSince(value(), now);
      if (typeof v === 'string') throw new Error(v);
      since = v;
    } else if (isLog && a === '--stream') {
      const v = value();
      if (!LOG_STREAMS.includes(v as LogStream)) {
        throw new Error(`--stream wants one of ${LOG_STREAMS.join(', ')}, got '${v}'`);
      }
      stream = v as LogStream;
    } else if (a === '--color' || a === '--colour') color = true;
    else if (a === '--no-color' || a === '--no-colour') color = false;
    else if (a.startsWith('-') && a !== '-') throw new Error(`unknown option '${a}'`);
    else positional.push(a);
  }
  const [name, ...rest] = positional;
  if (name === undefined) return 'help';
  const spec = VERBS.find((v) => v.name === name || v.aliases.includes(name));
  if (!spec) throw new Error(`unknown command '${name}'`);
  if (rest.length < spec.min || rest.length > spec.max) {
    throw new Error(`usage: sminit ${spec.usage}`);
  }
  return {
    verb: spec.name,
    args: rest,
    socket,
    json,
    snapshot,
    lines,
    defaultSocket,
    since,
    stream,
    color,
  };
}

// --- formatting --------------------------------------------------------------

export function formatDurationShort(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatList(services: readonly ServiceStatus[]): string {
  if (services.length === 0) return 'no services tracked';
  const rows = [['NAME', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'REASON']];
  for (const s of services) {
    rows.push([
      s.name,
      s.status,
      s.pid ? String(s.pid) : '-',
      s.uptime_ms === null ? '-' : formatDurationShort(s.uptime_ms),
      String(s.restarts),
      s.reason,
    ]);
  }
  return table(rows);
}

export function formatStatus(s: ServiceStatus, recent: readonly LogLine[] = []): string {
  const lines = [
    `name:      ${s.name}`,
    `state:     ${s.status} (${s.reason})`,
    `since:     ${s.since}`,
    `pid:       ${s.pid || '-'}`,
    `target:    ${s.target}`,
    `uptime:    ${s.uptime_ms === null ? '-' : formatDurationShort(s.uptime_ms)}`,
    `restarts:  ${s.restarts}`,
  ];
  if (s.last_exit) {
    const how = s.last_exit.signal ? `signal ${s.last_exit.signal}` : `code ${s.last_exit.code}`;
    lines.push(`last exit: ${how} (pid ${s.last_exit.pid}) at ${s.last_exit.at}`);
  }
  if (s.next_attempt) lines.push(`next try:  ${s.next_attempt}`);
  const deps = Object.entries(s.dependencies);
  lines.push(`after:     ${deps.length ? deps.map(([d, st]) => `${d} (${st})`).join(', ') : '-'}`);
  lines.push(`file:      ${s.file}`);
  if (recent.length > 0) {
    lines.push('recent log:');
    for (const l of recent) lines.push(`  ${formatLogLine(l, false)}`);
  }
  return lines.join('\n');
}

// Bright, distinct colours for service names; red and dim are kept for stderr and events.
const NAME_COLOURS = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94];

function colourOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return NAME_COLOURS[h % NAME_COLOURS.length] as number;
}

export function formatLogLine(l: LogLine, withName = true, colour = false): string {
  const mark =
    l.stream === 'stdout' ? '+' : l.stream === 'stderr' ? '-' : l.stream === 'test' ? 't' : '*';
  if (!colour) return `${l.time} ${mark}${withName ? ` ${l.service}:` : ''} ${l.text}`;
  const paint = (code: number | string, s: string): string => `\x1b[${code}m${s}\x1b[0m`;
  const name = withName ? ` ${paint(colourOf(l.service), `${l.service}:`)}` : '';
  const markShown = l.stream === 'stderr' ? paint(31, mark) : mark;
  const text = l.stream === 'event' ? paint(2, l.text) : l.text;
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
  const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
  const rows = [
    ['PID', 'MEMORY', 'CPU'],
    [String(s.pid), mb(s.memory_usage), `${s.cpu_usage}%`],
  ];
  for (const c of s.children) rows.push([`  ${c.pid}`, mb(c.memory_usage), `${c.cpu_usage}%`]);
  return `${s.name}\n${table(rows)}`;
}

// --- running -------------------------------------------------------------------

const out = (s: string): void => void process.stdout.write(s + '\n');
const json = (v: unknown): void => out(JSON.stringify(v, null, 2));

/** Runs a parsed command; returns the exit code. Every failure is one line on stderr. */
export async function runVerb(a: CliArgs): Promise<number> {
  if (a.verb === 'check') return check(a);
  let client: Client;
  try {
    client = await Client.connect(a.socket).catch((err: unknown) => {
      // Where only zinit's socket exists, a zinit setup is being driven by sminit's CLI.
      if (!a.defaultSocket || !(err instanceof ConnectError)) throw err;
      if (err.cause.code !== 'ENOENT' && err.cause.code !== 'ECONNREFUSED') throw err;
      return Client.connect(ZINIT_SOCKET).catch(() => Promise.reject(err));
    });
  } catch (err) {
    process.stderr.write(`sminit: ${err instanceof ConnectError ? err.message : String(err)}\n`);
    return 1;
  }
  try {
    return await talk(client, a);
  } catch (err) {
    const msg = err instanceof RpcError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`sminit: ${msg.replace(/\n/g, '\nsminit: ')}\n`);
    return 1;
  } finally {
    client.close();
  }
}

async function talk(c: Client, a: CliArgs): Promise<number> {
  const name = a.args[0] ?? '';
  switch (a.verb) {
    case 'list': {
      const all = await c.listFull();
      if (a.json) json(all);
      else out(formatList(all));
      return 0;
    }
    case 'status': {
      const s = await c.status(name);
      if (a.json) json(s);
      else out(formatStatus(s, (await c.readLogs({ names: [name], n: 5 })).lines));
      return 0;
    }
    case 'start':
      await c.start(name);
      return 0;
    case 'stop':
      await c.stop(name);
      return 0;
    case 'restart': {
      const s = await c.restart(name);
      if (a.json) json(s);
      const ok = s.status === 'running' || s.status === 'success' || s.status === 'starting';
      if (!ok) {
        process.stderr.write(
          `sminit: service '${name}' did not come up: ${s.status} (${s.reason})\n`,
        );
        return 1;
      }
      return 0;
    }
    case 'add':
      await c.monitor(name);
      return 0;
    case 'delete':
      await c.forget(name);
      return 0;
    case 'kill':
      await c.kill(name, a.args[1] ?? 'SIGTERM');
      return 0;
    case 'stats': {
      const s = await c.stats(name);
      out(a.json ? JSON.stringify(s, null, 2) : formatStats(s));
      return 0;
    }
    case 'shutdown':
      await c.shutdown();
      return 0;
    case 'reboot':
      await c.call('system_reboot');
      return 0;
    case 'log':
      return log(c, a);
    default:
      throw new Error(`unknown command '${a.verb}'`);
  }
}

async function log(c: Client, a: CliArgs): Promise<number> {
  const filter: LogQuery = {
    names: [...a.args],
    ...(a.since !== null ? { since: a.since } : {}),
    ...(a.stream !== null ? { stream: a.stream } : {}),
  };
  const query: LogQuery = { ...filter, ...(a.lines !== null ? { n: a.lines } : {}) };
  const colour = !a.json && useColour(a.color, process.stdout.isTTY === true);
  const w = new LineOut();
  const show = (l: LogLine): void =>
    w.line(a.json ? JSON.stringify(l) : formatLogLine(l, true, colour));
  const dropped = (n: number): void =>
    w.line(a.json ? JSON.stringify({ dropped: n }) : `-- ${n} lines dropped --`);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  if (a.snapshot) {
    // Page by page up to the cursor at the first read: a snapshot ends even while services write.
    let page = await c.readLogs(query);
    const end = page.end;
    for (;;) {
      if (page.dropped) dropped(page.dropped);
      for (const l of page.lines) show(l);
      await w.drained();
      if (page.next >= end) break;
      page = await c.readLogs({ ...filter, from: page.next, until: end });
    }
    await w.flush();
    return 0;
  }
  await c.followLogs(query, show, dropped);
  return new Promise((resolve) => {
    c.onClose(() => resolve(0));
    process.once('SIGINT', () => resolve(0));
  });
}

/**
 * stdout for many lines: gathered and written a tick's worth at a time, and
 * a reader that stops (`| head`) ends the command instead of an error.
 */
class LineOut {
  private buf: string[] = [];
  private scheduled = false;
  line(s: string): void {
    this.buf.push(s);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }
  flush(): Promise<void> {
    this.scheduled = false;
    if (this.buf.length === 0) return Promise.resolve();
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    return new Promise((resolve) => {
      if (!process.stdout.write(text)) process.stdout.once('drain', resolve);
      else resolve();
    });
  }
  /** Wait until what is queued reached stdout (flow control for snapshots). */
  drained(): Promise<void> {
    return this.flush();
  }
}

async function check(a: CliArgs): Promise<number> {
  const { checkDir } = await import('../config/check.js');
  const dir = a.args[0] ?? process.env.SMINIT_CONFIG ?? '/etc/sminit';
  const report = await checkDir(dir);
  for (const line of report.lines) (report.ok ? process.stdout : process.stderr).write(line + '\n');
  return report.ok ? 0 : 1;
}
