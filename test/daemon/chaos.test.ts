// Chaos: twenty services (dependencies, health tests, a oneshot, services
// that fork children and grandchildren, one whose child calls setsid) while
// their processes and their children are SIGKILLed at random and several
// clients start, stop, restart, monitor, forget, kill and query them at
// once, every request with a deadline. Afterwards, once the services have
// settled: every service the manager believes up runs exactly once, no
// process of a service that is down survives, nothing the manager does not
// know about is left, no zombie waits on the daemon, and every request got
// an answer. Then the daemon itself is SIGKILLed in the middle of more of
// the same and started again on its config and socket: the same holds of
// the new one, and nothing of the old one's survives. ~30 s in the suite;
// SMINIT_CHAOS_SECONDS=N runs it for N seconds, SMINIT_CHAOS_SEED=S
// replays a run.

import t from 'tap';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, RpcError } from '../../lib/client/client.js';
import {
  type ProcStat,
  descendants,
  findByEnv,
  isAlive,
  processTable,
  zombieChildren,
} from '../../lib/os/procfs.js';
import { DAEMON_VAR, MARKER_VAR, daemonId, markerValue } from '../../lib/os/markers.js';
import type { ServiceStatus } from '../../lib/api/wire.js';
import { type Daemon, startDaemon } from '../helpers/daemon.js';
import { dirname } from 'node:path';
import { waitFor } from '../helpers/wait.js';

const SECONDS = Number(process.env.SMINIT_CHAOS_SECONDS ?? 25);
const SEED = Number(process.env.SMINIT_CHAOS_SEED ?? Date.now() % 1_000_000);
/** No request may take longer than this, whatever it is. */
const REQUEST_DEADLINE_MS = 20_000;
t.setTimeout((SECONDS + 90) * 1000);

