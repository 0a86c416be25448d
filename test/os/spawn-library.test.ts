// The two ways a boxed service is spawned give the same process: through
// sminit's spawn library (native/spawn.c), where the child sets up its own
// cgroups, limits and user before its one exec, and through posix_spawn
// with the /bin/sh wrapper (`SMINIT_SPAWN=posix_spawn`, or no library
// built). And the library's own case: it returns before the exec, so an
// exec that fails only then still reaches the service, with its errno.

import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helperStep } from '../../lib/os/native-spawn.js';
import { readStat } from '../../lib/os/procfs.js';
import { startDaemon, tempDir, unifiedDir } from '../helpers/daemon.js';
import { waitFor, waitPastWrapper } from '../helpers/wait.js';

const WRAPPER_LINE = /spawning through posix_spawn: .*\/bin\/sh wrapper/;

function statusField(pid: number, field: string): string {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '';
}

/** Field 19 of /proc/PID/stat: the nice value. */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** The limit line of /proc/PID/limits for `name` ("Max open files"), as soft and hard. */
function limit(pid: number, name: string): string[] {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name));
  return (line ?? '').slice(name.length).trim().split(/\s+/).slice(0, 2);
}

const root = process.geteuid?.() === 0;

for (const mode of ['library', 'posix_spawn'] as const) {
  t.test(
    `a boxed service through ${mode === 'library' ? 'the spawn library' : 'posix_spawn and the wrapper'}`,
    async (t) => {
      const env = mode === 'posix_spawn' ? { SMINIT_SPAWN: 'posix_spawn' } : {};
      const d = await startDaemon(
        t,
        {
          box: `exec: sleep 1000\n${root ? 'user: nobody\n' : ''}nice: 5\noom_score_adj: 300\nrlimits: {nofile: {soft: 777, hard: 888}, stack: 4MiB}\numask: '0027'\n`,
          plain: 'exec: sleep 1000\n',
        },
        [],
        { env },
      );
      const s = await d.waitStatus('box', (x) => x.status === 'running', 'box running');
      await waitPastWrapper(s.pid);
      if (mode === 'posix_spawn')
        t.match(d.stderr(), WRAPPER_LINE, 'the daemon says how it spawns');
      else t.notMatch(d.stderr(), WRAPPER_LINE, 'no wrapper where the library is built');
      const stat = readStat(s.pid);
      t.equal(stat?.comm, 'sleep', 'the program itself');
      t.equal(stat?.ppid, d.pid, 'a child of sminitd');
      t.equal(stat?.session, s.pid, 'leads its own session');
      t.equal(stat?.pgrp, s.pid, 'and its own process group');
      if (root) t.equal(statusField(s.pid, 'Uid'), '65534\t65534\t65534\t65534', 'as nobody');
      t.same(limit(s.pid, 'Max open files'), ['777', '888'], 'rlimits.nofile');
      t.same(limit(s.pid, 'Max stack size'), ['4194304', '4194304'], 'rlimits.stack');
      t.equal(niceOf(s.pid), 5, 'nice');
      t.equal(readFileSync(`/proc/${s.pid}/oom_score_adj`, 'utf8').trim(), '300', 'oom_score_adj');
      t.equal(statusField(s.pid, 'Umask'), '0027', 'umask');
      t.equal(statusField(s.pid, 'SigBlk'), '0000000000000000', 'no signal blocked');
      t.equal(statusField(s.pid, 'SigIgn'), '0000000000000000', 'no signal ignored');
      if (s.cgroup !== null) {
        const groups = readFileSync(`/proc/${s.pid}/cgroup`, 'utf8');
        t.match(groups, `${s.cgroup}\n`, 'in the service cgroup');
      }
      const p = await d.waitStatus('plain', (x) => x.status === 'running', 'plain running');
      t.equal(niceOf(p.pid), 0, 'an unboxed service is untouched');
    },
  );
}

