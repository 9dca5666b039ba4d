/* pd_correlate.c: the correlation engine. Per rule, a hash table of groups (group-by key);
 * each group keeps the matching items of its window in time order in a bounded array, their
 * strings in a per-group byte buffer that is compacted, never freed per event. Groups are
 * recycled through a free list and evicted least-recently-used under the rule's memory cap. */
#include "pd_correlate.h"

#include "pd_msgpack.h"
#include "pd_rule.h"
#include "pd_time.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CR_MAX_POSTURE 32   /* posture facts per signal: goals and findings each */
#define CR_FREE_KEEP   4096 /* recycled groups kept per rule (counted under the cap) */
#define CR_EXPIRE_SKIP 32   /* non-expired groups advance() looks past per sweep */
#define CR_NSTR        7    /* strings per item record */
#define CR_STR_MAX     1024

enum { S_ID = 0, S_DETAIL, S_RES_ID, S_RES_CANON, S_ACCOUNT, S_NAME, S_TYPE };

typedef struct cr_item {
    int64_t t;
    uint64_t vhash;  /* the value counted by value_count */
    uint64_t idhash; /* duplicates (same kind and id) count once */
    uint64_t rhash;  /* the resource, for the signal's distinct resources */
    uint32_t tactics;
    uint32_t soff; /* record of CR_NSTR length-prefixed strings in the group's sbuf */
    uint32_t slen;
    uint8_t ekind; /* index into evidence_kinds */
    uint8_t sev;
    uint8_t cloud;
    uint8_t steps; /* bit per step matched */
} cr_item;

typedef struct cr_group {
    struct cr_group *hnext, *prev, *next; /* hash chain; LRU list (head = most recent) */
    uint64_t khash;
    uint32_t klen; /* the group key is sbuf[0..klen) */
    char *sbuf;
    uint32_t slen, scap;
    uint32_t n;
    int64_t last_t;
    bool fired;
    bool persisted;       /* a changelog record of it exists (pd_correlator_collect) */
    uint32_t dirty_epoch; /* == the correlator's epoch: changed since the last collect */
    uint32_t update;
    int64_t fire_t, supp_until, ev_from;
    char sig_id[33];
    cr_item items[];
} cr_group;

typedef struct cr_rule {
    const pd_rule *r;
    uint32_t cap; /* items per group */
    cr_group **table;
    uint32_t tsize; /* power of 2 */
    uint32_t ngroups;
    cr_group *head, *tail;
    cr_group *freelist;
    uint32_t nfree;
    size_t bytes;
} cr_rule;

struct pd_correlator {
    const pd_rule_set *rules;
    pd_correlate_opts opts;
    const pd_posture_ops *posture;
    void *posture_ctx;
    pd_signal_fn emit;
    void *emit_ctx;
    cr_rule *cr;
    uint32_t nrules;
    int64_t watermark;
    int64_t last_sweep; /* advance() sweeps expired groups at most once per event-time second */
    pd_correlate_stats stats;
    /* scratch, reused for every event */
    pd_buf key, rec, compact, pstr;
    pd_evidence *ev;
    uint32_t evcap;
    pd_signal_resource *res;
    pd_str *rescanon;
    uint64_t *reshash;
    struct cr_pfact {
        const char *kind;
        uint32_t id_off, id_len, det_off, det_len;
        int64_t t;
    } pf[2 * CR_MAX_POSTURE];
    uint32_t npf;
    uint32_t pgoals, pfindings;
    int64_t pf_time;
    /* changelog (pd_correlator_collect): groups changed in this epoch; keys of groups gone */
    uint32_t epoch;
    pd_buf gone; /* records: uint32 rule index, uint32 key length, key bytes */
    uint32_t ngone;
    pd_buf out, okey;
    bool collecting; /* a collect ran once: tracking is on */
};

static const char *const evidence_kinds[] = {"assessment", "alert",     "vulnerability", "score",
                                             "compliance", "inventory", "signal"};
#define EK_SIGNAL 6

static const char *const type_names[PD_RULE__TYPE_COUNT] = {"event_count", "value_count",
                                                            "temporal", "temporal_ordered"};
static const char *const field_names[PD_RF__COUNT] = {"none",    "resource", "alert_type",
                                                      "account", "control",  "tactic"};

const char *pd_rule_type_name(pd_rule_type t)
{
    return (unsigned)t < PD_RULE__TYPE_COUNT ? type_names[t] : "unknown";
}

const char *pd_rule_field_name(pd_rule_field f)
{
    return (unsigned)f < PD_RF__COUNT ? field_names[f] : "unknown";
}

void pd_correlate_opts_default(pd_correlate_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->allowed_lateness_ms = 5 * 60 * 1000;
    o->memcap_bytes = 64u << 20;
}

/* ---- rule sets ---------------------------------------------------------------------- */

int pd_rule_set_create(pd_rule_set **set)
{
    if (*set)
        return 0;
    pd_rule_set *s = calloc(1, sizeof(*s));
    if (!s)
        return PD_ENOMEM;
    pd_arena_init(&s->arena, 16384);
    *set = s;
    return 0;
}

int pd_rule_set_add(pd_rule_set **set, const pd_rule *r)
{
    int rc = pd_rule_set_create(set);
    if (rc)
        return rc;
    pd_rule_set *s = *set;
    if (s->n == s->cap) {
        uint32_t ncap = s->cap ? s->cap * 2 : 8;
        pd_rule *nr = realloc(s->rules, ncap * sizeof(*nr));
        if (!nr)
            return PD_ENOMEM;
        s->rules = nr;
        s->cap = ncap;
    }
    s->rules[s->n++] = *r;
    return 0;
}

uint32_t pd_rule_set_count(const pd_rule_set *set)
{
    return set ? set->n : 0;
}

void pd_rule_set_destroy(pd_rule_set *set)
{
    if (!set)
        return;
    free(set->rules);
    pd_arena_destroy(&set->arena);
    free(set);
}

static bool match_signal_only(const pd_rule *r)
{
    if (r->nsteps == 0)
        return r->match.signals;
    for (uint32_t i = 0; i < r->nsteps; i++)
        if (!r->steps[i].match.signals)
            return false;
    return true;
}

int pd_rule_check(const pd_rule *r, char *err, size_t errlen)
{
#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return PD_ECONFIG;                                                                         \
    } while (0)
    if (!r->id || !r->id[0])
        BAD("rule without id");
    if (r->timespan_ms <= 0)
        BAD("rule %s: timespan must be positive", r->id);
    if (r->threshold < 1)
        BAD("rule %s: condition must be at least 1", r->id);
    switch (r->type) {
    case PD_RULE_EVENT_COUNT:
        if (r->nsteps)
            BAD("rule %s: event_count takes match, not steps", r->id);
        break;
    case PD_RULE_VALUE_COUNT:
        if (r->nsteps)
            BAD("rule %s: value_count takes match, not steps", r->id);
        if (r->count_field == PD_RF_NONE)
            BAD("rule %s: value_count needs condition.field", r->id);
        break;
    case PD_RULE_TEMPORAL:
        if (r->nsteps < 2)
            BAD("rule %s: temporal needs at least 2 steps", r->id);
        break;
    case PD_RULE_TEMPORAL_ORDERED:
        if (r->nsteps == 0 && r->count_field != PD_RF_TACTIC)
            BAD("rule %s: temporal_ordered needs steps, or condition.field: tactic", r->id);
        if (r->nsteps == 1)
            BAD("rule %s: temporal_ordered needs at least 2 steps", r->id);
        break;
    default:
        BAD("rule %s: unknown type", r->id);
    }
    if (r->nsteps > PD_RULE_MAX_STEPS)
        BAD("rule %s: at most %d steps", r->id, PD_RULE_MAX_STEPS);
    if (r->posture.enabled && match_signal_only(r))
        BAD("rule %s: posture conditions apply to events; this rule matches only signals", r->id);
    return 0;
