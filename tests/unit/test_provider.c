/* pd_provider: a generated stream through the processor, the status API served by pd_http on
 * 127.0.0.1 (a libevent client on the same loop), every answer checked against the engine's
 * own status and posture queries (nothing hard-coded). */
#include "pd_test.h"

#include "pd_gen.h"
#include "pd_http.h"
#include "pd_provider.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <math.h>
#include <unistd.h>

typedef struct {
    struct event_base *base;
    pd_metrics *metrics;
    pd_provider *pv;
    pd_http *http;
    uint64_t signals;
    char breach_res[256], breach_alert[128]; /* the latest breach citing an alert */
} fixture;

typedef struct {
    int code;
    char *body;
    size_t len;
    struct event_base *base;
} resp;

static void on_response(struct evhttp_request *req, void *arg)
{
    resp *r = arg;
    if (!req) {
        r->code = -1;
    } else {
        r->code = evhttp_request_get_response_code(req);
        struct evbuffer *b = evhttp_request_get_input_buffer(req);
        r->len = evbuffer_get_length(b);
        r->body = malloc(r->len + 1);
        evbuffer_remove(b, r->body, r->len);
        r->body[r->len] = '\0';
    }
    event_base_loopbreak(r->base);
}

static resp get(fixture *f, const char *path)
{
    resp r = {0, NULL, 0, f->base};
    struct evhttp_connection *conn =
        evhttp_connection_base_new(f->base, NULL, "127.0.0.1", pd_http_port(f->http));
    assert_non_null(conn);
    evhttp_connection_set_timeout(conn, 10);
    struct evhttp_request *req = evhttp_request_new(on_response, &r);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_GET, path), 0);
    event_base_dispatch(f->base);
    evhttp_connection_free(conn);
    assert_int_not_equal(r.code, -1);
    return r;
}

static json_t *get_json(fixture *f, const char *path, int want_code)
{
    resp r = get(f, path);
    if (r.code != want_code)
        fail_msg("%s: HTTP %d, want %d: %s", path, r.code, want_code, r.body);
    json_error_t err;
    json_t *j = json_loadb(r.body, r.len, 0, &err);
    if (!j)
        fail_msg("%s: not JSON (%s): %s", path, err.text, r.body);
    free(r.body);
    return j;
}

static int on_sig(void *ctx, const pd_signal *s)
{
    fixture *f = ctx;
    f->signals++;
    if (s->kind != PD_SIGNAL_BREACH || !s->nresources)
        return 0;
    for (uint32_t i = 0; i < s->nevidence; i++) {
        const pd_evidence *e = &s->evidence[i];
        if (!e->kind || strcmp(e->kind, "alert") || !e->id.len || e->id.len >= 128)
            continue;
        pd_str r = s->resources[0].id;
        size_t n = r.len < 255 ? r.len : 255;
        for (size_t k = 0; k < n; k++)
            f->breach_res[k] = (char)((r.p[k] >= 'A' && r.p[k] <= 'Z') ? r.p[k] + 32 : r.p[k]);
        f->breach_res[n] = '\0';
        memcpy(f->breach_alert, e->id.p, e->id.len);
        f->breach_alert[e->id.len] = '\0';
        break;
    }
    return 0;
}

