// The text protocol of zinit ≤ 0.2.14: one shell-split command line per
// connection, one JSON envelope `{"state":"ok"|"error","body":…}` back, then
// close; `log` and `log snapshot` stream raw `[+] name: text` lines instead.
// It is a view, not a second implementation: every command is turned into the
// JSON-RPC call sminit's own client would make and answered from its result,
// so both dialects see the one manager. Owns no state beyond a connection.

import type { Socket } from 'node:net';
import { messageOf } from '../core/errors.js';
import { Code } from '../api/errors.js';
import { type LogEntry, type LogStore, textOf, zinitLine } from '../logs/ring.js';
import { type Rpc, Session } from '../api/dispatch.js';
import { split } from '../core/shellwords.js';
import type { MethodName, ServiceStatus } from '../api/wire.js';

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

/** A client more than this many bytes behind on `log` loses lines (and is told how many). */
const FOLLOW_BACKLOG = 4 * 1024 * 1024;

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
export function textLogLine(e: LogEntry): string {
  if (e.stream === 'event' && textOf(e).startsWith('started:')) {
    return `[-] ${e.service}: ------------ [start] ------------`;
  }
  return zinitLine(e);
}

export interface TextOptions {
  readonly rpc: Rpc;
  readonly logs: LogStore;
}

/** The handler server.ts calls with a text connection's first line. */
export function textHandler(
  opts: TextOptions,
): (line: string, socket: Socket, peer: string) => void {
  return (line, socket, peer) => {
    // Nothing more is read from a text connection; keep reading so a close is seen.
    socket.resume();
    const command = parseCommand(line);
    if (command.kind === 'error') {
      reply(socket, { state: 'error', body: command.message });
    } else if (command.kind === 'log') {
      streamLog(opts, socket, command.snapshot);
    } else {
      void call(opts.rpc, socket, command.method, command.params, peer);
    }
  };
}

function reply(socket: Socket, envelope: Envelope): void {
  if (socket.writable) socket.end(JSON.stringify(envelope) + '\n');
  else socket.destroy();
}

async function call(
  rpc: Rpc,
  socket: Socket,
  method: MethodName,
  params: Record<string, string>,
  peer: string,
): Promise<void> {
  const session = new Session({
    peer: `${peer}, text protocol`,
    backlog: () => socket.writableLength,
  });
  const res = await rpc.receive({ jsonrpc: '2.0', id: 1, method, params }, session);
  const one = Array.isArray(res) ? res[0] : res;
  if (!one) reply(socket, { state: 'error', body: 'no answer' });
  else if ('error' in one && one.error) {
    reply(socket, { state: 'error', body: zinitError(one.error.code, one.error.message, params) });
  } else reply(socket, { state: 'ok', body: zinitBody(method, one.result) });
}

function streamLog({ logs, rpc }: TextOptions, socket: Socket, snapshot: boolean): void {
  if (snapshot) {
    const text = logs
      .read({})
      .entries.map((e) => textLogLine(e) + '\n')
      .join('');
    socket.end(text);
    return;
  }
  let release: () => void;
  try {
    release = rpc.acquireFollower();
  } catch (err) {
    reply(socket, { state: 'error', body: messageOf(err) });
    return;
  }
  let dropped = 0;
  const stop = logs.follow({}, (e) => {
    if (!socket.writable) return;
    if (socket.writableLength > FOLLOW_BACKLOG) {
      dropped++;
      return;
    }
    if (dropped > 0) {
      socket.write(`[-] sminit: ${dropped} lines dropped (reader too slow)\n`);
      dropped = 0;
    }
    socket.write(textLogLine(e) + '\n');
  });
  socket.once('close', () => {
    stop();
    release();
  });
}
