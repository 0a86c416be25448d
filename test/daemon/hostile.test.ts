// Hostile and broken input, as a table: each row is an input, the exact error
// it must get, and then the same check for all of them — the canary service
// still runs with the same pid and the daemon answers a new client. Service
// files go through both paths: in the config directory at start-up (the
// daemon's stderr and `sminit check`), and at run time (service_monitor of
// the file, service_create of the same content).

import t, { type Test } from 'tap';
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';
import { NAME_RULE } from '../../lib/core/names.js';
import { MAX_BATCH, MAX_FOLLOWERS, MAX_FOLLOWS_PER_CONNECTION } from '../../lib/api/dispatch.js';
import { MAX_REQUEST } from '../../lib/transport/connection.js';
import { MAX_DEPTH } from '../../lib/transport/framing.js';
import { cgroupRecord, runCli, startDaemon } from '../helpers/daemon.js';
import { Raw, type Response, err, req, textCommand } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

const badName = (shown: string): string => `invalid service name ${shown}: ${NAME_RULE}`;

// --- service files -------------------------------------------------------------

interface FileRow {
  readonly title: string;
  /** The file's name in the config directory. */
  readonly file: string;
  /** Its bytes, or how to make it (a symlink, a FIFO, …) at `path`. */
  readonly content: string | Buffer | ((path: string) => void);
  /** Each problem as `line:col: message`, or `message` alone when it has no place. */
  readonly problems: readonly string[];
  /** service_monitor of the stem: the code (default -32008: the file's problems, joined). */
  readonly monitor?: { code: number; message: string };
  /** The same service as JSON for service_create, and its exact problems (JSON pointers). */
  readonly create?:
    | { content: unknown; problems: readonly string[] }
    | { content: unknown; code: number; message: string };
}

const NOT_A_DURATION = 'expected a duration (seconds, or a string like 100ms, 2s, 1.5m, 1h, 1m30s)';

