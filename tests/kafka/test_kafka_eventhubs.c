/* test_kafka_eventhubs.c: the Event Hubs path against the local broker's SASL_SSL listener
 * (PLAIN, user "$ConnectionString", password the connection string, a self-signed
 * certificate made by broker.sh with openssl). The client settings come only from the
 * connection string helper plus the test CA. A wrong key is refused, and the key never
 * appears in the logs. */
#include "pd_test.h"

#include "pd_ktest.h"
#include "pd_log.h"

static char g_cs[512];
static const char *g_ca;

static int setup(void **state)
{
    (void)state;
    const char *st = getenv("PD_KAFKA_STATE");
    g_ca = getenv("PD_KAFKA_SASL_CA");
    if (!st || !g_ca || !getenv("PD_KAFKA_SASL_BOOTSTRAP")) {
        fprintf(stderr, "PD_KAFKA_STATE / PD_KAFKA_SASL_* missing: run through ctest -L kafka\n");
        return -1;
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/sasl.password", st);
    char *cs = pd_test_read_file(path, NULL);
    if (!cs)
        return -1;
    cs[strcspn(cs, "\r\n")] = '\0';
    snprintf(g_cs, sizeof(g_cs), "%s", cs);
    free(cs);
    return 0;
}

static pd_kafka_conf *eh_conf(const char *cs, pd_kafka_role role)
{
    pd_kafka_conf *c = NULL;
    char err[256];
    assert_int_equal(pd_kafka_conf_new(&c), 0);
    assert_int_equal(pd_kafka_conf_eventhubs(c, cs, role, err, sizeof(err)), 0);
    assert_int_equal(pd_kafka_conf_set(c, "ssl.ca.location", g_ca), 0);
    return c;
}

static void test_roundtrip_over_sasl_ssl(void **state)
{
    (void)state;
    char logpath[] = "/tmp/pd-eh-log-XXXXXX";
    int fd = mkstemp(logpath);
    assert_true(fd >= 0);
    pd_log_set_fd(fd);
    pd_log_set_level(PD_LOG_DEBUG);

    pd_kafka_conf *pc = eh_conf(g_cs, PD_KAFKA_PRODUCER);
    pd_kafka_conf *cc = eh_conf(g_cs, PD_KAFKA_CONSUMER);
    /* the connection string's endpoint is the SASL_SSL listener */
    assert_string_equal(pd_kafka_conf_get(pc, "bootstrap.servers"),
                        getenv("PD_KAFKA_SASL_BOOTSTRAP"));
    assert_string_equal(pd_kafka_conf_get(pc, "compression.type"), "gzip");
    /* librdkafka's debug log of the handshake goes through pd_log */
    pd_kafka_conf_set(pc, "debug", "security,broker");

    char topic[96];
    pd_ktest_unique(topic, sizeof(topic), "pd-eventhubs");
    pd_ktest_rt rt = {.base = event_base_new(), .n = 2000};
    rt.seen = calloc(rt.n, sizeof(*rt.seen));
    assert_int_equal(pd_ktest_produce_all(&rt, pc, topic, 60), 0);
    assert_int_equal(rt.delivered, 2000);
    assert_int_equal(pd_ktest_consume_all(&rt, cc, topic, 90), 0);
    assert_false(rt.timed_out);
    assert_int_equal(rt.unique, 2000);
    assert_int_equal(rt.dups, 0);
    free(rt.seen);
    event_base_free(rt.base);
    pd_kafka_conf_destroy(pc);
    pd_kafka_conf_destroy(cc);

    pd_log_set_fd(2);
    pd_log_set_level(PD_LOG_INFO);
    size_t len = 0;
    char *log = pd_test_read_file(logpath, &len);
    close(fd);
    unlink(logpath);
    assert_non_null(log);
    assert_true(len > 0); /* the debug log was written... */
    const char *key = strstr(g_cs, "SharedAccessKey=");
    assert_non_null(key);
    key += strlen("SharedAccessKey=");
    assert_true(strlen(key) >= 16);
    assert_null(strstr(log, key)); /* ...without the key */
    free(log);
}

static bool g_auth_failed;

static void on_err(void *ctx, pd_kafka *k, rd_kafka_resp_err_t err, const char *reason, bool fatal)
{
    (void)ctx;
    (void)k;
    (void)fatal;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || strstr(reason, "uthentication"))
        g_auth_failed = true;
}

static void on_tick(void *ctx, pd_kafka *k)
{
    (void)k;
    if (g_auth_failed)
        event_base_loopbreak(ctx);
}

static void test_wrong_key_refused(void **state)
{
    (void)state;
    char bad[600];
    const char *key = strstr(g_cs, "SharedAccessKey=");
    assert_non_null(key);
    snprintf(bad, sizeof(bad), "%.*sSharedAccessKey=not-the-key-at-all", (int)(key - g_cs), g_cs);
    pd_kafka_conf *pc = eh_conf(bad, PD_KAFKA_PRODUCER);
    struct event_base *base = event_base_new();
    pd_kafka *p = NULL;
    char err[256];
    pd_kafka_opts o = {.role = PD_KAFKA_PRODUCER, .conf = pc, .base = base, .ctx = base};
    o.h.error = on_err;
    o.h.tick = on_tick;
    g_auth_failed = false;
    assert_int_equal(pd_kafka_new(&o, &p, err, sizeof(err)), 0);
    assert_int_equal(pd_kafka_produce(p, "pd-eventhubs-denied", RD_KAFKA_PARTITION_UA, NULL, 0, "x",
                                      1, NULL, NULL),
                     0);
    pd_ktest_rt rt = {.base = base};
    pd_ktest_run(&rt, 30);
    assert_true(g_auth_failed);
    pd_kafka_destroy(p);
    event_base_free(base);
    pd_kafka_conf_destroy(pc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_over_sasl_ssl),
        cmocka_unit_test(test_wrong_key_refused),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
