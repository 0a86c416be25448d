// The log ring: cursors, fair eviction, bounds, follows and what a follower
// is told it missed. In process, in milliseconds.

import t from 'tap';
import { setImmediate as tick } from 'node:timers/promises';
import { Capture } from '../../lib/logs/capture.js';
import { MIN_LOG_BYTES, MIN_LOG_LINES } from '../../lib/logs/limits.js';
import { textOf } from '../../lib/logs/render.js';
import { type LogEntry, LogStore } from '../../lib/logs/ring.js';
import { parseSince } from '../../lib/client/cli.js';
import { waitFor } from '../helpers/wait.js';

const texts = (es: readonly LogEntry[]): string[] => es.map(textOf);

t.test('one cursor: read then read on from next loses and repeats nothing', async (t) => {
  const store = new LogStore();
  for (let i = 0; i < 10; i++) store.append('a', 'stdout', 1, `a${i}`);
  const first = store.read({ n: 3 });
  t.same(texts(first.entries), ['a7', 'a8', 'a9']);
  t.equal(first.next, store.cursor);
  store.append('b', 'stdout', 1, 'b0');
  store.append('a', 'stderr', 1, 'a10');
  t.same(texts(store.read({ from: first.next }).entries), ['b0', 'a10']);
  t.same(texts(store.read({ from: first.next, names: ['a'] }).entries), ['a10']);
  t.same(texts(store.read({ from: first.next, stream: 'stdout' }).entries), ['b0']);
  t.same(texts(store.read({ n: 2, stream: 'stdout', names: ['a'] }).entries), ['a8', 'a9']);
});

t.test('read in pages up to a snapshot end', async (t) => {
  const store = new LogStore();
  for (let i = 0; i < 25; i++) store.append(i % 2 ? 'a' : 'b', 'stdout', 1, `l${i}`);
  let page = store.read({}, 10);
  const end = page.end;
  const got = texts(page.entries);
  while (page.next < end) {
    store.append('a', 'stdout', 1, 'later'); // after the snapshot: not part of it
    page = store.read({ from: page.next, until: end }, 10);
    got.push(...texts(page.entries));
  }
  t.same(
    got,
    Array.from({ length: 25 }, (_, i) => `l${i}`),
  );
});

t.test('since selects by time', async (t) => {
  const store = new LogStore();
  store.append('a', 'stdout', 1, 'old');
  const mid = Date.now() + 1;
  await waitFor('the clock to move', () => Date.now() > mid + 1);
  store.append('a', 'stdout', 1, 'new');
  t.same(texts(store.read({ since: mid }).entries), ['new']);
  t.same(texts(store.read({ since: new Date(mid).toISOString() }).entries), ['new']);
  t.same(texts(store.read({ since: mid, n: 5 }).entries), ['new']);
});

t.test('eviction is fair: the service holding the most gives up lines first', async (t) => {
  const store = new LogStore(MIN_LOG_BYTES);
  for (let i = 0; i < 50; i++) store.append('quiet', 'stdout', 1, `quiet ${i}`);
  const cap = new Capture(store, 'chatty', 'stdout', 1);
  const line = 'x'.repeat(100) + '\n';
  for (let i = 0; i < 2000; i++) cap.push(Buffer.from(line.repeat(20)));
  t.ok(store.bytes <= MIN_LOG_BYTES, `within budget (${store.bytes})`);
  t.equal(store.usage('quiet').lines, 50, 'the quiet service keeps all its history');
  t.same(texts(store.read({ names: ['quiet'] }).entries).slice(0, 2), ['quiet 0', 'quiet 1']);
  const chatty = store.read({ names: ['chatty'] }).entries;
  t.ok(chatty.length > 100, 'the chatty service keeps its newest lines');
  t.equal(chatty.at(-1)?.seq, store.cursor - 1, 'the newest line is kept');
  const seqs = chatty.map((e) => e.seq);
  t.same(
    seqs,
    seqs.map((_, i) => (seqs[0] as number) + i),
    'what is kept is contiguous',
  );

  // Two chatty services end up with about equal shares.
  const two = new LogStore(MIN_LOG_BYTES);
  const a = new Capture(two, 'a', 'stdout', 1);
  const b = new Capture(two, 'b', 'stdout', 1);
  for (let i = 0; i < 500; i++) {
    a.push(Buffer.from(line.repeat(30)));
    if (i % 5 === 0) b.push(Buffer.from(line.repeat(30)));
  }
  const ua = two.usage('a').bytes;
  const ub = two.usage('b').bytes;
  t.ok(Math.abs(ua - ub) < MIN_LOG_BYTES / 4, `fair shares: a ${ua}, b ${ub}`);
});

