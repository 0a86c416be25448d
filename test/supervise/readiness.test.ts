// Readiness and liveness end to end, under the real daemon: HTTP and TCP
// probes against real servers on loopback, readiness lost and regained,
// liveness restarting a service after exactly failure_threshold failures,
// the systemd notification protocol with Debian's own systemd-notify (READY,
// STATUS, a watchdog that lapses, a stranger's datagram ignored), fd:3 and
// ready_log. Every wait is for a condition with a deadline.

import t from 'tap';
import type { Test } from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type Daemon, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { events, svc, waitEvent } from '../helpers/services.js';

/** A TCP port on loopback nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * An HTTP server for a service: 503 while `DIR/fail` exists or `DIR/up`
 * does not, 200 otherwise; it counts its 503s in `DIR/fails`.
 */
const SERVER = `
const http = require('http'), fs = require('fs');
const dir = process.env.DIR;
let fails = 0;
http.createServer((q, s) => {
  if (fs.existsSync(dir + '/fail') || !fs.existsSync(dir + '/up')) {
    fails++;
    fs.writeFileSync(dir + '/fails', String(fails));
    s.statusCode = 503;
  }
  s.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

async function httpService(t: Test): Promise<{ dir: string; port: number; exec: string }> {
  const dir = tempDir(t, 'sminit-rd-');
  writeFileSync(join(dir, 'server.cjs'), SERVER);
  const port = await freePort();
  return { dir, port, exec: `env DIR=${dir} PORT=${port} ${process.execPath} ${dir}/server.cjs` };
}

t.test('a dependant starts only after an HTTP readiness probe passes', async (t) => {
  const { dir, port, exec } = await httpService(t);
  const url = `http://127.0.0.1:${port}/health`;
  const d = await startDaemon(t, {
    web: svc({ exec, readiness: { http: url, period: '100ms' } }),
    app: svc({ exec: 'sleep 1000', after: ['web'] }),
  });
  const web = await d.waitStatus(
    'web',
    (s) => s.status === 'starting' && s.probes[0]?.last?.reason === 'HTTP 503',
    'failing its readiness probe',
  );
  t.match(web.reason, /not ready yet \(\d+x\): HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/health/);
  t.same(web.probes[0] && { ...web.probes[0], last: null, next_run: null, failures: 0 }, {
    role: 'readiness',
    kind: 'http',
    target: url,
    passing: false,
    last: null,
    failures: 0,
    successes: 0,
    next_run: null,
  });
  t.equal(web.ready, false);
  const app = await d.status('app');
  t.equal(app.status, 'blocked');
  t.equal(app.reason, 'waiting for web');

  writeFileSync(join(dir, 'up'), '');
  await d.waitStatus('app', (s) => s.status === 'running', 'running');
  const ready = await waitEvent(d, 'web', /^ready: readiness probe passed \(HTTP 200\)$/);
  const started = (await events(d, 'app')).find((l) => l.text.startsWith('started'));
  t.ok(started && started.seq > ready.seq, 'app started after web was ready');
  const now = await d.status('web');
  t.equal(now.ready, true);
  t.match(now.probes[0], { passing: true, last: { ok: true, reason: 'HTTP 200' }, failures: 0 });

  const shown = await d.cli('status', 'web');
  t.match(
    shown.stdout,
    /readiness: http http:\/\/127\.0\.0\.1:\d+\/health: passing \(last: HTTP 200 at /,
  );
  const list = await d.cli('list');
  t.match(list.stdout, /^web +running +ready /m);
});

t.test('a TCP readiness probe passes once the port opens', async (t) => {
  const port = await freePort();
  const flags = tempDir(t, 'sminit-rd-');
  const go = join(flags, 'go');
  const server = join(flags, 'tcp.cjs');
  writeFileSync(
    server,
    `require('net').createServer((c) => c.end()).listen(${port}, '127.0.0.1');`,
  );
  const d = await startDaemon(t, {
    db: svc({
      exec: `sh -c 'while [ ! -f ${go} ]; do sleep 0.05; done; exec ${process.execPath} ${server}'`,
      readiness: { tcp: `127.0.0.1:${port}`, period: '100ms' },
    }),
  });
  const s = await d.waitStatus('db', (s) => (s.probes[0]?.failures ?? 0) >= 1, 'probed');
  t.equal(s.status, 'starting');
  t.match(s.probes[0]?.last, { ok: false, reason: 'connection refused' });
  writeFileSync(go, '');
  const up = await d.waitStatus('db', (s) => s.status === 'running', 'running');
  t.match(up.probes[0], { kind: 'tcp', target: `127.0.0.1:${port}`, passing: true });
});