static void feed_gen(pd_processor *p, uint32_t servers, uint32_t days, uint64_t seed)
{
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = servers;
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
        pd_str src = meta.kind == PD_KIND_ALERT ? PD_STR_LIT("alerts") : PD_STR_LIT("assessments");
        assert_int_equal(pd_processor_feed(p, b.p, b.len, PD_FMT_AUTO, src), 0);
    }
    pd_buf_free(&b);
    pd_gen_destroy(g);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    static char gpath[1024], rpath[1024], slapath[64];
    static const char *goals[2], *rules[1];
    goals[0] = pd_test_src_path("tests/correlate/goals.yaml", gpath, sizeof(gpath));
    /* an SLA goal tight enough that the generated stream has findings past it */
    snprintf(slapath, sizeof(slapath), "/tmp/pd_prov_sla_XXXXXX");
    int fd = mkstemp(slapath);
    assert_true(fd >= 0);
    static const char sla[] = "goals:\n  - id: updates-sla\n    title: Updates within 6 hours\n"
                              "    kind: sla\n    controls:\n      - category: system_updates\n"
                              "    max_age: 6h\n    target: \"<= 0\"\n";
    assert_int_equal(write(fd, sla, sizeof(sla) - 1), (ssize_t)(sizeof(sla) - 1));
    close(fd);
    goals[1] = slapath;
    rules[0] = pd_test_src_path("pipelines/rules/builtin.yaml", rpath, sizeof(rpath));
    f->base = event_base_new();
    assert_int_equal(pd_metrics_create(&f->metrics), 0);
    pd_provider_opts o;
    memset(&o, 0, sizeof(o));
    o.proc.goal_files = goals;
    o.proc.ngoal_files = 2;
    o.proc.rule_files = rules;
    o.proc.nrule_files = 1;
    o.proc.on_signal = on_sig;
    o.proc.signal_ctx = f;
    o.metrics = f->metrics;
    pd_diag d = {{0}};
    if (pd_provider_create(&o, &f->pv, &d))
        fail_msg("provider: %s", d.msg);
    unlink(slapath);
    feed_gen(pd_provider_processor(f->pv), 300, 3, 7);
    pd_http_provider hp;
    pd_provider_http(f->pv, &hp);
    pd_http_config cfg = {.listen = "127.0.0.1:0", .token = NULL};
    assert_int_equal(pd_http_create(f->base, &cfg, &hp, f->metrics, &f->http), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pd_http_destroy(f->http);
    pd_provider_destroy(f->pv);
    pd_metrics_destroy(f->metrics);
    event_base_free(f->base);
    free(f);
    return 0;
}

static pd_engine *eng(fixture *f)
{
    return pd_processor_engine(pd_provider_processor(f->pv));
}

static void test_goals(void **state)
{
    fixture *f = *state;
    pd_engine *e = eng(f);
    json_t *j = get_json(f, "/v1/goals", 200);
    json_t *goals = json_object_get(j, "goals");
    assert_true(json_is_array(goals));
    assert_int_equal(json_array_size(goals), pd_engine_goal_count(e));
    assert_true(json_is_string(json_object_get(j, "generated_at")));
    uint32_t with_value = 0;
    for (uint32_t i = 0; i < pd_engine_goal_count(e); i++) {
        pd_goal_status st;
        pd_engine_goal_status(e, i, &st);
        json_t *g = json_array_get(goals, i);
        assert_string_equal(json_string_value(json_object_get(g, "id")), st.goal->id);
        assert_string_equal(json_string_value(json_object_get(g, "title")), st.goal->title);
        assert_string_equal(json_string_value(json_object_get(g, "target")), st.goal->target_text);
        assert_true(json_is_array(json_object_get(g, "trend")));
        assert_true(json_is_string(json_object_get(g, "unit")));
        assert_true(json_is_number(json_object_get(g, "threshold")));
        if (!st.has_value) {
            assert_true(json_is_null(json_object_get(g, "value")));
            continue;
        }
        with_value++;
        double v = json_number_value(json_object_get(g, "value"));
        assert_true(fabs(v - st.value) <= 1e-6 * (1 + fabs(st.value)));
        assert_int_equal(json_is_true(json_object_get(g, "met")), st.met);
        assert_int_equal(json_integer_value(json_object_get(g, "violating")), st.violators);
        assert_int_equal(json_integer_value(json_object_get(g, "population")), st.denominator);
        /* The trend was fed from the status callback: its last point is the current value. */
        json_t *tr = json_object_get(g, "trend");
        assert_true(json_array_size(tr) > 0);
        json_t *last = json_array_get(tr, json_array_size(tr) - 1);
        assert_true(fabs(json_number_value(json_object_get(last, "v")) - st.value) <
                    1e-6 * (1 + st.value));
    }
    assert_true(with_value > 0);
    json_decref(j);
}

typedef struct {
    const char *goal;
    bool found;
} vg_ctx;

static void on_vgoal(void *ctx, pd_str id, pd_str title)
{
    (void)title;
    vg_ctx *c = ctx;
    if (pd_str_eq(id, pd_str_c(c->goal)))
        c->found = true;
}

