/* The exactly-once state store of `postured run` (see pd_store.h). */
#include "pd_store.h"

#include "pd_changelog.h"
#include "pd_correlate.h"
#include "pd_engine.h"
#include "pd_log.h"
#include "pd_processor.h"
#include "pd_state.h"
#include "pd_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLOCK_KEY "#clock"

struct pd_store {
    char *topic;
    pd_kafka_conf *conf; /* consumer settings for the restore */
    pd_state_tracker *tracker;
    int64_t clock_written;
    pd_runtime *rt; /* during a checkpoint */
    struct event_base *base;
};

int pd_store_create(struct event_base *base, const pd_kafka_conf *conf, const char *topic,
                    int timeout_ms, pd_store **out, char *err, size_t errlen)
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
    s->base = base;
    if ((rc = pd_state_tracker_create(&s->tracker)) != 0 ||
        (rc = pd_kafka_conf_copy(conf, &s->conf)) != 0)
        goto fail;
    char group[600];
    snprintf(group, sizeof(group), "%s.restore", topic);
    /* a plain reader: assigned by hand, never commits, sees committed transactions only */
    if ((rc = pd_kafka_conf_set_literal(s->conf, "group.id", group)) != 0 ||
        (rc = pd_kafka_conf_set_literal(s->conf, "isolation.level", "read_committed")) != 0 ||
        (rc = pd_kafka_conf_set_literal(s->conf, "enable.partition.eof", "true")) != 0 ||
        (rc = pd_kafka_conf_set_literal(s->conf, "auto.offset.reset", "earliest")) != 0)
        goto fail;
    pd_kafka_opts ko = {
        .role = PD_KAFKA_CONSUMER, .conf = s->conf, .base = s->base, .name = "changelog"};
    if ((rc = pd_kafka_new(&ko, &k, err, errlen)) != 0)
        goto fail;
    /* compaction only cleans closed segments: keep them small enough to close */
    static const char *const configs[] = {"cleanup.policy", "compact", "segment.bytes",
                                          "67108864",       NULL,      NULL};
    if ((rc = pd_kafka_ensure_topic(k, topic, 1, configs, timeout_ms, err, errlen)) != 0)
        goto fail;
    pd_kafka_destroy(k);
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
    free(s);
}

const char *pd_store_topic(const pd_store *s)
{
    return s ? s->topic : NULL;
}

static int64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static int skip(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    PD_UNUSED(ctx);
    PD_UNUSED(key);
    PD_UNUSED(klen);
    PD_UNUSED(value);
    PD_UNUSED(vlen);
    return 0;
}

int pd_store_restore(pd_store *s, pd_processor *p, pd_store_restored *out, char *err, size_t errlen)
{
    int rc;
    pd_kafka *k = NULL;
    pd_changelog_dec *dec = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    pd_engine *e = pd_processor_engine(p);
    memset(out, 0, sizeof(*out));
    out->clock_ms = PD_TIME_NONE;
    int64_t t0 = pd_monotonic_ms();
    pd_kafka_opts ko = {
        .role = PD_KAFKA_CONSUMER, .conf = s->conf, .base = s->base, .name = "changelog"};
    if ((rc = pd_kafka_new(&ko, &k, err, errlen)) != 0 || (rc = pd_changelog_dec_create(&dec)) != 0)
        goto done;
    rd_kafka_t *rk = pd_kafka_rk(k);
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "%s: cannot assign its partition", s->topic);
        rc = PD_EKAFKA;
        goto done;
    }
    /* Until the end (the last stable offset: a killed run's open transaction is not read). */
    int64_t idle_since = pd_monotonic_ms();
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (pd_monotonic_ms() - idle_since > 60000) {
                snprintf(err, errlen, "%s: no end of the changelog within 60 s", s->topic);
                rc = PD_ETIMEOUT;
                goto done;
            }
            continue;
        }
        idle_since = pd_monotonic_ms();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err) {
            snprintf(err, errlen, "%s: %s", s->topic, rd_kafka_message_errstr(m));
            bool fatal = m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                         m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
            rd_kafka_message_destroy(m);
            if (fatal) {
                rc = PD_EKAFKA;
                goto done;
            }
            continue;
        }
        out->records++;
        out->bytes += m->len + m->key_len;
        if (m->key_len == sizeof(CLOCK_KEY) - 1 && !memcmp(m->key, CLOCK_KEY, m->key_len)) {
            if (m->payload && m->len == 8)
                out->clock_ms = be64(m->payload);
            rd_kafka_message_destroy(m);
            continue;
        }
        out->tombstones += m->payload == NULL;
        char why[256] = "";
        pd_str key = {m->key, (uint32_t)m->key_len};
        if (m->key && pd_correlator_key_is_state(key)) {
            rc = pd_correlator_import(pd_processor_correlator(p), key, m->payload, m->len, why,
                                      sizeof(why));
            if (rc == PD_ENOTFOUND)
                rc = PD_ESTATE; /* a rule this rule set no longer has: stale */
        } else {
            rc = pd_state_apply(e, dec, m->key, m->key_len, m->payload, m->len, why, sizeof(why));
        }
        if (rc == PD_ESTATE) {
            /* another goal set's record: a resource gone before a reload rewrote the rest */
            out->stale++;
            rd_kafka_message_destroy(m);
            continue;
        }
        out->applied += rc == 0;
        if (rc) {
            snprintf(err, errlen, "%s offset %lld: %s", s->topic, (long long)m->offset,
                     why[0] ? why : pd_strerror(rc));
            rd_kafka_message_destroy(m);
            goto done;
        }
        rd_kafka_message_destroy(m);
    }
    if (out->applied > 0) {
        if ((rc = pd_engine_import_settle(e, out->clock_ms)) != 0)
            goto done;
        if (out->clock_ms != PD_TIME_NONE && (rc = pd_processor_advance(p, out->clock_ms)) != 0)
            goto done;
    }
    /* what was restored is what the changelog holds: nothing to write for it again */
    s->clock_written = out->clock_ms;
    rc = pd_store_reset(s);
    if (!rc)
        rc = pd_state_tracker_collect(s->tracker, e, skip, NULL, NULL);
    if (!rc)
        pd_engine_track_touched(e, true);
done:
    out->seconds = (double)(pd_monotonic_ms() - t0) / 1000.0;
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    pd_changelog_dec_destroy(dec);
    if (k)
        pd_kafka_close(k);
    pd_kafka_destroy(k);
    return rc;
}

void pd_store_mark(pd_store *s, const pd_engine *e, pd_str canon)
{
    if (s && canon.len)
        pd_state_tracker_mark(s->tracker, e, canon);
}

static int put(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    pd_store *s = ctx;
    return pd_runtime_produce_state(s->rt, s->topic, key, klen, value, vlen);
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
        for (int i = 0; i < 8; i++)
            v[i] = (unsigned char)((uint64_t)now >> (56 - 8 * i));
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
