/* pd_ktest_sig.h: reading `postured run`'s output topics in the Kafka tests: signal id sets
 * (with and without duplicates), per-resource and timer signals, the last status value of
 * each goal, dead letters with their headers. Header-only, for test programs that include
 * pd_test.h and pd_ktest.h first. Thread: the test's thread. */
#ifndef PD_KTEST_SIG_H
#define PD_KTEST_SIG_H

#include <math.h>

/* ---- signal and status sets ----------------------------------------------------------- */

typedef struct idset {
    char (*ids)[33];
    uint32_t n, cap;
} idset;

static inline void idset_add(idset *s, const char *id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->ids = realloc(s->ids, s->cap * sizeof(*s->ids));
        assert_non_null(s->ids);
    }
    memcpy(s->ids[s->n], id, 32);
    s->ids[s->n][32] = '\0';
    s->n++;
}

static inline int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static inline void idset_uniq(idset *s)
{
    qsort(s->ids, s->n, sizeof(*s->ids), id_cmp);
    uint32_t w = 0;
    for (uint32_t i = 0; i < s->n; i++)
        if (w == 0 || memcmp(s->ids[w - 1], s->ids[i], 32))
            memcpy(s->ids[w++], s->ids[i], 33);
    s->n = w;
}

static inline void idset_copy_sorted(idset *dst, const idset *src)
{
    memset(dst, 0, sizeof(*dst));
    for (uint32_t i = 0; i < src->n; i++)
        idset_add(dst, src->ids[i]);
    if (dst->n)
        qsort(dst->ids, dst->n, sizeof(*dst->ids), id_cmp);
}

static inline uint32_t raw_count(const idset *raw, const char *id)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < raw->n; i++)
        n += memcmp(raw->ids[i], id, 32) == 0;
    return n;
}

/* Records whose id appears more often than in ref (at most once when ref lacks it). */
static inline uint32_t count_excess(const idset *raw, const idset *ref)
{
    uint32_t excess = 0;
    for (uint32_t i = 0; i < raw->n;) {
        uint32_t j = i;
        while (j < raw->n && !memcmp(raw->ids[j], raw->ids[i], 32))
            j++;
        uint32_t allowed = raw_count(ref, raw->ids[i]);
        if (allowed == 0)
            allowed = 1;
        if (j - i > allowed)
            excess += j - i - allowed;
        i = j;
    }
    return excess;
}

static inline bool idset_has(const idset *s, const char *id)
{
    return bsearch(id, s->ids, s->n, sizeof(*s->ids), id_cmp) != NULL;
}

/* The signal's own id (the first "id" of the line) and whether it is about one resource. */
/* Signals raised when the fleet's event-time watermark passes a deadline: which event
 * crosses it depends on the order across partitions. */
static inline bool is_timer(const char *line)
{
    return strstr(line, "\"type\":\"coverage.unknown\"") ||
           strstr(line, "\"type\":\"sla.expired\"");
}

static inline bool signal_id(const char *line, size_t len, char id[33], bool *per_resource)
{
    const char *p = strstr(line, "\"id\":\"");
    if (!p || (size_t)(p - line) + 6 + 32 > len)
        return false;
    memcpy(id, p + 6, 32);
    id[32] = '\0';
    *per_resource = strstr(line, "\"resource\":{") != NULL;
    return true;
}

typedef struct outputs {
    idset all, per_resource;
    idset timer;  /* per-resource signals raised by event-time timers (fleet watermark) */
    idset breach; /* breach-assumption signals (the correlator's) */
    uint64_t records;
    uint32_t all_records; /* signal records before removing duplicate ids */
    idset raw;            /* every signal record's id, sorted, duplicates kept */
    /* goal id -> last status value */
    char goals[32][64];
    double values[32];
    bool has_value[32];
    uint32_t ngoals;
    uint32_t dlq, dlq_bad_headers;
} outputs;

static inline void out_signal(void *ctx, const rd_kafka_message_t *m)
{
    outputs *o = ctx;
    char *line = strndup(m->payload, m->len);
    char id[33];
    bool per = false;
    assert_true(signal_id(line, m->len, id, &per));
    idset_add(&o->all, id);
    if (per)
        idset_add(&o->per_resource, id);
    if (per && is_timer(line))
        idset_add(&o->timer, id);
    if (strstr(line, "\"signal\":\"breach\""))
        idset_add(&o->breach, id);
    o->records++;
    free(line);
}

