// End-to-end lifecycle of services under the real daemon: dependency order,
// oneshot gating, health-test timeouts, restart backoff and its reset, stop
// escalation, whole-tree stops, restart, spawn failures, forget, missing
// dependencies and restart policies. Every test runs real processes and waits
// for conditions with deadlines.

import t from 'tap';
import type { Test as TapTest } from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findByEnv, isAlive, processTable, readStat } from '../../lib/os/procfs.js';
import { MARKER_VAR, markerValue } from '../../lib/os/markers.js';
import type { LogLine } from '../../lib/api/wire.js';
import { type Daemon, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

/** A service file from plain values: JSON scalars and flow mappings are valid YAML. */
function svc(fields: Record<string, unknown>): string {
  return (
    Object.entries(fields)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n') + '\n'
  );
}

/** The daemon's lifecycle events about `name`, in log order. */
async function events(d: Daemon, name: string): Promise<LogLine[]> {
  const { lines } = await d.client.readLogs({ names: [name] });
  return lines.filter((l) => l.stream === 'event');
}

/** Waits until `name` has at least `count` events matching `re`, and returns them. */
function waitEvents(
  d: Daemon,
  name: string,
  re: RegExp,
  count: number,
  timeoutMs = 10000,
): Promise<LogLine[]> {
  return waitFor(
    `${count} events of ${name} matching ${re}`,
    async () => {
      const hits = (await events(d, name)).filter((l) => re.test(l.text));
      return hits.length >= count ? hits : null;
    },
    timeoutMs,
  );
}

interface Proc {
  readonly pid: number;
  readonly startTime: number;
  readonly argv: string[];
}

function argvOf(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s, i, all) => s !== '' || i < all.length - 1);
  } catch {
    return null;
  }
}

/** Live (non-zombie) processes carrying the marker of service `name` of daemon `d`. */
/** Waits until the service's marked `sleep 1000` processes are `enough` in number, and returns them. */
function waitSleeps(
  d: Daemon,
  name: string,
  what: string,
  enough: (n: number) => boolean,
): Promise<Proc[]> {
  return waitFor(what, async () => {
    const found = (await serviceProcs(d, name)).filter(isSleep('1000'));
    return enough(found.length) ? found : null;
  });
}

async function serviceProcs(d: Daemon, name: string): Promise<Proc[]> {
  const table = await processTable();
  const pids = await findByEnv(table, MARKER_VAR, markerValue(d.proc.pid ?? 0, name));
  const out: Proc[] = [];
  for (const pid of pids) {
    const stat = table.find((p) => p.pid === pid);
    const argv = argvOf(pid);
    if (stat && argv && stat.state !== 'Z') out.push({ pid, startTime: stat.startTime, argv });
  }
  return out;
}

/** Gone, or a zombie nobody has reaped yet: either way, not running. */
function notRunning(pid: number): boolean {
  const s = readStat(pid);
  return s === null || s.state === 'Z' || s.state === 'X';
}

/** The daemon with these service files: its socket answers only once they are tracked. */
async function daemon(t: TapTest, files: Record<string, string>): Promise<Daemon> {
  const d = await startDaemon(t, files);
  const tracked = await d.client.list();
  t.ok(
    Object.keys(files).every((n) => Object.hasOwn(tracked, n)),
    'every service is tracked at the first request',
  );
  return d;
}

const isSleep = (seconds: string) => (p: Proc) =>
  p.argv.length === 2 && p.argv[0]?.endsWith('sleep') === true && p.argv[1] === seconds;

