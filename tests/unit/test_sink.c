/* Sinks: the common layer (config, route, rate limit and digests, dead letters), the
 * file/stdout sink and the msgpack format. Webhooks: test_sink_webhook.c. */
#include "pd_test.h"
#include "test_sink_fixtures.h"

#include <jansson.h>
#include <msgpack.h>
#include <unistd.h>

/* ---- a fake sink type registered through pd_sink_env.types ---- */

typedef struct fake {
    int cap; /* queue capacity: submit fails with PD_EFULL beyond */
    int n;
    char last[4096];
    char keys[64][40];
    bool digest[64];
} fake;

static const char *const fake_keys[] = {"capacity", NULL};

static int fake_create(const pd_sink_create_args *a, void **impl, pd_diag *diag)
{
    fake *f = a->type_ctx;
    const pd_ynode *v = pd_ymap_get(a->node, "capacity");
    int64_t cap = 64;
    if (v) {
        int rc = pd_ynode_int(a->doc, v, 0, 64, &cap, diag);
        if (rc)
            return rc;
    }
    f->cap = (int)cap;
    *impl = f;
    return 0;
}

static int fake_submit(void *impl, const pd_sink_msg *m)
{
    fake *f = impl;
    if (f->n >= f->cap)
        return PD_EFULL;
    snprintf(f->last, sizeof(f->last), "%.*s", (int)m->len, (const char *)m->data);
    snprintf(f->keys[f->n], sizeof(f->keys[0]), "%s", m->key);
    f->digest[f->n] = m->digest != NULL;
    f->n++;
    return 0;
}

static void fake_destroy(void *impl)
{
    PD_UNUSED(impl);
}

static const pd_sink_ops fake_ops = {"fake", fake_keys, fake_create, fake_submit,
                                     NULL,   NULL,      fake_destroy};

typedef struct deadlog {
    int n;
    char reason[128];
    char key[40];
    char sink[64];
} deadlog;

static void on_dead(void *ctx, const pd_sink_dead *d)
{
    deadlog *l = ctx;
    l->n++;
    snprintf(l->reason, sizeof(l->reason), "%s", d->reason);
    snprintf(l->key, sizeof(l->key), "%s", d->key);
    snprintf(l->sink, sizeof(l->sink), "%s", d->sink);
}

static int64_t fake_now;
static int64_t now_fn(void *ctx)
{
    PD_UNUSED(ctx);
    return fake_now;
}

static char *tmpfile_path(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/pd_test_sink_%d_XXXXXX", (int)getpid());
    int fd = mkstemp(buf);
    assert_true(fd >= 0);
    close(fd);
    return buf;
}

/* ---- tests ---- */

static void test_file_jsonl(void **state)
{
    PD_UNUSED(state);
    char path[128], yaml[512];
    tmpfile_path(path, sizeof(path));
    snprintf(yaml, sizeof(yaml), "{type: file, name: out, path: '%s', append: false}", path);
    pd_sink_env env = {0};
    pd_sink *s;
    pd_diag diag = {{0}};
    assert_int_equal(fx_sink(&env, yaml, &s, &diag), 0);
    pd_signal a = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    pd_signal b = fx_breach("lateral-spread", PD_SEV_CRITICAL);
    assert_int_equal(pd_sink_submit(s, &a), 0);
    assert_int_equal(pd_sink_submit(s, &b), 0);
    pd_sink_stats st;
    pd_sink_get_stats(s, &st);
    assert_int_equal(st.seen, 2);
    assert_int_equal(st.delivered, 2);
    assert_string_equal(pd_sink_name(s), "out");
    pd_sink_destroy(s);

    size_t len = 0;
    char *text = pd_test_read_file(path, &len);
    assert_non_null(text);
    /* each line is the native JSON, byte for byte */
    pd_buf want;
    pd_buf_init(&want);
    pd_signal_to_json(&a, &want);
    pd_buf_putc(&want, '\n');
    pd_signal_to_json(&b, &want);
    pd_buf_putc(&want, '\n');
    assert_int_equal(len, want.len);
    assert_memory_equal(text, want.p, len);
    json_error_t err;
    json_t *j = json_loadb(text, strchr(text, '\n') - text, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "control.regressed");
    json_decref(j);
    pd_buf_free(&want);
    free(text);
    unlink(path);
}