const FILE_ROWS: readonly FileRow[] = [
  {
    title: 'malformed YAML',
    file: 'badyaml.yaml',
    content: 'exec: [unclosed\n',
    problems: ['2:1: invalid YAML: deficient indentation'],
  },
  {
    title: 'a tab in the indentation',
    file: 'tabs.yaml',
    content: 'exec: sleep 1\n\tafter: []\n',
    problems: ['2:1: invalid YAML: tab characters must not be used in indentation'],
  },
  {
    title: 'wrong types, every one reported',
    file: 'types.yaml',
    content: 'exec: 42\noneshot: "yes"\nafter: web\nenv: [a]\n',
    problems: [
      '1:7: exec: must be a string, got 42',
      '2:10: oneshot: must be true or false, got "yes"',
      '3:8: after: must be a list of strings, or a mapping, got "web"',
      '4:6: env: must be a mapping, got a list',
    ],
    create: {
      content: { exec: 42, oneshot: 'yes', after: 'web', env: ['a'] },
      problems: [
        '/exec: must be a string, got 42',
        '/oneshot: must be true or false, got "yes"',
        '/after: must be a list of strings, or a mapping, got "web"',
        '/env: must be a mapping, got a list',
      ],
    },
  },
  {
    title: 'an unknown key',
    file: 'unknown.yaml',
    content: 'exce: sleep 1\n',
    problems: [
      "1:1: unknown key 'exce' (did you mean 'exec'?)",
      "1:1: missing required key 'exec'",
    ],
    create: {
      content: { exce: 'sleep 1' },
      problems: ["unknown key 'exce' (did you mean 'exec'?)", "missing required key 'exec'"],
    },
  },
  {
    title: 'a duplicated key',
    file: 'dup.yaml',
    content: 'exec: sleep 1\nexec: sleep 2\n',
    problems: ["2:1: duplicate key 'exec' (first at line 1)"],
  },
  {
    title: 'both exec and cmd',
    file: 'both.yaml',
    content: 'exec: sleep 1\ncmd: sleep 2\n',
    problems: ["2:1: both 'exec' and 'cmd' are given; they are one key, keep one"],
    create: {
      content: { exec: 'sleep 1', cmd: 'sleep 2' },
      problems: ["both 'exec' and 'cmd' are given; they are one key, keep one"],
    },
  },
  {
    title: 'an empty exec',
    file: 'emptyexec.yaml',
    content: 'exec: ""\n',
    problems: ['1:7: exec: must not be empty'],
    create: { content: { exec: '' }, problems: ['/exec: must not be empty'] },
  },
  {
    title: 'an exec of only spaces',
    file: 'blankexec.yaml',
    content: 'exec: "   "\n',
    problems: ['1:7: exec: must not be empty or only whitespace'],
    create: { content: { exec: '   ' }, problems: ['/exec: must not be empty or only whitespace'] },
  },
  {
    title: 'an exec with an unterminated quote',
    file: 'quote.yaml',
    content: 'exec: sleep "1\n',
    problems: ['1:7: exec: unterminated double quote at character 7'],
    create: {
      content: { exec: 'sleep "1' },
      problems: ['/exec: unterminated double quote at character 7'],
    },
  },
  {
    title: 'a NUL in exec',
    file: 'nul.yaml',
    content: 'exec: "sleep\\0 1"\n',
    problems: ['1:7: exec: must not contain a NUL character'],
    create: {
      content: { exec: 'sleep\u0000 1' },
      problems: ['/exec: must not contain a NUL character'],
    },
  },
  {
    title: 'an unknown signal name',
    file: 'badsig.yaml',
    content: 'exec: sleep 1\nsignal:\n  stop: TREM\n',
    problems: [
      "3:9: signal.stop: unknown signal 'TREM'; signal names are like TERM, SIGTERM or term",
    ],
    create: {
      content: { exec: 'sleep 1', signal: { stop: 'TREM' } },
      problems: [
        "/signal/stop: unknown signal 'TREM'; signal names are like TERM, SIGTERM or term",
      ],
    },
  },
  {
    title: 'a negative timeout',
    file: 'negative.yaml',
    content: 'exec: sleep 1\nshutdown_timeout: -5\n',
    problems: [`2:19: shutdown_timeout: ${NOT_A_DURATION}, got -5`],
    create: {
      content: { exec: 'sleep 1', shutdown_timeout: -5 },
      problems: [`/shutdown_timeout: ${NOT_A_DURATION}, got -5`],
    },
  },
  {
    title: 'an absurd timeout',
    file: 'absurd.yaml',
    content: 'exec: sleep 1\nshutdown_timeout: 1e12\n',
    problems: ['2:19: shutdown_timeout: expected a duration of at most 1 day, got 1000000000000'],
    create: {
      content: { exec: 'sleep 1', shutdown_timeout: 1e12 },
      problems: ['/shutdown_timeout: expected a duration of at most 1 day, got 1000000000000'],
    },
  },
  {
    title: 'a zero restart delay or stable_after (a restart loop)',
    file: 'spin.yaml',
    content: 'exec: "false"\nrestart_delay: 0\nstable_after: 0s\n',
    problems: [
      '2:16: restart_delay: expected a duration of more than 0, got 0',
      '3:15: stable_after: expected a duration of more than 0, got "0s"',
    ],
    create: {
      content: { exec: 'false', restart_delay: 0, stable_after: '0s' },
      problems: [
        '/restart_delay: expected a duration of more than 0, got 0',
        '/stable_after: expected a duration of more than 0, got "0s"',
      ],
    },
  },
  {
    title: 'a duration with a unit twice, or out of order',
    file: 'units.yaml',
    content: 'exec: sleep 1\nrestart_delay: 1s1s\nrestart_max_delay: 30m1h\n',
    problems: [
      `2:16: restart_delay: ${NOT_A_DURATION}, got "1s1s"`,
      `3:20: restart_max_delay: ${NOT_A_DURATION}, got "30m1h"`,
    ],
    create: {
      content: { exec: 'sleep 1', restart_delay: '1s1s', restart_max_delay: '30m1h' },
      problems: [
        `/restart_delay: ${NOT_A_DURATION}, got "1s1s"`,
        `/restart_max_delay: ${NOT_A_DURATION}, got "30m1h"`,
      ],
    },
  },
  {
    title: 'a timeout that is not a duration',
    file: 'forever.yaml',
    content: 'exec: sleep 1\ntest_timeout: forever\n',
    problems: [`2:15: test_timeout: ${NOT_A_DURATION}, got "forever"`],
    create: {
      content: { exec: 'sleep 1', test_timeout: 'forever' },
      problems: [`/test_timeout: ${NOT_A_DURATION}, got "forever"`],
    },
  },
  {
    title: 'a health test on a oneshot, which would never run',
    file: 'oneshottest.yaml',
    content: 'exec: "true"\noneshot: true\ntest: "true"\n',
    problems: [
      "3:7: test: oneshot services have no health test (one is done when it exits 0); remove 'test'",
    ],
    create: {
      content: { exec: 'true', oneshot: true, test: 'true' },
      problems: [
        "/test: oneshot services have no health test (one is done when it exits 0); remove 'test'",
      ],
    },
  },
  {
    title: 'an env key YAML reads as null (it would become `null=`)',
    file: 'nullkey.yaml',
    content: 'exec: sleep 1\nenv:\n  ~: x\n',
    problems: ["3:3: env: invalid key '~': YAML reads it as null; quote it to use it as a name"],
  },
  {
    title: 'a dependency on itself',
    file: 'selfish.yaml',
    content: 'exec: sleep 1\nafter: [selfish]\n',
    problems: ["2:9: after[0]: 'selfish' cannot come after itself"],
    create: {
      content: { exec: 'sleep 1', after: ['c-selfish'] },
      problems: ["/after/0: 'c-selfish' cannot come after itself"],
    },
  },
  {
    title: 'a dependency listed twice',
    file: 'twice-after.yaml',
    content: 'exec: sleep 1\nafter: [canary, canary]\n',
    problems: ["2:17: after[1]: 'canary' is listed twice (first as after[0])"],
    create: {
      content: { exec: 'sleep 1', after: ['canary', 'canary'] },
      problems: ["/after/1: 'canary' is listed twice (first as after[0])"],
    },
  },
  {
    title: 'a dependency whose name climbs out of the directory',
    file: 'climb.yaml',
    content: 'exec: sleep 1\nafter: ["../etc/passwd"]\n',
    problems: [`2:9: after[0]: ${badName('"../etc/passwd"')}`],
  },
  {
    title: 'a file named with a space',
    file: 'a b.yaml',
    content: 'exec: sleep 1\n',
    problems: [badName('"a b"')],
    monitor: { code: -32602, message: badName('"a b"') },
  },
  {
    title: 'a file named ..',
    file: '...yaml',
    content: 'exec: sleep 1\n',
    problems: [badName('".."')],
    monitor: { code: -32602, message: badName('".."') },
  },
  {
    title: 'a list instead of a mapping',
    file: 'list.yaml',
    content: '- exec: sleep 1\n',
    problems: ['1:1: the top level must be a mapping of keys to values, got a list'],
    create: {
      content: [{ exec: 'sleep 1' }],
      code: -32602,
      message: "service_create: parameter 'content' must be an object",
    },
  },
  {
    title: 'an empty file',
    file: 'empty.yaml',
    content: '',
    problems: ['empty service file: expected a mapping with at least exec'],
  },
  {
    title: 'two YAML documents',
    file: 'twodocs.yaml',
    content: 'exec: sleep 1\n---\nexec: sleep 2\n',
    problems: ['3:1: expected one YAML document, found several'],
  },
  {
    title: 'an alias bomb (billion laughs)',
    file: 'bomb.yaml',
    content:
      'a: &a [x, x, x, x, x, x, x, x, x]\n' +
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n' +
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n' +
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n' +
      'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n' +
      'exec: sleep 1\n',
    problems: [
      "1:1: unknown key 'a'",
      "2:1: unknown key 'b'",
      "3:1: unknown key 'c'",
      "4:1: unknown key 'd'",
      "5:1: unknown key 'e'",
    ],
  },
  {
    title: 'YAML nested 2,000 deep',
    file: 'deep.yaml',
    content: 'exec: sleep 1\nenv: ' + '['.repeat(2000) + ']'.repeat(2000) + '\n',
    problems: ['2:105: invalid YAML: nesting exceeded maxDepth (100)'],
  },
  {
    title: 'a file that is not UTF-8',
    file: 'latin1.yaml',
    content: Buffer.from('exec: sleep 1\nenv:\n  A: "caf\xe9"\n', 'latin1'),
    problems: ['3:10: not UTF-8 text: invalid byte 0xe9 at offset 28'],
  },
  {
    title: 'a 50 MiB service file',
    file: 'huge.yaml',
    // Sparse: the size is there, the bytes are not; refused on its size alone.
    content: (path) => execFileSync('truncate', ['-s', '50M', path]),
    problems: ['file is 52428800 bytes; a service file may be at most 1048576 bytes (1 MiB)'],
  },
  {
    title: 'a symlink loop',
    file: 'loop.yaml',
    content: (path) => symlinkSync('loop.yaml', path),
    problems: ['cannot read: too many levels of symbolic links (a symlink loop?) (ELOOP)'],
  },
  {
    title: 'a directory named like a service file',
    file: 'adir.yaml',
    content: (path) => mkdirSync(path),
    problems: ['not a regular file (a directory)'],
  },
  {
    title: 'a FIFO named like a service file (reading it would block)',
    file: 'fifo.yaml',
    content: (path) => execFileSync('mkfifo', [path]),
    problems: ['not a regular file (a special file)'],
  },
  {
    title: 'replicas below zero',
    file: 'negrep.yaml',
    content: 'exec: sleep 1\nreplicas: -1\n',
    problems: ['2:11: replicas: must be at least 0, got -1'],
    create: {
      content: { exec: 'sleep 1', replicas: -1 },
      problems: ['/replicas: must be at least 0, got -1'],
    },
  },
  {
    title: 'replicas that are not a whole number',
    file: 'fracrep.yaml',
    content: 'exec: sleep 1\nreplicas: 1.5\n',
    problems: ['2:11: replicas: must be a whole number, got 1.5'],
  },
  {
    title: 'replicas as a string',
    file: 'strrep.yaml',
    content: 'exec: sleep 1\nreplicas: "3"\n',
    problems: ['2:11: replicas: must be a whole number, got "3"'],
  },
  {
    title: 'replicas past the bound',
    file: 'manyrep.yaml',
    content: 'exec: sleep 1\nreplicas: 5000\n',
    problems: ['2:11: replicas: must be at most 1000, got 5000'],
  },
  {
    title: 'a template with replicas',
    file: 'tplrep@.yaml',
    content: 'exec: sleep 1\nreplicas: 2\n',
    problems: [
      '2:11: replicas: a template takes no replicas: its instances are started by name (sminit start tplrep@NAME)',
    ],
  },
  {
    title: 'a template whose instances would share one log file',
    file: 'tpllog@.yaml',
    content: 'exec: sleep 1\nlog: {file: /tmp/sminit-one.log}\n',
    problems: [
      '2:13: log.file: every instance would write this one file; put ${instance} in its name',
    ],
  },
  {
    title: '${instance} in the after of a file that is no template',
    file: 'plaininst.yaml',
    content: 'exec: sleep 1\nafter:\n  - db@${instance}\n',
    problems: [`3:5: after[0]: ${badName('"db@${instance}"')}`],
  },
  // The lifecycle keys: probes, notify, dependency conditions, schedules.
  {
    title: 'an unknown probe kind',
    file: 'probekind.yaml',
    content: 'exec: sleep 1\nreadiness:\n  grpc: localhost:50051\n',
    problems: ["3:3: readiness: unknown probe kind 'grpc'; a probe is one of exec, http or tcp"],
    create: {
      content: { exec: 'sleep 1', readiness: { grpc: 'localhost:50051' } },
      problems: ["/readiness: unknown probe kind 'grpc'; a probe is one of exec, http or tcp"],
    },
  },
  {
    title: 'two kinds in one probe',
    file: 'twokinds.yaml',
    content:
      'exec: sleep 1\nreadiness:\n  exec: test -f /tmp/ready\n  http: http://127.0.0.1:8080/\n',
    problems: ["4:3: readiness: a probe has one kind; 'exec' and 'http' are both given"],
    create: {
      content: {
        exec: 'sleep 1',
        readiness: { exec: 'test -f /tmp/ready', http: 'http://127.0.0.1:8080/' },
      },
      problems: ["/readiness: a probe has one kind; 'exec' and 'http' are both given"],
    },
  },
  {
    title: 'a probe URL that is not http(s)',
    file: 'probeurl.yaml',
    content: 'exec: sleep 1\nreadiness:\n  http: ftp://127.0.0.1/health\n',
    problems: [
      "3:9: readiness.http: expected an http:// or https:// URL, got 'ftp://127.0.0.1/health'",
    ],
    create: {
      content: { exec: 'sleep 1', readiness: { http: 'ftp://127.0.0.1/health' } },
      problems: [
        "/readiness/http: expected an http:// or https:// URL, got 'ftp://127.0.0.1/health'",
      ],
    },
  },
  {
    title: 'a probe port out of range',
    file: 'probeport.yaml',
    content: 'exec: sleep 1\nliveness:\n  tcp: 127.0.0.1:70000\n',
    problems: ['3:8: liveness.tcp: port 70000 is out of range (1 to 65535)'],
    create: {
      content: { exec: 'sleep 1', liveness: { tcp: '127.0.0.1:70000' } },
      problems: ['/liveness/tcp: port 70000 is out of range (1 to 65535)'],
    },
  },
  {
    title: 'zero and negative probe thresholds',
    file: 'thresholds.yaml',
    content:
      'exec: sleep 1\nliveness:\n  tcp: 127.0.0.1:5432\n  failure_threshold: 0\n  success_threshold: -2\n',
    problems: [
      '4:22: liveness.failure_threshold: must be at least 1, got 0',
      '5:22: liveness.success_threshold: must be at least 1, got -2',
    ],
  },
  {
    title: 'a cron expression that does not parse',
    file: 'badcron.yaml',
    content: 'exec: "true"\noneshot: true\nschedule: "61 * * * *"\n',
    problems: [
      "3:11: schedule: invalid cron expression '61 * * * *': Invalid value for minute: 61",
    ],
    create: {
      content: { exec: 'true', oneshot: true, schedule: '61 * * * *' },
      problems: ["/schedule: invalid cron expression '61 * * * *': Invalid value for minute: 61"],
    },
  },
  {
    title: 'watchdog without notify: systemd',
    file: 'watchdog.yaml',
    content: 'exec: sleep 1\nwatchdog: 5s\n',
    problems: ['2:11: watchdog: needs notify: systemd (WATCHDOG=1 comes that way)'],
  },
  {
    title: 'a schedule on a long-running service',
    file: 'longsched.yaml',
    content: 'exec: sleep 1\nschedule: "@daily"\n',
    problems: ['2:1: schedule: only a oneshot runs on a schedule; add oneshot: true'],
  },
  {
    title: 'an unknown dependency condition',
    file: 'condition.yaml',
    content: 'exec: sleep 1\nafter:\n  db: healthy\n',
    problems: ['3:7: after.db: must be one of started, ready, succeeded, completed, got "healthy"'],
    create: {
      content: { exec: 'sleep 1', after: { db: 'healthy' } },
      problems: ['/after/db: must be one of started, ready, succeeded, completed, got "healthy"'],
    },
  },
  {
    title: 'both test and readiness',
    file: 'testready.yaml',
    content: 'exec: sleep 1\ntest: "true"\nreadiness:\n  exec: "true"\n',
    problems: [
      "3:1: readiness: both 'test' and 'readiness' say when the service is ready; keep one of test, readiness, notify or ready_log",
    ],
  },
  {
    title: 'notify on a descriptor below 3',
    file: 'notifyfd.yaml',
    content: 'exec: sleep 1\nnotify: fd:2\n',
    problems: [
      '2:9: notify: fd:2: the descriptor must be 3 to 1023 (0, 1 and 2 are stdin, stdout and stderr)',
    ],
  },
  // The sandbox keys: users and groups (looked up at load), process limits, cgroup limits.
  {
    title: 'an unknown user',
    file: 'baduser.yaml',
    content: 'exec: sleep 1\nuser: nosuchuser\n',
    problems: ['2:7: user: no such user "nosuchuser"'],
  },
  {
    title: 'a gid no group has',
    file: 'badgid.yaml',
    content: 'exec: sleep 1\ngroup: 99999\n',
    problems: ['2:8: group: no such group 99999'],
  },
  {
    title: 'an unknown supplementary group',
    file: 'badgroups.yaml',
    content: 'exec: sleep 1\ngroups: [adm, nosuchgroup]\n',
    problems: ['2:15: groups[1]: no such group "nosuchgroup"'],
  },
  {
    title: 'a umask that is not octal',
    file: 'badumask.yaml',
    content: 'exec: sleep 1\numask: 0999\n',
    problems: ['2:8: umask: expected an octal mask such as 0027 or 0077, got "0999"'],
  },
  {
    title: 'nice out of range',
    file: 'badnice.yaml',
    content: 'exec: sleep 1\nnice: 40\n',
    problems: ['2:7: nice: must be at most 19, got 40'],
  },
  {
    title: 'oom_score_adj out of range',
    file: 'badoom.yaml',
    content: 'exec: sleep 1\noom_score_adj: -2000\n',
    problems: ['2:16: oom_score_adj: must be at least -1000, got -2000'],
  },
  {
    title: 'an unknown rlimit',
    file: 'rlimitkey.yaml',
    content: 'exec: sleep 1\nrlimits:\n  fds: 10\n',
    problems: ["3:3: rlimits: unknown key 'fds' (did you mean 'as'?)"],
  },
  {
    title: 'rlimits: soft over hard, a size that is not one, a negative count',
    file: 'badrlimit.yaml',
    content:
      'exec: sleep 1\nrlimits:\n  nofile: {soft: 2000, hard: 1000}\n  core: lots\n  nproc: -1\n',
    problems: [
      '3:11: rlimits.nofile: soft 2000 is above hard 1000',
      '4:9: rlimits.core: expected a size (bytes, or a string like 1G, 512MiB), unlimited, or {soft, hard}, got "lots"',
      '5:10: rlimits.nproc: expected a whole number, unlimited, or {soft, hard}, got -1',
    ],
  },
  {
    title: 'an empty env_file',
    file: 'badenvfile.yaml',
    content: 'exec: sleep 1\nenv_file: ""\n',
    problems: ['2:11: env_file: must not be empty'],
  },
  {
    title: 'memory_max that is not a size',
    file: 'badmem.yaml',
    content: 'exec: sleep 1\nmemory_max: 12 apples\n',
    problems: [
      '2:13: memory_max: expected a size (bytes, or a string like 10MiB, 512KiB, 1MB, 100k), got "12 apples"',
    ],
  },
  {
    title: 'pids_max of 0',
    file: 'badpids.yaml',
    content: 'exec: sleep 1\npids_max: 0\n',
    problems: ['2:11: pids_max: must be at least 1, got 0'],
  },
  {
    title: 'cpu_max that is neither a share nor CPUs',
    file: 'badcpu.yaml',
    content: 'exec: sleep 1\ncpu_max: 250 percent\n',
    problems: [
      '2:10: cpu_max: expected a share of one CPU such as 50% or a number of CPUs such as 1.5 (at least 1%), got "250 percent"',
    ],
  },
  {
    title: 'cpu_weight of 0',
    file: 'badweight.yaml',
    content: 'exec: sleep 1\ncpu_weight: 0\n',
    problems: ['2:13: cpu_weight: must be at least 1, got 0'],
  },
];

