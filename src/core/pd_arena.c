#include "pd_arena.h"

#include <stdlib.h>
#include <string.h>

struct pd_arena_chunk {
    pd_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void pd_arena_init(pd_arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    a->bytes_reserved = 0;
}

void *pd_arena_alloc(pd_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    pd_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > a->chunk_size ? n : a->chunk_size;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->bytes_reserved += sizeof(*c) + cap;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *pd_arena_strndup(pd_arena *a, const char *s, size_t n)
{
    char *p = pd_arena_alloc(a, n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void pd_arena_reset(pd_arena *a)
{
    pd_arena_chunk *c = a->head;
    if (!c)
        return;
    pd_arena_chunk *keep = c;
    while (keep->next)
        keep = keep->next; /* the oldest, usually chunk_size */
    while (c) {
        pd_arena_chunk *next = c->next;
        if (c != keep) {
            a->bytes_reserved -= sizeof(*c) + c->cap;
            free(c);
        }
        c = next;
    }
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
}

void pd_arena_destroy(pd_arena *a)
{
    if (!a)
        return;
    pd_arena_chunk *c = a->head;
    while (c) {
        pd_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->bytes_reserved = 0;
}