t.test('readiness lost and regained is visible; dependants keep running', async (t) => {
  const { dir, port, exec } = await httpService(t);
  writeFileSync(join(dir, 'up'), '');
  const d = await startDaemon(t, {
    web: svc({
      exec,
      readiness: { http: `http://127.0.0.1:${port}/`, period: '100ms', failure_threshold: 2 },
    }),
    app: svc({ exec: 'sleep 1000', after: ['web'] }),
  });
  const app = await d.waitStatus('app', (s) => s.status === 'running', 'running');
  writeFileSync(join(dir, 'fail'), '');
  const lost = await d.waitStatus('web', (s) => s.ready === false, 'not ready');
  t.equal(lost.status, 'running', 'still running');
  t.match(lost.reason, /^running, not ready: readiness failed 2 times: HTTP 503 from /);
  t.match((await d.cli('list')).stdout, /^web +running +not ready /m);
  t.equal((await d.status('app')).pid, app.pid, 'the dependant was not stopped');
  await waitEvent(d, 'web', /^not ready: readiness failed 2 times: HTTP 503/);

  rmSync(join(dir, 'fail'));
  const back = await d.waitStatus('web', (s) => s.ready === true, 'ready again');
  t.equal(back.reason, 'up');
  await waitEvent(d, 'web', /^ready again: readiness probe passed again \(HTTP 200\)$/);
});

t.test('a failing liveness probe restarts after exactly failure_threshold failures', async (t) => {
  const { dir, port, exec } = await httpService(t);
  writeFileSync(join(dir, 'up'), '');
  const url = `http://127.0.0.1:${port}/health`;
  const d = await startDaemon(t, {
    web: svc({
      exec,
      // Without readiness, liveness begins initial_delay after the spawn: time to listen.
      liveness: { http: url, period: '100ms', failure_threshold: 3, initial_delay: '1s' },
      restart_delay: '100ms',
    }),
  });
  const first = await d.waitStatus(
    'web',
    (s) => s.status === 'running' && (s.probes[0]?.successes ?? 0) >= 1,
    'live',
  );
  writeFileSync(join(dir, 'fail'), '');
  const why = await waitEvent(d, 'web', /^liveness failed/);
  t.equal(why.text, `liveness failed 3 times: HTTP 503 from ${url}`);
  await waitEvent(d, 'web', /^stopping: SIGTERM to process group/);
  // The server counted every 503 it answered before it was stopped.
  t.equal(readFileSync(join(dir, 'fails'), 'utf8'), '3', 'three failed checks, no fourth');
  rmSync(join(dir, 'fail'));
  const again = await d.waitStatus(
    'web',
    (s) => s.status === 'running' && s.pid !== first.pid,
    'restarted',
  );
  t.equal(again.restarts, 1);
  t.match(again.last_exit, { signal: 'SIGTERM' });
});

/** Runs Debian's systemd-notify from this test (a stranger to every service). */
function notifyFromOutside(socket: string, ...args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const p = execFile('systemd-notify', args, { env: { ...process.env, NOTIFY_SOCKET: socket } });
    p.on('exit', (code) => resolve(code));
  });
}

t.test('notify: systemd with systemd-notify --ready and STATUS=', async (t) => {
  const flags = tempDir(t, 'sminit-rd-');
  const go = join(flags, 'go');
  const d = await startDaemon(t, {
    db: svc({
      exec: `sh -c 'systemd-notify --status="warming up"; while [ ! -f ${go} ]; do sleep 0.05; done; systemd-notify --ready --status="serving"; echo notify-exit $?; exec sleep 1000'`,
      notify: 'systemd',
    }),
    app: svc({ exec: 'sleep 1000', after: ['db'] }),
  });
  const warming = await d.waitStatus('db', (s) => s.notify?.status === 'warming up', 'warming up');
  t.equal(warming.status, 'starting');
  t.equal(warming.reason, 'started, waiting for READY=1');
  t.match(warming.notify, { mode: 'systemd', socket: /\.notify\/db$/, reloading: false });
  t.equal((await d.status('app')).status, 'blocked');
  t.match((await d.cli('status', 'db')).stdout, /^notify: +systemd, status "warming up"/m);

  writeFileSync(go, '');
  await d.waitStatus('app', (s) => s.status === 'running', 'running');
  const db = await d.status('db');
  t.equal(db.notify?.status, 'serving');
  await waitEvent(d, 'db', /^ready: READY=1$/);
  // systemd-notify waits until its barrier descriptor is closed; sminitd closes it at once.
  // Its exit line follows the barrier, so it may come after the ready event: wait for it.
  const said = await waitFor('systemd-notify to exit', async () => {
    const { lines } = await d.client.readLogs({ names: ['db'], stream: 'stdout' });
    return lines.find((l) => l.text.startsWith('notify-exit'))?.text ?? null;
  });
  t.equal(said, 'notify-exit 0', 'systemd-notify exited 0 (no "Failed to invoke barrier")');
});

