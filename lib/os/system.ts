// The real system behind the supervisor's process seam (supervise/seam.ts):
// spawning through the daemon's Spawner, signalling groups, the leftover
// checks and sweeps, the markers, what an earlier daemon left, the notification sockets. Only wiring: each entry calls the module
// that owns it. The daemon builds one and hands it to the manager.

import { groupExists, signalGroup } from './kill.js';
import { killLeftovers, mayHaveEscaped, sweepMarked } from './leftovers.js';
import { MARKER_VAR, markerValue, socketMarker } from './markers.js';
import { type LeftoverSource, Recovery, markerSource } from './recover.js';
import { type NotifyMessage, type NotifySockets, senderOf } from './notify.js';
import { groupMembers, processTable } from './procfs.js';
import { type Spawner, describeSpawnError } from './spawn.js';

export function systemProcesses(
  spawner: Spawner,
  notify: NotifySockets,
  sources: readonly LeftoverSource[] = defaultSources(),
) {
  const recovery = new Recovery(sources);
  return {
    spawn: spawner.spawn.bind(spawner),
    signalGroup,
    groupExists,
    groupSize: async (pgid: number): Promise<number> =>
      groupMembers(await processTable(), pgid).length,
    marker: (service: string): string => markerValue(process.pid, service),
    mayHaveEscaped: (
      groups: readonly number[],
      marker: string | readonly string[],
      waitMs: number,
    ) => mayHaveEscaped(spawner, groups, marker, waitMs),
    sweepMarked: (marker: string, spare: (() => readonly number[]) | null) =>
      sweepMarked(marker, MARKER_VAR, spare),
    killLeftovers,
    findEarlier: () => recovery.find(),
    endEarlier: recovery.end.bind(recovery),
    describeSpawnError,
    openNotify: (service: string, onMessage: (m: NotifyMessage) => void) =>
      notify.listen(service, onMessage),
    senderOf,
  };
}

/** Where an earlier daemon's processes are looked for: by marker, once the socket is known. */
function defaultSources(): LeftoverSource[] {
  const socket = socketMarker();
  return socket === null ? [] : [markerSource(socket)];
}
