// JSON-RPC over HTTP POST: the same Rpc as the unix socket, for zinit's
// system_start_http_server and `sminitd --http`. Because service_create can
// make the daemon run any command, a bearer token guards every call (every
// mutating call with --http-public-reads); it is the operator's file or one
// generated next to the socket with mode 0600. Loopback unless an address says
// otherwise. Subscriptions need a persistent connection and are refused here.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Errors, messageOf } from '../core/errors.js';
import { type ProtocolError, ProtocolErrors, errorResponse } from '../api/errors.js';
import { MAX_DEPTH, nestedDeeperThan } from './framing.js';
import { type HttpControl, type Rpc, Session, canonicalMethod } from '../api/dispatch.js';
import { METHODS, isMethodName } from '../api/wire.js';

export const MAX_HTTP_BODY = 1024 * 1024;

export interface HttpOptions {
  readonly rpc: Rpc;
  readonly report: (service: string | null, text: string) => void;
  /** The operator's token file; when absent a token is generated into `generatedTokenPath`. */
  readonly tokenFile?: string;
  readonly generatedTokenPath: string;
  /** Let methods that change nothing be called without the token. */
  readonly publicReads: boolean;
}

/** `host:port`, `[v6]:port`, `:port` or `port`; only a port means loopback. */
export function parseAddress(address: string): { host: string; port: number } {
  const m =
    /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(address) ??
    /^([^:[\]\s]*):(\d{1,5})$/.exec(address) ??
    /^()(\d{1,5})$/.exec(address);
  const port = Number(m?.[2]);
  if (!m || !(port >= 0 && port <= 65535)) {
    throw Errors.badAddress(address);
  }
  return { host: m[1] || '127.0.0.1', port };
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Methods named in a request or batch, as dispatch will see them. */
export function methodsOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  const out: string[] = [];
  for (const v of items) {
    if (typeof v === 'object' && v !== null && 'method' in v && typeof v.method === 'string') {
      out.push(canonicalMethod(v.method));
    }
  }
  return out;
}

/** True when any call in the request could change something. Unknown methods change nothing. */
export function mutates(value: unknown): boolean {
  return methodsOf(value).some((m) => isMethodName(m) && METHODS[m].mutates);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class HttpEndpoint implements HttpControl {
  private server: Server | null = null;
  private url = '';
  private token: Buffer | null = null;
  private generated = false;

  constructor(private readonly opts: HttpOptions) {}

  /** Where clients find the token. */
  get tokenPath(): string {
    return this.opts.tokenFile ?? this.opts.generatedTokenPath;
  }

  async start(address: string): Promise<string> {
    const { host, port } = parseAddress(address);
    if (this.server) {
      throw Errors.httpRunning(this.url);
    }
    this.token ??= digest(await this.loadToken());
    const server = createServer((req, res) => void this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw Errors.cannotListen(address, messageOf(err));
    });
    server.on('error', (err) => this.opts.report(null, `http server error: ${err.message}`));
    this.server = server;
    const bound = server.address() as AddressInfo;
    this.url = `http://${hostForUrl(bound.address)}:${bound.port}/`;
    this.opts.report(null, `HTTP server listening on ${this.url} (token: ${this.tokenPath})`);
    return `HTTP server started at ${this.url}`;
  }

  /** Stops accepting; a request in flight (the one asking to stop, say) is still answered. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) throw Errors.httpNotRunning();
    this.server = null;
    server.close();
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2000).unref();
    this.opts.report(null, `HTTP server at ${this.url} stopped`);
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** At daemon exit: stop serving and remove a generated token. */
  async dispose(): Promise<void> {
    if (this.server) await this.stop();
    if (this.generated) await unlink(this.opts.generatedTokenPath).catch(() => undefined);
  }

  private async loadToken(): Promise<string> {
    const file = this.opts.tokenFile;
    if (file !== undefined) {
      let text: string;
      try {
        const st = await stat(file);
        if ((st.mode & 0o077) !== 0) {
          this.opts.report(null, `warning: token file ${file} is readable by others (chmod 600)`);
        }
        text = (await readFile(file, 'utf8')).trim();
      } catch (err) {
        throw Errors.cannotReadToken(file, messageOf(err));
      }
      if (text.length < 16) {
        throw Errors.badToken(file, text.length === 0);
      }
      return text;
    }
    const token = randomBytes(32).toString('hex');
    const path = this.opts.generatedTokenPath;
    const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(token + '\n');
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw Errors.cannotWriteToken(path, messageOf(err));
    }
    this.generated = true;
    return token;
  }

  private authorised(req: IncomingMessage): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m?.[1] || !this.token) return false;
    return timingSafeEqual(digest(m[1]), this.token);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const request = await this.admit(req);
      if ('refusal' in request) return refuse(res, request.refusal);
      const session = new Session({ peer: `http ${req.socket.remoteAddress ?? '?'}` });
      const answer = await this.opts.rpc.receive(request.value, session);
      if (answer === null) send(res, 204, null);
      else send(res, 200, answer);
    } catch (err) {
      this.opts.report(null, `http: internal error: ${messageOf(err)}`);
      if (!res.headersSent) refuse(res, { status: 500, error: ProtocolErrors.internal() });
      else res.destroy();
    }
  }

  /** The request's JSON value, or why it is refused: its form first, then its body, then the token. */
  private async admit(req: IncomingMessage): Promise<{ value: unknown } | { refusal: Refusal }> {
    const refusal = refuseForm(req);
    if (refusal) return { refusal };
    const body = await readBody(req, MAX_HTTP_BODY);
    if (body === null) {
      const error = ProtocolErrors.bodyTooLarge(MAX_HTTP_BODY);
      return { refusal: { status: 413, error, headers: { connection: 'close' } } };
    }
    const parsed = parseBody(body);
    if ('refusal' in parsed) return parsed;
    const needsToken = !this.opts.publicReads || mutates(parsed.value);
    if (needsToken && !this.authorised(req)) {
      const error = ProtocolErrors.unauthorized(this.tokenPath);
      const headers = { 'www-authenticate': 'Bearer realm="sminit"' };
      return { refusal: { status: 401, error, headers } };
    }
    return parsed;
  }
}

/** A request answered with an error instead of going to the dispatcher. */
interface Refusal {
  readonly status: number;
  readonly error: ProtocolError;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Only a JSON POST is a call. */
function refuseForm(req: IncomingMessage): Refusal | null {
  if (req.method !== 'POST') {
    return { status: 405, error: ProtocolErrors.notPost(), headers: { allow: 'POST' } };
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') return { status: 415, error: ProtocolErrors.notJsonBody() };
  return null;
}

/** A body that is not JSON (or nests too deep) is answered 200 with a JSON-RPC error, as on the socket. */
function parseBody(body: string): { value: unknown } | { refusal: Refusal } {
  if (nestedDeeperThan(body, MAX_DEPTH)) {
    return { refusal: { status: 200, error: ProtocolErrors.tooDeep(MAX_DEPTH) } };
  }
  try {
    return { value: JSON.parse(body) as unknown };
  } catch (err) {
    return { refusal: { status: 200, error: ProtocolErrors.badJson(err) } };
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = body === null ? '' : JSON.stringify(body) + '\n';
  res.writeHead(status, {
    ...(text ? { 'content-type': 'application/json' } : {}),
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function refuse(res: ServerResponse, { status, error, headers }: Refusal): void {
  send(res, status, errorResponse(null, error), headers);
}

/** The body as text, or null when it is larger than `limit`. */
function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      req.resume();
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
