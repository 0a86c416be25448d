// Small helpers the lifecycle suites share: a service file from plain
// values, a service's lifecycle events, and waiting for one of them.

import type { LogLine } from '../../lib/api/wire.js';
import type { Daemon } from './daemon.js';
import { waitFor } from './wait.js';

/** A service file from plain values: JSON scalars and flow mappings are valid YAML. */
export function svc(fields: Record<string, unknown>): string {
  return (
    Object.entries(fields)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n') + '\n'
  );
}

export async function events(d: Daemon, name: string): Promise<LogLine[]> {
  const { lines } = await d.client.readLogs({ names: [name] });
  return lines.filter((l) => l.stream === 'event');
}

export function waitEvent(
  d: Daemon,
  name: string,
  re: RegExp,
  timeoutMs = 10000,
): Promise<LogLine> {
  return waitFor(
    `an event of ${name} matching ${re}`,
    async () => (await events(d, name)).find((l) => re.test(l.text)) ?? null,
    timeoutMs,
  );
}
