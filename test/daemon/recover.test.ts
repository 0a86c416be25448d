// A sminitd killed (or exited without stopping its services) and started
// again on the same config and socket: what its predecessor left is found and
// ended before each service starts afresh, never a service twice at any
// moment (sampled from /proc while the new daemon starts), nothing left after
// a clean stop; two daemons on their own sockets never touch each other's;
// a crash loop of ten leaves one copy of each service. Real processes.

import t from 'tap';
import { dirname } from 'node:path';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  MARKER_VAR,
  DAEMON_VAR,
  SOCKET_VAR,
  daemonId,
  formatDaemonId,
  parseDaemonId,
  parseMarker,
} from '../../lib/os/markers.js';
import { envValues, isAlive, processTable, readStat } from '../../lib/os/procfs.js';
import { type Daemon, rawCall, startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(240_000);

interface Proc {
  readonly pid: number;
  readonly startTime: number;
  readonly service: string;
  /** The daemon that started it, `pid.start`. */
  readonly daemon: string;
  readonly session: number;
}

/** Every live process any daemon on `socket` started. */
async function ofSocket(socket: string): Promise<Proc[]> {
  const table = await processTable();
  const byPid = new Map(table.map((p) => [p.pid, p]));
  const envs = await envValues(table, [SOCKET_VAR, MARKER_VAR, DAEMON_VAR]);
  const out: Proc[] = [];
  for (const [pid, env] of envs) {
    const m = parseMarker(env[MARKER_VAR] ?? '');
    const stat = byPid.get(pid);
    if (env[SOCKET_VAR] !== resolve(socket) || m === null || stat === undefined) continue;
    if (!isAlive(pid, stat.startTime)) continue;
    out.push({
      pid,
      startTime: stat.startTime,
      service: m.service,
      daemon: formatDaemonId(m.daemonPid, m.daemonStart),
      session: stat.session,
    });
  }
  return out;
}

const alive = (ps: readonly Proc[]): Proc[] => ps.filter((p) => isAlive(p.pid, p.startTime));
const count = (ps: readonly Proc[], service: string): number =>
  ps.filter((p) => p.service === service).length;

/**
 * Samples /proc until stopped: a service whose live processes belong to
 * two daemons at once (checked again, after the scan, that both still live)
 * runs twice.
 */
function watchTwice(socket: string): { stop(): Promise<string[]> } {
  const seen: string[] = [];
  let running = true;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      const live = alive(await ofSocket(socket));
      const daemons = new Map<string, Set<string>>();
      for (const p of live) {
        const set = daemons.get(p.service) ?? new Set<string>();
        set.add(p.daemon);
        daemons.set(p.service, set);
      }
      for (const [service, set] of daemons) {
        if (set.size > 1) seen.push(`${service} ran under ${[...set].join(' and ')} at once`);
      }
      samples++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples > 0 ? seen : ['no sample taken'];
    },
  };
}

const rootOf = (d: Daemon): string => dirname(d.dir);
/** Its process runs (a oneshot still running is `starting`). */
const running = (d: Daemon, name: string, ms = 20_000) =>
  d.waitStatus(
    name,
    (s) => s.pid > 0 && (s.status === 'running' || s.status === 'starting'),
    'running',
    ms,
  );

const FILES: Record<string, string> = {
  web: `exec: sleep 424242\n`,
  // TERM ends it through its trap, as a stop would.
  term: `exec: sh -c 'trap "exit 0" TERM; sleep 3600 & wait'\nshutdown_timeout: 2\n`,
  // Only SIGKILL ends it: the stop's escalation is the recovery's too.
  stubborn: `exec: sh -c 'trap "" TERM; sleep 3600 & wait'\nshutdown_timeout: 300ms\n`,
  // Grandchildren in a session of their own.
  escape: `exec: sh -c 'setsid sh -c "sleep 3600 & wait" & sleep 3600 & wait'\n`,
  // A oneshot still running.
  job: `exec: sleep 3600\noneshot: true\n`,
  // In backoff when the daemon dies.
  flaky: `exec: sh -c 'exit 1'\nrestart_delay: 20s\nrestart_max_delay: 20s\n`,
};
const LONG = ['web', 'term', 'stubborn', 'escape', 'job'];

/**
 * The same through the CLI, a connection of its own each time: in a crash
 * loop the first connection to a daemon started just after its
 * predecessor's SIGKILL has been seen reset (ECONNRESET); cause not found yet.
 */
