/* pd_http: every endpoint over real HTTP on 127.0.0.1 (a libevent client on the same loop):
 * status codes, content types, JSON shapes, /metrics as Prometheus text, the token, reload
 * (valid, invalid, SIGHUP) through the fake provider. */
#include "pd_test.h"

#include "../dashboard/pd_fake_provider.h"
#include "../dashboard/pd_prom_parse.h"
#include "pd_http.h"
#include "pd_log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <unistd.h>

#define TOKEN "t0k3n-for-tests-7f3a9c"

typedef struct {
    struct event_base *base;
    pd_metrics *metrics;
    pd_http *http;
    fake_provider fp;
    FILE *log;
} fixture;

typedef struct {
    int code;
    char ctype[128], www_auth[128], allow[64], csp[256];
    char *body;
    size_t len;
} resp;

static void resp_free(resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void copy_header(struct evkeyvalq *h, const char *name, char *out, size_t n)
{
    const char *v = evhttp_find_header(h, name);
    snprintf(out, n, "%s", v ? v : "");
}

typedef struct {
    resp *r;
    struct event_base *base;
} req_ctx;

static void on_response(struct evhttp_request *req, void *arg)
{
    req_ctx *c = arg;
    resp *r = c->r;
    if (!req) {
        r->code = -1;
    } else {
        r->code = evhttp_request_get_response_code(req);
        struct evkeyvalq *h = evhttp_request_get_input_headers(req);
        copy_header(h, "Content-Type", r->ctype, sizeof(r->ctype));
        copy_header(h, "WWW-Authenticate", r->www_auth, sizeof(r->www_auth));
        copy_header(h, "Allow", r->allow, sizeof(r->allow));
        copy_header(h, "Content-Security-Policy", r->csp, sizeof(r->csp));
        struct evbuffer *b = evhttp_request_get_input_buffer(req);
        r->len = evbuffer_get_length(b);
        r->body = malloc(r->len + 1);
        evbuffer_remove(b, r->body, r->len);
        r->body[r->len] = '\0';
    }
    event_base_loopbreak(c->base);
}

/* One request; auth is the whole Authorization header value or NULL. */
static resp request(fixture *f, enum evhttp_cmd_type cmd, const char *path, const char *auth)
{
    resp r = {0};
    req_ctx c = {&r, f->base};
    struct evhttp_connection *conn =
        evhttp_connection_base_new(f->base, NULL, "127.0.0.1", pd_http_port(f->http));
    assert_non_null(conn);
    evhttp_connection_set_timeout(conn, 10);
    struct evhttp_request *req = evhttp_request_new(on_response, &c);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", "127.0.0.1");
    if (auth)
        evhttp_add_header(h, "Authorization", auth);
    assert_int_equal(evhttp_make_request(conn, req, cmd, path), 0);
    event_base_dispatch(f->base);
    evhttp_connection_free(conn);
    assert_int_not_equal(r.code, -1);
    return r;
}

static resp get(fixture *f, const char *path)
{
    return request(f, EVHTTP_REQ_GET, path, "Bearer " TOKEN);
}

static json_t *json_of(const resp *r)
{
    if (strcmp(r->ctype, "application/json; charset=utf-8") != 0)
        fail_msg("content type '%s' is not JSON (HTTP %d)", r->ctype, r->code);
    json_error_t err;
    json_t *j = json_loadb(r->body, r->len, 0, &err);
    if (!j)
        fail_msg("body is not JSON (%s): %s", err.text, r->body);
    return j;
}

static void start(fixture *f, const char *token)
{
    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(pd_metrics_create(&f->metrics), 0);
    fake_init(&f->fp);
    pd_http_provider prov = fake_provider_ops(&f->fp);
    pd_http_config cfg = {.listen = "127.0.0.1:0", .token = token};
    assert_int_equal(pd_http_create(f->base, &cfg, &prov, f->metrics, &f->http), 0);
    assert_true(pd_http_port(f->http) > 0);
}

static int setup_token(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->log = tmpfile();
    pd_log_set_fd(fileno(f->log));
    pd_log_set_level(PD_LOG_DEBUG);
    start(f, TOKEN);
    *state = f;
    return 0;
}

static int setup_open(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->log = tmpfile();
    pd_log_set_fd(fileno(f->log));
    start(f, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pd_http_destroy(f->http);
    pd_metrics_destroy(f->metrics);
    event_base_free(f->base);
    pd_log_set_fd(2);
    pd_log_clear_secrets();
    fclose(f->log);
    free(f);
    return 0;
}

static void test_healthz(void **state)
{
    fixture *f = *state;
    resp r = request(f, EVHTTP_REQ_GET, "/healthz", NULL); /* no token needed */
    assert_int_equal(r.code, 200);
    json_t *j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    resp_free(&r);
    r = request(f, EVHTTP_REQ_HEAD, "/healthz", NULL);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.len, 0);
    resp_free(&r);
    r = request(f, EVHTTP_REQ_POST, "/healthz", NULL);
    assert_int_equal(r.code, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    resp_free(&r);
}

static void test_token_enforced(void **state)
{
    fixture *f = *state;
    static const char *const paths[] = {
        "/readyz",     "/metrics",        "/v1/goals", "/v1/goals/mfa-admins",
        "/v1/signals", "/v1/resources/x", "/",         "/assets/app.js"};
    static const char *const wrong[] = {NULL, "Bearer nope", "Bearer " TOKEN "x", "Basic " TOKEN,
                                        "Bearer"};
    for (size_t i = 0; i < PD_ARRAY_LEN(paths); i++) {
        for (size_t k = 0; k < PD_ARRAY_LEN(wrong); k++) {
            resp r = request(f, EVHTTP_REQ_GET, paths[i], wrong[k]);
            if (r.code != 401)
                fail_msg("%s with '%s': HTTP %d, want 401", paths[i], wrong[k] ? wrong[k] : "",
                         r.code);
            assert_string_equal(r.www_auth, "Bearer realm=\"postured\"");
            json_t *j = json_of(&r);
            assert_true(json_is_string(json_object_get(j, "error")));
            json_decref(j);
            resp_free(&r);
        }
        resp r = get(f, paths[i]);
        assert_true(r.code == 200 || r.code == 404);
        if (strcmp(paths[i], "/v1/resources/x") != 0)
            assert_int_equal(r.code, 200);
        resp_free(&r);
    }
    /* the RFC 6750 query form, for browsers */
    resp r = request(f, EVHTTP_REQ_GET, "/v1/goals?access_token=" TOKEN, NULL);
    assert_int_equal(r.code, 200);
    resp_free(&r);
    r = request(f, EVHTTP_REQ_POST, "/v1/reload", NULL);
    assert_int_equal(r.code, 401);
    assert_int_equal(f->fp.reload_calls, 0);
    resp_free(&r);
    /* the token never reaches the log, though requests were logged at debug level */
    fflush(f->log);
    size_t n;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(f->log));
    char *logtext = pd_test_read_file(path, &n);
    assert_non_null(logtext);
    assert_non_null(strstr(logtext, "\"component\":\"http\""));
    assert_null(strstr(logtext, TOKEN));
    free(logtext);
}

static void test_readyz(void **state)
{
    fixture *f = *state;
    for (int ready = 1; ready >= 0; ready--) {
        f->fp.ready = ready;
        resp r = get(f, "/readyz");
        assert_int_equal(r.code, ready ? 200 : 503);
        json_t *j = json_of(&r);
        assert_true(json_is_boolean(json_object_get(j, "ready")));
        assert_int_equal(json_is_true(json_object_get(j, "ready")), ready);
        assert_true(json_is_object(json_object_get(j, "checks")));
        json_decref(j);
        resp_free(&r);
    }
}

static void test_metrics_endpoint(void **state)
{
    fixture *f = *state;
    pd_counter *c;
    assert_int_equal(pd_metrics_counter(f->metrics, PD_M_EVENTS_IN, "Events.",
                                        (const char *[]){"topic", "t1", "format", "ocsf", NULL},
                                        &c),
                     0);
    pd_counter_add(c, 12345);
    resp r = get(f, "/v1/goals"); /* one 2xx before */
    resp_free(&r);
    r = request(f, EVHTTP_REQ_GET, "/v1/goals", NULL); /* one 4xx before */
    resp_free(&r);
    r = get(f, "/metrics");
    assert_int_equal(r.code, 200);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    prom_doc d;
    if (prom_parse(r.body, &d) != 0)
        fail_msg("/metrics is not Prometheus text: %s\n%s", d.err, r.body);
    assert_true(prom_get(&d, PD_M_EVENTS_IN, "topic=\"t1\",format=\"ocsf\"", NULL) == 12345);
    /* rendered before this request was counted */
    assert_true(prom_get(&d, PD_M_HTTP_REQUESTS, "code=\"2xx\"", NULL) == 1);
    assert_true(prom_get(&d, PD_M_HTTP_REQUESTS, "code=\"4xx\"", NULL) == 1);
    assert_true(prom_get(&d, PD_M_RELOADS, "result=\"ok\"", NULL) == 0);
    prom_free(&d);
    resp_free(&r);
}

static void check_goal_json(json_t *g, const fake_goal *want)
{
    assert_true(json_is_object(g));
    assert_string_equal(json_string_value(json_object_get(g, "id")), want->id);
    assert_string_equal(json_string_value(json_object_get(g, "title")), want->title);
    assert_true(fabs(json_number_value(json_object_get(g, "value")) - want->value) < 1e-3);
    assert_true(json_is_string(json_object_get(g, "target")));
    assert_true(json_is_boolean(json_object_get(g, "met")));
    assert_int_equal(json_is_true(json_object_get(g, "met")), want->met);
    assert_int_equal(json_integer_value(json_object_get(g, "violating")), want->violating);
    json_t *trend = json_object_get(g, "trend");
    assert_true(json_is_array(trend));
    assert_int_equal(json_array_size(trend), FAKE_TREND_PTS);
    int64_t prev = INT64_MIN;
    size_t i;
    json_t *pt;
    json_array_foreach(trend, i, pt)
    {
        int64_t t;
        assert_int_equal(pd_time_parse(pd_str_c(json_string_value(json_object_get(pt, "t"))), &t),
                         0);
        assert_true(t > prev); /* oldest first */
        prev = t;
        assert_true(json_is_number(json_object_get(pt, "v")));
    }
}

static void test_goals(void **state)
{
    fixture *f = *state;
    resp r = get(f, "/v1/goals");
    assert_int_equal(r.code, 200);
    json_t *j = json_of(&r);
    json_t *goals = json_object_get(j, "goals");
    assert_true(json_is_array(goals));
    assert_int_equal(json_array_size(goals), f->fp.ngoals);
    for (size_t i = 0; i < f->fp.ngoals; i++)
        check_goal_json(json_array_get(goals, i), &f->fp.goals[i]);
    json_decref(j);
    resp_free(&r);
    /* the fixture must contain both states or the dashboard test proves less */
    bool any_met = false, any_unmet = false;
    for (size_t i = 0; i < f->fp.ngoals; i++) {
        any_met |= f->fp.goals[i].met;
        any_unmet |= !f->fp.goals[i].met;
    }
    assert_true(any_met && any_unmet);
}

static void test_goal_paging(void **state)
{
    fixture *f = *state;
    const fake_goal *g = NULL;
    for (size_t i = 0; i < f->fp.ngoals; i++)
        if (!g || f->fp.goals[i].violating > g->violating)
            g = &f->fp.goals[i];
    assert_true(g->violating > 10);
    uint32_t seen = 0;
    for (uint32_t off = 0; off < g->violating + 7; off += 7) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/goals/%s?offset=%u&limit=7", g->id, off);
        resp r = get(f, path);
        assert_int_equal(r.code, 200);
        json_t *j = json_of(&r);
        check_goal_json(json_object_get(j, "goal"), g);
        json_t *v = json_object_get(j, "violators");
        assert_int_equal(json_integer_value(json_object_get(v, "total")), g->violating);
        assert_int_equal(json_integer_value(json_object_get(v, "offset")), off);
        assert_int_equal(json_integer_value(json_object_get(v, "limit")), 7);
        json_t *items = json_object_get(v, "items");
        uint32_t want = off >= g->violating ? 0 : PD_MIN(7u, g->violating - off);
        assert_int_equal(json_array_size(items), want);
        for (size_t k = 0; k < json_array_size(items); k++) {
            char rid[200], name[64];
            const char *cloud;
            fake_violator(g, off + (uint32_t)k, rid, sizeof(rid), name, sizeof(name), &cloud);
            json_t *it = json_array_get(items, k);
            assert_string_equal(json_string_value(json_object_get(it, "id")), rid);
            assert_string_equal(json_string_value(json_object_get(it, "cloud")), cloud);
            seen++;
        }
        json_decref(j);
        resp_free(&r);
    }
    assert_int_equal(seen, g->violating);
    /* default page, limit cap, bad arguments, unknown and encoded ids */
    char path[160];
    snprintf(path, sizeof(path), "/v1/goals/%s?limit=99999999999", g->id);
    resp r = get(f, path);
    assert_int_equal(r.code, 400); /* more than 9 digits */
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/goals/%s?limit=5000", g->id);
    r = get(f, path);
    json_t *j = json_of(&r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "violators"), "limit")),
                     PD_HTTP_PAGE_MAX);
    json_decref(j);
    resp_free(&r);
    static const char *const bad[] = {"?limit=0", "?limit=-1", "?offset=x", "?limit=1e3"};
    for (size_t i = 0; i < PD_ARRAY_LEN(bad); i++) {
        snprintf(path, sizeof(path), "/v1/goals/%s%s", g->id, bad[i]);
        r = get(f, path);
        assert_int_equal(r.code, 400);
        resp_free(&r);
    }
    r = get(f, "/v1/goals/no-such-goal");
    assert_int_equal(r.code, 404);
    j = json_of(&r);
    assert_true(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    resp_free(&r);
    r = get(f, "/v1/goals/%6dfa-admins"); /* "m" percent-encoded */
    assert_int_equal(r.code, 200);
    resp_free(&r);
    r = get(f, "/v1/goals/bad%00id");
    assert_int_equal(r.code, 400);
    resp_free(&r);
}

