// Noticing that whoever reads the CLI's stdout has gone (`sminit log | head
// -1`) while nothing is being written: Node learns it only from the next
// write's EPIPE, which an idle follow may never make. poll(2) on stdout, in
// one of koffi's worker threads, wakes when the pipe loses its reader and
// never while it stays. Loaded only by a follow into a pipe or socket.

import { closeSync, fstatSync, writeSync } from 'node:fs';

const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const EFD_CLOEXEC = 0o2000000;
/** A poll that keeps failing (not a signal) is given up rather than retried for ever. */
const MAX_RETRIES = 100;

export interface ReaderWatch {
  /** Stop watching; the worker thread is released. */
  stop(): void;
}

type Async = (...args: unknown[]) => void;
interface Libc {
  func(definition: string): ((...args: unknown[]) => number) & { async: Async };
}
interface Koffi {
  load(path: string | null): Libc;
}

/**
 * Calls `gone` once stdout, a pipe or a socket, has lost its reader; null
 * when stdout is something else (a terminal, a file) or poll(2) cannot be
 * reached, and then the next write's EPIPE tells instead.
 */
export async function watchReader(gone: () => void): Promise<ReaderWatch | null> {
  if (!isPipeOrSocket(1)) return null;
  let libc: Libc;
  try {
    const koffi = (await import('koffi')).default as unknown as Koffi;
    // dlopen(NULL): the libc node itself links, glibc or musl alike.
    libc = koffi.load(null);
  } catch {
    return null;
  }
  const poll = libc.func('int poll(void *fds, unsigned long nfds, int timeout)');
  const efd = libc.func('int eventfd(unsigned int initval, int flags)')(0, EFD_CLOEXEC);
  if (efd < 0) return null;
  // struct pollfd { int fd; short events; short revents; } twice: stdout, where
  // POLLERR and POLLHUP need no asking, and the eventfd that stop() wakes.
  const fds = Buffer.alloc(16);
  fds.writeInt32LE(1, 0);
  fds.writeInt32LE(efd, 8);
  fds.writeInt16LE(POLLIN, 12);
  let stopped = false;
  let closed = false;
  let retries = 0;
  const wait = (): void =>
    poll.async(fds, 2, -1, (err: unknown, n: number) => {
      const hungUp = (fds.readInt16LE(6) & (POLLERR | POLLHUP)) !== 0;
      // A signal landing on the worker thread ends poll early: wait again.
      if (!stopped && !err && n <= 0 && retries++ < MAX_RETRIES) return wait();
      closed = true;
      closeSync(efd);
      if (!stopped && !err && n > 0 && hungUp) gone();
    });
  wait();
  return {
    stop() {
      if (stopped || closed) return;
      stopped = true;
      writeSync(efd, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
    },
  };
}

function isPipeOrSocket(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}
