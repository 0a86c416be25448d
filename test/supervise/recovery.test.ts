// What an earlier sminitd left running, through the fake seam: a service
// with leftovers waits for them to end (its own stop signal and timeout)
// and starts after, the others start at once, a leftover of a service no
// longer configured is ended and said so, the whole is bounded, and status
// and the event log tell. The real processes are test/daemon/recover.test.ts's.

import t, { type Test } from 'tap';
import { LogStore } from '../../lib/logs/ring.js';
import { Manager } from '../../lib/supervise/manager.js';
import { toStatus } from '../../lib/api/status.js';
import type { NotLoaded, ServiceDef } from '../../lib/core/definition.js';
import type { EarlierRun } from '../../lib/supervise/seam.js';
import { FakeNetwork, FakeProcesses, def, earlierRun } from '../helpers/fake-processes.js';
import { waitFor } from '../helpers/wait.js';

interface Rig {
  readonly m: Manager;
  readonly procs: FakeProcesses;
  readonly logs: LogStore;
  readonly reports: string[];
}

function rig(
  t: Test,
  defs: readonly ServiceDef[],
  earlier: readonly EarlierRun[],
  opts: { hold?: boolean; notLoaded?: NotLoaded[]; fail?: boolean } = {},
): Rig {
  const procs = new FakeProcesses();
  procs.earlier.push(...earlier);
  procs.holdEarlier = opts.hold ?? false;
  if (opts.fail === true) procs.findEarlier = () => Promise.reject(new Error('EACCES /proc'));
  const reports: string[] = [];
  const logs = new LogStore({ maxBytes: 1024 * 1024 });
  const m = new Manager({
    configDir: '/nonexistent',
    logs,
    report: (service, text) => reports.push(`${service ?? 'sminitd'}: ${text}`),
    stdout: () => undefined,
    procs,
    net: new FakeNetwork(),
  });
  t.teardown(() => {
    for (const e of procs.endings) e.done();
    return m.shutdown();
  });
  void m.load(defs, opts.notLoaded ?? []);
  return { m, procs, logs, reports };
}

const status = async (m: Manager, name: string) => toStatus(await m.view(name));

t.test('a service with leftovers starts only once they are gone; the others at once', async (t) => {
  const { m, procs, logs, reports } = rig(
    t,
    [def('web', { stopSignal: 'SIGINT', shutdownTimeoutMs: 700 }), def('db')],
    [earlierRun('web', 3)],
    { hold: true },
  );
  await waitFor('db running', async () => (await status(m, 'db')).status === 'running');
  const waiting = await status(m, 'web');
  t.equal(waiting.status, 'blocked', 'web waits');
  t.match(waiting.reason, /the processes an earlier sminitd left to end/);
  t.equal(procs.running('web').length, 0, 'and is not spawned');
  t.same(
    procs.endings.map((e) => [e.run.service, e.signal, e.timeoutMs]),
    [['web', 'SIGINT', 700]],
    'ended with its own stop signal and timeout',
  );
  t.equal(waiting.recovered, null, 'nothing recovered yet');

  procs.endings[0]?.done();
  await waitFor('web running', async () => (await status(m, 'web')).status === 'running');
  t.same(procs.trace(), ['end-earlier web SIGINT', 'spawn db', 'spawn web']);
  const line =
    'web: found 3 processes of web left by sminitd 5963 (gone): stopped them before starting web';
  t.ok(reports.includes(line), 'the daemon says what it found');
  const s = await status(m, 'web');
  t.match(s.recovered, { ended: 3, stuck: 0, daemons: [5963] });
  t.equal((await status(m, 'db')).recovered, null, 'db had nothing left');
  const events = logs
    .read({ names: ['web'], stream: 'event' })
    .entries.map((l) => l.data.toString());
  t.ok(events.includes(line.slice('web: '.length)), 'and the event log keeps it');
});

