// Recovery through cgroups, end to end: a service process that left its
// session and cleared its environment (no marker left) but stays in its
// service's cgroup is found there after a kill -9 of sminitd, ended before
// the service starts again, and the gone daemon's tree is removed in every
// hierarchy; two daemons on their own sockets never touch each other's
// groups. Skipped where sminitd cannot make cgroup v2 groups.

import t from 'tap';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SOCKET_VAR, daemonId } from '../../lib/os/markers.js';
import { cgroupMounts, ownGroups } from '../../lib/os/cgroup-layout.js';
import { type ProcStat, envValues, isAlive, processTable, readStat } from '../../lib/os/procfs.js';
import { parseRecords, recordPath } from '../../lib/os/recover-cgroup.js';
import { isPopulated } from '../../lib/os/cgroup-tree.js';
import { type Daemon, startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(120_000);

/** A child that leaves the session and drops the whole environment, but not the cgroup. */
const hideFiles = (tag: number): Record<string, string> => ({
  hide: `exec: sh -c 'env -i setsid sleep ${tag} & sleep 3600 & wait'\n`,
});

const rootOf = (d: Daemon): string => dirname(d.dir);
const running = (d: Daemon, name: string) =>
  d.waitStatus(name, (s) => s.pid > 0 && s.status === 'running', 'running', 20_000);

async function kill9(d: Daemon): Promise<void> {
  d.proc.kill('SIGKILL');
  await d.ended;
}

/** The process running `sleep TAG`, once it is there. */
async function hidden(tag: number): Promise<ProcStat> {
  return waitFor(`sleep ${tag} to run`, async () => {
    for (const p of await processTable()) {
      if (p.comm !== 'sleep') continue;
      let argv = '';
      try {
        argv = readFileSync(`/proc/${p.pid}/cmdline`, 'latin1');
      } catch {
        continue;
      }
      if (argv === `sleep\0${tag}\0`) return p;
    }
    return null;
  });
}

/** The daemon's trees, as it recorded them beside its socket. */
function treesOf(d: Daemon): string[] {
  const id = daemonId(d.pid);
  const mine = parseRecords(readFileSync(recordPath(d.socket), 'utf8')).find(
    (r) => r.daemon === id,
  );
  return [...(mine?.dirs ?? [])];
}

/** Why sminitd could not make cgroup v2 groups under this test's own; null when it can. */
function noCgroupV2(): string | null {
  const mount = cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')).find(
    (m) => m.fstype === 'cgroup2',
  );
  const path = ownGroups(readFileSync('/proc/self/cgroup', 'utf8')).get('');
  if (mount === undefined || path === undefined) return 'no cgroup v2 hierarchy here';
  const probe = join(mount.point, mount.root === '/' ? path : path.slice(mount.root.length));
  try {
    mkdirSync(join(probe, `probe.${process.pid}`));
    rmdirSync(join(probe, `probe.${process.pid}`));
    return null;
  } catch (err) {
    return `cannot make cgroups under ${probe}: ${(err as NodeJS.ErrnoException).code ?? err}`;
  }
}
const skip = noCgroupV2() ?? false;

const TAG = 424300 + (process.pid % 90) * 10;

t.test(
  'a process with no marker, left in its cgroup, is found there and ended',
  { skip },
  async (t) => {
    const d1 = await startDaemon(t, hideFiles(TAG));
    const s1 = await running(d1, 'hide');
    const h = await hidden(TAG);
    const env = await envValues([h], [SOCKET_VAR]);
    t.equal(env.get(h.pid)?.[SOCKET_VAR], undefined, 'it carries no marker');
    t.not(h.session, readStat(s1.pid)?.session, 'and runs in a session of its own');
    const trees = treesOf(d1);
    t.ok(trees.length >= 1, 'the daemon recorded its trees beside its socket');
    const v2 = trees[0] ?? '';
    const own = readFileSync(`/proc/${h.pid}/cgroup`, 'latin1');
    t.match(own, `::${v2.replace(/^\/sys\/fs\/cgroup(\/unified)?/, '')}/hide\n`, 'in hide’s group');

    await kill9(d1);
    t.ok(isAlive(h.pid, h.startTime), 'it outlives the daemon');
    const d2 = await startDaemon(t, {}, [], { root: rootOf(d1) });
    await running(d2, 'hide');
    t.notOk(isAlive(h.pid, h.startTime), 'gone by the time hide runs again');
    // stderr comes through a pipe that can trail the socket.
    const line = `hide: found 3 processes of hide left by sminitd ${d1.pid} (gone): stopped them before starting hide`;
    await waitFor('the recovery line', () => d2.stderr().includes(line));
    t.match(d2.stderr(), line);
    t.match((await d2.status('hide')).recovered, { ended: 3, stuck: 0, daemons: [d1.pid] });
    t.match((await d2.cli('status', 'hide')).stdout, 'recovered: ended 3 processes left');
    for (const dir of trees) t.notOk(existsSync(dir), `${dir} is removed`);
    const records = parseRecords(readFileSync(recordPath(d2.socket), 'utf8'));
    t.same(
      records.map((r) => r.daemon),
      [daemonId(d2.pid)],
      'the record names only the new daemon',
    );
    // The new run's child hides the same way: a clean stop ends it through the cgroup.
    const h2 = await hidden(TAG);
    d2.proc.kill('SIGTERM');
    t.equal(await d2.exited, 0);
    t.notOk(isAlive(h2.pid, h2.startTime), 'a clean stop leaves nothing');
    t.notOk(existsSync(recordPath(d2.socket)), 'not even the record, its tree gone with it');
  },
);

t.test('two daemons on their own sockets never touch each other’s groups', { skip }, async (t) => {
  const a1 = await startDaemon(t, hideFiles(TAG + 1));
  const b1 = await startDaemon(t, hideFiles(TAG + 2));
  for (const d of [a1, b1]) await running(d, 'hide');
  const ha = await hidden(TAG + 1);
  await hidden(TAG + 2);
  const aTrees = treesOf(a1);
  const untouched = (what: string): void => {
    t.ok(isAlive(ha.pid, ha.startTime), `${what}: A’s hidden child lives`);
    for (const dir of aTrees) t.ok(existsSync(dir), `${what}: ${dir} is there`);
    t.ok(isPopulated(join(aTrees[0] ?? '', 'hide')), `${what}: A’s hide group is populated`);
  };

  // B dies and comes back while A lives.
  await kill9(b1);
  const b2 = await startDaemon(t, {}, [], { root: rootOf(b1) });
  await running(b2, 'hide');
  untouched('a live daemon');
  t.notMatch(b2.stderr(), `sminitd ${a1.pid}`, 'B says nothing of A');

  // A dies, B dies and comes back: A's tree is of another socket.
  await kill9(a1);
  await kill9(b2);
  const b3 = await startDaemon(t, {}, [], { root: rootOf(b1) });
  await running(b3, 'hide');
  // The daemon's line comes through its stderr pipe, which can trail the status reply.
  await waitFor('B to say it ended its own', () =>
    b3.stderr().includes(`left by sminitd ${b2.pid} (gone)`),
  );
  t.pass('B ended its own');
  untouched('a gone daemon of another socket');

  // A comes back and ends its own.
  const a2 = await startDaemon(t, {}, [], { root: rootOf(a1) });
  await running(a2, 'hide');
  t.notOk(isAlive(ha.pid, ha.startTime), 'until A comes back');
  for (const dir of aTrees) t.notOk(existsSync(dir), `then ${dir} is removed`);
});
