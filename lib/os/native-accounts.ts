// The user and group databases through libc (getpwnam, getpwuid, getgrnam,
// getgrgid, getgrouplist), so users from NSS (LDAP, sssd, systemd's dynamic
// users) are found as every other program finds them; and the calls that
// set a process's limits from outside it (prlimit, setpriority). Binds and
// calls; decides nothing.

import { endianness } from 'node:os';
import type { Accounts, GroupEntry, UserEntry } from '../core/host.js';

interface Loaded {
  func(definition: string): (...args: unknown[]) => unknown;
}
interface Decoder {
  struct(name: string, fields: Record<string, string>): unknown;
  decode(pointer: unknown, type: unknown): unknown;
  errno(): number;
}

/** Groups a user may be in, at most: getgrouplist is asked again with room for all. */
const GROUPS_ROOM = 256;

export function bindAccounts(libc: Loaded, koffi: Decoder): Accounts {
  const passwd = koffi.struct('sminit_passwd', {
    pw_name: 'const char *',
    pw_passwd: 'const char *',
    pw_uid: 'uint32_t',
    pw_gid: 'uint32_t',
    pw_gecos: 'const char *',
    pw_dir: 'const char *',
    pw_shell: 'const char *',
  });
  const group = koffi.struct('sminit_group', {
    gr_name: 'const char *',
    gr_passwd: 'const char *',
    gr_gid: 'uint32_t',
  });
  const getpwnam = libc.func('void *getpwnam(const char *name)');
  const getpwuid = libc.func('void *getpwuid(uint32_t uid)');
  const getgrnam = libc.func('void *getgrnam(const char *name)');
  const getgrgid = libc.func('void *getgrgid(uint32_t gid)');
  const getgrouplist = libc.func(
    'int getgrouplist(const char *user, uint32_t group, _Out_ uint32_t *groups, _Inout_ int *ngroups)',
  );
  const validId = (n: number): boolean => Number.isSafeInteger(n) && n >= 0 && n < 0xffffffff;
  return {
    user(spec) {
      if (typeof spec === 'number' && !validId(spec)) return null;
      const p = typeof spec === 'number' ? getpwuid(spec) : getpwnam(spec);
      if (!p) return null;
      const e = koffi.decode(p, passwd) as Record<string, unknown>;
      return {
        name: String(e.pw_name),
        uid: Number(e.pw_uid),
        gid: Number(e.pw_gid),
        home: String(e.pw_dir ?? '/'),
        shell: String(e.pw_shell ?? '/bin/sh'),
      } satisfies UserEntry;
    },
    group(spec) {
      if (typeof spec === 'number' && !validId(spec)) return null;
      const p = typeof spec === 'number' ? getgrgid(spec) : getgrnam(spec);
      if (!p) return null;
      const e = koffi.decode(p, group) as Record<string, unknown>;
      return { name: String(e.gr_name), gid: Number(e.gr_gid) } satisfies GroupEntry;
    },
    groupsOf(user, gid) {
      for (let room = GROUPS_ROOM; ; room *= 4) {
        const list = new Uint32Array(room);
        const n = [room];
        if ((getgrouplist(user, gid, list, n) as number) >= 0) {
          return [...list.slice(0, n[0] ?? 0)];
        }
        if ((n[0] ?? 0) <= room) return [gid];
      }
    },
  };
}

/** A resource limit from outside the process: soft and hard, null for unlimited. */
export interface LimitCalls {
  /** prlimit(2) on `pid`; 0, or the errno. */
  prlimit(pid: number, resource: number, soft: number | null, hard: number | null): number;
  /** setpriority(PRIO_PROCESS, pid, nice); 0, or the errno. */
  setNice(pid: number, nice: number): number;
}

const PRIO_PROCESS = 0;
const RLIM_INFINITY = 0xffffffffffffffffn;

export function bindLimits(libc: Loaded, koffi: Decoder): LimitCalls {
  // prlimit64 takes 64-bit limits on every architecture.
  const prlimit = libc.func('int prlimit64(int pid, int resource, const void *newl, void *oldl)');
  const setpriority = libc.func('int setpriority(int which, uint32_t who, int prio)');
  const limit = Buffer.alloc(16);
  const le = endianness() === 'LE';
  const put = (v: number | null, at: number): void => {
    const n = v === null ? RLIM_INFINITY : BigInt(v);
    if (le) limit.writeBigUInt64LE(n, at);
    else limit.writeBigUInt64BE(n, at);
  };
  return {
    prlimit(pid, resource, soft, hard) {
      put(soft, 0);
      put(hard, 8);
      return (prlimit(pid, resource, limit, null) as number) === 0 ? 0 : koffi.errno();
    },
    setNice(pid, nice) {
      return (setpriority(PRIO_PROCESS, pid, nice) as number) === 0 ? 0 : koffi.errno();
    },
  };
}
