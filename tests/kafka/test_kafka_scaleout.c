/* test_kafka_scaleout.c: the scaled-out topology (state.partitioned) against the real broker
 * (issue 8's scale-out acceptance). One input of 12 partitions (20,000 generated events keyed
 * by resource id with librdkafka's default partitioner, so the route stage moves most events
 * to another partition; a few malformed messages mixed in), made once; the reference is one
 * uninterrupted instance of its own group. Each case runs instances of another group over the
 * same input until all stop on idle (one more instance then drains what departing ones left;
 * an instance that stopped on an aborted transaction is restarted, as an orchestrator would)
 * and compares the read_committed outputs with the reference's: every per-resource drift
 * signal, timer signal, breach signal and goal-level (goal.breached/restored) signal id, no
 * id of any kind repeated more than in the reference, the final value of every goal (status
 * topic) and the dead letters.
 *   test_one_instance_killed: one instance, SIGKILLed once its state stage committed 40% of
 *   the input's count of records, restarted (state restored from the changelog);
 *   test_three_instances: three (i1..i3), i2 killed the same way and restarted;
 *   test_three_instances_aborts: the same with every 5th transaction of every stage aborted
 *   (PD_FAULT_TXN_ABORT_EVERY): the stages rewind in process and must not stop.
 * PD_SCALE_DIAG=1 adds three instances without a kill and co-partitioned input (murmur2
 * keys). */
#include "pd_test.h"

#include "pd_gen.h"
#include "pd_ktest.h"
#include "pd_ktest_scale.h"
#include "pd_ktest_sig.h"

#include <signal.h>
#include <sys/wait.h>

static uint32_t NEVENTS = 20000u;
static int NKILLS = 1; /* PD_SCALE_KILLS: kills in the cases with a kill (a soak) */
enum { NPART = 12, NINST = 3 };

static const char *g_bootstrap, *g_bin, *g_src;
static char g_dir[256], g_topic[96];
static uint32_t g_bad, g_total;
static pd_kafka_conf *g_conf;

static const char *const bad_messages[] = {
    "BAD not json at all",
    "{\"type\":\"Microsoft.Security/assessments\",\"id\":",
    "[1,2,3]",
};

