/* pd_sink_kafka.c: the `kafka` sink type (see pd_sink_kafka.h). */
#include "pd_sink_kafka.h"

#include "pd_kafka.h"
#include "pd_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pd_kafka_sink {
    pd_sink *sink;
    pd_kafka *k;
    char *topic;
    uint64_t inflight; /* produced, not yet reported */
} pd_kafka_sink;

static const char *const kafka_keys[] = {"topic", "brokers", "kafka", NULL};
static const pd_sink_type check_types[] = {{&pd_sink_kafka_ops, NULL}};
const pd_sink_env pd_sink_kafka_check_env = {.types = check_types, .ntypes = 1, .check_only = true};

static void on_delivery(void *ctx, pd_kafka *k, const rd_kafka_message_t *m)
{
    pd_kafka_sink *ks = ctx;
    PD_UNUSED(k);
    if (ks->inflight)
        ks->inflight--;
    if (!m->err) {
        pd_sink_report_delivered(ks->sink, m->len);
        return;
    }
    char key[80], reason[256];
    size_t kl = m->key_len < sizeof(key) - 1 ? m->key_len : sizeof(key) - 1;
    if (m->key)
        memcpy(key, m->key, kl);
    key[m->key ? kl : 0] = '\0';
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        snprintf(reason, sizeof(reason), "shutdown before delivery");
    else
        snprintf(reason, sizeof(reason), "kafka: %s", rd_kafka_err2str(m->err));
    pd_sink_dead d = {
        .key = key, .reason = reason, .payload = m->payload, .len = m->len, .attempts = 1};
    pd_sink_report_dead(ks->sink, &d);
}

static void on_error(void *ctx, pd_kafka *k, rd_kafka_resp_err_t err, const char *reason,
                     bool fatal)
{
    pd_kafka_sink *ks = ctx;
    PD_UNUSED(k);
    if (fatal)
        pd_log_error("sink", "%s: fatal kafka error: %s (%s)", pd_sink_name(ks->sink),
                     rd_kafka_err2str(err), reason);
}

static int build_conf(const pd_sink_create_args *a, pd_kafka_conf *c, pd_diag *diag)
{
    const pd_ynode *bn = pd_ymap_get(a->node, "brokers");
    const pd_ynode *kn = pd_ymap_get(a->node, "kafka");
    int rc;
    if (bn) {
        const char *b;
        if ((rc = pd_ynode_str(a->doc, bn, &b, diag)))
            return rc;
        if ((rc = pd_kafka_conf_set_literal(c, "bootstrap.servers", b)))
            return pd_diag_at(diag, a->doc, bn, "bad brokers: %s", pd_strerror(rc));
    }
    if (kn) {
        if (kn->type != PD_YMAP)
            return pd_diag_at(diag, a->doc, kn, "'kafka' must be a map of client settings");
        for (uint32_t i = 0; i < kn->n; i++) {
            const pd_ynode *key = kn->items[2 * i], *val = kn->items[2 * i + 1];
            const char *v;
            if ((rc = pd_ynode_str(a->doc, val, &v, diag)))
                return rc;
            /* validate: environment variables may be unset, keep the text */
            rc = a->env->check_only ? pd_kafka_conf_set_literal(c, key->str, v)
                                    : pd_kafka_conf_set(c, key->str, v);
            if (rc == PD_ENOTFOUND)
                return pd_diag_at(diag, a->doc, val, "environment variable in '%s' is not set",
                                  key->str);
            if (rc)
                return pd_diag_at(diag, a->doc, key, "bad kafka setting '%s': %s", key->str,
                                  pd_strerror(rc));
        }
    }
    /* at-least-once without duplicates from producer retries */
    if (!pd_kafka_conf_get(c, "enable.idempotence"))
        pd_kafka_conf_set_literal(c, "enable.idempotence", "true");
    if (!pd_kafka_conf_get(c, "acks"))
        pd_kafka_conf_set_literal(c, "acks", "all");
    return 0;
}

