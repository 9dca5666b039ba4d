/* pd_engine_query.c: read-side queries of the goals engine for the status API (see the
 * pd_engine_query section of pd_engine.h).
 *
 * Index: pairs are only ever appended to the engine's pair array (a removed pair keeps its
 * record with status REMOVED), so a per-resource chain (head[res], next[pair]) can be extended
 * with the pairs appended since the previous call: a query costs O(new pairs) amortized plus
 * the resource's own pairs. Violators: one pass over the resources that are in the goal's
 * scope bit (O(resources), a few loads each) builds the sorted list, which is kept until the
 * engine changes (events, timers or time), so paging through it costs O(limit) per page. */
#include "pd_engine_int.h"
#include "pd_time.h"

#include <stdlib.h>
#include <string.h>

typedef struct vcache {
    uint32_t *res; /* violating resource ids, sorted by id */
    uint32_t n, cap;
    uint64_t gen_events, gen_timers;
    int64_t gen_now;
    bool valid;
} vcache;

struct pd_engine_query {
    const pd_engine *e;
    uint32_t *head; /* per resource: last pair (1-based), 0 = none */
    uint32_t head_cap;
    uint32_t *next; /* per pair: previous pair of the same resource */
    uint32_t next_cap;
    uint32_t indexed; /* pairs chained so far */
    vcache *vc;       /* one per goal */
    uint32_t nvc;
};

static int grow_u32(uint32_t **arr, uint32_t *cap, uint32_t need)
{
    if (need <= *cap)
        return 0;
    uint32_t nc = *cap ? *cap : 1024;
    while (nc < need)
        nc *= 2;
    uint32_t *p = realloc(*arr, (size_t)nc * sizeof(uint32_t));
    if (!p)
        return PD_ENOMEM;
    memset(p + *cap, 0, (size_t)(nc - *cap) * sizeof(uint32_t));
    *arr = p;
    *cap = nc;
    return 0;
}

int pd_engine_query_create(const pd_engine *e, pd_engine_query **out)
{
    int rc = PD_ENOMEM;
    pd_engine_query *q = calloc(1, sizeof(*q));
    if (!q)
        goto done;
    q->e = e;
    q->nvc = e->ngoals;
    if (q->nvc && !(q->vc = calloc(q->nvc, sizeof(vcache))))
        goto done;
    *out = q;
    q = NULL;
    rc = 0;
done:
    pd_engine_query_destroy(q);
    return rc;
}

void pd_engine_query_destroy(pd_engine_query *q)
{
    if (!q)
        return;
    for (uint32_t i = 0; i < q->nvc; i++)
        free(q->vc[i].res);
    free(q->vc);
    free(q->head);
    free(q->next);
    free(q);
}

/* Chains the pairs appended since the last call. */
static int sync_index(pd_engine_query *q)
{
    const pd_engine *e = q->e;
    if (q->indexed == e->npairs)
        return 0;
    uint32_t nres = pd_intern_count(e->res_ids) + 1;
    if (grow_u32(&q->head, &q->head_cap, nres) || grow_u32(&q->next, &q->next_cap, e->npairs + 1))
        return PD_ENOMEM;
    for (uint32_t v = q->indexed + 1; v <= e->npairs; v++) {
        const pair *p = PAIR(e, v);
        q->next[v] = q->head[p->res];
        q->head[p->res] = v;
    }
    q->indexed = e->npairs;
    return 0;
}

static void fill_res_view(const pd_engine *e, uint32_t r, pd_res_view *o)
{
    const res *R = &e->res[r];
    memset(o, 0, sizeof(*o));
    o->id = pd_intern_str(e->res_ids, r);
    o->name = pd_intern_str(e->strs, R->name);
    o->type = pd_intern_str(e->strs, R->type);
    o->account = pd_intern_str(e->accts, R->account);
    o->group = pd_intern_str(e->strs, R->group);
    o->region = pd_intern_str(e->strs, R->region);
    o->cloud = (pd_cloud)R->cloud;
    o->gone = R->gone != 0;
}

static uint32_t find_res(const pd_engine *e, pd_str canon)
{
    return canon.len ? pd_engine_int_find_res(e, canon) : 0;
}

int pd_engine_query_resource(pd_engine_query *q, pd_str canon, pd_res_view *out)
{
    uint32_t r = find_res(q->e, canon);
    if (!r)
        return PD_ENOTFOUND;
    int rc = sync_index(q);
    if (rc)
        return rc;
    fill_res_view(q->e, r, out);
    for (uint32_t v = q->head[r]; v; v = q->next[v])
        out->npairs++;
    return 0;
}

static int cmp_str(pd_str a, pd_str b)
{
    int c = memcmp(a.p, b.p, PD_MIN(a.len, b.len));
    return c ? c : (a.len < b.len ? -1 : a.len > b.len ? 1 : 0);
}

static int64_t ms_of(uint32_t s)
{
    return s ? (int64_t)s * 1000 : PD_TIME_NONE;
}

