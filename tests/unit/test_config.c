#include "pd_test.h"

#include "pd_config.h"

static int apply_text(pd_config *cfg, const char *text, pd_diag *d)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_buf("bad.yaml", text, strlen(text), &doc, d);
    if (!rc)
        rc = pd_config_apply_doc(cfg, doc, d);
    pd_yaml_free(doc);
    return rc;
}

static void test_shipped_config_loads(void **state)
{
    (void)state;
    char path[1024];
    pd_diag d = {{0}};
    pd_config *cfg = NULL;
    unsetenv("POSTURED_HTTP_LISTEN");
    int rc = pd_config_load(pd_test_src_path("config/postured.yaml", path, sizeof(path)), &cfg, &d);
    if (rc)
        fail_msg("%s", d.msg);
    assert_string_equal(cfg->http_listen, "127.0.0.1:9464");
    assert_int_equal(cfg->decode_max_message_bytes, 1048576);
    assert_int_equal(cfg->runtime_shutdown_timeout_ms, 10000);
    assert_int_equal(cfg->correlate_allowed_lateness_ms, 300000);
    assert_int_equal(cfg->nkafka, 1);
    assert_string_equal(cfg->kafka[0].key, "bootstrap.servers");
    pd_config_destroy(cfg);
}

static void test_unknown_keys_have_positions(void **state)
{
    (void)state;
    pd_config *cfg = NULL;
    pd_diag d = {{0}};
    assert_int_equal(pd_config_create(&cfg), 0);
    assert_int_equal(apply_text(cfg, "log:\n  level: info\nhttp:\n  listne: x\n", &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "bad.yaml:4:3: unknown key 'listne'"));
    assert_int_equal(apply_text(cfg, "logs:\n  level: info\n", &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "bad.yaml:1:1: unknown key 'logs'"));
    assert_int_equal(apply_text(cfg, "decode:\n  max_depth: 3\n", &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "bad.yaml:2:14: decode.max_depth: 3 is out of range"));
    assert_int_equal(apply_text(cfg, "runtime:\n  commit_interval: soon\n", &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "bad.yaml:2:20: runtime.commit_interval: expected a duration"));
    assert_int_equal(apply_text(cfg, "state:\n  exactly_once: maybe\n", &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "bad.yaml:2:17:"));
    pd_config_destroy(cfg);
}

static void test_env_overrides_and_secrets(void **state)
{
    (void)state;
    pd_config *cfg = NULL;
    pd_diag d = {{0}};
    assert_int_equal(pd_config_create(&cfg), 0);
    setenv("PD_TEST_SECRET", "Endpoint=sb://x/;SharedAccessKey=abc", 1);
    assert_int_equal(apply_text(cfg, "kafka:\n  sasl.password: \"${PD_TEST_SECRET}\"\n", &d), 0);
    assert_string_equal(cfg->kafka[0].value, "Endpoint=sb://x/;SharedAccessKey=abc");
    assert_int_equal(apply_text(cfg, "kafka:\n  sasl.password: \"${PD_TEST_UNSET_VAR}\"\n", &d),
                     PD_ECONFIG);
    assert_non_null(strstr(d.msg, "bad.yaml:2:18: environment variable"));
    setenv("POSTURED_RUNTIME_WAKE_BUDGET", "77", 1);
    setenv("POSTURED_HTTP_LISTEN", "0.0.0.0:1", 1);
    assert_int_equal(pd_config_apply_env(cfg, &d), 0);
    assert_int_equal(cfg->runtime_wake_budget, 77);
    assert_string_equal(cfg->http_listen, "0.0.0.0:1");
    setenv("POSTURED_RUNTIME_WAKE_BUDGET", "0", 1);
    assert_int_equal(pd_config_apply_env(cfg, &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "POSTURED_RUNTIME_WAKE_BUDGET"));
    unsetenv("POSTURED_RUNTIME_WAKE_BUDGET");
    unsetenv("POSTURED_HTTP_LISTEN");
    pd_config_destroy(cfg);
    pd_config_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_config_loads),
        cmocka_unit_test(test_unknown_keys_have_positions),
        cmocka_unit_test(test_env_overrides_and_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
