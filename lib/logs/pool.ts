// Buffers (by size class: powers of two) and offset arrays (by length) that
// segments gave back, for the next segment that grows, shrinks or starts. A ring that
// evicts as fast as it takes in then allocates nothing the garbage collector
// must find: evicted segments' memory would otherwise wait for a full
// collection, piling up meanwhile. Holds no lines and knows no segments.

/** The smallest class: a new segment's first buffer. */
export const MIN_CLASS = 256;
/** Of each class, at most this many wait; and this many offset arrays. */
const PER_CLASS = 2;
/** An offset array serves a segment for up to this much fewer lines. */
const OFFSETS_SLACK = 1.125;

/** The size class for `n`: the least power of two at least n and `min`. */
export function classOf(n: number, min = MIN_CLASS): number {
  let c = min;
  while (c < n) c *= 2;
  return c;
}

export class SegmentPool {
  private readonly bufs = new Map<number, Buffer[]>();
  private offs: Uint16Array[] = [];
  /** Bytes waiting in the pool. */
  memory = 0;

  /**
   * For segments of at most `size` bytes (a power of two), keeping at most
   * `max` bytes.
   */
  constructor(
    readonly size: number,
    private readonly max: number,
  ) {}

  /** A buffer of `size` bytes: pooled when `size` is a class. */
  buffer(size: number): Buffer {
    const b = this.bufs.get(size)?.pop();
    if (!b) return Buffer.allocUnsafeSlow(size);
    this.memory -= b.byteLength;
    return b;
  }

  /** An offset array of `length` entries, or a few more. */
  offsets(length: number): Uint16Array {
    if (length < 64) return new Uint16Array(length);
    const i = this.offs.findLastIndex(
      (a) => a.length >= length && a.length <= length * OFFSETS_SLACK,
    );
    if (i === -1) return new Uint16Array(length);
    const a = this.offs.splice(i, 1)[0] as Uint16Array;
    this.memory -= a.byteLength;
    return a;
  }

  /** Take back a buffer of a class size; others go to the garbage collector. */
  give(buf: Buffer): void {
    const n = buf.byteLength;
    if (n >= MIN_CLASS && n <= this.size && classOf(n) === n) this.keep(n, buf);
  }

  /** Take back an offset array; the most recent are kept. */
  giveOffsets(a: Uint16Array | Uint32Array): void {
    // Small arrays live in V8's heap, where they cost the collector little.
    if (!(a instanceof Uint16Array) || a.length < 64 || this.memory + a.byteLength > this.max) {
      return;
    }
    this.offs.push(a);
    this.memory += a.byteLength;
    if (this.offs.length > PER_CLASS) this.memory -= (this.offs.shift() as Uint16Array).byteLength;
  }

  private keep(n: number, b: Buffer): void {
    if (this.memory + b.byteLength > this.max) return;
    let list = this.bufs.get(n);
    if (!list) {
      list = [];
      this.bufs.set(n, list);
    }
    if (list.length >= PER_CLASS) return;
    list.push(b);
    this.memory += b.byteLength;
  }
}
