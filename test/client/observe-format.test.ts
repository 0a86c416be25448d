// What the CLI prints of events, the graph and `why`, snapshot-tested so a
// change there is reviewed; the state colours of `list`; and the DOT output
// rendered by Graphviz's own `dot`, which refuses anything malformed.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { describeEvent, formatEvent, formatList, paintState } from '../../lib/client/format.js';
import { formatWhy, toDot, toMermaid } from '../../lib/client/graph.js';
import {
  EVENT_KINDS,
  type Graph,
  type ServiceStatus,
  type SminitEvent,
} from '../../lib/api/wire.js';
import { NO_LIMITS } from '../helpers/wire.js';

const at = { cursor: 7, time: '2025-01-01T12:00:00.000Z' };
const EVENTS: SminitEvent[] = [
  {
    ...at,
    kind: 'daemon',
    service: null,
    action: 'started',
    detail: 'sminitd 0.1.0 started (pid 1)',
  },
  { ...at, kind: 'tracked', service: 'web', file: '/etc/sminit/web.yaml' },
  { ...at, kind: 'untracked', service: 'web' },
  {
    ...at,
    kind: 'state',
    service: 'web',
    from: 'running',
    to: 'backoff',
    pid: 0,
    run: 3,
    reason: 'exited with code 1; restarting in 400 ms',
  },
  {
    ...at,
    kind: 'state',
    service: 'web',
    from: 'backoff',
    to: 'running',
    pid: 42,
    run: 4,
    reason: 'up',
  },
  {
    ...at,
    kind: 'exit',
    service: 'web',
    run: 3,
    pid: 41,
    code: 1,
    signal: null,
    uptime_ms: 61_000,
  },
  {
    ...at,
    kind: 'exit',
    service: 'web',
    run: 3,
    pid: 41,
    code: null,
    signal: 'SIGKILL',
    uptime_ms: 500,
  },
  {
    ...at,
    kind: 'restart',
    service: 'web',
    run: 3,
    delay_ms: 400,
    restarts: 2,
    reason: 'exited with code 1',
  },
  {
    ...at,
    kind: 'test',
    service: 'db',
    run: 1,
    passed: false,
    failures: 1,
    error: 'exited with code 1',
  },
  { ...at, kind: 'test', service: 'db', run: 1, passed: true, failures: 1, error: null },
  {
    ...at,
    kind: 'probe',
    service: 'api',
    run: 2,
    probe: 'readiness',
    passed: false,
    failures: 1,
    error: 'HTTP 503',
  },
  {
    ...at,
    kind: 'probe',
    service: 'api',
    run: 2,
    probe: 'liveness',
    passed: true,
    failures: 0,
    error: null,
  },
  {
    ...at,
    kind: 'ready',
    service: 'api',
    run: 2,
    ready: false,
    reason: 'readiness failed 3 times: HTTP 503',
  },
  { ...at, kind: 'ready', service: 'api', run: 2, ready: true, reason: 'ready again' },
  {
    ...at,
    kind: 'give_up',
    service: 'flaky',
    run: 6,
    restarts: 5,
    window_ms: 60_000,
    retry_in_ms: 600_000,
  },
  {
    ...at,
    kind: 'give_up',
    service: 'flaky',
    run: 6,
    restarts: 5,
    window_ms: 60_000,
    retry_in_ms: null,
  },
];

