#!/usr/bin/env node
// sminitd: parses its command line and runs the daemon (lib/daemon.ts).

import { resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runDaemon } from '../lib/daemon.js';
import { formatDuration, parseDuration, parseSize } from '../lib/duration.js';
import { DEFAULT_LOG_BYTES, MIN_LOG_BYTES } from '../lib/logs.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from '../lib/server.js';

/** zinit's -b counts lines; a bare number is taken that way, at this many bytes a line. */
const BYTES_PER_LINE = 256;

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
  .option('socket-group', {
    type: 'string',
    describe: 'let this group (name or gid) use the socket: mode 0660 instead of 0600',
  })
  .option('max-connections', {
    type: 'number',
    default: DEFAULT_MAX_CONNECTIONS,
    describe: 'connections open at once; past it a client is told so and closed',
  })
  .option('idle-timeout', {
    type: 'string',
    default: formatDuration(DEFAULT_IDLE_TIMEOUT_MS),
    describe:
      'close a connection that sends nothing, waits for nothing and follows nothing this long (0: never)',
  })
  .option('request-timeout', {
    type: 'string',
    default: formatDuration(DEFAULT_REQUEST_TIMEOUT_MS),
    describe: 'a request begun must arrive whole within this long, or the connection is closed',
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

function durationFlag(flag: string, raw: string, allowZero: boolean): number {
  const ms = parseDuration(/^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw);
  if (typeof ms === 'string' || (ms === 0 && !allowZero)) {
    process.stderr.write(
      `sminitd: --${flag} ${raw}: ${typeof ms === 'string' ? ms : 'must be more than 0'}\n`,
    );
    process.exit(2);
  }
  return ms;
}
const maxConnections = argv['max-connections'];
if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) {
  process.stderr.write(
    `sminitd: --max-connections ${maxConnections}: must be a whole number, at least 1\n`,
  );
  process.exit(2);
}

const code = await runDaemon({
  configDir: resolve(argv.config),
  socket: resolve(argv.socket),
  bufferBytes,
  container: argv.container,
  ...(argv['socket-group'] !== undefined ? { socketGroup: argv['socket-group'] } : {}),
  limits: {
    maxConnections,
    idleTimeoutMs: durationFlag('idle-timeout', argv['idle-timeout'], true),
    requestTimeoutMs: durationFlag('request-timeout', argv['request-timeout'], false),
  },
  http: {
    publicReads: argv['http-public-reads'],
    ...(argv.http !== undefined ? { address: argv.http } : {}),
    ...(argv['http-token-file'] !== undefined
      ? { tokenFile: resolve(argv['http-token-file']) }
      : {}),
  },
});
process.exit(code);
