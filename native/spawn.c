// A service's process, made ready in the child itself before its program
// runs: a new session, every signal at its default and none blocked, stdio
// and the readiness pipe in place, the working directory, the service's
// cgroups joined, its rlimits, nice, oom_score_adj and umask set, its user
// taken, then execve. posix_spawn cannot do the middle part, which is why
// without this library a boxed service starts through a /bin/sh wrapper
// (lib/os/wrap.ts): two execs where this costs one, and nothing to wait for.
//
// The child is made with clone(CLONE_VM) on a stack of its own: it shares
// the daemon's memory until its exec, so a spawn costs the same however
// large the daemon grows. On x86_64 it is made by clone3 straight into its
// v2 cgroup (CLONE_INTO_CGROUP) where the kernel can, and joins only the
// rest itself. sminit_spawn returns as soon as the child exists:
// neither its set-up (a few system calls, but two trips through the
// scheduler if waited for one child at a time) nor its exec (most of a
// spawn's cost) holds the daemon. sminit_spawn_settle waits until every
// child spawned so far is set up; the daemon calls it before it signals a
// child or looks at its group, and at the end of each turn, so the children
// of a burst set themselves up side by side. What a child reads (the job,
// its strings, its stack) is copied into one block that the kernel marks
// free when the child execs or exits (CLONE_CHILD_CLEARTID); a later call
// frees such blocks. Until its exec the child makes raw system calls only,
// which touch no errno and no state the daemon's threads share (setuid
// through libc would signal every thread of the daemon). A child whose
// set-up or exec fails ends with 127, and how it failed is kept for
// sminit_spawn_failure (the caller checks first what would fail an exec).
//
// Decides nothing: what to run, where and as whom comes from the caller
// (lib/os/native-spawn.ts), which also owns the pipes.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "raw system calls are written for x86_64 and aarch64 only"
#endif

// A system call without libc: the result, or -errno. errno is thread-local,
// and the child runs on the calling thread's TLS beside it.
static long rsys(long n, long a, long b, long c, long d) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
#else
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
#endif
}

// What failed in the child: the caller names it in its message.
enum step {
  STEP_NONE = 0,
  STEP_DESCRIPTORS = 1,
  STEP_CHDIR = 2,
  STEP_CGROUP = 3,
  STEP_RLIMIT = 4,
  STEP_NICE = 5,
  STEP_OOM = 6,
  STEP_GROUPS = 7,
  STEP_GID = 8,
  STEP_UID = 9,
  STEP_EXEC = 10,
  STEP_CLONE = 11,
};

// The child's progress, which the caller waits on: set up (or failed: `step` says) or not yet.
enum { SETTING_UP = 0, SET_UP = 1 };

// A kernel rlimit (prlimit64 takes 64-bit values on every architecture).
struct limit64 {
  uint64_t cur, max;
};

// Everything the child reads, in one block it alone uses until its exec.
struct job {
  struct job *next;
  // The child's pid; the kernel zeroes it when the child execs or exits.
  volatile pid_t tid;
  // The same, kept for the parent.
  pid_t pid;
  volatile int state;
  const char *path;
  char **argv;
  // The same arguments after "/bin/sh" and the path, for a file execve refuses (ENOEXEC).
  char **shell_argv;
  char **envp;
  const char *cwd;
  // Pairs (from, to): `from` is placed at `to`, in order.
  const int *fds;
  int nfds;
  // cgroup.procs files to write "0" to, NULL-terminated; from `joined` on
  // (the first is skipped when the child was made in its group).
  char **join;
  int joined;
  // Triples (resource, soft, hard); a negative value is unlimited.
  const double *limits;
  int nlimits;
  // INT_MIN: leave as the daemon has it.
  int nice, oom, umask;
  // ids[0] uid, ids[1] gid, then the supplementary groups; uid < 0: keep the daemon's.
  const int *ids;
  int nids;
  // Written by the child on failure.
  volatile int err, step, index;
};

// The child's set-up needs well under a page of stack; no handler ever runs on it.
#define STACK_BYTES (16 * 1024)

static int fail(struct job *j, long rc, int step, int index) {
  j->err = (int)-rc;
  j->step = step;
  j->index = index;
  return 127;
}

// `from` at descriptor `to`, without close-on-exec.
static long place(int from, int to) {
  if (from == to) return rsys(SYS_fcntl, to, F_SETFD, 0, 0);
  return rsys(SYS_dup3, from, to, 0, 0);
}

