#!/usr/bin/env node
// sminit: the command line. zinit's `init` hands this process to sminitd;
// every other command is lib/client/cli.ts's. The common path loads only the
// client (net and JSON); yargs is loaded for help and usage errors, the
// validator for `check`.

import { initArgs, initHelp } from '../lib/client/args.js';
import { main } from '../lib/client/cli.js';

// zinit's `init`: become the daemon, in this process (it may be PID 1).
const init = initArgs(process.argv.slice(2));
if (init === 'help') {
  process.stdout.write(initHelp() + '\n');
} else if (init) {
  const sminitd = new URL('./sminitd.js', import.meta.url).pathname;
  process.argv = [process.argv[0] ?? process.execPath, sminitd, ...init];
  await import('./sminitd.js');
} else {
  process.exitCode = await main(process.argv.slice(2));
}
