// One service's share of the ring: its segments oldest first (only the last
// takes new lines), what it holds in text, lines and memory, and a record of
// what it lost, so a follower can be told exactly how many of its lines it
// missed. Knows nothing of the budget (the ring decides when and whom to
// evict) or of followers.

import type { LogStream } from '../core/logline.js';
import type { SegmentPool } from './pool.js';
import { type Lines, Segment, streamOf } from './segment.js';

/** Eviction records kept per service, for telling followers exactly what they missed. */
const EVICTION_RECORDS = 4096;

interface Eviction {
  readonly stream: LogStream;
  /** Seq of the first and last evicted line: a contiguous range. */
  readonly first: number;
  last: number;
  /** The service's evicted-line total after this record. */
  total: number;
}

/** Lines [from, to) of a segment, just appended. */
export interface Piece {
  readonly seg: Segment;
  readonly from: number;
  readonly to: number;
}

export class ServiceLog {
  segs: Segment[] = [];
  head = 0;
  /** The segment taking new lines; null until the next line opens one. */
  private open: Segment | null = null;
  /** Lines the last full segment held: room for as many in the next. */
  private filled = 0;
  /** Text held: each line's bytes and its newline. */
  bytes = 0;
  lines = 0;
  /** Memory its segments take: text, line ends, run records, room, evicted bytes. */
  memory = 0;
  evictedTotal = 0;
  evictions: Eviction[] = [];
  constructor(
    readonly name: string,
    private readonly pool: SegmentPool,
  ) {}

  get live(): number {
    return this.segs.length - this.head;
  }

  /** What it holds besides its text. */
  get meta(): number {
    return this.memory - this.bytes;
  }

  /**
   * Lines [0, count), from `seq` on, into the open segment and as many new
   * ones as they need.
   * Returns the time they were given (`time`, or within its millisecond the
   * time of the lines they joined); each piece stored goes to `pieces`.
   */
  append(
    lines: Lines,
    count: number,
    seq: number,
    time: number,
    tag: number,
    pieces: Piece[] | null,
  ): number {
    for (let from = 0; from < count;) {
      const seg = this.open ?? this.newSegment(lines.offs, from, count);
      const before = seg.memory;
      const to = seg.append(lines, from, count, seq + from, time, tag);
      if (to === from) {
        seg.seal();
        this.open = null;
        this.filled = seg.count;
      } else {
        pieces?.push({ seg, from: seg.count - (to - from), to: seg.count });
        // A chunk's lines share one time: the run's, which they may have joined.
        time = seg.time(seg.runCount - 1);
        this.bytes += seg.bytes(seg.count - (to - from), seg.count);
        this.lines += to - from;
        from = to;
      }
      this.memory += seg.memory - before;
    }
    return time;
  }

  private newSegment(offs: Uint32Array, from: number, count: number): Segment {
    const first = (offs[2 * from + 1] as number) - (offs[2 * from] as number) + 1;
    // At most their span and a newline each.
    const want = (offs[2 * count - 1] as number) - (offs[2 * from] as number) + (count - from);
    const seg = new Segment(this.name, this.pool, first, want, this.filled);
    this.segs.push(seg);
    this.open = seg;
    this.memory += seg.memory;
    return seg;
  }

  /**
   * Evict from the oldest run: the fewest lines that free `needBytes` of text
   * and `needLines` lines, or the whole run (always, when `wholeRun`).
   */
  evictHead(needBytes: number, needLines: number, wholeRun: boolean): void {
    const seg = this.segs[this.head] as Segment;
    const r = seg.startRun;
    const from = seg.start;
    const end = seg.runEnd(r);
    const i = wholeRun ? end : seg.fewest(from, end, needBytes, needLines);
    const bytes = seg.bytes(from, i);
    const first = seg.seq(r, from);
    const stream = streamOf(seg.tag(r));
    const before = seg.memory;
    seg.evictTo(i);
    if (seg.start === seg.count) {
      this.dropHead();
      this.memory -= before;
    } else {
      seg.compact();
      this.memory -= before - seg.memory;
    }
    const lines = i - from;
    this.bytes -= bytes;
    this.lines -= lines;
    this.evictedTotal += lines;
    this.recordEviction(stream, first, first + lines - 1);
  }

  private dropHead(): void {
    const seg = this.segs[this.head] as Segment;
    if (seg === this.open) this.open = null;
    seg.release();
    this.segs[this.head] = undefined as unknown as Segment;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.segs.length) {
      this.segs = this.segs.slice(this.head);
      this.head = 0;
    }
  }

  /** Index of the first live segment with lastSeq >= seq (segs.length if none). */
  findFrom(seq: number): number {
    let lo = this.head;
    let hi = this.segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.segs[mid] as Segment).lastSeq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A range evicted just now: it extends the last record when it continues it. */
  private recordEviction(stream: LogStream, first: number, last: number): void {
    const prev = this.evictions.at(-1);
    if (prev && prev.stream === stream && prev.last + 1 === first) {
      prev.last = last;
      prev.total = this.evictedTotal;
      return;
    }
    this.evictions.push({ stream, first, last, total: this.evictedTotal });
    if (this.evictions.length > 2 * EVICTION_RECORDS) {
      this.evictions = this.evictions.slice(-EVICTION_RECORDS);
    }
  }

  /**
   * Evicted lines of this service with seq in [from, until), of the selected
   * streams, among those evicted after the service's total was `seenTotal`.
   */
  evictedSince(
    from: number,
    streams: ReadonlySet<LogStream> | null,
    seenTotal: number,
    until = Infinity,
  ): number {
    let n = 0;
    for (let i = this.evictions.length - 1; i >= 0; i--) {
      const e = this.evictions[i] as Eviction;
      if (e.total <= seenTotal) break;
      if (e.last < from) break;
      if (streams !== null && !streams.has(e.stream)) continue;
      // Only the part of the record evicted after seenTotal, within [from, until).
      const newInRecord = Math.min(e.last - e.first + 1, e.total - seenTotal);
      const lo = Math.max(e.last - newInRecord + 1, from);
      const hi = Math.min(e.last, until - 1);
      if (hi >= lo) n += hi - lo + 1;
    }
    return n;
  }
}

/** Where a reader is in one service's lines: a segment, a run in it, a line. */
export class Cursor {
  private p: number;
  r = 0;
  i = 0;

  /** At the first kept line with seq >= `seq`. */
  constructor(
    private readonly log: ServiceLog,
    seq: number,
  ) {
    this.p = log.findFrom(seq);
    const seg = this.seg;
    if (!seg) return;
    this.r = seg.findRun(seq);
    const first = seg.runFirst(this.r);
    this.i = Math.max(seg.start, first + Math.max(0, seq - seg.seq(this.r, first)));
  }

  get seg(): Segment | undefined {
    return this.log.segs[this.p];
  }

  /** The seq of the line it is at; Infinity past the last one. */
  get seq(): number {
    const seg = this.seg;
    return seg ? seg.seq(this.r, this.i) : Infinity;
  }

  get runEnd(): number {
    return (this.seg as Segment).runEnd(this.r);
  }

  /** On to the next run, in this segment or the next. */
  nextRun(): void {
    const seg = this.seg as Segment;
    if (this.r + 1 < seg.runCount) {
      this.r++;
      this.i = seg.runFirst(this.r);
      return;
    }
    this.p++;
    const next = this.seg;
    if (next) {
      this.r = next.startRun;
      this.i = next.start;
    }
  }
}
