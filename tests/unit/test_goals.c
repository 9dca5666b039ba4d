/* Goal files: the shape, targets, and errors as file:line:column. */
#include "pd_test.h"

#include "pd_goals.h"

static pd_goal_set *load_ok(const char *text)
{
    pd_goal_set *set = NULL;
    pd_diag d;
    int rc = pd_goal_set_load_buf(&set, "g.yaml", text, strlen(text), &d);
    if (rc)
        fail_msg("unexpected error: %s", d.msg);
    return set;
}

/* Loads text expecting an error whose message starts with want_pos and contains want. */
static void expect_error(const char *text, const char *want_pos, const char *want)
{
    pd_goal_set *set = NULL;
    pd_diag d;
    int rc = pd_goal_set_load_buf(&set, "g.yaml", text, strlen(text), &d);
    if (rc == 0)
        fail_msg("expected an error '%s' for:\n%s", want, text);
    if (strncmp(d.msg, want_pos, strlen(want_pos)) || !strstr(d.msg, want))
        fail_msg("got '%s', want '%s...%s'", d.msg, want_pos, want);
    pd_goal_set_destroy(set);
}

static void test_full_shape(void **state)
{
    (void)state;
    pd_goal_set *set = load_ok("goals:\n"
                               "  - id: edr-prod\n"
                               "    title: EDR on every production server\n"
                               "    kind: coverage\n"
                               "    scope:\n"
                               "      clouds: [azure, aws, gcp, onprem]\n"
                               "      accounts: [\"*\"]\n"
                               "      resource_groups: [\"rg-prod-*\"]\n"
                               "      resource_types: [\"microsoft.compute/virtualmachines\"]\n"
                               "      names: [\"web-*\"]\n"
                               "      tags: {env: prod, tier: [web, api]}\n"
                               "    controls:\n"
                               "      - key: 06E3A6DB-6c0c-4ad9-943f-31d9d73ecf6c\n"
                               "      - framework: \"MCSB:ES-1\"\n"
                               "      - category: vulnerability\n"
                               "    min_severity: high\n"
                               "    target: \">= 98%\"\n"
                               "    stale_after: 8d\n"
                               "    hysteresis: 1%\n"
                               "    severity: high\n"
                               "    flapping: {toggles: 3, window: 30m}\n"
                               "  - id: sla-1\n"
                               "    kind: sla\n"
                               "    controls: [{key: k}]\n"
                               "    max_age: 72h\n");
    assert_int_equal(pd_goal_set_count(set), 2);
    const pd_goal *g = pd_goal_set_at(set, 0);
    assert_string_equal(g->id, "edr-prod");
    assert_int_equal(g->kind, PD_GOAL_COVERAGE);
    assert_int_equal(g->scope.clouds, (1u << PD_CLOUD_AZURE) | (1u << PD_CLOUD_AWS) |
                                          (1u << PD_CLOUD_GCP) | (1u << PD_CLOUD_ONPREM));
    assert_int_equal(g->scope.ngroups, 1);
    assert_string_equal(g->scope.groups[0], "rg-prod-*");
    assert_int_equal(g->scope.ntags, 2);
    assert_string_equal(g->scope.tags[1].key, "tier");
    assert_int_equal(g->scope.tags[1].nvalues, 2);
    assert_int_equal(g->ncontrols, 3);
    assert_int_equal(g->controls[0].kind, PD_SEL_KEY);
    assert_string_equal(g->controls[0].value, "06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c");
    assert_int_equal(g->controls[1].kind, PD_SEL_FRAMEWORK);
    assert_int_equal(g->controls[2].kind, PD_SEL_CATEGORY);
    assert_int_equal(g->min_severity, PD_SEV_HIGH);
    assert_int_equal(g->cmp, PD_CMP_GE);
    assert_true(g->target_pct);
    assert_true(g->target == 98.0);
    assert_string_equal(g->target_text, ">= 98%");
    assert_true(g->stale_after_ms == 8LL * 86400 * 1000);
    assert_true(g->hysteresis == 1.0);
    assert_int_equal(g->severity, PD_SEV_HIGH);
    assert_int_equal(g->flap_toggles, 3);
    assert_true(g->flap_window_ms == 30LL * 60 * 1000);
    const pd_goal *s = pd_goal_set_at(set, 1);
    assert_string_equal(s->title, "sla-1");
    assert_true(s->max_age_ms == 72LL * 3600 * 1000);
    assert_string_equal(s->target_text, "<= 0"); /* the default */
    assert_int_equal(s->cmp, PD_CMP_LE);
    assert_int_equal(s->severity, PD_SEV_MEDIUM);
    pd_goal_set_destroy(set);
}

