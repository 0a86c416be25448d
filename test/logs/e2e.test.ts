// Logs end to end: a real sminitd, real services writing real pipes, read
// through the real client and CLI.

import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { LogLine } from '../../lib/api/wire.js';
import { SMINIT, SMINITD, startDaemon, tempDir } from '../helpers/daemon.js';
import { contiguous, waitFor } from '../helpers/wait.js';
import { lineNumber, writerExec } from '../helpers/writers.js';

const MiB = 1024 * 1024;

t.test('snapshot then follow: one cursor, no line lost or twice at full speed', async (t) => {
  const scripts = tempDir(t);
  const COUNT = 200_000;
  const d = await startDaemon(t, { w: `exec: ${writerExec(scripts, COUNT, 16)}\n` }, [
    '-b',
    '64MiB',
  ]);
  // Snapshot while the writer is going.
  const snap = await waitFor('the writer to be writing', async () => {
    const r = await d.client.readLogs({ names: ['w'], n: 500, stream: 'stdout' });
    return r.lines.length >= 100 ? r : null;
  });
  const got: LogLine[] = [...snap.lines];
  let dropped = 0;
  let done = false;
  const stop = await d.client.followLogs(
    { names: ['w'], from: snap.next, stream: 'stdout' },
    (l) => {
      got.push(l);
      if (l.text === 'w done') done = true;
    },
    (n) => (dropped += n),
  );
  t.teardown(() => void stop().catch(() => undefined));
  await waitFor('the writer to finish and the follower to catch up', () => done, 45000);
  t.equal(dropped, 0, 'nothing evicted: the ring holds it all');
  const seqs = got.map((l) => l.seq);
  t.ok(
    seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number)),
    'seq strictly increasing: none twice',
  );
  const nums = got.map((l) => lineNumber(l.text)).filter((n): n is number => n !== null);
  t.equal(contiguous(nums), null, 'the writer numbers are contiguous: none missing');
  t.equal(nums.at(-1), COUNT - 1);
  t.ok(snap.lines.length > 0 && (lineNumber(snap.lines[0]?.text ?? '') ?? 0) >= 0);
});

t.test('eviction is fair between two services', async (t) => {
  const scripts = tempDir(t);
  const d = await startDaemon(
    t,
    {
      quiet: `exec: sh -c 'i=0; while [ $i -lt 200 ]; do echo "quiet $i"; i=$((i+1)); done; exec sleep 1000'\n`,
      chatty: `exec: ${writerExec(scripts, 300_000, 40, 'c')}\n`,
    },
    ['-b', '1MiB'],
  );
  await waitFor(
    'chatty to finish',
    async () => (await d.client.readLogs({ names: ['chatty'], n: 1 })).lines[0]?.text === 'c done',
    30000,
  );
  const quiet = await d.client.readLogs({ names: ['quiet'], stream: 'stdout' });
  t.equal(quiet.lines.length, 200, 'the quiet service keeps all of its history');
  t.equal(quiet.lines[0]?.text, 'quiet 0');
  const chatty = await d.client.readLogs({ names: ['chatty'], stream: 'stdout', n: 100_000 });
  t.ok(chatty.lines.length > 1000, `chatty keeps its newest (${chatty.lines.length} lines)`);
  t.ok(chatty.lines.length < 300_000, 'and lost its oldest');
  const nums = chatty.lines.map((l) => lineNumber(l.text, 'c')).filter((n) => n !== null);
  t.equal(contiguous(nums as number[]), null, 'what it kept is its newest, contiguous');
});

