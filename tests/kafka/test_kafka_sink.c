/* test_kafka_sink.c: the `kafka` sink against the real broker (broker.sh): a sinks list with
 * a route filter and OCSF format; every routed signal arrives once, keyed by its id, with
 * the OCSF class; filtered signals do not arrive. Config errors name file:line:column. */
#include "pd_test.h"

#include "pd_ktest.h"
#include "pd_sink_kafka.h"
#include "test_sink_fixtures.h"

#include <stdint.h>

#define N_SIGNALS 20

typedef struct seen_ctx {
    char ids[N_SIGNALS][40];
    bool routed[N_SIGNALS];
    uint32_t count[N_SIGNALS];
    uint32_t foreign, bad_key, bad_class;
    char class_uid[N_SIGNALS][24];
} seen_ctx;

static void on_msg(void *ctx, const rd_kafka_message_t *m)
{
    seen_ctx *sc = ctx;
    char key[64];
    size_t kl = m->key_len < sizeof(key) - 1 ? m->key_len : sizeof(key) - 1;
    memcpy(key, m->key ? m->key : "", m->key ? kl : 0);
    key[m->key ? kl : 0] = '\0';
    for (int i = 0; i < N_SIGNALS; i++) {
        if (strcmp(sc->ids[i], key))
            continue;
        sc->count[i]++;
        /* the value is the OCSF finding: its uid is the key, its class the expected one */
        char *val = strndup(m->payload, m->len);
        char uid[80];
        snprintf(uid, sizeof(uid), "\"uid\":\"%s\"", key);
        if (!strstr(val, uid))
            sc->bad_key++;
        if (!strstr(val, sc->class_uid[i]))
            sc->bad_class++;
        free(val);
        return;
    }
    sc->foreign++;
}

static int dead_count;
static void on_dead(void *ctx, const pd_sink_dead *d)
{
    PD_UNUSED(ctx);
    fprintf(stderr, "dead letter %s: %s\n", d->key, d->reason);
    dead_count++;
}

