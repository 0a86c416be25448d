// A running system changed safely, end to end with real processes: a
// reload after editing, adding, removing and breaking files does what its
// plan says; --dry-run changes nothing; SIGHUP reloads; a cycle an edit
// would close is refused and named; verbs over many services in one
// request, in dependency order; templates, replicas and scale.

import t from 'tap';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReloadResult } from '../../lib/api/wire.js';
import { type Daemon, startDaemon } from '../helpers/daemon.js';
import { waitFor, waitPastWrapper } from '../helpers/wait.js';

const sleeper = 'exec: sleep 1000\nshutdown_timeout: 2\n';

const running = (d: Daemon, ...names: string[]): Promise<unknown> =>
  Promise.all(
    names.map(async (n) => {
      const s = await d.waitStatus(n, (s) => s.status === 'running', 'running');
      await waitPastWrapper(s.pid);
    }),
  );

/** The pid and uptime a service has now. */
async function pidOf(d: Daemon, name: string): Promise<number> {
  return (await d.status(name)).pid;
}

function environ(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter((e) => e.includes('='))
      .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
}

function argv(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

t.test('a reload does what its plan says, and only that', async (t) => {
  const d = await startDaemon(t, {
    keep: sleeper,
    edit: sleeper,
    hot: sleeper,
    gone: sleeper,
    broken: sleeper,
  });
  await running(d, 'keep', 'edit', 'hot', 'gone', 'broken');
  const before = new Map<string, number>();
  for (const n of ['keep', 'edit', 'hot', 'broken']) before.set(n, await pidOf(d, n));
  const keepRun = (await d.status('keep')).since;

  d.write('edit', 'exec: sleep 1001\nshutdown_timeout: 2\n');
  d.write('hot', 'exec: sleep 1000\nshutdown_timeout: 3\nafter: [keep]\n');
  d.write('new', sleeper);
  unlinkSync(join(d.dir, 'gone.yaml'));
  d.write('broken', 'exec: sleep 1002\nshutdown_timeout: [2]\n');

  const dry = await d.cli('reload', '--dry-run');
  t.equal(dry.code, 1, 'something would be refused');
  t.same(dry.stdout.split('\n'), [
    '+ new     new: start',
    '~ edit    exec changed: restart',
    '~ hot     after, shutdown_timeout changed: no restart',
    '- gone    removed: stop',
    'dry run: 4 changes, 1 refused, 1 unchanged; nothing was changed',
    '',
  ]);
  t.same(dry.stderr.split('\n'), [
    '! broken  does not load: refused, left as it is',
    `    ${join(d.dir, 'broken.yaml')}:2:19: shutdown_timeout: expected a duration (seconds, or a string like 100ms, 2s, 1.5m, 1h, 1m30s), got a list`,
    'sminit: 1 refused: broken',
    '',
  ]);
  t.equal(await pidOf(d, 'edit'), before.get('edit'), 'a dry run changes nothing');
  t.equal((await d.status('gone')).status, 'running');
  t.notOk(Object.hasOwn(await d.client.list(), 'new'));

  const r = await d.cli('reload', '--json');
  t.equal(r.code, 1);
  const plan = JSON.parse(r.stdout) as ReloadResult;
  t.same(
    plan.changes.map((c) => `${c.mark} ${c.name}`),
    ['+ new', '~ edit', '~ hot', '- gone', '! broken'],
  );
  t.match(plan.changes[4]?.problems, [/broken\.yaml:2:19: shutdown_timeout: /]);
  t.ok(plan.applied);
  await running(d, 'new', 'edit');
  t.equal(await pidOf(d, 'keep'), before.get('keep'), 'unchanged: the same process');
  t.equal((await d.status('keep')).since, keepRun, 'and the same run');
  t.equal(await pidOf(d, 'hot'), before.get('hot'), 'only sminit-side keys: the same process');
  t.same(Object.keys((await d.status('hot')).dependencies), ['keep'], 'with its new after');
  t.not(await pidOf(d, 'edit'), before.get('edit'), 'exec changed: a new process');
  t.same(argv(await pidOf(d, 'edit')), ['sleep', '1001']);
  t.equal(await pidOf(d, 'broken'), before.get('broken'), 'the broken file: its old process');
  t.match(d.stderr(), /sminitd: reload \(by uid \d+ pid \d+/, 'audited');
  await t.rejects(d.status('gone'), { code: -32000 });

  const again = await d.cli('reload');
  t.same([again.code, again.stdout.trim()], [1, 'reloaded: 0 changes, 1 refused, 4 unchanged']);
  d.write('broken', sleeper);
  const fixed = await d.cli('reload');
  t.same([fixed.code, fixed.stdout], [0, 'reloaded: 0 changes, 0 refused, 5 unchanged\n']);
});

t.test('SIGHUP reloads; an edit that closes a cycle is refused and named', async (t) => {
  const d = await startDaemon(t, { a: sleeper, b: `${sleeper}after: [a]\n` });
  await running(d, 'a', 'b');
  const pa = await pidOf(d, 'a');
  d.write('a', `${sleeper}after: [b]\n`);
  d.write('c', sleeper);
  d.proc.kill('SIGHUP');
  await running(d, 'c');
  await waitFor('the plan in the log', () => d.stderr().includes('reload: reloaded: '));
  t.match(d.stderr(), 'reload: ! a  would close a dependency cycle a -> b -> a: refused');
  t.match(d.stderr(), /sminitd: reload: \+ c  new: start\n/);
  t.match(d.stderr(), /sminitd: reload: reloaded: 1 change, 1 refused, 1 unchanged\n/);
  t.equal(await pidOf(d, 'a'), pa, 'a runs as it was');
  t.same((await d.status('a')).dependencies, {}, 'with its old dependencies');
  const cli = await d.cli('reload', '--dry-run');
  t.equal(cli.code, 1);
  t.match(cli.stderr, '! a  would close a dependency cycle a -> b -> a: refused, left as it is');
});

t.test('verbs over many services: one request, dependency order, a line each', async (t) => {
  const d = await startDaemon(t, {
    db: sleeper,
    api: `${sleeper}after: [db]\n`,
    'web-1': `${sleeper}after: [api]\n`,
    'web-2': `${sleeper}after: [api]\n`,
    lone: sleeper,
  });
  await running(d, 'db', 'api', 'web-1', 'web-2', 'lone');
  const audits = (): number => (d.stderr().match(/: stop .*\(by /g) ?? []).length;
  const r = await d.cli('stop', 'db', 'api', 'web-*');
  t.equal(r.code, 0, r.stderr);
  t.same(r.stdout.split('\n').slice(0, 2).sort(), ['web-1: stopped', 'web-2: stopped']);
  t.same(r.stdout.split('\n').slice(2), ['api: stopped', 'db: stopped', '']);
  t.equal(audits(), 1, 'one request');
  const { lines } = await d.client.readLogs({ stream: 'event' });
  const seq = (name: string, text: string): number =>
    lines.find((l) => l.service === name && l.text.startsWith(text))?.seq ?? -1;
  t.ok(seq('web-1', 'stopped') < seq('api', 'stopping'), 'web-1 was down before api was stopped');
  t.ok(seq('api', 'stopped') < seq('db', 'stopping'), 'api before db');
  t.equal((await d.status('lone')).status, 'running');

  const bad = await d.cli('start', '--all');
  t.equal(bad.code, 0);
  await running(d, 'db', 'api', 'web-1', 'web-2');
  const some = await d.cli('restart', 'db', 'nosuch', 'zz*');
  t.equal(some.code, 1);
  t.equal(some.stdout, 'db: restarted (running)\n');
  t.equal(
    some.stderr,
    "nosuch: service 'nosuch' is not tracked\nzz*: no service matches 'zz*'\nsminit: 2 of 3 failed: nosuch, zz*\n",
  );
  const all = await d.cli('stop', '--all');
  t.equal(all.code, 0);
  t.equal(all.stdout.split('\n').filter(Boolean).length, 5, 'a line each');
  t.equal(d.proc.exitCode, null, 'stop --all leaves sminitd running');
  const list = await d.client.listFull();
  t.ok(list.every((s) => s.status === 'stopped' && s.pid === 0));
  const statuses = await d.cli('status', 'web-*');
  t.match(statuses.stdout, /^name: {6}web-1$(?:.*\n)*\n^name: {6}web-2$/m, 'a block each');
  const killed = await d.client.many('kill', { patterns: ['web-*'] }, 'HUP');
  t.same(killed.failed, ['web-1', 'web-2'], 'nothing runs to be signalled');
  t.equal(killed.results[0]?.error?.code, -32003);
});

t.test('templates: instances by name, with ${instance} substituted', async (t) => {
  const d = await startDaemon(t, {
    'db@':
      'exec: sleep 100${instance}\nenv: {NAME: "db-${instance}"}\ndir: /tmp\nshutdown_timeout: 2\n',
    app: `${sleeper}after: [db@7]\n`,
  });
  await running(d, 'db@7', 'app');
  const seven = await pidOf(d, 'db@7');
  t.same(argv(seven), ['sleep', '1007'], 'the instance named in after was made and started');
  t.equal(environ(seven).NAME, 'db-7');
  const start = await d.cli('start', 'db@8');
  t.equal(start.code, 0, start.stderr);
  await running(d, 'db@8');
  t.same(argv(await pidOf(d, 'db@8')), ['sleep', '1008']);
  t.equal((await d.status('db@8')).file, join(d.dir, 'db@.yaml'));
  const none = await d.cli('start', 'nope@1');
  t.equal(none.code, 1);
  t.equal(
    none.stderr,
    `sminit: no service file for 'nope@1' in ${d.dir}, and no template nope@.yaml to make it from\n`,
  );
  const list = await d.cli('list');
  t.match(list.stdout, /^db@7 +running/m);
  d.write('db@', 'exec: sleep 200${instance}\nshutdown_timeout: 2\n');
  const r = await d.client.reload();
  t.same(
    r.changes.map((c) => `${c.name}: ${c.why}`),
    ['db@7: exec, env, dir changed', 'db@8: exec, env, dir changed'],
  );
  await waitFor('db@8 on its new command', async () => {
    const s = await d.status('db@8');
    return s.status === 'running' && argv(s.pid)[1] === '2008';
  });
});

t.test('replicas, scale up and down, and a dependant of all of them', async (t) => {
  const d = await startDaemon(t, {
    worker: 'exec: sleep 10${instance}\nreplicas: 3\nshutdown_timeout: 2\n',
    front: `${sleeper}after: [worker]\n`,
  });
  await running(d, 'worker@1', 'worker@2', 'worker@3', 'front');
  t.same(Object.keys((await d.status('front')).dependencies), ['worker@1', 'worker@2', 'worker@3']);
  t.same(argv(await pidOf(d, 'worker@2')), ['sleep', '102']);
  const up = await d.cli('scale', 'worker', '5');
  t.same([up.code, up.stdout], [0, 'worker@4: started\nworker@5: started\nworker: 5 replicas\n']);
  await running(d, 'worker@4', 'worker@5');
  t.equal(Object.keys((await d.status('front')).dependencies).length, 5);
  const kept = await pidOf(d, 'worker@1');
  const down = await d.cli('scale', 'worker', '2');
  t.equal(
    down.stdout,
    'worker@5: stopped\nworker@4: stopped\nworker@3: stopped\nworker: 2 replicas\n',
  );
  t.same(
    Object.keys(await d.client.list()).filter((n) => n.startsWith('worker')),
    ['worker@1', 'worker@2'],
  );
  t.equal(await pidOf(d, 'worker@1'), kept);
  const { lines } = await d.client.readLogs({ stream: 'event' });
  const stopped = lines.filter((l) => l.text === 'stopped').map((l) => l.service);
  t.same(stopped, ['worker@5', 'worker@4', 'worker@3'], 'from the highest number down');
  const stop = await d.cli('stop', 'worker');
  t.same(stop.stdout.split('\n').sort(), ['', 'worker@1: stopped', 'worker@2: stopped']);
  const plain = await d.cli('scale', 'front', '2');
  t.equal(plain.code, 1);
  t.equal(
    plain.stderr,
    "sminit: service 'front' has no replicas; give its file a 'replicas' key to scale it\n",
  );
  d.write('worker', 'exec: sleep 10${instance}\nreplicas: 1\nshutdown_timeout: 2\n');
  const r = await d.client.reload();
  t.same(
    r.changes.map((c) => `${c.action} ${c.name}: ${c.why}`),
    ['stop worker@2: replicas 2 → 1'],
  );
});
