// The CLI's help: every verb with its usage line, laid out by yargs, which is
// imported only here, when help is asked for or no command is given — never
// on the common path, whose start-up is measured.

import { VERBS } from './args.js';
import { VERSION } from '../api/version.js';

/** The help: usage, options and every verb. */
export async function helpText(): Promise<string> {
  const { default: yargs } = await import('yargs');
  let y = yargs([])
    .scriptName('sminit')
    .usage('$0 <command> [options]\n\nDrive the sminit service manager.')
    .option('socket', {
      type: 'string',
      describe: 'sminitd socket (default $SMINIT_SOCKET or /run/sminit.sock); -s except for `log`',
    })
    .option('json', { type: 'boolean', describe: 'machine-readable output (read commands)' })
    .version('version', "print sminit's version", VERSION)
    .help(false);
  for (const v of VERBS)
    y = y.command(
      v.usage,
      v.describe + (v.aliases.length ? ` (alias: ${v.aliases.join(', ')})` : ''),
    );
  return new Promise((resolve) => y.showHelp((text) => resolve(text)));
}
