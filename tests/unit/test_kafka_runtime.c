/* test_kafka_runtime.c: the streaming runtime on librdkafka's mock cluster with a stand-in
 * processor: outputs of every input, dead letters with their headers, commits only of what
 * was delivered, backpressure, injected produce errors, a broker outage, and the warm start
 * that rebuilds state below the committed offsets without repeating outputs. */
#include "pd_test.h"

#include "../kafka/pd_ktest.h"
#include "pd_log.h"
#include "pd_runtime.h"

#include <librdkafka/rdkafka_mock.h>

/* The stand-in processor: "ok:<idx>:<n>" emits n drift signals about resource res-<idx%50>;
 * anything else is a decode error. Its "state" is how many messages it has seen. */
typedef struct fake fake;
struct fake {
    void (*on_fed)(fake *f); /* test hook after each message */
    void *hook_ctx;
    uint32_t fed, warm_fed, live_fed;
    uint64_t state; /* sum of idx over every message seen: rebuilt by the warm start */
};

static int fake_feed(void *ctx, pd_runtime *rt, const char *msg, size_t len, pd_format fmt,
                     pd_str source)
{
    fake *f = ctx;
    char buf[64];
    unsigned idx = 0, n = 0;
    (void)fmt;
    (void)source;
    f->fed++;
    if (f->on_fed)
        f->on_fed(f);
    if (pd_runtime_warming(rt))
        f->warm_fed++;
    else
        f->live_fed++;
    len = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    if (sscanf(buf, "ok:%u:%u", &idx, &n) != 2)
        return pd_runtime_dead_letter(rt, "syntax", "not an ok message", 3, NULL, 0);
    f->state += idx;
    for (unsigned j = 0; j < n; j++) {
        char res[32];
        int rl = snprintf(res, sizeof(res), "res-%u", idx % 50);
        pd_signal_resource r = {.id = {res, (uint32_t)rl}, .cloud = PD_CLOUD_AZURE};
        pd_signal s = {.kind = PD_SIGNAL_DRIFT, .type = "control.regressed", .time_ms = 1000};
        snprintf(s.id, sizeof(s.id), "%032x", idx * 16 + j);
        s.resources = &r;
        s.nresources = 1;
        int rc = pd_runtime_signal(rt, &s);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct mock {
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *mc;
    pd_kafka_conf *conf, *cconf; /* producer, consumer settings */
} mock;

static void mock_start(mock *m, int brokers)
{
    char e[256];
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "log_level", "0", e, sizeof(e));
    m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    assert_non_null(m->owner);
    m->mc = rd_kafka_mock_cluster_new(m->owner, brokers);
    assert_non_null(m->mc);
    assert_int_equal(rd_kafka_mock_topic_create(m->mc, "in", 3, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(m->mc, "drift", 2, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(m->mc, "dlq", 1, 1), 0);
    assert_int_equal(pd_kafka_conf_new(&m->conf), 0);
    pd_kafka_conf_set(m->conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(m->mc));
    pd_kafka_conf_set(m->conf, "log_level", "2"); /* broker-down noise stays out of the log */
    pd_kafka_conf_set(m->conf, "reconnect.backoff.max.ms", "500");
    /* the mock coordinator waits a whole session timeout for members that left */
    pd_kafka_conf_copy(m->conf, &m->cconf);
    pd_kafka_conf_set(m->cconf, "session.timeout.ms", "6000");
    pd_kafka_conf_set(m->cconf, "heartbeat.interval.ms", "500");
}

static void mock_stop(mock *m)
{
    pd_kafka_conf_destroy(m->conf);
    pd_kafka_conf_destroy(m->cconf);
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->owner);
}

/* Produces inputs [from, to): every 10th is malformed; others emit idx % 3 signals. */
static void produce_inputs(mock *m, uint32_t from, uint32_t to)
{
    char e[256];
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(m->mc), e,
                      sizeof(e));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    assert_non_null(p);
    for (uint32_t i = from; i < to; i++) {
        char v[64], k[16];
        int vl = i % 10 == 9 ? snprintf(v, sizeof(v), "{bad json %u", i)
                             : snprintf(v, sizeof(v), "ok:%u:%u", i, i % 3);
        int kl = snprintf(k, sizeof(k), "res-%u", i % 50);
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, "origin", -1, "test", -1);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_KEY(k, (size_t)kl),
                                           RD_KAFKA_V_VALUE(v, (size_t)vl),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
                         0);
    }
    assert_int_equal(rd_kafka_flush(p, 20000), 0);
    rd_kafka_destroy(p);
}