static void reset_signals(void) {
  // struct kernel_sigaction: handler, flags, restorer, mask.
  unsigned long act[4] = {(unsigned long)SIG_DFL, 0, 0, 0};
  for (int sig = 1; sig < 65; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    rsys(SYS_rt_sigaction, sig, (long)act, 0, 8);
  }
}

static long write_all(const char *path, const char *text, long len) {
  long fd = rsys(SYS_openat, AT_FDCWD, (long)path, O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  long n = rsys(SYS_write, fd, (long)text, len, 0);
  rsys(SYS_close, fd, 0, 0, 0);
  return n < 0 ? n : n == len ? 0 : -EIO;
}

static long decimal(int v, char *out) {
  char tmp[16];
  long n = 0, len = 0;
  unsigned u = v < 0 ? (unsigned)-(long)v : (unsigned)v;
  do tmp[n++] = (char)('0' + u % 10);
  while ((u /= 10) != 0);
  if (v < 0) out[len++] = '-';
  while (n > 0) out[len++] = tmp[--n];
  return len;
}

static uint64_t limit_value(double v) { return v < 0 ? UINT64_MAX : (uint64_t)v; }

// Cgroups, limits and priorities: everything that must hold before the program runs.
static int box(struct job *j) {
  long rc;
  for (int i = j->joined; j->join != NULL && j->join[i] != NULL; i++) {
    if ((rc = write_all(j->join[i], "0", 1)) != 0) return fail(j, rc, STEP_CGROUP, i);
  }
  for (int i = 0; i < j->nlimits; i++) {
    struct limit64 l = {limit_value(j->limits[3 * i + 1]), limit_value(j->limits[3 * i + 2])};
    if ((rc = rsys(SYS_prlimit64, 0, (long)j->limits[3 * i], (long)&l, 0)) != 0)
      return fail(j, rc, STEP_RLIMIT, i);
  }
  if (j->nice != INT_MIN && (rc = rsys(SYS_setpriority, PRIO_PROCESS, 0, j->nice, 0)) != 0)
    return fail(j, rc, STEP_NICE, 0);
  if (j->oom != INT_MIN) {
    char text[16];
    long len = decimal(j->oom, text);
    if ((rc = write_all("/proc/self/oom_score_adj", text, len)) != 0)
      return fail(j, rc, STEP_OOM, 0);
  }
  if (j->umask != INT_MIN) rsys(SYS_umask, j->umask, 0, 0, 0);
  return 0;
}

static int become(struct job *j) {
  long rc;
  if (j->nids < 2 || j->ids[0] < 0) return 0;
  if ((rc = rsys(SYS_setgroups, j->nids - 2, (long)(j->ids + 2), 0, 0)) != 0)
    return fail(j, rc, STEP_GROUPS, 0);
  if ((rc = rsys(SYS_setresgid, j->ids[1], j->ids[1], j->ids[1], 0)) != 0)
    return fail(j, rc, STEP_GID, 0);
  if ((rc = rsys(SYS_setresuid, j->ids[0], j->ids[0], j->ids[0], 0)) != 0)
    return fail(j, rc, STEP_UID, 0);
  return 0;
}

// The parent waits on the tid word, which the kernel also clears and wakes on the child's exit.
static void tell(struct job *j) {
  __atomic_store_n(&j->state, SET_UP, __ATOMIC_RELEASE);
  rsys(SYS_futex, (long)&j->tid, FUTEX_WAKE, 1, 0);
}

static int set_up(struct job *j) {
  long rc;
  reset_signals();
  rsys(SYS_setsid, 0, 0, 0, 0);
  for (int i = 0; i < j->nfds; i++) {
    if ((rc = place(j->fds[2 * i], j->fds[2 * i + 1])) < 0)
      return fail(j, rc, STEP_DESCRIPTORS, i);
  }
  if ((rc = rsys(SYS_chdir, (long)j->cwd, 0, 0, 0)) != 0) return fail(j, rc, STEP_CHDIR, 0);
  int failed = box(j);
  return failed != 0 ? failed : become(j);
}

static int child(void *arg) {
  struct job *j = arg;
  if (set_up(j) != 0) {
    tell(j);
    return 127;
  }
  uint64_t empty = 0;
  rsys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&empty, 0, 8);
  tell(j);
  long rc = rsys(SYS_execve, (long)j->path, (long)j->argv, (long)j->envp, 0);
  if (rc == -ENOEXEC) rc = rsys(SYS_execve, (long)"/bin/sh", (long)j->shell_argv, (long)j->envp, 0);
  fail(j, rc, STEP_EXEC, 0);
  return 127;
}