static int route_count(const char *route, const pd_signal *sigs, int n)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "{type: fake, route: %s}", route);
    fake f = {0};
    pd_sink_type t = {&fake_ops, &f};
    pd_sink_env env = {.types = &t, .ntypes = 1};
    pd_sink *s;
    pd_diag diag;
    int rc = fx_sink(&env, yaml, &s, &diag);
    if (rc)
        fail_msg("%s", diag.msg);
    for (int i = 0; i < n; i++)
        assert_int_equal(pd_sink_submit(s, &sigs[i]), 0);
    pd_sink_stats st;
    pd_sink_get_stats(s, &st);
    assert_int_equal(st.filtered + st.accepted, (uint64_t)n);
    pd_sink_destroy(s);
    return f.n;
}

static void test_route(void **state)
{
    PD_UNUSED(state);
    pd_signal sigs[] = {
        fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod"),
        fx_drift("control.recovered", PD_SEV_LOW, "edr-prod"),
        fx_drift("goal.breached", PD_SEV_CRITICAL, "va-coverage"),
        fx_breach("lateral-spread", PD_SEV_HIGH),
        fx_breach("alert-burst", PD_SEV_MEDIUM),
    };
    int n = (int)PD_ARRAY_LEN(sigs);
    assert_int_equal(route_count("{}", sigs, n), 5);
    assert_int_equal(route_count("{kinds: [breach]}", sigs, n), 2);
    assert_int_equal(route_count("{kinds: drift}", sigs, n), 3);
    assert_int_equal(route_count("{types: ['control.*']}", sigs, n), 2);
    assert_int_equal(route_count("{types: ['goal.*', 'breach.lateral-*']}", sigs, n), 2);
    assert_int_equal(route_count("{min_severity: high}", sigs, n), 3);
    assert_int_equal(route_count("{min_severity: critical}", sigs, n), 1);
    assert_int_equal(route_count("{goals: [edr-prod]}", sigs, n), 2);
    assert_int_equal(route_count("{goals: ['*']}", sigs, n), 3);
    assert_int_equal(route_count("{rules: [alert-burst]}", sigs, n), 1);
    /* goals and rules together: either matches */
    assert_int_equal(route_count("{goals: [va-*], rules: [lateral-spread]}", sigs, n), 2);
    /* AND across keys */
    assert_int_equal(
        route_count("{kinds: [drift], min_severity: high, goals: [edr-prod]}", sigs, n), 1);
}

static void test_config_errors(void **state)
{
    PD_UNUSED(state);
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"type: file\npath: /tmp/x\ncolour: red\n", "<test>:3:1: unknown key 'colour'"},
        {"type: carrier-pigeon\n", "<test>:1:7: unknown sink type 'carrier-pigeon'"},
        {"type: stdout\nformat: xml\n", "<test>:2:9: unknown format 'xml'"},
        {"type: stdout\nroute:\n  kinds: [drift, gossip]\n", "<test>:3:10: unknown signal kind"},
        {"type: stdout\nroute:\n  min_severity: scary\n", "<test>:3:17: unknown severity"},
        {"type: stdout\nroute:\n  goal: [x]\n", "<test>:3:3: unknown key 'goal'"},
        {"type: file\n", "<test>:1:1: file sink needs 'path'"},
        {"name: x\n", "<test>:1:1: sink needs 'type'"},
        {"type: stdout\nrate_limit: -3\n", "<test>:2:13:"},
    };
    for (size_t i = 0; i < PD_ARRAY_LEN(cases); i++) {
        pd_sink_env env = {0};
        pd_sink *s = NULL;
        pd_diag diag = {{0}};
        int rc = fx_sink(&env, cases[i].yaml, &s, &diag);
        assert_int_not_equal(rc, 0);
        assert_null(s);
        if (strncmp(diag.msg, cases[i].want, strlen(cases[i].want)) &&
            !strstr(diag.msg, cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, diag.msg, cases[i].want);
    }
}

