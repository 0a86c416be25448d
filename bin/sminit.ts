#!/usr/bin/env node
// sminit: the command line. zinit's `init` hands this process to sminitd;
// every other command is lib/client/cli.ts's. The common path loads only the
// client (net and JSON); yargs is loaded for help and usage errors, the
// validator for `check`. The build bundles this file and that path into one
// CommonJS file, dist/bin/sminit.cjs (build/cli.ts), the `sminit` users run.

import { initArgs, initHelp } from '../lib/client/args.js';
import { main } from '../lib/client/cli.js';

/**
 * Done: exit now rather than wait for the event loop to wind down, once
 * stdout and stderr hold nothing unwritten (to a pipe, file or terminal
 * they are written synchronously, so they do not).
 */
function exit(code: number): void {
  process.exitCode = code;
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit();
}

// zinit's `init`: become the daemon, in this process (it may be PID 1).
const init = initArgs(process.argv.slice(2));
if (init === 'help') {
  process.stdout.write(initHelp() + '\n');
} else if (init) {
  const sminitd = new URL('./sminitd.js', import.meta.url).pathname;
  process.argv = [process.argv[0] ?? process.execPath, sminitd, ...init];
  void import('./sminitd.js');
} else {
  void main(process.argv.slice(2)).then(exit);
}
