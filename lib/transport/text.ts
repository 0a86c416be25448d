// The text protocol of zinit ≤ 0.2.14: one shell-split command line per
// connection, one JSON envelope `{"state":"ok"|"error","body":…}` back, then
// close; `log` and `log snapshot` stream raw `[+] name: text` lines instead.
// It is a view, not a second implementation: every command, `log` included,
// is turned into the JSON-RPC call sminit's own client would make and answered
// from its result, so all dialects see one manager and one count of log
// followers. Owns no state beyond a connection; never reads the log ring.

import type { Socket } from 'node:net';
import { Code } from '../api/errors.js';
import { type Rpc, Session } from '../api/dispatch.js';
import { split } from '../core/shellwords.js';
import type {
  LogLine,
  LogQuery,
  LogRead,
  MethodName,
  NotificationMap,
  Params,
  ServiceStatus,
} from '../api/wire.js';
import type { TextHandler } from './connection.js';

export type TextCommand =
  | { readonly kind: 'call'; readonly method: MethodName; readonly params: Record<string, string> }
  | { readonly kind: 'log'; readonly snapshot: boolean }
  | { readonly kind: 'error'; readonly message: string };

export interface Envelope {
  readonly state: 'ok' | 'error';
  readonly body: unknown;
}

/** Commands that take one service name, and the method each becomes. */
const BY_NAME: Readonly<Record<string, MethodName>> = {
  status: 'service_status',
  start: 'service_start',
  stop: 'service_stop',
  forget: 'service_forget',
  monitor: 'service_monitor',
};
const BARE: Readonly<Record<string, MethodName>> = {
  list: 'service_list',
  shutdown: 'system_shutdown',
  reboot: 'system_reboot',
};

/** Parses one command line as zinit 0.2.14 did (shell-style words). Pure. */
export function parseCommand(line: string): TextCommand {
  const words = split(line);
  if (!words.ok) return { kind: 'error', message: `invalid command line: ${words.error}` };
  const [cmd, ...args] = words.argv;
  const wrong = (): TextCommand => ({
    kind: 'error',
    message: `unknown command '${cmd ?? ''}' or wrong arguments count`,
  });
  if (cmd === undefined) return { kind: 'error', message: 'empty command' };
  const bare = BARE[cmd];
  if (bare) return args.length === 0 ? { kind: 'call', method: bare, params: {} } : wrong();
  const byName = BY_NAME[cmd];
  if (byName) {
    const [name] = args;
    return args.length === 1 && name !== undefined
      ? { kind: 'call', method: byName, params: { name } }
      : wrong();
  }
  if (cmd === 'kill') {
    const [name, signal = 'SIGTERM'] = args;
    return name !== undefined && args.length <= 2
      ? { kind: 'call', method: 'service_kill', params: { name, signal } }
      : wrong();
  }
  if (cmd === 'log') {
    if (args.length === 0) return { kind: 'log', snapshot: false };
    if (args.length === 1 && args[0] === 'snapshot') return { kind: 'log', snapshot: true };
    return wrong();
  }
  return wrong();
}

/** The body old clients expect for a method's result. */
export function zinitBody(method: MethodName, result: unknown): unknown {
  if (method === 'service_status') {
    const s = result as ServiceStatus;
    return { name: s.name, pid: s.pid, state: s.state, target: s.target, after: s.after };
  }
  return result;
}

/** An error message as zinit worded it where old clients may match on it. */
export function zinitError(code: number, message: string, params: Record<string, string>): string {
  if (code === Code.ServiceNotFound && params.name !== undefined) {
    return `service name ${JSON.stringify(params.name)} unknown`;
  }
  return message;
}

/** A log line as zinit 0.2.14 streamed it; a service's start reads as its marker line. */
export function textLogLine(l: Pick<LogLine, 'service' | 'stream' | 'text'>): string {
  if (l.stream === 'event' && l.text.startsWith('started:')) {
    return `[-] ${l.service}: ------------ [start] ------------`;
  }
  return `${l.stream === 'stdout' ? '[+]' : '[-]'} ${l.service}: ${l.text}`;
}

/** Lines as zinit streamed them, each ending in a newline, as one string. */
function textLogLines(lines: readonly LogLine[]): string {
  let out = '';
  for (const l of lines) out += textLogLine(l) + '\n';
  return out;
}

