/* pd_decode_int.h: internals shared by the decoder's format files (pd_decode_*.c). Not a
 * public API: other modules use pd_decode.h.
 *
 * Ownership: everything hangs off the pd_decoder, which owns its token array, skip table,
 * depth stack and scratch; slices returned by the helpers point into the message or the
 * scratch and live until the next event of the same message is decoded.
 * Thread: one decoder per thread. */
#ifndef PD_DECODE_INT_H
#define PD_DECODE_INT_H

#include "pd_decode.h"

#ifndef JSMN_H
/* jsmn's implementation lives in pd_jsmn.c only; everyone else includes the declarations. */
#define JSMN_HEADER
#include <jsmn.h>
#endif

#include <stdio.h>
#include <string.h>

/* A field table's lookup index (see pd_dec_fields), cached per decoder by table address. */
typedef struct pd_dec_index {
    const void *table;
    uint64_t lens; /* bit n: some field has length n (mod 64) */
    uint8_t slot[64];
} pd_dec_index;
#define PD_DEC_INDEX_CACHE 128 /* a power of two, well above the number of tables */

typedef struct pd_dec_frame {
    uint32_t tok; /* the enclosing container (0: top level) */
} pd_dec_frame;

struct pd_decoder {
    pd_decode_opts opts;
    jsmntok_t *tok; /* reusable token array, grown up to opts.max_tokens */
    uint32_t tokcap, ntok;
    uint32_t *next;      /* next[i]: first token index after token i's subtree */
    pd_dec_frame *stack; /* validation stack, opts.max_depth + 1 entries */
    char *scratch;       /* unescaped / lowercased strings of the current event */
    size_t sccap, sclen;
    char *cjs; /* compact copy of the message: strings emptied, for jsmn */
    size_t cjcap;
    uint32_t *quote; /* offsets of the opening and closing quotes of the strings cut out */
    uint8_t *qcheck; /* per string cut: its content needs checking (when qcheck_on) */
    size_t qcap;     /* entries of quote; qcheck has qcap / 2 + 1 */
    bool qcheck_on;
    const char *js; /* current message */
    size_t len;
    pd_decode_error *err;                   /* never NULL while decoding */
    bool scratch_full;                      /* a scratch copy did not fit: the event fails */
    pd_dec_index index[PD_DEC_INDEX_CACHE]; /* open-addressed by table address */
};

/* Field tables: names are lowercase ASCII; keys match case-insensitively. Several names may
 * share one slot (aliases such as "primaryTactic" / "primary_tactic"). */
typedef struct pd_field {
    const char *name;
    uint8_t len;
    uint8_t slot;
} pd_field;
#define PD_F(n, s)                                                                                 \
    {                                                                                              \
        (n), (uint8_t)(sizeof(n) - 1), (s)                                                         \
    }

/* Records into slots[f.slot] the value token of each field present in object `obj`
 * (0 = absent). A field seen twice is PD_EDEC_DUPLICATE; `obj` not an object is
 * PD_EDEC_TYPE naming `path`. */
int pd_dec_fields(pd_decoder *d, uint32_t obj, const char *path, const pd_field *f, size_t nf,
                  uint32_t *slots, size_t nslots);

int pd_dec_fail(pd_decoder *d, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), cold));

/* ASCII case-insensitive comparison of a slice with a lowercase literal, without strlen.
 * OR-ing 0x20 folds letters; the literals hold letters, digits and "/._-" only, whose
 * folded partners are control characters or DEL, which validated text does not hold. */
static inline bool pd_dec_ieq_n(const char *p, const char *lit, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, p + i, 8);
        memcpy(&b, lit + i, 8);
        if ((a | 0x2020202020202020ULL) != (b | 0x2020202020202020ULL))
            return false;
    }
    for (; i < n; i++)
        if ((p[i] | 0x20) != (lit[i] | 0x20))
            return false;
    return true;
}
#define PD_IEQ(s, lit) ((s).len == sizeof(lit) - 1 && pd_dec_ieq_n((s).p, (lit), sizeof(lit) - 1))
#define PD_IPREFIX(s, lit)                                                                         \
    ((s).len >= sizeof(lit) - 1 && pd_dec_ieq_n((s).p, (lit), sizeof(lit) - 1))

static inline bool pd_dec_is(const pd_decoder *d, uint32_t i, jsmntype_t type)
{
    return i && d->tok[i].type == type;
}
/* Absent (0) or a JSON null. */
static inline bool pd_dec_absent(const pd_decoder *d, uint32_t i)
{
    return i == 0 || (d->tok[i].type == JSMN_PRIMITIVE && d->js[d->tok[i].start] == 'n');
}
static inline size_t pd_dec_off(const pd_decoder *d, uint32_t i)
{
    int s = d->tok[i].start;
    return d->tok[i].type == JSMN_STRING ? (size_t)(s - 1) : (size_t)s;
}
/* Raw bytes of a string token (escapes not processed). */
static inline pd_str pd_dec_raw(const pd_decoder *d, uint32_t i)
{
    return (pd_str){d->js + d->tok[i].start, (uint32_t)(d->tok[i].end - d->tok[i].start)};
}