/** Valid files whose program cannot run: the service fails with the OS error, nothing else does. */
interface SpawnRow {
  readonly title: string;
  readonly name: string;
  readonly yaml: (root: string) => string;
  readonly error: (root: string) => string;
}
const SPAWN_ROWS: readonly SpawnRow[] = [
  {
    title: 'a binary that does not exist',
    name: 'nobin',
    yaml: () => 'exec: /nonexistent/bin/server\n',
    error: () => "cannot run '/nonexistent/bin/server': no such file or directory (ENOENT)",
  },
  {
    title: 'a binary that is not executable',
    name: 'noexec',
    yaml: (root) => `exec: ${root}/noexec.sh\n`,
    error: (root) =>
      `cannot run '${root}/noexec.sh': permission denied, not executable, or a directory (EACCES)`,
  },
  {
    title: 'a binary that is a directory',
    name: 'isdir',
    yaml: (root) => `exec: ${root}\n`,
    error: (root) =>
      `cannot run '${root}': permission denied, not executable, or a directory (EACCES)`,
  },
  {
    title: 'a dir that does not exist',
    name: 'nodir',
    yaml: () => 'exec: sleep 1000\ndir: /nonexistent/dir\n',
    error: () => "cannot run 'sleep': working directory '/nonexistent/dir' does not exist (ENOENT)",
  },
  {
    title: 'a dir that is a file',
    name: 'fileasdir',
    yaml: (root) => `exec: sleep 1000\ndir: ${root}/noexec.sh\n`,
    error: (root) =>
      `cannot run 'sleep': working directory '${root}/noexec.sh' is not a directory (ENOTDIR)`,
  },
  {
    title: 'a binary under a path through a file',
    name: 'throughfile',
    yaml: (root) => `exec: ${root}/noexec.sh/server\n`,
    error: (root) =>
      `cannot run '${root}/noexec.sh/server': a component of its path is not a directory (ENOTDIR)`,
  },
  {
    title: 'an env_file that does not exist',
    name: 'noenvfile',
    yaml: () => 'exec: sleep 1000\nenv_file: /nonexistent/app.env\n',
    error: () => 'env_file /nonexistent/app.env: no such file (ENOENT)',
  },
];

