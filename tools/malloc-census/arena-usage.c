// Loaded with LD_PRELOAD into a gateway process: every two seconds, glibc's
// own account of its arenas (mallinfo2) is appended to
// $MALLOC_CENSUS_DIR/arena-usage-<pid>.log, in MiB: what the arenas hold
// (`arena`), how much of it is in use, and how much is free but still
// resident. The difference is the fragmentation docs/architecture.md
// ("Targets", memory) measures.
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *sample(void *unused) {
  (void)unused;
  const char *dir = getenv("MALLOC_CENSUS_DIR");
  char path[512];
  snprintf(path, sizeof path, "%s/arena-usage-%d.log", dir != NULL ? dir : "/tmp", getpid());
  for (;;) {
    sleep(2);
    struct mallinfo2 m = mallinfo2();
    FILE *f = fopen(path, "a");
    if (f == NULL) continue;
    fprintf(f, "%ld arena=%zu inuse=%zu free=%zu mmapped=%zu\n", (long)time(NULL), m.arena >> 20, m.uordblks >> 20, m.fordblks >> 20, m.hblkhd >> 20);
    fclose(f);
  }
  return NULL;
}

__attribute__((constructor)) static void start(void) {
  pthread_t thread;
  if (pthread_create(&thread, NULL, sample, NULL) == 0) pthread_detach(thread);
}
