/* pd_log: every line is one JSON object with the documented keys; levels filter; secrets
 * (registered and pattern-matched) never reach the output. */
#include "pd_test.h"

#include "pd_config.h"
#include "pd_log.h"
#include "pd_time.h"

#include <jansson.h>
#include <unistd.h>

static FILE *cap_file;

static int setup(void **state)
{
    (void)state;
    cap_file = tmpfile();
    assert_non_null(cap_file);
    pd_log_set_fd(fileno(cap_file));
    pd_log_set_level(PD_LOG_DEBUG);
    pd_log_clear_secrets();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pd_log_set_fd(2);
    pd_log_clear_secrets();
    fclose(cap_file);
    return 0;
}

/* Everything written so far, NUL-terminated, malloc'd. */
static char *captured(void)
{
    long n = lseek(fileno(cap_file), 0, SEEK_END);
    assert_true(n >= 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fileno(cap_file), buf, (size_t)n, 0), n);
    buf[n] = '\0';
    return buf;
}

/* Parses every line as a JSON object with the required keys; returns them as an array. */
static json_t *parse_lines(const char *text)
{
    json_t *arr = json_array();
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        json_error_t err;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (!o)
            fail_msg("line is not JSON (%s): %.*s", err.text, (int)(nl - p), p);
        assert_true(json_is_object(o));
        const char *ts = json_string_value(json_object_get(o, "time"));
        assert_non_null(ts);
        int64_t ms;
        assert_int_equal(pd_time_parse(pd_str_c(ts), &ms), 0);
        assert_true(ms > pd_now_ms() - 60000 && ms <= pd_now_ms() + 1000);
        pd_log_level lvl;
        assert_int_equal(pd_log_level_parse(json_string_value(json_object_get(o, "level")), &lvl),
                         0);
        assert_true(json_is_string(json_object_get(o, "component")));
        assert_true(json_is_string(json_object_get(o, "message")));
        json_array_append_new(arr, o);
        p = nl + 1;
    }
    return arr;
}

static void test_line_shape(void **state)
{
    (void)state;
    pd_log_field f[] = {PD_LF_STR("topic", "defender.assessments"), PD_LF_INT("partition", 7),
                        PD_LF_NUM("ratio", 0.25), PD_LF_BOOL("paused", true),
                        PD_LF_STR("nothing", NULL)};
    pd_log_fields(PD_LOG_WARN, "kafka", "partition \"paused\"\n", f, PD_ARRAY_LEN(f));
    pd_log_info("engine", "loaded %d goals", 12);
    char *text = captured();
    json_t *lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), 2);
    json_t *a = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(a, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(a, "component")), "kafka");
    assert_string_equal(json_string_value(json_object_get(a, "message")), "partition \"paused\"\n");
    json_t *fields = json_object_get(a, "fields");
    assert_string_equal(json_string_value(json_object_get(fields, "topic")), f[0].s);
    assert_int_equal(json_integer_value(json_object_get(fields, "partition")), f[1].i);
    assert_true(json_number_value(json_object_get(fields, "ratio")) == f[2].d);
    assert_true(json_is_true(json_object_get(fields, "paused")));
    assert_true(json_is_null(json_object_get(fields, "nothing")));
    json_t *b = json_array_get(lines, 1);
    assert_string_equal(json_string_value(json_object_get(b, "message")), "loaded 12 goals");
    assert_null(json_object_get(b, "fields"));
    json_decref(lines);
    free(text);
}

static void test_levels(void **state)
{
    (void)state;
    pd_log_level l;
    assert_int_equal(pd_log_level_parse("WARNING", &l), 0);
    assert_int_equal(l, PD_LOG_WARN);
    assert_int_equal(pd_log_level_parse("verbose", &l), PD_EINVAL);
    pd_log_set_level(PD_LOG_WARN);
    pd_log_debug("t", "debug-line");
    pd_log_info("t", "info-line");
    pd_log_warn("t", "warn-line");
    pd_log_error("t", "error-line");
    pd_log_set_level(PD_LOG_OFF);
    pd_log_error("t", "off-line");
    pd_log_set_level(PD_LOG_DEBUG);
    char *text = captured();
    json_t *lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), 2);
    assert_null(strstr(text, "debug-line"));
    assert_null(strstr(text, "info-line"));
    assert_null(strstr(text, "off-line"));
    assert_non_null(strstr(text, "warn-line"));
    assert_non_null(strstr(text, "error-line"));
    json_decref(lines);
    free(text);
}

