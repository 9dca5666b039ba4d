/* The goals engine's state as an image and back. See pd_engine_state.h for the contract and
 * schemas/state-snapshot.md for the byte layout. Records are fixed-width little-endian, so a
 * restore is a bounds check and a copy per record; the per-goal counters are not stored:
 * they are rebuilt from the pairs, the way the engine builds them from events. */
#include "pd_engine_int.h"
#include "pd_changelog.h"
#include "pd_engine_state.h"
#include "pd_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pd_engine_state.c writes little-endian records with memcpy"
#endif

#define PAIR_REC 28 /* res ctl ev seen since flap (u32 x6), status flags flap_n sla_bits */
#define ACC_REC  28
#define CMP_REC  20
#define GOAL_REC 38

enum {
    T_GLOB,
    T_SRES,
    T_SCTL,
    T_SSTR,
    T_SACC,
    T_SCMP,
    T_RES,
    T_CTL,
    T_ACC,
    T_CMP,
    T_GOAL,
    T_PAIR,
    T_INDEX,
    T_WHEEL,
    T__COUNT
};
static const char tags[T__COUNT][5] = {"GLOB", "SRES", "SCTL", "SSTR", "SACC", "SCMP", "RESR",
                                       "CTLR", "ACCR", "CMPR", "GOAL", "PAIR", "INDX", "WHEL"};

/* ---------- fingerprint ---------- */

static uint64_t fp_str(uint64_t h, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return pd_hash_mix(h, pd_hash64(s ? s : "", n, n + 1));
}

static uint64_t fp_globs(uint64_t h, const char **v, uint32_t n)
{
    h = pd_hash_mix(h, n);
    for (uint32_t i = 0; i < n; i++)
        h = fp_str(h, v[i]);
    return h;
}

static uint64_t fp_f64(uint64_t h, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return pd_hash_mix(h, u);
}

uint64_t pd_goal_hash(uint64_t h, const pd_goal *g)
{
    h = fp_str(h, g->id);
    h = pd_hash_mix(h, (uint64_t)g->kind | (uint64_t)g->cmp << 8 | (uint64_t)g->min_severity << 16 |
                           (uint64_t)g->severity << 24 | (uint64_t)g->target_pct << 32);
    h = fp_f64(fp_f64(h, g->target), g->hysteresis);
    h = pd_hash_mix(pd_hash_mix(h, (uint64_t)g->max_age_ms), (uint64_t)g->stale_after_ms);
    h = pd_hash_mix(pd_hash_mix(h, g->flap_toggles), (uint64_t)g->flap_window_ms);
    h = fp_str(h, g->standard);
    const pd_goal_scope *sc = &g->scope;
    h = pd_hash_mix(h, sc->clouds);
    h = fp_globs(h, sc->accounts, sc->naccounts);
    h = fp_globs(h, sc->groups, sc->ngroups);
    h = fp_globs(h, sc->types, sc->ntypes);
    h = fp_globs(h, sc->names, sc->nnames);
    h = fp_globs(h, sc->regions, sc->nregions);
    for (uint32_t t = 0; t < sc->ntags; t++)
        h = fp_globs(fp_str(h, sc->tags[t].key), sc->tags[t].values, sc->tags[t].nvalues);
    for (uint32_t c = 0; c < g->ncontrols; c++)
        h = fp_str(pd_hash_mix(h, g->controls[c].kind), g->controls[c].value);
    return h;
}

uint64_t pd_engine_state_fingerprint(const pd_engine *e)
{
    if (e->fingerprint)
        return e->fingerprint;
    uint64_t h = pd_hash_mix(0x7374617465ULL, e->ngoals);
    h = pd_hash_mix(h, e->o.flap_toggles);
    h = pd_hash_mix(h, (uint64_t)e->o.flap_window_ms);
    h = pd_hash_mix(h, (uint64_t)e->o.timer_lateness_ms);
    for (uint32_t i = 0; i < e->ngoals; i++)
        h = pd_goal_hash(h, e->goals[i].g);
    return h;
}

/* The index layout (hash, home slot, tag, id bits) in 64 bits: an image's index is only
 * adopted when the engine that reads it lays pairs out the same way. */
static uint64_t idx_layout(void)
{
    uint64_t h = pd_hash_mix(0x696e646578ULL, pd_engine_int_idx_mask());
    static const uint32_t probe[][2] = {{1, 1}, {7, 300}, {123456, 17}, {0xfffffff, 3}};
    for (size_t i = 0; i < PD_ARRAY_LEN(probe); i++) {
        uint64_t ph = pd_engine_int_pair_hash(probe[i][0], probe[i][1]);
        h = pd_hash_mix(h, ph);
        h = pd_hash_mix(h, pd_engine_int_pair_home(ph, 97 + (uint32_t)i * 1000));
        h = pd_hash_mix(h, pd_engine_int_idx_tag(ph));
    }
    return h;
}

/* ---------- writing ---------- */

typedef struct wr {
    pd_buf *b;
    size_t sec; /* offset of the open section's header */
} wr;

static void w_raw(wr *w, const void *p, size_t n)
{
    pd_buf_append(w->b, p, n);
}
static void w_u8(wr *w, uint8_t v)
{
    w_raw(w, &v, 1);
}
static void w_u32(wr *w, uint32_t v)
{
    w_raw(w, &v, 4);
}
static void w_u64(wr *w, uint64_t v)
{
    w_raw(w, &v, 8);
}
static void w_f64(wr *w, double v)
{
    w_raw(w, &v, 8);
}

/* Section: tag[4], count u32, payload length u64, payload. */
static void sec_open(wr *w, int tag, uint32_t count)
{
    w->sec = w->b->len;
    w_raw(w, tags[tag], 4);
    w_u32(w, count);
    w_u64(w, 0);
}

static void sec_close(wr *w)
{
    if (w->b->oom)
        return;
    uint64_t n = w->b->len - w->sec - 16;
    memcpy(w->b->p + w->sec + 8, &n, 8);
}

static void w_intern(wr *w, int tag, const pd_intern *t)
{
    uint32_t n = pd_intern_count(t);
    sec_open(w, tag, n);
    for (uint32_t i = 1; i <= n; i++) {
        pd_str s = pd_intern_str(t, i);
        w_u32(w, s.len);
        w_raw(w, s.p, s.len);
    }
    sec_close(w);
}

