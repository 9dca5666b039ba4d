/* Correlation over generated streams, through the whole processor (decode, goals engine,
 * correlator): every scripted incident of `postured gen` yields its built-in rule's signal with
 * complete evidence, and a week of benign noise on 5,000 servers stays quiet. */
#include "pd_test.h"

#include "pd_gen.h"
#include "pd_processor.h"
#include "pd_time.h"

typedef struct brec {
    char rule[48], id[33];
    uint32_t update;
    int64_t t;
    char res[8][256];
    uint32_t nres;
    uint32_t nev, nalerts, nposture, nsignals, nassess, tactics;
    bool ev_ok;
} brec;

typedef struct coll {
    brec *v;
    size_t n, cap;
    uint64_t drift;
} coll;

static int on_sig(void *ctx, const pd_signal *s)
{
    coll *c = ctx;
    if (s->kind != PD_SIGNAL_BREACH) {
        c->drift++;
        return 0;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
        assert_non_null(c->v);
    }
    brec *b = &c->v[c->n++];
    memset(b, 0, sizeof(*b));
    snprintf(b->rule, sizeof(b->rule), "%.*s", (int)s->rule.id.len, s->rule.id.p);
    memcpy(b->id, s->id, sizeof(b->id));
    b->update = s->update;
    b->t = s->time_ms;
    b->tactics = s->tactics;
    for (uint32_t i = 0; i < s->nresources && i < 8; i++) {
        size_t k = 0;
        for (; k < s->resources[i].id.len && k + 1 < sizeof(b->res[i]); k++) {
            char ch = s->resources[i].id.p[k];
            b->res[i][k] = (char)((ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch);
        }
        b->res[i][k] = '\0';
        b->nres++;
    }
    b->nev = s->nevidence;
    b->ev_ok = true;
    for (uint32_t i = 0; i < s->nevidence; i++) {
        const pd_evidence *e = &s->evidence[i];
        if (!e->id.len || e->time_ms == PD_TIME_NONE || !e->kind)
            b->ev_ok = false;
        else if (!strcmp(e->kind, "alert"))
            b->nalerts++;
        else if (!strcmp(e->kind, "goal") || !strcmp(e->kind, "finding"))
            b->nposture++;
        else if (!strcmp(e->kind, "signal"))
            b->nsignals++;
        else if (!strcmp(e->kind, "assessment"))
            b->nassess++;
    }
    return 0;
}

static void run_gen(const pd_gen_opts *go, coll *c, pd_gen **out_gen)
{
    char rpath[1024], gpath[1024];
    const char *rules[1] = {pd_test_src_path("pipelines/rules/builtin.yaml", rpath, sizeof(rpath))};
    const char *goals[1] = {pd_test_src_path("tests/correlate/goals.yaml", gpath, sizeof(gpath))};
    pd_processor_opts po;
    memset(&po, 0, sizeof(po));
    po.rule_files = rules;
    po.nrule_files = 1;
    po.goal_files = goals;
    po.ngoal_files = 1;
    po.on_signal = on_sig;
    po.signal_ctx = c;
    pd_diag d = {{0}};
    pd_processor *p = NULL;
    if (pd_processor_create(&po, &p, &d))
        fail_msg("processor: %s", d.msg);
    pd_gen *g = NULL;
    if (pd_gen_create(go, &g, &d))
        fail_msg("gen: %s", d.msg);
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta meta;
    int64_t last = PD_TIME_NONE;
    for (;;) {
        pd_buf_reset(&b);
        int rc = pd_gen_next(g, &b, &meta);
        if (rc == PD_ENOTFOUND)
            break;
        assert_int_equal(rc, 0);
        pd_str src = meta.kind == PD_KIND_ALERT ? PD_STR_LIT("alerts") : PD_STR_LIT("assessments");
        assert_int_equal(pd_processor_feed(p, b.p, b.len, PD_FMT_AUTO, src), 0);
        if (meta.time_ms != PD_TIME_NONE && meta.time_ms > last)
            last = meta.time_ms;
    }
    if (last != PD_TIME_NONE)
        assert_int_equal(pd_processor_advance(p, last + 2 * 86400000LL), 0);
    pd_processor_stats ps;
    pd_processor_stats_get(p, &ps);
    fprintf(stderr, "replay: %llu messages, %llu events, %llu decode errors, %llu breach\n",
            (unsigned long long)ps.messages, (unsigned long long)ps.events,
            (unsigned long long)ps.decode_errors, (unsigned long long)ps.signals_breach);
    pd_buf_free(&b);
    pd_processor_destroy(p);
    *out_gen = g;
}

static bool has_res(const brec *b, const char *key)
{
    for (uint32_t i = 0; i < b->nres; i++)
        if (!strcmp(b->res[i], key))
            return true;
    return false;
}

/* The latest emission (first signal or its last update) of signal id. */
static const brec *latest(const coll *c, const char *id)
{
    const brec *r = NULL;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].id, id))
            r = &c->v[i];
    return r;
}

