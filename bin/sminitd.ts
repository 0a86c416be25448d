#!/usr/bin/env node
// sminitd: parses its command line and runs the daemon (lib/daemon.ts).

import { resolve } from 'node:path';
import { runDaemon } from '../lib/daemon.js';
import { DEFAULT_LOG_BYTES, MIN_LOG_BYTES, parseBufferOption } from '../lib/logs.js';

interface Args {
  readonly config: string;
  readonly socket: string;
  readonly buffer?: string | undefined;
  readonly container: boolean;
  readonly http?: string | undefined;
  readonly 'http-token-file'?: string | undefined;
  readonly 'http-public-reads': boolean;
}

const defaults = { config: '/etc/sminit', socket: process.env.SMINIT_SOCKET ?? '/run/sminit.sock' };

/**
 * The plain forms of the options, parsed by hand: importing yargs costs more
 * than Node's own start-up (~100 ms measured here), and every boot pays it.
 * Anything else (help, a typo, a form yargs accepts beyond these) returns
 * null and goes to yargs, which says what is wrong.
 */
function quickArgs(argv: readonly string[]): Args | null {
  let config = defaults.config;
  let socket = defaults.socket;
  let buffer: string | undefined;
  let container = false;
  let http: string | undefined;
  let tokenFile: string | undefined;
  let publicReads = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = argv[i + 1];
    if (a === '--container') container = true;
    else if (a === '--http-public-reads') publicReads = true;
    else if (v === undefined || v.startsWith('-')) return null;
    else if (a === '-c' || a === '--config') config = v;
    else if (a === '-s' || a === '--socket') socket = v;
    else if (a === '-b' || a === '--buffer') buffer = v;
    else if (a === '--http') http = v;
    else if (a === '--http-token-file') tokenFile = v;
    else return null;
    if (a !== '--container' && a !== '--http-public-reads') i++;
  }
  return {
    config,
    socket,
    buffer,
    container,
    http,
    'http-token-file': tokenFile,
    'http-public-reads': publicReads,
  };
}

async function yargsArgs(): Promise<Args> {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  return yargs(hideBin(process.argv))
    .scriptName('sminitd')
    .usage('$0 [options]\n\nRun the sminit service manager in the foreground.')
    .option('config', {
      alias: 'c',
      type: 'string',
      default: defaults.config,
      describe: 'directory of service files (NAME.yaml)',
    })
    .option('socket', {
      alias: 's',
      type: 'string',
      default: defaults.socket,
      describe: 'unix socket to serve (mode 0600)',
    })
    .option('buffer', {
      alias: 'b',
      type: 'string',
      describe: `log ring size: bytes with a unit (8MiB), or a bare number of lines as zinit takes it (min ${MIN_LOG_BYTES / 1024} KiB)`,
    })
    .option('container', {
      type: 'boolean',
      default: false,
      describe: 'container mode: SIGTERM, SIGINT and SIGHUP stop everything in order and exit',
    })
    .option('http', {
      type: 'string',
      describe:
        'also serve JSON-RPC over HTTP POST at ADDR (host:port; a bare port means 127.0.0.1); needs a bearer token',
    })
    .option('http-token-file', {
      type: 'string',
      describe:
        'file holding the HTTP bearer token (default: one generated into SOCKET.token, mode 0600)',
    })
    .option('http-public-reads', {
      type: 'boolean',
      default: false,
      describe: 'let HTTP calls that change nothing (list, status, logs) go without the token',
    })
    .strict()
    .help()
    .version(false)
    .parseAsync();
}

const argv = quickArgs(process.argv.slice(2)) ?? (await yargsArgs());

let bufferBytes = DEFAULT_LOG_BYTES;
let bufferLines: number | undefined;
if (argv.buffer !== undefined) {
  const parsed = parseBufferOption(String(argv.buffer));
  if ('error' in parsed) {
    process.stderr.write(`sminitd: --buffer ${String(argv.buffer)}: ${parsed.error}\n`);
    process.exit(2);
  }
  if (parsed.warning) process.stderr.write(`sminitd: --buffer: ${parsed.warning}\n`);
  bufferBytes = parsed.limits.maxBytes;
  if (Number.isFinite(parsed.limits.maxLines)) bufferLines = parsed.limits.maxLines;
}

const code = await runDaemon({
  configDir: resolve(argv.config),
  socket: resolve(argv.socket),
  bufferBytes,
  ...(bufferLines !== undefined ? { bufferLines } : {}),
  container: argv.container,
  http: {
    publicReads: argv['http-public-reads'],
    ...(argv.http !== undefined ? { address: argv.http } : {}),
    ...(argv['http-token-file'] !== undefined
      ? { tokenFile: resolve(argv['http-token-file']) }
      : {}),
  },
});
process.exit(code);
