// sminitd as the init of a container: PID 1 of a new PID namespace, started
// the way the README's entrypoint does (`sminitd --container`). Orphans are
// reaped, signals stop everything in order and set the exit code, shutdown
// stays within its bound whatever the services do, nothing survives it, and
// a failing request does not take PID 1 (and with it the container) down.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { findByEnv, isAlive, processTable, readStat } from '../../lib/os/procfs.js';
import { type Daemon, rawCall, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const CONTAINER = ['--container'];
const NS = { pidNamespace: true } as const;

async function zombiesOf(pid: number): Promise<number[]> {
  return (await processTable()).filter((p) => p.ppid === pid && p.state === 'Z').map((p) => p.pid);
}

/** Signal sminitd and wait for it to end; how long it took, from the signal. */
async function signalAndWait(
  d: Daemon,
  sig: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  process.kill(d.pid, sig);
  const e = await d.ended;
  return { ...e, ms: Date.now() - t0 };
}

/** Lines of stderr from the one that matches `from` on. */
function after(stderr: string, from: RegExp): string[] {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => from.test(l));
  return i === -1 ? [] : lines.slice(i);
}

/** A service that records its stop in `file` (after `delay` seconds) and exits 0. */
function recorder(file: string, name: string, extra = '', delay = 0): string {
  const pause = delay > 0 ? `sleep ${delay}; ` : '';
  // Healthy only once the trap is set and nothing more is forked (a builtin
  // writes the mark), so a stop never races the script's start.
  const ready = `${file}.${name}.ready`;
  return [
    `exec: sh -c 'trap "${pause}echo ${name} >> ${file}; exit 0" TERM; sleep 1000 & echo > ${ready}; wait'`,
    `test: test -f ${ready}`,
    'test_interval: 20ms',
    extra,
  ].join('\n');
}

t.test('reaps 1,000 orphans; every service exit status still reaches its worker', async (t) => {
  const files: Record<string, string> = {
    // Each (true &) leaves one orphan: the subshell exits before or after its child.
    orphans: `exec: sh -c 'i=0; while [ $i -lt 1000 ]; do (true &); i=$((i+1)); done'\noneshot: true\n`,
  };
  for (let n = 1; n <= 6; n++) {
    files[`code${n}`] = `exec: sh -c 'sleep 0.${n}; exit ${n}'\noneshot: true\n`;
  }
  const d = await startDaemon(t, files, CONTAINER, NS);
  t.not(d.pid, 0);
  t.match(d.stderr(), /running as container \(pid 1\)/);
  await d.waitStatus('orphans', (s) => s.status === 'success', 'done', 60000);
  for (let n = 1; n <= 6; n++) {
    const s = await d.waitStatus(`code${n}`, (s) => s.status === 'exited', 'exited');
    t.equal(s.last_exit?.code, n, `code${n}'s worker saw its exit status`);
  }
  const left = await waitFor(
    'no zombie children of sminitd',
    async () => ((await zombiesOf(d.pid)).length === 0 ? [] : null),
    10000,
  ).catch(async () => zombiesOf(d.pid));
  t.same(left, [], 'no zombie left');

  const end = await signalAndWait(d, 'SIGTERM');
  t.equal(end.code, 0);
  const reaped = /reaped (\d+) orphaned processes/.exec(d.stderr());
  t.ok(reaped && Number(reaped[1]) >= 1000, `reaped ${reaped?.[1]} orphans (at least 1000)`);
});

t.test('SIGTERM: dependants stop before dependencies, then exit 0', async (t) => {
  const order = join(tempDir(t), 'order');
  const d = await startDaemon(
    t,
    {
      a: recorder(order, 'a'),
      b: recorder(order, 'b', 'after: [a]\n'),
      // c stops slowly, so a second signal lands in the middle of the ordered stop.
      c: recorder(order, 'c', 'after: [b]\n', 0.5),
      d: recorder(order, 'd'),
    },
    CONTAINER,
    NS,
  );
  for (const n of ['a', 'b', 'c', 'd']) await d.waitStatus(n, (s) => s.status === 'running', 'up');
  const t0 = Date.now();
  process.kill(d.pid, 'SIGTERM');
  await waitFor('c to be told to stop', () => /c: stopping: SIGTERM/.test(d.stderr()));
  process.kill(d.pid, 'SIGTERM');
  const end = await d.ended;
  t.equal(end.code, 0, 'clean stop exits 0');
  t.match(d.stderr(), /still stopping in order/);
  t.match(d.stderr(), /clean shutdown/);
  const lines = readFileSync(order, 'utf8').trim().split('\n');
  t.same(
    lines.filter((l) => l !== 'd'),
    ['c', 'b', 'a'],
    'each dependant recorded its stop before its dependency',
  );
  t.ok(lines.includes('d'), 'the independent service stopped too');
  t.ok(Date.now() - t0 < 5000, 'no timeout was waited for');
});

