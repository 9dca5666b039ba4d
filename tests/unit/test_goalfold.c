/* Scale-out goal stage: state partitions (engines over a hash split of the fleet by resource
 * id, opts.partial) publish partial aggregates; pd_goalfold sums them (through the wire form)
 * and must give exactly the status one engine over the whole fleet gives. Plus the wire
 * form's hostile-input checks. */
#include "pd_test.h"

#include "pd_controls.h"
#include "pd_decode.h"
#include "pd_engine.h"
#include "pd_gen.h"
#include "pd_goalfold.h"
#include "pd_time.h"

#include <math.h>
#include <msgpack.h>

#define MAXP 7

typedef struct sigrec {
    char id[33];
    char type[24];
} sigrec;

typedef struct sigs {
    sigrec *v;
    size_t n, cap;
    uint64_t goal_signals;
} sigs;

static int collect(void *ctx, const pd_signal *s)
{
    sigs *c = ctx;
    if (!strncmp(s->type, "goal.", 5)) {
        c->goal_signals++;
        return 0;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
        assert_non_null(c->v);
    }
    memcpy(c->v[c->n].id, s->id, sizeof(s->id));
    snprintf(c->v[c->n].type, sizeof(c->v[0].type), "%s", s->type);
    c->n++;
    return 0;
}

static int sig_cmp(const void *a, const void *b)
{
    const sigrec *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : strcmp(x->type, y->type);
}

typedef struct fold_sigs {
    uint64_t n;
} fold_sigs;

static int fold_emit(void *ctx, const pd_signal *s)
{
    fold_sigs *c = ctx;
    assert_true(!strcmp(s->type, "goal.breached") || !strcmp(s->type, "goal.restored"));
    assert_int_equal(strlen(s->id), 32);
    c->n++;
    return 0;
}

static pd_controls *g_controls;
static pd_str fw_scratch[64];
static const char *role_scratch[32];

/* As the processor's control lookup: names, categories, frameworks and roles of the table. */
static bool lookup(void *ctx, pd_str key, pd_control_info *out)
{
    (void)ctx;
    const pd_control_def *d = pd_controls_find(g_controls, key);
    if (!d)
        return false;
    out->name = pd_str_c(d->name);
    out->category = pd_str_c(d->category);
    out->severity = d->severity;
    uint32_t n = PD_MIN(d->nframeworks, (uint32_t)PD_ARRAY_LEN(fw_scratch));
    for (uint32_t i = 0; i < n; i++)
        fw_scratch[i] = pd_str_c(d->frameworks[i]);
    out->frameworks = fw_scratch;
    out->nframeworks = n;
    uint32_t nr = 0;
    for (int r = 0; r < PD_ROLE__COUNT && nr < PD_ARRAY_LEN(role_scratch); r++)
        if (d->role_bits & PD_ROLE_BIT(r))
            role_scratch[nr++] = pd_control_role_name((pd_control_role)r);
    out->roles = role_scratch;
    out->nroles = nr;
    return true;
}

static pd_goal_set *load_goals(void)
{
    char gpath[1024];
    pd_goal_set *set = NULL;
    pd_diag d = {{0}};
    if (pd_goal_set_load_file(
            &set, pd_test_src_path("pipelines/defender-servers.goals.yaml", gpath, sizeof(gpath)),
            &d))
        fail_msg("goals: %s", d.msg);
    return set;
}

static pd_engine *mk_engine(const pd_goal_set *set, bool partial, sigs *c)
{
    pd_engine_opts o;
    pd_engine_opts_default(&o);
    assert_false(o.partial); /* the default keeps single-engine behaviour */
    o.pipeline = PD_STR_LIT("defender-servers");
    o.partial = partial;
    o.emit = collect;
    o.emit_ctx = c;
    if (g_controls) {
        o.lookup = lookup;
        o.lookup_ctx = NULL;
    }
    pd_engine *e = NULL;
    assert_int_equal(pd_engine_create(set, &o, &e), 0);
    return e;
}

typedef struct route {
    pd_engine *ref;
    pd_engine *parts[MAXP];
    uint32_t np;
    int64_t msg_ms; /* the transport time: score and compliance records carry none */
} route;

static uint32_t part_of(pd_str canon, uint32_t np)
{
    return (uint32_t)(pd_hash64(canon.p, canon.len, 0x70617274ULL) % np);
}

static int on_event(void *ctx, const pd_event *ev0)
{
    route *r = ctx;
    pd_event ev = *ev0;
    if (ev.time_ms == PD_TIME_NONE)
        ev.time_ms = r->msg_ms;
    pd_str key = ev.resource.canon.len ? ev.resource.canon : ev.resource.account;
    int rc = pd_engine_apply(r->ref, &ev);
    if (!rc)
        rc = pd_engine_apply(r->parts[part_of(key, r->np)], &ev);
    return rc;
}

/* Folds every partition's partials through the wire form and compares each goal's status
 * with the reference engine's. Returns how many goals had a value. */