t.test('the ring is bounded in lines too', async (t) => {
  const store = new LogStore({ maxBytes: 8 * 1024 * 1024, maxLines: MIN_LOG_LINES });
  for (let i = 0; i < 1000; i++) store.append('a', 'stdout', 1, '');
  t.equal(store.size, MIN_LOG_LINES);
  t.equal(store.read({}).entries.at(0)?.seq, 1000 - MIN_LOG_LINES + 1);
  const tiny = new LogStore({ maxBytes: 1, maxLines: 1 });
  t.equal(tiny.limits.maxBytes, MIN_LOG_BYTES, 'raised to the minimum');
  t.equal(tiny.limits.maxLines, MIN_LOG_LINES);
});

t.test('a read from an evicted cursor says how many lines it missed', async (t) => {
  const store = new LogStore({ maxLines: MIN_LOG_LINES });
  store.append('a', 'stdout', 1, 'first');
  const from = store.cursor;
  for (let i = 0; i < 150; i++) store.append('a', 'stdout', 1, `l${i}`);
  const r = store.read({ from });
  t.equal(r.entries.length, MIN_LOG_LINES);
  t.equal(r.dropped, 50, 'l0..l49 are gone');
  t.equal(r.entries[0] && textOf(r.entries[0]), 'l50');
  t.equal(store.read({ from, stream: 'stderr' }).dropped, 0, 'none of the asked stream');
});

t.test('follow: backlog, then live, one cursor', async (t) => {
  const store = new LogStore();
  for (let i = 0; i < 5000; i++) store.append('a', 'stdout', 1, `l${i}`);
  const got: number[] = [];
  const stop = store.follow({}, (e) => got.push(e.seq));
  t.equal(got.length, 0, 'the backlog is sent on later turns, never in one block');
  store.append('a', 'stdout', 1, 'during catch-up');
  await waitFor('the backlog and the new line', () => got.length === 5001);
  store.append('a', 'stdout', 1, 'live');
  t.equal(got.length, 5002, 'live lines are pushed at once');
  t.same(
    got,
    got.map((_, i) => i + 1),
  );
  stop();
  store.append('a', 'stdout', 1, 'after');
  t.equal(got.length, 5002);
  t.equal(store.followerCount, 0);

  const onlyNew: string[] = [];
  const stop2 = store.follow({ n: 0 }, (e) => onlyNew.push(textOf(e)));
  store.append('a', 'stdout', 1, 'x');
  t.same(onlyNew, ['x']);
  stop2();
});

t.test(
  'a congested follower pauses, catches up from the ring, and is told what it lost',
  async (t) => {
    const store = new LogStore({ maxLines: 1000 });
    let congested = false;
    const got: number[] = [];
    let dropped = 0;
    const stop = store.follow(
      { n: 0 },
      {
        line: (e) => got.push(e.seq),
        dropped: (n) => (dropped += n),
        congested: () => congested,
      },
    );
    store.append('a', 'stdout', 1, 'one');
    t.same(got, [1]);
    congested = true;
    for (let i = 0; i < 500; i++) store.append('a', 'stdout', 1, 'kept');
    t.same(got, [1], 'nothing is pushed while congested');
    congested = false;
    await waitFor('catch-up', () => got.length === 501);
    t.equal(dropped, 0, 'all of it was still in the ring');
    congested = true;
    for (let i = 0; i < 3000; i++) store.append('a', 'stdout', 1, 'more');
    congested = false;
    await waitFor('catch-up after eviction', () => got.at(-1) === 3501);
    t.equal(dropped, 2000, 'the lines evicted before it caught up');
    t.equal(got.length + dropped, 3501, 'every line either delivered or counted');
    t.equal(new Set(got).size, got.length, 'none twice');
    stop();
  },
);

t.test('a follow from an old cursor counts the gap once', async (t) => {
  const store = new LogStore({ maxLines: MIN_LOG_LINES });
  const from = store.cursor;
  for (let i = 0; i < 130; i++) store.append(i % 2 ? 'a' : 'b', 'stdout', 1, `l${i}`);
  let dropped = 0;
  const got: number[] = [];
  const stop = store.follow(
    { from },
    { line: (e) => got.push(e.seq), dropped: (n) => (dropped += n) },
  );
  await waitFor('catch-up', () => got.length === MIN_LOG_LINES);
  t.equal(dropped, 30);
  store.append('a', 'stdout', 1, 'new');
  await tick();
  t.equal(dropped, 30, 'not counted again');
  stop();
});

t.test('parseSince', async (t) => {
  const now = Date.UTC(2025, 0, 31, 12, 0, 0);
  t.equal(parseSince('10m', now), now - 600_000);
  t.equal(parseSince('1h30m', now), now - 5_400_000);
  t.equal(parseSince('2d', now), now - 2 * 86_400_000);
  t.equal(parseSince('2025-01-31T10:00:00Z', now), Date.UTC(2025, 0, 31, 10));
  const clock = parseSince('10:00', now);
  t.equal(typeof clock, 'number');
  t.equal(new Date(clock as number).getHours(), 10);
  t.match(parseSince('yesterday-ish', now), /--since wants/);
});
