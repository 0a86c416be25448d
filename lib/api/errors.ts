// The one place JSON-RPC error codes are chosen: each domain error kind
// (core/errors.ts) gets its code here, zinit's where zinit has one, and the
// protocol's own failures (what a transport or the dispatcher refuses before
// any method runs) are named definitions with their messages. The README's
// table of codes is checked against CODES by a test. No I/O.

import { type ErrorKind, SminitError, messageOf } from '../core/errors.js';

/** Every code a client can see, with what it means; the README lists exactly these. */
export const CODES = {
  ServiceNotFound: { code: -32000, meaning: 'no such service is tracked, or it has no file' },
  AlreadyMonitored: { code: -32001, meaning: 'the service is tracked already' },
  ServiceIsDown: { code: -32003, meaning: 'the service has no process to act on' },
  InvalidSignal: { code: -32004, meaning: 'no such signal' },
  ConfigError: {
    code: -32005,
    meaning:
      'a change the configuration cannot take: a dependency cycle, content that is no valid service file, an unusable token file',
  },
  ShuttingDown: { code: -32006, meaning: 'sminitd is shutting down and starts nothing' },
  ServiceExists: { code: -32007, meaning: 'a service file of that name exists already' },
  ServiceFileError: {
    code: -32008,
    meaning: 'a service file on disk cannot be read, written or parsed (data: the problems)',
  },
  InvalidRequest: {
    code: -32600,
    meaning: 'not a request, or one a bound or the current state refuses',
  },
  MethodNotFound: {
    code: -32601,
    meaning: 'no such method, or not offered here (no HTTP endpoint, no streams over HTTP)',
  },
  InvalidParams: { code: -32602, meaning: 'parameters that are not what the method takes' },
  Internal: { code: -32603, meaning: 'a bug in sminitd, contained: it keeps running' },
  ParseError: { code: -32700, meaning: 'the bytes are not JSON, or not UTF-8' },
} as const;

export type CodeName = keyof typeof CODES;

/** Numeric codes by name, for the transports and the client. */
export const Code = Object.fromEntries(
  Object.entries(CODES).map(([name, { code }]) => [name, code]),
) as { readonly [N in CodeName]: (typeof CODES)[N]['code'] };

/** The code of each kind of domain error. */
export const CODE_OF_KIND: Readonly<Record<ErrorKind, CodeName>> = {
  'unknown-service': 'ServiceNotFound',
  'already-tracked': 'AlreadyMonitored',
  'not-running': 'ServiceIsDown',
  'bad-signal': 'InvalidSignal',
  'refused-change': 'ConfigError',
  'shutting-down': 'ShuttingDown',
  'file-exists': 'ServiceExists',
  'file-error': 'ServiceFileError',
  'bad-argument': 'InvalidParams',
  refused: 'InvalidRequest',
  unavailable: 'MethodNotFound',
};

/** The JSON-RPC code of a domain error. */
export function codeOf(err: SminitError): number {
  return Code[CODE_OF_KIND[err.kind]];
}

/** A failure of the protocol itself, answered before any method runs. */
export interface ProtocolError {
  readonly code: number;
  readonly message: string;
}

const protocol = (name: CodeName, message: string): ProtocolError => ({
  code: Code[name],
  message,
});

/** Every protocol-level refusal, by name. */
export const ProtocolErrors = {
  notJson: () => protocol('ParseError', 'parse error: expected a JSON object or array'),
  badJson: (err: unknown) => protocol('ParseError', `parse error: ${messageOf(err)}`),
  notUtf8: (byte: number, offset: number) =>
    protocol(
      'ParseError',
      `parse error: request is not UTF-8 (byte 0x${byte.toString(16).padStart(2, '0')} at offset ${offset})`,
    ),
  tooDeep: (max: number) => protocol('InvalidRequest', `request nested deeper than ${max} levels`),
  notARequest: () =>
    protocol('InvalidRequest', 'invalid request: expected {"jsonrpc":"2.0","method":…}'),
  emptyBatch: () => protocol('InvalidRequest', 'empty batch'),
  batchTooLarge: (n: number, max: number) =>
    protocol('InvalidRequest', `batch of ${n} requests; at most ${max}`),
  tooManyConnections: (max: number) =>
    protocol('InvalidRequest', `too many connections (at most ${max}); try again later`),
  requestTimeout: (ms: number) =>
    protocol('InvalidRequest', `request not complete after ${ms} ms; closing the connection`),
  idle: (ms: number) =>
    protocol('InvalidRequest', `connection idle for ${ms} ms; closing it (reconnect to continue)`),
  framing: (err: unknown) => protocol('InvalidRequest', messageOf(err)),
  lineTooLong: (max: number) => protocol('InvalidRequest', `command line longer than ${max} bytes`),
  notPost: () => protocol('InvalidRequest', 'use POST with a JSON-RPC body'),
  notJsonBody: () => protocol('InvalidRequest', 'content-type must be application/json'),
  bodyTooLarge: (max: number) => protocol('InvalidRequest', `request larger than ${max} bytes`),
  unauthorized: (tokenPath: string) =>
    protocol(
      'InvalidRequest',
      `unauthorized: send "Authorization: Bearer TOKEN" with the token from ${tokenPath}`,
    ),
  readOnlyToken: () =>
    protocol(
      'InvalidRequest',
      'forbidden: the read token changes nothing; send the control token (--http-token-file)',
    ),
  foreignHost: (host: string) =>
    protocol(
      'InvalidRequest',
      `forbidden: Host ${JSON.stringify(host)} is not an address sminitd serves (name it with --http-host)`,
    ),
  foreignOrigin: (origin: string) =>
    protocol(
      'InvalidRequest',
      `forbidden: a page from ${origin} may not call sminitd; only its own pages may`,
    ),
  notFound: (path: string) => protocol('MethodNotFound', `nothing is served at ${path}`),
  systemRefused: (method: string, detail: string) =>
    protocol(
      'InvalidRequest',
      `${method}: the system refused what it needs (${detail}); try again once it has room`,
    ),
  internal: (where?: string) =>
    protocol('Internal', where === undefined ? 'internal error' : `internal error in ${where}`),
} as const;

export type ProtocolErrorName = keyof typeof ProtocolErrors;

/** A JSON-RPC error response. */
export interface ErrorResponse {
  readonly jsonrpc: '2.0';
  readonly id: string | number | null;
  readonly error: ProtocolError;
}

export function errorResponse(id: string | number | null, error: ProtocolError): ErrorResponse {
  return { jsonrpc: '2.0', id, error: { code: error.code, message: error.message } };
}
