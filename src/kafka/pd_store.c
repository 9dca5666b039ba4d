/* The exactly-once state store of `postured run` (see pd_store.h). */
#include "pd_store.h"

#include "pd_changelog.h"
#include "pd_correlate.h"
#include "pd_engine.h"
#include "pd_log.h"
#include "pd_processor.h"
#include "pd_state.h"
#include "pd_engine_state.h"
#include "pd_time.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLOCK_KEY "#clock"

struct pd_store {
    char *topic;
    int32_t partition;
    pd_kafka_conf *conf; /* consumer settings for the restore */
    pd_state_tracker *tracker;
    int64_t clock_written;
    pd_runtime *rt;        /* during a checkpoint */
    bool wait_open;        /* restore waits out another writer's open transaction */
    pd_store_hook_fn hook; /* other "#..." records at restore */
    void *hook_ctx;
    bool hook_only; /* every record goes to the hook */
    struct event_base *base;
    /* local snapshots (pd_store_set_snapshot) */
    char *snap_path, *side_path;
    pd_store_export_fn exporter;
    void *exporter_ctx;
    _Atomic int64_t delivered; /* the newest offset of our records in the partition (-1) */
    int64_t restored_end;      /* where the last restore stopped reading (-1) */
};

int pd_store_create(struct event_base *base, const pd_kafka_conf *conf, const char *topic,
                    int32_t partition, int32_t ensure_partitions, int timeout_ms, pd_store **out,
                    char *err, size_t errlen)
{
    int rc;
    pd_kafka *k = NULL;
    *out = NULL;
    pd_store *s = calloc(1, sizeof(*s));
    if (!s || !(s->topic = strdup(topic))) {
        rc = PD_ENOMEM;
        goto fail;
    }
    s->clock_written = PD_TIME_NONE;
    atomic_init(&s->delivered, -1);
    s->restored_end = -1;
    s->base = base;
    s->partition = partition;
    if ((rc = pd_state_tracker_create(&s->tracker)) != 0 ||
        (rc = pd_kafka_conf_copy(conf, &s->conf)) != 0)
        goto fail;
    char group[600];
    snprintf(group, sizeof(group), "%s.restore", topic);
    /* a plain reader: assigned by hand, never commits, sees committed transactions only */
    if ((rc = pd_kafka_conf_set_literal(s->conf, "group.id", group)) != 0 ||
        (rc = pd_kafka_conf_set_literal(s->conf, "isolation.level", "read_committed")) != 0 ||
        (rc = pd_kafka_conf_set_literal(s->conf, "enable.partition.eof", "true")) != 0 ||
        (rc = pd_kafka_conf_set_literal(s->conf, "auto.offset.reset", "earliest")) != 0 ||
        (rc = pd_kafka_conf_set_literal(s->conf, "fetch.wait.max.ms", "50")) != 0)
        goto fail;
    if (ensure_partitions > 0) {
        pd_kafka_opts ko = {
            .role = PD_KAFKA_CONSUMER, .conf = s->conf, .base = s->base, .name = "changelog"};
        if ((rc = pd_kafka_new(&ko, &k, err, errlen)) != 0)
            goto fail;
        /* compaction only cleans closed segments: roll them at 64 MB or 10 minutes */
        static const char *const configs[] = {"cleanup.policy",
                                              "compact",
                                              "segment.bytes",
                                              "67108864",
                                              "segment.ms",
                                              "600000",
                                              NULL,
                                              NULL};
        if ((rc = pd_kafka_ensure_topic(k, topic, ensure_partitions, configs, timeout_ms, err,
                                        errlen)) != 0)
            goto fail;
        pd_kafka_destroy(k);
        k = NULL;
    }
    *out = s;
    return 0;
fail:
    pd_kafka_destroy(k);
    pd_store_destroy(s);
    return rc;
}

void pd_store_destroy(pd_store *s)
{
    if (!s)
        return;
    pd_state_tracker_destroy(s->tracker);
    pd_kafka_conf_destroy(s->conf);
    free(s->topic);
    free(s->snap_path);
    free(s->side_path);
    free(s);
}

