// `log --since`: what a person types for "from when" — a duration back from
// now, a time today, or a date and time — as epoch ms. Pure; the duration
// grammar is core/duration.ts's.

import { durationText } from '../core/duration.js';

/**
 * `--since`: a duration back from now (`90s`, `10m`, `1h30m`, `2d`), a date
 * and time (`2025-01-31T10:00:00Z`, `2025-01-31 10:00`), or a time today
 * (`10:00`, `10:00:30`, local). Epoch ms, or a message saying why not.
 */
export function parseSince(value: string, now = Date.now()): number | string {
  const text = value.trim();
  const dur = durationText(text, ['d', 'h', 'm', 's', 'ms']);
  if (dur !== null) return now - dur;
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (clock) {
    const d = new Date(now);
    d.setHours(Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0), 0);
    return d.getTime();
  }
  const date = Date.parse(/^\d{4}-\d{2}-\d{2} \d/.test(text) ? text.replace(' ', 'T') : text);
  if (!Number.isNaN(date)) return date;
  return `--since wants a duration (10m, 2h, 1d) or a time (10:00, 2025-01-31T10:00:00Z), got '${value}'`;
}
