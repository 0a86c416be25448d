#!/usr/bin/env node
// sminitd: parses its command line and runs the daemon (lib/daemon.ts).

import { resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runDaemon } from '../lib/daemon.js';
import { DEFAULT_LOG_BYTES, MIN_LOG_BYTES, parseBufferOption } from '../lib/logs.js';

const argv = await yargs(hideBin(process.argv))
  .scriptName('sminitd')
  .usage('$0 [options]\n\nRun the sminit service manager in the foreground.')
  .option('config', {
    alias: 'c',
    type: 'string',
    default: '/etc/sminit',
    describe: 'directory of service files (NAME.yaml)',
  })
  .option('socket', {
    alias: 's',
    type: 'string',
    default: process.env.SMINIT_SOCKET ?? '/run/sminit.sock',
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
