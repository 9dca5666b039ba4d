/* The incremental goals engine. See pd_engine.h for the contract and pipelines/README.md for
 * the semantics. Layout, chosen for <= 64 bytes per tracked pair at millions of pairs:
 *   - pairs: one packed array of 36-byte records, found through an open-addressing index of
 *     uint32 (pair index + 1) keyed by (resource id, control id);
 *   - resources and controls: dense ids from intern tables, with small per-id records;
 *   - per (resource, goal): four uint16 counters, so a resource's state for a goal is O(1);
 *   - per goal: counters of resources by state, so a goal's value is O(1) (score goals that
 *     are computed from assessments: O(controls of the goal));
 *   - timers (staleness, SLA expiry, end of flapping): a one-second timer wheel of
 *     intrusive doubly linked lists through the pair records.
 * Times in pair records are uint32 seconds since the Unix epoch (valid until 2106). */
#include "pd_engine.h"
#include "pd_engine_int.h"
#include "pd_engine_state.h"

#include "pd_arena.h"
#include "pd_intern.h"
#include "pd_time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A word-at-a-time hash for the hot path (the interning tables hash bytewise). */
static uint64_t fhash(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ (w * 0xff51afd7ed558ccdULL)) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n)
        memcpy(&w, p, n);
    h = (h ^ (w * 0xff51afd7ed558ccdULL)) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 32);
}

/* Id lookup by string: (hash32, id) slots in open addressing, verified against the intern
 * table that owns the strings. */

static uint32_t ftab_find(const ftab *t, const pd_intern *in, pd_str s, uint32_t h)
{
    for (uint32_t j = h & t->mask;; j = (j + 1) & t->mask) {
        uint64_t v = t->slots[j];
        if (!v)
            return 0;
        if ((uint32_t)(v >> 32) == h) {
            uint32_t id = (uint32_t)v;
            pd_str x = pd_intern_str(in, id);
            if (x.len == s.len && !memcmp(x.p, s.p, s.len))
                return id;
        }
    }
}

static int ftab_put(ftab *t, uint32_t h, uint32_t id)
{
    if ((uint64_t)(t->count + 1) * 4 >= (uint64_t)(t->mask + 1) * 3) {
        uint32_t ncap = (t->mask + 1) * 2;
        uint64_t *ns = calloc(ncap, sizeof(uint64_t));
        if (!ns)
            return PD_ENOMEM;
        for (uint32_t i = 0; i <= t->mask; i++) {
            uint64_t v = t->slots[i];
            if (!v)
                continue;
            uint32_t j = (uint32_t)(v >> 32) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = v;
        }
        free(t->slots);
        t->slots = ns;
        t->mask = ncap - 1;
    }
    uint32_t j = h & t->mask;
    while (t->slots[j])
        j = (j + 1) & t->mask;
    t->slots[j] = ((uint64_t)h << 32) | id;
    t->count++;
    return 0;
}

static uint32_t hash32(pd_str s)
{
    uint64_t h = fhash(s.p, s.len, 0x2545f4914f6cdd1dULL);
    return (uint32_t)h;
}

/* ---------- small helpers ---------- */