t.test('a dependant starts only after its dependency is healthy', async (t) => {
  const flags = tempDir(t, 'sminit-lc-');
  const ready = join(flags, 'ready');
  const d = await daemon(t, {
    a: svc({ exec: 'sleep 1000', test: `test -f ${ready}`, test_interval: '50ms' }),
    b: svc({ exec: 'sleep 1000', after: ['a'] }),
  });
  // Once a's test has failed a few times, b has had every chance to start wrongly.
  await d.waitStatus(
    'a',
    (s) => s.status === 'starting' && /health test failing \([3-9]x\)/.test(s.reason),
    'failing its health test',
  );
  const b = await d.status('b');
  t.equal(b.status, 'blocked', 'b is blocked while a is starting');
  t.match(b.reason, /waiting for a/);
  t.same(b.dependencies, { a: 'starting' });
  t.equal(b.pid, 0, 'b has no process');
  t.notOk(
    (await events(d, 'b')).some((l) => l.text.startsWith('started')),
    'b was never started',
  );

  writeFileSync(ready, '');
  await d.waitStatus('b', (s) => s.status === 'running', 'running');
  t.equal((await d.status('a')).status, 'running');

  const healthy = (await events(d, 'a')).filter((l) => l.text.startsWith('healthy'));
  const started = (await events(d, 'b')).filter((l) => l.text.startsWith('started'));
  t.equal(healthy.length, 1, 'a became healthy once');
  t.equal(started.length, 1, 'b started once');
  t.ok(
    (started[0]?.seq ?? 0) > (healthy[0]?.seq ?? Infinity),
    `b started (seq ${started[0]?.seq}) after a was healthy (seq ${healthy[0]?.seq})`,
  );
});

t.test('oneshot dependencies gate their dependants', async (t) => {
  t.test('a dependant starts after the oneshot exits 0', async (t) => {
    const flags = tempDir(t, 'sminit-lc-');
    const go = join(flags, 'go');
    const d = await daemon(t, {
      setup: svc({
        exec: `sh -c 'while [ ! -f ${go} ]; do sleep 0.02; done'`,
        oneshot: true,
      }),
      app: svc({ exec: 'sleep 1000', after: ['setup'] }),
    });
    await d.waitStatus('setup', (s) => s.status === 'starting' && s.pid > 0, 'running');
    const app = await d.status('app');
    t.equal(app.status, 'blocked', 'blocked while the oneshot runs');
    t.same(app.dependencies, { setup: 'starting' });

    writeFileSync(go, '');
    await d.waitStatus('app', (s) => s.status === 'running', 'running');
    const setup = await d.status('setup');
    t.equal(setup.status, 'success');
    t.equal(setup.last_exit?.code, 0);

    const exited = (await events(d, 'setup')).find((l) => l.text === 'exited with code 0');
    const started = (await events(d, 'app')).find((l) => l.text.startsWith('started'));
    t.ok(exited && started && started.seq > exited.seq, 'app started after setup exited 0');
  });

  t.test('a oneshot that exits 1 leaves its dependant blocked', async (t) => {
    const d = await daemon(t, {
      setup: svc({ exec: "sh -c 'exit 1'", oneshot: true }),
      app: svc({ exec: 'sleep 1000', after: ['setup'] }),
    });
    const setup = await d.waitStatus('setup', (s) => s.status === 'exited', 'exited');
    t.equal(setup.last_exit?.code, 1);
    t.equal(setup.restarts, 0, 'a oneshot is not restarted');
    const app = await d.status('app');
    t.equal(app.status, 'blocked');
    // It never starts as things stand, and says why (zinit would wait without a word).
    t.equal(app.reason, 'setup failed (exit 1)');
    t.same(app.dependencies, { setup: 'exited' });
    t.notOk(
      (await events(d, 'app')).some((l) => l.text.startsWith('started')),
      'never started',
    );
  });
});

t.test('a health test that hangs is timed out and killed', async (t) => {
  const d = await daemon(t, {
    slow: svc({
      exec: 'sleep 1000',
      test: 'sleep 30',
      test_timeout: '500ms',
      test_interval: '50ms',
    }),
  });
  const seen = new Map<number, number>();
  let mostAlive = 0;
  const s = await waitFor(
    'three health-test timeouts',
    async () => {
      const tests = (await serviceProcs(d, 'slow')).filter(isSleep('30'));
      for (const p of tests) seen.set(p.pid, p.startTime);
      mostAlive = Math.max(mostAlive, tests.length);
      const st = await d.status('slow');
      return /\([3-9]x\)/.test(st.reason) ? st : null;
    },
    10000,
  );
  t.equal(s.status, 'starting', 'still starting');
  t.equal(s.state, 'TestFailure');
  t.match(s.reason, /timed out after 500 ms/);
  // A /proc scan may miss a run on a loaded machine, but not every one of them.
  t.ok(seen.size >= 1, `saw ${seen.size} test processes`);
  t.ok(mostAlive <= 1, `at most one test process at a time (saw ${mostAlive})`);
  // Every test run but the newest has been killed.
  const newest = [...seen.entries()].sort((x, y) => x[1] - y[1] || x[0] - y[0]).pop();
  const stale = [...seen].filter(([pid]) => pid !== newest?.[0]);
  for (const [pid, start] of stale) t.notOk(isAlive(pid, start), `test process ${pid} is gone`);

  await d.client.stop('slow');
  // The test process gets SIGKILL at the stop; its death is not awaited.
  await waitFor(
    'no test process after the stop',
    async () => (await serviceProcs(d, 'slow')).filter(isSleep('30')).length === 0,
    1000,
  );
  t.pass('no test process outlives the stop');
});

