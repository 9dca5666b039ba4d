/* pd_goalfold.c: the goal stage's fold over state partitions' partial aggregates, and their
 * wire form. See pd_goalfold.h. */
#include "pd_goalfold.h"

#include "pd_msgpack.h"
#include "pd_time.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fgoal {
    const pd_goal *g;
    uint64_t digest;
    pd_goal_partial *parts; /* one per partition (all zero until it reports) */
    pd_goal_partial sum;
    int state; /* -1 unset, 0 breached, 1 met */
    bool had_value;
    double last_value;
    int64_t changed_ms;
} fgoal;

struct pd_goalfold {
    const pd_goal_set *set;
    uint32_t ngoals, nparts;
    fgoal *goals;
    char *pipeline;
    uint32_t pipeline_len;
    pd_signal_fn emit;
    void *emit_ctx;
    pd_goal_status_fn on_status;
    void *status_ctx;
};

static int grow_parts(pd_goalfold *f, uint32_t n)
{
    if (n <= f->nparts)
        return 0;
    if (n > PD_GOALFOLD_MAX_PARTITIONS)
        return PD_EINVAL;
    for (uint32_t i = 0; i < f->ngoals; i++) {
        fgoal *G = &f->goals[i];
        pd_goal_partial *np = realloc(G->parts, (size_t)n * sizeof(*np));
        if (!np)
            return PD_ENOMEM;
        /* Goals before i already grew: zeroing only the new tail keeps that consistent. */
        for (uint32_t k = f->nparts; k < n; k++)
            pd_goal_partial_init(&np[k]);
        G->parts = np;
    }
    f->nparts = n;
    return 0;
}

int pd_goalfold_create(const pd_goal_set *goals, pd_str pipeline, uint32_t npartitions,
                       pd_signal_fn emit, void *emit_ctx, pd_goal_status_fn on_status,
                       void *status_ctx, pd_goalfold **out)
{
    *out = NULL;
    if (npartitions > PD_GOALFOLD_MAX_PARTITIONS)
        return PD_EINVAL;
    int rc = PD_ENOMEM;
    pd_goalfold *f = calloc(1, sizeof(*f));
    if (!f)
        return PD_ENOMEM;
    f->set = goals;
    f->ngoals = goals ? pd_goal_set_count(goals) : 0;
    f->emit = emit;
    f->emit_ctx = emit_ctx;
    f->on_status = on_status;
    f->status_ctx = status_ctx;
    if (!(f->pipeline = malloc((size_t)pipeline.len + 1)))
        goto fail;
    if (pipeline.len)
        memcpy(f->pipeline, pipeline.p, pipeline.len);
    f->pipeline[pipeline.len] = '\0';
    f->pipeline_len = pipeline.len;
    if (f->ngoals && !(f->goals = calloc(f->ngoals, sizeof(*f->goals))))
        goto fail;
    for (uint32_t i = 0; i < f->ngoals; i++) {
        fgoal *G = &f->goals[i];
        G->g = pd_goal_set_at(goals, i);
        G->digest = pd_goal_digest(G->g);
        G->state = -1;
        pd_goal_partial_init(&G->sum);
    }
    if ((rc = grow_parts(f, npartitions)))
        goto fail;
    *out = f;
    return 0;
fail:
    pd_goalfold_destroy(f);
    return rc;
}

void pd_goalfold_destroy(pd_goalfold *f)
{
    if (!f)
        return;
    for (uint32_t i = 0; f->goals && i < f->ngoals; i++) {
        fgoal *G = &f->goals[i];
        for (uint32_t k = 0; G->parts && k < f->nparts; k++)
            pd_goal_partial_free(&G->parts[k]);
        free(G->parts);
        pd_goal_partial_free(&G->sum);
    }
    free(f->goals);
    free(f->pipeline);
    free(f);
}

uint32_t pd_goalfold_partitions(const pd_goalfold *f)
{
    return f->nparts;
}

int pd_goalfold_goal_find(const pd_goalfold *f, pd_str id, uint32_t *gi)
{
    for (uint32_t i = 0; i < f->ngoals; i++) {
        const char *s = f->goals[i].g->id;
        if (strlen(s) == id.len && (!id.len || !memcmp(s, id.p, id.len))) {
            *gi = i;
            return 0;
        }
    }
    return PD_ENOTFOUND;
}

/* Deep copy (the ctls array) into dst, reusing its buffer. */
static int partial_copy(pd_goal_partial *dst, const pd_goal_partial *src)
{
    pd_goal_partial_ctl *c = dst->ctls;
    uint32_t cap = dst->ctls_cap;
    if (src->nctls > cap) {
        pd_goal_partial_ctl *nc = realloc(c, (size_t)src->nctls * sizeof(*nc));
        if (!nc)
            return PD_ENOMEM;
        c = nc;
        cap = src->nctls;
    }
    *dst = *src;
    dst->ctls = c;
    dst->ctls_cap = cap;
    if (src->nctls)
        memcpy(c, src->ctls, (size_t)src->nctls * sizeof(*c));
    return 0;
}

