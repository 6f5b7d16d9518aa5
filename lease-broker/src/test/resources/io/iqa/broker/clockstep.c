/*
 * A wall-clock step for one process, for tests: LD_PRELOAD this with CLOCKSTEP_FILE naming a file
 * that holds a number of seconds; CLOCK_REALTIME (clock_gettime, gettimeofday, time) reads that
 * much later (or earlier), as after an NTP or operator step. CLOCK_MONOTONIC is left alone. Debian's
 * libfaketime would be the tool, but redis-server (jemalloc) does not start under it; this calls the
 * kernel directly and allocates nothing, so it can run under any allocator.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long step_seconds(void) {
  const char *file = getenv("CLOCKSTEP_FILE");
  if (file == NULL) {
    return 0;
  }
  int fd = open(file, O_RDONLY);
  if (fd < 0) {
    return 0;
  }
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) {
    return 0;
  }
  buf[n] = 0;
  return strtol(buf, NULL, 10);
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
  int r = (int) syscall(SYS_clock_gettime, clock, ts);
  if (r == 0 && ts != NULL && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
    ts->tv_sec += step_seconds();
  }
  return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
  int r = (int) syscall(SYS_gettimeofday, tv, tz);
  if (r == 0 && tv != NULL) {
    tv->tv_sec += step_seconds();
  }
  return r;
}

time_t time(time_t *out) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  if (out != NULL) {
    *out = tv.tv_sec;
  }
  return tv.tv_sec;
}
