// The CLI's command line as data: the verbs (name, usage, arity), which one
// was asked for, its arguments, the socket and the options, zinit's
// spellings included. Pure: reads argv and the environment given to it;
// connects to nothing and prints nothing.

import { DEFAULT_SOCKET } from './client.js';
import { LOG_STREAMS, type LogStream } from '../core/logline.js';
import { parseSince } from './since.js';
import { parseDuration } from '../core/duration.js';

export interface VerbSpec {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly usage: string;
  readonly describe: string;
  /** Positional arguments: required count and the most allowed (Infinity for a list). */
  readonly min: number;
  readonly max: number;
  /** Takes several names and patterns, or `--all` instead of them. */
  readonly many?: boolean;
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

/** A verb over one service or many: names, quoted shell-style patterns, or --all. */
const manyVerb = (
  name: string,
  describe: string,
  aliases: string[] = [],
  options = '',
): VerbSpec => ({
  ...verb(name, `${name} <name|pattern>... | --all${options}`, describe, 1, Infinity, aliases),
  many: true,
});

export const VERBS: readonly VerbSpec[] = [
  verb('list', 'list', 'every service: state, ready or not, pid, uptime, restarts'),
  manyVerb('status', 'services in detail: probes, notify, limits, schedule, user, cgroup'),
  manyVerb('start', 'start services (each once its dependencies are up)'),
  manyVerb('stop', 'stop services, dependants first, and wait until their processes are gone'),
  manyVerb(
    'restart',
    'stop, start, and wait until each is up (at most --timeout, default 60s) or say why not',
    [],
    ' [--timeout DURATION]',
  ),
  verb('add', 'add <name>', 'track NAME.yaml from the config directory and start it', 1, 1, [
    'monitor',
  ]),
  manyVerb('delete', 'stop services and untrack them', ['forget']),
  {
    ...verb(
      'kill',
      'kill <name|pattern>... [signal] | --all [signal]',
      "send a signal (default SIGTERM) to each service's process group",
      1,
      Infinity,
    ),
    many: true,
  },
  verb(
    'reload',
    'reload [--dry-run]',
    'read the config directory again and apply what changed, after showing the plan (--dry-run: only show it)',
  ),
  verb('scale', 'scale <name> <replicas>', 'run this many replicas of a replicated service', 2),
  verb(
    'log',
    'log [name..]',
    'follow the log (-s: snapshot and exit; -n N: last N lines; --since 10m|TIME; --stream stdout|stderr|test|event, repeatable; --json)',
    0,
    Infinity,
  ),
  verb(
    'stats',
    'stats <name>',
    'memory and CPU of the service and its processes (its whole cgroup)',
    1,
  ),
  verb(
    'events',
    'events [name..]',
    'the event history (--since CURSOR|10m|TIME; -n N: the last N), then exit; -f: follow it; --json: one event a line',
    0,
    Infinity,
  ),
  verb(
    'top',
    'top',
    'a full-screen live view: arrows select; s start, x stop, r restart, l log, / filter, q quit',
  ),
  verb(
    'graph',
    'graph [--format dot|mermaid|json]',
    "the dependency graph with each service's state and each edge's condition (default: dot)",
  ),
  verb(
    'why',
    'why <name>',
    'why a service is in its state, down to the root cause; the critical chain of its last start',
    1,
  ),
  verb(
    'check',
    'check [dir|file]',
    'validate a config directory, or one service file, offline (like nginx -t)',
    0,
    1,
  ),
  verb('init', 'init [-c DIR] [-b LINES] [--container]', "run the daemon, as zinit's init does"),
  verb(
    'shutdown',
    'shutdown [--no-wait]',
    'stop every service in order, then stop sminitd; returns once it has (--no-wait: at once)',
  ),
  verb(
    'reboot',
    'reboot [--no-wait]',
    'stop every service in order, then reboot (or exit); returns once stopped (--no-wait: at once)',
  ),
];

export function verbNamed(name: string): VerbSpec | undefined {
  return VERBS.find((v) => v.name === name || v.aliases.includes(name));
}

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
  /** `log --stream`, each one given; empty: every stream. */
  readonly streams: readonly LogStream[];
  /** `--color` / `--no-color`; null: colour on a terminal unless NO_COLOR is set. */
  readonly color: boolean | null;
  /** `shutdown` and `reboot` return once sminitd is gone, unless `--no-wait`. */
  readonly wait: boolean;
  /** `events -f`: follow rather than read and exit. */
  readonly follow: boolean;
  /** `events --since CURSOR`: only events after this cursor. */
  readonly after: number | null;
  /** `graph --format`. */
  readonly format: GraphFormat;
  /** `--all`: every tracked service, for the verbs over many. */
  readonly all: boolean;
  /** `reload --dry-run`. */
  readonly dryRun: boolean;
  /** `restart --timeout`: how long to wait for the service to come up, ms; null: the daemon's default. */
  readonly timeoutMs: number | null;
}