t.test('a datagram from a stranger is ignored and logged once', async (t) => {
  const d = await startDaemon(t, {
    quiet: svc({ exec: 'sleep 1000', notify: 'systemd' }),
  });
  const s = await d.waitStatus('quiet', (s) => s.notify?.socket !== null && s.pid > 0, 'spawned');
  const socket = s.notify?.socket ?? '';
  t.equal(await notifyFromOutside(socket, '--ready', '--status=hijacked'), 0);
  t.equal(await notifyFromOutside(socket, '--ready'), 0);
  const ignored = await waitEvent(d, 'quiet', /^ignored a notification from pid \d+/);
  t.match(ignored.text, /which is not one of quiet's processes/);
  const now = await d.status('quiet');
  t.equal(now.status, 'starting', 'still waiting for its own READY=1');
  t.equal(now.notify?.status, null, 'the stranger set no status');
  const all = (await events(d, 'quiet')).filter((l) => l.text.startsWith('ignored'));
  t.equal(all.length, 1, 'logged once');
});

t.test('a watchdog that lapses restarts the service', async (t) => {
  const flags = tempDir(t, 'sminit-rd-');
  const d = await startDaemon(t, {
    dog: svc({
      exec: `sh -c 'echo "$WATCHDOG_PID $$ $WATCHDOG_USEC" > ${flags}/env.$$; systemd-notify --ready; systemd-notify WATCHDOG=1; exec sleep 1000'`,
      notify: 'systemd',
      watchdog: '600ms',
      restart_delay: '100ms',
    }),
  });
  const first = await d.waitStatus('dog', (s) => s.status === 'running', 'running');
  t.match(first.notify, { watchdog_ms: 600, watchdog_deadline: /^\d{4}-/ });
  const lapsed = await waitEvent(d, 'dog', /^watchdog: /);
  t.equal(lapsed.text, 'watchdog: no WATCHDOG=1 within 600ms');
  const again = await d.waitStatus(
    'dog',
    (s) => s.status === 'running' && s.pid !== first.pid,
    'restarted',
  );
  t.equal(again.restarts, 1);
  const env = readFileSync(join(flags, `env.${first.pid}`), 'utf8')
    .trim()
    .split(' ');
  t.same(env, [String(first.pid), String(first.pid), '600000'], 'WATCHDOG_PID is its own pid');
});

t.test('notify: fd:3 and ready_log', async (t) => {
  const flags = tempDir(t, 'sminit-rd-');
  const go = join(flags, 'go');
  const wait = `while [ ! -f ${go} ]; do sleep 0.05; done`;
  const d = await startDaemon(t, {
    s6: svc({ exec: `sh -c '${wait}; echo >&3; exec sleep 1000'`, notify: 'fd:3' }),
    logged: svc({
      exec: `sh -c 'echo booting; ${wait}; echo "listening on port 5"; exec sleep 1000'`,
      ready_log: 'listening on port \\d+',
    }),
    app: svc({ exec: 'sleep 1000', after: ['s6', 'logged'] }),
  });
  const s6 = await d.waitStatus('s6', (s) => s.pid > 0, 'spawned');
  t.equal(s6.reason, 'started, waiting for a newline on fd 3');
  const logged = await d.status('logged');
  t.equal(logged.reason, 'started, waiting for a log line matching /listening on port \\d+/');
  t.equal((await d.status('app')).status, 'blocked');
  writeFileSync(go, '');
  await d.waitStatus('app', (s) => s.status === 'running', 'running');
  t.equal((await d.status('s6')).status, 'running');
  await waitEvent(d, 's6', /^ready: a newline on fd 3$/);
  await waitEvent(d, 'logged', /^ready: a log line matching /);
  t.ok(existsSync(go));
});
