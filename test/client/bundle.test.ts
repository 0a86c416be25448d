// The `sminit` users run is dist/bin/sminit.cjs, the common path bundled by
// build/cli.ts. What it imports lazily must still be found where tsc built
// it, from where the bundle is: each lazy import in the bundle names a file
// that exists, and the verbs that take those paths (help through yargs,
// check through the validator, init through sminitd) work from the bundle.

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
  t.notMatch(text, /require\("yargs"\)|require\("ajv/, 'yargs and ajv are not bundled');
});

t.test('the lazy paths work from the bundle', async (t) => {
  const help = await runCli(['--help']);
  t.equal(help.code, 0, 'help through yargs');
  t.match(help.stdout, /status/, 'help lists the verbs');

  const dir = tempDir(t);
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
