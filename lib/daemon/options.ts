// sminitd's command line: every option once (the table), the plain forms
// parsed by hand, yargs only for help, --version and errors, and the checks that turn
// the values into the daemon's options. Writes nothing and exits nothing: it
// says what to do, and bin/sminitd.ts does it.

import { resolve } from 'node:path';
import type { DaemonOptions } from './daemon.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { messageOf } from '../core/errors.js';
import { DEFAULT_LOG_BYTES, MIN_LOG_BYTES, parseBufferOption } from '../logs/limits.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from '../transport/socket.js';
import { parseAddress } from '../transport/http.js';
import { VERSION } from '../api/version.js';

interface Option {
  readonly alias?: string;
  readonly type: 'string' | 'boolean';
  readonly default?: string | boolean;
  readonly describe: string;
}

/** Every option, once: the hand parser and yargs (help, errors) both read this table. */
const OPTIONS: Readonly<Record<string, Option>> = {
  config: {
    alias: 'c',
    type: 'string',
    default: '/etc/sminit',
    describe: 'directory of service files (NAME.yaml)',
  },
  socket: {
    alias: 's',
    type: 'string',
    default: process.env.SMINIT_SOCKET ?? '/run/sminit.sock',
    describe: 'unix socket to serve (mode 0600)',
  },
  buffer: {
    alias: 'b',
    type: 'string',
    describe: `log ring size: bytes with a unit (8MiB), or a bare number of lines as zinit takes it (min ${MIN_LOG_BYTES / 1024} KiB)`,
  },
  container: {
    type: 'boolean',
    default: false,
    describe: 'container mode: SIGTERM, SIGINT and SIGHUP stop everything in order and exit',
  },
  'socket-group': {
    type: 'string',
    describe: 'let this group (name or gid) use the socket: mode 0660 instead of 0600',
  },
  'max-connections': {
    type: 'string',
    default: String(DEFAULT_MAX_CONNECTIONS),
    describe: 'connections open at once; past it a client is told so and closed',
  },
  'idle-timeout': {
    type: 'string',
    default: formatDuration(DEFAULT_IDLE_TIMEOUT_MS),
    describe:
      'close a connection that sends nothing, waits for nothing and follows nothing this long (0: never)',
  },
  'request-timeout': {
    type: 'string',
    default: formatDuration(DEFAULT_REQUEST_TIMEOUT_MS),
    describe: 'a request begun must arrive whole within this long, or the connection is closed',
  },
  http: {
    type: 'string',
    describe:
      'also serve JSON-RPC over HTTP POST at ADDR (host:port; a bare port means 127.0.0.1); needs a bearer token',
  },
  'http-token-file': {
    type: 'string',
    describe:
      'file holding the HTTP bearer token (default: one generated into SOCKET.token, mode 0600)',
  },
  'http-public-reads': {
    type: 'boolean',
    default: false,
    describe: 'let HTTP calls that change nothing (list, status, logs) go without the token',
  },
};

type Args = Partial<Record<string, string | boolean>>;

/** What the command line asks for: run the daemon, or print and exit. */
export type CommandLine =
  | {
      readonly kind: 'run';
      readonly options: DaemonOptions;
      /** Lines for stderr before the daemon starts (a value raised to its minimum). */
      readonly warnings: readonly string[];
    }
  | {
      readonly kind: 'exit';
      readonly code: number;
      readonly stdout?: string;
      readonly stderr?: string;
    };

type Exit = Extract<CommandLine, { kind: 'exit' }>;

/** The exit code for a command line sminitd cannot take, whatever is wrong with it. */
export const USAGE = 2;

/** sminitd's arguments (without node and the script) → what to do. */
export async function readCommandLine(argv: readonly string[]): Promise<CommandLine> {
  const quick = quickArgs(argv);
  const read = quick ? { args: quick } : await yargsArgs(argv);
  return 'kind' in read ? read : check(read.args);
}

/**
 * The plain forms (`-c DIR`, `--socket PATH`, `--container`), parsed by hand:
 * importing yargs costs more than Node's own start-up (~100 ms measured
 * here), and every boot would pay it. Anything else (help, a typo, `--x=y`)
 * returns null and goes to yargs, which says what is wrong.
 */
function quickArgs(argv: readonly string[]): Args | null {
  const byFlag = new Map<string, string>();
  for (const [name, o] of Object.entries(OPTIONS)) {
    byFlag.set(`--${name}`, name);
    if (o.alias) byFlag.set(`-${o.alias}`, name);
  }
  const out: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const name = byFlag.get(argv[i] as string);
    if (name === undefined) return null;
    if (OPTIONS[name]?.type === 'boolean') {
      out[name] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined || v.startsWith('-')) return null;
    out[name] = v;
  }
  return out;
}

