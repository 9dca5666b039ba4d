/* postured bench partition-restore: how fast a scaled-out state partition comes back on
 * assignment, through the real path (pd_store_restore against a broker), with and without a
 * local snapshot. Builds a processor of N pairs (the fleet of `bench restore`), writes its
 * changelog records to a new one-partition compacted topic, snapshots it (pd_store_snapshot,
 * written by the writer thread), then flips every pair of one resource in --tail-every
 * (a changelog tail after the snapshot), and times two restores into fresh processors: the
 * whole changelog, and snapshot + tail. Both must give the source's goal values. Rates are
 * pairs / wall seconds of the restore, measured in the same run. */
#include "pd_kafka.h"
#include "pd_log.h"
#include "pd_processor.h"
#include "pd_snapshot.h"
#include "pd_state.h"
#include "pd_store.h"
#include "pd_time.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bench {
    rd_kafka_t *producer;
    const char *topic;
    uint64_t records, bytes;
    int err;
} bench;

static int feed(void *ctx, const pd_event *ev)
{
    return pd_processor_feed_event(ctx, ev, PD_STR_LIT("bench"));
}

typedef struct marker {
    pd_state_tracker *tr;
    pd_processor *p;
} marker;

/* As the runtime does (pd_store_mark): the resource of each event applied is a record. */
static void applied(void *ctx, const pd_event *ev)
{
    marker *m = ctx;
    if (m->p)
        pd_state_tracker_mark(m->tr, pd_processor_engine(m->p), ev->resource.canon);
}

static int produce(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    bench *b = ctx;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(b->producer, RD_KAFKA_V_TOPIC(b->topic), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)value, vlen),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return PD_EKAFKA;
        rd_kafka_poll(b->producer, 50);
    }
    b->records++;
    b->bytes += klen + vlen;
    return 0;
}

