/* pd_metrics: registration rules, hot-path updates, and output that a strict Prometheus
 * text-format reader accepts with the values that were recorded. */
#include "pd_test.h"

#include "../dashboard/pd_prom_parse.h"
#include "pd_metrics.h"

static char *render(pd_metrics *m, prom_doc *doc)
{
    pd_buf b;
    pd_buf_init(&b);
    assert_int_equal(pd_metrics_render(m, &b), 0);
    char *text = strdup(pd_buf_cstr(&b));
    pd_buf_free(&b);
    if (prom_parse(text, doc) != 0)
        fail_msg("not Prometheus text: %s\n%s", doc->err, text);
    return text;
}

static void test_counters_and_gauges(void **state)
{
    (void)state;
    pd_metrics *m;
    assert_int_equal(pd_metrics_create(&m), 0);
    pd_counter *a, *b, *a2;
    const char *la[] = {"topic", "defender", "format", "assessment", NULL};
    const char *lb[] = {"topic", "securityhub", "format", "asff", NULL};
    assert_int_equal(pd_metrics_counter(m, PD_M_EVENTS_IN, "Events consumed.", la, &a), 0);
    assert_int_equal(pd_metrics_counter(m, PD_M_EVENTS_IN, "Events consumed.", lb, &b), 0);
    assert_int_equal(pd_metrics_counter(m, PD_M_EVENTS_IN, "Events consumed.", la, &a2), 0);
    assert_ptr_equal(a, a2); /* same labels, same handle */
    pd_gauge *g;
    assert_int_equal(pd_metrics_gauge(m, "postured_goal_value", "Goal value.",
                                      (const char *[]){"goal", "mfa-coverage", NULL}, &g),
                     0);
    uint64_t na = 0, nb = 0;
    for (int i = 0; i < 1000; i++) {
        pd_counter_inc(a);
        na++;
        if (i % 3 == 0) {
            pd_counter_add(b, 2);
            nb += 2;
        }
    }
    pd_gauge_set(g, 97.25);
    pd_gauge_add(g, 0.5);
    prom_doc d;
    char *text = render(m, &d);
    assert_string_equal(prom_type(&d, PD_M_EVENTS_IN), "counter");
    assert_string_equal(prom_type(&d, "postured_goal_value"), "gauge");
    assert_true(prom_get(&d, PD_M_EVENTS_IN, "topic=\"defender\",format=\"assessment\"", NULL) ==
                (double)na);
    assert_true(prom_get(&d, PD_M_EVENTS_IN, "topic=\"securityhub\",format=\"asff\"", NULL) ==
                (double)nb);
    assert_true(prom_get(&d, "postured_goal_value", "goal=\"mfa-coverage\"", NULL) == 97.75);
    assert_non_null(strstr(text, "# HELP postured_events_in_total Events consumed.\n"));
    prom_free(&d);
    free(text);
    pd_metrics_destroy(m);
    pd_metrics_destroy(NULL);
}

static void test_registration_rules(void **state)
{
    (void)state;
    pd_metrics *m;
    assert_int_equal(pd_metrics_create(&m), 0);
    pd_counter *c;
    pd_gauge *g;
    pd_histogram *h;
    assert_int_equal(pd_metrics_counter(m, "9bad", "x", NULL, &c), PD_EINVAL);
    assert_int_equal(pd_metrics_counter(m, "bad-name", "x", NULL, &c), PD_EINVAL);
    assert_int_equal(pd_metrics_counter(m, "ok", "x", (const char *[]){"__x", "v", NULL}, &c),
                     PD_EINVAL);
    assert_int_equal(pd_metrics_counter(m, "ok", "x", (const char *[]){"le", "v", NULL}, &c),
                     PD_EINVAL);
    assert_int_equal(
        pd_metrics_counter(m, "ok", "x", (const char *[]){"a", "1", "a", "2", NULL}, &c),
        PD_EINVAL);
    assert_int_equal(pd_metrics_counter(m, "ok", "x", NULL, &c), 0);
    assert_int_equal(pd_metrics_gauge(m, "ok", "x", NULL, &g), PD_EEXIST);
    assert_int_equal(pd_metrics_counter(m, "ok", "other help", NULL, &c), PD_EEXIST);
    const double bad[] = {1, 0.5};
    assert_int_equal(pd_metrics_histogram(m, "h", "x", NULL, bad, 2, &h), PD_EINVAL);
    const double good[] = {0.5, 1};
    assert_int_equal(pd_metrics_histogram(m, "h", "x", NULL, good, 2, &h), 0);
    assert_int_equal(pd_metrics_histogram(m, "h", "x", NULL, NULL, 0, &h), PD_EEXIST);
    pd_metrics_destroy(m);
}