static int produce_input(const char *partitioner, char *topic, size_t tlen)
{
    pd_ktest_unique(topic, tlen, "pd-scale-in");
    pd_kscale_input in = {.bootstrap = g_bootstrap,
                          .topic = topic,
                          .partitioner = partitioner,
                          .partitions = NPART,
                          .events = NEVENTS,
                          .servers = PD_MAX(400u, NEVENTS / 50u),
                          .bad_every = 4001,
                          .bad = bad_messages,
                          .nbad = PD_ARRAY_LEN(bad_messages)};
    int rc = pd_kscale_produce(&in);
    g_total = in.total;
    g_bad = in.bad_sent;
    fprintf(stderr, "input: %u messages (%u malformed) on %s (%d partitions, partitioner %s)\n",
            g_total, g_bad, topic, NPART, partitioner);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    if (getenv("PD_SCALE_EVENTS"))
        NEVENTS = (uint32_t)strtoul(getenv("PD_SCALE_EVENTS"), NULL, 10);
    if (getenv("PD_SCALE_KILLS"))
        NKILLS = PD_MAX(1, atoi(getenv("PD_SCALE_KILLS")));
    g_bootstrap = pd_ktest_bootstrap();
    g_bin = getenv("PD_BIN");
    g_src = getenv("PD_SOURCE_DIR");
    if (!g_bootstrap || !g_bin || !g_src) {
        fprintf(stderr, "PD_KAFKA_BOOTSTRAP, PD_BIN and PD_SOURCE_DIR are required\n");
        return -1;
    }
    snprintf(g_dir, sizeof(g_dir), "%s/pd-scale-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    pd_kafka_conf_new(&g_conf);
    pd_kafka_conf_set(g_conf, "bootstrap.servers", g_bootstrap);
    pd_kafka_conf_set(g_conf, "isolation.level", "read_committed");

    return 0;
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

typedef struct group {
    char prefix[96], pipeline[300], config[300], log[300];
} group;

static void group_init(group *gr, const char *name)
{
    pd_ktest_unique(gr->prefix, sizeof(gr->prefix), name);
    snprintf(gr->pipeline, sizeof(gr->pipeline), "%s/%s.yaml", g_dir, name);
    snprintf(gr->config, sizeof(gr->config), "%s/%s-config.yaml", g_dir, name);
    snprintf(gr->log, sizeof(gr->log), "%s/%s.log", g_dir, name);
    char state[300];
    snprintf(state, sizeof(state), "%s/state", g_dir);
    pd_kscale_files(gr->pipeline, gr->config, "scaleout", g_src, g_topic, gr->prefix, state);
}

/* Set while a case's scaled instances start: their every Nth transaction is aborted. */
static const char *g_fault;

static pid_t start(const group *gr, const char *instance, int n)
{
    char log[400];
    snprintf(log, sizeof(log), "%s.%s.%d", gr->log, instance, n);
    return pd_kscale_start(g_bin, gr->config, gr->pipeline, g_bootstrap, instance, log, g_fault);
}

static void show(const group *gr, const char *instance, int n)
{
    char cmd[500];
    snprintf(cmd, sizeof(cmd), "tail -n 6 '%s.%s.%d' >&2", gr->log, instance, n);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
}

/* Whether an instance's log n holds needle. */
static bool log_has(const group *gr, const char *instance, int n, const char *needle)
{
    char path[400];
    snprintf(path, sizeof(path), "%s.%s.%d", gr->log, instance, n);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0)
        found = strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return found;
}

/* Whether a log of the group names a restore with a non-zero count after `after`. */
static bool log_count(const group *gr, const char *instance, int n, const char *after)
{
    char path[400];
    snprintf(path, sizeof(path), "%s.%s.%d", gr->log, instance, n);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        const char *p = strstr(line, after);
        found = p && strtoull(p + strlen(after), NULL, 10) > 0;
    }
    free(line);
    fclose(f);
    return found;
}

/* A restore of partitions with state records. */
static bool restored_state(const group *gr, const char *instance, int n)
{
    return log_count(gr, instance, n, "partition(s): ");
}

/* The per-resource signal records' ids, repeats kept, sorted. */
static void per_resource_raw(const outputs *o, idset *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < o->raw.n; i++)
        if (idset_has(&o->per_resource, o->raw.ids[i]))
            idset_add(out, o->raw.ids[i]);
}

/* The input and the uninterrupted one-instance reference run, made once per partitioner. */
static char g_ref_partitioner[32];
static group g_one;

static void reference_run(const char *partitioner)
{
    if (!strcmp(g_ref_partitioner, partitioner))
        return;
    if (produce_input(partitioner, g_topic, sizeof(g_topic)) != 0)
        fail_msg("input not produced");
    int64_t t0 = pd_ktest_now_ms();
    group_init(&g_one, "pd-scale-one");
    pid_t ref = start(&g_one, "solo", 1);
    int rc = pd_ktest_wait_exit(ref, 240);
    show(&g_one, "solo", 1);
    assert_int_equal(rc, 0);
    fprintf(stderr, "one instance: %.1f s\n", (double)(pd_ktest_now_ms() - t0) / 1000.0);
    snprintf(g_ref_partitioner, sizeof(g_ref_partitioner), "%s", partitioner);
}

/* ninst instances of another group over the same input as the reference; with do_kill, one
 * is SIGKILLed once the state stage committed 40% of the events and restarted. strict:
 * every output must equal the reference's; else only what does not depend on the state
 * partitions' event clocks. */
