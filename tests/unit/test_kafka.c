/* test_kafka.c: the librdkafka wrapper: configuration pass-through, secrets, the Event Hubs
 * connection string, and the libevent-driven clients on librdkafka's mock cluster. */
#include "pd_test.h"

#include "../kafka/pd_ktest.h"
#include "pd_kafka.h"

#include <librdkafka/rdkafka_mock.h>

static void test_conf_set_get(void **state)
{
    (void)state;
    pd_kafka_conf *c = NULL;
    assert_int_equal(pd_kafka_conf_new(&c), 0);
    assert_int_equal(pd_kafka_conf_set(c, "bootstrap.servers", "a:9092"), 0);
    assert_int_equal(pd_kafka_conf_set_prefixed(c, "kafka.linger.ms", "7"), 0);
    assert_int_equal(pd_kafka_conf_set_prefixed(c, "linger.ms", "7"), PD_EINVAL);
    assert_int_equal(pd_kafka_conf_set_prefixed(c, "kafka.", "7"), PD_EINVAL);
    assert_int_equal(pd_kafka_conf_set(c, "bootstrap.servers", "b:9092"), 0);
    assert_string_equal(pd_kafka_conf_get(c, "bootstrap.servers"), "b:9092");
    assert_string_equal(pd_kafka_conf_get(c, "linger.ms"), "7");
    assert_null(pd_kafka_conf_get(c, "acks"));
    assert_int_equal(pd_kafka_conf_count(c), 2);

    setenv("PD_TEST_KAFKA_SECRET", "s3cr3t-value", 1);
    assert_int_equal(
        pd_kafka_conf_set_prefixed(c, "kafka.sasl.password", "${PD_TEST_KAFKA_SECRET}"), 0);
    assert_string_equal(pd_kafka_conf_get(c, "sasl.password"), "s3cr3t-value");
    unsetenv("PD_TEST_KAFKA_NOPE");
    assert_int_equal(pd_kafka_conf_set(c, "sasl.username", "${PD_TEST_KAFKA_NOPE}"), PD_ENOTFOUND);

    pd_kafka_conf *copy = NULL;
    assert_int_equal(pd_kafka_conf_copy(c, &copy), 0);
    assert_int_equal(pd_kafka_conf_count(copy), 3);
    assert_string_equal(pd_kafka_conf_get(copy, "sasl.password"), "s3cr3t-value");
    pd_kafka_conf_destroy(copy);
    pd_kafka_conf_destroy(c);
    pd_kafka_conf_destroy(NULL);
}

static void test_conf_secrets_never_described(void **state)
{
    (void)state;
    assert_true(pd_kafka_conf_is_secret("sasl.password"));
    assert_true(pd_kafka_conf_is_secret("ssl.key.password"));
    assert_true(pd_kafka_conf_is_secret("ssl.keystore.password"));
    assert_true(pd_kafka_conf_is_secret("sasl.oauthbearer.client.secret"));
    assert_true(pd_kafka_conf_is_secret("ssl.key.pem"));
    assert_false(pd_kafka_conf_is_secret("ssl.key.location"));
    assert_false(pd_kafka_conf_is_secret("bootstrap.servers"));
    assert_false(pd_kafka_conf_is_secret("sasl.username"));

    pd_kafka_conf *c = NULL;
    assert_int_equal(pd_kafka_conf_new(&c), 0);
    pd_kafka_conf_set(c, "bootstrap.servers", "h:1");
    pd_kafka_conf_set(c, "sasl.password", "hunter2-topsecret");
    pd_kafka_conf_set(c, "ssl.key.password", "other-secret");
    pd_buf b;
    pd_buf_init(&b);
    pd_kafka_conf_describe(c, &b);
    const char *s = pd_buf_cstr(&b);
    assert_non_null(strstr(s, "bootstrap.servers=h:1"));
    assert_non_null(strstr(s, "sasl.password=***"));
    assert_null(strstr(s, "hunter2"));
    assert_null(strstr(s, "other-secret"));
    pd_buf_free(&b);
    pd_kafka_conf_destroy(c);
}

#define EH_CS                                                                                      \
    "Endpoint=sb://contoso-posture.servicebus.windows.net/;SharedAccessKeyName=listen;"            \
    "SharedAccessKey=AbCdEfGh0123456789+/=="