static void test_label_escaping(void **state)
{
    (void)state;
    pd_metrics *m;
    assert_int_equal(pd_metrics_create(&m), 0);
    const char *weird = "a \"quoted\" back\\slash\nnewline";
    pd_gauge *g;
    assert_int_equal(pd_metrics_gauge(m, "g", "help with \\ and\nnewline",
                                      (const char *[]){"v", weird, NULL}, &g),
                     0);
    pd_gauge_set(g, 3);
    pd_gauge *sp[3];
    assert_int_equal(
        pd_metrics_gauge(m, "s", "specials", (const char *[]){"k", "nan", NULL}, &sp[0]), 0);
    assert_int_equal(
        pd_metrics_gauge(m, "s", "specials", (const char *[]){"k", "inf", NULL}, &sp[1]), 0);
    assert_int_equal(
        pd_metrics_gauge(m, "s", "specials", (const char *[]){"k", "small", NULL}, &sp[2]), 0);
    pd_gauge_set(sp[0], NAN);
    pd_gauge_set(sp[1], -INFINITY);
    pd_gauge_set(sp[2], 1e-300 / 3);
    prom_doc d;
    char *text = render(m, &d);
    char want[128];
    snprintf(want, sizeof(want), "v=\"%s\"", weird); /* the reader unescapes */
    assert_true(prom_get(&d, "g", want, NULL) == 3);
    assert_true(isnan(prom_get(&d, "s", "k=\"nan\"", NULL)) && strstr(text, "s{k=\"nan\"} NaN\n"));
    assert_true(prom_get(&d, "s", "k=\"inf\"", NULL) == -INFINITY);
    assert_true(prom_get(&d, "s", "k=\"small\"", NULL) == 1e-300 / 3); /* round-trips */
    prom_free(&d);
    free(text);
    pd_metrics_destroy(m);
}

static void test_histogram(void **state)
{
    (void)state;
    pd_metrics *m;
    assert_int_equal(pd_metrics_create(&m), 0);
    pd_histogram *h;
    assert_int_equal(
        pd_metrics_histogram(m, PD_M_LATENCY, "Per-event processing time.", NULL, NULL, 0, &h), 0);
    /* expected per-bucket counts computed independently of the implementation */
    uint64_t want[64] = {0};
    double sum = 0;
    unsigned seed = 7;
    const int n = 5000;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        double v = (double)((seed >> 8) % 100000) / 1e6 * ((i % 10) ? 1 : 50); /* 0..5 s */
        pd_histogram_observe(h, v);
        sum += v;
        for (uint32_t k = 0; k < PD_LATENCY_NBUCKETS; k++)
            if (v <= PD_LATENCY_BUCKETS[k])
                want[k]++;
    }
    pd_histogram_observe(h, 99); /* beyond the last bound: only +Inf */
    sum += 99;
    prom_doc d;
    char *text = render(m, &d);
    assert_string_equal(prom_type(&d, PD_M_LATENCY), "histogram");
    for (uint32_t k = 0; k < PD_LATENCY_NBUCKETS; k++) {
        char le[32];
        snprintf(le, sizeof(le), "%g", PD_LATENCY_BUCKETS[k]);
        double got = prom_get(&d, PD_M_LATENCY "_bucket", "", le);
        if (got != (double)want[k])
            fail_msg("bucket le=%s: got %g want %llu", le, got, (unsigned long long)want[k]);
    }
    assert_true(prom_get(&d, PD_M_LATENCY "_bucket", "", "+Inf") == n + 1);
    assert_true(prom_get(&d, PD_M_LATENCY "_count", "", NULL) == n + 1);
    assert_true(fabs(prom_get(&d, PD_M_LATENCY "_sum", "", NULL) - sum) < 1e-6);
    prom_free(&d);
    free(text);
    pd_metrics_destroy(m);
}

