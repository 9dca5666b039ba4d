/* test_kafka_roundtrip.c: against the real broker started by the harness (broker.sh):
 * 10,000 messages produced and consumed back through pd_kafka, each exactly once. */
#include "pd_test.h"

#include "pd_ktest.h"

static void test_roundtrip_10k(void **state)
{
    (void)state;
    const char *bootstrap = pd_ktest_bootstrap();
    if (!bootstrap)
        fail_msg("PD_KAFKA_BOOTSTRAP is not set: run through 'ctest -L kafka' (broker.sh exec)");
    char topic[96];
    pd_ktest_unique(topic, sizeof(topic), "pd-roundtrip");

    pd_kafka_conf *conf = NULL;
    assert_int_equal(pd_kafka_conf_new(&conf), 0);
    assert_int_equal(pd_kafka_conf_set(conf, "bootstrap.servers", bootstrap), 0);

    /* a topic with several partitions, created through the Admin API */
    char e[256];
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "bootstrap.servers", bootstrap, e, sizeof(e));
    rd_kafka_t *admin = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    assert_non_null(admin);
    assert_int_equal(pd_ktest_create_topic(admin, topic, 4, 20000), 0);
    rd_kafka_destroy(admin);

    pd_ktest_rt rt = {.base = event_base_new(), .n = 10000};
    rt.seen = calloc(rt.n, sizeof(*rt.seen));
    assert_int_equal(pd_ktest_produce_all(&rt, conf, topic, 60), 0);
    assert_int_equal(rt.delivered, 10000);
    assert_int_equal(rt.failed, 0);
    assert_int_equal(pd_ktest_consume_all(&rt, conf, topic, 90), 0);
    assert_false(rt.timed_out);
    assert_int_equal(rt.foreign, 0);
    assert_int_equal(rt.dups, 0);
    assert_int_equal(rt.unique, 10000);
    for (uint32_t i = 0; i < rt.n; i++)
        if (rt.seen[i] != 1)
            fail_msg("message %u arrived %u times", i, rt.seen[i]);
    free(rt.seen);
    event_base_free(rt.base);
    pd_kafka_conf_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_10k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