static void scenario(const char *partitioner, int ninst, bool do_kill, bool strict,
                     const char *fault)
{
    reference_run(partitioner);
    g_fault = fault;
    const group one = g_one;
    group three;
    group_init(&three, "pd-scale-three");
    int rc;

    int64_t t1 = pd_ktest_now_ms();
    /* the kill lands once the state stage committed 40% of the events (its input) */
    char e[256], gid[160], events[200];
    snprintf(gid, sizeof(gid), "%s-group-state", three.prefix);
    snprintf(events, sizeof(events), "%s-group-events", three.prefix);
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    rd_kafka_conf_set(cc, "bootstrap.servers", g_bootstrap, e, sizeof(e));
    rd_kafka_conf_set(cc, "group.id", gid, e, sizeof(e));
    rd_kafka_t *cr = rd_kafka_new(RD_KAFKA_CONSUMER, cc, e, sizeof(e));
    assert_non_null(cr);
    pid_t pids[NINST];
    char inst[NINST][8];
    int runs[NINST], aborted = 0;
    for (int i = 0; i < ninst; i++) {
        snprintf(inst[i], sizeof(inst[i]), "i%d", i + 1);
        pids[i] = start(&three, inst[i], 1);
        runs[i] = 1;
    }
    /* One kill (i2 of three) once 40% of the events are committed; with PD_SCALE_KILLS=K
     * (a soak), K kills of a random instance at about 1/(K+1), 2/(K+1), ... of them. */
    int kills = do_kill ? NKILLS : 0;
    uint32_t rng = 0x9e3779b9u ^ (uint32_t)t1;
    for (int k = 1; k <= kills; k++) {
        rng = rng * 1103515245u + 12345u;
        int64_t target =
            kills == 1 ? (int64_t)g_total * 4 / 10
                       : (int64_t)g_total * k / (kills + 1) + (int64_t)((rng >> 8) % 997) - 498;
        int victim = kills == 1 ? (ninst > 1 ? 1 : 0) : (int)((rng >> 16) % (uint32_t)ninst);
        int64_t sum = 0;
        while ((sum = pd_kscale_committed_sum(cr, events, NPART)) < target &&
               pd_ktest_now_ms() - t1 < 600000) {
            /* an instance that stopped on an aborted transaction it could not rewind (its
             * seeks timed out in a rebalance) is restarted, as an orchestrator would */
            for (int i = 0; i < ninst; i++) {
                int st = 0;
                if (waitpid(pids[i], &st, WNOHANG) != pids[i])
                    continue;
                /* (librdkafka 2.0's sticky assignor can assert on the way out of such a stop:
                 * any status, as long as it began with the aborted transaction) */
                assert_true(log_has(&three, inst[i], runs[i], "transaction aborted: stopping"));
                assert_true(++aborted <= 50);
                pids[i] = start(&three, inst[i], ++runs[i]);
            }
            usleep(20000);
        }
        kill(pids[victim], SIGKILL);
        rc = pd_ktest_wait_exit(pids[victim], 30);
        fprintf(stderr, "kill %d: %s killed at %lld committed events (exit %d)\n", k, inst[victim],
                (long long)sum, rc);
        assert_true(sum >= target);
        assert_int_equal(rc, 128 + SIGKILL);
        pids[victim] = start(&three, inst[victim], ++runs[victim]);
    }
    rd_kafka_destroy(cr);
    /* A stage whose transaction aborts (a rebalance fencing its offsets) stops with exit 1
     * and resumes from the committed offsets when restarted, as an orchestrator does: the
     * outputs must still be exact. */
    for (int i = 0; i < ninst; i++) {
        rc = pd_ktest_wait_exit(pids[i], 300);
        if (rc != 0 && log_has(&three, inst[i], runs[i], "transaction aborted") && aborted < 50) {
            aborted++;
            pids[i] = start(&three, inst[i], ++runs[i]);
            i--;
            continue;
        }
        if (rc)
            show(&three, inst[i], runs[i]);
        assert_int_equal(rc, 0);
    }
    if (aborted)
        fprintf(stderr, "%d stage(s) stopped on an aborted transaction and were restarted\n",
                aborted);
    /* the killed instance's state partitions moved: someone restored them with their state */
    bool restored = false;
    for (int i = 0; i < ninst; i++)
        for (int n = 1; n <= runs[i]; n++)
            restored = restored || restored_state(&three, inst[i], n);
    if (do_kill)
        assert_true(restored);
    /* and the restarted one began from its local snapshots (state.snapshot_interval 1 s) */
    if (do_kill && ninst == 1)
        assert_true(log_count(&three, inst[0], 2, " s; "));
    /* a departing instance's partitions may have had work left: one more drains it */
    pid_t last = start(&three, inst[0], 10);
    rc = pd_ktest_wait_exit(last, 240);
    show(&three, inst[0], 10);
    assert_int_equal(rc, 0);
    fprintf(stderr, "%d instance(s), %d kill(s): %.1f s\n", ninst, kills,
            (double)(pd_ktest_now_ms() - t1) / 1000.0);

    g_fault = NULL;
    if (fault) {
        /* the rewinds happened, and in process: no stage stopped for them */
        bool rewound = false;
        for (int i = 0; i < ninst && !rewound; i++)
            for (int n = 1; n <= runs[i] && !rewound; n++)
                rewound = log_has(&three, inst[i], n, "rewound to their committed offsets");
        assert_true(rewound);
        /* in the ctest cases no stage stopped; a soak's rebalances can time out a rewind's
         * seeks (the stage stops, and was restarted above): counted */
        if (NKILLS == 1)
            assert_int_equal(aborted, 0);
        else
            fprintf(stderr, "%d stop(s) on a rewind that could not finish, restarted\n", aborted);
    }
    outputs a, b;
    read_outputs_with(g_conf, one.prefix, &a);
    read_outputs_with(g_conf, three.prefix, &b);
    fprintf(stderr,
            "one: %u signal records, %u ids (%u per resource, %u timer), %u dead letters, %u "
            "goals\nscaled: %u signal records, %u ids (%u per resource, %u timer), %u dead "
            "letters, %u goals\n",
            a.all_records, a.all.n, a.per_resource.n, a.timer.n, a.dlq, a.ngoals, b.all_records,
            b.all.n, b.per_resource.n, b.timer.n, b.dlq, b.ngoals);
    /* Timer signals (coverage.unknown, sla.expired) fire when a partition's event clock
     * passes a deadline; that clock is the newest event the partition saw, and with several
     * route instances catching up at different speeds it runs ahead: counted, not compared. */
    /* Breach signals likewise: the correlator drops what arrives later than its allowed
     * lateness behind that clock (src/kafka/README.md, "Scale-out"). */
    uint32_t missing = 0, extra = 0, tmissing = 0, textra = 0, bmissing = 0, bextra = 0;
    for (uint32_t i = 0; i < a.per_resource.n; i++) {
        const char *id = a.per_resource.ids[i];
        if (idset_has(&b.per_resource, id))
            continue;
        if (idset_has(&a.timer, id))
            tmissing++;
        else if (idset_has(&a.breach, id))
            bmissing++;
        else if (++missing <= 5)
            fprintf(stderr, "missing: %s\n", id);
    }
    for (uint32_t i = 0; i < b.per_resource.n; i++) {
        const char *id = b.per_resource.ids[i];
        if (idset_has(&a.per_resource, id))
            continue;
        if (idset_has(&b.timer, id))
            textra++;
        else if (idset_has(&b.breach, id))
            bextra++;
        else if (++extra <= 5)
            fprintf(stderr, "extra: %s\n", id);
    }
    /* goal-level signals: evaluated per tick of input time once every state partition has
     * passed it, so the same whatever the layout and commit timing */
    idset ga, gb;
    pd_kscale_goal_level(&a, &ga);
    pd_kscale_goal_level(&b, &gb);
    uint32_t gmissing = 0, gextra = 0;
    for (uint32_t i = 0; i < ga.n; i++)
        if (!idset_has(&gb, ga.ids[i]) && ++gmissing <= 5)
            fprintf(stderr, "goal-level missing: %s\n", ga.ids[i]);
    for (uint32_t i = 0; i < gb.n; i++)
        if (!idset_has(&ga, gb.ids[i]) && ++gextra <= 5)
            fprintf(stderr, "goal-level extra: %s\n", gb.ids[i]);
    /* repeats of any id, per-resource or goal-level, beyond the reference's */
    uint32_t excess = count_excess(&b.raw, &a.raw);
    idset ar, br;
    per_resource_raw(&a, &ar);
    per_resource_raw(&b, &br);
    uint32_t pexcess = count_excess(&br, &ar);
    free(ar.ids);
    free(br.ids);
    fprintf(stderr,
            "per-resource drift signals (control.*): missing %u, extra %u; timer signals: "
            "missing %u, extra %u; breach signals: missing %u, extra %u; per-resource ids "
            "repeated beyond the reference's: %u; goal-level signals: one %u, scaled %u, "
            "missing %u, extra %u; ids of any kind repeated beyond the reference's: %u\n",
            missing, extra, tmissing, textra, bmissing, bextra, pexcess, ga.n, gb.n, gmissing,
            gextra, excess);
    assert_true(a.ngoals >= 5);
    assert_true(a.per_resource.n > 500);
    assert_true(ga.n > 0); /* the input flips goals: the comparison has something to compare */
    assert_int_equal(missing, 0);
    assert_int_equal(extra, 0);
    if (strict || getenv("PD_SCALE_STRICT")) {
        check_goal_values(a.goals, a.values, a.has_value, a.ngoals, &b);
        assert_int_equal(tmissing + textra + bmissing + bextra, 0);
        assert_int_equal(gmissing + gextra, 0);
        assert_int_equal(excess, 0);
    }
    free(ga.ids);
    free(gb.ids);
    assert_int_equal(a.dlq, g_bad);
    assert_int_equal(b.dlq, g_bad);
    assert_int_equal(a.dlq_bad_headers, 0);
    assert_int_equal(b.dlq_bad_headers, 0);
    outputs_free(&a);
    outputs_free(&b);
}