static void test_set_load(void **state)
{
    PD_UNUSED(state);
    static const char yaml[] = "sinks:\n"
                               "  - {type: fake, name: a}\n"
                               "  - {type: fake, route: {kinds: [breach]}}\n";
    pd_ydoc *doc;
    pd_diag diag;
    assert_int_equal(pd_yaml_load_buf("<set>", yaml, sizeof(yaml) - 1, &doc, &diag), 0);
    fake f = {0};
    pd_sink_type t = {&fake_ops, &f};
    pd_sink_env env = {.types = &t, .ntypes = 1};
    pd_sink_set *set;
    assert_int_equal(
        pd_sink_set_load(&env, doc, pd_ymap_get(pd_yaml_root(doc), "sinks"), &set, &diag), 0);
    assert_int_equal(pd_sink_set_count(set), 2);
    assert_non_null(pd_sink_set_find(set, "a"));
    assert_non_null(pd_sink_set_find(set, "fake-1")); /* default name: type-index */
    pd_signal d = fx_drift("goal.breached", PD_SEV_HIGH, "g");
    pd_signal b = fx_breach("alert-burst", PD_SEV_HIGH);
    assert_int_equal(pd_sink_set_signal(set, &d), 0);
    assert_int_equal(pd_sink_set_signal(set, &b), 0);
    assert_int_equal(f.n, 3); /* both sinks share the fake: 2 + 1 */
    assert_int_equal(pd_sink_set_drain(set, 100), 0);
    pd_sink_set_destroy(set);
    pd_yaml_free(doc);

    static const char dup[] = "- {type: fake, name: a}\n- {type: fake, name: a}\n";
    assert_int_equal(pd_yaml_load_buf("<dup>", dup, sizeof(dup) - 1, &doc, &diag), 0);
    assert_int_equal(pd_sink_set_load(&env, doc, pd_yaml_root(doc), &set, &diag), PD_ECONFIG);
    assert_non_null(strstr(diag.msg, "<dup>:2:3: duplicate sink name 'a'"));
    pd_yaml_free(doc);
}

static void test_queue_full_dead_letter(void **state)
{
    PD_UNUSED(state);
    fake f = {0};
    deadlog dl = {0};
    pd_sink_type t = {&fake_ops, &f};
    pd_sink_env env = {.types = &t, .ntypes = 1, .dead = on_dead, .dead_ctx = &dl};
    pd_sink *s;
    pd_diag diag;
    assert_int_equal(fx_sink(&env, "{type: fake, name: q, capacity: 2}", &s, &diag), 0);
    pd_signal sigs[4] = {
        fx_drift("control.regressed", PD_SEV_HIGH, "g1"),
        fx_drift("control.regressed", PD_SEV_HIGH, "g2"),
        fx_drift("control.regressed", PD_SEV_HIGH, "g3"),
        fx_drift("control.regressed", PD_SEV_HIGH, "g4"),
    };
    for (int i = 0; i < 4; i++)
        assert_int_equal(pd_sink_submit(s, &sigs[i]), 0);
    pd_sink_stats st;
    pd_sink_get_stats(s, &st);
    assert_int_equal(f.n, 2);
    assert_int_equal(dl.n, 2);
    assert_int_equal(st.dead, 2);
    assert_int_equal(st.queue_full, 2);
    assert_string_equal(dl.reason, "queue full");
    assert_string_equal(dl.key, sigs[3].id);
    assert_string_equal(dl.sink, "q");
    pd_sink_destroy(s);
}

