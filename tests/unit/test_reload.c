/* Reload through pd_provider (and pd_http_reload, as SIGHUP and POST /v1/reload call it): a
 * valid change takes effect without losing state (pairs and resources equal, old goals keep
 * their values, a new goal's value is there at once and equals a fresh replay's with that
 * goal); an invalid change is refused with file:line:column and the old set keeps working. */
#include "pd_test.h"

#include "pd_gen.h"
#include "pd_http.h"
#include "pd_log.h"
#include "pd_provider.h"

#include <event2/event.h>
#include <math.h>
#include <regex.h>
#include <unistd.h>

#define NEW_GOALS                                                                                  \
    "  - id: updates-coverage\n"                                                                   \
    "    title: System updates on 90% of servers\n"                                                \
    "    kind: coverage\n"                                                                         \
    "    controls:\n"                                                                              \
    "      - category: system_updates\n"                                                           \
    "    target: \">= 90%\"\n"                                                                     \
    "  - id: antimalware-only\n"                                                                   \
    "    title: Antimalware healthy\n"                                                             \
    "    kind: control\n"                                                                          \
    "    controls:\n"                                                                              \
    "      - category: antimalware\n"

typedef struct {
    char dir[256], goals[512], rules[1024];
    char *base_goals;
    size_t base_len;
    uint64_t out_signals, status_calls;
    uint32_t swaps;
} fx;

static void write_file(const char *path, const char *a, size_t alen, const char *b)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(a, 1, alen, f);
    if (b)
        fputs(b, f);
    fclose(f);
}

static int on_sig(void *ctx, const pd_signal *s)
{
    (void)s;
    ((fx *)ctx)->out_signals++;
    return 0;
}

static void on_status(void *ctx, const pd_goal_status *st)
{
    (void)st;
    ((fx *)ctx)->status_calls++;
}

static void on_swap(void *ctx, pd_processor *o, pd_processor *n, const pd_pipeline *pl)
{
    (void)pl;
    assert_ptr_not_equal(o, n);
    ((fx *)ctx)->swaps++;
}

static void feed(pd_processor *p, uint64_t seed, uint32_t days)
{
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = 250;
    go.days = days;
    go.seed = seed;
    pd_diag d = {{0}};
    pd_gen *g = NULL;
    if (pd_gen_create(&go, &g, &d))
        fail_msg("gen: %s", d.msg);
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta meta;
    for (;;) {
        pd_buf_reset(&b);
        int rc = pd_gen_next(g, &b, &meta);
        if (rc == PD_ENOTFOUND)
            break;
        assert_int_equal(rc, 0);
        assert_int_equal(pd_processor_feed(p, b.p, b.len, PD_FMT_AUTO, PD_STR_LIT("in")), 0);
    }
    pd_buf_free(&b);
    pd_gen_destroy(g);
}

static pd_provider *make(fx *f)
{
    const char *goals[1] = {f->goals};
    const char *rules[1] = {f->rules};
    pd_provider_opts o;
    memset(&o, 0, sizeof(o));
    o.proc.goal_files = goals;
    o.proc.ngoal_files = 1;
    o.proc.rule_files = rules;
    o.proc.nrule_files = 1;
    o.proc.on_signal = on_sig;
    o.proc.signal_ctx = f;
    o.proc.on_status = on_status;
    o.proc.status_ctx = f;
    o.on_swap = on_swap;
    o.swap_ctx = f;
    pd_diag d = {{0}};
    pd_provider *pv = NULL;
    if (pd_provider_create(&o, &pv, &d))
        fail_msg("provider: %s", d.msg);
    return pv;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pd_reload_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->goals, sizeof(f->goals), "%s/goals.yaml", f->dir);
    pd_test_src_path("pipelines/rules/builtin.yaml", f->rules, sizeof(f->rules));
    char gp[1024];
    f->base_goals = pd_test_read_file(
        pd_test_src_path("tests/correlate/goals.yaml", gp, sizeof(gp)), &f->base_len);
    assert_non_null(f->base_goals);
    write_file(f->goals, f->base_goals, f->base_len, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    unlink(f->goals);
    rmdir(f->dir);
    free(f->base_goals);
    free(f);
    return 0;
}

static bool goal_value(pd_engine *e, const char *id, pd_goal_status *st)
{
    uint32_t gi;
    if (pd_engine_goal_find(e, pd_str_c(id), &gi))
        return false;
    pd_engine_goal_status(e, gi, st);
    return true;
}

static void same_status(const pd_goal_status *a, const pd_goal_status *b)
{
    assert_int_equal(a->has_value, b->has_value);
    assert_true(fabs(a->value - b->value) <= 1e-9 * (1 + fabs(a->value)));
    assert_int_equal(a->numerator, b->numerator);
    assert_int_equal(a->denominator, b->denominator);
    assert_int_equal(a->violators, b->violators);
    assert_int_equal(a->met, b->met);
}

