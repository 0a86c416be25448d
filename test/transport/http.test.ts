// JSON-RPC over HTTP: `sminitd --http` and system_start_http_server, the
// bearer token (generated 0600 next to the socket, or the operator's file),
// what is refused and how. Listens only on 127.0.0.1, port 0.

import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, statSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { codeOf } from '../../lib/api/errors.js';
import { SminitError } from '../../lib/core/errors.js';
import { parseAddress } from '../../lib/transport/http.js';
import { SMINITD, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

async function post(
  url: string,
  body: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const rq = (id: number, method: string, params?: unknown): object => ({
  jsonrpc: '2.0',
  id,
  method,
  ...(params !== undefined ? { params } : {}),
});

t.test('parseAddress: loopback unless an address says otherwise', async (t) => {
  t.same(parseAddress('8080'), { host: '127.0.0.1', port: 8080 });
  t.same(parseAddress(':8080'), { host: '127.0.0.1', port: 8080 });
  t.same(parseAddress('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  t.same(parseAddress('[::1]:0'), { host: '::1', port: 0 });
  t.same(parseAddress('localhost:9'), { host: 'localhost', port: 9 });
  for (const bad of ['', 'x', '1:2:3', '127.0.0.1:99999', 'http://a:1', '[::1]']) {
    let thrown: unknown = null;
    try {
      parseAddress(bad);
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof SminitError, `${bad}: refused`);
    t.equal(codeOf(thrown as SminitError), -32602, `${bad}: -32602`);
  }
});

t.test('sminitd --http: the token guards every call', async (t) => {
  const d = await startDaemon(t, { a: 'exec: sleep 1000\n' }, ['--http', '127.0.0.1:0']);
  const url = await waitFor(
    'the HTTP address',
    () => /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(d.stderr())?.[1],
  );
  await d.waitStatus('a', (s) => s.status === 'running', 'running');
  const tokenFile = `${d.socket}.token`;
  t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'token file is 0600');
  const token = readFileSync(tokenFile, 'utf8').trim();
  t.match(token, /^[0-9a-f]{64}$/);

  const ok = await post(url, rq(1, 'service_list'), token);
  t.equal(ok.status, 200);
  t.match(ok.headers.get('content-type'), /^application\/json/);
  t.same(ok.body, { jsonrpc: '2.0', id: 1, result: await d.client.list() });

  for (const [what, tok] of [
    ['no token', undefined],
    ['a wrong token', 'f'.repeat(64)],
    ['a short token', 'x'],
  ] as const) {
    const r = await post(url, rq(1, 'service_list'), tok);
    t.equal(r.status, 401, what);
    t.match(r.headers.get('www-authenticate'), /^Bearer/);
    t.match(r.body, { error: { code: -32600, message: /unauthorized.*\.token/ } });
  }

  // GET / is the dashboard's page (test/transport/dashboard.test.ts); other verbs are not calls.
  const get = await fetch(url, { method: 'PUT' });
  t.equal(get.status, 405);
  t.equal(get.headers.get('allow'), 'POST');
  await get.text();
  t.equal(
    (await post(url, rq(1, 'service_list'), token, { 'content-type': 'text/plain' })).status,
    415,
    'a browser’s simple request is refused',
  );
  const big = await post(url, { pad: 'x'.repeat(1024 * 1024 + 1) }, token).catch(() => null);
  t.equal(big?.status, 413, 'body too large');
  t.match(await post(url, '{nope', token), { status: 200, body: { error: { code: -32700 } } });
  t.match(await post(url, { jsonrpc: '2.0', method: 'service_list' }, token), {
    status: 204,
    body: null,
  });
  const batch = await post(url, [rq(1, 'service_list')], token);
  t.ok(Array.isArray(batch.body), 'a batch answers with an array');

  for (const m of ['stream_subscribeLogs', 'log_follow']) {
    t.match(
      await post(url, rq(1, m), token),
      { status: 200, body: { error: { code: -32601, message: /unix socket/ } } },
      `${m} needs a persistent connection`,
    );
  }

  // Creating and starting a service over HTTP.
  t.match(await post(url, rq(1, 'service_create', ['web', { exec: 'sleep 1000' }]), token), {
    body: { result: "Service 'web' created successfully" },
  });
  t.match(await post(url, rq(2, 'service_monitor', { name: 'web' }), token), {
    body: { result: null },
  });
  await d.waitStatus('web', (s) => s.status === 'running', 'running');

  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
  t.notOk(existsSync(tokenFile), 'the generated token is removed at exit');
});

t.test('system_start_http_server with --http-public-reads and a token file', async (t) => {
  const dir = tempDir(t);
  const tokenFile = join(dir, 'token');
  const token = 'operator-chosen-token-0123456789';
  writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  const d = await startDaemon(t, { a: 'exec: sleep 1000\n' }, [
    '--http-public-reads',
    '--http-token-file',
    tokenFile,
  ]);
  await d.waitStatus('a', (s) => s.status === 'running', 'running');
  const started = (await d.client.call('system_start_http_server', {
    address: '127.0.0.1:0',
  })) as string;
  const url = /^HTTP server started at (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(started)?.[1];
  if (!url) throw new Error(`unexpected answer: ${started}`);
  t.notOk(existsSync(`${d.socket}.token`), 'no token generated when the operator gives one');

  t.equal((await post(url, rq(1, 'service_status', ['a']))).status, 200, 'reads are public');
  t.equal((await post(url, rq(1, 'rpc.discover'))).status, 200);
  t.equal((await post(url, rq(1, 'service_stop', ['a']))).status, 401, 'changes need the token');
  t.equal((await post(url, rq(1, 'service.stop', ['a']))).status, 401, 'in any spelling');
  t.equal(
    (await post(url, [rq(1, 'service_list'), rq(2, 'service_create', ['x', { exec: 'x' }])]))
      .status,
    401,
    'a batch with one change needs the token',
  );
  t.equal((await d.status('a')).status, 'running', 'nothing was stopped');
  t.match(await post(url, rq(1, 'service_stop', ['a']), token), { status: 200 });
  t.equal((await d.status('a')).status, 'stopped');

  await t.rejects(d.client.call('system_start_http_server', { address: '127.0.0.1:0' }), {
    code: -32600,
    message: /already running/,
  });
  // Stopped over HTTP itself: answered, then gone.
  t.match(await post(url, rq(9, 'system_stop_http_server'), token), {
    status: 200,
    body: { id: 9, result: null },
  });
  await waitFor('the port to close', () =>
    fetch(url, { method: 'POST' }).then(
      () => false,
      () => true,
    ),
  );
  await t.rejects(d.client.call('system_stop_http_server'), { message: /no HTTP server/ });
  t.same(readdirSync(dir), ['token'], 'the operator’s file is left alone');
});

t.test('a token file too short to be a secret stops sminitd at start', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), 'short\n', { mode: 0o600 });
  const p = spawn(
    process.execPath,
    [
      SMINITD,
      '-c',
      dir,
      '-s',
      join(dir, 's.sock'),
      '--http',
      '127.0.0.1:0',
      '--http-token-file',
      join(dir, 'token'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  p.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  t.equal(code, 1);
  t.match(err, /--http 127\.0\.0\.1:0: token file .* shorter than 16 characters/);
  t.notOk(existsSync(join(dir, 's.sock')), 'the socket is removed again');
});