uint32_t pd_engine_query_pairs(pd_engine_query *q, pd_str canon, pd_pair_view_fn fn, void *ctx)
{
    const pd_engine *e = q->e;
    uint32_t r = find_res(e, canon), n = 0;
    if (!r || sync_index(q))
        return 0;
    uint32_t buf[128], *vs = buf, cap = 128;
    for (uint32_t v = q->head[r]; v; v = q->next[v])
        n++;
    if (n > cap) {
        if (!(vs = malloc((size_t)n * sizeof(uint32_t))))
            return 0;
    }
    uint32_t k = 0;
    for (uint32_t v = q->head[r]; v; v = q->next[v])
        vs[k++] = v;
    /* insertion sort by control key: a resource has tens of pairs */
    for (uint32_t a = 1; a < n; a++)
        for (uint32_t b = a; b > 0; b--) {
            pd_str x = pd_intern_str(e->ctl_ids, PAIR(e, vs[b - 1])->ctl);
            pd_str y = pd_intern_str(e->ctl_ids, PAIR(e, vs[b])->ctl);
            if (cmp_str(x, y) <= 0)
                break;
            uint32_t t = vs[b];
            vs[b] = vs[b - 1];
            vs[b - 1] = t;
        }
    for (uint32_t i = 0; i < n && fn; i++) {
        const pair *p = PAIR(e, vs[i]);
        pd_pair_view pv;
        memset(&pv, 0, sizeof(pv));
        pv.control = pd_intern_str(e->ctl_ids, p->ctl);
        pv.control_name = pd_intern_str(e->strs, e->ctls[p->ctl].name);
        pv.stale = (p->flags & F_STALE) != 0;
        pv.flapping = (p->flags & F_FLAPPING) != 0;
        pv.last = (pd_status)p->status;
        pv.removed = p->status > PD_STATUS_NOT_APPLICABLE;
        pv.status = pv.stale ? PD_STATUS_UNKNOWN : pv.last;
        pv.severity = (pd_severity)((p->flags >> F_SEV_SHIFT) & 7u);
        pv.since_ms = p->status == PD_STATUS_UNHEALTHY ? ms_of(p->since_s) : PD_TIME_NONE;
        pv.updated_ms = ms_of(p->ev_s);
        fn(ctx, &pv);
    }
    if (vs != buf)
        free(vs);
    return n;
}

int pd_engine_goal_find(const pd_engine *e, pd_str id, uint32_t *gi)
{
    for (uint32_t i = 0; i < e->ngoals; i++) {
        const char *g = e->goals[i].g->id;
        if (strlen(g) == id.len && !memcmp(g, id.p, id.len)) {
            *gi = i;
            return 0;
        }
    }
    return PD_ENOTFOUND;
}

/* Does resource r violate goal gi now (the engine's own per-resource counters)? */
static bool violates(const pd_engine *e, uint32_t gi, uint32_t r)
{
    const goal_rt *G = &e->goals[gi];
    const res *R = &e->res[r];
    if (G->rgi < 0 || R->gone || !(R->scope & (1ULL << gi)))
        return false;
    const rgc *rc = &e->rg[(size_t)r * e->nrg + (uint32_t)G->rgi];
    if (G->g->kind == PD_GOAL_SLA)
        return rc->na > 0;
    return rc->unh > 0;
}

static const pd_engine *sort_e; /* qsort context: the loop thread only */

static int cmp_res(const void *a, const void *b)
{
    return cmp_str(pd_intern_str(sort_e->res_ids, *(const uint32_t *)a),
                   pd_intern_str(sort_e->res_ids, *(const uint32_t *)b));
}

static int build_violators(pd_engine_query *q, uint32_t gi, vcache *c)
{
    const pd_engine *e = q->e;
    c->n = 0;
    uint32_t nres = pd_intern_count(e->res_ids);
    for (uint32_t r = 1; r <= nres; r++) {
        if (!violates(e, gi, r))
            continue;
        if (c->n == c->cap && grow_u32(&c->res, &c->cap, c->n + 1))
            return PD_ENOMEM;
        c->res[c->n++] = r;
    }
    sort_e = e;
    if (c->n > 1)
        qsort(c->res, c->n, sizeof(uint32_t), cmp_res);
    sort_e = NULL;
    c->gen_events = e->st.events;
    c->gen_timers = e->st.timers_fired;
    c->gen_now = e->now_ms;
    c->valid = true;
    return 0;
}

static int sla_bit(const ctl *c, uint32_t gi)
{
    for (uint32_t i = 0; i < c->nsla; i++)
        if (c->sla_goal[i] == gi)
            return (int)i;
    return -1;
}