t.test('restart backoff', async (t) => {
  t.test('doubles up to restart_max_delay', async (t) => {
    const d = await daemon(t, {
      crash: svc({ exec: "sh -c 'exit 1'", restart_delay: '100ms', restart_max_delay: '800ms' }),
    });
    const lines = await waitEvents(d, 'crash', /^restarting in \d+ ms$/, 5);
    t.same(
      lines.slice(0, 5).map((l) => l.text),
      [100, 200, 400, 800, 800].map((ms) => `restarting in ${ms} ms`),
    );
    const s = await d.status('crash');
    t.ok(s.restarts >= 5, `counted ${s.restarts} restarts`);
    await d.client.stop('crash');
  });

  t.test('no file makes a crashing service restart in a loop', async (t) => {
    const d = await daemon(t, {
      spin: svc({
        exec: 'false',
        restart_delay: '1ms',
        restart_max_delay: '1ms',
        stable_after: '1ms',
      }),
    });
    const lines = await waitEvents(d, 'spin', /^restarting /, 4);
    t.same(
      lines.slice(0, 4).map((l) => l.text),
      Array(4).fill('restarting in 100 ms'),
      'a run under a second is never stable, and waits at least 100 ms',
    );
    await d.client.stop('spin');
  });

  t.test('resets after the service stayed up past stable_after', async (t) => {
    const stableMs = 1000;
    const d = await daemon(t, {
      victim: svc({
        exec: 'sleep 1000',
        restart_delay: '100ms',
        restart_max_delay: '10s',
        stable_after: `${stableMs}ms`,
      }),
    });
    let pid = (await d.waitStatus('victim', (s) => s.status === 'running', 'running')).pid;
    const crashQuickly = async (n: number): Promise<void> => {
      const before = await d.status('victim');
      t.ok(
        (before.uptime_ms ?? Infinity) < stableMs,
        `killed after ${before.uptime_ms} ms: a quick crash`,
      );
      await d.client.kill('victim', 'SIGKILL');
      await waitEvents(d, 'victim', /^restarting /, n);
      const old = pid;
      pid = (
        await d.waitStatus('victim', (s) => s.status === 'running' && s.pid !== old, 'restarted')
      ).pid;
    };
    await crashQuickly(1);
    await crashQuickly(2);
    await crashQuickly(3);
    let texts = (await waitEvents(d, 'victim', /^restarting /, 3)).map((l) => l.text);
    t.same(texts, ['restarting in 100 ms', 'restarting in 200 ms', 'restarting in 400 ms']);

    await d.waitStatus('victim', (s) => (s.uptime_ms ?? 0) > stableMs + 50, 'up past stable_after');
    await d.client.kill('victim', 'SIGKILL');
    texts = (await waitEvents(d, 'victim', /^restarting /, 4)).map((l) => l.text);
    t.match(texts[3], /^restarting now/, 'a stable service restarts at once');
    const old = pid;
    pid = (
      await d.waitStatus('victim', (s) => s.status === 'running' && s.pid !== old, 'restarted')
    ).pid;

    await crashQuickly(5);
    texts = (await waitEvents(d, 'victim', /^restarting /, 5)).map((l) => l.text);
    t.equal(texts[4], 'restarting in 100 ms', 'the backoff starts again from restart_delay');
    await d.client.stop('victim');
  });
});

