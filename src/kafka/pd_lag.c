#include "pd_lag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pd_lag {
    pd_metrics *m;
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts; /* offset: position after an update */
    int64_t *lag;                           /* per element of parts; -1 unknown */
    int cap;
};

static void collect(void *ctx, pd_buf *out);

int pd_lag_create(pd_metrics *m, pd_lag **out)
{
    int rc = PD_ENOMEM;
    pd_lag *l = calloc(1, sizeof(*l));
    if (!l)
        goto fail;
    l->parts = rd_kafka_topic_partition_list_new(8);
    if (!l->parts)
        goto fail;
    if (m) {
        if ((rc = pd_metrics_add_collector(m, collect, l)) != 0)
            goto fail;
        l->m = m;
    }
    *out = l;
    return 0;
fail:
    pd_lag_destroy(l);
    return rc;
}

void pd_lag_destroy(pd_lag *l)
{
    if (!l)
        return;
    if (l->m)
        pd_metrics_remove_collector(l->m, collect, l);
    if (l->parts)
        rd_kafka_topic_partition_list_destroy(l->parts);
    free(l->lag);
    free(l);
}

void pd_lag_set_consumer(pd_lag *l, rd_kafka_t *rk)
{
    l->rk = rk;
}

static int ensure_cap(pd_lag *l, int n)
{
    if (n <= l->cap)
        return 0;
    int cap = l->cap ? l->cap * 2 : 8;
    while (cap < n)
        cap *= 2;
    int64_t *p = realloc(l->lag, (size_t)cap * sizeof(*p));
    if (!p)
        return PD_ENOMEM;
    l->lag = p;
    l->cap = cap;
    return 0;
}

int pd_lag_assign(pd_lag *l, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (rd_kafka_topic_partition_list_find(l->parts, p->topic, p->partition))
            continue;
        if (ensure_cap(l, l->parts->cnt + 1))
            return PD_ENOMEM;
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_add(l->parts, p->topic, p->partition);
        e->offset = RD_KAFKA_OFFSET_INVALID;
        l->lag[l->parts->cnt - 1] = -1;
    }
    return 0;
}

void pd_lag_revoke(pd_lag *l, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        for (int j = 0; j < l->parts->cnt; j++) {
            rd_kafka_topic_partition_t *e = &l->parts->elems[j];
            if (e->partition != parts->elems[i].partition ||
                strcmp(e->topic, parts->elems[i].topic) != 0)
                continue;
            memmove(l->lag + j, l->lag + j + 1, (size_t)(l->parts->cnt - j - 1) * sizeof(*l->lag));
            rd_kafka_topic_partition_list_del_by_idx(l->parts, j);
            break;
        }
    }
}

void pd_lag_update(pd_lag *l)
{
    if (!l->rk || l->parts->cnt == 0)
        return;
    /* fills each element's offset from the local position (no broker round trip) */
    if (rd_kafka_position(l->rk, l->parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    for (int i = 0; i < l->parts->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->parts->elems[i];
        int64_t lo = -1, hi = -1;
        l->lag[i] = -1;
        if (e->err || e->offset < 0)
            continue;
        if (rd_kafka_get_watermark_offsets(l->rk, e->topic, e->partition, &lo, &hi) || hi < 0)
            continue;
        l->lag[i] = hi > e->offset ? hi - e->offset : 0;
    }
}

int pd_lag_get(const pd_lag *l, const char *topic, int32_t partition, int64_t *out)
{
    for (int i = 0; i < l->parts->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->parts->elems[i];
        if (e->partition == partition && strcmp(e->topic, topic) == 0) {
            if (l->lag[i] < 0)
                return PD_ENOTFOUND;
            *out = l->lag[i];
            return 0;
        }
    }
    return PD_ENOTFOUND;
}

int64_t pd_lag_total(const pd_lag *l)
{
    int64_t sum = 0;
    for (int i = 0; i < l->parts->cnt; i++)
        if (l->lag[i] > 0)
            sum += l->lag[i];
    return sum;
}

static void collect(void *ctx, pd_buf *out)
{
    pd_lag *l = ctx;
    pd_lag_update(l);
    pd_metrics_write_family(out, PD_M_CONSUMER_LAG,
                            "Messages between the consumer position and the high watermark.",
                            PD_METRIC_GAUGE);
    for (int i = 0; i < l->parts->cnt; i++) {
        if (l->lag[i] < 0)
            continue;
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)l->parts->elems[i].partition);
        pd_metrics_write_sample(
            out, PD_M_CONSUMER_LAG,
            (const char *[]){"topic", l->parts->elems[i].topic, "partition", part, NULL},
            (double)l->lag[i]);
    }
    pd_metrics_write_family(out, PD_M_CONSUMER_LAG_TOTAL,
                            "Consumer lag summed over the assigned partitions.", PD_METRIC_GAUGE);
    pd_metrics_write_sample(out, PD_M_CONSUMER_LAG_TOTAL, NULL, (double)pd_lag_total(l));
}
