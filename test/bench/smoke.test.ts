// The benchmark keeps working: a tiny run (N=10, one repetition, short
// windows) must finish and report every figure. No figure's value is judged
// here; timing belongs to the bench run by hand, never to the test suite.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DIST, tempDir } from '../helpers/daemon.js';

const N = 10;
const EXPECTED = [
  `floor.c.${N}`,
  `floor.c_stop.${N}`,
  `floor.node_spawn.${N}`,
  `floor.node.${N}`,
  'floor.node_start',
  'floor.node_client',
  `cold.flat.${N}`,
  `cold.flat_c.${N}`,
  `cold.flat_nolog.${N}`,
  `cold.dag_test.${N}`,
  `stop.${N}`,
  `stop_exit.${N}`,
  `stop_batch.${N}`,
  `rss.${N}`,
  `rss_start.${N}`,
  `rss_peak.${N}`,
  `pss.${N}`,
  'ring.text_kept',
  `idle.cpu.${N}`,
  `idle.wakeups.${N}`,
  `idle.main_slices.${N}`,
  `idle.wakeups_later.${N}`,
  `respawn.${N}`,
  'respawn.boxed',
  'control.cli',
  'control.cli_client',
  'floor.rpc_raw',
  'control.raw',
  'floor.rpc.1',
  'floor.rpc.16',
  'floor.rpc.64',
  'control.rps.1',
  'control.rps.16',
  'control.rps.64',
  'follow.floor',
  'follow.cli',
  'follow.lost',
  `reload.noop.${N}`,
  `stopall.${N}`,
];

t.test('a quick bench run reports every figure', async (t) => {
  const out = join(tempDir(t, 'sminit-bsmoke-'), 'bench.json');
  const args = ['--quick', '--n', String(N), '--reps', '1', '--idle', '0.2', '--json', out];
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((res) => {
    const p = spawn(process.execPath, [join(DIST, 'bench/bench.js'), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGINT'), 110_000);
    p.on('close', (c) => {
      clearTimeout(timer);
      res({ code: c, stderr: err });
    });
  });
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);
  const doc = JSON.parse(readFileSync(out, 'utf8')) as {
    machine: { cpus: number };
    figures: { id: string; value: number; samples: number[] }[];
  };
  t.ok(doc.machine.cpus > 0, 'describes the machine');
  const ids = doc.figures.map((f) => f.id);
  t.same([...ids].sort(), [...EXPECTED].sort(), 'every figure, once');
  for (const f of doc.figures) {
    t.ok(Number.isFinite(f.value) && f.samples.length > 0, `${f.id} has a measured value`);
  }
});
