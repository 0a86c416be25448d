// The log ring, line splitting, fair eviction, cursors and display: the pure
// parts, in process, in milliseconds.

import t from 'tap';
import { setImmediate as tick } from 'node:timers/promises';
import {
  Capture,
  type LogEntry,
  LogStore,
  MAX_LINE,
  MIN_LOG_BYTES,
  MIN_LOG_LINES,
  displayText,
  parseBufferOption,
  splitLines,
  takeOffsets,
  textOf,
  toWire,
  zinitLine,
} from '../../lib/logs/ring.js';
import { waitFor } from '../helpers/wait.js';

function lines(buf: Buffer, max = MAX_LINE): string[] {
  const { count, rest } = splitLines(buf, max);
  const offs = takeOffsets(count);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(buf.toString('latin1', offs[2 * i], offs[2 * i + 1]));
  if (rest < buf.length) out.push(`<rest:${buf.toString('latin1', rest)}>`);
  return out;
}

const texts = (es: readonly LogEntry[]): string[] => es.map(textOf);

t.test('splitLines: newlines, CRLF, empty lines, the unfinished rest', async (t) => {
  t.same(lines(Buffer.from('a\nb\r\n\nc')), ['a', 'b', '', '<rest:c>']);
  t.same(lines(Buffer.from('')), []);
  t.same(lines(Buffer.from('\n')), ['']);
  t.same(lines(Buffer.from('\r\n')), ['']);
  t.same(lines(Buffer.from('x\r')), ['<rest:x\r>'], 'a CR alone is kept until its LF');
});

t.test('splitLines cuts a line longer than the maximum into pieces', async (t) => {
  t.same(lines(Buffer.from('abcdefg\n'), 3), ['abc', 'def', 'g']);
  t.same(lines(Buffer.from('abc\n'), 3), ['abc'], 'exactly the maximum is one line');
  t.same(lines(Buffer.from('abcdef\n'), 3), ['abc', 'def'], 'no empty piece before the newline');
  t.same(lines(Buffer.from('abcdefgh'), 3), ['abc', 'def', '<rest:gh>']);
  t.same(lines(Buffer.from('abcdef'), 3), ['abc', 'def'], 'a full piece is never held back');
});

t.test('Capture: lines across chunks, a 10 MiB line, flush on exit', async (t) => {
  const store = new LogStore(64 * 1024 * 1024);
  const cap = new Capture(store, 'svc', 'stdout', 1);
  cap.push(Buffer.from('hel'));
  cap.push(Buffer.from('lo\nwor'));
  cap.push(Buffer.from('ld\npartial'));
  t.same(texts(store.read({}).entries), ['hello', 'world']);
  cap.flush();
  t.same(texts(store.read({}).entries), ['hello', 'world', 'partial']);

  const big = new Capture(store, 'big', 'stdout', 1);
  const chunk = Buffer.alloc(65536, 0x61);
  for (let i = 0; i < 160; i++) big.push(chunk); // 10 MiB, no newline
  t.ok(big.pending < MAX_LINE, 'never more than one line held back');
  big.flush();
  const got = store.read({ names: ['big'] }).entries;
  t.equal(got.length, 160, '10 MiB in 64 KiB pieces');
  t.ok(got.every((e) => (e.data as Buffer).length === MAX_LINE));
});

t.test('bytes that are not UTF-8 are kept, and shown escaped', async (t) => {
  const store = new LogStore();
  const cap = new Capture(store, 's', 'stdout', 1);
  const garbage = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a, 0xc3, 0xa9, 0x0a, 0xed, 0xa0, 0x80]);
  cap.push(garbage);
  cap.push(Buffer.from('after\n'));
  cap.flush();
  const es = store.read({}).entries;
  t.same(texts(es), ['\\xff\\xfe\u0000\\x80', 'é', '\\xed\\xa0\\x80after']);
  t.same(es[0]?.data, Buffer.from([0xff, 0xfe, 0x00, 0x80]), 'the exact bytes are kept');
  const w = toWire(es[0] as LogEntry);
  t.equal(Buffer.from(w.bytes ?? '', 'base64').toString('hex'), 'fffe0080');
  t.equal(toWire(es[1] as LogEntry).bytes, undefined, 'valid UTF-8 has no bytes field');
  t.equal(displayText(Buffer.from([0xf0, 0x9f, 0x98, 0x80])), '😀');
  t.equal(displayText(Buffer.from([0xf0, 0x9f, 0x98])), '\\xf0\\x9f\\x98', 'truncated sequence');
  t.equal(displayText(Buffer.from([0xc0, 0xaf])), '\\xc0\\xaf', 'overlong');
  t.equal(zinitLine(es[1] as LogEntry), '[+] s: é');
});

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

t.test('parseBufferOption: every -b value gets a limit or a clear error', async (t) => {
  const ok = (raw: string): { maxBytes: number; maxLines: number } => {
    const r = parseBufferOption(raw);
    if ('error' in r) throw new Error(r.error);
    return r.limits;
  };
  t.same(ok('16MiB'), { maxBytes: 16 * 1024 * 1024, maxLines: Infinity });
  t.same(ok('2000'), { maxBytes: 2000 * 256, maxLines: 2000 });
  t.same(ok('0'), { maxBytes: MIN_LOG_BYTES, maxLines: MIN_LOG_LINES });
  t.match(parseBufferOption('0'), { warning: /below the minimum/ });
  t.same(ok('1'), { maxBytes: MIN_LOG_BYTES, maxLines: MIN_LOG_LINES });
  t.same(ok('1KiB'), { maxBytes: MIN_LOG_BYTES, maxLines: Infinity });
  t.match(parseBufferOption(''), { error: /expected a size/ });
  t.match(parseBufferOption('abc'), { error: /expected a size/ });
  t.match(parseBufferOption('-5'), { error: /expected a size/ });
  t.same(ok('1.5'), { maxBytes: MIN_LOG_BYTES, maxLines: Infinity }, '1.5 bytes: the minimum');
  t.match(parseBufferOption('99999999999999999999'), { error: /maximum/ });
  t.match(parseBufferOption('5TiB'), { error: /maximum/ });
});
