// Every bound of the socket, just inside and just past it: request size,
// nesting, batch size, connections, subscriptions, the idle and request
// timeouts, pipelining. Then who may connect (0600, --socket-group), who is
// named in the audit lines, and the one name check behind every entry point.

import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MAX_DEPTH } from '../../lib/transport/framing.js';
import { NAME_RULE } from '../../lib/core/names.js';
import { MAX_BATCH, MAX_FOLLOWS_PER_CONNECTION } from '../../lib/api/dispatch.js';
import { MAX_REQUEST } from '../../lib/transport/connection.js';
import { MAX_SOCKET_PATH, socketPathProblem } from '../../lib/transport/socket.js';
import { parseCommand } from '../../lib/transport/text.js';
import { METHODS, METHOD_NAMES } from '../../lib/api/wire.js';
import { SMINITD, cgroupRecord, runCli, startDaemon, tempDir } from '../helpers/daemon.js';
import { Raw, type Response, err, req, textCommand } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

const FILES = { canary: 'exec: sleep 1000\n' };

async function open(t: Test, socket: string): Promise<Raw> {
  const c = await Raw.connect(socket);
  t.teardown(() => c.destroy());
  return c;
}

t.test('bounds on one connection', async (t) => {
  const d = await startDaemon(t, FILES);
  await d.waitStatus('canary', (s) => s.status === 'running', 'running');

  await t.test(`a request of ${MAX_REQUEST} bytes is read; one byte more is refused`, async (t) => {
    const head = '{"jsonrpc":"2.0","id":1,"method":"service_status","params":["';
    const tail = '"]}';
    const request = (size: number): string =>
      head + 'x'.repeat(size - head.length - tail.length) + tail;
    const ok = await open(t, d.socket);
    await ok.write(request(MAX_REQUEST));
    const [answer] = await ok.json<Response>(1, 10000);
    t.same(answer?.error?.code, -32602, 'parsed and answered (the name is refused)');
    t.ok(ok.isOpen, 'and the connection stays open');

    const over = await open(t, d.socket);
    await over.write(request(MAX_REQUEST + 1)).catch(() => undefined);
    t.same(
      JSON.parse((await over.all(10000)).trim()),
      err(null, -32600, `request larger than ${MAX_REQUEST} bytes`),
    );
  });

  await t.test(`nesting: ${MAX_DEPTH} levels are read, ${MAX_DEPTH + 1} refused`, async (t) => {
    // The request object is one level, params another.
    const nested = (levels: number): string =>
      `{"jsonrpc":"2.0","id":1,"method":"service_list","params":[${'['.repeat(levels - 2)}${']'.repeat(levels - 2)}]}\n`;
    const c = await open(t, d.socket);
    await c.write(nested(MAX_DEPTH));
    await c.write(nested(MAX_DEPTH + 1));
    t.same(await c.json<Response>(2), [
      err(1, -32602, 'service_list takes at most 0 parameters, got 1'),
      err(null, -32600, `request nested deeper than ${MAX_DEPTH} levels`),
    ]);
  });

  await t.test(`a batch of ${MAX_BATCH} is answered; ${MAX_BATCH + 1} refused`, async (t) => {
    const batch = (n: number): string =>
      JSON.stringify(
        Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'service_list' })),
      ) + '\n';
    const c = await open(t, d.socket);
    await c.write(batch(MAX_BATCH));
    await c.write(batch(MAX_BATCH + 1));
    const [all, refused] = await c.json<Response[] | Response>(2, 10000);
    t.ok(Array.isArray(all) && all.length === MAX_BATCH, `${MAX_BATCH} answers`);
    t.same(refused, err(null, -32600, `batch of ${MAX_BATCH + 1} requests; at most ${MAX_BATCH}`));
  });

  await t.test(
    `${MAX_FOLLOWS_PER_CONNECTION} subscriptions on a connection; one more refused`,
    async (t) => {
      const c = await open(t, d.socket);
      await c.write(
        Array.from({ length: MAX_FOLLOWS_PER_CONNECTION + 1 }, (_, i) =>
          req(i, i % 2 ? 'log_follow' : 'stream_subscribeLogs', i % 2 ? { n: 0 } : {}),
        ).join(''),
      );
      const answers = await c.json<Response>(MAX_FOLLOWS_PER_CONNECTION + 1);
      t.ok(answers.slice(0, -1).every((a) => typeof a.result === 'number'));
      t.same(
        answers.at(-1),
        err(
          MAX_FOLLOWS_PER_CONNECTION,
          -32600,
          `too many subscriptions on this connection (at most ${MAX_FOLLOWS_PER_CONNECTION})`,
        ),
      );
    },
  );

  await t.test(
    '5,000 requests written without reading: every one answered, in order',
    async (t) => {
      const c = await open(t, d.socket);
      const n = 5000;
      await c.write(
        Array.from({ length: n }, (_, i) => req(i, 'service_status', ['canary'])).join('\n'),
      );
      const answers = await c.json<Response>(n, 30000);
      t.ok(
        answers.every((a, i) => a.id === i && a.result !== undefined),
        'all answered in order',
      );
    },
  );
});