// --- the block: one allocation holding the job, its strings and the stack ---

static size_t rounded(size_t bytes) { return (bytes + 15) & ~(size_t)15; }

// What a copy of a NULL-terminated list takes, its length in `count`.
static size_t list_size(char *const *list, size_t *count) {
  size_t bytes = 0, n = 0;
  for (; list != NULL && list[n] != NULL; n++) bytes += rounded(strlen(list[n]) + 1);
  *count = n;
  return bytes + rounded((n + 1) * sizeof(char *));
}

struct arena {
  char *at;
};

static void *take(struct arena *a, size_t bytes) {
  void *p = a->at;
  a->at += rounded(bytes);
  return p;
}

static char *copy_string(struct arena *a, const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(take(a, n), s, n);
}

// A NULL-terminated copy of the `n` strings of `list`.
static char **copy_list(struct arena *a, char *const *list, size_t n) {
  char **out = take(a, (n + 1) * sizeof(char *));
  for (size_t i = 0; i < n; i++) out[i] = copy_string(a, list[i]);
  out[n] = NULL;
  return out;
}

static void *copy_bytes(struct arena *a, const void *from, size_t bytes) {
  return bytes == 0 ? NULL : memcpy(take(a, bytes), from, bytes);
}

// Every block whose child may still read it, newest first.
static struct job *pending = NULL;
// How many of them may still be setting up (not yet settled).
static int unsettled = 0;
// Spawns a call may leave unsettled before it settles them itself: a bound on the blocks held.
#define MAX_UNSETTLED 64

// Failures (of the set-up or the exec), by pid, kept until asked for: such a child exits with 127.
#define FAILURES 1024
static struct {
  pid_t pid;
  int err, step, index;
} failures[FAILURES];
static unsigned next_failure = 0;

// Frees the blocks the kernel has released; keeps what a failure left.
static void reclaim(void) {
  struct job **link = &pending;
  while (*link != NULL) {
    struct job *j = *link;
    if (__atomic_load_n(&j->tid, __ATOMIC_ACQUIRE) != 0) {
      link = &j->next;
      continue;
    }
    if (j->step != STEP_NONE) {
      unsigned at = next_failure++ % FAILURES;
      failures[at].pid = j->pid;
      failures[at].err = j->err;
      failures[at].step = j->step;
      failures[at].index = j->index;
    }
    *link = j->next;
    free(j);
  }
}

struct request {
  const char *path;
  char *const *argv;
  char *const *envp;
  const char *cwd;
  const int *fds;
  int nfds;
  char *const *join;
  const double *limits;
  int nlimits, nice, oom, umask;
  const int *ids;
  int nids;
};

// The request copied into one block, with room for the child's stack after it; NULL without memory.
static struct job *copy_job(const struct request *r, char **stack_top) {
  size_t nargv, nenvp, njoin;
  size_t bytes = rounded(sizeof(struct job)) + rounded(strlen(r->path) + 1) +
                 rounded(strlen(r->cwd) + 1) + list_size(r->argv, &nargv) +
                 rounded((nargv + 2) * sizeof(char *)) + list_size(r->envp, &nenvp) +
                 list_size(r->join, &njoin) + rounded(2 * r->nfds * sizeof(int)) +
                 rounded(3 * r->nlimits * sizeof(double)) + rounded(r->nids * sizeof(int)) +
                 STACK_BYTES;
  struct job *j = malloc(bytes);
  if (j == NULL) return NULL;
  struct arena a = {(char *)j};
  memset(take(&a, sizeof *j), 0, sizeof *j);
  j->path = copy_string(&a, r->path);
  j->cwd = copy_string(&a, r->cwd);
  j->argv = copy_list(&a, r->argv, nargv);
  j->shell_argv = take(&a, (nargv + 2) * sizeof(char *));
  j->shell_argv[0] = "/bin/sh";
  j->shell_argv[1] = (char *)j->path;
  for (size_t i = 1; i <= nargv; i++) j->shell_argv[i + 1] = j->argv[i];
  j->shell_argv[nargv > 0 ? nargv + 1 : 2] = NULL;
  j->envp = copy_list(&a, r->envp, nenvp);
  j->join = r->join == NULL ? NULL : copy_list(&a, r->join, njoin);
  j->fds = copy_bytes(&a, r->fds, 2 * r->nfds * sizeof(int));
  j->nfds = r->nfds;
  j->limits = copy_bytes(&a, r->limits, 3 * r->nlimits * sizeof(double));
  j->nlimits = r->nlimits;
  j->ids = copy_bytes(&a, r->ids, r->nids * sizeof(int));
  j->nids = r->nids;
  j->nice = r->nice;
  j->oom = r->oom;
  j->umask = r->umask;
  *stack_top = (char *)take(&a, STACK_BYTES) + STACK_BYTES;
  return j;
}