#undef BAD
}

/* ---- memory --------------------------------------------------------------------------- */

static size_t group_size(uint32_t cap)
{
    return sizeof(cr_group) + (size_t)cap * sizeof(cr_item);
}

static void lru_unlink(cr_rule *cr, cr_group *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        cr->head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        cr->tail = g->prev;
    g->prev = g->next = NULL;
}

static void lru_push_head(cr_rule *cr, cr_group *g)
{
    g->prev = NULL;
    g->next = cr->head;
    if (cr->head)
        cr->head->prev = g;
    cr->head = g;
    if (!cr->tail)
        cr->tail = g;
}

static void group_release(pd_correlator *c, cr_rule *cr, cr_group *g)
{
    if (g->persisted) {
        uint32_t head[2] = {(uint32_t)(cr - c->cr), g->klen};
        pd_buf_append(&c->gone, head, sizeof(head));
        pd_buf_append(&c->gone, g->sbuf, g->klen);
        c->ngone++;
    }
    uint32_t b = (uint32_t)(g->khash & (cr->tsize - 1));
    cr_group **pp = &cr->table[b];
    while (*pp && *pp != g)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = g->hnext;
    lru_unlink(cr, g);
    cr->ngroups--;
    c->stats.groups--;
    if (cr->nfree < CR_FREE_KEEP) {
        g->hnext = cr->freelist;
        cr->freelist = g;
        cr->nfree++;
        return;
    }
    cr->bytes -= group_size(cr->cap) + g->scap;
    free(g->sbuf);
    free(g);
}

static void free_groups(cr_rule *cr)
{
    for (cr_group *g = cr->head, *nx; g; g = nx) {
        nx = g->next;
        free(g->sbuf);
        free(g);
    }
    for (cr_group *g = cr->freelist, *nx; g; g = nx) {
        nx = g->hnext;
        free(g->sbuf);
        free(g);
    }
    free(cr->table);
}

/* Evicts least-recently-used groups (never keep) until need more bytes fit under the cap. */
static void make_room(pd_correlator *c, cr_rule *cr, size_t need, const cr_group *keep)
{
    while (cr->bytes + need > c->opts.memcap_bytes) {
        if (cr->freelist) {
            cr_group *g = cr->freelist;
            cr->freelist = g->hnext;
            cr->nfree--;
            cr->bytes -= group_size(cr->cap) + g->scap;
            free(g->sbuf);
            free(g);
            continue;
        }
        cr_group *v = cr->tail;
        if (v == keep)
            v = v ? v->prev : NULL;
        if (!v)
            return;
        c->stats.evictions++;
        group_release(c, cr, v);
    }
}

static int table_grow(cr_rule *cr)
{
    uint32_t nsize = cr->tsize ? cr->tsize * 2 : 256;
    cr_group **nt = calloc(nsize, sizeof(*nt));
    if (!nt)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < cr->tsize; i++)
        for (cr_group *g = cr->table[i], *nx; g; g = nx) {
            nx = g->hnext;
            uint32_t b = (uint32_t)(g->khash & (nsize - 1));
            g->hnext = nt[b];
            nt[b] = g;
        }
    cr->bytes += (size_t)(nsize - cr->tsize) * sizeof(*nt);
    free(cr->table);
    cr->table = nt;
    cr->tsize = nsize;
    return 0;
}

static int sbuf_reserve(pd_correlator *c, cr_rule *cr, cr_group *g, uint32_t need);

static int group_get(pd_correlator *c, cr_rule *cr, pd_str key, cr_group **out)
{
    uint64_t h = pd_hash64(key.p, key.len, 0xc0117e1a7eULL);
    if (cr->tsize) {
        for (cr_group *g = cr->table[h & (cr->tsize - 1)]; g; g = g->hnext)
            if (g->khash == h && g->klen == key.len && !memcmp(g->sbuf, key.p, key.len)) {
                *out = g;
                return 0;
            }
    }
    if (cr->ngroups >= cr->tsize) {
        int rc = table_grow(cr);
        if (rc)
            return rc;
    }
    cr_group *g = NULL;
    if (cr->freelist) {
        g = cr->freelist;
        cr->freelist = g->hnext;
        cr->nfree--;
    } else {
        make_room(c, cr, group_size(cr->cap) + 256, NULL);
        g = calloc(1, group_size(cr->cap));
        if (!g)
            return PD_ENOMEM;
        cr->bytes += group_size(cr->cap);
    }
    char *sbuf = g->sbuf;
    uint32_t scap = g->scap;
    memset(g, 0, sizeof(*g));
    g->sbuf = sbuf;
    g->scap = scap;
    g->khash = h;
    lru_push_head(cr, g);
    uint32_t b = (uint32_t)(h & (cr->tsize - 1));
    g->hnext = cr->table[b];
    cr->table[b] = g;
    cr->ngroups++;
    c->stats.groups++;
    int rc = sbuf_reserve(c, cr, g, key.len);
    if (rc) {
        group_release(c, cr, g);
        return rc;
    }
    memcpy(g->sbuf, key.p, key.len);
    g->klen = g->slen = key.len;
    *out = g;
    return 0;
}

/* Makes room for need more bytes in g->sbuf: compacts away the records of dropped items
 * first, grows (amortized doubling) only when live data needs it. */
static int sbuf_reserve(pd_correlator *c, cr_rule *cr, cr_group *g, uint32_t need)
{
    if (g->slen + need <= g->scap)
        return 0;
    if (g->slen > g->klen) {
        pd_buf *tmp = &c->compact;
        pd_buf_reset(tmp);
        pd_buf_append(tmp, g->sbuf, g->klen);
        for (uint32_t i = 0; i < g->n; i++) {
            uint32_t off = (uint32_t)tmp->len;
            pd_buf_append(tmp, g->sbuf + g->items[i].soff, g->items[i].slen);
            g->items[i].soff = off;
        }
        if (tmp->oom)
            return PD_ENOMEM;
        memcpy(g->sbuf, tmp->p, tmp->len);
        g->slen = (uint32_t)tmp->len;
        if (g->slen + need <= g->scap)
            return 0;
    }
    uint32_t ncap = g->scap ? g->scap : 256;
    while (ncap < g->slen + need)
        ncap *= 2;
    make_room(c, cr, ncap - g->scap, g);
    char *nb = realloc(g->sbuf, ncap);
    if (!nb)
        return PD_ENOMEM;
    cr->bytes += ncap - g->scap;
    g->sbuf = nb;
    g->scap = ncap;
    return 0;
}

