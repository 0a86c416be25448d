// Many clients at once, each on its own connection, starting, stopping,
// tracking and untracking the same few services in random order, and then
// the same while the config directory is edited and reloaded under them. No
// request may hang, no unexpected error may come back, and once the dust
// settles the processes on the machine must match what the daemon says:
// one process per running service, none for a service that is not running
// or not tracked.

import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client, RpcError } from '../../lib/client/client.js';
import { findByEnv, processTable } from '../../lib/os/procfs.js';
import { MARKER_VAR, markerValue } from '../../lib/os/markers.js';
import type { ServiceStatus } from '../../lib/api/wire.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 64;
const OPS = 30;
const REQUEST_DEADLINE_MS = 20000;
const NAMES = ['s1', 's2', 's3', 's4', 's5', 'dep'];
/** A shell and its sleep; the others exec one process. */
const SHELLS = ['s4', 's5'];
/** Refusals a racing client may get: not tracked, already tracked, not running. */
const EXPECTED = new Set([-32000, -32001, -32003]);

// Deterministic per run, different between runs; printed so a failure can be replayed.
const seed = Number(process.env.SMINIT_TEST_SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (set SMINIT_TEST_SEED to replay)`);
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const sleeper = 'exec: sleep 1000\nshutdown_timeout: 5\n';
const d = await startDaemon(t, {
  s1: sleeper,
  s2: sleeper,
  s3: sleeper,
  // A shell that ignores TERM while its child does not: a stop that needs the group.
  s4: 'exec: sh -c \'trap "" TERM; sleep 1000 & wait\'\nshutdown_timeout: 1\n',
  s5: "exec: sh -c 'sleep 1000; exit 0'\nrestart: on-failure\n",
  dep: 'exec: sleep 1000\nafter: [s1]\n',
});
const daemonPid = d.proc.pid as number;

function withDeadline<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer within ${REQUEST_DEADLINE_MS} ms`)),
      REQUEST_DEADLINE_MS,
    );
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

t.test(`${CLIENTS} clients × ${OPS} random operations`, async (t) => {
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => Client.connect(d.socket)),
  );
  t.teardown(() => clients.forEach((c) => c.close()));
  const counts = new Map<string, number>();
  const unexpected: string[] = [];
  const random = rng(seed);
  const plans = clients.map(() =>
    Array.from({ length: OPS }, () => {
      const op = ['start', 'stop', 'monitor', 'forget', 'status', 'kill'][Math.floor(random() * 6)];
      const name = NAMES[Math.floor(random() * NAMES.length)];
      return [op as string, name as string] as const;
    }),
  );
  await Promise.all(
    clients.map(async (c, ci) => {
      for (const [op, name] of plans[ci] ?? []) {
        const call =
          op === 'start'
            ? c.start(name)
            : op === 'stop'
              ? c.stop(name)
              : op === 'monitor'
                ? c.monitor(name)
                : op === 'forget'
                  ? c.forget(name)
                  : op === 'kill'
                    ? c.kill(name, 'SIGCONT')
                    : c.status(name);
        try {
          await withDeadline(`client ${ci}: ${op} ${name}`, call);
          counts.set(`${op} ok`, (counts.get(`${op} ok`) ?? 0) + 1);
        } catch (err) {
          if (err instanceof RpcError && EXPECTED.has(err.code)) {
            counts.set(`${op} ${err.code}`, (counts.get(`${op} ${err.code}`) ?? 0) + 1);
          } else {
            unexpected.push(`client ${ci}: ${op} ${name}: ${(err as Error).message}`);
          }
        }
      }
    }),
  );
  t.comment([...counts].map(([k, v]) => `${k}: ${v}`).join(', '));
  t.same(unexpected, [], 'no request hung or failed unexpectedly');
  t.equal(
    [...counts.values()].reduce((a, b) => a + b, 0),
    CLIENTS * OPS,
    'every request was answered',
  );

  // Settle: nothing stopping; then read the daemon's view and the process
  // table, and accept them only when the view did not change meanwhile.
  const key = (all: readonly ServiceStatus[]): string =>
    JSON.stringify(all.map((s) => [s.name, s.status, s.pid]));
  const { view, marked } = await waitFor(
    'a settled daemon whose view matches one process-table scan',
    async () => {
      const before = await d.client.listFull();
      if (before.some((s) => s.status === 'stopping' || s.status === 'backoff')) return null;
      const table = (await processTable()).filter((p) => p.state !== 'Z' && p.state !== 'X');
      const marked = new Map<string, number[]>();
      for (const name of NAMES)
        marked.set(name, await findByEnv(table, MARKER_VAR, markerValue(daemonPid, name)));
      // A running shell (s4, s5) counts once it has forked its sleep.
      const forking = before.filter((s) => SHELLS.includes(s.name) && s.status === 'running');
      if (forking.some((s) => (marked.get(s.name)?.length ?? 0) < 2)) return null;
      const after = await d.client.listFull();
      return key(before) === key(after) ? { view: after, marked } : null;
    },
    20000,
    50,
  );
  t.comment(view.map((s) => `${s.name}: ${s.status} ${s.pid}`).join(', '));

  for (const name of NAMES) {
    const s = view.find((v) => v.name === name);
    const pids = marked.get(name) ?? [];
    if (s && (s.status === 'running' || s.status === 'starting')) {
      t.ok(s.pid > 0, `${name} (${s.status}) has a pid`);
      t.ok(pids.includes(s.pid), `${name}: its main process ${s.pid} is alive and marked`);
      const expected = SHELLS.includes(name) ? 2 : 1;
      t.equal(pids.length, expected, `${name}: exactly its own processes (${pids.join(' ')})`);
    } else {
      t.same(pids, [], `${name} (${s ? s.status : 'untracked'}): no live processes`);
      if (s) t.equal(s.pid, 0, `${name}: no pid`);
    }
  }
  t.ok(
    view.every((s) => ['running', 'starting', 'stopped', 'blocked'].includes(s.status)),
    'every service at rest in a state it can reach here',
  );

  // And the daemon is still fine: everything can be brought up again.
  for (const name of NAMES) await d.client.monitor(name).catch(() => undefined);
  for (const name of NAMES) await withDeadline(`start ${name}`, d.client.start(name));
  for (const name of NAMES)
    await d.waitStatus(name, (s) => s.status === 'running', 'running again');
});

