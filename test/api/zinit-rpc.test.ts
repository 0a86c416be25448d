// zinit's JSON-RPC dialect over the real socket, byte for byte: framing
// (lines, back to back, split writes, batches, notifications), every zinit
// method with its result shape, every error code, the log stream, and
// rpc.discover's schemas checked against real answers.

import t from 'tap';
import { Ajv } from 'ajv';
import { METHOD_NAMES } from '../../lib/api/wire.js';
import pkg from '../../package.json' with { type: 'json' };
import { startDaemon } from '../helpers/daemon.js';
import { Raw } from '../helpers/raw.js';
import { waitFor, waitForInGroup } from '../helpers/wait.js';

interface Response {
  jsonrpc: '2.0';
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string };
  method?: string;
  params?: { subscription: number; result: string };
}

const req = (id: number | string, method: string, params?: unknown): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) });

const FILES = {
  a: 'exec: sleep 1000\n',
  b: 'exec: sleep 1000\nafter: [a]\n',
  victim: 'exec: sleep 1000\n',
  tree: `exec: sh -c 'sleep 1000 & sleep 1000 & wait'\n`,
  counter: `exec: sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo $i; sleep 0.002; done; exec sleep 1000'\n`,
};

t.test('zinit JSON-RPC over the unix socket', async (t) => {
  const d = await startDaemon(t, FILES);
  const sock = d.socket;
  await d.waitStatus('b', (s) => s.status === 'running', 'running');
  await d.waitStatus('tree', (s) => s.status === 'running', 'running');
  const open = async (): Promise<Raw> => {
    const c = await Raw.connect(sock);
    t.teardown(() => c.destroy());
    return c;
  };

  await t.test('framing', async (t) => {
    await t.test('one request per line, many on one connection', async (t) => {
      const c = await open();
      await c.write(req(1, 'service_list') + '\n');
      const [first] = await c.lines(1);
      t.equal(
        first,
        JSON.stringify({ jsonrpc: '2.0', id: 1, result: await d.client.list() }),
        'exact bytes',
      );
      await c.write(req(2, 'service_status', ['a']) + '\n');
      const [, second] = await c.json<Response>(2);
      t.equal(second?.id, 2);
      t.match(second?.result, { name: 'a', state: 'Running', target: 'Up', after: {} });
    });

    await t.test('two requests back to back with no delimiter (zinit’s CLI)', async (t) => {
      const c = await open();
      await c.write(req(1, 'service_status', { name: 'a' }) + req(2, 'service_list'));
      const [r1, r2] = await c.json<Response>(2);
      t.equal(r1?.id, 1);
      t.equal(r2?.id, 2);
      t.match(r1?.result, { name: 'a' });
      t.ok(c.text.endsWith('\n'));
    });

    await t.test('one request split across several writes', async (t) => {
      const c = await open();
      const bytes = Buffer.from(req('é✓', 'service_status', ['a']));
      // Cut inside the multi-byte characters and inside a string.
      for (const [from, to] of [
        [0, 3],
        [3, 9],
        [9, 10],
        [10, 30],
        [30, bytes.length],
      ]) {
        await c.write(bytes.subarray(from, to));
        await new Promise((r) => setImmediate(r));
      }
      const [r] = await c.json<Response>(1);
      t.equal(r?.id, 'é✓');
      t.match(r?.result, { name: 'a' });
    });

    await t.test('a batch answers with an array, even of one', async (t) => {
      const c = await open();
      await c.write(`[${req(7, 'service_list')}]\n`);
      const [line] = await c.lines(1);
      const arr = JSON.parse(line ?? '') as Response[];
      t.ok(Array.isArray(arr));
      t.equal(arr.length, 1);
      t.equal(arr[0]?.id, 7);
    });

    await t.test('notifications get no reply, alone or in a batch', async (t) => {
      const c = await open();
      const note = JSON.stringify({ jsonrpc: '2.0', method: 'service_list' });
      await c.write(note + '\n');
      await c.write(`[${note},${req(8, 'service_status', ['a'])},${note}]\n`);
      await c.write(`[${note},${note}]\n`);
      await c.write(req(9, 'service_list') + '\n');
      const [batch, last] = await c.lines(2);
      const arr = JSON.parse(batch ?? '') as Response[];
      t.equal(arr.length, 1, 'only the request is answered');
      t.equal(arr[0]?.id, 8);
      t.equal((JSON.parse(last ?? '') as Response).id, 9, 'nothing for the all-notification batch');
    });

    await t.test('a mixed batch answers each member', async (t) => {
      const c = await open();
      await c.write(
        `[${req(1, 'service_status', ['a'])},${req(2, 'service_status', ['nosuch'])},1,${req(3, 'nope')}]`,
      );
      const [line] = await c.lines(1);
      const arr = JSON.parse(line ?? '') as Response[];
      t.same(
        arr.map((r) => [r.id, r.error?.code ?? 'ok']),
        [
          [1, 'ok'],
          [2, -32000],
          [null, -32600],
          [3, -32601],
        ],
      );
    });
  });

  await t.test('malformed input: the right error; connection and daemon fine', async (t) => {
    const c = await open();
    const cases: [string, number][] = [
      ['{"jsonrpc":"2.0","id":1,"method":}\n', -32700],
      ['{not json}\n', -32700],
      ['[]\n', -32600],
      ['{"id":5}\n', -32600],
      ['{"jsonrpc":"1.0","id":5,"method":"service_list"}\n', -32600],
      ['{"jsonrpc":"2.0","id":5,"method":"service_list","params":"x"}\n', -32600],
      ['hello\n', -32700],
    ];
    for (const [input] of cases) await c.write(input);
    await c.write(req(99, 'service_list') + '\n');
    const got = await c.json<Response>(cases.length + 1);
    cases.forEach(([input, code], i) => t.equal(got[i]?.error?.code, code, input.trim()));
    t.equal(got.at(-1)?.id, 99, 'the connection still answers');
    t.ok(c.isOpen);
  });

  await t.test('error codes', async (t) => {
    d.write('cyclic', 'exec: sleep 1\nafter: [cyclic2]\n');
    d.write('cyclic2', 'exec: sleep 1\nafter: [cyclic]\n');
    d.write('broken', 'exce: sleep 1\n');
    await d.client.monitor('cyclic2').catch(() => undefined);
    await d.client.stop('victim');
    const cases: [string, unknown, number][] = [
      ['service_status', ['nosuch'], -32000],
      ['service_start', { name: 'nosuch' }, -32000],
      ['service_monitor', ['a'], -32001],
      ['service_kill', ['victim', 'SIGTERM'], -32003],
      ['service_kill', ['a', 'SIGNOPE'], -32004],
      ['service_monitor', ['cyclic'], -32005],
      ['service_create', ['a', { exec: 'sleep 1' }], -32007],
      ['service_get', ['broken'], -32008],
      ['service_monitor', ['broken'], -32008],
      ['service_status', ['a/b'], -32602],
      ['service_status', ['a.b'], -32602],
      ['service_status', ['..\\x'], -32602],
      ['service_status', [], -32602],
      ['service_status', { nom: 'a' }, -32602],
      ['service_kill', ['a'], -32602],
      ['no_such_method', [], -32601],
    ];
    const c = await open();
    await c.write(cases.map(([m, p], i) => req(i, m, p)).join('\n') + '\n');
    const got = await c.json<Response>(cases.length);
    for (const r of got) {
      const [m, p, code] = cases[r.id as number] ?? [];
      t.equal(r.error?.code, code, `${m}(${JSON.stringify(p)}): ${r.error?.message}`);
      t.ok((r.error?.message.length ?? 0) > 5, 'a useful message');
    }
    await d.client.start('victim');
  });

  await t.test('zinit’s methods and result shapes', async (t) => {
    const c = await open();
    const calls: [string, unknown][] = [
      ['service_list', undefined],
      ['service_status', ['b']],
      ['service_stop', ['victim']],
      ['service_start', { name: 'victim' }],
      ['service_kill', { name: 'a', signal: 'sigcont' }],
      ['service_kill', ['a', 'CONT']],
      ['service.list', undefined],
    ];
    await c.write(calls.map(([m, p], i) => req(i, m, p)).join(''));
    const got = await c.json<Response>(calls.length);
    t.same(got[0]?.result, await d.client.list());
    t.match(got[1]?.result, { name: 'b', state: 'Running', target: 'Up', after: { a: 'Running' } });
    t.equal(got[2]?.result, null, 'stop');
    t.equal(got[3]?.result, null, 'start');
    t.equal(got[4]?.result, null, 'kill');
    t.equal(got[5]?.result, null, 'kill, positional');
    t.same(got[6]?.result, got[0]?.result, 'service.list, as zinit 0.2.2x spelled it');
    d.write('extra', 'exec: sleep 1000\n');
    await c.write(req(10, 'service_monitor', ['extra']) + req(11, 'service_forget', ['extra']));
    const more = await c.json<Response>(calls.length + 2);
    t.equal(more.at(-2)?.result, null, 'monitor');
    t.equal(more.at(-1)?.result, null, 'forget');
  });

  await t.test('rpc.discover: every method, and schemas real answers satisfy', async (t) => {
    const doc = (await d.client.call('rpc.discover')) as {
      openrpc: string;
      info: { version: string };
      methods: { name: string; params: { name: string }[] }[];
      components: { schemas: Record<string, { properties?: object }> };
    };
    t.match(doc.openrpc, /^1\./);
    t.equal(doc.info.version, pkg.version, 'the package’s version');
    const names = doc.methods.map((m) => m.name);
    t.same([...names].sort(), [...METHOD_NAMES].sort());
    for (const m of [
      'service_list',
      'service_status',
      'service_start',
      'service_stop',
      'service_monitor',
      'service_forget',
      'service_kill',
      'service_create',
      'service_delete',
      'service_get',
      'service_stats',
      'system_shutdown',
      'system_reboot',
      'system_start_http_server',
      'system_stop_http_server',
      'stream_currentLogs',
      'stream_subscribeLogs',
      'rpc.discover',
    ]) {
      t.ok(names.includes(m), m);
    }
    t.same(
      doc.methods.find((m) => m.name === 'service_create')?.params.map((p) => p.name),
      ['name', 'content'],
    );
    t.ok(doc.components.schemas.ServiceStatus?.properties, 'ServiceStatus has properties');
    const ajv = new Ajv({ strict: false, validateFormats: false });
    ajv.addSchema({ $id: 'api', components: doc.components });
    const check = (schema: string, value: unknown): void => {
      const validate = ajv.getSchema(`api#/components/schemas/${schema}`);
      if (!validate) throw new Error(`no schema ${schema}`);
      t.ok(validate(value), `${schema}: ${JSON.stringify(validate.errors)}`);
    };
    check('ServiceStatus', await d.status('b'));
    check('ServiceStatus', await d.client.call('service_status', { name: 'victim' }));
    for (const s of await d.client.listFull()) check('ServiceStatus', s);
    check('ServiceStats', await d.client.stats('tree'));
    check('LogRead', await d.client.readLogs({ n: 5 }));
  });

  await t.test('service_stats: the tree, zinit’s shape, without blocking anyone', async (t) => {
    const tree = await d.status('tree');
    const a = await open();
    const b = await open();
    let statsAt = 0;
    let listAt = 0;
    await a.write(req(1, 'service_stats', ['tree']) + '\n');
    void a.lines(1).then(() => (statsAt = Date.now()));
    await b.write(req(2, 'service_list') + '\n');
    await b.lines(1).then(() => (listAt = Date.now()));
    const [r] = await a.json<Response>(1);
    t.ok(listAt > 0 && (statsAt === 0 || listAt <= statsAt), 'list answered while stats measured');
    const stats = r?.result as {
      name: string;
      pid: number;
      memory_usage: number;
      cpu_usage: number;
      children: { pid: number; memory_usage: number; cpu_usage: number }[];
    };
    t.same(Object.keys(stats), ['name', 'pid', 'memory_usage', 'cpu_usage', 'children']);
    t.equal(stats.name, 'tree');
    t.equal(stats.pid, tree.pid);
    t.ok(stats.memory_usage > 0);
    t.ok(stats.cpu_usage >= 0);
    t.equal(stats.children.length, 2, 'the two sleeps');
    for (const ch of stats.children) t.same(Object.keys(ch), ['pid', 'memory_usage', 'cpu_usage']);
    await d.client.stop('victim');
    await t.rejects(d.client.stats('victim'), { code: -32003 });
    await d.client.start('victim');
  });

  await t.test(
    'stream_currentLogs and stream_subscribeLogs: nothing lost or repeated',
    async (t) => {
      const numbers = (lines: string[]): number[] =>
        lines
          .map((l) => /^\[\+\] counter: (\d+)$/.exec(l)?.[1])
          .filter((n): n is string => n !== undefined)
          .map(Number);
      const c = await open();
      await c.write(req(1, 'stream_currentLogs', ['counter']) + '\n');
      const [snap] = await c.json<Response>(1);
      const before = numbers(snap?.result as string[]);
      t.ok(before.length > 0, 'the snapshot has lines');
      const last = before.at(-1) ?? 0;
      // Let the service write more before subscribing: those lines must still come.
      await waitFor('more output', async () => {
        const { lines } = await d.client.readLogs({ names: ['counter'], n: 1 });
        return Number(lines[0]?.text) >= last + 20;
      });
      await c.write(req(2, 'stream_subscribeLogs', ['counter']) + '\n');
      const [, sub] = await c.json<Response>(2);
      t.equal(typeof sub?.result, 'number', 'a subscription id');
      const notes = await waitFor('40 notified lines', async () => {
        const all = await c.json<Response>(c.text.split('\n').length - 1);
        const n = all.slice(2);
        return n.length >= 40 ? n : null;
      });
      for (const n of notes) {
        t.equal(n.method, 'stream_subscribeLogs');
        t.equal(n.params?.subscription, sub?.result);
        t.notOk('id' in n, 'a notification has no id');
      }
      const after = numbers(notes.map((n) => n.params?.result ?? ''));
      const all = [...before, ...after];
      const expected = Array.from({ length: all.length }, (_, i) => (before[0] ?? 0) + i);
      t.same(all, expected, 'one unbroken sequence across snapshot and subscription');
      await c.write(req(3, 'stream_unsubscribeLogs', [sub?.result]) + '\n');
      await waitFor('the unsubscribe answer', () => c.text.includes('"id":3,"result":null'));
      // currentLogs without a name: every service, zinit's prefixes.
      const all2 = (await d.client.call('stream_currentLogs', {})) as string[];
      t.ok(all2.some((l) => l.startsWith('[+] counter: ')));
      t.ok(all2.every((l) => /^\[[+-]\] [\w@-]+: /.test(l)));
    },
  );
});

t.test('system_shutdown twice: the second is -32006', async (t) => {
  const d = await startDaemon(t, {
    slow: 'exec: sh -c \'trap "" TERM; sleep 1000\'\nshutdown_timeout: 2\n',
  });
  const { pid } = await d.waitStatus('slow', (s) => s.status === 'running', 'running');
  await waitForInGroup(pid, 'sleep');
  const c = await Raw.connect(d.socket);
  t.teardown(() => c.destroy());
  await c.write(req(1, 'system_shutdown') + '\n');
  await c.lines(1);
  await waitFor('shutdown under way', async () => (await d.status('slow')).status === 'stopping');
  await c.write(req(2, 'system_shutdown') + '\n');
  const [first, second] = await c.json<Response>(2);
  t.equal(first?.result, null);
  t.equal(second?.error?.code, -32006);
  t.equal(await d.exited, 1, 'a service had to be killed');
});