// Waits until the child has set itself up, failed, or died.
static void await_set_up(struct job *j) {
  for (;;) {
    if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) != SETTING_UP) return;
    pid_t tid = __atomic_load_n(&j->tid, __ATOMIC_ACQUIRE);
    if (tid == 0) return;
    syscall(SYS_futex, &j->tid, FUTEX_WAIT, tid, NULL, NULL, 0);
  }
}

/*
 * Returns once every child spawned so far is in its session and cgroups
 * with its limits and user set (or has failed, or died): before anything may
 * signal a child or look at its group. Their exits reach the reaper.
 */
void sminit_spawn_settle(void) {
  if (unsettled == 0) return;
  for (struct job *j = pending; j != NULL; j = j->next) await_set_up(j);
  unsettled = 0;
}

#if defined(__x86_64__)
// clone3(2) with the child on its own stack, as glibc's clone does it: the
// child returns from the call on that stack, so it must call `fn` before
// touching any frame. Returns the pid, or -errno, in the parent.
struct clone_args_v2 {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};
long sminit_clone3(struct clone_args_v2 *args, size_t size, int (*fn)(void *), void *arg);
__asm__(".pushsection .text\n"
        ".hidden sminit_clone3\n"
        ".type sminit_clone3, @function\n"
        "sminit_clone3:\n"
        "  mov %rdx, %r9\n"
        "  mov %rcx, %r8\n"
        "  mov $435, %eax\n"
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jz 1f\n"
        "  ret\n"
        "1:\n"
        "  xor %ebp, %ebp\n"
        "  and $-16, %rsp\n"
        "  mov %r8, %rdi\n"
        "  call *%r9\n"
        "  mov %eax, %edi\n"
        "  mov $60, %eax\n"
        "  syscall\n"
        "  hlt\n"
        ".size sminit_clone3, .-sminit_clone3\n"
        ".popsection\n");

#define INTO_CGROUP 0x200000000ULL
// Set by sminit_spawn_probe once a child made that way ran; cleared once the
// kernel shows it lacks clone3 or CLONE_INTO_CGROUP.
static int into_cgroup = 0;

