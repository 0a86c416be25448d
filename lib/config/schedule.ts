// What a `schedule:` means: a cron expression (5 fields, 6 with seconds
// first, or a nickname such as `@daily`) in local time or a named zone,
// checked and asked for its next run through croner. Croner is used rather
// than a parser of our own: it is maintained, has no dependencies, does
// seconds, nicknames, time zones and daylight-saving gaps, and its next-run
// arithmetic is what people trust cron for. Pure apart from the clock given.

import { Cron } from 'croner';
import type { Schedule } from '../core/definition.js';

const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

const parsed = new WeakMap<Schedule, Cron>();

/** Why `cron` (in `timezone`) is not a schedule sminit runs, or null when it is one. */
export function scheduleProblem(cron: string, timezone: string | null): string | null {
  const text = cron.trim();
  const fields = text.split(/\s+/).length;
  if (text.startsWith('@') ? !NICKNAMES.includes(text.toLowerCase()) : fields < 5 || fields > 6)
    return `invalid cron expression '${cron}': expected 5 fields (minute hour day month weekday), 6 with seconds first, or one of ${NICKNAMES.join(', ')}`;
  try {
    const job = make(text, timezone);
    job.nextRun();
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Cron\w*: /, '') : String(err);
    if (timezone !== null && /timezone/i.test(why)) return `unknown time zone '${timezone}'`;
    return `invalid cron expression '${cron}': ${why}`;
  }
  return null;
}

/** The first run strictly after `after` (epoch ms), or null when the expression names none. */
export function nextRun(schedule: Schedule, after: number): number | null {
  let job = parsed.get(schedule);
  if (job === undefined) {
    job = make(schedule.cron.trim(), schedule.timezone);
    parsed.set(schedule, job);
  }
  return job.nextRun(new Date(after))?.getTime() ?? null;
}

function make(cron: string, timezone: string | null): Cron {
  // `paused`: croner only computes here; sminit arms its own single timer.
  return new Cron(cron.startsWith('@') ? cron.toLowerCase() : cron, {
    paused: true,
    ...(timezone !== null ? { timezone } : {}),
  });
}
