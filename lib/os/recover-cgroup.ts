// The cgroup source of what an earlier sminitd of the same socket left: the
// populated service groups of a gone daemon's tree, found through a record
// of each daemon's trees kept beside the socket (`SOCKET.cgroups`), and the
// removal of those trees, in every hierarchy, once they are empty; the
// record pruned when a daemon exits.

import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Hierarchy, Layout } from './cgroup-layout.js';
import { members, removeTree } from './cgroup-layout.js';
import { childGroups, daemonOfGroup, populatedServices } from './cgroup-tree.js';
import { daemonId, formatDaemonId, parseDaemonId } from './markers.js';
import { readStat } from './procfs.js';
import { type Leftover, type LeftoverSource, daemonGone, namespacesOf } from './recover.js';

/**
 * One daemon's trees, as it wrote them when it started. cgroupfs takes no
 * regular files, so what ties a tree to a socket lives beside the socket:
 * the socket names the daemon across its restarts, and only its own
 * successor reads that file.
 */
export interface TreeRecord {
  /** `PID.START`, as in its group's name and its markers. */
  readonly daemon: string;
  /** Its pid and mount namespaces: a daemon of another namespace is not ours to judge. */
  readonly ns: readonly string[];
  /** Its daemon group in each hierarchy (v2 first, then v1 controllers'). */
  readonly dirs: readonly string[];
}

/** Where a daemon on `socket` records its cgroup trees. */
export function recordPath(socket: string): string {
  return `${socket}.cgroups`;
}

/** The records in a record file's text (one JSON object a line); malformed lines are skipped. */
export function parseRecords(text: string): TreeRecord[] {
  const out: TreeRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const r = JSON.parse(line) as Partial<TreeRecord>;
      const strings = (v: unknown): v is string[] =>
        Array.isArray(v) && v.every((x) => typeof x === 'string');
      if (typeof r.daemon === 'string' && strings(r.ns) && strings(r.dirs)) {
        out.push({ daemon: r.daemon, ns: r.ns, dirs: r.dirs });
      }
    } catch {
      // Not a record: a torn write or someone else's file.
    }
  }
  return out;
}

export interface CgroupSource extends LeftoverSource {
  /** The empty groups of gone daemons' trees removed, and the record rewritten without what is gone. */
  settle(): void;
}

/**
 * Candidates by cgroup: every process in a populated service group of the
 * tree of a daemon that served `socket`, is gone, and ran in this daemon's
 * namespaces. A recorded directory counts only when it is a daemon group of
 * that daemon's id beside one of this daemon's own: a record file cannot
 * point it anywhere else. Records this daemon's own trees at once.
 */
export function cgroupSource(
  socket: string,
  layout: Layout & { readonly tracking: Hierarchy },
): CgroupSource {
  const self: TreeRecord = {
    daemon: daemonId(),
    ns: namespacesOf('self') ?? [],
    dirs: rootsOf(layout),
  };
  const parents = new Set(self.dirs.map((d) => dirname(d)));
  const previous = readRecords(recordPath(socket)).filter((r) => r.daemon !== self.daemon);
  const trees = previous
    .filter((r) => r.ns.length > 0 && r.ns.join() === self.ns.join())
    .map((r) => ({ ...r, dirs: r.dirs.filter((d) => ownedBy(d, r.daemon, parents)) }))
    .filter((r) => r.dirs.length > 0);
  const v2parent = dirname(layout.tracking.root);
  const gone = (): TreeRecord[] => trees.filter((r) => goneDaemon(r.daemon));
  // What this daemon may not judge stays recorded, for one that may.
  const write = (): void => writeRecords(recordPath(socket), [...previous.filter(exists), self]);
  write();
  const settle = (): void => {
    for (const r of gone()) for (const d of r.dirs) removeTree(d, false);
    write();
  };
  return {
    async find(fresh) {
      // At start-up, what is empty already goes first: a tree with nothing left in it.
      if (!fresh) settle();
      const found: Leftover[] = [];
      for (const r of gone()) {
        const v2 = r.dirs.find((d) => dirname(d) === v2parent);
        if (v2 !== undefined) found.push(...leftoversIn(v2));
      }
      return found;
    },
    settle,
  };
}

/**
 * At a daemon's exit, once its groups are removed: the records of trees that
 * no longer exist dropped, and the file removed when none is left. A tree
 * still there (a process stuck in the kernel) stays recorded for the next.
 */
export function pruneRecord(socket: string): void {
  const file = recordPath(socket);
  const left = readRecords(file).filter(exists);
  if (left.length > 0) writeRecords(file, left);
  else rmSync(file, { force: true });
}

/** The daemon's own group in each hierarchy it uses, v2 first. */
function rootsOf(layout: Layout & { readonly tracking: Hierarchy }): string[] {
  const roots = [layout.tracking.root, ...Object.values(layout.controllers).map((h) => h.root)];
  return [...new Set(roots)];
}

/** Whether `dir` is daemon `id`'s group, directly under one of `parents`. */
function ownedBy(dir: string, id: string, parents: ReadonlySet<string>): boolean {
  const d = daemonOfGroup(basename(dir));
  return d !== null && formatDaemonId(d.pid, d.startTime) === id && parents.has(dirname(dir));
}

function goneDaemon(id: string): boolean {
  const d = parseDaemonId(id);
  return d !== null && daemonGone(d.pid, d.startTime);
}

const exists = (r: TreeRecord): boolean =>
  r.dirs.some((d) => statSync(d, { throwIfNoEntry: false }) !== undefined);

/** Every live process of every populated service group of one daemon group, by service. */
function leftoversIn(daemonDir: string): Leftover[] {
  const found: Leftover[] = [];
  for (const { daemon, service, dir } of populatedServices(daemonDir)) {
    for (const pid of membersBelow(dir)) {
      const stat = readStat(pid);
      if (stat === null || stat.state === 'Z' || pid === process.pid) continue;
      found.push({ pid, startTime: stat.startTime, service, daemonPid: daemon.pid });
    }
  }
  return found;
}

/** The processes of a group and of every group below it (a service's `test` group). */
function membersBelow(dir: string): number[] {
  return [...members(dir), ...childGroups(dir).flatMap((s) => membersBelow(join(dir, s)))];
}

function readRecords(file: string): TreeRecord[] {
  try {
    return parseRecords(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

/** Replaces the record file whole (written aside, then renamed): a reader never sees half of it. */
function writeRecords(file: string, records: readonly TreeRecord[]): void {
  const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  try {
    writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  } catch {
    // A socket directory not writable: the next daemon finds leftovers by marker only.
  }
}
