// Node's floor for starting services: spawn N `sleep` processes the way
// sminitd does (own session, stdout and stderr on pipes) and wait for every
// 'spawn' event. Prints one JSON line with the time that took and the
// wall-clock time it finished, then kills them and exits. Nothing else: this
// is what Node itself costs, to read sminit's cold start against.
//
// usage: node floor-node.js N MARKER   (MARKER goes into the children's env)

import { type ChildProcess, spawn } from 'node:child_process';

const n = Number(process.argv[2]);
const marker = process.argv[3] ?? 'floor';
if (!Number.isSafeInteger(n) || n <= 0) {
  process.stderr.write('usage: floor-node N MARKER\n');
  process.exit(2);
}

const env = { ...process.env, SMINIT_BENCH_FLOOR: marker };
const children: ChildProcess[] = [];
const t0 = performance.now();
let left = n;
const spawned = (): void => {
  if (--left > 0) return;
  const t1 = performance.now();
  process.stdout.write(
    JSON.stringify({ spawnMs: t1 - t0, doneAt: performance.timeOrigin + t1 }) + '\n',
  );
  let running = children.length;
  for (const c of children) {
    c.once('exit', () => {
      if (--running === 0) process.exit(0);
    });
    process.kill(-(c.pid ?? 0), 'SIGKILL');
  }
};
for (let i = 0; i < n; i++) {
  const c = spawn('sleep', ['100000'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  c.once('spawn', spawned);
  c.once('error', (err) => {
    process.stderr.write(`spawn sleep: ${err.message}\n`);
    process.exit(1);
  });
  children.push(c);
}
