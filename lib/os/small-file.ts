// Reading the small files of /proc and cgroupfs (a stat, cgroup.procs,
// cpu.stat) on the main thread, into one buffer kept for the purpose: open,
// read until the end, close. readFileSync asks for the size first (0 for
// these files, whatever they hold) and allocates a buffer for every read;
// the status of a service reads about seven such files. Measured here on
// /proc/self/stat: 9.5 µs a read this way, 12 µs through readFileSync's
// utf8 path, 20 µs through its latin1 path (which the cgroup files took).

import { closeSync, openSync, readSync } from 'node:fs';

/** Grown (doubled) while a file is larger; kept at the largest size seen up to a cap. */
let buffer: Buffer = Buffer.allocUnsafe(16 * 1024);
const KEEP_AT_MOST = 1024 * 1024;

/** The whole text of `path`; throws as readFileSync would (ENOENT, EACCES, …). */
export function readSmallFile(path: string, encoding: 'latin1' | 'utf8' = 'latin1'): string {
  const fd = openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = grown(buffer);
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    const text = buffer.toString(encoding, 0, length);
    if (buffer.length > KEEP_AT_MOST) buffer = Buffer.allocUnsafe(KEEP_AT_MOST);
    return text;
  } finally {
    closeSync(fd);
  }
}

function grown(b: Buffer): Buffer {
  const bigger = Buffer.allocUnsafe(b.length * 2);
  b.copy(bigger);
  return bigger;
}