/* One instance, killed with SIGKILL mid-stream and restarted: the state partitions are
 * restored from the changelog and every output equals the uninterrupted run's (timer,
 * breach and goal-level signals and goal values included). */
static void test_one_instance_killed(void **state)
{
    (void)state;
    scenario("consistent_random", 1, true, true, NULL);
}

/* Three instances, one killed: librdkafka's default partitioner (CRC32) for the input, so
 * the route stage moves most events to another partition and each state partition merges
 * streams from several route instances. Compared: what does not depend on the state
 * partitions' event clocks (src/kafka/README.md, "Scale-out"). */
static void test_three_instances(void **state)
{
    (void)state;
    scenario("consistent_random", NINST, true, true, NULL);
}

/* Three instances, one killed, and every 5th transaction of every stage aborted at its
 * commit (PD_FAULT_TXN_ABORT_EVERY): each stage rewinds to its committed offsets in process
 * (state restored from the changelog, the goal fold rebuilt) and the outputs stay exact. */
static void test_three_instances_aborts(void **state)
{
    (void)state;
    scenario("consistent_random", NINST, true, true, "5");
}

/* Diagnosis on request (PD_SCALE_DIAG=1): three instances without a kill, and co-partitioned
 * input (murmur2 keys, as the route partitions). */
static void test_three_no_kill(void **state)
{
    (void)state;
    scenario("consistent_random", NINST, false, false, NULL);
}

static void test_co_partitioned(void **state)
{
    (void)state;
    scenario("murmur2_random", NINST, true, false, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_instance_killed),
        cmocka_unit_test(test_three_instances),
        cmocka_unit_test(test_three_instances_aborts),
    };
    const struct CMUnitTest diag[] = {
        cmocka_unit_test(test_one_instance_killed),
        cmocka_unit_test(test_three_instances),
        cmocka_unit_test(test_three_no_kill),
        cmocka_unit_test(test_co_partitioned),
    };
    if (getenv("PD_SCALE_CASE")) /* one case by name (pattern) */
        cmocka_set_test_filter(getenv("PD_SCALE_CASE"));
    if (getenv("PD_SCALE_DIAG"))
        return cmocka_run_group_tests(diag, setup, teardown);
    return cmocka_run_group_tests(tests, setup, teardown);
}