static uint32_t fold_and_compare(const pd_goal_set *set, route *r, int64_t t_ms, size_t at)
{
    fold_sigs fs = {0};
    pd_goalfold *f = NULL;
    /* Start with fewer partitions than exist: updates past the count grow the fold. */
    assert_int_equal(
        pd_goalfold_create(set, PD_STR_LIT("defender-servers"), 1, fold_emit, &fs, NULL, NULL, &f),
        0);
    uint32_t ng = pd_engine_goal_count(r->ref), valued = 0;
    pd_goal_partial p, q;
    pd_goal_partial_init(&p);
    pd_goal_partial_init(&q);
    pd_buf b;
    pd_buf_init(&b);
    for (uint32_t k = 0; k < r->np; k++)
        for (uint32_t gi = 0; gi < ng; gi++) {
            assert_int_equal(pd_engine_goal_partial(r->parts[k], gi, &p), 0);
            pd_buf_reset(&b);
            assert_int_equal(pd_goal_partial_pack(pd_goal_set_at(set, gi), k, t_ms, &p, &b), 0);
            pd_str id;
            uint32_t part, gj;
            int64_t t;
            const char *why = NULL;
            if (pd_goal_partial_unpack(b.p, b.len, &id, &part, &t, &q, &why))
                fail_msg("unpack: %s", why);
            assert_int_equal(part, k);
            assert_true(t == t_ms);
            assert_int_equal(pd_goalfold_goal_find(f, id, &gj), 0);
            assert_int_equal(gj, gi);
            assert_int_equal(pd_goalfold_update(f, gj, part, &q, t), 0);
        }
    assert_int_equal(pd_goalfold_partitions(f), r->np);
    for (uint32_t gi = 0; gi < ng; gi++) {
        pd_goal_status a, c;
        pd_engine_goal_status(r->ref, gi, &a);
        pd_goalfold_status(f, gi, &c);
        const char *gid = a.goal->id;
        if (a.has_value != c.has_value || a.numerator != c.numerator ||
            a.denominator != c.denominator || a.violators != c.violators ||
            a.unknown != c.unknown || fabs(a.value - c.value) > 1e-9)
            fail_msg("P=%u after %zu messages, goal %s: reference has_value %d value %.17g "
                     "%llu/%llu violators %llu unknown %llu; fold has_value %d value %.17g "
                     "%llu/%llu violators %llu unknown %llu",
                     r->np, at, gid, a.has_value, a.value, (unsigned long long)a.numerator,
                     (unsigned long long)a.denominator, (unsigned long long)a.violators,
                     (unsigned long long)a.unknown, c.has_value, c.value,
                     (unsigned long long)c.numerator, (unsigned long long)c.denominator,
                     (unsigned long long)c.violators, (unsigned long long)c.unknown);
        valued += a.has_value;
        /* The fold evaluated once, from unset: its met is the target test on this value. */
        if (c.has_value)
            assert_int_equal(c.met, pd_goal_cmp(a.goal->cmp, c.value, a.goal->target));
        /* Same JSON shape as the engine's (same writer); the fold has a state once valued. */
        pd_buf j;
        pd_buf_init(&j);
        pd_goalfold_status_json(f, gi, &j);
        pd_buf_putc(&j, '\0');
        assert_non_null(strstr(pd_buf_cstr(&j), "\"goal\":\""));
        assert_non_null(strstr(pd_buf_cstr(&j), c.has_value ? "\"met\":" : "\"met\":null"));
        pd_buf_free(&j);
    }
    pd_buf_free(&b);
    pd_goal_partial_free(&p);
    pd_goal_partial_free(&q);
    pd_goalfold_destroy(f);
    return valued;
}

/* A mixed stream over 16 simulated days (max_events 0: all of it). */
static pd_gen *mk_gen(uint64_t seed, uint32_t servers, uint64_t max_events, double delete_rate)
{
    pd_diag dg = {{0}};
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.seed = seed;
    go.servers = servers;
    go.days = 16;
    go.inventory = true;
    go.churn = 0.08;
    go.delete_rate = delete_rate;
    go.mix = PD_GEN_MIX_ALL;
    go.max_events = max_events;
    pd_gen *g = NULL;
    if (pd_gen_create(&go, &g, &dg))
        fail_msg("gen: %s", dg.msg);
    return g;
}

/* One reference engine and np partial ones. */
static void route_init(route *r, const pd_goal_set *set, uint32_t np, sigs *ref, sigs *part)
{
    memset(r, 0, sizeof(*r));
    r->np = np;
    r->ref = mk_engine(set, false, ref);
    for (uint32_t k = 0; k < np; k++)
        r->parts[k] = mk_engine(set, true, part);
}

static void run_split(uint32_t np, uint64_t seed)
{
    pd_diag dg = {{0}};
    if (!g_controls && pd_controls_load_default(&g_controls, &dg))
        g_controls = NULL; /* selectors by key only, as the processor does */
    pd_goal_set *set = load_goals();
    pd_gen *g = mk_gen(seed, 400, 0, 0.01);
    sigs ref_sigs = {0}, part_sigs = {0};
    route r;
    route_init(&r, set, np, &ref_sigs, &part_sigs);
    pd_decoder *dec = NULL;
    assert_int_equal(pd_decoder_create(NULL, &dec), 0);
    pd_buf msg;
    pd_buf_init(&msg);
    pd_gen_meta meta;
    size_t n = 0;
    uint64_t kinds = 0, scores = 0, compliance = 0, deletes = 0;
    uint32_t valued = 0;
    while (pd_buf_reset(&msg), pd_gen_next(g, &msg, &meta) == 0) {
        kinds |= 1ull << meta.kind;
        scores += meta.kind == PD_KIND_SCORE;
        compliance += meta.kind == PD_KIND_COMPLIANCE;
        deletes += strstr(pd_buf_cstr(&msg), "\"Delete\"") != NULL;
        r.msg_ms = meta.time_ms;
        assert_int_equal(pd_decode(dec, msg.p, msg.len, PD_FMT_AUTO, on_event, &r, NULL), 0);
        if (++n % 2000 == 0) {
            /* Partitions see only their events, so their clocks lag the fleet's: bring them
             * to the fleet's event time (the watermark the goal stage publishes) so their
             * staleness and SLA timers have fired as the reference's have. */
            int64_t now = pd_engine_now(r.ref);
            for (uint32_t k = 0; k < np; k++)
                assert_int_equal(pd_engine_advance(r.parts[k], now), 0);
            valued = fold_and_compare(set, &r, now, n);
        }
    }
    int64_t now = pd_engine_now(r.ref);
    for (uint32_t k = 0; k < np; k++)
        assert_int_equal(pd_engine_advance(r.parts[k], now), 0);
    valued = fold_and_compare(set, &r, now, n);
    /* The stream had what the fold has to get right. */
    assert_true(n > 10000);
    assert_true(scores > 0 && compliance > 0 && deletes > 0);
    assert_true(valued >= 8);
    /* Partitions leave goal signals to the goal stage; the reference emitted some. */
    assert_int_equal(part_sigs.goal_signals, 0);
    assert_true(ref_sigs.goal_signals > 0);
    /* Per-resource signals: the partitions together raise the reference's, by id. */
    qsort(ref_sigs.v, ref_sigs.n, sizeof(sigrec), sig_cmp);
    qsort(part_sigs.v, part_sigs.n, sizeof(sigrec), sig_cmp);
    size_t i = 0, j = 0, only_ref = 0, only_part = 0;
    while (i < ref_sigs.n || j < part_sigs.n) {
        int c = i == ref_sigs.n    ? 1
                : j == part_sigs.n ? -1
                                   : sig_cmp(&ref_sigs.v[i], &part_sigs.v[j]);
        if (c == 0) {
            i++, j++;
            continue;
        }
        const sigrec *s = c < 0 ? &ref_sigs.v[i++] : &part_sigs.v[j++];
        if (c < 0)
            only_ref++;
        else
            only_part++;
        if (only_ref + only_part <= 10)
            fprintf(stderr, "P=%u: %s only in the %s: %s\n", np, s->type,
                    c < 0 ? "reference" : "partitions", s->id);
    }
    fprintf(stderr,
            "P=%u: %zu messages, %llu score, %llu compliance, %llu deletes; reference %zu "
            "per-resource + %llu goal signals, partitions %zu per-resource; %zu only in the "
            "reference, %zu only in the partitions\n",
            np, n, (unsigned long long)scores, (unsigned long long)compliance,
            (unsigned long long)deletes, ref_sigs.n, (unsigned long long)ref_sigs.goal_signals,
            part_sigs.n, only_ref, only_part);
    /* Which per-resource types the comparison covered. */
    const char *types[] = {"control.regressed", "control.recovered", "coverage.unknown",
                           "sla.expired"};
    for (size_t k = 0; k < PD_ARRAY_LEN(types); k++) {
        size_t cnt = 0;
        for (size_t m = 0; m < ref_sigs.n; m++)
            cnt += !strcmp(ref_sigs.v[m].type, types[k]);
        fprintf(stderr, "  %s: %zu\n", types[k], cnt);
        assert_true(cnt > 0);
    }
    assert_true(ref_sigs.n > 100);
    assert_int_equal(only_ref, 0);
    assert_int_equal(only_part, 0);

    pd_buf_free(&msg);
    pd_decoder_destroy(dec);
    pd_gen_destroy(g);
    pd_engine_destroy(r.ref);
    for (uint32_t k = 0; k < np; k++)
        pd_engine_destroy(r.parts[k]);
    pd_goal_set_destroy(set);
    pd_controls_destroy(g_controls);
    g_controls = NULL;
    free(ref_sigs.v);
    free(part_sigs.v);
}

