// The daemon's log: every line of every service (stdout, stderr, health test
// output, and the daemon's own lifecycle events about it) in one bounded ring
// with a daemon-wide sequence number. Reading and following share that number
// as a cursor, so a snapshot followed by a follow loses and repeats nothing.
// Owns no processes or sockets: callers feed it lines and take lines out.

import type { LogLine, LogQuery, LogStream } from './wire.js';

export interface LogEntry {
  readonly seq: number;
  /** Epoch ms with sub-millisecond precision. */
  readonly time: number;
  readonly service: string;
  readonly stream: LogStream;
  readonly run: number;
  /** Bytes as the service wrote them (decoded only for display), or daemon text. */
  readonly data: Buffer | string;
}

export type Follower = (entry: LogEntry) => void;

export const DEFAULT_LOG_BYTES = 8 * 1024 * 1024;
export const MIN_LOG_BYTES = 64 * 1024;
const ENTRY_OVERHEAD = 64;

function sizeOf(data: Buffer | string): number {
  return (typeof data === 'string' ? data.length : data.byteLength) + ENTRY_OVERHEAD;
}

function matches(names: ReadonlySet<string> | null, e: LogEntry): boolean {
  return names === null || names.has(e.service);
}

export class LogStore {
  // A deque: entries[head..] are live; the dead prefix is dropped in bulk.
  private entries: LogEntry[] = [];
  private head = 0;
  private bytes = 0;
  private nextSeq = 1;
  private readonly followers = new Set<{ names: ReadonlySet<string> | null; fn: Follower }>();
  private readonly maxBytes: number;

  constructor(maxBytes = DEFAULT_LOG_BYTES) {
    this.maxBytes = Math.max(MIN_LOG_BYTES, maxBytes);
  }

  get size(): number {
    return this.entries.length - this.head;
  }

  /** The seq the next line will get: a cursor meaning "from now on". */
  get cursor(): number {
    return this.nextSeq;
  }

  append(service: string, stream: LogStream, run: number, data: Buffer | string): LogEntry {
    const entry: LogEntry = {
      seq: this.nextSeq++,
      time: performance.timeOrigin + performance.now(),
      service,
      stream,
      run,
      data,
    };
    this.entries.push(entry);
    this.bytes += sizeOf(data);
    this.evict();
    for (const f of this.followers) {
      if (matches(f.names, entry)) f.fn(entry);
    }
    return entry;
  }

  private evict(): void {
    while (this.bytes > this.maxBytes && this.head < this.entries.length - 1) {
      const old = this.entries[this.head++];
      if (old) this.bytes -= sizeOf(old.data);
    }
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Buffered lines matching the query, oldest first, and the cursor to continue from. */
  read(query: LogQuery): { entries: LogEntry[]; next: number } {
    const names = query.names && query.names.length > 0 ? new Set(query.names) : null;
    const from = query.from ?? 0;
    const out: LogEntry[] = [];
    const limit = query.n ?? Infinity;
    // Walk backwards so `n` costs only what it returns.
    for (let i = this.entries.length - 1; i >= this.head && out.length < limit; i--) {
      const e = this.entries[i];
      if (!e || e.seq < from) break;
      if (matches(names, e)) out.push(e);
    }
    out.reverse();
    return { entries: out, next: this.nextSeq };
  }

  /**
   * Deliver the lines the query selects from the buffer, then every new
   * matching line, synchronously and in order. Returns the unsubscribe.
   */
  follow(query: LogQuery, fn: Follower): () => void {
    const names = query.names && query.names.length > 0 ? new Set(query.names) : null;
    if (query.n !== 0 || query.from !== undefined) {
      for (const e of this.read(query).entries) fn(e);
    }
    const sub = { names, fn };
    this.followers.add(sub);
    return () => {
      this.followers.delete(sub);
    };
  }

  get followerCount(): number {
    return this.followers.size;
  }
}

export function textOf(e: LogEntry): string {
  return typeof e.data === 'string' ? e.data : e.data.toString('utf8');
}

export function toWire(e: LogEntry): LogLine {
  return {
    seq: e.seq,
    time: new Date(e.time).toISOString(),
    service: e.service,
    stream: e.stream,
    run: e.run,
    text: textOf(e),
  };
}

/** zinit's rendering: `[+] name: text` for stdout, `[-] name: text` otherwise. */
export function zinitLine(e: LogEntry): string {
  return `${e.stream === 'stdout' ? '[+]' : '[-]'} ${e.service}: ${textOf(e)}`;
}

export const MAX_LINE = 64 * 1024;

/**
 * Splits a byte stream into lines without decoding it. A line longer than
 * `max` is cut into pieces of `max` bytes rather than buffered without bound.
 */
export class LineSplitter {
  private partial: Buffer | null = null;
  constructor(private readonly max = MAX_LINE) {}

  push(chunk: Buffer, emit: (line: Buffer) => void): void {
    let buf = this.partial ? Buffer.concat([this.partial, chunk]) : chunk;
    this.partial = null;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl === -1) break;
      let end = nl;
      if (end > start && buf[end - 1] === 13) end--;
      this.emitBounded(buf.subarray(start, end), emit);
      start = nl + 1;
    }
    if (start < buf.length) {
      buf = buf.subarray(start);
      while (buf.length >= this.max) {
        emit(Buffer.from(buf.subarray(0, this.max)));
        buf = buf.subarray(this.max);
      }
      // Copy so the chunk it came from can be collected.
      this.partial = buf.length > 0 ? Buffer.from(buf) : null;
    }
  }

  private emitBounded(line: Buffer, emit: (line: Buffer) => void): void {
    for (let i = 0; i < line.length; i += this.max) {
      emit(Buffer.from(line.subarray(i, Math.min(line.length, i + this.max))));
    }
    if (line.length === 0) emit(Buffer.alloc(0));
  }

  /** The final line without a newline, if any. */
  flush(emit: (line: Buffer) => void): void {
    if (this.partial) emit(this.partial);
    this.partial = null;
  }
}