static void test_valid_reload_keeps_state(void **state)
{
    fx *f = *state;
    pd_provider *pv = make(f);
    feed(pd_provider_processor(pv), 5, 4);
    pd_engine *e0 = pd_processor_engine(pd_provider_processor(pv));
    pd_engine_stats s0;
    pd_engine_stats_get(e0, &s0);
    uint32_t n0 = pd_engine_goal_count(e0);
    pd_goal_status before[16];
    char before_id[16][64]; /* the old goal set is freed by the reload */
    assert_true(n0 <= 16);
    for (uint32_t i = 0; i < n0; i++) {
        pd_engine_goal_status(e0, i, &before[i]);
        snprintf(before_id[i], sizeof(before_id[i]), "%s", before[i].goal->id);
    }
    int64_t now0 = pd_engine_now(e0);
    assert_true(s0.pairs > 0);

    /* the new set: the old goals plus two */
    write_file(f->goals, f->base_goals, f->base_len, NEW_GOALS);
    uint64_t sig0 = f->out_signals, stat0 = f->status_calls;
    pd_buf out;
    pd_buf_init(&out);
    assert_int_equal(pd_provider_reload(pv, &out), 0);
    assert_non_null(strstr(pd_buf_cstr(&out), "\"reloaded\":true"));
    assert_int_equal(f->swaps, 1);
    /* the import is muted: no signal reaches the outputs; every goal's status is reported */
    assert_int_equal(f->out_signals, sig0);
    pd_engine *e1 = pd_processor_engine(pd_provider_processor(pv));
    assert_ptr_not_equal(e0, e1);
    assert_int_equal(pd_engine_goal_count(e1), n0 + 2);
    assert_int_equal(f->status_calls - stat0, n0 + 2);
    pd_engine_stats s1;
    pd_engine_stats_get(e1, &s1);
    assert_int_equal(s1.pairs, s0.pairs);
    assert_int_equal(s1.resources, s0.resources);
    assert_int_equal(pd_engine_now(e1), now0);
    for (uint32_t i = 0; i < n0; i++) {
        pd_goal_status st;
        assert_true(goal_value(e1, before_id[i], &st));
        same_status(&before[i], &st);
    }

    /* a fresh replay with the new set gives the new goals the same values */
    pd_provider *fresh = make(f);
    feed(pd_provider_processor(fresh), 5, 4);
    pd_engine *ef = pd_processor_engine(pd_provider_processor(fresh));
    assert_int_equal(pd_engine_now(ef), now0);
    const char *ids[2] = {"updates-coverage", "antimalware-only"};
    for (int k = 0; k < 2; k++) {
        pd_goal_status a, b;
        assert_true(goal_value(e1, ids[k], &a));
        assert_true(goal_value(ef, ids[k], &b));
        assert_true(a.has_value);
        assert_true(a.denominator > 0);
        same_status(&a, &b);
    }

    /* the status API shows the new goal at once */
    pd_buf_reset(&out);
    assert_int_equal(pd_provider_goal_json(pv, "updates-coverage", 0, 10, &out), 0);
    assert_non_null(strstr(pd_buf_cstr(&out), "\"id\":\"updates-coverage\""));

    /* both keep going on the same events */
    feed(pd_provider_processor(pv), 6, 1);
    feed(pd_provider_processor(fresh), 6, 1);
    for (int k = 0; k < 2; k++) {
        pd_goal_status a, b;
        assert_true(goal_value(pd_processor_engine(pd_provider_processor(pv)), ids[k], &a));
        assert_true(goal_value(pd_processor_engine(pd_provider_processor(fresh)), ids[k], &b));
        same_status(&a, &b);
    }
    pd_buf_free(&out);
    pd_provider_destroy(fresh);
    pd_provider_destroy(pv);
}

