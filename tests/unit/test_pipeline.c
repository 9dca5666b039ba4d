/* Pipeline files: paths resolve against the file, defaults, pass-through, errors. */
#include "pd_test.h"

#include "pd_pipeline.h"

#include <unistd.h>

static char dir[256];

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pd_test_pipeline.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_full(void **state)
{
    (void)state;
    const char *p = write_file("p.yaml", "pipeline:\n"
                                         "  name: servers\n"
                                         "  goals: [g.yaml, /abs/h.yaml]\n"
                                         "  rules: rules/r.yaml\n"
                                         "  controls: controls.yaml\n"
                                         "  inputs:\n"
                                         "    - {topic: a, format: defender, silence: 30m}\n"
                                         "    - topic: b\n"
                                         "  outputs: {drift: d, status: s}\n"
                                         "  flapping: {toggles: 2, window: 10m}\n"
                                         "  timer_lateness: 2m\n"
                                         "  sinks:\n"
                                         "    - {type: stdout}\n"
                                         "  kafka:\n"
                                         "    bootstrap.servers: localhost:9092\n"
                                         "    linger.ms: 5\n");
    pd_pipeline *pl = NULL;
    pd_diag d;
    if (pd_pipeline_load(p, &pl, &d))
        fail_msg("%s", d.msg);
    char want[512];
    assert_string_equal(pl->name, "servers");
    assert_int_equal(pl->ngoal_files, 2);
    snprintf(want, sizeof(want), "%s/g.yaml", dir);
    assert_string_equal(pl->goal_files[0], want);
    assert_string_equal(pl->goal_files[1], "/abs/h.yaml");
    snprintf(want, sizeof(want), "%s/rules/r.yaml", dir);
    assert_int_equal(pl->nrule_files, 1);
    assert_string_equal(pl->rule_files[0], want);
    snprintf(want, sizeof(want), "%s/controls.yaml", dir);
    assert_string_equal(pl->controls_file, want);
    assert_int_equal(pl->ninputs, 2);
    assert_string_equal(pl->inputs[0].topic, "a");
    assert_int_equal(pl->inputs[0].format, PD_FMT_DEFENDER);
    assert_true(pl->inputs[0].silence_ms == 30 * 60 * 1000);
    assert_int_equal(pl->inputs[1].format, PD_FMT_AUTO);
    assert_true(pl->inputs[1].silence_ms == 0);
    assert_string_equal(pl->consumer_group, "postured-servers");
    assert_string_equal(pl->outputs.drift, "d");
    assert_null(pl->outputs.breach);
    assert_string_equal(pl->outputs.status, "s");
    assert_int_equal(pl->flap_toggles, 2);
    assert_true(pl->flap_window_ms == 600000);
    assert_true(pl->timer_lateness_ms == 120000);
    assert_non_null(pl->sinks);
    assert_int_equal(pl->sinks->type, PD_YSEQ);
    assert_int_equal(pl->sinks->n, 1);
    assert_int_equal(pl->nkafka, 2);
    assert_string_equal(pl->kafka[0].key, "bootstrap.servers");
    assert_string_equal(pl->kafka[1].value, "5");
    pd_pipeline_destroy(pl);
    pd_pipeline_destroy(NULL);
}

static void expect_error(const char *text, const char *pos, const char *want)
{
    const char *p = write_file("bad.yaml", text);
    pd_pipeline *pl = NULL;
    pd_diag d;
    assert_int_not_equal(pd_pipeline_load(p, &pl, &d), 0);
    char full[600];
    snprintf(full, sizeof(full), "%s/bad.yaml:%s", dir, pos);
    if (strncmp(d.msg, full, strlen(full)) || !strstr(d.msg, want))
        fail_msg("got '%s', want '%s ...%s'", d.msg, full, want);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("pipeline:\n  name: x\n  input: []\n", "3:3:", "unknown key 'input'");
    expect_error("pipeline:\n  name: X y\n", "2:9:", "must match");
    expect_error("pipeline:\n  goals: [a]\n", "2:3:", "pipeline without a name");
    expect_error("pipeline:\n  name: x\n  inputs:\n    - {topic: a, format: xml}\n",
                 "4:26:", "unknown format 'xml'");
    expect_error("pipeline:\n  name: x\n  inputs:\n    - {topic: a}\n    - {topic: a}\n",
                 "5:15:", "duplicate input topic 'a'");
    expect_error("pipeline:\n  name: x\n  inputs:\n    - {format: asff}\n",
                 "4:7:", "input without a topic");
    expect_error("pipeline:\n  name: x\n  outputs: {drift: a, alerts: b}\n",
                 "3:23:", "unknown key 'alerts'");
    expect_error("pipeline:\n  name: x\n  kafka: [a]\n", "3:10:", "kafka must be a map");
    expect_error("pipelines:\n  name: x\n", "1:1:", "unknown key 'pipelines'");
}

static void test_default_pipeline(void **state)
{
    (void)state;
    char path[1024];
    pd_test_src_path("pipelines/default.yaml", path, sizeof(path));
    pd_pipeline *pl = NULL;
    pd_diag d;
    if (pd_pipeline_load(path, &pl, &d))
        fail_msg("%s", d.msg);
    assert_true(pl->ngoal_files >= 1);
    assert_non_null(strstr(pl->goal_files[0], "pipelines/defender-servers.goals.yaml"));
    assert_true(access(pl->goal_files[0], R_OK) == 0);
    assert_true(pl->ninputs >= 1);
    pd_pipeline_destroy(pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_default_pipeline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