static int popc(uint32_t v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* posture_free: check only the incidents made of alerts alone (kill chain, spread, burst),
 * whose outcome does not depend on the goals engine's handling of disordered snapshots. */
static void check_incidents(int64_t disorder_ms, bool posture_free)
{
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = 60;
    go.days = 7;
    go.seed = 7;
    go.incidents = true;
    go.disorder_ms = disorder_ms;
    coll c = {0};
    pd_gen *g = NULL;
    run_gen(&go, &c, &g);
    uint32_t n = pd_gen_incident_count(g);
    bool seen[PD_GEN_INC__COUNT] = {false};
    for (uint32_t i = 0; i < n; i++) {
        const pd_gen_incident_info *ii = pd_gen_incident_at(g, i);
        const char *rule = pd_gen_incident_rule(ii->kind);
        if (posture_free && ii->kind != PD_GEN_INC_KILL_CHAIN && ii->kind != PD_GEN_INC_LATERAL &&
            ii->kind != PD_GEN_INC_BURST)
            continue;
        const brec *hit = NULL;
        for (size_t k = 0; k < c.n && !hit; k++) {
            const brec *b = &c.v[k];
            if (b->update || strcmp(b->rule, rule) || b->t < ii->start_ms ||
                b->t > ii->end_ms + 3600000)
                continue;
            bool all = true;
            for (uint32_t s = 0; s < ii->nservers && ii->kind != PD_GEN_INC_LATERAL; s++)
                all = all && has_res(b, pd_gen_server_key(g, ii->servers[s]));
            if (all)
                hit = b;
        }
        if (!hit)
            fail_msg("incident %u (%s): no %s signal between %lld and %lld", i, rule, rule,
                     (long long)ii->start_ms, (long long)ii->end_ms);
        const brec *b = latest(&c, hit->id);
        if (!b->ev_ok)
            fail_msg("%s: evidence without id or time", rule);
        seen[ii->kind] = true;
        switch (ii->kind) {
        case PD_GEN_INC_WEAK:
            if (b->nalerts < 1 || b->nposture < 1)
                fail_msg("%s: %u alerts, %u posture facts", rule, b->nalerts, b->nposture);
            break;
        case PD_GEN_INC_KILL_CHAIN:
            if (b->nalerts != 4 || popc(b->tactics) < 3)
                fail_msg("%s: %u alerts, %d tactics", rule, b->nalerts, popc(b->tactics));
            break;
        case PD_GEN_INC_LATERAL:
            if (b->nalerts != ii->nservers || b->nres != ii->nservers)
                fail_msg("%s: %u alerts on %u resources, want %u", rule, b->nalerts, b->nres,
                         ii->nservers);
            for (uint32_t s = 0; s < ii->nservers; s++)
                if (!has_res(b, pd_gen_server_key(g, ii->servers[s])))
                    fail_msg("%s: server %s missing", rule, pd_gen_server_key(g, ii->servers[s]));
            break;
        case PD_GEN_INC_DRIFT:
            if (b->nsignals < 1 || b->nalerts < 1)
                fail_msg("%s: %u drift signals, %u alerts", rule, b->nsignals, b->nalerts);
            break;
        case PD_GEN_INC_TAMPER:
            if (b->nassess < 1 || b->nalerts < 1)
                fail_msg("%s: %u assessments, %u alerts", rule, b->nassess, b->nalerts);
            break;
        case PD_GEN_INC_BURST:
            if (b->nalerts != 12)
                fail_msg("%s: %u alerts, want 12", rule, b->nalerts);
            break;
        default:
            break;
        }
    }
    for (int k = PD_GEN_INC_WEAK; k < PD_GEN_INC__COUNT; k++)
        if (!seen[k] && (!posture_free || k == PD_GEN_INC_KILL_CHAIN || k == PD_GEN_INC_LATERAL ||
                         k == PD_GEN_INC_BURST))
            fail_msg("no scripted %s incident in the stream",
                     pd_gen_incident_rule((pd_gen_incident)k));
    pd_gen_destroy(g);
    free(c.v);
}

static void test_incidents(void **state)
{
    (void)state;
    check_incidents(0, false);
}

/* Messages up to 2 minutes out of order: within the allowed lateness (5 minutes), the
 * alert-only incidents still fire with all their evidence. */
static void test_incidents_out_of_order(void **state)
{
    (void)state;
    check_incidents(2 * 60000, true);
}

typedef struct rt {
    const char *res;
    int64_t t;
} rt;

static int cmp_rt(const void *a, const void *b)
{
    const rt *x = a, *y = b;
    int c = strcmp(x->res, y->res);
    return c ? c : (x->t > y->t) - (x->t < y->t);
}

static void test_noise(void **state)
{
    (void)state;
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = 5000;
    go.days = 7;
    go.seed = 11;
    go.noise = true;
    go.incidents = false;
    coll c = {0};
    pd_gen *g = NULL;
    run_gen(&go, &c, &g);
    pd_gen_stats gs;
    pd_gen_get_stats(g, &gs);
    /* a real amount of noise went through (the generator thins it so that noise alone
     * never puts one alert type on 3 servers within 70 minutes) */
    assert_true(gs.by_kind[PD_KIND_ALERT] > 1000);
    size_t nweak = 0;
    rt *w = calloc(c.n + 1, sizeof(*w));
    assert_non_null(w);
    int counts[8] = {0};
    for (size_t i = 0; i < c.n; i++) {
        const brec *b = &c.v[i];
        if (b->update)
            continue;
        if (!strcmp(b->rule, "kill-chain-progression"))
            counts[0]++;
        else if (!strcmp(b->rule, "lateral-spread"))
            counts[1]++;
        else if (!strcmp(b->rule, "alert-on-weak-resource") && b->nres == 1)
            w[nweak++] = (rt){b->res[0], b->t};
    }
    fprintf(stderr, "noise: %llu alerts, %zu breach emissions, %zu alert-on-weak-resource\n",
            (unsigned long long)gs.by_kind[PD_KIND_ALERT], c.n, nweak);
    static const char *const rn[] = {"alert-on-weak-resource", "kill-chain-progression",
                                     "lateral-spread",         "drift-then-alert",
                                     "defense-tampering",      "alert-burst"};
    for (size_t r = 0; r < PD_ARRAY_LEN(rn); r++) {
        size_t ns = 0, nu = 0;
        for (size_t i = 0; i < c.n; i++)
            if (!strcmp(c.v[i].rule, rn[r]))
                c.v[i].update ? nu++ : ns++;
        fprintf(stderr, "noise: %-24s %zu signals, %zu updates\n", rn[r], ns, nu);
    }
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 0);
    /* at most one alert-on-weak-resource per resource per suppress window (24 h) */
    qsort(w, nweak, sizeof(*w), cmp_rt);
    for (size_t i = 1; i < nweak; i++)
        if (!strcmp(w[i].res, w[i - 1].res) && w[i].t - w[i - 1].t <= 24 * 3600000LL)
            fail_msg("two alert-on-weak-resource signals on %s within 24 h", w[i].res);
    free(w);
    pd_gen_destroy(g);
    free(c.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incidents),
        cmocka_unit_test(test_incidents_out_of_order),
        cmocka_unit_test(test_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
