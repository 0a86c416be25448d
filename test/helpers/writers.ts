// Programs for log tests to run as services: a writer of numbered lines as
// fast as the pipe takes them. Written into the test's temp dir.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const WRITER = `
import { writeSync } from 'node:fs';
const [count, width, tag] = [Number(process.argv[2]), Number(process.argv[3] ?? 0), process.argv[4] ?? 'w'];
const pad = 'x'.repeat(width);
function put(s) {
  const b = Buffer.from(s);
  let off = 0;
  while (off < b.length) {
    try { off += writeSync(1, b, off); }
    catch (e) { if (e.code !== 'EAGAIN') throw e; }
  }
}
let batch = '';
for (let i = 0; count < 0 || i < count; i++) {
  batch += tag + ' ' + i + ' ' + pad + '\\n';
  if (batch.length > 32768) { put(batch); batch = ''; }
}
put(batch + tag + ' done\\n');
setInterval(() => {}, 1 << 30);
`;

/** Writes writer.mjs into dir; returns the exec line for `count` lines (-1: for ever). */
export function writerExec(dir: string, count: number, width = 0, tag = 'w'): string {
  const file = join(dir, 'writer.mjs');
  writeFileSync(file, WRITER);
  return `${process.execPath} ${file} ${count} ${width} ${tag}`;
}

/** The number in a writer's line (`w 123 xxx`), or null for other lines. */
export function lineNumber(text: string, tag = 'w'): number | null {
  const m = new RegExp(`^${tag} (\\d+)`).exec(text);
  return m ? Number(m[1]) : null;
}
