// Who a process belongs to, written into its environment: the daemon's
// identity (pid and start time), the service, the run, the socket it
// serves. A process that left its group is still found by these. Reads
// /proc once for the daemon's own start time; keeps that and the socket.

import { readStat } from './procfs.js';

/** The variable that marks every process a service starts, so ones that left the group can be found. */
export const MARKER_VAR = 'SMINIT_SERVICE';
/** Marks every process of any service of this daemon: one sweep finds them all at shutdown. */
export const DAEMON_VAR = 'SMINIT_DAEMON';
/** Which start of the service a process belongs to: a restart sweeps the old run's, not the new one's. */
export const RUN_VAR = 'SMINIT_RUN';
/**
 * The socket of the daemon that started a process: what names a daemon
 * across its restarts, so a new one on the same socket knows its
 * predecessor's processes from those of another daemon on the machine.
 */
export const SOCKET_VAR = 'SMINIT_DAEMON_SOCKET';

let socketPath: string | null = null;

/** Set once at start-up, before anything is spawned: the socket this daemon serves. */
export function setSocketMarker(path: string): void {
  socketPath = path;
}

/** The socket path every service process carries; null when the daemon has not said. */
export function socketMarker(): string | null {
  return socketPath;
}

let selfId: string | null = null;

/** A daemon's pid and start time: what its id says. */
export interface DaemonIdentity {
  readonly pid: number;
  readonly startTime: number;
}

/** The id of the daemon with this pid and start time (`PID.START`): the one place it is made. */
export function formatDaemonId(pid: number, startTime: number): string {
  return `${pid}.${startTime}`;
}

/** Reads a daemon id (`PID.START`); null for anything else. */
export function parseDaemonId(id: string): DaemonIdentity | null {
  const m = /^(\d+)\.(\d+)$/.exec(id);
  return m ? { pid: Number(m[1]), startTime: Number(m[2]) } : null;
}

/**
 * A daemon's identity in markers: its pid and start time. The pid alone is
 * not enough: every container's sminitd is pid 1, and a host's sminitd must
 * never take a container's processes for its own.
 */
export function daemonId(pid: number = process.pid): string {
  if (pid === process.pid && selfId !== null) return selfId;
  const id = formatDaemonId(pid, readStat(pid)?.startTime ?? 0);
  if (pid === process.pid) selfId = id;
  return id;
}

/** The marker value of one service of the daemon `daemonPid` (which must be running). */
export function markerValue(daemonPid: number, service: string): string {
  return `${daemonId(daemonPid)}:${service}`;
}

/** A marker's parts: the daemon (pid and start time) and the service. */
export interface MarkerParts {
  readonly daemonPid: number;
  readonly daemonStart: number;
  readonly service: string;
}

/** Reads `<pid>.<start time>:<name>`; null for anything else. */
export function parseMarker(value: string): MarkerParts | null {
  const m = /^([^:]+):(.+)$/.exec(value);
  const daemon = m === null ? null : parseDaemonId(m[1] ?? '');
  if (m === null || daemon === null) return null;
  return { daemonPid: daemon.pid, daemonStart: daemon.startTime, service: m[2] ?? '' };
}
