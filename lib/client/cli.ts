// The `sminit` command: parse the command line, then show the help or run
// the verb. Imports nothing heavy at load time: yargs comes in for help and
// usage errors only, the validator for `check` only.

import { type CliArgs, UsageError, parseArgs } from './args.js';
import { runVerb } from './run.js';

/** argv without node and the script; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs | 'help';
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return usage(err.message);
  }
  return args === 'help' ? usage(null) : runVerb(args);
}

/** Help is off the common path: neither it nor yargs is loaded to run a verb. */
async function usage(message: string | null): Promise<number> {
  const help = await import('./usage.js');
  return help.usage(message);
}
