// The text protocol of zinit ≤ 0.2.14, byte for byte over the real socket:
// one command per connection, one envelope back, then close; every verb, the
// log stream, and malformed input (answered, the daemon unharmed).

import { connect } from 'node:net';
import t from 'tap';
import { parseCommand, zinitBody } from '../../lib/transport/text.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { Raw, textCommand, textJson } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';
import { lineNumber, writerExec } from '../helpers/writers.js';

t.test('parseCommand', async (t) => {
  t.same(parseCommand('list'), { kind: 'call', method: 'service_list', params: {} });
  t.same(parseCommand('status web'), {
    kind: 'call',
    method: 'service_status',
    params: { name: 'web' },
  });
  t.same(parseCommand("  start   'web'  "), {
    kind: 'call',
    method: 'service_start',
    params: { name: 'web' },
  });
  t.same(parseCommand('stop web').kind, 'call');
  t.same(parseCommand('forget web'), {
    kind: 'call',
    method: 'service_forget',
    params: { name: 'web' },
  });
  t.same(parseCommand('monitor web'), {
    kind: 'call',
    method: 'service_monitor',
    params: { name: 'web' },
  });
  t.same(parseCommand('kill web SIGHUP'), {
    kind: 'call',
    method: 'service_kill',
    params: { name: 'web', signal: 'SIGHUP' },
  });
  t.same(parseCommand('kill web'), {
    kind: 'call',
    method: 'service_kill',
    params: { name: 'web', signal: 'SIGTERM' },
  });
  t.same(parseCommand('shutdown'), { kind: 'call', method: 'system_shutdown', params: {} });
  t.same(parseCommand('reboot'), { kind: 'call', method: 'system_reboot', params: {} });
  t.same(parseCommand('log'), { kind: 'log', snapshot: false });
  t.same(parseCommand('log snapshot'), { kind: 'log', snapshot: true });
  const wrong = (line: string, message: string): void => {
    t.same(parseCommand(line), { kind: 'error', message }, line);
  };
  wrong('bogus', "unknown command 'bogus' or wrong arguments count");
  wrong('status', "unknown command 'status' or wrong arguments count");
  wrong('status a b', "unknown command 'status' or wrong arguments count");
  wrong('list x', "unknown command 'list' or wrong arguments count");
  wrong('kill', "unknown command 'kill' or wrong arguments count");
  wrong('log follow', "unknown command 'log' or wrong arguments count");
  wrong('', 'empty command');
  t.match(parseCommand('status "web'), { kind: 'error', message: /^invalid command line: / });
});

t.test('zinitBody keeps only the fields old clients know, in their order', async (t) => {
  const body = zinitBody('service_status', {
    name: 'a',
    pid: 0,
    state: 'Blocked',
    target: 'Up',
    after: { b: 'Unknown' },
    status: 'blocked',
    reason: 'waiting for b',
  });
  t.equal(
    JSON.stringify(body),
    '{"name":"a","pid":0,"state":"Blocked","target":"Up","after":{"b":"Unknown"}}',
  );
});

const FILES = {
  a: 'exec: sleep 1000\n',
  b: 'exec: sleep 1000\nafter: [a, ghost]\n',
  talker: `exec: sh -c 'echo out-line; echo err-line >&2; exec sleep 1000'\n`,
  setup: 'exec: "true"\noneshot: true\n',
  victim: 'exec: sleep 1000\nshutdown_timeout: 5\n',
};

