// Capture: lines found in chunks (in process), then end to end: what a real
// service writes reaches the log whole and in order, whatever the bytes, the
// line lengths or the process tree.

import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { LogLine } from '../../lib/api/wire.js';
import { SMINITD, startDaemon, tempDir } from '../helpers/daemon.js';
import { contiguous, waitFor } from '../helpers/wait.js';
import { lineNumber, writerExec } from '../helpers/writers.js';
import { Capture, splitLines, takeOffsets } from '../../lib/logs/capture.js';
import { MAX_LINE } from '../../lib/logs/limits.js';
import { textOf } from '../../lib/logs/render.js';
import { type LogEntry, LogStore } from '../../lib/logs/ring.js';

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

const MiB = 1024 * 1024;

t.test('binary garbage and a 10 MiB line without a newline', async (t) => {
  const scripts = tempDir(t);
  const gen = join(scripts, 'gen.mjs');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    gen,
    `import { writeSync } from 'node:fs';
writeSync(1, Buffer.from([0x62, 0x69, 0x6e, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a]));
writeSync(1, 'still reading\\n');
const big = Buffer.alloc(10 * 1024 * 1024, 0x7a);
let off = 0;
while (off < big.length) { try { off += writeSync(1, big, off); } catch (e) { if (e.code !== 'EAGAIN') throw e; } }
`,
  );
  const d = await startDaemon(
    t,
    {
      gen: `exec: ${process.execPath} ${gen}\nrestart: never\n`,
    },
    ['-b', '32MiB'],
  );
  await d.waitStatus('gen', (s) => s.status === 'exited', 'exited', 20000);
  const lines: LogLine[] = [];
  let page = await d.client.readLogs({ names: ['gen'] });
  const end = page.end;
  for (;;) {
    lines.push(...page.lines);
    if (page.next >= end) break;
    page = await d.client.readLogs({ names: ['gen'], from: page.next, until: end });
  }
  const out = lines.filter((l) => l.stream === 'stdout');
  t.equal(out[0]?.text, 'bin\\xff\\xfe\u0000\\xc3(', 'invalid bytes escaped for display');
  t.equal(Buffer.from(out[0]?.bytes ?? '', 'base64').toString('hex'), '62696efffe00c328');
  t.equal(out[1]?.text, 'still reading', 'capture goes on after garbage');
  const pieces = out.slice(2);
  t.equal(pieces.length, 160, 'the 10 MiB line in 64 KiB pieces');
  t.ok(pieces.every((l) => l.text.length === 65536 && /^z+$/.test(l.text)));
  const lastPiece = pieces.at(-1);
  const exitEvent = lines.find((l) => l.stream === 'event' && /exited/.test(l.text));
  t.ok(lastPiece && exitEvent && lastPiece.seq < exitEvent.seq, 'flushed before the exit event');
});

t.test('lifecycle events and health test output are in the log, in order', async (t) => {
  const d = await startDaemon(t, {
    flap: [
      `exec: sh -c 'echo out; echo err >&2; exit 3'`,
      `test: sh -c 'echo probing; exit 0'`,
      'restart_delay: 100ms',
      'restart_max_delay: 100ms',
    ].join('\n'),
  });
  const lines = await waitFor('two runs in the log', async () => {
    const r = await d.client.readLogs({ names: ['flap'] });
    return r.lines.some((l) => l.run === 2 && /exited/.test(l.text)) ? r.lines : null;
  });
  const run1 = lines.filter((l) => l.run === 1).map((l) => `${l.stream}:${l.text}`);
  const at = (re: RegExp): number => run1.findIndex((s) => re.test(s));
  t.ok(at(/^event:started: pid \d+, run 1/) === 0, `started first: ${run1.join(' | ')}`);
  t.ok(at(/^stdout:out$/) > 0);
  t.ok(at(/^stderr:err$/) > 0);
  t.ok(at(/^event:exited with code 3/) > at(/^stdout:out$/), 'exit after the output');
  t.ok(at(/^event:exited with code 3/) > at(/^stderr:err$/));
  t.ok(at(/^event:restarting in 100 ms/) > at(/^event:exited/), 'then the restart');
  if (at(/^test:probing$/) !== -1) t.ok(at(/^test:probing$/) > 0, 'test output as test');
  t.ok(
    lines.every((l, i) => i === 0 || (lines[i - 1] as LogLine).seq < l.seq),
    'seq increasing',
  );
  const tested = await waitFor('health test output', async () => {
    const r = await d.client.readLogs({ names: ['flap'], stream: 'test' });
    return r.lines.length > 0 ? r.lines : null;
  });
  t.equal(tested[0]?.text, 'probing');
});

