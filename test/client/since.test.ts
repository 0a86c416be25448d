// `--since` as people write it: durations back from now, times today, dates.

import t from 'tap';
import { parseSince } from '../../lib/client/since.js';

t.test('parseSince', async (t) => {
  const now = Date.UTC(2025, 0, 31, 12, 0, 0);
  t.equal(parseSince('10m', now), now - 600_000);
  t.equal(parseSince('1h30m', now), now - 5_400_000);
  t.equal(parseSince('2d', now), now - 2 * 86_400_000);
  t.equal(parseSince('2025-01-31T10:00:00Z', now), Date.UTC(2025, 0, 31, 10));
  const clock = parseSince('10:00', now);
  t.equal(typeof clock, 'number');
  t.equal(new Date(clock as number).getHours(), 10);
  t.match(parseSince('yesterday-ish', now), /^--since: expected a duration/);
  t.equal(parseSince('1d2h', now), now - 26 * 3_600_000);
  t.type(parseSince('2h1d', now), 'string', 'units largest first');
});

t.test('only real times and durations', async (t) => {
  const now = Date.UTC(2025, 0, 31, 12, 0, 0);
  for (const bad of [
    '25:99',
    '24:00',
    '10:60',
    '10:30:99',
    '2025-02-30',
    '2023-02-29',
    '2025-13-01',
    '2025-00-10',
    '2025-01-31T25:00',
    '2025-01-31T10:00:00+25:00',
    '0',
    '12345',
    '2025',
    'Jan 31 2025',
    '1s1s',
    '30m1h',
    '',
  ]) {
    t.equal(
      parseSince(bad, now),
      `--since: expected a duration (10m, 2h, 1d) or a time (10:00, 2025-01-31T10:00:00Z), got ${JSON.stringify(bad)}`,
      JSON.stringify(bad),
    );
  }
  t.equal(parseSince('2024-02-29', now), Date.UTC(2024, 1, 29), 'a leap day');
  t.equal(parseSince('2025-01-31 10:00:30Z', now), Date.UTC(2025, 0, 31, 10, 0, 30));
  t.equal(parseSince('2025-01-31T10:00:00+01:00', now), Date.UTC(2025, 0, 31, 9));
  t.equal(parseSince('2025-01-31T10:00:00.250Z', now), Date.UTC(2025, 0, 31, 10, 0, 0, 250));
  const late = new Date(parseSince('23:59:59', now) as number);
  t.same([late.getHours(), late.getMinutes(), late.getSeconds()], [23, 59, 59]);
  t.equal(new Date(parseSince('0:00', now) as number).getDate(), new Date(now).getDate(), 'today');
});
