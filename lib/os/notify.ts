// The notification sockets of `notify: systemd` services: one per service,
// in a directory of their own beside the daemon's socket (mode 0700, each
// socket 0600), so a message is attributed by the socket it came in on and
// never by a pid that may be gone already. Each datagram is handed to its
// service with the sender's pid; who the sender is (its session, its
// marker) is read from /proc on request. Owns the sockets and their files.

import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../core/errors.js';
import { MARKER_VAR } from './markers.js';
import { MAX_SOCKET_PATH, type NotifyNative } from './native-notify.js';
import { readStat } from './procfs.js';

export interface NotifyMessage {
  readonly pid: number;
  readonly text: string;
}

export interface NotifySocket {
  readonly path: string;
  close(): void;
}

export class NotifySockets {
  private made = false;
  private readonly open = new Set<NotifySocket>();

  constructor(
    private readonly dir: string,
    private readonly native: () => NotifyNative | null,
  ) {}

  /** A socket for `service`, listening; or why there cannot be one. */
  listen(service: string, onMessage: (m: NotifyMessage) => void): NotifySocket | string {
    const native = this.native();
    if (native === null) return 'the native bindings (koffi, libuv) are not available';
    try {
      this.makeDir();
      const path = this.pathOf(service);
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return messageOf(err);
    }
    const path = this.pathOf(service);
    const fd = native.openDatagram(path);
    if (typeof fd !== 'number') return `${fd.call} ${path}: errno ${fd.errno}`;
    chmodSync(path, 0o600);
    const stop = native.poll(fd, () => {
      for (const m of native.receive(fd)) onMessage(m);
    });
    const socket: NotifySocket = {
      path,
      close: () => {
        if (!this.open.delete(socket)) return;
        stop();
        native.close(fd);
        try {
          unlinkSync(path);
        } catch {
          // Already gone.
        }
      },
    };
    this.open.add(socket);
    return socket;
  }

  /** Every socket closed and the directory removed (the daemon is exiting). */
  dispose(): void {
    for (const s of [...this.open]) s.close();
    if (!this.made) return;
    try {
      rmdirSync(this.dir);
    } catch {
      // Not empty, or gone: left as it is.
    }
  }

  private makeDir(): void {
    if (this.made) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    this.made = true;
  }

  /** The service's name when the path fits a socket address, else a digest of it. */
  private pathOf(service: string): string {
    const plain = join(this.dir, service);
    if (Buffer.byteLength(plain) <= MAX_SOCKET_PATH) return plain;
    return join(this.dir, createHash('sha256').update(service).digest('hex').slice(0, 16));
  }
}

/** Who `pid` is, for a notification: its session, whether it carries `marker`; null when gone. */
export function senderOf(
  pid: number,
  marker: string,
): { session: number; marked: boolean; comm: string } | null {
  const stat = readStat(pid);
  if (stat === null) return null;
  let marked = false;
  try {
    const env = readFileSync(`/proc/${pid}/environ`);
    marked =
      env.includes(Buffer.from(`\0${MARKER_VAR}=${marker}\0`)) ||
      env.indexOf(`${MARKER_VAR}=${marker}\0`) === 0;
  } catch {
    // Gone meanwhile, or not ours to read: not marked.
  }
  return { session: stat.session, marked, comm: stat.comm };
}
