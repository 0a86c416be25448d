// Running sminitd again in the same process, with the V8 flags that only a
// command line sets (a heap's sizes are fixed before any script runs). It
// keeps the pid (a container's init must stay 1) and decides no flag itself.

import { messageOf } from '../core/errors.js';

const F_SETFD = 2;

interface Libc {
  func(definition: string): (...args: unknown[]) => number;
}

/** Whether this process already runs with every one of `flags`. */
export function hasFlags(flags: readonly string[]): boolean {
  return flags.every((f) => process.execArgv.includes(f));
}

/**
 * Replace this process's image by node with `flags` before its own, then the
 * same script and arguments. Returns only when that could not be done, with
 * why: the caller goes on without the flags.
 */
export async function reexecWith(flags: readonly string[]): Promise<string> {
  let libc: Libc;
  try {
    const koffi = (await import('koffi')) as unknown as { load(path: null): Libc };
    libc = koffi.load(null);
  } catch (err) {
    return `cannot load the native bindings (koffi): ${messageOf(err)}`;
  }
  const fcntl = libc.func('int fcntl(int fd, int cmd, ...)');
  const execve = libc.func('int execve(const char *path, const char **argv, const char **envp)');
  // Node marks its standard descriptors close-on-exec: the new image must get them.
  for (const fd of [0, 1, 2]) fcntl(fd, F_SETFD, 'int', 0);
  const argv = [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)];
  const env: string[] = [];
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env.push(`${k}=${v}`);
  execve(process.execPath, [...argv, null], [...env, null]);
  return `cannot run ${process.execPath} again with ${flags.join(' ')}`;
}
