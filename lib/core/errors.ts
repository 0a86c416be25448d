// Coded errors: every failure a client can see carries a stable code (zinit's
// JSON-RPC codes where zinit has one) and a message naming what it concerns.
// Owns no I/O.

export const Code = {
  ServiceNotFound: -32000,
  AlreadyMonitored: -32001,
  ServiceIsUp: -32002,
  ServiceIsDown: -32003,
  InvalidSignal: -32004,
  ConfigError: -32005,
  ShuttingDown: -32006,
  ServiceExists: -32007,
  ServiceFileError: -32008,
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
} as const;
export type CodeValue = (typeof Code)[keyof typeof Code];

export class SminitError extends Error {
  constructor(
    readonly code: CodeValue,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'SminitError';
  }
}

export const notFound = (name: string): SminitError =>
  new SminitError(Code.ServiceNotFound, `service '${name}' is not tracked`);

export const shuttingDown = (): SminitError =>
  new SminitError(Code.ShuttingDown, 'sminit is shutting down');

/** The message of anything thrown, for logs and replies. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