const CYCLE = {
  cyc1: 'exec: sleep 1000\nafter: [cyc3]\n',
  cyc2: 'exec: sleep 1000\nafter: [cyc1]\n',
  cyc3: 'exec: sleep 1000\nafter: [cyc2]\n',
};

/** Two good files that would write one log file: both refused, each naming the other. */
const SHARED_LOG = {
  loga: 'exec: sleep 1000\nlog: {file: /tmp/sminit-shared.log}\n',
  logb: 'exec: sleep 1000\ndir: /tmp\nlog: {file: sminit-shared.log}\n',
};
const sharedLog = (dir: string): string[] =>
  [
    ['loga', 'logb'],
    ['logb', 'loga'],
  ].map(
    ([a, b]) =>
      `${join(dir, `${a}.yaml`)}: its log file /tmp/sminit-shared.log is also written by ${join(dir, `${b}.yaml`)}; a log file belongs to one service, so neither is loaded`,
  );

// --- the table ---------------------------------------------------------------------

t.test('hostile input: a clear error, and nothing else affected', async (t) => {
  const files: Record<string, string> = { canary: 'exec: sleep 1000\n', ...CYCLE };
  const d = await startDaemon(t, files, ['--request-timeout', '1s']);
  // The table's files are written once the daemon runs: these rows reach
  // them through service_monitor. Start-up reading them is the next test.
  const root = dirname(d.dir);
  const canary = await d.waitStatus('canary', (s) => s.status === 'running', 'running');
  const fdCount = (): number => readdirSync(`/proc/${d.pid}/fd`).length;

  /** The same after every row: the canary untouched, the daemon answering a new client. */
  const unaffected = async (t: Test): Promise<void> => {
    t.equal(d.proc.exitCode, null, 'the daemon is running');
    const s = await d.status('canary');
    t.equal(s.pid, canary.pid, 'the canary has the same pid');
    t.equal(s.status, 'running', 'the canary runs');
    const c = await Raw.connect(d.socket);
    await c.write(req(1, 'service_status', ['canary']) + '\n');
    const [r] = await c.json<Response>(1);
    c.destroy();
    t.match(r?.result, { name: 'canary', pid: canary.pid }, 'a new client is answered');
  };
  let rows = 0;
  const row = async (
    parent: Test,
    title: string,
    fn: (t: Test) => Promise<void>,
  ): Promise<void> => {
    await parent.test(title, async (t) => {
      rows++;
      await fn(t);
      await unaffected(t);
    });
  };

  /** Send bytes on a new connection; expect exactly these responses. */
  const exchange = async (
    t: Test,
    bytes: string | Buffer,
    expected: readonly Response[],
  ): Promise<Raw> => {
    const c = await Raw.connect(d.socket);
    t.teardown(() => c.destroy());
    await c.write(bytes);
    // Compared on code and message; the problems also come as `data`.
    const got = (await c.json<Response>(expected.length)).map((r) =>
      r.error ? { ...r, error: { code: r.error.code, message: r.error.message } } : r,
    );
    t.same(got, expected);
    return c;
  };

  await t.test('service files at run time', async (t) => {
    for (const r of FILE_ROWS) {
      const path = join(d.dir, r.file);
      if (typeof r.content === 'function') r.content(path);
      else writeFileSync(path, r.content);
    }
    for (const r of FILE_ROWS) {
      const stem = r.file.replace(/\.yaml$/, '');
      const path = join(d.dir, r.file);
      await row(t, `service_monitor: ${r.title}`, async (t) => {
        const lines = r.problems.map((p) =>
          /^\d+:\d+: /.test(p) ? `${path}:${p}` : `${path}: ${p}`,
        );
        const expected = r.monitor ?? { code: -32008, message: lines.join('\n') };
        await exchange(t, req(1, 'service_monitor', [stem]) + '\n', [
          err(1, expected.code, expected.message),
        ]);
        t.same(Object.keys(await d.client.list()).includes(stem), false, 'not tracked');
      });
      if (r.create) {
        const name = `c-${stem}`;
        const file = join(d.dir, `${name}.yaml`);
        const create = r.create;
        const expected =
          'problems' in create
            ? err(1, -32005, create.problems.map((p) => `${file}: ${p}`).join('\n'))
            : err(1, create.code, create.message);
        await row(t, `service_create: ${r.title}`, async (t) => {
          await exchange(t, req(1, 'service_create', [name, create.content]) + '\n', [expected]);
          t.notOk(readdirSync(d.dir).includes(`${name}.yaml`), 'nothing written');
        });
      }
    }
  });

  await t.test('programs that cannot run', async (t) => {
    writeFileSync(join(root, 'noexec.sh'), '#!/bin/sh\nsleep 1000\n');
    chmodSync(join(root, 'noexec.sh'), 0o644);
    for (const r of SPAWN_ROWS) {
      await row(t, `${r.title}: the service fails with the OS error`, async (t) => {
        d.write(r.name, r.yaml(root));
        await d.client.monitor(r.name);
        const s = await d.waitStatus(r.name, (s) => s.status === 'failed', 'failed');
        t.equal(s.reason.split('; retrying in ')[0], r.error(root));
        await d.client.forget(r.name);
      });
    }
  });

  await row(t, 'a cycle of three: the service closing it is refused, named', async (t) => {
    await d.client.monitor('cyc1');
    await d.client.monitor('cyc2');
    await exchange(t, req(1, 'service_monitor', ['cyc3']) + '\n', [
      err(1, -32005, "service 'cyc3' would close a dependency cycle: cyc3 -> cyc2 -> cyc1 -> cyc3"),
    ]);
    t.match(await d.status('cyc1'), { status: 'blocked', reason: 'waiting for cyc3' });
    await d.client.forget('cyc2');
    await d.client.forget('cyc1');
  });

  await t.test('names', async (t) => {
    const long = 'x'.repeat(300);
    const cases: [string, string, string][] = [
      ['a name with /', 'a/b', badName('"a/b"')],
      ['a name that is ..', '..', badName('".."')],
      ['a name that climbs out', '../../etc/passwd', badName('"../../etc/passwd"')],
      ['a name with a NUL', 'a\u0000b', badName('"a\\u0000b"')],
      ['a name with spaces', 'a b', badName('"a b"')],
      ['a name of 300 characters', long, badName(`"${'x'.repeat(40)}…"`)],
      ['an empty name', '', 'service name is empty'],
    ];
    for (const [title, name, message] of cases) {
      await row(t, `${title}: refused by monitor, create and status`, async (t) => {
        await exchange(
          t,
          req(1, 'service_monitor', [name]) +
            req(2, 'service_create', [name, { exec: 'sleep 1' }]) +
            req(3, 'service_status', { name }) +
            '\n',
          [err(1, -32602, message), err(2, -32602, message), err(3, -32602, message)],
        );
      });
    }
    t.same(
      readdirSync(root).sort(),
      ['etc', 'noexec.sh', 's.sock', ...cgroupRecord(d)].sort(),
      'nothing was created outside the config directory',
    );
  });

  await t.test('JSON-RPC', async (t) => {
    await row(t, 'a parameter of the wrong type', async (t) => {
      await exchange(
        t,
        req(1, 'service_status', [42]) +
          req(2, 'service_kill', { name: 'canary', signal: 9 }) +
          req(3, 'log_read', { n: -1 }) +
          req(4, 'service_create', ['x', 'exec: sleep 1']),
        [
          err(1, -32602, "service_status: parameter 'name' must be a string"),
          err(2, -32602, "service_kill: parameter 'signal' must be a string"),
          err(3, -32602, "log_read: parameter 'n' must be a non-negative integer"),
          err(4, -32602, "service_create: parameter 'content' must be an object"),
        ],
      );
    });
    await row(t, 'missing, extra and unknown parameters', async (t) => {
      await exchange(
        t,
        req(1, 'service_status') +
          req(2, 'service_kill', ['canary']) +
          req(3, 'service_status', ['canary', 'extra']) +
          req(4, 'service_status', { name: 'canary', nmae: 'x' }) +
          JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'service_status', params: 'canary' }),
        [
          err(1, -32602, "service_status: missing parameter 'name'"),
          err(2, -32602, "service_kill: missing parameter 'signal'"),
          err(3, -32602, 'service_status takes at most 1 parameters, got 2'),
          err(4, -32602, "service_status: unknown parameter 'nmae'"),
          err(5, -32600, 'invalid request: expected {"jsonrpc":"2.0","method":…}'),
        ],
      );
    });
    await row(t, 'an unknown method, and one that is not a string', async (t) => {
      await exchange(
        t,
        req(1, 'service_explode') +
          JSON.stringify({ jsonrpc: '2.0', id: 2, method: 42 }) +
          JSON.stringify({ id: 3, method: 'service_list' }),
        [
          err(1, -32601, 'Method not found'),
          err(2, -32600, 'invalid request: expected {"jsonrpc":"2.0","method":…}'),
          err(3, -32600, 'invalid request: expected {"jsonrpc":"2.0","method":…}'),
        ],
      );
    });
    await row(t, 'verbs over many services, scale and reload with bad parameters', async (t) => {
      await exchange(
        t,
        req(1, 'services_stop', {}) +
          req(2, 'services_stop', { patterns: ['../*'] }) +
          req(3, 'services_kill', { names: ['../x'] }) +
          req(4, 'service_scale', ['canary', 2]) +
          req(5, 'service_scale', ['canary', -1]) +
          req(6, 'service_scale', ['nosuch', 5000]) +
          req(7, 'service_start', ['nope@x']) +
          req(8, 'system_reload', { dry_run: 'yes' }) +
          req(9, 'services_kill', { all: true, signal: 'SIGNOPE' }) +
          '\n',
        [
          err(1, -32602, "services_stop: give 'names', 'patterns' or 'all'"),
          err(
            2,
            -32602,
            'invalid pattern "../*": "." cannot be in a service name, so not in a pattern',
          ),
          err(3, -32602, badName('"../x"')),
          err(
            4,
            -32005,
            "service 'canary' has no replicas; give its file a 'replicas' key to scale it",
          ),
          err(5, -32602, "service_scale: parameter 'replicas' must be a non-negative integer"),
          err(6, -32602, 'replicas must be a whole number from 0 to 1000, got 5000'),
          err(
            7,
            -32000,
            `no service file for 'nope@x' in ${d.dir}, and no template nope@.yaml to make it from`,
          ),
          err(8, -32602, "system_reload: parameter 'dry_run' must be a boolean"),
          err(9, -32004, "invalid signal 'SIGNOPE'"),
        ],
      );
    });
    await row(t, 'an unknown signal name', async (t) => {
      await exchange(t, req(1, 'service_kill', ['canary', 'SIGNOPE']) + '\n', [
        err(1, -32004, "invalid signal 'SIGNOPE'"),
      ]);
    });
    await row(t, 'not JSON, then a good request on the same connection', async (t) => {
      const c = await exchange(t, '{"jsonrpc":"2.0","id":1,"method":}\nhello\n', [
        err(null, -32700, `parse error: Unexpected token '}', ...","method":}" is not valid JSON`),
        err(null, -32700, 'parse error: expected a JSON object or array'),
      ]);
      await c.write(req(3, 'service_list') + '\n');
      t.match((await c.json<Response>(3))[2], { id: 3, result: { canary: 'Running' } });
    });
    await row(t, 'invalid UTF-8', async (t) => {
      const head = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"service_status","params":["a');
      const bytes = Buffer.concat([head, Buffer.from([0xff, 0xfe]), Buffer.from('"]}\n')]);
      await exchange(t, bytes, [
        err(null, -32700, `parse error: request is not UTF-8 (byte 0xff at offset ${head.length})`),
      ]);
    });
    await row(t, 'deeply nested JSON (100,000 levels)', async (t) => {
      await exchange(t, '['.repeat(100_000) + ']'.repeat(100_000) + '\n', [
        err(null, -32600, `request nested deeper than ${MAX_DEPTH} levels`),
      ]);
    });
    await row(t, '10,000 requests in one batch', async (t) => {
      const batch = Array.from({ length: 10_000 }, (_, i) => ({
        jsonrpc: '2.0',
        id: i,
        method: 'service_list',
      }));
      await exchange(t, JSON.stringify(batch) + '\n', [
        err(null, -32600, `batch of 10000 requests; at most ${MAX_BATCH}`),
      ]);
    });
    await row(t, 'an empty batch', async (t) => {
      await exchange(t, '[]\n', [err(null, -32600, 'empty batch')]);
    });
    await row(
      t,
      'a 100 MiB request: refused at the bound, others answered meanwhile',
      async (t) => {
        const hwm = (): number =>
          Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/status`, 'utf8'))?.[1]) * 1024;
        const before = hwm();
        const c = await Raw.connect(d.socket);
        t.teardown(() => c.destroy());
        const chunk = Buffer.alloc(1024 * 1024, 'a');
        let sent = 0;
        let answeredMidway = false;
        try {
          await c.write('{"jsonrpc":"2.0","id":1,"method":"service_status","params":["');
          while (sent < 100 * 1024 * 1024) {
            await c.write(chunk);
            sent += chunk.length;
            if (sent === 4 * 1024 * 1024) {
              const r = await Raw.connect(d.socket);
              await r.write(req(1, 'service_list') + '\n');
              answeredMidway = (await r.json<Response>(1))[0]?.result !== undefined;
              r.destroy();
            }
          }
        } catch {
          // EPIPE: the daemon closed the connection, as it should.
        }
        t.ok(answeredMidway, 'another client was answered while the request streamed in');
        t.ok(sent < 100 * 1024 * 1024, `the daemon stopped reading (after ${sent} bytes)`);
        t.same(
          JSON.parse((await c.all()).trim()),
          err(null, -32600, `request larger than ${MAX_REQUEST} bytes`),
        );
        const grew = hwm() - before;
        t.ok(grew < 64 * 1024 * 1024, `peak memory grew by ${grew} bytes, well under the request`);
      },
    );
    await row(t, 'a request that never ends: closed at the request timeout', async (t) => {
      const c = await Raw.connect(d.socket);
      t.teardown(() => c.destroy());
      await c.write('{"jsonrpc":"2.0","id":1,"method":"service_li');
      t.same(
        JSON.parse((await c.all()).trim()),
        err(null, -32600, 'request not complete after 1000 ms; closing the connection'),
      );
    });
    await row(t, 'a request trickled a byte at a time: closed at the same bound', async (t) => {
      const c = await Raw.connect(d.socket);
      t.teardown(() => c.destroy());
      const started = Date.now();
      await c.write('{');
      const trickle = setInterval(() => void c.write(' ').catch(() => undefined), 100);
      t.teardown(() => clearInterval(trickle));
      const text = await c.all();
      clearInterval(trickle);
      t.same(
        JSON.parse(text.trim()),
        err(null, -32600, 'request not complete after 1000 ms; closing the connection'),
      );
      t.ok(Date.now() - started < 5000, 'closed at the bound, not after');
    });
  });

  await t.test('events, graph and why', async (t) => {
    await row(t, 'event queries that are not what the methods take', async (t) => {
      await exchange(
        t,
        req(1, 'events_read', { after: -1 }) +
          req(2, 'events_subscribe', { kinds: ['nope'] }) +
          req(3, 'events_read', { since: 'yesterday' }) +
          req(4, 'events_unsubscribe', { id: 999 }) +
          req(5, 'events_read', { names: ['a/b'] }) +
          req(6, 'events_read', { n: 1.5 }),
        [
          err(1, -32602, "events_read: parameter 'after' must be a non-negative integer"),
          err(
            2,
            -32602,
            "events_subscribe: parameter 'kinds' must be an array of daemon, tracked, untracked, state, exit, restart, test, probe, ready, give_up",
          ),
          err(3, -32602, 'since: expected epoch ms or an ISO 8601 date, got "yesterday"'),
          err(4, -32602, 'no subscription 999'),
          err(5, -32602, badName('"a/b"')),
          err(6, -32602, "events_read: parameter 'n' must be a non-negative integer"),
        ],
      );
    });
    await row(t, 'a cursor from the future (an earlier run of the daemon)', async (t) => {
      const c = await Raw.connect(d.socket);
      t.teardown(() => c.destroy());
      await c.write(req(1, 'events_subscribe', { after: 1_000_000_000 }) + '\n');
      const [r] = await c.json<Response>(1);
      t.equal(r?.error?.code, -32602);
      t.match(
        r?.error?.message,
        /^cursor 1000000000 is past the newest event \(\d+\): it comes from an earlier run of sminitd/,
      );
    });
    await row(t, 'why and graph of names that are no service', async (t) => {
      await exchange(
        t,
        req(1, 'service_why', ['../x']) +
          req(2, 'service_why', ['nosuch']) +
          req(3, 'service_graph', ['x']),
        [
          err(1, -32602, badName('"../x"')),
          err(2, -32000, "service 'nosuch' is not tracked"),
          err(3, -32602, 'service_graph takes at most 0 parameters, got 1'),
        ],
      );
    });
  });

  await t.test('HTTP', async (t) => {
    const started = (await d.client.call('system_start_http_server', {
      address: '127.0.0.1:0',
    })) as string;
    const url = new URL(/(http:\S+)/.exec(started)?.[1] ?? '');
    t.teardown(() => d.client.call('system_stop_http_server').catch(() => undefined));
    const http = (
      method: string,
      path: string,
      headers: Record<string, string>,
      body?: string,
    ): Promise<{ status: number; text: string }> =>
      new Promise((resolve, reject) => {
        const r = httpRequest(
          { host: url.hostname, port: url.port, method, path, headers },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        r.on('error', reject);
        r.end(body);
      });
    const json = { 'content-type': 'application/json' };
    const bearer = { authorization: `Bearer ${readFileSync(`${d.socket}.token`, 'utf8').trim()}` };
    const list = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'service_list' });
    const refused = (message: string): string =>
      JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message } }) + '\n';
    const cases: [string, string, string, Record<string, string>, number, string | RegExp][] = [
      [
        'a Host that is no address of sminitd (DNS rebinding)',
        'POST',
        '/',
        { ...json, host: `rebind.example:${url.port}` },
        403,
        refused(
          'forbidden: Host "rebind.example:' +
            url.port +
            '" is not an address sminitd serves (name it with --http-host)',
        ),
      ],
      [
        'a page from another origin',
        'POST',
        '/',
        { ...json, origin: 'http://evil.example' },
        403,
        refused(
          'forbidden: a page from http://evil.example may not call sminitd; only its own pages may',
        ),
      ],
      ['metrics without a token', 'GET', '/metrics', {}, 401, /unauthorized/],
      ['events without a token', 'GET', '/events', {}, 401, /unauthorized/],
      ['a path nothing is served at', 'GET', '/../../etc/passwd', {}, 404, /nothing is served at/],
      ['a file beside the page', 'GET', '/dashboard.js/../package.json', {}, 404, /nothing is/],
      ['a log tail without a token', 'GET', '/logs?name=canary', {}, 401, /unauthorized/],
      ['stats without a token', 'GET', '/stats', {}, 401, /unauthorized/],
      [
        'a log tail of a service nobody knows',
        'GET',
        '/logs?name=nosuch',
        bearer,
        400,
        /"code":-32000,"message":"service 'nosuch' is not tracked"/,
      ],
      ['a log tail of -1 lines', 'GET', '/logs?name=canary&n=-1', bearer, 400, /parameter 'n'/],
      ['stats at no interval', 'GET', '/stats?ms=soon', bearer, 400, /ms: expected a number/],
    ];
    for (const [title, method, path, headers, status, body] of cases) {
      await row(t, `http: ${title}`, async (t) => {
        const r = await http(method, path, headers, method === 'POST' ? list : undefined);
        t.equal(r.status, status);
        if (typeof body === 'string') t.equal(r.text, body);
        else t.match(r.text, body);
      });
    }
  });

  await t.test('connections', async (t) => {
    await row(
      t,
      'a client that connects and sends nothing: left alone, others answered',
      async (t) => {
        const silent = await Raw.connect(d.socket);
        t.teardown(() => silent.destroy());
        // Others are served while it sits there (each round trip is a turn of the event loop).
        for (let i = 0; i < 3; i++) t.ok(await d.client.list());
        t.ok(silent.isOpen, 'a quiet client is allowed (until the idle timeout, an hour)');
        t.equal(silent.text, '', 'and is sent nothing');
        silent.destroy();
      },
    );
    await row(t, '1,000 connections at once', async (t) => {
      const before = fdCount();
      const conns = await Promise.all(Array.from({ length: 1000 }, () => Raw.connect(d.socket)));
      t.teardown(() => conns.forEach((c) => c.destroy()));
      t.equal(conns.length, 1000);
      const fresh = await Raw.connect(d.socket);
      await fresh.write(req(1, 'service_list') + '\n');
      t.match(
        (await fresh.json<Response>(1))[0],
        { result: { canary: 'Running' } },
        'a fresh client is answered',
      );
      fresh.destroy();
      // Every one of them is served too.
      await Promise.all(conns.map((c, i) => c.write(req(i, 'service_list') + '\n')));
      const answers = await Promise.all(conns.map((c) => c.json<Response>(1, 20000)));
      t.ok(
        answers.every(([r], i) => r?.id === i && r.result !== undefined),
        'all 1,000 answered',
      );
      conns.forEach((c) => c.destroy());
      await waitFor('the daemon to close all 1,000', () => fdCount() <= before, 10000);
    });
    await row(t, 'a client that disconnects mid-request', async (t) => {
      const before = fdCount();
      const c = await Raw.connect(d.socket);
      await c.write('{"jsonrpc":"2.0","id":1,"method":"service_st');
      c.destroy();
      const p = await Raw.connect(d.socket);
      // Many requests, then gone before any answer is read.
      await p.write(
        Array.from({ length: 500 }, (_, i) => req(i, 'service_status', ['canary'])).join(''),
      );
      p.destroy();
      await waitFor('the daemon to release both connections', () => fdCount() <= before, 5000);
    });
    await row(t, 'clients that disconnect mid-follow release their followers', async (t) => {
      const before = fdCount();
      // More follow-then-vanish clients than there may be followers at once:
      // if any were kept, the last subscriptions would be refused.
      for (let i = 0; i < MAX_FOLLOWERS + 20; i++) {
        const c = await Raw.connect(d.socket);
        await c.write(req(1, i % 2 ? 'log_follow' : 'stream_subscribeLogs', {}) + '\n');
        const [r] = await c.json<Response>(1);
        if (typeof r?.result !== 'number') t.fail(`subscription ${i}: ${JSON.stringify(r)}`);
        c.destroy();
      }
      const text = await Raw.connect(d.socket);
      await text.write('log\n');
      await waitFor('the text follower to start', () => text.text.length > 0);
      text.destroy();
      await waitFor('the daemon to release every follower', () => fdCount() <= before, 5000);
      // None was kept: exactly MAX_FOLLOWERS may follow now, and not one more.
      const holders = await Promise.all(
        Array.from({ length: MAX_FOLLOWERS / MAX_FOLLOWS_PER_CONNECTION }, () =>
          Raw.connect(d.socket),
        ),
      );
      t.teardown(() => holders.forEach((h) => h.destroy()));
      for (const h of holders) {
        await h.write(
          Array.from({ length: MAX_FOLLOWS_PER_CONNECTION }, (_, i) =>
            req(i, 'log_follow', { n: 0 }),
          ).join(''),
        );
        const answers = await h.json<Response>(MAX_FOLLOWS_PER_CONNECTION);
        t.ok(
          answers.every((a) => typeof a.result === 'number'),
          'subscribed',
        );
      }
      const refusal = 'too many log followers (at most 256 in all); try again later';
      await exchange(t, req(1, 'stream_subscribeLogs') + '\n', [err(1, -32600, refusal)]);
      t.equal(
        await textCommand(d.socket, 'log\n'),
        JSON.stringify({ state: 'error', body: refusal }) + '\n',
      );
      holders.forEach((h) => h.destroy());
    });
  });

  await t.test('text protocol', async (t) => {
    const wrong = (cmd: string): string =>
      JSON.stringify({
        state: 'error',
        body: `unknown command '${cmd}' or wrong arguments count`,
      }) + '\n';
    const cases: [string, string, string][] = [
      ['status without a name', 'status\n', wrong('status')],
      ['status with two names', 'status canary other\n', wrong('status')],
      ['start without a name', 'start\n', wrong('start')],
      ['kill without a name', 'kill\n', wrong('kill')],
      ['kill with three arguments', 'kill canary TERM extra\n', wrong('kill')],
      ['list with an argument', 'list all\n', wrong('list')],
      ['log with two arguments', 'log snapshot now\n', wrong('log')],
      ['an unknown command', 'frobnicate canary\n', wrong('frobnicate')],
      [
        'an unterminated quote',
        'status "canary\n',
        JSON.stringify({
          state: 'error',
          body: 'invalid command line: unterminated double quote at character 8',
        }) + '\n',
      ],
      [
        'a name that climbs out',
        'monitor ../../etc/passwd\n',
        JSON.stringify({ state: 'error', body: badName('"../../etc/passwd"') }) + '\n',
      ],
      [
        'an unknown signal',
        'kill canary NOPE\n',
        JSON.stringify({ state: 'error', body: "invalid signal 'NOPE'" }) + '\n',
      ],
    ];
    for (const [title, line, expected] of cases) {
      await row(t, `text: ${title}`, async (t) => {
        t.equal(await textCommand(d.socket, line), expected);
      });
    }
  });

  t.ok(rows >= 40, `${rows} rows`);
});

// --- the same files at start-up ------------------------------------------------------

t.test('hostile files at start-up: every problem at file:line:col, the rest loads', async (t) => {
  const paths: string[] = [];
  const d = await startDaemon(t, { canary: 'exec: sleep 1000\n', ...CYCLE, ...SHARED_LOG }, [], {
    setup: (dir) => {
      for (const r of FILE_ROWS) {
        const path = join(dir, r.file);
        paths.push(path);
        if (typeof r.content === 'function') r.content(path);
        else writeFileSync(path, r.content);
      }
    },
  });
  const canary = await d.waitStatus('canary', (s) => s.status === 'running', 'running');
  t.ok(canary.pid > 0, 'the canary started');
  const lines = FILE_ROWS.flatMap((r) =>
    r.problems.map((p) => {
      const path = join(d.dir, r.file);
      return /^\d+:\d+: /.test(p) ? `${path}:${p}` : `${path}: ${p}`;
    }),
  );
  const cycle = 'dependency cycle cyc1 -> cyc3 -> cyc2 -> cyc1';
  const stderr = d.stderr();
  for (const line of lines) t.ok(stderr.includes(`sminitd: ${line}\n`), `stderr: ${line}`);
  t.ok(stderr.includes(`sminitd: ${cycle}: not starting cyc1, cyc3, cyc2\n`), 'the cycle is named');
  for (const line of sharedLog(d.dir))
    t.ok(stderr.includes(`sminitd: ${line}\n`), `stderr: ${line}`);
  t.same(Object.keys(await d.client.list()), ['canary'], 'only the canary is tracked');

  const check = await runCli(['check', d.dir]);
  t.equal(check.code, 1);
  const out = check.stdout + check.stderr;
  for (const line of lines) t.ok(out.includes(`${line}\n`), `check: ${line}`);
  t.ok(out.includes(`${d.dir}: ${cycle}\n`), 'check names the cycle');
  for (const line of sharedLog(d.dir)) t.ok(out.includes(`${line}\n`), `check: ${line}`);
});
