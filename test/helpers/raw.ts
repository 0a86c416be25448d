// A raw connection to the daemon's socket, for tests that check the bytes of
// each protocol: write exactly what a client writes, read exactly what comes
// back, wait for it with deadlines.

import { type Socket, connect } from 'node:net';
import { waitFor } from './wait.js';

/** One JSON-RPC answer as it comes off the wire. */
export interface Response {
  jsonrpc: '2.0';
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string };
}

/** One request, serialised as a client writes it (without the newline). */
export const req = (id: number, method: string, params?: unknown): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) });

/** The error answer expected for `id`. */
export const err = (id: number | null, code: number, message: string): Response => ({
  jsonrpc: '2.0',
  id,
  error: { code, message },
});

export class Raw {
  private data = Buffer.alloc(0);
  private isClosed = false;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => (this.data = Buffer.concat([this.data, d])));
    socket.on('error', () => undefined);
    this.closed = new Promise((r) =>
      socket.once('close', () => {
        this.isClosed = true;
        r();
      }),
    );
  }

  static connect(path: string): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new Raw(s));
      });
    });
  }

  /** Writes and waits until the bytes are handed to the kernel. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Half-close: the client has nothing more to send. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  get text(): string {
    return this.data.toString('utf8');
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Waits until the received text contains `n` newline-terminated lines; returns them parsed. */
  async lines(n: number, timeoutMs = 5000): Promise<string[]> {
    await waitFor(
      `${n} lines (have: ${JSON.stringify(this.text)})`,
      () => this.text.split('\n').length - 1 >= n,
      timeoutMs,
    );
    return this.text.split('\n').slice(0, n);
  }

  async json<T = unknown>(n: number, timeoutMs = 5000): Promise<T[]> {
    return (await this.lines(n, timeoutMs)).map((l) => JSON.parse(l) as T);
  }

  /** Waits for the server to close the connection; returns everything it sent. */
  async all(timeoutMs = 5000): Promise<string> {
    await waitFor(
      `the server to close (have: ${JSON.stringify(this.text)})`,
      () => this.isClosed,
      timeoutMs,
    );
    return this.text;
  }
}

/** One text-protocol exchange: send the line, read until the server closes. */
export async function textCommand(path: string, line: string): Promise<string> {
  const c = await Raw.connect(path);
  await c.write(line);
  return c.all();
}

export async function textJson(
  path: string,
  command: string,
): Promise<{ state: string; body: unknown }> {
  const out = await textCommand(path, command + '\n');
  return JSON.parse(out) as { state: string; body: unknown };
}