/* A secret made at run time, so no constant in this file could leak by accident. */
static void make_secret(char *out, size_t n, unsigned seed)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i + 1 < n; i++) {
        seed = seed * 1103515245u + 12345u;
        out[i] = alphabet[(seed >> 16) % 64];
    }
    out[n - 1] = '\0';
}

static void test_secrets_never_appear(void **state)
{
    (void)state;
    char key[45], tok[33], pw[21], reg[25];
    make_secret(key, sizeof(key), 1);
    make_secret(tok, sizeof(tok), 2);
    make_secret(pw, sizeof(pw), 3);
    make_secret(reg, sizeof(reg), 4);
    char conn[256];
    snprintf(conn, sizeof(conn),
             "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=RootManage;"
             "SharedAccessKey=%s;EntityPath=hub",
             key);

    assert_int_equal(pd_log_add_secret(reg), 0);
    assert_int_equal(pd_log_add_secret(reg), 0); /* twice: no-op */
    assert_int_equal(pd_log_add_secret("abc"), PD_EINVAL);

    pd_log_info("cfg", "event hubs connection: %s", conn);
    pd_log_info("http", "request header Authorization: Bearer %s", tok);
    pd_log_info("http", "upstream sent bearer %s back", tok);
    pd_log_info("http", "curl -H 'authorization: Basic %s' x", pw);
    pd_log_info("cfg", "kafka sasl.password=%s sasl.username=$ConnectionString", pw);
    pd_log_info("cfg", "{\"sasl.password\": \"%s\", \"bootstrap.servers\": \"b:9093\"}", pw);
    pd_log_info("cfg", "escaped {\\\"token\\\":\\\"%s\\\"}", tok);
    pd_log_info("http", "GET /metrics?access_token=%s&x=1", tok);
    pd_log_info("cfg", "registered secret inside text: <%s>", reg);
    pd_log_field f[] = {PD_LF_STR("sasl.password", pw), PD_LF_STR("connection_string", conn),
                        PD_LF_STR("url", conn), PD_LF_STR("note", reg)};
    pd_log_fields(PD_LOG_ERROR, "cfg", "fields", f, PD_ARRAY_LEN(f));
    char dump[256];
    snprintf(dump, sizeof(dump), "Configuration:\n  sasl.password = %s\n", pw);
    pd_log_rdkafka(7, "CONFWARN", dump);

    char *text = captured();
    json_t *lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), 11);
    if (strstr(text, key) || strstr(text, tok) || strstr(text, pw) || strstr(text, reg))
        fail_msg("a secret leaked into the log:\n%s", text);
    /* redaction keeps the context readable */
    assert_non_null(strstr(text, "SharedAccessKeyName=RootManage"));
    assert_non_null(strstr(text, "SharedAccessKey=" PD_LOG_REDACTED));
    assert_non_null(strstr(text, "Authorization: " PD_LOG_REDACTED "\""));
    assert_non_null(strstr(text, "bearer " PD_LOG_REDACTED " back"));
    assert_non_null(strstr(text, "sasl.username=$ConnectionString"));
    assert_non_null(strstr(text, "bootstrap.servers"));
    assert_non_null(strstr(text, "&x=1"));
    json_t *rk = json_array_get(lines, 10);
    assert_string_equal(json_string_value(json_object_get(rk, "component")), "rdkafka");
    assert_string_equal(json_string_value(json_object_get(rk, "level")), "debug");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rk, "fields"), "facility")), "CONFWARN");
    json_decref(lines);
    free(text);
}

static void test_redact_api(void **state)
{
    (void)state;
    char out[128];
    /* no secret: unchanged; words that merely contain a key are left alone */
    const char *plain = "tokens=5 passwords_checked=2 SharedAccessKeyName=x";
    pd_log_redact(plain, strlen(plain), out, sizeof(out));
    assert_string_equal(out, plain);
    const char *pw = "password: hunter22 rest";
    pd_log_redact(pw, strlen(pw), out, sizeof(out));
    assert_string_equal(out, "password: " PD_LOG_REDACTED " rest");
    /* truncation keeps the NUL inside cap */
    size_t n = pd_log_redact(plain, strlen(plain), out, 8);
    assert_int_equal(n, 7);
    assert_int_equal(strlen(out), 7);
    assert_true(pd_log_key_is_secret("kafka.sasl.password"));
    assert_true(pd_log_key_is_secret("EVENTHUBS_CONNECTION_STRING"));
    assert_false(pd_log_key_is_secret("bootstrap.servers"));
}