t.test('every verb over the text protocol', async (t) => {
  const d = await startDaemon(t, FILES);
  const sock = d.socket;
  await d.waitStatus('a', (s) => s.status === 'running', 'running');
  await d.waitStatus('victim', (s) => s.status === 'running', 'running');
  await d.waitStatus('setup', (s) => s.status === 'success', 'done');

  await t.test('list: the envelope, then close; the same truth as JSON-RPC', async (t) => {
    const out = await textCommand(sock, 'list\n');
    t.match(out, /^\{"state":"ok","body":\{.*\}\}\n$/);
    const env = JSON.parse(out) as { body: Record<string, string> };
    t.same(env.body, await d.client.list());
    t.equal(env.body.a, 'Running');
    t.equal(env.body.b, 'Blocked');
    t.equal(env.body.setup, 'Success');
  });

  await t.test('status: zinit fields, pid, dependencies, Unknown for untracked', async (t) => {
    const a = await d.status('a');
    t.equal(
      await textCommand(sock, 'status a\n'),
      JSON.stringify({
        state: 'ok',
        body: { name: 'a', pid: a.pid, state: 'Running', target: 'Up', after: {} },
      }) + '\n',
    );
    t.same(await textJson(sock, 'status b'), {
      state: 'ok',
      body: {
        name: 'b',
        pid: 0,
        state: 'Blocked',
        target: 'Up',
        after: { a: 'Running', ghost: 'Unknown' },
      },
    });
  });

  await t.test('status of an unknown service: zinit’s words', async (t) => {
    t.equal(
      await textCommand(sock, 'status nosuch\n'),
      '{"state":"error","body":"service name \\"nosuch\\" unknown"}\n',
    );
  });

  await t.test('stop, then start', async (t) => {
    const before = await d.status('victim');
    t.equal(await textCommand(sock, 'stop victim\n'), '{"state":"ok","body":null}\n');
    const st = (await textJson(sock, 'status victim')).body as Record<string, unknown>;
    t.equal(st.pid, 0);
    t.equal(st.target, 'Down');
    t.equal(st.state, `Error(Signaled(Pid(${before.pid}), SIGTERM, false))`);
    t.equal(await textCommand(sock, 'start victim\n'), '{"state":"ok","body":null}\n');
    await d.waitStatus('victim', (s) => s.status === 'running', 'running again');
  });

  await t.test('kill', async (t) => {
    t.equal(await textCommand(sock, 'kill victim SIGCONT\n'), '{"state":"ok","body":null}\n');
    t.equal(await textCommand(sock, 'kill victim cont\n'), '{"state":"ok","body":null}\n');
    t.same(await textJson(sock, 'kill victim NOPE'), {
      state: 'error',
      body: "invalid signal 'NOPE'",
    });
    t.same(await textJson(sock, 'kill nosuch SIGTERM'), {
      state: 'error',
      body: 'service name "nosuch" unknown',
    });
  });

  await t.test('monitor, then forget', async (t) => {
    d.write('later', 'exec: sleep 1000\n');
    t.equal(await textCommand(sock, 'monitor later\n'), '{"state":"ok","body":null}\n');
    await d.waitStatus('later', (s) => s.status === 'running', 'running');
    const again = await textJson(sock, 'monitor later');
    t.equal(again.state, 'error');
    t.match(again.body, /already tracked/);
    t.equal(await textCommand(sock, 'forget later\n'), '{"state":"ok","body":null}\n');
    t.same(await textJson(sock, 'status later'), {
      state: 'error',
      body: 'service name "later" unknown',
    });
  });

  await t.test('log snapshot: raw prefixed lines, then close', async (t) => {
    await waitFor('talker output', async () =>
      (await d.client.readLogs({ names: ['talker'] })).lines.some((l) => l.text === 'err-line'),
    );
    const out = await textCommand(sock, 'log snapshot\n');
    t.match(out, /^\[[+-]\] /);
    t.ok(out.endsWith('\n'));
    t.ok(out.includes('[-] talker: ------------ [start] ------------\n'));
    t.ok(out.includes('[+] talker: out-line\n'));
    t.ok(out.includes('[-] talker: err-line\n'));
    t.notOk(out.includes('"state"'), 'no envelope');
    for (const line of out.slice(0, -1).split('\n')) t.match(line, /^\[[+-]\] [\w@-]+: /);
  });

  await t.test('log: the buffer, then every new line, until the client leaves', async (t) => {
    const c = await Raw.connect(sock);
    await c.write('log\n');
    await waitFor('the buffer', () => c.text.includes('[+] talker: out-line\n'));
    const mark = c.text.length;
    t.equal(await textCommand(sock, 'kill talker SIGKILL\n'), '{"state":"ok","body":null}\n');
    await waitFor('the restart', () => c.text.slice(mark).includes('[+] talker: out-line\n'));
    t.ok(c.text.slice(mark).includes('[-] talker: ------------ [start] ------------\n'));
    t.ok(c.isOpen, 'still following');
    c.destroy();
    await c.closed;
    t.equal((await textJson(sock, 'list')).state, 'ok', 'daemon fine after the follower left');
  });

  await t.test('malformed input: an error envelope, the daemon unharmed', async (t) => {
    const cases: [string | Buffer, RegExp][] = [
      ['bogus\n', /^unknown command 'bogus' or wrong arguments count$/],
      ['status\n', /wrong arguments count/],
      ['status a b\n', /wrong arguments count/],
      ['status "a\n', /^invalid command line: /],
      ['status ../etc/passwd\n', /^invalid service name/],
      ['status a.b\n', /^invalid service name/],
      [Buffer.from([0x01, 0xff, 0xfe, 0x0a]), /wrong arguments count/],
      ['LIST\r\n', /^unknown command 'LIST'/],
    ];
    for (const [input, body] of cases) {
      const out = await textCommand(sock, input as string);
      t.match(out, /\n$/, `${JSON.stringify(input.toString())} ends with a newline`);
      const env = JSON.parse(out) as { state: string; body: string };
      t.equal(env.state, 'error', JSON.stringify(input.toString()));
      t.match(env.body, body);
    }
    // A line too long for a command: answered at the limit, not buffered without end.
    const long = await textCommand(sock, 'x'.repeat(70 * 1024));
    t.equal((JSON.parse(long) as { state: string }).state, 'error');
    // A command without a newline, then half-close: still a command.
    const c = await Raw.connect(sock);
    await c.write('list');
    c.end();
    t.equal((JSON.parse(await c.all()) as { state: string }).state, 'ok');
    // The CRLF a Windows client sends is not part of the name.
    t.equal((await textJson(sock, 'status a\r')).state, 'ok');
    t.same(await d.client.list(), (await textJson(sock, 'list')).body);
  });
});

