/* pd_ktest_scale.h: what the scale-out tests (test_kafka_scaleout.c, test_kafka_scale_hostile.c)
 * share: a generated input topic with malformed messages mixed in, a group's pipeline and
 * daemon config files for `state.partitioned`, starting an instance, the committed offsets
 * of a consumer group, and the goal-level signals of an output. Header-only, for tests. */
#ifndef PD_KTEST_SCALE_H
#define PD_KTEST_SCALE_H

#include "pd_gen.h"
#include "pd_ktest.h"
#include "pd_ktest_sig.h"

typedef struct pd_kscale_input {
    const char *bootstrap, *topic, *partitioner; /* partitioner NULL: librdkafka's default */
    int partitions;
    uint32_t events, servers;
    uint32_t bad_every; /* message i with i % bad_every == bad_every - 1 is malformed */
    const char *const *bad;
    uint32_t nbad;
    /* out */
    uint32_t total, bad_sent;
    int64_t first_ts, last_ts;
} pd_kscale_input;

/* Creates in->topic and produces the generated events keyed by resource id, message
 * timestamps the newest event time so far, with malformed messages mixed in. 0 or -1. */
static inline int pd_kscale_produce(pd_kscale_input *in)
{
    char e[256];
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "bootstrap.servers", in->bootstrap, e, sizeof(e));
    rd_kafka_conf_set(rc, "linger.ms", "20", e, sizeof(e));
    if (in->partitioner)
        rd_kafka_conf_set(rc, "partitioner", in->partitioner, e, sizeof(e));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    if (!p || pd_ktest_create_topic(p, in->topic, in->partitions, 20000))
        return -1;
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = in->servers;
    go.days = 0;
    go.max_events = in->events;
    go.mix = PD_GEN_MIX_ALL;
    pd_gen *g = NULL;
    pd_diag diag;
    if (pd_gen_create(&go, &g, &diag)) {
        fprintf(stderr, "gen: %s\n", diag.msg);
        rd_kafka_destroy(p);
        return -1;
    }
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta meta;
    int64_t ts = 0;
    in->total = in->bad_sent = 0;
    in->first_ts = INT64_MAX;
    for (uint32_t i = 0;; i++) {
        pd_buf_reset(&b);
        const char *key;
        if (in->bad_every && i % in->bad_every == in->bad_every - 1) {
            pd_buf_puts(&b, in->bad[in->bad_sent % in->nbad]);
            key = "malformed";
            in->bad_sent++;
        } else {
            if (pd_gen_next(g, &b, &meta) != 0)
                break;
            key = meta.key;
            if (meta.time_ms > ts)
                ts = meta.time_ms;
            if (ts < in->first_ts)
                in->first_ts = ts;
        }
        in->total++;
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC(in->topic), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(b.p, b.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(p, 50);
        }
        rd_kafka_poll(p, 0);
    }
    in->last_ts = ts;
    pd_buf_free(&b);
    pd_gen_destroy(g);
    int rc2 = rd_kafka_flush(p, 60000);
    rd_kafka_destroy(p);
    return rc2 == 0 && (in->bad_sent > 0 || !in->bad_every) ? 0 : -1;
}

/* A scaled-out group's pipeline (name, inputs, outputs prefix-*) and daemon config
 * (exactly-once, partitioned over 12 partitions, snapshots in state_dir every second). */
static inline void pd_kscale_files(const char *pipeline_path, const char *config_path,
                                   const char *pipeline_name, const char *src,
                                   const char *input_topic, const char *prefix,
                                   const char *state_dir)
{
    FILE *f = fopen(pipeline_path, "w");
    assert_non_null(f);
    fprintf(f,
            "pipeline:\n"
            "  name: %s\n"
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
            "    dead_letter: %s-dlq\n"
            "  kafka:\n"
            "    session.timeout.ms: \"6000\"\n"
            "    heartbeat.interval.ms: \"1000\"\n",
            pipeline_name, src, src, src, input_topic, prefix, prefix, prefix, prefix, prefix);
    fclose(f);
    f = fopen(config_path, "w");
    assert_non_null(f);
    fprintf(f,
            "http:\n"
            "  listen: \"\"\n"
            "state:\n"
            "  exactly_once: true\n"
            "  partitioned: true\n"
            "  partitions: 12\n"
            "  commit_every_events: 500\n"
            "  commit_interval: 100ms\n"
            "  dir: %s\n"
            "  snapshot_interval: 1s\n",
            state_dir);
    fclose(f);
}

/* `postured run` of a group as instance `instance`, stopping after 4 s without input; its
 * output goes to log. fault: PD_FAULT_TXN_ABORT_EVERY (NULL: none). */
static inline pid_t pd_kscale_start(const char *bin, const char *config, const char *pipeline,
                                    const char *bootstrap, const char *instance, const char *log,
                                    const char *fault)
{
    char *argv[] = {(char *)bin,   "run",
                    "-c",          (char *)config,
                    "-p",          (char *)pipeline,
                    "--bootstrap", (char *)bootstrap,
                    "--exit-idle", "4000",
                    NULL};
    setenv("POSTURED_RUNTIME_INSTANCE_ID", instance, 1);
    if (fault)
        setenv("PD_FAULT_TXN_ABORT_EVERY", fault, 1);
    pid_t pid = pd_ktest_spawn(argv, NULL, log);
    unsetenv("POSTURED_RUNTIME_INSTANCE_ID");
    unsetenv("PD_FAULT_TXN_ABORT_EVERY");
    return pid;
}

/* The sum of a group's committed offsets over a topic's partitions (-1: unknown). */
static inline int64_t pd_kscale_committed_sum(rd_kafka_t *c, const char *topic, int partitions)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(l, topic, i);
    int64_t sum = -1;
    if (rd_kafka_committed(c, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        sum = 0;
        for (int i = 0; i < partitions; i++)
            sum += l->elems[i].offset > 0 ? l->elems[i].offset : 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return sum;
}

/* The goal-level signals' ids (goal.breached / goal.restored: no resource). */
static inline void pd_kscale_goal_level(const outputs *o, idset *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < o->all.n; i++)
        if (!idset_has(&o->per_resource, o->all.ids[i]))
            idset_add(out, o->all.ids[i]);
}

#endif