static void test_json_accepted(void **state)
{
    (void)state;
    pd_goal_set *set = load_ok("{\"goals\": [{\"id\": \"s\", \"kind\": \"score\", "
                               "\"target\": \">= 70%\"}]}");
    assert_int_equal(pd_goal_set_count(set), 1);
    assert_int_equal(pd_goal_set_at(set, 0)->kind, PD_GOAL_SCORE);
    pd_goal_set_destroy(set);
}

static void test_targets(void **state)
{
    (void)state;
    pd_cmp c;
    double v;
    bool pct;
    assert_int_equal(pd_goal_target_parse(">= 98%", &c, &v, &pct), 0);
    assert_true(c == PD_CMP_GE && v == 98 && pct);
    assert_int_equal(pd_goal_target_parse("<= 0", &c, &v, &pct), 0);
    assert_true(c == PD_CMP_LE && v == 0 && !pct);
    assert_int_equal(pd_goal_target_parse(" > 99.5 % ", &c, &v, &pct), 0);
    assert_true(c == PD_CMP_GT && v == 99.5 && pct);
    assert_int_equal(pd_goal_target_parse("<3", &c, &v, &pct), 0);
    assert_true(c == PD_CMP_LT && v == 3);
    assert_int_equal(pd_goal_target_parse("95%", &c, &v, &pct), 0);
    assert_true(c == PD_CMP_GE);
    assert_int_equal(pd_goal_target_parse("5", &c, &v, &pct), 0);
    assert_true(c == PD_CMP_LE);
    assert_int_equal(pd_goal_target_parse("=> 9", &c, &v, &pct), PD_EINVAL);
    assert_int_equal(pd_goal_target_parse(">= 101%", &c, &v, &pct), PD_EINVAL);
    assert_int_equal(pd_goal_target_parse(">= -1", &c, &v, &pct), PD_EINVAL);
    assert_int_equal(pd_goal_target_parse(">= 9 apples", &c, &v, &pct), PD_EINVAL);
    assert_int_equal(pd_goal_target_parse("", &c, &v, &pct), PD_EINVAL);
    assert_true(pd_goal_cmp(PD_CMP_GE, 98, 98) && !pd_goal_cmp(PD_CMP_GT, 98, 98));
    assert_true(pd_goal_cmp(PD_CMP_LE, 0, 0) && !pd_goal_cmp(PD_CMP_LT, 0, 0));
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(
        "goals:\n  - id: a\n    kind: control\n    controls: [{key: k}]\n    colour: red\n",
        "g.yaml:5:5:", "unknown key 'colour'");
    expect_error("goals:\n  - id: Bad_Id\n    kind: control\n",
                 "g.yaml:2:9:", "must match [a-z0-9][a-z0-9-]*");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{key: k}]\n"
                 "  - id: a\n    kind: control\n    controls: [{key: k}]\n",
                 "g.yaml:5:9:", "duplicate goal id 'a' (first defined at g.yaml:2:");
    expect_error("goals:\n  - id: a\n    kind: gauge\n", "g.yaml:3:11:", "unknown kind 'gauge'");
    expect_error("goals:\n  - id: a\n    kind: coverage\n    controls: [{key: k}]\n"
                 "    target: \"about 98\"\n",
                 "g.yaml:5:13:", "bad target");
    expect_error("goals:\n  - id: a\n    kind: coverage\n    controls: [{key: k}]\n"
                 "    target: \"<= 3\"\n",
                 "g.yaml:5:13:", "is a percentage");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{key: k}]\n"
                 "    target: \"<= 3%\"\n",
                 "g.yaml:5:13:", "is a count of violators");
    expect_error("goals:\n  - id: a\n    kind: coverage\n    controls: [{key: k}]\n",
                 "g.yaml:2:5:", "needs a target");
    expect_error("goals:\n  - id: a\n    kind: sla\n    controls: [{key: k}]\n",
                 "g.yaml:2:5:", "needs max_age");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{key: k}]\n"
                 "    max_age: 3h\n",
                 "g.yaml:5:14:", "max_age applies to sla goals only");
    expect_error("goals:\n  - id: a\n    kind: sla\n    controls: [{key: k}]\n"
                 "    max_age: soon\n",
                 "g.yaml:5:14:", "");
    expect_error("goals:\n  - id: a\n    kind: control\n",
                 "g.yaml:2:5:", "needs a non-empty controls list");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{key: k, category: c}]\n",
                 "g.yaml:4:16:", "exactly one of key, framework, category");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{kee: k}]\n",
                 "g.yaml:4:17:", "unknown key 'kee'");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{key: k}]\n"
                 "    scope: {clouds: [azure, mars]}\n",
                 "g.yaml:5:29:", "unknown cloud 'mars'");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{key: k}]\n"
                 "    scope: {zones: [a]}\n",
                 "g.yaml:5:13:", "unknown key 'zones'");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{key: k}]\n"
                 "    min_severity: severe\n",
                 "g.yaml:5:19:", "unknown severity 'severe'");
    expect_error("goals:\n  - id: a\n    kind: control\n    controls: [{key: k}]\n"
                 "    flapping: {toggles: 0}\n",
                 "g.yaml:5:25:", "");
    expect_error("goal:\n  - id: a\n", "g.yaml:1:1:", "unknown key 'goal'");
    expect_error("goals: {id: a}\n", "g.yaml:1:8:", "goals must be a list");
}

