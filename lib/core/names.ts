// Service names: the one place that decides what a name may be. Every entry
// point (files on disk, RPC, CLI, text protocol) validates through here, so
// nothing a client sends can become a path outside the config directory.

import { Errors } from './errors.js';

/** Letters, digits, `_`, `@`, `-`; starting with a letter, digit, `_` or `@`; at most 128. */
const NAME = /^[A-Za-z0-9_@][A-Za-z0-9_@-]{0,127}$/;

export const NAME_RULE =
  "names use letters, digits, '_', '@' and '-' (not first), at most 128 characters";

/** Returns null when the name is valid, otherwise why it is not. */
export function nameError(name: unknown): string | null {
  if (typeof name !== 'string') return 'service name must be a string';
  if (name.length === 0) return 'service name is empty';
  if (NAME.test(name)) return null;
  const shown = JSON.stringify(name.length > 40 ? name.slice(0, 40) + '…' : name);
  return `invalid service name ${shown}: ${NAME_RULE}`;
}

/** Throws the domain's bad-name error unless `name` is a valid service name. */
export function checkName(name: unknown): asserts name is string {
  const err = nameError(name);
  if (err) throw Errors.badName(err);
}

/** The endings of a service file, in the order NAME's file is looked for. */
export const SERVICE_EXTENSIONS = ['.yaml', '.yml'] as const;

/** The service name a config file stands for, or null if the file is not a service file. */
export function stemOf(fileName: string): string | null {
  const ext = SERVICE_EXTENSIONS.find((e) => fileName.endsWith(e));
  return ext === undefined ? null : fileName.slice(0, -ext.length);
}

/** Whether `text` asks for every name that matches it (has `*`, `?` or `[`) rather than one name. */
export function isPattern(text: string): boolean {
  return /[*?[]/.test(text);
}

const PATTERN_MAX = 256;

/**
 * A shell-style pattern over service names as a regular expression: `*` any
 * run of characters, `?` one, `[abc]`, `[a-z]`, `[!x]` (or `[^x]`) one of a
 * set; everything else is itself. Returns why not when the pattern holds a
 * character no name has, or an unclosed `[`.
 */
function patternRegExp(pattern: string): RegExp | string {
  if (pattern.length === 0) return 'the pattern is empty';
  if (pattern.length > PATTERN_MAX) return `a pattern is at most ${PATTERN_MAX} characters`;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) return `unclosed '[' at character ${i + 1}`;
      let set = pattern.slice(i + 1, end);
      const negated = set[0] === '!' || set[0] === '^';
      if (negated) set = set.slice(1);
      if (!/^[A-Za-z0-9_@-]+$/.test(set) || !validSet(set))
        return `'[${pattern.slice(i + 1, end)}]' is not a set of name characters`;
      re += `[${negated ? '^' : ''}${set}]`;
      i = end;
    } else if (/[A-Za-z0-9_@-]/.test(c)) re += c;
    else return `${JSON.stringify(c)} cannot be in a service name, so not in a pattern`;
  }
  return new RegExp(`^${re}$`);
}

/** A set's ranges run upwards (`a-z`, not `z-a`). */
function validSet(set: string): boolean {
  for (let i = 1; i + 1 < set.length; i++) {
    if (set[i] === '-' && (set[i - 1] as string) > (set[i + 1] as string)) return false;
  }
  return true;
}

/** Null when `pattern` is a usable pattern over service names, otherwise why not. */
export function patternError(pattern: string): string | null {
  const re = patternRegExp(pattern);
  return typeof re === 'string' ? Errors.badPattern(pattern, re).message : null;
}

/** A test of names against `pattern`; throws the domain's bad-argument error if it is unusable. */
export function matcher(pattern: string): (name: string) => boolean {
  const re = patternRegExp(pattern);
  if (typeof re === 'string') throw Errors.badPattern(pattern, re);
  return (name) => re.test(name);
}
