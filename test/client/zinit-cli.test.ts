// zinit's CLI spellings with `sminit` in zinit's place: `init` with zinit's
// flags becomes the daemon, monitor/forget/stats/kill work as zinit's did.

import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../../lib/client/client.js';
import { ZINIT_CONFIG, ZINIT_SOCKET, initArgs, parseArgs } from '../../lib/client/args.js';
import { daemonId } from '../../lib/os/markers.js';
import { SMINIT, runCli, startDaemon, sweep, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

t.test('initArgs: zinit’s init flags as sminitd’s', async (t) => {
  const env = {};
  t.equal(initArgs(['list'], env), null);
  t.equal(initArgs(['-s', 'x', 'status', 'init'], env), null);
  t.same(initArgs(['init'], env), ['-c', ZINIT_CONFIG, '-s', ZINIT_SOCKET]);
  t.same(
    initArgs(
      ['-s', '/tmp/z.sock', '-d', 'init', '-c', '/srv/svc', '-b', '5000', '--container'],
      env,
    ),
    ['-c', '/srv/svc', '-s', '/tmp/z.sock', '-b', '5000', '--container'],
  );
  t.same(initArgs(['init', '--http', '127.0.0.1:0'], { SMINIT_SOCKET: '/run/x.sock' }), [
    '-c',
    ZINIT_CONFIG,
    '-s',
    '/run/x.sock',
    '--http',
    '127.0.0.1:0',
  ]);
});

t.test('init --help shows the defaults init uses: zinit’s', async (t) => {
  t.equal(initArgs(['init', '--help'], {}), 'help');
  t.equal(initArgs(['-s', '/x', 'init', '-c', '/d', '-h'], {}), 'help');
  const r = await runCli(['init', '--help']);
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  t.match(r.stdout, /^sminit init \[-c DIR\]/);
  t.match(r.stdout, `(default ${ZINIT_CONFIG})`);
  t.match(r.stdout, `(default $SMINIT_SOCKET or ${ZINIT_SOCKET})`);
  t.notMatch(r.stdout, /\/etc\/sminit|\/run\/sminit\.sock/, 'not sminitd’s own defaults');
});

t.test('parseArgs: zinit’s verbs and flags', async (t) => {
  const env = {};
  t.match(parseArgs(['monitor', 'a'], env), { verb: 'add', args: ['a'] });
  t.match(parseArgs(['forget', 'a'], env), { verb: 'delete', args: ['a'] });
  t.match(parseArgs(['stats', 'a'], env), { verb: 'stats', args: ['a'] });
  t.match(parseArgs(['kill', 'a'], env), { verb: 'kill', args: ['a'] });
  t.match(parseArgs(['-d', 'kill', 'a', 'SIGHUP'], env), { verb: 'kill', args: ['a', 'SIGHUP'] });
  t.match(parseArgs(['log', '-s', 'a'], env), { verb: 'log', snapshot: true, args: ['a'] });
  t.match(parseArgs(['list'], env), { defaultSocket: true });
  t.match(parseArgs(['-s', '/x', 'list'], env), { defaultSocket: false, socket: '/x' });
  t.match(parseArgs(['list'], { SMINIT_SOCKET: '/y' }), { defaultSocket: false, socket: '/y' });
});

t.test('`sminit init` runs the daemon; zinit’s verbs drive it', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a.yaml'), 'exec: sleep 1000\n');
  const socket = join(root, 'z.sock');
  const daemon = spawn(
    process.execPath,
    [SMINIT, '-s', socket, '-d', 'init', '-c', dir, '-b', '2000', '--container'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  daemon.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => daemon.once('exit', r));
  const id = daemonId(daemon.pid ?? 0);
  t.teardown(async () => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    await sweep(id);
  });
  const client = await waitFor(`the daemon (${err})`, () =>
    Client.connect(socket).catch(() => null),
  );
  t.teardown(() => client.close());
  await waitFor('a running', () =>
    client.status('a').then(
      (s) => s.status === 'running',
      () => false,
    ),
  );
  const cli = (...args: string[]) => runCli(['-s', socket, ...args]);

  const before = (await client.status('a')).pid;
  t.match(await cli('kill', 'a'), { code: 0 }, 'kill with zinit’s default signal');
  await waitFor('a restarted', async () => {
    const s = await client.status('a');
    return s.status === 'running' && s.pid !== before;
  });
  const stats = await cli('stats', 'a');
  t.equal(stats.code, 0);
  t.match(stats.stdout, /^a\nPID\s+MEMORY\s+CPU\n\d+\s+[\d.]+ MiB\s+[\d.]+%\n$/);
  const json = JSON.parse((await cli('stats', 'a', '--json')).stdout) as Record<string, unknown>;
  t.same(Object.keys(json), ['name', 'pid', 'memory_usage', 'cpu_usage', 'children']);
  writeFileSync(join(dir, 'b.yaml'), 'exec: sleep 1000\n');
  t.match(await cli('monitor', 'b'), { code: 0 });
  await waitFor('b running', async () => (await client.status('b')).status === 'running');
  t.match(await cli('forget', 'b'), { code: 0 });
  t.match(await cli('status', 'b'), { code: 1, stderr: /not tracked/ });

  // --container: SIGHUP ends it like SIGTERM, exit 0.
  daemon.kill('SIGHUP');
  t.equal(await exited, 0);
});

t.test('sminit status and list still speak to a daemon started the sminit way', async (t) => {
  const d = await startDaemon(t, { a: 'exec: sleep 1000\n' });
  await d.waitStatus('a', (s) => s.status === 'running', 'running');
  const r = await d.cli('list');
  t.equal(r.code, 0);
  t.match(r.stdout, /^NAME\s+STATE/);
});
