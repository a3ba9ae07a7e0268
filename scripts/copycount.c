/*
 * LD_PRELOAD shim for scripts/copies.sh: counts the bytes a process copies in
 * user space through memcpy and memmove (the calls Rust makes for copies too
 * large to inline), and the reallocations that moved a block.
 *
 * The counters live in the file named by $COPYCOUNT_FILE, mapped shared, so
 * another process can read them at any moment (before and after a load run)
 * without the counted process exiting. Layout: 16 little-endian u64 words,
 * see the enum below. Counting is relaxed-atomic, so threads may race only
 * with each other's increments, never lose them.
 *
 *   cc -O2 -shared -fPIC -o copycount.so scripts/copycount.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum {
    /* memcpy and memmove together, by size class: calls, then bytes. */
    SMALL_CALLS,  /* < 256 B */
    SMALL_BYTES,
    MEDIUM_CALLS, /* 256 B .. < 16 KiB */
    MEDIUM_BYTES,
    LARGE_CALLS,  /* >= 16 KiB */
    LARGE_BYTES,
    MEMMOVE_CALLS, /* memmove alone (Vec::drain, copy_within), any size */
    MEMMOVE_BYTES,
    REALLOC_CALLS,
    REALLOC_MOVED_CALLS, /* the block moved: up to its old size was copied */
    REALLOC_MOVED_BYTES,
    WORDS = 16
};

static uint64_t fallback[WORDS];
static uint64_t *counters = fallback;

__attribute__((constructor)) static void copycount_init(void) {
    const char *path = getenv("COPYCOUNT_FILE");
    if (!path) return;
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) return;
    if (ftruncate(fd, WORDS * sizeof(uint64_t)) == 0) {
        void *map = mmap(NULL, WORDS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map != MAP_FAILED) counters = map;
    }
    close(fd);
}

static void add(int word, uint64_t n) { __atomic_fetch_add(&counters[word], n, __ATOMIC_RELAXED); }

static void count_copy(size_t n) {
    int cls = n < 256 ? SMALL_CALLS : n < 16384 ? MEDIUM_CALLS : LARGE_CALLS;
    add(cls, 1);
    add(cls + 1, n);
}

/* Fallbacks for calls made before dlsym can answer: byte loops the
 * compiler must not turn back into calls to memcpy (this very function). */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void copy_forward(unsigned char *d, const unsigned char *s, size_t n) {
    while (n--) *d++ = *s++;
}

__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void copy_backward(unsigned char *d, const unsigned char *s, size_t n) {
    d += n, s += n;
    while (n--) *--d = *--s;
}

typedef void *(*copy_fn)(void *, const void *, size_t);
static copy_fn real_memcpy, real_memmove;
static int resolving;

static void resolve(void) {
    if (resolving) return;
    resolving = 1;
    real_memmove = (copy_fn)dlsym(RTLD_NEXT, "memmove");
    real_memcpy = (copy_fn)dlsym(RTLD_NEXT, "memcpy");
    resolving = 0;
}

void *memcpy(void *dst, const void *src, size_t n) {
    count_copy(n);
    if (!real_memcpy) resolve();
    if (real_memcpy) return real_memcpy(dst, src, n);
    copy_forward(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    count_copy(n);
    add(MEMMOVE_CALLS, 1);
    add(MEMMOVE_BYTES, n);
    if (!real_memmove) resolve();
    if (real_memmove) return real_memmove(dst, src, n);
    if ((uintptr_t)dst - (uintptr_t)src >= n) copy_forward(dst, src, n);
    else copy_backward(dst, src, n);
    return dst;
}

void *realloc(void *old, size_t size) {
    static void *(*real)(void *, size_t);
    if (!real) real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    size_t before = old ? malloc_usable_size(old) : 0;
    void *p = real(old, size);
    if (old) {
        add(REALLOC_CALLS, 1);
        if (p && p != old) {
            add(REALLOC_MOVED_CALLS, 1);
            add(REALLOC_MOVED_BYTES, before < size ? before : size);
        }
    }
    return p;
}
