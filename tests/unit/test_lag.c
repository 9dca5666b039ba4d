/* test_lag.c: consumer lag on librdkafka's mock cluster: N messages produced, K consumed,
 * the rendered /metrics text shows N - K for that partition (and the total), then 0 once
 * everything is consumed; partitions without a position have no sample; revoke forgets. */
#include "pd_test.h"

#include "pd_lag.h"
#include "pd_metrics.h"
#include "pd_runtime.h"

#include <event2/event.h>

#include <librdkafka/rdkafka_mock.h>
#include <time.h>
#include <unistd.h>

#define N 100
#define K 37

typedef struct mock {
    rd_kafka_t *owner, *consumer;
    rd_kafka_mock_cluster_t *mc;
} mock;

static void mock_start(mock *m)
{
    char e[256];
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "log_level", "0", e, sizeof(e));
    m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    assert_non_null(m->owner);
    m->mc = rd_kafka_mock_cluster_new(m->owner, 1);
    assert_non_null(m->mc);
    assert_int_equal(rd_kafka_mock_topic_create(m->mc, "in", 2, 1), 0);
    const char *bs = rd_kafka_mock_cluster_bootstraps(m->mc);

    rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "bootstrap.servers", bs, e, sizeof(e));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    assert_non_null(p);
    for (int i = 0; i < N; i++) {
        char v[32];
        int vl = snprintf(v, sizeof(v), "m%d", i);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE(v, (size_t)vl),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    }
    assert_int_equal(rd_kafka_flush(p, 20000), 0);
    rd_kafka_destroy(p);

    rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "bootstrap.servers", bs, e, sizeof(e));
    rd_kafka_conf_set(rc, "group.id", "lag-test", e, sizeof(e));
    rd_kafka_conf_set(rc, "enable.auto.commit", "false", e, sizeof(e));
    rd_kafka_conf_set(rc, "log_level", "2", e, sizeof(e));
    m->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, rc, e, sizeof(e));
    assert_non_null(m->consumer);
}

static void mock_stop(mock *m)
{
    rd_kafka_consumer_close(m->consumer);
    rd_kafka_destroy(m->consumer);
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->owner);
}

/* Consumes n messages of partition 0 (10 s at most). */
static void consume(mock *m, int n)
{
    time_t end = time(NULL) + 10;
    while (n > 0 && time(NULL) < end) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->consumer, 100);
        if (!msg)
            continue;
        if (!msg->err)
            n--;
        rd_kafka_message_destroy(msg);
    }
    assert_int_equal(n, 0);
}

/* Renders until `want` appears (5 s at most); the last text stays in out. */
static bool render_until(pd_metrics *reg, pd_buf *out, const char *want)
{
    for (int i = 0; i < 50; i++) {
        pd_buf_reset(out);
        assert_int_equal(pd_metrics_render(reg, out), 0);
        if (strstr(pd_buf_cstr(out), want))
            return true;
        usleep(100 * 1000);
    }
    return false;
}

static void test_lag_counts_down(void **state)
{
    (void)state;
    mock m;
    mock_start(&m);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "in", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(parts, "in", 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(m.consumer, parts), 0);

    pd_metrics *reg = NULL;
    pd_lag *lag = NULL;
    pd_buf out = {0};
    assert_int_equal(pd_metrics_create(&reg), 0);
    assert_int_equal(pd_lag_create(reg, &lag), 0);
    pd_lag_set_consumer(lag, m.consumer);
    assert_int_equal(pd_lag_assign(lag, parts), 0);
    assert_int_equal(pd_lag_assign(lag, parts), 0); /* again: no duplicates */

    consume(&m, K);
    char want[128];
    snprintf(want, sizeof(want), PD_M_CONSUMER_LAG "{topic=\"in\",partition=\"0\"} %d\n", N - K);
    assert_true(render_until(reg, &out, want));
    snprintf(want, sizeof(want), "\n" PD_M_CONSUMER_LAG_TOTAL " %d\n", N - K);
    assert_non_null(strstr(pd_buf_cstr(&out), want));
    assert_non_null(strstr(pd_buf_cstr(&out), "# TYPE " PD_M_CONSUMER_LAG " gauge\n"));
    /* partition 1: nothing consumed, no position: no sample */
    assert_null(strstr(pd_buf_cstr(&out), "partition=\"1\""));
    int64_t v = -1;
    assert_int_equal(pd_lag_get(lag, "in", 0, &v), 0);
    assert_int_equal(v, N - K);
    assert_int_equal(pd_lag_get(lag, "in", 1, &v), PD_ENOTFOUND);
    assert_int_equal(pd_lag_total(lag), N - K);

    consume(&m, N - K);
    assert_true(render_until(reg, &out, PD_M_CONSUMER_LAG "{topic=\"in\",partition=\"0\"} 0\n"));
    assert_non_null(strstr(pd_buf_cstr(&out), "\n" PD_M_CONSUMER_LAG_TOTAL " 0\n"));

    /* revoked partitions are forgotten */
    pd_lag_revoke(lag, parts);
    assert_int_equal(pd_lag_get(lag, "in", 0, &v), PD_ENOTFOUND);
    pd_buf_reset(&out);
    assert_int_equal(pd_metrics_render(reg, &out), 0);
    assert_null(strstr(pd_buf_cstr(&out), "partition=\"0\""));

    pd_lag_destroy(lag);
    /* the collector is gone with it */
    pd_buf_reset(&out);
    assert_int_equal(pd_metrics_render(reg, &out), 0);
    assert_null(strstr(pd_buf_cstr(&out), PD_M_CONSUMER_LAG));
    pd_buf_free(&out);
    pd_metrics_destroy(reg);
    rd_kafka_topic_partition_list_destroy(parts);
    mock_stop(&m);
}