t.test('connections past --max-connections are told so', async (t) => {
  const max = 20;
  const d = await startDaemon(t, FILES, ['--max-connections', String(max)]);
  // The harness's client holds one.
  const held = await Promise.all(Array.from({ length: max - 1 }, () => open(t, d.socket)));
  const extra = await open(t, d.socket);
  t.same(
    JSON.parse((await extra.all()).trim()),
    err(null, -32600, `too many connections (at most ${max}); try again later`),
  );
  held[0]?.destroy();
  await waitFor('a connection to be free again', async () => {
    const c = await Raw.connect(d.socket);
    await c.write(req(1, 'service_list') + '\n');
    const [r] = await c.json<Response>(1);
    c.destroy();
    return r?.result !== undefined;
  });
  t.pass('a new client is served once one left');
});

t.test('--idle-timeout and --request-timeout', async (t) => {
  const d = await startDaemon(t, FILES, ['--idle-timeout', '1s', '--request-timeout', '1s']);
  const started = Date.now();
  const silent = await open(t, d.socket);
  const follower = await open(t, d.socket);
  await follower.write(req(1, 'log_follow', { n: 0 }) + '\n');
  await follower.json(1);
  const busy = await open(t, d.socket);
  // A client that asks something every 300 ms is never idle.
  let asked = 0;
  const ask = setInterval(() => void busy.write(req(++asked, 'service_list') + '\n'), 300);
  t.teardown(() => clearInterval(ask));

  t.same(
    JSON.parse((await silent.all()).trim()),
    err(null, -32600, 'connection idle for 1000 ms; closing it (reconnect to continue)'),
  );
  t.ok(Date.now() - started >= 1000, 'not before the timeout');
  await waitFor('two more idle periods', () => Date.now() - started > 3000, 5000);
  t.ok(follower.isOpen, 'a follower is never idle');
  t.ok(busy.isOpen, 'a client that keeps asking is never idle');
  clearInterval(ask);

  const text = await open(t, d.socket);
  await text.write('status can');
  t.equal(
    await text.all(),
    JSON.stringify({
      state: 'error',
      body: 'request not complete after 1000 ms; closing the connection',
    }) + '\n',
    'a text command without its newline',
  );
});

// --- who may connect, and who asked ----------------------------------------------------

