/* Single-threaded stand-in for <semaphore.h> on wasm32 (Debian's wasi-libc's header does
 * not compile without thread support). A semaphore is a plain counter; with no second
 * thread to post, a wait on a zero count returns at once with an error instead of
 * blocking forever. Static inline only: no link symbols. Written for Livecast. */
#ifndef LIVECAST_WASM_SEMAPHORE_H
#define LIVECAST_WASM_SEMAPHORE_H
#include <errno.h>
#include <time.h>

typedef struct { int count; } sem_t;
#define SEM_FAILED ((sem_t *)0)

static inline int sem_init(sem_t *s, int pshared, unsigned value) { (void)pshared; s->count = (int)value; return 0; }
static inline int sem_destroy(sem_t *s) { (void)s; return 0; }
static inline int sem_post(sem_t *s) { s->count++; return 0; }
static inline int sem_trywait(sem_t *s) { if (s->count > 0) { s->count--; return 0; } errno = EAGAIN; return -1; }
static inline int sem_wait(sem_t *s) { return sem_trywait(s); }
static inline int sem_timedwait(sem_t *s, const struct timespec *t) { (void)t; return sem_trywait(s); }
static inline int sem_getvalue(sem_t *s, int *v) { *v = s->count; return 0; }
#endif
