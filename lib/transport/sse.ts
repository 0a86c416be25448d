// GET /events: the event stream as server-sent events, for a browser's
// EventSource (or anything that reads a streamed fetch): each event one
// message whose `id` is its cursor, so a reconnecting EventSource resumes
// with Last-Event-ID and loses and repeats nothing. It is events_subscribe
// through the same dispatcher, bounds and all; it keeps no state of its own.

import type { ServerResponse } from 'node:http';
import { type Rpc, Session } from '../api/dispatch.js';

/** How long a browser waits before reconnecting a dropped stream. */
const RETRY_MS = 2000;

/** events_subscribe's params from the URL's query and the Last-Event-ID header. */
export function eventParams(url: URL, lastEventId: string | undefined): Record<string, unknown> {
  const q = url.searchParams;
  const list = (k: string): string[] | undefined => {
    const v = q.get(k);
    return v === null ? undefined : v.split(',').filter((s) => s !== '');
  };
  const num = (v: string | null | undefined): number | string | undefined =>
    v === null || v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : v;
  const params: Record<string, unknown> = {};
  const after = num(lastEventId ?? q.get('after'));
  if (after !== undefined) params.after = after;
  const since = num(q.get('since'));
  if (since !== undefined) params.since = since;
  const n = num(q.get('n'));
  if (n !== undefined) params.n = n;
  const names = list('names');
  if (names) params.names = names;
  const kinds = list('kinds');
  if (kinds) params.kinds = kinds;
  return params;
}

/** Answers the request with the stream until the client goes; an invalid query is a 400. */
export async function serveEvents(
  res: ServerResponse,
  rpc: Rpc,
  params: Record<string, unknown>,
  peer: string,
): Promise<void> {
  const { session, open } = framedSession(res, peer, (method, p) => {
    if (method !== 'event') return null;
    const e = p as { event?: { cursor: number }; lost?: number };
    if (e.event) return `id: ${e.event.cursor}\ndata: ${JSON.stringify(e.event)}\n\n`;
    return `data: ${JSON.stringify({ lost: e.lost })}\n\n`;
  });
  let answer = await subscribe(rpc, session, params);
  if ('error' in answer && /past the newest event/.test(answer.error.message)) {
    // A Last-Event-ID from an earlier run of sminitd: everything of this run is news.
    answer = await subscribe(rpc, session, { ...params, after: 0 });
  }
  if ('error' in answer) {
    session.close();
    const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: answer.error }) + '\n';
    res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body);
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.write(`retry: ${RETRY_MS}\n: sminit events\n\n`);
  open();
}

/**
 * A session over a streamed response: each notification `frame` turns into
 * text is written, but held until `open()` (after the stream's head), since
 * a subscription's backlog arrives before its answer. Closed with the response.
 */
export function framedSession(
  res: ServerResponse,
  peer: string,
  frame: (method: string, params: unknown) => string | null,
): { session: Session; open: () => void } {
  let opened = false;
  const held: string[] = [];
  const session = new Session({
    peer,
    notify: (method, p) => {
      const f = frame(method, p);
      if (f === null) return;
      if (opened) res.write(f);
      else held.push(f);
    },
    backlog: () => res.writableLength,
  });
  res.on('close', () => session.close());
  const open = (): void => {
    opened = true;
    for (const f of held.splice(0)) res.write(f);
  };
  return { session, open };
}

type Answer = { result: unknown } | { error: { code: number; message: string } };

async function subscribe(rpc: Rpc, session: Session, params: unknown): Promise<Answer> {
  const request = { jsonrpc: '2.0', id: 1, method: 'events_subscribe', params };
  return (await rpc.receive(request, session)) as unknown as Answer;
}
