#!/usr/bin/env node
// sminit: the command line. Parses the verb, sends one request through the
// client, prints the reply. The common path loads only the client (net and
// JSON); yargs is loaded for help and usage errors, the validator for `check`.

import { type CliArgs, VERBS, initArgs, parseArgs, runVerb } from '../lib/client/cli.js';

async function usage(message: string | null): Promise<never> {
  const { default: yargs } = await import('yargs');
  let y = yargs([])
    .scriptName('sminit')
    .usage('$0 <command> [options]\n\nDrive the sminit service manager.')
    .option('socket', {
      type: 'string',
      describe: 'sminitd socket (default $SMINIT_SOCKET or /run/sminit.sock); -s except for `log`',
    })
    .option('json', { type: 'boolean', describe: 'machine-readable output (read commands)' })
    .version(false)
    .help(false);
  for (const v of VERBS)
    y = y.command(
      v.usage,
      v.describe + (v.aliases.length ? ` (alias: ${v.aliases.join(', ')})` : ''),
    );
  // Asked-for help goes to stdout; help shown for a usage error goes to stderr.
  y.showHelp((text) => (message ? process.stderr : process.stdout).write(text + '\n'));
  if (message) process.stderr.write(`\nsminit: ${message}\n`);
  process.exit(message ? 2 : 0);
}

// zinit's `init`: become the daemon, in this process (it may be PID 1).
const init = initArgs(process.argv.slice(2));
if (init) {
  const sminitd = new URL('./sminitd.js', import.meta.url).pathname;
  process.argv = [process.argv[0] ?? process.execPath, sminitd, ...init];
  await import('./sminitd.js');
}

let args: CliArgs;
try {
  const parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'help') await usage(null);
  args = parsed as CliArgs;
} catch (err) {
  await usage(err instanceof Error ? err.message : String(err));
}
process.exitCode = await runVerb(args!);