static void test_rate_limit_digest(void **state)
{
    PD_UNUSED(state);
    fake f = {0};
    pd_sink_type t = {&fake_ops, &f};
    pd_sink_env env = {.types = &t, .ntypes = 1, .now_ms = now_fn};
    pd_sink *s;
    pd_diag diag;
    fake_now = 1000000;
    assert_int_equal(fx_sink(&env, "{type: fake, name: chat, rate_limit: 3}", &s, &diag), 0);
    const int n_edr = 40, n_va = 5, n_breach = 2;
    for (int i = 0; i < n_edr; i++) {
        pd_signal x =
            fx_drift("control.regressed", i == 7 ? PD_SEV_CRITICAL : PD_SEV_HIGH, "edr-prod");
        fake_now += 100;
        assert_int_equal(pd_sink_submit(s, &x), 0);
    }
    for (int i = 0; i < n_va; i++) {
        pd_signal x = fx_drift("control.regressed", PD_SEV_LOW, "va-coverage");
        assert_int_equal(pd_sink_submit(s, &x), 0);
    }
    for (int i = 0; i < n_breach; i++) {
        pd_signal x = fx_breach("alert-burst", PD_SEV_HIGH);
        assert_int_equal(pd_sink_submit(s, &x), 0);
    }
    assert_int_equal(f.n, 3); /* the limit */
    pd_sink_stats st;
    pd_sink_get_stats(s, &st);
    uint64_t held = (uint64_t)(n_edr + n_va + n_breach - 3);
    assert_int_equal(st.digested, held);
    assert_int_equal(st.digests, 0);

    /* the window is not over yet: flush emits nothing */
    assert_int_equal(pd_sink_flush(s), 0);
    assert_int_equal(f.n, 3);
    /* a minute later: one digest per group, then the new signal */
    fake_now += 60000;
    pd_signal next = fx_drift("goal.breached", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_submit(s, &next), 0);
    assert_int_equal(f.n, 3 + 3 + 1);
    assert_true(f.digest[3] && f.digest[4] && f.digest[5] && !f.digest[6]);
    assert_string_equal(f.keys[6], next.id);
    pd_sink_get_stats(s, &st);
    assert_int_equal(st.digests, 3);
    pd_sink_destroy(s);

    /* the digests' text and counts, seen through a file sink */
    char path[128], yaml[512];
    tmpfile_path(path, sizeof(path));
    snprintf(yaml, sizeof(yaml), "{type: file, path: '%s', rate_limit: 1, rate_window: 1m}", path);
    env = (pd_sink_env){.now_ms = now_fn};
    fake_now = 5000000;
    assert_int_equal(fx_sink(&env, yaml, &s, &diag), 0);
    for (int i = 0; i < 38; i++) {
        pd_signal x = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
        assert_int_equal(pd_sink_submit(s, &x), 0);
    }
    fake_now += 60000;
    assert_int_equal(pd_sink_flush(s), 0);
    pd_sink_destroy(s);
    char *text = pd_test_read_file(path, NULL);
    assert_non_null(text);
    char *second = strchr(text, '\n');
    assert_non_null(second);
    json_error_t err;
    json_t *d = json_loads(second + 1, JSON_DISABLE_EOF_CHECK, &err);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "signal")), "digest");
    assert_int_equal(json_integer_value(json_object_get(d, "count")), 37);
    assert_string_equal(json_string_value(json_object_get(d, "goal")), "edr-prod");
    assert_string_equal(json_string_value(json_object_get(d, "text")),
                        "37 more control.regressed for goal edr-prod in the last minute");
    json_decref(d);
    free(text);
    unlink(path);
}

