// The ring's sizes: `sminitd -b` as bytes or as zinit's line count.

import t from 'tap';
import { MIN_LOG_BYTES, MIN_LOG_LINES, parseBufferOption } from '../../lib/logs/limits.js';

t.test('parseBufferOption: every -b value gets a limit or a clear error', async (t) => {
  const ok = (raw: string): { maxBytes: number; maxLines: number } => {
    const r = parseBufferOption(raw);
    if ('error' in r) throw new Error(r.error);
    return r.limits;
  };
  t.same(ok('16MiB'), { maxBytes: 16 * 1024 * 1024, maxLines: Infinity });
  t.same(ok('2000'), { maxBytes: 2000 * 256, maxLines: 2000 });
  t.same(ok('0'), { maxBytes: MIN_LOG_BYTES, maxLines: MIN_LOG_LINES });
  t.match(parseBufferOption('0'), { warning: /below the minimum/ });
  t.same(ok('1'), { maxBytes: MIN_LOG_BYTES, maxLines: MIN_LOG_LINES });
  t.same(ok('1KiB'), { maxBytes: MIN_LOG_BYTES, maxLines: Infinity });
  t.match(parseBufferOption(''), { error: /expected a size/ });
  t.match(parseBufferOption('abc'), { error: /expected a size/ });
  t.match(parseBufferOption('-5'), { error: /expected a size/ });
  t.same(ok('1.5'), { maxBytes: MIN_LOG_BYTES, maxLines: Infinity }, '1.5 bytes: the minimum');
  t.match(parseBufferOption('99999999999999999999'), { error: /maximum/ });
  t.match(parseBufferOption('5TiB'), { error: /maximum/ });
});
