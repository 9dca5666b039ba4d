/* pd_http_history: the recent-signals ring and goal trends served by the status API. */
#include "pd_test.h"

#include "pd_http_history.h"
#include "pd_time.h"

#include <jansson.h>
#include <math.h>

static void make_signal(pd_signal *s, int i, uint32_t update)
{
    memset(s, 0, sizeof(*s));
    s->kind = i % 2 ? PD_SIGNAL_BREACH : PD_SIGNAL_DRIFT;
    s->type = i % 2 ? "breach.lateral-spread" : "control.regressed";
    s->time_ms = 1700000000000LL + i * 1000;
    s->severity = PD_SEV_HIGH;
    s->update = update;
    char part[32];
    snprintf(part, sizeof(part), "sig-%d", i);
    pd_str parts[] = {pd_str_c(part)};
    pd_signal_make_id(s->id, parts, 1);
}

static json_t *ring_doc(pd_signal_ring *r, uint32_t limit)
{
    pd_buf b;
    pd_buf_init(&b);
    pd_signal_ring_json(r, limit, &b);
    json_error_t err;
    json_t *j = json_loadb(b.p, b.len, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, pd_buf_cstr(&b));
    pd_buf_free(&b);
    json_t *sigs = json_object_get(j, "signals");
    assert_true(json_is_array(sigs));
    json_incref(sigs);
    json_decref(j);
    return sigs;
}

static void test_signal_ring(void **state)
{
    (void)state;
    pd_signal_ring *r;
    assert_int_equal(pd_signal_ring_create(8, &r), 0);
    json_t *empty = ring_doc(r, 50);
    assert_int_equal(json_array_size(empty), 0);
    json_decref(empty);
    pd_signal s;
    const int n = 20;
    for (int i = 0; i < n; i++) {
        make_signal(&s, i, 0);
        pd_signal_ring_push(r, &s);
    }
    assert_int_equal(pd_signal_ring_count(r), 8);
    json_t *sigs = ring_doc(r, 50);
    assert_int_equal(json_array_size(sigs), 8);
    for (size_t k = 0; k < 8; k++) { /* newest first: n-1, n-2, ... */
        make_signal(&s, n - 1 - (int)k, 0);
        assert_string_equal(json_string_value(json_object_get(json_array_get(sigs, k), "id")),
                            s.id);
    }
    json_decref(sigs);
    sigs = ring_doc(r, 3);
    assert_int_equal(json_array_size(sigs), 3);
    json_decref(sigs);

    /* an update of a signal still in the ring replaces it and becomes the newest */
    make_signal(&s, n - 5, 1);
    pd_signal_ring_push(r, &s);
    assert_int_equal(pd_signal_ring_count(r), 8);
    sigs = ring_doc(r, 50);
    size_t seen = 0;
    for (size_t k = 0; k < json_array_size(sigs); k++)
        seen += !strcmp(json_string_value(json_object_get(json_array_get(sigs, k), "id")), s.id);
    assert_int_equal(seen, 1);
    json_t *first = json_array_get(sigs, 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), s.id);
    assert_int_equal(json_integer_value(json_object_get(first, "update")), 1);
    json_decref(sigs);
    pd_signal_ring_destroy(r);
    pd_signal_ring_destroy(NULL);
}

static void test_trend(void **state)
{
    (void)state;
    const int64_t H = 3600 * 1000LL, D = 24 * H;
    pd_trend *t;
    assert_int_equal(pd_trend_create(H, 7 * D, &t), 0);
    pd_str gid = PD_STR_LIT("edr-coverage");
    const int64_t t0 = 1780000000000LL - (1780000000000LL % H); /* on a bucket boundary */
    /* every 10 minutes for 8 days; the expected value of a bucket is its last sample */
    const int steps = 8 * 24 * 6;
    static double want[8 * 24 + 1];
    for (int i = 0; i < steps; i++) {
        double v = 90.0 + (double)((i * 7) % 100) / 10.0;
        assert_int_equal(pd_trend_record(t, gid, t0 + i * 600000LL, v), 0);
        want[i / 6] = v;
    }
    int64_t last = t0 + (steps - 1) * 600000LL;
    /* a late sample for an old bucket changes nothing */
    assert_int_equal(pd_trend_record(t, gid, t0 + 2 * H, -1.0), 0);
    pd_buf b;
    pd_buf_init(&b);
    pd_trend_json(t, gid, PD_TIME_NONE, &b);
    json_error_t err;
    json_t *arr = json_loadb(b.p, b.len, 0, &err);
    assert_non_null(arr);
    /* buckets within 7 days before the last sample: the last bucket and 7*24 before it */
    size_t n = json_array_size(arr);
    assert_true(n >= 7 * 24 && n <= 7 * 24 + 1);
    int64_t prev = INT64_MIN;
    for (size_t k = 0; k < n; k++) {
        json_t *p = json_array_get(arr, k);
        int64_t ts;
        assert_int_equal(pd_time_parse(pd_str_c(json_string_value(json_object_get(p, "t"))), &ts),
                         0);
        assert_true(ts > prev && ts >= last - 7 * D && ts <= last);
        prev = ts;
        int bucket = (int)((ts - t0) / H);
        assert_true(fabs(json_number_value(json_object_get(p, "v")) - want[bucket]) < 1e-6);
    }
    assert_int_equal(prev, last);
    json_decref(arr);

    /* a window ending earlier, an unknown goal, a second goal kept apart */
    pd_buf_reset(&b);
    pd_trend_json(t, gid, t0 + D, &b);
    arr = json_loadb(b.p, b.len, 0, &err);
    assert_non_null(arr);
    assert_true(json_array_size(arr) == 0 || json_array_size(arr) <= 25);
    json_decref(arr);
    pd_buf_reset(&b);
    pd_trend_json(t, PD_STR_LIT("nope"), PD_TIME_NONE, &b);
    assert_string_equal(pd_buf_cstr(&b), "[]");
    assert_int_equal(pd_trend_record(t, PD_STR_LIT("mfa"), t0, 50), 0);
    assert_int_equal(pd_trend_points(t, PD_STR_LIT("mfa")), 1);
    assert_true(pd_trend_points(t, gid) >= 7 * 24);
    assert_int_equal(pd_trend_record(t, PD_STR_NULL, t0, 1), PD_EINVAL);
    pd_buf_free(&b);
    pd_trend_destroy(t);
    pd_trend_destroy(NULL);
    assert_int_equal(pd_trend_create(1, 7 * D, &t), PD_EINVAL); /* absurd resolution */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_ring),
        cmocka_unit_test(test_trend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
