/* pd_common.h: error codes, slices and small helpers shared by every module.
 * Thread: any. Ownership: nothing here allocates. */
#ifndef PD_COMMON_H
#define PD_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every function returns 0 or a negative PD_E* code; results go through out-params. */
enum {
    PD_OK = 0,
    PD_EINVAL = -1,    /* bad argument or value */
    PD_ENOMEM = -2,    /* allocation failed or memcap reached */
    PD_EIO = -3,       /* read/write/network failure */
    PD_ENOTFOUND = -4, /* no such item */
    PD_EEXIST = -5,    /* already exists */
    PD_ECONFIG = -6,   /* config, goal, rule or pipeline file error */
    PD_EKAFKA = -7,    /* librdkafka error */
    PD_EFULL = -8,     /* bounded queue full: caller applies backpressure */
    PD_EAGAIN = -9,    /* try again later */
    PD_ETIMEOUT = -10,
    PD_ESTATE = -11, /* call not valid in this state */
    PD_EUNSUPPORTED = -12,
    /* decode errors: see pd_decode.h for the full list */
    PD_EDECODE_FIRST = -100,
};

const char *pd_strerror(int err);

/* A byte slice into memory owned by someone else (see each use for whose). */
typedef struct pd_str {
    const char *p;
    uint32_t len;
} pd_str;

#define PD_STR_NULL     ((pd_str){NULL, 0})
#define PD_STR_LIT(s)   ((pd_str){(s), (uint32_t)(sizeof(s) - 1)})
#define PD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PD_UNUSED(x)    ((void)(x))
#define PD_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define PD_MAX(a, b)    ((a) > (b) ? (a) : (b))

static inline pd_str pd_str_c(const char *s)
{
    pd_str r = {s, 0};
    if (s)
        while (s[r.len])
            r.len++;
    return r;
}

bool pd_str_eq(pd_str a, pd_str b);
bool pd_str_eq_c(pd_str a, const char *c);
bool pd_str_ieq_c(pd_str a, const char *c); /* ASCII case-insensitive */
bool pd_str_ieq(pd_str a, pd_str b);
bool pd_str_iprefix(pd_str a, const char *prefix);
/* Glob with '*' and '?', ASCII case-insensitive. */
bool pd_glob_match(const char *pattern, pd_str s);

/* Big-endian integers in byte buffers (record keys and values on Kafka topics). */
static inline void pd_be64_put(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
}

static inline int64_t pd_be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static inline void pd_be32_put(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static inline uint32_t pd_be32_get(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* 64-bit hashes, stable across runs and machines (used in deterministic ids). */
uint64_t pd_hash64(const void *data, size_t len, uint64_t seed);
static inline uint64_t pd_hash_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

#endif