/** The forms the hand parser leaves: yargs reads them, or writes the help or the error. */
async function yargsArgs(argv: readonly string[]): Promise<{ readonly args: Args } | Exit> {
  const { default: yargs } = await import('yargs');
  let y = yargs([...argv])
    .scriptName('sminitd')
    .usage('$0 [options]\n\nRun the sminit service manager in the foreground.');
  for (const [name, o] of Object.entries(OPTIONS)) {
    // An option given without its value is an error, not an empty string.
    const requiresArg = o.type === 'string';
    y = y.option(name, { ...o, requiresArg, ...(o.alias ? { alias: o.alias } : {}) });
  }
  y = y.strict().help().version(VERSION);
  return new Promise((done) => {
    void y.parse([...argv], {}, (err, args, output) => {
      if (err) done({ kind: 'exit', code: USAGE, stderr: output + '\n' });
      else if (args.help === true || args.version === true) {
        done({ kind: 'exit', code: 0, stdout: output + '\n' });
      } else done({ args: args as Args });
    });
  });
}

/** A value the daemon cannot take. */
class BadOption extends Error {}

/** The values given, or the table's defaults. */
class Given {
  constructor(private readonly args: Args) {}

  str(name: string): string | undefined {
    const v = this.args[name] ?? OPTIONS[name]?.default;
    return typeof v === 'string' ? v : undefined;
  }

  bool(name: string): boolean {
    return (this.args[name] ?? OPTIONS[name]?.default) === true;
  }
}

/** Every value checked, in the order of the table; the first that is wrong is the answer. */
function check(args: Args): CommandLine {
  const g = new Given(args);
  const warnings: string[] = [];
  try {
    const socketGroup = g.str('socket-group');
    const options: DaemonOptions = {
      configDir: resolve(g.str('config') ?? '.'),
      socket: resolve(g.str('socket') ?? '.'),
      ...bufferOption(g.str('buffer'), warnings),
      container: g.bool('container'),
      ...(socketGroup !== undefined ? { socketGroup } : {}),
      limits: {
        maxConnections: countOption(g, 'max-connections'),
        idleTimeoutMs: durationOption(g, 'idle-timeout', true),
        requestTimeoutMs: durationOption(g, 'request-timeout', false),
      },
      http: httpOptions(g),
    };
    return { kind: 'run', options, warnings };
  } catch (err) {
    if (!(err instanceof BadOption)) throw err;
    const lines = [...warnings, err.message].map((l) => `sminitd: ${l}\n`);
    return { kind: 'exit', code: USAGE, stderr: lines.join('') };
  }
}

function bufferOption(
  raw: string | undefined,
  warnings: string[],
): Pick<DaemonOptions, 'bufferBytes' | 'bufferLines'> {
  if (raw === undefined) return { bufferBytes: DEFAULT_LOG_BYTES };
  const parsed = parseBufferOption(raw);
  if ('error' in parsed) throw new BadOption(`--buffer ${raw}: ${parsed.error}`);
  if (parsed.warning) warnings.push(`--buffer: ${parsed.warning}`);
  const { maxBytes, maxLines } = parsed.limits;
  return { bufferBytes: maxBytes, ...(Number.isFinite(maxLines) ? { bufferLines: maxLines } : {}) };
}

function countOption(g: Given, name: string): number {
  const n = Number(g.str(name));
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new BadOption(`--${name} ${g.str(name)}: must be a whole number, at least 1`);
  }
  return n;
}

function durationOption(g: Given, name: string, allowZero: boolean): number {
  const raw = g.str(name) ?? '';
  const ms = parseDuration(/^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw);
  if (typeof ms === 'string') throw new BadOption(`--${name} ${raw}: ${ms}`);
  if (ms === 0 && !allowZero) throw new BadOption(`--${name} ${raw}: must be more than 0`);
  return ms;
}

function httpOptions(g: Given): NonNullable<DaemonOptions['http']> {
  const address = g.str('http');
  const tokenFile = g.str('http-token-file');
  if (address !== undefined) {
    // Its form now; whether it can be bound is known only when it is.
    try {
      parseAddress(address);
    } catch (err) {
      throw new BadOption(`--http ${address}: ${messageOf(err)}`);
    }
  }
  return {
    publicReads: g.bool('http-public-reads'),
    ...(address !== undefined ? { address } : {}),
    ...(tokenFile !== undefined ? { tokenFile: resolve(tokenFile) } : {}),
  };
}