static void test_fold_p1(void **state)
{
    (void)state;
    run_split(1, 3);
}

static void test_fold_p4(void **state)
{
    (void)state;
    run_split(4, 7);
}

static void test_fold_p7(void **state)
{
    (void)state;
    run_split(7, 13);
}

/* ---- the fold's state machine and bookkeeping on hand-made partials ---- */

static const char SMALL[] = "goals:\n"
                            "  - id: edr\n"
                            "    kind: coverage\n"
                            "    controls: [{key: edr}]\n"
                            "    target: \">= 50%\"\n"
                            "    hysteresis: 10%\n"
                            "  - id: bad\n"
                            "    kind: control\n"
                            "    controls: [{key: updates}]\n";

typedef struct last_sig {
    uint32_t n;
    char type[24], id[33];
    double value;
} last_sig;

static int keep_last(void *ctx, const pd_signal *s)
{
    last_sig *l = ctx;
    l->n++;
    snprintf(l->type, sizeof(l->type), "%s", s->type);
    memcpy(l->id, s->id, sizeof(l->id));
    l->value = s->goal.value;
    return 0;
}

static void test_fold_state_machine(void **state)
{
    (void)state;
    pd_goal_set *set = NULL;
    pd_diag d;
    if (pd_goal_set_load_buf(&set, "g.yaml", SMALL, sizeof(SMALL) - 1, &d))
        fail_msg("%s", d.msg);
    last_sig ls = {0};
    pd_goalfold *f = NULL;
    assert_int_equal(pd_goalfold_create(set, PD_STR_LIT("p"), 2, keep_last, &ls, NULL, NULL, &f),
                     0);
    const pd_goal *g = pd_goal_set_at(set, 0);
    pd_goal_partial a, b;
    pd_goal_partial_init(&a);
    pd_goal_partial_init(&b);
    a.digest = b.digest = pd_goal_digest(g);
    /* 1/4 healthy on partition 0, 0/4 on 1: 12.5%, breached. */
    a.in_scope = 4, a.res_healthy = 1, a.res_bad = 3;
    b.in_scope = 4, b.res_bad = 4;
    assert_int_equal(pd_goalfold_update(f, 0, 0, &a, 1000), 0);
    assert_int_equal(ls.n, 1);
    assert_string_equal(ls.type, "goal.breached");
    assert_int_equal(pd_goalfold_update(f, 0, 1, &b, 2000), 0);
    pd_goal_status st;
    pd_goalfold_status(f, 0, &st);
    assert_true(st.has_value && !st.met && st.numerator == 1 && st.denominator == 8);
    /* 4/8 = 50%: meets the target but not target + hysteresis (60%): still breached. */
    b.res_bad = 1, b.res_healthy = 3;
    assert_int_equal(pd_goalfold_update(f, 0, 1, &b, 3000), 0);
    assert_int_equal(ls.n, 1);
    /* Replacing a partition's partial (not adding to it): 5/8 = 62.5%, restored. */
    b.res_bad = 0, b.res_healthy = 4;
    assert_int_equal(pd_goalfold_update(f, 0, 1, &b, 4000), 0);
    assert_int_equal(ls.n, 2);
    assert_string_equal(ls.type, "goal.restored");
    assert_true(fabs(ls.value - 62.5) < 1e-12);
    /* The id is the engine's scheme: type, goal, value %.6g, time. */
    char want[33];
    pd_str parts[5] = {PD_STR_LIT("goal.restored"), PD_STR_LIT("edr"), PD_STR_LIT("62.5"),
                       PD_STR_NULL, PD_STR_LIT("4000")};
    pd_signal_make_id(want, parts, 5);
    assert_string_equal(ls.id, want);
    pd_goalfold_status(f, 0, &st);
    assert_true(st.met && st.changed_ms == 4000);
    /* A partition beyond the count grows the fold. */
    pd_goal_partial e;
    pd_goal_partial_init(&e);
    e.digest = a.digest;
    e.in_scope = 8;
    assert_int_equal(pd_goalfold_update(f, 0, 9, &e, 5000), 0);
    assert_int_equal(pd_goalfold_partitions(f), 10);
    pd_goalfold_status(f, 0, &st);
    assert_true(st.denominator == 16 && st.unknown == 8 && !st.met);
    assert_int_equal(ls.n, 3); /* 5/16: breached again */
    /* Another definition of the goal, a bad index or partition are refused. */
    e.digest = a.digest ^ 1;
    assert_int_equal(pd_goalfold_update(f, 0, 0, &e, 6000), PD_ESTATE);
    e.digest = 0;
    assert_int_equal(pd_goalfold_update(f, 7, 0, &e, 6000), PD_ENOTFOUND);
    assert_int_equal(pd_goalfold_update(f, 0, PD_GOALFOLD_MAX_PARTITIONS, &e, 6000), PD_EINVAL);
    /* Control goal: zero violators stays a value once the fleet had one, even when the
     * partition that had resources now reports none. */
    pd_goal_partial c;
    pd_goal_partial_init(&c);
    c.in_scope = 2, c.res_bad = 1;
    assert_int_equal(pd_goalfold_update(f, 1, 3, &c, 7000), 0);
    pd_goal_partial_reset(&c);
    assert_int_equal(pd_goalfold_update(f, 1, 3, &c, 8000), 0);
    pd_goalfold_status(f, 1, &st);
    assert_true(st.has_value && st.value == 0 && st.met);
    pd_buf j;
    pd_buf_init(&j);
    pd_goalfold_status_json(f, 0, &j);
    pd_buf_putc(&j, '\0');
    assert_non_null(strstr(pd_buf_cstr(&j), "{\"goal\":\"edr\""));
    assert_non_null(strstr(pd_buf_cstr(&j), "\"met\":false,\"numerator\":5,\"denominator\":16"));
    pd_buf_free(&j);
    /* Per-control score counts merge by key and the ratio mean is recomputed, not summed. */
    pd_goal_partial s1, s2, sum;
    pd_goal_partial_init(&s1);
    pd_goal_partial_init(&s2);
    pd_goal_partial_init(&sum);
    pd_goal_partial_ctl c1[2] = {{1, 1, 0}, {5, 0, 1}}, c2[2] = {{5, 1, 0}, {9, 2, 2}};
    s1.ctls = c1, s1.nctls = 2;
    s2.ctls = c2, s2.nctls = 2;
    assert_int_equal(pd_goal_partial_add(&sum, &s1), 0);
    assert_int_equal(pd_goal_partial_add(&sum, &s2), 0);
    assert_int_equal(sum.nctls, 3);
    assert_true(sum.ctls[1].key == 5 && sum.ctls[1].h == 1 && sum.ctls[1].u == 1);
    assert_true(sum.score_n == 3 && sum.score_fp == (1ull << 32) + (1ull << 31) + (1ull << 31));
    pd_goal_partial_free(&sum);
    pd_goalfold_destroy(f);
    pd_goal_set_destroy(set);
}

