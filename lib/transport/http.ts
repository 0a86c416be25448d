// The HTTP endpoint (`sminitd --http`, zinit's system_start_http_server): the
// same Rpc as the unix socket over POST, the event stream as server-sent
// events, the dashboard's page and streams (dashboard.ts), and what
// orchestrators read — /metrics, /healthz, /readyz. Who may do what is
// http-access.ts's (Host and Origin, the read and control tokens); the
// answers are the API's. Loopback unless an address says
// otherwise; subscriptions over POST are refused (they need a stream).

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Errors, messageOf } from '../core/errors.js';
import { ProtocolErrors, errorResponse } from '../api/errors.js';
import { MAX_DEPTH, nestedDeeperThan } from './framing.js';
import { type HttpControl, type Rpc, Session, canonicalMethod } from '../api/dispatch.js';
import { METHODS, isMethodName } from '../api/wire.js';
import { Access, type Level, type Refusal, ServedHosts } from './http-access.js';
import type { ProbeAnswer } from '../api/probes.js';
import { eventParams, serveEvents } from './sse.js';
import { type DashboardStream, isAsset, serveAsset, serveLogs, serveStats } from './dashboard.js';

export const MAX_HTTP_BODY = 1024 * 1024;

/** GET paths that may be served without a token, by name (`--http-open`). */
export type OpenPath = 'healthz' | 'readyz' | 'metrics';
export const OPEN_PATHS: readonly OpenPath[] = ['healthz', 'readyz', 'metrics'];
/**
 * By default the probes need no token: a kubelet's probe carries no secret,
 * and they say only whether sminitd is alive and which services are not
 * ready. /metrics names every service with its exits and resources, so it
 * needs the read token (Prometheus sends one from a file).
 */
export const DEFAULT_OPEN: readonly OpenPath[] = ['healthz', 'readyz'];

/** What the endpoint reads for orchestrators; the daemon wires the API's in. */
export interface HttpObserver {
  metrics(): Promise<{ readonly type: string; readonly text: string }>;
  health(): Promise<ProbeAnswer>;
  readiness(): Promise<ProbeAnswer>;
}

export interface HttpOptions {
  readonly rpc: Rpc;
  readonly report: (service: string | null, text: string) => void;
  /** The control token's file; when absent a token is generated into `generatedTokenPath`. */
  readonly tokenFile?: string;
  readonly generatedTokenPath: string;
  /** The read token's file (`--http-read-token-file`): it reads and changes nothing. */
  readonly readTokenFile?: string;
  /** Let methods that change nothing (and every GET) be called without a token. */
  readonly publicReads: boolean;
  /** GET paths served without a token (default DEFAULT_OPEN). */
  readonly open?: readonly OpenPath[];
  /** Names the Host header may carry besides the listening address (`--http-host`). */
  readonly hosts?: readonly string[];
  readonly observe?: HttpObserver;
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

type GetPath = OpenPath | 'events' | DashboardStream;
const GET_PATHS: Readonly<Record<string, GetPath>> = {
  '/healthz': 'healthz',
  '/readyz': 'readyz',
  '/metrics': 'metrics',
  '/events': 'events',
  '/logs': 'logs',
  '/stats': 'stats',
};
const isOpenPath = (p: GetPath): p is OpenPath => (OPEN_PATHS as readonly string[]).includes(p);

export class HttpEndpoint implements HttpControl {
  private server: Server | null = null;
  private served: ServedHosts | null = null;
  private url = '';
  private readonly access: Access;
  private readonly open: ReadonlySet<OpenPath>;

  constructor(private readonly opts: HttpOptions) {
    this.access = new Access({
      report: opts.report,
      generatedTokenPath: opts.generatedTokenPath,
      ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : {}),
      ...(opts.readTokenFile !== undefined ? { readTokenFile: opts.readTokenFile } : {}),
    });
    this.open = new Set(opts.open ?? DEFAULT_OPEN);
  }

  /** Where clients find the token. */
  get tokenPath(): string {
    return this.access.tokenPath;
  }

  async start(address: string): Promise<string> {
    const { host, port } = parseAddress(address);
    if (this.server) {
      throw Errors.httpRunning(this.url);
    }
    await this.access.load();
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
    this.served = new ServedHosts(bound.address, [host, ...(this.opts.hosts ?? [])]);
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
    await this.access.dispose();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const served = this.served ?? new ServedHosts('', []);
      const refusal = this.access.admit(req, served);
      if (refusal) return refuse(res, refusal);
      if (req.method === 'GET' || req.method === 'HEAD') return await this.get(req, res);
      const request = await this.admit(req);
      if ('refusal' in request) return refuse(res, request.refusal);
      const session = new Session({ peer: peerOf(req) });
      const answer = await this.opts.rpc.receive(request.value, session);
      if (answer === null) send(res, 204, null);
      else send(res, 200, answer);
    } catch (err) {
      this.opts.report(null, `http: internal error: ${messageOf(err)}`);
      if (!res.headersSent) refuse(res, { status: 500, error: ProtocolErrors.internal() });
      else res.destroy();
    }
  }

  /** A GET: the probes, the metrics, the event stream; anything else is not served. */
  private async get(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sminit');
    const path = GET_PATHS[url.pathname];
    // The dashboard's page holds no data: anyone who may reach the endpoint may load it.
    if (path === undefined && isAsset(url.pathname)) {
      if (await serveAsset(res, url.pathname, req.method === 'HEAD')) return;
    }
    if (path === undefined) {
      return refuse(res, { status: 404, error: ProtocolErrors.notFound(url.pathname) });
    }
    const need: Level =
      this.opts.publicReads || (isOpenPath(path) && this.open.has(path)) ? 'none' : 'read';
    const denied = this.access.refuse(need, this.access.levelOf(req));
    if (denied) return refuse(res, denied);
    if (path === 'events') {
      return serveEvents(res, this.opts.rpc, eventParams(url, lastEventId(req)), peerOf(req));
    }
    if (path === 'logs') return serveLogs(res, this.opts.rpc, url, lastEventId(req), peerOf(req));
    if (path === 'stats') return serveStats(res, this.opts.rpc, url, peerOf(req));
    const observe = this.opts.observe;
    if (!observe) return refuse(res, { status: 404, error: ProtocolErrors.notFound(url.pathname) });
    if (path === 'metrics') {
      const { type, text } = await observe.metrics();
      return sendText(res, 200, text, type);
    }
    const probe = path === 'healthz' ? await observe.health() : await observe.readiness();
    sendText(res, probe.ok ? 200 : 503, probe.text + '\n');
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
    const changes = mutates(parsed.value);
    const need: Level = changes ? 'control' : this.opts.publicReads ? 'none' : 'read';
    const denied = this.access.refuse(need, this.access.levelOf(req));
    return denied ? { refusal: denied } : parsed;
  }
}

function peerOf(req: IncomingMessage): string {
  return `http ${req.socket.remoteAddress ?? '?'}`;
}

function lastEventId(req: IncomingMessage): string | undefined {
  const v = req.headers['last-event-id'];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
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

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
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
