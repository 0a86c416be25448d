// Who may use the HTTP endpoint, decided before any method runs: the Host
// header must name an address sminitd serves (or one configured), so a DNS
// name rebound to it gets nowhere; a browser's Origin must be the endpoint's
// own, so a page elsewhere cannot drive sminitd through a visitor's browser;
// and the bearer token says how much a caller may do — read (the read
// token), or also change (the control token). Holds the tokens; keeps no
// other state and knows nothing of methods beyond "reads" and "changes".

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { networkInterfaces } from 'node:os';
import { Errors, messageOf } from '../core/errors.js';
import { type ProtocolError, ProtocolErrors } from '../api/errors.js';

/** A request answered with an error instead of going on. */
export interface Refusal {
  readonly status: number;
  readonly error: ProtocolError;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What a request may do: nothing (no token), read, or change too. */
export type Level = 'none' | 'read' | 'control';

export interface AccessOptions {
  readonly report: (service: string | null, text: string) => void;
  /** The control token's file; when absent a token is generated into `generatedTokenPath`. */
  readonly tokenFile?: string;
  readonly generatedTokenPath: string;
  /** The read token's file: it may read (list, status, logs, events, metrics) and change nothing. */
  readonly readTokenFile?: string;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** `host[:port]` of a Host header, lower case, brackets kept off an IPv6 address. */
export function splitHost(header: string): { host: string; port: number | null } | null {
  const m =
    /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/i.exec(header) ??
    /^([^:[\]\s]+)(?::(\d{1,5}))?$/.exec(header);
  if (!m?.[1]) return null;
  return { host: m[1].toLowerCase(), port: m[2] === undefined ? null : Number(m[2]) };
}

const WILDCARDS = new Set(['0.0.0.0', '::', '::0']);
/** Names no DNS answer can make a browser send for another site's page. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** Every address of this machine's interfaces, lower case. */
function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.toLowerCase());
  }
  return out;
}

/**
 * The hosts a request to a server listening on `address` may name: that
 * address (every local one when it is a wildcard), the loopback names, and
 * the configured names. An address in the Host header cannot be a rebound
 * DNS name, so any of ours will do; a name must be configured. The port is
 * not checked: a tunnel or a port-forward changes it, a rebinding cannot.
 */
export class ServedHosts {
  private local: Set<string> | null = null;
  private readonly fixed: Set<string>;

  constructor(
    private readonly address: string,
    configured: readonly string[],
  ) {
    this.fixed = new Set([address.toLowerCase(), ...LOOPBACK_NAMES]);
    for (const c of configured) {
      const h = splitHost(c);
      if (h) this.fixed.add(h.host);
    }
  }

  allows(header: string | undefined): boolean {
    const h = header === undefined ? null : splitHost(header);
    if (h === null) return false;
    if (this.fixed.has(h.host)) return true;
    if (!WILDCARDS.has(this.address)) return false;
    // Interfaces may have come up since the last look: look again before refusing.
    if (this.local?.has(h.host)) return true;
    this.local = localAddresses();
    return this.local.has(h.host);
  }
}

export class Access {
  private control: Buffer | null = null;
  private read: Buffer | null = null;
  private generated = false;

  constructor(private readonly opts: AccessOptions) {}

  /** Where clients find the control token. */
  get tokenPath(): string {
    return this.opts.tokenFile ?? this.opts.generatedTokenPath;
  }

  /** Reads (or generates) the tokens; throws a coded error when one is unusable. */
  async load(): Promise<void> {
    this.control ??= digest(await this.loadControl());
    const readTokenFile = this.opts.readTokenFile;
    if (readTokenFile !== undefined) this.read ??= digest(await this.loadFile(readTokenFile));
  }

  /** At daemon exit: a generated token is removed. */
  async dispose(): Promise<void> {
    if (this.generated) await unlink(this.opts.generatedTokenPath).catch(() => undefined);
  }

  /** The Host and Origin checks against what `served` allows: null when the request may go on. */
  admit(req: IncomingMessage, served: ServedHosts): Refusal | null {
    const host = req.headers.host;
    if (!served.allows(host)) {
      return { status: 403, error: ProtocolErrors.foreignHost(host ?? '') };
    }
    // A browser says where the page that sent the request came from; only ours may.
    const origin = req.headers.origin;
    const own = (o: string): boolean => {
      const h = (host ?? '').toLowerCase();
      return [`http://${h}`, `https://${h}`].includes(o.toLowerCase());
    };
    if (origin !== undefined && !own(origin)) {
      return { status: 403, error: ProtocolErrors.foreignOrigin(origin) };
    }
    if (origin === undefined && req.headers['sec-fetch-site'] === 'cross-site') {
      return { status: 403, error: ProtocolErrors.foreignOrigin('another site') };
    }
    return null;
  }

  /** What the request's bearer token allows. */
  levelOf(req: IncomingMessage): Level {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m?.[1]) return 'none';
    const given = digest(m[1]);
    if (this.control && timingSafeEqual(given, this.control)) return 'control';
    if (this.read && timingSafeEqual(given, this.read)) return 'read';
    return 'none';
  }

  /** Null when `have` is enough for `need`; else the 401 (no usable token) or 403 (read only). */
  refuse(need: Level, have: Level): Refusal | null {
    const rank: Record<Level, number> = { none: 0, read: 1, control: 2 };
    if (rank[have] >= rank[need]) return null;
    if (have === 'read') return { status: 403, error: ProtocolErrors.readOnlyToken() };
    const headers = { 'www-authenticate': 'Bearer realm="sminit"' };
    return { status: 401, error: ProtocolErrors.unauthorized(this.tokenPath), headers };
  }

  private async loadControl(): Promise<string> {
    if (this.opts.tokenFile !== undefined) return this.loadFile(this.opts.tokenFile);
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

  private async loadFile(file: string): Promise<string> {
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
    if (text.length < 16) throw Errors.badToken(file, text.length === 0);
    return text;
  }
}
