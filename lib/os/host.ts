// What this host offers services, found once at start-up: the user and
// group databases (through the native layer), sminitd's own ids, and the
// cgroups sminitd may make (cgroup-layout.ts), with the one line that says
// how services are tracked. Finds and reports; the daemon wires it in.

import type { Host } from '../core/host.js';
import { detectLayout, unenforceable } from './cgroup-layout.js';
import { Cgroups } from './cgroups.js';
import { daemonGroupName } from './cgroup-tree.js';
import { daemonId } from './markers.js';
import type { Native } from './native.js';

export interface HostSetup {
  readonly host: Host;
  /** The services' cgroups; null where services are tracked by process group and marker. */
  readonly cgroups: Cgroups | null;
  /** How services are tracked, said once at start. */
  readonly summary: string;
}

/** The daemon's cgroups are made under sminitd's own: `sminit.PID.START` (its daemon id). */
export function setupHost(
  native: Native | null,
  cgroupName = daemonGroupName(daemonId()),
): HostSetup {
  const layout = detectLayout(cgroupName);
  const tracking = layout.tracking;
  const cgroups = tracking === null ? null : new Cgroups({ ...layout, tracking });
  if (native !== null) cgroups?.allowSpawnInto((dir) => native.probeSpawnInto(dir));
  const host: Host = {
    accounts: native?.accounts ?? null,
    self: { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 },
    unenforceable: (key) => unenforceable(layout, key),
  };
  return { host, cgroups, summary: summaryOf(layout) };
}

function summaryOf(layout: ReturnType<typeof detectLayout>): string {
  const t = layout.tracking;
  if (t === null) {
    return (
      `no cgroups (${layout.fallback ?? 'none'}): tracking services by process group and marker; ` +
      'memory_max, memory_high, pids_max, cpu_max and cpu_weight cannot be enforced'
    );
  }
  const limits = Object.entries(layout.controllers)
    .map(([c, h]) => `${c} (v${h.version})`)
    .join(', ');
  const root = `/${t.root.slice(t.mount.length).replace(/^\//, '')}`;
  return `tracking each service in its own cgroup under ${root} (cgroup v2); limits through ${limits || 'no controller'}`;
}
