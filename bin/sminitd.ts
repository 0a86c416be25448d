#!/usr/bin/env node
// sminitd: reads its command line (lib/daemon/options.ts), then prints and
// exits or runs the daemon. Nothing is parsed or decided here.

import { HEAP_FLAGS, quietHeap, useCollector } from '../lib/daemon/collect.js';
import { readCommandLine } from '../lib/daemon/options.js';
import { hasFlags, reexecWith } from '../lib/os/reexec.js';

const line = await readCommandLine(process.argv.slice(2));
if (line.kind === 'exit') {
  if (line.stdout) process.stdout.write(line.stdout);
  if (line.stderr) process.stderr.write(line.stderr);
  process.exitCode = line.code;
} else {
  for (const w of line.warnings) process.stderr.write(`sminitd: ${w}\n`);
  // Before the daemon's modules load: V8's heap settings, and the one collection sminitd does itself.
  if (!hasFlags(HEAP_FLAGS)) {
    const why = await reexecWith(HEAP_FLAGS);
    process.stderr.write(`sminitd: ${why}; going on with V8's default heap\n`);
  }
  useCollector(quietHeap());
  const { runDaemon } = await import('../lib/daemon/daemon.js');
  process.exit(await runDaemon(line.options));
}
