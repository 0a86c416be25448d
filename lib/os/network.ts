// The network side of probes: an HTTP(S) GET and a TCP connect, each with a
// deadline, each answering what happened in a few words (`HTTP 503`,
// `connection refused`, `timed out after 1000 ms`). Nothing is kept: every
// check opens its own connection and closes it, so a probe leaves no socket
// and no timer behind. Certificates are not checked: a probe asks whether
// the service answers, as Kubernetes' https probes do.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

/** How a network error reads in a probe's result. */
function why(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENOTFOUND':
      return 'host not found';
    default:
      return err.code ?? err.message;
  }
}

export function httpGet(
  url: string,
  timeoutMs: number,
): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    let settled = false;
    const done = (r: { status: number } | { error: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = request(url, { method: 'GET', agent: false, rejectUnauthorized: false }, (res) => {
      res.resume();
      done({ status: res.statusCode ?? 0 });
    });
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: why(err) }));
    const timer = setTimeout(() => done({ error: `timed out after ${timeoutMs} ms` }), timeoutMs);
    req.end();
  });
}

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const socket = connect({ host, port });
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(why(err)));
    const timer = setTimeout(() => done(`timed out after ${timeoutMs} ms`), timeoutMs);
  });
}

/** The network as supervision's seam (supervise/seam.ts `Network`) takes it. */
export function systemNetwork(): { httpGet: typeof httpGet; tcpConnect: typeof tcpConnect } {
  return { httpGet, tcpConnect };
}