export const GRAPH_FORMATS = ['dot', 'mermaid', 'json'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** A command line that does not say what to do: shown as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `sminit init --help`: init's flags with the defaults init uses, which are zinit's. */
export function initHelp(): string {
  return [
    'sminit init [-c DIR] [-s SOCKET] [-b LINES] [--container] [sminitd options]',
    '',
    "Run sminitd in this process, with zinit's flags and defaults.",
    '',
    `  -c, --config DIR    service files (default ${ZINIT_CONFIG})`,
    `  -s, --socket PATH   the socket (default $SMINIT_SOCKET or ${ZINIT_SOCKET})`,
    '  -b, --buffer LINES  the log ring: a number of lines, as zinit takes it, or a size (16MiB)',
    '  --container         stop everything on SIGTERM, SIGINT or SIGHUP, then exit',
    '',
    'Every other option is passed to sminitd as it is (see sminitd --help).',
  ].join('\n');
}

/** zinit's socket: where zinit's CLI and libraries look by default. */
export const ZINIT_SOCKET = '/var/run/zinit.sock';
export const ZINIT_CONFIG = '/etc/zinit/';

/**
 * `sminit [-s SOCKET] [-d] init [-c DIR] [-b LINES] [--container] [sminitd options]`,
 * zinit's way of starting the daemon, as sminitd's arguments; 'help' for
 * init's own help; null when the verb is not init. zinit's defaults apply:
 * /etc/zinit and /var/run/zinit.sock (or $SMINIT_SOCKET), so a zinit setup
 * starts unchanged.
 */
export function initArgs(argv: readonly string[], env = process.env): string[] | 'help' | null {
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
    else if (a === '-h' || a === '--help') return 'help';
    else rest.push(a);
  }
  return ['-c', config, '-s', socket ?? env.SMINIT_SOCKET ?? ZINIT_SOCKET, ...rest];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Options = Mutable<Omit<CliArgs, 'verb' | 'args'>>;

/** Options that take a value: skipped when looking for the verb. */
const VALUED = ['-s', '--socket', '-n', '--lines', '--since', '--stream', '--format', '--timeout'];

/** One pass over argv: where it is, what it found. */
class Scan {
  i = 0;
  readonly positional: string[] = [];
  /** Before the verb, -s is always the socket; after `log`, it means snapshot. */
  readonly verbName: string | undefined;
  seenVerb = false;
  readonly opts: Options;

  constructor(
    readonly argv: readonly string[],
    env: NodeJS.ProcessEnv,
    readonly now: number,
  ) {
    this.verbName = findVerb(argv);
    this.opts = {
      socket: env.SMINIT_SOCKET ?? DEFAULT_SOCKET,
      defaultSocket: env.SMINIT_SOCKET === undefined,
      json: false,
      snapshot: false,
      lines: null,
      since: null,
      streams: [],
      color: null,
      wait: true,
      follow: false,
      after: null,
      format: 'dot',
      all: false,
      dryRun: false,
      timeoutMs: null,
    };
  }

  get isLog(): boolean {
    return this.verbName === 'log';
  }

  get isEvents(): boolean {
    return this.verbName === 'events';
  }

  /** The option's value: the next argument. */
  value(option: string): string {
    const v = this.argv[++this.i];
    if (v === undefined) throw new UsageError(`${option} needs a value`);
    return v;
  }
}

function findVerb(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (VALUED.includes(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/**
 * Parses argv (without node and script): the command, or 'help' when help
 * was asked for, or 'usage' when no command was given; throws a UsageError.
 */
export function parseArgs(
  argv: readonly string[],
  env = process.env,
  now = Date.now(),
): CliArgs | 'help' | 'usage' | 'version' {
  const s = new Scan(argv, env, now);
  for (; s.i < argv.length; s.i++) {
    const a = argv[s.i] as string;
    if (a === '--') {
      s.positional.push(...argv.slice(s.i + 1));
      break;
    }
    if (a === '-h' || a === '--help' || (a === 'help' && s.positional.length === 0)) return 'help';
    if (a === '--version') return 'version';
    if (a === s.verbName) s.seenVerb = true;
    if (commonOption(s, a) || verbOption(s, a) || manyOption(s, a)) continue;
    if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option '${a}'`);
    s.positional.push(a);
  }
  return verbAndArgs(s);
}

/** Options of every verb; true when `a` was one. */
function commonOption(s: Scan, a: string): boolean {
  const o = s.opts;
  if (a === '--socket' || (a === '-s' && !(s.isLog && s.seenVerb))) {
    o.socket = s.value(a);
    o.defaultSocket = false;
  } else if (a.startsWith('--socket=')) {
    o.socket = a.slice('--socket='.length);
    o.defaultSocket = false;
  } else if (a === '--json') o.json = true;
  else if (a === '--color' || a === '--colour') o.color = true;
  else if (a === '--no-color' || a === '--no-colour') o.color = false;
  // zinit's debug flag: nothing to do.
  else if (a !== '-d' && a !== '--debug') return false;
  return true;
}

/** Options of `log`; true when `a` was one. */
function logOption(s: Scan, a: string): boolean {
  const o = s.opts;
  if (a === '-s' || a === '--snapshot') o.snapshot = true;
  else if (a === '-n' || a === '--lines') {
    const v = s.value(a);
    if (!/^\d+$/.test(v)) throw new UsageError(`-n wants a number of lines, got '${v}'`);
    o.lines = Number(v);
  } else if (a === '--since') {
    const v = parseSince(s.value(a), s.now);
    if (typeof v === 'string') throw new UsageError(v);
    o.since = v;
  } else if (a === '--stream') {
    const v = s.value(a);
    if (!LOG_STREAMS.includes(v as LogStream)) {
      throw new UsageError(`--stream wants one of ${LOG_STREAMS.join(', ')}, got '${v}'`);
    }
    if (!o.streams.includes(v as LogStream)) o.streams = [...o.streams, v as LogStream];
  } else return false;
  return true;
}

/** An option of the verb being parsed; true when `a` was one. */
function verbOption(s: Scan, a: string): boolean {
  if (s.isLog) return logOption(s, a);
  if (s.isEvents) return eventsOption(s, a);
  if (s.verbName === 'graph') return graphOption(s, a);
  return stopOption(s, a) || restartOption(s, a);
}

/** Options of `events`: -f, -n and a --since that also takes a cursor. */
function eventsOption(s: Scan, a: string): boolean {
  const o = s.opts;
  if (a === '-f' || a === '--follow') o.follow = true;
  else if (a === '-n' || a === '--lines') {
    const v = s.value(a);
    if (!/^\d+$/.test(v)) throw new UsageError(`-n wants a number of events, got '${v}'`);
    o.lines = Number(v);
  } else if (a === '--since') {
    const v = s.value(a);
    // A bare number is a cursor (the last one seen); anything else a time.
    if (/^\d+$/.test(v.trim())) o.after = Number(v);
    else {
      const at = parseSince(v, s.now);
      if (typeof at === 'string') throw new UsageError(`${at}, or an event cursor`);
      o.since = at;
    }
  } else return false;
  return true;
}

function graphOption(s: Scan, a: string): boolean {
  if (a !== '--format') return false;
  const v = s.value(a);
  if (!(GRAPH_FORMATS as readonly string[]).includes(v)) {
    throw new UsageError(`--format wants one of ${GRAPH_FORMATS.join(', ')}, got '${v}'`);
  }
  s.opts.format = v as GraphFormat;
  return true;
}

/** `--timeout` of `restart`; true when `a` was it. */
function restartOption(s: Scan, a: string): boolean {
  if (a !== '--timeout' || s.verbName !== 'restart') return false;
  const v = s.value(a);
  // On a command line a bare number is seconds, as in a service file.
  const ms = parseDuration(/^\d+(\.\d+)?$/.test(v) ? Number(v) : v, true);
  if (typeof ms === 'string') throw new UsageError(`--timeout ${v}: ${ms}`);
  s.opts.timeoutMs = ms;
  return true;
}

/** `--no-wait` of `shutdown` and `reboot`; true when `a` was it. */
function stopOption(s: Scan, a: string): boolean {
  if (a !== '--no-wait' || (s.verbName !== 'shutdown' && s.verbName !== 'reboot')) return false;
  s.opts.wait = false;
  return true;
}

/** `--all` of the verbs over many, `--dry-run` of reload; true when `a` was one. */
function manyOption(s: Scan, a: string): boolean {
  const spec = s.verbName === undefined ? undefined : verbNamed(s.verbName);
  if (a === '--all' && spec?.many) s.opts.all = true;
  else if (a === '--dry-run' && spec?.name === 'reload') s.opts.dryRun = true;
  else return false;
  return true;
}

function verbAndArgs(s: Scan): CliArgs | 'usage' {
  const [name, ...rest] = s.positional;
  if (name === undefined) return 'usage';
  const spec = verbNamed(name);
  if (!spec) throw new UsageError(`unknown command '${name}'`);
  // With --all, names are not given (kill still takes its signal).
  const [min, max] = s.opts.all ? [0, spec.name === 'kill' ? 1 : 0] : [spec.min, spec.max];
  // A signal goes last: one among the names is a mistyped command line.
  const misplaced = spec.name === 'kill' && rest.slice(0, -1).some((r) => /^SIG[A-Z0-9]+$/.test(r));
  if (rest.length < min || rest.length > max || misplaced) {
    throw new UsageError(`usage: sminit ${spec.usage}`);
  }
  return { verb: spec.name, args: rest, ...s.opts };
}