static uint32_t expected_signals(uint32_t from, uint32_t to)
{
    uint32_t n = 0;
    for (uint32_t i = from; i < to; i++)
        if (i % 10 != 9)
            n += i % 3;
    return n;
}

typedef struct run_cfg {
    uint32_t max_in_flight;
    bool warm;
    void (*during)(mock *m, struct event_base *base); /* arms faults */
} run_cfg;

typedef struct run_out {
    pd_runtime_stats st;
    int finish_rc;
} run_out;

static void on_sigterm_like(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pd_runtime_stop(arg);
}

/* Runs the runtime over "in" until it has been idle for a while, then the graceful stop. */
static void run_runtime(mock *m, fake *f, const run_cfg *cfg, run_out *out)
{
    struct event_base *base = event_base_new();
    pd_runtime_input in = {.topic = "in", .format = PD_FMT_AUTO};
    pd_runtime_opts o = {.base = base,
                         .consumer_conf = m->cconf,
                         .producer_conf = m->conf,
                         .group = "pd-runtime-test",
                         .inputs = &in,
                         .ninputs = 1,
                         .out_drift = "drift",
                         .out_breach = "drift",
                         .out_dead_letter = "dlq",
                         .max_in_flight = cfg->max_in_flight,
                         .commit_interval_ms = 200,
                         .exit_idle_ms = 1000,
                         .warm_start = cfg->warm,
                         .feed = fake_feed,
                         .feed_ctx = f};
    pd_runtime *rt = NULL;
    char err[512];
    assert_int_equal(pd_runtime_create(&o, &rt, err, sizeof(err)), 0);
    assert_int_equal(pd_runtime_start(rt), 0);
    if (cfg->during)
        cfg->during(m, base);
    /* a safety net: stop after 60 s whatever happens */
    struct event *guard = evtimer_new(base, on_sigterm_like, rt);
    struct timeval tv = {60, 0};
    evtimer_add(guard, &tv);
    event_base_dispatch(base);
    out->finish_rc = pd_runtime_finish(rt);
    pd_runtime_get_stats(rt, &out->st);
    event_free(guard);
    pd_runtime_destroy(rt);
    event_base_free(base);
}

/* What the output topics hold. */
typedef struct seen {
    uint32_t drift, dlq, dup_ids, bad_headers;
    uint8_t ids[4096 * 16];
} seen;

static void seen_drift(void *ctx, const rd_kafka_message_t *m)
{
    seen *s = ctx;
    char buf[1024];
    size_t len = m->len < sizeof(buf) - 1 ? m->len : sizeof(buf) - 1;
    memcpy(buf, m->payload, len);
    buf[len] = '\0';
    const char *p = strstr(buf, "\"id\":\"");
    assert_non_null(p);
    unsigned id = (unsigned)strtoul(p + 6, NULL, 16);
    assert_true(id < sizeof(s->ids));
    if (s->ids[id]++)
        s->dup_ids++;
    s->drift++;
}