t.test('a dependant waits for a dependency whose leftovers are being ended', async (t) => {
  const { m, procs } = rig(t, [def('db'), def('web', { after: ['db'] })], [earlierRun('db', 1)], {
    hold: true,
  });
  await waitFor('ending asked', () => procs.endings.length === 1);
  t.equal((await status(m, 'web')).status, 'blocked');
  t.same(procs.trace(), ['end-earlier db SIGTERM']);
  procs.endings[0]?.done();
  await waitFor('web running', async () => (await status(m, 'web')).status === 'running');
  t.same(procs.trace(), ['end-earlier db SIGTERM', 'spawn db', 'spawn web']);
});

t.test('leftovers of a service not in the config are ended too, and said so', async (t) => {
  const { m, procs, reports } = rig(
    t,
    [def('web')],
    [earlierRun('gone-svc', 2, 7000), earlierRun('broken', 1, 7000)],
    { notLoaded: [{ name: 'broken', file: '/etc/broken.yaml', why: 'bad' }] },
  );
  await waitFor('both reported', () => reports.filter((r) => r.includes('found')).length === 3);
  t.same(
    procs.endings.map((e) => [e.run.service, e.signal, e.timeoutMs]).sort(),
    [
      ['broken', 'SIGTERM', 10_000],
      ['gone-svc', 'SIGTERM', 10_000],
    ],
    'a default stop',
  );
  t.ok(
    reports.includes(
      'sminitd: found 2 processes of gone-svc left by sminitd 7000 (gone): stopped them; gone-svc is not in the config any more',
    ),
  );
  t.ok(
    reports.includes(
      'sminitd: found 1 process of broken left by sminitd 7000 (gone): stopped it; broken is not loaded (its file has problems)',
    ),
  );
  await waitFor('web running', async () => (await status(m, 'web')).status === 'running');
});

t.test('processes that would not die are said so, and the service starts', async (t) => {
  const { m, procs, reports } = rig(t, [def('web')], [earlierRun('web', 2)], { hold: true });
  await waitFor('ending asked', () => procs.endings.length === 1);
  procs.endings[0]?.done({ ended: 1, stuck: 1 });
  await waitFor('web running', async () => (await status(m, 'web')).status === 'running');
  t.ok(
    reports.some((r) =>
      r.endsWith(
        'stopped 1 of them before starting web; 1 would not end even on SIGKILL (stuck in the kernel)',
      ),
    ),
  );
  t.match((await status(m, 'web')).recovered, { ended: 1, stuck: 1 });
});

t.test('an ending that never finishes is bounded: timeout plus the margin', async (t) => {
  const { m, procs, reports } = rig(
    t,
    [def('web', { shutdownTimeoutMs: 50 })],
    [earlierRun('web', 1)],
    {
      hold: true,
    },
  );
  t.ok(
    await waitFor('the bound announced', () =>
      reports.find((r) => r.includes('ending them within 2050 ms')),
    ),
  );
  await waitFor('web running', async () => (await status(m, 'web')).status === 'running', 10_000);
  t.equal(procs.endings.length, 1);
  t.ok(
    reports.some((r) => r.includes('still not gone at the bound; going on before starting web')),
  );
  t.equal((await status(m, 'web')).recovered, null, 'nothing claimed as ended');
});

t.test('a search that fails is reported, and every service starts', async (t) => {
  const { m, reports } = rig(t, [def('web')], [], { fail: true });
  await waitFor('web running', async () => (await status(m, 'web')).status === 'running');
  t.ok(reports.some((r) => r.includes('could not look for processes an earlier sminitd left')));
});

t.test(
  'a shutdown while leftovers are being ended waits for them, and spawns nothing',
  async (t) => {
    const { m, procs } = rig(t, [def('web')], [earlierRun('web', 1)], { hold: true });
    await waitFor('ending asked', () => procs.endings.length === 1);
    let done = false;
    const stopped = m.shutdown().then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    t.notOk(done, 'the shutdown waits for the ending');
    procs.endings[0]?.done();
    await stopped;
    t.same(procs.trace(), ['end-earlier web SIGTERM'], 'web never spawned');
  },
);

t.test('nothing left: nothing said, nothing waits', async (t) => {
  const { m, procs, reports } = rig(t, [def('web')], []);
  await waitFor('web running', async () => (await status(m, 'web')).status === 'running');
  t.same(procs.trace(), ['spawn web']);
  t.notOk(reports.some((r) => r.includes('earlier sminitd')));
});
