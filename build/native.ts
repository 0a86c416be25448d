// Build step: compile sminit's spawn library (native/spawn.c) into
// dist/native/sminit-spawn.so, which lib/os/native.ts loads through koffi.
// Without a C compiler the build goes on without it: sminitd then spawns
// boxed services through posix_spawn and the /bin/sh wrapper, and says so
// here. Run after tsc: `npm run build`.

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiler invocation; the first of gcc and cc that runs builds it. */
function compileArgs(source: string, out: string): string[] {
  return ['-O2', '-Wall', '-Wextra', '-Werror', '-fPIC', '-shared', '-o', out, source];
}

function compile(root: string, dist: string): string | null {
  const out = join(dist, 'native/sminit-spawn.so');
  mkdirSync(dirname(out), { recursive: true });
  const args = compileArgs(join(root, 'native/spawn.c'), out);
  let last = '';
  for (const cc of ['gcc', 'cc']) {
    try {
      execFileSync(cc, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      return null;
    } catch (err) {
      last = `${cc}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
    }
  }
  return last;
}

const here = dirname(fileURLToPath(import.meta.url));
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dist = join(here, '..');
  const failed = compile(join(dist, '..'), dist);
  if (failed !== null) {
    process.stderr.write(
      `build: native/spawn.c not compiled (${failed}); boxed services will start through the /bin/sh wrapper\n`,
    );
  }
}