static void test_eventhubs_consumer(void **state)
{
    (void)state;
    pd_kafka_conf *c = NULL;
    char err[256] = "";
    assert_int_equal(pd_kafka_conf_new(&c), 0);
    assert_int_equal(pd_kafka_conf_eventhubs(c, EH_CS, PD_KAFKA_CONSUMER, err, sizeof(err)), 0);
    assert_string_equal(pd_kafka_conf_get(c, "bootstrap.servers"),
                        "contoso-posture.servicebus.windows.net:9093");
    assert_string_equal(pd_kafka_conf_get(c, "security.protocol"), "SASL_SSL");
    assert_string_equal(pd_kafka_conf_get(c, "sasl.mechanisms"), "PLAIN");
    assert_string_equal(pd_kafka_conf_get(c, "sasl.username"), "$ConnectionString");
    assert_string_equal(pd_kafka_conf_get(c, "sasl.password"), EH_CS);
    assert_string_equal(pd_kafka_conf_get(c, "socket.keepalive.enable"), "true");
    assert_string_equal(pd_kafka_conf_get(c, "metadata.max.age.ms"), "180000");
    assert_string_equal(pd_kafka_conf_get(c, "session.timeout.ms"), "30000");
    assert_null(pd_kafka_conf_get(c, "compression.type"));

    /* the key never shows in a description */
    pd_buf b;
    pd_buf_init(&b);
    pd_kafka_conf_describe(c, &b);
    assert_null(strstr(pd_buf_cstr(&b), "AbCdEfGh0123456789"));
    pd_buf_free(&b);

    /* librdkafka accepts every setting for a consumer */
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    char e[256];
    const char *keys[] = {"bootstrap.servers",       "security.protocol",  "sasl.mechanisms",
                          "sasl.username",           "sasl.password",      "session.timeout.ms",
                          "socket.keepalive.enable", "metadata.max.age.ms"};
    for (size_t i = 0; i < PD_ARRAY_LEN(keys); i++)
        assert_int_equal(
            rd_kafka_conf_set(rc, keys[i], pd_kafka_conf_get(c, keys[i]), e, sizeof(e)),
            RD_KAFKA_CONF_OK);
    rd_kafka_conf_destroy(rc);
    pd_kafka_conf_destroy(c);
}

static void test_eventhubs_producer_and_port(void **state)
{
    (void)state;
    pd_kafka_conf *c = NULL;
    char err[256] = "";
    assert_int_equal(pd_kafka_conf_new(&c), 0);
    assert_int_equal(pd_kafka_conf_eventhubs(c,
                                             "endpoint=sb://127.0.0.1:19093/;SharedAccessKeyName=k;"
                                             "SharedAccessKey=v;EntityPath=hub",
                                             PD_KAFKA_PRODUCER, err, sizeof(err)),
                     0);
    assert_string_equal(pd_kafka_conf_get(c, "bootstrap.servers"), "127.0.0.1:19093");
    assert_string_equal(pd_kafka_conf_get(c, "request.timeout.ms"), "60000");
    assert_string_equal(pd_kafka_conf_get(c, "compression.type"), "gzip");
    assert_null(pd_kafka_conf_get(c, "session.timeout.ms"));
    pd_kafka_conf_destroy(c);
}

static void test_eventhubs_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k",
        "Endpoint=https://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=SECRETX",
        "Endpoint=sb:///;SharedAccessKeyName=k;SharedAccessKey=SECRETX",
        "Endpoint=sb://ns/x/;SharedAccessKeyName=k;SharedAccessKey=SECRETX",
        "SharedAccessKeyName=k;SharedAccessKey=SECRETX",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=;SharedAccessKey=SECRETX",
    };
    for (size_t i = 0; i < PD_ARRAY_LEN(bad); i++) {
        pd_kafka_conf *c = NULL;
        char err[256] = "";
        assert_int_equal(pd_kafka_conf_new(&c), 0);
        assert_int_equal(pd_kafka_conf_eventhubs(c, bad[i], PD_KAFKA_CONSUMER, err, sizeof(err)),
                         PD_ECONFIG);
        assert_true(strlen(err) > 0);
        assert_null(strstr(err, "SECRETX"));
        assert_int_equal(pd_kafka_conf_count(c), 0);
        pd_kafka_conf_destroy(c);
    }
}

static void test_bad_property_named_not_valued(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    pd_kafka_conf *c = NULL;
    assert_int_equal(pd_kafka_conf_new(&c), 0);
    pd_kafka_conf_set(c, "sasl.password", "do-not-print-me");
    pd_kafka_conf_set(c, "no.such.property", "x");
    pd_kafka *k = NULL;
    char err[512] = "";
    pd_kafka_opts o = {.role = PD_KAFKA_PRODUCER, .conf = c, .base = base};
    assert_int_equal(pd_kafka_new(&o, &k, err, sizeof(err)), PD_ECONFIG);
    assert_null(k);
    assert_non_null(strstr(err, "no.such.property"));
    assert_null(strstr(err, "do-not-print-me"));
    pd_kafka_conf_destroy(c);
    event_base_free(base);
}

/* A mock cluster owned by a throwaway producer handle. */
typedef struct mock {
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *mc;
    pd_kafka_conf *conf;
} mock;

static void mock_start(mock *m, const char *topic, int partitions)
{
    char e[256];
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "log_level", "0", e, sizeof(e));
    m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    assert_non_null(m->owner);
    m->mc = rd_kafka_mock_cluster_new(m->owner, 1);
    assert_non_null(m->mc);
    assert_int_equal(rd_kafka_mock_topic_create(m->mc, topic, partitions, 1), 0);
    assert_int_equal(pd_kafka_conf_new(&m->conf), 0);
    pd_kafka_conf_set(m->conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(m->mc));
}

