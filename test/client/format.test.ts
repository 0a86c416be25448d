// What the CLI prints for people: the service table and one service's
// status, snapshot-tested so a change there is reviewed.

import t from 'tap';
import {
  escapeControls,
  formatList,
  formatLogLine,
  formatStatus,
} from '../../lib/client/format.js';
import type { LogLine, ServiceStatus } from '../../lib/api/wire.js';
import { NO_LIMITS } from '../helpers/wire.js';

const status: ServiceStatus = {
  name: 'web',
  pid: 4242,
  state: 'Running',
  target: 'Up',
  after: { db: 'Running', cache: 'Unknown' },
  status: 'running',
  reason: 'up',
  since: '2024-05-01T10:00:00.000Z',
  uptime_ms: 3_723_000,
  restarts: 2,
  oneshot: false,
  last_exit: {
    pid: 4100,
    code: null,
    signal: 'SIGKILL',
    at: '2024-05-01T09:59:59.000Z',
    description: 'killed by SIGKILL',
    oom_kill: false,
  },
  next_attempt: null,
  dependencies: { db: 'running', cache: 'untracked' },
  conditions: { db: 'up', cache: 'up' },
  file: '/etc/sminit/web.yaml',
  user: null,
  cgroup: null,
  limits: NO_LIMITS,
  ready: true,
  probes: [],
  notify: null,
  restart_limit: null,
  schedule: null,
  recovered: null,
};

t.test('formatList', async (t) => {
  const rows: ServiceStatus[] = [
    { ...status, name: 'db', pid: 7, uptime_ms: 59_999, restarts: 0, after: {}, dependencies: {} },
    status,
    {
      ...status,
      name: 'worker-long-name',
      pid: 0,
      status: 'backoff',
      ready: null,
      state: 'Error(Exited(Pid(9), 1))',
      reason: 'exited with code 1; restarting in 400 ms',
      uptime_ms: null,
      restarts: 17,
    },
    {
      ...status,
      name: 'old',
      pid: 1,
      uptime_ms: 3 * 86_400_000 + 5 * 3_600_000,
      restarts: 0,
    },
  ];
  const text = formatList(rows);
  t.same(text.split('\n')[0]?.split(/ {2,}/), [
    'NAME',
    'STATE',
    'READY',
    'PID',
    'UPTIME',
    'RESTARTS',
    'REASON',
  ]);
  t.notOk(/ \n| $/.test(text), 'no trailing spaces');
  t.matchSnapshot(text, 'list table');
  t.equal(formatList([]), 'no services tracked');
});

