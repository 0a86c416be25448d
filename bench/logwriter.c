/* A service that logs as fast as it can: short printf-style lines through
 * stdio (fully buffered, as when stdout is a pipe or a file), for a given
 * number of seconds. Then it writes "BYTES NANOSECONDS" to the stats file,
 * a last line "bench-done", and waits to be stopped.
 *
 *   logwriter SECONDS STATSFILE      throughput
 *   logwriter -l COUNT INTERVAL_US    latency: "lat <CLOCK_MONOTONIC ns>" lines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "-l") == 0) {
    long count = atol(argv[2]);
    long interval = atol(argv[3]);
    char line[64];
    for (long i = 0; i < count; i++) {
      int n = snprintf(line, sizeof line, "lat %lld\n", now_ns());
      if (write(1, line, (size_t)n) != n) return 1;
      usleep((useconds_t)interval);
    }
    if (write(1, "bench-done\n", 11) != 11) return 1;
    pause();
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: logwriter SECONDS STATSFILE | -l COUNT INTERVAL_US\n");
    return 2;
  }
  static char buf[65536];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  long long start = now_ns();
  long long end = start + (long long)(atof(argv[1]) * 1e9);
  long long bytes = 0;
  unsigned long long seq = 0;
  for (;;) {
    for (int k = 0; k < 1024; k++) {
      int n = printf("%llu GET /api/items 200 4.2ms\n", seq++);
      if (n < 0) return 1;
      bytes += n;
    }
    if (now_ns() >= end) break;
  }
  fflush(stdout);
  long long elapsed = now_ns() - start;
  FILE *f = fopen(argv[2], "w");
  if (!f) return 1;
  fprintf(f, "%lld %lld\n", bytes, elapsed);
  fclose(f);
  printf("bench-done\n");
  fflush(stdout);
  pause();
  return 0;
}
