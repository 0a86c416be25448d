// Where log lines go besides the ring: a service's own file (`log: {file,
// max_size, keep}`), rotated by size and reopened after each rotation, or
// sminitd's stdout (`log: stdout`). Writes go through a stream with its own
// buffer and never wait for the disk or the reader: past a backlog limit,
// lines are dropped and counted, and the count is written once the backlog
// clears. A file removed or renamed from outside is noticed at a write (at
// most once a second, never while idle) or a rotation, and opened again at
// its path. Owns the file and its rotation; knows nothing of processes.

import { createWriteStream, fstatSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Chunk } from './capture.js';
import { chunkLineLength, renderChunk } from './render.js';

/** Bytes waiting for the disk (or the reader) before lines are dropped. */
export const DEFAULT_BACKLOG = 8 * 1024 * 1024;

/** A writable that is never waited on: over its backlog, lines are counted, not queued. */
export class BoundedWriter {
  private dropped = 0;
  constructor(
    private readonly out: Writable,
    private readonly maxBacklog = DEFAULT_BACKLOG,
  ) {}

  /** Write `data` (holding `lines` lines); false if it was dropped. */
  write(data: Buffer | string, lines: number): boolean {
    if (this.out.destroyed || this.out.writableLength > this.maxBacklog) {
      this.dropped += lines;
      return false;
    }
    if (this.dropped > 0) {
      this.out.write(`-- ${this.dropped} lines dropped (output backlog) --\n`);
      this.dropped = 0;
    }
    this.out.write(data);
    return true;
  }

  get droppedLines(): number {
    return this.dropped;
  }
}

export interface FileLogOptions {
  /** Absolute path of the live file. */
  readonly path: string;
  /** Rotate before the file would grow past this many bytes. */
  readonly maxSize: number;
  /** Rotated files kept: path.1 (newest) … path.keep. */
  readonly keep: number;
  /** Told once per failure (cannot open, write error), not once per line. */
  readonly onError?: (message: string) => void;
  readonly maxBacklog?: number;
  /** How often a write checks that the file is still at its path (default once a second). */
  readonly checkEveryMs?: number;
}

/** How often, at most, a write checks that the file was not removed or renamed. */
const CHECK_EVERY_MS = 1000;

/**
 * One service's log file. Lines are `TIME STREAM TEXT`, TIME in ISO 8601
 * with milliseconds, TEXT the bytes as the service wrote them. It outlives
 * the service's runs; after `close` the next write opens it again.
 */
export class FileLog {
  private out: BoundedWriter | null = null;
  private stream: Writable | null = null;
  private size = 0;
  private failing = false;
  private lost = 0;
  /** The open file's identity, to tell it from whatever is at its path now. */
  private ino = 0;
  private dev = 0;
  private checkedAt = 0;
  /** Rotations done: for tests and status. */
  rotations = 0;

  constructor(private readonly opts: FileLogOptions) {}

  get path(): string {
    return this.opts.path;
  }

  /** A captured chunk's lines, cut where the file must rotate. */
  chunk(c: Chunk): void {
    const prefix = Buffer.from(`${new Date(c.time).toISOString()} ${c.stream} `);
    if (!this.out) this.open();
    const { maxSize } = this.opts;
    for (let from = 0; from < c.count;) {
      const first = prefix.length + chunkLineLength(c, from) + 1;
      const room = this.size === 0 || this.size + first > maxSize ? maxSize : maxSize - this.size;
      let to = from + 1;
      let size = first;
      for (; to < c.count; to++) {
        const len = prefix.length + chunkLineLength(c, to) + 1;
        if (size + len > room) break;
        size += len;
      }
      this.write(renderChunk(c, prefix, from, to), to - from);
      from = to;
    }
  }

  /** One daemon event about the service. */
  event(text: string, time = Date.now()): void {
    this.write(`${new Date(time).toISOString()} event ${text}\n`, 1);
  }

  write(data: Buffer | string, lines: number): void {
    if (!this.out && !this.open()) {
      this.lost += lines;
      return;
    }
    const len = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.checkStillThere();
    if (this.size > 0 && this.size + len > this.opts.maxSize) this.rotate();
    if (!this.out) {
      this.lost += lines;
      return;
    }
    if (this.lost > 0) {
      const note = `${new Date().toISOString()} event -- ${this.lost} lines lost (log file unavailable) --\n`;
      this.lost = 0;
      this.out.write(note, 1);
      this.size += note.length;
    }
    if (this.out.write(data, lines)) this.size += len;
  }

  close(): void {
    this.stream?.end();
    this.stream = null;
    this.out = null;
  }

  private open(): boolean {
    let fd: number;
    try {
      // Opened at once (not lazily by the stream), so a rotation can never
      // rename the path before the stream has its descriptor.
      fd = openSync(this.opts.path, 'a', 0o640);
      const st = fstatSync(fd);
      this.size = st.size;
      this.ino = st.ino;
      this.dev = st.dev;
    } catch (err) {
      this.fail(`cannot open log file ${this.opts.path}: ${(err as Error).message}`);
      return false;
    }
    const stream = createWriteStream('', { fd, autoClose: true });
    stream.on('error', (err) => {
      this.fail(`log file ${this.opts.path}: ${err.message}`);
      if (this.stream === stream) {
        this.stream = null;
        this.out = null;
      }
      stream.destroy();
    });
    this.stream = stream;
    this.out = new BoundedWriter(stream, this.opts.maxBacklog ?? DEFAULT_BACKLOG);
    this.failing = false;
    return true;
  }

  /**
   * At a write, at most once per interval: if the open file is no longer
   * the one at its path (removed, or renamed by someone else), open the
   * path again, so the log never goes on into a file nobody can see.
   */
  private checkStillThere(): void {
    const now = Date.now();
    if (!this.out || now - this.checkedAt < (this.opts.checkEveryMs ?? CHECK_EVERY_MS)) return;
    this.checkedAt = now;
    if (this.isOpenAtPath()) return;
    this.opts.onError?.(`log file ${this.opts.path} was removed or renamed: opening it again`);
    this.close();
    this.open();
  }

  private isOpenAtPath(): boolean {
    try {
      const st = statSync(this.opts.path);
      return st.ino === this.ino && st.dev === this.dev;
    } catch {
      return false;
    }
  }

  private fail(message: string): void {
    if (this.failing) return;
    this.failing = true;
    this.opts.onError?.(message);
  }

  /**
   * path → path.1 → … → path.keep (the oldest removed), then a fresh path.
   * What is still queued for the old file lands in it: it was written to its
   * descriptor, which the rename does not touch.
   */
  private rotate(): void {
    const { path, keep } = this.opts;
    const ignoreMissing = (fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    };
    try {
      if (keep === 0) {
        ignoreMissing(() => unlinkSync(path));
      } else {
        ignoreMissing(() => unlinkSync(`${path}.${keep}`));
        for (let i = keep - 1; i >= 1; i--) {
          ignoreMissing(() => renameSync(`${path}.${i}`, `${path}.${i + 1}`));
        }
        // Removed from outside: nothing to keep, a fresh file all the same.
        if (this.isOpenAtPath()) renameSync(path, `${path}.1`);
      }
    } catch (err) {
      // The file goes on growing where it is; the next try is a whole
      // max_size later, not at every line.
      this.fail(`cannot rotate log file ${path}: ${(err as Error).message}`);
      this.close();
      if (this.open()) this.size = 0;
      return;
    }
    this.rotations++;
    this.close();
    this.open();
  }
}
