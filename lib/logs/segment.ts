// A segment: consecutive lines of one service, packed. Their bytes (each
// line followed by one newline) in a buffer that doubles up to the ring's
// segment size, where each line ends in a 16-bit array, and a 12-byte record
// per run of lines that share a stream, a process run, a millisecond and
// consecutive sequence numbers: no object per line or per chunk. Its arrays
// come from and go back to a pool (pool.ts). Knows nothing of budgets,
// services or readers, and never lends out its bytes: readers get copies.

import type { LogStream } from '../core/logline.js';
import { type SegmentPool, classOf } from './pool.js';

/** The most a segment's size may be, so that its line ends fit in 16 bits. */
export const MAX_SEGMENT_BYTES = 32 * 1024;
/**
 * What a segment costs in memory besides its arrays' contents: the segment
 * object, its arrays' objects and allocations (measured with
 * `process.memoryUsage()` over many segments).
 */
export const SEGMENT_OVERHEAD = 920;

/**
 * A run record is three 32-bit words: its first line (low 16 bits) and its
 * tag's index in the segment's tag list (high 16), its first line's seq
 * from the segment's base, its time from the segment's base in microseconds.
 */
const RUN = 3;
/** How far past its base a segment's seqs and times (in µs) may go: 32 bits. */
const SPAN = 0xffffffff;
const STREAMS: readonly LogStream[] = ['stdout', 'stderr', 'test', 'event'];
const STREAM_CODE: Readonly<Record<LogStream, number>> = {
  stdout: 0,
  stderr: 1,
  test: 2,
  event: 3,
};

/** A run's stream and process run in one number. */
export function tagOf(stream: LogStream, run: number): number {
  return run * 4 + STREAM_CODE[stream];
}

export function streamOf(tag: number): LogStream {
  return STREAMS[tag % 4] as LogStream;
}

export function runOf(tag: number): number {
  return Math.floor(tag / 4);
}

/** Lines to copy in: line i is src[offs[2i], offs[2i+1]); `plain` when each is followed by just a newline. */
export interface Lines {
  readonly src: Buffer;
  readonly offs: Uint32Array;
  readonly plain: boolean;
}

export class Segment {
  /** Lines' bytes, each followed by a newline; `used` of them are taken. */
  buf: Buffer;
  used = 0;
  /** ends[i] is where line i's newline ends: where line i + 1 begins. */
  ends: Uint16Array | Uint32Array;
  count = 0;
  /** Index of the first line still kept; lines before it were evicted. */
  start = 0;
  /** The run holding line `start`. */
  startRun = 0;
  /** RUN words per run: first line and tag index, seq from baseSeq, time from baseTime in µs. */
  runs = new Uint32Array(2 * RUN);
  runCount = 0;
  /** Distinct tags (stream and process run) of its runs: a few. */
  private tags: number[] = [];
  private baseSeq = 0;
  private baseTime = 0;
  /** Bytes held in memory for it, whether kept, evicted, or room to grow. */
  memory = 0;
  /** How large the buffer may grow: the pool's size, or one longer line's. */
  private readonly limit: number;
  private readonly wide: boolean;

  /**
   * For lines the first of which takes `first` bytes, and all `bytes`; room
   * for the ends of `lines` lines (as many as the service's last segment held).
   */
  constructor(
    readonly service: string,
    private readonly pool: SegmentPool,
    first: number,
    bytes: number,
    lines: number,
  ) {
    this.limit = Math.max(pool.size, first);
    this.wide = this.limit > 0xffff;
    this.buf = this.allocate(Math.min(this.limit, Math.max(bytes, first)));
    this.ends = this.wide ? new Uint32Array(4) : this.pool.offsets(Math.max(16, lines));
    this.recount();
  }

  /** A buffer for `bytes`: of its class while that is within the pool's size. */
  private allocate(bytes: number): Buffer {
    const c = classOf(bytes);
    return this.pool.buffer(c <= this.pool.size ? c : bytes);
  }

  /** Its arrays back to the pool: the segment is gone. */
  release(): void {
    this.pool.give(this.buf);
    this.pool.giveOffsets(this.ends);
  }

  /** Its arrays are new: count what it holds again. */
  private recount(): void {
    this.memory =
      this.buf.byteLength + this.ends.byteLength + this.runs.byteLength + SEGMENT_OVERHEAD;
  }

  /** Bytes of lines [from, to), newlines included. */
  bytes(from: number, to: number): number {
    return this.offset(to) - this.offset(from);
  }

  /** Where line i begins. */
  offset(i: number): number {
    return i === 0 ? 0 : (this.ends[i - 1] as number);
  }