/* ---- the wire form against hostile bytes ---- */

static void sample_partial(pd_goal_partial *p)
{
    pd_goal_partial_init(p);
    p->digest = 42;
    p->in_scope = 10, p->res_bad = 2, p->res_healthy = 5, p->res_na = 1, p->sla_viol = 3;
    p->pc_h = 7, p->pc_u = 4, p->ev_records = 2, p->score_fp = 123456789, p->score_n = 3;
    p->ev_num = 12.75, p->ev_den = 20;
    p->has_value = true;
    p->ctls = malloc(3 * sizeof(*p->ctls));
    p->ctls_cap = p->nctls = 3;
    p->ctls[0] = (pd_goal_partial_ctl){3, 1, 2};
    p->ctls[1] = (pd_goal_partial_ctl){40, 0, 9};
    p->ctls[2] = (pd_goal_partial_ctl){UINT64_MAX, 7, 0};
}

static void test_unpack_hostile(void **state)
{
    (void)state;
    pd_goal_set *set = NULL;
    pd_diag d;
    if (pd_goal_set_load_buf(&set, "g.yaml", SMALL, sizeof(SMALL) - 1, &d))
        fail_msg("%s", d.msg);
    const pd_goal *g = pd_goal_set_at(set, 0);
    pd_goal_partial p, o;
    sample_partial(&p);
    pd_goal_partial_init(&o);
    pd_buf b;
    pd_buf_init(&b);
    assert_int_equal(pd_goal_partial_pack(g, 3, -5, &p, &b), 0);
    pd_str id;
    uint32_t part;
    int64_t t;
    const char *why = NULL;
    assert_int_equal(pd_goal_partial_unpack(b.p, b.len, &id, &part, &t, &o, &why), 0);
    assert_true(pd_str_eq(id, PD_STR_LIT("edr")) && part == 3 && t == -5);
    assert_true(o.digest == pd_goal_digest(g));
    assert_true(o.in_scope == 10 && o.res_bad == 2 && o.res_healthy == 5 && o.res_na == 1);
    assert_true(o.sla_viol == 3 && o.pc_h == 7 && o.pc_u == 4 && o.ev_records == 2);
    assert_true(o.score_fp == 123456789 && o.score_n == 3 && o.has_value);
    assert_true(o.ev_num == 12.75 && o.ev_den == 20);
    assert_int_equal(o.nctls, 3);
    for (int i = 0; i < 3; i++)
        assert_memory_equal(&o.ctls[i], &p.ctls[i], sizeof(pd_goal_partial_ctl));
    /* Every truncation fails; a trailing byte fails. */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(pd_goal_partial_unpack(b.p, n, &id, &part, &t, &o, &why), PD_EINVAL);
        assert_non_null(why);
        assert_int_equal(id.len, 0);
    }
    pd_buf_putc(&b, 0);
    assert_int_equal(pd_goal_partial_unpack(b.p, b.len, &id, &part, &t, &o, &why), PD_EINVAL);
    b.len--;
    /* Byte flips and random corruption never crash; what decodes is in range. */
    char *c = malloc(b.len);
    for (size_t i = 0; i < b.len; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(c, b.p, b.len);
            c[i] ^= (char)(1 << bit);
            if (pd_goal_partial_unpack(c, b.len, &id, &part, &t, &o, &why) == 0) {
                assert_true(id.len > 0 && id.p >= c && id.p + id.len <= c + b.len);
                assert_true(part < PD_GOALFOLD_MAX_PARTITIONS);
                assert_true(o.res_bad + o.res_healthy + o.res_na <= o.in_scope);
            } else {
                assert_non_null(why);
            }
        }
    uint64_t x = 88172645463325252ULL;
    for (int k = 0; k < 5000; k++) {
        memcpy(c, b.p, b.len);
        for (int m = 0; m < 3; m++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c[x % b.len] = (char)(x >> 24);
        }
        int rc = pd_goal_partial_unpack(c, b.len, &id, &part, &t, &o, &why);
        assert_true(rc == 0 || rc == PD_EINVAL);
    }
    free(c);
    assert_int_equal(pd_goal_partial_unpack(NULL, 0, &id, &part, &t, &o, NULL), PD_EINVAL);

    /* Hand-made records: wrong version, shapes and types. */
    struct {
        const char *what;
        int v, nc;
        bool sorted, extra, nov, strt, neg_part, fcount;
    } cases[] = {
        {"version 2", 2, 10, true, false, false, false, false, false},
        {"version 0", 0, 10, true, false, false, false, false, false},
        {"9 counters", 1, 9, true, false, false, false, false, false},
        {"unsorted ctl", 1, 10, false, false, false, false, false, false},
        {"unknown key", 1, 10, true, true, false, false, false, false},
        {"no version", 1, 10, true, false, true, false, false, false},
        {"t as string", 1, 10, true, false, false, true, false, false},
        {"negative partition", 1, 10, true, false, false, false, true, false},
        {"float counter", 1, 10, true, false, false, false, false, true},
        {"valid", 1, 10, true, false, false, false, false, false},
    };
    for (size_t i = 0; i < PD_ARRAY_LEN(cases); i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 8 + cases[i].extra - cases[i].nov);