static void fold_status(const pd_goalfold *f, uint32_t gi, pd_goal_status *st)
{
    const fgoal *G = &f->goals[gi];
    pd_goal_partial_status(G->g, &G->sum, st);
    st->index = gi;
    st->changed_ms = G->changed_ms; /* 0 until the first flip, as the engine's */
    st->met = G->state == 1;
}

static int emit_goal(pd_goalfold *f, fgoal *G, int ns, const pd_goal_status *st, int64_t t_ms)
{
    /* The fields and id scheme of the engine's eval_goal, so a scaled-out pipeline emits the
     * same goal signals as one engine would. */
    pd_signal s;
    memset(&s, 0, sizeof(s));
    s.kind = PD_SIGNAL_DRIFT;
    s.type = ns == 0 ? "goal.breached" : "goal.restored";
    s.time_ms = t_ms;
    s.pipeline = (pd_str){f->pipeline, f->pipeline_len};
    s.has_goal = true;
    s.goal.id = pd_str_c(G->g->id);
    s.goal.title = pd_str_c(G->g->title);
    s.goal.kind = pd_goal_kind_name(G->g->kind);
    s.goal.value = st->value;
    s.goal.target = pd_str_c(G->g->target_text);
    s.goal.met = pd_goal_next_state(G->g, G->state, st) == 1;
    s.severity = G->g->severity;
    char vb[32], tb[24];
    snprintf(vb, sizeof(vb), "%.6g", st->value);
    snprintf(tb, sizeof(tb), "%lld", (long long)t_ms);
    pd_str parts[5] = {pd_str_c(s.type), s.goal.id, pd_str_c(vb), PD_STR_NULL, pd_str_c(tb)};
    pd_signal_make_id(s.id, parts, 5);
    return f->emit ? f->emit(f->emit_ctx, &s) : 0;
}

int pd_goalfold_update(pd_goalfold *f, uint32_t goal_index, uint32_t partition,
                       const pd_goal_partial *p, int64_t t_ms)
{
    if (goal_index >= f->ngoals)
        return PD_ENOTFOUND;
    fgoal *G = &f->goals[goal_index];
    if (p->digest && p->digest != G->digest)
        return PD_ESTATE;
    if (partition >= PD_GOALFOLD_MAX_PARTITIONS)
        return PD_EINVAL;
    int rc = grow_parts(f, partition + 1);
    if (rc || (rc = partial_copy(&G->parts[partition], p)))
        return rc;
    /* Recomputed from the partitions, not kept as a running sum: the doubles (event-fed score
     * and compliance) would drift with every subtract-and-add, and there are few partitions. */
    pd_goal_partial_reset(&G->sum);
    for (uint32_t k = 0; k < f->nparts; k++)
        if ((rc = pd_goal_partial_add(&G->sum, &G->parts[k])))
            return rc;
    G->sum.digest = G->digest;
    /* Control/SLA: zero violators stays a value once the fleet had one (the engine's sticky
     * has_value), even if the partitions that had it were replaced by empty ones. */
    G->sum.has_value = G->sum.has_value || G->had_value;
    pd_goal_status st;
    if (!pd_goal_partial_status(G->g, &G->sum, &st))
        return 0;
    int ns = pd_goal_next_state(G->g, G->state, &st);
    bool changed_value = !G->had_value || st.value != G->last_value;
    int old = G->state;
    G->had_value = true;
    G->last_value = st.value;
    if (ns != old) {
        G->state = ns;
        G->changed_ms = t_ms;
        if (old != -1 || ns == 0)
            rc = emit_goal(f, G, ns, &st, t_ms);
    }
    if ((changed_value || ns != old) && f->on_status) {
        fold_status(f, goal_index, &st);
        f->on_status(f->status_ctx, &st);
    }
    return rc;
}

void pd_goalfold_status(const pd_goalfold *f, uint32_t gi, pd_goal_status *out)
{
    fold_status(f, gi, out);
}

void pd_goalfold_status_json(const pd_goalfold *f, uint32_t gi, pd_buf *out)
{
    pd_goal_status st;
    fold_status(f, gi, &st);
    pd_goal_status_json(&st, f->goals[gi].state, out);
}

/* ---------- wire form ---------- */

static int buf_write(void *data, const char *p, size_t n)
{
    pd_buf *b = data;
    pd_buf_append(b, p, n);
    return b->oom ? -1 : 0;
}

