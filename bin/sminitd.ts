#!/usr/bin/env node
// sminitd: parses its command line and runs the daemon (lib/daemon.ts).

import { resolve } from 'node:path';
import { runDaemon } from '../lib/daemon.js';
import { parseSize } from '../lib/duration.js';
import { DEFAULT_LOG_BYTES, MIN_LOG_BYTES } from '../lib/logs.js';

/** zinit's -b counts lines; a bare number is taken that way, at this many bytes a line. */
const BYTES_PER_LINE = 256;

interface Args {
  readonly config: string;
  readonly socket: string;
  readonly buffer?: string | undefined;
  readonly container: boolean;
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
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = argv[i + 1];
    if (a === '--container') container = true;
    else if (v === undefined || v.startsWith('-')) return null;
    else if (a === '-c' || a === '--config') config = v;
    else if (a === '-s' || a === '--socket') socket = v;
    else if (a === '-b' || a === '--buffer') buffer = v;
    else return null;
    if (a !== '--container') i++;
  }
  return { config, socket, buffer, container };
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
    .strict()
    .help()
    .version(false)
    .parseAsync();
}

const argv = quickArgs(process.argv.slice(2)) ?? (await yargsArgs());

let bufferBytes = DEFAULT_LOG_BYTES;
if (argv.buffer !== undefined) {
  const raw = argv.buffer.trim();
  const size = /^\d+$/.test(raw) ? Number(raw) * BYTES_PER_LINE : parseSize(raw);
  if (typeof size === 'string') {
    process.stderr.write(`sminitd: --buffer ${raw}: ${size}\n`);
    process.exit(2);
  }
  if (size < MIN_LOG_BYTES) {
    process.stderr.write(
      `sminitd: --buffer ${raw} is below the minimum; using ${MIN_LOG_BYTES} bytes\n`,
    );
  }
  bufferBytes = Math.max(MIN_LOG_BYTES, size);
}

const code = await runDaemon({
  configDir: resolve(argv.config),
  socket: resolve(argv.socket),
  bufferBytes,
  container: argv.container,
});
process.exit(code);
