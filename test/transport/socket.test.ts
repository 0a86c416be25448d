// The JSON-RPC protocol on the wire, byte for byte, as socat or zinit's own
// CLI would speak it: framing (lines, no delimiter, split writes, batches),
// notifications, every error code a malformed or refused request gets, and
// log following without loss or repetition. Each malformed case is followed
// by a check that the daemon still answers on a fresh connection.

import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { METHOD_NAMES } from '../../lib/api/wire.js';
import type { LogLine } from '../../lib/api/wire.js';
import { type Daemon, startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const DEADLINE_MS = 10000;

type Reply = {
  jsonrpc?: string;
  id?: number | string | null;
  result?: unknown;
  error?: { code: number; message: string };
  method?: string;
  params?: unknown;
};

const req = (id: number | string | null, method: string, params?: unknown): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

/**
 * One connection: write each chunk (each its own write, flushed before the
 * next), half-close, and read until the daemon closes. Returns every byte.
 */
function exchange(path: string, chunks: readonly (string | Buffer)[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${DEADLINE_MS} ms; got so far: ${out.slice(0, 500)}`));
    }, DEADLINE_MS);
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    // A daemon that refuses a request may close while we still write (EPIPE):
    // what it answered before closing is what the test looks at.
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.once('connect', async () => {
      for (const c of chunks) {
        if (s.destroyed) return;
        await new Promise<void>((r) => s.write(c, () => r()));
        // Let the daemon read this write on its own before the next.
        await new Promise<void>((r) => setImmediate(r));
      }
      s.end();
    });
  });
}

/** Every line of a reply stream, parsed; each must end with a newline. */
function parseLines(t: Test, raw: string): Reply[] {
  if (raw.length > 0) t.ok(raw.endsWith('\n'), 'the last message ends with a newline');
  return raw
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Reply);
}

async function ask(t: Test, path: string, ...chunks: (string | Buffer)[]): Promise<Reply[]> {
  return parseLines(t, await exchange(path, chunks));
}

/** A persistent connection that collects every message it is sent. */
class Conn {
  readonly messages: Reply[] = [];
  private buf = '';
  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) !== -1) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.raw.push(line);
        this.messages.push(JSON.parse(line) as Reply);
      }
    });
    socket.on('error', () => undefined);
  }
  readonly raw: string[] = [];
  static open(t: Test, path: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        const c = new Conn(s);
        t.teardown(() => void s.destroy());
        resolve(c);
      });
    });
  }
  send(text: string): void {
    this.socket.write(text);
  }
  reply(id: number): Promise<Reply> {
    return waitFor(`the reply to request ${id}`, () =>
      this.messages.find((m) => m.id === id && m.method === undefined),
    );
  }
}

async function stillAnswers(t: Test, d: Daemon): Promise<void> {
  const [r] = await ask(t, d.socket, req(99, 'service_list') + '\n');
  t.same(r?.result, { db: 'Running', web: 'Running' }, 'daemon still answers on a new connection');
}

function expectError(t: Test, r: Reply | undefined, code: number, id: unknown): void {
  t.equal(r?.error?.code, code, `error code ${code}`);
  t.equal(r?.id, id, 'id echoed');
  t.equal(r?.result, undefined, 'no result with an error');
}

const d = await startDaemon(t, {
  db: 'exec: sleep 1000\n',
  web: 'exec: sleep 1000\nafter:\n  - db\n',
});
await d.waitStatus('web', (s) => s.status === 'running', 'running');
await d.waitStatus('db', (s) => s.status === 'running', 'running');

t.test('service_list over a socat-style exchange, byte for byte', async (t) => {
  const raw = await exchange(d.socket, ['{"jsonrpc":"2.0","id":1,"method":"service_list"}\n']);
  t.equal(raw, '{"jsonrpc":"2.0","id":1,"result":{"db":"Running","web":"Running"}}\n');
});

t.test('the same with socat itself, as the README shows it', async (t) => {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('socat', ['-', `UNIX-CONNECT:${d.socket}`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let text = '';
    p.stdout.on('data', (c: Buffer) => (text += c.toString()));
    p.on('error', reject);
    p.on('close', () => resolve(text));
    p.stdin.end('{"jsonrpc":"2.0","id":1,"method":"service_list"}\n');
  });
  t.equal(out, '{"jsonrpc":"2.0","id":1,"result":{"db":"Running","web":"Running"}}\n');
});

t.test('service_status: zinit fields and sminit extras', async (t) => {
  const [r] = await ask(t, d.socket, req(7, 'service_status', ['web']) + '\n');
  const s = r?.result as Record<string, unknown>;
  const db = await d.status('db');
  t.match(s, {
    name: 'web',
    pid: Number,
    state: 'Running',
    target: 'Up',
    after: { db: 'Running' },
    status: 'running',
    reason: 'up',
    since: String,
    restarts: 0,
    oneshot: false,
    dependencies: { db: 'running' },
    file: String,
  });
  t.ok((s.pid as number) > 0, 'a real pid');
  t.not(s.pid, db.pid, 'its own pid');
  t.equal(typeof s.uptime_ms, 'number');
  t.ok('last_exit' in s && 'next_attempt' in s, 'every field is present');
});

t.test('params positional and named give the same answer', async (t) => {
  const replies = await ask(
    t,
    d.socket,
    req(1, 'service_status', ['web']) + '\n' + req(2, 'service_status', { name: 'web' }) + '\n',
  );
  t.equal(replies.length, 2);
  const [a, b] = replies.map((r) => r.result as Record<string, unknown>);
  t.equal(a?.name, 'web');
  t.equal(b?.name, 'web');
  t.equal(a?.pid, b?.pid);
});

t.test('two requests with no delimiter in one write', async (t) => {
  const raw = await exchange(d.socket, [req(1, 'service_list') + req(2, 'service_list')]);
  t.equal(
    raw,
    '{"jsonrpc":"2.0","id":1,"result":{"db":"Running","web":"Running"}}\n' +
      '{"jsonrpc":"2.0","id":2,"result":{"db":"Running","web":"Running"}}\n',
  );
});

t.test('one request split across many writes, a byte at a time', async (t) => {
  const text = req(3, 'service_status', { name: 'db' }) + '\n';
  const replies = await ask(t, d.socket, ...[...Buffer.from(text)].map((b) => Buffer.from([b])));
  t.equal(replies.length, 1);
  t.equal(replies[0]?.id, 3);
  t.equal((replies[0]?.result as { name: string }).name, 'db');
});

t.test('a request split inside a string with braces and escapes', async (t) => {
  const text = '{"jsonrpc":"2.0","id":"a}\\"{[","method":"service_list"}';
  const replies = await ask(t, d.socket, text.slice(0, 22), text.slice(22, 26), text.slice(26));
  t.equal(replies.length, 1);
  t.equal(replies[0]?.id, 'a}"{[', 'the id survives');
  t.same(replies[0]?.result, { db: 'Running', web: 'Running' });
});

t.test('batches', async (t) => {
  t.test('a batch of 3 is answered by an array of 3', async (t) => {
    const raw = await exchange(d.socket, [
      `[${req(1, 'service_list')},${req(2, 'service_status', ['db'])},${req(3, 'nope')}]\n`,
    ]);
    const lines = raw.split('\n').filter((l) => l !== '');
    t.equal(lines.length, 1, 'one line');
    const arr = JSON.parse(lines[0] ?? 'null') as Reply[];
    t.ok(Array.isArray(arr));
    t.equal(arr.length, 3);
    t.same(arr.map((r) => r.id).sort(), [1, 2, 3]);
    t.equal(arr.find((r) => r.id === 3)?.error?.code, -32601);
  });
  t.test('a batch of one is answered by an array of one', async (t) => {
    const raw = await exchange(d.socket, [`[${req(1, 'service_list')}]\n`]);
    t.equal(raw, '[{"jsonrpc":"2.0","id":1,"result":{"db":"Running","web":"Running"}}]\n');
  });
  t.test('a batch of notifications gets no reply at all', async (t) => {
    const n = JSON.stringify({ jsonrpc: '2.0', method: 'service_list' });
    t.equal(await exchange(d.socket, [`[${n},${n}]\n`]), '');
    await stillAnswers(t, d);
  });
  t.test('a batch mixing notifications and requests answers only the requests', async (t) => {
    const n = JSON.stringify({ jsonrpc: '2.0', method: 'service_list' });
    const [arr] = (await ask(t, d.socket, `[${n},${req(5, 'service_list')},${n}]`)) as unknown as [
      Reply[],
    ];
    t.equal(arr.length, 1);
    t.equal(arr[0]?.id, 5);
  });
  t.test('an empty batch is an invalid request', async (t) => {
    const [r] = await ask(t, d.socket, '[]\n');
    expectError(t, r, -32600, null);
    await stillAnswers(t, d);
  });
});

t.test('a notification gets no reply', async (t) => {
  t.equal(await exchange(d.socket, ['{"jsonrpc":"2.0","method":"service_list"}\n']), '');
  t.equal(
    await exchange(d.socket, ['{"jsonrpc":"2.0","method":"service_status","params":["nosuch"]}']),
    '',
    'not even when it fails',
  );
  await stillAnswers(t, d);
});

t.test('errors', async (t) => {
  const one = async (t: Test, body: string, code: number, id: unknown = 1): Promise<Reply> => {
    const replies = await ask(t, d.socket, body + '\n');
    t.equal(replies.length, 1, 'one reply');
    expectError(t, replies[0], code, id);
    await stillAnswers(t, d);
    return replies[0] as Reply;
  };
  t.test('unknown method', async (t) => {
    await one(t, req(1, 'service_frobnicate'), -32601);
  });
  t.test('unknown service names it', async (t) => {
    const r = await one(t, req(1, 'service_status', ['nosuch']), -32000);
    t.match(r.error?.message, /'nosuch'/);
  });
  t.test('invalid names', async (t) => {
    for (const bad of ['../x', 'a/b', 'a.b', 'a\\b', '', '-x'])
      t.match((await one(t, req(1, 'service_start', [bad]), -32602)).error?.message, /name/);
  });
  t.test('missing parameter', async (t) => {
    await one(t, req(1, 'service_status', []), -32602);
    await one(t, req(2, 'service_status', {}), -32602, 2);
    await one(t, req(3, 'service_status'), -32602, 3);
    await one(t, req(4, 'service_kill', ['web']), -32602, 4);
  });
  t.test('wrong parameter type', async (t) => {
    await one(t, req(1, 'service_status', [42]), -32602);
    await one(t, req(2, 'service_status', { name: ['web'] }), -32602, 2);
    await one(t, req(3, 'log_read', { n: -1 }), -32602, 3);
    await one(t, req(4, 'log_read', { names: 'web' }), -32602, 4);
    await one(t, req(5, 'service_status', 'web'), -32600, 5);
  });
  t.test('unknown and surplus parameters', async (t) => {
    await one(t, req(1, 'service_status', { name: 'web', extra: 1 }), -32602);
    await one(t, req(2, 'service_status', ['web', 'db']), -32602, 2);
  });
  t.test('not a request', async (t) => {
    await one(t, '{"jsonrpc":"1.0","id":1,"method":"service_list"}', -32600);
    await one(t, '{"jsonrpc":"2.0","id":1}', -32600);
    await one(t, '{"jsonrpc":"2.0","id":{},"method":"service_list"}', -32600, null);
    const [arr] = (await ask(t, d.socket, '[1]\n')) as unknown as [Reply[]];
    t.equal(arr.length, 1, 'a batch of one non-request: an array of one error');
    expectError(t, arr[0], -32600, null);
  });
  t.test('kill with an invalid signal', async (t) => {
    const r = await one(t, req(1, 'service_kill', ['web', 'SIGFROB']), -32004);
    t.match(r.error?.message, /SIGFROB/);
  });
  t.test('stop of an unknown service', async (t) => {
    const r = await one(t, req(1, 'service_stop', ['nosuch']), -32000);
    t.match(r.error?.message, /'nosuch'/);
  });
  t.test('kill of an unknown service', async (t) => {
    await one(t, req(1, 'service_kill', ['nosuch', 'SIGTERM']), -32000);
  });
  t.test('monitor of an already tracked service', async (t) => {
    await one(t, req(1, 'service_monitor', ['web']), -32001);
  });
});

t.test('garbage and malformed JSON', async (t) => {
  t.test('a garbage line after a JSON first byte; the connection goes on', async (t) => {
    const replies = await ask(
      t,
      d.socket,
      req(1, 'service_list') + '\nhello}\n' + req(2, 'service_list') + '\n',
    );
    t.equal(replies.length, 3);
    t.equal(replies[0]?.id, 1);
    t.ok(replies[0]?.result);
    expectError(t, replies[1], -32700, null);
    t.equal(replies[2]?.id, 2);
    t.same(replies[2]?.result, { db: 'Running', web: 'Running' });
    await stillAnswers(t, d);
  });
  t.test('a braced value that is not JSON; the connection goes on', async (t) => {
    const replies = await ask(t, d.socket, '{hello}\n', req(2, 'service_list') + '\n');
    t.equal(replies.length, 2);
    expectError(t, replies[0], -32700, null);
    t.equal(replies[1]?.id, 2);
    t.ok(replies[1]?.result);
    await stillAnswers(t, d);
  });
  t.test('garbage sent in pieces', async (t) => {
    const replies = await ask(t, d.socket, req(1, 'service_list'), 'hel', 'lo}', '\n', '{"a":1}');
    t.equal(replies.length, 3);
    expectError(t, replies[1], -32700, null);
    expectError(t, replies[2], -32600, null);
    await stillAnswers(t, d);
  });
  t.test('10,000 nested brackets', async (t) => {
    const replies = await ask(t, d.socket, '['.repeat(10000) + ']'.repeat(10000) + '\n');
    t.equal(replies.length, 1);
    t.ok(replies[0]?.error, 'an error response');
    t.equal(replies[0]?.id, null);
    await stillAnswers(t, d);
  });
  t.test('10,000 nested objects inside a request', async (t) => {
    const deep = '{"a":'.repeat(10000) + '1' + '}'.repeat(10000);
    const replies = await ask(
      t,
      d.socket,
      `{"jsonrpc":"2.0","id":1,"method":"service_list","params":${deep}}\n`,
    );
    t.equal(replies.length, 1);
    t.ok(replies[0]?.error, 'an error response');
    await stillAnswers(t, d);
  });
  t.test('a request larger than the limit is refused and the connection closed', async (t) => {
    const huge =
      '{"jsonrpc":"2.0","id":1,"method":"service_list","params":["' + 'x'.repeat(9 << 20);
    const replies = await ask(t, d.socket, huge);
    t.equal(replies.length, 1);
    expectError(t, replies[0], -32600, null);
    t.match(replies[0]?.error?.message, /larger than/);
    await stillAnswers(t, d);
  });
  t.test('invalid UTF-8 inside a request', async (t) => {
    const replies = await ask(
      t,
      d.socket,
      Buffer.concat([
        Buffer.from('{"jsonrpc":"2.0","id":1,"method":"service_status","params":["'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"]}\n'),
      ]),
    );
    t.equal(replies.length, 1);
    // Refused before parsing, so the id cannot be trusted and is not echoed.
    expectError(t, replies[0], -32700, null);
    t.match(replies[0]?.error?.message, /0xff/, 'the message names the byte');
    await stillAnswers(t, d);
  });
});

t.test('many requests on one persistent connection answer in order', async (t) => {
  const c = await Conn.open(t, d.socket);
  const N = 200;
  let text = '';
  for (let i = 1; i <= N; i++)
    text += i % 3 === 0 ? req(i, 'service_status', ['nosuch']) : req(i, 'service_list');
  // Half in one write without delimiters, half line by line.
  c.send(text);
  for (let i = N + 1; i <= 2 * N; i++) c.send(req(i, 'service_status', { name: 'db' }) + '\n');
  await waitFor(`${2 * N} replies`, () => c.messages.length >= 2 * N);
  t.same(
    c.messages.map((m) => m.id),
    Array.from({ length: 2 * N }, (_, i) => i + 1),
    'ids in request order',
  );
  t.ok(
    c.messages.every((m, i) =>
      (i + 1) % 3 === 0 && i < N ? m.error?.code === -32000 : m.result !== undefined,
    ),
    'each reply is the answer to its own request',
  );
});

t.test('rpc.discover lists every method', async (t) => {
  const [r] = await ask(t, d.socket, req(1, 'rpc.discover') + '\n');
  const doc = r?.result as { openrpc: string; methods: { name: string }[] };
  t.match(doc.openrpc, /^1\.\d+\.\d+$/);
  const names = doc.methods.map((m) => m.name);
  for (const m of METHOD_NAMES) t.ok(names.includes(m), `documents ${m}`);
  t.equal(names.length, METHOD_NAMES.length);
});

// --- logs ---------------------------------------------------------------------------

const COUNT = 50;
const counter =
  "exec: sh -c 'i=0; while [ $i -lt 50 ]; do echo line$i; i=$((i+1)); sleep 0.01; done; sleep 1000'\n";
const numbers = (lines: readonly LogLine[]): number[] =>
  lines.filter((l) => l.stream === 'stdout').map((l) => Number(l.text.replace('line', '')));
const all = Array.from({ length: COUNT }, (_, i) => i);

/** Track a fresh counter service and wait until it is part way through. */
async function startCounter(t: Test, name: string): Promise<void> {
  d.write(name, counter);
  await d.client.monitor(name);
  await waitFor(`${name} to print a few lines`, async () => {
    const { lines } = await d.client.readLogs({ names: [name] });
    return numbers(lines).length >= 3;
  });
  t.teardown(() => d.client.forget(name).catch(() => undefined));
}

function followerLines(c: Conn, sub: number): LogLine[] {
  return c.messages
    .filter(
      (m) => m.method === 'log_line' && (m.params as { subscription: number }).subscription === sub,
    )
    .map((m) => (m.params as { line: LogLine }).line)
    .filter((l) => l !== undefined);
}

t.test('log_follow mid-way: backlog then new lines, each exactly once', async (t) => {
  await startCounter(t, 'count1');
  const c = await Conn.open(t, d.socket);
  c.send(req(1, 'log_follow', { names: ['count1'] }) + '\n');
  const sub = (await c.reply(1)).result as number;
  t.type(sub, 'number');
  t.equal(c.messages[0]?.id, 1, 'the reply comes before the first line');
  await waitFor('every line', () => numbers(followerLines(c, sub)).length >= COUNT, 15000);
  const lines = followerLines(c, sub);
  t.same(numbers(lines), all, 'line0..line49 once each, in order');
  const seqs = lines.map((l) => l.seq);
  t.ok(
    seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number)),
    'sequence numbers increase',
  );
  t.ok(
    lines.every((l) => l.service === 'count1'),
    'only the service asked for',
  );
});

t.test('log_read snapshot + log_follow from its cursor = every line once', async (t) => {
  await startCounter(t, 'count2');
  const [r] = await ask(t, d.socket, req(1, 'log_read', { names: ['count2'] }) + '\n');
  const snap = r?.result as { lines: LogLine[]; next: number };
  t.type(snap.next, 'number');
  const got = numbers(snap.lines);
  t.ok(got.length >= 3, 'the snapshot holds some lines');
  const c = await Conn.open(t, d.socket);
  c.send(req(2, 'log_follow', { names: ['count2'], from: snap.next }));
  const sub = (await c.reply(2)).result as number;
  await waitFor(
    'the rest of the lines',
    () => got.length + numbers(followerLines(c, sub)).length >= COUNT,
    15000,
  );
  t.same([...got, ...numbers(followerLines(c, sub))], all, 'no gap, no repeat');
  t.ok(
    followerLines(c, sub).every((l) => l.seq >= snap.next),
    'the follow starts at the cursor',
  );
});

t.test('log_read with n', async (t) => {
  const [r] = await ask(t, d.socket, req(1, 'log_read', { names: ['db'], n: 1 }) + '\n');
  const res = r?.result as { lines: LogLine[]; next: number };
  t.equal(res.lines.length, 1);
  t.match(res.lines[0], { service: 'db', stream: 'event', seq: Number, run: 1, time: String });
});

t.test('stream_subscribeLogs in zinit shape', async (t) => {
  const c = await Conn.open(t, d.socket);
  c.send(req(1, 'stream_subscribeLogs', ['count3']) + '\n');
  const sub = (await c.reply(1)).result as number;
  t.type(sub, 'number');
  await startCounter(t, 'count3');
  const want = (n: number): string =>
    `{"jsonrpc":"2.0","method":"stream_subscribeLogs","params":{"subscription":${sub},"result":"[+] count3: line${n}"}}`;
  await waitFor('line49 as a notification', () => c.raw.includes(want(49)), 15000);
  const stdout = c.raw.filter((l) => l.includes('"[+] '));
  t.same(stdout, all.map(want), 'every line, byte for byte, once, in order');
  t.ok(
    c.messages.slice(1).every((m) => m.method === 'stream_subscribeLogs'),
    'only subscription notifications after the reply',
  );
  const [cur] = await ask(t, d.socket, req(1, 'stream_currentLogs', ['count3']) + '\n');
  const current = cur?.result as string[];
  t.ok(current.includes('[+] count3: line0'), 'stream_currentLogs has the first line');
  t.ok(current.includes('[+] count3: line49'), 'and the last');
  c.send(req(2, 'stream_unsubscribeLogs', [sub]) + '\n');
  t.equal((await c.reply(2)).result, null);
  c.send(req(3, 'stream_unsubscribeLogs', [sub]) + '\n');
  t.equal((await c.reply(3)).error?.code, -32602, 'a second unsubscribe is refused');
});

t.test('stream_currentLogs of an unknown service', async (t) => {
  const [e] = await ask(t, d.socket, req(1, 'stream_currentLogs', ['nosuch']) + '\n');
  t.equal(e?.error?.code, -32000);
});
