#include "pd_intern.h"

#include <stdlib.h>
#include <string.h>

/* Open addressing over (hash32, id) slots; strings live in an arena, indexed by id. */
typedef struct {
    uint32_t hash, id;
} slot;

struct pd_intern {
    slot *slots;
    uint32_t mask, count;
    pd_str *strs; /* index id-1 */
    uint32_t strs_cap;
    pd_arena arena;
};

int pd_intern_create(pd_intern **out)
{
    pd_intern *t = calloc(1, sizeof(*t));
    if (!t)
        return PD_ENOMEM;
    t->mask = 1023;
    t->slots = calloc(t->mask + 1, sizeof(slot));
    if (!t->slots) {
        free(t);
        return PD_ENOMEM;
    }
    pd_arena_init(&t->arena, 256 * 1024);
    *out = t;
    return 0;
}

void pd_intern_destroy(pd_intern *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->strs);
    pd_arena_destroy(&t->arena);
    free(t);
}

static uint32_t hash_of(pd_str s)
{
    uint32_t h = (uint32_t)pd_hash64(s.p, s.len, 0);
    return h ? h : 1;
}

static int grow(pd_intern *t)
{
    uint32_t ncap = (t->mask + 1) * 2;
    slot *ns = calloc(ncap, sizeof(slot));
    if (!ns)
        return PD_ENOMEM;
    for (uint32_t i = 0; i <= t->mask; i++) {
        if (!t->slots[i].id)
            continue;
        uint32_t j = t->slots[i].hash & (ncap - 1);
        while (ns[j].id)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->mask = ncap - 1;
    return 0;
}

uint32_t pd_intern_find(const pd_intern *t, pd_str s)
{
    uint32_t h = hash_of(s);
    for (uint32_t j = h & t->mask;; j = (j + 1) & t->mask) {
        const slot *sl = &t->slots[j];
        if (!sl->id)
            return 0;
        if (sl->hash == h && pd_str_eq(t->strs[sl->id - 1], s))
            return sl->id;
    }
}

int pd_intern_get(pd_intern *t, pd_str s, uint32_t *out_id)
{
    uint32_t id = pd_intern_find(t, s);
    if (id) {
        *out_id = id;
        return 0;
    }
    if ((t->count + 1) * 4 >= (t->mask + 1) * 3 && grow(t))
        return PD_ENOMEM;
    if (t->count == t->strs_cap) {
        uint32_t ncap = t->strs_cap ? t->strs_cap * 2 : 1024;
        pd_str *ns = realloc(t->strs, ncap * sizeof(pd_str));
        if (!ns)
            return PD_ENOMEM;
        t->strs = ns;
        t->strs_cap = ncap;
    }
    char *copy = pd_arena_strndup(&t->arena, s.p, s.len);
    if (!copy)
        return PD_ENOMEM;
    id = ++t->count;
    t->strs[id - 1] = (pd_str){copy, s.len};
    uint32_t h = hash_of(s);
    uint32_t j = h & t->mask;
    while (t->slots[j].id)
        j = (j + 1) & t->mask;
    t->slots[j] = (slot){h, id};
    *out_id = id;
    return 0;
}

pd_str pd_intern_str(const pd_intern *t, uint32_t id)
{
    if (id == 0 || id > t->count)
        return PD_STR_NULL;
    return t->strs[id - 1];
}

uint32_t pd_intern_count(const pd_intern *t)
{
    return t->count;
}

size_t pd_intern_bytes(const pd_intern *t)
{
    return (t->mask + 1) * sizeof(slot) + t->strs_cap * sizeof(pd_str) + t->arena.bytes_reserved;
}
