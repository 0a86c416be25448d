// Each service as the right user, in its own box, with real processes as
// root on this machine: user, groups and HOME in /proc; rlimits in
// /proc/PID/limits; the umask of a file it makes; env files in every form
// and a bad line named; a cgroup that nothing escapes; memory_max enforced
// with the OOM kill reported; pids_max stopping a fork loop; exact stats
// from the group; and the fallback when cgroups cannot be written.

import t from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MARKER_VAR } from '../../lib/os/markers.js';
import { findByEnv, isAlive, processTable, readStat } from '../../lib/os/procfs.js';
import { type Daemon, startDaemon, tempDir, unifiedDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const procStatus = (pid: number, field: string): string =>
  new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ??
  '';

const environ = (pid: number): Record<string, string> =>
  Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'latin1')
      .split('\0')
      .filter(Boolean)
      .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );

/**
 * Running, and past its wrapper: a boxed process is sminit's shell (then
 * setpriv) for the moment before it execs the service's program.
 */
const running = async (d: Daemon, name: string, comm = 'sleep') => {
  const s = await d.waitStatus(name, (s) => s.status === 'running' && s.pid > 0, 'running');
  await waitFor(`${name} to run ${comm}`, () => readStat(s.pid)?.comm === comm);
  return s;
};

/**
 * The pid of the `sleep` with this argument, once there is one: by then
 * whatever ran before it in that process (`setsid`, `env -i`) is done.
 */
const findProcess = (arg: string): Promise<number> =>
  waitFor(`a sleep with argument ${arg}`, async () => {
    for (const p of await processTable()) {
      try {
        const argv = readFileSync(`/proc/${p.pid}/cmdline`, 'latin1').split('\0');
        if (argv.includes(arg) && readStat(p.pid)?.comm === 'sleep') return p.pid;
      } catch {
        // Gone meanwhile.
      }
    }
    return null;
  });

t.test('a service as nobody: uid, gid, groups, HOME', async (t) => {
  const d = await startDaemon(t, {
    nob: 'exec: sleep 1000\nuser: nobody\ngroups: [adm, users]\n',
    home: 'exec: sleep 1000\nuser: 65534\ngroup: users\nenv: {HOME: /tmp}\n',
  });
  const s = await running(d, 'nob');
  t.equal(procStatus(s.pid, 'Uid'), '65534\t65534\t65534\t65534');
  t.equal(procStatus(s.pid, 'Gid'), '65534\t65534\t65534\t65534');
  t.same(
    procStatus(s.pid, 'Groups')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .sort((a, b) => a - b),
    [4, 100, 65534],
  );
  t.match(environ(s.pid), {
    HOME: '/nonexistent',
    USER: 'nobody',
    LOGNAME: 'nobody',
    SHELL: '/usr/sbin/nologin',
  });
  t.same(s.user, {
    user: 'nobody',
    uid: 65534,
    group: 'nogroup',
    gid: 65534,
    groups: [65534, 4, 100],
  });
  t.match(s.cgroup, /^\/sminit\.\d+\.\d+\/nob$/, 'status names its cgroup');
  const cli = await d.cli('status', 'nob');
  t.match(
    cli.stdout,
    'user:      nobody (uid 65534), group nogroup (gid 65534), groups 65534,4,100',
  );
  const h = await running(d, 'home');
  t.equal(procStatus(h.pid, 'Gid').split('\t')[0], '100', 'group: the primary group');
  t.equal(environ(h.pid).HOME, '/tmp', 'env overrides the entry');
});

