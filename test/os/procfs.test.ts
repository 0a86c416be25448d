import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  clockTicks,
  descendants,
  findByEnv,
  groupMembers,
  isAlive,
  pageSize,
  parseStat,
  processRss,
  processStats,
  processTable,
  readStat,
  zombieChildren,
} from '../../lib/os/procfs.js';
import { signalAll } from '../../lib/os/kill.js';
import { waitFor } from '../helpers/wait.js';

/** Starts `cmd` in its own process group; the group is killed at teardown. */
function startGroup(
  t: { teardown: (fn: () => void) => void },
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): ChildProcess & { pid: number } {
  const child = spawn(cmd, args, { detached: true, stdio: 'ignore', env });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${cmd}`);
  t.teardown(() => signalAll([-pid], 'SIGKILL'));
  return Object.assign(child, { pid });
}

const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));

t.test('readStat of this process', async (t) => {
  const s = readStat(process.pid);
  t.ok(s);
  t.equal(s?.pid, process.pid);
  t.equal(s?.ppid, process.ppid);
  t.equal(s?.state, 'R', 'reading its own stat, it is running');
  t.ok((s?.rssPages ?? 0) > 0);
  t.equal(readStat(pidMax + 1), null, 'no such pid');
  t.equal(readStat(0), null);
  t.equal(readStat(-5), null);
});

t.test('parseStat', async (t) => {
  const s = parseStat(
    '42 (x) (y)) z) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 9000 321 18446744073709551615\n',
  );
  t.same(s, {
    pid: 42,
    comm: 'x) (y)) z',
    state: 'S',
    ppid: 1,
    pgrp: 42,
    session: 42,
    utime: 7,
    stime: 3,
    cutime: 0,
    cstime: 0,
    threads: 1,
    startTime: 123456,
    rssPages: 321,
  });
  t.throws(() => parseStat('garbage'));
  t.throws(() => parseStat('1 (a) S 1 2'), 'truncated');
});

t.test('clock ticks and page size match getconf', async (t) => {
  const getconf = (v: string): number =>
    Number(spawnSync('getconf', [v], { encoding: 'utf8' }).stdout.trim());
  t.equal(clockTicks(), getconf('CLK_TCK'));
  t.equal(pageSize(), getconf('PAGESIZE'));
});

t.test('a name with spaces and parentheses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sminit-proc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const exe = join(dir, 'a) b (c)');
  copyFileSync('/bin/sleep', exe);
  const child = startGroup(t, exe, ['30']);
  const s = await waitFor('the copied sleep to exec', () => {
    const s = readStat(child.pid);
    return s?.comm === 'a) b (c)' && s;
  });
  t.equal(s.ppid, process.pid);
  t.equal(s.pgrp, child.pid);
  t.equal(s.session, child.pid);
  t.match(s.state, /^[RS]$/);
});

t.test('a group: descendants and members', async (t) => {
  const sh = startGroup(t, 'sh', ['-c', 'sleep 30 & sleep 30 & wait']);
  const table = await waitFor('two sleeps under sh', async () => {
    const table = await processTable();
    // Forked children show as 'sh' until they exec.
    const sleeps = descendants(table, [sh.pid]).filter(
      (k) => table.find((p) => p.pid === k)?.comm === 'sleep',
    );
    return sleeps.length === 2 && table;
  });
  const kids = descendants(table, [sh.pid]);
  const byPid = new Map(table.map((p) => [p.pid, p]));
  t.same(
    kids.map((k) => byPid.get(k)?.comm),
    ['sleep', 'sleep'],
  );
  t.same(
    groupMembers(table, sh.pid).sort((a, b) => a - b),
    [sh.pid, ...kids].sort((a, b) => a - b),
  );
  t.ok(
    descendants(table, [process.pid]).includes(kids[0]!),
    'grandchildren are descendants of this process too',
  );
  t.same(descendants(table, [pidMax + 1]), []);
  t.same(groupMembers(table, pidMax + 1), []);
  t.ok(
    table.some((p) => p.pid === process.pid),
    'the table includes this process',
  );
});

t.test('findByEnv finds a process that left the group', async (t) => {
  const key = 'SMINIT_TEST_MARK';
  const value = `proc-test-${process.pid}-${Date.now()}`;
  const sh = startGroup(t, 'sh', ['-c', 'setsid sleep 30 & sleep 30 & wait'], {
    ...process.env,
    [key]: value,
  });
  let escaped = 0;
  t.teardown(() => {
    if (escaped > 0) signalAll([escaped], 'SIGKILL');
  });
  const table = await waitFor('the setsid sleep', async () => {
    const table = await processTable();
    const marked = await findByEnv(table, key, value);
    const esc = table.find(
      (p) => marked.includes(p.pid) && p.comm === 'sleep' && p.session === p.pid,
    );
    if (esc !== undefined) escaped = esc.pid;
    return esc !== undefined && marked.length === 3 && table;
  });
  const group = groupMembers(table, sh.pid);
  const marked = await findByEnv(table, key, value);
  t.notOk(group.includes(escaped), 'it is not in the group');
  t.ok(marked.includes(escaped), 'but carries the marker');
  t.ok(marked.includes(sh.pid));
  t.same(
    marked.filter((p) => !group.includes(p)),
    [escaped],
    'everything else marked is in the group',
  );
  t.notOk(marked.includes(process.pid), 'this process has no marker');
  t.same(await findByEnv([escaped, pidMax + 1], key, value), [escaped], 'by pid list');
  t.same(await findByEnv(table, key, value.slice(0, -1)), [], 'the value must match exactly');
  t.same(await findByEnv(table, key.slice(1), value), [], 'the key must match exactly');
});

t.test('isAlive: false after kill and reaping, and for another start time', async (t) => {
  const child = startGroup(t, 'sleep', ['30']);
  // comm changes early in exec, before the new memory is mapped: wait until
  // sleep is actually asleep.
  const s = await waitFor('sleep to be asleep', () => {
    const s = readStat(child.pid);
    return s?.comm === 'sleep' && s.state === 'S' && s;
  });
  t.ok(isAlive(child.pid, s.startTime));
  t.notOk(isAlive(child.pid, s.startTime + 1), 'pid reuse: a different start time');
  const stats = processStats(child.pid);
  t.equal(stats?.pid, child.pid);
  t.ok((stats?.rssBytes ?? 0) > 0);
  t.ok((stats?.cpuTicks ?? -1) >= 0);
  const rss = processRss(child.pid);
  t.ok(rss !== null && rss > 0 && rss % pageSize() === 0, `statm's resident, in bytes (${rss})`);
  // VmRSS, to the page: sleep touches no memory while asleep.
  const vmRss = Number(
    /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1],
  );
  t.equal(rss, vmRss * 1024, 'as VmRSS says');

  const exited = once(child, 'exit');
  t.equal(signalAll([child.pid], 'SIGKILL'), 1);
  await exited;
  t.notOk(isAlive(child.pid, s.startTime));
  t.equal(readStat(child.pid), null);
  t.equal(processStats(child.pid), null);
  t.equal(processRss(child.pid), null);
  t.equal(signalAll([child.pid, -child.pid], 'SIGTERM'), 0, 'ESRCH is ignored');
  t.throws(() => signalAll([0], 'SIGTERM'), RangeError);
  t.throws(() => signalAll([-1], 'SIGTERM'), RangeError);
});

t.test('zombieChildren and isAlive on a zombie', async (t) => {
  // The exec'd sleep inherits sh's background child and never waits for it.
  const parent = startGroup(t, 'sh', ['-c', 'sleep 0.1 & exec sleep 30']);
  const zombies = await waitFor('an unreaped child', async () => {
    const z = zombieChildren(await processTable(), parent.pid);
    return z.length > 0 && z;
  });
  t.equal(zombies.length, 1);
  const z = readStat(zombies[0]!);
  t.equal(z?.state, 'Z');
  t.equal(z?.ppid, parent.pid);
  t.notOk(isAlive(zombies[0]!, z?.startTime ?? -1), 'a zombie is not alive');
  t.same(zombieChildren(await processTable(), process.pid), [], 'Node reaps its own');
});
