// The ring's sizes: its default, its bounds, the longest line, and `sminitd
// -b` (bytes with a unit, or zinit's bare line count). Pure numbers and
// parsing; knows nothing of how the ring stores what it keeps.

import { parseSize } from '../core/duration.js';

export interface LogLimits {
  readonly maxBytes: number;
  readonly maxLines: number;
}

export const DEFAULT_LOG_BYTES = 8 * 1024 * 1024;
export const MIN_LOG_BYTES = 64 * 1024;
/** More than this is no ring but a memory leak: say so rather than try. */
export const MAX_LOG_BYTES = 4 * 1024 * 1024 * 1024;
export const MIN_LOG_LINES = 100;
/** zinit's -b counts lines; a bare number is taken that way, at this many bytes a line. */
export const BYTES_PER_LINE = 256;
/** The longest line kept whole; longer ones are cut into pieces this long. */
export const MAX_LINE = 64 * 1024;

/**
 * `sminitd -b VALUE`: bytes with a unit (`16MiB`), or a bare number of lines as
 * zinit takes it. Below the minimum is raised to it, with a warning.
 */
export function parseBufferOption(
  raw: string,
): { limits: LogLimits; warning: string | null } | { error: string } {
  const text = raw.trim();
  if (text === '') return { error: 'expected a size (8MiB, 512KiB) or a number of lines' };
  if (/^\d+$/.test(text)) {
    const lines = Number(text);
    if (!Number.isSafeInteger(lines) || lines * BYTES_PER_LINE > MAX_LOG_BYTES) {
      return {
        error: `${text} lines is more than the maximum of ${MAX_LOG_BYTES / BYTES_PER_LINE}`,
      };
    }
    const maxLines = Math.max(MIN_LOG_LINES, lines);
    const maxBytes = Math.max(MIN_LOG_BYTES, lines * BYTES_PER_LINE);
    const warning =
      lines < MIN_LOG_LINES
        ? `${text} lines is below the minimum; keeping ${MIN_LOG_LINES} lines (${maxBytes} bytes)`
        : null;
    return { limits: { maxBytes, maxLines }, warning };
  }
  const size = parseSize(text);
  if (typeof size === 'string') return { error: size };
  if (size > MAX_LOG_BYTES) return { error: `${text} is more than the maximum of 4GiB` };
  const warning =
    size < MIN_LOG_BYTES ? `${text} is below the minimum; using ${MIN_LOG_BYTES} bytes` : null;
  return { limits: { maxBytes: Math.max(MIN_LOG_BYTES, size), maxLines: Infinity }, warning };
}