const runningByCli = (d: Daemon, name: string): Promise<boolean> =>
  waitFor(
    `${name} running under daemon ${d.pid}`,
    async () => /^state: +(running|starting)/m.test((await d.cli('status', name)).stdout),
    20_000,
    50,
  );

async function allUp(d: Daemon): Promise<void> {
  for (const name of LONG) await running(d, name);
  await d.waitStatus('flaky', (s) => s.status === 'backoff', 'in backoff');
}

/** Kill the daemon as the OOM killer would, and wait until it is gone. */
async function kill9(d: Daemon): Promise<void> {
  d.proc.kill('SIGKILL');
  await d.ended;
}

t.test('kill -9 of sminitd, started again: the old processes end first, never twice', async (t) => {
  const d1 = await startDaemon(t, FILES);
  await allUp(d1);
  const old = await waitFor('escape to have its four processes', async () => {
    const ps = await ofSocket(d1.socket);
    return count(ps, 'escape') === 4 && count(ps, 'term') === 2 ? ps : null;
  });
  const escaped = old.filter((p) => p.service === 'escape');
  t.ok(new Set(escaped.map((p) => p.session)).size > 1, 'escape has processes in another session');
  await kill9(d1);
  t.equal(alive(old).length, old.length, 'its services outlive it, as orphans');

  const watch = watchTwice(d1.socket);
  const d2 = await startDaemon(t, {}, [], { root: rootOf(d1) });
  await allUp(d2);
  t.same(await watch.stop(), [], 'no service ran twice at any moment');
  t.same(alive(old), [], 'every old process is gone');

  const now = await ofSocket(d2.socket);
  t.same(
    [...new Set(now.map((p) => p.daemon))],
    [daemonId(d2.pid)],
    'what runs is the new daemon’s',
  );
  for (const name of LONG) {
    const s = await d2.status(name);
    t.ok(
      now.some((p) => p.pid === s.pid && p.service === name),
      `${name}'s tracked pid is its process`,
    );
  }
  const err = d2.stderr();
  const n = (name: string): number => count(old, name);
  for (const name of LONG) {
    const what = n(name) === 1 ? '1 process' : `${n(name)} processes`;
    const it = n(name) === 1 ? 'it' : 'them';
    t.match(
      err,
      `${name}: found ${what} of ${name} left by sminitd ${d1.pid} (gone): stopped ${it} before starting ${name}`,
    );
  }
  t.notMatch(err, /of flaky left/, 'a service in backoff had nothing left');
  const cli = await d2.cli('status', 'escape');
  t.match(cli.stdout, `recovered: ended 4 processes left by an earlier sminitd (sminitd ${d1.pid}`);
  t.equal((await d2.status('flaky')).recovered, null);
  t.match((await d2.status('web')).recovered, { ended: 1, stuck: 0, daemons: [d1.pid] });
  const events = await d2.cli('log', '-s', 'web', '--stream', 'event');
  t.match(events.stdout, 'found 1 process of web left by sminitd');

  d2.proc.kill('SIGTERM');
  t.equal(await d2.exited, 1, 'an orderly stop (stubborn needed its SIGKILL, so status 1)');
  t.same(await ofSocket(d2.socket), [], 'and nothing is left behind');
});

t.test('a daemon that exited without stopping its services: the next one ends them', async (t) => {
  const env = { ...process.env, SMINIT_DEBUG_FAULTS: '1' };
  const files = { web: FILES.web!, escape: FILES.escape! };
  const d1 = await startDaemon(t, files, [], { env });
  await running(d1, 'web');
  await running(d1, 'escape');
  const old = await waitFor('escape whole', async () => {
    const ps = await ofSocket(d1.socket);
    return count(ps, 'escape') === 4 ? ps : null;
  });
  await rawCall(d1.socket, { method: 'debug_fault', params: { kind: 'exit' } });
  t.equal(await d1.exited, 70, 'it exited');
  t.equal(alive(old).length, old.length, 'leaving its services running');
  const d2 = await startDaemon(t, {}, [], { root: rootOf(d1) });
  await running(d2, 'web');
  await running(d2, 'escape');
  t.same(alive(old), [], 'nothing it started survives the next start');
  t.match(d2.stderr(), `escape: found 4 processes of escape left by sminitd ${d1.pid} (gone)`);
});

