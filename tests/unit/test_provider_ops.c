/* pd_ops: the operations side of `postured run` from a daemon config: the HTTP server on
 * http.listen with the token from http.token_env, /metrics with process, goal and sink series,
 * SIGHUP reloading through the provider, Kafka secrets redacted from logs, sink dead letters
 * logged without their payload. */
#include "pd_test.h"

#include "pd_config.h"
#include "pd_gen.h"
#include "pd_log.h"
#include "pd_provider.h"
#include "pd_sink.h"
#include "pd_yaml.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <unistd.h>

#define SECRET "pw-9f8e7d6c5b4a-secret"
#define TOKEN  "ops-token-5150-abcdef"

typedef struct {
    int code;
    char *body;
    size_t len;
    struct event_base *base;
} resp;

static void on_response(struct evhttp_request *req, void *arg)
{
    resp *r = arg;
    r->code = req ? evhttp_request_get_response_code(req) : -1;
    if (req) {
        struct evbuffer *b = evhttp_request_get_input_buffer(req);
        r->len = evbuffer_get_length(b);
        r->body = malloc(r->len + 1);
        evbuffer_remove(b, r->body, r->len);
        r->body[r->len] = '\0';
    }
    event_base_loopbreak(r->base);
}

static resp get(struct event_base *base, uint16_t port, const char *path, const char *auth)
{
    resp r = {0, NULL, 0, base};
    struct evhttp_connection *conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", port);
    assert_non_null(conn);
    evhttp_connection_set_timeout(conn, 10);
    struct evhttp_request *req = evhttp_request_new(on_response, &r);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    if (auth)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
    assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_GET, path), 0);
    event_base_dispatch(base);
    evhttp_connection_free(conn);
    assert_int_not_equal(r.code, -1);
    return r;
}

