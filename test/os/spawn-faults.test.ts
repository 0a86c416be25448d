// Spawn failures the machine causes, not the service file: out of file
// descriptors (EMFILE), out of processes (EAGAIN under RLIMIT_NPROC), and the
// failures Node throws instead of reporting (E2BIG, ENAMETOOLONG). Each is
// reported on the service and retried with backoff; the daemon never
// crashes and answers again as soon as descriptors free up. Limits are
// lowered on the live daemon with prlimit, so each test knows exactly how
// much room is left.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { Code } from '../../lib/api/errors.js';
import { Client, RpcError } from '../../lib/client/client.js';
import { clockTicks } from '../../lib/os/procfs.js';
import { type Daemon, startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const NOBODY = 65534;
/**
 * A uid of its own for the RLIMIT_NPROC test: the limit counts every task of
 * the user, so another test's processes of `nobody` coming and going would
 * open room in it.
 */
const LONER = 61_234;

/** The soft limit a process has now, as prlimit takes it back. */
function softLimit(pid: number, what: 'Max open files' | 'Max processes'): string {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(what));
  return line?.slice(what.length).trim().split(/\s+/)[0] ?? 'unlimited';
}

const victim = `exec: sleep 3600
restart_delay: 100ms
restart_max_delay: 400ms
stable_after: 60s
shutdown_timeout: 1
`;

/**
 * Set the soft limit of a live process (the hard one stays, so it can be
 * raised again). Without CAP_SYS_RESOURCE only the process's own user may
 * change its limits: `user` runs prlimit as that user.
 */
function prlimit(
  pid: number,
  resource: 'nofile' | 'nproc',
  value: number | string,
  user?: number,
): void {
  const asUser =
    user === undefined ? [] : ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--clear-groups'];
  const argv = [...asUser, 'prlimit', '--pid', String(pid), `--${resource}=${value}:`];
  execFileSync(argv[0]!, argv.slice(1));
}

/** Waits until the service has failed `times` times in a row with `reason`, retrying each time. */
async function failsRepeatedly(
  t: Test,
  d: Daemon,
  name: string,
  reason: RegExp,
  times: number,
): Promise<void> {
  const first = await d.waitStatus(name, (s) => s.status === 'failed', 'failed', 15000);
  await d.waitStatus(
    name,
    (s) => s.status === 'failed' && s.restarts >= first.restarts + times - 1,
    `failed ${times} times`,
    15000,
  );
  const s = await d.status(name);
  t.match(s.reason, reason, `${name}: ${(s.reason ?? '').slice(0, 160)}`);
  t.not(s.next_attempt, null, 'a retry is scheduled');
  // Backoff: the delays announced grow (100 ms doubling to 400 ms).
  const { lines } = await d.client.readLogs({ names: [name] });
  const delays = lines
    .map((l) => /^retrying in (\d+) ms$/.exec(l.text)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number);
  t.ok(delays.length >= times, `retried: ${delays.join(', ')} ms`);
  t.ok(
    delays.every((x, i) => i === 0 || x >= (delays[i - 1] ?? 0)),
    `delays never shrink while failing: ${delays.join(', ')}`,
  );
}

/** A fresh connection's fate: an answer, or closed unanswered; never a hang. */
function probe(socket: string): Promise<'answered' | 'closed'> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('a connection was neither answered nor closed within 5 s'));
    }, 5000);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        clearTimeout(timer);
        s.destroy();
        resolve('answered');
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      if (!buf.includes('\n')) resolve('closed');
    });
    s.write('{"jsonrpc":"2.0","id":1,"method":"service_list"}\n');
  });
}

/** The descriptor limit that leaves exactly `free` numbers unused below it. */
function limitLeaving(pid: number, free: number): number {
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let limit = 0;
  for (let left = free; left > 0; limit++) if (!used.has(limit)) left--;
  return limit;
}