#define KEY(s) (msgpack_pack_str(&pk, strlen(s)), msgpack_pack_str_body(&pk, s, strlen(s)))
        if (!cases[i].nov) {
            KEY("v");
            msgpack_pack_uint32(&pk, (uint32_t)cases[i].v);
        }
        KEY("goal");
        KEY("edr");
        KEY("gd");
        msgpack_pack_uint64(&pk, 7);
        KEY("part");
        if (cases[i].neg_part)
            msgpack_pack_int32(&pk, -1);
        else
            msgpack_pack_uint32(&pk, 1);
        KEY("t");
        if (cases[i].strt)
            KEY("12");
        else
            msgpack_pack_int64(&pk, 12);
        KEY("c");
        msgpack_pack_array(&pk, (size_t)cases[i].nc);
        for (int k = 0; k < cases[i].nc; k++)
            if (cases[i].fcount && k == 0)
                msgpack_pack_double(&pk, 1.5);
            else
                msgpack_pack_uint64(&pk, 0);
        KEY("ev");
        msgpack_pack_array(&pk, 2);
        msgpack_pack_double(&pk, 0);
        msgpack_pack_double(&pk, 0);
        KEY("hv");
        msgpack_pack_false(&pk);
        (void)0;
        if (cases[i].extra) {
            KEY("zz");
            msgpack_pack_nil(&pk);
        }
#undef KEY
        /* "ctl" is optional: the unsorted case replaces "hv"'s slot count with it below. */
        int rc = pd_goal_partial_unpack(sb.data, sb.size, &id, &part, &t, &o, &why);
        if (!cases[i].sorted) {
            /* Rebuild with an unsorted ctl list (9 keys). */
            msgpack_sbuffer_clear(&sb);
            msgpack_pack_map(&pk, 9);
            msgpack_pack_str(&pk, 1);
            msgpack_pack_str_body(&pk, "v", 1);
            msgpack_pack_uint32(&pk, 1);
            msgpack_pack_str(&pk, 4);
            msgpack_pack_str_body(&pk, "goal", 4);
            msgpack_pack_str(&pk, 3);
            msgpack_pack_str_body(&pk, "edr", 3);
            msgpack_pack_str(&pk, 4);
            msgpack_pack_str_body(&pk, "part", 4);
            msgpack_pack_uint32(&pk, 0);
            msgpack_pack_str(&pk, 1);
            msgpack_pack_str_body(&pk, "t", 1);
            msgpack_pack_int64(&pk, 0);
            msgpack_pack_str(&pk, 1);
            msgpack_pack_str_body(&pk, "c", 1);
            msgpack_pack_array(&pk, 10);
            for (int k = 0; k < 10; k++)
                msgpack_pack_uint64(&pk, 0);
            msgpack_pack_str(&pk, 2);
            msgpack_pack_str_body(&pk, "ev", 2);
            msgpack_pack_array(&pk, 2);
            msgpack_pack_double(&pk, 0);
            msgpack_pack_double(&pk, 0);
            msgpack_pack_str(&pk, 2);
            msgpack_pack_str_body(&pk, "hv", 2);
            msgpack_pack_true(&pk);
            msgpack_pack_str(&pk, 2);
            msgpack_pack_str_body(&pk, "gd", 2);
            msgpack_pack_uint64(&pk, 1);
            msgpack_pack_str(&pk, 3);
            msgpack_pack_str_body(&pk, "ctl", 3);
            msgpack_pack_array(&pk, 2);
            for (int k = 0; k < 2; k++) {
                msgpack_pack_array(&pk, 3);
                msgpack_pack_uint64(&pk, (uint64_t)(9 - k));
                msgpack_pack_uint64(&pk, 1);
                msgpack_pack_uint64(&pk, 1);
            }
            rc = pd_goal_partial_unpack(sb.data, sb.size, &id, &part, &t, &o, &why);
        }
        bool valid = !strcmp(cases[i].what, "valid");
        if (rc != (valid ? 0 : PD_EINVAL))
            fail_msg("%s: rc %d (%s)", cases[i].what, rc, why ? why : "");
        if (!strncmp(cases[i].what, "version", 7))
            assert_non_null(strstr(why, "version"));
        msgpack_sbuffer_destroy(&sb);
    }
    /* Counts that no engine could hold. */
    pd_goal_partial bad;
    sample_partial(&bad);
    bad.res_healthy = 100;
    pd_buf_reset(&b);
    assert_int_equal(pd_goal_partial_pack(g, 0, 0, &bad, &b), 0);
    assert_int_equal(pd_goal_partial_unpack(b.p, b.len, &id, &part, &t, &o, &why), PD_EINVAL);
    pd_goal_partial_free(&bad);
    pd_buf_free(&b);
    pd_goal_partial_free(&p);
    pd_goal_partial_free(&o);
    pd_goal_set_destroy(set);
}

