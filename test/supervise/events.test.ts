// The event log on its own: cursors that grow by one, a bounded history,
// pages read after a cursor, follows that catch up and then go live with
// nothing lost or repeated, losses counted exactly, a paused follower that
// resumes, and no timer left behind.

import t from 'tap';
import type { EventBody } from '../../lib/core/events.js';
import { EventLog, type EventRecord } from '../../lib/supervise/events.js';
import { contiguous, waitFor } from '../helpers/wait.js';

const tracked = (service: string): EventBody => ({
  kind: 'tracked',
  service,
  file: `${service}.yaml`,
});
const untracked = (service: string): EventBody => ({ kind: 'untracked', service });

function fill(log: EventLog, n: number, name = (i: number) => `s${i % 3}`): void {
  for (let i = 0; i < n; i++) log.record(tracked(name(i)));
}

const cursors = (rs: readonly EventRecord[]): number[] => rs.map((r) => r.cursor);

t.test('cursors grow by one from 1; the history keeps the newest', async (t) => {
  const log = new EventLog(5);
  t.equal(log.cursor, 0);
  t.equal(log.oldest, 1, 'empty: the oldest is the next');
  fill(log, 8);
  t.equal(log.cursor, 8);
  t.equal(log.oldest, 4);
  t.same(cursors(log.read({}, -Infinity).records), [4, 5, 6, 7, 8]);
});