/** mulberry32: small, seedable, good enough to pick victims. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

const quick = `restart_delay: 50ms
restart_max_delay: 200ms
stable_after: 1s
shutdown_timeout: 1
`;
const FILES: Record<string, string> = {
  plain1: `exec: sleep 3600\n${quick}`,
  plain2: `exec: sleep 3600\n${quick}`,
  plain3: `exec: sleep 3600\nrestart: on-failure\n${quick}`,
  plain4: `exec: sleep 3600\n${quick}`,
  term: `exec: sh -c 'trap "exit 0" TERM; sleep 3600 & wait'\n${quick}`,
  stubborn: `exec: sh -c 'trap "" TERM; sleep 3600 & wait'\nrestart_delay: 50ms\nrestart_max_delay: 200ms\nstable_after: 1s\nshutdown_timeout: 300ms\n`,
  fork1: `exec: sh -c 'sleep 3600 & sleep 3600 & wait'\n${quick}`,
  fork2: `exec: sh -c 'sh -c "sleep 3600 & wait" & sleep 3600 & wait'\n${quick}`,
  grand: `exec: sh -c 'sh -c "sh -c \\"sleep 3600 & wait\\" & wait" & wait'\n${quick}`,
  escape: `exec: sh -c 'setsid sleep 3600 & wait'\n${quick}`,
  health1: `exec: sleep 3600\ntest: 'true'\ntest_interval: 50ms\n${quick}`,
  health2: `exec: sh -c 'sleep 3600 & wait'\ntest: sh -c 'test -d /proc/self'\ntest_interval: 50ms\n${quick}`,
  once: `exec: 'true'\noneshot: true\n`,
  dep1: `exec: sleep 3600\nafter: [plain1]\n${quick}`,
  dep2: `exec: sleep 3600\nafter: [dep1, health1]\n${quick}`,
  dep3: `exec: sh -c 'sleep 3600 & wait'\nafter: [fork1, once]\n${quick}`,
  dep4: `exec: sleep 3600\nafter: [health2]\ntest: 'true'\ntest_interval: 50ms\n${quick}`,
  dep5: `exec: sleep 3600\nafter: [dep2, dep3]\n${quick}`,
  flappy: `exec: sh -c 'sleep 0.5; exit 1'\nrestart: on-failure\n${quick}`,
  never: `exec: sleep 3600\nrestart: never\n${quick}`,
};
const NAMES = Object.keys(FILES);

type Outcome = 'answer' | 'error' | 'hung' | 'broken';

/** Races a request against its deadline; an RpcError is an answer too. */
async function request(p: Promise<unknown>, what: string, hung: string[]): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Outcome>((r) => {
    timer = setTimeout(() => {
      hung.push(what);
      r('hung');
    }, REQUEST_DEADLINE_MS);
  });
  try {
    return await Promise.race([
      p.then(
        () => 'answer' as const,
        (err: unknown) => (err instanceof RpcError ? ('error' as const) : ('broken' as const)),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

t.test(`chaos: ${SECONDS} s, seed ${SEED}`, async (t) => {
  const d = await startDaemon(t, FILES);
  await d.waitStatus('dep5', (s) => s.status === 'running', 'running', 20_000);
  const marker = (name: string): string => markerValue(d.pid, name);

  const started = Date.now();
  const deadline = started + SECONDS * 1000;
  const counts: Record<Outcome, number> = { answer: 0, error: 0, hung: 0, broken: 0 };
  const problems: string[] = [];
  let kills = 0;

  // SIGKILL a random process of a random service: its main process, or any
  // child or grandchild (found by its marker, wherever it went).
  const killer = async (until = deadline): Promise<void> => {
    while (Date.now() < until) {
      const name = pick(NAMES);
      const table = await processTable();
      const pids = await findByEnv(table, MARKER_VAR, marker(name));
      if (pids.length > 0) {
        try {
          process.kill(pick(pids), 'SIGKILL');
          kills++;
        } catch {
          // Gone already.
        }
      }
      // Pacing, not synchronisation: the next kill comes 20-140 ms later.
      await delay(20 + random() * 120);
    }
  };

  const ops: Record<string, (c: Client, name: string) => Promise<unknown>> = {
    start: (c, n) => c.start(n),
    stop: (c, n) => c.stop(n),
    restart: (c, n) => c.restart(n),
    monitor: (c, n) => c.monitor(n),
    forget: (c, n) => c.forget(n),
    kill: (c, n) => c.kill(n, pick(['SIGKILL', 'SIGTERM', 'SIGHUP'])),
    status: (c, n) => c.status(n),
    list: (c) => c.list(),
    listFull: (c) => c.listFull(),
  };
  const opNames = Object.keys(ops);
  const hung: string[] = [];
  const client = async (until = deadline): Promise<void> => {
    const c = await Client.connect(d.socket);
    try {
      while (Date.now() < until) {
        // Several requests in flight on one connection, as a busy client sends them.
        const batch = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
          const op = pick(opNames);
          const name = pick(NAMES);
          const at = ((Date.now() - started) / 1000).toFixed(1);
          return request(ops[op]!(c, name), `${op} ${name} at ${at} s`, hung);
        });
        for (const outcome of await Promise.all(batch)) counts[outcome]++;
        if (counts.hung + counts.broken > 0) return;
      }
    } finally {
      c.close();
    }
  };

  await Promise.all([killer(), client(), client(), client(), client()]);
  t.same(hung, [], 'no request went unanswered past its deadline');
  t.equal(counts.broken, 0, 'no connection broke');

  await settle(d, problems);
  const byStatus = new Map<string, number>();
  for (const s of await d.client.listFull())
    byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
  t.comment(
    `seed ${SEED}: ${kills} kills, ${counts.answer} answers, ${counts.error} error answers; ` +
      `final: ${[...byStatus].map(([k, v]) => `${v} ${k}`).join(', ')}`,
  );
  t.same(problems, [], 'the manager and the process table agree');
  t.ok(kills >= SECONDS / 2, `${kills} processes killed`);
  t.ok(counts.answer >= SECONDS * 4, `${counts.answer} requests answered`);
  t.equal(d.proc.exitCode, null, 'the daemon is alive');
  t.notMatch(d.stderr(), /internal error/);

  // The daemon itself: SIGKILLed while its services are being killed,
  // stopped and restarted, then started again on the same config and socket.
  const oldId = daemonId(d.pid);
  const until = Date.now() + 3000;
  const more = Promise.all([killer(until), client(until), client(until)]);
  await delay(1000 + random() * 1500);
  d.proc.kill('SIGKILL');
  await d.ended;
  await more;
  const again = await startDaemon(t, {}, [], { root: dirname(d.dir) });
  const after: string[] = [];
  await settle(again, after);
  // Leftovers are ended in the background, each service's within its own
  // stop's bound (stubborn ignores SIGTERM): look once every one is over.
  await waitFor(
    'every service found to have leftovers to have had them ended',
    () => {
      const text = again.stderr();
      const found = /left by an earlier sminitd \((\d+) services?\)/.exec(text);
      const ended = text.match(/: found \d+ process(?:es)? of \S+ left by sminitd/g) ?? [];
      return found === null || ended.length >= Number(found[1]);
    },
    10_000,
  );
  const table = await processTable();
  const live = new Set(table.filter((p) => p.state !== 'Z').map((p) => p.pid));
  const survivors = (await findByEnv(table, DAEMON_VAR, oldId)).filter((p) => live.has(p));
  if (survivors.length > 0) after.push(`processes of the killed daemon live on: ${survivors}`);
  t.same(after, [], 'after the daemon was killed and started again, the same holds');
  t.match(again.stderr(), /left by sminitd \d+ \(gone\)/, 'it found what the old one left');
  t.notMatch(again.stderr(), /internal error/);
});

/**
 * Bring every service back under management, wait until none is on its way
 * anywhere, take flappy (which crashes on purpose) out of the picture, and
 * wait for the invariants to hold; what is wrong goes into `problems`.
 */
async function settle(d: Daemon, problems: string[]): Promise<void> {
  const c = d.client;
  for (const name of NAMES) {
    await c.monitor(name).catch(() => undefined);
  }
  const moving = (s: ServiceStatus): boolean =>
    s.status === 'stopping' || s.status === 'starting' || s.status === 'backoff';
  let final: ServiceStatus[] = [];
  await waitFor(
    'services to settle',
    async () => {
      final = (await c.listFull()).filter((s) => s.name !== 'flappy');
      return final.length === NAMES.length - 1 && !final.some(moving);
    },
    30_000,
    50,
  ).catch((err: unknown) => {
    problems.push(
      `${String(err)}: ${final
        .filter(moving)
        .map((s) => `${s.name}=${s.status}`)
        .join(', ')}`,
    );
  });
  await c.stop('flappy');
  const marker = (name: string): string => markerValue(d.pid, name);
  let last: string[] = [];
  await waitFor(
    'the invariants to hold',
    async () => {
      const found = await violations(d.pid, await c.listFull(), marker);
      if (found.length === 0) return true;
      last = found;
      return false;
    },
    5000,
    100,
  ).catch(() => problems.push(...last));
}

/** What is wrong between what the manager says and what runs. */
async function violations(
  daemon: number,
  statuses: readonly ServiceStatus[],
  marker: (name: string) => string,
): Promise<string[]> {
  const out: string[] = [];
  const table = await processTable();
  const live = new Map<number, ProcStat>(
    table.filter((p) => p.state !== 'Z' && p.state !== 'X').map((p) => [p.pid, p]),
  );
  const tracked = new Map(statuses.map((s) => [s.name, s]));
  const known = new Set<number>();
  for (const name of NAMES) {
    const s = tracked.get(name);
    const marked = (await findByEnv(table, MARKER_VAR, marker(name))).filter((p) => live.has(p));
    const up = s !== undefined && (s.status === 'running' || s.status === 'starting');
    if (!up) {
      if (marked.length > 0) {
        out.push(
          `${name} is ${s?.status ?? 'untracked'} but has live processes ${marked.join(',')}`,
        );
      }
      continue;
    }
    const main = live.get(s.pid);
    if (s.pid === 0 || main === undefined) {
      out.push(`${name} is ${s.status} with pid ${s.pid}, which is not running`);
      continue;
    }
    if (!marked.includes(s.pid)) out.push(`${name}'s pid ${s.pid} does not carry its marker`);
    // Everything of the service descends from its one main process; a
    // process left from an earlier run would not.
    const tree = new Set([s.pid, ...descendants(table, [s.pid])]);
    for (const p of tree) known.add(p);
    const stray = marked.filter((p) => !tree.has(p));
    if (stray.length > 0)
      out.push(`${name} runs more than once: ${stray.join(',')} outside pid ${s.pid}'s tree`);
  }
  const ours = new Set([
    ...descendants(table, [daemon]),
    ...(await findByEnv(table, DAEMON_VAR, daemonId(daemon))),
  ]);
  for (const p of ours) {
    const proc = live.get(p);
    if (proc && !known.has(p) && isAlive(p, proc.startTime)) {
      out.push(`unknown process ${p} (${proc.comm}, parent ${proc.ppid})`);
    }
  }
  const zombies = zombieChildren(table, daemon);
  if (zombies.length > 0) out.push(`zombie children of the daemon: ${zombies.join(',')}`);
  return out;
}
