// The log ring: cursors, fair eviction, bounds, follows and what a follower
// is told it missed. In process, in milliseconds.

import t from 'tap';
import { setImmediate as tick } from 'node:timers/promises';
import { Capture } from '../../lib/logs/capture.js';
import {
  DEFAULT_LOG_BYTES,
  MAX_LINE,
  MIN_LOG_BYTES,
  MIN_LOG_LINES,
} from '../../lib/logs/limits.js';
import { textOf } from '../../lib/logs/render.js';
import { type LogEntry, LogStore } from '../../lib/logs/ring.js';
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

/** `n` lines of `len` bytes (newline included), numbered, one chunk each, as a shell loop writes them. */
function writeEach(cap: Capture, n: number, len: number, first = 0): void {
  for (let i = first; i < first + n; i++) {
    cap.push(Buffer.from(`${String(i).padStart(len - 1, '0')}\n`));
  }
}

/** Text the ring holds, as a reader sees it: each line's bytes and its newline. */
function textHeld(store: LogStore, names?: string[]): number {
  const es = store.read(names ? { names } : {}).entries;
  return es.reduce((n, e) => n + (e.data as Buffer).length + 1, 0);
}

t.test('the ring holds its size in text, even in short lines written one at a time', async (t) => {
  for (const size of [MIN_LOG_BYTES, DEFAULT_LOG_BYTES]) {
    const store = new LogStore(size);
    const cap = new Capture(store, 'w', 'stdout', 1);
    writeEach(cap, Math.ceil((2 * size) / 11), 11);
    const held = textHeld(store);
    t.equal(held, store.bytes, 'the budget counts the text a reader gets');
    t.ok(held >= 0.75 * size, `${size}-byte ring: ${held} bytes of 11-byte lines (≥ 75%)`);
    t.ok(held <= size, 'and no more than its size');
    t.ok(store.memory <= 2 * size, `its memory (${store.memory}) at most twice its size`);
    const es = store.read({}).entries;
    t.equal(es.at(-1)?.seq, store.cursor - 1, 'the newest line is kept');
    t.equal((es.at(-1)?.seq ?? 0) - (es[0]?.seq ?? 0) + 1, es.length, 'what is kept is contiguous');
  }
  const long = new LogStore(DEFAULT_LOG_BYTES);
  writeEach(new Capture(long, 'w', 'stdout', 1), Math.ceil((2 * DEFAULT_LOG_BYTES) / 200), 200);
  t.ok(textHeld(long) >= 0.95 * DEFAULT_LOG_BYTES, '200-byte lines fill it too');
  t.ok(long.memory <= 1.25 * long.bytes, `in memory near their size (${long.memory})`);
});

t.test('services writing short lines side by side share the ring fairly', async (t) => {
  const size = 1024 * 1024;
  for (const perChunk of [6, 1]) {
    const store = new LogStore(size);
    for (let i = 0; i < 50; i++) store.append('quiet', 'stdout', 1, `quiet ${i}`);
    const out = ['a', 'b', 'c'].map((n) => new Capture(store, n, 'stdout', 1));
    const err = new Capture(store, 'a', 'stderr', 1);
    // Interleaved as a daemon reads them, a chunk from each in turn: a at
    // twice the rate of b and c, with its stderr in between.
    const lines = (from: number): Buffer =>
      Buffer.from(
        Array.from({ length: perChunk }, (_, k) => `${String(from + k).padStart(10, '0')}\n`).join(
          '',
        ),
      );
    const chunks = 300_000 / perChunk;
    for (let i = 0; i < chunks; i++) {
      (out[0] as Capture).push(lines(i * perChunk));
      err.push(lines(i * perChunk));
      (out[1 + (i % 2)] as Capture).push(lines(i * perChunk));
    }
    const what = `${perChunk} line(s) a chunk`;
    t.ok(store.bytes <= size, `${what}: within budget (${store.bytes})`);
    t.ok(store.memory <= 2 * size, `${what}: memory ${store.memory} at most twice the size`);
    t.equal(store.usage('quiet').lines, 50, `${what}: the quiet service keeps all of its history`);
    t.equal(textHeld(store), store.bytes, `${what}: the budget counts the text a reader gets`);
    for (const n of ['a', 'b', 'c']) {
      const nums = store
        .read({ names: [n], stream: 'stdout' })
        .entries.map((e) => Number(textOf(e)));
      // b and c take every other chunk.
      const next = (x: number): number =>
        n === 'a' || (x + 1) % perChunk !== 0 ? x + 1 : x + 1 + perChunk;
      t.ok(
        nums.length > 1000 && nums.every((x, i) => i === 0 || x === next(nums[i - 1] as number)),
        `${what}: ${n} keeps its newest lines (${nums.length}), none missing`,
      );
    }
    if (perChunk > 1) {
      // Where the text is what binds, the chatty ones end up with equal shares of it.
      const shares = ['a', 'b', 'c'].map((n) => store.usage(n).bytes);
      const spread = Math.max(...shares) - Math.min(...shares);
      t.ok(
        spread < size / 8,
        `${what}: the chatty ones hold about equal shares: ${shares.join(', ')}`,
      );
      t.ok(store.bytes > 0.95 * size, `${what}: and the ring is full of text`);
    }
  }
});

