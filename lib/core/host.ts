// What the host offers a service file, as the config layer asks it: the
// user and group databases, and which cgroup limits can be enforced here.
// The OS layer implements it (os/accounts.ts, os/cgroups.ts); checks made
// offline pass none of it. Types only.

/** A user's entry in the user database (getpwnam, getpwuid). */
export interface UserEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

/** A group's entry in the group database (getgrnam, getgrgid). */
export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
}

export interface Accounts {
  /** By name, or by uid when given a number; null when there is no such user. */
  user(spec: string | number): UserEntry | null;
  group(spec: string | number): GroupEntry | null;
  /** The user's groups in the group database, its primary group `gid` included (getgrouplist). */
  groupsOf(user: string, gid: number): readonly number[];
}

/** The cgroup limits of a service file, by key. */
export const LIMIT_KEYS = [
  'memory_max',
  'memory_high',
  'pids_max',
  'cpu_max',
  'cpu_weight',
] as const;
export type LimitKey = (typeof LIMIT_KEYS)[number];

export interface Host {
  /** The user and group databases; null where they cannot be read (no native layer). */
  readonly accounts: Accounts | null;
  /** sminitd's own ids: who may run services as whom. Null when checking offline. */
  readonly self: { readonly uid: number; readonly gid: number } | null;
  /** Why a limit cannot be enforced on this host, or null when it can. Absent when checking offline. */
  readonly unenforceable?: (key: LimitKey) => string | null;
}
