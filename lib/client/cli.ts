// The `sminit` command: parse the command line, then show the help or run
// the verb. Imports nothing heavy at load time: yargs comes in for help and
// usage errors only, the validator for `check` only.

import { type CliArgs, UsageError, parseArgs } from './args.js';
import { runVerb } from './run.js';

/** argv without node and the script; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs | 'help' | 'usage' | 'version';
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // One line, as every error: the help is one `sminit --help` away.
    process.stderr.write(`sminit: ${err.message}\n`);
    return 2;
  }
  if (args === 'help') return help(process.stdout, 0);
  if (args === 'usage') return help(process.stderr, 2);
  if (args === 'version') {
    // The package's version, as sminitd --version and rpc.discover say it; loaded only here.
    process.stdout.write(`${(await import('../api/version.js')).VERSION}\n`);
    return 0;
  }
  return runVerb(args);
}

/** The help is off the common path: neither it nor yargs is loaded to run a verb. */
async function help(to: NodeJS.WritableStream, code: number): Promise<number> {
  const { helpText } = await import('./usage.js');
  to.write((await helpText()) + '\n');
  return code;
}