/** Connect as uid/gid 65534 with no other groups; the answer or the error code. */
function connectAsNobody(socket: string, request: string): Promise<string> {
  const script = `
    const s = require('node:net').connect(process.argv[1]);
    s.on('error', (e) => { process.stdout.write(e.code); process.exit(0); });
    s.on('connect', () => s.write(process.argv[2] + '\\n'));
    s.on('data', (d) => { process.stdout.write(d); s.destroy(); });`;
  return new Promise((resolve) => {
    const p = spawn(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '-e',
        script,
        socket,
        request,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('close', () => resolve(out.trim()));
  });
}

t.test('the socket is 0600 and root-only; --socket-group opens it to a group', async (t) => {
  const d = await startDaemon(t, FILES);
  const root = dirname(d.dir);
  // Let others reach the socket's directory, so only the socket's own mode decides.
  chmodSync(root, 0o711);
  const st = statSync(d.socket);
  t.equal(st.mode & 0o777, 0o600);
  t.equal(st.uid, process.getuid?.());
  t.equal(
    await connectAsNobody(d.socket, req(1, 'service_list')),
    'EACCES',
    'another user cannot connect',
  );

  const g = await startDaemon(t, FILES, ['--socket-group', 'nogroup']);
  chmodSync(dirname(g.dir), 0o711);
  await g.waitStatus('canary', (s) => s.status === 'running', 'running');
  const gst = statSync(g.socket);
  t.equal(gst.mode & 0o777, 0o660);
  t.equal(gst.gid, 65534);
  const answer = await connectAsNobody(g.socket, req(1, 'service_stop', ['canary']));
  t.same(JSON.parse(answer), { jsonrpc: '2.0', id: 1, result: null }, 'a member of the group can');
  t.match(
    g.stderr(),
    /sminitd: stop canary \(by uid 65534 pid \d+ \(node\)\)\n/,
    'the change is logged with who asked',
  );
  t.match(g.stderr(), /listening on \S+ \(mode 0660, group 65534\)/);
});

t.test('--socket-group with a group that does not exist stops sminitd', async (t) => {
  const dir = tempDir(t);
  const p = spawn(
    process.execPath,
    [SMINITD, '-c', dir, '-s', `${dir}/s.sock`, '--socket-group', 'no-such-group'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((r) => p.on('close', r));
  t.equal(code, 2);
  t.equal(stderr, "sminitd: --socket-group no-such-group: no such group 'no-such-group'\n");
  t.notOk(readdirSync(dir).includes('s.sock'), 'no socket was made');
});

t.test(
  'a socket path that cannot work stops sminitd at once, saying why, leaving nothing',
  async (t) => {
    const dir = tempDir(t);
    const start = (socket: string) => {
      const p = spawn(process.execPath, [SMINITD, '-c', dir, '-s', socket], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const code = new Promise<number | null>((r) => p.on('close', r));
      return { p, code, stderr: () => stderr };
    };
    const run = async (socket: string): Promise<{ code: number | null; stderr: string }> => {
      const d = start(socket);
      return { code: await d.code, stderr: d.stderr() };
    };
    // The longest path that fits is served.
    const longest = join(dir, 'x'.repeat(MAX_SOCKET_PATH - dir.length - 1));
    t.equal(Buffer.byteLength(longest), MAX_SOCKET_PATH);
    const served = start(longest);
    t.teardown(() => void served.p.kill('SIGKILL'));
    await waitFor('sminitd to listen', () => served.stderr().includes('listening on'), 10000);
    served.p.kill('SIGTERM');
    t.equal(await served.code, 0, `a ${MAX_SOCKET_PATH}-byte path is served`);
    t.same(readdirSync(dir), [], 'and removed at exit');
    // One byte more (with its NUL, one more than a socket address holds) is refused.
    const long = longest + 'x';
    const tooLong = await run(long);
    t.equal(tooLong.code, 2, 'too long: exit code 2');
    t.equal(
      tooLong.stderr,
      `sminitd: cannot serve ${long}: 108 bytes is too long for a unix socket path (at most 107); choose a shorter one\n`,
    );
    t.same(readdirSync(dir), [], 'no file of a shorter name left behind');

    const missing = `${dir}/no-such-dir/s.sock`;
    const noDir = await run(missing);
    t.equal(noDir.code, 2, 'no directory: exit code 2');
    t.equal(
      noDir.stderr,
      `sminitd: cannot serve ${missing}: directory ${dir}/no-such-dir does not exist\n`,
    );
    writeFileSync(join(dir, 'file'), '');
    t.equal(await socketPathProblem(join(dir, 'file', 's.sock')), `${dir}/file is not a directory`);
  },
);

t.test('every change is logged with the peer’s uid, pid and command', async (t) => {
  const d = await startDaemon(t, FILES);
  await d.waitStatus('canary', (s) => s.status === 'running', 'running');
  const comm = readFileSync('/proc/self/comm', 'utf8').trim();
  await d.client.stop('canary');
  await d.client.start('canary');
  t.ok(
    d.stderr().includes(`sminitd: stop canary (by uid 0 pid ${process.pid} (${comm}))\n`),
    'JSON-RPC',
  );
  t.equal(
    await textCommand(d.socket, 'kill canary HUP\n'),
    JSON.stringify({ state: 'ok', body: null }) + '\n',
  );
  await waitFor('the text command to be logged', () =>
    /sminitd: kill canary HUP \(by uid 0 pid \d+ \(\S+\), text protocol\)\n/.test(d.stderr()),
  );
  t.pass('text protocol');
});

// --- names: one check behind every entry point ------------------------------------------

t.test(
  'every method that takes a name refuses ../x, in both dialects, over HTTP and in the CLI',
  async (t) => {
    const d = await startDaemon(t, FILES);
    await d.waitStatus('canary', (s) => s.status === 'running', 'running');
    const bad = '../x';
    const message = `invalid service name "../x": ${NAME_RULE}`;
    const valid: Record<string, unknown> = { signal: 'TERM', content: { exec: 'sleep 1' } };
    const named = METHOD_NAMES.filter((m) =>
      METHODS[m].params.some((p) => ['name', 'filter', 'names'].includes(p.name)),
    );
    t.ok(named.length >= 12, `${named.length} methods take a name`);

    const url = (
      await d.client.call('system_start_http_server', { address: '127.0.0.1:0' })
    ).replace(/^HTTP server started at /, '');
    const token = readFileSync(`${d.socket}.token`, 'utf8').trim();

    for (const method of named) {
      const params: Record<string, unknown> = {};
      for (const p of METHODS[method].params) {
        if (p.name === 'names') params.names = [bad];
        else if (p.name === 'name' || p.name === 'filter') params[p.name] = bad;
        else if (p.required) params[p.name] = valid[p.name];
      }
      const c = await open(t, d.socket);
      await c.write(req(1, method, params) + '\n');
      t.same(await c.json<Response>(1), [err(1, -32602, message)], `JSON-RPC ${method}`);

      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: req(1, method, params),
      });
      t.same(await res.json(), err(1, -32602, message), `HTTP ${method}`);
    }

    const verbs = ['status', 'start', 'stop', 'forget', 'monitor', 'kill'];
    for (const verb of verbs) {
      const command = parseCommand(`${verb} ${bad}`);
      t.ok(command.kind === 'call' && named.includes(command.method), `${verb} is a named method`);
      t.equal(
        await textCommand(d.socket, `${verb} ${bad}\n`),
        JSON.stringify({ state: 'error', body: message }) + '\n',
        `text ${verb}`,
      );
    }

    for (const verb of ['status', 'start', 'stop', 'restart', 'add', 'delete', 'kill', 'stats']) {
      const r = await d.cli(verb, bad);
      t.equal(r.code, 1, `CLI ${verb}`);
      t.equal(r.stderr, `sminit: ${message}\n`, `CLI ${verb} says why`);
    }
    t.same(readdirSync(d.dir), ['canary.yaml'], 'nothing was written');
    t.same(
      readdirSync(dirname(d.dir)).sort(),
      ['etc', 's.sock', ...cgroupRecord(d), 's.sock.token'].sort(),
    );
    t.ok(await runCli(['-s', d.socket, 'list']), 'the daemon still answers');
  },
);
