// Durations and sizes as people write them, and durations as we print them.

import t from 'tap';
import { formatDuration, parseDuration, parseSize } from '../../lib/core/duration.js';

t.test('durations and sizes', async (t) => {
  t.equal(parseDuration(0), 0);
  t.equal(parseDuration(1.5), 1500);
  t.equal(parseDuration('100ms'), 100);
  t.equal(parseDuration('2s'), 2000);
  t.equal(parseDuration('1.5m'), 90_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('1m30s'), 90_000);
  t.equal(parseDuration(86_400), 86_400_000);
  t.equal(parseDuration('1h2m3s4ms'), 3_723_004);
  t.equal(parseDuration(86_400.5), 'expected a duration of at most 1 day, got 86400.5');
  t.equal(parseDuration('25h'), 'expected a duration of at most 1 day, got "25h"');
  t.equal(parseDuration(0, true), 'expected a duration of more than 0, got 0');
  t.equal(parseDuration('250ms', true), 250);
  const bad = (v: unknown) =>
    `expected a duration (seconds, or a string like 100ms, 2s, 1.5m, 1h, 1m30s), got ${v}`;
  for (const v of ['', '5', '2 s', 's', '1d', 'ms5', '1s1s', '30m1h', '1m1m', '5ms2s', '1h1h1h'])
    t.equal(parseDuration(v), bad(JSON.stringify(v)), JSON.stringify(v));
  for (const v of [-1, Infinity, NaN, null, true])
    t.equal(parseDuration(v), bad(String(v)), String(v));
  t.equal(parseDuration([1]), bad('a list'));
  t.equal(parseDuration({}), bad('a mapping'));
  t.equal(parseSize(4096), 4096);
  t.equal(parseSize('10MiB'), 10 * 1024 * 1024);
  t.equal(parseSize('512KiB'), 512 * 1024);
  t.equal(parseSize('1MB'), 1_000_000);
  t.equal(parseSize('100k'), 100_000);
  t.equal(parseSize('1.5KiB'), 1536);
  t.equal(parseSize('7b'), 7);
  t.equal(parseSize('1TiB'), 2 ** 40);
  for (const bad of [0, 1.5, '0', '2TiB', '5i', '5ib', '10 parsecs', 'MiB', null]) {
    t.type(parseSize(bad), 'string', JSON.stringify(bad));
  }
  t.equal(formatDuration(150), '150ms');
  t.equal(formatDuration(2500), '2.5s');
  t.equal(formatDuration(184_000), '3m4s');
  t.equal(formatDuration(3_600_000), '1h');
  t.equal(formatDuration(3_659_700), '1h1m');
  t.equal(formatDuration(0), '0ms');
  for (const ms of [150, 2500, 184_000, 3_600_000, 5_400_000]) {
    t.equal(parseDuration(formatDuration(ms)), ms, 'round trip');
  }
});
