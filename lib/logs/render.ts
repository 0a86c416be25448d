// Log lines for people and other programs: display text (UTF-8, bad bytes
// as `\xNN`), the wire shape, zinit's `[+] name: text`, and a captured
// chunk's lines behind a prefix in one buffer. Pure: reads lines, stores nothing.

import { isUtf8 } from 'node:buffer';
import type { LogLine } from '../core/logline.js';
import { utf8SequenceLength } from '../core/utf8.js';
import type { Chunk } from './capture.js';
import type { LogEntry } from './ring.js';

/** Bytes of line i of a chunk. */
export function chunkLineLength(c: Chunk, i: number): number {
  return (c.offs[2 * i + 1] as number) - (c.offs[2 * i] as number);
}

/**
 * A chunk's lines [from, to), each behind `prefix` and ending in a newline,
 * as one buffer: one write for a whole chunk.
 */
export function renderChunk(c: Chunk, prefix: Buffer, from = 0, to = c.count): Buffer {
  let size = 0;
  for (let i = from; i < to; i++) size += prefix.length + chunkLineLength(c, i) + 1;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = from; i < to; i++) {
    at += prefix.copy(out, at);
    at += c.buf.copy(out, at, c.offs[2 * i], c.offs[2 * i + 1]);
    out[at++] = 10;
  }
  return out;
}

/**
 * Text for display: UTF-8 as written, each byte that is not valid UTF-8
 * shown as `\xNN`. Reading never stops at a bad byte.
 */
export function displayText(data: Buffer | string): string {
  if (typeof data === 'string') return data;
  if (isUtf8(data)) return data.toString('utf8');
  let out = '';
  let run = 0;
  let i = 0;
  const n = data.length;
  while (i < n) {
    const len = utf8SequenceLength(data, i);
    if (len > 0) {
      i += len;
      continue;
    }
    out +=
      data.toString('utf8', run, i) + '\\x' + (data[i] as number).toString(16).padStart(2, '0');
    i++;
    run = i;
  }
  return out + data.toString('utf8', run, n);
}

export function textOf(e: LogEntry): string {
  return displayText(e.data);
}

// Lines read together share their time: each batch formats it once.
let lastTime = NaN;
let lastIso = '';
function isoTime(ms: number): string {
  if (ms !== lastTime) {
    lastTime = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

export function toWire(e: LogEntry): LogLine {
  const exact = typeof e.data !== 'string' && !isUtf8(e.data);
  return {
    seq: e.seq,
    time: isoTime(e.time),
    service: e.service,
    stream: e.stream,
    run: e.run,
    text: textOf(e),
    ...(exact ? { bytes: (e.data as Buffer).toString('base64') } : {}),
  };
}

/** zinit's rendering: `[+] name: text` for stdout, `[-] name: text` otherwise. */
export function zinitLine(e: LogEntry): string {
  return `${e.stream === 'stdout' ? '[+]' : '[-]'} ${e.service}: ${textOf(e)}`;
}