static void test_resources(void **state)
{
    fixture *f = *state;
    const fake_goal *g = &f->fp.goals[0];
    assert_true(g->violating >= 2);
    char rid[200], name[64], path[400], enc_path[600];
    const char *cloud;
    fake_violator(g, 0, rid, sizeof(rid), name, sizeof(name), &cloud); /* an Azure id */
    assert_int_equal(rid[0], '/');
    char *enc = evhttp_uriencode(rid, -1, 0);
    snprintf(enc_path, sizeof(enc_path), "/v1/resources/%s", enc);
    free(enc);
    snprintf(path, sizeof(path), "/v1/resources/%s", rid); /* raw slashes work too */
    const char *const variants[] = {enc_path, path};
    for (size_t i = 0; i < 2; i++) {
        resp r = get(f, variants[i]);
        if (r.code != 200)
            fail_msg("%s: HTTP %d %s", variants[i], r.code, r.body);
        json_t *j = json_of(&r);
        assert_string_equal(json_string_value(json_object_get(j, "id")), rid);
        assert_string_equal(json_string_value(json_object_get(j, "cloud")), cloud);
        assert_true(json_is_array(json_object_get(j, "pairs")));
        assert_true(json_is_array(json_object_get(j, "open_findings")));
        assert_true(json_is_array(json_object_get(j, "recent_alerts")));
        json_t *goals = json_object_get(j, "goals");
        assert_string_equal(json_string_value(json_object_get(json_array_get(goals, 0), "id")),
                            g->id);
        json_decref(j);
        resp_free(&r);
    }
    resp r = get(f, "/v1/resources/arn%3Aaws%3Aec2%3Aeu-west-1%3A1%3Ainstance%2Fi-none");
    assert_int_equal(r.code, 404);
    resp_free(&r);
    r = get(f, "/v1/resources/");
    assert_int_equal(r.code, 400);
    resp_free(&r);
}