t.test('a burst of 200,000 short lines, one write each, fits the default ring', async (t) => {
  // The shell writes each line with its own write(2), so the daemon reads
  // them a few at a time: 2.2 MB of text, far less than the ring's 8 MiB.
  const d = await startDaemon(t, {
    burst: `exec: sh -c 'i=100000; while [ $i -lt 300000 ]; do echo seq=$i; i=$((i+1)); done'\nrestart: never\n`,
  });
  await d.waitStatus('burst', (s) => s.status === 'exited', 'exited', 60000);
  const nums: number[] = [];
  let dropped = 0;
  let page = await d.client.readLogs({ names: ['burst'], stream: 'stdout', from: 1 });
  const end = page.end;
  for (;;) {
    dropped += page.dropped ?? 0;
    for (const l of page.lines) nums.push(Number(l.text.slice(4)));
    if (page.next >= end) break;
    page = await d.client.readLogs({
      names: ['burst'],
      stream: 'stdout',
      from: page.next,
      until: end,
    });
  }
  t.equal(dropped, 0, 'none dropped');
  t.equal(nums.length, 200_000, 'every line kept');
  t.equal(contiguous(nums), null, 'in order, none missing');
  t.equal(nums[0], 100_000);
});

/**
 * A service that waits on a FIFO, then writes 200,000 lines of `seq=N`, one
 * `write` each: the follow is live (it printed the service's start) before
 * the burst begins, so it has to keep up with it or be told what it missed.
 */
function burstService(t: Parameters<typeof tempDir>[0]): { yaml: string; go: () => Promise<void> } {
  const dir = tempDir(t);
  const fifo = join(dir, 'go');
  execFileSync('mkfifo', [fifo]);
  const loop = 'i=100000; while [ $i -lt 300000 ]; do echo seq=$i; i=$((i+1)); done';
  return {
    yaml: `exec: sh -c 'read x < ${fifo}; ${loop}'\nrestart: never\n`,
    // Opening a FIFO waits for its reader: off the event loop, on libuv's pool.
    go: () => writeFile(fifo, 'go\n'),
  };
}

/** The seq=N lines of a follow's output, and every other line it printed. */
function burstLines(texts: readonly string[]): { nums: number[]; other: string[] } {
  const nums: number[] = [];
  const other: string[] = [];
  for (const text of texts) {
    const m = /seq=(\d+)$/.exec(text);
    if (m) nums.push(Number(m[1]));
    else other.push(text);
  }
  return { nums, other };
}

t.test('sminit log NAME loses nothing of a 200,000-line burst', async (t) => {
  const burst = burstService(t);
  const d = await startDaemon(t, { burst: burst.yaml });
  const cli = spawn(process.execPath, [SMINIT, '-s', d.socket, 'log', 'burst'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => void cli.kill('SIGKILL'));
  let out = '';
  cli.stdout.setEncoding('utf8');
  cli.stdout.on('data', (s: string) => (out += s));
  await waitFor('the follow to show the start', () => / burst: started: pid /.test(out));
  await burst.go();
  await waitFor(
    'the burst to be followed to its end',
    () => / burst: exited with code 0/.test(out),
    120_000,
  );
  cli.kill('SIGINT');
  const { nums, other } = burstLines(out.trimEnd().split('\n'));
  t.same(
    other.filter((l) => / dropped /.test(l)),
    [],
    'nobody is told of dropped lines',
  );
  t.equal(nums.length, 200_000, 'every line printed');
  t.equal(contiguous(nums), null, 'in order, none missing or twice');
});

t.test("the typed client's follow loses nothing of a 200,000-line burst", async (t) => {
  const burst = burstService(t);
  const d = await startDaemon(t, { burst: burst.yaml });
  const texts: string[] = [];
  let dropped = 0;
  const stop = await d.client.followLogs(
    { names: ['burst'] },
    (l) => texts.push(l.text),
    (n) => (dropped += n),
  );
  await waitFor('the follow to show the start', () => texts.some((x) => x.startsWith('started:')));
  await burst.go();
  await waitFor(
    'the burst to be followed to its end',
    () => texts.some((x) => x === 'exited with code 0'),
    120_000,
  );
  await stop();
  const { nums } = burstLines(texts);
  t.equal(dropped, 0, 'none dropped');
  t.equal(nums.length, 200_000, 'every line delivered');
  t.equal(contiguous(nums), null, 'in order, none missing or twice');
});

t.test('a file log rotates while the log is followed', async (t) => {
  const scripts = tempDir(t);
  const logDir = tempDir(t);
  const COUNT = 20_000;
  const d = await startDaemon(t, {
    web: [
      `exec: ${writerExec(scripts, COUNT, 20)}`,
      `dir: ${logDir}`,
      'log: {file: web.log, max_size: 64KiB, keep: 3}',
      'restart: never',
    ].join('\n'),
  });
  const followed: number[] = [];
  let done = false;
  const stop = await d.client.followLogs({ names: ['web'], stream: 'stdout' }, (l) => {
    const n = lineNumber(l.text);
    if (n !== null) followed.push(n);
    if (l.text === 'w done') done = true;
  });
  t.teardown(() => void stop().catch(() => undefined));
  await waitFor('the follower to see the end', () => done, 30000);
  t.equal(contiguous(followed), null, 'the follower saw every line');
  t.equal(followed.length, COUNT);
  const file = join(logDir, 'web.log');
  await waitFor(
    'the file to have the last line',
    () => existsSync(file) && readFileSync(file, 'utf8').includes(' stdout w done\n'),
  );
  t.ok(existsSync(`${file}.1`) && existsSync(`${file}.2`) && existsSync(`${file}.3`));
  t.notOk(existsSync(`${file}.4`), 'only keep=3 old files');
  const parts = [`${file}.3`, `${file}.2`, `${file}.1`, file];
  for (const p of parts) t.ok(statSync(p).size <= 64 * 1024, `${p} within max_size`);
  const text = parts.map((p) => readFileSync(p, 'utf8')).join('');
  const nums: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^\S+ stdout w (\d+) /.exec(line);
    if (m) nums.push(Number(m[1]));
  }
  t.equal(contiguous(nums), null, 'nothing lost across rotations');
  t.equal(nums.at(-1), COUNT - 1);
  t.match(readFileSync(parts[0] as string, 'utf8'), /^\d{4}-\d\d-\d\dT[\d:.]+Z (stdout|event) /);
});