const char *pd_store_topic(const pd_store *s)
{
    return s ? s->topic : NULL;
}

/* Applies one changelog record (key, value; value NULL: a tombstone) to its partition's
 * processor; offset names it in errors (-1: from a snapshot). */
static int restore_kv(pd_store *s, pd_processor *p, pd_changelog_dec *dec, const void *mkey,
                      size_t mklen, const void *payload, size_t len, int64_t offset,
                      pd_store_restored *out, char *err, size_t errlen)
{
    out->records++;
    out->bytes += len + mklen;
    if (mklen == sizeof(CLOCK_KEY) - 1 && !memcmp(mkey, CLOCK_KEY, mklen)) {
        if (payload && len == 8)
            out->clock_ms = pd_be64_get(payload);
        return 0;
    }
    out->tombstones += payload == NULL;
    char why[256] = "";
    pd_str key = {mkey, (uint32_t)mklen};
    int rc;
    if (s->hook && (s->hook_only || (mklen > 1 && ((const char *)mkey)[0] == '#'))) {
        rc = s->hook(s->hook_ctx, mkey, mklen, payload, len);
        if (rc == PD_ENOTFOUND && s->hook_only)
            rc = PD_ESTATE;
        if (rc == PD_ESTATE) {
            out->stale++; /* malformed or of another definition: skipped, as below */
            return 0;
        }
        if (rc != PD_ENOTFOUND) {
            out->applied += rc == 0;
            if (rc)
                snprintf(err, errlen, "%s [%d] offset %lld: %s", s->topic, (int)s->partition,
                         (long long)offset, pd_strerror(rc));
            return rc;
        }
    }
    if (mklen > 0 && ((const char *)mkey)[0] == '#' && !pd_correlator_key_is_state(key) &&
        !pd_changelog_key_is_acct(key) && !pd_changelog_key_is_goal(key) &&
        !pd_changelog_key_is_control(key)) {
        out->stale++; /* a "#" key nobody here writes: not a resource */
        return 0;
    }
    if (mkey && pd_correlator_key_is_state(key)) {
        rc = pd_correlator_import(pd_processor_correlator(p), key, payload, len, why, sizeof(why));
        if (rc == PD_ENOTFOUND)
            rc = PD_ESTATE; /* a rule this rule set no longer has: stale */
    } else {
        rc = pd_state_apply(pd_processor_engine(p), dec, mkey, mklen, payload, len, why,
                            sizeof(why));
    }
    if (rc == PD_ESTATE) {
        /* another goal set's record: a resource gone before a reload rewrote the rest */
        out->stale++;
        return 0;
    }
    out->applied += rc == 0;
    if (rc)
        snprintf(err, errlen, "%s [%d] offset %lld: %s", s->topic, (int)s->partition,
                 (long long)offset, why[0] ? why : pd_strerror(rc));
    return rc;
}

/* ---- local snapshots ------------------------------------------------------------------
 * <prefix>.snap: the engine image (pd_snapshot, payload: pd_engine_state); <prefix>.side:
 * the same container whose payload is the partition's other records as changelog records
 * (#clock, correlation groups, the owner's records through the exporter), each u32 key
 * length, key, u32 value length, value (little-endian). Both carry the changelog offset X
 * they are complete up to and the same creation time; the side file is written first. A
 * restore loads both, then reads the changelog from X: records are upserts by key, so
 * re-reading records the snapshot already holds is harmless, and X is taken low (the end
 * of the last restore, or one past the newest record of ours the broker acknowledged). */

#define SIDE_VERSION 0x31444953u /* "SID1" */