t.test(
  'an exec that fails after the spawn returned reaches the service with its errno',
  async (t) => {
    const dir = tempDir(t, 'sminit-txt-');
    const prog = join(dir, 'busy');
    copyFileSync('/bin/true', prog);
    chmodSync(prog, 0o755);
    // A file open for writing cannot be executed (ETXTBSY); nothing tells before the exec.
    const fd = openSync(prog, 'r+');
    t.teardown(() => closeSync(fd));
    const d = await startDaemon(t, {
      busy: `exec: ${prog}\nrestart: never\n`,
      canary: 'exec: sleep 1000\n',
    });
    await d.waitStatus('canary', (x) => x.status === 'running', 'canary running');
    const ended = await waitFor('busy ended', async () => {
      const s = await d.status('busy');
      return s.last_exit !== null ? s : null;
    });
    const { lines } = await d.client.readLogs({ names: ['busy'] });
    const said = lines.map((l) => l.text).join('\n');
    if (d.stderr().match(WRAPPER_LINE)) {
      t.match(ended.reason ?? said, /ETXTBSY/, 'through posix_spawn: the spawn itself fails');
      return;
    }
    t.equal(ended.last_exit?.code, 127, 'the child ends with 127, as a shell says "cannot run"');
    t.match(said, /execve .*busy ETXTBSY/, 'and the log says why');
    t.equal(d.proc.exitCode, null, 'the daemon is alive');
    t.equal((await d.status('canary')).status, 'running', 'and the other service untouched');
  },
);

t.test('the steps the library reports are the ones the daemon names', async (t) => {
  const source = fileURLToPath(new URL('../../../native/spawn.c', import.meta.url));
  const body = /enum step \{([^}]*)\}/.exec(readFileSync(source, 'utf8'))?.[1] ?? '';
  const steps = [...body.matchAll(/STEP_([A-Z]+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]);
  const named: Record<string, string> = {
    NONE: 'spawn',
    DESCRIPTORS: 'dup3',
    CHDIR: 'chdir',
    CGROUP: 'cgroup',
    RLIMIT: 'rlimit',
    NICE: 'nice',
    OOM: 'oom_score_adj',
    GROUPS: 'setgroups',
    GID: 'setresgid',
    UID: 'setresuid',
    EXEC: 'execve',
    CLONE: 'clone',
  };
  t.equal(steps.length, Object.keys(named).length, 'every step of native/spawn.c');
  for (const [name, n] of steps)
    t.equal(helperStep(n as number), named[name as string], `STEP_${name}`);
});

// Where the kernel has clone3 and CLONE_INTO_CGROUP (5.7), the child is made
// in its v2 group instead of writing itself into cgroup.procs: a migration
// waits out an RCU grace period, a few milliseconds, and the daemon waits on
// the child until it has joined. strace watches a restart do it.
const [major = 0, minor = 0] = (
  readFileSync('/proc/sys/kernel/osrelease', 'utf8').match(/\d+/g) ?? []
).map(Number);
const noClone3 =
  arch() !== 'x64' || major * 100 + minor < 507
    ? `clone3 into a cgroup is used on x86_64 from Linux 5.7 (${arch()}, ${major}.${minor})`
    : false;
t.test('a child is made in its cgroup, not moved there', { skip: noClone3 }, async (t) => {
  const d = await startDaemon(t, { plain: 'exec: sleep 1000\n' });
  const before = await d.waitStatus('plain', (x) => x.status === 'running', 'running');
  if (before.cgroup === null || d.stderr().match(WRAPPER_LINE)) {
    t.comment('no cgroup for the service, or no spawn library: nothing to watch');
    return;
  }
  // -ff: a file per thread and child (trace.TID), so no call is split
  // across lines by another's.
  const file = join(tempDir(t, 'sminit-strace-'), 'trace');
  const args = ['-ff', '-e', 'trace=clone,clone3,openat', '-o', file, '-p', String(d.pid)];
  const strace = spawn('strace', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => strace.kill('SIGKILL'));
  let said = '';
  strace.stderr.on('data', (b: Buffer) => (said += b.toString()));
  await waitFor('strace attached', () => / attached/.test(said) || strace.exitCode !== null);
  t.equal(strace.exitCode, null, `strace runs: ${said}`);
  const after = await d.client.restart('plain');
  const gone = new Promise((r) => strace.once('exit', r));
  strace.kill('SIGINT');
  await gone;
  const daemon = readFileSync(`${file}.${d.pid}`, 'utf8');
  const made = daemon.split('\n').find((l) => new RegExp(`= ${after.pid}$`).test(l));
  t.match(
    made ?? daemon,
    /^clone3\(.*CLONE_INTO_CGROUP/,
    `pid ${after.pid} made by clone3 into its group`,
  );
  const procs = join(unifiedDir(before.cgroup), 'cgroup.procs');
  const child = readFileSync(`${file}.${after.pid}`, 'utf8');
  t.notOk(child.includes(`"${procs}"`), `it never opened ${procs}`);
});