t.test('read: after a cursor, the last n, filters, pages, and what was lost', async (t) => {
  const log = new EventLog(10);
  fill(log, 15);
  t.same(cursors(log.read({ after: 9 }, -Infinity).records), [10, 11, 12, 13, 14, 15]);
  t.equal(log.read({ after: 9 }, -Infinity).lost, 0, 'nothing lost after 9');
  const old = log.read({ after: 2 }, -Infinity);
  t.equal(old.lost, 3, 'cursors 3, 4 and 5 are gone');
  t.same(cursors(old.records), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  t.equal(log.read({}, -Infinity).lost, 0, 'without a cursor, nothing counts as lost');
  t.same(cursors(log.read({ n: 2 }, -Infinity).records), [14, 15]);
  t.same(cursors(log.read({ names: ['s0'] }, -Infinity).records), [7, 10, 13]);
  t.same(cursors(log.read({ names: ['s0'], n: 2 }, -Infinity).records), [10, 13]);
  t.same(cursors(log.read({ kinds: ['untracked'] }, -Infinity).records), []);
  const page = log.read({ after: 5 }, -Infinity, 4);
  t.same(cursors(page.records), [6, 7, 8, 9]);
  t.equal(page.next, 9, 'read on after 9');
  t.equal(page.end, 15);
  const rest = log.read({ after: page.next }, -Infinity, 4);
  t.same(cursors(rest.records), [10, 11, 12, 13]);
  const filtered = log.read({ after: 5, names: ['s2'] }, -Infinity, 1);
  t.same(cursors(filtered.records), [6]);
  t.equal(filtered.next, 6, 'a filtered page goes on from the last one it looked at');
  log.record({ kind: 'daemon', service: null, action: 'shutdown', detail: 'x' });
  t.same(
    cursors(log.read({ names: ['nobody'] }, -Infinity).records),
    [16],
    'the daemon’s own events pass a name filter',
  );
});

t.test('read: since a time', async (t) => {
  const log = new EventLog(10);
  log.record(tracked('a'), 1000);
  log.record(tracked('b'), 2000);
  log.record(tracked('c'), 3000);
  t.same(cursors(log.read({}, 2000).records), [2, 3]);
});

interface Seen {
  readonly cursors: number[];
  readonly lost: number[];
}

function collect(): Seen & { sink: { event(r: EventRecord): void; lost(n: number): void } } {
  const seen: Seen = { cursors: [], lost: [] };
  return {
    ...seen,
    sink: { event: (r) => seen.cursors.push(r.cursor), lost: (n) => seen.lost.push(n) },
  };
}

t.test('follow: the history after the cursor, then live, once each', async (t) => {
  const log = new EventLog(5000);
  fill(log, 3000);
  const s = collect();
  const stop = log.follow({ after: 100 }, -Infinity, s.sink);
  // Recorded while it catches up (it goes in batches, a turn of the event loop each).
  fill(log, 50);
  await waitFor('every event after 100', () => s.cursors.length === 2950);
  fill(log, 10);
  t.equal(s.cursors.length, 2960, 'live events arrive at once');
  t.equal(s.cursors[0], 101);
  t.equal(contiguous(s.cursors), null, 'nothing missed, nothing twice');
  t.same(s.lost, []);
  stop();
  fill(log, 5);
  t.equal(s.cursors.length, 2960, 'nothing after the stop');
});

t.test('follow: without a cursor the whole history, with n: 0 only what is new', async (t) => {
  const log = new EventLog(10);
  fill(log, 4);
  const all = collect();
  const now = collect();
  const stops = [log.follow({}, -Infinity, all.sink), log.follow({ n: 0 }, -Infinity, now.sink)];
  await waitFor('the history', () => all.cursors.length === 4);
  log.record(untracked('x'));
  t.same(all.cursors, [1, 2, 3, 4, 5]);
  t.same(now.cursors, [5]);
  for (const stop of stops) stop();
});

t.test('follow: a cursor the history no longer reaches is told how many were lost', async (t) => {
  const log = new EventLog(10);
  fill(log, 25);
  const s = collect();
  const stop = log.follow({ after: 3 }, -Infinity, s.sink);
  await waitFor('the history', () => s.cursors.length === 10);
  t.same(s.lost, [12], 'cursors 4 to 15 are gone');
  t.same(s.cursors, [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
  stop();
});

t.test('follow: a paused reader resumes where it was, and hears what it lost', async (t) => {
  const log = new EventLog(10);
  let full = false;
  const s = collect();
  const stop = log.follow({ n: 0 }, -Infinity, { ...s.sink, congested: () => full });
  log.record(tracked('a'));
  full = true;
  fill(log, 5);
  t.same(s.cursors, [1], 'nothing is pushed while it is congested');
  full = false;
  await waitFor('it to catch up', () => s.cursors.length === 6);
  t.same(s.cursors, [1, 2, 3, 4, 5, 6]);
  full = true;
  log.record(tracked('b'));
  fill(log, 20, () => 'c');
  full = false;
  await waitFor('it to catch up again', () => s.cursors.at(-1) === 27);
  t.same(s.lost, [11], 'cursors 7 to 17 went while it was paused');
  t.same(s.cursors.slice(6), [18, 19, 20, 21, 22, 23, 24, 25, 26, 27]);
  stop();
});

t.test('a reader that throws does not break the recorder', async (t) => {
  const log = new EventLog(10);
  const thrown: unknown[] = [];
  const listener = (err: unknown): void => void thrown.push(err);
  process.on('uncaughtException', listener);
  t.teardown(() => process.off('uncaughtException', listener));
  const stop = log.follow({ n: 0 }, -Infinity, {
    event: () => {
      throw new Error('reader broke');
    },
    lost: () => undefined,
  });
  const r = log.record(tracked('a'));
  t.equal(r.cursor, 1, 'recorded');
  await waitFor('the error to surface', () => thrown.length === 1);
  t.match(thrown[0], { message: 'reader broke' });
  stop();
});

t.test('a stopped follow leaves no timer behind', async (t) => {
  const timers = (): number =>
    process.getActiveResourcesInfo().filter((h) => h === 'Timeout').length;
  const log = new EventLog(10);
  const before = timers();
  const stop = log.follow({}, -Infinity, {
    event: () => undefined,
    lost: () => undefined,
    congested: () => true,
  });
  fill(log, 3);
  t.equal(timers(), before + 1, 'a paused follower waits on one timer');
  stop();
  t.equal(timers(), before, 'and it is gone with the follow');
  const live = log.follow({ n: 0 }, -Infinity, { event: () => undefined, lost: () => undefined });
  fill(log, 3);
  t.equal(timers(), before, 'a live follower arms none');
  live();
});
