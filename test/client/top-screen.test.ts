// `sminit top`'s frame and keys as pure functions: every line exactly the
// terminal's width, the selected row inverted, states in the CLI's colours,
// a service's escape sequences shown as text, the log pane and the filter;
// and raw key bytes read as the keys a person pressed.

import t from 'tap';
import type { ServiceStatus } from '../../lib/client/client.js';
import { type TopModel, fit, render, visible } from '../../lib/client/top-screen.js';
import { keysOf } from '../../lib/client/top.js';

const service = (name: string, over: Partial<ServiceStatus> = {}): ServiceStatus =>
  ({
    name,
    pid: 100,
    state: 'Running',
    target: 'Up',
    after: {},
    status: 'running',
    reason: 'up',
    since: '2026-01-01T00:00:00.000Z',
    uptime_ms: 1000,
    restarts: 0,
    oneshot: false,
    last_exit: null,
    next_attempt: null,
    dependencies: {},
    file: `/etc/sminit/${name}.yaml`,
    ready: true,
    ...over,
  }) as ServiceStatus;

function model(over: Partial<TopModel> = {}): TopModel {
  const list = [
    service('web'),
    service('db', { pid: 0, status: 'failed', ready: null, reason: 'exited with code 1\x1b[2J' }),
    service('api', { status: 'starting', ready: false }),
  ];
  return {
    width: 80,
    height: 12,
    now: 61_000,
    daemon: '0.1.0 · pid 1',
    services: new Map(list.map((s) => [s.name, { ...s, upSince: s.pid > 0 ? 0 : null }])),
    stats: { web: { cpu: 1.25, memory: 5 * 1024 * 1024 } },
    selected: 'web',
    filter: '',
    filtering: false,
    logOpen: false,
    log: [],
    message: '',
    live: true,
    ...over,
  };
}

const plain = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
/** The frame as the rows a terminal would show. */
function rows(frame: string): string[] {
  return frame
    .split(/\x1b\[\d+;1H/)
    .slice(1)
    .map((r) => plain(r));
}

t.test('a frame fills the terminal, one line a row, each its width', async (t) => {
  const frame = render(model({ width: 100 }));
  const r = rows(frame);
  t.equal(r.length, 12);
  t.ok(
    r.every((l) => [...l].length === 100),
    'every row exactly 100 columns',
  );
  t.match(
    r[0],
    /^ sminit top · 0\.1\.0 · pid 1 · 3 services: 1 running, 1 starting, 1 failed +live $/,
  );
  t.match(r[1], /^NAME +STATE +READY +PID +UPTIME +RST +CPU% +MEM +REASON/);
  t.match(r[2], /^api +starting +no +100 +1m01s/, 'sorted by name');
  t.match(r[3], /^db +failed +- +- +- +0 +- +- +exited with code 1\\x1b\[2J/, 'escapes shown');
  t.match(r[4], /^web +running +yes +100 +1m01s +0 +1\.3 +5\.0M +up/);
  t.match(r[11], /↑↓ select +s start +x stop +r restart +l log +\/ filter +q quit/);
  t.match(frame, /\x1b\[7mweb /, 'the selected row inverted');
  t.match(frame, /\x1b\[31mfailed\x1b\[0m/, 'failed in red');
  t.match(frame, /\x1b\[33mstarting\x1b\[0m/, 'starting in yellow');
});

t.test('the filter, the log pane, a narrow window', async (t) => {
  t.same(visible(model({ filter: 'WE' })), ['web'], 'the filter ignores case');
  const filtered = rows(render(model({ filter: 'zz', filtering: true })));
  t.match(filtered[2], /^no service matches \/zz/);
  t.match(filtered[11], /^\/zz/, 'the filter being typed on the key line');
  const log = rows(render(model({ logOpen: true, log: ['one', 'two', 'three'] })));
  const at = log.findIndex((l) => l.startsWith('── log: web '));
  t.ok(at > 2, 'the pane below the list');
  t.same(
    log.slice(at + 1, at + 4).map((l) => l.trimEnd()),
    ['one', 'two', 'three'],
  );
  const narrow = rows(render(model({ width: 40, height: 6, message: 'web stopped' })));
  t.equal(narrow.length, 6);
  t.ok(narrow.every((l) => [...l].length === 40));
  t.match(narrow[5], /^web stopped/);
  t.equal(fit('abcdef', 4), 'abc…');
  t.equal(fit('a\tb', 4), 'a b ');
});

t.test('the keys in raw bytes', async (t) => {
  t.same(keysOf('\x1b[A\x1b[B\x1bOA'), ['up', 'down', 'up']);
  t.same(keysOf('x\r/\x7f\x03'), ['x', 'enter', '/', 'backspace', 'ctrl-c']);
  t.same(keysOf('\x1b'), ['escape']);
  t.same(keysOf('\x1b[5~\x1b[6~\x1b[H\x1b[F'), ['pageup', 'pagedown', 'home', 'end']);
  t.same(keysOf('é😀'), ['é', '😀']);
  t.same(keysOf('\x1b[1;5C'), ['unknown'], 'a sequence top does not use');
});
