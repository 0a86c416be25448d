// service_stats: memory and CPU of a service's process and each process in
// its tree, measured from /proc over a short window. Runs outside the
// manager's queue, so measuring never holds up another request.

import { Errors } from '../core/errors.js';
import { clockTicks, descendants, processStats, processTable } from '../os/procfs.js';
import type { ProcessStats, ServiceStats } from './wire.js';

/** CPU percent needs two readings; this is the gap between them. */
export const SAMPLE_MS = 200;

export async function serviceStats(name: string, pid: number): Promise<ServiceStats> {
  if (pid === 0) throw Errors.notRunning(name);
  const table = await processTable();
  const pids = [pid, ...descendants(table, [pid])];
  const before = await Promise.all(pids.map(processStats));
  await new Promise((r) => setTimeout(r, SAMPLE_MS));
  const after = await Promise.all(pids.map(processStats));
  const perTick = 1000 / clockTicks();
  const measured: ProcessStats[] = [];
  pids.forEach((p, i) => {
    const a = after[i];
    if (!a) return;
    const b = before[i];
    const ticks = b ? a.cpuTicks - b.cpuTicks : 0;
    measured.push({
      pid: p,
      memory_usage: a.rssBytes,
      cpu_usage: Math.round(((ticks * perTick) / SAMPLE_MS) * 1000) / 10,
    });
  });
  const main = measured.find((m) => m.pid === pid);
  if (!main) throw Errors.notRunning(name);
  return { name, ...main, children: measured.filter((m) => m.pid !== pid) };
}
