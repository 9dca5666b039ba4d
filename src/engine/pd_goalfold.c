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
    int64_t *part_t;        /* per partition: its partial's event time */
    uint8_t *part_dirty;    /* per partition: changed since the last collect */
    pd_goal_partial sum;
    int state; /* -1 unset, 0 breached, 1 met */
    bool had_value, dirty;
    double last_value;
    int64_t changed_ms;
} fgoal;

/* A partial offered for a tick the fold has not evaluated yet. */
typedef struct fpend {
    int64_t tick, t_ms;
    uint32_t part, gi;
    bool written; /* collected as a record (a tombstone deletes it once folded) */
    pd_goal_partial p;
} fpend;

typedef struct fkey {
    int64_t tick;
    uint32_t part, gi;
} fkey;

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
    /* ordered use (pd_goalfold_offer / _mark) */
    int64_t *marks; /* per partition: every tick below is offered (INT64_MIN: not heard) */
    int64_t next;   /* the first tick not evaluated (INT64_MIN: none evaluated) */
    int64_t clock;  /* the fleet's event time: the newest t of a folded partial */
    bool meta_dirty;
    fpend *pend;
    uint32_t npend, cappend;
    fkey *tomb; /* folded pending partials whose records must be deleted */
    uint32_t ntomb, captomb;
    uint64_t late;
};

