// How a service's process begins life: spawned by sminitd through
// posix_spawn, it must look exactly as if a careful fork+exec had made it —
// its own session and group, a clean signal state, stdin on /dev/null,
// output on the daemon's pipes and no other descriptor, the working
// directory and environment of its definition, its program found in its own
// PATH — and its exit must reach its worker with the right code or signal.
// Everything is read from /proc.

import t from 'tap';
import {
  chmodSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { readStat } from '../../lib/os/procfs.js';
import { markerValue } from '../../lib/os/markers.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor, waitPastWrapper } from '../helpers/wait.js';

/** The descriptors a process holds, as `fd → target`. */
function descriptors(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    out[fd] = readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/\[\d+\]$/, '');
  }
  return out;
}

function statusField(pid: number, field: string): string | undefined {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return new RegExp(`^${field}:\\s*(\\S+)$`, 'm').exec(text)?.[1];
}

function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter(Boolean);
}

t.test('a service process starts clean, in its own session, with only its stdio', async (t) => {
  const work = tempDir(t, 'sminit-cwd-');
  // Inherited as a careless shell might leave them: two signals ignored.
  const d = await startDaemon(
    t,
    {
      web: `exec: sleep 1000\ndir: ${work}\nenv:\n  GREETING: hello there\n`,
      quiet: `exec: sleep 1000\nlog: none\n`,
    },
    [],
    { viaShell: `trap '' USR2 PIPE` },
  );
  const web = await d.waitStatus('web', (s) => s.status === 'running', 'web up');
  await waitPastWrapper(web.pid);
  const stat = readStat(web.pid);
  t.equal(stat?.ppid, d.pid, 'a child of sminitd');
  t.equal(stat?.session, web.pid, 'leads its own session');
  t.equal(stat?.pgrp, web.pid, 'and its own process group');
  t.equal(statusField(web.pid, 'SigIgn'), '0000000000000000', 'no signal ignored');
  t.equal(statusField(web.pid, 'SigBlk'), '0000000000000000', 'no signal blocked');
  t.same(
    descriptors(web.pid),
    { 0: '/dev/null', 1: 'pipe:', 2: 'pipe:' },
    'stdin on /dev/null, output on pipes, nothing else',
  );
  t.equal(readlinkSync(`/proc/${web.pid}/cwd`), work, 'in its directory');
  const env = environ(web.pid);
  t.ok(env.includes('GREETING=hello there'), 'its own variables');
  t.ok(env.includes(`SMINIT_SERVICE=${markerValue(d.pid, 'web')}`), 'the service marker');
  t.ok(env.includes('SMINIT_RUN=1'), 'the run number');
  t.equal(env.filter((e) => e.startsWith('SMINIT_RUN=')).length, 1, 'each variable once');

  const quiet = await d.waitStatus('quiet', (s) => s.status === 'running', 'quiet up');
  await waitPastWrapper(quiet.pid);
  t.same(
    descriptors(quiet.pid),
    { 0: '/dev/null', 1: '/dev/null', 2: '/dev/null' },
    'log: none puts all three on /dev/null',
  );
});

t.test('a program is looked up in the PATH of the service, not of sminitd', async (t) => {
  const bin = tempDir(t, 'sminit-bin-');
  const tool = join(bin, 'sminit-test-hello');
  writeFileSync(tool, '#!/bin/sh\necho "hello from $0"\nexec sleep 1000\n');
  chmodSync(tool, 0o755);
  // Not executable: skipped, as execvp skips it.
  const shadow = tempDir(t, 'sminit-shadow-');
  writeFileSync(join(shadow, 'sminit-test-hello'), '#!/bin/sh\necho wrong\n');
  const plain = join(bin, 'sminit-test-plain');
  writeFileSync(plain, 'echo "plain script, $1"\nexec sleep 1000\n');
  chmodSync(plain, 0o755);
  const d = await startDaemon(t, {
    hello: `exec: sminit-test-hello\nenv:\n  PATH: ${shadow}:${bin}:/usr/bin:/bin\n`,
    nowhere: 'exec: sminit-test-hello\nrestart: never\n',
    denied: `exec: sminit-test-hello\nrestart: never\nenv:\n  PATH: ${shadow}:/usr/bin:/bin\n`,
    plain: `exec: ${plain} first\n`,
  });
  const up = await d.waitStatus('hello', (s) => s.status === 'running', 'hello up');
  t.ok(up.pid > 0, 'running');
  const lines = await waitFor('its greeting', async () => {
    const { lines } = await d.client.readLogs({ names: ['hello'] });
    return lines.some((l) => l.stream === 'stdout') ? lines : null;
  });
  t.ok(
    lines.some((l) => l.stream === 'stdout' && l.text === `hello from ${tool}`),
    'ran the executable one, by its full path',
  );
  const failed = await d.waitStatus('nowhere', (s) => s.status === 'failed', 'nowhere fails');
  t.match(failed.reason ?? '', /cannot run 'sminit-test-hello': no such file or directory/);
  const denied = await d.waitStatus('denied', (s) => s.status === 'failed', 'denied fails');
  t.match(denied.reason ?? '', /permission denied.*\(EACCES\)/, 'found but not executable');
  // No #! line: run by the shell, as execvp does.
  await d.waitStatus('plain', (s) => s.status === 'running', 'plain up');
  await waitFor('the plain script to speak', async () => {
    const { lines } = await d.client.readLogs({ names: ['plain'] });
    return lines.some((l) => l.stream === 'stdout' && l.text === 'plain script, first');
  });
});