static void test_invalid_reload_refused(void **state)
{
    fx *f = *state;
    pd_provider *pv = make(f);
    feed(pd_provider_processor(pv), 9, 2);
    pd_processor *p0 = pd_provider_processor(pv);
    pd_engine *e0 = pd_processor_engine(p0);
    uint32_t n0 = pd_engine_goal_count(e0);
    pd_engine_stats s0;
    pd_engine_stats_get(e0, &s0);

    /* an unknown key on line 3 of the appended goal */
    write_file(f->goals, f->base_goals, f->base_len,
               "  - id: broken\n    title: Broken\n    kind: coverage\n    colour: red\n"
               "    controls:\n      - category: edr\n    target: \">= 90%\"\n");
    /* through the HTTP server's reload entry point (SIGHUP and POST use it) */
    struct event_base *base = event_base_new();
    pd_http_provider hp;
    pd_provider_http(pv, &hp);
    pd_http_config cfg = {.listen = "127.0.0.1:0", .token = NULL};
    pd_http *h = NULL;
    assert_int_equal(pd_http_create(base, &cfg, &hp, NULL, &h), 0);
    pd_buf out;
    pd_buf_init(&out);
    int rc = pd_http_reload(h, "test", &out);
    assert_int_equal(rc, PD_ECONFIG);
    assert_non_null(strstr(pd_buf_cstr(&out), "\"reloaded\":false"));
    /* "<file>:<line>:<column>: message" */
    regex_t re;
    char pat[700];
    snprintf(pat, sizeof(pat), "\"error\":\"%s:[0-9]+:[0-9]+: ", f->goals);
    assert_int_equal(regcomp(&re, pat, REG_EXTENDED), 0);
    if (regexec(&re, pd_buf_cstr(&out), 0, NULL, 0) != 0)
        fail_msg("no file:line:column in %s", pd_buf_cstr(&out));
    regfree(&re);
    assert_int_equal(f->swaps, 0);
    /* the old set keeps working */
    assert_ptr_equal(pd_provider_processor(pv), p0);
    assert_int_equal(pd_engine_goal_count(e0), n0);
    feed(p0, 10, 1);
    pd_engine_stats s1;
    pd_engine_stats_get(e0, &s1);
    assert_true(s1.events > s0.events);
    pd_buf_reset(&out);
    assert_int_equal(pd_provider_goals_json(pv, &out), 0);
    assert_null(strstr(pd_buf_cstr(&out), "\"broken\""));

    /* and a later valid file is accepted */
    write_file(f->goals, f->base_goals, f->base_len, NEW_GOALS);
    pd_buf_reset(&out);
    assert_int_equal(pd_http_reload(h, "test", &out), 0);
    assert_int_equal(f->swaps, 1);
    pd_buf_free(&out);
    pd_http_destroy(h);
    event_base_free(base);
    pd_provider_destroy(pv);
}

/* Pipeline mode: the pipeline file is re-read. Same goals (a rules-only change): the state
 * engine's image carries everything; a broken pipeline is refused with its position. */
static void test_pipeline_reload(void **state)
{
    fx *f = *state;
    char pl_path[600], ctl[1024], text[4096];
    snprintf(pl_path, sizeof(pl_path), "%s/p.yaml", f->dir);
    pd_test_src_path("pipelines/controls.yaml", ctl, sizeof(ctl));
    snprintf(text, sizeof(text),
             "pipeline:\n  name: reload-test\n  goals: [%s]\n  rules: [%s]\n  controls: %s\n"
             "  inputs:\n    - {topic: in, format: auto}\n",
             f->goals, f->rules, ctl);
    write_file(pl_path, text, strlen(text), NULL);
    pd_diag d = {{0}};
    pd_pipeline *pl = NULL;
    if (pd_pipeline_load(pl_path, &pl, &d))
        fail_msg("pipeline: %s", d.msg);
    pd_provider_opts o;
    memset(&o, 0, sizeof(o));
    o.proc.pipeline = pl;
    o.proc.on_signal = on_sig;
    o.proc.signal_ctx = f;
    o.on_swap = on_swap;
    o.swap_ctx = f;
    pd_provider *pv = NULL;
    if (pd_provider_create(&o, &pv, &d))
        fail_msg("provider: %s", d.msg);
    feed(pd_provider_processor(pv), 3, 3);
    pd_engine *e0 = pd_processor_engine(pd_provider_processor(pv));
    pd_engine_stats s0;
    pd_engine_stats_get(e0, &s0);
    uint32_t n0 = pd_engine_goal_count(e0);
    pd_goal_status before[16];
    char ids[16][64];
    for (uint32_t i = 0; i < n0 && i < 16; i++) {
        pd_engine_goal_status(e0, i, &before[i]);
        snprintf(ids[i], sizeof(ids[i]), "%s", before[i].goal->id);
    }
    pd_buf out;
    pd_buf_init(&out);
    assert_int_equal(pd_provider_reload(pv, &out), 0);
    assert_non_null(strstr(pd_buf_cstr(&out), "\"carried\":\"image\""));
    pd_engine *e1 = pd_processor_engine(pd_provider_processor(pv));
    pd_engine_stats s1;
    pd_engine_stats_get(e1, &s1);
    assert_int_equal(s1.pairs, s0.pairs);
    assert_int_equal(s1.resources, s0.resources);
    for (uint32_t i = 0; i < n0 && i < 16; i++) {
        pd_goal_status st;
        assert_true(goal_value(e1, ids[i], &st));
        same_status(&before[i], &st);
    }
    /* broken pipeline: refused, the running one stays */
    const char *bad = "pipeline:\n  name: reload-test\n  inputs: 7\n";
    write_file(pl_path, bad, strlen(bad), NULL);
    pd_buf_reset(&out);
    assert_int_equal(pd_provider_reload(pv, &out), PD_ECONFIG);
    char want[700];
    snprintf(want, sizeof(want), "\"error\":\"%s:", pl_path);
    assert_non_null(strstr(pd_buf_cstr(&out), want));
    assert_ptr_equal(pd_processor_engine(pd_provider_processor(pv)), e1);
    assert_int_equal(f->swaps, 1);
    pd_buf_free(&out);
    pd_provider_destroy(pv);
    pd_pipeline_destroy(pl);
    unlink(pl_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_reload_keeps_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_reload_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_reload, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
