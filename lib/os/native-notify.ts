// The system calls behind `notify: systemd`, through koffi: a unix datagram
// socket with SO_PASSCRED (Node's dgram has none), recvmsg with the
// sender's credentials, and every descriptor passed along (systemd-notify's
// BARRIER=1 pipe) closed at once. Readability comes from libuv itself: a
// uv_poll handle on node's own loop (node exports libuv's symbols), whose
// callback koffi calls on the loop thread; nothing polls, no thread waits,
// and an idle daemon does not wake. Keeps only the bound calls and the
// handles it was asked to poll; decides nothing.

import { WORD_BYTES } from './arch.js';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PASSCRED = 16;
const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EAGAIN = 11;
const EINTR = 4;
const UV_POLL = 8;
const UV_READABLE = 1;
/** systemd reads at most this much of a notification; so does sminit. */
const MAX_DATAGRAM = 4096;
/** A unix socket path holds at most 107 bytes and its NUL. */
export const MAX_SOCKET_PATH = 107;

export interface Datagram {
  readonly pid: number;
  readonly text: string;
}

export interface NotifyNative {
  /** A bound, non-blocking datagram socket receiving credentials; its fd, or the errno of the failing call. */
  openDatagram(path: string): number | { errno: number; call: string };
  /** Calls `readable` on the loop thread whenever `fd` can be read; returns its stop. */
  poll(fd: number, readable: () => void): () => void;
  /** Every datagram waiting on `fd`, passed descriptors closed; stops at EAGAIN. */
  receive(fd: number): Datagram[];
  close(fd: number): void;
}

interface KoffiNotify {
  proto(definition: string): unknown;
  pointer(type: unknown): unknown;
  register(fn: (...args: never[]) => unknown, type: unknown): unknown;
  alloc(type: string, count: number): unknown;
  free(pointer: unknown): void;
  address(pointer: unknown): bigint;
  errno(): number;
}

type Fn = (...args: unknown[]) => number;
type Lib = { func(definition: string): (...args: unknown[]) => unknown };

/** The bindings, or null when this node does not export libuv's poll calls. */
export function bindNotify(koffi: KoffiNotify, lib: Lib): NotifyNative | null {
  const fn = (def: string): Fn => lib.func(def) as Fn;
  let uv: UvCalls;
  try {
    uv = {
      pollCb: koffi.proto('void sminit_uv_poll_cb(void *handle, int status, int events)'),
      closeCb: koffi.proto('void sminit_uv_close_cb(void *handle)'),
      loop: (lib.func('void *uv_default_loop(void)') as () => unknown)(),
      handleSize: Number(fn('size_t uv_handle_size(int type)')(UV_POLL)),
      init: fn('int uv_poll_init(void *loop, void *handle, int fd)'),
      start: fn('int uv_poll_start(void *handle, int events, sminit_uv_poll_cb *cb)'),
      stop: fn('int uv_poll_stop(void *handle)'),
      close: fn('void uv_close(void *handle, sminit_uv_close_cb *cb)'),
    };
  } catch {
    return null;
  }
  const calls = {
    socket: fn('int socket(int domain, int type, int protocol)'),
    bind: fn('int bind(int fd, void *addr, uint32_t len)'),
    setsockopt: fn('int setsockopt(int fd, int level, int name, void *value, uint32_t len)'),
    recvmsg: fn('intptr_t recvmsg(int fd, void *msg, int flags)'),
    close: fn('int close(int fd)'),
  };
  const polls = new Polls(koffi, uv);
  return {
    openDatagram: (path) => openDatagram(calls, koffi, path),
    poll: (fd, readable) => polls.start(fd, readable),
    receive: receiver(calls, koffi),
    close: (fd) => void calls.close(fd),
  };
}

interface UvCalls {
  readonly pollCb: unknown;
  readonly closeCb: unknown;
  readonly loop: unknown;
  readonly handleSize: number;
  readonly init: Fn;
  readonly start: Fn;
  readonly stop: Fn;
  readonly close: Fn;
}

function openDatagram(
  c: { socket: Fn; bind: Fn; setsockopt: Fn; close: Fn },
  koffi: KoffiNotify,
  path: string,
): number | { errno: number; call: string } {
  const bytes = Buffer.from(path);
  if (bytes.length > MAX_SOCKET_PATH) return { errno: 36, call: 'bind' }; // ENAMETOOLONG
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return { errno: koffi.errno(), call: 'socket' };
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  // Credentials on every datagram, asked for before anyone can send one.
  if (c.setsockopt(fd, SOL_SOCKET, SO_PASSCRED, one, 4) !== 0)
    return failed(c, koffi, fd, 'setsockopt');
  const addr = Buffer.alloc(2 + MAX_SOCKET_PATH + 1);
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, 2);
  if (c.bind(fd, addr, 2 + bytes.length + 1) !== 0) return failed(c, koffi, fd, 'bind');
  return fd;
}