static inline void out_status(void *ctx, const rd_kafka_message_t *m)
{
    outputs *o = ctx;
    char key[64];
    size_t kl = m->key_len < sizeof(key) - 1 ? m->key_len : sizeof(key) - 1;
    memcpy(key, m->key, kl);
    key[kl] = '\0';
    char *js = strndup(m->payload, m->len);
    const char *v = strstr(js, "\"value\":");
    uint32_t i = 0;
    while (i < o->ngoals && strcmp(o->goals[i], key))
        i++;
    if (i == o->ngoals && o->ngoals < 32)
        snprintf(o->goals[o->ngoals++], 64, "%s", key);
    if (i < 32) {
        o->has_value[i] = v && strncmp(v + 8, "null", 4);
        o->values[i] = v ? strtod(v + 8, NULL) : 0;
    }
    free(js);
}

static inline void out_dlq(void *ctx, const rd_kafka_message_t *m)
{
    outputs *o = ctx;
    char h[256];
    o->dlq++;
    const char *reason = pd_ktest_header(m, "postured.reason", h, sizeof(h));
    if (!*reason || !strcmp(reason, "error"))
        o->dlq_bad_headers++;
    if (strncmp(pd_ktest_header(m, "postured.source.topic", h, sizeof(h)), "pd-", 3))
        o->dlq_bad_headers++;
    if (!*pd_ktest_header(m, "postured.source.offset", h, sizeof(h)) ||
        !*pd_ktest_header(m, "postured.source.partition", h, sizeof(h)) ||
        !*pd_ktest_header(m, "postured.error", h, sizeof(h)))
        o->dlq_bad_headers++;
    /* the original bytes: our malformed messages all start with "BAD" or are special */
    if (!(m->len == 0 || (m->len >= 3 && !memcmp(m->payload, "BAD", 3)) ||
          (m->len >= 1 && ((const char *)m->payload)[0] == '{') ||
          (m->len >= 1 && ((const char *)m->payload)[0] == '[')))
        o->dlq_bad_headers++;
}

static inline void read_outputs_with(const pd_kafka_conf *conf, const char *prefix, outputs *o)
{
    char t[160];
    memset(o, 0, sizeof(*o));
    snprintf(t, sizeof(t), "%s-drift", prefix);
    pd_ktest_collect(conf, t, 3000, 120, out_signal, o);
    snprintf(t, sizeof(t), "%s-breach", prefix);
    pd_ktest_collect(conf, t, 2000, 60, out_signal, o);
    snprintf(t, sizeof(t), "%s-status", prefix);
    pd_ktest_collect(conf, t, 2000, 60, out_status, o);
    snprintf(t, sizeof(t), "%s-dlq", prefix);
    pd_ktest_collect(conf, t, 2000, 60, out_dlq, o);
    o->all_records = o->all.n;
    idset_copy_sorted(&o->raw, &o->all);
    idset_uniq(&o->all);
    idset_uniq(&o->per_resource);
    idset_uniq(&o->timer);
    idset_uniq(&o->breach);
}

static inline void outputs_free(outputs *o)
{
    free(o->all.ids);
    free(o->per_resource.ids);
    free(o->raw.ids);
    free(o->timer.ids);
    free(o->breach.ids);
}

/* The final goal values of o equal ref's (2 decimals: replay's table prints that many). */
static inline void check_goal_values(const char (*goals)[64], const double *values,
                                     const bool *has_value, uint32_t ngoals, const outputs *o)
{
    for (uint32_t i = 0; i < ngoals; i++) {
        uint32_t j = 0;
        while (j < o->ngoals && strcmp(o->goals[j], goals[i]))
            j++;
        if (j == o->ngoals)
            fail_msg("goal %s has no status record", goals[i]);
        assert_int_equal(o->has_value[j], has_value[i]);
        if (has_value[i] && fabs(o->values[j] - values[i]) > 0.006)
            fail_msg("goal %s: run %.4f, reference %.4f", goals[i], o->values[j], values[i]);
    }
}

#endif
