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
  t.match(parseSince('yesterday-ish', now), /--since wants/);
});
