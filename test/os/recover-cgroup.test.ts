// The cgroup source against a made-up tree in a temporary directory (the
// files it reads, cgroup.events and cgroup.procs, written by hand) and a
// real process as the member: only a recorded tree of this socket, of a
// gone daemon of this namespace, beside this daemon's own group, counts;
// an empty tree of a gone daemon is removed; the record is kept up to date.

import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonGroupName } from '../../lib/os/cgroup-tree.js';
import { daemonId } from '../../lib/os/markers.js';
import { readStat } from '../../lib/os/procfs.js';
import { namespacesOf } from '../../lib/os/recover.js';
import {
  type TreeRecord,
  cgroupSource,
  parseRecords,
  recordPath,
} from '../../lib/os/recover-cgroup.js';
import { tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

/** pid 1 runs, but not since tick 1: a daemon that is gone. */
const GONE = '1.1';

function setup(t: Test) {
  const root = tempDir(t, 'sminit-cg-');
  const parent = join(root, 'cg');
  const own = join(parent, daemonGroupName(daemonId()));
  mkdirSync(own, { recursive: true });
  const socket = join(root, 's.sock');
  const layout = {
    tracking: { version: 2 as const, mount: root, root: own },
    controllers: {},
    fallback: null,
  };
  /** A service group holding `pids`, in daemon group `name` under `under`. */
  const group = (under: string, name: string, service: string, pids: number[]): string => {
    const dir = join(under, name);
    mkdirSync(join(dir, service), { recursive: true });
    writeFileSync(join(dir, service, 'cgroup.events'), `populated ${pids.length > 0 ? 1 : 0}\n`);
    writeFileSync(join(dir, service, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
    return dir;
  };
  const record = (records: TreeRecord[]): void =>
    writeFileSync(recordPath(socket), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { root, parent, socket, layout, group, record, ns: namespacesOf('self') ?? [] };
}

async function sleeper(t: Test): Promise<number> {
  const p = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => p.kill('SIGKILL'));
  const pid = p.pid ?? 0;
  await waitFor('sleep to run', () => readStat(pid)?.comm === 'sleep');
  return pid;
}

t.test(
  'only a recorded tree of a gone daemon, in this namespace, beside ours, counts',
  async (t) => {
    const s = setup(t);
    const [mine, ofLive, otherNs, outside, unrecorded] = await Promise.all(
      [1, 2, 3, 4, 5].map(() => sleeper(t)),
    );
    const live = daemonId(ofLive!);
    const elsewhere = join(s.root, 'elsewhere');
    s.record([
      { daemon: GONE, ns: s.ns, dirs: [s.group(s.parent, daemonGroupName(GONE), 'web', [mine!])] },
      {
        daemon: live,
        ns: s.ns,
        dirs: [s.group(s.parent, daemonGroupName(live), 'web', [ofLive!])],
      },
      // A container's daemon is pid 1 of its own namespace: our pid 1 says nothing of it.
      {
        daemon: '1.2',
        ns: ['pid:[1]', 'mnt:[1]'],
        dirs: [s.group(s.parent, 'sminit.1.2', 'web', [otherNs!])],
      },
      // A record cannot point the daemon anywhere but beside its own group.
      { daemon: '1.3', ns: s.ns, dirs: [s.group(elsewhere, 'sminit.1.3', 'web', [outside!])] },
      { daemon: '1.4', ns: s.ns, dirs: [join(s.parent, 'sminit.1.5')] },
    ]);
    s.group(s.parent, 'sminit.1.5', 'web', [unrecorded!]);
    const source = cgroupSource(s.socket, s.layout);
    const found = await source.find(false);
    t.same(
      found.map((l) => [l.pid, l.service, l.daemonPid]),
      [[mine, 'web', 1]],
    );
    t.same(await source.find(true), found, 'a rescan finds it again');
    const written = parseRecords(readFileSync(recordPath(s.socket), 'utf8'));
    t.same(
      written.map((r) => r.daemon),
      [GONE, live, '1.2', '1.3', '1.4', daemonId()],
      'the record keeps what still exists, and adds this daemon',
    );
    t.same(written.at(-1)?.dirs, [s.layout.tracking.root]);
  },
);

t.test('an empty tree of a gone daemon is removed, and dropped from the record', async (t) => {
  const s = setup(t);
  const empty = join(s.parent, `${daemonGroupName(GONE)}-1`);
  mkdirSync(join(empty, 'web', 'test'), { recursive: true });
  s.record([{ daemon: GONE, ns: s.ns, dirs: [empty] }]);
  const source = cgroupSource(s.socket, s.layout);
  t.same(await source.find(false), []);
  t.notOk(existsSync(empty), 'the tree is gone');
  source.settle();
  t.same(
    parseRecords(readFileSync(recordPath(s.socket), 'utf8')).map((r) => r.daemon),
    [daemonId()],
  );
});

t.test('parseRecords skips what is not a record', async (t) => {
  const good = { daemon: '5.6', ns: ['a'], dirs: ['/x/sminit.5.6'] };
  t.same(parseRecords(`${JSON.stringify(good)}\n{"daemon":5}\nnot json\n\n{"dirs":[1]`), [good]);
});
