// Service files on disk: reading one (a regular file, at most 1 MiB, UTF-8),
// finding NAME.yaml or NAME.yml, and reading every service file of a
// directory, where a bad file never stops the others. Parsing is parse.ts's;
// this module must not spawn processes or hold manager state.

import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Problem, ServiceDef } from '../core/definition.js';
import type { Host } from '../core/host.js';
import { isRecord } from '../core/jsontype.js';
import { SERVICE_EXTENSIONS, stemOf } from '../core/names.js';
import { firstInvalidUtf8 } from '../core/utf8.js';
import { nameProblems, parseServiceText } from './parse.js';
import { refuseSharedLogs } from './logfiles.js';
import { type Spot, byteSpot } from './positions.js';

/** A file's result; `missing` tells a file that is not there from one that is bad. */
export type FileResult =
  | {
      readonly ok: true;
      readonly name: string;
      readonly def: ServiceDef;
      /** The file's `replicas`, null when it has none. */
      readonly replicas: number | null;
    }
  | {
      readonly ok: false;
      readonly name: string;
      readonly problems: Problem[];
      readonly missing: boolean;
    };

export const MAX_FILE_BYTES = 1024 * 1024;

/** Reads and parses one file; the name is the file's stem. */
export async function loadServiceFile(path: string, host: Host | null = null): Promise<FileResult> {
  return parseRead(path, await readText(path), host);
}

/** What reading `path` gave, as a file's result. */
function parseRead(path: string, read: string | ReadFailure, host: Host | null): FileResult {
  const base = basename(path);
  const name = stemOf(base) ?? base;
  if (typeof read !== 'string') {
    const { message, spot, missing } = read;
    const problem = { file: path, line: spot?.line ?? 0, column: spot?.column ?? 0, message };
    return { ok: false, name, missing, problems: [...nameProblems(name, path), problem] };
  }
  // Problems name the path as given, which reads better; the def keeps it absolute.
  const result = parseServiceText(name, path, read, host);
  if (!result.ok) return { ...result, name, missing: false };
  const file = resolve(path);
  // A relative dir is the file's business, not sminitd's cwd: it is taken from the file's directory.
  const dir = resolve(dirname(file), result.def.dir);
  // env files, like dir, are the file's: relative to its directory.
  const envFiles = result.def.envFiles.map((f) => ({ ...f, path: resolve(dirname(file), f.path) }));
  return { ok: true, name, def: { ...result.def, file, dir, envFiles }, replicas: result.replicas };
}

interface ReadFailure {
  readonly message: string;
  readonly spot?: Spot;
  readonly missing: boolean;
}

/** The file's text, or why it is not a service file's text. */
async function readText(path: string): Promise<string | ReadFailure> {
  let bytes: Uint8Array;
  try {
    const st = await stat(path);
    if (!st.isFile()) {
      const what = st.isDirectory() ? 'a directory' : 'a special file';
      return { message: `not a regular file (${what})`, missing: false };
    }
    if (st.size > MAX_FILE_BYTES) return { message: tooBig(st.size), missing: false };
    bytes = await readAtMost(path, MAX_FILE_BYTES + 1, st.size + 1);
  } catch (e) {
    const missing = isRecord(e) && e.code === 'ENOENT';
    return { message: `cannot read: ${osMessage(e)}`, missing };
  }
  if (bytes.length > MAX_FILE_BYTES) return { message: tooBig(bytes.length), missing: false };
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    const hex = (bytes[bad] ?? 0).toString(16).padStart(2, '0');
    const message = `not UTF-8 text: invalid byte 0x${hex} at offset ${bad}`;
    return { message, spot: byteSpot(bytes, bad), missing: false };
  }
}

/** NAME's file in `dir`: NAME.yaml, else NAME.yml; `missing` when there is neither. */
export async function loadServiceNamed(
  dir: string,
  name: string,
  host: Host | null = null,
): Promise<FileResult> {
  let result: FileResult | null = null;
  for (const ext of SERVICE_EXTENSIONS) {
    result = await loadServiceFile(join(dir, name + ext), host);
    if (result.ok || !result.missing) return result;
  }
  return result as FileResult;
}

/** Files read before, by path: a file whose text is the same is not parsed again. */
export type ReadCache = ReadonlyMap<string, { readonly text: string; readonly result: FileResult }>;

