// Readiness, liveness, notifications and schedules through the fake seams:
// the worker's decisions (when a service is ready, after how many failed
// checks it restarts, whose notification counts, that one timer serves
// every schedule) in milliseconds, with no real process or socket. The
// end-to-end suites (readiness.test.ts, policy.test.ts) check the same for real.

import t, { type Test } from 'tap';
import { LogStore } from '../../lib/logs/ring.js';
import { Manager } from '../../lib/supervise/manager.js';
import { Scheduler } from '../../lib/supervise/scheduler.js';
import { toStatus } from '../../lib/api/status.js';
import type { ServiceDef } from '../../lib/core/definition.js';
import { FakeNetwork, FakeProcesses, def } from '../helpers/fake-processes.js';
import { waitFor } from '../helpers/wait.js';

function rig(t: Test, defs: readonly ServiceDef[]) {
  const procs = new FakeProcesses();
  const net = new FakeNetwork();
  const reports: string[] = [];
  const m = new Manager({
    configDir: '/nonexistent',
    logs: new LogStore({ maxBytes: 1024 * 1024 }),
    report: (service, text) => reports.push(`${service ?? 'sminitd'}: ${text}`),
    stdout: () => undefined,
    procs,
    net,
  });
  t.teardown(() => m.shutdown());
  void m.load(defs);
  const status = async (name: string) => toStatus(await m.view(name));
  return { m, procs, net, reports, status };
}

const probe = (check: NonNullable<ServiceDef['readiness']>['check'], over = {}) => ({
  check,
  periodMs: 5,
  timeoutMs: 100,
  initialDelayMs: 0,
  successThreshold: 1,
  failureThreshold: 3,
  ...over,
});

t.test('an HTTP readiness probe gates the dependant', async (t) => {
  const url = 'http://127.0.0.1:1/health';
  const r = rig(t, [
    def('web', { readiness: probe({ kind: 'http', url, statuses: null }) }),
    def('app', { after: ['web'] }),
  ]);
  r.net.http.set(url, 503);
  await waitFor(
    'failing checks',
    async () => ((await r.status('web')).probes[0]?.failures ?? 0) >= 3,
  );
  t.equal((await r.status('web')).status, 'starting');
  t.equal((await r.status('app')).status, 'blocked');
  r.net.http.set(url, 200);
  await waitFor('app running', async () => (await r.status('app')).status === 'running');
  t.same(r.procs.trace(), ['spawn web', 'spawn app']);
});

t.test('liveness restarts after exactly failure_threshold failed checks', async (t) => {
  // A long backoff: the next run's checks cannot mix with this one's.
  const r = rig(t, [
    def('db', {
      liveness: probe({ kind: 'tcp', host: 'h', port: 5 }),
      restartDelayMs: 10_000,
      restartMaxDelayMs: 10_000,
    }),
  ]);
  r.net.tcp.set('h:5', null);
  await waitFor('live', async () => ((await r.status('db')).probes[0]?.successes ?? 0) >= 2);
  const before = r.net.calls.length;
  r.net.tcp.set('h:5', 'connection refused');
  await waitFor('backing off', async () => (await r.status('db')).status === 'backoff');
  t.equal(r.net.calls.length - before, 3, 'three failed checks, then the restart');
  t.ok(r.reports.includes('db: liveness failed 3 times: connection refused from h:5'));
  t.ok(r.procs.trace().includes('SIGTERM db'), 'stopped with its stop signal');
  t.match((await r.status('db')).reason, /^liveness failed 3 times: .*; restarting in \d+ ms$/);
});

t.test('notifications count only from the service itself', async (t) => {
  const r = rig(t, [def('n', { notify: { kind: 'systemd' } })]);
  await waitFor('spawned', () => r.procs.running('n').length === 1);
  r.procs.strangers.set(4242, { session: 1, marked: false, comm: 'intruder' });
  r.procs.send('n', 4242, 'READY=1\nSTATUS=hijacked');
  r.procs.send('n', 4242, 'READY=1');
  t.equal((await r.status('n')).status, 'starting');
  const own = r.procs.running('n')[0]?.pid ?? 0;
  r.procs.send('n', own, 'STATUS=warming up\nMAINPID=77\nUNKNOWN=x');
  t.match((await r.status('n')).notify, { status: 'warming up', main_pid: 77 });
  r.procs.send('n', own, 'READY=1');
  t.equal((await r.status('n')).status, 'running');
  const ignored = r.reports.filter((x) => x.startsWith('n: ignored a notification'));
  t.same(ignored, [
    "n: ignored a notification from pid 4242 (intruder), which is not one of n's processes; any more are ignored without a word",
  ]);
});

t.test('one timer for every schedule, the nearest first', async (t) => {
  const due: string[] = [];
  const s = new Scheduler((name) => due.push(name));
  const now = Date.now();
  s.set('late', now + 40);
  s.set('soon', now + 10);
  s.set('gone', now + 5);
  s.set('gone', null);
  await waitFor('both due', () => due.length === 2);
  t.same(due, ['soon', 'late']);
  t.notOk(s.pending, 'nothing armed once nothing is scheduled');
});