void pd_store_set_snapshot(pd_store *s, const char *path_prefix, pd_store_export_fn fn, void *ctx)
{
    free(s->snap_path);
    free(s->side_path);
    s->snap_path = s->side_path = NULL;
    s->exporter = fn;
    s->exporter_ctx = ctx;
    if (!path_prefix)
        return;
    size_t n = strlen(path_prefix) + 8;
    s->snap_path = malloc(n);
    s->side_path = malloc(n);
    if (!s->snap_path || !s->side_path) {
        free(s->snap_path);
        free(s->side_path);
        s->snap_path = s->side_path = NULL;
        return;
    }
    snprintf(s->snap_path, n, "%s.snap", path_prefix);
    snprintf(s->side_path, n, "%s.side", path_prefix);
}

void pd_store_note_delivered(pd_store *s, int64_t offset)
{
    int64_t cur = atomic_load_explicit(&s->delivered, memory_order_relaxed);
    while (offset > cur && !atomic_compare_exchange_weak(&s->delivered, &cur, offset))
        ;
}

static int side_put(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    pd_buf *b = ctx;
    if (klen > UINT32_MAX || vlen >= UINT32_MAX)
        return PD_EINVAL;
    uint32_t kl = (uint32_t)klen, vl = value ? (uint32_t)vlen : UINT32_MAX;
    pd_buf_append(b, &kl, 4);
    pd_buf_append(b, key, klen);
    pd_buf_append(b, &vl, 4);
    if (value)
        pd_buf_append(b, value, vlen);
    return b->oom ? PD_ENOMEM : 0;
}

int pd_store_snapshot(pd_store *s, pd_processor *p, pd_snapwriter *w, uint64_t *bytes)
{
    if (!s->snap_path)
        return PD_EINVAL;
    pd_engine *e = pd_processor_engine(p);
    int64_t del = atomic_load(&s->delivered);
    int64_t x = del + 1 > s->restored_end ? del + 1 : s->restored_end;
    if (x < 0)
        x = 0;
    pd_snapshot_meta m;
    pd_snapshot_meta_init(&m);
    m.partition = s->partition;
    snprintf(m.topic, sizeof(m.topic), "%s", s->topic);
    m.created_ms = pd_now_ms();
    m.changelog_offset = x;
    m.watermark_ms = pd_engine_now(e);
    pd_buf img, side;
    pd_buf_init(&img);
    pd_buf_init(&side);
    int rc = pd_engine_state_export(e, &img);
    unsigned char clock[8];
    if (!rc && m.watermark_ms != PD_TIME_NONE) {
        pd_be64_put(clock, m.watermark_ms);
        rc = side_put(&side, CLOCK_KEY, sizeof(CLOCK_KEY) - 1, clock, 8);
    }
    if (!rc)
        rc = pd_correlator_export(pd_processor_correlator(p), side_put, &side);
    if (!rc && s->exporter)
        rc = s->exporter(s->exporter_ctx, side_put, &side);
    if (!rc) {
        pd_engine_stats st;
        pd_engine_stats_get(e, &st);
        m.pairs = st.pairs;
        m.resources = st.resources;
        if (bytes)
            *bytes = img.len + side.len;
        pd_snapshot_meta sm = m;
        sm.payload_version = SIDE_VERSION;
        m.payload_version = PD_ENGINE_STATE_VERSION;
        rc = pd_snapwriter_submit(w, s->side_path, &sm, &side);
        if (!rc)
            rc = pd_snapwriter_submit(w, s->snap_path, &m, &img);
    }
    pd_buf_free(&img);
    pd_buf_free(&side);
    return rc;
}

/* Moves a snapshot that does not load aside, so the next restore reads the changelog. */
static void snap_discard(pd_store *s, const char *why)
{
    char bad[4200];
    snprintf(bad, sizeof(bad), "%s.bad", s->snap_path);
    pd_log_warn("state", "%s: %s: moved aside to %s", s->snap_path, why, bad);
    rename(s->snap_path, bad);
}

/* Loads the partition's snapshot into the processor's (fresh) engine when there is a
 * usable one; *start gets where the changelog is read from. An unusable snapshot is
 * skipped before the engine is touched; an error after that fails the restore (the engine
 * is half-built) and moves the file aside. */