// The directory of the first cgroup.procs to join, opened; -1 if there is none to open.
static int first_group(const struct job *j) {
  static const char procs[] = "/cgroup.procs";
  if (j->join == NULL || j->join[0] == NULL) return -1;
  size_t n = strlen(j->join[0]), tail = sizeof procs - 1;
  if (n <= tail || n - tail >= PATH_MAX || strcmp(j->join[0] + n - tail, procs) != 0) return -1;
  char dir[PATH_MAX];
  memcpy(dir, j->join[0], n - tail);
  dir[n - tail] = '\0';
  return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

// The child made in its (v2) group, which saves it the join: a write to
// cgroup.procs moves a process under the kernel's global lock for
// migrations, which waits out an RCU grace period (milliseconds) when none
// moved just before. -1 when that cannot be done (a v1 group, an old
// kernel, a group refusing a new process): the caller clones as before and
// the child joins, failing the way it always did.
static pid_t clone_into_group(struct job *j, char *top, int into) {
  int dir = into && into_cgroup ? first_group(j) : -1;
  if (dir < 0) return -1;
  j->joined = 1;
  struct clone_args_v2 args = {
      .flags = CLONE_VM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | INTO_CGROUP,
      .child_tid = (uint64_t)(uintptr_t)&j->tid,
      .parent_tid = (uint64_t)(uintptr_t)&j->tid,
      .exit_signal = SIGCHLD,
      .stack = (uint64_t)(uintptr_t)(top - STACK_BYTES),
      .stack_size = STACK_BYTES,
      .cgroup = (uint64_t)dir,
  };
  long pid = sminit_clone3(&args, sizeof args, child, j);
  close(dir);
  if (pid > 0) return (pid_t)pid;
  // No clone3 (or a filter refusing it), no CLONE_INTO_CGROUP, a v1 group: never again.
  if (pid == -ENOSYS || pid == -E2BIG || pid == -EINVAL || pid == -EBADF) into_cgroup = 0;
  j->joined = 0;
  return -1;
}

static int probe_child(void *arg) {
  (void)arg;
  return 0;
}

/*
 * Whether a child made by clone3 into the empty v2 group `dir` runs: 1 if
 * it did (and spawns may be made so from now on), else 0. Some kernels
 * compare a group's count of cgroup.kill writes against the parent's
 * group's rather than the new group's own, and SIGKILL the child at birth
 * when they differ: where the daemon's own group was ever killed, every
 * such child would die; the caller also never asks it for a group it
 * killed. The child is waited for by its pid.
 */
int sminit_spawn_probe(const char *dir) {
  static char stack[4096] __attribute__((aligned(16)));
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return into_cgroup = 0;
  struct clone_args_v2 args = {
      .flags = CLONE_VM | CLONE_VFORK | INTO_CGROUP,
      .exit_signal = SIGCHLD,
      .stack = (uint64_t)(uintptr_t)stack,
      .stack_size = sizeof stack,
      .cgroup = (uint64_t)fd,
  };
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = sminit_clone3(&args, sizeof args, probe_child, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(fd);
  int status = 0;
  if (pid > 0) while (waitpid((pid_t)pid, &status, __WALL) < 0 && errno == EINTR) continue;
  return into_cgroup = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#else
static pid_t clone_into_group(struct job *j, char *top, int into) {
  (void)j;
  (void)top;
  (void)into;
  return -1;
}

int sminit_spawn_probe(const char *dir) {
  (void)dir;
  return 0;
}
#endif

static int failed(int *out, int err, int step) {
  out[1] = err;
  out[2] = step;
  return err;
}

/*
 * Spawns the request and returns without waiting for the child: out[0] gets
 * its pid, or 0 when no child could be made, with out[1] the errno and
 * out[2] the step. Call sminit_spawn_settle before anything signals it or
 * looks at its group. A failure in the child (its set-up or its exec) ends it
 * with 127 and is kept for sminit_spawn_failure. `into`: the first of `join`
 * is a v2 group the child may be made in (see sminit_spawn_probe). Returns 0
 * or the errno.
 */
int sminit_spawn(const char *path, char *const *argv, char *const *envp, const char *cwd,
                 const int *fds, int nfds, char *const *join, int into, const double *limits,
                 int nlimits, int nice, int oom, int umask, const int *ids, int nids, int *out) {
  const struct request r = {path, argv, envp, cwd, fds, nfds, join, limits,
                            nlimits, nice, oom, umask, ids, nids};
  if (unsettled >= MAX_UNSETTLED) sminit_spawn_settle();
  reclaim();
  out[0] = out[1] = out[2] = 0;
  char *top;
  struct job *j = copy_job(&r, &top);
  if (j == NULL) return failed(out, ENOMEM, STEP_CLONE);
  // No handler of the daemon's may run in the child, which shares its memory.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int flags = CLONE_VM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;
  pid_t pid = clone_into_group(j, top, into);
  if (pid < 0) pid = clone(child, top, flags, j, &j->tid, NULL, &j->tid);
  int clone_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    free(j);
    return failed(out, clone_err, STEP_CLONE);
  }
  j->pid = pid;
  j->next = pending;
  pending = j;
  unsettled++;
  out[0] = pid;
  return 0;
}

/*
 * How `pid`'s child failed, once it has exited with 127: the errno, with
 * out[0] the step and out[1] its index (which descriptor, cgroup or limit);
 * 0 when it did not fail.
 */
int sminit_spawn_failure(int pid, int *out) {
  reclaim();
  for (unsigned i = 0; i < FAILURES; i++) {
    if (failures[i].pid == pid && pid > 0) {
      failures[i].pid = 0;
      out[0] = failures[i].step;
      out[1] = failures[i].index;
      return failures[i].err;
    }
  }
  return 0;
}
