// Waiting for a condition with a deadline, for tests that watch real
// processes. Tests never sleep a fixed time to synchronise: they poll what
// they expect and fail with a description when it does not come.

import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { processTable } from '../../lib/os/procfs.js';

/**
 * Polls `check` until it returns something other than undefined, null or
 * false, and returns that value; rejects after `timeoutMs`, naming `what`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 5000,
  intervalMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

/** Null when `nums` counts up by one throughout; otherwise where it first does not. */
export function contiguous(nums: readonly number[]): string | null {
  for (let i = 1; i < nums.length; i++) {
    const a = nums[i - 1] as number;
    const b = nums[i] as number;
    if (b !== a + 1) return `after ${a} came ${b} (index ${i})`;
  }
  return null;
}

/**
 * Waits until process group `pgid` holds a process named `comm`: a service
 * is "running" as soon as it is spawned, and a shell that sets a trap and
 * then runs (or execs) `comm` has set the trap once that process exists.
 */
export async function waitForInGroup(pgid: number, comm: string, timeoutMs = 5000): Promise<void> {
  await waitFor(
    `a '${comm}' process in group ${pgid}`,
    async () => (await processTable()).some((p) => p.pgrp === pgid && p.comm === comm),
    timeoutMs,
  );
}

/** Whether `argv` is the wrapper a boxed service starts as (lib/os/wrap.ts), or its setpriv. */
function wrapperArgv(argv: readonly string[]): boolean {
  return (argv[0] === '/bin/sh' && argv[3] === 'sminit') || /\/setpriv$/.test(argv[0] ?? '');
}

/**
 * Waits until process `pid` has left the wrapper and runs the service's own
 * program: a service in a cgroup (or with limits, or another user) is
 * spawned as a short shell that joins its group and then execs the program,
 * and until it has, its descriptors and command line are the shell's.
 */
export async function waitPastWrapper(pid: number, timeoutMs = 5000): Promise<void> {
  await waitFor(
    `process ${pid} to exec its program`,
    () => {
      try {
        return !wrapperArgv(readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0'));
      } catch {
        return true; // gone: nothing left to wait for
      }
    },
    timeoutMs,
  );
}
