import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSmallFile } from '../../lib/os/small-file.js';

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
