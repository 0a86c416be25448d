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