  /** A copy of line i's bytes: the buffer is reused once the segment goes. */
  line(i: number): Buffer {
    const from = this.offset(i);
    const to = (this.ends[i] as number) - 1;
    const out = Buffer.allocUnsafe(to - from);
    this.buf.copy(out, 0, from, to);
    return out;
  }

  runFirst(r: number): number {
    return (this.runs[r * RUN] as number) & 0xffff;
  }

  /** One past the last line of run r. */
  runEnd(r: number): number {
    return r + 1 < this.runCount ? this.runFirst(r + 1) : this.count;
  }

  /** The seq of line i, which run r holds. */
  seq(r: number, i: number): number {
    return this.baseSeq + (this.runs[r * RUN + 1] as number) + (i - this.runFirst(r));
  }

  /** When run r was read: epoch ms, to the microsecond. */
  time(r: number): number {
    return this.baseTime + (this.runs[r * RUN + 2] as number) / 1000;
  }

  tag(r: number): number {
    return this.tags[(this.runs[r * RUN] as number) >>> 16] as number;
  }

  get firstSeq(): number {
    return this.seq(this.startRun, this.start);
  }

  get lastSeq(): number {
    return this.seq(this.runCount - 1, this.count - 1);
  }

  /** The first run at or after `startRun` with a line at or after `seq`. */
  findRun(seq: number): number {
    let lo = this.startRun;
    let hi = this.runCount - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seq(mid, this.runEnd(mid) - 1) < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Take lines [from, to), as many as fit; the first gets `seq`, the next
   * ones the following numbers. Returns the index after the last line taken.
   */
  append(lines: Lines, from: number, to: number, seq: number, time: number, tag: number): number {
    const { src, offs } = lines;
    const first = (offs[2 * from + 1] as number) - (offs[2 * from] as number) + 1;
    if (this.used + first > this.limit || !this.startRunAt(seq, time, tag)) return from;
    // Room for all if they fit: their span in src, and a newline each if not plain.
    const start = offs[2 * from] as number;
    const span = (offs[2 * to - 1] as number) + 1 - start + (lines.plain ? 0 : to - from);
    const bytes = Math.min(this.limit, this.used + span);
    if (bytes > this.buf.byteLength) this.moveTo(this.allocate(bytes), 0);
    return lines.plain ? this.copyPlain(src, offs, from, to) : this.copyLines(src, offs, from, to);
  }

  /** Lines each followed by just a newline, so back to back in src: one copy. */
  private copyPlain(src: Buffer, offs: Uint32Array, from: number, to: number): number {
    const start = offs[2 * from] as number;
    const room = this.buf.byteLength - this.used + start;
    // The last line that ends (its newline included) within the room.
    let end = to;
    if ((offs[2 * to - 1] as number) + 1 > room) {
      let lo = from + 1;
      while (lo < end) {
        const mid = (lo + end + 1) >>> 1;
        if ((offs[2 * mid - 1] as number) + 1 <= room) lo = mid;
        else end = mid - 1;
      }
      end = lo;
    }
    const n = end - from;
    if (this.count + n > this.ends.length)
      this.moveEndsTo(Math.max(this.count + n, 2 * this.count));
    const base = this.used - start + 1;
    for (let i = 0; i < n; i++)
      this.ends[this.count + i] = (offs[2 * (from + i) + 1] as number) + base;
    this.used += src.copy(this.buf, this.used, start, (offs[2 * end - 1] as number) + 1);
    this.count += n;
    return end;
  }

  /**
   * A new run for lines from `seq` on, unless they continue the last one
   * (same tag, the next seq, the same millisecond). False when its record
   * cannot say it (too far from the segment's bases, too many tags).
   */
  private startRunAt(seq: number, time: number, tag: number): boolean {
    const r = this.runCount - 1;
    if (r === -1) {
      this.baseSeq = seq;
      this.baseTime = time;
    } else if (
      this.tag(r) === tag &&
      this.seq(r, this.count) === seq &&
      Math.floor(this.time(r)) === Math.floor(time)
    ) {
      return true;
    }
    let t = this.tags.indexOf(tag);
    const dSeq = seq - this.baseSeq;
    const dTime = Math.round((time - this.baseTime) * 1000);
    if (dSeq > SPAN || dTime > SPAN || this.count > 0xffff) return false;
    if (t === -1 && this.tags.length > 0xffff) return false;
    if (t === -1) t = this.tags.push(tag) - 1;
    if ((this.runCount + 1) * RUN > this.runs.length) {
      const runs = new Uint32Array(this.runs.length * 2);
      runs.set(this.runs);
      this.runs = runs;
      this.recount();
    }
    const at = this.runCount * RUN;
    this.runs[at] = ((t << 16) | this.count) >>> 0;
    this.runs[at + 1] = dSeq;
    this.runs[at + 2] = dTime;
    this.runCount++;
    return true;
  }

  /**
   * Copy in as many lines as the buffer has room for; returns the index after
   * the last. A line followed in `src` by just a newline is copied with it,
   * and neighbours like it in one go; any other line (one cut at the maximum,
   * one that ended in CRLF or was never ended) gets its newline here.
   */
  private copyLines(src: Buffer, offs: Uint32Array, from: number, to: number): number {
    let pending = -1; // start in src of the lines not yet copied, all newline-ended
    let pendingEnd = 0;
    const room = this.buf.byteLength;
    let i = from;
    for (; i < to; i++) {
      const s = offs[2 * i] as number;
      const e = offs[2 * i + 1] as number;
      const taken = pending === -1 ? this.used : this.used + (pendingEnd - pending);
      if (taken + (e - s) + 1 > room) break;
      if (this.count === this.ends.length) this.moveEndsTo(2 * this.count);
      const plain = e < src.length && src[e] === 10;
      if (pending !== -1 && (!plain || s !== pendingEnd)) {
        this.used += src.copy(this.buf, this.used, pending, pendingEnd);
        pending = -1;
      }
      if (plain) {
        if (pending === -1) pending = s;
        pendingEnd = e + 1;
        this.ends[this.count++] = this.used + (pendingEnd - pending);
      } else {
        this.used += src.copy(this.buf, this.used, s, e);
        this.buf[this.used++] = 10;
        this.ends[this.count++] = this.used;
      }
    }
    if (pending !== -1) this.used += src.copy(this.buf, this.used, pending, pendingEnd);
    return i;
  }

  /** Its kept bytes from `dead` on into `buf`; the old buffer to the pool. */
  private moveTo(buf: Buffer, dead: number): void {
    this.buf.copy(buf, 0, dead, this.used);
    this.pool.give(this.buf);
    this.buf = buf;
    this.used -= dead;
    this.recount();
  }

  /** Line ends into an array for `lines`. */
  private moveEndsTo(lines: number): void {
    const ends = this.wide ? new Uint32Array(lines) : this.pool.offsets(lines);
    ends.set(this.ends.subarray(0, this.count));
    this.pool.giveOffsets(this.ends);
    this.ends = ends;
    this.recount();
  }

  /**
   * One past the fewest lines from `from` on, up to `end`, that hold
   * `bytes` bytes (newlines included) and `lines` lines; `end` if none do.
   */
  fewest(from: number, end: number, bytes: number, lines: number): number {
    const target = this.offset(from) + bytes;
    let lo = Math.min(end, from + Math.max(1, lines));
    let hi = end;
    if (this.offset(lo) >= target || this.offset(hi) < target) {
      return this.offset(lo) >= target ? lo : end;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offset(mid) >= target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Forget lines before `i` (the caller has counted them). */
  evictTo(i: number): void {
    this.start = i;
    while (this.startRun < this.runCount - 1 && this.runEnd(this.startRun) <= i) this.startRun++;
  }

  /** Copy out what is still kept once most of the buffer is evicted, so its memory goes. */
  compact(): void {
    const dead = this.offset(this.start);
    if (this.buf.byteLength < 4096 || dead * 2 < this.buf.byteLength) return;
    const lines = this.count - this.start;
    // In place: a new array for fewer lines would be garbage at every compaction.
    this.ends.copyWithin(0, this.start, this.count);
    for (let i = 0; i < lines; i++) this.ends[i] = (this.ends[i] as number) - dead;
    this.moveTo(this.allocate(this.used - dead), dead);
    const runCount = this.runCount - this.startRun;
    const runs = this.runs.slice(this.startRun * RUN, this.runCount * RUN);
    runs[1] = this.firstSeq - this.baseSeq;
    for (let r = 0; r < runCount; r++) {
      const w = runs[r * RUN] as number;
      runs[r * RUN] = (w & 0xffff0000) | Math.max(0, (w & 0xffff) - this.start);
    }
    this.count = lines;
    this.runs = runs;
    this.runCount = runCount;
    this.start = 0;
    this.startRun = 0;
    this.recount();
  }

  /** No more lines will come: give back the room left to grow. */
  seal(): void {
    const c = classOf(this.used);
    const fit = c <= this.pool.size ? c : this.used;
    if (fit < this.buf.byteLength && this.buf.byteLength - this.used > this.used / 16) {
      this.moveTo(this.pool.buffer(fit), 0);
    }
    if (this.ends.length - this.count > this.count / 8) this.moveEndsTo(this.count);
    if (this.runs.length > 2 * this.runCount * RUN) {
      this.runs = this.runs.slice(0, this.runCount * RUN);
      this.recount();
    }
  }
}