static uint32_t to_s(int64_t ms)
{
    if (ms <= 0)
        return 0;
    int64_t s = ms / 1000;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static pd_severity pair_sev(const pair *p)
{
    return (pd_severity)((p->flags >> F_SEV_SHIFT) & 7);
}

static void set_sev(pair *p, pd_severity s)
{
    p->flags = (uint8_t)((p->flags & ~(7u << F_SEV_SHIFT)) | ((unsigned)s << F_SEV_SHIFT));
}

static bool sev_passes(const pd_goal *g, pd_severity s)
{
    return g->min_severity == PD_SEV_UNKNOWN || s >= g->min_severity;
}

static bool kind_per_resource(pd_goal_kind k)
{
    return k == PD_GOAL_CONTROL || k == PD_GOAL_COVERAGE || k == PD_GOAL_SLA;
}

static int grow_array(void **arr, uint32_t *cap, uint32_t need, size_t elem, uint32_t min)
{
    if (need <= *cap)
        return 0;
    uint32_t nc = *cap ? *cap : min;
    while (nc < need)
        nc = nc < (1u << 30) ? nc * 2 : need;
    void *na = realloc(*arr, (size_t)nc * elem);
    if (!na)
        return PD_ENOMEM;
    memset((char *)na + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = na;
    *cap = nc;
    return 0;
}

void pd_engine_opts_default(pd_engine_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->flap_toggles = 4;
    o->flap_window_ms = 3600 * 1000;
    o->timer_lateness_ms = 5 * 60 * 1000;
}

/* ---------- creation ---------- */

int pd_engine_create(const pd_goal_set *goals, const pd_engine_opts *opts, pd_engine **out)
{
    pd_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return PD_ENOMEM;
    int rc = PD_ENOMEM;
    if (opts)
        e->o = *opts;
    else
        pd_engine_opts_default(&e->o);
    if (!e->o.flap_toggles)
        e->o.flap_toggles = 4;
    if (e->o.flap_window_ms <= 0)
        e->o.flap_window_ms = 3600 * 1000;
    if (e->o.timer_lateness_ms < 0)
        e->o.timer_lateness_ms = 0;
    e->lateness_s = (uint32_t)(e->o.timer_lateness_ms / 1000);
    e->set = goals;
    e->ngoals = pd_goal_set_count(goals);
    pd_arena_init(&e->arena, 64 * 1024);
    e->now_ms = PD_TIME_NONE;
    if (e->ngoals && !(e->goals = calloc(e->ngoals, sizeof(goal_rt))))
        goto fail;
    for (uint32_t i = 0; i < e->ngoals; i++) {
        goal_rt *g = &e->goals[i];
        g->g = pd_goal_set_at(goals, i);
        g->state = -1;
        g->target = pd_str_c(g->g->target_text);
        g->rgi = kind_per_resource(g->g->kind) ? (int)e->nrg++ : -1;
    }
    if (pd_intern_create(&e->res_ids) || pd_intern_create(&e->ctl_ids) ||
        pd_intern_create(&e->strs) || pd_intern_create(&e->accts) || pd_intern_create(&e->comp_ids))
        goto fail;
    e->index_groups = 64;
    if (!(e->index = calloc((size_t)e->index_groups * 16, sizeof(uint32_t))))
        goto fail;
    e->res_tab.mask = e->ctl_tab.mask = 255;
    if (!(e->res_tab.slots = calloc(256, sizeof(uint64_t))) ||
        !(e->ctl_tab.slots = calloc(256, sizeof(uint64_t))))
        goto fail;
    if (!(e->wheel = calloc(WHEEL_SIZE, sizeof(uint32_t))))
        goto fail;
    e->fingerprint = pd_engine_state_fingerprint(e); /* the goal set never changes */
    *out = e;
    return 0;
fail:
    pd_engine_destroy(e);
    return rc;
}

void pd_engine_destroy(pd_engine *e)
{
    if (!e)
        return;
    for (uint32_t i = 0; i < e->ngoals; i++) {
        free(e->goals[i].ctls);
        free(e->goals[i].per_ctl);
    }
    free(e->touched);
    free(e->goals);
    pd_intern_destroy(e->res_ids);
    pd_intern_destroy(e->ctl_ids);
    pd_intern_destroy(e->strs);
    pd_intern_destroy(e->accts);
    pd_intern_destroy(e->comp_ids);
    free(e->res);
    free(e->rg);
    free(e->ctls);
    free(e->accts_v);
    free(e->comp);
    for (uint32_t i = 0; i < e->nchunks; i++)
        free(e->chunks[i]);
    free(e->chunks);
    free(e->index);
    free(e->wheel);
    free(e->res_tab.slots);
    free(e->ctl_tab.slots);
    pd_arena_destroy(&e->arena);
    free(e);
}

int64_t pd_engine_now(const pd_engine *e)
{
    return e->now_ms;
}

uint32_t pd_engine_goal_count(const pd_engine *e)
{
    return e->ngoals;
}

/* ---------- scope ---------- */

static bool any_glob(const char *const *pats, uint32_t n, pd_str s)
{
    if (!n)
        return true;
    for (uint32_t i = 0; i < n; i++)
        if (pd_glob_match(pats[i], s))
            return true;
    return false;
}

static bool tags_match(const pd_goal_scope *sc, const pd_resource *r)
{
    for (uint32_t i = 0; i < sc->ntags; i++) {
        const pd_goal_tag *t = &sc->tags[i];
        bool ok = false;
        for (uint32_t j = 0; j < r->ntags && !ok; j++)
            if (pd_str_ieq_c(r->tags[j].key, t->key))
                ok = any_glob(t->values, t->nvalues, r->tags[j].value);
        if (!ok)
            return false;
    }
    return true;
}

static bool scope_match(const pd_goal_scope *sc, pd_cloud cloud, pd_str account, pd_str group,
                        pd_str type, pd_str name, pd_str region, bool tags_ok)
{
    if (sc->clouds && !(sc->clouds & (1u << cloud)))
        return false;
    return tags_ok && any_glob(sc->accounts, sc->naccounts, account) &&
           any_glob(sc->groups, sc->ngroups, group) && any_glob(sc->types, sc->ntypes, type) &&
           any_glob(sc->names, sc->nnames, name) && any_glob(sc->regions, sc->nregions, region);
}

/* ---------- pairs: index and timers ---------- */

/* The index: uint32 slots holding (tag << 26) | (pair index + 1), in groups of 16 slots
 * (one cache line). A pair's home is its resource's group, at its control's offset, so the
 * records of a resource evaluated together share index lines; the 6-bit tag skips most
 * foreign slots without touching their pair records. The group count is not a power of two
 * (it grows by half), which keeps the index near its load limit instead of doubling. */
#define IDX_BITS  26
#define IDX_MASK  ((1u << IDX_BITS) - 1)
#define PAIRS_MAX (IDX_MASK - 1)
#define TAG_OF(h) ((uint32_t)((h) >> 58) << IDX_BITS)
#define IDX_LOAD  85 /* percent */

/* Low 32 bits: the resource's hash; bits 32..35: the control's offset; top 6: the tag. */
static uint64_t pair_hash(uint32_t r, uint32_t c)
{
    uint64_t hr = pd_hash_mix((uint64_t)r * 0x9e3779b97f4a7c15ULL, 0x5bd1e995);
    uint64_t hc = pd_hash_mix((uint64_t)c * 0xc2b2ae3d27d4eb4fULL, 0x27d4eb2f);
    return ((hr ^ (hc << 7)) & 0xfc00000000000000ULL) | ((hc & 15u) << 32) | (uint32_t)hr;
}

static uint32_t pair_home(uint64_t h, uint32_t ngroups)
{
    uint32_t g = (uint32_t)(((uint64_t)(uint32_t)h * ngroups) >> 32);
    return g * 16 + (uint32_t)((h >> 32) & 15);
}

static uint32_t pair_find(const pd_engine *e, uint32_t r, uint32_t c)
{
    uint64_t h = pair_hash(r, c);
    uint32_t tag = TAG_OF(h), cap = e->index_groups * 16;
    for (uint32_t j = pair_home(h, e->index_groups);; j = j + 1 == cap ? 0 : j + 1) {
        uint32_t v = e->index[j];
        if (!v)
            return 0;
        if ((v & ~IDX_MASK) != tag)
            continue;
        const pair *p = PAIR(e, v & IDX_MASK);
        if (p->res == r && p->ctl == c)
            return v & IDX_MASK;
    }
}

/* The pairs of resource r: with linear probing and no deletions, each lies between its home
 * (in r's group) and the first empty slot after it, so one scan of the cluster that starts
 * at r's group finds them all (independent of how many controls exist). Writes up to cap
 * pair indexes into out; returns the count found (which may exceed cap). */
static uint32_t pairs_of_res(const pd_engine *e, uint32_t r, uint32_t *out, uint32_t cap)
{
    uint64_t h = pair_hash(r, 0);
    uint32_t slots = e->index_groups * 16;
    uint32_t gs = (uint32_t)(((uint64_t)(uint32_t)h * e->index_groups) >> 32) * 16, n = 0;
    for (uint32_t k = 0; k < slots; k++) {
        uint32_t j = gs + k < slots ? gs + k : gs + k - slots;
        uint32_t v = e->index[j];
        if (!v) {
            if (k >= 15)
                break;
            continue;
        }
        v &= IDX_MASK;
        if (PAIR(e, v)->res != r)
            continue;
        if (n < cap)
            out[n] = v;
        n++;
    }
    return n;
}

static void index_put(uint32_t *index, uint32_t ngroups, uint64_t h, uint32_t v)
{
    uint32_t cap = ngroups * 16, j = pair_home(h, ngroups);
    while (index[j])
        j = j + 1 == cap ? 0 : j + 1;
    index[j] = TAG_OF(h) | v;
}

static int index_grow(pd_engine *e)
{
    uint32_t ng = e->index_groups + e->index_groups / 2;
    uint32_t *ni = calloc((size_t)ng * 16, sizeof(uint32_t));
    if (!ni)
        return PD_ENOMEM;
    for (uint32_t i = 1; i <= e->npairs; i++)
        index_put(ni, ng, pair_hash(PAIR(e, i)->res, PAIR(e, i)->ctl), i);
    free(e->index);
    e->index = ni;
    e->index_groups = ng;
    return 0;
}

static int pair_add(pd_engine *e, uint32_t r, uint32_t c, uint32_t *out)
{
    if (e->npairs >= PAIRS_MAX)
        return PD_ENOMEM; /* the index addresses 2^26 pairs */
    if ((uint64_t)(e->npairs + 1) * 100 >= (uint64_t)e->index_groups * 16 * IDX_LOAD &&
        index_grow(e))
        return PD_ENOMEM;
    if (e->npairs == e->nchunks * PAIR_CHUNK) {
        /* Chunks, not one array: no copy and no doubling slack as the fleet grows. */
        if (e->nchunks == e->chunks_cap) {
            uint32_t nc = e->chunks_cap ? e->chunks_cap * 2 : 16;
            pair **n = realloc(e->chunks, nc * sizeof(pair *));
            if (!n)
                return PD_ENOMEM;
            e->chunks = n;
            e->chunks_cap = nc;
        }
        if (!(e->chunks[e->nchunks] = malloc(PAIR_CHUNK * sizeof(pair))))
            return PD_ENOMEM;
        e->nchunks++;
    }
    pair *p = PAIR(e, e->npairs + 1);
    memset(p, 0, sizeof(*p));
    p->res = r;
    p->ctl = c;
    p->status = PD_STATUS_UNKNOWN;
    uint32_t v = ++e->npairs;
    index_put(e->index, e->index_groups, pair_hash(r, c), v);
    *out = v;
    return 0;
}

/* List heads: tprev holds HEAD_BIT | slot, so unlinking a head needs no search. */
#define HEAD_BIT 0x80000000u

static void unlink_timer(pd_engine *e, uint32_t v)
{
    pair *p = PAIR(e, v);
    if (!(p->flags & F_LINKED))
        return;
    if (p->tprev & HEAD_BIT)
        e->wheel[p->tprev & ~HEAD_BIT] = p->tnext;
    else
        PAIR(e, p->tprev)->tnext = p->tnext;
    if (p->tnext)
        PAIR(e, p->tnext)->tprev = p->tprev;
    p->tprev = p->tnext = 0;
    p->flags &= (uint8_t)~F_LINKED;
}

static void link_timer(pd_engine *e, uint32_t v, uint32_t deadline_s)
{
    uint32_t slot = deadline_s & WHEEL_MASK;
    pair *p = PAIR(e, v);
    p->tnext = e->wheel[slot];
    p->tprev = HEAD_BIT | slot;
    if (p->tnext)
        PAIR(e, p->tnext)->tprev = v;
    e->wheel[slot] = v;
    p->flags |= F_LINKED;
}

/* The pair's next deadline: staleness, the earliest pending SLA expiry, the end of a
 * flapping window. 0 when none. */
static uint32_t pair_deadline(const pd_engine *e, const pair *p)
{
    const ctl *c = &e->ctls[p->ctl];
    uint32_t d = 0;
#define CONSIDER(x)                                                                                \
    do {                                                                                           \
        uint32_t x_ = (x);                                                                         \
        if (x_ && (!d || x_ < d))                                                                  \
            d = x_;                                                                                \
    } while (0)
    if (p->status == PD_STATUS_REMOVED)
        return 0;
    if (c->stale_s && !(p->flags & F_STALE) && p->seen_s)
        CONSIDER(p->seen_s + c->stale_s);
    if (p->status == PD_STATUS_UNHEALTHY)
        for (uint32_t i = 0; i < c->nsla; i++)
            if (!(p->sla_bits & (1u << i))) {
                int64_t age_s = e->goals[c->sla_goal[i]].g->max_age_ms / 1000;
                uint64_t dd = (uint64_t)p->since_s + (uint64_t)(age_s > 0 ? age_s : 1);
                CONSIDER(dd > UINT32_MAX ? UINT32_MAX : (uint32_t)dd);
            }
    if (p->flags & F_FLAPPING)
        CONSIDER(p->flap_s + c->flap_window_s);
#undef CONSIDER
    return d;
}

/* ---------- contributions: a pair's share in its goals' counters ---------- */

typedef struct pstate {
    uint8_t status, flags, sla_bits;
} pstate;

static pstate pstate_of(const pair *p)
{
    return (pstate){p->status, p->flags, p->sla_bits};
}

static int rg_state(const rgc *r)
{
    if (r->unh)
        return RS_BAD;
    if (r->unk)
        return RS_UNKNOWN;
    if (r->hea)
        return RS_HEALTHY;
    if (r->na)
        return RS_NA;
    return RS_NONE;
}

static void rs_count(goal_rt *G, int state, int sign)
{
    if (state == RS_BAD)
        G->res_bad += (uint64_t)(int64_t)sign;
    else if (state == RS_HEALTHY)
        G->res_healthy += (uint64_t)(int64_t)sign;
    else if (state == RS_NA)
        G->res_na += (uint64_t)(int64_t)sign;
}

static int sla_index(const ctl *c, uint32_t gi)
{
    for (uint32_t i = 0; i < c->nsla; i++)
        if (c->sla_goal[i] == gi)
            return (int)i;
    return -1;
}

static int ensure_per_ctl(pd_engine *e, goal_rt *G)
{
    return grow_array((void **)&G->per_ctl, &G->per_ctl_cap, e->ctls_cap, sizeof(hu), 64);
}

static void contrib(pd_engine *e, uint32_t gi, uint32_t r, uint32_t cid, pstate s, int sign)
{
    goal_rt *G = &e->goals[gi];
    const pd_goal *g = G->g;
    /* Removed pairs count nowhere; UNKNOWN is a pair created for this very event. */
    if (s.status == PD_STATUS_REMOVED || s.status == PD_STATUS_UNKNOWN)
        return;
    if (!sev_passes(g, (pd_severity)((s.flags >> F_SEV_SHIFT) & 7)))
        return;
    bool stale = (s.flags & F_STALE) != 0;
    if (g->kind == PD_GOAL_SCORE || g->kind == PD_GOAL_COMPLIANCE) {
        if (ensure_per_ctl(e, G))
            return;
        hu *h = &G->per_ctl[cid];
        /* Totals move by exact integer amounts, so they never drift. */
        if (h->h + h->u) {
            G->score_fp -= ((uint64_t)h->h << 32) / (h->h + h->u);
            G->score_n--;
        }
        if (s.status == PD_STATUS_HEALTHY && !stale) {
            h->h += (uint32_t)sign;
            G->pc_h += (uint64_t)(int64_t)sign;
        } else if (s.status == PD_STATUS_UNHEALTHY) {
            h->u += (uint32_t)sign;
            G->pc_u += (uint64_t)(int64_t)sign;
        }
        if (h->h + h->u) {
            G->score_fp += ((uint64_t)h->h << 32) / (h->h + h->u);
            G->score_n++;
        }
        return;
    }
    rgc *rc = &e->rg[(size_t)r * e->nrg + (uint32_t)G->rgi];
    int before = rg_state(rc);
    uint16_t *slot = NULL;
    switch (s.status) {
    case PD_STATUS_UNHEALTHY:
        /* A stale violation is still a violation for control and sla goals; coverage
         * counts it as unknown. */
        slot = stale && g->kind == PD_GOAL_COVERAGE ? &rc->unk : &rc->unh;
        break;
    case PD_STATUS_HEALTHY:
        slot = stale ? &rc->unk : &rc->hea;
        break;
    case PD_STATUS_NOT_APPLICABLE:
        slot = stale ? &rc->unk : (g->kind == PD_GOAL_SLA ? NULL : &rc->na);
        break;
    default:
        slot = &rc->unk;
        break;
    }
    if (slot)
        *slot = (uint16_t)(*slot + sign);
    if (g->kind == PD_GOAL_SLA) {
        int i = sla_index(&e->ctls[cid], gi);
        if (i >= 0 && (s.sla_bits & (1u << i)) && s.status == PD_STATUS_UNHEALTHY) {
            rc->na = (uint16_t)(rc->na + sign);
            G->sla_viol += (uint64_t)(int64_t)sign;
        }
        return;
    }
    int after = rg_state(rc);
    if (before != after) {
        rs_count(G, before, -1);
        rs_count(G, after, +1);
    }
}

static void contrib_all(pd_engine *e, const pair *p, pstate s, int sign)
{
    uint64_t m = e->ctls[p->ctl].goals & e->res[p->res].scope;
    while (m) {
        uint32_t gi = (uint32_t)__builtin_ctzll(m);
        m &= m - 1;
        contrib(e, gi, p->res, p->ctl, s, sign);
        e->goals[gi].dirty = true;
    }
}

/* ---------- goal values ---------- */

/* The counters goal_value reads, as a partial without per-control detail (score_fp and
 * score_n carried as the engine keeps them): nothing to allocate on the hot path. */
static void rt_partial(const goal_rt *G, pd_goal_partial *p)
{
    memset(p, 0, sizeof(*p));
    p->in_scope = G->in_scope;
    p->res_bad = G->res_bad;
    p->res_healthy = G->res_healthy;
    p->res_na = G->res_na;
    p->sla_viol = G->sla_viol;
    p->pc_h = G->pc_h;
    p->pc_u = G->pc_u;
    p->ev_records = G->ev_records;
    p->ev_num = G->ev_num;
    p->ev_den = G->ev_den;
    p->score_fp = G->score_fp;
    p->score_n = G->score_n;
    p->has_value = G->has_value;
}

bool pd_goal_partial_status(const pd_goal *g, const pd_goal_partial *P, pd_goal_status *st)
{
    memset(st, 0, sizeof(*st));
    st->goal = g;
    uint64_t known = P->res_bad + P->res_healthy + P->res_na;
    switch (g->kind) {
    case PD_GOAL_CONTROL:
        st->violators = P->res_bad;
        st->unknown = P->in_scope - known;
        st->denominator = P->in_scope;
        st->value = (double)P->res_bad;
        /* Zero violators stays a value once the goal had one (resources may all go). */
        st->has_value = P->in_scope > 0 || P->has_value;
        break;
    case PD_GOAL_SLA:
        st->violators = P->sla_viol;
        st->denominator = P->in_scope;
        st->value = (double)P->sla_viol;
        st->has_value = P->in_scope > 0 || P->has_value;
        break;
    case PD_GOAL_COVERAGE:
        st->numerator = P->res_healthy;
        st->denominator = P->in_scope - P->res_na;
        st->violators = P->res_bad;
        st->unknown = P->in_scope - known;
        st->has_value = st->denominator > 0;
        st->value = st->has_value ? 100.0 * (double)st->numerator / (double)st->denominator : 0;
        break;
    case PD_GOAL_SCORE:
    case PD_GOAL_COMPLIANCE:
        if (P->ev_records) {
            st->has_value = P->ev_den > 0;
            st->value = st->has_value ? 100.0 * P->ev_num / P->ev_den : 0;
            st->numerator = (uint64_t)P->ev_num;
            st->denominator = (uint64_t)P->ev_den;
            break;
        }
        if (g->kind == PD_GOAL_SCORE) {
            /* Defender's formula, every control weighing the same (max score 1 each). */
            st->numerator = P->score_fp >> 32;
            st->denominator = P->score_n;
            st->has_value = P->score_n > 0;
            st->value = P->score_n ? 100.0 * ((double)P->score_fp / 4294967296.0) / P->score_n : 0;
        } else {
            st->numerator = P->pc_h;
            st->denominator = P->pc_h + P->pc_u;
            st->violators = P->pc_u;
            st->has_value = P->pc_h + P->pc_u > 0;
            st->value = st->has_value ? 100.0 * (double)P->pc_h / (double)(P->pc_h + P->pc_u) : 0;
        }
        break;
    default:
        break;
    }
    return st->has_value;
}

static bool goal_value(const pd_engine *e, uint32_t gi, pd_goal_status *st)
{
    const goal_rt *G = &e->goals[gi];
    /* The same function the goal stage runs over summed partials: the two cannot diverge. */
    pd_goal_partial p;
    rt_partial(G, &p);
    pd_goal_partial_status(G->g, &p, st);
    st->index = gi;
    st->changed_ms = G->changed_ms;
    st->met = G->state == 1;
    return st->has_value;
}

void pd_engine_goal_status(const pd_engine *e, uint32_t i, pd_goal_status *out)
{
    goal_value(e, i, out);
}

void pd_goal_status_json(const pd_goal_status *st, int state, pd_buf *b)
{
    const pd_goal *g = st->goal;
    pd_buf_puts(b, "{\"goal\":");
    pd_buf_json_str(b, g->id, strlen(g->id));
    pd_buf_puts(b, ",\"title\":");
    pd_buf_json_str(b, g->title, strlen(g->title));
    pd_buf_printf(b, ",\"kind\":\"%s\",\"value\":", pd_goal_kind_name(g->kind));
    if (st->has_value)
        pd_buf_printf(b, "%.4g", st->value);
    else
        pd_buf_puts(b, "null");
    pd_buf_puts(b, ",\"target\":");
    pd_buf_json_str(b, g->target_text, strlen(g->target_text));
    pd_buf_printf(b, ",\"met\":%s", state == -1 ? "null" : st->met ? "true" : "false");
    pd_buf_printf(b, ",\"numerator\":%llu,\"denominator\":%llu,\"violators\":%llu,\"unknown\":%llu",
                  (unsigned long long)st->numerator, (unsigned long long)st->denominator,
                  (unsigned long long)st->violators, (unsigned long long)st->unknown);
    if (st->changed_ms != 0 && st->changed_ms != PD_TIME_NONE) {
        char ts[PD_RFC3339_LEN];
        pd_time_format(st->changed_ms, ts);
        pd_buf_printf(b, ",\"changed\":\"%s\"", ts);
    }
    pd_buf_putc(b, '}');
}

void pd_engine_goal_status_json(const pd_engine *e, uint32_t i, pd_buf *b)
{
    pd_goal_status st;
    goal_value(e, i, &st);
    pd_goal_status_json(&st, e->goals[i].state, b);
}

/* ---------- partial aggregates ---------- */

void pd_goal_partial_init(pd_goal_partial *p)
{
    memset(p, 0, sizeof(*p));
}

void pd_goal_partial_free(pd_goal_partial *p)
{
    free(p->ctls);
    memset(p, 0, sizeof(*p));
}

void pd_goal_partial_reset(pd_goal_partial *p)
{
    pd_goal_partial_ctl *c = p->ctls;
    uint32_t cap = p->ctls_cap;
    memset(p, 0, sizeof(*p));
    p->ctls = c;
    p->ctls_cap = cap;
}

static int ctl_key_cmp(const void *a, const void *b)
{
    const pd_goal_partial_ctl *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static int partial_ctls_reserve(pd_goal_partial *p, uint32_t n)
{
    if (n <= p->ctls_cap)
        return 0;
    uint32_t nc = p->ctls_cap ? p->ctls_cap : 16;
    while (nc < n)
        nc *= 2;
    pd_goal_partial_ctl *nv = realloc(p->ctls, (size_t)nc * sizeof(*nv));
    if (!nv)
        return PD_ENOMEM;
    p->ctls = nv;
    p->ctls_cap = nc;
    return 0;
}

int pd_engine_goal_partial(const pd_engine *e, uint32_t gi, pd_goal_partial *out)
{
    const goal_rt *G = &e->goals[gi];
    pd_goal_partial_reset(out);
    pd_goal_partial_ctl *keep = out->ctls;
    uint32_t keep_cap = out->ctls_cap;
    rt_partial(G, out);
    out->ctls = keep;
    out->ctls_cap = keep_cap;
    out->digest = pd_goal_digest(G->g);
    if (G->g->kind != PD_GOAL_SCORE || !G->per_ctl)
        return 0;
    /* Score from assessments is a mean of per-control ratios: only the per-control counts
     * add up across partitions. */
    uint32_t n = 0, lim = PD_MIN(G->per_ctl_cap, pd_intern_count(e->ctl_ids) + 1);
    for (uint32_t c = 1; c < lim; c++)
        n += G->per_ctl[c].h + G->per_ctl[c].u > 0;
    if (partial_ctls_reserve(out, n))
        return PD_ENOMEM;
    for (uint32_t c = 1; c < lim; c++) {
        const hu *h = &G->per_ctl[c];
        if (!(h->h + h->u))
            continue;
        pd_str k = pd_intern_str(e->ctl_ids, c);
        out->ctls[out->nctls++] = (pd_goal_partial_ctl){pd_hash64(k.p, k.len, 0), h->h, h->u};
    }
    qsort(out->ctls, out->nctls, sizeof(*out->ctls), ctl_key_cmp);
    return 0;
}

int pd_goal_partial_add(pd_goal_partial *sum, const pd_goal_partial *p)
{
    /* Merge the sorted per-control arrays into a fresh one first: on failure sum is intact. */
    pd_goal_partial_ctl *m = NULL;
    uint32_t nm = 0;
    if (sum->nctls + p->nctls) {
        m = malloc((size_t)(sum->nctls + p->nctls) * sizeof(*m));
        if (!m)
            return PD_ENOMEM;
        uint32_t i = 0, j = 0;
        while (i < sum->nctls || j < p->nctls) {
            if (j == p->nctls || (i < sum->nctls && sum->ctls[i].key < p->ctls[j].key)) {
                m[nm++] = sum->ctls[i++];
            } else if (i == sum->nctls || p->ctls[j].key < sum->ctls[i].key) {
                m[nm++] = p->ctls[j++];
            } else {
                m[nm] = sum->ctls[i++];
                m[nm].h += p->ctls[j].h;
                m[nm++].u += p->ctls[j++].u;
            }
        }
    }
    sum->digest = p->digest;
    sum->in_scope += p->in_scope;
    sum->res_bad += p->res_bad;
    sum->res_healthy += p->res_healthy;
    sum->res_na += p->res_na;
    sum->sla_viol += p->sla_viol;
    sum->pc_h += p->pc_h;
    sum->pc_u += p->pc_u;
    sum->ev_records += p->ev_records;
    sum->ev_num += p->ev_num;
    sum->ev_den += p->ev_den;
    sum->has_value = sum->has_value || p->has_value;
    if (!m) {
        /* No per-control detail on either side: keep what the partials carried. */
        sum->score_fp += p->score_fp;
        sum->score_n += p->score_n;
        return 0;
    }
    free(sum->ctls);
    sum->ctls = m;
    sum->nctls = sum->ctls_cap = nm;
    /* As the engine keeps it: one truncated 32.32 ratio per control, summed exactly. */
    sum->score_fp = sum->score_n = 0;
    for (uint32_t i = 0; i < nm; i++) {
        if (!(m[i].h + m[i].u))
            continue;
        sum->score_fp += (m[i].h << 32) / (m[i].h + m[i].u);
        sum->score_n++;
    }
    return 0;
}

uint64_t pd_goal_digest(const pd_goal *g)
{
    uint64_t h = pd_goal_hash(0x676f616c64ULL, g);
    return h ? h : 1; /* 0 means "no digest" on the wire */
}

/* ---------- signals ---------- */

static int emit(pd_engine *e, pd_signal *s)
{
    e->st.signals++;
    return e->o.emit ? e->o.emit(e->o.emit_ctx, s) : 0;
}

/* The goal's met/breached state given its current value, with hysteresis: -1 unset. */
int pd_goal_next_state(const pd_goal *g, int state, const pd_goal_status *st)
{
    if (!st->has_value)
        return state;
    bool met_now = pd_goal_cmp(g->cmp, st->value, g->target);
    if (state == -1)
        return met_now;
    if (state == 1)
        return met_now;
    if (!met_now)
        return 0;
    double thr = g->target;
    pd_cmp c = g->cmp;
    if (c == PD_CMP_GE || c == PD_CMP_GT) {
        thr += g->hysteresis;
        if (g->target_pct && thr > 100)
            thr = 100;
        c = PD_CMP_GE;
    } else {
        thr -= g->hysteresis;
        if (thr < 0)
            thr = 0;
        c = PD_CMP_LE;
    }
    return g->hysteresis == 0 || pd_goal_cmp(c, st->value, thr) ? 1 : 0;
}

static int next_state(const goal_rt *G, const pd_goal_status *st)
{
    return pd_goal_next_state(G->g, G->state, st);
}

static void fill_goal(pd_engine *e, uint32_t gi, pd_signal *s)
{
    goal_rt *G = &e->goals[gi];
    pd_goal_status st;
    goal_value(e, gi, &st);
    s->has_goal = true;
    s->goal.id = pd_str_c(G->g->id);
    s->goal.title = pd_str_c(G->g->title);
    s->goal.kind = pd_goal_kind_name(G->g->kind);
    s->goal.value = st.value;
    s->goal.target = G->target;
    s->goal.met = next_state(G, &st) == 1;
    s->severity = G->g->severity;
}

static void fill_res(pd_engine *e, uint32_t r, pd_signal_resource *out)
{
    const res *R = &e->res[r];
    out->id = pd_intern_str(e->res_ids, r);
    out->cloud = (pd_cloud)R->cloud;
    out->account = pd_intern_str(e->accts, R->account);
    out->name = pd_intern_str(e->strs, R->name);
    out->type = pd_intern_str(e->strs, R->type);
}

static void fill_ctl(pd_engine *e, uint32_t c, pd_signal *s)
{
    const ctl *C = &e->ctls[c];
    s->has_control = true;
    s->control.key = pd_intern_str(e->ctl_ids, c);
    s->control.name = pd_intern_str(e->strs, C->name);
    s->control.frameworks = C->frameworks;
    s->control.nframeworks = C->nframeworks;
}

static void make_id(pd_signal *s, pd_str a, pd_str b, pd_str c, int64_t t_ms)
{
    char tb[24];
    snprintf(tb, sizeof(tb), "%lld", (long long)t_ms);
    pd_str parts[5] = {pd_str_c(s->type), a, b, c, pd_str_c(tb)};
    pd_signal_make_id(s->id, parts, 5);
}

/* A per-resource signal about one pair for one goal. */
static int emit_pair(pd_engine *e, const char *type, uint32_t gi, const pair *p, int64_t t_ms,
                     bool flapping, const char *evkind, pd_str evid, int64_t ev_ms)
{
    pd_signal s;
    memset(&s, 0, sizeof(s));
    pd_signal_resource r;
    pd_evidence ev = {evkind, evid, ev_ms, PD_STR_NULL};
    s.kind = PD_SIGNAL_DRIFT;
    s.type = type;
    s.time_ms = t_ms;
    s.pipeline = e->o.pipeline;
    fill_goal(e, gi, &s);
    fill_res(e, p->res, &r);
    fill_ctl(e, p->ctl, &s);
    s.resources = &r;
    s.nresources = 1;
    s.flapping = flapping;
    if (!evid.len)
        ev.id = s.control.key;
    s.evidence = &ev;
    s.nevidence = 1;
    /* Ids must not depend on how the inputs interleave (partitions): staleness counts from
     * when the engine saw the pair, so its id takes the pair's last record time instead. */
    make_id(&s, s.goal.id, r.id, s.control.key, type[0] == 'c' && type[1] == 'o' ? ev_ms : t_ms);
    return emit(e, &s);
}

static int eval_goal(pd_engine *e, uint32_t gi, int64_t t_ms, const pair *cause)
{
    goal_rt *G = &e->goals[gi];
    G->dirty = false;
    pd_goal_status st;
    if (!goal_value(e, gi, &st))
        return 0;
    int ns = next_state(G, &st);
    bool changed_value = !G->has_value || st.value != G->last_value;
    int old = G->state;
    G->has_value = true;
    G->last_value = st.value;
    int rc = 0;
    if (ns != old) {
        G->state = ns;
        G->changed_ms = t_ms;
        /* A state partition leaves goal signals to the goal stage (the fleet's value). */
        if ((old != -1 || ns == 0) && !e->o.partial) {
            pd_signal s;
            memset(&s, 0, sizeof(s));
            pd_signal_resource r;
            pd_evidence ev;
            s.kind = PD_SIGNAL_DRIFT;
            s.type = ns == 0 ? "goal.breached" : "goal.restored";
            s.time_ms = t_ms;
            s.pipeline = e->o.pipeline;
            fill_goal(e, gi, &s);
            if (cause) {
                fill_res(e, cause->res, &r);
                ev = (pd_evidence){"resource", r.id, t_ms, pd_intern_str(e->ctl_ids, cause->ctl)};
                s.evidence = &ev;
                s.nevidence = 1;
            }
            char vb[32];
            snprintf(vb, sizeof(vb), "%.6g", st.value);
            make_id(&s, s.goal.id, pd_str_c(vb), PD_STR_NULL, t_ms);
            rc = emit(e, &s);
        }
    }
    if ((changed_value || ns != old) && e->o.on_status) {
        goal_value(e, gi, &st);
        e->o.on_status(e->o.status_ctx, &st);
    }
    return rc;
}

static int eval_dirty(pd_engine *e, int64_t t_ms, const pair *cause)
{
    for (uint32_t gi = 0; gi < e->ngoals; gi++)
        if (e->goals[gi].dirty) {
            int rc = eval_goal(e, gi, t_ms, cause);
            if (rc)
                return rc;
        }
    return 0;
}

/* ---------- timers ---------- */

static int fire_pair(pd_engine *e, uint32_t v);

static int relink(pd_engine *e, uint32_t v)
{
    unlink_timer(e, v);
    uint32_t d = pair_deadline(e, PAIR(e, v));
    if (!d)
        return 0;
    if (d <= e->clock_s)
        return fire_pair(e, v);
    link_timer(e, v, d);
    return 0;
}

/* Emits fn(type) to every per-resource goal of the pair that counts it. */
static int emit_pair_goals(pd_engine *e, const char *type, uint32_t v, pd_severity sev,
                           int64_t t_ms, bool flapping, const char *evkind, pd_str evid,
                           int64_t ev_ms, bool only_stale_goals)
{
    const pair *p = PAIR(e, v);
    uint64_t m = e->ctls[p->ctl].goals & e->res[p->res].scope;
    while (m) {
        uint32_t gi = (uint32_t)__builtin_ctzll(m);
        m &= m - 1;
        const pd_goal *g = e->goals[gi].g;
        if (!sev_passes(g, sev))
            continue;
        if (only_stale_goals ? g->stale_after_ms <= 0 : !kind_per_resource(g->kind))
            continue;
        int rc = emit_pair(e, type, gi, p, t_ms, flapping, evkind, evid, ev_ms);
        if (rc)
            return rc;
    }
    return 0;
}

static int fire_pair(pd_engine *e, uint32_t v)
{
    int rc = 0;
    for (;;) {
        pair *p = PAIR(e, v);
        uint32_t d = pair_deadline(e, p);
        if (!d || d > e->clock_s)
            break;
        const ctl *c = &e->ctls[p->ctl];
        uint32_t at = d > p->ev_s ? d : p->ev_s;
        int64_t t_ms = (int64_t)at * 1000;
        pstate old = pstate_of(p);
        pd_severity sev = pair_sev(p);
        bool went_stale = false, flap_end = false;
        uint8_t expired = 0;
        if (c->stale_s && !(p->flags & F_STALE) && p->seen_s && p->seen_s + c->stale_s == d) {
            p->flags |= F_STALE;
            went_stale = true;
        }
        if (p->status == PD_STATUS_UNHEALTHY)
            for (uint32_t i = 0; i < c->nsla; i++) {
                if (p->sla_bits & (1u << i))
                    continue;
                int64_t age_s = e->goals[c->sla_goal[i]].g->max_age_ms / 1000;
                uint64_t dd = (uint64_t)p->since_s + (uint64_t)(age_s > 0 ? age_s : 1);
                if (dd <= d) {
                    p->sla_bits |= (uint8_t)(1u << i);
                    expired |= (uint8_t)(1u << i);
                }
            }
        if ((p->flags & F_FLAPPING) && p->flap_s + c->flap_window_s <= d) {
            p->flags &= (uint8_t)~F_FLAPPING;
            p->flap_n = 0;
            flap_end = true;
        }
        if (!went_stale && !expired && !flap_end)
            break; /* cannot happen; guards against a loop */
        e->st.timers_fired++;
        pd_engine_int_touch(e, p->res);
        contrib_all(e, p, old, -1);
        contrib_all(e, p, pstate_of(p), +1);
        int64_t ev_ms = (int64_t)p->ev_s * 1000;
        if (went_stale && (rc = emit_pair_goals(e, "coverage.unknown", v, sev, t_ms, false,
                                                "assessment", PD_STR_NULL, ev_ms, true)))
            return rc;
        for (uint32_t i = 0; i < c->nsla && expired; i++) {
            if (!(expired & (1u << i)))
                continue;
            uint32_t gi = c->sla_goal[i];
            p = PAIR(e, v);
            if (!(e->res[p->res].scope & (1ull << gi)) || !sev_passes(e->goals[gi].g, sev))
                continue;
            if ((rc = emit_pair(e, "sla.expired", gi, p, t_ms, false, "finding", PD_STR_NULL,
                                (int64_t)p->since_s * 1000)))
                return rc;
        }
        if (flap_end) {
            p = PAIR(e, v);
            bool bad = p->status == PD_STATUS_UNHEALTHY;
            if (bad != ((p->flags & F_EMITTED_BAD) != 0)) {
                if (bad)
                    p->flags |= F_EMITTED_BAD;
                else
                    p->flags &= (uint8_t)~F_EMITTED_BAD;
                if ((rc =
                         emit_pair_goals(e, bad ? "control.regressed" : "control.recovered", v, sev,
                                         t_ms, true, "assessment", PD_STR_NULL, ev_ms, false)))
                    return rc;
            }
        }
        if ((rc = eval_dirty(e, t_ms, PAIR(e, v))))
            return rc;
    }
    unlink_timer(e, v);
    uint32_t d = pair_deadline(e, PAIR(e, v));
    if (d)
        link_timer(e, v, d);
    return rc;
}

/* ---------- pair updates ---------- */

enum { FLAP_NORMAL = 0, FLAP_ENTER, FLAP_SUPPRESS };

static int flap_mode(pair *p, const ctl *c, uint32_t t_s)
{
    if (!p->flap_n || t_s >= p->flap_s + c->flap_window_s) {
        p->flap_s = t_s;
        p->flap_n = 0;
    }
    if (p->flap_n < 255)
        p->flap_n++;
    if (p->flap_n <= c->flap_toggles)
        return FLAP_NORMAL;
    if (!(p->flags & F_FLAPPING)) {
        p->flags |= F_FLAPPING;
        return FLAP_ENTER;
    }
    return FLAP_SUPPRESS;
}

/* Sets a pair's status as of t (ns PD_STATUS_REMOVED for deletes and reconciliation), emits
 * the per-resource transitions, re-evaluates touched goals and re-arms the pair's timer. */
static int scope_change(pd_engine *e, uint32_t r, uint32_t gi, bool enter);

static bool status_live(pd_status s)
{
    return s == PD_STATUS_HEALTHY || s == PD_STATUS_UNHEALTHY || s == PD_STATUS_NOT_APPLICABLE;
}

/* A resource whose every pair was removed (decommissioned: Delete records, or an inventory
 * delete) leaves every scope, so coverage does not count it as unknown forever. */
static int resource_gone(pd_engine *e, uint32_t r)
{
    uint64_t m = e->res[r].scope;
    while (m) {
        uint32_t gi = (uint32_t)__builtin_ctzll(m);
        m &= m - 1;
        int rc = scope_change(e, r, gi, false);
        if (rc)
            return rc;
    }
    e->res[r].gone = 1;
    e->res[r].attr_hash = 0; /* a later record recomputes its scopes */
    return 0;
}

static int pair_set(pd_engine *e, uint32_t v, pd_status ns, pd_severity sev, uint32_t t_s,
                    int64_t t_ms, uint32_t since_s, const char *evkind, pd_str evid)
{
    pair *p = PAIR(e, v);
    const ctl *c = &e->ctls[p->ctl];
    pstate old = pstate_of(p);
    pd_status prev = (pd_status)p->status;
    pd_severity old_sev = pair_sev(p);
    if (prev == ns && old_sev == sev && !(p->flags & F_STALE) && ns != PD_STATUS_REMOVED) {
        /* A confirmation: no counter moves. Its deadlines only move later, so a linked timer
         * stays where it is and is re-armed when its slot comes (no list surgery). */
        if (t_s > p->ev_s)
            p->ev_s = t_s;
        if (e->now_s > p->seen_s)
            p->seen_s = e->now_s;
        return (p->flags & F_LINKED) ? 0 : relink(e, v);
    }
    contrib_all(e, p, old, -1);
    if (ns == PD_STATUS_UNHEALTHY) {
        if (prev != PD_STATUS_UNHEALTHY) {
            p->since_s = since_s && since_s <= t_s ? since_s : t_s;
            p->sla_bits = 0;
        }
    } else {
        p->sla_bits = 0;
    }
    p->status = (uint8_t)ns;
    set_sev(p, sev);
    p->flags &= (uint8_t)~F_STALE;
    if (t_s > p->ev_s)
        p->ev_s = t_s;
    if (e->now_s > p->seen_s)
        p->seen_s = e->now_s;
    contrib_all(e, p, pstate_of(p), +1);

    int rc = 0;
    res *R = &e->res[p->res];
    bool was_live = status_live(prev), is_live = status_live(ns), gone = false;
    if (is_live && !was_live && R->live < UINT16_MAX)
        R->live++;
    else if (was_live && !is_live && R->live && R->live < UINT16_MAX)
        gone = --R->live == 0;
    bool old_bad = prev == PD_STATUS_UNHEALTHY, new_bad = ns == PD_STATUS_UNHEALTHY;
    if (prev == PD_STATUS_UNKNOWN) {
        /* The first observation is the baseline: no transition to report. */
        if (new_bad)
            p->flags |= F_EMITTED_BAD;
    } else if (old_bad != new_bad) {
        int mode = flap_mode(p, c, t_s);
        if (mode != FLAP_SUPPRESS) {
            if (new_bad)
                p->flags |= F_EMITTED_BAD;
            else
                p->flags &= (uint8_t)~F_EMITTED_BAD;
            rc = emit_pair_goals(e, new_bad ? "control.regressed" : "control.recovered", v,
                                 new_bad ? sev : old_sev, t_ms, mode == FLAP_ENTER, evkind, evid,
                                 t_ms, false);
            if (rc)
                return rc;
        }
    }
    /* After its last pair's signals: the resource leaves its scopes. */
    if (gone && (rc = resource_gone(e, PAIR(e, v)->res)))
        return rc;
    /* Goals flip when the engine learns of the change: at the watermark (not in the middle
     * of a batch: a resource delete or reconciliation evaluates once at its end). */
    if (!e->defer_eval && (rc = eval_dirty(e, e->now_ms > t_ms ? e->now_ms : t_ms, PAIR(e, v))))
        return rc;
    return relink(e, v);
}

/* ---------- resources and controls ---------- */

static uint32_t attr_hash(const pd_resource *r)
{
    uint64_t h = 0x51ed270b27b1c5a1ULL + r->cloud;
    const pd_str parts[] = {r->account, r->group, r->type, r->name, r->region};
    for (size_t i = 0; i < PD_ARRAY_LEN(parts); i++)
        h = pd_hash_mix(h, fhash(parts[i].p, parts[i].len, i));
    for (uint32_t i = 0; i < r->ntags; i++) {
        h = pd_hash_mix(h, fhash(r->tags[i].key.p, r->tags[i].key.len, 101));
        h = pd_hash_mix(h, fhash(r->tags[i].value.p, r->tags[i].value.len, 102));
    }
    uint32_t x = (uint32_t)(h ^ (h >> 32));
    return x ? x : 1;
}

static int scope_change(pd_engine *e, uint32_t r, uint32_t gi, bool enter)
{
    goal_rt *G = &e->goals[gi];
    if (enter) {
        G->in_scope++;
        e->res[r].scope |= 1ull << gi;
    }
    uint32_t buf[256], *vs = buf, n = pairs_of_res(e, r, buf, 256);
    if (n > 256) {
        if (!(vs = malloc(n * sizeof(uint32_t))))
            return PD_ENOMEM;
        pairs_of_res(e, r, vs, n);
    }
    for (uint32_t i = 0; i < n; i++) {
        const pair *p = PAIR(e, vs[i]);
        if (e->ctls[p->ctl].goals & (1ull << gi))
            contrib(e, gi, r, p->ctl, pstate_of(p), enter ? +1 : -1);
    }
    if (vs != buf)
        free(vs);
    if (!enter) {
        G->in_scope--;
        e->res[r].scope &= ~(1ull << gi);
    }
    G->dirty = true;
    return 0;
}

static int intern_opt(pd_intern *t, pd_str s, uint32_t *out)
{
    if (!s.len) {
        *out = 0;
        return 0;
    }
    return pd_intern_get(t, s, out);
}

static uint32_t find_res(const pd_engine *e, pd_str canon)
{
    return canon.len ? ftab_find(&e->res_tab, e->res_ids, canon, hash32(canon)) : 0;
}

static uint32_t find_ctl(const pd_engine *e, pd_str key)
{
    return key.len ? ftab_find(&e->ctl_tab, e->ctl_ids, key, hash32(key)) : 0;
}

/* Finds or adds s; *fresh tells which. */
static int get_id(ftab *t, pd_intern *in, pd_str s, uint32_t *out, bool *fresh)
{
    uint32_t h = hash32(s);
    uint32_t id = ftab_find(t, in, s, h);
    *fresh = false;
    if (id) {
        *out = id;
        return 0;
    }
    int rc = pd_intern_get(in, s, &id);
    if (!rc)
        rc = ftab_put(t, h, id);
    *out = id;
    *fresh = true;
    return rc;
}

static int get_acct(pd_engine *e, pd_str account, uint32_t *out)
{
    int rc = intern_opt(e->accts, account, out);
    if (rc || !*out)
        return rc;
    return grow_array((void **)&e->accts_v, &e->accts_cap, *out + 1, sizeof(acct), 16);
}

static int get_res(pd_engine *e, const pd_resource *rs, bool deleting, uint32_t *out)
{
    pd_str canon = rs->canon.len ? rs->canon : rs->id;
    if (!canon.len)
        return PD_ENOTFOUND;
    uint32_t r;
    bool fresh = false;
    int rc = 0;
    pd_str last = pd_intern_str(e->res_ids, e->last_res);
    if (e->last_res && last.len == canon.len && !memcmp(last.p, canon.p, canon.len))
        r = e->last_res;
    else if ((rc = get_id(&e->res_tab, e->res_ids, canon, &r, &fresh)))
        return rc;
    e->burst_start = r != e->last_res;
    if (r != e->last_res && !fresh && r < e->res_cap) {
        /* Start the loads this event will need while the attributes are hashed. */
        uint64_t h = pair_hash(r, 0);
        __builtin_prefetch(&e->res[r]);
        __builtin_prefetch(
            &e->index[(uint32_t)(((uint64_t)(uint32_t)h * e->index_groups) >> 32) * 16]);
        if (e->nrg)
            __builtin_prefetch(&e->rg[(size_t)r * e->nrg]);
    }
    e->last_res = r;
    if (fresh) {
        uint32_t old_cap = e->res_cap;
        if ((rc = grow_array((void **)&e->res, &e->res_cap, r + 1, sizeof(res), 1024)))
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
    *out = r;
    if (deleting && (fresh || e->res[r].gone)) {
        /* A delete neither creates a resource nor brings a gone one back into scope. */
        e->res[r].gone = 1;
        e->res[r].attr_hash = 0;
        return 0;
    }
    uint32_t h = attr_hash(rs);
    res *R = &e->res[r];
    if (!fresh && h == R->attr_hash)
        return 0;
    R->gone = 0;
    R->attr_hash = h;
    /* Attributes an event leaves empty keep their last known value. */
    if (rs->cloud != PD_CLOUD_UNKNOWN)
        R->cloud = (uint8_t)rs->cloud;
    uint32_t id;
    if (rs->account.len) {
        if ((rc = get_acct(e, rs->account, &id)))
            return rc;
        R = &e->res[r];
        R->account = id;
        e->accts_v[id].cloud = R->cloud;
    }
    if (rs->group.len && !(rc = pd_intern_get(e->strs, rs->group, &id)))
        R->group = id;
    if (!rc && rs->type.len && !(rc = pd_intern_get(e->strs, rs->type, &id)))
        R->type = id;
    if (!rc && rs->name.len && !(rc = pd_intern_get(e->strs, rs->name, &id)))
        R->name = id;
    if (!rc && rs->region.len && !(rc = pd_intern_get(e->strs, rs->region, &id)))
        R->region = id;
    if (rc)
        return rc;
    uint64_t scope = 0;
    for (uint32_t gi = 0; gi < e->ngoals; gi++) {
        const pd_goal_scope *sc = &e->goals[gi].g->scope;
        if (rs->ntags || fresh) {
            if (tags_match(sc, rs))
                R->tagmatch |= 1ull << gi;
            else
                R->tagmatch &= ~(1ull << gi);
        }
        if (scope_match(sc, (pd_cloud)R->cloud, pd_intern_str(e->accts, R->account),
                        pd_intern_str(e->strs, R->group), pd_intern_str(e->strs, R->type),
                        pd_intern_str(e->strs, R->name), pd_intern_str(e->strs, R->region),
                        (R->tagmatch >> gi) & 1))
            scope |= 1ull << gi;
    }
    uint64_t diff = scope ^ R->scope;
    while (diff) {
        uint32_t gi = (uint32_t)__builtin_ctzll(diff);
        diff &= diff - 1;
        scope_change(e, r, gi, (scope >> gi) & 1);
    }
    return 0;
}

static bool sel_match(const pd_goal_sel *s, pd_str key, pd_str parent, pd_str category,
                      const pd_str *fw, uint32_t nfw, const pd_control_info *info, bool has_info)
{
    switch (s->kind) {
    case PD_SEL_KEY:
        return pd_str_ieq_c(key, s->value) || (parent.len && pd_str_ieq_c(parent, s->value));
    case PD_SEL_FRAMEWORK:
        for (uint32_t i = 0; i < nfw; i++)
            if (pd_glob_match(s->value, fw[i]))
                return true;
        if (has_info)
            for (uint32_t i = 0; i < info->nframeworks; i++)
                if (pd_glob_match(s->value, info->frameworks[i]))
                    return true;
        return false;
    case PD_SEL_CATEGORY:
        if (category.len && pd_glob_match(s->value, category))
            return true;
        if (has_info) {
            if (info->category.len && pd_glob_match(s->value, info->category))
                return true;
            for (uint32_t i = 0; i < info->nroles; i++)
                if (pd_glob_match(s->value, pd_str_c(info->roles[i])))
                    return true;
        }
        return false;
    }
    return false;
}

/* The framework prefix a standard's controls carry in the mapping table ("MCSB:PV-5"). */
static const char *std_prefix(const char *standard)
{
    static const struct {
        const char *glob, *prefix;
    } aliases[] = {{"microsoft-cloud-security-benchmark*", "MCSB"},
                   {"azure-security-benchmark*", "MCSB"},
                   {"mcsb*", "MCSB"},
                   {"nist*", "NIST"},
                   {"cis*", "CIS"}};
    for (size_t i = 0; i < PD_ARRAY_LEN(aliases); i++)
        if (pd_glob_match(aliases[i].glob, pd_str_c(standard)))
            return aliases[i].prefix;
    return standard;
}

static bool fw_in_standard(const char *standard, const char *prefix, pd_str fw)
{
    /* "<prefix>:<id>" or "<standard>:<id>" (as compliance records name them). */
    for (int k = 0; k < 2; k++) {
        pd_str p = pd_str_c(k ? standard : prefix);
        if (fw.len > p.len && fw.p[p.len] == ':' && pd_str_ieq((pd_str){fw.p, p.len}, p))
            return true;
    }
    return false;
}

static bool std_match(const char *standard, const pd_str *fw, uint32_t nfw,
                      const pd_control_info *info, bool has_info)
{
    const char *prefix = std_prefix(standard);
    for (uint32_t i = 0; i < nfw; i++)
        if (fw_in_standard(standard, prefix, fw[i]))
            return true;
    for (uint32_t i = 0; has_info && i < info->nframeworks; i++)
        if (fw_in_standard(standard, prefix, info->frameworks[i]))
            return true;
    return false;
}

static int get_ctl(pd_engine *e, const pd_event *ev, uint32_t *out)
{
    pd_str key = ev->control.key;
    if (!key.len)
        key = ev->vuln.cve;
    if (!key.len)
        return PD_ENOTFOUND;
    uint32_t c;
    bool fresh;
    int rc = get_id(&e->ctl_tab, e->ctl_ids, key, &c, &fresh);
    if (rc)
        return rc;
    *out = c;
    if (!fresh)
        return 0;
    if ((rc = grow_array((void **)&e->ctls, &e->ctls_cap, c + 1, sizeof(ctl), 256)))
        return rc;
    ctl *C = &e->ctls[c];
    memset(C, 0, sizeof(*C));
    pd_control_info info;
    memset(&info, 0, sizeof(info));
    bool has_info = e->o.lookup && e->o.lookup(e->o.lookup_ctx, key, &info);
    if (!has_info && ev->vuln.parent_key.len && e->o.lookup)
        has_info = e->o.lookup(e->o.lookup_ctx, ev->vuln.parent_key, &info);
    pd_str name = ev->control.name.len ? ev->control.name : info.name;
    if (!name.len && ev->vuln.cve.len)
        name = ev->vuln.cve;
    if (name.len && (rc = pd_intern_get(e->strs, name, &C->name)))
        return rc;
    C->sev = (uint8_t)(has_info ? info.severity : PD_SEV_UNKNOWN);
    /* Frameworks: the event's, else the table's. */
    const pd_str *fw = ev->control.frameworks;
    uint32_t nfw = ev->control.nframeworks;
    if (!nfw && has_info) {
        fw = info.frameworks;
        nfw = info.nframeworks;
    }
    if (nfw) {
        C->frameworks = pd_arena_alloc(&e->arena, nfw * sizeof(pd_str));
        if (!C->frameworks)
            return PD_ENOMEM;
        for (uint32_t i = 0; i < nfw; i++) {
            uint32_t id;
            if ((rc = pd_intern_get(e->strs, fw[i], &id)))
                return rc;
            C->frameworks[i] = pd_intern_str(e->strs, id);
        }
        C->nframeworks = nfw;
    }
    C->flap_toggles = (uint8_t)PD_MIN(e->o.flap_toggles, 250u);
    C->flap_window_s = (uint32_t)(e->o.flap_window_ms / 1000);
    bool flap_set = false;
    for (uint32_t gi = 0; gi < e->ngoals; gi++) {
        goal_rt *G = &e->goals[gi];
        const pd_goal *g = G->g;
        bool m = false;
        for (uint32_t i = 0; i < g->ncontrols && !m; i++)
            m = sel_match(&g->controls[i], key, ev->vuln.parent_key, ev->control.category,
                          ev->control.frameworks, ev->control.nframeworks, &info, has_info);
        /* Without selectors, a score goal takes every control and a compliance goal the
         * controls mapped to its standard (every control when it names none). */
        if (!g->ncontrols && g->kind == PD_GOAL_SCORE)
            m = true;
        if (!g->ncontrols && g->kind == PD_GOAL_COMPLIANCE)
            m = !g->standard || std_match(g->standard, ev->control.frameworks,
                                          ev->control.nframeworks, &info, has_info);
        if (!m)
            continue;
        if (g->kind == PD_GOAL_SLA) {
            if (C->nsla == MAX_SLA)
                continue; /* more SLA goals on one control than a pair has bits */
            C->sla_goal[C->nsla++] = (uint8_t)gi;
        }
        C->goals |= 1ull << gi;
        if ((rc = grow_array((void **)&G->ctls, &G->ctls_cap, G->nctls + 1, sizeof(uint32_t), 16)))
            return rc;
        G->ctls[G->nctls++] = c;
        uint32_t st = (uint32_t)(g->stale_after_ms / 1000);
        if (st && (!C->stale_s || st < C->stale_s))
            C->stale_s = st;
        if (!flap_set && (g->flap_toggles || g->flap_window_ms)) {
            flap_set = true;
            if (g->flap_toggles)
                C->flap_toggles = (uint8_t)g->flap_toggles;
            if (g->flap_window_ms)
                C->flap_window_s = (uint32_t)(g->flap_window_ms / 1000);
        }
    }
    if (!C->flap_window_s)
        C->flap_window_s = 1;
    return 0;
}

/* ---------- snapshots ---------- */

/* A resource's part of a snapshot is complete when a record for it that is not a snapshot
 * record arrives: its records come in order (one partition per resource), so everything the
 * snapshot had for it came before. Its pairs unhealthy and not confirmed since its snapshot
 * began are missing from the snapshot, hence resolved. This depends on the resource's own
 * records only, so it is the same however resources interleave. */
static int reconcile_res(pd_engine *e, uint32_t r, uint32_t t_s, int64_t t_ms)
{
    e->res[r].snap_s = 0;
    e->st.snapshots_completed++;
    pd_engine_int_touch(e, r);
    uint32_t buf[256], *vs = buf, n = pairs_of_res(e, r, buf, 256);
    if (n > 256) {
        if (!(vs = malloc(n * sizeof(uint32_t))))
            return PD_ENOMEM;
        pairs_of_res(e, r, vs, n);
    }
    int rc = 0;
    e->defer_eval = true;
    for (uint32_t i = 0; i < n && !rc; i++) {
        pair *p = PAIR(e, vs[i]);
        bool present = (p->flags & F_IN_SNAP) != 0;
        p->flags &= (uint8_t)~F_IN_SNAP;
        if (p->status != PD_STATUS_UNHEALTHY || present)
            continue;
        rc = pair_set(e, vs[i], PD_STATUS_REMOVED, pair_sev(p), t_s, t_ms, 0, "snapshot",
                      pd_intern_str(e->accts, e->res[r].account));
    }
    e->defer_eval = false;
    if (vs != buf)
        free(vs);
    if (!rc)
        rc = eval_dirty(e, e->now_ms > t_ms ? e->now_ms : t_ms, NULL);
    return rc;
}

/* ---------- time ---------- */

static int advance_to(pd_engine *e, int64_t now_ms)
{
    if (now_ms == PD_TIME_NONE)
        return 0;
    if (e->now_ms != PD_TIME_NONE && now_ms <= e->now_ms)
        return 0;
    e->now_ms = now_ms;
    uint32_t now_s = to_s(now_ms);
    if (now_s <= e->now_s && e->wheel_cur)
        return 0;
    e->now_s = now_s;
    /* Timers run `lateness` behind event time: a record of the pair that is late on another
     * input (a lagging partition) still arrives before its timer fires. */
    uint32_t clock = now_s > e->lateness_s ? now_s - e->lateness_s : 0;
    e->clock_s = clock;
    if (!e->wheel_cur) {
        e->wheel_cur = clock + 1;
        return 0;
    }
    int rc = 0;
    uint64_t steps = clock >= e->wheel_cur ? (uint64_t)clock - e->wheel_cur + 1 : 0;
    if (steps > WHEEL_SIZE)
        steps = WHEEL_SIZE;
    for (uint64_t k = 0; k < steps && !rc; k++) {
        uint32_t slot = (uint32_t)((e->wheel_cur + k) & WHEEL_MASK);
        /* Detach the slot: entries not due yet go back in (possibly this slot). */
        uint32_t v = e->wheel[slot];
        e->wheel[slot] = 0;
        if (v)
            PAIR(e, v)->tprev = 0;
        while (v && !rc) {
            pair *p = PAIR(e, v);
            uint32_t next = p->tnext;
            p->tprev = p->tnext = 0;
            p->flags &= (uint8_t)~F_LINKED;
            if (next)
                PAIR(e, next)->tprev = 0;
            uint32_t d = pair_deadline(e, p);
            if (d && d <= clock)
                rc = fire_pair(e, v);
            else if (d)
                link_timer(e, v, d);
            v = next;
        }
    }
    if (clock >= e->wheel_cur)
        e->wheel_cur = clock + 1;
    return rc;
}

int pd_engine_advance(pd_engine *e, int64_t now_ms)
{
    return advance_to(e, now_ms);
}

/* ---------- score and compliance events ---------- */

static bool acct_in_scope(const pd_goal *g, pd_cloud cloud, pd_str account)
{
    const pd_goal_scope *sc = &g->scope;
    if (sc->clouds && cloud != PD_CLOUD_UNKNOWN && !(sc->clouds & (1u << cloud)))
        return false;
    return any_glob(sc->accounts, sc->naccounts, account);
}

static int apply_score(pd_engine *e, const pd_event *ev)
{
    if (ev->score.control.len)
        return 0; /* per security control: the overall score is what goals measure */
    uint32_t a;
    int rc = get_acct(e, ev->resource.account, &a);
    if (rc || !a)
        return rc;
    acct *A = &e->accts_v[a];
    if (ev->deleted) {
        A->has_score = false;
    } else if (ev->score.max > 0) {
        A->score_num = ev->score.current;
        A->score_den = ev->score.max;
        A->has_score = true;
    } else if (ev->score.percentage >= 0) {
        A->score_num = ev->score.percentage;
        A->score_den = 1;
        A->has_score = true;
    }
    if (ev->resource.cloud != PD_CLOUD_UNKNOWN)
        A->cloud = (uint8_t)ev->resource.cloud;
    for (uint32_t gi = 0; gi < e->ngoals; gi++) {
        goal_rt *G = &e->goals[gi];
        if (G->g->kind != PD_GOAL_SCORE)
            continue;
        /* Recomputed over accounts: score events are rare (one per account per export). */
        G->ev_num = G->ev_den = 0;
        G->ev_records = 0;
        for (uint32_t i = 1; i < e->accts_cap && i <= pd_intern_count(e->accts); i++) {
            const acct *X = &e->accts_v[i];
            if (!X->has_score ||
                !acct_in_scope(G->g, (pd_cloud)X->cloud, pd_intern_str(e->accts, i)))
                continue;
            G->ev_num += X->score_num;
            G->ev_den += X->score_den;
            G->ev_records++;
        }
        G->dirty = true;
    }
    return eval_dirty(e, ev->time_ms, NULL);
}

static int apply_compliance(pd_engine *e, const pd_event *ev)
{
    /* One record per (account, standard, control, assessment). */
    char kb[512];
    const pd_compliance *c = &ev->compliance;
    int n = snprintf(kb, sizeof(kb), "%.*s|%.*s|%.*s|%.*s", (int)ev->resource.account.len,
                     ev->resource.account.p ? ev->resource.account.p : "", (int)c->standard.len,
                     c->standard.p ? c->standard.p : "", (int)c->control.len,
                     c->control.p ? c->control.p : "", (int)ev->control.key.len,
                     ev->control.key.p ? ev->control.key.p : "");
    if (n < 0 || (size_t)n >= sizeof(kb))
        return 0;
    uint32_t n0 = pd_intern_count(e->comp_ids), id, a;
    int rc = pd_intern_get(e->comp_ids, (pd_str){kb, (uint32_t)n}, &id);
    if (rc || (rc = get_acct(e, ev->resource.account, &a)))
        return rc;
    if ((rc = grow_array((void **)&e->comp, &e->comp_cap, id + 1, sizeof(comprec), 64)))
        return rc;
    comprec *R = &e->comp[id];
    if (id > n0) {
        R->account = a;
        for (uint32_t gi = 0; gi < e->ngoals; gi++) {
            const pd_goal *g = e->goals[gi].g;
            if (g->kind != PD_GOAL_COMPLIANCE)
                continue;
            if (g->standard && !pd_glob_match(g->standard, c->standard))
                continue;
            if (!acct_in_scope(g, ev->resource.cloud, ev->resource.account))
                continue;
            R->goals |= 1ull << gi;
            e->goals[gi].ev_records++;
        }
    }
    uint32_t passed = c->passed, failed = c->failed;
    if (!passed && !failed) {
        if (pd_str_ieq_c(c->state, "passed"))
            passed = 1;
        else if (pd_str_ieq_c(c->state, "failed"))
            failed = 1;
    }
    if (ev->deleted)
        passed = failed = 0;
    uint64_t m = R->goals;
    while (m) {
        uint32_t gi = (uint32_t)__builtin_ctzll(m);
        m &= m - 1;
        goal_rt *G = &e->goals[gi];
        G->ev_num += (double)passed - (double)R->passed;
        G->ev_den += (double)(passed + failed) - (double)(R->passed + R->failed);
        G->dirty = true;
    }
    R->passed = passed;
    R->failed = failed;
    return eval_dirty(e, ev->time_ms, NULL);
}

/* ---------- events ---------- */

static int delete_resource(pd_engine *e, uint32_t r, uint32_t t_s, int64_t t_ms, pd_str evid)
{
    pd_engine_int_touch(e, r);
    uint32_t buf[256], *vs = buf, n = pairs_of_res(e, r, buf, 256);
    if (n > 256) {
        if (!(vs = malloc(n * sizeof(uint32_t))))
            return PD_ENOMEM;
        pairs_of_res(e, r, vs, n);
    }
    int rc = 0;
    e->defer_eval = true;
    for (uint32_t i = 0; i < n && !rc; i++) {
        pair *p = PAIR(e, vs[i]);
        if (p->status == PD_STATUS_REMOVED || p->ev_s > t_s)
            continue;
        rc = pair_set(e, vs[i], PD_STATUS_REMOVED, pair_sev(p), t_s, t_ms, 0, "inventory", evid);
    }
    e->defer_eval = false;
    if (vs != buf)
        free(vs);
    if (!rc && !e->res[r].gone)
        rc = resource_gone(e, r);
    if (!rc)
        rc = eval_dirty(e, e->now_ms > t_ms ? e->now_ms : t_ms, NULL);
    return rc;
}

static int apply_pair_record(pd_engine *e, const pd_event *ev, uint32_t *rout)
{
    uint32_t r, c;
    int rc = get_res(e, &ev->resource, ev->deleted, &r);
    *rout = rc ? 0 : r;
    if (rc == PD_ENOTFOUND) {
        e->st.ignored++;
        return 0;
    }
    if (rc)
        return rc;
    if ((rc = get_ctl(e, ev, &c)) == PD_ENOTFOUND) {
        e->st.ignored++;
        return 0;
    }
    if (rc)
        return rc;
    uint32_t t_s = to_s(ev->time_ms);
    if (ev->snapshot && !e->res[r].snap_s)
        e->res[r].snap_s = e->now_s ? e->now_s : 1;
    uint32_t v = pair_find(e, r, c);
    if (e->burst_start) {
        /* The first record of a machine: its other records usually follow, so start loading
         * the pair records its index lines point at (the line is in cache now). */
        uint64_t h = pair_hash(r, 0);
        uint32_t slots = e->index_groups * 16;
        uint32_t gs = (uint32_t)(((uint64_t)(uint32_t)h * e->index_groups) >> 32) * 16;
        for (uint32_t k = 0; k < 32; k++) {
            uint32_t x = e->index[gs + k < slots ? gs + k : gs + k - slots];
            if (x)
                __builtin_prefetch(PAIR(e, x & IDX_MASK));
        }
    }
    pd_severity sev = ev->severity != PD_SEV_UNKNOWN ? ev->severity : (pd_severity)e->ctls[c].sev;
    if (ev->deleted) {
        if (!v) {
            e->st.ignored++;
            return 0;
        }
        pair *p = PAIR(e, v);
        if (t_s < p->ev_s) {
            e->st.out_of_order++;
            return 0;
        }
        if (p->status == PD_STATUS_REMOVED) {
            e->st.duplicates++;
            return 0;
        }
        e->st.applied++;
        return pair_set(e, v, PD_STATUS_REMOVED, pair_sev(p), t_s, ev->time_ms, 0, "assessment",
                        ev->event_id);
    }
    pd_status ns = ev->status;
    if (ns == PD_STATUS_UNKNOWN || ns == PD_STATUS_REMOVED) {
        e->st.ignored++;
        return 0;
    }
    if (!v) {
        if ((rc = pair_add(e, r, c, &v)))
            return rc;
        e->st.pairs++;
    }
    pair *p = PAIR(e, v);
    if (e->res[r].snap_s)
        p->flags |= F_IN_SNAP; /* present, even when older than what we know */
    if (p->ev_s && t_s < p->ev_s) {
        e->st.out_of_order++;
        return 0;
    }
    if (p->status == ns && pair_sev(p) == sev && !(p->flags & F_STALE) && p->ev_s == t_s) {
        /* A duplicate or a re-export: nothing changes but it confirms the pair is current. */
        e->st.duplicates++;
        if (e->now_s > p->seen_s) {
            p->seen_s = e->now_s;
            return relink(e, v);
        }
        return 0;
    }
    e->st.applied++;
    uint32_t since = 0;
    if (ev->status_change_ms != PD_TIME_NONE)
        since = to_s(ev->status_change_ms);
    else if (ev->first_seen_ms != PD_TIME_NONE)
        since = to_s(ev->first_seen_ms);
    return pair_set(e, v, ns, sev, t_s, ev->time_ms, since, "assessment", ev->event_id);
}

static int apply_pair_event(pd_engine *e, const pd_event *ev)
{
    uint32_t r = 0;
    int rc = apply_pair_record(e, ev, &r);
    /* The record itself first: a pair it confirms is not missing from the snapshot. */
    if (!rc && r && !ev->snapshot && e->res[r].snap_s)
        rc = reconcile_res(e, r, to_s(ev->time_ms), ev->time_ms);
    return rc;
}

int pd_engine_apply(pd_engine *e, const pd_event *ev)
{
    e->st.events++;
    pd_event tmp;
    if (ev->time_ms == PD_TIME_NONE) {
        /* Scores and compliance records carry no time: they hold as of the watermark. */
        if (e->now_ms == PD_TIME_NONE) {
            e->st.ignored++;
            return 0;
        }
        tmp = *ev;
        tmp.time_ms = e->now_ms;
        ev = &tmp;
    }
    int rc = advance_to(e, ev->time_ms);
    if (rc)
        return rc;
    switch (ev->kind) {
    case PD_KIND_ASSESSMENT:
    case PD_KIND_VULNERABILITY:
        return apply_pair_event(e, ev);
    case PD_KIND_SCORE:
        e->st.applied++;
        return apply_score(e, ev);
    case PD_KIND_COMPLIANCE:
        e->st.applied++;
        return apply_compliance(e, ev);
    case PD_KIND_INVENTORY: {
        uint32_t r;
        rc = get_res(e, &ev->resource, ev->deleted, &r);
        if (rc == PD_ENOTFOUND) {
            e->st.ignored++;
            return 0;
        }
        if (rc)
            return rc;
        e->st.applied++;
        if (ev->deleted)
            rc = delete_resource(e, r, to_s(ev->time_ms), ev->time_ms, ev->event_id);
        else if (e->res[r].snap_s)
            rc = reconcile_res(e, r, to_s(ev->time_ms), ev->time_ms);
        if (!rc)
            rc = eval_dirty(e, ev->time_ms, NULL);
        return rc;
    }
    default:
        e->st.ignored++;
        return 0;
    }
}

int pd_engine_feed_silent(pd_engine *e, pd_str source, int64_t last_ms, int64_t window_ms,
                          int64_t now_ms)
{
    pd_signal s;
    memset(&s, 0, sizeof(s));
    pd_evidence ev = {"input", source, last_ms, PD_STR_NULL};
    char wb[32];
    snprintf(wb, sizeof(wb), "%lld", (long long)window_ms);
    ev.detail = pd_str_c(wb);
    s.kind = PD_SIGNAL_DRIFT;
    s.type = "feed.silent";
    s.time_ms = now_ms;
    s.severity = PD_SEV_HIGH;
    s.pipeline = e->o.pipeline;
    s.evidence = &ev;
    s.nevidence = 1;
    make_id(&s, source, pd_str_c(wb), PD_STR_NULL, last_ms);
    return emit(e, &s);
}

/* ---------- posture queries for the correlator ---------- */

static uint32_t q_violated(void *ctx, pd_str canon, pd_posture_goal_fn fn, void *fctx)
{
    pd_engine *e = ctx;
    uint32_t r = find_res(e, canon), n = 0;
    if (!r)
        return 0;
    uint64_t m = e->res[r].scope;
    while (m) {
        uint32_t gi = (uint32_t)__builtin_ctzll(m);
        m &= m - 1;
        const goal_rt *G = &e->goals[gi];
        if (G->rgi < 0)
            continue;
        const rgc *rc = &e->rg[(size_t)r * e->nrg + (uint32_t)G->rgi];
        bool v = false;
        if (G->g->kind == PD_GOAL_SLA)
            v = rc->na > 0;
        else if (G->g->kind == PD_GOAL_CONTROL || G->g->kind == PD_GOAL_COVERAGE)
            v = rc->unh > 0;
        if (!v)
            continue;
        n++;
        if (fn)
            fn(fctx, pd_str_c(G->g->id), pd_str_c(G->g->title));
    }
    return n;
}

static int key_cmp(const pd_engine *e, uint32_t va, uint32_t vb)
{
    pd_str a = pd_intern_str(e->ctl_ids, PAIR(e, va)->ctl);
    pd_str b = pd_intern_str(e->ctl_ids, PAIR(e, vb)->ctl);
    int c = memcmp(a.p, b.p, PD_MIN(a.len, b.len));
    return c ? c : (int)a.len - (int)b.len;
}

static uint32_t q_findings(void *ctx, pd_str canon, pd_severity min, pd_posture_finding_fn fn,
                           void *fctx)
{
    pd_engine *e = ctx;
    uint32_t r = find_res(e, canon), n = 0;
    if (!r)
        return 0;
    uint32_t buf[256], *vs = buf, k = pairs_of_res(e, r, buf, 256);
    if (k > 256) {
        if (!(vs = malloc(k * sizeof(uint32_t))))
            return 0;
        pairs_of_res(e, r, vs, k);
    }
    /* By control key: the same order whatever order the records came in. */
    for (uint32_t a = 1; a < k; a++)
        for (uint32_t b = a; b > 0 && key_cmp(e, vs[b - 1], vs[b]) > 0; b--) {
            uint32_t t = vs[b];
            vs[b] = vs[b - 1];
            vs[b - 1] = t;
        }
    for (uint32_t i = 0; i < k; i++) {
        const pair *p = PAIR(e, vs[i]);
        if (p->status != PD_STATUS_UNHEALTHY || pair_sev(p) < min)
            continue;
        n++;
        if (fn)
            fn(fctx, pd_intern_str(e->ctl_ids, p->ctl),
               pd_intern_str(e->strs, e->ctls[p->ctl].name), pair_sev(p),
               (int64_t)p->since_s * 1000);
    }
    if (vs != buf)
        free(vs);
    return n;
}

static pd_status q_status(void *ctx, pd_str canon, pd_str key)
{
    pd_engine *e = ctx;
    uint32_t r = find_res(e, canon), c = find_ctl(e, key);
    if (!r || !c)
        return PD_STATUS_UNKNOWN;
    uint32_t v = pair_find(e, r, c);
    if (!v)
        return PD_STATUS_UNKNOWN;
    const pair *p = PAIR(e, v);
    if (p->flags & F_STALE)
        return PD_STATUS_UNKNOWN;
    return (pd_status)p->status;
}

static const pd_posture_ops posture_ops = {q_violated, q_findings, q_status};

const pd_posture_ops *pd_engine_posture_ops(void)
{
    return &posture_ops;
}

/* ---------- accounting ---------- */

void pd_engine_stats_get(const pd_engine *e, pd_engine_stats *out)
{
    *out = e->st;
    out->pairs = e->npairs;
    out->resources = pd_intern_count(e->res_ids);
    size_t pairs = (size_t)e->nchunks * PAIR_CHUNK * sizeof(pair) +
                   (size_t)e->chunks_cap * sizeof(pair *) + (size_t)e->index_groups * 16 * 4;
    size_t b = pairs + WHEEL_SIZE * sizeof(uint32_t);
    b += (size_t)e->res_cap * sizeof(res) + (size_t)e->res_cap * e->nrg * sizeof(rgc);
    b += (size_t)e->ctls_cap * sizeof(ctl) + (size_t)e->accts_cap * sizeof(acct);
    b += (size_t)e->comp_cap * sizeof(comprec) + e->ngoals * sizeof(goal_rt);
    for (uint32_t i = 0; i < e->ngoals; i++)
        b += (size_t)e->goals[i].ctls_cap * 4 + (size_t)e->goals[i].per_ctl_cap * sizeof(hu);
    b += ((size_t)e->res_tab.mask + 1 + (size_t)e->ctl_tab.mask + 1) * sizeof(uint64_t);
    b += pd_intern_bytes(e->res_ids) + pd_intern_bytes(e->ctl_ids) + pd_intern_bytes(e->strs) +
         pd_intern_bytes(e->accts) + pd_intern_bytes(e->comp_ids) + e->arena.bytes_reserved;
    out->bytes = b + sizeof(*e);
    out->bytes_pairs = pairs;
}

/* ---------- internal entry points for pd_engine_state.c (pd_engine_int.h) ---------- */

int pd_engine_int_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem, uint32_t min)
{
    return grow_array(arr, cap, need, elem, min);
}

int pd_engine_int_res_id(pd_engine *e, pd_str canon, uint32_t *out, bool *fresh)
{
    return get_id(&e->res_tab, e->res_ids, canon, out, fresh);
}

int pd_engine_int_ctl_id(pd_engine *e, pd_str key, uint32_t *out, bool *fresh)
{
    return get_id(&e->ctl_tab, e->ctl_ids, key, out, fresh);
}

int pd_engine_int_pair_add(pd_engine *e, uint32_t r, uint32_t c, uint32_t *v)
{
    return pair_add(e, r, c, v);
}

void pd_engine_int_link(pd_engine *e, uint32_t v, uint32_t deadline_s)
{
    link_timer(e, v, deadline_s);
}

void pd_engine_int_contrib(pd_engine *e, uint32_t v, int sign)
{
    const pair *p = PAIR(e, v);
    contrib_all(e, p, pstate_of(p), sign);
}

uint32_t pd_engine_int_find_res(const pd_engine *e, pd_str canon)
{
    return find_res(e, canon);
}

uint32_t pd_engine_int_find_ctl(const pd_engine *e, pd_str key)
{
    return find_ctl(e, key);
}

uint32_t pd_engine_int_find_pair(const pd_engine *e, uint32_t r, uint32_t c)
{
    return pair_find(e, r, c);
}

uint64_t pd_engine_int_pair_hash(uint32_t r, uint32_t c)
{
    return pair_hash(r, c);
}

uint32_t pd_engine_int_pair_home(uint64_t h, uint32_t ngroups)
{
    return pair_home(h, ngroups);
}

uint32_t pd_engine_int_idx_tag(uint64_t h)
{
    return TAG_OF(h);
}

uint32_t pd_engine_int_idx_mask(void)
{
    return IDX_MASK;
}

uint32_t pd_engine_int_pairs_of_res(const pd_engine *e, uint32_t r, uint32_t *out, uint32_t cap)
{
    return pairs_of_res(e, r, out, cap);
}

uint32_t pd_engine_int_deadline(const pd_engine *e, uint32_t v)
{
    return pair_deadline(e, PAIR(e, v));
}

void pd_engine_int_unlink(pd_engine *e, uint32_t v)
{
    unlink_timer(e, v);
}

int pd_engine_int_acct(pd_engine *e, pd_str account, uint32_t *out)
{
    return get_acct(e, account, out);
}

int pd_engine_int_ctl_from_event(pd_engine *e, const pd_event *ev, uint32_t *out)
{
    return get_ctl(e, ev, out);
}

bool pd_engine_int_acct_in_scope(const pd_goal *g, pd_cloud cloud, pd_str account)
{
    return acct_in_scope(g, cloud, account);
}