t.test('stop escalates to SIGKILL after shutdown_timeout', async (t) => {
  const flags = tempDir(t, 'sminit-lc-');
  const trapped = join(flags, 'trapped');
  const d = await daemon(t, {
    stubborn: svc({
      exec: `sh -c 'trap "" TERM; touch ${trapped}; while :; do sleep 0.1; done'`,
      shutdown_timeout: '300ms',
    }),
  });
  const { pid } = await d.waitStatus('stubborn', (s) => s.status === 'running', 'running');
  // The trap must be in place before the stop, or SIGTERM would simply work.
  await waitFor('the TERM trap', () => existsSync(trapped));
  const began = Date.now();
  await d.client.stop('stubborn');
  const elapsed = Date.now() - began;
  t.ok(elapsed >= 300, `stop took ${elapsed} ms, at least the 300 ms timeout`);
  t.ok(notRunning(pid), `main process ${pid} is gone`);
  const group = (await processTable()).filter((p) => p.pgrp === pid && p.state !== 'Z');
  t.same(group, [], 'nothing is left in its process group');
  const s = await d.status('stubborn');
  t.equal(s.status, 'stopped');
  t.equal(s.last_exit?.signal, 'SIGKILL');
  const texts = (await events(d, 'stubborn')).map((l) => l.text);
  t.ok(
    texts.some((x) => x.startsWith(`did not stop within 300 ms: SIGKILL to process group ${pid}`)),
    'the log shows the SIGKILL',
  );
});

t.test('stop reaches every descendant, including one that left the group', async (t) => {
  const d = await daemon(t, {
    tree: svc({ exec: "sh -c 'sleep 1000 & sleep 1000 & setsid sleep 1000 & wait'" }),
  });
  const { pid } = await d.waitStatus('tree', (s) => s.status === 'running', 'running');
  const sleeps = await waitSleeps(d, 'tree', 'three sleeps', (n) => n === 3);
  const escaped = sleeps.filter((p) => readStat(p.pid)?.pgrp !== pid);
  const inGroup = sleeps.filter((p) => !escaped.includes(p));
  t.equal(escaped.length, 1, 'one sleep left the process group');
  await d.client.stop('tree');
  t.ok(notRunning(pid), 'the shell is gone');
  for (const p of inGroup) t.notOk(isAlive(p.pid, p.startTime), `sleep ${p.pid} is gone`);
  for (const p of escaped) t.notOk(isAlive(p.pid, p.startTime), `escaped sleep ${p.pid} is gone`);
  t.same(await serviceProcs(d, 'tree'), [], 'no marked process is left');
  t.equal((await d.status('tree')).status, 'stopped');
});

t.test('a stop of many reaches what left their groups, in one sweep after the set', async (t) => {
  const d = await daemon(t, {
    one: svc({ exec: "sh -c 'setsid sleep 1000 & wait'" }),
    two: svc({ exec: "sh -c 'setsid sleep 1000 & wait'", after: ['one'] }),
  });
  await d.waitStatus('two', (s) => s.status === 'running', 'running');
  const escaped = [
    ...(await waitSleeps(d, 'one', 'the escaped sleep of one', (n) => n === 1)),
    ...(await waitSleeps(d, 'two', 'the escaped sleep of two', (n) => n === 1)),
  ];
  const r = await d.client.many('stop', { all: true });
  t.same(
    r.results.map((x) => [x.name, x.status?.status]),
    [
      ['two', 'stopped'],
      ['one', 'stopped'],
    ],
    'dependants first, one line each',
  );
  for (const p of escaped) t.notOk(isAlive(p.pid, p.startTime), `escaped sleep ${p.pid} is gone`);
  t.same(await serviceProcs(d, 'one'), [], 'no marked process of one is left');
  t.same(await serviceProcs(d, 'two'), [], 'no marked process of two is left');
});

