#include "pd_test.h"

#include "pd_buf.h"
#include "pd_common.h"
#include "pd_intern.h"
#include "pd_model.h"
#include "pd_signal.h"
#include "pd_time.h"

static void test_time_parse(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(pd_time_parse(pd_str_c("1970-01-01T00:00:00Z"), &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(pd_time_parse(pd_str_c("2023-05-01T12:34:56.1234567Z"), &ms), 0);
    assert_int_equal(ms, 1682944496123LL);
    assert_int_equal(pd_time_parse(pd_str_c("2023-05-01T14:34:56+02:00"), &ms), 0);
    assert_int_equal(ms, 1682944496000LL);
    assert_int_equal(pd_time_parse(pd_str_c("2023-05-01"), &ms), 0);
    assert_int_equal(ms, 1682899200000LL);
    assert_int_equal(pd_time_parse(pd_str_c("2023-13-01T00:00:00Z"), &ms), PD_EINVAL);
    assert_int_equal(pd_time_parse(pd_str_c("2023-01-01T00:00:00Zjunk"), &ms), PD_EINVAL);
    assert_int_equal(pd_time_parse(pd_str_c("yesterday"), &ms), PD_EINVAL);
    char buf[PD_RFC3339_LEN];
    pd_time_format(1682944496123LL, buf);
    assert_string_equal(buf, "2023-05-01T12:34:56.123Z");
}

static void test_duration(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(pd_duration_parse(pd_str_c("72h"), &ms), 0);
    assert_int_equal(ms, 72 * 3600000LL);
    assert_int_equal(pd_duration_parse(pd_str_c("1h30m"), &ms), 0);
    assert_int_equal(ms, 90 * 60000LL);
    assert_int_equal(pd_duration_parse(pd_str_c("500ms"), &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(pd_duration_parse(pd_str_c("8"), &ms), PD_EINVAL);
    assert_int_equal(pd_duration_parse(pd_str_c("3x"), &ms), PD_EINVAL);
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(pd_glob_match("rg-prod-*", pd_str_c("RG-Prod-West")));
    assert_true(pd_glob_match("*", pd_str_c("")));
    assert_true(pd_glob_match("web-??", pd_str_c("web-01")));
    assert_false(pd_glob_match("web-??", pd_str_c("web-001")));
    assert_false(pd_glob_match("rg-prod-*", pd_str_c("rg-dev-1")));
    assert_true(pd_glob_match("*a*b*c", pd_str_c("xxaxxbxxc")));
}

static void test_intern(void **state)
{
    (void)state;
    pd_intern *t = NULL;
    assert_int_equal(pd_intern_create(&t), 0);
    uint32_t ids[5000];
    char tmp[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(tmp, sizeof(tmp), "res-%d", i);
        assert_int_equal(pd_intern_get(t, pd_str_c(tmp), &ids[i]), 0);
        assert_int_equal(ids[i], (uint32_t)i + 1);
    }
    uint32_t again;
    assert_int_equal(pd_intern_get(t, pd_str_c("res-42"), &again), 0);
    assert_int_equal(again, ids[42]);
    assert_true(pd_str_eq_c(pd_intern_str(t, ids[4999]), "res-4999"));
    assert_int_equal(pd_intern_find(t, pd_str_c("absent")), 0);
    assert_int_equal(pd_intern_count(t), 5000);
    pd_intern_destroy(t);
    pd_intern_destroy(NULL);
}

static void test_model(void **state)
{
    (void)state;
    pd_tactic t;
    assert_int_equal(pd_tactic_parse(pd_str_c("Lateral Movement"), &t), 0);
    assert_int_equal(t, PD_TACTIC_LATERAL_MOVEMENT);
    assert_int_equal(pd_tactic_parse(pd_str_c("PreAttack"), &t), 0);
    assert_int_equal(t, PD_TACTIC_RECONNAISSANCE);
    assert_int_equal(pd_tactic_parse(pd_str_c("Exploitation"), &t), 0);
    assert_int_equal(t, PD_TACTIC_INITIAL_ACCESS);
    assert_int_equal(pd_tactic_parse(pd_str_c("TA0040"), &t), 0);
    assert_int_equal(t, PD_TACTIC_IMPACT);
    assert_int_equal(pd_tactic_parse(pd_str_c("Sorcery"), &t), PD_EINVAL);
    pd_severity s;
    assert_int_equal(pd_severity_parse(pd_str_c("MODERATE"), &s), 0);
    assert_int_equal(s, PD_SEV_MEDIUM);
    assert_string_equal(pd_severity_name(PD_SEV_CRITICAL), "critical");
}

static void test_signal_json(void **state)
{
    (void)state;
    pd_signal_resource r = {pd_str_c("/subscriptions/s1/vm1"), PD_CLOUD_AZURE, pd_str_c("s1"),
                            pd_str_c("vm1"), pd_str_c("microsoft.compute/virtualmachines")};
    pd_evidence ev = {"assessment", pd_str_c("a\"1"), 0, PD_STR_NULL};
    pd_signal s = {0};
    s.kind = PD_SIGNAL_DRIFT;
    s.type = "control.regressed";
    pd_str parts[] = {pd_str_c("x"), pd_str_c("y")};
    pd_signal_make_id(s.id, parts, 2);
    char id2[33];
    pd_signal_make_id(id2, parts, 2);
    assert_string_equal(s.id, id2);
    assert_int_equal(strlen(s.id), 32);
    s.severity = PD_SEV_HIGH;
    s.resources = &r;
    s.nresources = 1;
    s.evidence = &ev;
    s.nevidence = 1;
    s.pipeline = pd_str_c("default");
    pd_buf b;
    pd_buf_init(&b);
    pd_signal_to_json(&s, &b);
    const char *json = pd_buf_cstr(&b);
    assert_non_null(strstr(json, "\"signal\":\"drift\""));
    assert_non_null(strstr(json, "\"time\":\"1970-01-01T00:00:00.000Z\""));
    assert_non_null(strstr(json, "\"id\":\"a\\\"1\""));
    assert_non_null(strstr(json, "\"resource\":{\"id\":\"/subscriptions/s1/vm1\""));
    pd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse), cmocka_unit_test(test_duration),
        cmocka_unit_test(test_glob),       cmocka_unit_test(test_intern),
        cmocka_unit_test(test_model),      cmocka_unit_test(test_signal_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