int pd_engine_state_export(const pd_engine *e, pd_buf *out)
{
    wr w = {out, 0};
    size_t start = out->len;
    sec_open(&w, T_GLOB, 1);
    w_u64(&w, pd_engine_state_fingerprint(e));
    w_u32(&w, e->ngoals);
    w_u64(&w, (uint64_t)e->now_ms);
    w_u32(&w, e->now_s);
    w_u32(&w, e->wheel_cur);
    w_u32(&w, e->clock_s);
    w_u32(&w, e->live_s);
    w_u32(&w, e->snap_due_s);
    w_u32(&w, e->open_snapshots);
    const uint64_t st[] = {
        e->st.events,  e->st.applied, e->st.duplicates,   e->st.out_of_order,
        e->st.ignored, e->st.signals, e->st.timers_fired, e->st.snapshots_completed};
    for (size_t i = 0; i < PD_ARRAY_LEN(st); i++)
        w_u64(&w, st[i]);
    sec_close(&w);

    w_intern(&w, T_SRES, e->res_ids);
    w_intern(&w, T_SCTL, e->ctl_ids);
    w_intern(&w, T_SSTR, e->strs);
    w_intern(&w, T_SACC, e->accts);
    w_intern(&w, T_SCMP, e->comp_ids);

    uint32_t nres = pd_intern_count(e->res_ids);
    /* Resource records as the engine keeps them (plain data, zeroed padding), behind their
     * size: a build with another layout refuses the image instead of misreading it. */
    sec_open(&w, T_RES, nres);
    w_u32(&w, (uint32_t)sizeof(res));
    if (nres)
        w_raw(&w, &e->res[1], (size_t)nres * sizeof(res));
    sec_close(&w);

    uint32_t nctl = pd_intern_count(e->ctl_ids);
    sec_open(&w, T_CTL, nctl);
    for (uint32_t c = 1; c <= nctl; c++) {
        const ctl *C = &e->ctls[c];
        w_u64(&w, C->goals);
        w_u32(&w, C->name);
        w_u32(&w, C->stale_s);
        w_u32(&w, C->flap_window_s);
        w_u8(&w, C->flap_toggles);
        w_u8(&w, C->sev);
        w_u8(&w, C->nsla);
        w_raw(&w, C->sla_goal, MAX_SLA);
        w_u32(&w, C->nframeworks);
        for (uint32_t i = 0; i < C->nframeworks; i++)
            w_u32(&w, pd_intern_find(e->strs, C->frameworks[i]));
    }
    sec_close(&w);

    uint32_t nacc = pd_intern_count(e->accts);
    sec_open(&w, T_ACC, nacc);
    for (uint32_t a = 1; a <= nacc; a++) {
        const acct *A = &e->accts_v[a];
        w_f64(&w, A->score_num);
        w_f64(&w, A->score_den);
        w_u8(&w, A->has_score);
        w_u8(&w, A->snap_open);
        w_u8(&w, A->reconciling);
        w_u32(&w, A->snap_start_s);
        w_u32(&w, A->snap_last_s);
        w_u8(&w, A->cloud);
    }
    sec_close(&w);

    uint32_t ncmp = pd_intern_count(e->comp_ids);
    sec_open(&w, T_CMP, ncmp);
    for (uint32_t i = 1; i <= ncmp; i++) {
        const comprec *R = &e->comp[i];
        w_u32(&w, R->passed);
        w_u32(&w, R->failed);
        w_u32(&w, R->account);
        w_u64(&w, R->goals);
    }
    sec_close(&w);

    sec_open(&w, T_GOAL, e->ngoals);
    for (uint32_t i = 0; i < e->ngoals; i++) {
        const goal_rt *G = &e->goals[i];
        w_u8(&w, (uint8_t)(int8_t)G->state);
        w_u8(&w, G->has_value);
        w_f64(&w, G->last_value);
        w_u64(&w, (uint64_t)G->changed_ms);
        w_f64(&w, G->ev_num);
        w_f64(&w, G->ev_den);
        w_u32(&w, G->ev_records);
    }
    sec_close(&w);

    sec_open(&w, T_PAIR, e->npairs);
    if (!pd_buf_reserve(out, (size_t)e->npairs * PAIR_REC)) {
        char *o = out->p + out->len;
        for (uint32_t v = 1; v <= e->npairs; v++, o += PAIR_REC) {
            const pair *p = PAIR(e, v);
            uint32_t f[6] = {p->res, p->ctl, p->ev_s, p->seen_s, p->since_s, p->flap_s};
            uint8_t b[4] = {p->status, (uint8_t)(p->flags & ~F_LINKED), p->flap_n, p->sla_bits};
            memcpy(o, f, 24);
            memcpy(o + 24, b, 4);
        }
        out->len += (size_t)e->npairs * PAIR_REC;
    }
    sec_close(&w);

    /* The pair index as it is, with a signature of its layout: restoring it is a copy and
     * a check instead of a re-insertion of every pair. */
    sec_open(&w, T_INDEX, e->index_groups);
    w_u64(&w, idx_layout());
    w_raw(&w, e->index, (size_t)e->index_groups * 16 * sizeof(uint32_t));
    sec_close(&w);

    /* The wheel: per non-empty slot, its list from tail to head, so that linking the entries
     * in file order (each at the head) rebuilds the same list. */
    uint32_t nslots = 0;
    for (uint32_t s = 0; s < WHEEL_SIZE; s++)
        nslots += e->wheel[s] != 0;
    sec_open(&w, T_WHEEL, nslots);
    for (uint32_t s = 0; s < WHEEL_SIZE && !out->oom; s++) {
        uint32_t v = e->wheel[s], n = 0, tail = 0;
        for (; v; v = PAIR(e, v)->tnext, n++)
            tail = v;
        if (!n)
            continue;
        w_u32(&w, s);
        w_u32(&w, n);
        for (v = tail; n--; v = PAIR(e, v)->tprev)
            w_u32(&w, v);
    }
    sec_close(&w);
    if (out->oom) {
        out->len = start;
        return PD_ENOMEM;
    }
    return 0;
}

/* ---------- reading ---------- */

typedef struct rd {
    const uint8_t *p, *end;
    char *why;
    size_t why_len;
    bool bad;
} rd;

__attribute__((format(printf, 2, 3))) static int fail(rd *r, const char *fmt, ...)
{
    if (!r->bad && r->why && r->why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, r->why_len, fmt, ap);
        va_end(ap);
    }
    r->bad = true;
    return PD_EINVAL;
}

static const uint8_t *r_take(rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        if (!r->bad)
            fail(r, "truncated record");
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}
static uint8_t r_u8(rd *r)
{
    const uint8_t *q = r_take(r, 1);
    return q ? *q : 0;
}
static uint32_t r_u32(rd *r)
{
    uint32_t v = 0;
    const uint8_t *q = r_take(r, 4);
    if (q)
        memcpy(&v, q, 4);
    return v;
}
static uint64_t r_u64(rd *r)
{
    uint64_t v = 0;
    const uint8_t *q = r_take(r, 8);
    if (q)
        memcpy(&v, q, 8);
    return v;
}
static double r_f64(rd *r)
{
    double v = 0;
    const uint8_t *q = r_take(r, 8);
    if (q)
        memcpy(&v, q, 8);
    return v;
}

/* Opens section tag: sub becomes a reader over its payload; *count its record count. Each
 * record takes at least min_rec bytes, so a count the payload cannot hold fails here, before
 * anything is allocated for it. */
static int sec_read(rd *r, int tag, rd *sub, uint32_t *count, size_t min_rec)
{
    const uint8_t *h = r_take(r, 16);
    if (!h)
        return fail(r, "truncated before section %s", tags[tag]);
    if (memcmp(h, tags[tag], 4))
        return fail(r, "expected section %s, found %.4s", tags[tag], (const char *)h);
    uint64_t n;
    memcpy(count, h + 4, 4);
    memcpy(&n, h + 8, 8);
    if (n > (uint64_t)(r->end - r->p))
        return fail(r, "section %s: length %llu past the end", tags[tag], (unsigned long long)n);
    if ((uint64_t)*count * min_rec > n)
        return fail(r, "section %s: %u records cannot fit in %llu bytes", tags[tag], *count,
                    (unsigned long long)n);
    *sub = (rd){r->p, r->p + n, r->why, r->why_len, false};
    r->p += n;
    return 0;
}