t.test('a program moved to another directory of PATH is found again on restart', async (t) => {
  const first = tempDir(t, 'sminit-bin1-');
  const second = tempDir(t, 'sminit-bin2-');
  writeFileSync(join(first, 'sminit-test-mover'), '#!/bin/sh\necho "from $0"\nexec sleep 1000\n');
  chmodSync(join(first, 'sminit-test-mover'), 0o755);
  const d = await startDaemon(t, {
    mover: `exec: sminit-test-mover\nrestart_delay: 10ms\nenv:\n  PATH: ${first}:${second}:/usr/bin:/bin\n`,
  });
  const one = await d.waitStatus('mover', (s) => s.status === 'running', 'first run');
  // Running means spawned, not yet spoken: kill it before its echo and the line is never written.
  await waitFor('the first run to speak', async () => {
    const { lines } = await d.client.readLogs({ names: ['mover'] });
    return lines.some((l) => l.stream === 'stdout');
  });
  renameSync(join(first, 'sminit-test-mover'), join(second, 'sminit-test-mover'));
  process.kill(one.pid, 'SIGKILL');
  await d.waitStatus('mover', (s) => s.status === 'running' && s.pid !== one.pid, 'second run');
  const said = await waitFor('both runs to speak', async () => {
    const { lines } = await d.client.readLogs({ names: ['mover'] });
    const out = lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    return out.length >= 2 ? out : null;
  });
  t.same(said, [`from ${first}/sminit-test-mover`, `from ${second}/sminit-test-mover`]);
});

t.test('the exit code or signal of each process reaches its worker', async (t) => {
  const d = await startDaemon(t, {
    code: "exec: sh -c 'exit 7'\nrestart: never\n",
    signal: "exec: sh -c 'kill -USR1 $$'\nrestart: never\n",
    abort: "exec: sh -c 'kill -ABRT $$'\nrestart: never\n",
    realtime: "exec: sh -c 'kill -37 $$'\nrestart: never\n",
    many: "exec: sh -c 'exit 3'\nrestart: always\nrestart_delay: 10ms\nrestart_max_delay: 10ms\n",
  });
  const events = async (name: string): Promise<string[]> =>
    (await d.client.readLogs({ names: [name] })).lines
      .filter((l) => l.stream === 'event')
      .map((l) => l.text);
  await d.waitStatus('code', (s) => s.status === 'exited', 'code exits');
  t.ok((await events('code')).includes('exited with code 7'), 'exit code 7');
  await d.waitStatus('signal', (s) => s.status === 'exited', 'signal exits');
  t.ok((await events('signal')).includes('killed by SIGUSR1'), 'killed by SIGUSR1');
  await d.waitStatus('abort', (s) => s.status === 'exited', 'abort exits');
  t.ok((await events('abort')).includes('killed by SIGABRT'), 'SIGABRT, not its alias SIGIOT');
  await d.waitStatus('realtime', (s) => s.status === 'exited', 'realtime exits');
  t.ok((await events('realtime')).includes('killed by SIGRTMIN+3'), 'a real-time signal named');
  // Many quick exits in a row: every one is reaped and every one restarts.
  const exits = await waitFor('twenty exits of many', async () => {
    const texts = (await events('many')).filter((e) => e.startsWith('exited'));
    return texts.length >= 20 ? texts : null;
  });
  t.ok(
    exits.every((e) => e === 'exited with code 3'),
    'each with its code',
  );
  await d.client.stop('many');
  t.notMatch(d.stderr(), /internal error/);
});
