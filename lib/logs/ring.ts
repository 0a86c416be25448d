// The daemon's log: every line of every service (stdout, stderr, health test
// output, and the daemon's own lifecycle events about it) in one bounded ring
// with a daemon-wide sequence number. Reading and following share that number
// as a cursor, so a snapshot followed by a follow loses and repeats nothing.
// Owns no processes, files or sockets: callers feed it bytes and take lines out.
//
// Storage is per service: a queue of segments, each one chunk read from a pipe
// (its bytes kept as read, plus the offsets of its lines). A chunk's lines are
// appended at once, so they get consecutive sequence numbers and one
// timestamp; capture costs a scan for newlines, not an object per line. When
// the ring is over budget, lines go from the head of the service holding the
// most, so a chatty service evicts its own history before anyone else's.
// Readers merge the queues by sequence number.
//
// Capture (capture.ts) feeds it; rendering (render.ts) and sizes (limits.ts)
// are beside it.

import type { LogQuery, LogStream } from '../core/logline.js';
import { DEFAULT_LOG_BYTES, type LogLimits, MIN_LOG_BYTES, MIN_LOG_LINES } from './limits.js';

// Other layers took these from here before the split; they stay reachable.
export { textOf, toWire, zinitLine } from './render.js';

export interface LogEntry {
  readonly seq: number;
  /** Epoch ms with sub-millisecond precision: when the daemon read the line. */
  readonly time: number;
  readonly service: string;
  readonly stream: LogStream;
  readonly run: number;
  /** Bytes as the service wrote them (decoded only for display), or daemon text. */
  readonly data: Buffer | string;
}

export type Follower = (entry: LogEntry) => void;

/** What a follow delivers to. Only `line` is required. */
export interface FollowSink {
  line(entry: LogEntry): void;
  /** Lines this follower will never see: evicted before it got to them. */
  dropped?(count: number): void;
  /** True while the reader cannot take more: delivery pauses and lines wait in the ring. */
  congested?(): boolean;
}

/** What a line costs besides its bytes (its offsets and a share of its segment). */
export const LINE_COST = 16;
const SEGMENT_COST = 128;
/** Lines a catching-up follower is sent per turn of the event loop. */
const FOLLOW_BATCH = 2000;
/** While a follower is congested, how often to look whether it has drained. */
const CONGESTED_POLL_MS = 10;
/** Eviction records kept per service, for telling followers exactly what they missed. */
const EVICTION_RECORDS = 4096;

function now(): number {
  return performance.timeOrigin + performance.now();
}

// --- storage -----------------------------------------------------------------------

/** Lines from one chunk of one stream: consecutive sequence numbers, one time. */
export class Segment {
  /** Index of the first line still kept; lines before it were evicted. */
  start = 0;
  constructor(
    readonly service: string,
    readonly stream: LogStream,
    readonly run: number,
    readonly time: number,
    readonly firstSeq: number,
    readonly count: number,
    /** The bytes; line i is buf[offs[2i], offs[2i+1]). */
    public buf: Buffer,
    public offs: Uint32Array,
  ) {}

  get lastSeq(): number {
    return this.firstSeq + this.count - 1;
  }

  lineLength(i: number): number {
    return (this.offs[2 * i + 1] ?? 0) - (this.offs[2 * i] ?? 0);
  }

  /**
   * What lines [from, to) cost the budget: their bytes with separators, and
   * LINE_COST each. Arithmetic on offsets, not a loop over lines.
   */
  cost(from: number, to: number): number {
    const startOf = (i: number): number =>
      i < this.count ? (this.offs[2 * i] ?? 0) : (this.offs[2 * this.count - 1] ?? 0) + 1;
    return startOf(to) - startOf(from) + (to - from) * LINE_COST;
  }

  line(i: number): Buffer {
    return this.buf.subarray(this.offs[2 * i], this.offs[2 * i + 1]);
  }

  entry(i: number): LogEntry {
    return {
      seq: this.firstSeq + i,
      time: this.time,
      service: this.service,
      stream: this.stream,
      run: this.run,
      data: this.line(i),
    };
  }

  /** Copy out what is still kept once most of the buffer is evicted, so its memory goes. */
  compact(): void {
    const from = this.offs[2 * this.start] ?? 0;
    const to = this.offs[2 * this.count - 1] ?? 0;
    if (this.buf.byteLength < 4096 || from * 2 < this.buf.byteLength) return;
    this.buf = Buffer.from(this.buf.subarray(from, to));
    const offs = new Uint32Array(2 * this.count);
    for (let i = 2 * this.start; i < 2 * this.count; i++) offs[i] = (this.offs[i] ?? 0) - from;
    this.offs = offs;
  }
}

