// The shape of sminit's cgroup tree, in one place: under sminitd's own
// group, a daemon group named `sminit.PID.START` (its pid and start time:
// its daemon id, as in the markers; `-N` added when that name is taken),
// in it one group per service named as the service, and in each a `test`
// group for its health tests and exec probes. Names and reads only; making,
// joining and killing are cgroup-layout.ts's and cgroups.ts's.

import { readdirSync } from 'node:fs';
import { readSmallFile } from './small-file.js';
import { basename, join } from 'node:path';
import { type DaemonIdentity, parseDaemonId } from './markers.js';

/** The child group of a service's group that its health tests and exec probes run in. */
export const TEST_GROUP = 'test';

const DAEMON_PREFIX = 'sminit.';

/** The daemon group's name for the daemon with this id (`PID.START`). */
export function daemonGroupName(daemonId: string): string {
  return DAEMON_PREFIX + daemonId;
}

/** Whose a daemon group is: the daemon id in its name (`sminit.PID.START`, maybe `-N`); null if not one. */
export function daemonOfGroup(name: string): DaemonIdentity | null {
  if (!name.startsWith(DAEMON_PREFIX)) return null;
  return parseDaemonId(name.slice(DAEMON_PREFIX.length).replace(/-\d+$/, ''));
}

/** A service's group in a daemon group. */
export function serviceGroupDir(daemonDir: string, service: string): string {
  return join(daemonDir, service);
}

/** Whether a v2 group has a process in it or below it (`populated 1` in cgroup.events). */
export function isPopulated(dir: string): boolean {
  try {
    return /(?:^|\n)populated 1/.test(readSmallFile(join(dir, 'cgroup.events')));
  } catch {
    return false;
  }
}

export interface PopulatedGroup {
  /** The daemon that made it, from its daemon group's name. */
  readonly daemon: DaemonIdentity;
  readonly service: string;
  /** The service's group, absolute, in the v2 hierarchy. */
  readonly dir: string;
}

/**
 * The service groups with processes left in them, of one daemon group (a
 * v2 directory named `sminit.PID.START`): what a restarted sminitd finds
 * its killed predecessor left. None when `daemonDir` is not a daemon group
 * or cannot be read.
 */
export function populatedServices(daemonDir: string): PopulatedGroup[] {
  const daemon = daemonOfGroup(basename(daemonDir));
  if (daemon === null) return [];
  return childGroups(daemonDir)
    .map((service) => ({ daemon, service, dir: serviceGroupDir(daemonDir, service) }))
    .filter((g) => isPopulated(g.dir));
}

/** The names of the groups directly in a group (its subdirectories); none when it cannot be read. */
export function childGroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}
