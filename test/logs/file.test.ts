// File logs on their own: rotation and keep, reopening, and a file that
// cannot be opened. Real files in a temp dir, no daemon.

import t from 'tap';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { BoundedWriter, FileLog } from '../../lib/logs/file.js';
import { Writable } from 'node:stream';
import { tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const settle = (f: string, text: string): Promise<boolean> =>
  waitFor(`${f} to contain ${text}`, () => existsSync(f) && readFileSync(f, 'utf8').includes(text));

t.test('rotation keeps N old files, each within max_size', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'web.log');
  const log = new FileLog({ path, maxSize: 200, keep: 2 });
  for (let i = 0; i < 30; i++) log.event(`line ${String(i).padStart(3, '0')}`);
  await settle(path, 'line 029');
  log.close();
  t.same(readdirSync(dir).sort(), ['web.log', 'web.log.1', 'web.log.2']);
  for (const f of ['web.log', 'web.log.1', 'web.log.2']) {
    t.ok(readFileSync(join(dir, f)).length <= 200, `${f} within max_size`);
  }
  t.match(readFileSync(join(dir, 'web.log.2'), 'utf8'), /^\S+Z event line \d{3}\n/);
  t.ok(log.rotations > 2);
});

t.test('keep 0 truncates; a closed log reopens and appends', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'x.log');
  // Lines of 65 bytes: each one alone in the file; then a 33-byte one fits beside it.
  const log = new FileLog({ path, maxSize: 100, keep: 0 });
  for (let i = 0; i < 10; i++) log.event(`n${i} ${'y'.repeat(30)}`);
  await settle(path, 'n9');
  t.same(readdirSync(dir), ['x.log']);
  log.close();
  log.event('a');
  await settle(path, 'event a\n');
  t.match(readFileSync(path, 'utf8'), /n9 y+\n\S+ event a\n$/, 'appended after reopening');
  log.close();
});

t.test('a file that cannot be opened is reported once, and the gap is noted later', async (t) => {
  const dir = tempDir(t);
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  chmodSync(sub, 0o500);
  t.teardown(() => chmodSync(sub, 0o700));
  const errors: string[] = [];
  const path = join(dir, 'missing', 'a.log');
  const log = new FileLog({ path, maxSize: 1000, keep: 1, onError: (m) => errors.push(m) });
  log.event('one');
  log.event('two');
  t.equal(errors.length, 1, 'one report, not one per line');
  t.match(errors[0], /cannot open log file .*a\.log: ENOENT/);
  mkdirSync(join(dir, 'missing'));
  log.event('three');
  await settle(path, 'three');
  t.match(readFileSync(path, 'utf8'), /-- 2 lines lost \(log file unavailable\) --[\s\S]*three/);
  log.close();
});

t.test('a bounded writer drops and counts past its backlog', async (t) => {
  let pending: (() => void) | null = null;
  const chunks: string[] = [];
  const slow = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      pending = cb;
    },
  });
  const w = new BoundedWriter(slow, 10);
  t.equal(w.write('a\n', 1), true);
  t.equal(w.write('b'.repeat(20) + '\n', 1), true, 'queued behind the first');
  t.equal(w.write('c\n', 1), false, 'over the backlog: dropped');
  t.equal(w.droppedLines, 1);
  const drain = async (): Promise<void> => {
    while (pending) {
      const p: () => void = pending;
      pending = null;
      p();
      await new Promise((r) => setImmediate(r));
    }
  };
  await drain();
  t.equal(w.write('d\n', 1), true);
  await drain();
  t.match(chunks.join(''), /-- 1 line dropped \(output backlog\) --\nd\n$/);
});

t.test('log files removed from outside: the next rotation starts a fresh file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'w.log');
  const errors: string[] = [];
  // Never checked at a write here: the rotation alone must notice.
  const log = new FileLog({
    path,
    maxSize: 200,
    keep: 2,
    checkEveryMs: 3_600_000,
    onError: (m) => errors.push(m),
  });
  for (let i = 0; i < 10; i++) log.event(`before ${i}`);
  await settle(path, 'before 9');
  for (const f of readdirSync(dir)) rmSync(join(dir, f));
  for (let i = 0; i < 30; i++) log.event(`after ${String(i).padStart(2, '0')}`);
  await settle(path, 'after 29');
  log.close();
  t.same(readdirSync(dir).sort(), ['w.log', 'w.log.1', 'w.log.2'], 'rotating again');
  for (const f of readdirSync(dir)) {
    t.ok(readFileSync(join(dir, f)).length <= 200, `${f} within max_size`);
  }
  t.same(errors, [], 'a missing file is no error');
});

t.test('a log file renamed from outside is noticed at the next write', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'w.log');
  const errors: string[] = [];
  const log = new FileLog({
    path,
    maxSize: 1 << 20,
    keep: 2,
    checkEveryMs: 0,
    onError: (m) => errors.push(m),
  });
  log.event('first');
  await settle(path, 'first');
  renameSync(path, join(dir, 'moved.log'));
  log.event('second');
  await settle(path, 'second');
  log.close();
  t.notMatch(readFileSync(path, 'utf8'), /first/, 'a new file at the path');
  t.match(readFileSync(join(dir, 'moved.log'), 'utf8'), /first/);
  t.same(errors, [`log file ${path} was removed or renamed: opening it again`]);
});

t.test('a rotation that fails is reported, and retried only a max_size later', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'w.log');
  const errors: string[] = [];
  const log = new FileLog({ path, maxSize: 200, keep: 1, onError: (m) => errors.push(m) });
  log.event('x'.repeat(150));
  await settle(path, 'xxx');
  // path.1 a directory that is not empty: the rename onto it fails.
  mkdirSync(join(dir, 'w.log.1'));
  writeFileSync(join(dir, 'w.log.1', 'keep'), '');
  for (let i = 0; i < 5; i++) log.event(`line ${i}`);
  await settle(path, 'line 4');
  log.close();
  t.equal(errors.length, 1, 'told once');
  t.match(errors[0], /^cannot rotate log file .*w\.log: /);
  t.match(readFileSync(path, 'utf8'), /line 4/, 'the lines went on into the file at its path');
});