static double lag_fn(void *ctx)
{
    return (double)*(int *)ctx;
}

static void goals_collector(void *ctx, pd_buf *out)
{
    int *ngoals = ctx;
    pd_metrics_write_family(out, PD_M_GOAL_MET, "1 when the goal is met.", PD_METRIC_GAUGE);
    for (int i = 0; i < *ngoals; i++) {
        char id[16];
        snprintf(id, sizeof(id), "goal-%d", i);
        pd_metrics_write_sample(out, PD_M_GOAL_MET, (const char *[]){"goal", id, NULL}, i % 2);
    }
}

static void test_callbacks_collectors_process(void **state)
{
    (void)state;
    pd_metrics *m;
    assert_int_equal(pd_metrics_create(&m), 0);
    int lag = 42, ngoals = 3;
    assert_int_equal(pd_metrics_gauge_fn(m, PD_M_CONSUMER_LAG, "Lag.",
                                         (const char *[]){"topic", "t", "partition", "0", NULL},
                                         lag_fn, &lag),
                     0);
    assert_int_equal(pd_metrics_add_collector(m, goals_collector, &ngoals), 0);
    assert_int_equal(pd_metrics_add_process(m), 0);
    prom_doc d;
    char *text = render(m, &d);
    assert_true(prom_get(&d, PD_M_CONSUMER_LAG, "topic=\"t\",partition=\"0\"", NULL) == 42);
    for (int i = 0; i < ngoals; i++) {
        char l[32];
        snprintf(l, sizeof(l), "goal=\"goal-%d\"", i);
        assert_true(prom_get(&d, PD_M_GOAL_MET, l, NULL) == i % 2);
    }
    assert_true(prom_get(&d, "process_resident_memory_bytes", "", NULL) > 1e5);
    assert_true(prom_get(&d, "process_open_fds", "", NULL) >= 3);
    assert_true(prom_get(&d, "postured_build_info", "version=\"" PD_VERSION "\"", NULL) == 1);
    prom_free(&d);
    free(text);
    /* a collector removed before its owner goes away no longer renders */
    lag = 7;
    pd_metrics_remove_collector(m, goals_collector, &ngoals);
    text = render(m, &d);
    assert_true(isnan(prom_get(&d, PD_M_GOAL_MET, "goal=\"goal-0\"", NULL)));
    assert_true(prom_get(&d, PD_M_CONSUMER_LAG, "topic=\"t\",partition=\"0\"", NULL) == 7);
    prom_free(&d);
    free(text);
    pd_metrics_destroy(m);
}

/* The reader itself must reject what Prometheus rejects, or the checks above prove nothing. */
static void test_reader_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "x 1\n",                                                      /* no TYPE */
        "# TYPE x counter\nx 1",                                      /* no final newline */
        "# TYPE x counter\nx{a=b} 1\n",                               /* unquoted label */
        "# TYPE x counter\nx{a=\"\\q\"} 1\n",                         /* bad escape */
        "# TYPE x counter\nx one\n",                                  /* bad value */
        "# TYPE x counter\nx 1\nx 2\n",                               /* duplicate series */
        "# TYPE x counter\n# TYPE y gauge\nx 1\ny 1\nx{a=\"1\"} 1\n", /* interleaved */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n", /* no +Inf */
        "# TYPE x counter\nx 1\n# TYPE x counter\n",
    };
    for (size_t i = 0; i < PD_ARRAY_LEN(bad); i++) {
        prom_doc d;
        if (prom_parse(bad[i], &d) == 0)
            fail_msg("reader accepted bad input %zu:\n%s", i, bad[i]);
        prom_free(&d);
    }
    prom_doc d;
    assert_int_equal(prom_parse("# HELP x h\n# TYPE x gauge\nx{a=\"1\",} 1.5e3 1700000000\n", &d),
                     0);
    assert_true(prom_get(&d, "x", "a=\"1\"", NULL) == 1500);
    prom_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_gauges),
        cmocka_unit_test(test_registration_rules),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_callbacks_collectors_process),
        cmocka_unit_test(test_reader_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