/* ---- ordered fold: the same signals whatever the arrival order, and through a restore ---- */

typedef struct oitem {
    uint32_t part, gi;
    bool mark;
    int64_t tick, t_ms; /* mark: below = tick */
    pd_buf packed;
} oitem;

typedef struct ostream {
    oitem *v;
    uint32_t n, cap, pos;
} ostream;

typedef struct olog { /* a compacted changelog: the last value per key */
    char **keys;
    pd_buf *vals;
    uint32_t n, cap;
} olog;

typedef struct oseq {
    char (*ids)[33];
    char **what; /* "type value" per signal */
    uint32_t n, cap;
} oseq;

static int oseq_emit(void *ctx, const pd_signal *s)
{
    oseq *q = ctx;
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->ids = realloc(q->ids, q->cap * sizeof(*q->ids));
        q->what = realloc(q->what, q->cap * sizeof(*q->what));
        assert_non_null(q->ids);
        assert_non_null(q->what);
    }
    memcpy(q->ids[q->n], s->id, 33);
    char b[256];
    snprintf(b, sizeof(b), "%s %.*s %.6g %lld", s->type, (int)s->goal.id.len, s->goal.id.p,
             s->goal.value, (long long)s->time_ms);
    q->what[q->n++] = strdup(b);
    return 0;
}

static void oseq_free(oseq *q)
{
    for (uint32_t i = 0; i < q->n; i++)
        free(q->what[i]);
    free(q->ids);
    free(q->what);
}

static void ostream_add(ostream *st, const oitem *it)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 256;
        st->v = realloc(st->v, st->cap * sizeof(*st->v));
        assert_non_null(st->v);
    }
    st->v[st->n++] = *it;
}

static int olog_put(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    olog *l = ctx;
    char hex[1001];
    assert_true(klen < 500);
    for (size_t k = 0; k < klen; k++)
        sprintf(hex + 2 * k, "%02x", ((const unsigned char *)key)[k]);
    hex[2 * klen] = '\0';
    uint32_t i = 0;
    while (i < l->n && strcmp(hex, l->keys[i]))
        i++;
    if (i == l->n) {
        if (!value)
            return 0;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 256;
            l->keys = realloc(l->keys, l->cap * sizeof(*l->keys));
            l->vals = realloc(l->vals, l->cap * sizeof(*l->vals));
            assert_non_null(l->keys);
            assert_non_null(l->vals);
        }
        l->keys[i] = strdup(hex);
        pd_buf_init(&l->vals[i]);
        l->n++;
    }
    if (!value) { /* a tombstone: compaction removes the key */
        free(l->keys[i]);
        pd_buf_free(&l->vals[i]);
        l->keys[i] = l->keys[l->n - 1];
        l->vals[i] = l->vals[l->n - 1];
        l->n--;
        return 0;
    }
    pd_buf_reset(&l->vals[i]);
    pd_buf_append(&l->vals[i], value, vlen);
    return 0;
}

static void olog_restore(olog *l, pd_goalfold *f)
{
    for (uint32_t i = 0; i < l->n; i++) {
        size_t kl = strlen(l->keys[i]) / 2;
        unsigned char k[500];
        for (size_t j = 0; j < kl; j++) {
            unsigned x;
            sscanf(l->keys[i] + 2 * j, "%2x", &x);
            k[j] = (unsigned char)x;
        }
        assert_int_equal(pd_goalfold_restore_record(f, k, kl, l->vals[i].p, l->vals[i].len), 0);
    }
    assert_int_equal(pd_goalfold_restored(f), 0);
}

static void olog_free(olog *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        free(l->keys[i]);
        pd_buf_free(&l->vals[i]);
    }
    free(l->keys);
    free(l->vals);
}

static void deliver(pd_goalfold *f, const pd_goal_set *set, const oitem *it)
{
    if (it->mark) {
        assert_int_equal(pd_goalfold_mark(f, it->part, it->tick), 0);
        return;
    }
    pd_goal_partial q;
    pd_goal_partial_init(&q);
    pd_str id;
    uint32_t part, gi;
    int64_t t;
    assert_int_equal(pd_goal_partial_unpack(it->packed.p, it->packed.len, &id, &part, &t, &q, NULL),
                     0);
    assert_int_equal(pd_goalfold_goal_find(f, id, &gi), 0);
    assert_int_equal(gi, it->gi);
    assert_int_equal(pd_goalfold_offer(f, gi, part, it->tick, &q, t), 0);
    pd_goal_partial_free(&q);
    (void)set;
}

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 33;
}

/* Delivers the partitions' streams interleaved at random (each in its own order); with log,
 * collects into it now and then and, half-way, continues in a fold restored from it. */