static double metric(const char *body, const char *series)
{
    char key[256];
    snprintf(key, sizeof(key), "\n%s ", series);
    const char *p = strstr(body, key);
    if (!p)
        fail_msg("no %s in /metrics", series);
    return strtod(p + strlen(key), NULL);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void test_ops(void **state)
{
    (void)state;
    char logpath[] = "/tmp/pd_ops_log_XXXXXX";
    int lfd = mkstemp(logpath);
    assert_true(lfd >= 0);
    pd_log_set_fd(lfd);
    setenv("PD_OPS_TEST_TOKEN", TOKEN, 1);

    static const char yaml[] = "http:\n  listen: 127.0.0.1:0\n  token_env: PD_OPS_TEST_TOKEN\n"
                               "kafka:\n  bootstrap.servers: broker:9092\n"
                               "  sasl.password: " SECRET "\n";
    pd_diag d = {{0}};
    pd_ydoc *doc = NULL;
    pd_config *cfg = NULL;
    assert_int_equal(pd_yaml_load_buf("ops.yaml", yaml, sizeof(yaml) - 1, &doc, &d), 0);
    assert_int_equal(pd_config_create(&cfg), 0);
    if (pd_config_apply_doc(cfg, doc, &d))
        fail_msg("config: %s", d.msg);

    /* a sink set with one file sink, so the sink series exist */
    char outpath[] = "/tmp/pd_ops_sink_XXXXXX";
    int ofd = mkstemp(outpath);
    assert_true(ofd >= 0);
    close(ofd);
    char sy[512];
    snprintf(sy, sizeof(sy), "sinks:\n  - {type: file, name: archive, path: %s}\n", outpath);
    pd_ydoc *sdoc = NULL;
    assert_int_equal(pd_yaml_load_buf("sinks.yaml", sy, strlen(sy), &sdoc, &d), 0);
    struct event_base *base = event_base_new();
    pd_sink_env env = {.base = base, .dead = pd_ops_sink_dead};
    pd_sink_set *sinks = NULL;
    if (pd_sink_set_load(&env, sdoc, pd_ymap_get(pd_yaml_root(sdoc), "sinks"), &sinks, &d))
        fail_msg("sinks: %s", d.msg);

    char gpath[1024];
    const char *goals[1] = {pd_test_src_path("tests/correlate/goals.yaml", gpath, sizeof(gpath))};
    pd_metrics *m = NULL;
    assert_int_equal(pd_metrics_create(&m), 0);
    pd_provider_opts po;
    memset(&po, 0, sizeof(po));
    po.proc.goal_files = goals;
    po.proc.ngoal_files = 1;
    po.proc.on_signal = pd_sink_set_signal;
    po.proc.signal_ctx = sinks;
    po.metrics = m;
    pd_provider *pv = NULL;
    if (pd_provider_create(&po, &pv, &d))
        fail_msg("provider: %s", d.msg);

    pd_ops_opts oo = {.base = base, .cfg = cfg, .provider = pv, .sinks = sinks};
    pd_ops *ops = NULL;
    if (pd_ops_create(&oo, m, &ops, &d))
        fail_msg("ops: %s", d.msg);
    uint16_t port = pd_http_port(pd_ops_http(ops));
    assert_true(port > 0);

    /* feed a small stream */
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = 60;
    go.days = 2;
    pd_gen *g = NULL;
    assert_int_equal(pd_gen_create(&go, &g, &d), 0);
    pd_buf b;
    pd_buf_init(&b);
    while (pd_buf_reset(&b), pd_gen_next(g, &b, NULL) == 0)
        assert_int_equal(
            pd_processor_feed(pd_provider_processor(pv), b.p, b.len, PD_FMT_AUTO, PD_STR_LIT("in")),
            0);
    pd_gen_destroy(g);
    pd_sink_set_flush(sinks);

    /* the token from token_env is enforced */
    resp r = get(base, port, "/metrics", NULL);
    assert_int_equal(r.code, 401);
    free(r.body);
    r = get(base, port, "/metrics", "Bearer " TOKEN);
    assert_int_equal(r.code, 200);
    assert_true(metric(r.body, "process_resident_memory_bytes") > 0);
    pd_sink_stats ss;
    pd_sink_get_stats(pd_sink_set_get(sinks, 0), &ss);
    assert_true(ss.delivered > 0);
    assert_int_equal((uint64_t)metric(r.body, "postured_sink_sent_total{sink=\"archive\"}"),
                     ss.delivered);
    pd_engine_stats es;
    pd_engine_stats_get(pd_processor_engine(pd_provider_processor(pv)), &es);
    assert_int_equal((uint64_t)metric(r.body, "postured_state_entries{kind=\"pairs\"}"), es.pairs);
    free(r.body);

    /* SIGHUP reloads through the provider: a new processor, the same pairs */
    pd_processor *before = pd_provider_processor(pv);
    raise(SIGHUP);
    struct timeval tv = {0, 200000};
    event_base_once(base, -1, EV_TIMEOUT, on_timeout, base, &tv);
    event_base_dispatch(base);
    assert_ptr_not_equal(pd_provider_processor(pv), before);
    pd_engine_stats es2;
    pd_engine_stats_get(pd_processor_engine(pd_provider_processor(pv)), &es2);
    assert_int_equal(es2.pairs, es.pairs);
    r = get(base, port, "/metrics", "Bearer " TOKEN);
    assert_int_equal((int)metric(r.body, "postured_reloads_total{result=\"ok\"}"), 1);
    free(r.body);

    /* a sink dead letter is logged with its reason, never its payload */
    pd_sink_dead dl = {.sink = "archive",
                       .key = "abc",
                       .reason = "queue full",
                       .payload = "PAYLOAD-MUST-NOT-APPEAR",
                       .len = 23,
                       .attempts = 1};
    pd_ops_sink_dead(NULL, &dl);
    /* a log line carrying the Kafka password */
    pd_log_info("test", "connecting with sasl.password=%s", SECRET);
    pd_log_set_fd(2);
    size_t n = 0;
    char *log = pd_test_read_file(logpath, &n);
    assert_non_null(log);
    assert_null(strstr(log, SECRET));
    assert_null(strstr(log, TOKEN));
    assert_null(strstr(log, "PAYLOAD-MUST-NOT-APPEAR"));
    assert_non_null(strstr(log, "queue full"));
    assert_non_null(strstr(log, "connecting with"));
    free(log);

    pd_buf_free(&b);
    pd_ops_destroy(ops);
    pd_provider_destroy(pv);
    pd_sink_set_destroy(sinks);
    pd_metrics_destroy(m);
    event_base_free(base);
    pd_yaml_free(sdoc);
    pd_yaml_free(doc);
    pd_config_destroy(cfg);
    close(lfd);
    unlink(logpath);
    unlink(outpath);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ops)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
