// UTF-8 validity, byte by byte: where a decoder that refused a text found the
// first bad byte, so a person can be told where it is. Pure.

/** Offset of the first byte that is not valid UTF-8; the length when all of it is valid. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const len = utf8SequenceLength(b, i);
    if (len === 0) return i;
    i += len;
  }
  return b.length;
}

/** Length of the valid UTF-8 sequence at b[i], or 0 if there is none. */
export function utf8SequenceLength(b: Uint8Array, i: number): number {
  const b0 = b[i] as number;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const c = b[i + k];
    return c !== undefined && c >= lo && c <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  // The second byte's range also rules out overlong forms, surrogates and > U+10FFFF.
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