static void test_goal_paging(void **state)
{
    fixture *f = *state;
    pd_engine *e = eng(f);
    const pd_posture_ops *ops = pd_engine_posture_ops();
    uint32_t checked = 0;
    for (uint32_t gi = 0; gi < pd_engine_goal_count(e); gi++) {
        pd_goal_status st;
        pd_engine_goal_status(e, gi, &st);
        if (st.goal->kind != PD_GOAL_CONTROL && st.goal->kind != PD_GOAL_COVERAGE)
            continue;
        char path[256];
        const uint32_t limit = 7;
        uint64_t seen = 0;
        char prev[512] = "";
        for (uint32_t off = 0;; off += limit) {
            snprintf(path, sizeof(path), "/v1/goals/%s?offset=%u&limit=%u", st.goal->id, off,
                     limit);
            json_t *j = get_json(f, path, 200);
            json_t *vi = json_object_get(j, "violators");
            assert_int_equal(json_integer_value(json_object_get(vi, "total")), st.violators);
            assert_int_equal(json_integer_value(json_object_get(vi, "offset")), off);
            assert_int_equal(json_integer_value(json_object_get(vi, "limit")), limit);
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "goal"), "id")), st.goal->id);
            json_t *items = json_object_get(vi, "items");
            size_t n = json_array_size(items);
            assert_true(n <= limit);
            for (size_t k = 0; k < n; k++) {
                json_t *it = json_array_get(items, k);
                const char *id = json_string_value(json_object_get(it, "id"));
                assert_non_null(id);
                /* strictly increasing across pages: ordered and no repeats */
                assert_true(strcmp(prev, id) < 0);
                snprintf(prev, sizeof(prev), "%s", id);
                /* the engine's own posture query agrees that it violates the goal */
                vg_ctx c = {st.goal->id, false};
                ops->violated_goals(e, pd_str_c(id), on_vgoal, &c);
                assert_true(c.found);
                assert_true(json_is_string(json_object_get(it, "since")));
                seen++;
            }
            json_decref(j);
            if (n < limit)
                break;
        }
        assert_int_equal(seen, st.violators);
        if (st.violators)
            checked++;
    }
    assert_true(checked > 0);
    json_t *j = get_json(f, "/v1/goals/no-such-goal", 404);
    json_decref(j);
}

typedef struct {
    json_t *pairs;
    uint32_t i, unhealthy;
} fctx;

static void test_resource(void **state)
{
    fixture *f = *state;
    pd_engine *e = eng(f);
    const pd_posture_ops *ops = pd_engine_posture_ops();
    /* one violator of the first goal that has one */
    char rid[512] = "";
    for (uint32_t gi = 0; gi < pd_engine_goal_count(e) && !rid[0]; gi++) {
        pd_goal_status st;
        pd_engine_goal_status(e, gi, &st);
        if (!st.violators ||
            (st.goal->kind != PD_GOAL_CONTROL && st.goal->kind != PD_GOAL_COVERAGE))
            continue;
        char path[256];
        snprintf(path, sizeof(path), "/v1/goals/%s?offset=0&limit=1", st.goal->id);
        json_t *j = get_json(f, path, 200);
        json_t *it = json_array_get(json_object_get(json_object_get(j, "violators"), "items"), 0);
        snprintf(rid, sizeof(rid), "%s", json_string_value(json_object_get(it, "id")));
        json_decref(j);
    }
    assert_true(rid[0]);
    char *enc = evhttp_uriencode(rid, -1, 0);
    char path[1024];
    snprintf(path, sizeof(path), "/v1/resources/%s", enc);
    free(enc);
    json_t *j = get_json(f, path, 200);
    assert_string_equal(json_string_value(json_object_get(j, "id")), rid);
    json_t *pairs = json_object_get(j, "pairs");
    assert_true(json_array_size(pairs) > 0);
    uint32_t unhealthy = 0;
    for (size_t k = 0; k < json_array_size(pairs); k++) {
        json_t *p = json_array_get(pairs, k);
        const char *ctl = json_string_value(json_object_get(p, "control"));
        const char *status = json_string_value(json_object_get(p, "status"));
        pd_status s = ops->pair_status(e, pd_str_c(rid), pd_str_c(ctl));
        assert_string_equal(status, pd_status_name(s));
        if (s == PD_STATUS_UNHEALTHY)
            unhealthy++;
    }
    uint32_t nf = ops->open_findings(e, pd_str_c(rid), PD_SEV_UNKNOWN, NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "open_findings")), nf);
    assert_true(nf > 0);
    assert_true(unhealthy >= nf);
    uint32_t ng = ops->violated_goals(e, pd_str_c(rid), NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "goals")), ng);
    assert_true(ng > 0);
    assert_true(json_is_array(json_object_get(j, "recent_alerts")));
    json_decref(j);
    j = get_json(f, "/v1/resources/%2Fsubscriptions%2Fnope", 404);
    json_decref(j);
}

