// The real system behind the supervisor's process seam (supervise/seam.ts):
// spawning through the daemon's Spawner, signalling groups, the leftover
// checks and sweeps, the markers, the notification sockets. Only wiring: each entry calls the module
// that owns it. The daemon builds one and hands it to the manager.

import { groupExists, signalGroup } from './kill.js';
import { killLeftovers, mayHaveEscaped, sweepMarked } from './leftovers.js';
import { MARKER_VAR, markerValue } from './markers.js';
import { type NotifyMessage, type NotifySockets, senderOf } from './notify.js';
import { groupMembers, processTable } from './procfs.js';
import { type Spawner, describeSpawnError } from './spawn.js';

export function systemProcesses(spawner: Spawner, notify: NotifySockets) {
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
    describeSpawnError,
    openNotify: (service: string, onMessage: (m: NotifyMessage) => void) =>
      notify.listen(service, onMessage),
    senderOf,
  };
}