t.test(
  'a slow follower is told what it missed; the service and others are not slowed',
  async (t) => {
    const scripts = tempDir(t);
    const d = await startDaemon(t, { w: `exec: ${writerExec(scripts, 400_000, 60)}\n` }, [
      '-b',
      '2MiB',
    ]);
    // A follower that reads nothing until told to.
    const slow = connect(d.socket);
    await new Promise((r) => slow.once('connect', r));
    t.teardown(() => slow.destroy());
    slow.pause();
    slow.write(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'log_follow', params: { names: ['w'] } }) +
        '\n',
    );
    // A normal follower alongside it.
    let fastDone = false;
    let fastDropped = 0;
    const fastNums: number[] = [];
    const stop = await d.client.followLogs(
      { names: ['w'], n: 0 },
      (l) => {
        const n = lineNumber(l.text);
        if (n !== null) fastNums.push(n);
        if (l.text === 'w done') fastDone = true;
      },
      (n) => (fastDropped += n),
    );
    t.teardown(() => void stop().catch(() => undefined));
    await waitFor('the writer to finish while one follower is stuck', () => fastDone, 40000);
    t.ok(fastNums.length > 0);
    t.equal(
      fastNums.length + fastDropped >= 400_000 - (fastNums[0] ?? 0),
      true,
      'the other follower got every line or was told',
    );
    // Now let the slow one read everything it was sent.
    let buf = '';
    let dropped = 0;
    let sawDone = false;
    const seqs: number[] = [];
    slow.setEncoding('utf8');
    slow.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const msg = JSON.parse(buf.slice(0, nl)) as {
          params?: { dropped?: number; line?: LogLine };
        };
        buf = buf.slice(nl + 1);
        if (msg.params?.dropped) dropped += msg.params.dropped;
        if (msg.params?.line) {
          seqs.push(msg.params.line.seq);
          if (msg.params.line.text === 'w done') sawDone = true;
        }
      }
    });
    slow.resume();
    await waitFor('the slow follower to catch up', () => sawDone, 40000);
    t.ok(dropped > 0, `the slow follower was told it missed ${dropped} lines`);
    t.ok(
      seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number)),
      'what it got is in order, none twice',
    );
    const st = await d.status('w');
    t.equal(st.status, 'running', 'the service ran on');
  },
);
