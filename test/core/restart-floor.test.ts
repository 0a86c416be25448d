// No service file can make sminitd restart a crashing service in a loop: a
// run shorter than MIN_STABLE_MS is never stable, and a restart after it
// waits at least MIN_RESTART_DELAY_MS, whatever restart_delay,
// restart_max_delay and stable_after say.

import t from 'tap';
import { MIN_RESTART_DELAY_MS, MIN_STABLE_MS, restartDelay } from '../../lib/core/state.js';

const tiny = { restartDelayMs: 1, restartMaxDelayMs: 1, stableAfterMs: 1 };

t.test('a quick crash waits at least the floor, even with the smallest keys', async (t) => {
  for (let attempt = 0; attempt < 5; attempt++) {
    t.equal(restartDelay(tiny, attempt, 5).delayMs, MIN_RESTART_DELAY_MS, `attempt ${attempt}`);
  }
  t.equal(restartDelay(tiny, 0, MIN_STABLE_MS - 1).delayMs, MIN_RESTART_DELAY_MS, 'not stable yet');
});

t.test('a run up past the floor and stable_after restarts at once', async (t) => {
  t.same(restartDelay(tiny, 7, MIN_STABLE_MS), { delayMs: 0, nextAttempt: 0 });
});

t.test('above the floor, the backoff is as the file says', async (t) => {
  const def = { restartDelayMs: 200, restartMaxDelayMs: 1000, stableAfterMs: 10_000 };
  t.same(
    [0, 1, 2, 3].map((a) => restartDelay(def, a, 10).delayMs),
    [200, 400, 800, 1000],
  );
});
