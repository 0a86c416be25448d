// The manager and its workers through the process seam, with a fake system
// underneath: dependency order, health tests, restarts with backoff, stop
// escalation, shutdown order, errors by name. No real process runs, so each
// case takes milliseconds; the end-to-end suites check the same against the
// real system.

import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SminitError } from '../../lib/core/errors.js';
import { LogStore } from '../../lib/logs/ring.js';
import { Manager } from '../../lib/supervise/manager.js';
import { toStatus } from '../../lib/api/status.js';
import type { ServiceStatus } from '../../lib/api/wire.js';
import { FakeNetwork, FakeProcesses, def } from '../helpers/fake-processes.js';
import { waitFor } from '../helpers/wait.js';
import type { ServiceDef } from '../../lib/core/definition.js';

interface Rig {
  readonly m: Manager;
  readonly procs: FakeProcesses;
  readonly reports: string[];
}

function rig(t: Test, defs: readonly ServiceDef[], configDir = '/nonexistent'): Rig {
  const procs = new FakeProcesses();
  const reports: string[] = [];
  const m = new Manager({
    configDir,
    logs: new LogStore({ maxBytes: 1024 * 1024 }),
    report: (service, text) => reports.push(`${service ?? 'sminitd'}: ${text}`),
    stdout: () => undefined,
    procs,
    net: new FakeNetwork(),
  });
  t.teardown(() => m.shutdown());
  void m.load(defs);
  return { m, procs, reports };
}

const status = async (m: Manager, name: string): Promise<ServiceStatus> =>
  toStatus(await m.view(name));
const statusOf = async (m: Manager, name: string): Promise<string> =>
  (await status(m, name)).status;

t.test('a dependant starts only once its dependency is up', async (t) => {
  const { m, procs } = rig(t, [def('db', { test: ['db-ready'] }), def('web', { after: ['db'] })]);
  await waitFor('db spawned and tested', () => procs.running('db-ready').length === 1);
  t.equal(await statusOf(m, 'web'), 'blocked', 'web waits while the test runs');
  t.same((await status(m, 'web')).dependencies, { db: 'starting' });
  procs.running('db-ready')[0]?.exit(0);
  await waitFor('web running', async () => (await statusOf(m, 'web')) === 'running');
  t.same(procs.trace(), ['spawn db', 'spawn db-ready', 'spawn web']);
});

t.test('a failing health test is retried at its interval and reported', async (t) => {
  const { m, procs } = rig(t, [def('db', { test: ['db-ready'] })]);
  for (let i = 0; i < 3; i++) {
    await waitFor(`test run ${i + 1}`, () => procs.running('db-ready').length === 1);
    procs.running('db-ready')[0]?.exit(1);
  }
  const s = await waitFor('three failures', async () => {
    const st = await status(m, 'db');
    return st.reason.includes('(3x)') ? st : null;
  });
  t.match(s.reason, /health test failing \(3x\): exited with code 1/);
  t.equal(s.state, 'TestFailure');
});

t.test('a crash restarts with a delay that doubles, up to the maximum', async (t) => {
  const { m, procs } = rig(t, [
    def('w', { restartDelayMs: 10, restartMaxDelayMs: 20, stableAfterMs: 60_000 }),
  ]);
  const delays: string[] = [];
  for (let i = 0; i < 3; i++) {
    await waitFor(`run ${i + 1}`, () => procs.running('w').length === 1);
    procs.running('w')[0]?.exit(1);
    const s = await waitFor('backoff', async () => {
      const st = await status(m, 'w');
      return st.status === 'backoff' ? st : null;
    });
    delays.push(s.reason.replace(/\d+ ms$/, 'N ms'));
  }
  t.same(delays, Array(3).fill('exited with code 1; restarting in N ms'));
  const log = (await status(m, 'w')).restarts;
  t.equal(log, 3, 'three restarts counted');
});

t.test('stop: the stop signal, then SIGKILL after the timeout', async (t) => {
  const { m, procs } = rig(t, [def('stubborn', { shutdownTimeoutMs: 20 })]);
  procs.stubborn.add('stubborn');
  await waitFor('running', async () => (await statusOf(m, 'stubborn')) === 'running');
  await m.stop('stubborn');
  t.same(procs.trace(), ['spawn stubborn', 'SIGTERM stubborn', 'SIGKILL stubborn']);
  t.equal(await statusOf(m, 'stubborn'), 'stopped');
});

