/* OCSF output: every field the issue requires, the class per signal kind, the activity per
 * type, and the values carried over from the signal. */
#include "pd_test.h"
#include "test_sink_fixtures.h"

#include "pd_ocsf.h"

#include <jansson.h>

static json_t *ocsf_of(const pd_signal *s)
{
    pd_buf b;
    pd_buf_init(&b);
    pd_ocsf_write(s, &b, NULL);
    json_error_t err;
    json_t *j = json_loadb(b.p, b.len, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %.*s", err.text, (int)b.len, b.p);
    pd_buf_free(&b);
    return j;
}

static json_t *path(json_t *j, const char *p)
{
    char key[64];
    while (j && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        j = json_object_get(j, key);
        p += n + (dot ? 1 : 0);
    }
    return j;
}

static void require(json_t *j, const char *p)
{
    if (!path(j, p))
        fail_msg("OCSF output lacks required field %s", p);
}

static const char *const required_common[] = {
    "class_uid", "category_uid",     "activity_id",      "type_uid",         "severity_id",
    "time",      "metadata.product", "metadata.version", "finding_info.uid", "finding_info.title",
    "resources",
};

static void check_common(json_t *j, const pd_signal *s)
{
    for (size_t i = 0; i < PD_ARRAY_LEN(required_common); i++)
        require(j, required_common[i]);
    int cls = (int)json_integer_value(path(j, "class_uid"));
    int act = (int)json_integer_value(path(j, "activity_id"));
    assert_int_equal(json_integer_value(path(j, "category_uid")), 2);
    assert_int_equal(json_integer_value(path(j, "type_uid")), cls * 100 + act);
    assert_int_equal(json_integer_value(path(j, "severity_id")), (int)s->severity);
    assert_int_equal(json_integer_value(path(j, "time")), s->time_ms);
    assert_string_equal(json_string_value(path(j, "finding_info.uid")), s->id);
    assert_string_equal(json_string_value(path(j, "metadata.product.name")), "postured");
    assert_string_equal(json_string_value(path(j, "metadata.version")), PD_OCSF_VERSION);
    assert_true(json_string_length(path(j, "finding_info.title")) > 0);
    json_t *res = path(j, "resources");
    assert_true(json_is_array(res) && json_array_size(res) >= 1);
    size_t want = s->nresources ? s->nresources : 1;
    assert_int_equal(json_array_size(res), want);
    for (uint32_t i = 0; i < s->nresources; i++) {
        json_t *r = json_array_get(res, i);
        assert_int_equal(json_string_length(json_object_get(r, "uid")), s->resources[i].id.len);
        assert_memory_equal(json_string_value(json_object_get(r, "uid")), s->resources[i].id.p,
                            s->resources[i].id.len);
    }
}

static void test_drift_is_compliance_finding(void **state)
{
    PD_UNUSED(state);
    pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    json_t *j = ocsf_of(&s);
    check_common(j, &s);
    assert_int_equal(json_integer_value(path(j, "class_uid")), 2003);
    assert_int_equal(json_integer_value(path(j, "activity_id")), PD_OCSF_ACTIVITY_CREATE);
    require(j, "compliance.status_id");
    require(j, "compliance.control");
    require(j, "compliance.standards");
    assert_int_equal(json_integer_value(path(j, "compliance.status_id")), 3); /* Fail */
    assert_string_equal(json_string_value(path(j, "compliance.control")),
                        "06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c");
    json_t *std = path(j, "compliance.standards");
    assert_int_equal(json_array_size(std), s.control.nframeworks);
    assert_string_equal(json_string_value(json_array_get(std, 1)), "NIST:SI-4");
    assert_string_equal(json_string_value(path(j, "cloud.provider")), "Azure");
    assert_string_equal(json_string_value(path(j, "unmapped.goal.id")), "edr-prod");
    json_decref(j);

    /* recovery closes the finding and passes the control */
    s = fx_drift("control.recovered", PD_SEV_HIGH, "edr-prod");
    j = ocsf_of(&s);
    check_common(j, &s);
    assert_int_equal(json_integer_value(path(j, "activity_id")), PD_OCSF_ACTIVITY_CLOSE);
    assert_int_equal(json_integer_value(path(j, "type_uid")), 200303);
    assert_int_equal(json_integer_value(path(j, "compliance.status_id")), 1);
    json_decref(j);

    /* a goal-level signal has no resource: the goal stands in, and standards is not empty */
    s = fx_drift("goal.breached", PD_SEV_CRITICAL, "edr-prod");
    j = ocsf_of(&s);
    check_common(j, &s);
    assert_string_equal(json_string_value(path(j, "compliance.control")), "edr-prod");
    assert_true(json_array_size(path(j, "compliance.standards")) >= 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(path(j, "resources"), 0), "uid")),
        "goal:edr-prod");
    json_decref(j);
}

static void test_breach_is_detection_finding(void **state)
{
    PD_UNUSED(state);
    pd_signal s = fx_breach("lateral-spread", PD_SEV_CRITICAL);
    s.update = 2;
    json_t *j = ocsf_of(&s);
    check_common(j, &s);
    assert_int_equal(json_integer_value(path(j, "class_uid")), 2004);
    assert_int_equal(json_integer_value(path(j, "activity_id")), PD_OCSF_ACTIVITY_UPDATE);
    assert_null(path(j, "compliance"));
    assert_string_equal(json_string_value(path(j, "finding_info.analytic.uid")), "lateral-spread");
    json_t *att = path(j, "finding_info.attacks");
    assert_int_equal(json_array_size(att), 2);
    /* kill-chain order: Execution before Lateral Movement */
    assert_string_equal(json_string_value(path(json_array_get(att, 0), "tactic.uid")), "TA0002");
    assert_string_equal(json_string_value(path(json_array_get(att, 1), "tactic.uid")), "TA0008");
    assert_int_equal(json_integer_value(path(j, "confidence_score")), 85);
    assert_int_equal(json_integer_value(path(j, "risk_score")), 91);
    assert_int_equal(json_array_size(path(j, "finding_info.related_events")), s.nevidence);
    assert_int_equal(json_array_size(path(j, "unmapped.evidence")), s.nevidence);
    /* a name with quotes survives escaping */
    json_t *r2 = json_array_get(path(j, "resources"), 2);
    assert_string_equal(json_string_value(json_object_get(r2, "name")), "db-\"quoted\"");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drift_is_compliance_finding),
        cmocka_unit_test(test_breach_is_detection_finding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