t.test('a crash takes along what left the group, so it never runs twice', async (t) => {
  const d = await daemon(t, {
    escape: svc({ exec: "sh -c 'setsid sleep 1000 & wait'", restart_delay: '50ms' }),
  });
  const first = await d.waitStatus('escape', (s) => s.status === 'running', 'running');
  const [escaped] = await waitSleeps(d, 'escape', 'the escaped sleep', (n) => n === 1);
  t.not(readStat(escaped!.pid)?.pgrp, first.pid, 'the sleep left the group');
  process.kill(first.pid, 'SIGKILL');
  const second = await d.waitStatus(
    'escape',
    (s) => s.status === 'running' && s.pid !== first.pid,
    'running again',
  );
  await waitFor('the old sleep to be gone', () => !isAlive(escaped!.pid, escaped!.startTime));
  const sleeps = await waitSleeps(d, 'escape', 'the new escaped sleep', (n) => n >= 1);
  t.equal(sleeps.length, 1, 'one sleep: the new run');
  t.equal(readStat(sleeps[0]!.pid)?.ppid, second.pid, "it is the new run's child");
  await waitEvents(d, 'escape', /killed 1 process the last run left outside its group/, 1);
});

t.test('a crash finds what left the group below a member of the group, too', async (t) => {
  // The shell's subshell stays in the group and starts a sleep in a session
  // of its own: that sleep is no child of sminitd until the subshell is gone.
  const d = await daemon(t, {
    deep: svc({
      exec: "sh -c '(setsid sleep 1000 & wait) & wait'",
      restart_delay: '50ms',
    }),
  });
  const first = await d.waitStatus('deep', (s) => s.status === 'running', 'running');
  const [escaped] = await waitSleeps(d, 'deep', 'the escaped sleep', (n) => n === 1);
  t.not(readStat(escaped!.pid)?.ppid, d.pid, 'its parent is the subshell, not sminitd');
  process.kill(first.pid, 'SIGKILL');
  await waitFor('the old sleep to be gone', () => !isAlive(escaped!.pid, escaped!.startTime));
  await waitEvents(d, 'deep', /killed 1 process the last run left outside its group/, 1);
  await d.client.stop('deep');
  t.same(await serviceProcs(d, 'deep'), [], 'no marked process is left');
});

t.test('restart', async (t) => {
  t.test('of a running service answers running, with a new pid', async (t) => {
    const d = await daemon(t, { web: svc({ exec: 'sleep 1000' }) });
    const before = await d.waitStatus('web', (s) => s.status === 'running', 'running');
    const oldStart = readStat(before.pid)?.startTime ?? -1;
    const after = await d.client.restart('web');
    t.equal(after.status, 'running');
    t.not(after.pid, before.pid, 'a new process');
    t.ok(after.pid > 0);
    t.notOk(isAlive(before.pid, oldStart), 'the old process is gone');
  });

  t.test('of a service with a health test answers once it is healthy', async (t) => {
    const d = await daemon(t, {
      web: svc({ exec: 'sleep 1000', test: "sh -c 'sleep 0.1'", test_interval: '50ms' }),
    });
    const before = await d.waitStatus('web', (s) => s.status === 'running', 'running');
    const after = await d.client.restart('web');
    t.equal(after.status, 'running');
    t.not(after.pid, before.pid);
  });

  t.test('answers even when a start got in first', async (t) => {
    // The stop's end asks for a start (the target is up again) ahead of the
    // restart's own start, which then changes nothing: it must still answer.
    const d = await daemon(t, { web: svc({ exec: 'sleep 1000' }) });
    const before = await d.waitStatus('web', (s) => s.status === 'running', 'running');
    const restarted = d.client.restart('web');
    await d.client.start('web');
    const after = await Promise.race([
      restarted,
      waitFor('nothing', () => false, 5000).then(() => null),
    ]);
    t.ok(after, 'restart answered');
    t.equal(after?.status, 'running');
    t.not(after?.pid, before.pid, 'a new process');
  });

  t.test('waits through failing health tests until the service is up', async (t) => {
    const dir = tempDir(t, 'sminit-rs-');
    // Each run's test fails twice, then passes: the answer must be "running".
    const d = await daemon(t, {
      web: svc({
        exec: 'sleep 1000',
        dir,
        test: `sh -c 'f=c.$SMINIT_RUN; n=$(cat $f 2>/dev/null || echo 0); echo $((n+1)) > $f; [ $n -ge 2 ]'`,
        test_interval: '50ms',
      }),
    });
    await d.waitStatus('web', (s) => s.status === 'running', 'running');
    const after = await d.client.call('service_restart', { name: 'web' });
    t.equal(after.status, 'running', `answered ${after.status}: ${after.reason}`);
  });

  t.test('a oneshot that outlives the timeout is answered, not waited for forever', async (t) => {
    const d = await daemon(t, { long: svc({ exec: 'sleep 1000', oneshot: true }) });
    await d.waitStatus('long', (s) => s.status === 'starting', 'running');
    const after = await Promise.race([
      d.client.call('service_restart', { name: 'long', timeout: 300 }),
      waitFor('nothing', () => false, 5000).then(() => null),
    ]);
    t.ok(after, 'answered within the timeout');
    t.equal(after?.status, 'starting', 'still running: not up');
    await d.client.stop('long');
  });

  t.test('of a service whose binary is missing reports the failure', async (t) => {
    const d = await daemon(t, { gone: svc({ exec: '/nonexistent/gone-bin' }) });
    await d.waitStatus('gone', (s) => s.status === 'failed', 'failed');
    const after = await d.client.restart('gone');
    t.equal(after.status, 'failed');
    t.match(after.reason, "cannot run '/nonexistent/gone-bin'", 'the answer names the binary');
  });
});

