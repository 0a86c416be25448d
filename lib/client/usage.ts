// The CLI's help: every verb with its usage line, laid out by yargs, which is
// imported only here, when help is asked for or a command line is wrong —
// never on the common path, whose start-up is measured.

import { VERBS } from './args.js';

/** Prints the help (to stdout when asked for, to stderr after a usage error); the exit code. */
export async function usage(message: string | null): Promise<number> {
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
  return message ? 2 : 0;
}
