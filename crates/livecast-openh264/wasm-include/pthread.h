/* Single-threaded stand-in for <pthread.h> on wasm32 (wasi-libc ships none).
 *
 * Livecast runs openh264 with one thread per encoder (iMultipleThreadIdc = 1), so the
 * thread library is only touched at set-up: mutexes and condition variables succeed as
 * no-ops and pthread_create reports EAGAIN, which openh264 treats as "no worker threads".
 * Everything is static inline: these stubs add no link symbols. Written for Livecast. */
#ifndef LIVECAST_WASM_PTHREAD_H
#define LIVECAST_WASM_PTHREAD_H
#include <errno.h>
#include <time.h>
#include <sched.h>

/* The pthread_* types themselves come from wasi-libc's <sys/types.h>. */
#include <sys/types.h>

#define PTHREAD_SCOPE_SYSTEM 0
#ifndef SCHED_FIFO
#define SCHED_FIFO 1
#endif

static inline int pthread_attr_init(pthread_attr_t *a) { (void)a; return 0; }
static inline int pthread_attr_destroy(pthread_attr_t *a) { (void)a; return 0; }
static inline int pthread_attr_setscope(pthread_attr_t *a, int s) { (void)a; (void)s; return 0; }
static inline int pthread_attr_setschedpolicy(pthread_attr_t *a, int p) { (void)a; (void)p; return 0; }
static inline int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg) {
  (void)t; (void)a; (void)f; (void)arg; return EAGAIN;
}
static inline int pthread_join(pthread_t t, void **r) { (void)t; (void)r; return EINVAL; }
static inline pthread_t pthread_self(void) { return 1; }
static inline int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a) { (void)m; (void)a; return 0; }
static inline int pthread_mutex_destroy(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_trylock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)c; (void)a; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c; (void)m; return 0; }
static inline int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t) {
  (void)c; (void)m; (void)t; return ETIMEDOUT;
}
#endif
