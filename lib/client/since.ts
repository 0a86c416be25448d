// `log --since`: what a person types for "from when" — a duration back from
// now, a time today, or a date and time — as epoch ms; anything that is not
// a real time (25:99, February 30th) is refused. Pure; the duration grammar
// is core/duration.ts's.

import { durationText } from '../core/duration.js';

const CLOCK = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/;
const DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-](\d{2}):?(\d{2}))?)?$/i;

/**
 * `--since`: a duration back from now (`90s`, `10m`, `1h30m`, `2d`), a date
 * and time (`2025-01-31T10:00:00Z`, `2025-01-31 10:00`), or a time today
 * (`10:00`, `10:00:30`, local). Epoch ms, or a message saying why not.
 */
export function parseSince(value: string, now = Date.now()): number | string {
  const text = value.trim();
  const dur = durationText(text, ['d', 'h', 'm', 's', 'ms']);
  const at = dur !== null ? now - dur : (timeToday(text, now) ?? dateTime(text));
  if (at !== null) return at;
  return `--since: expected a duration (10m, 2h, 1d) or a time (10:00, 2025-01-31T10:00:00Z), got ${JSON.stringify(value)}`;
}

/** `10:00` or `10:00:30` today, local time; null unless a real time of day. */
function timeToday(text: string, now: number): number | null {
  const clock = CLOCK.exec(text);
  if (!clock) return null;
  const [h, m, s] = [clock[1], clock[2], clock[3] ?? '0'].map(Number) as [number, number, number];
  if (!isTimeOfDay(h, m, s)) return null;
  const d = new Date(now);
  d.setHours(h, m, s, 0);
  return d.getTime();
}

/** An ISO 8601 date, with a time and an offset if given; null unless every field is real. */
function dateTime(text: string): number | null {
  const d = DATE.exec(text);
  if (!d) return null;
  const [year, month, day] = [d[1], d[2], d[3]].map(Number) as [number, number, number];
  const [h, m, s] = [d[4] ?? '0', d[5] ?? '0', d[6] ?? '0'].map(Number) as [number, number, number];
  const [offH, offM] = [d[8] ?? '0', d[9] ?? '0'].map(Number) as [number, number];
  const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const real = month >= 1 && month <= 12 && day >= 1 && day <= lastDay && isTimeOfDay(h, m, s);
  if (!real || offH > 23 || offM > 59) return null;
  const ms = Date.parse(text.replace(' ', 'T'));
  return Number.isNaN(ms) ? null : ms;
}

function isTimeOfDay(h: number, m: number, s: number): boolean {
  return h < 24 && m < 60 && s < 60;
}
