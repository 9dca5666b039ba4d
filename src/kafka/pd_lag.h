/* pd_lag.h: consumer lag per assigned partition, for /metrics.
 *
 * Lag of a partition = its high watermark - the consumer's position (the offset of the last
 * message handed to the application + 1). Both values are read locally from librdkafka's
 * caches (rd_kafka_get_watermark_offsets: the high watermark of the last fetch response;
 * rd_kafka_position: the application position), so an update never waits for a broker or
 * for librdkafka's threads. A partition with no position yet (nothing consumed since the
 * assignment) or no known watermark has no sample.
 *
 * The partitions are the ones reported by pd_lag_assign / pd_lag_revoke (the owner calls them
 * from its rebalance handlers). When created with a registry, a collector renders at scrape
 * time (after a fresh pd_lag_update):
 *   postured_consumer_lag_messages{topic,partition}  (PD_M_CONSUMER_LAG)
 *   postured_consumer_lag_total_messages             (PD_M_CONSUMER_LAG_TOTAL, sum of known)
 *
 * Ownership: pd_lag copies the partition lists it is given; it does not own the consumer
 * (rd_kafka_t) nor the registry, both of which must outlive it (or pd_lag_set_consumer(NULL)).
 * Thread: the loop thread (the consumer's and the registry's). */
#ifndef PD_LAG_H
#define PD_LAG_H

#include "pd_common.h"
#include "pd_metrics.h"

#include <librdkafka/rdkafka.h>

#define PD_M_CONSUMER_LAG_TOTAL "postured_consumer_lag_total_messages"

typedef struct pd_lag pd_lag;

/* m may be NULL (no collector). */
int pd_lag_create(pd_metrics *m, pd_lag **out);
/* Removes the collector. NULL: no-op. */
void pd_lag_destroy(pd_lag *l);
/* The consumer whose positions and watermarks are read; NULL detaches. */
void pd_lag_set_consumer(pd_lag *l, rd_kafka_t *rk);
/* Adds partitions (already known ones are kept). PD_ENOMEM. */
int pd_lag_assign(pd_lag *l, const rd_kafka_topic_partition_list_t *parts);
/* Forgets partitions. */
void pd_lag_revoke(pd_lag *l, const rd_kafka_topic_partition_list_t *parts);
/* Reads positions and cached watermarks now (non-blocking). */
void pd_lag_update(pd_lag *l);
/* Last computed lag of one partition: PD_ENOTFOUND when unknown or not assigned. */
int pd_lag_get(const pd_lag *l, const char *topic, int32_t partition, int64_t *out);
/* Sum over partitions with a known lag. */
int64_t pd_lag_total(const pd_lag *l);

#endif