static void test_ids_unique_across_files(void **state)
{
    (void)state;
    pd_goal_set *set = NULL;
    pd_diag d;
    const char *a = "goals:\n  - id: x\n    kind: control\n    controls: [{key: k}]\n";
    assert_int_equal(pd_goal_set_load_buf(&set, "a.yaml", a, strlen(a), &d), 0);
    assert_int_equal(pd_goal_set_load_buf(&set, "b.yaml", a, strlen(a), &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "b.yaml:2:9: duplicate goal id 'x' (first defined at a.yaml"));
    assert_int_equal(pd_goal_set_count(set), 1); /* the failed file added nothing */
    pd_goal_set_destroy(set);
    pd_goal_set_destroy(NULL);
}

static void test_shipped_pack(void **state)
{
    (void)state;
    char path[1024];
    pd_goal_set *set = NULL;
    pd_diag d;
    pd_test_src_path("pipelines/defender-servers.goals.yaml", path, sizeof(path));
    if (pd_goal_set_load_file(&set, path, &d))
        fail_msg("%s", d.msg);
    /* The pack covers what the issue lists, with every goal kind. */
    const char *want[] = {"edr-coverage",         "va-coverage",    "critical-vuln-sla",
                          "high-vuln-sla",        "system-updates", "baseline-pass-rate",
                          "jit-management-ports", "fim-coverage",   "defender-plan-coverage",
                          "secure-score",         "mcsb-compliance"};
    uint32_t kinds = 0;
    for (size_t i = 0; i < PD_ARRAY_LEN(want); i++) {
        bool found = false;
        for (uint32_t j = 0; j < pd_goal_set_count(set); j++)
            if (!strcmp(pd_goal_set_at(set, j)->id, want[i])) {
                found = true;
                kinds |= 1u << pd_goal_set_at(set, j)->kind;
            }
        if (!found)
            fail_msg("goal %s missing from the pack", want[i]);
    }
    assert_int_equal(kinds, (1u << PD_GOAL__COUNT) - 1);
    pd_goal_set_destroy(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_shape),
        cmocka_unit_test(test_json_accepted),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_ids_unique_across_files),
        cmocka_unit_test(test_shipped_pack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