static int sec_done(rd *r, rd *sub, int tag)
{
    if (sub->bad) {
        r->bad = true;
        return PD_EINVAL;
    }
    if (sub->p != sub->end)
        return fail(r, "section %s: %zu bytes left over", tags[tag], (size_t)(sub->end - sub->p));
    return 0;
}

/* Interns a table's strings in order; each must get the id it had (no duplicates). */
static int r_intern(rd *r, int tag, pd_engine *e, pd_intern *t, int kind, uint32_t *count)
{
    rd s;
    if (sec_read(r, tag, &s, count, 4))
        return PD_EINVAL;
    if (pd_intern_count(t))
        return fail(r, "section %s: engine is not fresh", tags[tag]);
    for (uint32_t i = 1; i <= *count; i++) {
        uint32_t len = r_u32(&s);
        const uint8_t *q = r_take(&s, len);
        if (!q)
            return fail(r, "section %s: string %u truncated", tags[tag], i);
        pd_str str = {(const char *)q, len};
        uint32_t id = 0;
        bool fresh = true;
        int rc;
        if ((kind == 1 || kind == 2) && !len)
            return fail(r, "section %s: empty id %u", tags[tag], i);
        if (kind == 1)
            rc = pd_engine_int_res_id(e, str, &id, &fresh);
        else if (kind == 2)
            rc = pd_engine_int_ctl_id(e, str, &id, &fresh);
        else
            rc = pd_intern_get(t, str, &id);
        if (rc)
            return rc;
        if (!fresh || id != i)
            return fail(r, "section %s: string %u is a duplicate", tags[tag], i);
    }
    return sec_done(r, &s, tag);
}

static bool id_ok(uint32_t id, uint32_t n)
{
    return id <= n;
}