/* The processor's changed records (all of them the first time) into the topic. */
static int write_changelog(bench *b, pd_state_tracker *tr, pd_processor *p)
{
    pd_engine *e = pd_processor_engine(p);
    int rc = pd_state_tracker_collect(tr, e, produce, b, NULL);
    unsigned char clock[8];
    if (!rc && pd_engine_now(e) != PD_TIME_NONE) {
        pd_be64_put(clock, pd_engine_now(e));
        rc = produce(b, "#clock", 6, clock, 8);
    }
    if (!rc && rd_kafka_flush(b->producer, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        rc = PD_ETIMEOUT;
    return rc;
}

static bool same_goals(pd_processor *a, pd_processor *b, char *why, size_t n)
{
    pd_engine *ea = pd_processor_engine(a), *eb = pd_processor_engine(b);
    for (uint32_t i = 0; i < pd_engine_goal_count(ea); i++) {
        pd_goal_status x, y;
        pd_engine_goal_status(ea, i, &x);
        pd_engine_goal_status(eb, i, &y);
        if (x.has_value != y.has_value || x.value != y.value || x.violators != y.violators ||
            x.denominator != y.denominator) {
            snprintf(why, n, "goal %s: %.6g restored as %.6g", x.goal->id, x.value, y.value);
            return false;
        }
    }
    return true;
}

static int restore_once(struct event_base *base, const pd_kafka_conf *conf, const char *topic,
                        const char *prefix, const pd_processor_opts *po, pd_processor *src,
                        pd_store_restored *out, double *secs)
{
    pd_processor *p = NULL;
    pd_store *s = NULL;
    pd_diag d;
    char err[512] = "";
    int rc = pd_processor_create(po, &p, &d);
    if (!rc)
        rc = pd_store_create(base, conf, topic, 0, 0, 15000, &s, err, sizeof(err));
    if (!rc) {
        if (prefix)
            pd_store_set_snapshot(s, prefix, NULL, NULL);
        int64_t t0 = pd_monotonic_ms();
        rc = pd_store_restore(s, p, out, err, sizeof(err));
        *secs = (double)(pd_monotonic_ms() - t0) / 1000.0;
    }
    if (!rc && !same_goals(src, p, err, sizeof(err)))
        rc = PD_ESTATE;
    if (rc)
        fprintf(stderr, "bench partition-restore: restore from %s: %s\n",
                prefix ? "the snapshot + tail" : "the changelog", err[0] ? err : pd_strerror(rc));
    pd_store_destroy(s);
    pd_processor_destroy(p);
    return rc;
}

int pd_cmd_bench_partition(int argc, char **argv)
{
    uint64_t pairs = 4000000, tail_every = 100;
    const char *bootstrap = getenv("PD_KAFKA_BOOTSTRAP"), *dir = "/tmp";
    const char *goals = PD_SOURCE_DIR "/pipelines/defender-servers.goals.yaml";
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (!strcmp(argv[i], "--pairs") && more)
            pairs = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--tail-every") && more)
            tail_every = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--bootstrap") && more)
            bootstrap = argv[++i];
        else if (!strcmp(argv[i], "--dir") && more)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--goals") && more)
            goals = argv[++i];
        else {
            fprintf(stderr,
                    "usage: postured bench partition-restore --bootstrap HOST:PORT\n"
                    "       [--pairs N (4000000)] [--tail-every K (100)] [--dir DIR (/tmp)]\n"
                    "       [--goals FILE]\n"
                    "One state partition of N pairs restored from its changelog topic, and\n"
                    "from a local snapshot plus the changelog written after it (every pair\n"
                    "of one resource in K flipped). Needs a broker (PD_KAFKA_BOOTSTRAP).\n");
            return 2;
        }
    }
    if (!bootstrap || !*bootstrap || !pairs) {
        fprintf(stderr, "bench partition-restore: no broker (--bootstrap or PD_KAFKA_BOOTSTRAP)\n");
        return 2;
    }
    int code = 1, rc;
    char topic[128], prefix[4096], e[512] = "";
    snprintf(topic, sizeof(topic), "postured-bench-restore-%ld-%lld", (long)getpid(),
             (long long)pd_now_ms());
    snprintf(prefix, sizeof(prefix), "%s/postured-bench-partition.%ld", dir, (long)getpid());
    struct event_base *base = event_base_new();
    pd_kafka_conf *conf = NULL;
    pd_kafka *admin = NULL;
    pd_processor *src = NULL;
    pd_state_tracker *tr = NULL;
    pd_snapwriter *w = NULL;
    pd_store *snap_store = NULL;
    bench b = {.topic = topic};
    const char *gf[] = {goals};
    pd_processor_opts po = {.goal_files = gf, .ngoal_files = 1};
    pd_diag d;
    if (!base || pd_kafka_conf_new(&conf) ||
        pd_kafka_conf_set(conf, "bootstrap.servers", bootstrap))
        goto done;
    pd_kafka_opts ko = {.role = PD_KAFKA_PRODUCER, .conf = conf, .base = base, .name = "bench"};
    static const char *const compact[] = {"cleanup.policy", "compact", "segment.bytes", "67108864",
                                          NULL};
    if ((rc = pd_kafka_new(&ko, &admin, e, sizeof(e))) ||
        (rc = pd_kafka_ensure_topic(admin, topic, 1, compact, 15000, e, sizeof(e)))) {
        fprintf(stderr, "bench partition-restore: %s\n", e);
        goto done;
    }
    b.producer = pd_kafka_rk(admin);
    marker mk = {NULL, NULL};
    pd_processor_opts spo = po;
    spo.on_applied = applied;
    spo.applied_ctx = &mk;
    if ((rc = pd_state_tracker_create(&tr)) || (rc = pd_processor_create(&spo, &src, &d))) {
        fprintf(stderr, "bench partition-restore: %s\n", rc == PD_ENOMEM ? "no memory" : d.msg);
        goto done;
    }
    mk.tr = tr;
    mk.p = src;
    int64_t t0 = pd_monotonic_ms();
    if ((rc = pd_bench_restore_fill(pd_processor_goals(src), pairs, 0, feed, src)) ||
        (rc = write_changelog(&b, tr, src))) {
        fprintf(stderr, "bench partition-restore: build: %s\n", pd_strerror(rc));
        goto done;
    }
    int64_t t1 = pd_monotonic_ms();
    uint64_t full_records = b.records, full_bytes = b.bytes;
    /* the snapshot, complete up to the end of what was written */
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(b.producer, topic, 0, &lo, &hi, 10000) ||
        (rc = pd_snapwriter_create(&w)) ||
        (rc = pd_store_create(base, conf, topic, 0, 0, 15000, &snap_store, e, sizeof(e)))) {
        fprintf(stderr, "bench partition-restore: snapshot set-up failed\n");
        goto done;
    }
    pd_store_set_snapshot(snap_store, prefix, NULL, NULL);
    pd_store_note_delivered(snap_store, hi - 1);
    uint64_t snap_bytes = 0;
    if ((rc = pd_store_snapshot(snap_store, src, w, &snap_bytes))) {
        fprintf(stderr, "bench partition-restore: snapshot: %s\n", pd_strerror(rc));
        goto done;
    }
    pd_snapwriter_drain(w);
    int64_t t2 = pd_monotonic_ms();
    /* the tail: records written after the snapshot */
    b.records = b.bytes = 0;
    if (tail_every &&
        ((rc = pd_bench_restore_fill(pd_processor_goals(src), pairs, tail_every, feed, src)) ||
         (rc = write_changelog(&b, tr, src)))) {
        fprintf(stderr, "bench partition-restore: tail: %s\n", pd_strerror(rc));
        goto done;
    }
    pd_engine_stats st;
    pd_engine_stats_get(pd_processor_engine(src), &st);
    pd_store_restored full, snap;
    double full_s = 0, snap_s = 0;
    if (restore_once(base, conf, topic, NULL, &po, src, &full, &full_s) ||
        restore_once(base, conf, topic, prefix, &po, src, &snap, &snap_s))
        goto done;
    if (!snap.from_snapshot) {
        fprintf(stderr, "bench partition-restore: the snapshot was not used\n");
        goto done;
    }
    printf("pairs %llu, resources %llu; build %.2f s; changelog %llu records (%.1f MB); "
           "snapshot %.1f MB in %.2f s; tail %llu records (%.1f MB)\n",
           (unsigned long long)st.pairs, (unsigned long long)st.resources,
           (double)(t1 - t0) / 1000.0, (unsigned long long)(full_records + b.records),
           (double)(full_bytes + b.bytes) / 1e6, (double)snap_bytes / 1e6,
           (double)(t2 - t1) / 1000.0, (unsigned long long)b.records, (double)b.bytes / 1e6);
    printf("restore from the changelog: %.2f s, %.2f M pairs/s (%llu records)\n", full_s,
           (double)st.pairs / full_s / 1e6, (unsigned long long)full.records);
    printf("restore from the snapshot + changelog tail: %.2f s, %.2f M pairs/s (%llu tail "
           "records)\n",
           snap_s, (double)st.pairs / snap_s / 1e6, (unsigned long long)snap.tail_records);
    printf("snapshot + tail vs changelog: %.1fx faster; goal values equal after both\n",
           full_s / snap_s);
    code = 0;
done:
    if (admin) {
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_queue_t *q = rd_kafka_queue_new(pd_kafka_rk(admin));
        rd_kafka_DeleteTopics(pd_kafka_rk(admin), &dt, 1, NULL, q);
        rd_kafka_event_destroy(rd_kafka_queue_poll(q, 10000));
        rd_kafka_queue_destroy(q);
        rd_kafka_DeleteTopic_destroy(dt);
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s.snap", prefix);
    unlink(path);
    snprintf(path, sizeof(path), "%s.side", prefix);
    unlink(path);
    pd_store_destroy(snap_store);
    pd_snapwriter_destroy(w);
    pd_state_tracker_destroy(tr);
    pd_processor_destroy(src);
    pd_kafka_destroy(admin);
    pd_kafka_conf_destroy(conf);
    if (base)
        event_base_free(base);
    return code;
}