/* ---- create / destroy ----------------------------------------------------------------- */

static uint32_t rule_cap(const pd_rule *r)
{
    uint32_t cap = r->threshold * 4;
    if (r->nsteps)
        cap = PD_MAX(cap, r->nsteps * 8);
    return PD_MIN(PD_MAX(cap, 32u), 256u);
}

int pd_correlator_create(const pd_rule_set *rules, const pd_correlate_opts *opts,
                         const pd_posture_ops *posture, void *posture_ctx, pd_signal_fn emit,
                         void *emit_ctx, pd_correlator **out)
{
    *out = NULL;
    pd_correlator *c = calloc(1, sizeof(*c));
    if (!c)
        return PD_ENOMEM;
    if (opts)
        c->opts = *opts;
    else
        pd_correlate_opts_default(&c->opts);
    if (c->opts.allowed_lateness_ms < 0)
        c->opts.allowed_lateness_ms = 0;
    if (!c->opts.memcap_bytes)
        c->opts.memcap_bytes = 64u << 20;
    c->rules = rules;
    c->posture = posture;
    c->posture_ctx = posture_ctx;
    c->emit = emit;
    c->emit_ctx = emit_ctx;
    c->watermark = PD_TIME_NONE;
    c->last_sweep = PD_TIME_NONE;
    pd_buf_init(&c->key);
    pd_buf_init(&c->rec);
    pd_buf_init(&c->compact);
    pd_buf_init(&c->pstr);
    pd_buf_init(&c->gone);
    pd_buf_init(&c->out);
    pd_buf_init(&c->okey);
    c->epoch = 1;
    c->nrules = pd_rule_set_count(rules);
    uint32_t maxcap = 1;
    if (c->nrules) {
        c->cr = calloc(c->nrules, sizeof(*c->cr));
        if (!c->cr)
            goto fail;
        for (uint32_t i = 0; i < c->nrules; i++) {
            c->cr[i].r = &rules->rules[i];
            c->cr[i].cap = rule_cap(&rules->rules[i]);
            maxcap = PD_MAX(maxcap, c->cr[i].cap);
        }
    }
    c->evcap = maxcap + 2 * CR_MAX_POSTURE;
    c->ev = calloc(c->evcap, sizeof(*c->ev));
    c->res = calloc(maxcap, sizeof(*c->res));
    c->rescanon = calloc(maxcap, sizeof(*c->rescanon));
    c->reshash = calloc(maxcap, sizeof(*c->reshash));
    if (!c->ev || !c->res || !c->rescanon || !c->reshash)
        goto fail;
    *out = c;
    return 0;
fail:
    pd_correlator_destroy(c);
    return PD_ENOMEM;
}

void pd_correlator_destroy(pd_correlator *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; c->cr && i < c->nrules; i++)
        free_groups(&c->cr[i]);
    free(c->cr);
    free(c->ev);
    free(c->res);
    free(c->rescanon);
    free(c->reshash);
    pd_buf_free(&c->key);
    pd_buf_free(&c->rec);
    pd_buf_free(&c->compact);
    pd_buf_free(&c->pstr);
    pd_buf_free(&c->gone);
    pd_buf_free(&c->out);
    pd_buf_free(&c->okey);
    free(c);
}

void pd_correlator_stats(const pd_correlator *c, pd_correlate_stats *out)
{
    *out = c->stats;
    out->bytes = sizeof(*c) + c->key.cap + c->rec.cap + c->compact.cap + c->pstr.cap;
    for (uint32_t i = 0; i < c->nrules; i++)
        out->bytes += c->cr[i].bytes;
}

/* ---- inputs: one view over events and drift signals ------------------------------------ */

typedef struct cr_input {
    const pd_event *ev;   /* an event, or */
    const pd_signal *sig; /* a drift signal */
    pd_str canon;         /* resource key */
    pd_str res_id, account, name, type, alert_type, control_key, control_category;
    pd_str id, detail;
    pd_cloud cloud;
    pd_severity sev;
    uint32_t tactics;
    int64_t t;
    uint8_t ekind;
    pd_status prev; /* pair status before the event; PD_STATUS__COUNT = not asked yet */
    bool late;      /* older than the watermark minus the allowed lateness */
    bool counted;   /* counted as late once */
    char canon_buf[512];
} cr_input;