static void test_signals(void **state)
{
    fixture *f = *state;
    resp r = get(f, "/v1/signals");
    assert_int_equal(r.code, 200);
    json_t *j = json_of(&r);
    json_t *sigs = json_object_get(j, "signals");
    assert_true(json_array_size(sigs) >= 2);
    size_t i;
    json_t *s;
    regex_t hex;
    assert_int_equal(regcomp(&hex, "^[0-9a-f]{32}$", REG_EXTENDED | REG_NOSUB), 0);
    json_array_foreach(sigs, i, s)
    {
        const char *kind = json_string_value(json_object_get(s, "signal"));
        assert_true(!strcmp(kind, "drift") || !strcmp(kind, "breach"));
        assert_int_equal(regexec(&hex, json_string_value(json_object_get(s, "id")), 0, NULL, 0), 0);
        assert_true(json_is_string(json_object_get(s, "type")));
        assert_true(json_is_string(json_object_get(s, "time")));
    }
    regfree(&hex);
    json_decref(j);
    resp_free(&r);
    r = get(f, "/v1/signals?limit=1");
    j = json_of(&r);
    assert_int_equal(json_array_size(json_object_get(j, "signals")), 1);
    json_decref(j);
    resp_free(&r);
    r = get(f, "/v1/signals?limit=zero");
    assert_int_equal(r.code, 400);
    resp_free(&r);
}