static void mock_stop(mock *m)
{
    pd_kafka_conf_destroy(m->conf);
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->owner);
}

static void test_roundtrip_on_mock(void **state)
{
    (void)state;
    mock m;
    mock_start(&m, "pd-rt", 3);
    pd_ktest_rt rt = {.base = event_base_new(), .n = 3000};
    rt.seen = calloc(rt.n, sizeof(*rt.seen));
    assert_int_equal(pd_ktest_produce_all(&rt, m.conf, "pd-rt", 30), 0);
    assert_int_equal(rt.delivered, rt.n);
    assert_int_equal(pd_ktest_consume_all(&rt, m.conf, "pd-rt", 30), 0);
    assert_false(rt.timed_out);
    assert_int_equal(rt.unique, rt.n);
    assert_int_equal(rt.dups, 0);
    assert_int_equal(rt.foreign, 0);
    for (uint32_t i = 0; i < rt.n; i++)
        assert_int_equal(rt.seen[i], 1);
    free(rt.seen);
    event_base_free(rt.base);
    mock_stop(&m);
}

/* Pausing stops delivery to the handler; resuming delivers the rest, nothing twice. */
typedef struct pr {
    pd_ktest_rt rt;
    pd_kafka *c;
    uint32_t at_pause, after_pause_window;
    int phase; /* 0 consuming, 1 paused, 2 resumed */
    struct event *t;
} pr;

static bool pr_message(void *ctx, pd_kafka *k, rd_kafka_message_t *msg)
{
    pr *p = ctx;
    pd_ktest_rt_message(&p->rt, k, msg);
    if (p->phase == 1)
        p->after_pause_window++;
    if (p->phase == 0 && p->rt.unique >= 500) {
        p->phase = 1;
        p->at_pause = p->rt.unique;
        assert_int_equal(pd_kafka_pause(k), 0);
        assert_true(pd_kafka_paused(k));
    }
    return false;
}

static void pr_timer(evutil_socket_t fd, short what, void *arg)
{
    pr *p = arg;
    (void)fd;
    (void)what;
    if (p->phase == 1) {
        /* one second paused: only what the current drain already held may have arrived */
        p->phase = 2;
        assert_int_equal(pd_kafka_resume(p->c), 0);
    }
}

static void test_pause_resume_on_mock(void **state)
{
    (void)state;
    mock m;
    mock_start(&m, "pd-pr", 2);
    pr p = {.rt = {.base = event_base_new(), .n = 4000}};
    p.rt.seen = calloc(p.rt.n, sizeof(*p.rt.seen));
    assert_int_equal(pd_ktest_produce_all(&p.rt, m.conf, "pd-pr", 30), 0);

    pd_kafka_conf *cc = NULL;
    pd_kafka_conf_copy(m.conf, &cc);
    pd_kafka_conf_set(cc, "group.id", "pd-pr-group");
    char err[256];
    pd_kafka_opts o = {.role = PD_KAFKA_CONSUMER, .conf = cc, .base = p.rt.base, .ctx = &p};
    o.h.message = pr_message;
    o.budget = 100;
    assert_int_equal(pd_kafka_new(&o, &p.c, err, sizeof(err)), 0);
    const char *topics[] = {"pd-pr"};
    assert_int_equal(pd_kafka_subscribe(p.c, topics, 1), 0);
    p.t = event_new(p.rt.base, -1, EV_PERSIST, pr_timer, &p);
    struct timeval tv = {1, 0};
    event_add(p.t, &tv);
    pd_ktest_run(&p.rt, 30);
    assert_false(p.rt.timed_out);
    assert_int_equal(p.phase, 2);
    /* paused: at most the rest of one drain budget got through */
    assert_true(p.after_pause_window <= 100);
    assert_int_equal(p.rt.unique, p.rt.n);
    assert_int_equal(p.rt.dups, 0);
    pd_kafka_stats st;
    pd_kafka_get_stats(p.c, &st);
    assert_true(st.wakes > 0);
    assert_true(st.budget_hits > 0);
    event_free(p.t);
    pd_kafka_close(p.c);
    pd_kafka_destroy(p.c);
    pd_kafka_conf_destroy(cc);
    if (p.rt.settle)
        event_free(p.rt.settle);
    free(p.rt.seen);
    event_base_free(p.rt.base);
    mock_stop(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_set_get),
        cmocka_unit_test(test_conf_secrets_never_described),
        cmocka_unit_test(test_eventhubs_consumer),
        cmocka_unit_test(test_eventhubs_producer_and_port),
        cmocka_unit_test(test_eventhubs_bad),
        cmocka_unit_test(test_bad_property_named_not_valued),
        cmocka_unit_test(test_roundtrip_on_mock),
        cmocka_unit_test(test_pause_resume_on_mock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
