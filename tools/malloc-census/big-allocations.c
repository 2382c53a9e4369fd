// Loaded with LD_PRELOAD into a gateway process: every malloc, calloc and
// realloc of MALLOC_CENSUS_MIN_BYTES or more (default 256 KiB) is written to
// $MALLOC_CENSUS_DIR/big-allocations-<pid>.log with the native stack that
// asked for it. summarise.ts groups them by call site. Why a shim of our own:
// heaptrack is not on this machine and valgrind's massif runs a gateway a
// hundred times slower, which changes the very interleaving being measured
// (docs/measurements.md, "Speed and memory").
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static size_t min_bytes = 256 * 1024;
static int out = -1;
static pthread_mutex_t writing = PTHREAD_MUTEX_INITIALIZER;
// backtrace() may allocate the first time it runs: that allocation is not logged.
static __thread int logging;
// dlsym calls calloc before calloc is found: served from here.
static char early[4096];
static size_t early_used;

static void find_next(void) {
  if (next_malloc != NULL) return;
  next_calloc = dlsym(RTLD_NEXT, "calloc");
  next_realloc = dlsym(RTLD_NEXT, "realloc");
  next_malloc = dlsym(RTLD_NEXT, "malloc");
  const char *min = getenv("MALLOC_CENSUS_MIN_BYTES");
  if (min != NULL) min_bytes = strtoul(min, NULL, 10);
}

static void record(const char *call, size_t bytes) {
  if (logging) return;
  logging = 1;
  void *frames[18];
  int depth = backtrace(frames, 18);
  pthread_mutex_lock(&writing);
  if (out < 0) {
    const char *dir = getenv("MALLOC_CENSUS_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/big-allocations-%d.log", dir != NULL ? dir : "/tmp", getpid());
    out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  }
  if (out >= 0) {
    char line[64];
    int n = snprintf(line, sizeof line, "@@ %s %zu\n", call, bytes);
    if (write(out, line, n) == n && depth > 2) backtrace_symbols_fd(frames + 2, depth - 2, out);
  }
  pthread_mutex_unlock(&writing);
  logging = 0;
}

void *malloc(size_t bytes) {
  find_next();
  void *p = next_malloc(bytes);
  if (bytes >= min_bytes) record("malloc", bytes);
  return p;
}

void *calloc(size_t count, size_t size) {
  if (next_calloc == NULL) {
    size_t bytes = (count * size + 15) & ~(size_t)15;
    if (early_used + bytes <= sizeof early) {
      void *p = early + early_used;
      early_used += bytes;
      return p;
    }
    find_next();
  }
  void *p = next_calloc(count, size);
  if (count * size >= min_bytes) record("calloc", count * size);
  return p;
}

void *realloc(void *old, size_t bytes) {
  find_next();
  void *p = next_realloc(old, bytes);
  if (bytes >= min_bytes) record("realloc", bytes);
  return p;
}
