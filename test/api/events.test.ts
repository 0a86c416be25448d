// The event stream against a real daemon: what a change of state, an exit, a
// restart, an add and a delete record; a follower that disconnects and
// resubscribes after the last cursor it saw gets exactly the events after it
// (compared with the history: none lost, none twice) while a service crashes
// and restarts throughout; what a history too short to reach back says; and
// `sminit events` reading, following and printing JSON.

import t from 'tap';
import { spawn } from 'node:child_process';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, RpcError } from '../../lib/client/client.js';
import type { SminitEvent } from '../../lib/api/wire.js';
import { SMINIT, startDaemon, tempDir } from '../helpers/daemon.js';
import { contiguous, waitFor } from '../helpers/wait.js';

const CRASHER =
  "exec: sh -c 'sleep 0.05; exit 1'\nrestart_delay: 100ms\nrestart_max_delay: 100ms\n";

/** Every event the history holds after `after`, page by page. */
async function history(c: Client, after = 0): Promise<SminitEvent[]> {
  const out: SminitEvent[] = [];
  let page = await c.readEvents({ after });
  for (;;) {
    out.push(...page.events);
    if (page.next >= page.end) return out;
    page = await c.readEvents({ after: page.next });
  }
}

t.test('what the daemon records, in order, from its start', async (t) => {
  const d = await startDaemon(t, { a: 'exec: sleep 1000\n', b: 'exec: sleep 1000\nafter: [a]\n' });
  await d.waitStatus('b', (s) => s.status === 'running', 'running');
  const first = (await history(d.client))[0];
  t.match(first, { cursor: 1, kind: 'daemon', service: null, action: 'started' });
  const seen: SminitEvent[] = [];
  const stop = await d.client.followEvents({ n: 0 }, (e) => seen.push(e));
  await d.client.stop('b');
  await d.client.forget('b');
  await d.client.monitor('b');
  await d.waitStatus('b', (s) => s.status === 'running', 'running again');
  await waitFor('the events', () => seen.some((e) => e.kind === 'state' && e.to === 'running'));
  t.match(
    seen.map((e) => [e.kind, e.service, 'to' in e ? e.to : null]),
    [
      ['state', 'b', 'stopping'],
      ['exit', 'b', null],
      ['state', 'b', 'stopped'],
      ['untracked', 'b', null],
      ['tracked', 'b', null],
      ['state', 'b', 'running'],
    ],
  );
  t.equal(contiguous(seen.map((e) => e.cursor)), null, 'one cursor, counting up by one');
  const exit = seen.find((e) => e.kind === 'exit');
  t.match(exit, { signal: 'SIGTERM', code: null, run: 1 });
  await stop();
  const status = await d.client.systemStatus();
  t.equal(status.cursor, seen.at(-1)?.cursor, 'system_status says where the events are');
  t.same(
    status.services.map((s) => s.name),
    ['a', 'b'],
  );
  await t.rejects(d.client.readEvents({ after: status.cursor + 1000 }), {
    code: -32602,
    message: /past the newest event .*earlier run of sminitd/,
  });
});

t.test('resuming after the last cursor seen: nothing lost, nothing twice', async (t) => {
  const d = await startDaemon(t, { crash: CRASHER, steady: 'exec: sleep 1000\n' });
  const got: SminitEvent[] = [];
  for (let round = 0; round < 4; round++) {
    // A new connection each round, as a client that was cut off reconnects.
    const c = await Client.connect(d.socket);
    const after = got.at(-1)?.cursor;
    const target = (got.at(-1)?.cursor ?? 0) + 8;
    await c.followEvents(after === undefined ? {} : { after }, (e) => got.push(e));
    await waitFor(`round ${round}: the stream to pass cursor ${target}`, () => {
      const last = got.at(-1)?.cursor ?? 0;
      return last >= target;
    });
    // Gone mid-stream: the events keep coming without it.
    c.close();
    await waitFor(
      'the daemon to move on',
      async () => (await d.client.systemStatus()).cursor > target + 3,
    );
  }
  const cursors = got.map((e) => e.cursor);
  t.equal(cursors[0], 1);
  t.equal(contiguous(cursors), null, 'the cursors of all rounds together count up by one');
  const all = await history(d.client);
  t.same(got, all.slice(0, got.length), 'and they are the history, event for event');
  t.ok(got.filter((e) => e.kind === 'restart').length >= 3, 'restarts were recorded meanwhile');
});

t.test('a cursor the history no longer reaches: told how many were lost', async (t) => {
  const d = await startDaemon(t, { crash: CRASHER }, ['--event-history', '20']);
  await waitFor(
    'the history to wrap',
    async () => (await d.client.systemStatus()).cursor > 45,
    20000,
  );
  const page = await d.client.readEvents({ after: 2 });
  t.equal(page.events.length, 20, 'the history holds 20');
  const oldest = page.events[0]?.cursor ?? 0;
  t.equal(page.lost, oldest - 3, 'events 3 up to the oldest kept are lost, counted exactly');
  const lost: number[] = [];
  const seen: SminitEvent[] = [];
  const stop = await d.client.followEvents(
    { after: 2 },
    (e) => seen.push(e),
    (n) => lost.push(n),
  );
  await waitFor('the history', () => seen.length >= 20);
  t.equal(lost.length, 1, 'one notice');
  t.equal(
    (lost[0] ?? 0) + 2,
    (seen[0]?.cursor ?? 0) - 1,
    'lost + the cursor = the first event - 1',
  );
  t.equal(contiguous(seen.map((e) => e.cursor)), null);
  await stop();
});

