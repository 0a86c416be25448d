// zinit's file API: service_create, service_delete and service_get act on
// NAME.yaml in the config directory. Content is validated exactly as a file on
// disk is (it is dumped to YAML and parsed back by parse.ts), a file appears
// whole or not at all (temporary file, then a link that refuses to replace),
// and no name can reach outside the directory (names.ts). Owns no manager
// state: the manager runs these inside its queue, so they never interleave
// with service_monitor reading the same files.

import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { MAX_FILE_BYTES, loadServiceFile } from './load.js';
import { parseServiceObject, parseServiceText, serviceValue } from './parse.js';
import { isRecord } from '../core/jsontype.js';
import { Errors, SminitError, messageOf } from '../core/errors.js';
import { SERVICE_EXTENSIONS, checkName } from '../core/names.js';
import type { Host } from '../core/host.js';

/** The existing file for NAME (.yaml, else .yml), or null. */
async function existing(dir: string, name: string): Promise<string | null> {
  for (const ext of SERVICE_EXTENSIONS) {
    const file = join(dir, name + ext);
    const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw Errors.cannotRead(file, messageOf(e));
    });
    if (st) return file;
  }
  return null;
}

/** The YAML text service_create writes, after checking it as the daemon would read it. */
function serviceYaml(name: string, file: string, content: unknown, host: Host | null): string {
  checkName(name);
  const asObject = parseServiceObject(name, file, content, host);
  if (!asObject.ok) throw Errors.contentProblems(asObject.problems);
  let text: string;
  try {
    text = yamlOf(content);
  } catch (err) {
    throw Errors.notYaml(file, messageOf(err));
  }
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) {
    throw Errors.fileTooLarge(file, MAX_FILE_BYTES);
  }
  // What is written must read back as what was checked.
  const asText = parseServiceText(name, file, text, host);
  if (!asText.ok) throw Errors.contentProblems(asText.problems);
  return text;
}

/**
 * The YAML of a service object as service_create writes it. Env values go
 * in as the strings the process gets: a number dumped as YAML would come
 * back in YAML's spelling (`1.0e+21`), not the one that was checked.
 */
export function yamlOf(content: unknown): string {
  const written =
    isRecord(content) && isRecord(content.env)
      ? { ...content, env: Object.fromEntries(Object.entries(content.env).map(envText)) }
      : content;
  return dump(written, { lineWidth: -1, noRefs: true, sortKeys: false });
}

function envText([key, v]: [string, unknown]): [string, unknown] {
  return [key, typeof v === 'number' || typeof v === 'boolean' ? String(v) : v];
}

/** service_create: write NAME.yaml; refuses when NAME.yaml or NAME.yml exists. */
export async function createServiceFile(
  dir: string,
  name: string,
  content: unknown,
  host: Host | null = null,
): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  const text = serviceYaml(name, file, content, host);
  const taken = await existing(dir, name);
  if (taken) {
    throw Errors.fileExists(taken);
  }
  const tmp = join(dir, `.${name}.yaml.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await writeSynced(tmp, text);
    await placeNew(tmp, file, () => existing(dir, name));
  } catch (err) {
    if (err instanceof SminitError) throw err;
    throw Errors.cannotWrite(file, messageOf(err));
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDir(dir);
  return `Service '${name}' created successfully`;
}

async function writeSynced(path: string, text: string): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** `tmp` becomes `file`, never replacing one that appeared meanwhile. */
async function placeNew(
  tmp: string,
  file: string,
  taken: () => Promise<string | null>,
): Promise<void> {
  // link() fails with EEXIST instead of replacing: a file created meanwhile
  // by someone else is never overwritten.
  try {
    await link(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw Errors.fileExists(file);
    }
    // Filesystems without hard links: rename, which is atomic but replaces.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    if (await taken()) {
      throw Errors.fileExists(file);
    }
    await rename(tmp, file);
  }
}

/** service_delete: remove NAME's file. A tracked service is left running, as in zinit. */
export async function deleteServiceFile(dir: string, name: string): Promise<string> {
  checkName(name);
  const file = await existing(dir, name);
  if (!file) throw Errors.noServiceFile(name, dir);
  try {
    await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw Errors.noServiceFile(name, dir);
    throw Errors.cannotRemove(file, messageOf(err));
  }
  await syncDir(dir);
  return `Service '${name}' deleted successfully`;
}

/**
 * service_get: the file as a JSON object, as written (not with defaults
 * filled in), env values as the text the process gets.
 */
export async function readServiceFile(
  dir: string,
  name: string,
  host: Host | null = null,
): Promise<Record<string, unknown>> {
  checkName(name);
  const file = await existing(dir, name);
  if (!file) throw Errors.noServiceFile(name, dir);
  const checked = await loadServiceFile(file, host);
  if (!checked.ok) throw Errors.fileProblems(checked.problems);
  let value: unknown;
  try {
    value = serviceValue(await readFile(file, 'utf8'));
  } catch (err) {
    throw Errors.cannotRead(file, messageOf(err));
  }
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

/** Makes a rename or unlink durable; best effort where directories cannot be opened. */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not every filesystem allows fsync on a directory.
  }
}
