// Ordered shutdown of a daemon that is not PID 1: `sminit shutdown` and
// signals stop dependants first and independent services together, nothing
// new starts meanwhile, a third signal forces it, orphans are reaped by
// sminitd as a child subreaper, and nothing of any service survives —
// including a grandchild that left its group and dropped its marker.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { RpcError } from '../../lib/client/client.js';
import { findByEnv, isAlive, processTable, readStat } from '../../lib/os/procfs.js';
import { daemonId } from '../../lib/os/markers.js';
import { rawCall, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor, waitForInGroup } from '../helpers/wait.js';

/** A service that takes `delay` seconds to stop, then records it in `file`. */
function slowStop(file: string, name: string, delay: number, extra = ''): string {
  // Healthy only once the trap is set and nothing more is forked (a builtin
  // writes the mark), so a stop never races the script's start.
  const ready = `${file}.${name}.ready`;
  return [
    `exec: sh -c 'trap "sleep ${delay}; echo ${name} >> ${file}; exit 0" TERM; sleep 1000 & echo > ${ready}; wait'`,
    `test: test -f ${ready}`,
    'test_interval: 20ms',
    extra,
  ].join('\n');
}

/** When the daemon logged the first line matching `re` (epoch ms). */
function at(stderr: string, re: RegExp): number {
  const line = stderr.split('\n').find((l) => re.test(l));
  return line === undefined ? NaN : Date.parse(line.slice(0, line.indexOf(' ')));
}

t.test('sminit shutdown: reverse order, independent services in parallel', async (t) => {
  const order = join(tempDir(t), 'order');
  const d = await startDaemon(t, {
    db: slowStop(order, 'db', 0.1),
    web: slowStop(order, 'web', 0.1, 'after: [db]\n'),
    // Two independent services that each take 1 s to stop: together, 1 s.
    p1: slowStop(order, 'p1', 1),
    p2: slowStop(order, 'p2', 1),
  });
  for (const n of ['db', 'web', 'p1', 'p2'])
    await d.waitStatus(n, (s) => s.status === 'running', 'up');
  const t0 = Date.now();
  const r = await d.cli('shutdown');
  t.equal(r.code, 0, r.stderr);
  t.equal(await d.exited, 0);
  const ms = Date.now() - t0;
  const lines = readFileSync(order, 'utf8').trim().split('\n');
  t.same(
    lines.filter((l) => l === 'db' || l === 'web'),
    ['web', 'db'],
  );
  t.same(lines.filter((l) => l.startsWith('p')).sort(), ['p1', 'p2']);
  // Measured by the daemon's own clock: from the start of the stop to its end.
  const stopMs = at(d.stderr(), /all services stopped/) - at(d.stderr(), /shutting down \d+/);
  t.ok(stopMs < 1800, `independent stops overlapped (${stopMs} ms for two 1 s stops)`);
  t.ok(ms >= stopMs);
});

t.test('during shutdown, starts and adds are refused with -32006', async (t) => {
  const order = join(tempDir(t), 'order');
  const d = await startDaemon(t, {
    slow: slowStop(order, 'slow', 1.5),
    other: 'exec: sleep 1000\n',
  });
  await d.waitStatus('slow', (s) => s.status === 'running', 'up');
  d.write('late', 'exec: sleep 1000\n');
  await d.client.call('system_shutdown');
  await waitFor('the shutdown to begin', () => /shutting down 2 services/.test(d.stderr()));
  const refused = async (what: string, p: Promise<unknown>): Promise<void> => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof RpcError && err.code === -32006, `${what} refused: ${String(err)}`);
  };
  await refused('start', d.client.start('other'));
  await refused('restart', d.client.restart('other'));
  await refused('add', d.client.monitor('late'));
  await refused('a second shutdown', d.client.call('system_shutdown'));
  t.equal(await d.exited, 0);
  t.notMatch(d.stderr(), /late: started/);
});