/** What a `log` follower too slow to keep up is told it missed. */
export function textDroppedLine(count: number): string {
  return `[-] sminit: ${count} lines dropped (reader too slow)`;
}

export interface TextOptions {
  readonly rpc: Rpc;
}

/** The handler the socket calls with a text connection's first line. */
export function textHandler({ rpc }: TextOptions): TextHandler {
  return (line, socket, peer) => {
    // Nothing more is read from a text connection; keep reading so a close is seen.
    socket.resume();
    const session = textSession(socket, peer);
    socket.once('close', () => session.close());
    const command = parseCommand(line);
    if (command.kind === 'error') reply(socket, { state: 'error', body: command.message });
    else if (command.kind === 'call') void call(rpc, session, socket, command);
    else if (command.snapshot) void snapshot(rpc, session, socket);
    else void follow(rpc, session, socket);
  };
}

/**
 * A text connection's session: a follow's notifications become zinit's raw
 * lines, a batch of them in one write.
 */
function textSession(socket: Socket, peer: string): Session {
  const write = (text: string): void => {
    if (socket.writable) socket.write(text);
  };
  return new Session({
    peer: `${peer}, text protocol`,
    notify: (method, params) => {
      if (method !== 'log_line') return;
      const { line, lines, dropped } = params as NotificationMap['log_line'];
      if (lines) write(textLogLines(lines));
      else if (line) write(textLogLine(line) + '\n');
      else if (dropped) write(textDroppedLine(dropped) + '\n');
    },
    backlog: () => socket.writableLength,
  });
}

function reply(socket: Socket, envelope: Envelope): void {
  if (socket.writable) socket.end(JSON.stringify(envelope) + '\n');
  else socket.destroy();
}

type Answer =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly code: number; readonly message: string };

/** One call through the dispatcher, as sminit's own client makes it. */
async function ask<M extends MethodName>(
  rpc: Rpc,
  session: Session,
  method: M,
  params: Params<M>,
): Promise<Answer> {
  const res = await rpc.receive({ jsonrpc: '2.0', id: 1, method, params }, session);
  const one = Array.isArray(res) ? res[0] : res;
  if (!one) return { ok: false, code: Code.Internal, message: 'no answer' };
  if ('error' in one && one.error) {
    return { ok: false, code: one.error.code, message: one.error.message };
  }
  return { ok: true, result: one.result };
}

async function call(
  rpc: Rpc,
  session: Session,
  socket: Socket,
  { method, params }: Extract<TextCommand, { kind: 'call' }>,
): Promise<void> {
  const answer = await ask(rpc, session, method, params as Params<MethodName>);
  if (!answer.ok) {
    reply(socket, { state: 'error', body: zinitError(answer.code, answer.message, params) });
  } else reply(socket, { state: 'ok', body: zinitBody(method, answer.result) });
}

/**
 * `log`: the buffer, then every new line until the client leaves; a
 * log_follow like any other, so it counts against the one bound on
 * followers and a slow reader is paused (and told what it missed) the same way.
 */
async function follow(rpc: Rpc, session: Session, socket: Socket): Promise<void> {
  const answer = await ask(rpc, session, 'log_follow', { batch: true });
  if (!answer.ok) reply(socket, { state: 'error', body: answer.message });
}

/** `log snapshot`: the buffer as it was when asked, read in pages, then close. */
async function snapshot(rpc: Rpc, session: Session, socket: Socket): Promise<void> {
  let query: LogQuery = {};
  for (;;) {
    const answer = await ask(rpc, session, 'log_read', query);
    if (!answer.ok) return reply(socket, { state: 'error', body: answer.message });
    const page = answer.result as LogRead;
    const until = query.until ?? page.end;
    const text = textLogLines(page.lines);
    if (page.next >= until) return void socket.end(text);
    if (!(await written(socket, text))) return;
    query = { from: page.next, until };
  }
}

/** Writes, and waits until the client has taken it in; false when it has gone. */
function written(socket: Socket, text: string): Promise<boolean> {
  if (!socket.writable) return Promise.resolve(false);
  if (socket.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => (): void => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}
