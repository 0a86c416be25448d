// One service's side of the systemd notification protocol: its own socket
// (opened through the process seam on first use, kept across runs), the
// messages of the run now going (READY=1, STATUS=…, RELOADING=1,
// STOPPING=1, MAINPID=…, WATCHDOG=1, WATCHDOG=trigger, WATCHDOG_USEC=…,
// EXTEND_TIMEOUT_USEC=…; anything else is ignored), and who may send them:
// the service's own processes. What a message means for the service (up, a
// watchdog ping, a longer stop) is the worker's; this only reads and reports.

import type { NotifyMessage, NotifySocket, Processes } from './seam.js';

export interface NotifyHooks {
  ready(): void;
  /** WATCHDOG=1 (`ping`) or WATCHDOG=trigger. */
  watchdog(kind: 'ping' | 'trigger'): void;
  /** WATCHDOG_USEC=…: the service sets its own watchdog timeout. */
  watchdogTimeout(ms: number): void;
  /** EXTEND_TIMEOUT_USEC=…: whatever deadline is running now, at least this long from now. */
  extend(ms: number): void;
  event(text: string): void;
}

/** What the service last said, for status. */
export interface NotifyView {
  readonly socket: string | null;
  readonly status: string | null;
  readonly mainPid: number | null;
  readonly reloading: boolean;
  readonly stopping: boolean;
}

/** Datagrams are short; a value past this is not one systemd would send either. */
const MAX_FIELD = 4096;

export class SystemdNotify {
  private socket: NotifySocket | null = null;
  /** The main pid (and so the session) of the run now going; 0 between runs. */
  private session = 0;
  private strangerSeen = false;
  private status: string | null = null;
  private mainPid: number | null = null;
  private reloading = false;
  private stopping = false;

  constructor(
    private readonly procs: Processes,
    private readonly name: string,
    private readonly marker: string,
    private readonly hooks: NotifyHooks,
  ) {}

  get view(): NotifyView {
    return {
      socket: this.socket?.path ?? null,
      status: this.status,
      mainPid: this.mainPid,
      reloading: this.reloading,
      stopping: this.stopping,
    };
  }

  /** The socket's path, opened on first use; or why it cannot be opened. */
  open(): string | { error: string } {
    if (this.socket) return this.socket.path;
    const s = this.procs.openNotify(this.name, (m) => this.message(m));
    if (typeof s === 'string') return { error: s };
    this.socket = s;
    return s.path;
  }

  /** A run began with main process `pid`: its messages count from now. */
  attach(pid: number): void {
    this.session = pid;
    this.strangerSeen = false;
    this.status = null;
    this.mainPid = null;
    this.reloading = false;
    this.stopping = false;
  }

  /** The run ended: what is still sent for it is ignored. */
  detach(): void {
    this.session = 0;
  }

  /** The service is gone for good (stopped, untracked): the socket goes too. */
  close(): void {
    this.detach();
    this.socket?.close();
    this.socket = null;
  }

  private message(m: NotifyMessage): void {
    if (this.session === 0 || !this.fromService(m.pid)) return;
    for (const line of m.text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq <= 0 || line.length > MAX_FIELD) continue;
      this.field(line.slice(0, eq), line.slice(eq + 1));
    }
  }

  /**
   * Whether the sender is one of the service's processes: in its session, or
   * carrying its marker. A sender already gone cannot be asked; the socket
   * is the service's alone, so its message is taken as the service's.
   */
  private fromService(pid: number): boolean {
    const who = pid > 0 ? this.procs.senderOf(pid, this.marker) : undefined;
    if (who === null) return true;
    if (who !== undefined && (who.session === this.session || who.marked)) return true;
    if (!this.strangerSeen) {
      this.strangerSeen = true;
      const what =
        who === undefined ? 'a process outside this pid namespace' : `pid ${pid} (${who.comm})`;
      this.hooks.event(
        `ignored a notification from ${what}, which is not one of ${this.name}'s processes; any more are ignored without a word`,
      );
    }
    return false;
  }

  private field(key: string, value: string): void {
    switch (key) {
      case 'READY':
        if (value !== '1') return;
        this.reloading = false;
        this.hooks.ready();
        return;
      case 'STATUS':
        this.status = value;
        return;
      case 'RELOADING':
        if (value === '1') this.flag('reloading', 'notify: RELOADING=1');
        return;
      case 'STOPPING':
        if (value === '1') this.flag('stopping', 'notify: STOPPING=1');
        return;
      case 'MAINPID': {
        const pid = Number(value);
        if (Number.isSafeInteger(pid) && pid > 0 && pid !== this.mainPid) {
          this.mainPid = pid;
          this.hooks.event(`notify: MAINPID=${pid}`);
        }
        return;
      }
      case 'WATCHDOG':
        if (value === '1' || value === 'trigger')
          this.hooks.watchdog(value === '1' ? 'ping' : 'trigger');
        return;
      default:
        this.timeouts(key, value);
    }
  }

  private flag(which: 'reloading' | 'stopping', text: string): void {
    if (this[which]) return;
    this[which] = true;
    this.hooks.event(text);
  }

  private timeouts(key: string, value: string): void {
    if (key !== 'WATCHDOG_USEC' && key !== 'EXTEND_TIMEOUT_USEC') return;
    const usec = Number(value);
    if (!Number.isFinite(usec) || usec <= 0 || !/^[0-9]+$/.test(value)) return;
    const ms = Math.ceil(usec / 1000);
    if (key === 'WATCHDOG_USEC') this.hooks.watchdogTimeout(ms);
    else this.hooks.extend(ms);
  }
}
