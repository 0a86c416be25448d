// When the daemon's garbage is collected: once, as soon as the start-up is
// over, and never later on V8's own timer. It decides nothing about services
// and holds nothing of theirs; it only watches whether any is still starting.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadedNative } from '../os/native.js';

/** How often the start-up is looked at while services are still starting. */
const LOOK_MS = 250;
/** Quiet looks in a row that mean the start-up is over. */
const QUIET_LOOKS = 2;
/** However long starting goes on, the start-up's garbage goes after this. */
const GIVE_UP_MS = 60_000;

type Collect = () => void;

/**
 * The V8 flags sminitd runs with (bin/sminitd.ts runs itself again with them
 * when they are missing: a heap's sizes are fixed before any script runs).
 * A young generation of at most 1 MiB a half instead of 16: the start-up's
 * and a log burst's short-lived garbage is collected before it can spread
 * over 48 MiB of pages, which is most of the peak. And no memory reducer: it
 * gives back the start-up heap some 15–30 s after the last large collection,
 * waking every GC thread of an idle daemon a hundred times or more to do it;
 * sminitd does that collection itself once the start-up is over
 * (collectAfterStartup), and wakes no more.
 */
export const HEAP_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--no-memory-reducer'];

/**
 * How far V8 lets the old generation grow past what its last full
 * collection kept, while the daemon starts (V8's own factor is 1.1–4×,
 * and at start-up, with little kept yet, it lets 1,000 services' parsing
 * and spawning garbage pile up to three times what stays). The start-up's
 * few extra full collections cost milliseconds; the peak is that much lower.
 */
const STARTUP_HEAP_GROWING_PERCENT = 25;

/** The collection that gives the freed heap back, prepared before the daemon's modules load. */
export function quietHeap(): Collect {
  // Only this module reaches `gc`: installed in a context of its own, not global.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  setFlagsFromString(`--heap-growing-percent=${STARTUP_HEAP_GROWING_PERCENT}`);
  return () => {
    // From this collection on, V8's own growing heuristics.
    setFlagsFromString('--heap-growing-percent=0');
    // Node 20's `gc` takes no options: any argument at all makes it a minor
    // (young generation) collection; without one it is a full one. Not a
    // compacting one: moving the survivors together gave back 2 MiB more
    // at rest but needed 23 MiB of new pages while it ran, the daemon's peak.
    gc();
    // What the start-up freed in the C heap (parsing, spawning, libuv) goes back too.
    loadedNative()?.trimMalloc();
  };
}

let collect: Collect | null = null;

/** sminitd's entry point hands over the collection it prepared (tests leave it unset). */
export function useCollector(c: Collect): void {
  collect = c;
}

/** CPU time the daemon may spend in one look's interval and still count as quiet. */
const QUIET_CPU_US = 5_000;

/**
 * Collect once the daemon is quiet: no service on its way up and next to no
 * CPU spent for QUIET_LOOKS looks in a row. The files are parsed, every
 * process spawned, its pipes and events set up and the first clients
 * answered, so what start-up made and dropped is garbage now. Looks only
 * until then; an idle daemon arms no timer. Returns a cancel.
 */
export function collectAfterStartup(starting: () => number): () => void {
  const c = collect;
  if (!c) return () => undefined;
  const began = Date.now();
  let quiet = 0;
  let cpu = process.cpuUsage();
  let timer: NodeJS.Timeout | null = null;
  const look = (): void => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const still = used.user + used.system < QUIET_CPU_US && starting() === 0;
    quiet = still ? quiet + 1 : 0;
    if (quiet >= QUIET_LOOKS || Date.now() - began > GIVE_UP_MS) {
      timer = null;
      c();
      return;
    }
    timer = setTimeout(look, LOOK_MS);
    timer.unref();
  };
  timer = setTimeout(look, LOOK_MS);
  timer.unref();
  return () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