t.test('a follower hears the shutdown', async (t) => {
  const d = await startDaemon(t, { a: 'exec: sleep 1000\n' });
  await d.waitStatus('a', (s) => s.status === 'running', 'running');
  const seen: SminitEvent[] = [];
  await d.client.followEvents({ n: 0 }, (e) => seen.push(e));
  d.proc.kill('SIGTERM');
  await waitFor('the last event', () =>
    seen.some((e) => e.kind === 'daemon' && e.action === 'stopped'),
  );
  t.match(
    seen.filter((e) => e.kind === 'daemon'),
    [
      { action: 'shutdown', detail: /^shutting down 1 service; bound/ },
      { action: 'stopped', detail: 'every service stopped' },
    ],
  );
  t.equal(await d.exited, 0);
});

t.test('sminit events: the history, JSON, a cursor, a follow', async (t) => {
  const d = await startDaemon(t, { a: 'exec: sleep 1000\n' });
  await d.waitStatus('a', (s) => s.status === 'running', 'running');
  const plain = await d.cli('events');
  t.equal(plain.code, 0, plain.stderr);
  t.match(plain.stdout, /^\S+ #1 sminitd: sminitd \S+ started \(pid \d+\)/);
  t.match(plain.stdout, /#\d+ a: stopped → running, pid \d+ \(up\)\n/);
  const json = await d.cli('events', '--json');
  const lines = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as SminitEvent);
  t.same(
    lines.map((e) => e.cursor),
    lines.map((_, i) => i + 1),
    'one event a line, each with its cursor',
  );
  const after = await d.cli('events', '--json', '--since', '2');
  t.equal(JSON.parse(after.stdout.split('\n')[0] ?? '{}').cursor, 3, '--since CURSOR: after it');
  const recent = await d.cli('events', '--since', '10m', '-n', '1', 'a');
  t.match(recent.stdout, /^\S+ #\d+ a: /);
  t.equal(recent.stdout.trim().split('\n').length, 1);
  const bad = await d.cli('events', '--since', 'soon');
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^sminit: --since: expected a duration .*, or an event cursor\n$/);
  const ahead = await d.cli('events', '--since', '999999');
  t.equal(ahead.code, 1);
  t.match(ahead.stderr, /past the newest event/);

  // -f: the history, then what happens, until interrupted.
  const p = spawn(process.execPath, [SMINIT, '-s', d.socket, 'events', '-f', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => p.once('exit', r));
  await waitFor('the history', () => out.includes('"cursor":1,'));
  await d.client.stop('a');
  await waitFor('the stop, followed', () => /"to":"stopped"/.test(out));
  p.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C ends it with 0');
  await t.rejects(d.client.readEvents({ kinds: ['nope' as 'state'] }), RpcError);
});

t.test('readiness and give-ups: probe results on change, readiness flips, the limit', async (t) => {
  const dir = tempDir(t);
  const flag = join(dir, 'ok');
  writeFileSync(flag, '');
  const d = await startDaemon(t, {
    api: [
      'exec: sleep 1000',
      'readiness:',
      `  exec: test -e ${flag}`,
      '  period: 100ms',
      '  failure_threshold: 2',
      '',
    ].join('\n'),
    flaky: "exec: sh -c 'exit 1'\nrestart_delay: 50ms\nrestart_limit: { count: 2, window: 1m }\n",
  });
  await d.waitStatus('api', (s) => s.status === 'running' && s.ready === true, 'ready');
  await d.waitStatus('flaky', (s) => s.status === 'failed', 'given up on');
  const seen: SminitEvent[] = [];
  const stop = await d.client.followEvents({ names: ['api'], n: 0 }, (e) => seen.push(e));
  unlinkSync(flag);
  await waitFor('not ready', () => seen.some((e) => e.kind === 'ready' && !e.ready));
  writeFileSync(flag, '');
  await waitFor('ready again', () => seen.some((e) => e.kind === 'ready' && e.ready));
  await stop();
  const api = seen.filter((e) => e.kind === 'probe' || e.kind === 'ready');
  t.match(
    api.map((e) => [e.kind, e.kind === 'probe' ? e.passed : e.kind === 'ready' && e.ready]),
    [
      ['probe', false],
      ['ready', false],
      ['probe', true],
      ['ready', true],
    ],
    'one event a change, not one a check',
  );
  t.match(api[0], { probe: 'readiness', failures: 1, error: /exited with code 1/ });
  t.match(api[1], { reason: /^readiness failed 2 times/ });
  const flaky = await d.client.readEvents({ names: ['flaky'], kinds: ['give_up', 'restart'] });
  t.match(
    flaky.events.map((e) => e.kind),
    ['restart', 'restart', 'give_up'],
  );
  t.match(flaky.events.at(-1), { restarts: 2, window_ms: 60_000, retry_in_ms: null });
  t.match(await d.client.status('flaky'), {
    status: 'failed',
    reason: /^gave up after 2 restarts/,
  });
});