t.test('spawn failures', async (t) => {
  t.test('a missing binary fails, names it, and backs off', async (t) => {
    const d = await daemon(t, {
      nobin: svc({ exec: '/nonexistent/bin', restart_delay: '200ms' }),
    });
    const s = await d.waitStatus(
      'nobin',
      (s) => s.status === 'failed' && s.next_attempt !== null,
      'failed with a retry planned',
    );
    t.match(s.reason, "cannot run '/nonexistent/bin'");
    t.equal(s.pid, 0);
    t.equal(s.state, 'Failure');

    // The fourth failure comes ~1.4 s after the first; every failure within
    // the first second is in the log by then.
    const fails = await waitEvents(d, 'nobin', /^failed to start/, 4);
    const t0 = Date.parse(fails[0]?.time ?? '');
    const inFirstSecond = fails.filter((l) => Date.parse(l.time) - t0 <= 1000).length;
    t.ok(inFirstSecond < 6, `${inFirstSecond} attempts in the first second`);
    const gaps = fails.slice(1, 4).map((l, i) => Date.parse(l.time) - Date.parse(fails[i]!.time));
    t.ok(
      gaps.every((g, i) => g >= 200 * 2 ** i - 5),
      `the gaps between attempts double: ${gaps.join(', ')} ms`,
    );
    const retries = (await events(d, 'nobin')).filter((l) => l.text.startsWith('retrying in'));
    t.same(
      retries.slice(0, 3).map((l) => l.text),
      ['retrying in 200 ms', 'retrying in 400 ms', 'retrying in 800 ms'],
    );
  });

  t.test('a missing working directory is named', async (t) => {
    const d = await daemon(t, {
      nodir: svc({ exec: 'sleep 1000', dir: '/nonexistent/dir', restart_delay: '200ms' }),
    });
    const s = await d.waitStatus(
      'nodir',
      (s) => s.status === 'failed' && s.next_attempt !== null,
      'failed with a retry planned',
    );
    t.match(s.reason, "working directory '/nonexistent/dir' does not exist");
    t.equal(s.pid, 0);
  });
});

t.test('forget', async (t) => {
  t.test('forgetting a dependency unblocks its dependant', async (t) => {
    const flags = tempDir(t, 'sminit-lc-');
    const d = await daemon(t, {
      a: svc({
        exec: 'sleep 1000',
        test: `test -f ${join(flags, 'never')}`,
        test_interval: '50ms',
      }),
      b: svc({ exec: 'sleep 1000', after: ['a'] }),
    });
    await d.waitStatus('b', (s) => s.status === 'blocked', 'blocked');
    const aPid = (await d.status('a')).pid;
    await d.client.forget('a');
    t.ok(notRunning(aPid), 'a was stopped before forget answered');
    t.same(await serviceProcs(d, 'a'), [], "no process of a's is left");
    const b = await d.waitStatus('b', (s) => s.status === 'running', 'running');
    t.same(b.dependencies, {}, 'b no longer depends on a');
    t.same(b.after, {});
    t.same(Object.keys(await d.client.list()), ['b']);
  });

  t.test('forgetting a running service stops its processes first', async (t) => {
    const d = await daemon(t, {
      busy: svc({ exec: "sh -c 'sleep 1000 & sleep 1000 & wait'" }),
    });
    await d.waitStatus('busy', (s) => s.status === 'running', 'running');
    const procs = await waitFor('the shell and two sleeps', async () => {
      const found = await serviceProcs(d, 'busy');
      return found.length === 3 ? found : null;
    });
    await d.client.forget('busy');
    for (const p of procs) t.notOk(isAlive(p.pid, p.startTime), `${p.argv.join(' ')} is gone`);
    await t.rejects(d.client.status('busy'), 'no longer tracked');
  });
});

