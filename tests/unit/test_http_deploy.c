/* The daemon configurations shipped under docker/ load with the real config loader (unknown
 * keys are errors there), so the examples cannot drift from the options postured accepts. */
#include "pd_test.h"

#include "pd_config.h"
#include "pd_http.h"
#include "pd_pipeline.h"
#include "pd_yaml.h"

#include <sys/stat.h>
#include <unistd.h>

static void load_ok(const char *rel, const char *want_listen, const char *want_token_env)
{
    char path[1024];
    pd_test_src_path(rel, path, sizeof(path));
    pd_config *cfg = NULL;
    pd_diag diag;
    memset(&diag, 0, sizeof(diag));
    int rc = pd_config_load(path, &cfg, &diag);
    if (rc != 0)
        fail_msg("%s does not load: %s (%s)", rel, diag.msg, pd_strerror(rc));
    assert_string_equal(cfg->http_listen, want_listen);
    assert_string_equal(cfg->http_token_env, want_token_env);
    assert_true(cfg->nkafka >= 1);
    pd_config_destroy(cfg);
}

static void test_compose_config(void **state)
{
    (void)state;
    load_ok("docker/config/postured.yaml", "0.0.0.0:9464", "POSTURED_TOKEN");
}

static void test_eventhubs_config(void **state)
{
    (void)state;
    setenv("EVENTHUBS_CONNECTION_STRING",
           "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=l;SharedAccessKey=k", 1);
    char path[1024];
    pd_test_src_path("docker/config/eventhubs.yaml", path, sizeof(path));
    pd_config *cfg = NULL;
    pd_diag diag;
    memset(&diag, 0, sizeof(diag));
    assert_int_equal(pd_config_load(path, &cfg, &diag), 0);
    bool mech = false, user = false;
    for (uint32_t i = 0; i < cfg->nkafka; i++) {
        if (!strcmp(cfg->kafka[i].key, "sasl.mechanism"))
            mech = !strcmp(cfg->kafka[i].value, "PLAIN");
        if (!strcmp(cfg->kafka[i].key, "sasl.username"))
            user = !strcmp(cfg->kafka[i].value, "$ConnectionString");
    }
    assert_true(mech && user);
    pd_config_destroy(cfg);
    unsetenv("EVENTHUBS_CONNECTION_STRING");
}

static void test_http_config_from(void **state)
{
    (void)state;
    char path[1024];
    pd_test_src_path("docker/config/postured.yaml", path, sizeof(path));
    pd_config *cfg = NULL;
    pd_diag diag;
    memset(&diag, 0, sizeof(diag));
    assert_int_equal(pd_config_load(path, &cfg, &diag), 0);
    pd_http_config hc;
    unsetenv("POSTURED_TOKEN");
    assert_int_equal(pd_http_config_from(cfg, &hc, &diag), PD_ECONFIG);
    assert_non_null(strstr(diag.msg, "POSTURED_TOKEN"));
    setenv("POSTURED_TOKEN", "from-the-environment", 1);
    assert_int_equal(pd_http_config_from(cfg, &hc, &diag), 0);
    assert_string_equal(hc.listen, "0.0.0.0:9464");
    assert_string_equal(hc.token, "from-the-environment");
    unsetenv("POSTURED_TOKEN");
    pd_config_destroy(cfg);
    /* defaults: loopback, no token */
    assert_int_equal(pd_config_create(&cfg), 0);
    assert_int_equal(pd_http_config_from(cfg, &hc, &diag), 0);
    assert_string_equal(hc.listen, PD_HTTP_DEFAULT_LISTEN);
    assert_null(hc.token);
    pd_config_destroy(cfg);
}

/* Every file a pipeline names exists. The goal pack may land after this test: then it says so
 * (rules and the control table must be there already). */