static void test_reload(void **state)
{
    fixture *f = *state;
    double before = f->fp.goals[0].value;
    char keep_id[32];
    snprintf(keep_id, sizeof(keep_id), "%s", f->fp.goals[0].id);
    size_t old_n = f->fp.ngoals;

    /* invalid: refused with file:line:column, the old set keeps working */
    f->fp.pending = "mfa-admins 99 MFA\nbroken-line\n";
    resp r = request(f, EVHTTP_REQ_POST, "/v1/reload", "Bearer " TOKEN);
    assert_int_equal(r.code, 422);
    json_t *j = json_of(&r);
    assert_false(json_is_true(json_object_get(j, "reloaded")));
    regex_t loc;
    assert_int_equal(regcomp(&loc, "^[^:]+:[0-9]+:[0-9]+: ", REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regexec(&loc, json_string_value(json_object_get(j, "error")), 0, NULL, 0), 0);
    regfree(&loc);
    json_decref(j);
    resp_free(&r);
    assert_int_equal(f->fp.ngoals, old_n);
    r = get(f, "/v1/goals");
    j = json_of(&r);
    assert_int_equal(json_array_size(json_object_get(j, "goals")), old_n);
    json_decref(j);
    resp_free(&r);

    /* valid: new goals at once, a kept goal keeps its state */
    f->fp.pending = "mfa-admins 95 MFA for admins (relaxed)\nbackup-coverage 90 Backups on\n";
    r = request(f, EVHTTP_REQ_POST, "/v1/reload", "Bearer " TOKEN);
    assert_int_equal(r.code, 200);
    j = json_of(&r);
    assert_true(json_is_true(json_object_get(j, "reloaded")));
    json_decref(j);
    resp_free(&r);
    r = get(f, "/v1/goals");
    j = json_of(&r);
    json_t *goals = json_object_get(j, "goals");
    assert_int_equal(json_array_size(goals), 2);
    json_t *g0 = json_array_get(goals, 0);
    assert_string_equal(json_string_value(json_object_get(g0, "id")), keep_id);
    assert_true(json_number_value(json_object_get(g0, "value")) == before);
    assert_int_equal(json_is_true(json_object_get(g0, "met")), before >= 95);
    assert_string_equal(json_string_value(json_object_get(json_array_get(goals, 1), "id")),
                        "backup-coverage");
    json_decref(j);
    resp_free(&r);

    r = get(f, "/v1/reload");
    assert_int_equal(r.code, 405);
    assert_string_equal(r.allow, "POST");
    resp_free(&r);

    r = get(f, "/metrics");
    prom_doc d;
    assert_int_equal(prom_parse(r.body, &d), 0);
    assert_true(prom_get(&d, PD_M_RELOADS, "result=\"ok\"", NULL) == 1);
    assert_true(prom_get(&d, PD_M_RELOADS, "result=\"error\"", NULL) == 1);
    prom_free(&d);
    resp_free(&r);
}

static void test_reload_needs_token(void **state)
{
    fixture *f = *state; /* no token configured */
    f->fp.pending = "a 1 A\n";
    resp r = request(f, EVHTTP_REQ_POST, "/v1/reload", NULL);
    assert_int_equal(r.code, 403);
    resp_free(&r);
    assert_int_equal(f->fp.reload_calls, 0);
    r = request(f, EVHTTP_REQ_GET, "/v1/goals", NULL); /* reads are open without a token */
    assert_int_equal(r.code, 200);
    resp_free(&r);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void test_sighup(void **state)
{
    fixture *f = *state;
    assert_int_equal(pd_http_watch_sighup(f->http), 0);
    f->fp.pending = "edr-coverage 50 EDR everywhere\n";
    raise(SIGHUP); /* delivered to the loop, not to the default handler */
    struct event *t = evtimer_new(f->base, on_timeout, f->base);
    struct timeval tv = {0, 200 * 1000};
    evtimer_add(t, &tv);
    event_base_dispatch(f->base);
    event_free(t);
    assert_int_equal(f->fp.reload_calls, 1);
    assert_int_equal(f->fp.ngoals, 1);
    assert_string_equal(f->fp.goals[0].id, "edr-coverage");
    /* an invalid file by SIGHUP: refused, logged, old set kept */
    f->fp.pending = "edr-coverage 500 too high\n";
    raise(SIGHUP);
    t = evtimer_new(f->base, on_timeout, f->base);
    evtimer_add(t, &tv);
    event_base_dispatch(f->base);
    event_free(t);
    assert_int_equal(f->fp.reload_calls, 2);
    assert_int_equal(f->fp.ngoals, 1);
    assert_true(f->fp.goals[0].threshold == 50);
    fflush(f->log);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(f->log));
    char *logtext = pd_test_read_file(path, NULL);
    assert_non_null(strstr(logtext, "reload refused"));
    assert_non_null(strstr(logtext, "goals.txt:1:"));
    free(logtext);
}

static void test_dashboard_assets(void **state)
{
    fixture *f = *state;
    resp r = get(f, "/");
    assert_int_equal(r.code, 200);
    assert_string_equal(r.ctype, "text/html; charset=utf-8");
    assert_non_null(strstr(r.csp, "default-src 'self'"));
    /* every local asset the page references is served with a fitting type; nothing external */
    assert_null(strstr(r.body, "http://"));
    assert_null(strstr(r.body, "https://"));
    int found = 0;
    for (const char *p = r.body; (p = strstr(p, "\"/assets/")); p++) {
        char ref[128];
        const char *e = strchr(p + 1, '"');
        snprintf(ref, sizeof(ref), "%.*s", (int)(e - p - 1), p + 1);
        resp a = get(f, ref);
        assert_int_equal(a.code, 200);
        assert_true(a.len > 100);
        const char *ext = strrchr(ref, '.');
        assert_string_equal(a.ctype, !strcmp(ext, ".js") ? "text/javascript; charset=utf-8"
                                                         : "text/css; charset=utf-8");
        resp_free(&a);
        found++;
    }
    assert_int_equal(found, 2);
    resp_free(&r);
    r = get(f, "/index.html");
    assert_int_equal(r.code, 200);
    resp_free(&r);
    r = get(f, "/assets/missing.js");
    assert_int_equal(r.code, 404);
    resp_free(&r);
    r = request(f, EVHTTP_REQ_DELETE, "/v1/goals", "Bearer " TOKEN);
    assert_int_equal(r.code, 405);
    resp_free(&r);
}

static int fail_goals(void *ctx, pd_buf *out)
{
    (void)ctx;
    (void)out;
    return PD_EIO;
}

static void test_provider_gaps_and_errors(void **state)
{
    (void)state;
    fixture f = {0};
    f.base = event_base_new();
    pd_http_provider prov = {.goals = fail_goals}; /* everything else missing */
    pd_http_config cfg = {.listen = "127.0.0.1:0", .token = TOKEN};
    assert_int_equal(pd_http_create(f.base, &cfg, &prov, NULL, &f.http), 0);
    resp r = get(&f, "/v1/goals");
    assert_int_equal(r.code, 500);
    resp_free(&r);
    static const char *const missing[] = {"/v1/goals/x", "/v1/resources/x", "/v1/signals"};
    for (size_t i = 0; i < PD_ARRAY_LEN(missing); i++) {
        r = get(&f, missing[i]);
        assert_int_equal(r.code, 501);
        resp_free(&r);
    }
    r = request(&f, EVHTTP_REQ_POST, "/v1/reload", "Bearer " TOKEN);
    assert_int_equal(r.code, 501);
    resp_free(&r);
    r = get(&f, "/readyz"); /* no ready callback: ready */
    assert_int_equal(r.code, 200);
    resp_free(&r);
    r = get(&f, "/metrics"); /* no registry: empty but valid */
    assert_int_equal(r.code, 200);
    assert_int_equal(r.len, 0);
    resp_free(&r);
    /* the same port twice cannot be bound */
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", pd_http_port(f.http));
    pd_http *h2 = NULL;
    pd_http_config cfg2 = {.listen = listen};
    assert_int_equal(pd_http_create(f.base, &cfg2, &prov, NULL, &h2), PD_EIO);
    assert_null(h2);
    pd_http_destroy(f.http);
    pd_http_destroy(NULL);
    event_base_free(f.base);
    pd_log_clear_secrets();
}

static void test_parse_listen(void **state)
{
    (void)state;
    char host[64];
    uint16_t port;
    assert_int_equal(pd_http_parse_listen(PD_HTTP_DEFAULT_LISTEN, host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9464);
    assert_int_equal(pd_http_parse_listen("[::1]:80", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 80);
    assert_int_equal(pd_http_parse_listen(":9000", host, sizeof(host), &port), 0);
    assert_string_equal(host, "0.0.0.0");
    static const char *const bad[] = {"",       "host", "host:",  "host:99999",
                                      "::1:80", "h:8x", "[::1]80"};
    for (size_t i = 0; i < PD_ARRAY_LEN(bad); i++)
        if (pd_http_parse_listen(bad[i], host, sizeof(host), &port) != PD_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthz, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_token_enforced, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_readyz, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_endpoint, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_goals, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_goal_paging, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_resources, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_signals, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_reload_needs_token, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_sighup, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_assets, setup_token, teardown),
        cmocka_unit_test(test_provider_gaps_and_errors),
        cmocka_unit_test(test_parse_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