export interface DirFiles {
  /** Each service file's result, by file name order; two spellings of one service refused. */
  readonly results: readonly FileResult[];
  /** Why the directory itself could not be read; then there are no results. */
  readonly unreadable: string | null;
  /** What this read parsed, for the next one. */
  readonly cache: ReadCache;
}

/**
 * Every `*.yaml` / `*.yml` directly in `dir`, each read and parsed (or
 * taken from `cache` when its text is unchanged); a bad file never stops
 * the others. Two files that would be one service are refused together.
 */
export async function readDirFiles(
  dir: string,
  cache?: ReadCache,
  host: Host | null = null,
): Promise<DirFiles> {
  let entries: string[];
  try {
    entries = (await readdir(dir)).filter((f) => stemOf(f) !== null).sort();
  } catch (e) {
    return { results: [], unreadable: osMessage(e), cache: new Map() };
  }
  const byStem = new Map<string, string[]>();
  for (const f of entries) {
    const stem = stemOf(f) ?? f;
    byStem.set(stem, [...(byStem.get(stem) ?? []), f]);
  }
  const next = new Map<string, { text: string; result: FileResult }>();
  const results = await Promise.all(
    entries.map(async (f): Promise<FileResult> => {
      const files = byStem.get(stemOf(f) ?? f) ?? [];
      const path = join(dir, f);
      if (files.length > 1) return bothSpellings(path, files);
      const read = await readText(path);
      if (typeof read !== 'string') return parseRead(path, read, host);
      const known = cache?.get(path);
      const result = known?.text === read ? known.result : parseRead(path, read, host);
      next.set(path, { text: read, result });
      return result;
    }),
  );
  return { results, unreadable: null, cache: next };
}

function bothSpellings(path: string, files: readonly string[]): FileResult {
  const name = stemOf(basename(path)) ?? path;
  const message = `service '${name}' is defined by both ${files.join(' and ')}; neither is loaded`;
  return {
    ok: false,
    name,
    missing: false,
    problems: [{ file: path, line: 0, column: 0, message }],
  };
}

/**
 * Every service file directly in `dir` as a definition, by name; a bad
 * file never stops the others. Two files that would be one service, or two
 * services that would write one log file, are refused together.
 */
export async function loadDir(
  dir: string,
  host: Host | null = null,
): Promise<{ defs: ServiceDef[]; problems: Problem[] }> {
  const { results, unreadable } = await readDirFiles(dir, undefined, host);
  if (unreadable !== null) {
    const message = `cannot read config directory: ${unreadable}`;
    return { defs: [], problems: [{ file: dir, line: 0, column: 0, message }] };
  }
  const loaded: ServiceDef[] = [];
  const problems: Problem[] = [];
  for (const r of results) {
    if (r.ok) loaded.push(r.def);
    else problems.push(...r.problems);
  }
  const shared = refuseSharedLogs(loaded);
  return { defs: shared.defs, problems: [...problems, ...shared.problems] };
}

function tooBig(size: number): string {
  return `file is ${size} bytes; a service file may be at most ${MAX_FILE_BYTES} bytes (1 MiB)`;
}

function osMessage(e: unknown): string {
  const code = isRecord(e) && typeof e.code === 'string' ? e.code : undefined;
  const what: Record<string, string> = {
    ENOENT: 'no such file or directory',
    ELOOP: 'too many levels of symbolic links (a symlink loop?)',
    EACCES: 'permission denied',
    ENOTDIR: 'not a directory',
  };
  const text = (code && what[code]) ?? (e instanceof Error ? e.message : String(e));
  return code ? `${text} (${code})` : text;
}

/**
 * Up to `limit` bytes of the file, in a buffer sized for `expected` and
 * grown only if the file grew since: a directory of small files is read
 * without a megabyte each.
 */
async function readAtMost(path: string, limit: number, expected: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    let buffer = new Uint8Array(Math.min(limit, Math.max(expected, 64)));
    let filled = 0;
    for (;;) {
      if (filled === buffer.length) {
        if (buffer.length >= limit) break;
        const bigger = new Uint8Array(Math.min(limit, buffer.length * 2));
        bigger.set(buffer);
        buffer = bigger;
      }
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