function failed(
  c: { close: Fn },
  koffi: KoffiNotify,
  fd: number,
  call: string,
): { errno: number; call: string } {
  const errno = koffi.errno();
  c.close(fd);
  return { errno, call };
}

/** A reader of datagrams: one set of buffers (msghdr, iovec, data, control) reused for every call. */
function receiver(c: { recvmsg: Fn; close: Fn }, koffi: KoffiNotify): (fd: number) => Datagram[] {
  const W = WORD_BYTES;
  const data = Buffer.alloc(MAX_DATAGRAM + 1);
  const control = Buffer.alloc(1024);
  const iov = Buffer.alloc(2 * W);
  const msg = Buffer.alloc(W === 8 ? 56 : 28);
  const word = (b: Buffer, at: number, v: bigint): void =>
    void (W === 8 ? b.writeBigUInt64LE(v, at) : b.writeUInt32LE(Number(v), at));
  word(iov, 0, koffi.address(data));
  word(iov, W, BigInt(data.length));
  const fields =
    W === 8
      ? { iov: 16, iovlen: 24, ctl: 32, ctllen: 40, flags: 48 }
      : { iov: 8, iovlen: 12, ctl: 16, ctllen: 20, flags: 24 };
  return (fd) => {
    const out: Datagram[] = [];
    for (;;) {
      msg.fill(0);
      word(msg, fields.iov, koffi.address(iov));
      word(msg, fields.iovlen, 1n);
      word(msg, fields.ctl, koffi.address(control));
      word(msg, fields.ctllen, BigInt(control.length));
      const n = Number(c.recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
      if (n < 0) {
        const e = koffi.errno();
        if (e === EINTR) continue;
        return out;
      }
      const ctlLength =
        W === 8 ? Number(msg.readBigUInt64LE(fields.ctllen)) : msg.readUInt32LE(fields.ctllen);
      const pid = controlMessages(control, ctlLength, (passed) => c.close(passed));
      const truncated = (msg.readInt32LE(fields.flags) & MSG_TRUNC) !== 0 || n > MAX_DATAGRAM;
      if (!truncated) out.push({ pid, text: data.toString('utf8', 0, n) });
    }
  };
}

/** Walks the control messages: closes each passed descriptor, returns the sender's pid (0 if none came). */
function controlMessages(control: Buffer, length: number, closeFd: (fd: number) => void): number {
  const W = WORD_BYTES;
  const header = W === 8 ? 16 : 12;
  let pid = 0;
  for (let at = 0; at + header <= length;) {
    const len = W === 8 ? Number(control.readBigUInt64LE(at)) : control.readUInt32LE(at);
    if (len < header || at + len > length) break;
    const level = control.readInt32LE(at + W);
    const type = control.readInt32LE(at + W + 4);
    if (level === SOL_SOCKET && type === SCM_CREDENTIALS && len >= header + 12)
      pid = control.readInt32LE(at + header);
    if (level === SOL_SOCKET && type === SCM_RIGHTS)
      for (let i = at + header; i + 4 <= at + len; i += 4) closeFd(control.readInt32LE(i));
    at += (len + W - 1) & ~(W - 1);
  }
  return pid;
}

/** uv_poll handles on node's loop, with one registered callback for all of them. */
class Polls {
  private readonly byHandle = new Map<bigint, () => void>();
  private readonly onPoll: unknown;
  private readonly onClose: unknown;
  private readonly closing = new Map<bigint, unknown>();

  constructor(
    private readonly koffi: KoffiNotify,
    private readonly uv: UvCalls,
  ) {
    const key = (h: unknown): bigint => (typeof h === 'bigint' ? h : koffi.address(h));
    this.onPoll = koffi.register(
      ((h: unknown) => {
        try {
          this.byHandle.get(key(h))?.();
        } catch {
          // A reader's exception must not unwind into libuv; the reader reports its own.
        }
      }) as (...args: never[]) => unknown,
      koffi.pointer(uv.pollCb),
    );
    this.onClose = koffi.register(
      ((h: unknown) => {
        const k = key(h);
        const memory = this.closing.get(k);
        this.closing.delete(k);
        if (memory !== undefined) koffi.free(memory);
      }) as (...args: never[]) => unknown,
      koffi.pointer(uv.closeCb),
    );
  }

  start(fd: number, readable: () => void): () => void {
    const { koffi, uv } = this;
    const handle = koffi.alloc('uint8_t', uv.handleSize);
    const k = koffi.address(handle);
    if (uv.init(uv.loop, handle, fd) !== 0) {
      koffi.free(handle);
      throw new Error(`uv_poll_init(${fd}) failed`);
    }
    this.byHandle.set(k, readable);
    uv.start(handle, UV_READABLE, this.onPoll);
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      this.byHandle.delete(k);
      uv.stop(handle);
      // The memory goes once libuv is done with the handle, on its close callback.
      this.closing.set(k, handle);
      uv.close(handle, this.onClose);
    };
  }
}