t.test('an unknown user or group is refused when the file is read, at its line', async (t) => {
  const d = await startDaemon(t, {
    canary: 'exec: sleep 1000\n',
    ghost: 'exec: sleep 1000\nuser: nosuchuser\n',
    nogroup: 'exec: sleep 1000\ngroups: [adm, nosuchgroup]\n',
  });
  await running(d, 'canary');
  await waitFor('the problems reported', () => d.stderr().includes('nosuchgroup'));
  t.match(d.stderr(), `${join(d.dir, 'ghost.yaml')}:2:7: user: no such user "nosuchuser"`);
  t.match(
    d.stderr(),
    `${join(d.dir, 'nogroup.yaml')}:2:15: groups[1]: no such group "nosuchgroup"`,
  );
  t.notOk(Object.hasOwn(await d.client.list(), 'ghost'), 'not tracked');
  const check = await d.cli('check', join(d.dir, 'ghost.yaml'));
  t.equal(check.code, 1);
  t.match(check.stderr, 'ghost.yaml:2:7: user: no such user "nosuchuser"');
});

t.test('rlimits, nice and oom_score_adj are what the service sees', async (t) => {
  const d = await startDaemon(t, {
    lim: `exec: sleep 1000
nice: 7
oom_score_adj: 250
rlimits:
  nofile: {soft: 1000, hard: 2000}
  core: 1G
  stack: 8MiB
  cpu: unlimited
  msgqueue: 8192
  sigpending: 100
  nproc: {soft: 500, hard: 1000}
`,
  });
  const s = await running(d, 'lim');
  const limits = readFileSync(`/proc/${s.pid}/limits`, 'utf8');
  const row = (name: string): string[] =>
    (new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(limits) ?? []).slice(1);
  t.same(row('Max open files'), ['1000', '2000']);
  t.same(row('Max core file size'), ['1000000000', '1000000000']);
  t.same(row('Max stack size'), ['8388608', '8388608']);
  t.same(row('Max cpu time'), ['unlimited', 'unlimited']);
  t.same(row('Max msgqueue size'), ['8192', '8192']);
  t.same(row('Max pending signals'), ['100', '100']);
  t.same(row('Max processes'), ['500', '1000']);
  t.equal(readStat(s.pid)?.comm, 'sleep');
  t.equal(readFileSync(`/proc/${s.pid}/oom_score_adj`, 'utf8').trim(), '250');
  const nice = readFileSync(`/proc/${s.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[16];
  t.equal(nice, '7');
  t.match(s.limits, {
    nice: 7,
    oom_score_adj: 250,
    rlimits: { nofile: { soft: 1000, hard: 2000 } },
  });
});

t.test('umask is what a file the service creates gets', async (t) => {
  const d = await startDaemon(t, {});
  const dir = join(d.dir, '..');
  d.write('mask', `exec: sh -c 'touch made; sleep 1000'\ndir: ${dir}\numask: 0027\n`);
  await d.client.monitor('mask');
  await waitFor('the file', () => existsSync(join(dir, 'made')));
  t.equal(statSync(join(dir, 'made')).mode & 0o777, 0o640);
  t.equal((await d.status('mask')).limits.umask, '0027');
});

t.test(
  'env_file: every syntax form, env over it, read at every start, a bad line named',
  async (t) => {
    const d = await startDaemon(t, {});
    writeFileSync(
      join(d.dir, 'app.env'),
      [
        '# a comment',
        'PLAIN=value',
        'export EXPORTED=yes',
        "SINGLE='single $NOT expanded'",
        'DOUBLE="tab\\tand newline\\n"',
        'SPACED = spaced',
        'INLINE=value # a comment',
        'MULTI="line one',
        'line two"',
        'EMPTY=',
        'OVERRIDE=from-file',
        '',
      ].join('\n'),
    );
    d.write(
      'envy',
      'exec: sleep 1000\nenv_file: [app.env, -missing.env]\nenv: {OVERRIDE: from-env}\n',
    );
    await d.client.monitor('envy');
    const s = await running(d, 'envy');
    t.match(environ(s.pid), {
      PLAIN: 'value',
      EXPORTED: 'yes',
      SINGLE: 'single $NOT expanded',
      DOUBLE: 'tab\\tand newline\n',
      SPACED: 'spaced',
      INLINE: 'value',
      MULTI: 'line one\nline two',
      EMPTY: '',
      OVERRIDE: 'from-env',
    });
    writeFileSync(join(d.dir, 'app.env'), 'PLAIN=changed\n');
    const again = await d.client.restart('envy');
    // The restart answers once the child exists; before its exec, its
    // environ is still the daemon's.
    await waitFor('the new process to be sleep', () => readStat(again.pid)?.comm === 'sleep');
    t.equal(environ(again.pid).PLAIN, 'changed', 'read again at the restart');

    writeFileSync(join(d.dir, 'bad.env'), 'GOOD=1\nthis is not a line\n');
    d.write('bad', 'exec: sleep 1000\nenv_file: bad.env\n');
    await d.client.monitor('bad');
    const bad = await d.waitStatus('bad', (s) => s.status === 'failed', 'failed');
    t.match(
      bad.reason,
      `env_file ${join(d.dir, 'bad.env')}:2: expected KEY=VALUE, got "this is not a line"`,
    );
    d.write('gone', 'exec: sleep 1000\nenv_file: nothere.env\n');
    await d.client.monitor('gone');
    const gone = await d.waitStatus('gone', (s) => s.status === 'failed', 'failed');
    t.match(gone.reason, `env_file ${join(d.dir, 'nothere.env')}: no such file (ENOENT)`);
  },
);

t.test(
  'a stop leaves nothing: a double fork that called setsid and cleared its environment',
  async (t) => {
    const d = await startDaemon(t, {
      escape: `exec: sh -c '(setsid env -i /bin/sleep 1777 &); sleep 1000'\nshutdown_timeout: 1s\n`,
    });
    const s = await running(d, 'escape', 'sh');
    const escaped = await findProcess('1777');
    const st = readStat(escaped);
    t.not(st?.session, s.pid, 'it left the session');
    t.same(await findByEnv([escaped], MARKER_VAR, `${d.pid}`), [], 'and carries no marker');
    t.match(
      readFileSync(`/proc/${escaped}/cgroup`, 'utf8'),
      `0::${s.cgroup}\n`,
      'but is in the cgroup',
    );
    const group = unifiedDir(s.cgroup ?? '');
    await d.client.stop('escape');
    t.notOk(isAlive(escaped, st?.startTime ?? 0), 'gone once the stop returns');
    // Removed in the pass after the stops, not between two of them.
    await waitFor('the cgroup to be removed', () => !existsSync(group) || null);
    t.notOk(existsSync(group), 'and the cgroup with it');
  },
);

t.test('memory_max is enforced and the OOM kill reported', async (t) => {
  const d = await startDaemon(t, {
    hog: `exec: perl -e '$x = "x" x (256 * 1024 * 1024); sleep 100'\nmemory_max: 32M\nrestart: never\n`,
  });
  const s = await d.waitStatus('hog', (s) => s.status === 'exited', 'exited', 20000);
  t.equal(s.last_exit?.oom_kill, true);
  t.equal(s.last_exit?.description, 'killed by the OOM killer: memory_max 32M reached');
  t.equal(s.reason, 'killed by the OOM killer: memory_max 32M reached');
  t.equal(s.limits.memory_max, 32_000_000);
});

t.test('pids_max stops a fork loop', async (t) => {
  const d = await startDaemon(t, {
    forky:
      `exec: perl -e 'for (1..60) { my $p = fork; if (!defined $p) { print STDERR "fork failed, $!\\n"; next } if (!$p) { sleep 1000; exit } } sleep 1000'\n` +
      'pids_max: 12\nshutdown_timeout: 1s\n',
  });
  const s = await running(d, 'forky', 'perl');
  const log = await waitFor('a fork refused', async () => {
    const { lines } = await d.client.readLogs({ names: ['forky'], stream: 'stderr' });
    return lines.find((l) => /fork/i.test(l.text));
  });
  t.match(log.text, /fork/i);
  const usage = (await d.status('forky')).usage;
  t.ok(usage && usage.tasks <= 12, `at most 12 tasks (${usage?.tasks})`);
  t.ok((usage?.processes ?? 0) >= 10, 'up to the limit');
  t.ok((await d.client.stats('forky')).children.length >= 9, 'stats list them all');
  await d.client.stop('forky');
  t.equal((await d.status('forky')).status, 'stopped');
  t.equal(readStat(s.pid), null);
});

t.test('stats count every process of the group, exactly', async (t) => {
  const d = await startDaemon(t, {
    tree: `exec: sh -c 'sleep 1001 & (setsid sleep 1002 &); sleep 1000'\n`,
  });
  const s = await running(d, 'tree', 'sh');
  const away = await findProcess('1002');
  await findProcess('1001');
  const group = unifiedDir(s.cgroup ?? '');
  const members = (): number[] =>
    readFileSync(join(group, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  await waitFor('four processes in the group', () => members().length === 4);
  const stats = await d.client.stats('tree');
  t.same(
    [stats.pid, ...stats.children.map((c) => c.pid)].sort(),
    members().sort(),
    'the processes are the group’s members',
  );
  t.ok(
    stats.children.some((c) => c.pid === away),
    'the one that left the tree is counted',
  );
  const usage = (await d.status('tree')).usage;
  t.match(usage, { processes: 4, memory_source: 'processes' }, 'status has the group’s totals');
  t.ok((usage?.tasks ?? 0) >= 4);
  t.ok((usage?.memory_usage ?? 0) > 0);
  t.match((await d.cli('status', 'tree')).stdout, /usage: {5}4 processes, \d+ tasks, [\d.]+ MiB/);
  // Stopped, then started: the group is made again under the same name, and
  // status reads the new one, not what it read of the old one.
  await d.client.stop('tree');
  t.equal((await d.status('tree')).usage, null, 'no usage once stopped');
  await d.client.start('tree');
  const again = await running(d, 'tree', 'sh');
  t.not(again.pid, s.pid);
  await waitFor('four processes in the group made again', () => members().length === 4);
  const now = (await d.status('tree')).usage;
  t.match(now, { processes: 4 }, `status counts the new group’s processes: ${JSON.stringify(now)}`);
  t.ok((now?.cpu_time_ms ?? -1) >= 0);
});

t.test('a health test runs in NAME/test, made at the first test only', async (t) => {
  const out = join(tempDir(t, 'sminit-testgroup-'), 'cgroup');
  const d = await startDaemon(t, {
    plain: 'exec: sleep 1000\n',
    checked: `exec: sleep 1000\ntest: "sh -c 'cat /proc/self/cgroup > ${out}'"\ntest_interval: 100ms\n`,
  });
  const plain = await running(d, 'plain');
  const checked = await running(d, 'checked');
  const line = await waitFor('the test to write its cgroup', () =>
    existsSync(out)
      ? readFileSync(out, 'utf8')
          .split('\n')
          .find((l) => l.startsWith('0::'))
      : undefined,
  );
  t.equal(line, `0::${checked.cgroup}/test`, 'the test ran in the test group');
  t.ok(existsSync(unifiedDir(`${checked.cgroup}/test`)));
  t.notOk(existsSync(unifiedDir(`${plain.cgroup}/test`)), 'none for a service without a test');
  t.match((await d.status('plain')).usage, { processes: 1, tasks: 1 }, 'its status all the same');
});

t.test(
  'without writable cgroups: said once, limits refused, everything else as before',
  async (t) => {
    // Every cgroup mount read-only in a mount namespace of its own: the host's stay as they are.
    const readOnly =
      'exec unshare -m --propagation private -- sh -c \'for m in $(awk "\\$9 ~ /^cgroup/ {print \\$5}" /proc/self/mountinfo); do mount -o remount,bind,ro "$m"; done; exec "$@"\' sh "$@"';
    const d = await startDaemon(
      t,
      {
        plain: 'exec: sleep 1000\n',
        boxed: 'exec: sleep 1000\nmemory_max: 64M\n',
        nob: 'exec: sleep 1000\nuser: nobody\nrlimits: {nofile: 512}\n',
        escape: `exec: sh -c '(setsid /bin/sleep 1778 &); sleep 1000'\n`,
      },
      [],
      { viaShell: readOnly },
    );
    await running(d, 'plain');
    const said = d
      .stderr()
      .split('\n')
      .filter((l) => l.includes('tracking services by process group and marker'));
    t.equal(said.length, 1, 'said once');
    t.match(said[0], 'read-only file system (EROFS)');
    t.match(
      d.stderr(),
      `${join(d.dir, 'boxed.yaml')}:2:13: memory_max: cannot be enforced on this host: sminitd has no cgroups here`,
    );
    const nob = await running(d, 'nob');
    t.equal(procStatus(nob.pid, 'Uid').split('\t')[0], '65534');
    t.equal(nob.cgroup, null);
    const escape = await running(d, 'escape', 'sh');
    const escaped = await findProcess('1778');
    const st = readStat(escaped);
    await d.client.stop('escape');
    t.notOk(
      isAlive(escaped, st?.startTime ?? 0),
      'the marker sweep still ends what left the group',
    );
    t.equal(escape.cgroup, null);
  },
);

t.test('a sminitd that is not root refuses a service as another user', async (t) => {
  const d = await startDaemon(
    t,
    { canary: 'exec: sleep 1000\n', other: 'exec: sleep 1000\nuser: root\n' },
    [],
    { user: 65534 },
  );
  await running(d, 'canary');
  await waitFor('the refusal', () => d.stderr().includes('other.yaml'));
  t.match(
    d.stderr(),
    `${join(d.dir, 'other.yaml')}:2:7: user: sminitd runs as uid 65534, and only root may run a service as another user or group`,
  );
  t.notOk(Object.hasOwn(await d.client.list(), 'other'), 'not tracked');
  t.match(d.stderr(), 'tracking services by process group and marker');
});

t.test(
  'a stop of many while others die and restart: each stops or restarts in its own cgroup',
  async (t) => {
    const names = (p: string): string[] => Array.from({ length: 6 }, (_, i) => `${p}${i}`);
    const files = Object.fromEntries(
      [...names('down'), ...names('dies'), 'again'].map((n) => [n, 'exec: sleep 1000\n']),
    );
    const d = await startDaemon(t, files);
    const before = new Map<string, { pid: number; cgroup: string }>();
    for (const n of Object.keys(files)) {
      const s = await running(d, n);
      before.set(n, { pid: s.pid, cgroup: s.cgroup ?? '' });
    }
    const dir = (n: string): string => unifiedDir(before.get(n)?.cgroup ?? '');
    // Stops in one request, kills at the same moment, and one service stopped and started at once.
    const stopping = d.client.many('stop', { names: names('down') });
    for (const n of names('dies')) process.kill(before.get(n)?.pid ?? 0, 'SIGKILL');
    await d.client.stop('again');
    await d.client.start('again');
    const res = await stopping;
    t.same(res.failed, [], 'every stop succeeded');
    for (const n of names('down')) {
      t.equal((await d.client.status(n)).status, 'stopped', `${n} stopped`);
      t.notOk(isAlive(before.get(n)?.pid ?? 0, 0), `${n}'s process is gone`);
    }
    for (const n of [...names('dies'), 'again']) {
      const s = await d.waitStatus(
        n,
        (s) => s.status === 'running' && s.pid !== before.get(n)?.pid,
        'restarted',
      );
      await running(d, n);
      t.match(
        readFileSync(`/proc/${s.pid}/cgroup`, 'utf8'),
        `0::${s.cgroup}\n`,
        `${n} runs in its cgroup`,
      );
    }
    // The removal pass has run once the stopped services' groups are gone.
    for (const n of names('down')) {
      await waitFor(`${n}'s cgroup to be removed`, () => !existsSync(dir(n)) || null);
    }
    for (const n of [...names('dies'), 'again']) t.ok(existsSync(dir(n)), `${n}'s cgroup is kept`);
    const again = await d.client.status('again');
    t.match(
      readFileSync(`/proc/${again.pid}/cgroup`, 'utf8'),
      `0::${again.cgroup}\n`,
      'and again is still in it',
    );
  },
);
