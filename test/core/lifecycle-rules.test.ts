// The pure rules behind lifecycle policy: probe thresholds, dependency
// condition verdicts, the restart window, success exit codes, zinit's
// strings for the new states. Plain data in, plain data out.

import t from 'tap';
import { judge } from '../../lib/core/conditions.js';
import { failureText, initialTally, record } from '../../lib/core/probe.js';
import { admitRestart } from '../../lib/core/restart-limit.js';
import {
  type ExitInfo,
  type ServiceState,
  describeExit,
  exitSucceeded,
  isUp,
  reasonOf,
  zinitState,
} from '../../lib/core/state.js';

const exit = (code: number | null, signal: string | null = null): ExitInfo => ({
  pid: 7,
  code,
  signal,
  at: 0,
});

t.test('probe thresholds: failures and passes in a row flip it', async (t) => {
  const p = { successThreshold: 2, failureThreshold: 3 };
  let tally = initialTally(true);
  const flips: boolean[] = [];
  for (const ok of [false, false, true, false, false, false, true, true]) {
    const r = record(tally, { ok, reason: ok ? 'HTTP 200' : 'HTTP 503', at: 0 }, p);
    tally = r.tally;
    flips.push(r.flipped);
  }
  t.same(flips, [false, false, false, false, false, true, false, true]);
  t.equal(tally.passing, true);
  t.equal(tally.successes, 2);
  t.equal(
    failureText({ kind: 'http', url: 'http://x/h', statuses: null }, 'HTTP 503'),
    'HTTP 503 from http://x/h',
  );
  t.equal(
    failureText({ kind: 'tcp', host: '::1', port: 80 }, 'connection refused'),
    'connection refused from [::1]:80',
  );
});

t.test('dependency conditions', async (t) => {
  const long = { oneshot: false, successCodes: { codes: [0], signals: [] } };
  const once = { oneshot: true, successCodes: { codes: [0, 3], signals: [] } };
  const dep = (def: typeof long, state: ServiceState) => ({ name: 'd', def, state });
  const running: ServiceState = { kind: 'running', since: 0, pid: 1 };
  const unready: ServiceState = { kind: 'running', since: 0, pid: 1, unready: 'HTTP 503' };
  const starting: ServiceState = {
    kind: 'starting',
    since: 0,
    pid: 1,
    testFailures: 0,
    lastTestError: null,
  };
  const failedOnce: ServiceState = { kind: 'exited', since: 0, lastExit: exit(1) };
  t.same(judge('started', dep(long, starting)), { met: true });
  t.same(judge('ready', dep(long, starting)), { met: false, never: null, note: null });
  t.same(judge('ready', dep(long, unready)), {
    met: false,
    never: null,
    note: 'not ready: HTTP 503',
  });
  t.same(judge('up', dep(long, running)), { met: true });
  t.same(judge('up', dep(once, failedOnce)), {
    met: false,
    never: 'd failed (exit 1)',
    note: null,
  });
  t.same(judge('completed', dep(once, failedOnce)), { met: true });
  t.same(judge('succeeded', dep(once, { kind: 'exited', since: 0, lastExit: exit(3) })), {
    met: true,
  });
  t.same(judge('ready', dep(long, { kind: 'exited', since: 0, lastExit: exit(0) })), {
    met: false,
    never: 'd exited (exit 0) and does not restart',
    note: null,
  });
  t.same(
    judge(
      'ready',
      dep(long, {
        kind: 'failed',
        since: 0,
        error: 'gave up after 5 restarts in 1m',
        retryAt: null,
      }),
    ),
    {
      met: false,
      never: 'd gave up after 5 restarts in 1m',
      note: null,
    },
  );
  t.same(judge('ready', { name: 'ghost', def: null, state: null }), {
    met: false,
    never: null,
    note: null,
  });
});

t.test('the restart window: more than count within it gives up', async (t) => {
  const limit = { count: 2, windowMs: 1000 };
  let times: number[] = [];
  const verdicts: boolean[] = [];
  for (const now of [0, 100, 200, 1150, 1300, 1400]) {
    const r = admitRestart(times, now, limit);
    times = r.times;
    verdicts.push(r.gaveUp);
  }
  t.same(verdicts, [false, false, true, false, false, true]);
  t.same(admitRestart([1, 2, 3], 4, null), { times: [], gaveUp: false }, 'no limit');
});

t.test('success exit codes, and the new states in zinit words', async (t) => {
  const codes = { codes: [0, 143], signals: ['SIGTERM' as const] };
  t.ok(exitSucceeded(exit(143), codes));
  t.ok(exitSucceeded(exit(null, 'SIGTERM'), codes));
  t.notOk(exitSucceeded(exit(1), codes));
  t.equal(describeExit(exit(143), codes), 'exited with code 143 (counts as success)');
  t.equal(describeExit(exit(0), codes), 'exited with code 0');
  const sched: ServiceState = {
    kind: 'scheduled',
    since: 0,
    nextRun: 0,
    lastExit: null,
    succeeded: null,
  };
  t.equal(zinitState(sched), 'Blocked');
  t.equal(zinitState({ ...sched, lastExit: exit(0), succeeded: true }), 'Success');
  t.equal(
    zinitState({ ...sched, lastExit: exit(2), succeeded: false }),
    'Error(Exited(Pid(7), 2))',
  );
  t.equal(
    reasonOf({ ...sched, lastExit: exit(2), succeeded: false }, 0),
    'last run failed (exit 2); next run 1970-01-01T00:00:00.000Z',
  );
  t.equal(zinitState({ kind: 'running', since: 0, pid: 1, unready: 'x' }), 'Running');
  t.notOk(isUp({ kind: 'running', since: 0, pid: 1, unready: 'x' }));
  t.equal(
    reasonOf({ kind: 'blocked', since: 0, waitingFor: ['db'], cannot: ['m failed (exit 1)'] }, 0),
    'm failed (exit 1); waiting for db',
  );
});
