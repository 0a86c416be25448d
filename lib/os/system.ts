// The real system behind the supervisor's process seam (supervise/seam.ts):
// spawning through the daemon's Spawner (each process set up in its box
// first), signalling groups, the services' cgroups where the host allows
// them, the leftover checks and sweeps, the markers, what an earlier daemon
// left, the notification sockets. Only wiring: each entry calls the module
// that owns it. The daemon builds one and hands it to the manager.

import type { Cgroups, ServiceGroup } from './cgroups.js';
import { groupExists, signalGroup } from './kill.js';
import { killLeftovers, mayHaveEscaped, sweepMarked } from './leftovers.js';
import { MARKER_VAR, markerValue, socketMarker } from './markers.js';
import { type LeftoverSource, Recovery, markerSource } from './recover.js';
import { cgroupSource } from './recover-cgroup.js';
import { type NotifyMessage, type NotifySockets, senderOf } from './notify.js';
import { groupMembers, processTable } from './procfs.js';
import {
  type Child,
  type SpawnSpec,
  type Spawner,
  describeSpawnError,
  failedSpawn,
} from './spawn.js';
import { boxFor } from './wrap.js';

export function systemProcesses(
  spawner: Spawner,
  notify: NotifySockets,
  cgroups: Cgroups | null,
  sources: readonly LeftoverSource[] = defaultSources(cgroups),
) {
  const recovery = new Recovery(sources);
  // One box per group, made at its first use: a status reads it per request.
  const boxes = new WeakMap<ServiceGroup, Box>();
  // A child spawned in this turn may still be setting itself up (its
  // session, its cgroups): whatever signals a group or looks at one waits
  // for that first.
  const settled =
    <A extends unknown[], R>(f: (...args: A) => R) =>
    (...args: A): R => {
      spawner.settle();
      return f(...args);
    };
  return {
    spawn: (spec: SpawnSpec): Child => {
      if (spec.setup === undefined) return spawner.spawn(spec);
      const box = boxFor(spec.setup, cgroups?.of(spec.setup.service) ?? null);
      return typeof box === 'string' ? failedSpawn(box) : spawner.spawn({ ...spec, box });
    },
    signalGroup: settled(signalGroup),
    groupExists: settled(groupExists),
    groupSize: settled(
      async (pgid: number): Promise<number> => groupMembers(await processTable(), pgid).length,
    ),
    marker: (service: string): string => markerValue(process.pid, service),
    box: (service: string): Box | null => {
      const group = cgroups?.of(service) ?? null;
      if (group === null) return null;
      let box = boxes.get(group);
      if (box === undefined) boxes.set(group, (box = settledBox(group, settled)));
      return box;
    },
    mayHaveEscaped: settled(
      (groups: readonly number[], marker: string | readonly string[], waitMs: number) =>
        mayHaveEscaped(spawner, groups, marker, waitMs),
    ),
    sweepMarked: settled((marker: string, spare: (() => readonly number[]) | null) =>
      sweepMarked(marker, MARKER_VAR, spare),
    ),
    killLeftovers: settled(
      async (): Promise<number> =>
        (cgroups?.killAll() ?? 0) + (await killLeftovers(cgroups === null)),
    ),
    findEarlier: () => recovery.find(),
    endEarlier: recovery.end.bind(recovery),
    describeSpawnError,
    openNotify: (service: string, onMessage: (m: NotifyMessage) => void) =>
      notify.listen(service, onMessage),
    senderOf,
  };
}

type Settled = <A extends unknown[], R>(f: (...args: A) => R) => (...args: A) => R;

/** What the supervisor may do with a service's group (supervise/seam.ts's ServiceBox). */
type Box = Pick<
  ServiceGroup,
  | 'path'
  | 'populated'
  | 'whenEmpty'
  | 'kill'
  | 'killTest'
  | 'signalOutside'
  | 'oomKills'
  | 'usage'
  | 'remove'
>;

/** A service's group whose every look and signal waits for this turn's children to be in it. */
function settledBox(group: ServiceGroup, settled: Settled): Box {
  return {
    path: group.path,
    populated: settled(() => group.populated()),
    whenEmpty: settled((deadline: number) => group.whenEmpty(deadline)),
    kill: settled(() => group.kill()),
    killTest: settled(() => group.killTest()),
    signalOutside: settled((pgid: number, signal: NodeJS.Signals) =>
      group.signalOutside(pgid, signal),
    ),
    oomKills: () => group.oomKills(),
    usage: settled(() => group.usage()),
    remove: settled(() => group.remove()),
  };
}

/**
 * Where an earlier daemon's processes are looked for, once the socket is
 * known: by marker, and where services have cgroups, in the groups of a
 * gone daemon's tree (which also hold those that cleared their environment).
 */
function defaultSources(cgroups: Cgroups | null): LeftoverSource[] {
  const socket = socketMarker();
  if (socket === null) return [];
  const marker = markerSource(socket);
  return cgroups === null ? [marker] : [marker, cgroupSource(socket, cgroups.layout)];
}
