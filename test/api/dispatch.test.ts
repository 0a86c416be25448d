// The dispatcher over a real manager on a fake process seam: requests in,
// responses out, with no socket and no process, in milliseconds. Parameter
// names and positions, batches, error codes as the catalogue assigns them,
// zinit's spellings, and a log subscription's notifications.

import t, { type Test } from 'tap';
import { Rpc, Session } from '../../lib/api/dispatch.js';
import { LogStore } from '../../lib/logs/ring.js';
import { Manager } from '../../lib/supervise/manager.js';
import { FakeNetwork, FakeProcesses, def } from '../helpers/fake-processes.js';
import { waitFor } from '../helpers/wait.js';

interface Rig {
  readonly rpc: Rpc;
  readonly procs: FakeProcesses;
  readonly notes: unknown[];
  readonly session: Session;
  call(method: string, params?: unknown): Promise<unknown>;
}

function rig(t: Test): Rig {
  const procs = new FakeProcesses();
  const logs = new LogStore({ maxBytes: 1024 * 1024 });
  const manager = new Manager({
    configDir: '/nonexistent',
    logs,
    report: () => undefined,
    stdout: () => undefined,
    procs,
    net: new FakeNetwork(),
  });
  void manager.load([def('db'), def('web', { after: ['db'] })]);
  t.teardown(() => manager.shutdown());
  const rpc = new Rpc({ manager, logs, report: () => undefined, onShutdown: () => undefined });
  const notes: unknown[] = [];
  const session = new Session({
    peer: 'test',
    notify: (method, params) => notes.push({ method, params }),
  });
  t.teardown(() => session.close());
  let id = 0;
  const call = (method: string, params?: unknown): Promise<unknown> =>
    rpc.receive(
      { jsonrpc: '2.0', id: ++id, method, ...(params !== undefined ? { params } : {}) },
      session,
    );
  return { rpc, procs, notes, session, call };
}

t.test('results, named or positional params, zinit spellings', async (t) => {
  const { call } = rig(t);
  await waitFor('web running', async () => {
    const r = (await call('service_status', { name: 'web' })) as { result?: { status: string } };
    return r.result?.status === 'running';
  });
  t.match(await call('service_list'), { result: { db: 'Running', web: 'Running' } });
  t.match(await call('service.status', ['db']), { result: { name: 'db', state: 'Running' } });
  t.match(await call('service_status', { name: 'web' }), {
    result: { after: { db: 'Running' }, dependencies: { db: 'running' } },
  });
});

t.test('errors carry the codes the catalogue assigns', async (t) => {
  const { call } = rig(t);
  t.match(await call('service_status', { name: 'nope' }), { error: { code: -32000 } });
  t.match(await call('service_status', { name: '../x' }), { error: { code: -32602 } });
  t.match(await call('service_status', { nam: 'db' }), { error: { code: -32602 } });
  t.match(await call('service_kill', ['db', 'SIGNOPE']), { error: { code: -32004 } });
  t.match(await call('no_such_method'), { error: { code: -32601 } });
  t.match(await call('stream_unsubscribeLogs', { id: 999 }), { error: { code: -32602 } });
});

t.test('a batch answers with an array, in order; bad requests are named', async (t) => {
  const { rpc, session } = rig(t);
  const answer = await rpc.receive(
    [
      { jsonrpc: '2.0', id: 1, method: 'service_list' },
      { jsonrpc: '2.0', method: 'service_list' },
      { jsonrpc: '2.0', id: 3, method: 'service_status', params: ['nope'] },
    ],
    session,
  );
  t.match(answer, [
    { id: 1, result: {} },
    { id: 3, error: { code: -32000 } },
  ]);
  t.match(await rpc.receive([], session), { error: { code: -32600, message: 'empty batch' } });
  t.match(await rpc.receive({ id: 4 }, session), { id: 4, error: { code: -32600 } });
});

t.test('a log follow sends the lines as notifications', async (t) => {
  const { call, procs, notes } = rig(t);
  await waitFor('db spawned', () => procs.running('db').length === 1);
  const sub = (await call('log_follow', { names: ['db'], stream: 'stdout' })) as { result: number };
  procs.running('db')[0]?.say('hello');
  const got = await waitFor('the line', () =>
    notes.find((n) => JSON.stringify(n).includes('"text":"hello"')),
  );
  t.match(got, {
    method: 'log_line',
    params: { subscription: sub.result, line: { service: 'db' } },
  });
  t.match(await call('stream_unsubscribeLogs', { id: sub.result }), { result: null });
});

t.test('a follow with batch sends lines many to a notification, in seq order', async (t) => {
  const { call, procs, notes } = rig(t);
  await waitFor('db spawned', () => procs.running('db').length === 1);
  const db = procs.running('db')[0];
  // Lines already in the ring come in the catch-up batch, new ones as read.
  db?.say('one\ntwo\nthree');
  await waitFor('the lines in the ring', async () => {
    const r = (await call('log_read', { names: ['db'], stream: 'stdout' })) as {
      result: { lines: unknown[] };
    };
    return r.result.lines.length === 3;
  });
  const sub = (await call('log_follow', { names: ['db'], stream: 'stdout', batch: true })) as {
    result: number;
  };
  db?.say('four\nfive');
  type Note = { method: string; params: { subscription: number; lines?: { text: string }[] } };
  const batches = (): Note[] =>
    (notes as Note[]).filter(
      (n) => n.method === 'log_line' && n.params.subscription === sub.result,
    );
  await waitFor(
    'all five lines',
    () => batches().flatMap((n) => n.params.lines ?? []).length === 5,
  );
  for (const n of batches()) t.notOk('line' in n.params, 'no single-line notification');
  t.same(
    batches().flatMap((n) => (n.params.lines ?? []).map((l) => l.text)),
    ['one', 'two', 'three', 'four', 'five'],
    'every line once, in order',
  );
  t.ok(batches().length <= 2, 'the backlog in one batch, a chunk in at most one more');
  t.match(await call('log_follow', { batch: 'yes' }), { error: { code: -32602 } });
});

t.test('a batch of long lines is cut into notifications of about 256 KiB', async (t) => {
  const { call, procs, notes } = rig(t);
  await waitFor('db spawned', () => procs.running('db').length === 1);
  const sub = (await call('log_follow', { names: ['db'], stream: 'stdout', batch: true })) as {
    result: number;
  };
  const long = 'x'.repeat(60 * 1024);
  procs.running('db')[0]?.say(Array(10).fill(long).join('\n'));
  type Note = { params: { subscription: number; lines?: { text: string }[] } };
  const mine = (): Note[] => (notes as Note[]).filter((n) => n.params.subscription === sub.result);
  await waitFor('ten lines', () => mine().flatMap((n) => n.params.lines ?? []).length === 10);
  t.same(
    mine().map((n) => n.params.lines?.length),
    [4, 4, 2],
    'at most 256 KiB of text each',
  );
});
