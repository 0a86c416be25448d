// The HTTP endpoint as orchestrators and browsers meet it, against a real
// daemon: /metrics that Debian's promtool accepts without a warning,
// /readyz 503 until a service is ready, /healthz 503 once the command queue
// is stuck, the event stream as server-sent events resumed by Last-Event-ID,
// a foreign Host or Origin refused, and a read token that can watch and
// cannot stop anything. Listens only on 127.0.0.1, port 0.

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Daemon, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

interface Got {
  readonly status: number;
  readonly type: string;
  readonly text: string;
}

/** One request by node:http, which sends the headers it is given (fetch replaces Host). */
function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', text }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const get = (url: string, headers: Record<string, string> = {}): Promise<Got> =>
  request(url, 'GET', headers);

function rpc(
  url: string,
  method: string,
  params: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<Got> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
  return request(
    url,
    'POST',
    {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body,
  );
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function httpDaemon(
  t: Test,
  files: Record<string, string>,
  args: string[] = [],
  env?: NodeJS.ProcessEnv,
): Promise<{ d: Daemon; url: string; token: string }> {
  const d = await startDaemon(t, files, ['--http', '127.0.0.1:0', ...args], env ? { env } : {});
  const url = await waitFor(
    'the HTTP address',
    () => /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(d.stderr())?.[1],
  );
  const token = readFileSync(`${d.socket}.token`, 'utf8').trim();
  return { d, url, token };
}

t.test('/metrics passes promtool check metrics, with every service labelled', async (t) => {
  const { d, url, token } = await httpDaemon(t, {
    web: "exec: sh -c 'sleep 1000 & sleep 1000 & wait'\n",
    crash: "exec: sh -c 'exit 3'\nrestart: never\n",
    gate: 'exec: sleep 1000\ntest: test -f /nonexistent/never\ntest_interval: 100ms\n',
  });
  await d.waitStatus('crash', (s) => s.status === 'exited', 'exited');
  await d.waitStatus('gate', (s) => s.reason.includes('(2x)'), 'failing twice');
  await d.client.list();
  const m = await get(`${url}metrics`, bearer(token));
  t.equal(m.status, 200);
  t.equal(m.type, 'text/plain; version=0.0.4; charset=utf-8');
  const check = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
  t.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
  t.equal(check.stdout + check.stderr, '', 'no warnings');
  const sample = (name: string, labels = ''): number => {
    const re = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm');
    const v = re.exec(m.text)?.[1];
    if (v === undefined) throw new Error(`no ${name}${labels} in:\n${m.text}`);
    return Number(v);
  };
  t.equal(sample('sminit_service_state', '{service="web",state="running"}'), 1);
  t.equal(sample('sminit_service_state', '{service="web",state="stopped"}'), 0);
  t.equal(sample('sminit_service_up', '{service="web"}'), 1);
  t.equal(sample('sminit_service_ready', '{service="gate"}'), 0, 'not past its test');
  t.equal(sample('sminit_service_up', '{service="gate"}'), 1, 'but running');
  t.equal(sample('sminit_service_last_exit_code', '{service="crash"}'), 3);
  t.ok(sample('sminit_service_probe_failures_total', '{service="gate"}') >= 2);
  t.equal(sample('sminit_service_tasks', '{service="web"}'), 3, 'sh and its two sleeps');
  t.ok(sample('sminit_service_memory_bytes', '{service="web"}') > 0);
  t.equal(sample('sminit_services'), 3);
  t.ok(sample('sminit_requests_total') >= 1);
  t.ok(sample('sminit_log_ring_bytes') > 0);
  t.ok(sample('sminit_uptime_seconds') > 0);
  t.equal(sample('sminit_build_info', '{version="0.1.0"}'), 1);
  t.equal((await get(`${url}metrics`)).status, 401, 'the read token is needed by default');
});

t.test('/readyz: 503 naming what is not ready, 200 once it is; /healthz', async (t) => {
  const dir = tempDir(t);
  const flag = join(dir, 'ready');
  const serving = join(dir, 'serving');
  writeFileSync(serving, '');
  const { d, url } = await httpDaemon(t, {
    db: `exec: sleep 1000\ntest: test -f ${flag}\ntest_interval: 100ms\n`,
    web: 'exec: sleep 1000\nafter: [db]\n',
    off: 'exec: sleep 1000\n',
    api: `exec: sleep 1000\nreadiness:\n  exec: test -f ${serving}\n  period: 100ms\n  failure_threshold: 1\n`,
  });
  await d.client.stop('off');
  await d.waitStatus('db', (s) => s.status === 'starting', 'starting');
  await d.waitStatus('api', (s) => s.ready === true, 'api ready');
  const not = await get(`${url}readyz`);
  t.equal(not.status, 503, 'not ready, and no token needed');
  t.match(
    not.text,
    /^not ready: 2 services\ndb: starting \(.*\)\nweb: blocked \(waiting for db\)\n$/,
  );
  t.notMatch(not.text, /off/, 'a service stopped on purpose does not count');
  writeFileSync(flag, '');
  await d.waitStatus('web', (s) => s.status === 'running', 'running');
  const ready = await get(`${url}readyz`);
  t.equal(ready.status, 200);
  t.equal(ready.text, 'ready: 3 services up\n');
  // Running, but its readiness probe fails: not ready, and /readyz says so.
  unlinkSync(serving);
  await d.waitStatus('api', (s) => s.ready === false, 'api not ready');
  const lost = await get(`${url}readyz`);
  t.equal(lost.status, 503, 'a service that lost its readiness');
  t.match(lost.text, /^not ready: 1 service\napi: running \(running, not ready: readiness failed/);
  writeFileSync(serving, '');
  await d.waitStatus('api', (s) => s.ready === true, 'api ready again');
  t.equal((await get(`${url}readyz`)).status, 200, 'and ready again');
  const health = await get(`${url}healthz`);
  t.equal(health.status, 200);
  t.equal(health.text, 'ok: sminitd answers and its command queue moves\n');
});

t.test('/healthz: 503 once the command queue is stuck', async (t) => {
  const { d, url, token } = await httpDaemon(
    t,
    { a: 'exec: sleep 1000\nshutdown_timeout: 1\n' },
    [],
    { ...process.env, SMINIT_DEBUG_FAULTS: '1' },
  );
  t.equal((await get(`${url}healthz`)).status, 200);
  await rpc(url, 'debug_fault', { kind: 'stall' }, token);
  const stuck = await get(`${url}healthz`);
  t.equal(stuck.status, 503);
  t.match(stuck.text, /command queue has not moved in \d+ ms/);
  t.equal(d.proc.exitCode, null, 'the daemon runs on, as a probe would find it');
});

t.test('Host and Origin: only what sminitd serves, only its own pages', async (t) => {
  const { url, token } = await httpDaemon(t, { a: 'exec: sleep 1000\n' }, [
    '--http-host',
    'sminit.example.com',
  ]);
  const port = new URL(url).port;
  const list = (headers: Record<string, string>): Promise<Got> =>
    rpc(url, 'service_list', {}, token, headers);
  for (const host of [
    `127.0.0.1:${port}`,
    `localhost:${port}`,
    'localhost:9000',
    'sminit.example.com',
  ]) {
    t.equal((await list({ host })).status, 200, `Host ${host}`);
  }
  for (const host of [
    `evil.example:${port}`,
    `127.0.0.1.nip.io:${port}`,
    'sminit.example.com.evil',
    '[::1',
  ]) {
    const r = await list({ host });
    t.equal(r.status, 403, `Host ${JSON.stringify(host)} refused`);
    t.match(
      r.text,
      /forbidden: Host .* is not an address sminitd serves \(name it with --http-host\)/,
    );
    t.equal((await get(`${url}healthz`, { host })).status, 403, `GET with Host ${host}`);
  }
  t.equal((await list({ origin: `http://127.0.0.1:${port}` })).status, 200, 'its own page');
  for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${Number(port) + 1}`]) {
    const r = await list({ origin });
    t.equal(r.status, 403, `Origin ${origin} refused`);
    t.match(r.text, /forbidden: a page from .* may not call sminitd/);
  }
  t.equal((await list({ 'sec-fetch-site': 'cross-site' })).status, 403, 'a cross-site fetch');
  t.equal((await get(`${url}nope`)).status, 404);
  // HTTP/1.0 may leave Host out: then nothing says what was meant, and it is refused.
  const bare = await new Promise<string>((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1');
    let text = '';
    s.on('data', (b: Buffer) => (text += b.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
    s.end('GET /healthz HTTP/1.0\r\n\r\n');
  });
  t.match(bare, /^HTTP\/1\.1 403 /, 'no Host at all');
});

t.test('the read token watches and cannot stop anything', async (t) => {
  const dir = tempDir(t);
  const readToken = 'wall-dashboard-read-token-0123';
  const readFile = join(dir, 'read');
  writeFileSync(readFile, readToken + '\n', { mode: 0o600 });
  const { d, url, token } = await httpDaemon(t, { a: 'exec: sleep 1000\n' }, [
    '--http-read-token-file',
    readFile,
  ]);
  await d.waitStatus('a', (s) => s.status === 'running', 'running');
  t.equal((await rpc(url, 'service_status', ['a'], readToken)).status, 200, 'it reads');
  t.equal((await get(`${url}metrics`, bearer(readToken))).status, 200, 'metrics');
  const stop = await rpc(url, 'service_stop', ['a'], readToken);
  t.equal(stop.status, 403, 'it cannot stop');
  t.match(stop.text, /the read token changes nothing; send the control token/);
  t.equal((await d.status('a')).status, 'running', 'nothing was stopped');
  t.equal((await rpc(url, 'service_list', {})).status, 401, 'no token: nothing');
  t.equal((await rpc(url, 'service_stop', ['a'], token)).status, 200, 'the control token stops');
  t.equal((await d.status('a')).status, 'stopped');
});

t.test('--http-open: which GETs need no token', async (t) => {
  const closed = await httpDaemon(t, { a: 'exec: sleep 1000\n' }, ['--http-open', 'none']);
  t.equal((await get(`${closed.url}healthz`)).status, 401);
  t.equal((await get(`${closed.url}healthz`, bearer(closed.token))).status, 200);
  const open = await httpDaemon(t, { a: 'exec: sleep 1000\n' }, ['--http-open', 'metrics']);
  t.equal((await get(`${open.url}metrics`)).status, 200);
  t.equal((await get(`${open.url}readyz`)).status, 401, 'only what is listed');
});

/** Reads server-sent events until `count` have an id; returns their ids and data. */
async function sse(
  url: string,
  headers: Record<string, string>,
  count: number,
): Promise<{ status: number; ids: number[]; data: unknown[] }> {
  const ac = new AbortController();
  const r = await fetch(url, { headers, signal: ac.signal });
  if (r.status !== 200 || r.body === null) return { status: r.status, ids: [], data: [] };
  const ids: number[] = [];
  const data: unknown[] = [];
  let buf = '';
  const decoder = new TextDecoder();
  for await (const chunk of r.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) !== -1) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const id = /^id: (\d+)$/m.exec(frame)?.[1];
      const d = /^data: (.*)$/m.exec(frame)?.[1];
      if (id !== undefined) ids.push(Number(id));
      if (d !== undefined) data.push(JSON.parse(d));
    }
    if (ids.length >= count) break;
  }
  ac.abort();
  // A chunk may carry more frames than asked for: the first `count`.
  return { status: r.status, ids: ids.slice(0, count), data: data.slice(0, count) };
}

t.test('GET /events: server-sent events, resumed by Last-Event-ID', async (t) => {
  const { d, url, token } = await httpDaemon(t, {
    crash: "exec: sh -c 'sleep 0.05; exit 1'\nrestart_delay: 100ms\nrestart_max_delay: 100ms\n",
  });
  const first = await sse(`${url}events`, bearer(token), 6);
  t.equal(first.status, 200);
  t.same(first.ids, [1, 2, 3, 4, 5, 6], 'the history from the start, each id its cursor');
  t.match(first.data[0], { cursor: 1, kind: 'daemon', action: 'started' });
  await waitFor('more events', async () => (await d.client.systemStatus()).cursor > 12);
  const resumed = await sse(`${url}events`, { ...bearer(token), 'last-event-id': '6' }, 4);
  t.same(resumed.ids, [7, 8, 9, 10], 'on from the last one seen');
  const filtered = await sse(`${url}events?kinds=restart&n=1`, bearer(token), 2);
  t.ok(
    filtered.data.every((e) => (e as { kind: string }).kind === 'restart'),
    'a filter in the query',
  );
  const reborn = await sse(`${url}events`, { ...bearer(token), 'last-event-id': '999999' }, 1);
  t.same(reborn.ids, [1], 'a cursor from an earlier run of sminitd starts over');
  t.equal((await sse(`${url}events`, {}, 1)).status, 401, 'the read token is needed');
  const bad = await get(`${url}events?kinds=nope`, bearer(token));
  t.equal(bad.status, 400);
  t.match(bad.text, /kinds/);
});