static pd_str lower_into(char *buf, size_t n, pd_str s)
{
    uint32_t len = (uint32_t)PD_MIN((size_t)s.len, n);
    for (uint32_t i = 0; i < len; i++) {
        char ch = s.p[i];
        buf[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    return (pd_str){buf, len};
}

static bool list_ieq(const char *const *list, uint32_t n, pd_str s)
{
    for (uint32_t i = 0; i < n; i++)
        if (pd_str_ieq_c(s, list[i]))
            return true;
    return false;
}

static bool list_glob(const char *const *list, uint32_t n, pd_str s)
{
    for (uint32_t i = 0; i < n; i++)
        if (pd_glob_match(list[i], s))
            return true;
    return false;
}

static pd_status prev_status(pd_correlator *c, cr_input *in)
{
    if (in->prev == PD_STATUS__COUNT)
        in->prev = (c->posture && c->posture->pair_status && in->control_key.len)
                       ? c->posture->pair_status(c->posture_ctx, in->canon, in->control_key)
                       : PD_STATUS_UNKNOWN;
    return in->prev;
}

static bool match_input(pd_correlator *c, const pd_rule_match *m, cr_input *in)
{
    if (in->sig) {
        if (!m->signals)
            return false;
        if (m->nsignal_types &&
            !list_glob(m->signal_types, m->nsignal_types, pd_str_c(in->sig->type)))
            return false;
        if (m->min_severity && in->sev < m->min_severity)
            return false;
        if (m->ncontrol_keys && !list_ieq(m->control_keys, m->ncontrol_keys, in->control_key))
            return false;
        return true;
    }
    const pd_event *ev = in->ev;
    if (m->signals)
        return false;
    if (m->kinds && !(m->kinds & (1u << ev->kind)))
        return false;
    if (m->min_severity && in->sev < m->min_severity)
        return false;
    if (m->formats && !(m->formats & (1u << ev->format)))
        return false;
    if (m->statuses && !(m->statuses & (1u << ev->status)))
        return false;
    if (m->nalert_types && !list_glob(m->alert_types, m->nalert_types, in->alert_type))
        return false;
    if (m->tactics && !(m->tactics & in->tactics))
        return false;
    if (m->ncontrol_keys || m->ncontrol_roles || m->ncontrol_categories) {
        bool ok = list_ieq(m->control_keys, m->ncontrol_keys, in->control_key) ||
                  (in->control_category.len &&
                   list_ieq(m->control_categories, m->ncontrol_categories, in->control_category));
        for (uint32_t i = 0; !ok && i < m->ncontrol_roles && c->opts.control_has_role; i++)
            ok = in->control_key.len &&
                 c->opts.control_has_role(c->opts.control_ctx, in->control_key,
                                          pd_str_c(m->control_roles[i]));
        if (!ok)
            return false;
    }
    if (m->prev_statuses && !(m->prev_statuses & (1u << prev_status(c, in))))
        return false;
    return true;
}

static void noop_goal(void *f, pd_str a, pd_str b)
{
    (void)f;
    (void)a;
    (void)b;
}

static void noop_finding(void *f, pd_str a, pd_str b, pd_severity s, int64_t t)
{
    (void)f;
    (void)a;
    (void)b;
    (void)s;
    (void)t;
}

typedef struct goal_probe {
    const pd_rule_posture *p;
    bool hit;
} goal_probe;

static void probe_goal(void *f, pd_str id, pd_str title)
{
    (void)title;
    goal_probe *gp = f;
    if (list_ieq(gp->p->goals, gp->p->ngoals, id))
        gp->hit = true;
}

static bool posture_ok(pd_correlator *c, const pd_rule_posture *p, const cr_input *in)
{
    if (!p->enabled)
        return true;
    if (!c->posture || !in->canon.len)
        return false;
    int set = 0, hits = 0;
    if (p->any_goal || p->ngoals) {
        set++;
        if (p->ngoals) {
            goal_probe gp = {p, false};
            c->posture->violated_goals(c->posture_ctx, in->canon, probe_goal, &gp);
            hits += gp.hit;
        } else {
            hits += c->posture->violated_goals(c->posture_ctx, in->canon, noop_goal, NULL) > 0;
        }
    }
    if (p->min_finding) {
        set++;
        hits += c->posture->open_findings(c->posture_ctx, in->canon, p->min_finding, noop_finding,
                                          NULL) > 0;
    }
    return p->require_all ? hits == set : hits > 0;
}

/* ---- group keys and item records ------------------------------------------------------- */

static pd_str field_value(const cr_input *in, pd_rule_field f)
{
    switch (f) {
    case PD_RF_RESOURCE:
        return in->canon;
    case PD_RF_ALERT_TYPE:
        return in->alert_type;
    case PD_RF_ACCOUNT:
        return in->account;
    case PD_RF_CONTROL:
        return in->control_key;
    default:
        return PD_STR_NULL;
    }
}

/* The group key: the group-by values joined by \x1f; false when one is missing. */
static bool make_key(pd_correlator *c, const pd_rule *r, const cr_input *in)
{
    pd_buf_reset(&c->key);
    for (uint32_t i = 0; i < r->ngroup_by; i++) {
        pd_str v = field_value(in, r->group_by[i]);
        if (!v.len)
            return false;
        if (i)
            pd_buf_putc(&c->key, '\x1f');
        pd_buf_append(&c->key, v.p, v.len);
    }
    if (!r->ngroup_by)
        pd_buf_putc(&c->key, '*');
    return !c->key.oom;
}

static void rec_put(pd_buf *b, pd_str s)
{
    uint16_t n = (uint16_t)PD_MIN(s.len, (uint32_t)CR_STR_MAX);
    pd_buf_append(b, &n, sizeof(n));
    pd_buf_append(b, s.p ? s.p : "", n);
}

static pd_str rec_get(const cr_group *g, const cr_item *it, int which)
{
    const char *p = g->sbuf + it->soff;
    for (int i = 0;; i++) {
        uint16_t n;
        memcpy(&n, p, sizeof(n));
        p += sizeof(n);
        if (i == which)
            return (pd_str){p, n};
        p += n;
    }
}

/* ---- conditions ------------------------------------------------------------------------- */

static int popcount32(uint32_t v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* The longest chain of items, in time order, whose tactics climb the kill chain strictly;
 * each item contributes at most one step. */
static uint32_t killchain_len(const cr_item *items, uint32_t a, uint32_t b)
{
    uint32_t best[PD_TACTIC__COUNT] = {0};
    uint32_t top = 0;
    for (uint32_t i = a; i < b; i++) {
        uint32_t nb[PD_TACTIC__COUNT];
        memcpy(nb, best, sizeof(nb));
        uint32_t below = 0; /* best chain ending at a tactic < t, from earlier items */
        for (int t = PD_TACTIC_RECONNAISSANCE; t < PD_TACTIC__COUNT; t++) {
            if (items[i].tactics & (1u << t)) {
                uint32_t v = below + 1;
                if (v > nb[t])
                    nb[t] = v;
                if (v > top)
                    top = v;
            }
            below = PD_MAX(below, best[t]);
        }
        memcpy(best, nb, sizeof(best));
    }
    return top;
}

static bool ordered_steps(const cr_item *items, uint32_t a, uint32_t b, uint32_t nsteps)
{
    uint32_t s = 0;
    for (uint32_t i = a; i < b && s < nsteps; i++)
        if (items[i].steps & (1u << s))
            s++;
    return s == nsteps;
}

static uint32_t distinct_values(const cr_item *items, uint32_t a, uint32_t b)
{
    uint32_t n = 0;
    for (uint32_t i = a; i < b; i++) {
        bool seen = false;
        for (uint32_t j = a; j < i && !seen; j++)
            seen = items[j].vhash == items[i].vhash;
        n += !seen;
    }
    return n;
}

/* Whether the condition holds over items [a, b). */
static bool condition_holds(const pd_rule *r, const cr_item *items, uint32_t a, uint32_t b)
{
    switch (r->type) {
    case PD_RULE_EVENT_COUNT:
        return b - a >= r->threshold;
    case PD_RULE_VALUE_COUNT:
        if (r->count_field == PD_RF_TACTIC) {
            uint32_t all = 0;
            for (uint32_t i = a; i < b; i++)
                all |= items[i].tactics;
            return (uint32_t)popcount32(all) >= r->threshold;
        }
        return distinct_values(items, a, b) >= r->threshold;
    case PD_RULE_TEMPORAL: {
        uint32_t all = 0, want = (1u << r->nsteps) - 1;
        for (uint32_t i = a; i < b; i++)
            all |= items[i].steps;
        return (all & want) == want;
    }
    case PD_RULE_TEMPORAL_ORDERED:
        if (r->nsteps)
            return ordered_steps(items, a, b, r->nsteps);
        return killchain_len(items, a, b) >= r->threshold;
    default:
        return false;
    }
}

/* Finds a window of length timespan that contains item k and satisfies the condition;
 * windows end at item k or at a later item (a late arrival completes them too). */
static bool find_window(const pd_rule *r, const cr_group *g, uint32_t k, int64_t *wstart)
{
    for (uint32_t e = k; e < g->n && g->items[e].t - g->items[k].t <= r->timespan_ms; e++) {
        int64_t from = g->items[e].t - r->timespan_ms;
        uint32_t a = 0;
        while (a < g->n && g->items[a].t < from)
            a++;
        if (condition_holds(r, g->items, a, e + 1)) {
            *wstart = g->items[a].t;
            return true;
        }
    }
    return false;
}

/* ---- signals ---------------------------------------------------------------------------- */

static double sev_weight(pd_severity s)
{
    static const double w[PD_SEV__COUNT] = {0.5, 0.2, 0.4, 0.6, 0.8, 1.0};
    return (unsigned)s < PD_SEV__COUNT ? w[s] : 0.5;
}

static uint32_t pstr_put(pd_correlator *c, pd_str s)
{
    uint32_t off = (uint32_t)c->pstr.len;
    pd_buf_append(&c->pstr, s.p ? s.p : "", s.len);
    return off;
}

static void collect_goal(void *f, pd_str id, pd_str title)
{
    pd_correlator *c = f;
    c->pgoals++;
    if (c->npf >= PD_ARRAY_LEN(c->pf) || c->pgoals > CR_MAX_POSTURE)
        return;
    struct cr_pfact *p = &c->pf[c->npf++];
    p->kind = "goal";
    p->id_off = pstr_put(c, id);
    p->id_len = id.len;
    p->det_off = pstr_put(c, title);
    p->det_len = title.len;
    p->t = c->pf_time;
}

static void collect_finding(void *f, pd_str key, pd_str name, pd_severity sev, int64_t since)
{
    pd_correlator *c = f;
    c->pfindings++;
    if (c->npf >= PD_ARRAY_LEN(c->pf) || c->pfindings > CR_MAX_POSTURE)
        return;
    struct cr_pfact *p = &c->pf[c->npf++];
    p->kind = "finding";
    p->id_off = pstr_put(c, key);
    p->id_len = key.len;
    p->det_off = (uint32_t)c->pstr.len;
    pd_buf_puts(&c->pstr, pd_severity_name(sev));
    if (name.len) {
        pd_buf_puts(&c->pstr, ": ");
        pd_buf_append(&c->pstr, name.p, name.len);
    }
    p->det_len = (uint32_t)c->pstr.len - p->det_off;
    p->t = since != PD_TIME_NONE ? since : c->pf_time;
}

/* Posture facts of one resource: evidence when the rule has a posture condition, and the
 * posture debt in the score either way. */
static void gather_posture(pd_correlator *c, const pd_rule *r, pd_str canon, int64_t t)
{
    if (!c->posture || !canon.len)
        return;
    c->pf_time = t;
    pd_severity min = r->posture.min_finding ? r->posture.min_finding : PD_SEV_HIGH;
    if (r->posture.enabled) {
        c->posture->violated_goals(c->posture_ctx, canon, collect_goal, c);
        c->posture->open_findings(c->posture_ctx, canon, min, collect_finding, c);
    } else {
        c->pgoals += c->posture->violated_goals(c->posture_ctx, canon, noop_goal, NULL);
        c->pfindings += c->posture->open_findings(c->posture_ctx, canon, min, noop_finding, NULL);
    }
}

static int emit_signal(pd_correlator *c, cr_rule *cr, cr_group *g, const cr_input *trigger)
{
    const pd_rule *r = cr->r;
    pd_signal s;
    memset(&s, 0, sizeof(s));
    s.kind = PD_SIGNAL_BREACH;
    char type[160];
    snprintf(type, sizeof(type), "breach.%s", r->id);
    s.type = type;
    memcpy(s.id, g->sig_id, sizeof(s.id));
    s.time_ms = trigger->t;
    s.severity = r->severity ? r->severity : PD_SEV_HIGH;
    s.pipeline = c->opts.pipeline;
    s.rule.id = pd_str_c(r->id);
    s.rule.title = pd_str_c(r->title ? r->title : r->id);
    s.update = g->update;

    /* evidence: the group's items from the firing window on, in time order */
    uint32_t nev = 0, nres = 0, nitems = 0, nalerts = 0, tactics = 0;
    pd_severity maxsev = PD_SEV_UNKNOWN;
    uint32_t first = 0, last = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        const cr_item *it = &g->items[i];
        if (it->t < g->ev_from || it->t > g->supp_until)
            continue;
        if (!nitems)
            first = i;
        last = i + 1;
        nitems++;
        pd_evidence *e = &c->ev[nev++];
        e->kind = evidence_kinds[it->ekind];
        e->id = rec_get(g, it, S_ID);
        e->detail = rec_get(g, it, S_DETAIL);
        e->time_ms = it->t;
        tactics |= it->tactics;
        if (it->ekind == PD_KIND_ALERT) {
            nalerts++;
            if (it->sev > maxsev)
                maxsev = (pd_severity)it->sev;
        }
        pd_str canon = rec_get(g, it, S_RES_CANON);
        if (!canon.len)
            continue;
        uint32_t j = 0;
        while (j < nres && !(c->reshash[j] == it->rhash && pd_str_eq(c->rescanon[j], canon)))
            j++;
        if (j == nres) {
            c->rescanon[nres] = canon;
            c->reshash[nres] = it->rhash;
            nres++;
        }
        /* the latest item describes the resource (ids, names may be renamed) */
        c->res[j].id = rec_get(g, it, S_RES_ID);
        c->res[j].cloud = (pd_cloud)it->cloud;
        c->res[j].account = rec_get(g, it, S_ACCOUNT);
        c->res[j].name = rec_get(g, it, S_NAME);
        c->res[j].type = rec_get(g, it, S_TYPE);
    }

    /* posture facts; their strings live in c->pstr, resolved once it stops moving */
    c->npf = c->pgoals = c->pfindings = 0;
    pd_buf_reset(&c->pstr);
    for (uint32_t j = 0; j < nres; j++)
        gather_posture(c, r, c->rescanon[j], trigger->t);
    if (!c->pstr.oom) {
        for (uint32_t i = 0; i < c->npf && nev < c->evcap; i++) {
            pd_evidence *e = &c->ev[nev++];
            e->kind = c->pf[i].kind;
            e->id = (pd_str){c->pstr.p + c->pf[i].id_off, c->pf[i].id_len};
            e->detail = (pd_str){c->pstr.p + c->pf[i].det_off, c->pf[i].det_len};
            e->time_ms = c->pf[i].t;
        }
    }
    s.evidence = c->ev;
    s.nevidence = nev;
    s.resources = c->res;
    s.nresources = nres;
    s.multi_resource = r->count_field == PD_RF_RESOURCE;
    s.tactics = tactics;
    s.actions = r->actions;
    s.nactions = r->nactions;

    /* score: alert severity (half), progression (tactics climbed or resources reached) and
     * posture debt (a quarter each) */
    double sevw = nalerts ? sev_weight(maxsev) : sev_weight(s.severity);
    uint32_t climb = nitems ? killchain_len(g->items, first, last) : 0;
    uint32_t reach = nres > 1 ? nres : 0;
    double prog = PD_MIN(1.0, (double)PD_MAX(climb > 1 ? climb : 0, reach) / 5.0);
    double facts = (double)(c->pgoals + c->pfindings);
    double debt = facts / (facts + 2.0);
    double score = 100.0 * (0.5 * sevw + 0.25 * prog + 0.25 * debt);
    s.score = PD_MAX(0.0, PD_MIN(100.0, score));
    /* confidence: how far past the condition the evidence goes, corroborated by posture
     * debt and alert severity */
    double over = r->threshold > 1 || r->nsteps
                      ? (double)nitems / (double)(r->nsteps ? r->nsteps : r->threshold) - 1.0
                      : (double)(nitems - 1) / 4.0;
    double conf = 0.5 + 0.15 * PD_MIN(1.0, PD_MAX(0.0, over)) + (facts > 0 ? 0.15 : 0.0) +
                  0.19 * (nalerts ? (sev_weight(maxsev) - 0.2) / 0.8 : 0.5);
    s.confidence = PD_MAX(0.0, PD_MIN(0.99, conf));

    if (g->update)
        c->stats.updates++;
    else
        c->stats.signals++;
    return c->emit ? c->emit(c->emit_ctx, &s) : 0;
}

/* ---- the per-event path ---------------------------------------------------------------- */

static void prune(pd_correlator *c, cr_rule *cr, cr_group *g)
{
    int64_t low = c->watermark - c->opts.allowed_lateness_ms;
    if (g->fired && g->supp_until < low)
        g->fired = false;
    int64_t horizon = low - cr->r->timespan_ms;
    if (g->fired)
        horizon = PD_MIN(horizon, g->ev_from);
    uint32_t k = 0;
    while (k < g->n && g->items[k].t < horizon)
        k++;
    if (k) {
        memmove(g->items, g->items + k, (g->n - k) * sizeof(cr_item));
        g->n -= k;
    }
}

static int add_item(pd_correlator *c, cr_rule *cr, cr_group *g, const cr_input *in, uint8_t steps,
                    uint32_t *out_k)
{
    const pd_rule *r = cr->r;
    uint64_t idh = pd_hash_mix(pd_hash64(in->id.p, in->id.len, 0x1d), in->ekind);
    if (in->id.len)
        for (uint32_t i = 0; i < g->n; i++)
            if (g->items[i].idhash == idh)
                return PD_EEXIST; /* a replayed or duplicated event changes nothing */
    uint32_t k = g->n;
    while (k > 0 && g->items[k - 1].t > in->t)
        k--;
    if (g->n == cr->cap) {
        c->stats.evictions++;
        if (k == 0)
            return PD_EFULL; /* older than everything kept */
        memmove(g->items, g->items + 1, (g->n - 1) * sizeof(cr_item));
        g->n--;
        k--;
    }
    pd_buf *rec = &c->rec;
    pd_buf_reset(rec);
    rec_put(rec, in->id);
    rec_put(rec, in->detail);
    rec_put(rec, in->res_id);
    rec_put(rec, in->canon);
    rec_put(rec, in->account);
    rec_put(rec, in->name);
    rec_put(rec, in->type);
    if (rec->oom)
        return PD_ENOMEM;
    int rc = sbuf_reserve(c, cr, g, (uint32_t)rec->len);
    if (rc)
        return rc;
    memmove(g->items + k + 1, g->items + k, (g->n - k) * sizeof(cr_item));
    cr_item *it = &g->items[k];
    memset(it, 0, sizeof(*it));
    it->t = in->t;
    pd_str v = field_value(in, r->count_field);
    it->vhash = pd_hash64(v.p, v.len, 0x7a1);
    it->idhash = idh;
    it->rhash = pd_hash64(in->canon.p, in->canon.len, 0x4e5);
    it->tactics = in->tactics;
    it->soff = g->slen;
    it->slen = (uint32_t)rec->len;
    it->ekind = in->ekind;
    it->sev = (uint8_t)in->sev;
    it->cloud = (uint8_t)in->cloud;
    it->steps = steps;
    memcpy(g->sbuf + g->slen, rec->p, rec->len);
    g->slen += (uint32_t)rec->len;
    g->n++;
    *out_k = k;
    return 0;
}

static int rule_input(pd_correlator *c, cr_rule *cr, cr_input *in)
{
    const pd_rule *r = cr->r;
    uint8_t steps = 0;
    if (r->nsteps) {
        for (uint32_t s = 0; s < r->nsteps; s++)
            if (match_input(c, &r->steps[s].match, in))
                steps |= (uint8_t)(1u << s);
        if (!steps)
            return 0;
    } else if (!match_input(c, &r->match, in)) {
        return 0;
    }
    if (r->count_field == PD_RF_TACTIC && !in->tactics)
        return 0;
    if (in->late) {
        if (!in->counted)
            c->stats.late++;
        in->counted = true;
        return 0;
    }
    if (in->ev && !posture_ok(c, &r->posture, in))
        return 0;
    if (!make_key(c, r, in))
        return 0;
    c->stats.matched++;
    cr_group *g;
    int rc = group_get(c, cr, (pd_str){c->key.p, (uint32_t)c->key.len}, &g);
    if (rc)
        return rc;
    prune(c, cr, g);
    g->dirty_epoch = c->epoch;
    if (g->fired && in->t > g->supp_until)
        g->fired = false;
    uint32_t k = 0;
    rc = add_item(c, cr, g, in, steps, &k);
    lru_unlink(cr, g);
    lru_push_head(cr, g);
    if (rc == PD_EEXIST || rc == PD_EFULL)
        return 0;
    if (rc)
        return rc;
    g->last_t = PD_MAX(g->last_t, in->t);
    if (g->fired && in->t >= g->fire_t - r->timespan_ms) {
        /* later evidence inside the suppress window: an update of the same signal */
        if (in->t < g->ev_from)
            g->ev_from = in->t;
        g->update++;
        c->stats.suppressed++;
        return emit_signal(c, cr, g, in);
    }
    int64_t wstart;
    if (!find_window(r, g, k, &wstart))
        return 0;
    g->fired = true;
    g->update = 0;
    g->fire_t = in->t;
    g->supp_until = in->t + (r->suppress_ms > 0 ? r->suppress_ms : r->timespan_ms);
    g->ev_from = wstart;
    char tbuf[32];
    snprintf(tbuf, sizeof(tbuf), "%lld", (long long)in->t);
    pd_str parts[4] = {
        PD_STR_LIT("breach"), pd_str_c(r->id), {c->key.p, (uint32_t)c->key.len}, pd_str_c(tbuf)};
    pd_signal_make_id(g->sig_id, parts, 4);
    return emit_signal(c, cr, g, in);
}

static int ingest(pd_correlator *c, cr_input *in)
{
    if (in->t == PD_TIME_NONE)
        return 0;
    /* A late event is dropped; it counts as late only when a rule wanted it (snapshots
     * restating old status changes are not late evidence). */
    in->late = c->watermark != PD_TIME_NONE && in->t < c->watermark - c->opts.allowed_lateness_ms;
    if (c->watermark == PD_TIME_NONE || in->t > c->watermark)
        c->watermark = in->t;
    int first_err = 0;
    for (uint32_t i = 0; i < c->nrules; i++) {
        int rc = rule_input(c, &c->cr[i], in);
        if (rc && !first_err)
            first_err = rc;
    }
    return first_err;
}

int pd_correlator_on_event(pd_correlator *c, const pd_event *ev)
{
    c->stats.events++;
    if (ev->deleted || !c->nrules)
        return 0;
    /* a resolved or dismissed alert closes an alert already seen; it is no new evidence */
    if (ev->kind == PD_KIND_ALERT &&
        (pd_str_ieq_c(ev->alert.status, "resolved") || pd_str_ieq_c(ev->alert.status, "dismissed")))
        return 0;
    cr_input in;
    memset(&in, 0, sizeof(in));
    in.ev = ev;
    in.prev = PD_STATUS__COUNT;
    const pd_resource *res = &ev->resource;
    in.canon =
        res->canon.len ? res->canon : lower_into(in.canon_buf, sizeof(in.canon_buf), res->id);
    in.res_id = res->id.len ? res->id : res->canon;
    in.account = res->account;
    in.name = res->name;
    in.type = res->type;
    in.cloud = res->cloud;
    in.control_key = ev->control.key;
    in.control_category = ev->control.category;
    in.sev = ev->severity;
    in.t = ev->time_ms;
    in.ekind = (uint8_t)ev->kind;
    char detail[256];
    if (ev->kind == PD_KIND_ALERT) {
        in.alert_type = ev->alert.type;
        in.tactics = ev->alert.tactics;
        in.id = ev->alert.id.len ? ev->alert.id : ev->event_id;
        in.detail = ev->alert.type;
        if (in.t == PD_TIME_NONE)
            in.t = ev->alert.start_ms;
    } else {
        in.id = ev->event_id.len ? ev->event_id : ev->control.key;
        int n = snprintf(detail, sizeof(detail), "%.*s %s", (int)ev->control.key.len,
                         ev->control.key.p ? ev->control.key.p : "", pd_status_name(ev->status));
        in.detail = (pd_str){detail, (uint32_t)PD_MIN((size_t)PD_MAX(n, 0), sizeof(detail) - 1)};
    }
    return ingest(c, &in);
}

int pd_correlator_on_signal(pd_correlator *c, const pd_signal *drift)
{
    if (drift->kind != PD_SIGNAL_DRIFT || !c->nrules)
        return 0;
    cr_input in;
    memset(&in, 0, sizeof(in));
    in.sig = drift;
    in.prev = PD_STATUS__COUNT;
    if (drift->nresources) {
        const pd_signal_resource *res = &drift->resources[0];
        in.canon = lower_into(in.canon_buf, sizeof(in.canon_buf), res->id);
        in.res_id = res->id;
        in.account = res->account;
        in.name = res->name;
        in.type = res->type;
        in.cloud = res->cloud;
    }
    if (drift->has_control)
        in.control_key = drift->control.key;
    in.sev = drift->severity;
    in.t = drift->time_ms;
    in.ekind = EK_SIGNAL;
    in.id = pd_str_c(drift->id);
    char detail[256];
    int n = snprintf(detail, sizeof(detail), "%s %.*s", drift->type ? drift->type : "",
                     (int)(drift->has_goal ? drift->goal.id.len : drift->control.key.len),
                     drift->has_goal ? drift->goal.id.p : drift->control.key.p);
    in.detail = (pd_str){detail, (uint32_t)PD_MIN((size_t)PD_MAX(n, 0), sizeof(detail) - 1)};
    return ingest(c, &in);
}

int pd_correlator_advance(pd_correlator *c, int64_t now_ms)
{
    if (c->watermark == PD_TIME_NONE || now_ms > c->watermark)
        c->watermark = now_ms;
    if (c->last_sweep != PD_TIME_NONE && c->watermark < c->last_sweep + 1000)
        return 0;
    c->last_sweep = c->watermark;
    int64_t low = c->watermark - c->opts.allowed_lateness_ms;
    for (uint32_t i = 0; i < c->nrules; i++) {
        cr_rule *cr = &c->cr[i];
        uint32_t skipped = 0;
        for (cr_group *g = cr->tail, *pv; g && skipped < CR_EXPIRE_SKIP; g = pv) {
            pv = g->prev;
            uint32_t before = g->n;
            bool fired = g->fired;
            prune(c, cr, g);
            if (g->n != before || g->fired != fired)
                g->dirty_epoch = c->epoch;
            if (g->n == 0 && !(g->fired && g->supp_until >= low))
                group_release(c, cr, g);
            else
                skipped++;
        }
    }
    return 0;
}

/* ---- state for the changelog ------------------------------------------------------------ */

#define CR_STATE_PREFIX  "#corr:"
#define CR_STATE_VERSION 1

bool pd_correlator_key_is_state(pd_str key)
{
    return key.len >= sizeof(CR_STATE_PREFIX) - 1 &&
           !memcmp(key.p, CR_STATE_PREFIX, sizeof(CR_STATE_PREFIX) - 1);
}

/* "#corr:" rule id, a 0x1f separator, the group key. */
static void state_key(pd_buf *b, const pd_rule *r, const char *gkey, uint32_t klen)
{
    pd_buf_reset(b);
    pd_buf_puts(b, CR_STATE_PREFIX);
    pd_buf_puts(b, r->id);
    pd_buf_append(b, "\x1f", 1);
    pd_buf_append(b, gkey, klen);
}

static int cr_buf_write(void *data, const char *p, size_t n)
{
    pd_buf *b = data;
    pd_buf_append(b, p, n);
    return b->oom ? -1 : 0;
}

static int encode_group(pd_buf *out, const cr_group *g)
{
    pd_buf_reset(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, cr_buf_write);
    msgpack_pack_array(&pk, 9);
    msgpack_pack_uint32(&pk, CR_STATE_VERSION);
    if (g->fired)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    msgpack_pack_uint32(&pk, g->update);
    msgpack_pack_int64(&pk, g->fire_t);
    msgpack_pack_int64(&pk, g->supp_until);
    msgpack_pack_int64(&pk, g->ev_from);
    msgpack_pack_int64(&pk, g->last_t);
    msgpack_pack_str(&pk, 32);
    msgpack_pack_str_body(&pk, g->sig_id, 32);
    msgpack_pack_array(&pk, g->n);
    for (uint32_t i = 0; i < g->n; i++) {
        const cr_item *it = &g->items[i];
        msgpack_pack_array(&pk, 10);
        msgpack_pack_int64(&pk, it->t);
        msgpack_pack_uint64(&pk, it->vhash);
        msgpack_pack_uint64(&pk, it->idhash);
        msgpack_pack_uint64(&pk, it->rhash);
        msgpack_pack_uint32(&pk, it->tactics);
        msgpack_pack_uint8(&pk, it->ekind);
        msgpack_pack_uint8(&pk, it->sev);
        msgpack_pack_uint8(&pk, it->cloud);
        msgpack_pack_uint8(&pk, it->steps);
        msgpack_pack_bin(&pk, it->slen);
        msgpack_pack_bin_body(&pk, g->sbuf + it->soff, it->slen);
    }
    return out->oom ? PD_ENOMEM : 0;
}

int pd_correlator_collect(pd_correlator *c, pd_correlator_record_fn fn, void *ctx)
{
    int rc = 0;
    c->collecting = true;
    /* tombstones first: a group gone and created again since writes its record after */
    const uint8_t *gp = (const uint8_t *)c->gone.p;
    for (uint32_t i = 0, off = 0; i < c->ngone; i++) {
        uint32_t head[2];
        memcpy(head, gp + off, sizeof(head));
        off += (uint32_t)sizeof(head);
        state_key(&c->okey, c->cr[head[0]].r, (const char *)gp + off, head[1]);
        off += head[1];
        if ((rc = fn(ctx, c->okey.p, c->okey.len, NULL, 0)))
            return rc;
    }
    pd_buf_reset(&c->gone);
    c->ngone = 0;
    for (uint32_t i = 0; i < c->nrules; i++) {
        cr_rule *cr = &c->cr[i];
        for (cr_group *g = cr->head; g; g = g->next) {
            if (g->dirty_epoch != c->epoch)
                continue;
            state_key(&c->okey, cr->r, g->sbuf, g->klen);
            if ((rc = encode_group(&c->out, g)) ||
                (rc = fn(ctx, c->okey.p, c->okey.len, c->out.p, c->out.len)))
                return rc;
            g->persisted = true;
        }
    }
    c->epoch++;
    return 0;
}

int pd_correlator_export(pd_correlator *c, pd_correlator_record_fn fn, void *ctx)
{
    int rc = 0;
    for (uint32_t i = 0; i < c->nrules && !rc; i++) {
        cr_rule *cr = &c->cr[i];
        for (cr_group *g = cr->head; g && !rc; g = g->next) {
            state_key(&c->okey, cr->r, g->sbuf, g->klen);
            if (!(rc = encode_group(&c->out, g)))
                rc = fn(ctx, c->okey.p, c->okey.len, c->out.p, c->out.len);
        }
    }
    return rc;
}

static bool mp_i64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
        *v = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *v = o->via.i64;
    else
        return false;
    return true;
}

static bool mp_u64(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return false;
    *v = o->via.u64;
    return true;
}

int pd_correlator_import(pd_correlator *c, pd_str key, const void *value, size_t vlen, char *why,
                         size_t why_len)
{
    if (!pd_correlator_key_is_state(key)) {
        snprintf(why, why_len, "not a correlation state key");
        return PD_EINVAL;
    }
    pd_str rest = {key.p + sizeof(CR_STATE_PREFIX) - 1,
                   key.len - (uint32_t)(sizeof(CR_STATE_PREFIX) - 1)};
    const char *sep = memchr(rest.p, 0x1f, rest.len);
    if (!sep) {
        snprintf(why, why_len, "correlation state key without a group");
        return PD_EINVAL;
    }
    pd_str rid = {rest.p, (uint32_t)(sep - rest.p)};
    pd_str gkey = {sep + 1, rest.len - rid.len - 1};
    cr_rule *cr = NULL;
    for (uint32_t i = 0; i < c->nrules && !cr; i++)
        if (pd_str_eq(pd_str_c(c->cr[i].r->id), rid))
            cr = &c->cr[i];
    if (!cr)
        return PD_ENOTFOUND; /* a rule this rule set no longer has */
    if (!value) {            /* a tombstone: the group is gone (restores read oldest first) */
        uint64_t h = pd_hash64(gkey.p, gkey.len, 0xc0117e1a7eULL);
        for (cr_group *g = cr->tsize ? cr->table[h & (cr->tsize - 1)] : NULL; g; g = g->hnext)
            if (g->khash == h && g->klen == gkey.len && !memcmp(g->sbuf, gkey.p, gkey.len)) {
                g->persisted = false;
                group_release(c, cr, g);
                break;
            }
        return 0;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = PD_EINVAL;
    if (!pd_msgpack_sane(value, vlen) ||
        msgpack_unpack_next(&u, value, vlen, &off) != MSGPACK_UNPACK_SUCCESS || off != vlen) {
        snprintf(why, why_len, "correlation state: not one msgpack value");
        goto done;
    }
    const msgpack_object *o = &u.data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 9) {
        snprintf(why, why_len, "correlation state: not an array of 9");
        goto done;
    }
    const msgpack_object *a = o->via.array.ptr;
    uint64_t ver, upd;
    int64_t fire_t, supp, evf, last;
    if (!mp_u64(&a[0], UINT32_MAX, &ver) || ver != CR_STATE_VERSION ||
        a[1].type != MSGPACK_OBJECT_BOOLEAN || !mp_u64(&a[2], UINT32_MAX, &upd) ||
        !mp_i64(&a[3], &fire_t) || !mp_i64(&a[4], &supp) || !mp_i64(&a[5], &evf) ||
        !mp_i64(&a[6], &last) || a[7].type != MSGPACK_OBJECT_STR || a[7].via.str.size != 32 ||
        a[8].type != MSGPACK_OBJECT_ARRAY || a[8].via.array.size > cr->cap) {
        snprintf(why, why_len, "correlation state: a field out of range");
        goto done;
    }
    cr_group *g;
    if ((rc = group_get(c, cr, gkey, &g)) != 0)
        goto done;
    g->n = 0;
    g->slen = g->klen;
    const msgpack_object_array *items = &a[8].via.array;
    for (uint32_t i = 0; i < items->size; i++) {
        const msgpack_object *io = &items->ptr[i];
        uint64_t vh, ih, rh, tac, ek, sev, cl, st;
        int64_t t;
        if (io->type != MSGPACK_OBJECT_ARRAY || io->via.array.size != 10 ||
            !mp_i64(&io->via.array.ptr[0], &t) || !mp_u64(&io->via.array.ptr[1], UINT64_MAX, &vh) ||
            !mp_u64(&io->via.array.ptr[2], UINT64_MAX, &ih) ||
            !mp_u64(&io->via.array.ptr[3], UINT64_MAX, &rh) ||
            !mp_u64(&io->via.array.ptr[4], UINT32_MAX, &tac) ||
            !mp_u64(&io->via.array.ptr[5], PD_ARRAY_LEN(evidence_kinds) - 1, &ek) ||
            !mp_u64(&io->via.array.ptr[6], PD_SEV_CRITICAL, &sev) ||
            !mp_u64(&io->via.array.ptr[7], 255, &cl) || !mp_u64(&io->via.array.ptr[8], 255, &st) ||
            io->via.array.ptr[9].type != MSGPACK_OBJECT_BIN ||
            io->via.array.ptr[9].via.bin.size > CR_NSTR * (CR_STR_MAX + 4)) {
            snprintf(why, why_len, "correlation state: item %u out of range", i);
            rc = PD_EINVAL;
            group_release(c, cr, g);
            goto done;
        }
        const msgpack_object_bin *rec = &io->via.array.ptr[9].via.bin;
        if ((rc = sbuf_reserve(c, cr, g, rec->size)) != 0) {
            group_release(c, cr, g);
            goto done;
        }
        cr_item *it = &g->items[g->n++];
        memset(it, 0, sizeof(*it));
        it->t = t;
        it->vhash = vh;
        it->idhash = ih;
        it->rhash = rh;
        it->tactics = (uint32_t)tac;
        it->ekind = (uint8_t)ek;
        it->sev = (uint8_t)sev;
        it->cloud = (uint8_t)cl;
        it->steps = (uint8_t)st;
        it->soff = g->slen;
        it->slen = rec->size;
        memcpy(g->sbuf + g->slen, rec->ptr, rec->size);
        g->slen += rec->size;
    }
    g->fired = a[1].via.boolean;
    g->update = (uint32_t)upd;
    g->fire_t = fire_t;
    g->supp_until = supp;
    g->ev_from = evf;
    g->last_t = last;
    memcpy(g->sig_id, a[7].via.str.ptr, 32);
    g->sig_id[32] = 0;
    g->persisted = true;
    g->dirty_epoch = 0; /* as the changelog says: nothing to write */
    rc = 0;
done:
    msgpack_unpacked_destroy(&u);
    return rc;
}
