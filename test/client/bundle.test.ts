// The `sminit` users run is dist/bin/sminit.cjs, the common path bundled by
// build/cli.ts. What it imports lazily must still be found where tsc built
// it, from where the bundle is: each lazy import in the bundle names a file
// that exists, nothing loaded lazily or from node_modules is inside it, and
// the verbs that take those paths (help through yargs, check through the
// validator, the version) work from the bundle. `init`, which imports
// sminitd.js from beside the bundle, is zinit-cli.test.ts's.

import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DIST, SMINIT, runCli, tempDir } from '../helpers/daemon.js';

const ROOT = resolve(DIST, '..');

t.test('the package installs the bundle as sminit', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  t.equal(resolve(ROOT, pkg.bin.sminit ?? ''), SMINIT, 'bin.sminit is the bundle');
  t.ok(existsSync(SMINIT), 'built');
});

t.test('every lazy import in the bundle names a built file', async (t) => {
  const text = readFileSync(SMINIT, 'utf8');
  const lazy = [...text.matchAll(/\bimport\("([^"]+)"\)/g)].map((m) => m[1] ?? '');
  t.ok(lazy.length >= 5, `the lazy paths stay lazy (${lazy.length} found)`);
  for (const spec of lazy) {
    if (!spec.startsWith('.')) continue;
    t.ok(existsSync(resolve(dirname(SMINIT), spec)), `${spec} exists`);
  }
  // esbuild heads each module it bundles with a comment naming its path.
  const bundled = [...text.matchAll(/^\/\/ (\S+\.js)$/gm)].map((m) => m[1] ?? '');
  t.ok(bundled.includes('dist/lib/client/client.js'), 'the client is bundled');
  t.same(
    bundled.filter((p) => p.includes('node_modules/')),
    [],
    'no package is bundled (yargs, ajv, koffi)',
  );
  for (const spec of lazy.filter((s) => s.startsWith('../'))) {
    t.notOk(bundled.includes(`dist/${spec.slice(3)}`), `${spec} is not bundled as well`);
  }
});

t.test('the lazy paths work from the bundle', async (t) => {
  const help = await runCli(['--help']);
  t.equal(help.code, 0, 'help through yargs');
  t.match(help.stdout, /status/, 'help lists the verbs');

  const dir = tempDir(t);
  const good = join(dir, 'db.yaml');
  writeFileSync(good, 'exec: sleep 1\n');
  t.equal(
    (await runCli(['check', good])).code,
    0,
    'check through the validator passes a good file',
  );
  const file = join(dir, 'web.yaml');
  writeFileSync(file, 'exec: sleep 1\nafter: [1]\n');
  const check = await runCli(['check', file]);
  t.equal(check.code, 1, 'check through the validator finds the bad file');
  t.match(check.stdout + check.stderr, /web\.yaml/, 'and names it');

  const init = await runCli(['init', '--help']);
  t.equal(init.code, 0, 'init --help');
  t.match(init.stdout, /init/, "zinit's init help");

  const version = await runCli(['--version']);
  t.match(version.stdout, /^\d+\.\d+\.\d+/, 'version through the lazy module');
});
