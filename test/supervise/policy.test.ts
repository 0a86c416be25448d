// Lifecycle policy end to end, under the real daemon: each dependency
// condition (started, ready, succeeded, completed), a dependant told why it
// can never start, a restart limit that gives up and a cooldown that tries
// again, success exit codes, and schedules (with seconds) that run a
// oneshot repeatedly, never double an overrunning run, and do not run at
// load. Real processes; every wait is for a condition with a deadline.

import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { events, svc, waitEvent } from '../helpers/services.js';

t.test('each dependency condition', async (t) => {
  const flags = tempDir(t, 'sminit-po-');
  const go = join(flags, 'go');
  const d = await startDaemon(t, {
    // Spawned, never ready: `started` is met, `ready` is not.
    slow: svc({ exec: 'sleep 1000', notify: 'systemd' }),
    fails: svc({ exec: "sh -c 'exit 2'", oneshot: true }),
    gate: svc({ exec: `sh -c 'while [ ! -f ${go} ]; do sleep 0.05; done'`, oneshot: true }),
    onstart: svc({ exec: 'sleep 1000', after: { slow: 'started' } }),
    onready: svc({ exec: 'sleep 1000', after: { slow: 'ready' } }),
    oncompleted: svc({ exec: 'sleep 1000', after: { fails: 'completed' } }),
    onsucceeded: svc({ exec: 'sleep 1000', after: { gate: 'succeeded' } }),
    never: svc({ exec: 'sleep 1000', after: { fails: 'succeeded' } }),
  });
  await d.waitStatus('onstart', (s) => s.status === 'running', 'running');
  await d.waitStatus('oncompleted', (s) => s.status === 'running', 'running');
  const never = await d.waitStatus(
    'never',
    (s) => s.reason === 'fails failed (exit 2)',
    'told why',
  );
  t.equal(never.status, 'blocked');
  t.same(never.conditions, { fails: 'succeeded' });
  await waitEvent(d, 'never', /^blocked: fails failed \(exit 2\)$/);
  const onready = await d.status('onready');
  t.equal(onready.status, 'blocked');
  t.equal(onready.reason, 'waiting for slow (ready)');
  t.equal((await d.status('onsucceeded')).reason, 'waiting for gate (succeeded)');
  writeFileSync(go, '');
  await d.waitStatus('onsucceeded', (s) => s.status === 'running', 'running');
  t.match((await d.cli('status', 'never')).stdout, /after: +fails \(exited; needs succeeded\)/);
});

