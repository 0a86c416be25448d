/*
 * The kernel's floor for starting services: fork and exec N `sleep`
 * processes, each in its own session with stdout and stderr on pipes (as
 * sminitd starts them), and wait until each exec has succeeded (a close-on-exec
 * pipe that reads EOF once the child has exec'd). Then the floor for stopping
 * them, once they have had a moment to settle: SIGTERM to each one's process
 * group, then waitpid for each until all are reaped. Prints one JSON line
 * with both times and the wall-clock time the start finished.
 *
 * usage: floor N
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms(const struct timespec *t) { return t->tv_sec * 1e3 + t->tv_nsec / 1e6; }

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  if (n <= 0) {
    fprintf(stderr, "usage: floor N\n");
    return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  pid_t *pids = calloc(n, sizeof *pids);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  struct timespec t0, t1, wall;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < n; i++) {
    int out[2], err[2], ok[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(ok, O_CLOEXEC)) {
      perror("pipe2");
      return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    if (pid == 0) {
      setsid();
      dup2(devnull, 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      execlp("sleep", "sleep", "100000", (char *)NULL);
      int e = errno;
      (void)!write(ok[1], &e, sizeof e);
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    close(ok[1]);
    int e;
    if (read(ok[0], &e, sizeof e) > 0) {
      fprintf(stderr, "exec sleep: %s\n", strerror(e));
      return 1;
    }
    close(ok[0]);
    pids[i] = pid;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  clock_gettime(CLOCK_REALTIME, &wall);
  // As the daemon's services are when they are stopped: long up, asleep.
  struct timespec pause = {0, 500 * 1000 * 1000};
  nanosleep(&pause, NULL);
  struct timespec s0, s1;
  clock_gettime(CLOCK_MONOTONIC, &s0);
  for (int i = 0; i < n; i++) kill(-pids[i], SIGTERM);
  for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
  clock_gettime(CLOCK_MONOTONIC, &s1);
  printf("{\"spawnMs\":%.3f,\"doneAt\":%.3f,\"stopMs\":%.3f}\n", ms(&t1) - ms(&t0),
         ms(&wall), ms(&s1) - ms(&s0));
  return 0;
}