t.test('every kind of event has a sentence', async (t) => {
  t.same([...new Set(EVENTS.map((e) => e.kind))].sort(), [...EVENT_KINDS].sort(), 'all kinds here');
  t.matchSnapshot(EVENTS.map((e) => formatEvent(e)).join('\n'), 'plain');
  t.equal(
    describeEvent(EVENTS[3] as SminitEvent),
    'running → backoff (exited with code 1; restarting in 400 ms)',
  );
  const coloured = formatEvent(EVENTS[4] as SminitEvent, true);
  t.match(coloured, /→ \x1b\[32mrunning\x1b\[0m/, 'the new state in its colour');
  const test = { ...at, kind: 'test', service: 'db', run: 1, passed: false, failures: 1 } as const;
  t.match(
    formatEvent({ ...test, error: 'said \x1b[2J' }, false, true),
    /said \\x1b\[2J$/,
    'escaped for a terminal',
  );
});

t.test('list: states in colour, columns still aligned', async (t) => {
  const row = (name: string, status: ServiceStatus['status']): ServiceStatus => ({
    name,
    pid: 1,
    state: 'Running',
    target: 'Up',
    after: {},
    status,
    reason: 'r',
    since: at.time,
    uptime_ms: 1000,
    restarts: 0,
    oneshot: false,
    last_exit: null,
    next_attempt: null,
    dependencies: {},
    conditions: {},
    ready: status === 'running',
    probes: [],
    notify: null,
    restart_limit: null,
    schedule: null,
    recovered: null,
    user: null,
    cgroup: null,
    limits: NO_LIMITS,
    file: 'f',
  });
  const rows = [row('a', 'running'), row('b', 'backoff'), row('c', 'failed'), row('d', 'stopped')];
  const plain = formatList(rows);
  const coloured = formatList(rows, false, [], true);
  t.equal(coloured.replace(/\x1b\[\d+m/g, ''), plain, 'the same table without the colours');
  t.match(coloured, /\x1b\[32mrunning\x1b\[0m/);
  t.match(coloured, /\x1b\[33mbackoff\x1b\[0m/);
  t.match(coloured, /\x1b\[31mfailed\x1b\[0m/);
  t.notMatch(coloured.split('\n')[4] ?? '', /\x1b/, 'stopped stays plain');
  t.notMatch(plain, /\x1b/, 'no colour unless asked');
  t.equal(paintState('starting', 'starting  '), '\x1b[33mstarting\x1b[0m  ', 'padding outside');
  const unloaded = formatList(rows, false, [
    { name: 'bad', file: 'bad.yaml', why: 'bad.yaml:1:1: x\ny' },
  ]);
  const header = unloaded.split('\n')[0] ?? '';
  const last = unloaded.split('\n').at(-1) ?? '';
  t.equal(
    last.indexOf('bad.yaml:1:1: x'),
    header.indexOf('REASON'),
    'a file that did not load: why, under REASON',
  );
});

const GRAPH: Graph = {
  nodes: [
    { name: 'web', status: 'blocked', target: 'Up', oneshot: false, reason: 'waiting for db' },
    {
      name: 'db',
      status: 'starting',
      target: 'Up',
      oneshot: false,
      reason: 'health "test" failing',
    },
    { name: 'setup', status: 'success', target: 'Up', oneshot: true, reason: 'completed' },
    { name: 'cache@1', status: 'untracked', target: null, oneshot: false, reason: 'not tracked' },
  ],
  edges: [
    { from: 'web', to: 'db', condition: 'ready', met: false },
    { from: 'web', to: 'setup', condition: 'succeeded', met: true },
    { from: 'web', to: 'cache@1', condition: 'tracked', met: false },
  ],
};

t.test('graph: DOT that Graphviz renders, and Mermaid', async (t) => {
  const dot = toDot(GRAPH);
  t.matchSnapshot(dot, 'dot');
  t.matchSnapshot(toMermaid(GRAPH), 'mermaid');
  const svg = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
  t.equal(svg.status, 0, `dot renders it: ${svg.stderr}`);
  t.equal(svg.stderr, '', 'without a warning');
  t.match(svg.stdout, /<svg[\s\S]*web[\s\S]*cache@1[\s\S]*<\/svg>/);
});

t.test('why: the chains, then the critical chain', async (t) => {
  t.matchSnapshot(
    formatWhy({
      service: 'web',
      status: 'blocked',
      reason: 'waiting for api',
      summary: [
        'web waits for api, which waits for db, whose health test has failed 4 times: connection refused',
      ],
      chains: [
        [
          { service: 'web', status: 'blocked', reason: 'waiting for api' },
          { service: 'api', status: 'blocked', reason: 'waiting for db' },
          {
            service: 'db',
            status: 'starting',
            reason: 'health test failing (4x): connection refused',
          },
        ],
      ],
      critical: [
        { service: 'web', spawned_at: at.time, up_at: at.time, at_ms: 2310, took_ms: 203 },
        { service: 'api', spawned_at: at.time, up_at: at.time, at_ms: 2107, took_ms: 1002 },
        { service: 'db', spawned_at: at.time, up_at: at.time, at_ms: 1105, took_ms: 1100 },
      ],
    }),
    'blocked, with a chain from its last start',
  );
  t.matchSnapshot(
    formatWhy({
      service: 'db',
      status: 'backoff',
      reason: 'exited with code 1; restarting in 400 ms',
      summary: ['db is in backoff: exited with code 1; restarting in 400 ms'],
      chains: [[{ service: 'db', status: 'backoff', reason: 'exited with code 1' }]],
      critical: null,
    }),
    'never up',
  );
});
