/* Stand-in for <sys/sysctl.h> on wasm32: openh264 asks sysctlbyname("hw.ncpu") for the
 * CPU count; answering -1 makes it fall back to one processor, which is what a single
 * wasm thread has. Static inline only: no link symbols. Written for Livecast. */
#ifndef LIVECAST_WASM_SYS_SYSCTL_H
#define LIVECAST_WASM_SYS_SYSCTL_H
#include <stddef.h>
static inline int sysctlbyname(const char *name, void *old, size_t *oldlen, void *newp, size_t newlen) {
  (void)name; (void)old; (void)oldlen; (void)newp; (void)newlen; return -1;
}
static inline int sysctl(int *name, unsigned namelen, void *old, size_t *oldlen, void *newp, size_t newlen) {
  (void)name; (void)namelen; (void)old; (void)oldlen; (void)newp; (void)newlen; return -1;
}
#endif