/* msgpack: the same object as the native JSON, field for field. */
static json_t *mp_to_json(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(a, mp_to_json(&o->via.array.ptr[i]));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char key[128];
            snprintf(key, sizeof(key), "%.*s", (int)k->via.str.size, k->via.str.ptr);
            json_object_set_new(m, key, mp_to_json(&o->via.map.ptr[i].val));
        }
        return m;
    }
    default:
        return NULL;
    }
}

static void test_msgpack(void **state)
{
    PD_UNUSED(state);
    fake f = {0};
    pd_sink_type t = {&fake_ops, &f};
    pd_sink_env env = {.types = &t, .ntypes = 1};
    char path[128], yaml[512];
    tmpfile_path(path, sizeof(path));
    snprintf(yaml, sizeof(yaml), "{type: file, path: '%s', format: msgpack, append: false}", path);
    pd_sink *s;
    pd_diag diag;
    assert_int_equal(fx_sink(&env, yaml, &s, &diag), 0);
    pd_signal sigs[2] = {fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod"),
                         fx_breach("lateral-spread", PD_SEV_CRITICAL)};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pd_sink_submit(s, &sigs[i]), 0);
    pd_sink_destroy(s);
    size_t len = 0;
    char *data = pd_test_read_file(path, &len);
    assert_non_null(data);
    size_t off = 0;
    for (int i = 0; i < 2; i++) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, data, len, &off), MSGPACK_UNPACK_SUCCESS);
        json_t *got = mp_to_json(&u.data);
        pd_buf nat;
        pd_buf_init(&nat);
        pd_signal_to_json(&sigs[i], &nat);
        json_error_t err;
        json_t *want = json_loadb(nat.p, nat.len, 0, &err);
        assert_non_null(want);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
            fail_msg("msgpack differs:\n got %s\nwant %s", g, w);
        }
        json_decref(got);
        json_decref(want);
        pd_buf_free(&nat);
        msgpack_unpacked_destroy(&u);
    }
    assert_int_equal(off, len); /* nothing else in the stream */
    free(data);
    unlink(path);
}

static void test_set_stdout(void **state)
{
    PD_UNUSED(state);
    pd_sink_env env = {0};
    pd_sink_set *set;
    assert_int_equal(pd_sink_set_stdout(&env, &set), 0);
    assert_int_equal(pd_sink_set_count(set), 1);
    pd_sink *s = pd_sink_set_find(set, "stdout");
    assert_non_null(s);
    assert_int_equal(pd_sink_get_format(s), PD_SINK_FMT_JSON);
    pd_signal d = fx_drift("goal.breached", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_set_signal(set, &d), 0);
    assert_int_equal(pd_sink_set_drain(set, 100), 0);
    pd_sink_stats st;
    pd_sink_get_stats(s, &st);
    assert_int_equal(st.delivered, 1);
    pd_sink_set_destroy(set);
    pd_sink_set_destroy(NULL);
    pd_sink_destroy(NULL);
}

static void test_summary(void **state)
{
    PD_UNUSED(state);
    pd_buf b;
    pd_buf_init(&b);
    pd_signal d = fx_drift("goal.breached", PD_SEV_HIGH, "edr-prod");
    pd_sink_summary(&d, &b);
    const char *t = pd_buf_cstr(&b);
    assert_non_null(strstr(t, "[HIGH] goal.breached"));
    assert_non_null(strstr(t, "edr-prod"));
    assert_non_null(strstr(t, ">= 98%"));
    pd_buf_reset(&b);
    pd_signal x = fx_breach("lateral-spread", PD_SEV_CRITICAL);
    pd_sink_summary(&x, &b);
    t = pd_buf_cstr(&b);
    assert_non_null(strstr(t, "[CRITICAL] breach.lateral-spread"));
    assert_non_null(strstr(t, "web-01 and 2 more"));
    pd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_jsonl),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_set_load),
        cmocka_unit_test(test_queue_full_dead_letter),
        cmocka_unit_test(test_rate_limit_digest),
        cmocka_unit_test(test_msgpack),
        cmocka_unit_test(test_set_stdout),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