static void test_lag_null(void **state)
{
    (void)state;
    pd_lag_destroy(NULL);
    pd_lag *lag = NULL;
    assert_int_equal(pd_lag_create(NULL, &lag), 0);
    pd_lag_update(lag); /* no consumer: nothing */
    assert_int_equal(pd_lag_total(lag), 0);
    pd_lag_destroy(lag);
}

static int count_feed(void *ctx, pd_runtime *rt, const char *msg, size_t len, pd_format fmt,
                      pd_str source)
{
    (void)rt;
    (void)msg;
    (void)len;
    (void)fmt;
    (void)source;
    (*(int *)ctx)++;
    return 0;
}

/* The runtime's wiring: with a registry, its assigned partitions get a lag sample. */
static void test_lag_runtime(void **state)
{
    (void)state;
    mock m;
    mock_start(&m);
    pd_kafka_conf *cc = NULL;
    assert_int_equal(pd_kafka_conf_new(&cc), 0);
    pd_kafka_conf_set(cc, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(m.mc));
    pd_kafka_conf_set(cc, "log_level", "2");
    pd_kafka_conf_set(cc, "session.timeout.ms", "6000");
    pd_kafka_conf_set(cc, "heartbeat.interval.ms", "500");
    pd_kafka_conf_set(cc, "auto.offset.reset", "earliest");
    pd_metrics *reg = NULL;
    assert_int_equal(pd_metrics_create(&reg), 0);
    struct event_base *base = event_base_new();
    pd_runtime_input in = {.topic = "in", .format = PD_FMT_AUTO};
    int fed = 0;
    pd_runtime_opts o = {.base = base,
                         .consumer_conf = cc,
                         .producer_conf = cc,
                         .group = "pd-lag-runtime",
                         .inputs = &in,
                         .ninputs = 1,
                         .exit_idle_ms = 1500,
                         .feed = count_feed,
                         .feed_ctx = &fed,
                         .metrics = reg};
    pd_runtime *rt = NULL;
    char err[512];
    assert_int_equal(pd_runtime_create(&o, &rt, err, sizeof(err)), 0);
    assert_int_equal(pd_runtime_start(rt), 0);
    event_base_dispatch(base); /* stops once idle */
    assert_int_equal(fed, N);
    pd_buf out = {0};
    assert_true(render_until(reg, &out, PD_M_CONSUMER_LAG "{topic=\"in\",partition=\"0\"} 0\n"));
    assert_non_null(strstr(pd_buf_cstr(&out), "\n" PD_M_CONSUMER_LAG_TOTAL " 0\n"));
    pd_runtime_finish(rt);
    pd_runtime_destroy(rt); /* removes its collector */
    pd_buf_reset(&out);
    assert_int_equal(pd_metrics_render(reg, &out), 0);
    assert_null(strstr(pd_buf_cstr(&out), PD_M_CONSUMER_LAG));
    pd_buf_free(&out);
    event_base_free(base);
    pd_metrics_destroy(reg);
    pd_kafka_conf_destroy(cc);
    mock_stop(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lag_null),
        cmocka_unit_test(test_lag_counts_down),
        cmocka_unit_test(test_lag_runtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
