/* LD_PRELOAD shim that lets libfaketime run inside the Debian redis-server.
 *
 * Why: redis-server is linked against libjemalloc, and libfaketime cannot start
 * under jemalloc (libfaketime issue #130: its lazy init calls dlsym -> calloc ->
 * jemalloc init -> clock_gettime -> libfaketime init again; the process hangs).
 * Routing the plain allocator entry points to glibc's own allocator breaks that
 * cycle.  Only for the faketime check in tests/README.md; never used by the suite.
 *
 * Build: cc -shared -fPIC -O2 -o /tmp/faketime_malloc_shim.so tests/tools/faketime_malloc_shim.c -ldl
 * Use:   LD_PRELOAD=/tmp/faketime_malloc_shim.so:/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

void *malloc(size_t n) { return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
void *valloc(size_t n) { return __libc_valloc(n); }
void *pvalloc(size_t n) { return __libc_pvalloc(n); }

int posix_memalign(void **out, size_t a, size_t n) {
    if (a < sizeof(void *) || (a & (a - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(a, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

/* glibc's malloc_usable_size (jemalloc's would be asked about a glibc chunk). */
size_t malloc_usable_size(void *p) {
    static size_t (*libc_usable)(void *);
    if (libc_usable == NULL) {
        void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        libc_usable = (size_t (*)(void *))dlsym(h, "malloc_usable_size");
    }
    return libc_usable(p);
}