static void check_pipeline_files(const char *path)
{
    pd_pipeline *p = NULL;
    pd_diag diag;
    memset(&diag, 0, sizeof(diag));
    int rc = pd_pipeline_load(path, &p, &diag);
    if (rc != 0)
        fail_msg("%s: %s", path, diag.msg);
    assert_true(p->ninputs >= 1);
    assert_non_null(p->outputs.drift);
    assert_non_null(p->outputs.breach);
    assert_true(p->nrule_files >= 1);
    for (uint32_t i = 0; i < p->nrule_files; i++)
        if (access(p->rule_files[i], R_OK) != 0)
            fail_msg("%s: rule file %s is missing", path, p->rule_files[i]);
    if (!p->controls_file || access(p->controls_file, R_OK) != 0)
        fail_msg("%s: control table %s is missing", path,
                 p->controls_file ? p->controls_file : "(none)");
    assert_true(p->ngoal_files >= 1);
    for (uint32_t i = 0; i < p->ngoal_files; i++)
        if (access(p->goal_files[i], R_OK) != 0)
            fprintf(stderr, "note: %s: goal file %s is not in the tree yet\n", path,
                    p->goal_files[i]);
    pd_pipeline_destroy(p);
}

static void test_eventhubs_pipeline(void **state)
{
    (void)state;
    char path[1024];
    check_pipeline_files(
        pd_test_src_path("docker/config/eventhubs-pipeline.yaml", path, sizeof(path)));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The ConfigMap's two files, laid out as in the pod: /etc/postured/k8s next to pipelines/. */
static void test_k8s_configmap(void **state)
{
    (void)state;
    char path[1024];
    pd_test_src_path("docker/k8s/configmap.yaml", path, sizeof(path));
    pd_ydoc *doc = NULL;
    pd_diag diag;
    memset(&diag, 0, sizeof(diag));
    assert_int_equal(pd_yaml_load_file(path, &doc, &diag), 0);
    const pd_ynode *data = pd_ymap_get(pd_yaml_root(doc), "data");
    const char *cfg_text = NULL, *pipe_text = NULL;
    assert_int_equal(pd_ynode_str(doc, pd_ymap_get(data, "postured.yaml"), &cfg_text, &diag), 0);
    assert_int_equal(pd_ynode_str(doc, pd_ymap_get(data, "pipeline.yaml"), &pipe_text, &diag), 0);

    char dir[] = "/tmp/pd-k8s-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char k8s[256], pipes[256], src[1024], cfg_path[300], pipe_path[300];
    snprintf(k8s, sizeof(k8s), "%s/k8s", dir);
    snprintf(pipes, sizeof(pipes), "%s/pipelines", dir);
    assert_int_equal(mkdir(k8s, 0700), 0);
    assert_int_equal(symlink(pd_test_src_path("pipelines", src, sizeof(src)), pipes), 0);
    snprintf(cfg_path, sizeof(cfg_path), "%s/postured.yaml", k8s);
    snprintf(pipe_path, sizeof(pipe_path), "%s/pipeline.yaml", k8s);
    write_file(cfg_path, cfg_text);
    write_file(pipe_path, pipe_text);
    pd_yaml_free(doc);

    pd_config *cfg = NULL;
    if (pd_config_load(cfg_path, &cfg, &diag) != 0)
        fail_msg("configmap postured.yaml: %s", diag.msg);
    assert_string_equal(cfg->pipeline, "/etc/postured/k8s/pipeline.yaml");
    assert_string_equal(cfg->http_token_env, "POSTURED_TOKEN");
    pd_config_destroy(cfg);
    check_pipeline_files(pipe_path);

    unlink(cfg_path);
    unlink(pipe_path);
    unlink(pipes);
    rmdir(k8s);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose_config),   cmocka_unit_test(test_eventhubs_config),
        cmocka_unit_test(test_http_config_from), cmocka_unit_test(test_eventhubs_pipeline),
        cmocka_unit_test(test_k8s_configmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
