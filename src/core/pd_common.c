#include "pd_common.h"

#include <string.h>

const char *pd_strerror(int err)
{
    switch (err) {
    case PD_OK:
        return "ok";
    case PD_EINVAL:
        return "invalid argument";
    case PD_ENOMEM:
        return "out of memory";
    case PD_EIO:
        return "i/o error";
    case PD_ENOTFOUND:
        return "not found";
    case PD_EEXIST:
        return "already exists";
    case PD_ECONFIG:
        return "configuration error";
    case PD_EKAFKA:
        return "kafka error";
    case PD_EFULL:
        return "queue full";
    case PD_EAGAIN:
        return "try again";
    case PD_ETIMEOUT:
        return "timed out";
    case PD_ESTATE:
        return "invalid state";
    case PD_EUNSUPPORTED:
        return "unsupported";
    default:
        return err <= PD_EDECODE_FIRST ? "decode error" : "unknown error";
    }
}

static inline unsigned char pd_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool pd_str_eq(pd_str a, pd_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool pd_str_eq_c(pd_str a, const char *c)
{
    return pd_str_eq(a, pd_str_c(c));
}

bool pd_str_ieq(pd_str a, pd_str b)
{
    if (a.len != b.len)
        return false;
    for (uint32_t i = 0; i < a.len; i++)
        if (pd_lower((unsigned char)a.p[i]) != pd_lower((unsigned char)b.p[i]))
            return false;
    return true;
}

bool pd_str_ieq_c(pd_str a, const char *c)
{
    return pd_str_ieq(a, pd_str_c(c));
}

bool pd_str_iprefix(pd_str a, const char *prefix)
{
    pd_str p = pd_str_c(prefix);
    if (p.len > a.len)
        return false;
    a.len = p.len;
    return pd_str_ieq(a, p);
}

bool pd_glob_match(const char *pat, pd_str s)
{
    /* Iterative matcher with one backtrack point: linear for '*'-only patterns. */
    uint32_t si = 0, star_si = 0;
    const char *star = NULL;
    while (si < s.len) {
        if (*pat == '*') {
            star = pat++;
            star_si = si;
        } else if (*pat && (*pat == '?' ||
                            pd_lower((unsigned char)*pat) == pd_lower((unsigned char)s.p[si]))) {
            pat++;
            si++;
        } else if (star) {
            pat = star + 1;
            si = ++star_si;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* FNV-1a 64 with a final avalanche: simple, stable and good enough for ids and tables. */
uint64_t pd_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}
