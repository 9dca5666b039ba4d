/* test_kafka_run.c: `postured run` against the real broker (issue 6's acceptance).
 *
 * One input: 200,000 generated events keyed by resource id on a topic with 4 partitions, with
 * malformed messages mixed in; the same messages in one file for `postured replay`.
 *  - run: the per-resource signals on the output topics equal replay's as a set of ids, the
 *    final goal values (status topic) equal replay's, every malformed message reaches the
 *    dead-letter topic with its reason and source, and the run stops cleanly (exit 0).
 *  - kill -9 mid-run, restart: no per-resource signal missing, final goal values equal.
 *  - SIGTERM mid-run: exit 0 within 10 s; a restart finishes with nothing missing.
 *  - the broker stops for 10 s mid-stream and comes back: no crash, nothing lost.
 *  - a single input partition: the whole signal set is equal.
 * Each scenario uses its own consumer group and output topics over the shared input. */
#include "pd_test.h"

#include "pd_gen.h"
#include "pd_ktest.h"

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define NEVENTS 200000u

static const char *g_bootstrap, *g_bin, *g_src;
static char g_dir[256], g_input_file[300], g_topic4[96], g_topic1[96];
static uint32_t g_bad;
static pd_kafka_conf *g_conf;

/* ---- signal and status sets ----------------------------------------------------------- */

typedef struct idset {
    char (*ids)[33];
    uint32_t n, cap;
} idset;

static void idset_add(idset *s, const char *id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->ids = realloc(s->ids, s->cap * sizeof(*s->ids));
        assert_non_null(s->ids);
    }
    memcpy(s->ids[s->n], id, 32);
    s->ids[s->n][32] = '\0';
    s->n++;
}

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static void idset_uniq(idset *s)
{
    qsort(s->ids, s->n, sizeof(*s->ids), id_cmp);
    uint32_t w = 0;
    for (uint32_t i = 0; i < s->n; i++)
        if (w == 0 || memcmp(s->ids[w - 1], s->ids[i], 32))
            memcpy(s->ids[w++], s->ids[i], 33);
    s->n = w;
}

static bool idset_has(const idset *s, const char *id)
{
    return bsearch(id, s->ids, s->n, sizeof(*s->ids), id_cmp) != NULL;
}

/* The signal's own id (the first "id" of the line) and whether it is about one resource. */
static bool signal_id(const char *line, size_t len, char id[33], bool *per_resource)
{
    const char *p = strstr(line, "\"id\":\"");
    if (!p || (size_t)(p - line) + 6 + 32 > len)
        return false;
    memcpy(id, p + 6, 32);
    id[32] = '\0';
    *per_resource = strstr(line, "\"resource\":{") != NULL;
    return true;
}

typedef struct outputs {
    idset all, per_resource;
    uint64_t records;
    /* goal id -> last status value */
    char goals[32][64];
    double values[32];
    bool has_value[32];
    uint32_t ngoals;
    uint32_t dlq, dlq_bad_headers;
} outputs;

static void out_signal(void *ctx, const rd_kafka_message_t *m)
{
    outputs *o = ctx;
    char *line = strndup(m->payload, m->len);
    char id[33];
    bool per;
    assert_true(signal_id(line, m->len, id, &per));
    idset_add(&o->all, id);
    if (per)
        idset_add(&o->per_resource, id);
    o->records++;
    free(line);
}

static void out_status(void *ctx, const rd_kafka_message_t *m)
{
    outputs *o = ctx;
    char key[64];
    size_t kl = m->key_len < sizeof(key) - 1 ? m->key_len : sizeof(key) - 1;
    memcpy(key, m->key, kl);
    key[kl] = '\0';
    char *js = strndup(m->payload, m->len);
    const char *v = strstr(js, "\"value\":");
    uint32_t i = 0;
    while (i < o->ngoals && strcmp(o->goals[i], key))
        i++;
    if (i == o->ngoals && o->ngoals < 32)
        snprintf(o->goals[o->ngoals++], 64, "%s", key);
    if (i < 32) {
        o->has_value[i] = v && strncmp(v + 8, "null", 4);
        o->values[i] = v ? strtod(v + 8, NULL) : 0;
    }
    free(js);
}