int pd_engine_state_import(pd_engine *e, const void *data, size_t len, char *why, size_t why_len)
{
    rd r = {data, (const uint8_t *)data + len, why, why_len, false}, s;
    uint32_t n;
    int rc;
    if (why && why_len)
        why[0] = '\0';
    if (e->npairs || e->now_ms != PD_TIME_NONE || pd_intern_count(e->res_ids) ||
        pd_intern_count(e->ctl_ids)) {
        fail(&r, "the engine already has state");
        return PD_ESTATE;
    }
    if (sec_read(&r, T_GLOB, &s, &n, 0))
        return PD_EINVAL;
    uint64_t fp = r_u64(&s);
    uint32_t ngoals = r_u32(&s);
    int64_t now_ms = (int64_t)r_u64(&s);
    uint32_t now_s = r_u32(&s), wheel_cur = r_u32(&s), clock_s = r_u32(&s), live_s = r_u32(&s);
    uint32_t snap_due_s = r_u32(&s), open_snapshots = r_u32(&s);
    uint64_t st[8];
    for (size_t i = 0; i < 8; i++)
        st[i] = r_u64(&s);
    if (sec_done(&r, &s, T_GLOB))
        return PD_EINVAL;
    if (ngoals != e->ngoals || fp != pd_engine_state_fingerprint(e)) {
        fail(&r, "the image was made with other goals or engine options (%u goals, here %u)",
             ngoals, e->ngoals);
        return PD_ESTATE;
    }

    uint32_t nres, nctl, nstr, nacc, ncmp;
    if ((rc = r_intern(&r, T_SRES, e, e->res_ids, 1, &nres)) ||
        (rc = r_intern(&r, T_SCTL, e, e->ctl_ids, 2, &nctl)) ||
        (rc = r_intern(&r, T_SSTR, e, e->strs, 0, &nstr)) ||
        (rc = r_intern(&r, T_SACC, e, e->accts, 0, &nacc)) ||
        (rc = r_intern(&r, T_SCMP, e, e->comp_ids, 0, &ncmp)))
        return rc;
    uint64_t goal_bits = e->ngoals >= 64 ? ~0ull : (1ull << e->ngoals) - 1;

    /* Resources; their rgc rows start at zero and are rebuilt from the pairs. */
    if (sec_read(&r, T_RES, &s, &n, 0))
        return PD_EINVAL;
    if (n != nres)
        return fail(&r, "%u resource records for %u resource ids", n, nres);
    uint32_t rsize = r_u32(&s);
    if (!s.bad && rsize != sizeof(res))
        return fail(&r, "resource records of %u bytes (this build: %zu)", rsize, sizeof(res));
    if ((size_t)(s.end - s.p) != (size_t)nres * sizeof(res))
        return fail(&r, "section RESR: %u records in %zu bytes", nres, (size_t)(s.end - s.p));
    uint32_t old_cap = e->res_cap;
    if ((rc = pd_engine_int_grow((void **)&e->res, &e->res_cap, nres + 1, sizeof(res), 1024)))
        return rc;
    if (e->nrg && e->res_cap != old_cap) {
        free(e->rg);
        if (!(e->rg = calloc((size_t)e->res_cap * e->nrg, sizeof(rgc))))
            return PD_ENOMEM;
    }
    if (nres)
        memcpy(&e->res[1], s.p, (size_t)nres * sizeof(res));
    s.p = s.end;
    for (uint32_t i = 1; i <= nres; i++) {
        const res *R = &e->res[i];
        if ((R->scope & ~goal_bits) || !id_ok(R->account, nacc) || !id_ok(R->group, nstr) ||
            !id_ok(R->type, nstr) || !id_ok(R->name, nstr) || !id_ok(R->region, nstr) ||
            R->cloud >= PD_CLOUD__COUNT)
            return fail(&r, "resource %u: an id or goal bit out of range", i);
        for (uint64_t m = R->scope; m; m &= m - 1)
            e->goals[__builtin_ctzll(m)].in_scope++;
    }
    if (sec_done(&r, &s, T_RES))
        return PD_EINVAL;
    e->st.resources = nres;

    /* Controls; each goal's control list is in control-id order, as the engine builds it. */
    if (sec_read(&r, T_CTL, &s, &n, 35))
        return PD_EINVAL;
    if (n != nctl)
        return fail(&r, "%u control records for %u control keys", n, nctl);
    if ((rc = pd_engine_int_grow((void **)&e->ctls, &e->ctls_cap, nctl + 1, sizeof(ctl), 256)))
        return rc;
    for (uint32_t c = 1; c <= nctl; c++) {
        ctl *C = &e->ctls[c];
        C->goals = r_u64(&s);
        C->name = r_u32(&s);
        C->stale_s = r_u32(&s);
        C->flap_window_s = r_u32(&s);
        C->flap_toggles = r_u8(&s);
        C->sev = r_u8(&s);
        C->nsla = r_u8(&s);
        const uint8_t *sg = r_take(&s, MAX_SLA);
        uint32_t nfw = r_u32(&s);
        if (s.bad)
            break;
        memcpy(C->sla_goal, sg, MAX_SLA);
        if ((C->goals & ~goal_bits) || !id_ok(C->name, nstr) || C->nsla > MAX_SLA ||
            C->sev > PD_SEV_CRITICAL || nfw > (uint32_t)((s.end - s.p) / 4))
            return fail(&r, "control %u: an id, count or goal bit out of range", c);
        for (uint32_t i = 0; i < C->nsla; i++)
            if (C->sla_goal[i] >= e->ngoals || e->goals[C->sla_goal[i]].g->kind != PD_GOAL_SLA ||
                !(C->goals & (1ull << C->sla_goal[i])))
                return fail(&r, "control %u: SLA goal %u is not an SLA goal of it", c,
                            C->sla_goal[i]);
        if (nfw) {
            if (!(C->frameworks = pd_arena_alloc(&e->arena, nfw * sizeof(pd_str))))
                return PD_ENOMEM;
            for (uint32_t i = 0; i < nfw; i++) {
                uint32_t id = r_u32(&s);
                if (!id || id > nstr)
                    return fail(&r, "control %u: framework string %u out of range", c, id);
                C->frameworks[i] = pd_intern_str(e->strs, id);
            }
            C->nframeworks = nfw;
        }
        for (uint64_t m = C->goals; m; m &= m - 1) {
            goal_rt *G = &e->goals[__builtin_ctzll(m)];
            if ((rc = pd_engine_int_grow((void **)&G->ctls, &G->ctls_cap, G->nctls + 1,
                                         sizeof(uint32_t), 16)))
                return rc;
            G->ctls[G->nctls++] = c;
        }
    }
    if (sec_done(&r, &s, T_CTL))
        return PD_EINVAL;

    if (sec_read(&r, T_ACC, &s, &n, ACC_REC))
        return PD_EINVAL;
    if (n != nacc)
        return fail(&r, "%u account records for %u accounts", n, nacc);
    if (nacc &&
        (rc = pd_engine_int_grow((void **)&e->accts_v, &e->accts_cap, nacc + 1, sizeof(acct), 16)))
        return rc;
    uint32_t nopen = 0;
    for (uint32_t a = 1; a <= nacc; a++) {
        acct *A = &e->accts_v[a];
        A->score_num = r_f64(&s);
        A->score_den = r_f64(&s);
        A->has_score = r_u8(&s) != 0;
        A->snap_open = r_u8(&s) != 0;
        A->reconciling = r_u8(&s) != 0;
        A->snap_start_s = r_u32(&s);
        A->snap_last_s = r_u32(&s);
        A->cloud = r_u8(&s);
        if (A->cloud >= PD_CLOUD__COUNT)
            return fail(&r, "account %u: cloud out of range", a);
        nopen += A->snap_open;
    }
    if (sec_done(&r, &s, T_ACC))
        return PD_EINVAL;
    if (nopen != open_snapshots)
        return fail(&r, "%u open snapshots, %u accounts have one open", open_snapshots, nopen);

    if (sec_read(&r, T_CMP, &s, &n, CMP_REC))
        return PD_EINVAL;
    if (n != ncmp)
        return fail(&r, "%u compliance records for %u keys", n, ncmp);
    if (ncmp &&
        (rc = pd_engine_int_grow((void **)&e->comp, &e->comp_cap, ncmp + 1, sizeof(comprec), 64)))
        return rc;
    for (uint32_t i = 1; i <= ncmp; i++) {
        comprec *R = &e->comp[i];
        R->passed = r_u32(&s);
        R->failed = r_u32(&s);
        R->account = r_u32(&s);
        R->goals = r_u64(&s);
        if (!id_ok(R->account, nacc) || (R->goals & ~goal_bits))
            return fail(&r, "compliance record %u: an id or goal bit out of range", i);
    }
    if (sec_done(&r, &s, T_CMP))
        return PD_EINVAL;

    if (sec_read(&r, T_GOAL, &s, &n, GOAL_REC))
        return PD_EINVAL;
    if (n != e->ngoals)
        return fail(&r, "%u goal records for %u goals", n, e->ngoals);
    for (uint32_t i = 0; i < n; i++) {
        goal_rt *G = &e->goals[i];
        int8_t state = (int8_t)r_u8(&s);
        G->state = state;
        G->has_value = r_u8(&s) != 0;
        G->last_value = r_f64(&s);
        G->changed_ms = (int64_t)r_u64(&s);
        G->ev_num = r_f64(&s);
        G->ev_den = r_f64(&s);
        G->ev_records = r_u32(&s);
        if (state < -1 || state > 1)
            return fail(&r, "goal %u: state %d out of range", i, state);
    }
    if (sec_done(&r, &s, T_GOAL))
        return PD_EINVAL;

    /* Pairs, in their original order (so pair indexes, and with them every later iteration
     * order, are the same), straight into the engine's chunks. */
    if (sec_read(&r, T_PAIR, &s, &n, PAIR_REC))
        return PD_EINVAL;
    if ((size_t)(s.end - s.p) != (size_t)n * PAIR_REC)
        return fail(&r, "section PAIR: %u records in %zu bytes", n, (size_t)(s.end - s.p));
    uint32_t idx_mask = pd_engine_int_idx_mask();
    if (n >= idx_mask)
        return fail(&r, "%u pairs: more than the index addresses", n);
    uint32_t nchunks = (uint32_t)(((uint64_t)n + PAIR_CHUNK - 1) / PAIR_CHUNK);
    if (nchunks > e->chunks_cap) {
        pair **nc = realloc(e->chunks, nchunks * sizeof(pair *));
        if (!nc)
            return PD_ENOMEM;
        e->chunks = nc;
        e->chunks_cap = nchunks;
    }
    for (; e->nchunks < nchunks; e->nchunks++)
        if (!(e->chunks[e->nchunks] = malloc(PAIR_CHUNK * sizeof(pair))))
            return PD_ENOMEM;
    for (uint32_t v = 1; v <= n; v++, s.p += PAIR_REC) {
        uint32_t f[6];
        memcpy(f, s.p, 24);
        const uint8_t *b = s.p + 24;
        if (!f[0] || f[0] > nres || !f[1] || f[1] > nctl || b[0] > PD_STATUS_REMOVED ||
            ((b[1] >> F_SEV_SHIFT) & 7) > PD_SEV_CRITICAL)
            return fail(&r, "pair %u: an id or status out of range", v);
        pair *p = PAIR(e, v);
        p->res = f[0];
        p->ctl = f[1];
        p->ev_s = f[2];
        p->seen_s = f[3];
        p->since_s = f[4];
        p->flap_s = f[5];
        p->tprev = p->tnext = 0;
        p->status = b[0];
        p->flags = (uint8_t)(b[1] & ~F_LINKED);
        p->flap_n = b[2];
        p->sla_bits = b[3];
        e->npairs = v;
        pd_engine_int_contrib(e, v, +1);
    }
    e->st.pairs = n;
    for (uint32_t i = 0; i < e->ngoals; i++)
        e->goals[i].dirty = false;

    /* The index: adopted when its layout is this engine's and every slot checks out (each
     * pair exactly once, under its own tag, with room left), else rebuilt from the pairs. */
    if (sec_read(&r, T_INDEX, &s, &n, 0))
        return PD_EINVAL;
    uint64_t layout = r_u64(&s);
    uint64_t nslots = (uint64_t)n * 16;
    if (!n || n > (UINT32_MAX / 16) || (uint64_t)(s.end - s.p) != nslots * 4)
        return fail(&r, "section INDX: %u groups in %zu bytes", n, (size_t)(s.end - s.p));
    if (nslots <= e->npairs)
        return fail(&r, "section INDX: %u groups cannot hold %u pairs", n, e->npairs);
    uint32_t *ni = malloc(nslots * sizeof(uint32_t));
    if (!ni)
        return PD_ENOMEM;
    bool adopt = layout == idx_layout();
    if (adopt) {
        memcpy(ni, s.p, nslots * 4);
        uint8_t *seen = calloc(e->npairs / 8 + 1, 1);
        if (!seen) {
            free(ni);
            return PD_ENOMEM;
        }
        uint32_t count = 0;
        for (uint64_t j = 0; j < nslots && adopt; j++) {
            uint32_t x = ni[j], v = x & idx_mask;
            if (!x)
                continue;
            if (!v || v > e->npairs || (seen[v >> 3] & (1u << (v & 7)))) {
                adopt = false;
                break;
            }
            seen[v >> 3] |= (uint8_t)(1u << (v & 7));
            const pair *p = PAIR(e, v);
            if ((x & ~idx_mask) != pd_engine_int_idx_tag(pd_engine_int_pair_hash(p->res, p->ctl)))
                adopt = false;
            count++;
        }
        free(seen);
        if (adopt && count != e->npairs)
            adopt = false;
        if (!adopt) {
            free(ni);
            return fail(&r, "section INDX: a slot names a pair twice, none, or under another tag");
        }
    } else {
        /* Another layout (another build): insert every pair, as the engine does. */
        memset(ni, 0, nslots * 4);
        for (uint32_t v = 1; v <= e->npairs; v++) {
            const pair *p = PAIR(e, v);
            uint64_t h = pd_engine_int_pair_hash(p->res, p->ctl);
            uint32_t j = pd_engine_int_pair_home(h, n);
            while (ni[j])
                j = j + 1 == nslots ? 0 : j + 1;
            ni[j] = pd_engine_int_idx_tag(h) | v;
        }
    }
    free(e->index);
    e->index = ni;
    e->index_groups = n;

    if (sec_read(&r, T_WHEEL, &s, &n, 12))
        return PD_EINVAL;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t slot = r_u32(&s), cnt = r_u32(&s);
        if (s.bad)
            break;
        if (slot >= WHEEL_SIZE || e->wheel[slot] || cnt > (uint32_t)((s.end - s.p) / 4))
            return fail(&r, "timer slot %u: out of range, repeated or truncated", slot);
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t v = r_u32(&s);
            if (!v || v > e->npairs || (PAIR(e, v)->flags & F_LINKED))
                return fail(&r, "timer slot %u: pair %u out of range or linked twice", slot, v);
            pd_engine_int_link(e, v, slot);
        }
    }
    if (sec_done(&r, &s, T_WHEEL))
        return PD_EINVAL;
    if (r.p != r.end)
        return fail(&r, "%zu bytes after the last section", (size_t)(r.end - r.p));

    e->now_ms = now_ms;
    e->now_s = now_s;
    e->wheel_cur = wheel_cur;
    e->clock_s = clock_s;
    e->live_s = live_s;
    e->snap_due_s = snap_due_s;
    e->open_snapshots = open_snapshots;
    e->st.events = st[0];
    e->st.applied = st[1];
    e->st.duplicates = st[2];
    e->st.out_of_order = st[3];
    e->st.ignored = st[4];
    e->st.signals = st[5];
    e->st.timers_fired = st[6];
    e->st.snapshots_completed = st[7];
    return 0;
}