t.test('a oneshot that succeeds lets its dependants start; one that fails does not', async (t) => {
  const { m, procs } = rig(t, [
    def('ok', { oneshot: true, restart: 'never' }),
    def('bad', { oneshot: true, restart: 'never' }),
    def('after-ok', { after: ['ok'] }),
    def('after-bad', { after: ['bad'] }),
  ]);
  await waitFor('both oneshots spawned', () => procs.children.length === 2);
  procs.running('ok')[0]?.exit(0);
  procs.running('bad')[0]?.exit(3);
  await waitFor('after-ok running', async () => (await statusOf(m, 'after-ok')) === 'running');
  t.equal(await statusOf(m, 'ok'), 'success');
  t.equal(await statusOf(m, 'bad'), 'exited');
  t.equal(await statusOf(m, 'after-bad'), 'blocked');
});

t.test('a spawn failure is the service state, and is retried with backoff', async (t) => {
  const { m, procs } = rig(t, [def('missing')]);
  procs.failing.set('missing', 'ENOENT');
  const s = await waitFor('failed', async () => {
    const st = await status(m, 'missing');
    return st.status === 'failed' ? st : null;
  });
  t.match(s.reason, /^cannot run 'missing': ENOENT; retrying in \d+ ms$/);
  procs.failing.delete('missing');
  await waitFor(
    'running after the retry',
    async () => (await statusOf(m, 'missing')) === 'running',
  );
});

t.test('shutdown stops dependants before their dependencies', async (t) => {
  const { m, procs } = rig(t, [
    def('db'),
    def('api', { after: ['db'] }),
    def('web', { after: ['api'] }),
  ]);
  await waitFor('all running', () => procs.children.length === 3);
  await waitFor('web up', async () => (await statusOf(m, 'web')) === 'running');
  t.equal(await m.shutdown(), true, 'clean');
  const stops = procs.trace().filter((l) => l.startsWith('SIGTERM'));
  t.same(stops, ['SIGTERM web', 'SIGTERM api', 'SIGTERM db']);
  await t.rejects(m.start('db'), { message: 'sminit is shutting down' });
});

t.test('forget frees dependants; errors name what went wrong', async (t) => {
  const { m, procs } = rig(t, [
    def('x', { oneshot: true, restart: 'never' }),
    def('y', { after: ['x'] }),
  ]);
  await waitFor('x spawned', () => procs.running('x').length === 1);
  t.equal(await statusOf(m, 'y'), 'blocked');
  await m.forget('x');
  await waitFor('y running once x is gone', async () => (await statusOf(m, 'y')) === 'running');
  const kindOf = (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => 'resolved',
      (e: unknown) => (e instanceof SminitError ? e.kind : 'other'),
    );
  t.equal(await kindOf(status(m, 'x')), 'unknown-service');
  t.equal(await kindOf(m.kill('y', 'SIGNOPE')), 'bad-signal');
  t.equal(await kindOf(status(m, 'a b')), 'bad-argument');
  await m.stop('y');
  t.equal(await kindOf(m.kill('y', 'HUP')), 'not-running');
});

t.test("delete and add again: the dependants' files give their edges back", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sminit-mgr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a.yaml'), 'exec: a\n');
  const { m, procs } = rig(t, [def('a'), def('b', { after: ['a'] })], dir);
  await waitFor('b running', async () => (await statusOf(m, 'b')) === 'running');
  await m.forget('a');
  t.same((await status(m, 'b')).after, {}, 'a forgotten holds nobody back');
  await m.monitor('a');
  t.same((await status(m, 'b')).after, { a: 'Running' }, "b's file says after a: the edge is back");
  t.equal(await m.shutdown(), true);
  const stops = procs.trace().filter((l) => l.startsWith('SIGTERM'));
  t.same(stops.slice(-2), ['SIGTERM b', 'SIGTERM a'], 'and the shutdown order follows');
});

t.test('adding a service back refuses a cycle its dependants would close', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sminit-mgr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { m } = rig(t, [def('a'), def('b', { after: ['a'] })], dir);
  await waitFor('b running', async () => (await statusOf(m, 'b')) === 'running');
  await m.forget('a');
  writeFileSync(join(dir, 'a.yaml'), 'exec: a\nafter: [b]\n');
  await t.rejects(m.monitor('a'), {
    kind: 'refused-change',
    message: "service 'a' would close a dependency cycle: a -> b -> a",
  });
});

t.test('adding a service whose log file another one writes is refused, naming both', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sminit-mgr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const logs = join(dir, 'shared.log');
  writeFileSync(join(dir, 'b.yaml'), `exec: b\nlog:\n  file: ${logs}.1\n`);
  const a = def('a', { log: { kind: 'file', path: logs, maxSize: 1 << 20, keep: 2 } });
  const { m } = rig(t, [a], dir);
  await waitFor('a running', async () => (await statusOf(m, 'a')) === 'running');
  await t.rejects(m.monitor('b'), {
    kind: 'refused-change',
    message: `${join(dir, 'b.yaml')}: its log file ${logs}.1 is also written by <test>/a.yaml; a log file belongs to one service`,
  });
});