static int grow_parts(pd_goalfold *f, uint32_t n)
{
    if (n <= f->nparts)
        return 0;
    if (n > PD_GOALFOLD_MAX_PARTITIONS)
        return PD_EINVAL;
    int64_t *m = realloc(f->marks, (size_t)n * sizeof(*m));
    if (!m)
        return PD_ENOMEM;
    f->marks = m;
    for (uint32_t k = f->nparts; k < n; k++)
        m[k] = INT64_MIN;
    for (uint32_t i = 0; i < f->ngoals; i++) {
        fgoal *G = &f->goals[i];
        int64_t *nt = realloc(G->part_t, (size_t)n * sizeof(*nt));
        if (!nt)
            return PD_ENOMEM;
        G->part_t = nt;
        uint8_t *nd = realloc(G->part_dirty, n);
        if (!nd)
            return PD_ENOMEM;
        G->part_dirty = nd;
        pd_goal_partial *np = realloc(G->parts, (size_t)n * sizeof(*np));
        if (!np)
            return PD_ENOMEM;
        /* Goals before i already grew: initializing only the new tail keeps that consistent
         * (nparts moves last, so a failure leaves every array at least nparts long). */
        for (uint32_t k = f->nparts; k < n; k++) {
            pd_goal_partial_init(&np[k]);
            nt[k] = PD_TIME_NONE;
            nd[k] = 0;
        }
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
    f->next = INT64_MIN;
    f->clock = PD_TIME_NONE;
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
        free(G->part_t);
        free(G->part_dirty);
        pd_goal_partial_free(&G->sum);
    }
    for (uint32_t i = 0; i < f->npend; i++)
        pd_goal_partial_free(&f->pend[i].p);
    free(f->pend);
    free(f->tomb);
    free(f->marks);
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
    return pd_goal_set_index(f->set, id, gi);
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

/* Replaces a partition's partial (no evaluation). */
static int set_part(pd_goalfold *f, uint32_t gi, uint32_t partition, const pd_goal_partial *p,
                    int64_t t_ms)
{
    fgoal *G = &f->goals[gi];
    int rc = grow_parts(f, partition + 1);
    if (rc || (rc = partial_copy(&G->parts[partition], p)))
        return rc;
    G->part_t[partition] = t_ms;
    G->part_dirty[partition] = 1;
    return 0;
}

static int check_offer(const pd_goalfold *f, uint32_t gi, uint32_t partition,
                       const pd_goal_partial *p)
{
    if (gi >= f->ngoals)
        return PD_ENOTFOUND;
    if (p->digest && p->digest != f->goals[gi].digest)
        return PD_ESTATE;
    if (partition >= PD_GOALFOLD_MAX_PARTITIONS)
        return PD_EINVAL;
    return 0;
}

static void sum_parts(pd_goalfold *f, fgoal *G, int *rc)
{
    /* Recomputed from the partitions, not kept as a running sum: the doubles (event-fed score
     * and compliance) would drift with every subtract-and-add, and there are few partitions. */
    pd_goal_partial_reset(&G->sum);
    for (uint32_t k = 0; k < f->nparts && !*rc; k++)
        *rc = pd_goal_partial_add(&G->sum, &G->parts[k]);
    G->sum.digest = G->digest;
    /* Control/SLA: zero violators stays a value once the fleet had one (the engine's sticky
     * has_value), even if the partitions that had it were replaced by empty ones. */
    G->sum.has_value = G->sum.has_value || G->had_value;
}

/* Evaluates goal gi on the current partials at event time t_ms. */
static int eval_goal(pd_goalfold *f, uint32_t gi, int64_t t_ms)
{
    fgoal *G = &f->goals[gi];
    int rc = 0;
    sum_parts(f, G, &rc);
    if (rc)
        return rc;
    pd_goal_status st;
    if (!pd_goal_partial_status(G->g, &G->sum, &st))
        return 0;
    int ns = pd_goal_next_state(G->g, G->state, &st);
    bool changed_value = !G->had_value || st.value != G->last_value;
    int old = G->state;
    G->had_value = true;
    G->last_value = st.value;
    if (changed_value || ns != old)
        G->dirty = true;
    if (ns != old) {
        G->state = ns;
        G->changed_ms = t_ms;
        if (old != -1 || ns == 0)
            rc = emit_goal(f, G, ns, &st, t_ms);
    }
    if ((changed_value || ns != old) && f->on_status) {
        fold_status(f, gi, &st);
        f->on_status(f->status_ctx, &st);
    }
    return rc;
}

int pd_goalfold_update(pd_goalfold *f, uint32_t goal_index, uint32_t partition,
                       const pd_goal_partial *p, int64_t t_ms)
{
    int rc = check_offer(f, goal_index, partition, p);
    if (rc || (rc = set_part(f, goal_index, partition, p, t_ms)))
        return rc;
    return eval_goal(f, goal_index, t_ms);
}

/* ---------- ordered use ---------- */

static int fkey_cmp(int64_t at, uint32_t ap, uint32_t ag, int64_t bt, uint32_t bp, uint32_t bg)
{
    if (at != bt)
        return at < bt ? -1 : 1;
    if (ap != bp)
        return ap < bp ? -1 : 1;
    return ag < bg ? -1 : ag > bg;
}

static int pend_cmp(const void *a, const void *b)
{
    const fpend *x = a, *y = b;
    return fkey_cmp(x->tick, x->part, x->gi, y->tick, y->part, y->gi);
}

/* Doubles an array's capacity (64 at first): 0 or PD_ENOMEM (the array unchanged). */
static int grow_array(void **a, uint32_t *cap, size_t elem)
{
    uint32_t n = *cap ? *cap * 2 : 64;
    void *p = realloc(*a, (size_t)n * elem);
    if (!p)
        return PD_ENOMEM;
    *a = p;
    *cap = n;
    return 0;
}

/* The pending entry for (tick, part, gi), added when missing. */
static int pend_get(pd_goalfold *f, int64_t tick, uint32_t part, uint32_t gi, fpend **out,
                    bool *added)
{
    *added = false;
    for (uint32_t i = 0; i < f->npend; i++) {
        fpend *e = &f->pend[i];
        if (e->tick == tick && e->part == part && e->gi == gi) {
            *out = e;
            return 0;
        }
    }
    if (f->npend == f->cappend && grow_array((void **)&f->pend, &f->cappend, sizeof(fpend)))
        return PD_ENOMEM;
    fpend *e = &f->pend[f->npend++];
    memset(e, 0, sizeof(*e));
    pd_goal_partial_init(&e->p);
    e->tick = tick;
    e->part = part;
    e->gi = gi;
    *out = e;
    *added = true;
    return 0;
}

/* Sets a pending entry's partial; a new entry is dropped again when that fails. */
static int pend_set(pd_goalfold *f, int64_t tick, uint32_t part, uint32_t gi,
                    const pd_goal_partial *p, int64_t t_ms, bool written)
{
    fpend *e;
    bool added;
    int rc = pend_get(f, tick, part, gi, &e, &added);
    if (rc)
        return rc;
    if ((rc = partial_copy(&e->p, p)) != 0) {
        if (added) {
            pd_goal_partial_free(&e->p);
            f->npend--;
        }
        return rc;
    }
    e->t_ms = t_ms;
    e->written = written;
    return 0;
}

int pd_goalfold_offer(pd_goalfold *f, uint32_t gi, uint32_t partition, int64_t tick,
                      const pd_goal_partial *p, int64_t t_ms)
{
    int rc = check_offer(f, gi, partition, p);
    if (!rc && partition >= f->nparts)
        rc = PD_EINVAL; /* ordered use: a partition that never marks would stall the fold */
    if (rc)
        return rc;
    if (f->next != INT64_MIN && tick < f->next) {
        f->late++; /* its tick was evaluated: it counts in the next one */
        tick = f->next;
    }
    return pend_set(f, tick, partition, gi, p, t_ms, false);
}

static int tomb_add(pd_goalfold *f, const fpend *e)
{
    if (f->ntomb == f->captomb && grow_array((void **)&f->tomb, &f->captomb, sizeof(fkey)))
        return PD_ENOMEM;
    f->tomb[f->ntomb++] = (fkey){e->tick, e->part, e->gi};
    return 0;
}

/* Evaluates, tick by tick, every pending partial of a tick below every partition's mark. */
static int advance(pd_goalfold *f)
{
    if (f->nparts == 0 || f->npend == 0)
        return 0;
    int64_t below = INT64_MAX;
    for (uint32_t k = 0; k < f->nparts; k++)
        if (f->marks[k] < below)
            below = f->marks[k];
    qsort(f->pend, f->npend, sizeof(*f->pend), pend_cmp);
    uint32_t i = 0;
    int rc = 0;
    uint8_t touched[64];
    while (i < f->npend && f->pend[i].tick < below && !rc) {
        int64_t tick = f->pend[i].tick;
        memset(touched, 0, sizeof(touched));
        uint32_t j = i;
        for (; j < f->npend && f->pend[j].tick == tick && !rc; j++) {
            fpend *e = &f->pend[j];
            rc = set_part(f, e->gi, e->part, &e->p, e->t_ms);
            if (!rc && e->written)
                rc = tomb_add(f, e);
            if (e->t_ms != PD_TIME_NONE && (f->clock == PD_TIME_NONE || e->t_ms > f->clock))
                f->clock = e->t_ms;
            if (e->gi < 64 * 8)
                touched[e->gi / 8] |= (uint8_t)(1u << (e->gi % 8));
        }
        /* Goals in index order, once per tick, at the fleet's event time: the same sequence
         * whatever the arrival order of the partitions' partials. */
        for (uint32_t gi = 0; gi < f->ngoals && gi < 64 * 8 && !rc; gi++)
            if (touched[gi / 8] & (1u << (gi % 8)))
                rc = eval_goal(f, gi, f->clock);
        f->next = tick + 1;
        f->meta_dirty = true;
        i = j;
    }
    /* Drop what was folded (the array stays sorted). */
    for (uint32_t k = 0; k < i; k++)
        pd_goal_partial_free(&f->pend[k].p);
    if (i) {
        memmove(f->pend, f->pend + i, (size_t)(f->npend - i) * sizeof(*f->pend));
        f->npend -= i;
    }
    return rc;
}

int pd_goalfold_mark(pd_goalfold *f, uint32_t partition, int64_t below)
{
    if (partition >= f->nparts)
        return PD_EINVAL;
    if (below > f->marks[partition]) {
        f->marks[partition] = below;
        f->meta_dirty = true;
    }
    return advance(f);
}

uint32_t pd_goalfold_pending(const pd_goalfold *f)
{
    return f->npend;
}

uint64_t pd_goalfold_late(const pd_goalfold *f)
{
    return f->late;
}

/* ---------- records (the goal stage's changelog) ---------- */

#define K_CUR     "#fc:" /* be32 partition, goal id -> packed partial (t = its event time) */
#define K_STATE   "#fs:" /* goal id -> be64 digest, i8 state, u8 had value, f64 value, be64 ms */
#define K_META    "#fm"  /* be64 next, be64 clock, be32 n, n x be64 mark */
#define K_PEND    "#fq:" /* be64 tick, be32 partition, goal id -> packed partial */
#define STATE_LEN 26

static int rec_key(pd_buf *k, const char *prefix, const unsigned char *bin, size_t blen,
                   const char *id)
{
    pd_buf_reset(k);
    pd_buf_append(k, prefix, strlen(prefix));
    pd_buf_append(k, bin, blen);
    if (id)
        pd_buf_append(k, id, strlen(id));
    return k->oom ? PD_ENOMEM : 0;
}

int pd_goalfold_collect(pd_goalfold *f, pd_goalfold_record_fn fn, void *ctx)
{
    pd_buf k, v;
    pd_buf_init(&k);
    pd_buf_init(&v);
    unsigned char bin[12];
    int rc = 0;
    for (uint32_t gi = 0; gi < f->ngoals && !rc; gi++) {
        fgoal *G = &f->goals[gi];
        for (uint32_t p = 0; p < f->nparts && !rc; p++) {
            if (!G->part_dirty[p])
                continue;
            pd_be32_put(bin, p);
            pd_buf_reset(&v);
            if (!(rc = rec_key(&k, K_CUR, bin, 4, G->g->id)) &&
                !(rc = pd_goal_partial_pack(G->g, p, G->part_t[p], &G->parts[p], &v)))
                rc = fn(ctx, k.p, k.len, v.p, v.len);
            if (!rc)
                G->part_dirty[p] = 0;
        }
        if (!rc && G->dirty) {
            unsigned char st[STATE_LEN];
            pd_be64_put(st, (int64_t)G->digest);
            st[8] = (unsigned char)(int8_t)G->state;
            st[9] = G->had_value;
            uint64_t bits;
            memcpy(&bits, &G->last_value, 8);
            pd_be64_put(st + 10, (int64_t)bits);
            pd_be64_put(st + 18, G->changed_ms);
            if (!(rc = rec_key(&k, K_STATE, NULL, 0, G->g->id)))
                rc = fn(ctx, k.p, k.len, st, sizeof(st));
            if (!rc)
                G->dirty = false;
        }
    }
    for (uint32_t i = 0; i < f->ntomb && !rc; i++) {
        pd_be64_put(bin, f->tomb[i].tick);
        pd_be32_put(bin + 8, f->tomb[i].part);
        if (!(rc = rec_key(&k, K_PEND, bin, 12, f->goals[f->tomb[i].gi].g->id)))
            rc = fn(ctx, k.p, k.len, NULL, 0);
    }
    if (!rc)
        f->ntomb = 0;
    for (uint32_t i = 0; i < f->npend && !rc; i++) {
        fpend *e = &f->pend[i];
        if (e->written)
            continue;
        const pd_goal *g = f->goals[e->gi].g;
        pd_be64_put(bin, e->tick);
        pd_be32_put(bin + 8, e->part);
        pd_buf_reset(&v);
        if (!(rc = rec_key(&k, K_PEND, bin, 12, g->id)) &&
            !(rc = pd_goal_partial_pack(g, e->part, e->t_ms, &e->p, &v)))
            rc = fn(ctx, k.p, k.len, v.p, v.len);
        if (!rc)
            e->written = true;
    }
    if (!rc && f->meta_dirty) {
        pd_buf_reset(&v);
        unsigned char h[20];
        pd_be64_put(h, f->next);
        pd_be64_put(h + 8, f->clock);
        pd_be32_put(h + 16, f->nparts);
        pd_buf_append(&v, h, sizeof(h));
        for (uint32_t p = 0; p < f->nparts; p++) {
            pd_be64_put(bin, f->marks[p]);
            pd_buf_append(&v, bin, 8);
        }
        if (v.oom)
            rc = PD_ENOMEM;
        if (!rc)
            rc = fn(ctx, K_META, sizeof(K_META) - 1, v.p, v.len);
        if (!rc)
            f->meta_dirty = false;
    }
    pd_buf_free(&k);
    pd_buf_free(&v);
    return rc;
}

static bool has_prefix(const void *key, size_t klen, const char *prefix)
{
    size_t n = strlen(prefix);
    return klen >= n && !memcmp(key, prefix, n);
}

/* The goal whose id ends the key at off, or PD_ENOTFOUND. */
static int key_goal(const pd_goalfold *f, const void *key, size_t klen, size_t off, uint32_t *gi)
{
    if (klen <= off)
        return PD_ESTATE;
    return pd_goalfold_goal_find(f, (pd_str){(const char *)key + off, (uint32_t)(klen - off)}, gi);
}

/* A packed partial of goal gi and partition part from a record value. */
static int rec_partial(pd_goalfold *f, uint32_t gi, uint32_t part, const void *v, size_t vlen,
                       pd_goal_partial *out, int64_t *t_ms)
{
    pd_str id;
    uint32_t p2;
    int rc = pd_goal_partial_unpack(v, vlen, &id, &p2, t_ms, out, NULL);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc || p2 != part || !pd_str_eq_c(id, f->goals[gi].g->id))
        return PD_ESTATE;
    return out->digest == f->goals[gi].digest ? 0 : PD_ESTATE;
}