t.test('a missing dependency blocks until it is monitored', async (t) => {
  const d = await daemon(t, {
    b: svc({ exec: 'sleep 1000', after: ['ghost'] }),
  });
  const b = await d.waitStatus('b', (s) => s.status === 'blocked', 'blocked');
  t.equal(b.reason, 'waiting for ghost');
  t.same(b.dependencies, { ghost: 'untracked' });
  t.same(b.after, { ghost: 'Unknown' });

  d.write('ghost', svc({ exec: 'sleep 1000' }));
  await d.client.monitor('ghost');
  const running = await d.waitStatus('b', (s) => s.status === 'running', 'running');
  t.same(running.dependencies, { ghost: 'running' });
});

t.test('restart policies', async (t) => {
  t.test('on-failure does not restart a clean exit', async (t) => {
    const d = await daemon(t, {
      job: svc({ exec: "sh -c 'exit 0'", restart: 'on-failure', restart_delay: '50ms' }),
    });
    const s = await d.waitStatus('job', (s) => s.status === 'exited', 'exited');
    t.equal(s.last_exit?.code, 0);
    t.equal(s.restarts, 0);
    t.equal(s.next_attempt, null);
    const texts = (await events(d, 'job')).map((l) => l.text);
    t.equal(texts.filter((x) => x.startsWith('started')).length, 1, 'started once');
    t.notOk(
      texts.some((x) => x.startsWith('restarting')),
      'no restart',
    );
  });

  t.test('on-failure restarts a failing exit', async (t) => {
    const d = await daemon(t, {
      job: svc({ exec: "sh -c 'exit 3'", restart: 'on-failure', restart_delay: '50ms' }),
    });
    await waitEvents(d, 'job', /^started/, 2);
    const s = await d.status('job');
    t.ok(s.restarts >= 1);
    t.equal(s.last_exit?.code, 3);
    await d.client.stop('job');
  });

  t.test('never does not restart a failing exit', async (t) => {
    const d = await daemon(t, {
      job: svc({ exec: "sh -c 'exit 2'", restart: 'never', restart_delay: '50ms' }),
    });
    const s = await d.waitStatus('job', (s) => s.status === 'exited', 'exited');
    t.equal(s.last_exit?.code, 2);
    t.equal(s.restarts, 0);
    t.match(s.reason, 'exited with code 2');
    const texts = (await events(d, 'job')).map((l) => l.text);
    t.equal(texts.filter((x) => x.startsWith('started')).length, 1, 'started once');
  });
});

t.test("an ended run's leftovers in its group get the stop signal and the grace", async (t) => {
  // The main process exits at once; a child that traps TERM stays behind in
  // the group with a sleep of its own. Long-running or oneshot, the same:
  // the stop signal reaches it, it can say so, and the log counts what was left.
  const leftover = `sh -c "(trap 'echo got-term; exit 0' TERM; sleep 30 & wait) & printf partial; exit 0"`;
  const d = await daemon(t, {
    long: svc({ exec: leftover, restart: 'never' }),
    once: svc({ exec: leftover, oneshot: true }),
  });
  for (const name of ['long', 'once']) {
    const ended = await waitEvents(d, name, /^ended \d+ leftover process/, 1);
    t.equal(ended[0]?.text, 'ended 2 leftover processes of run 1', `${name}: the log says so`);
    const { lines } = await d.client.readLogs({ names: [name], stream: 'stdout' });
    t.same(
      lines.map((l) => l.text),
      ['partial', 'got-term'],
      `${name}: the trapping child got SIGTERM and its output was kept`,
    );
  }
  t.equal((await d.status('long')).status, 'exited');
  t.equal((await d.status('once')).status, 'success');
});