t.test(
  'a follower that lags gets every line the budget says fits, then exactly what it lost',
  async (t) => {
    const size = MIN_LOG_BYTES;
    const store = new LogStore(size);
    let congested = true;
    const got: string[] = [];
    let dropped = 0;
    const stop = store.follow(
      { n: 0 },
      {
        line: (e) => got.push(textOf(e)),
        dropped: (n) => (dropped += n),
        congested: () => congested,
      },
    );
    const cap = new Capture(store, 'w', 'stdout', 1);
    // 90% of the ring in 11-byte lines, one write each, while the follower is stuck.
    const fits = Math.floor((0.9 * size) / 11);
    writeEach(cap, fits, 11);
    congested = false;
    await waitFor('catch-up', () => got.length === fits);
    t.equal(dropped, 0, 'nothing lost: it all fitted');
    t.same(
      got.map(Number),
      got.map((_, i) => i),
    );
    congested = true;
    writeEach(cap, 3 * fits, 11, fits);
    congested = false;
    await waitFor(
      'catch-up after eviction',
      () => got.at(-1) === String(4 * fits - 1).padStart(10, '0'),
    );
    t.equal(got.length + dropped, 4 * fits, 'every line either delivered or counted');
    t.ok(
      got.length - fits >= 0.75 * (size / 11),
      `it still got a ring's worth (${got.length - fits})`,
    );
    t.equal(new Set(got).size, got.length, 'none twice');
    stop();
  },
);

t.test('a follower with a batch sink gets lines in batches, in order, once', async (t) => {
  const store = new LogStore();
  for (let i = 0; i < 5000; i++) store.append('a', 'stdout', 1, `l${i}`);
  const batches: number[] = [];
  const seqs: number[] = [];
  const stop = store.follow(
    {},
    {
      line: () => t.fail('line is not called when lines is there'),
      lines: (es) => {
        batches.push(es.length);
        for (const e of es) seqs.push(e.seq);
      },
    },
  );
  await waitFor('the backlog', () => seqs.length === 5000);
  t.ok(
    batches.length >= 3 && batches.every((n) => n <= 2000),
    `backlog in batches: ${batches.join(', ')}`,
  );
  const cap = new Capture(store, 'a', 'stdout', 1);
  const before = batches.length;
  cap.push(Buffer.from('x\ny\nz\n'));
  t.same(batches.slice(before), [3], 'a chunk read live is one batch, at once');
  t.same(
    seqs,
    seqs.map((_, i) => i + 1),
    'in order, none missing or twice',
  );
  stop();
});

t.test('bytes are kept as bytes: CRLF, cut lines, long lines, flushed lines', async (t) => {
  const store = new LogStore(1024 * 1024);
  const cap = new Capture(store, 's', 'stdout', 1, null, 8);
  cap.push(Buffer.from('a\r\nbb\n\r\n123456789abc\nlast'));
  cap.flush();
  const big = new Capture(store, 'big', 'stderr', 2);
  const line = Buffer.alloc(MAX_LINE, 0x62);
  big.push(Buffer.concat([Buffer.from('before\n'), line, Buffer.from('\nafter\n')]));
  const big64k = 'b'.repeat(MAX_LINE);
  const got = store.read({}).entries.map((e) => {
    const text = textOf(e) === big64k ? '<64 KiB of b>' : textOf(e);
    return `${e.service}:${e.stream}:${e.run}:${text}`;
  });
  t.same(got, [
    's:stdout:1:a',
    's:stdout:1:bb',
    's:stdout:1:',
    's:stdout:1:12345678',
    's:stdout:1:9abc',
    's:stdout:1:last',
    'big:stderr:2:before',
    'big:stderr:2:<64 KiB of b>',
    'big:stderr:2:after',
  ]);
  const texts = store.read({}).entries.map(textOf);
  t.equal(
    store.bytes,
    texts.reduce((n, s) => n + s.length + 1, 0),
    'each line and its newline',
  );
});