t.test('a third signal forces the stop; a second does not', async (t) => {
  const d = await startDaemon(t, {
    stubborn: `exec: sh -c 'trap "" TERM; exec sleep 1000'\nshutdown_timeout: 60\n`,
  });
  const s = await d.waitStatus('stubborn', (s) => s.status === 'running', 'up');
  await waitForInGroup(s.pid, 'sleep');
  const t0 = Date.now();
  d.proc.kill('SIGTERM');
  await waitFor('the stop', () => /stubborn: stopping/.test(d.stderr()));
  d.proc.kill('SIGINT');
  await waitFor('the second signal', () => /still stopping in order/.test(d.stderr()));
  t.equal(d.proc.exitCode, null, 'still running after the second signal');
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 1, 'a forced stop is not clean');
  t.ok(Date.now() - t0 < 5000, 'did not wait for the 60 s timeout');
  t.match(d.stderr(), /forcing the shutdown/);
  t.notOk(readStat(s.pid) !== null && readStat(s.pid)?.state !== 'Z', 'the service is gone');
});

t.test('a grandchild that left its group without the marker is killed', async (t) => {
  const tag = `gc-${process.pid}-${Date.now()}`;
  const d = await startDaemon(t, {
    leaver: [
      `exec: sh -c 'setsid -f env -u SMINIT_SERVICE -u SMINIT_DAEMON sleep 1000; exec sleep 1000'`,
      `env: { GC_TAG: ${tag} }`,
      '',
    ].join('\n'),
  });
  await d.waitStatus('leaver', (s) => s.status === 'running', 'up');
  const escapee = await waitFor('the grandchild', async () => {
    const table = await processTable();
    const tagged = await findByEnv(table, 'GC_TAG', tag);
    const marked = new Set(await findByEnv(tagged, 'SMINIT_DAEMON', daemonId(d.pid)));
    const gone = tagged.filter((p) => !marked.has(p));
    return gone.length === 1 ? readStat(gone[0]!) : null;
  });
  t.equal(escapee.ppid, d.pid, 'sminitd, a subreaper, adopted it');
  const r = await d.cli('shutdown');
  t.equal(r.code, 0);
  t.equal(await d.exited, 0);
  // Through its cgroup at the stop where sminitd has cgroups (as here), else the shutdown sweep.
  t.match(
    d.stderr(),
    /leaver: SIGTERM to 1 process of cgroup \/\S+ outside its process group|killed 1 leftover process\b/,
  );
  t.notOk(isAlive(escapee.pid, escapee.startTime), 'the grandchild is gone');
});

t.test('as a subreaper, sminitd reaps orphans of its services', async (t) => {
  const d = await startDaemon(t, {
    orphans: `exec: sh -c 'i=0; while [ $i -lt 200 ]; do (true &); i=$((i+1)); done'\noneshot: true\n`,
  });
  await d.waitStatus('orphans', (s) => s.status === 'success', 'done', 30000);
  await waitFor(
    'no zombie child of sminitd',
    async () => !(await processTable()).some((p) => p.ppid === d.pid && p.state === 'Z'),
  );
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
  const reaped = Number(/reaped (\d+) orphaned/.exec(d.stderr())?.[1]);
  t.ok(reaped >= 200, `reaped ${reaped}`);
});

t.test('reboot when not PID 1: says so and exits', async (t) => {
  const d = await startDaemon(t, { web: 'exec: sleep 1000\n' });
  await d.waitStatus('web', (s) => s.status === 'running', 'up');
  const r = await d.cli('reboot');
  t.equal(r.code, 0);
  t.equal(await d.exited, 0);
  t.match(
    d.stderr(),
    /reboot requested: sminitd is not PID 1, so not this machine.s init; it exits/,
  );
});

t.test('the bound holds even when the manager queue is stuck', async (t) => {
  const d = await startDaemon(t, { web: 'exec: sleep 1000\nshutdown_timeout: 1\n' }, [], {
    env: { ...process.env, SMINIT_DEBUG_FAULTS: '1' },
  });
  const web = await d.waitStatus('web', (s) => s.status === 'running', 'up');
  // As if a command hung: the ordered stop, queued behind it, never runs.
  await rawCall(d.socket, { method: 'debug_fault', params: { kind: 'stall' } });
  const t0 = Date.now();
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 1, 'ended unclean');
  const ms = Date.now() - t0;
  t.match(d.stderr(), /bound 3000 ms/);
  t.match(d.stderr(), /shutdown bound of 3000 ms reached: killing every process left/);
  t.ok(ms >= 2900 && ms < 5000, `ended at the bound (${ms} ms)`);
  t.notOk(readStat(web.pid) !== null && readStat(web.pid)?.state !== 'Z', 'the service is gone');
});