static void test_kafka_sink_route_ocsf(void **state)
{
    (void)state;
    const char *bootstrap = pd_ktest_bootstrap();
    if (!bootstrap)
        fail_msg("PD_KAFKA_BOOTSTRAP is not set: run through 'ctest -L kafka' (broker.sh exec)");
    char topic[96];
    pd_ktest_unique(topic, sizeof(topic), "pd-sink");
    setenv("PD_TEST_SINK_LINGER", "5", 1);

    /* the daemon's producer settings reach the sink through the type context */
    pd_kafka_conf *daemon = NULL;
    assert_int_equal(pd_kafka_conf_new(&daemon), 0);
    assert_int_equal(pd_kafka_conf_set(daemon, "bootstrap.servers", bootstrap), 0);

    char yaml[1024];
    snprintf(
        yaml, sizeof(yaml),
        "sinks:\n"
        "  - name: siem\n"
        "    type: kafka\n"
        "    topic: %s\n"
        "    format: ocsf\n"
        "    kafka: {linger.ms: \"${PD_TEST_SINK_LINGER}\", topic.metadata.refresh.interval.ms: "
        "\"1000\"}\n"
        "    route: {kinds: [breach], min_severity: high}\n",
        topic);
    pd_ydoc *doc = NULL;
    pd_diag diag = {{0}};
    assert_int_equal(pd_yaml_load_buf("<sinks>", yaml, strlen(yaml), &doc, &diag), 0);
    struct event_base *base = event_base_new();
    pd_sink_type kt = {&pd_sink_kafka_ops, daemon};
    pd_sink_env env = {.base = base, .dead = on_dead, .types = &kt, .ntypes = 1};
    pd_sink_set *set = NULL;
    int rc = pd_sink_set_load(&env, doc, pd_ymap_get(pd_yaml_root(doc), "sinks"), &set, &diag);
    if (rc)
        fail_msg("%s", diag.msg);

    /* the topic exists before the first record (auto-creation would race the metadata) */
    char e[256];
    rd_kafka_conf_t *rkc = rd_kafka_conf_new();
    rd_kafka_conf_set(rkc, "bootstrap.servers", bootstrap, e, sizeof(e));
    rd_kafka_t *admin = rd_kafka_new(RD_KAFKA_PRODUCER, rkc, e, sizeof(e));
    assert_non_null(admin);
    assert_int_equal(pd_ktest_create_topic(admin, topic, 3, 20000), 0);
    rd_kafka_destroy(admin);

    seen_ctx sc;
    memset(&sc, 0, sizeof(sc));
    static const char *const goals[N_SIGNALS] = {"g0",  "g1",  "g2",  "g3",  "g4",  "g5",  "g6",
                                                 "g7",  "g8",  "g9",  "g10", "g11", "g12", "g13",
                                                 "g14", "g15", "g16", "g17", "g18", "g19"};
    static const char *const rules[] = {"lateral-spread", "alert-burst", "kill-chain-progression",
                                        "alert-on-weak-resource"};
    uint32_t nrouted = 0;
    for (int i = 0; i < N_SIGNALS; i++) {
        pd_signal s;
        if (i % 2 == 0) { /* breach: routed when high or critical */
            s = fx_breach(rules[(i / 2) % 4], (i / 2) % 3 == 0 ? PD_SEV_MEDIUM : PD_SEV_HIGH);
            pd_str parts[] = {pd_str_c(s.type), pd_str_c(goals[i])};
            pd_signal_make_id(s.id, parts, 2);
            sc.routed[i] = s.severity >= PD_SEV_HIGH;
            snprintf(sc.class_uid[i], sizeof(sc.class_uid[i]), "\"class_uid\":2004");
        } else { /* drift: never routed */
            s = fx_drift("control.regressed", PD_SEV_CRITICAL, goals[i]);
            snprintf(sc.class_uid[i], sizeof(sc.class_uid[i]), "\"class_uid\":2003");
        }
        snprintf(sc.ids[i], sizeof(sc.ids[i]), "%s", s.id);
        nrouted += sc.routed[i];
        assert_int_equal(pd_sink_set_signal(set, &s), 0);
    }
    assert_true(nrouted > 0 && nrouted < N_SIGNALS / 2);
    rc = pd_sink_set_drain(set, 15000);
    assert_int_equal(rc, 0);
    pd_sink_stats st;
    pd_sink_get_stats(pd_sink_set_find(set, "siem"), &st);
    assert_int_equal(st.accepted, nrouted);
    assert_int_equal(st.delivered, nrouted);
    assert_int_equal(st.filtered, N_SIGNALS - nrouted);
    assert_int_equal(st.pending, 0);
    assert_int_equal(dead_count, 0);
    pd_sink_set_destroy(set);
    pd_yaml_free(doc);

    uint64_t n = pd_ktest_collect(daemon, topic, 3000, 20, on_msg, &sc);
    assert_int_equal(n, nrouted);
    assert_int_equal(sc.foreign, 0);
    assert_int_equal(sc.bad_key, 0);
    assert_int_equal(sc.bad_class, 0);
    for (int i = 0; i < N_SIGNALS; i++)
        if (sc.count[i] != (sc.routed[i] ? 1u : 0u))
            fail_msg("signal %d (%s) arrived %u times, routed %d", i, sc.ids[i], sc.count[i],
                     sc.routed[i]);
    event_base_free(base);
    pd_kafka_conf_destroy(daemon);
}