static void seen_dlq(void *ctx, const rd_kafka_message_t *m)
{
    seen *s = ctx;
    char h[128], v[64];
    unsigned idx = 0;
    size_t len = m->len < sizeof(v) - 1 ? m->len : sizeof(v) - 1;
    memcpy(v, m->payload, len);
    v[len] = '\0';
    s->dlq++;
    /* original bytes and headers, plus the reason and the source */
    if (sscanf(v, "{bad json %u", &idx) != 1 || idx % 10 != 9)
        s->bad_headers++;
    if (strcmp(pd_ktest_header(m, "postured.reason", h, sizeof(h)), "syntax") ||
        strcmp(pd_ktest_header(m, "postured.error", h, sizeof(h)), "not an ok message") ||
        strcmp(pd_ktest_header(m, "postured.error.offset", h, sizeof(h)), "3") ||
        strcmp(pd_ktest_header(m, "postured.source.topic", h, sizeof(h)), "in") ||
        strcmp(pd_ktest_header(m, "origin", h, sizeof(h)), "test") ||
        !*pd_ktest_header(m, "postured.source.partition", h, sizeof(h)) ||
        !*pd_ktest_header(m, "postured.source.offset", h, sizeof(h)))
        s->bad_headers++;
    char key[16];
    snprintf(key, sizeof(key), "res-%u", idx % 50);
    if (m->key_len != strlen(key) || memcmp(m->key, key, m->key_len))
        s->bad_headers++;
}

/* The group's committed offsets summed over the input partitions. */
static int64_t committed_total(mock *m)
{
    char e[256];
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(m->mc), e,
                      sizeof(e));
    rd_kafka_conf_set(rc, "group.id", "pd-runtime-test", e, sizeof(e));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, rc, e, sizeof(e));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
    for (int p = 0; p < 3; p++)
        rd_kafka_topic_partition_list_add(l, "in", p);
    assert_int_equal(rd_kafka_committed(c, l, 10000), 0);
    int64_t sum = 0;
    for (int i = 0; i < l->cnt; i++)
        sum += l->elems[i].offset > 0 ? l->elems[i].offset : 0;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
    return sum;
}

static void check_outputs(mock *m, uint32_t ninputs)
{
    seen *s = calloc(1, sizeof(*s));
    pd_ktest_collect(m->cconf, "drift", 1000, 30, seen_drift, s);
    pd_ktest_collect(m->cconf, "dlq", 1000, 30, seen_dlq, s);
    assert_int_equal(s->drift, expected_signals(0, ninputs));
    assert_int_equal(s->dup_ids, 0);
    assert_int_equal(s->dlq, ninputs / 10);
    assert_int_equal(s->bad_headers, 0);
    free(s);
}

static void test_at_least_once_and_dead_letters(void **state)
{
    (void)state;
    mock m;
    mock_start(&m, 1);
    produce_inputs(&m, 0, 3000);
    fake f = {0};
    run_cfg cfg = {0};
    run_out out;
    run_runtime(&m, &f, &cfg, &out);
    assert_int_equal(out.finish_rc, 0);
    assert_int_equal(f.fed, 3000);
    assert_int_equal(out.st.messages, 3000);
    assert_int_equal(out.st.dead_letters, 300);
    assert_int_equal(out.st.signals, expected_signals(0, 3000));
    assert_int_equal(out.st.in_flight, 0);
    assert_true(out.st.commits > 0);
    assert_int_equal(committed_total(&m), 3000);
    check_outputs(&m, 3000);
    mock_stop(&m);
}

static void test_backpressure_bounds_in_flight(void **state)
{
    (void)state;
    mock m;
    mock_start(&m, 1);
    produce_inputs(&m, 0, 1000);
    rd_kafka_mock_broker_set_rtt(m.mc, 1, 3); /* slow acks: outputs pile up */
    fake f = {0};
    run_cfg cfg = {.max_in_flight = 200};
    run_out out;
    run_runtime(&m, &f, &cfg, &out);
    assert_int_equal(out.finish_rc, 0);
    assert_int_equal(f.fed, 1000);
    assert_true(out.st.pauses > 0);
    assert_true(out.st.resumes > 0);
    /* paused at the bound; only the rest of one drain's messages (budget) may add to it */
    assert_true(out.st.max_in_flight_seen <= 200 + 2 * 1000);
    assert_int_equal(committed_total(&m), 1000);
    check_outputs(&m, 1000);
    mock_stop(&m);
}