/* Typed getters. Absent or null leaves *out untouched and returns 0; the wrong JSON type is
 * PD_EDEC_TYPE naming `path`. The _req variants make absence PD_EDEC_MISSING. */
int pd_dec_str(pd_decoder *d, uint32_t i, const char *path, pd_str *out);
int pd_dec_str_req(pd_decoder *d, uint32_t i, uint32_t parent, const char *path, pd_str *out);
int pd_dec_bool(pd_decoder *d, uint32_t i, const char *path, bool *out);
int pd_dec_num(pd_decoder *d, uint32_t i, const char *path, double *out);
int pd_dec_u32(pd_decoder *d, uint32_t i, const char *path, uint32_t *out);
/* RFC 3339 string, or a number of epoch milliseconds (OCSF). Bad text is PD_EDEC_VALUE. */
int pd_dec_time(pd_decoder *d, uint32_t i, const char *path, int64_t *out);
/* Checks that i is absent, null, or of the given type (PD_EDEC_TYPE otherwise). */
int pd_dec_expect(pd_decoder *d, uint32_t i, jsmntype_t type, const char *path);
/* First array element index, 0 when the array is absent/empty; the next one is d->next[j]. */
static inline uint32_t pd_dec_first(const pd_decoder *d, uint32_t arr)
{
    return (arr && d->tok[arr].size > 0) ? arr + 1 : 0;
}
static inline uint32_t pd_dec_after(const pd_decoder *d, uint32_t arr, uint32_t j)
{
    uint32_t n = d->next[j];
    return n < d->next[arr] ? n : 0;
}

/* Scratch: copies live until the next event. NULL-free: on exhaustion they return an empty
 * slice and set an error the caller sees through pd_dec_scratch_check. */
pd_str pd_dec_lower(pd_decoder *d, pd_str s);
pd_str pd_dec_upper(pd_decoder *d, pd_str s);
pd_str pd_dec_join(pd_decoder *d, pd_str a, const char *sep, pd_str b);

/* Azure resource ids: fills id, canon, account (subscription), group, type, name and a first
 * guess at the cloud (azure; onprem for Arc machines). */
void pd_dec_azure_resource(pd_decoder *d, pd_str id, pd_resource *r);
/* Splits "a, b,c" and ORs each tactic's bit into *bits; unknown words are ignored. */
void pd_dec_tactics(pd_str list, uint32_t *bits);
pd_severity pd_dec_severity(pd_str s);
/* Lowercase, case-insensitive substring search. */
bool pd_dec_icontains(pd_str hay, const char *needle);
/* Slice after "<seg>/" (case-insensitive) up to the next '/', or empty. */
pd_str pd_dec_path_seg(pd_str path, const char *seg);
pd_str pd_dec_last_seg(pd_str path, char sep);
/* Adds a framework reference ("CIS:4.1") if there is room. */
void pd_dec_add_framework(pd_event *e, pd_str f);
/* Reads a {"k":"v",...} object (string/number/bool values) or an array of {"key"|"name",
 * "value"} objects into e->resource.tags. */
int pd_dec_tags(pd_decoder *d, uint32_t i, const char *path, pd_resource *r);

/* The top-level keys format detection looks at; pd_dec_defender reuses the same scan. */
enum {
    PD_TOP_TYPE,
    PD_TOP_ID,
    PD_TOP_NAME,
    PD_TOP_PROPS,
    PD_TOP_TAGS,
    PD_TOP_LOCATION,
    PD_TOP_ENRICH,
    PD_TOP_SECENRICH,
    PD_TOP_ALERTID,
    PD_TOP_ALERTTYPE,
    PD_TOP_SCHEMA,
    PD_TOP_DETAIL,
    PD_TOP_FINDING,
    PD_TOP_CLASS,
    PD_TOP_RECORDS,
    PD_TOP_FCLASS,
    PD_TOP_RESOURCE,
    PD_TOP_RESNAME,
    PD_TOP__N
};

/* A string token's size field carries this flag when the string holds a backslash (set by
 * validation; jsmn's own size of a string is 0 or 1). */
#define PD_DEC_TOK_ESC (1 << 30)

/* Format decoders: decode one event object into *e (already reset). pd_dec_defender gets the
 * object's PD_TOP_* slots from detection. */
int pd_dec_defender(pd_decoder *d, uint32_t obj, const uint32_t *top, pd_event *e);
int pd_dec_asff(pd_decoder *d, uint32_t obj, pd_event *e);
int pd_dec_scc(pd_decoder *d, uint32_t obj, uint32_t resource, pd_event *e);
int pd_dec_ocsf(pd_decoder *d, uint32_t obj, pd_event *e);

#endif