static void out_dlq(void *ctx, const rd_kafka_message_t *m)
{
    outputs *o = ctx;
    char h[256];
    o->dlq++;
    const char *reason = pd_ktest_header(m, "postured.reason", h, sizeof(h));
    if (!*reason || !strcmp(reason, "error"))
        o->dlq_bad_headers++;
    if (strncmp(pd_ktest_header(m, "postured.source.topic", h, sizeof(h)), "pd-run-in", 9))
        o->dlq_bad_headers++;
    if (!*pd_ktest_header(m, "postured.source.offset", h, sizeof(h)) ||
        !*pd_ktest_header(m, "postured.source.partition", h, sizeof(h)) ||
        !*pd_ktest_header(m, "postured.error", h, sizeof(h)))
        o->dlq_bad_headers++;
    /* the original bytes: our malformed messages all start with "BAD" or are special */
    if (!(m->len == 0 || (m->len >= 3 && !memcmp(m->payload, "BAD", 3)) ||
          (m->len >= 1 && ((const char *)m->payload)[0] == '{') ||
          (m->len >= 1 && ((const char *)m->payload)[0] == '[')))
        o->dlq_bad_headers++;
}

static void read_outputs(const char *prefix, outputs *o)
{
    char t[160];
    memset(o, 0, sizeof(*o));
    snprintf(t, sizeof(t), "%s-drift", prefix);
    pd_ktest_collect(g_conf, t, 3000, 120, out_signal, o);
    snprintf(t, sizeof(t), "%s-breach", prefix);
    pd_ktest_collect(g_conf, t, 2000, 60, out_signal, o);
    snprintf(t, sizeof(t), "%s-status", prefix);
    pd_ktest_collect(g_conf, t, 2000, 60, out_status, o);
    snprintf(t, sizeof(t), "%s-dlq", prefix);
    pd_ktest_collect(g_conf, t, 2000, 60, out_dlq, o);
    idset_uniq(&o->all);
    idset_uniq(&o->per_resource);
}

static void outputs_free(outputs *o)
{
    free(o->all.ids);
    free(o->per_resource.ids);
}

/* ---- processes ------------------------------------------------------------------------ */

static void write_pipeline(const char *path, const char *in_topic, const char *prefix)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "pipeline:\n"
            "  name: acceptance\n"
            "  goals: [%s/pipelines/defender-servers.goals.yaml]\n"
            "  rules: [%s/pipelines/rules/builtin.yaml]\n"
            "  controls: %s/pipelines/controls.yaml\n"
            "  inputs:\n"
            "    - {topic: %s, format: auto}\n"
            "  consumer_group: %s-group\n"
            "  outputs:\n"
            "    drift: %s-drift\n"
            "    breach: %s-breach\n"
            "    status: %s-status\n"
            "    dead_letter: %s-dlq\n",
            g_src, g_src, g_src, in_topic, prefix, prefix, prefix, prefix, prefix);
    fclose(f);
}

/* postured replay over the input file: per-resource ids, all ids, final goal values. */
typedef struct reference {
    idset all, per_resource;
    char goals[32][64];
    double values[32];
    bool has_value[32];
    uint32_t ngoals;
} reference;

static void run_replay(const char *pipeline, const char *topic, reference *ref)
{
    char out[300], err[300], spec[400];
    snprintf(out, sizeof(out), "%s/replay-%s.out", g_dir, topic);
    snprintf(err, sizeof(err), "%s/replay-%s.err", g_dir, topic);
    snprintf(spec, sizeof(spec), "%s=%s", topic, g_input_file);
    char *argv[] = {(char *)g_bin, "replay", "-p", (char *)pipeline, spec, NULL};
    assert_int_equal(pd_ktest_wait_exit(pd_ktest_spawn(argv, out, err), 120), 0);
    memset(ref, 0, sizeof(*ref));
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        char id[33];
        bool per;
        assert_true(signal_id(line, (size_t)n, id, &per));
        idset_add(&ref->all, id);
        if (per)
            idset_add(&ref->per_resource, id);
    }
    fclose(f);
    /* the goal table on stderr: GOAL KIND VALUE ... */
    f = fopen(err, "r");
    assert_non_null(f);
    bool table = false;
    while ((n = getline(&line, &cap, f)) > 0) {
        char goal[64], kind[32], val[32];
        if (!strncmp(line, "GOAL ", 5)) {
            table = true;
            continue;
        }
        if (!table || sscanf(line, "%63s %31s %31s", goal, kind, val) != 3 || ref->ngoals >= 32)
            continue;
        if (!strchr(goal, '-') && !islower((unsigned char)goal[0]))
            continue;
        snprintf(ref->goals[ref->ngoals], 64, "%s", goal);
        ref->has_value[ref->ngoals] = strcmp(val, "-") != 0;
        ref->values[ref->ngoals] = strtod(val, NULL);
        ref->ngoals++;
    }
    free(line);
    fclose(f);
    idset_uniq(&ref->all);
    idset_uniq(&ref->per_resource);
    assert_true(ref->ngoals >= 5);
    assert_true(ref->per_resource.n > 1000);
}

