// Memory does not grow with time. Services crash and restart continuously,
// one floods the log, and clients connect, read status and logs, follow the
// log, restart services and disconnect, in a loop. After a warm-up (the log
// ring is full by then) the daemon's RSS, its heap after a full collection
// and its descriptor count are sampled; at the end they must not have grown
// beyond a bound that noise explains. ~30 s in the suite;
// SMINIT_SOAK_SECONDS=N runs it for N seconds.

import t from 'tap';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { Client } from '../../lib/client/client.js';
import { rawCall, startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const SECONDS = Number(process.env.SMINIT_SOAK_SECONDS ?? 30);
const WARMUP_MS = Math.min(10_000, (SECONDS * 1000) / 3);
const MiB = 1024 * 1024;
t.setTimeout((SECONDS + 60) * 1000);

const crasher = (
  upMs: number,
): string => `exec: sh -c 'echo up; echo oops >&2; sleep ${upMs / 1000}; exit 1'
restart_delay: 20ms
restart_max_delay: 100ms
stable_after: ${upMs / 2}ms
shutdown_timeout: 1
`;

interface Memory {
  rss: number;
  heap_used: number;
}

function rssOf(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

function fdTargets(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return `${fd}:${readlinkSync(`/proc/${pid}/fd/${fd}`)}`;
    } catch {
      return fd;
    }
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** One text-protocol command on its own connection; resolves with the reply. */
function textCall(socket: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer to '${line}' in 10 s`));
    }, 10_000);
    s.on('error', reject);
    s.on('data', (d: Buffer) => (buf += d.toString()));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(buf);
    });
    s.end(line + '\n');
  });
}

t.test(`soak: ${SECONDS} s of restarts and clients`, async (t) => {
  const names = ['crash-a', 'crash-b', 'crash-c', 'tested', 'chatty', 'steady'];
  const d = await startDaemon(
    t,
    {
      'crash-a': crasher(200),
      'crash-b': crasher(300),
      'crash-c': crasher(500),
      tested: `exec: sh -c 'sleep 0.4; exit 3'
test: 'true'
test_interval: 50ms
restart_delay: 20ms
restart_max_delay: 100ms
stable_after: 200ms
`,
      chatty: `exec: node -e "setInterval(() => console.log('x'.repeat(200)), 5)"\n`,
      steady: 'exec: sleep 3600\n',
    },
    // The smallest ring: full within a second or two of chatty's output.
    ['-b', '64KiB'],
    { env: { ...process.env, SMINIT_DEBUG_FAULTS: '1' } },
  );
  await d.waitStatus('steady', (s) => s.status === 'running', 'running');
  const memory = async (gc: boolean): Promise<Memory> =>
    (await rawCall(d.socket, { method: 'debug_memory', params: { gc } })).result as Memory;
  const fds = (): number => readdirSync(`/proc/${d.pid}/fd`).length;

  const started = Date.now();
  const deadline = started + SECONDS * 1000;
  let sessions = 0;
  let requests = 0;
  let followedLines = 0;
  const failures: string[] = [];

  // Each worker: a fresh connection, a few reads, a short follow, maybe a
  // restart, then gone; again until the deadline.
  const worker = async (id: number): Promise<void> => {
    for (let i = 0; Date.now() < deadline; i++) {
      try {
        const c = await Client.connect(d.socket);
        try {
          const name = names[(id + i) % names.length] ?? 'steady';
          await c.list();
          await c.status(name);
          await c.listFull();
          await c.readLogs({ n: 50 });
          let seen = 0;
          const stop = await c.followLogs({ n: 5 }, () => seen++);
          await waitFor('followed lines', () => seen >= 5, 10_000, 5);
          followedLines += seen;
          await stop();
          requests += 6;
          if (i % 10 === id) {
            await c.restart(name.startsWith('crash') ? name : 'steady');
            requests++;
          }
          if (i % 5 === 0) {
            const reply = await textCall(d.socket, `status ${name}`);
            if (!reply.includes('"state":"ok"')) failures.push(`text status: ${reply}`);
            requests++;
          }
        } finally {
          c.close();
        }
        sessions++;
      } catch (err) {
        failures.push(String(err));
        if (failures.length > 20) return;
      }
    }
  };

  const samples: { at: number; rss: number; heap: number; fds: number }[] = [];
  const sampler = async (): Promise<void> => {
    await waitFor('warm-up', () => Date.now() - started >= WARMUP_MS, WARMUP_MS + 5000, 100);
    while (Date.now() < deadline) {
      const m = await memory(true);
      samples.push({ at: Date.now() - started, rss: rssOf(d.pid), heap: m.heap_used, fds: fds() });
      const next = Date.now() + Math.max(1000, (SECONDS * 1000) / 60);
      await waitFor('the next sample', () => Date.now() >= Math.min(next, deadline), 120_000, 50);
    }
  };

  await Promise.all([worker(0), worker(1), worker(2), sampler()]);
  t.same(failures, [], 'every client session went through');

  const runs = (await d.client.listFull()).reduce((n, s) => n + s.restarts, 0);
  const ring = await d.client.readLogs({});
  t.ok(samples.length >= 5, `${samples.length} samples after warm-up`);
  const k = Math.max(2, Math.floor(samples.length / 5));
  const first = samples.slice(0, k);
  const last = samples.slice(-k);
  const rss0 = median(first.map((s) => s.rss));
  const rss1 = median(last.map((s) => s.rss));
  const heap0 = median(first.map((s) => s.heap));
  const heap1 = median(last.map((s) => s.heap));
  const fd0 = median(first.map((s) => s.fds));
  const fd1 = median(last.map((s) => s.fds));
  const figures =
    `${SECONDS} s: ${sessions} client sessions, ${requests} requests, ${followedLines} followed lines, ` +
    `${runs} restarts, ring ${ring.lines.length} lines; ` +
    `RSS ${(rss0 / MiB).toFixed(1)} -> ${(rss1 / MiB).toFixed(1)} MiB ` +
    `(max ${(Math.max(...samples.map((s) => s.rss)) / MiB).toFixed(1)}), ` +
    `heap after GC ${(heap0 / MiB).toFixed(2)} -> ${(heap1 / MiB).toFixed(2)} MiB, fds ${fd0} -> ${fd1}`;
  t.comment(figures);
  t.ok(sessions > 10 && runs > 20, 'the soak did real work');
  // The heap after a full collection is what the daemon keeps: flat once
  // the ring is full. RSS includes the allocator's slack: a looser bound.
  t.ok(heap1 - heap0 < 2 * MiB, `heap after GC grew ${((heap1 - heap0) / MiB).toFixed(2)} MiB`);
  t.ok(
    rss1 - rss0 < Math.max(16 * MiB, rss0 * 0.2),
    `RSS grew ${((rss1 - rss0) / MiB).toFixed(1)} MiB`,
  );
  if (fd1 - fd0 >= 16) {
    // Say what the descriptors are, so a leak names itself.
    t.comment(`descriptors over time: ${samples.map((s) => s.fds).join(' ')}`);
    t.comment(`now: ${fdTargets(d.pid).join(' ')}`);
  }
  t.ok(fd1 - fd0 < 16, `descriptors: ${fd0} -> ${fd1}`);
  t.equal(d.proc.exitCode, null, 'the daemon is alive');
  t.notMatch(d.stderr(), /internal error/);
});