t.test('leftovers of a service no longer in the config are ended, and said so', async (t) => {
  const d1 = await startDaemon(t, { web: FILES.web!, gone: `exec: sleep 424243\n` });
  await running(d1, 'gone');
  const old = await ofSocket(d1.socket);
  await kill9(d1);
  const { rmSync } = await import('node:fs');
  rmSync(`${d1.dir}/gone.yaml`);
  const d2 = await startDaemon(t, {}, [], { root: rootOf(d1) });
  await running(d2, 'web');
  await waitFor('gone reported', () => d2.stderr().includes('of gone left'));
  t.match(
    d2.stderr(),
    `sminitd: found 1 process of gone left by sminitd ${d1.pid} (gone): stopped it; gone is not in the config any more`,
  );
  t.same(alive(old), []);
});

t.test('two daemons on their own sockets never touch each other’s services', async (t) => {
  const files = { web: FILES.web!, escape: FILES.escape! };
  const a1 = await startDaemon(t, files);
  const b1 = await startDaemon(t, files);
  for (const d of [a1, b1]) for (const name of ['web', 'escape']) await running(d, name);
  const aOld = await waitFor('a whole', async () => {
    const ps = await ofSocket(a1.socket);
    return count(ps, 'escape') === 4 ? ps : null;
  });
  // B dies and comes back while A lives: A's services stay as they are.
  await kill9(b1);
  const b2 = await startDaemon(t, {}, [], { root: rootOf(b1) });
  for (const name of ['web', 'escape']) await running(b2, name);
  t.equal(alive(aOld).length, aOld.length, 'a live daemon’s services are not touched');
  t.match(b2.stderr(), `left by sminitd ${b1.pid} (gone)`, 'B ended what B left');
  t.notMatch(b2.stderr(), `sminitd ${a1.pid}`, 'and nothing of A’s');

  // A dies; B dies and comes back: A's orphans belong to A's socket, not B's.
  await kill9(a1);
  await kill9(b2);
  const b3 = await startDaemon(t, {}, [], { root: rootOf(b1) });
  for (const name of ['web', 'escape']) await running(b3, name);
  t.match(b3.stderr(), `left by sminitd ${b2.pid} (gone)`, 'B ended its own');
  t.notMatch(b3.stderr(), `sminitd ${a1.pid}`, 'and nothing of A');
  t.equal(alive(aOld).length, aOld.length, 'A’s orphans are still there');
  // A comes back and ends them.
  const a2 = await startDaemon(t, {}, [], { root: rootOf(a1) });
  for (const name of ['web', 'escape']) await running(a2, name);
  t.same(alive(aOld), [], 'until A comes back');
  const perDaemon = (ps: readonly Proc[]) => [...new Set(ps.map((p) => p.daemon))];
  t.same(perDaemon(await ofSocket(a2.socket)), [daemonId(a2.pid)]);
  t.same(perDaemon(await ofSocket(b3.socket)), [daemonId(b3.pid)]);
});

t.test('a crash loop of ten leaves exactly one copy of each service', async (t) => {
  const files = { web: FILES.web!, escape: FILES.escape!, job: FILES.job! };
  const expected: Record<string, number> = { web: 1, escape: 4, job: 1 };
  let d = await startDaemon(t, files);
  const root = rootOf(d);
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    ids.push(daemonId(d.pid));
    // Killed at different moments: as soon as it listens (while it may be
    // ending its predecessor's), once a service runs, or a little later.
    if (i % 3 === 1) await runningByCli(d, 'web');
    if (i % 3 === 2) await delay(50 + ((i * 37) % 200));
    await kill9(d);
    d = await startDaemon(t, {}, [], { root });
  }
  for (const name of Object.keys(files)) await runningByCli(d, name);
  const final = await waitFor(
    'one whole copy of each service',
    async () => {
      const ps = await ofSocket(d.socket);
      return Object.entries(expected).every(([n, k]) => count(ps, n) === k) ? ps : null;
    },
    20_000,
  ).catch(async () => ofSocket(d.socket));
  const byService = Object.fromEntries(Object.keys(expected).map((n) => [n, count(final, n)]));
  t.same(byService, expected, 'exactly one copy of each');
  t.same([...new Set(final.map((p) => p.daemon))], [daemonId(d.pid)], 'all of the last daemon');
  for (const id of ids) {
    const d = parseDaemonId(id);
    t.ok(d !== null && readStat(d.pid)?.startTime !== d.startTime, `daemon ${id} is gone`);
  }
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
  t.same(await ofSocket(d.socket), [], 'a clean stop leaves nothing');
});