// --- a reload racing clients ---------------------------------------------------

const RACERS = 16;
const RELOADS = 12;

t.test(`a reload racing ${RACERS} clients leaves the manager consistent`, async (t) => {
  const q = 'shutdown_timeout: 2\n';
  const files = (k: number): Record<string, string> => ({
    r1: `exec: sleep ${1000 + (k % 2)}\n${q}`,
    r2: `exec: sleep 1000\n${q}${k % 3 === 0 ? 'restart_delay: 200ms\n' : ''}`,
    r3: `exec: sleep ${1000 + (k % 3)}\n${q}`,
    rdep: `exec: sleep 1000\n${q}after: [${k % 2 ? 'r1' : 'r2'}]\n`,
    rw: `exec: sleep 10\${instance}\n${q}replicas: ${1 + (k % 3)}\n`,
    ...(k % 2 ? { rx: `exec: sleep 1000\n${q}` } : {}),
  });
  const d = await startDaemon(t, files(0));
  const names = ['r1', 'r2', 'r3', 'rdep', 'rx', 'rw@1', 'rw@2', 'rw@3'];
  await d.waitStatus('rdep', (s) => s.status === 'running', 'running');
  const clients = await Promise.all(Array.from({ length: RACERS }, () => Client.connect(d.socket)));
  t.teardown(() => clients.forEach((c) => c.close()));
  const random = rng(seed + 1);
  const unexpected: string[] = [];
  let answered = 0;
  let stop = false;
  const racer = async (c: Client, ci: number): Promise<void> => {
    while (!stop) {
      const name = names[Math.floor(random() * names.length)] as string;
      const op = Math.floor(random() * 7);
      const call: Promise<unknown> = [
        () => c.start(name),
        () => c.stop(name),
        () => c.status(name),
        () => c.many('restart', { patterns: ['r?'] }),
        () => c.many('stop', { names: [name, 'rw'] }),
        () => c.scale('rw', Math.floor(random() * 4)),
        () => c.monitor(name),
      ][op]!();
      try {
        await withDeadline(`racer ${ci}: op ${op} ${name}`, call);
      } catch (err) {
        if (!(err instanceof RpcError && EXPECTED.has(err.code))) {
          unexpected.push(`racer ${ci}: op ${op} ${name}: ${(err as Error).message}`);
        }
      }
      answered++;
    }
  };
  const racing = clients.map(racer);
  const plans: string[] = [];
  for (let k = 1; k <= RELOADS; k++) {
    for (const [name, yaml] of Object.entries(files(k))) d.write(name, yaml);
    if (k % 2 === 0) rmSync(join(d.dir, 'rx.yaml'), { force: true });
    const r = await withDeadline(`reload ${k}`, d.client.reload());
    plans.push(`${r.changes.length} changes, ${r.refused} refused`);
  }
  stop = true;
  await Promise.all(racing);
  t.comment(`reloads: ${plans.join('; ')}; ${answered} racing requests`);
  t.same(unexpected, [], 'no request hung or failed unexpectedly');

  // Once it is quiet, one more reload leaves nothing to do, and what runs is what the view says.
  await d.client.reload();
  const dry = await d.client.reload(true);
  t.same(
    dry.changes.filter((c) => c.action !== 'none'),
    [],
    'a reload after it finds nothing left to do',
  );
  const key = (all: readonly ServiceStatus[]): string =>
    JSON.stringify(all.map((s) => [s.name, s.status, s.pid]));
  const { view, marked } = await waitFor(
    'a settled daemon whose view matches the processes',
    async () => {
      const before = await d.client.listFull();
      if (before.some((s) => s.status === 'stopping' || s.status === 'starting')) return null;
      const table = (await processTable()).filter((p) => p.state !== 'Z' && p.state !== 'X');
      const marked = new Map<string, number[]>();
      for (const name of names)
        marked.set(name, await findByEnv(table, MARKER_VAR, markerValue(d.pid, name)));
      const after = await d.client.listFull();
      return key(before) === key(after) ? { view: after, marked } : null;
    },
    20000,
    50,
  );
  for (const name of names) {
    const s = view.find((v) => v.name === name);
    const pids = marked.get(name) ?? [];
    if (s?.status === 'running') t.same(pids, [s.pid], `${name}: its one process`);
    else t.same(pids, [], `${name} (${s?.status ?? 'untracked'}): no process`);
  }
  for (const s of view) {
    const deps = Object.keys(s.dependencies);
    t.ok(
      deps.every((dep) => view.some((v) => v.name === dep) || dep === 'rx'),
      `${s.name}: depends only on tracked services (${deps.join(', ')})`,
    );
  }
});
