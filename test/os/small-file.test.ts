import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KEPT_FILES,
  closeKeptIn,
  keptFileCount,
  readKeptFile,
  readSmallFile,
} from '../../lib/os/small-file.js';

const dir = mkdtempSync(join(tmpdir(), 'sminit-small-file-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('a /proc file, whose size reads as 0, is read whole', async (t) => {
  const text = readSmallFile('/proc/self/status');
  t.match(text, /^Name:\t/);
  t.match(text, /\nPid:\t\d+\n/);
  t.ok(text.endsWith('\n'));
});

t.test(
  'a file larger than the buffer, then a small one: no bytes of the first are left',
  async (t) => {
    const big = join(dir, 'big');
    const small = join(dir, 'small');
    const bigText = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    writeFileSync(big, bigText);
    writeFileSync(small, 'populated 1\nfrozen 0\n');
    t.equal(readSmallFile(big), bigText);
    t.equal(readSmallFile(small), 'populated 1\nfrozen 0\n');
    t.equal(readSmallFile(join(dir, 'small')), readFileSync(small, 'latin1'));
  },
);

t.test('bytes: latin1 keeps each byte, utf8 decodes', async (t) => {
  const file = join(dir, 'bytes');
  writeFileSync(file, Buffer.from('caf\u00e9 \u2603\n', 'utf8'));
  t.equal(readSmallFile(file, 'utf8'), 'caf\u00e9 \u2603\n');
  t.equal(readSmallFile(file), Buffer.from('caf\u00e9 \u2603\n', 'utf8').toString('latin1'));
});

t.test("errors are readFileSync's", async (t) => {
  t.throws(() => readSmallFile(join(dir, 'missing')), { code: 'ENOENT' });
  t.throws(() => readSmallFile(dir), { code: 'EISDIR' });
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

t.test('a kept file is read as it is now, through one descriptor', async (t) => {
  const sub = join(dir, 'kept-now');
  mkdirSync(sub);
  const file = join(sub, 'cpu.stat');
  writeFileSync(file, 'usage_usec 1\n');
  t.equal(readKeptFile(file), 'usage_usec 1\n');
  const fds = openFds();
  writeFileSync(file, 'usage_usec 22\nuser_usec 20\n'); // in place, as the kernel rewrites it
  t.equal(readKeptFile(file), 'usage_usec 22\nuser_usec 20\n');
  t.equal(openFds(), fds, 'no descriptor opened for the second read');
  closeKeptIn(sub);
  t.equal(openFds(), fds - 1, 'closed with its directory');
});

t.test('a kept /proc file of a process gone reads as gone', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const file = `/proc/${child.pid}/stat`;
  t.match(readKeptFile(file), /^\d+ \(/);
  const fds = openFds();
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.throws(() => readKeptFile(file), { code: 'ENOENT' }, 'the stale descriptor is not believed');
  t.equal(openFds(), fds - 1, 'and is closed');
});

t.test('at most KEPT_FILES stay open, the least recently read closed first', async (t) => {
  const sub = join(dir, 'many');
  mkdirSync(sub);
  t.teardown(() => closeKeptIn(sub));
  const fds = openFds() - keptFileCount();
  const files = Array.from({ length: KEPT_FILES + 40 }, (_, i) => join(sub, `f${i}`));
  files.forEach((f, i) => writeFileSync(f, `${i}\n`));
  for (const [i, f] of files.entries())
    t.equal(readKeptFile(f), `${i}\n`, `f${i}`, { diagnostic: false });
  t.equal(keptFileCount(), KEPT_FILES);
  t.equal(openFds(), fds + KEPT_FILES, 'the rest were closed');
  const before = openFds();
  t.equal(readKeptFile(files[files.length - 1]!), `${files.length - 1}\n`);
  t.equal(openFds(), before, 'the most recent is still open');
  t.equal(readKeptFile(files[0]!), '0\n', 'the evicted one opens again');
  t.equal(keptFileCount(), KEPT_FILES);
});
