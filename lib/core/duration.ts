// Durations and sizes as people write them. Pure functions: they turn what a
// person typed into milliseconds or bytes, or say why they cannot. The one
// duration grammar (`1h30m`, `250ms`, `1.5m`; `d` where days make sense) is
// here; schemas/service.schema.json's `duration` and `size` state the shape
// but not the range of a string like "48h".

const MAX_DURATION_MS = 24 * 60 * 60 * 1000;
const MAX_SIZE = 2 ** 40;

const DURATION_EXAMPLES = 'seconds, or a string like 100ms, 2s, 1.5m, 1h, 1m30s';

/** Each unit in milliseconds, largest first: the order a duration's parts are written in. */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
export type DurationUnit = keyof typeof UNIT_MS;
const ORDER = Object.keys(UNIT_MS) as DurationUnit[];

/** The units of a service file's durations, which are at most a day. */
const FILE_UNITS: readonly DurationUnit[] = ['h', 'm', 's', 'ms'];
const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/y;

/**
 * Milliseconds (not rounded) in a duration written with `units`, each at
 * most once and largest first, such as `1h30m` or `250ms`; null when `text`
 * is not one (`1s1s` and `30m1h` are not).
 */
export function durationText(
  text: string,
  units: readonly DurationUnit[] = FILE_UNITS,
): number | null {
  let ms = 0;
  let last = -1;
  DURATION_PART.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (DURATION_PART.lastIndex < text.length && (m = DURATION_PART.exec(text)) !== null) {
    const unit = m[2] as DurationUnit;
    const rank = ORDER.indexOf(unit);
    if (!units.includes(unit) || rank <= last) return null;
    last = rank;
    ms += Number(m[1]) * UNIT_MS[unit];
  }
  return text === '' || DURATION_PART.lastIndex !== text.length ? null : ms;
}

/**
 * Milliseconds (whole, rounded), or why `value` is not a duration, always
 * worded `expected a duration …, got …`. `positive` refuses 0.
 */
export function parseDuration(value: unknown, positive = false): number | string {
  let ms: number | null = null;
  if (typeof value === 'number') ms = Number.isFinite(value) && value >= 0 ? value * 1000 : null;
  else if (typeof value === 'string') ms = durationText(value.trim());
  if (ms === null) return `expected a duration (${DURATION_EXAMPLES}), got ${shown(value)}`;
  if (ms > MAX_DURATION_MS) return `expected a duration of at most 1 day, got ${shown(value)}`;
  if (positive && ms === 0) return `expected a duration of more than 0, got ${shown(value)}`;
  return Math.round(ms);
}

const SIZE = /^([0-9]+(?:\.[0-9]+)?)([kmgt]?)(i?)(b?)$/i;
const SIZE_POWER: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4 };

/**
 * Bytes, or a message saying why `value` is not a size. A bare letter or
 * `kB` is decimal (1000) and `KiB` binary (1024), as in SI and IEC.
 */
export function parseSize(value: unknown, max = MAX_SIZE): number | string {
  let bytes: number;
  const examples = 'bytes, or a string like 10MiB, 512KiB, 1MB, 100k';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return `expected a size (${examples}), got ${value}`;
    bytes = value;
  } else if (typeof value === 'string') {
    const m = SIZE.exec(value.trim());
    // `5i` alone (binary marker without a unit or b) is not a size.
    if (!m || (m[3] !== '' && (m[2] === '' || m[4] === ''))) {
      return `expected a size (${examples}), got ${JSON.stringify(value)}`;
    }
    const power = SIZE_POWER[(m[2] ?? '').toLowerCase()] ?? 0;
    bytes = Math.floor(Number(m[1]) * (m[3] ? 1024 : 1000) ** power);
  } else {
    return `expected a size (${examples})`;
  }
  if (bytes < 1) return `size ${shown(value)} is less than 1 byte`;
  if (bytes > max) {
    return `size ${shown(value)} is more than the maximum of ${max === MAX_SIZE ? '1TiB' : `${max} bytes`}`;
  }
  return bytes;
}

/** `150ms`, `2.5s`, `3m4s`, `1h2m`: short, exact to the millisecond below a minute. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  ms = Math.round(ms);
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  // Above a minute, seconds are rounded; carry so 59.6s never shows as "60s".
  const [hh, mm, ss] = s === 60 ? (m === 59 ? [h + 1, 0, 0] : [h, m + 1, 0]) : [h, m, s];
  return (hh ? `${hh}h` : '') + (mm ? `${mm}m` : '') + (ss ? `${ss}s` : '') || '0s';
}

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' && value !== null ? 'a mapping' : String(value);
}

/** Bytes as a size is written: the largest unit that divides it exactly (`512M`, `1GiB`, `1000`). */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [
    ['T', 1e12],
    ['G', 1e9],
    ['M', 1e6],
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['k', 1e3],
    ['KiB', 2 ** 10],
  ] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}
