// The dashboard's side of the HTTP endpoint: the page and its assets (web/,
// shipped in the package and read once), a service's log tail and a stats
// stream as server-sent events, both through the dispatcher. Knows nothing of
// tokens, hosts or origins (http.ts asks http-access.ts first); the stats
// timer exists only while a page holds its stream open, so no viewer, no wake.

import type { ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { type Rpc, Session } from '../api/dispatch.js';
import type { ProcessStats, ServiceStats } from '../api/wire.js';
import { framedSession } from './sse.js';

/** The page's files, by the path a browser asks for; nothing else under web/ is served. */
const ASSETS: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** From dist/lib/transport/ (and lib/transport/) to the package's web/. */
const WEB = new URL('../../../web/', import.meta.url);

/**
 * Same origin only, nothing inline, nothing from elsewhere; no framing, so
 * another site cannot put the buttons under a visitor's click.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const loaded = new Map<string, Buffer>();

export function isAsset(path: string): boolean {
  return Object.hasOwn(ASSETS, path);
}

/** Serves one of the page's files; false when the package lacks it (a broken install). */
export async function serveAsset(
  res: ServerResponse,
  path: string,
  head: boolean,
): Promise<boolean> {
  const asset = ASSETS[path];
  if (!asset) return false;
  let body = loaded.get(asset.file);
  if (!body) {
    body = await readFile(new URL(asset.file, WEB)).catch(() => undefined);
    if (!body) return false;
    loaded.set(asset.file, body);
  }
  res.writeHead(200, {
    ...PAGE_HEADERS,
    'content-type': asset.type,
    'content-length': String(body.length),
  });
  res.end(head ? undefined : body);
  return true;
}

/** The streams the page reads besides /events. */
export type DashboardStream = 'logs' | 'stats';

/** Between two measurements of every running service; a page may ask for slower, not faster. */
export const STATS_MS = { min: 1000, default: 2000, max: 60_000 };

type Answer = { result?: unknown; error?: { code: number; message: string } };

function call(rpc: Rpc, session: Session, method: string, params: unknown): Promise<Answer> {
  const request = { jsonrpc: '2.0', id: 1, method, params };
  return rpc.receive(request, session) as Promise<Answer>;
}

function openStream(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
}

function badQuery(res: ServerResponse, error: { code: number; message: string }): void {
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error }) + '\n';
  res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * GET /logs?name=NAME&n=N: the last N lines of one service, then each new
 * one; every message's id is the line's seq, so a reconnect (Last-Event-ID)
 * goes on after the last line it saw. A name nobody knows, or a bad N, is a
 * 400 with the dispatcher's error, before any stream is opened.
 */
export async function serveLogs(
  res: ServerResponse,
  rpc: Rpc,
  url: URL,
  lastEventId: string | undefined,
  peer: string,
): Promise<void> {
  const q = url.searchParams;
  const raw = q.get('n');
  // Not a number: passed on as it is, so the dispatcher's check names the parameter.
  const n = raw === null ? 200 : /^\d+$/.test(raw) ? Number(raw) : raw;
  const after = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : null;
  const names = [q.get('name') ?? ''];
  const { session, open } = framedSession(res, peer, (method, p) => {
    if (method !== 'log_line') return null;
    const l = p as { line?: { seq: number }; dropped?: number };
    if (l.line) return `id: ${l.line.seq}\ndata: ${JSON.stringify(l.line)}\n\n`;
    return `event: dropped\ndata: ${JSON.stringify(l.dropped ?? 0)}\n\n`;
  });
  const params = after === null ? { names, n } : { names, from: after + 1 };
  // A follow waits for any name; a tail of one nobody knows is an error, as `sminit log` says.
  const known = await call(rpc, session, 'service_status', { name: names[0] });
  const answer = known.error ? known : await call(rpc, session, 'log_follow', params);
  if (answer.error) {
    session.close();
    return badQuery(res, answer.error);
  }
  openStream(res);
  open();
}

interface Measured {
  readonly cpu: number;
  readonly memory: number;
  readonly tasks: number;
}

/** Every running service's CPU (percent of one CPU) and memory, its whole tree summed. */
async function measureAll(rpc: Rpc, session: Session): Promise<Record<string, Measured>> {
  const status = await call(rpc, session, 'service_list_full', {});
  const services = (status.result ?? []) as { name: string; pid: number }[];
  const out: Record<string, Measured> = {};
  await Promise.all(
    services
      .filter((s) => s.pid > 0)
      .map(async (s) => {
        const got = await call(rpc, session, 'service_stats', { name: s.name });
        const st = got.result as ServiceStats | undefined;
        if (!st) return;
        const tree: readonly ProcessStats[] = [st, ...st.children];
        out[s.name] = {
          cpu: Math.round(tree.reduce((a, p) => a + p.cpu_usage, 0) * 10) / 10,
          memory: tree.reduce((a, p) => a + p.memory_usage, 0),
          tasks: tree.length,
        };
      }),
  );
  return out;
}

/**
 * GET /stats?ms=M: every M ms (2 s by default) a message with each running
 * service's CPU and memory. The next measurement is armed only after the
 * last one was written, and never once the page has gone.
 */
export function serveStats(res: ServerResponse, rpc: Rpc, url: URL, peer: string): void {
  const asked = Number(url.searchParams.get('ms') ?? STATS_MS.default);
  if (!Number.isFinite(asked)) {
    return badQuery(res, { code: -32602, message: 'ms: expected a number of milliseconds' });
  }
  const ms = Math.min(STATS_MS.max, Math.max(STATS_MS.min, asked));
  const session = new Session({ peer });
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  res.on('close', () => {
    closed = true;
    if (timer) clearTimeout(timer);
    session.close();
  });
  const tick = async (): Promise<void> => {
    timer = null;
    const stats = await measureAll(rpc, session).catch(() => null);
    if (closed) return;
    // A page that reads nothing is not sent more: the next one is fresher anyway.
    if (stats && res.writableLength < 64 * 1024) res.write(`data: ${JSON.stringify(stats)}\n\n`);
    timer = setTimeout(() => void tick(), ms);
  };
  openStream(res);
  void tick();
}
