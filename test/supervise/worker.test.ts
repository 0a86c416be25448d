// One ServiceWorker on its own, through the fake process seam: what it
// reports to its hooks, the states it passes through, the signals it sends.
// No manager, no real process; each case takes milliseconds.

import t, { type Test } from 'tap';
import type { ServiceDef } from '../../lib/core/definition.js';
import { LogStore } from '../../lib/logs/ring.js';
import { ServiceWorker } from '../../lib/supervise/worker.js';
import { FakeProcesses, def } from '../helpers/fake-processes.js';
import { waitFor } from '../helpers/wait.js';

interface Rig {
  readonly w: ServiceWorker;
  readonly procs: FakeProcesses;
  readonly ups: string[];
  readonly events: string[];
}

function rig(t: Test, d: ServiceDef, procs = new FakeProcesses()): Rig {
  const ups: string[] = [];
  const events: string[] = [];
  const w = new ServiceWorker(d, {
    logs: new LogStore({ maxBytes: 1 << 20 }),
    procs,
    hooks: {
      up: (n) => ups.push(n),
      wantStart: () => undefined,
      event: (_n, text) => events.push(text),
      stdout: () => undefined,
    },
  });
  t.teardown(() => w.stop());
  return { w, procs, ups, events };
}

t.test('start: spawned with its marker and run number, up at once without a test', async (t) => {
  const { w, procs, ups } = rig(t, def('web'));
  w.start();
  t.equal(w.state.kind, 'running');
  t.same(ups, ['web']);
  t.match(procs.children[0]?.spec, { argv: ['web'], marker: 'fake:web', run: 1 });
});

t.test('a crash backs off, then respawns as run 2', async (t) => {
  const { w, procs, events } = rig(t, def('web'));
  w.start();
  procs.running('web')[0]?.exit(1);
  await waitFor('backoff', () => w.state.kind === 'backoff');
  t.match(events, ['started: pid 1000, run 1: web', 'exited with code 1', 'restarting in 100 ms']);
  await waitFor('run 2', () => w.state.kind === 'running' && w.run === 2);
  t.equal(w.restarts, 1);
});

t.test('a stop that is ignored escalates to SIGKILL and says so', async (t) => {
  const procs = new FakeProcesses();
  procs.stubborn.add('web');
  const { w, events } = rig(t, def('web', { shutdownTimeoutMs: 10 }), procs);
  w.start();
  await w.stop();
  t.equal(w.state.kind, 'stopped');
  t.ok(w.forcedKill);
  t.match(events, [
    /^started/,
    'stopping: SIGTERM to process group 1000',
    /did not stop within 10 ms: SIGKILL/,
  ]);
});

t.test('a health test that fails then passes: starting, then running', async (t) => {
  const { w, procs, ups } = rig(t, def('db', { test: ['probe'] }));
  w.start();
  t.equal(w.state.kind, 'starting');
  await waitFor('first probe', () => procs.running('probe').length === 1);
  procs.running('probe')[0]?.exit(1);
  await waitFor('second probe', () => procs.running('probe').length === 1);
  t.match(w.state, { kind: 'starting', testFailures: 1, lastTestError: 'exited with code 1' });
  procs.running('probe')[0]?.exit(0);
  await waitFor('running', () => w.state.kind === 'running');
  t.same(ups, ['db']);
});

t.test('when() answers at the first state that fits, or at its timeout', async (t) => {
  const { w, procs } = rig(t, def('job', { oneshot: true, restart: 'never' }));
  w.start();
  const later = w.when((s) => s.kind === 'success', 5000);
  procs.running('job')[0]?.exit(0);
  t.equal((await later).kind, 'success');
  t.equal((await w.when((s) => s.kind === 'running', 20)).kind, 'success', 'timed out: as it is');
});

t.test('in a cgroup: an exit after the OOM killer struck says so', async (t) => {
  const procs = new FakeProcesses();
  procs.withBoxes = true;
  const limits = {
    memoryMax: 32_000_000,
    memoryHigh: null,
    pidsMax: null,
    cpuMax: null,
    cpuWeight: null,
  };
  const d = def('hog', { restart: 'never' });
  const { w, events } = rig(t, { ...d, sandbox: { ...d.sandbox, limits } }, procs);
  w.start();
  const box = procs.boxes.get('hog');
  if (box === undefined) throw new Error('no box');
  box.oom++;
  procs.running('hog')[0]?.exit(null, 'SIGKILL');
  await waitFor('exited', () => w.state.kind === 'exited');
  t.match(w.lastExit, { signal: 'SIGKILL', oom: 'memory_max 32M reached' });
  t.ok(events.includes('killed by the OOM killer: memory_max 32M reached'), 'the log says so');
});

t.test('in a cgroup: a SIGKILL without an OOM kill is only a SIGKILL', async (t) => {
  const procs = new FakeProcesses();
  procs.withBoxes = true;
  const { w } = rig(t, def('web', { restart: 'never' }), procs);
  w.start();
  procs.running('web')[0]?.exit(null, 'SIGKILL');
  await waitFor('exited', () => w.state.kind === 'exited');
  t.equal(w.lastExit?.oom, undefined);
});

t.test('in a cgroup: a stop ends what left the process group through the group', async (t) => {
  const procs = new FakeProcesses();
  procs.withBoxes = true;
  procs.stubborn.add('web');
  const { w, events } = rig(t, def('web', { shutdownTimeoutMs: 10 }), procs);
  w.start();
  const box = procs.boxes.get('web');
  if (box === undefined) throw new Error('no box');
  box.escaped = 2;
  await w.stop();
  t.equal(w.state.kind, 'stopped');
  t.equal(box.escaped, 0, 'the escaped processes are gone');
  t.ok(box.kills >= 1, 'through the cgroup');
  t.ok(
    events.some((e) => e.includes('cgroup /fake/web')),
    'and the log names the group',
  );
  t.ok(box.removed >= 1, 'the empty group is removed');
});