t.test('an output pipe kept open by a grandchild after the main process exits', async (t) => {
  const work = tempDir(t);
  const d = await startDaemon(t, {
    g: [
      // The grandchild leaves the group (setsid) and keeps stdout open; the
      // main process exits only once it has left, or the exit's group kill
      // would take it along.
      `exec: sh -c 'setsid sh -c "touch left; sleep 2; echo from-grandchild" & while [ ! -e left ]; do sleep 0.01; done; printf last-without-newline; exit 4'`,
      `dir: ${work}`,
      'restart: never',
    ].join('\n'),
  });
  await d.waitStatus('g', (s) => s.status === 'exited', 'exited while the grandchild runs', 5000);
  const before = (await d.client.readLogs({ names: ['g'] })).lines;
  const texts = before.map((l) => `${l.stream}:${l.text}`);
  const last = texts.indexOf('stdout:last-without-newline');
  const exit = texts.findIndex((s) => /^event:exited with code 4/.test(s));
  t.ok(last !== -1 && exit > last, `the unfinished line is flushed at exit: ${texts.join(' | ')}`);
  t.notOk(texts.includes('stdout:from-grandchild'), 'the grandchild had not written yet');
  const later = await waitFor(
    'the grandchild line',
    async () => {
      const r = await d.client.readLogs({ names: ['g'], stream: 'stdout' });
      return r.lines.find((l) => l.text === 'from-grandchild') ?? null;
    },
    15000,
  );
  t.equal(later.run, 1, 'attributed to the run that started it');
});

t.test('sminitd -b: every value starts with a sane ring or fails with a clear error', async (t) => {
  const cases: [string, 'start' | 'error', RegExp][] = [
    ['0', 'start', /below the minimum/],
    ['1', 'start', /below the minimum/],
    ['1KiB', 'start', /below the minimum/],
    ['2000', 'start', /^$/],
    ['16MiB', 'start', /^$/],
    ['', 'error', /--buffer : expected a size/],
    ['abc', 'error', /expected a size/],
    ['-1', 'error', /expected a size/],
    ['99999999999999999999', 'error', /maximum/],
    ['5TiB', 'error', /maximum/],
  ];
  for (const [value, want, message] of cases) {
    const dir = tempDir(t);
    const socket = join(dir, 's.sock');
    const p = spawn(process.execPath, [SMINITD, '-c', dir, '-s', socket, `--buffer=${value}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    if (want === 'start') {
      // Its signal handlers are in place once it says it listens.
      await waitFor(`sminitd -b ${value} to listen`, () => /listening on/.test(err), 10000);
      p.kill('SIGTERM');
      t.equal(await exited, 0, `-b ${JSON.stringify(value)} runs`);
      const warning = err.split('\n').find((l) => l.startsWith('sminitd: --buffer')) ?? '';
      t.match(warning, message, `-b ${JSON.stringify(value)}: ${warning || 'no warning'}`);
    } else {
      t.equal(await exited, 2, `-b ${JSON.stringify(value)} is refused`);
      t.match(err, message);
    }
    t.notMatch(err, /at .*\.js:\d+/, 'no stack trace');
  }
});