int pd_goalfold_restore_record(pd_goalfold *f, const void *key, size_t klen, const void *value,
                               size_t vlen)
{
    const unsigned char *k = key, *v = value;
    uint32_t gi = 0;
    int rc;
    if (klen == sizeof(K_META) - 1 && !memcmp(key, K_META, klen)) {
        if (!v)
            return 0;
        /* marks of another partition count: a partition that never marks stalls the fold */
        if (vlen < 20 || (vlen - 20) % 8 || pd_be32_get(v + 16) != (vlen - 20) / 8 ||
            pd_be32_get(v + 16) != f->nparts)
            return PD_ESTATE;
        uint32_t n = pd_be32_get(v + 16);
        f->next = pd_be64_get(v);
        f->clock = pd_be64_get(v + 8);
        for (uint32_t p = 0; p < n; p++)
            f->marks[p] = pd_be64_get(v + 20 + 8 * (size_t)p);
        return 0;
    }
    if (has_prefix(key, klen, K_STATE)) {
        if ((rc = key_goal(f, key, klen, sizeof(K_STATE) - 1, &gi)) != 0)
            return rc;
        if (!v)
            return 0;
        fgoal *G = &f->goals[gi];
        if (vlen != STATE_LEN)
            return PD_ESTATE;
        if ((uint64_t)pd_be64_get(v) != G->digest)
            return PD_ESTATE; /* another definition of the goal: start it afresh */
        int8_t st = (int8_t)v[8];
        if (st < -1 || st > 1 || v[9] > 1)
            return PD_ESTATE;
        G->state = st;
        G->had_value = v[9];
        uint64_t bits = (uint64_t)pd_be64_get(v + 10);
        memcpy(&G->last_value, &bits, 8);
        G->changed_ms = pd_be64_get(v + 18);
        return 0;
    }
    if (has_prefix(key, klen, K_CUR)) {
        if (klen < sizeof(K_CUR) - 1 + 4)
            return PD_ESTATE;
        uint32_t part = pd_be32_get(k + sizeof(K_CUR) - 1);
        if ((rc = key_goal(f, key, klen, sizeof(K_CUR) - 1 + 4, &gi)) != 0)
            return rc;
        if (!v || part >= f->nparts)
            return v ? PD_ESTATE : 0;
        pd_goal_partial p;
        pd_goal_partial_init(&p);
        int64_t t = PD_TIME_NONE;
        rc = rec_partial(f, gi, part, v, vlen, &p, &t);
        if (!rc)
            rc = set_part(f, gi, part, &p, t);
        if (!rc)
            f->goals[gi].part_dirty[part] = 0;
        pd_goal_partial_free(&p);
        return rc;
    }
    if (has_prefix(key, klen, K_PEND)) {
        if (klen < sizeof(K_PEND) - 1 + 12)
            return PD_ESTATE;
        int64_t tick = pd_be64_get(k + sizeof(K_PEND) - 1);
        uint32_t part = pd_be32_get(k + sizeof(K_PEND) - 1 + 8);
        if ((rc = key_goal(f, key, klen, sizeof(K_PEND) - 1 + 12, &gi)) != 0)
            return rc;
        if (part >= f->nparts)
            return PD_ESTATE;
        if (!v) {
            for (uint32_t i = 0; i < f->npend; i++) {
                fpend *e = &f->pend[i];
                if (e->tick == tick && e->part == part && e->gi == gi) {
                    pd_goal_partial_free(&e->p);
                    f->pend[i] = f->pend[--f->npend];
                    break;
                }
            }
            return 0;
        }
        pd_goal_partial p;
        pd_goal_partial_init(&p);
        int64_t t = PD_TIME_NONE;
        rc = rec_partial(f, gi, part, v, vlen, &p, &t);
        if (!rc)
            rc = pend_set(f, tick, part, gi, &p, t, true);
        pd_goal_partial_free(&p);
        return rc;
    }
    return PD_ENOTFOUND;
}

int pd_goalfold_restored(pd_goalfold *f)
{
    int rc = 0;
    for (uint32_t gi = 0; gi < f->ngoals && !rc; gi++)
        sum_parts(f, &f->goals[gi], &rc);
    if (!rc)
        qsort(f->pend, f->npend, sizeof(*f->pend), pend_cmp);
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
