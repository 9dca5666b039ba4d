/* pd_sink_kafka.h: the `kafka` sink type for a pipeline's `sinks:` list.
 *
 *   - name: to-siem
 *     type: kafka
 *     topic: postured.signals        # required
 *     brokers: kafka-1:9092          # optional: bootstrap.servers
 *     kafka: {compression.type: zstd, sasl.password: "${SIEM_KAFKA_PASSWORD}"}
 *     format: ocsf
 *     route: {kinds: [breach]}
 *
 * Client settings: the type context's producer settings (the daemon's `kafka.*`, may be
 * NULL), then `brokers`, then the `kafka:` map (each value through pd_kafka_conf_set, so
 * "${NAME}" reads the environment). The producer is idempotent with acks=all; the record key
 * is the signal (or digest) id. Delivery reports arrive on the sink's event_base; a record
 * that librdkafka gives up on (after its retries / message.timeout.ms) is dead-lettered with
 * "kafka: <reason>". Destroy waits up to 2 s for outstanding records, then dead-letters the
 * rest ("shutdown before delivery").
 *
 * Ownership: pd_sink_type.ctx is a const pd_kafka_conf * the caller keeps alive while sinks
 * are created (it is copied). Thread: the loop thread. */
#ifndef PD_SINK_KAFKA_H
#define PD_SINK_KAFKA_H

#include "pd_sink.h"

extern const pd_sink_ops pd_sink_kafka_ops;

/* For `postured validate`: an env that knows the kafka type (check only, no base). */
extern const pd_sink_env pd_sink_kafka_check_env;

#endif
