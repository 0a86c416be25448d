// The state machine's decisions and renderings: backoff, whether to
// restart, zinit's state strings, and the reason people read.

import t from 'tap';
import {
  type ExitInfo,
  type ServiceState,
  backoff,
  reasonOf,
  shouldRestart,
  zinitState,
} from '../../lib/core/state.js';

const exit = (over: Partial<ExitInfo> = {}): ExitInfo => ({
  pid: 12,
  code: 1,
  signal: null,
  at: 1000,
  ...over,
});

t.test('backoff', async (t) => {
  const def = { restartDelayMs: 100, restartMaxDelayMs: 1000, stableAfterMs: 10_000 };
  const delays: number[] = [];
  let attempt = 0;
  for (let i = 0; i < 7; i++) {
    const b = backoff(def, attempt, 50);
    delays.push(b.delayMs);
    t.equal(b.nextAttempt, attempt + 1);
    attempt = b.nextAttempt;
  }
  t.same(delays, [100, 200, 400, 800, 1000, 1000, 1000], 'doubles up to the maximum');
  t.same(backoff(def, 6, 10_000), { delayMs: 0, nextAttempt: 0 }, 'a stable run resets');
  t.same(backoff(def, 6, 9_999), { delayMs: 1000, nextAttempt: 7 }, 'just short of stable');
  t.same(backoff(def, 0, 0), { delayMs: 100, nextAttempt: 1 }, 'after a reset, from the start');
  t.equal(backoff(def, 1e6, 0).delayMs, 1000, 'no overflow for huge attempt numbers');
  t.equal(
    backoff({ ...def, restartMaxDelayMs: Number.MAX_SAFE_INTEGER }, 1e6, 0).delayMs,
    100 * 2 ** 30,
    'the exponent is capped',
  );
});

t.test('shouldRestart', async (t) => {
  const fail = exit({ code: 3 });
  const ok = exit({ code: 0 });
  const killed = exit({ code: null, signal: 'SIGKILL' });
  t.same(
    [shouldRestart('always', ok), shouldRestart('always', fail), shouldRestart('always', killed)],
    [true, true, true],
  );
  t.same(
    [
      shouldRestart('on-failure', ok),
      shouldRestart('on-failure', fail),
      shouldRestart('on-failure', killed),
    ],
    [false, true, true],
    'on-failure: non-zero status or a signal',
  );
  t.same(
    [shouldRestart('never', ok), shouldRestart('never', fail), shouldRestart('never', killed)],
    [false, false, false],
  );
});

t.test('zinitState', async (t) => {
  const cases: [ServiceState, string][] = [
    [{ kind: 'exited', since: 0, lastExit: exit() }, 'Error(Exited(Pid(12), 1))'],
    [
      { kind: 'exited', since: 0, lastExit: exit({ code: null, signal: 'SIGTERM' }) },
      'Error(Signaled(Pid(12), SIGTERM, false))',
    ],
    [{ kind: 'blocked', since: 0, waitingFor: ['db'] }, 'Blocked'],
    [{ kind: 'success', since: 0, lastExit: exit({ code: 0 }) }, 'Success'],
    [{ kind: 'running', since: 0, pid: 5 }, 'Running'],
    [{ kind: 'stopping', since: 0, pid: 5, killAt: 10 }, 'Running'],
    [{ kind: 'starting', since: 0, pid: 5, testFailures: 0, lastTestError: null }, 'Spawned'],
    [{ kind: 'starting', since: 0, pid: 5, testFailures: 2, lastTestError: 'x' }, 'TestFailure'],
    [{ kind: 'stopped', since: 0, lastExit: null }, 'Unknown'],
    [{ kind: 'stopped', since: 0, lastExit: exit({ code: 0 }) }, 'Error(Exited(Pid(12), 0))'],
    [
      { kind: 'backoff', since: 0, retryAt: 5, lastExit: exit({ code: 2 }), error: null },
      'Error(Exited(Pid(12), 2))',
    ],
    [{ kind: 'backoff', since: 0, retryAt: 5, lastExit: null, error: 'ENOENT' }, 'Failure'],
    [{ kind: 'failed', since: 0, error: 'ENOENT', retryAt: null }, 'Failure'],
  ];
  for (const [state, want] of cases) t.equal(zinitState(state), want, `${state.kind} → ${want}`);
});

t.test('reasonOf', async (t) => {
  t.equal(reasonOf({ kind: 'running', since: 0, pid: 1 }, 0), 'up');
  t.equal(reasonOf({ kind: 'blocked', since: 0, waitingFor: ['a', 'b'] }, 0), 'waiting for a, b');
  t.equal(
    reasonOf({ kind: 'backoff', since: 0, retryAt: 1500, lastExit: exit(), error: null }, 1000),
    'exited with code 1; restarting in 500 ms',
  );
  t.equal(
    reasonOf({ kind: 'stopping', since: 0, pid: 1, killAt: 900 }, 1000),
    'stopping (SIGKILL in 0 ms)',
    'never negative',
  );
  t.equal(
    reasonOf({ kind: 'stopped', since: 0, lastExit: exit({ code: null, signal: 'SIGTERM' }) }, 0),
    'stopped (killed by SIGTERM)',
  );
  t.equal(
    reasonOf({ kind: 'failed', since: 0, error: 'no such file', retryAt: null }, 0),
    'no such file',
  );
  const starting = {
    kind: 'starting',
    since: 0,
    pid: 1,
    testFailures: 0,
    lastTestError: null,
  } as const;
  t.equal(reasonOf(starting, 0), 'started, health test pending');
  t.equal(
    reasonOf(starting, 0, undefined, true),
    'running once; dependants wait for it to succeed',
    'a oneshot that runs says so',
  );
});
