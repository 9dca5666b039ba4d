/* The daemon configurations shipped under docker/ load with the real config loader (unknown
 * keys are errors there), so the examples cannot drift from the options postured accepts. */
#include "pd_test.h"

#include "pd_config.h"
#include "pd_http.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose_config),
        cmocka_unit_test(test_eventhubs_config),
        cmocka_unit_test(test_http_config_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