int pd_engine_query_violators(pd_engine_query *q, uint32_t gi, uint32_t offset, uint32_t limit,
                              pd_violator_fn fn, void *ctx, uint32_t *total)
{
    const pd_engine *e = q->e;
    *total = 0;
    if (gi >= e->ngoals || gi >= q->nvc)
        return PD_ENOTFOUND;
    if (e->goals[gi].rgi < 0)
        return 0;
    vcache *c = &q->vc[gi];
    int rc = 0;
    if (!c->valid || c->gen_events != e->st.events || c->gen_timers != e->st.timers_fired ||
        c->gen_now != e->now_ms)
        rc = build_violators(q, gi, c);
    if (rc || (rc = sync_index(q)))
        return rc;
    *total = c->n;
    const goal_rt *G = &e->goals[gi];
    for (uint32_t i = offset; i < c->n && i - offset < limit && fn; i++) {
        uint32_t r = c->res[i];
        pd_violator_view vv;
        memset(&vv, 0, sizeof(vv));
        fill_res_view(e, r, &vv.res);
        vv.since_ms = PD_TIME_NONE;
        for (uint32_t v = q->head[r]; v; v = q->next[v]) {
            const pair *p = PAIR(e, v);
            vv.res.npairs++;
            const ctl *C = &e->ctls[p->ctl];
            if (!(C->goals & (1ULL << gi)))
                continue;
            bool bad;
            if (G->g->kind == PD_GOAL_SLA) {
                int b = sla_bit(C, gi);
                bad = b >= 0 && (p->sla_bits & (1u << b));
            } else {
                pd_severity sev = (pd_severity)((p->flags >> F_SEV_SHIFT) & 7u);
                bad = p->status == PD_STATUS_UNHEALTHY && !(p->flags & F_STALE) &&
                      (G->g->min_severity == PD_SEV_UNKNOWN || sev >= G->g->min_severity);
            }
            if (!bad)
                continue;
            vv.failing++;
            int64_t since = ms_of(p->since_s);
            if (vv.since_ms == PD_TIME_NONE || (since != PD_TIME_NONE && since < vv.since_ms)) {
                vv.since_ms = since;
                vv.control = pd_intern_str(e->ctl_ids, p->ctl);
            }
        }
        fn(ctx, &vv);
    }
    return 0;
}

/* ---- pair import (reload) ---- */

static const pd_engine *imp_e;

static int cmp_ev(const void *a, const void *b)
{
    uint32_t va = *(const uint32_t *)a, vb = *(const uint32_t *)b;
    uint32_t ta = PAIR(imp_e, va)->ev_s, tb = PAIR(imp_e, vb)->ev_s;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return va < vb ? -1 : va > vb;
}

int pd_engine_import_pairs(pd_engine *dst, const pd_engine *src, uint64_t *npairs)
{
    int rc = 0;
    uint32_t *vs = NULL, n = 0;
    *npairs = 0;
    if (src->npairs && !(vs = malloc((size_t)src->npairs * sizeof(uint32_t))))
        return PD_ENOMEM;
    for (uint32_t v = 1; v <= src->npairs; v++) {
        const pair *p = PAIR(src, v);
        if (!p->ev_s)
            continue;
        vs[n++] = v;
    }
    imp_e = src;
    if (n > 1)
        qsort(vs, n, sizeof(uint32_t), cmp_ev);
    imp_e = NULL;
    pd_event ev;
    for (uint32_t i = 0; i < n; i++) {
        const pair *p = PAIR(src, vs[i]);
        const res *R = &src->res[p->res];
        const ctl *C = &src->ctls[p->ctl];
        memset(&ev, 0, sizeof(ev));
        pd_event_reset(&ev);
        ev.kind = PD_KIND_ASSESSMENT;
        ev.format = PD_FMT_OCSF;
        ev.resource.canon = ev.resource.id = pd_intern_str(src->res_ids, p->res);
        ev.resource.cloud = (pd_cloud)R->cloud;
        ev.resource.account = pd_intern_str(src->accts, R->account);
        ev.resource.group = pd_intern_str(src->strs, R->group);
        ev.resource.type = pd_intern_str(src->strs, R->type);
        ev.resource.name = pd_intern_str(src->strs, R->name);
        ev.resource.region = pd_intern_str(src->strs, R->region);
        ev.control.key = pd_intern_str(src->ctl_ids, p->ctl);
        ev.control.name = pd_intern_str(src->strs, C->name);
        for (uint32_t f = 0; f < C->nframeworks && f < PD_EVENT_MAX_FRAMEWORKS; f++)
            ev.control.frameworks[ev.control.nframeworks++] = C->frameworks[f];
        bool removed = p->status == PD_STATUS_REMOVED;
        ev.status = removed ? PD_STATUS_HEALTHY : (pd_status)p->status;
        ev.severity = (pd_severity)((p->flags >> F_SEV_SHIFT) & 7u);
        ev.time_ms = (int64_t)p->ev_s * 1000;
        if (p->status == PD_STATUS_UNHEALTHY && p->since_s)
            ev.status_change_ms = (int64_t)p->since_s * 1000;
        ev.event_id = PD_STR_LIT("reload");
        if ((rc = pd_engine_apply(dst, &ev)) != 0)
            goto done;
        if (removed) {
            /* removed pairs keep their record (and the resource its "gone" state) */
            ev.deleted = true;
            if ((rc = pd_engine_apply(dst, &ev)) != 0)
                goto done;
        }
        (*npairs)++;
    }
    if (src->now_ms != PD_TIME_NONE)
        rc = pd_engine_advance(dst, src->now_ms);
done:
    free(vs);
    return rc;
}
