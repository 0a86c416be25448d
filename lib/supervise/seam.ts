// What supervision needs of the operating system, as interfaces it is
// given rather than modules it imports: spawn a run in a session of its own,
// signal a group, tell whether a group has members left, end what a run left
// behind, end what an earlier daemon left running, receive systemd
// notifications, and, where the host allows, a cgroup per service that
// nothing escapes; and, beside it, the network checks of probes (HTTP, TCP).
// The daemon plugs in the real system (os/system.ts, os/network.ts); unit
// tests of the manager and workers plug in fakes. Types only.

import type { SignalName } from '../core/signals.js';
import type { GroupUsage } from '../os/cgroups.js';
import type { EarlierRun, Ended } from '../os/recover.js';
import type { Child, SpawnSpec } from '../os/spawn.js';

export type { Child, EarlierRun, Ended, GroupUsage, SpawnSpec };

/** A service's cgroup: every process of the service, whatever it did to leave its group. */
export interface ServiceBox {
  /** As /proc/PID/cgroup names it. */
  readonly path: string;
  /** Whether a process of the service is left in it. */
  populated(): boolean;
  /** Resolves true once it is empty, false when `deadline` (epoch ms) comes first; watched, not polled. */
  whenEmpty(deadline: number): Promise<boolean>;
  /** SIGKILL to all of it at once; how many processes there were. */
  kill(): number;
  /** SIGKILL to its health test's group. */
  killTest(): void;
  /** `signal` to every process in it outside process group `pgid`; how many were signalled. */
  signalOutside(pgid: number, signal: SignalName): number;
  /** The OOM killer's count in it; null where it has no memory controller. */
  oomKills(): number | null;
  /** Who is in it and what they use, read at one instant; null while it holds no process. */
  usage(): GroupUsage | null;
  /** Remove it once empty; the next spawn makes it again. */
  remove(): void;
}

export interface Processes {
  /** Spawn in a new session and process group. Never throws: failures arrive as 'error'. */
  spawn(spec: SpawnSpec): Child;
  /** Signal a whole group; false when it has no member left. */
  signalGroup(pgid: number, signal: SignalName | 0): boolean;
  groupExists(pgid: number): boolean;
  /** How many live processes group `pgid` holds (reads every process: for the rare case). */
  groupSize(pgid: number): Promise<number>;
  /** The marker value every process of `service` carries. */
  marker(service: string): string;
  /** The service's cgroup; null where sminitd cannot make cgroups (it tracks by group and marker). */
  box(service: string): ServiceBox | null;
  /**
   * Whether a process of the run (or of any of several services' runs)
   * may live on outside `groups` (given `waitMs` to be gone first): the
   * cheap check before a sweep.
   */
  mayHaveEscaped(
    groups: readonly number[],
    marker: string | readonly string[],
    waitMs: number,
  ): Promise<boolean>;
  /**
   * SIGKILL every process carrying `marker`, sparing those of the runs
   * `spare` names when asked at each scan, and wait until they are gone;
   * how many were killed.
   */
  sweepMarked(marker: string, spare: (() => readonly number[]) | null): Promise<number>;
  /** The last sweep of a shutdown: whatever any service left; how many were killed. */
  killLeftovers(): Promise<number>;
  /**
   * What earlier daemons of this socket, now gone, left running, by
   * service: asked once, at start-up, before anything is spawned.
   */
  findEarlier(): Promise<readonly EarlierRun[]>;
  /** End one service's leftovers as a stop would: `signal`, `timeoutMs`, then SIGKILL. */
  endEarlier(run: EarlierRun, signal: SignalName, timeoutMs: number): Promise<Ended>;
  /** A spawn failure as a person reads it (what could not run, and why). */
  describeSpawnError(err: NodeJS.ErrnoException, argv0: string, cwd: string): string;
  /**
   * A datagram socket of its own for `service`'s systemd notifications
   * (its path goes in NOTIFY_SOCKET); each message arrives with its
   * sender's pid, and descriptors sent along are closed. Why not, as text.
   */
  openNotify(service: string, onMessage: (m: NotifyMessage) => void): NotifySocket | string;
  /** Who process `pid` is, for a notification's sender; null when it is gone. */
  senderOf(pid: number, marker: string): Sender | null;
}

/** One notification datagram. */
export interface NotifyMessage {
  /** The sender's pid as the kernel reports it (0 when it is not visible here). */
  readonly pid: number;
  readonly text: string;
}

export interface NotifySocket {
  readonly path: string;
  /** Stop listening and remove the socket. */
  close(): void;
}

export interface Sender {
  /** Its session: a service's processes share the session of its main process. */
  readonly session: number;
  /** Whether it carries the service's marker (a process that left the session). */
  readonly marked: boolean;
  readonly comm: string;
}

/** What a probe's check came to. */
export type CheckOutcome = { readonly ok: boolean; readonly reason: string };

/** The network checks of probes, which supervision reaches through this seam. */
export interface Network {
  /** A GET of `url`: its status, or why there was none within `timeoutMs`. */
  httpGet(url: string, timeoutMs: number): Promise<{ status: number } | { error: string }>;
  /** A TCP connection to host:port: null when it opened within `timeoutMs`, else why not. */
  tcpConnect(host: string, port: number, timeoutMs: number): Promise<string | null>;
}