static void test_kafka_sink_missing_topic(void **state)
{
    (void)state;
    static const char yaml[] = "sinks:\n"
                               "  - {type: stdout}\n"
                               "  - name: siem\n"
                               "    type: kafka\n"
                               "    brokers: localhost:1\n";
    pd_ydoc *doc = NULL;
    pd_diag diag = {{0}};
    assert_int_equal(pd_yaml_load_buf("sinks.yaml", yaml, sizeof(yaml) - 1, &doc, &diag), 0);
    const pd_ynode *list = pd_ymap_get(pd_yaml_root(doc), "sinks");
    /* validate's path: check only */
    assert_int_equal(pd_sink_set_check(&pd_sink_kafka_check_env, doc, list, &diag), PD_ECONFIG);
    assert_non_null(strstr(diag.msg, "sinks.yaml:3:"));
    assert_non_null(strstr(diag.msg, "topic"));
    /* run's path */
    struct event_base *base = event_base_new();
    pd_sink_type kt = {&pd_sink_kafka_ops, NULL};
    pd_sink_env env = {.base = base, .types = &kt, .ntypes = 1};
    pd_sink_set *set = NULL;
    memset(&diag, 0, sizeof(diag));
    assert_int_equal(pd_sink_set_load(&env, doc, list, &set, &diag), PD_ECONFIG);
    assert_null(set);
    assert_non_null(strstr(diag.msg, "sinks.yaml:3:"));
    /* an unknown key is an error at its position */
    static const char bad[] = "- {type: kafka, topic: t, brokers: b, partition: 3}\n";
    pd_ydoc *d2 = NULL;
    assert_int_equal(pd_yaml_load_buf("bad.yaml", bad, sizeof(bad) - 1, &d2, &diag), 0);
    assert_int_equal(pd_sink_set_check(&pd_sink_kafka_check_env, d2, pd_yaml_root(d2), &diag),
                     PD_ECONFIG);
    assert_non_null(strstr(diag.msg, "bad.yaml:1:"));
    assert_non_null(strstr(diag.msg, "partition"));
    pd_yaml_free(d2);
    pd_yaml_free(doc);
    event_base_free(base);
}

static char dead_reason[256];
static void on_dead_keep(void *ctx, const pd_sink_dead *d)
{
    int *n = ctx;
    (*n)++;
    snprintf(dead_reason, sizeof(dead_reason), "%s|%s|%zu", d->key, d->reason, d->len);
}

/* No broker: librdkafka gives up after message.timeout.ms and the record is dead-lettered
 * with the reason, its key and payload. */
static void test_kafka_sink_dead_letter(void **state)
{
    (void)state;
    static const char yaml[] = "{type: kafka, topic: nowhere, brokers: \"127.0.0.1:1\", "
                               "kafka: {message.timeout.ms: \"1500\"}}\n";
    struct event_base *base = event_base_new();
    int ndead = 0;
    pd_sink_type kt = {&pd_sink_kafka_ops, NULL};
    pd_sink_env env = {
        .base = base, .dead = on_dead_keep, .dead_ctx = &ndead, .types = &kt, .ntypes = 1};
    pd_sink *s = NULL;
    pd_diag diag = {{0}};
    int rc = fx_sink(&env, yaml, &s, &diag);
    if (rc)
        fail_msg("%s", diag.msg);
    pd_signal sig = fx_breach("lateral-spread", PD_SEV_HIGH);
    assert_int_equal(pd_sink_submit(s, &sig), 0);
    pd_sink_stats st;
    pd_sink_get_stats(s, &st);
    assert_int_equal(st.pending, 1);
    int64_t t0 = pd_ktest_now_ms();
    while (st.pending && pd_ktest_now_ms() - t0 < 10000) {
        event_base_loop(base, EVLOOP_ONCE);
        pd_sink_get_stats(s, &st);
    }
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(ndead, 1);
    char want[80];
    snprintf(want, sizeof(want), "%s|kafka: ", sig.id);
    if (strncmp(dead_reason, want, strlen(want)))
        fail_msg("dead letter: %s", dead_reason);
    pd_sink_destroy(s);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_sink_missing_topic),
        cmocka_unit_test(test_kafka_sink_route_ocsf),
        cmocka_unit_test(test_kafka_sink_dead_letter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