t.test(
  'spawn failures Node throws instead of reporting fail the service, not the daemon',
  async (t) => {
    const d = await startDaemon(t, {
      // Loaded in name order: the services after the bad ones must still start.
      'a-e2big': `exec: /bin/echo ${'x'.repeat(200 * 1024)}\nrestart_delay: 100ms\nrestart_max_delay: 400ms\n`,
      'b-longname': `exec: /${'n'.repeat(5000)}\nrestart_delay: 100ms\nrestart_max_delay: 400ms\n`,
      'c-test': `exec: sleep 3600\ntest: /${'t'.repeat(5000)}\ntest_interval: 100ms\n`,
      'd-fine': 'exec: sleep 3600\n',
    });
    await d.waitStatus('d-fine', (s) => s.status === 'running', 'running');
    await failsRepeatedly(t, d, 'a-e2big', /arguments or environment too long \(E2BIG\)/, 2);
    await failsRepeatedly(t, d, 'b-longname', /a path is too long \(ENAMETOOLONG\)/, 2);
    const c = await d.waitStatus(
      'c-test',
      (s) => s.status === 'starting' && /ENAMETOOLONG/.test(s.reason ?? ''),
      'starting with its test failing',
    );
    t.not(c.pid, 0, 'the service runs while its test cannot');
    // A restart by request meets the same failure and answers with it.
    const r = await d.client.restart('a-e2big');
    t.equal(r.status, 'failed');
    t.equal(d.proc.exitCode, null, 'the daemon is alive');
    t.notMatch(d.stderr(), /internal error/);
  },
);

t.test(
  'out of file descriptors: EMFILE on the service, backoff, and the socket recovers',
  async (t) => {
    const d = await startDaemon(t, { victim, steady: 'exec: sleep 3600\n' });
    const up = await d.waitStatus('victim', (s) => s.status === 'running', 'running');
    const steady = await d.waitStatus('steady', (s) => s.usage != null, 'running in its group');
    // Room for eight more (a spawn needs six at once: two socket pairs and
    // the exec status pipe); the connections opened next take them, and then
    // there is no room at all.
    const nofile = softLimit(d.pid, 'Max open files');
    prlimit(d.pid, 'nofile', limitLeaving(d.pid, 8));
    t.teardown(() => {
      if (d.proc.exitCode === null) prlimit(d.pid, 'nofile', nofile);
    });
    const held: Client[] = [];
    t.teardown(() => held.forEach((c) => c.close()));
    const fill = async (): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        const c = await Client.connect(d.socket);
        const ok = await c.list().then(
          () => true,
          () => false,
        );
        if (!ok) return;
        held.push(c);
      }
      throw new Error('never ran out of descriptors');
    };
    await fill();
    t.ok(true, `full after ${held.length} more connections`);

    process.kill(up.pid, 'SIGKILL');
    await failsRepeatedly(t, d, 'victim', /out of file descriptors \(EMFILE\)/, 3);
    // Whatever the dead service's pipes freed is taken again, so nothing is left.
    await fill();
    // Out of descriptors, a new connection is closed at once (libuv accepts and
    // closes it on a spare descriptor), never left hanging, and the daemon does
    // not spin: the connection it already has is answered at once.
    for (let i = 0; i < 20; i++)
      t.equal(await probe(d.socket), 'closed', `connection ${i} refused`);
    const cpuBefore = cpuTicks(d.pid);
    const started = Date.now();
    t.same(
      Object.keys(await d.client.list()).sort(),
      ['steady', 'victim'],
      'an open connection is still served',
    );
    // A status reads the group's and its processes' files: refused, the
    // status is still answered, without the usage it could not read.
    const s = await d.status('steady');
    t.equal(s.pid, steady.pid, 'a status answered with no descriptor to spare');
    t.ok(
      s.usage === null || s.usage?.processes === 1,
      `usage whole or left out: ${JSON.stringify(s.usage)}`,
    );
    // service_stats cannot do without its reads: with every descriptor
    // taken, it is refused, saying the system refused and why, as a
    // request to try again, not as a bug.
    await fill();
    const stats = await d.client.stats('steady').then(
      () => null,
      (err: unknown) => err,
    );
    t.type(stats, RpcError, 'service_stats refused with no descriptor to spare');
    t.equal(
      (stats as RpcError | null)?.code,
      Code.InvalidRequest,
      'a refusal, not an internal error',
    );
    t.match(
      (stats as RpcError | null)?.message,
      /^service_stats: the system refused what it needs \(EMFILE/,
    );
    await waitFor('a second of pressure', async () => {
      await probe(d.socket);
      return Date.now() - started > 1000;
    });
    const spent = (cpuTicks(d.pid) - cpuBefore) / clockTicks();
    t.ok(
      spent < 0.6,
      `daemon CPU under pressure: ${spent.toFixed(2)} s in ${Date.now() - started} ms`,
    );

    // Descriptors free up: the daemon answers new clients and the service comes back.
    for (const c of held.splice(0)) c.close();
    await waitFor(
      'a new connection to be answered',
      async () => (await probe(d.socket)) === 'answered',
      10000,
    );
    await d.waitStatus('victim', (s) => s.status === 'running', 'running again', 15000);
    t.equal(d.proc.exitCode, null, 'the daemon is alive');
    t.notMatch(d.stderr(), /internal error/);
  },
);

