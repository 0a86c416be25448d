// Reload, scale and the verbs over many services, through the manager with
// the fake process seam under it and real files in a temp config
// directory: what each plan does to the processes, in what order, and what
// it leaves alone. Milliseconds each; the end-to-end suite does the same
// against real processes.

import t, { type Test } from 'tap';
import { rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../lib/config/directory.js';
import { LogStore } from '../../lib/logs/ring.js';
import { Manager } from '../../lib/supervise/manager.js';
import { FakeNetwork, FakeProcesses } from '../helpers/fake-processes.js';
import { waitFor } from '../helpers/wait.js';
import { tempDir } from '../helpers/daemon.js';

interface Rig {
  readonly m: Manager;
  readonly procs: FakeProcesses;
  readonly dir: string;
  write(name: string, yaml: string): void;
  remove(name: string): void;
  pid(name: string): Promise<number>;
  state(name: string): Promise<string>;
  /** The plan's lines as `action name: why`. */
  reload(dryRun?: boolean): Promise<string[]>;
}

const quick = 'shutdown_timeout: 50ms\nrestart_delay: 5ms\n';

async function rig(t: Test, files: Record<string, string>): Promise<Rig> {
  const dir = tempDir(t, 'sminit-reload-');
  const write = (name: string, yaml: string): void =>
    writeFileSync(join(dir, `${name}.yaml`), yaml + quick);
  for (const [name, yaml] of Object.entries(files)) write(name, yaml);
  const procs = new FakeProcesses();
  const m = new Manager({
    configDir: dir,
    logs: new LogStore({ maxBytes: 1024 * 1024 }),
    report: () => undefined,
    stdout: () => undefined,
    procs,
    net: new FakeNetwork(),
  });
  t.teardown(() => m.shutdown());
  const config = await loadConfig(dir);
  await m.load(config.defs, config.notLoaded, config.sources);
  const view = (name: string) => m.view(name);
  return {
    m,
    procs,
    dir,
    write,
    remove: (name) => unlinkSync(join(dir, `${name}.yaml`)),
    pid: async (name) => (await view(name)).pid,
    state: async (name) => (await view(name)).state.kind,
    reload: async (dryRun = false) =>
      (await m.reload(dryRun)).plan.entries.map((e) => `${e.action} ${e.name}: ${e.why}`),
  };
}

const up = (r: Rig, ...names: string[]): Promise<unknown> =>
  waitFor(`${names.join(', ')} running`, async () => {
    for (const n of names) if ((await r.state(n)) !== 'running') return false;
    return true;
  });

t.test('a reload does exactly what its plan says', async (t) => {
  const r = await rig(t, {
    same: 'exec: same\n',
    exec: 'exec: exec\n',
    deps: 'exec: deps\n',
    gone: 'exec: gone\n',
  });
  await up(r, 'same', 'exec', 'deps', 'gone');
  const before = {
    same: await r.pid('same'),
    exec: await r.pid('exec'),
    deps: await r.pid('deps'),
  };
  t.same(await r.reload(), [], 'nothing changed: nothing to do');
  r.write('exec', 'exec: exec --new\n');
  r.write('deps', 'exec: deps\nafter: [same]\n');
  r.write('new', 'exec: new\n');
  r.remove('gone');
  const dry = await r.reload(true);
  t.same(dry, [
    'start new: new',
    'update deps: after changed',
    'restart exec: exec changed',
    'stop gone: removed',
  ]);
  t.equal(await r.state('gone'), 'running', 'a dry run changes nothing');
  await t.rejects(r.m.view('new'), { message: "service 'new' is not tracked" });
  t.same(await r.reload(), dry, 'the reload does what the dry run said');
  await up(r, 'exec', 'new');
  t.equal(await r.pid('same'), before.same, 'unchanged: same process');
  t.equal(await r.pid('deps'), before.deps, 'after changed: same process');
  t.not(await r.pid('exec'), before.exec, 'exec changed: a new process');
  t.same(r.procs.running('exec')[0]?.spec.argv, ['exec', '--new']);
  t.same(
    (await r.m.view('deps')).dependencies.map((d) => d.name),
    ['same'],
  );
  await t.rejects(r.m.view('gone'), { message: "service 'gone' is not tracked" });
  t.same(await r.reload(), [], 'and the next reload has nothing to do');
});

t.test('a broken file leaves its service as it is; the rest is applied', async (t) => {
  const r = await rig(t, { a: 'exec: a\n', b: 'exec: b\n' });
  await up(r, 'a', 'b');
  const pa = await r.pid('a');
  writeFileSync(join(r.dir, 'a.yaml'), 'exec: a2\nexce: typo\n');
  r.write('b', 'exec: b2\n');
  const plan = await r.m.reload();
  t.same(
    plan.plan.entries.map((e) => `${e.action} ${e.name}`),
    ['restart b', 'refuse a'],
  );
  t.match(plan.plan.entries[1]?.problems, [{ line: 2, column: 1, message: /unknown key 'exce'/ }]);
  t.equal(await r.pid('a'), pa, 'a keeps its process');
  t.same((await r.m.view('a')).def.exec, ['a'], 'and its old definition');
  r.write('a', 'exec: a2\n');
  t.same(await r.reload(), ['restart a: exec changed'], 'fixed, it is taken');
});

t.test('an edit that closes a cycle is refused and named', async (t) => {
  const r = await rig(t, { a: 'exec: a\n', b: 'exec: b\nafter: [a]\n' });
  await up(r, 'a', 'b');
  r.write('a', 'exec: a\nafter: [b]\n');
  t.same(await r.reload(), ['refuse a: would close a dependency cycle a -> b -> a']);
  t.same((await r.m.view('a')).dependencies, [], 'a keeps its old dependencies');
});

t.test('delete and create through the API: the next reload leaves them alone', async (t) => {
  const r = await rig(t, { a: 'exec: a\n', b: 'exec: b\n' });
  await up(r, 'a', 'b');
  await r.m.forget('a');
  await r.m.createFile('c', { exec: 'c' });
  await r.m.deleteFile('b');
  t.same(await r.reload(), [], 'forgotten, created, deleted: nothing to do');
  t.same(r.m.names(), ['b']);
});

t.test('many services in one command, in dependency order', async (t) => {
  const r = await rig(t, {
    db: 'exec: db\n',
    api: 'exec: api\nafter: [db]\n',
    'web-1': 'exec: web-1\nafter: [api]\n',
    'web-2': 'exec: web-2\nafter: [api]\n',
    other: 'exec: other\n',
  });
  await up(r, 'db', 'api', 'web-1', 'web-2', 'other');
  const mark = r.procs.events.length;
  const stopped = await r.m.stopMany({ names: ['db', 'api'], patterns: ['web-*'] });
  const order = r.procs.trace().slice(mark);
  t.same(order.slice(0, 2).sort(), ['SIGTERM web-1', 'SIGTERM web-2'], 'dependants first');
  t.same(order.slice(2), ['SIGTERM api', 'SIGTERM db']);
  t.same(
    stopped.map((o) => o.error),
    [null, null, null, null],
  );
  t.equal(await r.state('other'), 'running', 'what was not named keeps running');
  const started = await r.m.startMany({ all: true, names: ['nosuch'], patterns: ['zz*'] });
  t.same(
    started.map((o) => `${o.name} ${o.error?.message ?? 'ok'}`),
    [
      'db ok',
      'other ok',
      'api ok',
      'web-1 ok',
      'web-2 ok',
      "nosuch service 'nosuch' is not tracked",
      "zz* no service matches 'zz*'",
    ],
    'dependencies first; each failure named',
  );
  await up(r, 'db', 'api', 'web-1', 'web-2');
  await t.rejects(r.m.stopMany({}), {
    message: "services_stop: give 'names', 'patterns' or 'all'",
  });
});

t.test('templates: instances by name, ${instance} substituted, refused without one', async (t) => {
  const r = await rig(t, { 'db@': 'exec: db --name ${instance}\n' });
  t.same(r.m.names(), [], 'a template alone runs nothing');
  await r.m.start('db@main');
  await up(r, 'db@main');
  t.same(r.procs.running('db')[0]?.spec.argv, ['db', '--name', 'main']);
  await t.rejects(r.m.start('nope@x'), {
    kind: 'unknown-service',
    message: `no service file for 'nope@x' in ${r.dir}, and no template nope@.yaml to make it from`,
  });
  await t.rejects(r.m.monitor('db@'), {
    message: /^'db@' is a template: it runs as its instances/,
  });
  r.write('db@', 'exec: db2 --name ${instance}\n');
  t.same(
    await r.reload(),
    ['restart db@main: exec changed'],
    'an edited template restarts its instances',
  );
});

t.test('replicas and scale: after means all of them; surplus stops from the top', async (t) => {
  const r = await rig(t, {
    worker: 'exec: worker ${instance}\nreplicas: 2\ntest: ready\n',
    web: 'exec: web\nafter: [worker]\n',
  });
  await waitFor('two tests', () => r.procs.running('ready').length === 2);
  t.equal(await r.state('web'), 'blocked');
  r.procs.running('ready')[0]?.exit(0);
  await waitFor('worker@1 up', async () => (await r.state('worker@1')) === 'running');
  t.equal(await r.state('web'), 'blocked', 'one replica is not enough');
  r.procs.running('ready')[0]?.exit(0);
  await up(r, 'web');
  const grown = await r.m.scale('worker', 4);
  t.same(grown.started, ['worker@3', 'worker@4']);
  t.same(
    (await r.m.view('web')).dependencies.map((d) => d.name),
    ['worker@1', 'worker@2', 'worker@3', 'worker@4'],
  );
  t.same(await r.reload(), [], 'an unchanged file keeps the scale');
  const mark = r.procs.events.length;
  const shrunk = await r.m.scale('worker', 1);
  t.same(shrunk.stopped, ['worker@4', 'worker@3', 'worker@2']);
  t.same(
    r.procs
      .trace()
      .slice(mark)
      .filter((l) => l.startsWith('SIGTERM')),
    ['SIGTERM worker', 'SIGTERM worker', 'SIGTERM worker'],
  );
  t.same(r.m.names(), ['web', 'worker@1']);
  await t.rejects(r.m.scale('web', 2), { message: /^service 'web' has no replicas/ });
  await t.rejects(r.m.view('worker'), { message: "service 'worker' runs as replicas: worker@1" });
  r.write('worker', 'exec: worker ${instance}\nreplicas: 3\ntest: ready\n');
  t.same(await r.reload(), ['start worker@2: replicas 1 → 3', 'start worker@3: replicas 1 → 3']);
});

t.test('a new test is taken by a service still starting', async (t) => {
  const r = await rig(t, { s: 'exec: s\ntest: never-passes\n' });
  await waitFor('the test runs', () => r.procs.running('never-passes').length === 1);
  const pid = await r.pid('s');
  r.write('s', 'exec: s\ntest: passes\n');
  t.same(await r.reload(), ['update s: test changed']);
  await waitFor('the new test runs', () => r.procs.running('passes').length === 1);
  t.equal(r.procs.running('never-passes').length, 0, 'the old test is gone');
  r.procs.running('passes')[0]?.exit(0);
  await up(r, 's');
  t.equal(await r.pid('s'), pid, 'the same process');
});

t.test('a new readiness probe is taken by a running service; the old one stops', async (t) => {
  const r = await rig(t, { s: 'exec: s\nreadiness:\n  exec: probe-old\n  period: 20ms\n' });
  await waitFor('the old probe runs', () => r.procs.running('probe-old').length === 1);
  r.procs.running('probe-old')[0]?.exit(0);
  await up(r, 's');
  const pid = await r.pid('s');
  r.write('s', 'exec: s\nreadiness:\n  exec: probe-new\n  period: 20ms\n');
  t.same(await r.reload(), ['update s: readiness changed']);
  await waitFor('the new probe runs', () => r.procs.running('probe-new').length === 1);
  t.equal(r.procs.running('probe-old').length, 0, 'the old probe is gone');
  t.equal(await r.state('s'), 'running', 'still running, still ready');
  t.equal(await r.pid('s'), pid, 'the same process');
});

t.test('a service waiting for a readiness check it no longer has is ready at once', async (t) => {
  const r = await rig(t, { s: 'exec: s\nready_log: never-said\n' });
  await waitFor('started', async () => (await r.state('s')) === 'starting');
  const pid = await r.pid('s');
  r.write('s', 'exec: s\n');
  t.same(await r.reload(), ['update s: ready_log changed']);
  await up(r, 's');
  t.equal(await r.pid('s'), pid, 'the same process');
});

t.test('notify restarts: a process gets its socket as it starts', async (t) => {
  const r = await rig(t, { s: 'exec: s\n' });
  await up(r, 's');
  const pid = await r.pid('s');
  r.write('s', 'exec: s\nnotify: fd:3\n');
  t.same(await r.reload(), ['restart s: notify changed']);
  await waitFor('a new process', async () => (await r.pid('s')) !== pid && (await r.pid('s')) > 0);
});

t.test('a reload during shutdown is refused like a start', async (t) => {
  const r = await rig(t, { a: 'exec: a\n' });
  void r.m.shutdown();
  await t.rejects(r.m.reload(), { message: 'sminit is shutting down' });
  rmSync(r.dir, { recursive: true, force: true });
});

t.test('an unreadable directory reloads nothing', async (t) => {
  const r = await rig(t, { a: 'exec: a\n' });
  await up(r, 'a');
  rmSync(r.dir, { recursive: true, force: true });
  await t.rejects(r.m.reload(), {
    kind: 'file-error',
    message: /^cannot read config directory .*nothing was reloaded$/,
  });
  t.equal(await r.state('a'), 'running');
});