t.test('a restart limit gives up, tells dependants, and a cooldown tries again', async (t) => {
  const d = await startDaemon(t, {
    db: svc({
      exec: "sh -c 'exit 1'",
      ready_log: 'never printed',
      restart_delay: '100ms',
      restart_limit: { count: 2, window: '1m' },
      restart_cooldown: '1s',
    }),
    app: svc({ exec: 'sleep 1000', after: ['db'] }),
    // Never ready before it dies, so its dependant never starts.
    solo: svc({
      exec: "sh -c 'exit 1'",
      ready_log: 'never printed',
      restart_delay: '100ms',
      restart_limit: { count: 1, window: '1m' },
    }),
    fan: svc({ exec: 'sleep 1000', after: ['solo'] }),
  });
  const gave = await d.waitStatus('db', (s) => s.status === 'failed', 'given up');
  t.match(gave.reason, /^gave up after 2 restarts in 1m; retrying in \d+ ms$/);
  t.equal(gave.state, 'Failure', "zinit's string");
  t.match(gave.restart_limit, {
    count: 2,
    window_ms: 60000,
    restarts_in_window: 2,
    cooldown_ms: 1000,
  });
  const fan = await d.waitStatus(
    'fan',
    (s) => s.reason === 'solo gave up after 1 restarts in 1m',
    'told',
  );
  t.equal(fan.status, 'blocked');
  t.match(
    (await d.status('app')).reason,
    /^waiting for db \(gave up after 2 restarts in 1m; trying again at /,
  );
  // The cooldown's try is one more run; it fails too, and the limit gives up again at once.
  const started = await waitFor('a run after the cooldown', async () => {
    const all = (await events(d, 'db')).filter((l) => l.text.startsWith('started'));
    return all.length >= 4 ? all : null;
  });
  t.equal(started.length, 4);
  await d.waitStatus('db', (s) => s.status === 'failed', 'given up again');
  // A start by request forgets the count.
  await d.client.start('solo');
  await waitFor('solo to run again', async () => {
    const all = (await events(d, 'solo')).filter((l) => l.text.startsWith('started'));
    return all.length >= 3;
  });
});

t.test('success exit codes', async (t) => {
  const d = await startDaemon(t, {
    term: svc({
      exec: "sh -c 'kill -TERM $$'",
      restart: 'on-failure',
      success_exit_codes: ['SIGTERM'],
    }),
    code: svc({ exec: "sh -c 'exit 143'", restart: 'on-failure', success_exit_codes: [143] }),
    once: svc({ exec: "sh -c 'exit 3'", oneshot: true, success_exit_codes: [3] }),
    after: svc({ exec: 'sleep 1000', after: { once: 'succeeded' } }),
  });
  const code = await d.waitStatus('code', (s) => s.status === 'exited', 'exited');
  t.equal(code.reason, 'exited with code 143 (counts as success)');
  t.equal(code.restarts, 0, 'not restarted');
  const term = await d.waitStatus('term', (s) => s.status === 'exited', 'exited');
  t.equal(term.reason, 'killed by SIGTERM (counts as success)');
  t.equal(
    (await d.waitStatus('once', (s) => s.status === 'success', 'success')).last_exit?.code,
    3,
  );
  await d.waitStatus('after', (s) => s.status === 'running', 'running');
});

t.test('a schedule with seconds runs a oneshot repeatedly, never doubled', async (t) => {
  const flags = tempDir(t, 'sminit-po-');
  const log = join(flags, 'runs');
  const d = await startDaemon(t, {
    tick: svc({ exec: `sh -c 'echo tick'`, oneshot: true, schedule: '* * * * * *' }),
    // Runs for 2.5 s but is due every second: the runs in between are skipped.
    slow: svc({
      exec: `sh -c 'echo "begin $SMINIT_RUN" >> ${log}; sleep 2.5; echo "end $SMINIT_RUN" >> ${log}'`,
      oneshot: true,
      schedule: '* * * * * *',
    }),
    yearly: svc({ exec: 'true', oneshot: true, schedule: '0 0 1 1 *', schedule_timezone: 'UTC' }),
  });
  const yearly = await d.status('yearly');
  t.equal(yearly.status, 'scheduled', 'not run at load');
  t.match(yearly.reason, /^scheduled; next run \d{4}-01-01T00:00:00\.000Z$/);
  t.match(yearly.schedule, { cron: '0 0 1 1 *', timezone: 'UTC', last_run_succeeded: null });
  t.equal(yearly.state, 'Blocked', "zinit's string before a first run");

  await waitFor(
    'three ticks',
    async () => {
      const all = (await events(d, 'tick')).filter((l) => l.text.startsWith('started'));
      return all.length >= 3;
    },
    15000,
  );
  const tick = await d.waitStatus(
    'tick',
    (s) => s.status === 'scheduled' && s.last_exit !== null,
    'between runs',
  );
  t.match(tick.reason, /^last run succeeded; next run /);
  t.equal(tick.schedule?.last_run_succeeded, true);

  const skipped = await waitEvent(
    d,
    'slow',
    /^skipped the run due at .*: run 1 \(started .*\) is still going$/,
    15000,
  );
  t.ok(skipped);
  await waitFor(
    'two whole runs of slow',
    () => (readFileSync(log, 'utf8').match(/^end /gm) ?? []).length >= 2,
    15000,
  );
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  // Never two at once: each begin is followed by its own end.
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const run = lines[i]?.split(' ')[1];
    t.same([lines[i], lines[i + 1]], [`begin ${run}`, `end ${run}`], `run ${run} alone`);
  }

  // sminit start runs it now.
  await d.client.start('yearly');
  const ran = await d.waitStatus(
    'yearly',
    (s) => s.schedule?.last_run_succeeded === true,
    'run now',
  );
  t.equal(ran.status, 'scheduled');
  t.match(
    (await d.cli('status', 'yearly')).stdout,
    /^schedule: +0 0 1 1 \* \(UTC\); next run .*; last run succeeded$/m,
  );
});