static void reference_free(reference *r)
{
    free(r->all.ids);
    free(r->per_resource.ids);
}

static void check_goals(const reference *ref, const outputs *o)
{
    for (uint32_t i = 0; i < ref->ngoals; i++) {
        uint32_t j = 0;
        while (j < o->ngoals && strcmp(o->goals[j], ref->goals[i]))
            j++;
        if (j == o->ngoals)
            fail_msg("goal %s has no status record", ref->goals[i]);
        assert_int_equal(o->has_value[j], ref->has_value[i]);
        /* the table prints 2 decimals */
        if (ref->has_value[i] && fabs(o->values[j] - ref->values[i]) > 0.006)
            fail_msg("goal %s: run %.4f, replay %.4f", ref->goals[i], o->values[j], ref->values[i]);
    }
}

/* Every per-resource signal of replay is on the output topics (and no unknown one is). */
static void check_per_resource(const reference *ref, const outputs *o, bool exact)
{
    uint32_t missing = 0, extra = 0;
    for (uint32_t i = 0; i < ref->per_resource.n; i++)
        if (!idset_has(&o->per_resource, ref->per_resource.ids[i]))
            missing++;
    for (uint32_t i = 0; i < o->per_resource.n; i++)
        if (!idset_has(&ref->per_resource, o->per_resource.ids[i]))
            extra++;
    fprintf(stderr, "per-resource signals: replay %u, run %u, missing %u, extra %u\n",
            ref->per_resource.n, o->per_resource.n, missing, extra);
    assert_int_equal(missing, 0);
    if (exact)
        assert_int_equal(extra, 0);
}

/* ---- input ---------------------------------------------------------------------------- */

static const char *const bad_messages[] = {
    "BAD not json at all",        "{\"type\":\"Microsoft.Security/assessments\",\"id\":",
    "{\"unknown\":\"shape\"}",    "[1,2,3]",
    "BAD \xff\xfe invalid utf-8", "",
};

static int setup(void **state)
{
    (void)state;
    g_bootstrap = pd_ktest_bootstrap();
    g_bin = getenv("PD_BIN");
    g_src = getenv("PD_SOURCE_DIR");
    if (!g_bootstrap || !g_bin || !g_src) {
        fprintf(stderr, "PD_KAFKA_BOOTSTRAP, PD_BIN and PD_SOURCE_DIR are required\n");
        return -1;
    }
    snprintf(g_dir, sizeof(g_dir), "%s/pd-run-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_input_file, sizeof(g_input_file), "%s/input.jsonl", g_dir);
    pd_kafka_conf_new(&g_conf);
    pd_kafka_conf_set(g_conf, "bootstrap.servers", g_bootstrap);

    pd_ktest_unique(g_topic4, sizeof(g_topic4), "pd-run-in4");
    pd_ktest_unique(g_topic1, sizeof(g_topic1), "pd-run-in1");
    char e[256];
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "bootstrap.servers", g_bootstrap, e, sizeof(e));
    rd_kafka_conf_set(rc, "linger.ms", "20", e, sizeof(e));
    rd_kafka_conf_set(rc, "queue.buffering.max.messages", "500000", e, sizeof(e));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    if (!p || pd_ktest_create_topic(p, g_topic4, 4, 20000) ||
        pd_ktest_create_topic(p, g_topic1, 1, 20000))
        return -1;

    /* the generator: a few hundred servers, every source shape, scripted incidents */
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = 500;
    go.days = 0;
    go.max_events = NEVENTS;
    go.mix = PD_GEN_MIX_ALL;
    pd_gen *g = NULL;
    pd_diag diag;
    if (pd_gen_create(&go, &g, &diag)) {
        fprintf(stderr, "gen: %s\n", diag.msg);
        return -1;
    }
    FILE *f = fopen(g_input_file, "w");
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta meta;
    uint32_t i = 0;
    int64_t ts = 0; /* messages carry their event time as Kafka timestamp */
    for (;;) {
        pd_buf_reset(&b);
        const char *key;
        size_t klen;
        if (i % 20011 == 20010) {
            /* a malformed message in the stream; the valid ones around it go on */
            const char *bad = bad_messages[g_bad % PD_ARRAY_LEN(bad_messages)];
            pd_buf_puts(&b, bad);
            key = "malformed";
            klen = 9;
            g_bad++;
        } else {
            if (pd_gen_next(g, &b, &meta) != 0)
                break;
            key = meta.key;
            klen = strlen(meta.key);
            if (meta.time_ms > ts)
                ts = meta.time_ms;
        }
        i++;
        fwrite(b.p, 1, b.len, f);
        fputc('\n', f);
        for (int t = 0; t < 2; t++) {
            for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC((t ? g_topic1 : g_topic4)), RD_KAFKA_V_KEY(key, klen),
                    RD_KAFKA_V_VALUE(b.p, b.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    break;
                rd_kafka_poll(p, 50);
            }
        }
        rd_kafka_poll(p, 0);
    }
    fclose(f);
    pd_buf_free(&b);
    pd_gen_destroy(g);
    int rc2 = rd_kafka_flush(p, 60000);
    rd_kafka_destroy(p);
    fprintf(stderr, "input: %u messages (%u malformed) on %s and %s\n", i, g_bad, g_topic4,
            g_topic1);
    return rc2 == 0 && g_bad > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (g_dir[0] && !getenv("PD_TEST_KEEP") && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    pd_kafka_conf_destroy(g_conf);
    return 0;
}

typedef struct scenario {
    char prefix[96], pipeline[300], log[300];
} scenario;

static void scenario_init(scenario *s, const char *name, const char *in_topic)
{
    pd_ktest_unique(s->prefix, sizeof(s->prefix), name);
    snprintf(s->pipeline, sizeof(s->pipeline), "%s/%s.yaml", g_dir, name);
    snprintf(s->log, sizeof(s->log), "%s/%s.log", g_dir, name);
    write_pipeline(s->pipeline, in_topic, s->prefix);
}

static pid_t start_run(const scenario *s, const char *idle_ms, int n)
{
    char log[320];
    snprintf(log, sizeof(log), "%s.%d", s->log, n);
    char *argv[] = {(char *)g_bin,       "run",           "-p",
                    (char *)s->pipeline, "--bootstrap",   (char *)g_bootstrap,
                    "--exit-idle",       (char *)idle_ms, NULL};
    return pd_ktest_spawn(argv, NULL, log);
}

static void show_log(const scenario *s, int n)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "tail -n 5 '%s.%d' >&2", s->log, n);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
}