t.test('SIGHUP in container mode stops everything and exits 0', async (t) => {
  const d = await startDaemon(t, { web: 'exec: sleep 1000\n' }, CONTAINER, NS);
  await d.waitStatus('web', (s) => s.status === 'running', 'up');
  const end = await signalAndWait(d, 'SIGHUP');
  t.equal(end.code, 0);
  t.match(d.stderr(), /received SIGHUP: stopping every service/);
});

t.test('a service ignoring SIGTERM is killed after its timeout, within the bound', async (t) => {
  const stubborn = `exec: sh -c 'trap "" TERM; exec sleep 1000'\n`;
  const d = await startDaemon(
    t,
    {
      base: `${stubborn}shutdown_timeout: 1\n`,
      top: `${stubborn}shutdown_timeout: 1.5\nafter: [base]\n`,
    },
    CONTAINER,
    NS,
  );
  await d.waitStatus('top', (s) => s.status === 'running', 'up');
  // Running means spawned: each shell must have set its trap (and exec'd
  // sleep) before the signal, or it would die of the SIGTERM. (Pids inside
  // the namespace differ from this test's, so the children are found by parent.)
  await waitFor('both shells past their trap', async () => {
    const table = await processTable();
    return table.filter((p) => p.ppid === d.pid && p.comm === 'sleep').length === 2;
  });
  const end = await signalAndWait(d, 'SIGTERM');
  const bound = Number(/bound (\d+) ms/.exec(d.stderr())?.[1]);
  t.equal(bound, 2500 + 2000, 'bound = longest chain of timeouts (1.5 s + 1 s) + margin');
  t.equal(end.code, 1, 'a forced kill makes the exit non-zero');
  t.ok(end.ms >= 2400, `waited for both timeouts in turn (${end.ms} ms)`);
  t.ok(end.ms <= bound + 1000, `within the bound (${end.ms} ms <= ${bound} ms + exit)`);
  const log = d.stderr();
  t.match(log, /top: did not stop within 1500 ms: SIGKILL/);
  t.match(log, /base: did not stop within 1000 ms: SIGKILL/);
  t.ok(log.indexOf('top: did not stop') < log.indexOf('base: stopping'), 'top went first');
});

t.test('a restart loop, a cycle and a missing dependency do not delay shutdown', async (t) => {
  const scratch = tempDir(t);
  const starts = join(scratch, 'starts');
  const d = await startDaemon(
    t,
    {
      crashy: `exec: sh -c 'echo run >> ${starts}; exit 1'\nrestart_delay: 50ms\nrestart_max_delay: 50ms\n`,
      // Stops slowly, so crashy would have time to come back if it could.
      slow: `${recorder(join(scratch, 'order'), 'slow', 'after: [crashy]\n', 1)}`,
      x: 'exec: sleep 1000\nafter: [y]\n',
      y: 'exec: sleep 1000\nafter: [x]\n',
      lonely: 'exec: sleep 1000\nafter: [nosuch]\n',
    },
    CONTAINER,
    NS,
  );
  await d.waitStatus('slow', (s) => s.status === 'running', 'up');
  await d.waitStatus('crashy', (s) => s.restarts >= 3, 'restarting');
  t.match(d.stderr(), /dependency cycle x -> y -> x/);
  const end = await signalAndWait(d, 'SIGTERM');
  t.equal(end.code, 0);
  t.ok(end.ms < 4000, `no default 10 s timeout was waited for (${end.ms} ms)`);
  const since = after(d.stderr(), /shutting down \d+ services?/);
  t.ok(since.length > 0);
  t.notOk(
    since.some((l) => /crashy: (started|restarting)/.test(l)),
    'crashy never restarted once shutdown began',
  );
});