t.test('formatStatus', async (t) => {
  const recent: LogLine[] = [
    {
      seq: 1,
      time: '2024-05-01T10:00:00.123Z',
      service: 'web',
      stream: 'stdout',
      run: 3,
      text: 'listening',
    },
    {
      seq: 2,
      time: '2024-05-01T10:00:01.000Z',
      service: 'web',
      stream: 'stderr',
      run: 3,
      text: 'warn: x',
    },
  ];
  const text = formatStatus(status, recent);
  t.match(text, /^state: {5}running \(up\)$/m);
  t.match(text, /^after: {5}db \(running\), cache \(untracked\)$/m);
  t.matchSnapshot(text, 'status with everything');
  const bare = formatStatus({
    ...status,
    pid: 0,
    status: 'backoff',
    ready: null,
    reason: 'exited with code 1; restarting in 400 ms',
    uptime_ms: null,
    last_exit: {
      pid: 4100,
      code: 1,
      signal: null,
      at: '2024-05-01T09:59:59.000Z',
      description: 'exited with code 1',
      oom_kill: false,
    },
    next_attempt: '2024-05-01T10:00:00.400Z',
    after: {},
    dependencies: {},
  });
  t.matchSnapshot(bare, 'status backing off');
  const recovered = formatStatus({
    ...status,
    recovered: { ended: 3, stuck: 0, daemons: [5963], at: '2024-05-01T09:59:58.000Z' },
  });
  t.match(
    recovered,
    /^recovered: ended 3 processes left by an earlier sminitd \(sminitd 5963, at 2024-05-01T09:59:58.000Z\)$/m,
  );
  t.notMatch(text, /recovered:/, 'nothing said when nothing was left');
  const watched = formatStatus({
    ...status,
    reason:
      'running, not ready: readiness failed 3 times: HTTP 503 from http://127.0.0.1:8080/health',
    ready: false,
    conditions: { db: 'ready', cache: 'up' },
    probes: [
      {
        role: 'readiness',
        kind: 'http',
        target: 'http://127.0.0.1:8080/health',
        passing: false,
        last: { ok: false, reason: 'HTTP 503', at: '2024-05-01T10:00:05.000Z' },
        failures: 3,
        successes: 0,
        next_run: '2024-05-01T10:00:06.000Z',
      },
      {
        role: 'liveness',
        kind: 'tcp',
        target: '127.0.0.1:8080',
        passing: true,
        last: { ok: true, reason: 'connected', at: '2024-05-01T10:00:01.000Z' },
        failures: 0,
        successes: 12,
        next_run: '2024-05-01T10:00:11.000Z',
      },
    ],
    notify: {
      mode: 'systemd',
      fd: null,
      socket: '/run/sminit.sock.notify/web',
      status: 'serving 12 clients',
      main_pid: 4242,
      reloading: false,
      stopping: false,
      watchdog_ms: 30_000,
      watchdog_deadline: '2024-05-01T10:00:30.000Z',
    },
    restart_limit: { count: 5, window_ms: 60_000, restarts_in_window: 2, cooldown_ms: 600_000 },
  });
  t.matchSnapshot(watched, 'status with probes, notify and a restart limit');
  const scheduled = formatStatus({
    ...status,
    pid: 0,
    status: 'scheduled',
    ready: null,
    reason: 'last run succeeded; next run 2024-05-02T03:30:00.000Z',
    uptime_ms: null,
    oneshot: true,
    schedule: {
      cron: '0 30 3 * * *',
      timezone: 'Europe/Paris',
      next_run: '2024-05-02T03:30:00.000Z',
      last_run_succeeded: true,
    },
  });
  t.matchSnapshot(scheduled, 'a scheduled oneshot');
});

t.test('control characters are escaped for a terminal, kept otherwise', async (t) => {
  const evil = 'a\x1b]0;pwned\x07\x1b[2J\tb\r\x7f\u009bc é';
  t.equal(escapeControls(evil), 'a\\x1b]0;pwned\\x07\\x1b[2J\tb\\x0d\\x7f\\u009bc é');
  const line: LogLine = {
    seq: 1,
    time: '2024-05-01T10:00:00.000Z',
    service: 'web',
    stream: 'stdout',
    run: 1,
    text: evil,
  };
  t.equal(formatLogLine(line), `2024-05-01T10:00:00.000Z + web: ${evil}`, 'bytes as they are');
  t.equal(
    formatLogLine(line, true, false, true),
    `2024-05-01T10:00:00.000Z + web: ${escapeControls(evil)}`,
  );
  t.notMatch(formatLogLine(line, true, true, true), /\x1b\]|\x07|\x1b\[2J/, 'with colour too');
  const s = { ...status, reason: 'exited\x1b[31m', file: '/etc/\x1b[2Jx.yaml' };
  const text = formatStatus(s, [line], true);
  t.notMatch(text, /[\x00-\x08\x0b-\x1f]/, 'nothing raw in status');
  t.match(text, /state: {5}running \(exited\\x1b\[31m\)/);
  t.notMatch(formatList([s], true), /\x1b/, 'nor in the list');
  t.match(formatStatus(s, [line]), /\x1b\[31m/, 'unless asked');
});