static pd_goalfold *interleave(const pd_goal_set *set, ostream *st, uint32_t np, uint64_t seed,
                               oseq *q, olog *log, uint32_t *restores)
{
    pd_goalfold *f = NULL;
    assert_int_equal(
        pd_goalfold_create(set, PD_STR_LIT("defender-servers"), np, oseq_emit, q, NULL, NULL, &f),
        0);
    uint32_t total = 0, done = 0;
    for (uint32_t p = 0; p < np; p++) {
        st[p].pos = 0;
        total += st[p].n;
    }
    while (done < total) {
        uint32_t p = (uint32_t)(lcg(&seed) % np);
        if (st[p].pos == st[p].n)
            continue;
        uint32_t burst = 1 + (uint32_t)(lcg(&seed) % 40);
        for (uint32_t b = 0; b < burst && st[p].pos < st[p].n; b++, done++)
            deliver(f, set, &st[p].v[st[p].pos++]);
        if (log && lcg(&seed) % 7 == 0)
            assert_int_equal(pd_goalfold_collect(f, olog_put, log), 0);
        if (log && *restores < 3 && done > total * (*restores + 1) / 4) {
            /* the goal stage moves: the next owner restores the changelog */
            assert_int_equal(pd_goalfold_collect(f, olog_put, log), 0);
            pd_goalfold_destroy(f);
            f = NULL;
            assert_int_equal(pd_goalfold_create(set, PD_STR_LIT("defender-servers"), np, oseq_emit,
                                                q, NULL, NULL, &f),
                             0);
            olog_restore(log, f);
            (*restores)++;
        }
    }
    return f;
}

static void oseq_equal(const oseq *a, const oseq *b, const char *what)
{
    uint32_t n = PD_MIN(a->n, b->n);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(a->ids[i], b->ids[i]))
            fail_msg("%s: signal %u differs: %s vs %s", what, i, a->what[i], b->what[i]);
    if (a->n != b->n)
        fail_msg("%s: %u signals vs %u", what, a->n, b->n);
}