static void kafka_destroy(void *impl);

static int kafka_create(const pd_sink_create_args *a, void **impl, pd_diag *diag)
{
    pd_kafka_sink *ks = calloc(1, sizeof(*ks));
    pd_kafka_conf *c = NULL;
    int rc;
    if (!ks)
        return PD_ENOMEM;
    ks->sink = a->sink;
    const pd_ynode *tn = pd_ymap_get(a->node, "topic");
    const char *topic;
    if (!tn) {
        rc = pd_diag_at(diag, a->doc, a->node, "kafka sink needs 'topic'");
        goto fail;
    }
    if ((rc = pd_ynode_str(a->doc, tn, &topic, diag)))
        goto fail;
    if (!*topic) {
        rc = pd_diag_at(diag, a->doc, tn, "empty topic");
        goto fail;
    }
    if (!(ks->topic = strdup(topic))) {
        rc = PD_ENOMEM;
        goto fail;
    }
    rc = a->type_ctx ? pd_kafka_conf_copy(a->type_ctx, &c) : pd_kafka_conf_new(&c);
    if (rc || (rc = build_conf(a, c, diag)))
        goto fail;
    if (a->env->check_only) {
        pd_kafka_conf_destroy(c);
        *impl = ks;
        return 0;
    }
    if (!pd_kafka_conf_get(c, "bootstrap.servers")) {
        rc = pd_diag_at(diag, a->doc, a->node,
                        "kafka sink needs 'brokers' (or kafka.bootstrap.servers)");
        goto fail;
    }
    if (!a->env->base) {
        rc = pd_diag_at(diag, a->doc, a->node, "kafka sink needs an event loop");
        goto fail;
    }
    char err[512];
    pd_kafka_opts o = {.role = PD_KAFKA_PRODUCER,
                       .conf = c,
                       .base = a->env->base,
                       .ctx = ks,
                       .name = pd_sink_name(a->sink)};
    o.h.delivery = on_delivery;
    o.h.error = on_error;
    if ((rc = pd_kafka_new(&o, &ks->k, err, sizeof(err)))) {
        rc = pd_diag_at(diag, a->doc, a->node, "kafka sink: %s", err);
        goto fail;
    }
    pd_kafka_conf_destroy(c);
    *impl = ks;
    return 0;
fail:
    pd_kafka_conf_destroy(c);
    kafka_destroy(ks);
    return rc;
}

static int kafka_submit(void *impl, const pd_sink_msg *m)
{
    pd_kafka_sink *ks = impl;
    if (!ks->k)
        return PD_ESTATE;
    const char *key = m->key ? m->key : "";
    int rc = pd_kafka_produce(ks->k, ks->topic, RD_KAFKA_PARTITION_UA, key, strlen(key), m->data,
                              m->len, NULL, NULL);
    if (rc == 0)
        ks->inflight++;
    return rc;
}

static int kafka_flush(void *impl)
{
    pd_kafka_sink *ks = impl;
    if (ks->k)
        pd_kafka_drain(ks->k); /* serves delivery reports already there; never blocks */
    return 0;
}

static void kafka_stats(void *impl, pd_sink_stats *st)
{
    pd_kafka_sink *ks = impl;
    st->pending += ks->inflight;
}

static void kafka_destroy(void *impl)
{
    pd_kafka_sink *ks = impl;
    if (!ks)
        return;
    if (ks->k) {
        if (ks->inflight && pd_kafka_flush(ks->k, 2000) != 0) {
            rd_kafka_purge(pd_kafka_rk(ks->k), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            pd_kafka_flush(ks->k, 500); /* the purged records' reports: dead letters */
        }
        pd_kafka_destroy(ks->k);
    }
    free(ks->topic);
    free(ks);
}

const pd_sink_ops pd_sink_kafka_ops = {"kafka",     kafka_keys,  kafka_create, kafka_submit,
                                       kafka_flush, kafka_stats, kafka_destroy};