/* The status topic's cleanup.policy, asked with the Admin API. */
static void status_topic_policy(const char *topic, char *out, size_t n)
{
    char e[256];
    out[0] = '\0';
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "bootstrap.servers", g_bootstrap, e, sizeof(e));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    assert_non_null(rk);
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    assert_non_null(ev);
    const rd_kafka_DescribeConfigs_result_t *res = rd_kafka_event_DescribeConfigs_result(ev);
    size_t nres = 0, ncfg = 0;
    const rd_kafka_ConfigResource_t **rs =
        res ? rd_kafka_DescribeConfigs_result_resources(res, &nres) : NULL;
    const rd_kafka_ConfigEntry_t **ents =
        nres == 1 ? rd_kafka_ConfigResource_configs(rs[0], &ncfg) : NULL;
    for (size_t i = 0; i < ncfg; i++)
        if (!strcmp(rd_kafka_ConfigEntry_name(ents[i]), "cleanup.policy") &&
            rd_kafka_ConfigEntry_value(ents[i]))
            snprintf(out, n, "%s", rd_kafka_ConfigEntry_value(ents[i]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_destroy(rk);
}

/* ---- scenarios ------------------------------------------------------------------------ */

static void test_run_equals_replay_and_dead_letters(void **state)
{
    (void)state;
    scenario s;
    scenario_init(&s, "pd-run-a", g_topic4);
    int64_t t0 = pd_ktest_now_ms();
    pid_t pid = start_run(&s, "5000", 1);
    int rc = pd_ktest_wait_exit(pid, 240);
    show_log(&s, 1);
    assert_int_equal(rc, 0);
    fprintf(stderr, "run: %u messages in %.1f s (incl. 5 s idle)\n", NEVENTS + g_bad,
            (double)(pd_ktest_now_ms() - t0) / 1000.0);
    reference ref;
    run_replay(s.pipeline, g_topic4, &ref);
    outputs o;
    read_outputs(s.prefix, &o);
    check_per_resource(&ref, &o, true);
    check_goals(&ref, &o);
    assert_int_equal(o.dlq, g_bad);
    assert_int_equal(o.dlq_bad_headers, 0);
    char topic[160], policy[64];
    snprintf(topic, sizeof(topic), "%s-status", s.prefix);
    status_topic_policy(topic, policy, sizeof(policy));
    assert_string_equal(policy, "compact");
    reference_free(&ref);
    outputs_free(&o);
}

static void test_single_partition_whole_set_equal(void **state)
{
    (void)state;
    scenario s;
    scenario_init(&s, "pd-run-s", g_topic1);
    pid_t pid = start_run(&s, "5000", 1);
    int rc = pd_ktest_wait_exit(pid, 240);
    show_log(&s, 1);
    assert_int_equal(rc, 0);
    reference ref;
    run_replay(s.pipeline, g_topic1, &ref);
    outputs o;
    read_outputs(s.prefix, &o);
    fprintf(stderr, "all signals: replay %u, run %u\n", ref.all.n, o.all.n);
    assert_int_equal(o.all.n, ref.all.n);
    for (uint32_t i = 0; i < ref.all.n; i++)
        assert_true(idset_has(&o.all, ref.all.ids[i]));
    check_goals(&ref, &o);
    reference_free(&ref);
    outputs_free(&o);
}

static void test_kill9_restart_loses_nothing(void **state)
{
    (void)state;
    scenario s;
    scenario_init(&s, "pd-run-k", g_topic4);
    pid_t pid = start_run(&s, "5000", 1);
    usleep(3500 * 1000); /* the group join takes ~1 s; then it is mid-stream */
    kill(pid, SIGKILL);
    int rc = pd_ktest_wait_exit(pid, 30);
    assert_int_equal(rc, 128 + SIGKILL);
    pid = start_run(&s, "5000", 2);
    rc = pd_ktest_wait_exit(pid, 240);
    show_log(&s, 2);
    assert_int_equal(rc, 0);
    reference ref;
    run_replay(s.pipeline, g_topic4, &ref);
    outputs o;
    read_outputs(s.prefix, &o);
    fprintf(stderr, "after kill -9: %llu signal records for %u ids\n",
            (unsigned long long)o.records, o.all.n);
    check_per_resource(&ref, &o, false);
    check_goals(&ref, &o);
    reference_free(&ref);
    outputs_free(&o);
}

/* SIGTERM mid-stream: a clean stop (exit 0) within the 10 s shutdown timeout; a restart
 * finishes the stream and nothing is missing. */
static void test_sigterm_drains_within_timeout(void **state)
{
    (void)state;
    scenario s;
    scenario_init(&s, "pd-run-t", g_topic4);
    pid_t pid = start_run(&s, "5000", 1);
    usleep(3500 * 1000);
    int64_t t0 = pd_ktest_now_ms();
    kill(pid, SIGTERM);
    int rc = pd_ktest_wait_exit(pid, 30);
    int64_t took = pd_ktest_now_ms() - t0;
    show_log(&s, 1);
    fprintf(stderr, "SIGTERM: exit %d after %lld ms\n", rc, (long long)took);
    assert_int_equal(rc, 0);
    assert_true(took < 10000);
    pid = start_run(&s, "5000", 2);
    rc = pd_ktest_wait_exit(pid, 240);
    show_log(&s, 2);
    assert_int_equal(rc, 0);
    reference ref;
    run_replay(s.pipeline, g_topic4, &ref);
    outputs o;
    read_outputs(s.prefix, &o);
    check_per_resource(&ref, &o, false);
    check_goals(&ref, &o);
    reference_free(&ref);
    outputs_free(&o);
}

static void test_broker_outage_mid_stream(void **state)
{
    (void)state;
    const char *sh = getenv("PD_KAFKA_SH"), *st = getenv("PD_KAFKA_STATE");
    if (!sh || !st)
        fail_msg("PD_KAFKA_SH and PD_KAFKA_STATE are required");
    scenario s;
    scenario_init(&s, "pd-run-o", g_topic4);
    pid_t pid = start_run(&s, "20000", 1);
    usleep(3000 * 1000);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "bash '%s' bounce '%s' 10", sh, st);
    assert_int_equal(system(cmd), 0);
    int rc = pd_ktest_wait_exit(pid, 300);
    show_log(&s, 1);
    assert_int_equal(rc, 0);
    reference ref;
    run_replay(s.pipeline, g_topic4, &ref);
    outputs o;
    read_outputs(s.prefix, &o);
    check_per_resource(&ref, &o, false);
    check_goals(&ref, &o);
    assert_int_equal(o.dlq, g_bad);
    reference_free(&ref);
    outputs_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_equals_replay_and_dead_letters),
        cmocka_unit_test(test_single_partition_whole_set_equal),
        cmocka_unit_test(test_kill9_restart_loses_nothing),
        cmocka_unit_test(test_sigterm_drains_within_timeout),
        cmocka_unit_test(test_broker_outage_mid_stream),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