static int snap_load(pd_store *s, rd_kafka_t *rk, pd_processor *p, pd_changelog_dec *dec,
                     pd_store_restored *out, int64_t *start, char *err, size_t errlen)
{
    *start = RD_KAFKA_OFFSET_BEGINNING;
    if (!s->snap_path)
        return 0;
    pd_snapshot_meta m, sm;
    pd_buf img, side;
    pd_buf_init(&img);
    pd_buf_init(&side);
    char why[512] = "";
    int rc = pd_snapshot_read(s->snap_path, &m, &img, why, sizeof(why));
    const char *skip_why = NULL;
    pd_engine *e = pd_processor_engine(p);
    int64_t lo = -1, hi = -1;
    if (rc == PD_ENOTFOUND) {
        rc = 0;
        goto done;
    }
    if (rc) {
        snap_discard(s, why);
        rc = 0;
        goto done;
    }
    if (m.partition != s->partition || strcmp(m.topic, s->topic) ||
        m.payload_version != PD_ENGINE_STATE_VERSION)
        skip_why = "of another partition or version";
    /* the image's first section is GLOB, whose first field is the goal-set fingerprint */
    else if (img.len < 24 || memcmp(img.p, "GLOB", 4))
        skip_why = "no GLOB section";
    else {
        uint64_t fp;
        memcpy(&fp, img.p + 16, 8);
        if (fp != pd_engine_state_fingerprint(e))
            skip_why = "of another goal set";
    }
    if (!skip_why && rd_kafka_query_watermark_offsets(rk, s->topic, s->partition, &lo, &hi,
                                                      10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        skip_why = "the changelog's offsets are unknown";
    if (!skip_why && (m.changelog_offset < lo || m.changelog_offset > hi))
        skip_why = "its changelog offset is outside the changelog (a new topic?)";
    if (!skip_why &&
        (pd_snapshot_read(s->side_path, &sm, &side, why, sizeof(why)) != 0 ||
         sm.payload_version != SIDE_VERSION || sm.changelog_offset != m.changelog_offset ||
         sm.created_ms != m.created_ms || sm.partition != m.partition))
        skip_why = "its side file is missing or of another snapshot";
    /* the side records must parse before the engine is touched */
    for (size_t off = 0; !skip_why && off < side.len;) {
        uint32_t kl, vl;
        if (side.len - off < 4 || (memcpy(&kl, side.p + off, 4), side.len - off - 4 < kl) ||
            side.len - off - 4 - kl < 4) {
            skip_why = "its side file is malformed";
            break;
        }
        memcpy(&vl, side.p + off + 4 + kl, 4);
        size_t vbytes = vl == UINT32_MAX ? 0 : vl;
        if (side.len - off - 8 - kl < vbytes) {
            skip_why = "its side file is malformed";
            break;
        }
        off += 8 + kl + vbytes;
    }
    if (skip_why) {
        pd_log_info("state", "%s not used: %s", s->snap_path, skip_why);
        goto done;
    }
    if ((rc = pd_engine_state_import(e, img.p, img.len, why, sizeof(why))) != 0) {
        snprintf(err, errlen, "%s: %s", s->snap_path, why);
        snap_discard(s, why);
        goto done;
    }
    for (size_t off = 0; off < side.len && !rc;) {
        uint32_t kl, vl;
        memcpy(&kl, side.p + off, 4);
        memcpy(&vl, side.p + off + 4 + kl, 4);
        const char *k = side.p + off + 4, *v = vl == UINT32_MAX ? NULL : side.p + off + 8 + kl;
        size_t vbytes = v ? vl : 0;
        rc = restore_kv(s, p, dec, k, kl, v, vbytes, -1, out, err, errlen);
        off += 8 + kl + vbytes;
    }
    if (rc) {
        snap_discard(s, "its side records do not apply");
        goto done;
    }
    out->snapshot_pairs = m.pairs;
    out->from_snapshot = true;
    out->snapshot_offset = m.changelog_offset;
    out->applied++; /* the image: the engine settles at the end */
    *start = m.changelog_offset;
done:
    pd_buf_free(&img);
    pd_buf_free(&side);
    return rc;
}

/* After its records: settle the engine at the restored clock; nothing to write again. */
static int restore_finish(pd_store *s, pd_processor *p, pd_store_restored *out)
{
    pd_engine *e = pd_processor_engine(p);
    int rc = 0;
    if (out->applied > 0) {
        if ((rc = pd_engine_import_settle(e, out->clock_ms)) != 0)
            return rc;
        if (out->clock_ms != PD_TIME_NONE && (rc = pd_processor_advance(p, out->clock_ms)) != 0)
            return rc;
    }
    s->clock_written = out->clock_ms;
    rc = pd_store_reset(s);
    if (!rc)
        rc = pd_state_tracker_collect(s->tracker, e, NULL, NULL, NULL);
    if (!rc)
        pd_engine_track_touched(e, true);
    return rc;
}

int pd_store_restore_many(pd_store *const *stores, pd_processor *const *procs, uint32_t n,
                          pd_store_restored *outs, char *err, size_t errlen)
{
    int rc = 0;
    pd_kafka *k = NULL;
    pd_changelog_dec *dec = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    bool *done = NULL;
    int64_t *waited = NULL;
    if (n == 0)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        memset(&outs[i], 0, sizeof(outs[i]));
        outs[i].clock_ms = PD_TIME_NONE;
    }
    pd_store *s0 = stores[0];
    int64_t t0 = pd_monotonic_ms();
    pd_kafka_opts ko = {
        .role = PD_KAFKA_CONSUMER, .conf = s0->conf, .base = s0->base, .name = "changelog"};
    done = calloc(n, sizeof(*done));
    waited = calloc(n, sizeof(*waited));
    if (!done || !waited) {
        rc = PD_ENOMEM;
        goto done;
    }
    if ((rc = pd_kafka_new(&ko, &k, err, errlen)) != 0 || (rc = pd_changelog_dec_create(&dec)) != 0)
        goto done;
    rd_kafka_t *rk = pd_kafka_rk(k);
    l = rd_kafka_topic_partition_list_new((int)n);
    for (uint32_t i = 0; i < n; i++) {
        int64_t start = RD_KAFKA_OFFSET_BEGINNING;
        if ((rc = snap_load(stores[i], rk, procs[i], dec, &outs[i], &start, err, errlen)) != 0)
            goto done;
        rd_kafka_topic_partition_list_add(l, stores[i]->topic, stores[i]->partition)->offset =
            start;
    }
    if (rd_kafka_assign(rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "%s: cannot assign its partitions", s0->topic);
        rc = PD_EKAFKA;
        goto done;
    }
    /* Until the end of each (the last stable offset: an open transaction is not read). */
    uint32_t left = n;
    int64_t idle_since = pd_monotonic_ms();
    while (left > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (pd_monotonic_ms() - idle_since > 60000) {
                snprintf(err, errlen, "%s: no end of the changelog within 60 s", s0->topic);
                rc = PD_ETIMEOUT;
                goto done;
            }
            continue;
        }
        idle_since = pd_monotonic_ms();
        uint32_t i = 0;
        while (i < n && stores[i]->partition != m->partition)
            i++;
        if (i == n || (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
            bool fatal = i == n ? false
                                : m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                                      m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
            if (m->err)
                snprintf(err, errlen, "%s: %s", s0->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (fatal) {
                rc = PD_EKAFKA;
                goto done;
            }
            continue;
        }
        pd_store *s = stores[i];
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* The end for read_committed is the last stable offset: an open transaction of a
             * killed owner holds it back, and records committed after it (by the next owner)
             * would be missed. Wait until nothing is open (the restarted instance or the
             * transaction timeout aborts it). */
            int64_t lo = 0, hi = 0, at = m->offset;
            rd_kafka_message_destroy(m);
            if (done[i])
                continue;
            /* the high watermark the fetch just returned (a query would queue behind the
             * next fetch's long poll on the same connection: half a second per partition) */
            if ((rd_kafka_get_watermark_offsets(rk, s->topic, s->partition, &lo, &hi) !=
                     RD_KAFKA_RESP_ERR_NO_ERROR &&
                 rd_kafka_query_watermark_offsets(rk, s->topic, s->partition, &lo, &hi, 10000) !=
                     RD_KAFKA_RESP_ERR_NO_ERROR) ||
                at >= hi || !s->wait_open) {
                done[i] = true;
                s->restored_end = at;
                left--;
                continue;
            }
            if (!waited[i]) {
                pd_log_warn("state",
                            "%s [%d]: an open transaction ends at %lld, the log at %lld: "
                            "waiting for it to commit or abort",
                            s->topic, (int)s->partition, (long long)at, (long long)hi);
                waited[i] = pd_monotonic_ms();
            } else if (pd_monotonic_ms() - waited[i] > 180000) {
                snprintf(err, errlen, "%s [%d]: a transaction stayed open for 180 s", s->topic,
                         (int)s->partition);
                rc = PD_ETIMEOUT;
                goto done;
            }
            continue;
        }
        rc = restore_kv(s, procs[i], dec, m->key, m->key_len, m->payload, m->len, m->offset,
                        &outs[i], err, errlen);
        outs[i].tail_records += outs[i].from_snapshot;
        rd_kafka_message_destroy(m);
        if (rc)
            goto done;
    }
    for (uint32_t i = 0; i < n && !rc; i++)
        rc = restore_finish(stores[i], procs[i], &outs[i]);
done:
    for (uint32_t i = 0; i < n; i++)
        outs[i].seconds = (double)(pd_monotonic_ms() - t0) / 1000.0;
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    pd_changelog_dec_destroy(dec);
    if (k)
        pd_kafka_close(k);
    pd_kafka_destroy(k);
    free(done);
    free(waited);
    return rc;
}

int pd_store_restore(pd_store *s, pd_processor *p, pd_store_restored *out, char *err, size_t errlen)
{
    return pd_store_restore_many(&s, &p, 1, out, err, errlen);
}

void pd_store_wait_open(pd_store *s, bool wait)
{
    s->wait_open = wait;
}

void pd_store_set_hook_only(pd_store *s, bool only)
{
    s->hook_only = only;
}

void pd_store_set_hook(pd_store *s, pd_store_hook_fn fn, void *ctx)
{
    s->hook = fn;
    s->hook_ctx = ctx;
}

void pd_store_mark(pd_store *s, const pd_engine *e, pd_str canon)
{
    if (s && canon.len)
        pd_state_tracker_mark(s->tracker, e, canon);
}

static int put(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    pd_store *s = ctx;
    return pd_runtime_produce_state(s->rt, s->topic, s->partition, key, klen, value, vlen);
}

int pd_store_checkpoint(pd_store *s, pd_processor *p, pd_runtime *rt)
{
    pd_engine *e = pd_processor_engine(p);
    s->rt = rt;
    int rc = pd_state_tracker_collect(s->tracker, e, put, s, NULL);
    /* from now on the engine lists what timers touch: no full passes (an engine swapped in
     * by a reload starts untracked, and its first collect writes everything anyway) */
    if (!pd_engine_tracking_touched(e))
        pd_engine_track_touched(e, true);
    if (!rc)
        rc = pd_correlator_collect(pd_processor_correlator(p), put, s);
    int64_t now = pd_engine_now(e);
    if (!rc && now != PD_TIME_NONE && now != s->clock_written) {
        unsigned char v[8];
        pd_be64_put(v, now);
        rc = put(s, CLOCK_KEY, sizeof(CLOCK_KEY) - 1, v, sizeof(v));
        if (!rc)
            s->clock_written = now;
    }
    s->rt = NULL;
    return rc;
}

int pd_store_reset(pd_store *s)
{
    pd_state_tracker_destroy(s->tracker);
    s->tracker = NULL;
    return pd_state_tracker_create(&s->tracker);
}
