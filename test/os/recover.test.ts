// Finding and ending what a gone daemon left, against real processes whose
// environments carry made-up markers: only those of this socket whose daemon
// is gone are found; a stop signal they ignore is followed by SIGKILL after
// the timeout; a process forked while the stop was under way is found by the
// rescan; what is found is grouped by service; the sources settle once
// when the ends under way at the same time are over.

import t, { type Test } from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { DAEMON_VAR, MARKER_VAR, RUN_VAR, SOCKET_VAR, daemonId } from '../../lib/os/markers.js';
import { isAlive, readStat } from '../../lib/os/procfs.js';
import {
  type Leftover,
  type LeftoverSource,
  Recovery,
  byService,
  markerSource,
} from '../../lib/os/recover.js';
import { waitFor } from '../helpers/wait.js';

const SOCKET = `/tmp/recover-test-${process.pid}.sock`;
/** pid 1 runs, but not since tick 1: a daemon that is gone. */
const GONE = '1.1';

function marked(
  t: Test,
  service: string,
  script: string,
  daemon = GONE,
  socket = SOCKET,
): ChildProcess {
  const p = spawn('sh', ['-c', script], {
    detached: true,
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      [MARKER_VAR]: `${daemon}:${service}`,
      [DAEMON_VAR]: daemon,
      [RUN_VAR]: '1',
      [SOCKET_VAR]: socket,
    },
  });
  t.teardown(() => {
    try {
      process.kill(-(p.pid ?? 0), 'SIGKILL');
    } catch {
      // Gone already.
    }
  });
  return p;
}

const started = (p: ChildProcess) =>
  waitFor('the process to run its script', () => {
    const s = readStat(p.pid ?? 0);
    return s !== null && s.comm !== 'node' ? s : null;
  });

t.test('only this socket’s processes of gone daemons are found', async (t) => {
  const liveDaemon = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => liveDaemon.kill('SIGKILL'));
  const live = daemonId(liveDaemon.pid ?? 0);
  const mine = marked(t, 'web', 'exec sleep 60');
  const ofLive = marked(t, 'web', 'exec sleep 60', live);
  const elsewhere = marked(t, 'web', 'exec sleep 60', GONE, '/tmp/another.sock');
  const self = marked(t, 'web', 'exec sleep 60', daemonId());
  for (const p of [mine, ofLive, elsewhere, self]) await started(p);
  const found = await markerSource(SOCKET).find(false);
  t.same(
    found.map((l) => [l.pid, l.service, l.daemonPid]),
    [[mine.pid, 'web', 1]],
  );
  t.same(await markerSource(SOCKET).find(true), found, 'a rescan of those born since finds it too');
});

t.test('a stop ignored is followed by SIGKILL; a fork meanwhile is rescanned', async (t) => {
  // Ignores TERM; on it, a child in a session of its own (still marked).
  const stubborn = marked(
    t,
    'db',
    `trap 'setsid sleep 61 &' TERM; sleep 60 & while :; do wait; done`,
  );
  const polite = marked(t, 'web', 'exec sleep 60');
  await started(stubborn);
  await started(polite);
  const settles = counting();
  const recovery = new Recovery([markerSource(SOCKET), settles]);
  const runs = await recovery.find();
  t.same(
    runs.map((r) => [r.service, r.daemons]),
    [
      ['db', [1]],
      ['web', [1]],
    ],
  );
  const [db, web] = runs;
  t.equal(web?.processes.length, 1);
  const [dbEnded, webEnded] = await Promise.all([
    recovery.end(db!, 'SIGTERM', 300),
    recovery.end(web!, 'SIGTERM', 5000),
  ]);
  t.same(webEnded, { ended: 1, stuck: 0 }, 'web ended on its stop signal');
  t.equal(dbEnded.stuck, 0, 'db ended on SIGKILL');
  t.ok(dbEnded.ended > (db?.processes.length ?? 0), 'with what it forked meanwhile');
  for (const r of runs) for (const l of r.processes) t.notOk(isAlive(l.pid, l.startTime));
  t.same(await recovery.find(), [], 'nothing is left');
  t.equal(settles.count, 1, 'settled once, after both');
});

/** A source that finds nothing and counts how often it is settled. */
function counting(): LeftoverSource & { count: number } {
  const source = {
    count: 0,
    find: async (): Promise<Leftover[]> => [],
    settle: () => void source.count++,
  };
  return source;
}

t.test('ends at the same time settle once, when the last is over', async (t) => {
  const settles = counting();
  const recovery = new Recovery([settles]);
  // pid 1 did not start at tick 1: leftovers that are gone already.
  const run = (service: string) => ({
    service,
    daemons: [1],
    processes: [{ pid: 1, startTime: 1, service, daemonPid: 1 }],
  });
  await Promise.all(['a', 'b', 'c'].map((s) => recovery.end(run(s), 'SIGTERM', 1000)));
  t.equal(settles.count, 1, 'three services, one settle');
  t.same(await recovery.end(run('d'), 'SIGTERM', 1000), { ended: 1, stuck: 0 });
  t.equal(settles.count, 2, 'an end on its own settles when it is over');
});

t.test('byService groups by service, daemons ascending', async (t) => {
  const l = (pid: number, service: string, daemonPid: number) => ({
    pid,
    startTime: 1,
    service,
    daemonPid,
  });
  t.same(
    byService([l(3, 'web', 9), l(4, 'db', 2), l(5, 'web', 7)]).map((r) => [
      r.service,
      r.daemons,
      r.processes.map((p) => p.pid),
    ]),
    [
      ['db', [2], [4]],
      ['web', [7, 9], [3, 5]],
    ],
  );
});