/* ---------- per-resource records (the changelog) ---------- */

uint32_t pd_engine_resource_count(const pd_engine *e)
{
    return pd_intern_count(e->res_ids);
}

/* The pairs of resource r in a caller buffer, or a heap one when there are more. */
static uint32_t *res_pairs(const pd_engine *e, uint32_t r, uint32_t *buf, uint32_t cap, uint32_t *n)
{
    *n = pd_engine_int_pairs_of_res(e, r, buf, cap);
    if (*n <= cap)
        return buf;
    uint32_t *vs = malloc((size_t)*n * sizeof(uint32_t));
    if (vs)
        pd_engine_int_pairs_of_res(e, r, vs, *n);
    return vs;
}

int pd_engine_export_resource(const pd_engine *e, uint32_t i, pd_buf *out, pd_str *key)
{
    if (!i || i > pd_intern_count(e->res_ids))
        return PD_ENOTFOUND;
    const res *R = &e->res[i];
    uint32_t buf[256], n;
    uint32_t *vs = res_pairs(e, i, buf, 256, &n);
    if (!vs)
        return PD_ENOMEM;
    pd_changelog_pair pb[64], *ps = n <= 64 ? pb : malloc((size_t)n * sizeof(*ps));
    if (!ps) {
        if (vs != buf)
            free(vs);
        return PD_ENOMEM;
    }
    uint32_t k = 0;
    for (uint32_t j = 0; j < n; j++) {
        const pair *p = PAIR(e, vs[j]);
        /* Removed pairs are kept: their last event time orders later records, and a record
         * for one is a transition, not a first observation. */
        if (p->status == PD_STATUS_UNKNOWN)
            continue;
        ps[k++] = (pd_changelog_pair){pd_intern_str(e->ctl_ids, p->ctl),
                                      p->status,
                                      (uint8_t)(p->flags & ~F_LINKED),
                                      p->flap_n,
                                      p->sla_bits,
                                      p->ev_s,
                                      p->seen_s,
                                      p->since_s,
                                      p->flap_s};
    }
    pd_changelog_res rec = {pd_engine_state_fingerprint(e),
                            pd_intern_str(e->res_ids, i),
                            R->cloud,
                            pd_intern_str(e->accts, R->account),
                            pd_intern_str(e->strs, R->group),
                            pd_intern_str(e->strs, R->type),
                            pd_intern_str(e->strs, R->name),
                            pd_intern_str(e->strs, R->region),
                            R->scope,
                            R->tagmatch,
                            R->attr_hash,
                            R->snap_s,
                            R->live,
                            R->gone,
                            ps,
                            k};
    int rc = pd_changelog_encode(&rec, out);
    *key = rec.id;
    if (ps != pb)
        free(ps);
    if (vs != buf)
        free(vs);
    return rc;
}

