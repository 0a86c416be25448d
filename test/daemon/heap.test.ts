// The daemon's heap: it runs with HEAP_FLAGS in the process it was started
// as, and collects its start-up garbage once, when no service is starting.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { HEAP_FLAGS, collectAfterStartup, useCollector } from '../../lib/daemon/collect.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

t.test('sminitd runs itself again with its heap flags, keeping its pid', async (t) => {
  const d = await startDaemon(t, { web: 'exec: sleep 1000\n' });
  await waitFor('web running', async () => (await d.client.status('web')).status === 'running');
  const argv = readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').split('\0');
  for (const f of HEAP_FLAGS) t.ok(argv.includes(f), `${f} on its command line`);
  t.equal(d.proc.pid, d.pid, 'the process the test started is the daemon');
});

t.test('the start-up is collected once, after the last service stops starting', async (t) => {
  let collections = 0;
  let starting = 3;
  useCollector(() => collections++);
  const cancel = collectAfterStartup(() => starting);
  t.teardown(cancel);
  await new Promise((r) => setTimeout(r, 600));
  t.equal(collections, 0, 'not while services are starting');
  starting = 0;
  // Two quiet looks in a row of this very process: a loaded machine can
  // take a while to give them, so the deadline is generous.
  await waitFor('the collection', () => collections === 1, 20_000);
  await new Promise((r) => setTimeout(r, 600));
  t.equal(collections, 1, 'once');
});
