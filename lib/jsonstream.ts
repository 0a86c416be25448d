// Framing of JSON-RPC on a byte stream: finds where each top-level JSON value
// ends, whether values come one per line or back to back with no delimiter
// (zinit's CLI counts braces the same way). Pure: bytes in, frames out.

export type Frame = { kind: 'json'; text: string } | { kind: 'garbage'; text: string };

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const OPEN_A = 0x5b; // [
const CLOSE_A = 0x5d; // ]
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NL = 0x0a;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

export class JsonSplitter {
  private buf: Buffer = Buffer.alloc(0);
  /** Where scanning resumes in buf. */
  private pos = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Inside a value that does not start with { or [: skip to the end of the line. */
  private junk = false;

  /** @param maxFrame bytes one value may take before it is refused */
  constructor(private readonly maxFrame = 8 * 1024 * 1024) {}

  /** Bytes held for a value not yet complete. */
  get pending(): number {
    return this.buf.length;
  }

  /**
   * Feed bytes; returns the complete frames. Throws RangeError when a single
   * value grows past maxFrame (the connection should then be closed).
   */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    let start = 0;
    const buf = this.buf;
    let i = this.pos;
    // Skip whitespace between values.
    const skipSpace = (): void => {
      while (this.depth === 0 && !this.junk && i < buf.length && isSpace(buf[i] as number)) i++;
      if (this.depth === 0 && !this.junk) start = i;
    };
    skipSpace();
    while (i < buf.length) {
      const b = buf[i] as number;
      if (this.junk) {
        if (b === NL) {
          frames.push({ kind: 'garbage', text: buf.toString('utf8', start, i) });
          this.junk = false;
          i++;
          skipSpace();
          continue;
        }
        i++;
        continue;
      }
      if (this.depth === 0) {
        if (b === OPEN || b === OPEN_A) {
          this.depth = 1;
          start = i;
          i++;
          continue;
        }
        this.junk = true;
        start = i;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
        i++;
        continue;
      }
      if (b === QUOTE) this.inString = true;
      else if (b === OPEN || b === OPEN_A) this.depth++;
      else if (b === CLOSE || b === CLOSE_A) {
        this.depth--;
        if (this.depth === 0) {
          frames.push({ kind: 'json', text: buf.toString('utf8', start, i + 1) });
          i++;
          skipSpace();
          continue;
        }
      }
      i++;
    }
    // Keep only the unfinished value.
    this.buf = buf.subarray(start);
    this.pos = i - start;
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
    if (this.buf.length > this.maxFrame) {
      throw new RangeError(`request larger than ${this.maxFrame} bytes`);
    }
    return frames;
  }
}