t.test('out of processes: EAGAIN under RLIMIT_NPROC, backoff, then recovery', async (t) => {
  const d = await startDaemon(t, { victim }, [], { user: LONER });
  const up = await d.waitStatus('victim', (s) => s.status === 'running', 'running');
  // RLIMIT_NPROC counts every task (thread) of the user; fork fails once the
  // count reaches the limit. Leave exactly no room once the victim is gone.
  const tasks = tasksOf(LONER);
  const nproc = softLimit(d.pid, 'Max processes');
  prlimit(d.pid, 'nproc', tasks - 1, LONER);
  t.teardown(() => {
    if (d.proc.exitCode === null) prlimit(d.pid, 'nproc', nproc, LONER);
  });
  process.kill(up.pid, 'SIGKILL');
  await failsRepeatedly(t, d, 'victim', /process limit reached \(EAGAIN\)/, 3);
  t.same(Object.keys(await d.client.list()), ['victim'], 'the daemon answers');
  t.equal(await probe(d.socket), 'answered', 'and new connections too');
  prlimit(d.pid, 'nproc', nproc, LONER);
  await d.waitStatus('victim', (s) => s.status === 'running', 'running again', 15000);
  t.equal(d.proc.exitCode, null, 'the daemon is alive');
  t.notMatch(d.stderr(), /internal error/);
});

/** Tasks (threads included) of every process of `uid`, as RLIMIT_NPROC counts them. */
function tasksOf(uid: number): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const real = /^Uid:\s+(\d+)/m.exec(status)?.[1];
      if (Number(real) !== uid) continue;
      n += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1);
    } catch {
      // Gone meanwhile.
    }
  }
  return n;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

t.test('a daemon whose stderr reader went away keeps answering and does not spin', async (t) => {
  // stderr goes to a FIFO whose reader takes one byte and leaves: every
  // later report fails with EPIPE.
  const d = await startDaemon(t, { svc: 'exec: sleep 3600\n' }, [], {
    viaShell: 'f="$4/../stderr.fifo"; mkfifo "$f"; (head -c 1 <"$f" >/dev/null &); exec 2>"$f"',
  });
  await d.waitStatus('svc', (s) => s.status === 'running', 'running');
  // Each restart is reported on stderr.
  for (let i = 0; i < 5; i++) t.equal((await d.client.restart('svc')).status, 'running');
  const before = cpuTicks(d.pid);
  const started = Date.now();
  await waitFor('a second to pass', async () => {
    await d.client.list();
    return Date.now() - started >= 1000;
  });
  const spent = (cpuTicks(d.pid) - before) / clockTicks();
  t.ok(spent < 0.3, `daemon CPU: ${spent.toFixed(2)} s in ${Date.now() - started} ms`);
  t.equal(d.proc.exitCode, null, 'the daemon is alive');
});
