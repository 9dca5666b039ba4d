/* pd_arena.h: bump allocator in chunks; everything is freed at once by pd_arena_destroy
 * or pd_arena_reset. Thread: one owner. Ownership: the arena owns what it returns. */
#ifndef PD_ARENA_H
#define PD_ARENA_H

#include "pd_common.h"

typedef struct pd_arena_chunk pd_arena_chunk;
typedef struct pd_arena {
    pd_arena_chunk *head;
    size_t chunk_size;
    size_t bytes_reserved; /* for memory accounting */
} pd_arena;

void pd_arena_init(pd_arena *a, size_t chunk_size);
void *pd_arena_alloc(pd_arena *a, size_t n); /* 8-byte aligned; NULL on ENOMEM */
char *pd_arena_strndup(pd_arena *a, const char *s, size_t n);
void pd_arena_reset(pd_arena *a); /* keeps the first chunk */
void pd_arena_destroy(pd_arena *a);

#endif
