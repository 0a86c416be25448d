// The cgroup tree's names, the groups in a group and a daemon group's
// populated service groups, on a
// directory laid out as sminitd lays out its groups (cgroup.events files
// written by hand: the real hierarchy is the end-to-end tests' job).

import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  childGroups,
  daemonGroupName,
  daemonOfGroup,
  isPopulated,
  populatedServices,
} from '../../lib/os/cgroup-tree.js';

t.test('a daemon group names its daemon', async (t) => {
  t.equal(daemonGroupName('42.1234'), 'sminit.42.1234');
  t.same(daemonOfGroup('sminit.42.1234'), { pid: 42, startTime: 1234 });
  t.same(daemonOfGroup('sminit.42.1234-2'), { pid: 42, startTime: 1234 });
  t.equal(daemonOfGroup('sminit.42'), null);
  t.equal(daemonOfGroup('web'), null);
});

t.test('populatedServices lists the groups with processes left, of a daemon group', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'sminit-cgtree-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const group = (path: string, populated: 0 | 1): void => {
    mkdirSync(join(parent, path), { recursive: true });
    writeFileSync(join(parent, path, 'cgroup.events'), `populated ${populated}\nfrozen 0\n`);
  };
  group('sminit.7.100', 1);
  group('sminit.7.100/web', 1);
  group('sminit.7.100/db', 0);
  group('sminit.9.200-1/cache', 1);
  group('other/web', 1);
  t.same(childGroups(parent).sort(), ['other', 'sminit.7.100', 'sminit.9.200-1']);
  t.same(childGroups(join(parent, 'sminit.7.100')).sort(), ['db', 'web'], 'directories only');
  t.same(childGroups(join(parent, 'nowhere')), []);
  t.same(populatedServices(join(parent, 'sminit.7.100')), [
    { daemon: { pid: 7, startTime: 100 }, service: 'web', dir: join(parent, 'sminit.7.100/web') },
  ]);
  t.same(populatedServices(join(parent, 'sminit.9.200-1')), [
    {
      daemon: { pid: 9, startTime: 200 },
      service: 'cache',
      dir: join(parent, 'sminit.9.200-1/cache'),
    },
  ]);
  t.same(populatedServices(join(parent, 'other')), [], 'not a daemon group');
  t.ok(isPopulated(join(parent, 'sminit.7.100')));
  t.notOk(isPopulated(join(parent, 'nowhere')));
  t.same(populatedServices(join(parent, 'sminit.1.1')), [], 'a missing directory');
});
