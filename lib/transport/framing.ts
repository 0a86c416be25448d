// Framing of JSON-RPC on a byte stream: finds where each top-level JSON value
// ends, whether values come one per line or back to back with no delimiter
// (zinit's CLI counts braces the same way). Pure: bytes in, frames out. It
// holds at most one unfinished value, as the chunks it came in (joined once,
// when the value ends), so a huge request costs its bytes and no more.

import { firstInvalidUtf8 } from '../core/utf8.js';

export type Frame =
  | { kind: 'json'; text: string }
  | { kind: 'garbage'; text: string }
  /** A value whose bytes are not UTF-8: `offset` of the first bad byte, `byte` its value. */
  | { kind: 'invalid-utf8'; offset: number; byte: number };

/** How deeply a request may nest arrays and objects. */
export const MAX_DEPTH = 64;

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const OPEN_A = 0x5b; // [
const CLOSE_A = 0x5d; // ]
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NL = 0x0a;

/** JSON's white space. */
export function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function jsonFrame(bytes: Buffer): Frame {
  try {
    return { kind: 'json', text: utf8.decode(bytes) };
  } catch {
    const offset = firstInvalidUtf8(bytes);
    return { kind: 'invalid-utf8', offset, byte: bytes[offset] ?? 0 };
  }
}

export class JsonSplitter {
  /** Earlier chunks of the value (or junk line) not yet complete. */
  private parts: Buffer[] = [];
  private partsLength = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Inside a value that does not start with { or [: skip to the end of the line. */
  private junk = false;

  /** @param maxFrame bytes one value may take before it is refused */
  constructor(private readonly maxFrame = 8 * 1024 * 1024) {}

  /** Bytes held for a value not yet complete. */
  get pending(): number {
    return this.partsLength;
  }

  /** True while a value (or junk line) has begun and not ended. */
  get inValue(): boolean {
    return this.depth > 0 || this.junk;
  }

  /**
   * Feed bytes; returns the complete frames. Throws RangeError when a single
   * value grows past maxFrame (the connection should then be closed).
   */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    // Where the current value starts in this chunk; 0 when it began in an earlier one.
    let start = 0;
    const take = (end: number): Buffer => {
      const tail = chunk.subarray(start, end);
      // The last chunk can carry a value past the bound too.
      if (this.partsLength + tail.length > this.maxFrame) this.refuse();
      if (this.parts.length === 0) return tail;
      const whole = Buffer.concat([...this.parts, tail]);
      this.parts = [];
      this.partsLength = 0;
      return whole;
    };
    let i = 0;
    while (i < chunk.length) {
      const b = chunk[i] as number;
      if (this.junk) {
        if (b === NL) {
          frames.push({ kind: 'garbage', text: take(i).toString('utf8') });
          this.junk = false;
        }
        i++;
        continue;
      }
      if (this.depth === 0) {
        if (isSpace(b)) {
          i++;
          continue;
        }
        start = i;
        if (b === OPEN || b === OPEN_A) {
          this.depth = 1;
          i++;
        } else this.junk = true;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
      } else if (b === QUOTE) this.inString = true;
      else if (b === OPEN || b === OPEN_A) this.depth++;
      else if (b === CLOSE || b === CLOSE_A) {
        this.depth--;
        if (this.depth === 0) frames.push(jsonFrame(take(i + 1)));
      }
      i++;
    }
    if (this.inValue) {
      const rest = chunk.subarray(start);
      this.parts.push(rest);
      this.partsLength += rest.length;
      if (this.partsLength > this.maxFrame) this.refuse();
    }
    return frames;
  }

  private refuse(): never {
    this.parts = [];
    this.partsLength = 0;
    throw new RangeError(`request larger than ${this.maxFrame} bytes`);
  }
}

/** True when `text` nests arrays and objects deeper than `max`; a linear scan, no recursion. */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