static void pack_key(msgpack_packer *pk, const char *k)
{
    size_t n = strlen(k);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, k, n);
}

#define NCOUNTERS 10

int pd_goal_partial_pack(const pd_goal *g, uint32_t partition, int64_t t_ms,
                         const pd_goal_partial *p, pd_buf *out)
{
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 9);
    pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, PD_GOAL_PARTIAL_VERSION);
    pack_key(&pk, "goal");
    size_t n = strlen(g->id);
    msgpack_pack_str(&pk, n);
    msgpack_pack_str_body(&pk, g->id, n);
    pack_key(&pk, "gd");
    msgpack_pack_uint64(&pk, pd_goal_digest(g));
    pack_key(&pk, "part");
    msgpack_pack_uint32(&pk, partition);
    pack_key(&pk, "t");
    msgpack_pack_int64(&pk, t_ms);
    pack_key(&pk, "c");
    const uint64_t c[NCOUNTERS] = {p->in_scope, p->res_bad, p->res_healthy, p->res_na,
                                   p->sla_viol, p->pc_h,    p->pc_u,        p->ev_records,
                                   p->score_fp, p->score_n};
    msgpack_pack_array(&pk, NCOUNTERS);
    for (int i = 0; i < NCOUNTERS; i++)
        msgpack_pack_uint64(&pk, c[i]);
    pack_key(&pk, "ev");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_double(&pk, p->ev_num);
    msgpack_pack_double(&pk, p->ev_den);
    pack_key(&pk, "hv");
    if (p->has_value)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pack_key(&pk, "ctl");
    msgpack_pack_array(&pk, p->nctls);
    for (uint32_t i = 0; i < p->nctls; i++) {
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint64(&pk, p->ctls[i].key);
        msgpack_pack_uint64(&pk, p->ctls[i].h);
        msgpack_pack_uint64(&pk, p->ctls[i].u);
    }
    if (out->oom) {
        out->len = start;
        return PD_ENOMEM;
    }
    return 0;
}

static bool key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
}

static bool get_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = o->via.u64;
    return true;
}

static bool get_f64(const msgpack_object *o, double *out)
{
    if (o->type != MSGPACK_OBJECT_FLOAT64 && o->type != MSGPACK_OBJECT_FLOAT32)
        return false;
    *out = o->via.f64;
    return *out == *out; /* NaN is no count */
}

static int dec_ctls(const msgpack_object *v, pd_goal_partial *out, const char **why)
{
    if (v->type != MSGPACK_OBJECT_ARRAY) {
        *why = "ctl is not an array";
        return PD_EINVAL;
    }
    uint32_t n = v->via.array.size;
    if (n > out->ctls_cap) {
        pd_goal_partial_ctl *nc = realloc(out->ctls, (size_t)n * sizeof(*nc));
        if (!nc)
            return PD_ENOMEM;
        out->ctls = nc;
        out->ctls_cap = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *e = &v->via.array.ptr[i];
        pd_goal_partial_ctl *c = &out->ctls[i];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 3 ||
            !get_u64(&e->via.array.ptr[0], &c->key) || !get_u64(&e->via.array.ptr[1], &c->h) ||
            !get_u64(&e->via.array.ptr[2], &c->u)) {
            *why = "ctl entry is not [u64, u64, u64]";
            return PD_EINVAL;
        }
        /* pd_goal_partial_add merges sorted arrays: unsorted or repeated keys would
         * double-count. */
        if (i && c->key <= out->ctls[i - 1].key) {
            *why = "ctl keys not strictly ascending";
            return PD_EINVAL;
        }
        /* Each ratio is (h << 32) / (h + u): keep the shift and the sum from overflowing. */
        if (c->h > UINT32_MAX || c->u > UINT32_MAX) {
            *why = "ctl count out of range";
            return PD_EINVAL;
        }
    }
    out->nctls = n;
    return 0;
}

