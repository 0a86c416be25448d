// service_stats: memory and CPU of a service's process and each other
// process of it, measured over a short window, in zinit's shape; where the
// service has a cgroup, its processes are exactly the group's members
// (whatever left the process tree), and status gets the group's own totals
// (groupUsage). Runs outside the manager's queue, so measuring never holds
// up another request.

import { Errors } from '../core/errors.js';
import type { GroupUsage, ServiceBox } from '../supervise/seam.js';
import { clockTicks, descendants, processRss, processStats, processTable } from '../os/procfs.js';
import type { GroupUsageWire, ProcessStats, ServiceStats } from './wire.js';

/** CPU percent needs two readings; this is the gap between them. */
export const SAMPLE_MS = 200;

type Sample = ReturnType<typeof processStats>;

export async function serviceStats(
  name: string,
  pid: number,
  box: ServiceBox | null = null,
): Promise<ServiceStats> {
  if (pid === 0) throw Errors.notRunning(name);
  const first = box?.usage() ?? null;
  const pids = first
    ? [pid, ...first.pids.filter((p) => p !== pid)]
    : [pid, ...descendants(await processTable(), [pid])];
  const before = pids.map(processStats);
  await new Promise((r) => setTimeout(r, SAMPLE_MS));
  const after = pids.map(processStats);
  const measured = perProcess(pids, before, after);
  const main = measured.find((m) => m.pid === pid);
  if (!main) throw Errors.notRunning(name);
  return { name, ...main, children: measured.filter((m) => m.pid !== pid) };
}

function perProcess(pids: readonly number[], before: Sample[], after: Sample[]): ProcessStats[] {
  const perTick = 1000 / clockTicks();
  const measured: ProcessStats[] = [];
  pids.forEach((p, i) => {
    const a = after[i];
    if (!a) return;
    const b = before[i];
    const ticks = b ? a.cpuTicks - b.cpuTicks : 0;
    measured.push({ pid: p, memory_usage: a.rssBytes, cpu_usage: percent(ticks * perTick) });
  });
  return measured;
}

/** Percent of one CPU for `ms` of CPU time over the sample window, to a tenth. */
function percent(ms: number): number {
  return Math.round((ms / SAMPLE_MS) * 1000) / 10;
}

/** What the group holds, memory from the controller or else summed over its processes. */
function usageWire(u: GroupUsage): GroupUsageWire {
  const memory = u.memoryBytes ?? u.pids.reduce((sum, p) => sum + (processRss(p) ?? 0), 0);
  return {
    processes: u.pids.length,
    tasks: u.tasks,
    memory_usage: memory,
    memory_source: u.memoryBytes === null ? 'processes' : 'cgroup',
    cpu_time_ms: Math.round(u.cpuUsec / 100) / 10,
    oom_kills: u.oomKills,
  };
}

/**
 * What a service's cgroup holds at this instant, for its status; null without
 * one, while empty, or when the system refuses the reads (out of descriptors,
 * say): the status is still answered, and usage is only ever an extra.
 */
export function groupUsage(box: ServiceBox | null): GroupUsageWire | null {
  try {
    const u = box?.usage() ?? null;
    return u === null ? null : usageWire(u);
  } catch (err) {
    if (typeof (err as NodeJS.ErrnoException | null)?.code === 'string') return null;
    throw err;
  }
}