static void test_fold_ordered(void **state)
{
    (void)state;
    enum { NP = 5, TICK = 150 };
    pd_diag dg = {{0}};
    if (!g_controls && pd_controls_load_default(&g_controls, &dg))
        g_controls = NULL;
    pd_goal_set *set = load_goals();
    uint32_t ngoals = pd_goal_set_count(set);
    pd_gen *g = mk_gen(11, 300, 12000, 0);
    sigs ref_sigs = {0}, part_sigs = {0};
    route r;
    route_init(&r, set, NP, &ref_sigs, &part_sigs);
    pd_decoder *dec = NULL;
    assert_int_equal(pd_decoder_create(NULL, &dec), 0);
    pd_buf msg, cmp;
    pd_buf_init(&msg);
    pd_buf_init(&cmp);
    pd_buf *last = calloc((size_t)NP * ngoals, sizeof(*last));
    assert_non_null(last);
    ostream st[NP];
    memset(st, 0, sizeof(st));
    pd_goal_partial gp;
    pd_goal_partial_init(&gp);
    pd_gen_meta meta;
    size_t n = 0;
    int64_t tick = 0;
    bool more = true;
    while (more) {
        pd_buf_reset(&msg);
        more = pd_gen_next(g, &msg, &meta) == 0;
        if (more) {
            r.msg_ms = meta.time_ms;
            assert_int_equal(pd_decode(dec, msg.p, msg.len, PD_FMT_AUTO, on_event, &r, NULL), 0);
            if (++n % TICK)
                continue;
        }
        /* the tick ends: each partition offers the partials that changed, then marks it */
        for (uint32_t p = 0; p < NP; p++) {
            for (uint32_t gi = 0; gi < ngoals; gi++) {
                const pd_goal *gl = pd_goal_set_at(set, gi);
                assert_int_equal(pd_engine_goal_partial(r.parts[p], gi, &gp), 0);
                pd_buf_reset(&cmp);
                assert_int_equal(pd_goal_partial_pack(gl, p, 0, &gp, &cmp), 0);
                pd_buf *l = &last[p * ngoals + gi];
                if (l->len == cmp.len && !memcmp(l->p, cmp.p, cmp.len))
                    continue;
                pd_buf_reset(l);
                pd_buf_append(l, cmp.p, cmp.len);
                oitem it = {p, gi, false, tick, pd_engine_now(r.parts[p]), {0}};
                pd_buf_init(&it.packed);
                assert_int_equal(pd_goal_partial_pack(gl, p, it.t_ms, &gp, &it.packed), 0);
                ostream_add(&st[p], &it);
            }
            oitem m = {p, 0, true, tick + 1, 0, {0}};
            ostream_add(&st[p], &m);
        }
        tick++;
    }
    assert_true(n >= 10000);
    assert_true(ref_sigs.goal_signals > 0);

    /* one partition after another */
    oseq a = {0}, b = {0}, c = {0};
    pd_goalfold *fa = NULL;
    assert_int_equal(
        pd_goalfold_create(set, PD_STR_LIT("defender-servers"), NP, oseq_emit, &a, NULL, NULL, &fa),
        0);
    uint32_t offers = 0;
    for (uint32_t p = 0; p < NP; p++)
        for (uint32_t i = 0; i < st[p].n; i++) {
            offers += !st[p].v[i].mark;
            deliver(fa, set, &st[p].v[i]);
            if (p < NP - 1)
                assert_int_equal(a.n, 0); /* nothing before every partition marked */
        }
    assert_int_equal(pd_goalfold_pending(fa), 0);
    assert_int_equal(pd_goalfold_late(fa), 0);
    /* random interleavings, and one that moves the fold through its changelog three times */
    pd_goalfold *fb = interleave(set, st, NP, 7, &b, NULL, NULL);
    olog log = {0};
    uint32_t restores = 0;
    pd_goalfold *fc = interleave(set, st, NP, 99, &c, &log, &restores);
    fprintf(stderr,
            "ordered fold: %zu messages, %lld ticks, %u partials offered, %u goal signals "
            "(one engine %llu), %u restores, log %u records\n",
            n, (long long)tick, offers, a.n, (unsigned long long)ref_sigs.goal_signals, restores,
            log.n);
    assert_true(a.n > 0);
    assert_int_equal(restores, 3);
    oseq_equal(&a, &b, "interleaved");
    oseq_equal(&a, &c, "restored");
    for (uint32_t gi = 0; gi < ngoals; gi++) {
        pd_goal_status sa, sb, sc;
        pd_goalfold_status(fa, gi, &sa);
        pd_goalfold_status(fb, gi, &sb);
        pd_goalfold_status(fc, gi, &sc);
        assert_true(sa.has_value == sb.has_value && sa.has_value == sc.has_value);
        assert_true(sa.value == sb.value && sa.value == sc.value);
        assert_true(sa.met == sb.met && sa.met == sc.met);
        assert_true(sa.changed_ms == sb.changed_ms && sa.changed_ms == sc.changed_ms);
        /* and the fold's final value is one engine's over the same events */
        pd_goal_status e;
        pd_engine_goal_status(r.ref, gi, &e);
        if (e.has_value && sa.has_value && fabs(e.value - sa.value) > 1e-9)
            fail_msg("goal %u: fold %.9g, one engine %.9g", gi, sa.value, e.value);
    }
    /* a partial for an evaluated tick counts in the next one */
    const pd_goal *g0 = pd_goal_set_at(set, 0);
    pd_goal_partial z;
    pd_goal_partial_init(&z);
    z.digest = pd_goal_digest(g0);
    assert_int_equal(pd_goalfold_offer(fa, 0, 0, 0, &z, 1), 0);
    assert_int_equal(pd_goalfold_late(fa), 1);
    assert_int_equal(pd_goalfold_pending(fa), 1);
    /* hostile changelog records: refused, nothing else changes */
    static const struct {
        const char *key;
        size_t klen;
        const char *val;
        size_t vlen;
        int rc;
    } bad[] = {
        {"#fm", 3, "short", 5, PD_ESTATE},
        {"#fm", 3, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x05", 20, PD_ESTATE},
        {"#fs:edr-coverage", 16, "x", 1, PD_ESTATE},
        {"#fs:no-such-goal", 16, "x", 1, PD_ENOTFOUND},
        {"#fc:", 4, "x", 1, PD_ESTATE},
        {"#fc:\0\0\0\0", 8, "x", 1, PD_ESTATE},
        {"#fq:\0\0\0\0\0\0\0\0", 12, "x", 1, PD_ESTATE},
        {"#zz", 3, "x", 1, PD_ENOTFOUND},
    };
    pd_goalfold *fh = NULL;
    assert_int_equal(pd_goalfold_create(set, PD_STR_LIT("p"), NP, NULL, NULL, NULL, NULL, &fh), 0);
    for (size_t i = 0; i < PD_ARRAY_LEN(bad); i++) {
        int rc = pd_goalfold_restore_record(fh, bad[i].key, bad[i].klen, bad[i].val, bad[i].vlen);
        if (rc != bad[i].rc)
            fail_msg("bad record %zu (%s): rc %d, want %d", i, bad[i].key, rc, bad[i].rc);
    }
    /* a partition beyond the count would never mark: refused, as offer, mark or record */
    assert_int_equal(pd_goalfold_offer(fh, 0, NP, 0, &z, 1), PD_EINVAL);
    assert_int_equal(pd_goalfold_mark(fh, NP, 5), PD_EINVAL);
    unsigned char fm[20 + 8 * (NP + 1)];
    memset(fm, 0, sizeof(fm));
    fm[19] = NP + 1; /* be32 n at byte 16 */
    assert_int_equal(pd_goalfold_restore_record(fh, "#fm", 3, fm, sizeof(fm)), PD_ESTATE);
    /* every truncation and byte flip of the real log's records: refused or taken, no crash */
    uint64_t refused = 0;
    for (uint32_t i = 0; i < log.n; i++) {
        size_t kl = strlen(log.keys[i]) / 2;
        unsigned char k[500];
        for (size_t j = 0; j < kl; j++) {
            unsigned x;
            sscanf(log.keys[i] + 2 * j, "%2x", &x);
            k[j] = (unsigned char)x;
        }
        const pd_buf *v = &log.vals[i];
        for (size_t cut = 0; cut < v->len; cut += 1 + v->len / 16)
            refused += pd_goalfold_restore_record(fh, k, kl, v->p, cut) != 0;
        unsigned char *dup = malloc(v->len);
        for (size_t j = 0; j < v->len; j++) {
            memcpy(dup, v->p, v->len);
            dup[j] ^= 0x5a;
            refused += pd_goalfold_restore_record(fh, k, kl, dup, v->len) != 0;
        }
        free(dup);
        for (size_t cut = 0; cut < kl; cut++)
            refused += pd_goalfold_restore_record(fh, k, cut, v->p, v->len) != 0;
    }
    assert_true(refused > 0);
    assert_int_equal(pd_goalfold_restored(fh), 0);
    pd_goalfold_destroy(fh);

    pd_goal_partial_free(&z);
    olog_free(&log);
    oseq_free(&a);
    oseq_free(&b);
    oseq_free(&c);
    pd_goalfold_destroy(fa);
    pd_goalfold_destroy(fb);
    pd_goalfold_destroy(fc);
    for (uint32_t p = 0; p < NP; p++) {
        for (uint32_t i = 0; i < st[p].n; i++)
            pd_buf_free(&st[p].v[i].packed);
        free(st[p].v);
    }
    for (uint32_t i = 0; i < (uint32_t)NP * ngoals; i++)
        pd_buf_free(&last[i]);
    free(last);
    pd_goal_partial_free(&gp);
    pd_buf_free(&msg);
    pd_buf_free(&cmp);
    pd_decoder_destroy(dec);
    pd_gen_destroy(g);
    pd_engine_destroy(r.ref);
    for (uint32_t k = 0; k < NP; k++)
        pd_engine_destroy(r.parts[k]);
    pd_goal_set_destroy(set);
    pd_controls_destroy(g_controls);
    g_controls = NULL;
    free(ref_sigs.v);
    free(part_sigs.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_state_machine),
        cmocka_unit_test(test_unpack_hostile),
        cmocka_unit_test(test_fold_p1),
        cmocka_unit_test(test_fold_p4),
        cmocka_unit_test(test_fold_p7),
        cmocka_unit_test(test_fold_ordered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
