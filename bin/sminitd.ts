#!/usr/bin/env node
// sminitd: parses its command line and runs the daemon (lib/daemon.ts).

import { resolve } from 'node:path';
import { runDaemon } from '../lib/daemon/daemon.js';
import { formatDuration, parseDuration } from '../lib/core/duration.js';
import { DEFAULT_LOG_BYTES, MIN_LOG_BYTES, parseBufferOption } from '../lib/logs/limits.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from '../lib/transport/socket.js';

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

type Name = string;
type Args = Partial<Record<Name, string | boolean>>;

/**
 * The plain forms (`-c DIR`, `--socket PATH`, `--container`), parsed by hand:
 * importing yargs costs more than Node's own start-up (~100 ms measured
 * here), and every boot would pay it. Anything else (help, a typo, `--x=y`)
 * returns null and goes to yargs, which says what is wrong.
 */
function quickArgs(argv: readonly string[]): Args | null {
  const byFlag = new Map<string, Name>();
  for (const [name, o] of Object.entries(OPTIONS) as [Name, Option][]) {
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

async function yargsArgs(): Promise<Args> {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  let y = yargs(hideBin(process.argv))
    .scriptName('sminitd')
    .usage('$0 [options]\n\nRun the sminit service manager in the foreground.');
  for (const [name, o] of Object.entries(OPTIONS) as [Name, Option][]) {
    y = y.option(name, { ...o, ...(o.alias ? { alias: o.alias } : {}) });
  }
  return (await y.strict().help().version(false).parseAsync()) as Args;
}

function fail(message: string): never {
  process.stderr.write(`sminitd: ${message}\n`);
  process.exit(2);
}

const given = quickArgs(process.argv.slice(2)) ?? (await yargsArgs());
const str = (name: Name): string | undefined => {
  const v = given[name] ?? OPTIONS[name]?.default;
  return typeof v === 'string' ? v : undefined;
};
const bool = (name: Name): boolean => (given[name] ?? OPTIONS[name]?.default) === true;

function durationFlag(name: Name, allowZero: boolean): number {
  const raw = str(name) ?? '';
  const ms = parseDuration(/^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw);
  if (typeof ms === 'string') fail(`--${name} ${raw}: ${ms}`);
  if (ms === 0 && !allowZero) fail(`--${name} ${raw}: must be more than 0`);
  return ms;
}

let bufferBytes = DEFAULT_LOG_BYTES;
let bufferLines: number | undefined;
const buffer = str('buffer');
if (buffer !== undefined) {
  const parsed = parseBufferOption(buffer);
  if ('error' in parsed) fail(`--buffer ${buffer}: ${parsed.error}`);
  if (parsed.warning) process.stderr.write(`sminitd: --buffer: ${parsed.warning}\n`);
  bufferBytes = parsed.limits.maxBytes;
  if (Number.isFinite(parsed.limits.maxLines)) bufferLines = parsed.limits.maxLines;
}

const maxConnections = Number(str('max-connections'));
if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) {
  fail(`--max-connections ${str('max-connections')}: must be a whole number, at least 1`);
}

const socketGroup = str('socket-group');
const http = str('http');
const tokenFile = str('http-token-file');
const code = await runDaemon({
  configDir: resolve(str('config') ?? '.'),
  socket: resolve(str('socket') ?? '.'),
  bufferBytes,
  ...(bufferLines !== undefined ? { bufferLines } : {}),
  container: bool('container'),
  ...(socketGroup !== undefined ? { socketGroup } : {}),
  limits: {
    maxConnections,
    idleTimeoutMs: durationFlag('idle-timeout', true),
    requestTimeoutMs: durationFlag('request-timeout', false),
  },
  http: {
    publicReads: bool('http-public-reads'),
    ...(http !== undefined ? { address: http } : {}),
    ...(tokenFile !== undefined ? { tokenFile: resolve(tokenFile) } : {}),
  },
});
process.exit(code);