t.test('log: a reader too slow is told how many lines it missed, in zinit’s words', async (t) => {
  const scripts = tempDir(t);
  const COUNT = 200_000;
  const d = await startDaemon(t, { w: `exec: ${writerExec(scripts, COUNT, 60)}\n` }, [
    '-b',
    '2MiB',
  ]);
  // A follower that reads nothing until the writer is done.
  const slow = connect(d.socket);
  await new Promise((r) => slow.once('connect', r));
  t.teardown(() => slow.destroy());
  slow.pause();
  slow.write('log\n');
  await waitFor(
    'the writer to finish',
    async () => (await d.client.readLogs({ names: ['w'], n: 1 })).lines[0]?.text === 'w done',
    40000,
  );
  let buf = '';
  let dropped = 0;
  let done = false;
  const nums: number[] = [];
  const strange: string[] = [];
  slow.setEncoding('utf8');
  slow.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const missed = /^\[-\] sminit: (\d+) lines? dropped \(reader too slow\)$/.exec(line);
      const n = line.startsWith('[+] w: ') ? lineNumber(line.slice(7)) : null;
      if (missed) dropped += Number(missed[1]);
      else if (n !== null) nums.push(n);
      else if (line === '[+] w: w done') done = true;
      else if (!line.startsWith('[-] ')) strange.push(line);
    }
  });
  slow.resume();
  await waitFor('the slow reader to catch up', () => done, 40000);
  t.ok(dropped > 0, `told it missed ${dropped} lines`);
  t.ok(
    nums.every((n, i) => i === 0 || n > (nums[i - 1] as number)),
    'what it got is in order, none twice',
  );
  t.ok(nums.length + dropped >= COUNT - (nums[0] ?? 0), 'every line got or counted');
  t.same(strange, [], 'nothing but zinit’s raw lines');
  t.equal((await d.status('w')).status, 'running', 'the writer was not held up');
});

for (const verb of ['shutdown', 'reboot']) {
  t.test(`${verb}: answered, then every service stopped and the daemon gone`, async (t) => {
    const d = await startDaemon(t, { a: 'exec: sleep 1000\n' });
    await d.waitStatus('a', (s) => s.status === 'running', 'running');
    t.equal(await textCommand(d.socket, `${verb}\n`), '{"state":"ok","body":null}\n');
    t.equal(await d.exited, 0);
  });
}
