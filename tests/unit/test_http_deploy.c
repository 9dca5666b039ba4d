/* The daemon configurations shipped under docker/ load with the real config loader (unknown
 * keys are errors there), so the examples cannot drift from the options postured accepts. */
#include "pd_test.h"

#include "pd_config.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose_config),
        cmocka_unit_test(test_eventhubs_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