t.test('a grandchild that called setsid and dropped the marker is gone at the end', async (t) => {
  const tag = `gc-${process.pid}-${Date.now()}`;
  const d = await startDaemon(
    t,
    {
      leaver: [
        `exec: sh -c 'setsid -f env -u SMINIT_SERVICE -u SMINIT_DAEMON sleep 1000; exec sleep 1000'`,
        `env: { GC_TAG: ${tag} }`,
        '',
      ].join('\n'),
    },
    CONTAINER,
    NS,
  );
  const main = await d.waitStatus('leaver', (s) => s.status === 'running', 'up');
  const escapee = await waitFor('the grandchild', async () => {
    const table = await processTable();
    const tagged = await findByEnv(table, 'GC_TAG', tag);
    // Inside its namespace sminitd is pid 1; its start time is the kernel's, the same from here.
    const inner = `1.${readStat(d.pid)?.startTime ?? 0}`;
    const marked = new Set(await findByEnv(tagged, 'SMINIT_DAEMON', inner));
    const gone = tagged.filter((p) => !marked.has(p));
    return gone.length === 1 ? readStat(gone[0]!) : null;
  });
  t.equal(escapee.ppid, d.pid, 'the orphan was reparented to sminitd');
  t.not(escapee.session, readStat(escapee.ppid)?.session, 'it left the service session');
  t.ok(main.pid > 0);
  const end = await signalAndWait(d, 'SIGTERM');
  t.equal(end.code, 0);
  // Through its cgroup at the stop where sminitd has cgroups (as here), else the shutdown sweep.
  t.match(
    d.stderr(),
    /leaver: SIGTERM to 1 process of cgroup \/\S+ outside its process group|killed 1 leftover process\b/,
    'sminitd killed it itself',
  );
  t.notOk(isAlive(escapee.pid, escapee.startTime));
});

t.test('an exception in a request handler does not bring PID 1 down', async (t) => {
  const d = await startDaemon(t, { web: 'exec: sleep 1000\n' }, CONTAINER, {
    ...NS,
    env: { ...process.env, SMINIT_DEBUG_FAULTS: '1' },
  });
  const before = await d.waitStatus('web', (s) => s.status === 'running', 'up');
  for (const kind of ['throw', 'reject']) {
    const r = await rawCall(d.socket, { method: 'debug_fault', params: { kind } });
    t.match(r, { error: { code: -32603 } }, `${kind}: an internal error answer`);
  }
  for (const kind of ['uncaught', 'rejection']) {
    const r = await rawCall(d.socket, { method: 'debug_fault', params: [kind] });
    t.match(r, { result: null }, `${kind}: answered`);
  }
  await waitFor('both stray failures to be logged', () =>
    [
      'thrown outside any request',
      'rejection nobody handles',
      'internal error in debug_fault',
    ].every((s) => d.stderr().includes(s)),
  );
  const now = await d.status('web');
  t.equal(now.pid, before.pid, 'the service was not touched');
  t.equal(now.status, 'running');
  t.same(await d.client.list(), { web: 'Running' }, 'the daemon still answers');
  const end = await signalAndWait(d, 'SIGTERM');
  t.equal(end.code, 0);
});

t.test('PID 1 without --container: reboot(2) ends the namespace', async (t) => {
  for (const [verb, signal] of [
    ['reboot', 'SIGHUP'],
    ['shutdown', 'SIGINT'],
  ] as const) {
    const d = await startDaemon(t, { web: 'exec: sleep 1000\n' }, [], NS);
    t.match(d.stderr(), /running as machine-init \(pid 1\)/);
    await d.waitStatus('web', (s) => s.status === 'running', 'up');
    const r = await d.cli(verb);
    t.equal(r.code, 0, `${verb}: ${r.stderr}`);
    const end = await d.ended;
    // The kernel ends a namespace's init with SIGHUP for a restart and SIGINT
    // for a power-off; unshare dies of the same signal.
    t.ok(
      end.signal === signal || end.code === 128 + (signal === 'SIGHUP' ? 1 : 2),
      `${verb}: init ended by ${signal} (${JSON.stringify(end)})`,
    );
    t.match(d.stderr(), verb === 'reboot' ? /rebooting/ : /powering off/);
    t.match(d.stderr(), /clean shutdown/);
  }
});

t.test('services inherit no descriptor and no ignored signal from sminitd', async (t) => {
  // Started with an extra inheritable descriptor and two signals ignored, as a
  // careless runtime or shell might leave them.
  const d = await startDaemon(t, { web: 'exec: sleep 1000\n' }, CONTAINER, {
    ...NS,
    viaShell: `trap '' USR2 PIPE; exec 9</dev/null`,
  });
  t.ok(readdirSync(`/proc/${d.pid}/fd`).includes('9'), 'sminitd itself holds descriptor 9');
  await d.waitStatus('web', (s) => s.status === 'running', 'up');
  const web = await waitFor('the service process', async () =>
    (await processTable()).find((p) => p.ppid === d.pid && p.comm === 'sleep'),
  );
  t.same(readdirSync(`/proc/${web.pid}/fd`).sort(), ['0', '1', '2'], 'only its own stdio');
  const ignored = /^SigIgn:\s*(\S+)$/m.exec(readFileSync(`/proc/${web.pid}/status`, 'utf8'))?.[1];
  t.equal(ignored, '0000000000000000', 'no signal ignored');
});
