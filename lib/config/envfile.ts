// A service's environment as its process gets it: the user's HOME, USER,
// LOGNAME and SHELL, then its env files (read again at every start, parsed
// by dotenv), then its `env`. dotenv skips lines it cannot read; a service
// file's env file must not lose a variable in silence, so each line is
// checked first and a bad one named with its file and line. Reads files;
// keeps a cache per definition only for services without env files.

import { readFileSync } from 'node:fs';
import { parse } from 'dotenv';
import type { EnvFile, ServiceDef } from '../core/definition.js';

const ASSIGNMENT = /^\s*(?:export\s+)?[\w.-]+\s*(?:=|:\s)\s*(.*)$/;
const QUOTES = new Set(['"', "'", '`']);

/** Where the text stops being dotenv lines: null, or `LINE: why`. */
export function envFileProblem(text: string): string | null {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const m = ASSIGNMENT.exec(line);
    if (!m) return `${i + 1}: expected KEY=VALUE, got ${JSON.stringify(trimmed)}`;
    const value = (m[1] ?? '').trimStart();
    const quote = value[0] ?? '';
    if (!QUOTES.has(quote) || closes(value.slice(1), quote)) continue;
    const start = i;
    do i++;
    while (i < lines.length && !closes(lines[i] ?? '', quote));
    if (i >= lines.length) return `${start + 1}: the ${quote} quote opened here is never closed`;
  }
  return null;
}

function closes(text: string, quote: string): boolean {
  for (let j = 0; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === quote) return true;
  }
  return false;
}

/** Every env file's variables, the later overriding the earlier; or what is wrong, naming the file and line. */
export function readEnvFiles(files: readonly EnvFile[]): Record<string, string> | string {
  const env: Record<string, string> = {};
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f.path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (f.optional && code === 'ENOENT') continue;
      const what = code === 'ENOENT' ? 'no such file (ENOENT)' : (code ?? String(err));
      return `env_file ${f.path}: ${what}`;
    }
    const problem = envFileProblem(text);
    if (problem !== null) return `env_file ${f.path}:${problem}`;
    Object.assign(env, parse(text));
  }
  return env;
}

const fixed = new WeakMap<ServiceDef, Readonly<Record<string, string>>>();

/**
 * What a process of the service adds to sminitd's environment; or why it
 * cannot start (an env file missing or bad). Without env files the same
 * object every time, so the spawner's caches hold.
 */
export function serviceEnv(def: ServiceDef): Readonly<Record<string, string>> | string {
  const known = fixed.get(def);
  if (known !== undefined) return known;
  const files = def.envFiles.length > 0 ? readEnvFiles(def.envFiles) : {};
  if (typeof files === 'string') return files;
  const u = def.user;
  const account = u === null ? {} : { HOME: u.home, USER: u.user, LOGNAME: u.user, SHELL: u.shell };
  const env = { ...account, ...files, ...def.env };
  if (def.envFiles.length === 0) fixed.set(def, env);
  return env;
}