static void inject_produce_errors(mock *m, struct event_base *base)
{
    (void)base;
    rd_kafka_mock_push_request_errors(
        m->mc, 0 /* Produce */, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
}

static void test_request_errors_lose_nothing(void **state)
{
    (void)state;
    mock m;
    mock_start(&m, 1);
    produce_inputs(&m, 0, 1000);
    fake f = {0};
    run_cfg cfg = {.during = inject_produce_errors};
    run_out out;
    run_runtime(&m, &f, &cfg, &out);
    assert_int_equal(out.finish_rc, 0);
    assert_int_equal(committed_total(&m), 1000);
    check_outputs(&m, 1000);
    mock_stop(&m);
}

/* The broker goes down for 3 s in the middle of the stream, then comes back. */
typedef struct outage {
    mock *m;
    struct event_base *base;
    struct event *up;
    bool done;
} outage;
static outage g_outage;

static void broker_up(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rd_kafka_mock_broker_set_up(((outage *)arg)->m->mc, 1);
}

static void outage_hook(fake *f)
{
    outage *o = f->hook_ctx;
    if (o->done || f->fed != 1500)
        return;
    o->done = true;
    rd_kafka_mock_broker_set_down(o->m->mc, 1);
    o->up = evtimer_new(o->base, broker_up, o);
    struct timeval u = {3, 0};
    evtimer_add(o->up, &u);
}

static void arm_outage(mock *m, struct event_base *base)
{
    g_outage.m = m;
    g_outage.base = base;
}

static void test_broker_outage_loses_nothing(void **state)
{
    (void)state;
    mock m;
    mock_start(&m, 1);
    produce_inputs(&m, 0, 3000);
    fake f = {.on_fed = outage_hook, .hook_ctx = &g_outage};
    run_cfg cfg = {.during = arm_outage};
    run_out out;
    run_runtime(&m, &f, &cfg, &out);
    assert_true(g_outage.done);
    event_free(g_outage.up);
    assert_int_equal(out.finish_rc, 0);
    assert_true(f.fed >= 3000);
    assert_int_equal(committed_total(&m), 3000);
    check_outputs(&m, 3000);
    mock_stop(&m);
}

static void test_warm_start_rebuilds_state(void **state)
{
    (void)state;
    mock m;
    mock_start(&m, 1);
    produce_inputs(&m, 0, 1000);
    fake f1 = {0};
    run_cfg cfg = {.warm = true};
    run_out out;
    run_runtime(&m, &f1, &cfg, &out);
    assert_int_equal(out.finish_rc, 0);
    assert_int_equal(f1.live_fed, 1000);
    assert_int_equal(f1.warm_fed, 0);
    assert_int_equal(committed_total(&m), 1000);

    /* restart after more input: state rebuilt from the first 1000, outputs only for new */
    produce_inputs(&m, 1000, 1500);
    fake f2 = {0};
    run_runtime(&m, &f2, &cfg, &out);
    assert_int_equal(out.finish_rc, 0);
    assert_int_equal(f2.warm_fed, 1000);
    assert_int_equal(f2.live_fed, 500);
    uint64_t all = 0;
    for (uint32_t i = 0; i < 1500; i++)
        if (i % 10 != 9)
            all += i;
    assert_int_equal(f2.state, all);
    assert_int_equal(out.st.suppressed, expected_signals(0, 1000));
    assert_int_equal(committed_total(&m), 1500);
    check_outputs(&m, 1500); /* each signal exactly once over both runs */
    mock_stop(&m);
}

int main(void)
{
    pd_log_set_level(PD_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_at_least_once_and_dead_letters),
        cmocka_unit_test(test_backpressure_bounds_in_flight),
        cmocka_unit_test(test_request_errors_lose_nothing),
        cmocka_unit_test(test_broker_outage_loses_nothing),
        cmocka_unit_test(test_warm_start_rebuilds_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