/* SLA goals count findings past their age; the list has one entry per resource with the
 * number of its findings past it: the sum is the goal's count. */
static void test_sla_violators(void **state)
{
    fixture *f = *state;
    pd_engine *e = eng(f);
    uint32_t gi;
    assert_int_equal(pd_engine_goal_find(e, PD_STR_LIT("updates-sla"), &gi), 0);
    pd_goal_status st;
    pd_engine_goal_status(e, gi, &st);
    assert_true(st.violators > 0);
    json_t *j = get_json(f, "/v1/goals/updates-sla?offset=0&limit=1000", 200);
    json_t *vi = json_object_get(j, "violators");
    json_t *items = json_object_get(vi, "items");
    assert_int_equal(json_integer_value(json_object_get(vi, "total")), json_array_size(items));
    uint64_t failing = 0;
    for (size_t k = 0; k < json_array_size(items); k++) {
        json_int_t n = json_integer_value(json_object_get(json_array_get(items, k), "failing"));
        assert_true(n > 0);
        failing += (uint64_t)n;
    }
    assert_int_equal(failing, st.violators);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "goal"), "violating")),
                     st.violators);
    json_decref(j);
}

static void test_resource_alerts(void **state)
{
    fixture *f = *state;
    if (!f->breach_res[0])
        fail_msg("the generated stream gave no breach signal citing an alert");
    char *enc = evhttp_uriencode(f->breach_res, -1, 0);
    char path[1024];
    snprintf(path, sizeof(path), "/v1/resources/%s", enc);
    free(enc);
    json_t *j = get_json(f, path, 200);
    json_t *al = json_object_get(j, "recent_alerts");
    bool found = false;
    for (size_t k = 0; k < json_array_size(al); k++) {
        json_t *a = json_array_get(al, k);
        assert_true(json_is_string(json_object_get(a, "time")));
        if (!strcmp(json_string_value(json_object_get(a, "id")), f->breach_alert))
            found = true;
    }
    if (!found)
        fail_msg("alert %s not among %s's recent alerts", f->breach_alert, f->breach_res);
    json_decref(j);
}

static void test_metrics_and_signals(void **state)
{
    fixture *f = *state;
    pd_engine *e = eng(f);
    resp r = get(f, "/metrics");
    assert_int_equal(r.code, 200);
    uint32_t found = 0;
    for (uint32_t gi = 0; gi < pd_engine_goal_count(e); gi++) {
        pd_goal_status st;
        pd_engine_goal_status(e, gi, &st);
        if (!st.has_value)
            continue;
        char key[256];
        snprintf(key, sizeof(key), "postured_goal_value{goal=\"%s\"} ", st.goal->id);
        const char *p = strstr(r.body, key);
        if (!p)
            fail_msg("no %s in /metrics", key);
        double v = strtod(p + strlen(key), NULL);
        assert_true(fabs(v - st.value) <= 1e-6 * (1 + fabs(st.value)));
        snprintf(key, sizeof(key), "postured_goal_met{goal=\"%s\"} ", st.goal->id);
        p = strstr(r.body, key);
        assert_non_null(p);
        assert_int_equal((int)strtod(p + strlen(key), NULL), st.met ? 1 : 0);
        found++;
    }
    assert_true(found > 0);
    pd_engine_stats es;
    pd_engine_stats_get(e, &es);
    const char *p = strstr(r.body, "postured_state_entries{kind=\"pairs\"} ");
    assert_non_null(p);
    assert_int_equal((uint64_t)strtod(p + strlen("postured_state_entries{kind=\"pairs\"} "), NULL),
                     es.pairs);
    free(r.body);

    assert_true(f->signals > 0);
    json_t *j = get_json(f, "/v1/signals?limit=5", 200);
    json_t *s = json_object_get(j, "signals");
    assert_int_equal(json_array_size(s), f->signals < 5 ? f->signals : 5);
    assert_true(json_is_string(json_object_get(json_array_get(s, 0), "type")));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goals),         cmocka_unit_test(test_goal_paging),
        cmocka_unit_test(test_resource),      cmocka_unit_test(test_resource_alerts),
        cmocka_unit_test(test_sla_violators), cmocka_unit_test(test_metrics_and_signals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