interface Eviction {
  readonly stream: LogStream;
  /** Seq of the first and last evicted line: a contiguous range. */
  readonly first: number;
  readonly last: number;
  /** The service's evicted-line total after this record. */
  readonly total: number;
}

class ServiceLog {
  segs: Segment[] = [];
  head = 0;
  bytes = 0;
  lines = 0;
  evictedTotal = 0;
  evictions: Eviction[] = [];
  constructor(readonly name: string) {}

  get live(): number {
    return this.segs.length - this.head;
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

  recordEviction(e: Eviction): void {
    this.evictions.push(e);
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

/** A query with its parts parsed once. */
interface Selection {
  readonly names: ReadonlySet<string> | null;
  readonly streams: ReadonlySet<LogStream> | null;
  readonly since: number;
}

/** Epoch ms from a query's `since` (epoch ms, or a date string); NaN when unreadable. */
export function sinceMs(since: number | string | undefined): number {
  if (since === undefined) return -Infinity;
  if (typeof since === 'number') return since;
  return /^\d+(\.\d+)?$/.test(since.trim()) ? Number(since) : Date.parse(since);
}

function select(q: LogQuery): Selection {
  const since = sinceMs(q.since);
  return {
    names: q.names && q.names.length > 0 ? new Set(q.names) : null,
    streams: q.stream === undefined ? null : new Set([q.stream]),
    since: Number.isNaN(since) ? -Infinity : since,
  };
}

function segMatches(sel: Selection, seg: Segment): boolean {
  return (sel.streams === null || sel.streams.has(seg.stream)) && seg.time >= sel.since;
}

class Subscription {
  live = false;
  closed = false;
  timer: NodeJS.Timeout | null = null;
  immediate: NodeJS.Immediate | null = null;
  /** Per service: its evicted total already accounted for. */
  readonly seen = new Map<string, number>();
  constructor(
    readonly sel: Selection,
    public next: number,
    readonly sink: FollowSink,
  ) {}
}

export class LogStore {
  private readonly services = new Map<string, ServiceLog>();
  private readonly live = new Set<Subscription>();
  private readonly subs = new Set<Subscription>();
  private totalBytes = 0;
  private totalLines = 0;
  private nextSeq = 1;
  readonly limits: LogLimits;

  constructor(limits: number | Partial<LogLimits> = DEFAULT_LOG_BYTES) {
    const l = typeof limits === 'number' ? { maxBytes: limits } : limits;
    this.limits = {
      maxBytes: Math.max(MIN_LOG_BYTES, l.maxBytes ?? DEFAULT_LOG_BYTES),
      maxLines: Math.max(MIN_LOG_LINES, l.maxLines ?? Infinity),
    };
  }

  /** Lines held. */
  get size(): number {
    return this.totalLines;
  }

  /** Bytes held, as the budget counts them. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Lines and bytes one service holds. */
  usage(service: string): { lines: number; bytes: number } {
    const s = this.services.get(service);
    return { lines: s?.lines ?? 0, bytes: s?.bytes ?? 0 };
  }

  /** The seq the next line will get: a cursor meaning "from now on". */
  get cursor(): number {
    return this.nextSeq;
  }

  get followerCount(): number {
    return this.subs.size;
  }

  /** One line (a daemon event, or anything not read from a pipe). */
  append(service: string, stream: LogStream, run: number, data: Buffer | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    this.appendLines(service, stream, run, buf, Uint32Array.of(0, buf.length), 1);
  }

  /**
   * Lines that share one chunk: line i is buf[offs[2i], offs[2i+1]). The
   * store keeps `buf` (no copy), so the caller must not reuse it.
   */
  appendLines(
    service: string,
    stream: LogStream,
    run: number,
    buf: Buffer,
    offs: Uint32Array,
    count: number,
  ): Segment {
    const seg = new Segment(service, stream, run, now(), this.nextSeq, count, buf, offs);
    this.nextSeq += count;
    let log = this.services.get(service);
    if (!log) {
      log = new ServiceLog(service);
      this.services.set(service, log);
    }
    const bytes = SEGMENT_COST + seg.cost(0, count);
    log.segs.push(seg);
    log.bytes += bytes;
    log.lines += count;
    this.totalBytes += bytes;
    this.totalLines += count;
    // Followers first: a line evicted at once (a tiny ring) still reaches live readers.
    if (this.live.size > 0) this.notify(seg);
    this.evict();
    return seg;
  }

  private notify(seg: Segment): void {
    for (const sub of this.live) {
      const { sel } = sub;
      if (sel.names !== null && !sel.names.has(seg.service)) continue;
      if (!segMatches(sel, seg)) continue;
      if (sub.sink.congested?.()) {
        // Stop pushing; the lines wait in the ring and are sent when it drains.
        this.live.delete(sub);
        sub.live = false;
        sub.next = seg.firstSeq;
        this.schedule(sub, CONGESTED_POLL_MS);
        continue;
      }
      for (let i = 0; i < seg.count; i++) sub.sink.line(seg.entry(i));
      sub.next = seg.lastSeq + 1;
    }
  }

  private evict(): void {
    const { maxBytes, maxLines } = this.limits;
    while (this.totalBytes > maxBytes || this.totalLines > maxLines) {
      const byLines = this.totalBytes <= maxBytes;
      // The service holding the most gives up its oldest lines.
      let victim: ServiceLog | null = null;
      for (const s of this.services.values()) {
        if (s.live === 0) continue;
        if (victim === null || (byLines ? s.lines > victim.lines : s.bytes > victim.bytes)) {
          victim = s;
        }
      }
      if (victim === null) return;
      this.evictFrom(victim);
    }
  }

  /** Evict from the head segment of `s` until the ring is within budget or the segment is gone. */
  private evictFrom(s: ServiceLog): void {
    const seg = s.segs[s.head] as Segment;
    const { maxBytes, maxLines } = this.limits;
    const from = seg.start;
    const needBytes = this.totalBytes - maxBytes;
    const needLines = this.totalLines - maxLines;
    const enough = (to: number): boolean =>
      seg.cost(from, to) >= needBytes && to - from >= needLines;
    // The fewest lines that bring the ring within budget, or the whole segment.
    let i = seg.count;
    if (enough(seg.count)) {
      let lo = from + 1;
      while (lo < i) {
        const mid = (lo + i) >>> 1;
        if (enough(mid)) i = mid;
        else lo = mid + 1;
      }
    }
    let freed = seg.cost(from, i);
    if (i === seg.count) {
      freed += SEGMENT_COST;
      s.segs[s.head] = undefined as unknown as Segment;
      s.head++;
      if (s.head > 1024 && s.head * 2 > s.segs.length) {
        s.segs = s.segs.slice(s.head);
        s.head = 0;
      }
    } else {
      seg.start = i;
      seg.compact();
    }
    const n = i - from;
    s.bytes -= freed;
    s.lines -= n;
    this.totalBytes -= freed;
    this.totalLines -= n;
    if (n > 0) {
      s.evictedTotal += n;
      s.recordEviction({
        stream: seg.stream,
        first: seg.firstSeq + from,
        last: seg.firstSeq + i - 1,
        total: s.evictedTotal,
      });
    }
  }

  // --- reading -------------------------------------------------------------------------

  private selected(sel: Selection): ServiceLog[] {
    if (sel.names === null) return [...this.services.values()];
    const out: ServiceLog[] = [];
    for (const n of sel.names) {
      const s = this.services.get(n);
      if (s) out.push(s);
    }
    return out;
  }

  /**
   * Visit matching lines with seq in [from, until) in seq order, at most
   * `limit`. Returns the seq to continue from and whether the range is exhausted.
   */
  private scan(
    sel: Selection,
    from: number,
    until: number,
    limit: number,
    visit: (seg: Segment, i: number) => void,
  ): { next: number; done: boolean } {
    const logs = this.selected(sel);
    const pos = logs.map((s) => s.findFrom(from));
    let taken = 0;
    let next = from;
    for (;;) {
      // The service whose current segment comes first; segments never interleave.
      let best = -1;
      let bestSeq = Infinity;
      for (let k = 0; k < logs.length; k++) {
        const s = logs[k] as ServiceLog;
        const p = pos[k] as number;
        if (p >= s.segs.length) continue;
        const seg = s.segs[p] as Segment;
        const first = seg.firstSeq + Math.max(seg.start, from - seg.firstSeq);
        if (first < bestSeq) {
          bestSeq = first;
          best = k;
        }
      }
      if (best === -1 || bestSeq >= until)
        return { next: Math.min(until, this.nextSeq), done: true };
      const s = logs[best] as ServiceLog;
      const seg = s.segs[pos[best] as number] as Segment;
      const end = Math.min(seg.count, until - seg.firstSeq);
      let i = bestSeq - seg.firstSeq;
      if (segMatches(sel, seg)) {
        for (; i < end && taken < limit; i++, taken++) visit(seg, i);
      } else {
        i = end;
      }
      next = seg.firstSeq + i;
      if (taken >= limit) {
        // Done only if nothing matching is left: the caller needs no other round.
        return { next, done: false };
      }
      pos[best] = (pos[best] as number) + 1;
    }
  }

  /** The seq at which the last `n` matching lines at or after `from` begin. */
  private lastNStart(sel: Selection, n: number, from: number): number {
    if (n <= 0) return this.nextSeq;
    const ranges: { last: number; count: number }[] = [];
    for (const s of this.selected(sel)) {
      let have = 0;
      for (let p = s.segs.length - 1; p >= s.head && have < n; p--) {
        const seg = s.segs[p] as Segment;
        if (seg.lastSeq < from || seg.time < sel.since) break;
        if (!segMatches(sel, seg)) continue;
        const count = seg.lastSeq - Math.max(seg.firstSeq + seg.start, from) + 1;
        ranges.push({ last: seg.lastSeq, count });
        have += count;
      }
    }
    ranges.sort((a, b) => b.last - a.last);
    let have = 0;
    for (const r of ranges) {
      if (have + r.count >= n) return r.last - (n - have - 1);
      have += r.count;
    }
    return from;
  }

  /** Where a query starts: its `from`, moved on to cover only the last `n` lines. */
  private startOf(sel: Selection, q: LogQuery): number {
    const from = q.from ?? 0;
    return q.n === undefined ? from : this.lastNStart(sel, q.n, from);
  }

  /**
   * Buffered lines matching the query, oldest first (at most `max`).
   * `next` is the seq to continue from; `end` the cursor when read: the
   * read is complete when `next` reached it.
   */
  read(
    query: LogQuery,
    max = Infinity,
  ): { entries: LogEntry[]; next: number; end: number; dropped: number } {
    const sel = select(query);
    const start = this.startOf(sel, query);
    const until = Math.min(query.until ?? Infinity, this.nextSeq);
    const entries: LogEntry[] = [];
    const { next } = this.scan(sel, start, until, Math.min(max, query.n ?? Infinity), (seg, i) =>
      entries.push(seg.entry(i)),
    );
    // Lines this read skipped over because they were evicted: between `from` and `next`,
    // so reading on page by page never counts a line twice.
    let dropped = 0;
    if (query.from !== undefined) {
      for (const s of this.selected(sel)) {
        dropped += s.evictedSince(query.from, sel.streams, 0, next);
      }
    }
    return { entries, next, end: this.nextSeq, dropped };
  }

  /**
   * Deliver the lines the query selects from the buffer (in batches, a turn
   * of the event loop each), then every new matching line, in seq order, with
   * one cursor: nothing lost, nothing twice. A congested sink pauses delivery;
   * what is evicted before it catches up is reported through `dropped`.
   * Returns the unsubscribe.
   */
  follow(query: LogQuery, sinkOrFn: FollowSink | Follower): () => void {
    const sink: FollowSink = typeof sinkOrFn === 'function' ? { line: sinkOrFn } : sinkOrFn;
    const sel = select(query);
    const start =
      query.n === 0 && query.from === undefined ? this.nextSeq : this.startOf(sel, query);
    const sub = new Subscription(sel, start, sink);
    // Without a cursor the reader asked for what is there: history evicted
    // before now is not news. With one, every line missing after it is.
    if (query.from === undefined) {
      for (const s of this.selected(sel)) sub.seen.set(s.name, s.evictedTotal);
    }
    this.subs.add(sub);
    if (start >= this.nextSeq) {
      sub.live = true;
      this.live.add(sub);
    } else {
      this.schedule(sub, 0);
    }
    return () => {
      sub.closed = true;
      if (sub.timer) clearTimeout(sub.timer);
      if (sub.immediate) clearImmediate(sub.immediate);
      sub.timer = null;
      sub.immediate = null;
      this.live.delete(sub);
      this.subs.delete(sub);
    };
  }

  private schedule(sub: Subscription, ms: number): void {
    if (sub.timer || sub.immediate || sub.closed) return;
    sub.timer = setTimeout(() => {
      sub.timer = null;
      this.catchUp(sub);
    }, ms);
  }

  private catchUp(sub: Subscription): void {
    if (sub.closed) return;
    if (sub.sink.congested?.()) {
      this.schedule(sub, CONGESTED_POLL_MS);
      return;
    }
    let dropped = 0;
    for (const s of this.selected(sub.sel)) {
      const seen = sub.seen.get(s.name) ?? 0;
      if (s.evictedTotal > seen) {
        dropped += s.evictedSince(sub.next, sub.sel.streams, seen);
        sub.seen.set(s.name, s.evictedTotal);
      }
    }
    if (dropped > 0) sub.sink.dropped?.(dropped);
    const { next, done } = this.scan(sub.sel, sub.next, Infinity, FOLLOW_BATCH, (seg, i) =>
      sub.sink.line(seg.entry(i)),
    );
    sub.next = next;
    if (sub.closed) return;
    if (done) {
      // Nothing can be appended between the scan and here: the switch is seamless.
      sub.live = true;
      this.live.add(sub);
    } else {
      sub.immediate = setImmediate(() => {
        sub.immediate = null;
        this.catchUp(sub);
      });
    }
  }
}