static void test_rdkafka_levels(void **state)
{
    (void)state;
    pd_log_rdkafka(3, "FAIL", "broker down");
    pd_log_rdkafka(4, "REQTMOUT", "timed out");
    pd_log_rdkafka(6, "INFO", "assigned");
    pd_log_rdkafka_cb(NULL, 7, "FETCH", "fetching");
    char *text = captured();
    json_t *lines = parse_lines(text);
    static const char *const want[] = {"error", "warn", "info", "debug"};
    assert_int_equal(json_array_size(lines), PD_ARRAY_LEN(want));
    for (size_t i = 0; i < PD_ARRAY_LEN(want); i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(lines, i), "level")),
                            want[i]);
    json_decref(lines);
    free(text);
}

static void test_hostile_input_stays_json(void **state)
{
    (void)state;
    /* control characters, invalid UTF-8, valid multibyte, an over-long message */
    char msg[PD_LOG_LINE_MAX * 2];
    size_t n = 0;
    const char *head = "ctl\x01\x1f bad\xff\xc3( ok\xc3\xa9 \xe2\x82\xac ";
    memcpy(msg, head, strlen(head));
    n = strlen(head);
    for (; n < sizeof(msg) - 1; n++)
        msg[n] = (n % 7) ? 'x' : '"';
    msg[n] = '\0';
    pd_log_error("fuzz", "%s", msg);
    char big[3000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pd_log_field f[] = {PD_LF_STR("a", big), PD_LF_STR("b", big), PD_LF_STR("c", big),
                        PD_LF_STR("d", big)};
    pd_log_fields(PD_LOG_INFO, "fuzz", "many fields", f, PD_ARRAY_LEN(f));
    char *text = captured();
    json_t *lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), 2);
    const char *m = json_string_value(json_object_get(json_array_get(lines, 0), "message"));
    assert_non_null(strstr(m, "ok\xc3\xa9 \xe2\x82\xac"));
    assert_non_null(strstr(m, "ctl\x01\x1f"));
    assert_true(json_is_true(json_object_get(json_array_get(lines, 0), "truncated")));
    json_t *f2 = json_object_get(json_array_get(lines, 1), "fields");
    assert_true(json_object_size(f2) >= 1 && json_object_size(f2) < PD_ARRAY_LEN(f));
    assert_true(json_is_true(json_object_get(json_array_get(lines, 1), "truncated")));
    for (const char *p = text; *p; p++)
        assert_true(*p == '\n' || (unsigned char)*p >= 0x20); /* one physical line each */
    assert_true(strlen(text) <= 2 * PD_LOG_LINE_MAX);
    json_decref(lines);
    free(text);
}

static void test_config_secrets_and_kafka_handler(void **state)
{
    (void)state;
    char pw[23], key[31];
    make_secret(pw, sizeof(pw), 11);
    make_secret(key, sizeof(key), 12);
    pd_kv kv[] = {{"bootstrap.servers", "broker-1:9093"},
                  {"sasl.password", pw},
                  {"ssl.key.password", key},
                  {"sasl.username", "$ConnectionString"}};
    assert_int_equal(pd_log_add_kv_secrets(kv, PD_ARRAY_LEN(kv)), 0);
    /* librdkafka prints settings in its own words: only the registered values can catch them */
    char line[256];
    snprintf(line, sizeof(line), "Client config: pw %s, key %s, brokers broker-1:9093", pw, key);
    pd_log_kafka_handler(NULL, NULL, 6, "CONFDUMP", line);
    char *text = captured();
    json_t *lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), 1);
    assert_null(strstr(text, pw));
    assert_null(strstr(text, key));
    assert_non_null(strstr(text, "broker-1:9093")); /* not secret: kept */
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "component")),
                        "rdkafka");
    json_decref(lines);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_never_appear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rdkafka_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_input_stays_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_secrets_and_kafka_handler, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
