// The typed client as a user gets it: the package packed with `npm pack`,
// installed into a fresh TypeScript project in a temp dir, and a small
// program importing Client type-checked against its declarations with this
// project's own TypeScript, with no Node types at all (`types: []`). A
// second file with a wrong signal name must fail, so the check is real.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DIST, tempDir } from '../helpers/daemon.js';

const ROOT = resolve(DIST, '..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

function run(cmd: string, args: string[], cwd: string): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const PROGRAM = `
import { Client, ConnectError, RpcError } from 'sminit';
import type { EventQuery, ServiceStatus, SignalName, SminitEvent, StateKind } from 'sminit';

const stop: SignalName = 'SIGTERM';
const query: EventQuery = { after: 0, kinds: ['state', 'exit'] };

export async function watch(socket: string): Promise<StateKind[]> {
  const seen: StateKind[] = [];
  let c: Client;
  try {
    c = await Client.connect(socket);
  } catch (err) {
    if (err instanceof ConnectError) return [];
    throw err;
  }
  const web: ServiceStatus = await c.status('web');
  seen.push(web.status);
  await c.kill('web', stop);
  const unfollow = await c.followEvents(query, (e: SminitEvent) => {
    if (e.kind === 'state') seen.push(e.to);
  });
  await unfollow();
  const why = await c.why('web');
  seen.push(why.status);
  c.close();
  return seen;
}

export const isRpc = (e: unknown): boolean => e instanceof RpcError && e.code === -32000;
`;

t.test('the packed client type-checks in a fresh project without Node types', async (t) => {
  const dir = tempDir(t, 'sminit-pack-');
  const packed = run('npm', ['pack', '--silent', '--pack-destination', dir], ROOT);
  t.equal(packed.code, 0, packed.out);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack made no tarball: ${packed.out}`);
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'app',
      private: true,
      type: 'module',
      dependencies: { sminit: `file:../${tarball}` },
    }),
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        noEmit: true,
        skipLibCheck: false,
        types: [],
      },
      include: ['index.ts', 'wrong.ts'],
    }),
  );
  writeFileSync(join(app, 'index.ts'), PROGRAM);
  // One compiler run for both: the program, and a line the declarations must refuse.
  writeFileSync(
    join(app, 'wrong.ts'),
    "import type { SignalName } from 'sminit';\nexport const wrong: SignalName = 'SIGNOPE';\n",
  );
  const installed = run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
    ],
    app,
  );
  t.equal(installed.code, 0, installed.out);
  t.notOk(readdirSync(join(app, 'node_modules')).includes('@types'), 'no @types came with it');
  const checked = run(process.execPath, [TSC, '-p', app], app);
  const errors = checked.out.split('\n').filter((l) => /error TS/.test(l));
  t.same(
    errors.map((l) => l.replace(/: error (TS\d+): .*/, ' $1')),
    ['wrong.ts(2,14) TS2322'],
    `only the wrong signal name is an error: ${checked.out}`,
  );
  t.match(errors[0], /Type '"SIGNOPE"' is not assignable to type/);
});