static int dec_map(const msgpack_object *o, const void *data, size_t len, pd_str *goal_id,
                   uint32_t *partition, int64_t *t_ms, pd_goal_partial *out, const char **why)
{
    enum { K_V = 1, K_GOAL = 2, K_GD = 4, K_PART = 8, K_T = 16, K_C = 32, K_EV = 64, K_HV = 128 };
    const uint32_t required = K_V | K_GOAL | K_PART | K_T | K_C | K_EV | K_HV;
    uint32_t seen = 0, ctl_seen = 0;
    if (o->type != MSGPACK_OBJECT_MAP) {
        *why = "partial is not a map";
        return PD_EINVAL;
    }
    /* The version decides how the rest reads: find it first. */
    for (uint32_t i = 0; i < o->via.map.size; i++)
        if (key_is(&o->via.map.ptr[i].key, "v")) {
            uint64_t v;
            if (!get_u64(&o->via.map.ptr[i].val, &v)) {
                *why = "v is not an unsigned integer";
                return PD_EINVAL;
            }
            if (v != PD_GOAL_PARTIAL_VERSION) {
                *why = "unsupported partial version";
                return PD_EINVAL;
            }
        }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        uint32_t bit = 0;
        bool ok = true;
        uint64_t u = 0;
        if (key_is(k, "v")) {
            bit = K_V; /* checked above */
        } else if (key_is(k, "goal")) {
            bit = K_GOAL;
            const char *base = data;
            /* goal_id points into data: msgpack-c references str bodies in the input. */
            ok = v->type == MSGPACK_OBJECT_STR && v->via.str.size > 0 && v->via.str.size <= 256 &&
                 v->via.str.ptr >= base && v->via.str.ptr + v->via.str.size <= base + len;
            if (ok)
                *goal_id = (pd_str){v->via.str.ptr, v->via.str.size};
        } else if (key_is(k, "gd")) {
            bit = K_GD;
            ok = get_u64(v, &out->digest);
        } else if (key_is(k, "part")) {
            bit = K_PART;
            ok = get_u64(v, &u) && u < PD_GOALFOLD_MAX_PARTITIONS;
            *partition = (uint32_t)u;
        } else if (key_is(k, "t")) {
            bit = K_T;
            if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
                *t_ms = (int64_t)v->via.u64;
            else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                *t_ms = v->via.i64;
            else
                ok = false;
        } else if (key_is(k, "c")) {
            bit = K_C;
            uint64_t c[NCOUNTERS];
            ok = v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size == NCOUNTERS;
            for (uint32_t j = 0; ok && j < NCOUNTERS; j++)
                ok = get_u64(&v->via.array.ptr[j], &c[j]);
            if (ok) {
                out->in_scope = c[0];
                out->res_bad = c[1];
                out->res_healthy = c[2];
                out->res_na = c[3];
                out->sla_viol = c[4];
                out->pc_h = c[5];
                out->pc_u = c[6];
                out->ev_records = c[7];
                out->score_fp = c[8];
                out->score_n = c[9];
            }
        } else if (key_is(k, "ev")) {
            bit = K_EV;
            ok = v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size == 2 &&
                 get_f64(&v->via.array.ptr[0], &out->ev_num) &&
                 get_f64(&v->via.array.ptr[1], &out->ev_den);
        } else if (key_is(k, "hv")) {
            bit = K_HV;
            ok = v->type == MSGPACK_OBJECT_BOOLEAN;
            if (ok)
                out->has_value = v->via.boolean;
        } else if (key_is(k, "ctl")) {
            if (ctl_seen++) {
                *why = "key ctl repeated";
                return PD_EINVAL;
            }
            int rc = dec_ctls(v, out, why);
            if (rc)
                return rc;
            continue;
        } else {
            *why = "unknown key";
            return PD_EINVAL;
        }
        if (!ok) {
            *why = "a field has the wrong type or is out of range";
            return PD_EINVAL;
        }
        if (seen & bit) {
            *why = "repeated key";
            return PD_EINVAL;
        }
        seen |= bit;
    }
    if ((seen & required) != required) {
        *why = "missing field";
        return PD_EINVAL;
    }
    /* The counters must describe a state some engine could be in. */
    if (out->res_bad + out->res_healthy + out->res_na < out->res_bad ||
        out->res_bad + out->res_healthy + out->res_na > out->in_scope) {
        *why = "resource counts exceed in_scope";
        return PD_EINVAL;
    }
    return 0;
}

int pd_goal_partial_unpack(const void *data, size_t len, pd_str *goal_id, uint32_t *partition,
                           int64_t *t_ms, pd_goal_partial *out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    *goal_id = PD_STR_NULL;
    *partition = 0;
    *t_ms = PD_TIME_NONE;
    pd_goal_partial_reset(out);
    if (!data || !pd_msgpack_sane(data, len)) {
        *why = "truncated or corrupt msgpack";
        return PD_EINVAL;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&u, data, len, &off);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        *why = "partial too large or corrupt";
        rc = PD_EINVAL;
    } else if (ur != MSGPACK_UNPACK_SUCCESS) {
        *why = "not one msgpack value";
        rc = PD_EINVAL;
    } else if (off != len) {
        *why = "bytes after the partial";
        rc = PD_EINVAL;
    } else {
        rc = dec_map(&u.data, data, len, goal_id, partition, t_ms, out, why);
    }
    msgpack_unpacked_destroy(&u);
    if (rc) {
        *goal_id = PD_STR_NULL;
        pd_goal_partial_reset(out);
    }
    return rc;
}