static int str_cmp(const void *a, const void *b)
{
    const pd_str *x = a, *y = b;
    int c = memcmp(x->p, y->p, PD_MIN(x->len, y->len));
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int opt_str(pd_intern *t, pd_str s, uint32_t *out)
{
    *out = 0;
    return s.len ? pd_intern_get(t, s, out) : 0;
}

int pd_engine_import_resource(pd_engine *e, const pd_changelog_res *rec)
{
    if (rec->fingerprint != pd_engine_state_fingerprint(e))
        return PD_ESTATE;
    uint64_t goal_bits = e->ngoals >= 64 ? ~0ull : (1ull << e->ngoals) - 1;
    if (!rec->id.len || (rec->scope & ~goal_bits) || rec->cloud >= PD_CLOUD__COUNT ||
        rec->npairs > 65535)
        return PD_EINVAL;
    /* Validate every pair, and that no control appears twice, before changing anything. */
    pd_str kb[64], *keys = rec->npairs <= 64 ? kb : malloc(rec->npairs * sizeof(pd_str));
    if (!keys)
        return PD_ENOMEM;
    int rc = 0;
    for (uint32_t j = 0; j < rec->npairs && !rc; j++) {
        const pd_changelog_pair *cp = &rec->pairs[j];
        keys[j] = cp->control;
        if (!cp->control.len || cp->status == PD_STATUS_UNKNOWN || cp->status >= PD_STATUS__COUNT ||
            ((cp->flags >> F_SEV_SHIFT) & 7) > PD_SEV_CRITICAL)
            rc = PD_EINVAL;
    }
    if (!rc && rec->npairs > 1) {
        qsort(keys, rec->npairs, sizeof(pd_str), str_cmp);
        for (uint32_t j = 1; j < rec->npairs && !rc; j++)
            if (!str_cmp(&keys[j - 1], &keys[j]))
                rc = PD_EINVAL;
    }
    if (keys != kb)
        free(keys);
    if (rc)
        return rc;

    uint32_t r;
    bool fresh;
    if ((rc = pd_engine_int_res_id(e, rec->id, &r, &fresh)))
        return rc;
    if (fresh) {
        uint32_t old_cap = e->res_cap;
        if ((rc = pd_engine_int_grow((void **)&e->res, &e->res_cap, r + 1, sizeof(res), 1024)))
            return rc;
        if (e->res_cap != old_cap && e->nrg) {
            rgc *nrg = realloc(e->rg, (size_t)e->res_cap * e->nrg * sizeof(rgc));
            if (!nrg)
                return PD_ENOMEM;
            memset(nrg + (size_t)old_cap * e->nrg, 0,
                   (size_t)(e->res_cap - old_cap) * e->nrg * sizeof(rgc));
            e->rg = nrg;
        }
        e->st.resources++;
    }
    /* Take the old state out of the counters: every pair, then the scope. */
    uint32_t buf[256], n;
    uint32_t *vs = res_pairs(e, r, buf, 256, &n);
    if (!vs)
        return PD_ENOMEM;
    for (uint32_t j = 0; j < n; j++) {
        pair *p = PAIR(e, vs[j]);
        pd_engine_int_unlink(e, vs[j]);
        pd_engine_int_contrib(e, vs[j], -1);
        p->status = PD_STATUS_REMOVED;
        p->flags = 0;
        p->sla_bits = 0;
        p->flap_n = 0;
    }
    if (vs != buf)
        free(vs);
    res *R = &e->res[r];
    for (uint64_t m = R->scope; m; m &= m - 1) {
        e->goals[__builtin_ctzll(m)].in_scope--;
        e->goals[__builtin_ctzll(m)].dirty = true;
    }
    uint32_t acc, grp, typ, nam, reg;
    if ((rc = pd_engine_int_acct(e, rec->account, &acc)) ||
        (rc = opt_str(e->strs, rec->group, &grp)) || (rc = opt_str(e->strs, rec->type, &typ)) ||
        (rc = opt_str(e->strs, rec->name, &nam)) || (rc = opt_str(e->strs, rec->region, &reg)))
        return rc;
    R = &e->res[r];
    R->account = acc;
    if (acc)
        e->accts_v[acc].cloud = rec->cloud;
    R->group = grp;
    R->type = typ;
    R->name = nam;
    R->region = reg;
    R->cloud = rec->cloud;
    R->scope = rec->scope;
    R->tagmatch = rec->tagmatch;
    R->attr_hash = rec->attr_hash;
    R->snap_s = rec->snap_s;
    R->live = rec->live;
    R->gone = rec->gone;
    for (uint64_t m = R->scope; m; m &= m - 1) {
        e->goals[__builtin_ctzll(m)].in_scope++;
        e->goals[__builtin_ctzll(m)].dirty = true;
    }
    /* The record's pairs. */
    for (uint32_t j = 0; j < rec->npairs; j++) {
        const pd_changelog_pair *cp = &rec->pairs[j];
        uint32_t c = pd_engine_int_find_ctl(e, cp->control), v = 0;
        if (!c) {
            /* A control this engine has not seen (its record did not come first): set up as
             * an event naming only its key would. */
            pd_event ev;
            pd_event_reset(&ev);
            ev.kind = PD_KIND_ASSESSMENT;
            ev.control.key = cp->control;
            if ((rc = pd_engine_int_ctl_from_event(e, &ev, &c)))
                return rc;
        } else {
            v = pd_engine_int_find_pair(e, r, c);
        }
        if (!v) {
            if ((rc = pd_engine_int_pair_add(e, r, c, &v)))
                return rc;
            e->st.pairs++;
        }
        pair *p = PAIR(e, v);
        p->status = cp->status;
        p->flags = (uint8_t)(cp->flags & ~F_LINKED);
        p->flap_n = cp->flap_n;
        p->sla_bits = cp->sla_bits;
        p->ev_s = cp->ev_s;
        p->seen_s = cp->seen_s;
        p->since_s = cp->since_s;
        p->flap_s = cp->flap_s;
        pd_engine_int_contrib(e, v, +1);
        uint32_t d = pd_engine_int_deadline(e, v);
        if (d)
            pd_engine_int_link(e, v, e->wheel_cur && d < e->wheel_cur ? e->wheel_cur : d);
    }
    return 0;
}

uint32_t pd_engine_control_count(const pd_engine *e)
{
    return pd_intern_count(e->ctl_ids);
}

int pd_engine_export_control(const pd_engine *e, uint32_t i, pd_buf *out, pd_buf *key_out)
{
    if (!i || i > pd_intern_count(e->ctl_ids))
        return PD_ENOTFOUND;
    const ctl *C = &e->ctls[i];
    pd_changelog_ctl c;
    memset(&c, 0, sizeof(c));
    c.fingerprint = pd_engine_state_fingerprint(e);
    c.key = pd_intern_str(e->ctl_ids, i);
    c.name = pd_intern_str(e->strs, C->name);
    c.goals = C->goals;
    c.stale_s = C->stale_s;
    c.flap_window_s = C->flap_window_s;
    c.flap_toggles = C->flap_toggles;
    c.sev = C->sev;
    c.nsla = C->nsla;
    memcpy(c.sla_goal, C->sla_goal, MAX_SLA);
    c.frameworks = C->frameworks;
    c.nframeworks = C->nframeworks;
    pd_buf_append(key_out, PD_CHANGELOG_CTL_PREFIX, strlen(PD_CHANGELOG_CTL_PREFIX));
    pd_buf_append(key_out, c.key.p, c.key.len);
    if (key_out->oom)
        return PD_ENOMEM;
    return pd_changelog_encode_control(&c, out);
}

int pd_engine_import_control(pd_engine *e, const pd_changelog_ctl *rc_)
{
    if (rc_->fingerprint != pd_engine_state_fingerprint(e))
        return PD_ESTATE;
    uint64_t goal_bits = e->ngoals >= 64 ? ~0ull : (1ull << e->ngoals) - 1;
    if (!rc_->key.len || (rc_->goals & ~goal_bits) || rc_->nsla > MAX_SLA ||
        rc_->sev > PD_SEV_CRITICAL)
        return PD_EINVAL;
    for (uint32_t i = 0; i < rc_->nsla; i++)
        if (rc_->sla_goal[i] >= e->ngoals || e->goals[rc_->sla_goal[i]].g->kind != PD_GOAL_SLA ||
            !(rc_->goals & (1ull << rc_->sla_goal[i])))
            return PD_EINVAL;
    if (pd_engine_int_find_ctl(e, rc_->key))
        return 0;
    uint32_t c;
    bool fresh;
    int rc = pd_engine_int_ctl_id(e, rc_->key, &c, &fresh);
    if (rc)
        return rc;
    if ((rc = pd_engine_int_grow((void **)&e->ctls, &e->ctls_cap, c + 1, sizeof(ctl), 256)))
        return rc;
    ctl *C = &e->ctls[c];
    memset(C, 0, sizeof(*C));
    if ((rc = opt_str(e->strs, rc_->name, &C->name)))
        return rc;
    C->goals = rc_->goals;
    C->stale_s = rc_->stale_s;
    C->flap_window_s = rc_->flap_window_s ? rc_->flap_window_s : 1;
    C->flap_toggles = rc_->flap_toggles;
    C->sev = rc_->sev;
    C->nsla = rc_->nsla;
    memcpy(C->sla_goal, rc_->sla_goal, MAX_SLA);
    if (rc_->nframeworks) {
        pd_str *fw = pd_arena_alloc(&e->arena, rc_->nframeworks * sizeof(pd_str));
        if (!fw)
            return PD_ENOMEM;
        for (uint32_t i = 0; i < rc_->nframeworks; i++) {
            uint32_t id;
            if ((rc = pd_intern_get(e->strs, rc_->frameworks[i], &id)))
                return rc;
            fw[i] = pd_intern_str(e->strs, id);
        }
        C = &e->ctls[c];
        C->frameworks = fw;
        C->nframeworks = rc_->nframeworks;
    }
    for (uint64_t m = C->goals; m; m &= m - 1) {
        goal_rt *G = &e->goals[__builtin_ctzll(m)];
        if ((rc = pd_engine_int_grow((void **)&G->ctls, &G->ctls_cap, G->nctls + 1,
                                     sizeof(uint32_t), 16)))
            return rc;
        G->ctls[G->nctls++] = c;
    }
    return 0;
}

int pd_engine_export_goal(const pd_engine *e, uint32_t i, pd_buf *out, pd_buf *key_out)
{
    if (i >= e->ngoals)
        return PD_ENOTFOUND;
    const goal_rt *G = &e->goals[i];
    pd_changelog_goal g = {pd_engine_state_fingerprint(e),
                           pd_str_c(G->g->id),
                           (int8_t)G->state,
                           G->has_value,
                           G->last_value,
                           G->changed_ms};
    pd_buf_append(key_out, PD_CHANGELOG_GOAL_PREFIX, strlen(PD_CHANGELOG_GOAL_PREFIX));
    pd_buf_append(key_out, g.id.p, g.id.len);
    if (key_out->oom)
        return PD_ENOMEM;
    return pd_changelog_encode_goal(&g, out);
}

int pd_engine_import_goal(pd_engine *e, const pd_changelog_goal *g)
{
    if (g->fingerprint != pd_engine_state_fingerprint(e))
        return PD_ESTATE;
    for (uint32_t i = 0; i < e->ngoals; i++) {
        goal_rt *G = &e->goals[i];
        if (!pd_str_eq_c(g->id, G->g->id))
            continue;
        G->state = g->state;
        G->has_value = g->has_value;
        G->last_value = g->value;
        G->changed_ms = g->changed_ms;
        return 0;
    }
    return PD_ENOTFOUND;
}

uint32_t pd_engine_account_count(const pd_engine *e)
{
    return pd_intern_count(e->accts);
}

int pd_engine_export_account(const pd_engine *e, uint32_t i, pd_buf *out, pd_buf *key_out)
{
    if (!i || i > pd_intern_count(e->accts))
        return PD_ENOTFOUND;
    const acct *A = &e->accts_v[i];
    uint32_t ncmp = pd_intern_count(e->comp_ids), n = 0;
    for (uint32_t c = 1; c <= ncmp; c++)
        n += e->comp[c].account == i;
    pd_changelog_comp *cs = n ? malloc(n * sizeof(*cs)) : NULL;
    if (n && !cs)
        return PD_ENOMEM;
    n = 0;
    for (uint32_t c = 1; c <= ncmp; c++)
        if (e->comp[c].account == i)
            cs[n++] = (pd_changelog_comp){pd_intern_str(e->comp_ids, c), e->comp[c].passed,
                                          e->comp[c].failed, e->comp[c].goals};
    pd_changelog_acct a = {pd_engine_state_fingerprint(e),
                           pd_intern_str(e->accts, i),
                           A->cloud,
                           A->has_score,
                           A->score_num,
                           A->score_den,
                           cs,
                           n};
    pd_buf_append(key_out, PD_CHANGELOG_ACCT_PREFIX, strlen(PD_CHANGELOG_ACCT_PREFIX));
    pd_buf_append(key_out, a.account.p, a.account.len);
    int rc = key_out->oom ? PD_ENOMEM : pd_changelog_encode_acct(&a, out);
    free(cs);
    return rc;
}

static uint64_t acct_digest_seed(const pd_engine *e, uint32_t a)
{
    const acct *A = &e->accts_v[a];
    uint64_t n, d;
    memcpy(&n, &A->score_num, 8);
    memcpy(&d, &A->score_den, 8);
    return pd_hash_mix(pd_hash_mix(n, d), (uint64_t)A->has_score << 8 | A->cloud);
}

int pd_engine_account_digests(const pd_engine *e, uint64_t *out)
{
    uint32_t nacc = pd_intern_count(e->accts), ncmp = pd_intern_count(e->comp_ids);
    for (uint32_t a = 1; a <= nacc; a++)
        out[a] = acct_digest_seed(e, a);
    for (uint32_t c = 1; c <= ncmp; c++) {
        const comprec *R = &e->comp[c];
        if (R->account && R->account <= nacc)
            out[R->account] ^=
                pd_hash_mix(pd_hash_mix(c, R->goals), (uint64_t)R->passed << 32 | R->failed);
    }
    return 0;
}

int pd_engine_import_account(pd_engine *e, const pd_changelog_acct *ar)
{
    if (ar->fingerprint != pd_engine_state_fingerprint(e))
        return PD_ESTATE;
    uint64_t comp_bits = 0;
    for (uint32_t i = 0; i < e->ngoals; i++)
        if (e->goals[i].g->kind == PD_GOAL_COMPLIANCE)
            comp_bits |= 1ull << i;
    if (!ar->account.len || ar->cloud >= PD_CLOUD__COUNT)
        return PD_EINVAL;
    for (uint32_t j = 0; j < ar->ncomp; j++)
        if (!ar->comp[j].key.len || (ar->comp[j].goals & ~comp_bits))
            return PD_EINVAL;
    uint32_t a;
    int rc = pd_engine_int_acct(e, ar->account, &a);
    if (rc)
        return rc;
    acct *A = &e->accts_v[a];
    A->cloud = ar->cloud;
    A->has_score = ar->has_score;
    A->score_num = ar->score_num;
    A->score_den = ar->score_den;
    for (uint32_t j = 0; j < ar->ncomp; j++) {
        const pd_changelog_comp *c = &ar->comp[j];
        uint32_t n0 = pd_intern_count(e->comp_ids), id;
        if ((rc = pd_intern_get(e->comp_ids, c->key, &id)) ||
            (rc = pd_engine_int_grow((void **)&e->comp, &e->comp_cap, id + 1, sizeof(comprec), 64)))
            return rc;
        comprec *R = &e->comp[id];
        if (id > n0) {
            R->account = a;
            R->goals = c->goals;
            for (uint64_t m = R->goals; m; m &= m - 1)
                e->goals[__builtin_ctzll(m)].ev_records++;
        }
        for (uint64_t m = R->goals; m; m &= m - 1) {
            goal_rt *G = &e->goals[__builtin_ctzll(m)];
            G->ev_num += (double)c->passed - (double)R->passed;
            G->ev_den +=
                (double)c->passed + (double)c->failed - (double)R->passed - (double)R->failed;
            G->dirty = true;
        }
        R->passed = c->passed;
        R->failed = c->failed;
    }
    /* Score goals: over every account, as a score event recomputes them. */
    for (uint32_t gi = 0; gi < e->ngoals; gi++) {
        goal_rt *G = &e->goals[gi];
        if (G->g->kind != PD_GOAL_SCORE)
            continue;
        G->ev_num = G->ev_den = 0;
        G->ev_records = 0;
        for (uint32_t i = 1; i < e->accts_cap && i <= pd_intern_count(e->accts); i++) {
            const acct *X = &e->accts_v[i];
            if (!X->has_score ||
                !pd_engine_int_acct_in_scope(G->g, (pd_cloud)X->cloud, pd_intern_str(e->accts, i)))
                continue;
            G->ev_num += X->score_num;
            G->ev_den += X->score_den;
            G->ev_records++;
        }
        G->dirty = true;
    }
    return 0;
}

int pd_engine_import_settle(pd_engine *e, int64_t now_ms)
{
    if (now_ms != PD_TIME_NONE && (e->now_ms == PD_TIME_NONE || now_ms > e->now_ms)) {
        e->now_ms = now_ms;
        e->now_s = now_ms > 0 ? (uint32_t)PD_MIN(now_ms / 1000, (int64_t)UINT32_MAX) : 0;
        e->clock_s = e->now_s > e->lateness_s ? e->now_s - e->lateness_s : 0;
        if (e->live_s < e->now_s)
            e->live_s = e->now_s;
    }
    if (e->now_ms != PD_TIME_NONE) {
        /* Timers that were due before the clock go to the next slot the wheel will visit. */
        uint32_t next = e->clock_s + 1;
        if (!e->wheel_cur || e->wheel_cur > next)
            e->wheel_cur = next;
        for (uint32_t v = 1; v <= e->npairs; v++) {
            if (!(PAIR(e, v)->flags & F_LINKED))
                continue;
            uint32_t d = pd_engine_int_deadline(e, v);
            if (d && d < e->wheel_cur) {
                pd_engine_int_unlink(e, v);
                pd_engine_int_link(e, v, e->wheel_cur);
            }
        }
    }
    for (uint32_t i = 0; i < e->ngoals; i++) {
        goal_rt *G = &e->goals[i];
        pd_goal_status st;
        pd_engine_goal_status(e, i, &st);
        G->dirty = false;
        if (!st.has_value || G->state != -1)
            continue; /* no value yet, or a state from a record or a snapshot */
        G->state = pd_goal_cmp(G->g->cmp, st.value, G->g->target) ? 1 : 0;
        G->has_value = true;
        G->last_value = st.value;
    }
    return 0;
}

int pd_engine_import_tombstone(pd_engine *e, pd_str id)
{
    if (!pd_engine_int_find_res(e, id))
        return 0;
    pd_changelog_res rec;
    memset(&rec, 0, sizeof(rec));
    rec.fingerprint = pd_engine_state_fingerprint(e);
    rec.id = id;
    rec.gone = 1;
    return pd_engine_import_resource(e, &rec);
}

/* ---------- change tracking for the changelog ---------- */

uint32_t pd_engine_resource_find(const pd_engine *e, pd_str canon)
{
    return pd_engine_int_find_res(e, canon);
}

/* A resource's exportable state in 64 bits: its attributes' hash mixed with the XOR of its
 * live pairs' hashes (order-free, so the pair-order scan and the per-resource scan agree;
 * controls by key, so digests compare across engines). */
static uint64_t res_seed(const pd_engine *e, uint32_t r)
{
    const res *R = &e->res[r];
    uint64_t h = pd_hash_mix(R->scope, R->tagmatch);
    h = pd_hash_mix(h, (uint64_t)R->attr_hash << 32 | R->snap_s);
    h = pd_hash_mix(h, (uint64_t)R->live << 16 | (uint64_t)R->gone << 8 | R->cloud);
    pd_str a = pd_intern_str(e->accts, R->account);
    return pd_hash_mix(h, pd_hash64(a.p, a.len, 1));
}

static uint64_t pair_digest(const pd_engine *e, const pair *p, const uint64_t *ctl_h)
{
    if (p->status == PD_STATUS_UNKNOWN)
        return 0;
    uint64_t h = ctl_h[p->ctl];
    h = pd_hash_mix(h, (uint64_t)p->ev_s << 32 | p->seen_s);
    h = pd_hash_mix(h, (uint64_t)p->since_s << 32 | p->flap_s);
    h = pd_hash_mix(h, (uint64_t)p->status << 24 | (uint64_t)(p->flags & ~F_LINKED) << 16 |
                           (uint64_t)p->flap_n << 8 | p->sla_bits);
    (void)e;
    return h;
}

static uint64_t *ctl_hashes(const pd_engine *e)
{
    uint32_t n = pd_intern_count(e->ctl_ids);
    uint64_t *h = malloc(((size_t)n + 1) * sizeof(uint64_t));
    if (!h)
        return NULL;
    h[0] = 0;
    for (uint32_t c = 1; c <= n; c++) {
        pd_str k = pd_intern_str(e->ctl_ids, c);
        h[c] = pd_hash64(k.p, k.len, 7);
    }
    return h;
}

int pd_engine_resource_digests(const pd_engine *e, uint64_t *out, const uint32_t *which,
                               uint32_t nwhich)
{
    uint64_t *ch = ctl_hashes(e);
    if (!ch)
        return PD_ENOMEM;
    uint32_t nres = pd_intern_count(e->res_ids);
    if (!which) {
        for (uint32_t r = 1; r <= nres; r++)
            out[r] = res_seed(e, r);
        for (uint32_t v = 1; v <= e->npairs; v++) {
            const pair *p = PAIR(e, v);
            out[p->res] ^= pair_digest(e, p, ch);
        }
    } else {
        uint32_t buf[256];
        for (uint32_t i = 0; i < nwhich; i++) {
            uint32_t r = which[i], n;
            if (!r || r > nres)
                continue;
            uint32_t *vs = res_pairs(e, r, buf, 256, &n);
            if (!vs) {
                free(ch);
                return PD_ENOMEM;
            }
            uint64_t h = res_seed(e, r);
            for (uint32_t j = 0; j < n; j++)
                h ^= pair_digest(e, PAIR(e, vs[j]), ch);
            out[r] = h;
            if (vs != buf)
                free(vs);
        }
    }
    free(ch);
    return 0;
}

void pd_engine_track_touched(pd_engine *e, bool on)
{
    e->track_touched = on;
    pd_engine_touched_clear(e);
}

bool pd_engine_tracking_touched(const pd_engine *e)
{
    return e->track_touched;
}

const uint32_t *pd_engine_touched(const pd_engine *e, uint32_t *n, bool *overflow)
{
    *n = e->ntouched;
    *overflow = e->touched_overflow;
    return e->touched;
}

void pd_engine_touched_clear(pd_engine *e)
{
    e->ntouched = 0;
    e->touched_overflow = false;
}
