#!/usr/bin/env node
// sminitd: reads its command line (lib/daemon/options.ts), then prints and
// exits or runs the daemon. Nothing is parsed or decided here.

import { readCommandLine } from '../lib/daemon/options.js';

const line = await readCommandLine(process.argv.slice(2));
if (line.kind === 'exit') {
  if (line.stdout) process.stdout.write(line.stdout);
  if (line.stderr) process.stderr.write(line.stderr);
  process.exitCode = line.code;
} else {
  for (const w of line.warnings) process.stderr.write(`sminitd: ${w}\n`);
  const { runDaemon } = await import('../lib/daemon/daemon.js');
  process.exit(await runDaemon(line.options));
}
