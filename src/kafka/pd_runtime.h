/* pd_runtime.h: the streaming runtime of `postured run` and `postured demo`: one consumer
 * and one producer (pd_kafka) on one libevent loop, feeding every input message to a
 * processor and writing what it produces (signals, goal status, dead letters) to the output
 * topics, at least once.
 *
 * Delivery: an input offset is committed only after everything its message caused (signals,
 * status records, its dead letter) has a successful delivery report. Per partition the
 * runtime keeps a FIFO of the messages with outputs still in flight; the safe offset is the
 * oldest such message's offset, or the last processed offset + 1 when none is. Safe offsets
 * are committed asynchronously every commit interval, on revoke (not when lost), and
 * synchronously at shutdown. A failed delivery is produced again (message.timeout.ms is
 * infinite by default), so a broker outage delays commits and never loses output.
 *
 * Backpressure: when more than max_in_flight outputs await their delivery report, every
 * input partition is paused (rd_kafka_pause_partitions); they resume once half have drained,
 * so memory stays bounded.
 *
 * State after a restart (until durable state exists, issue 8): with warm_start, each
 * assigned partition is read again from its beginning; messages below the group's committed
 * offset rebuild the processor's state with their outputs suppressed, and processing goes on
 * live from the committed offset. The committed offsets are fetched off the loop thread (a
 * helper thread around rd_kafka_committed); fetched messages wait until they are known.
 *
 * Order: fetched messages are buffered per partition and processed in timestamp order
 * across partitions, always taking the partition whose next message is the oldest (Kafka
 * Streams' rule); a partition with nothing buffered but more on the broker is waited for
 * (up to 60 x order_wait_ms; 10 x order_wait_ms while its high watermark is unknown). With
 * producers that stamp messages with event time (or append time), the processor sees one stream in
 * time order, as `postured replay` does; a partition's own order is never changed.
 *
 * Prefetch: every message librdkafka has fetched is moved into the partition buffers at once
 * (librdkafka 2.0 re-checks a full fetch queue only once a second, so leaving messages there
 * starves a fast loop); beyond buffer_bytes of payload the consumer is held (pd_kafka_hold)
 * until half of it is processed. While a partition is waited for (Order), holding stops
 * up to 4 x buffer_bytes, since its messages may be queued behind the held ones.
 *
 * Dead letters: the original key and bytes, the original headers, plus headers
 * postured.reason (code name), postured.error (message), postured.error.offset (byte offset),
 * postured.source.topic, postured.source.partition, postured.source.offset.
 *
 * Ownership: the runtime copies the options' strings; conf objects are copied. Signals and
 * data passed to pd_runtime_signal/_status/_dead_letter are copied before returning.
 * Thread: the loop thread, except pd_runtime_finish/destroy (after the loop has stopped). */
#ifndef PD_RUNTIME_H
#define PD_RUNTIME_H

#include "pd_kafka.h"
#include "pd_model.h"
#include "pd_signal.h"

struct event_base;
struct pd_metrics;

typedef struct pd_runtime pd_runtime;

/* Feeds one input message to the processor; outputs come back through pd_runtime_signal,
 * pd_runtime_status and pd_runtime_dead_letter during the call. Non-zero: a fatal error. */
typedef int (*pd_runtime_feed_fn)(void *ctx, pd_runtime *rt, const char *msg, size_t len,
                                  pd_format format, pd_str source);
/* Asks for every goal's status now (call pd_runtime_status for each). */
typedef void (*pd_runtime_status_all_fn)(void *ctx, pd_runtime *rt);

typedef struct pd_runtime_input {
    const char *topic;
    pd_format format;
} pd_runtime_input;

typedef struct pd_runtime_opts {
    struct event_base *base;
    const pd_kafka_conf *consumer_conf; /* client settings (bootstrap, security, ...) */
    const pd_kafka_conf *producer_conf;
    const char *group;
    const pd_runtime_input *inputs;
    uint32_t ninputs;
    /* output topics; NULL: that output is not written */
    const char *out_drift, *out_breach, *out_status, *out_dead_letter;
    uint32_t max_in_flight;       /* 0: 100000 */
    uint32_t commit_interval_ms;  /* 0: 1000 */
    uint32_t status_interval_ms;  /* 0: 30000 */
    uint32_t shutdown_timeout_ms; /* 0: 10000 */
    uint32_t exit_idle_ms;        /* 0: never; else stop after this long without input */
    uint32_t budget, tick_ms;     /* pd_kafka_opts; budget also bounds one processing turn */
    uint32_t order_wait_ms;       /* 0: 1000 (see "Order" above) */
    bool unordered;        /* never wait for a partition: each partition's stream is independent */
    uint64_t buffer_bytes; /* 0: 128 MiB (see "Prefetch" above) */
    bool warm_start;
    /* Exactly-once (state.exactly_once, issue 8): a transactional producer; the outputs and
     * the input offsets (last processed + 1) commit in one transaction every eos_every_events
     * processed messages or eos_interval_ms, on the txn's own thread (pd_txn); processing
     * pauses while a commit runs. The consumer reads with isolation.level=read_committed and
     * nothing is committed through the consumer. State after a restart is rebuilt by warm
     * start (inputs re-read up to the transactionally committed offsets) or by the caller
     * (a changelog). An aborted transaction is rewound in process when o.rewind is given;
     * else it stops the loop and pd_runtime_finish returns PD_EKAFKA: the restart resumes
     * from the committed offsets. transactional_id NULL: the producer settings'
     * transactional.id, else "<group>.postured". */
    bool exactly_once;
    const char *transactional_id;
    uint32_t eos_every_events; /* 0: 10000 */
    uint32_t eos_interval_ms;  /* 0: 100 */
    pd_runtime_feed_fn feed;
    void *feed_ctx;
    /* Exactly-once: called on the loop thread right before each commit (processing is
     * stopped) to add the state records of the commit with pd_runtime_produce_state. Non-zero
     * stops the loop without committing. May be NULL. */
    int (*checkpoint)(void *ctx, pd_runtime *rt);
    void *checkpoint_ctx;
    /* Called on revoke (after the exactly-once commit of everything processed, before the
     * partitions' buffers are dropped), so per-partition state can be handed over. May be
     * NULL. */
    void (*revoked)(void *ctx, pd_runtime *rt, const rd_kafka_topic_partition_list_t *parts);
    /* Called on assignment, before any message of the partitions is processed (per-partition
     * state is restored here: nothing of this runtime's is in a transaction then). */
    void (*assigned)(void *ctx, pd_runtime *rt, const rd_kafka_topic_partition_list_t *parts);
    void *assigned_ctx;
    void *revoked_ctx;
    /* Called once when a stop has drained (instead of breaking the loop), so several runtimes
     * can share one loop. May be NULL. */
    void (*drained)(void *ctx, pd_runtime *rt);
    void *drained_ctx;
    /* Exactly-once: after an aborted transaction the runtime seeks every partition back to
     * its committed offset (with warm_start: to its start, outputs suppressed up to there) and
     * calls this to drop the state built since the last commit (restore it as of the commit).
     * Non-zero, or NULL: the process stops instead (a restart resumes). */
    int (*rewind)(void *ctx, pd_runtime *rt);
    void *rewind_ctx;
    /* Exactly-once: called on the loop thread after each transaction committed (processing
     * still stopped: the state is the committed one). May be NULL. */
    void (*committed)(void *ctx, pd_runtime *rt);
    void *committed_ctx;
    /* Exactly-once: each record delivered into the transaction (topic, partition, offset).
     * Called on the loop thread or on the commit thread while it flushes. May be NULL. */
    void (*delivered)(void *ctx, const char *topic, int32_t partition, int64_t offset);
    void *delivered_ctx;
    pd_runtime_status_all_fn status_all; /* may be NULL */
    void *status_ctx;
    pd_signal_fn also; /* every signal also goes here (other sinks); may be NULL */
    void *also_ctx;
    /* May be NULL. Else the runtime adds consumer lag per assigned partition (pd_lag.h) to
     * this registry, which must outlive the runtime. */
    struct pd_metrics *metrics;
} pd_runtime_opts;

typedef struct pd_runtime_stats {
    uint64_t messages, warm_messages, signals, suppressed, status_records, dead_letters;
    uint64_t delivered, redelivered, delivery_failed;
    uint64_t commits, commit_errors, pauses, resumes, txn_aborts;
    uint64_t in_flight, max_in_flight_seen;
    uint64_t state_records; /* changelog records produced (exactly-once) */
    uint64_t records;       /* other records (pd_runtime_produce) */
    uint64_t rewinds;       /* aborted transactions rewound in process */
    uint64_t out_of_order;  /* processed older than a message processed before (not merged) */
    uint32_t partitions, holding;
} pd_runtime_stats;

int pd_runtime_create(const pd_runtime_opts *o, pd_runtime **out, char *err, size_t errlen);
/* Subscribes; processing starts on the loop. */
int pd_runtime_start(pd_runtime *rt);
/* Outputs (call from within feed or status_all; also valid outside: untracked). */
int pd_runtime_signal(void *rt, const pd_signal *s); /* matches pd_signal_fn, ctx = runtime */
int pd_runtime_status(pd_runtime *rt, pd_str goal_id, const void *json, size_t len);
/* Exactly-once only (PD_EINVAL otherwise): one record (value NULL: a tombstone) to topic in
 * the open transaction, from o.checkpoint. Copied before returning. */
int pd_runtime_produce_state(pd_runtime *rt, const char *topic, int32_t partition, const void *key,
                             size_t klen, const void *value, size_t vlen);
/* Any record, tracked like a signal: the current input offset commits only after it was
 * delivered (at least once), or in the open transaction (exactly once). partition
 * RD_KAFKA_PARTITION_UA: the producer's partitioner. Suppressed while warming. The headers
 * are taken over (destroyed on error). Copied before returning. */
int pd_runtime_produce(pd_runtime *rt, const char *topic, int32_t partition, const void *key,
                       size_t klen, const void *value, size_t vlen, rd_kafka_headers_t *headers);
/* The message being processed: its timestamp (0 when it has none) and offset. */
int pd_runtime_message(const pd_runtime *rt, int64_t *timestamp, int64_t *offset);
/* The assigned input partitions, by index (0 .. count-1): caught_up when everything up to the
 * partition's high watermark (as last fetched) was processed. */
uint32_t pd_runtime_partition_count(const pd_runtime *rt);
int pd_runtime_partition_at(const pd_runtime *rt, uint32_t i, const char **topic,
                            int32_t *partition, bool *caught_up);
/* The key of the message being processed (NULL, 0 without). */
int pd_runtime_key(const pd_runtime *rt, const void **key, size_t *len);
/* The input partition of the message being processed (-1 outside feed). */
int32_t pd_runtime_partition(const pd_runtime *rt);
/* The last header `name` of the message being processed; PD_ENOTFOUND without. The value
 * lives as long as the message (during feed). */
int pd_runtime_header(const pd_runtime *rt, const char *name, const void **value, size_t *len);
int pd_runtime_dead_letter(pd_runtime *rt, const char *reason, const char *message,
                           size_t byte_offset, const void *data, size_t len);
/* True while the current message only rebuilds state (outputs are suppressed). */
bool pd_runtime_warming(const pd_runtime *rt);
/* True while an exactly-once commit runs: nothing may be produced (status writers wait). */
bool pd_runtime_busy(const pd_runtime *rt);
/* Begins the graceful stop: stop fetching, wait for outstanding deliveries; the loop is
 * broken when done or when the drain part of the shutdown timeout is over. */
void pd_runtime_stop(pd_runtime *rt);
bool pd_runtime_stopping(const pd_runtime *rt);
/* Milliseconds since the last input message when nothing is buffered, held or in flight;
 * 0 while there is work (or no partition). */
int64_t pd_runtime_idle_ms(const pd_runtime *rt);
/* After the loop: final status records, flush, synchronous commit, leave the group.
 * 0 when everything was delivered and committed within the timeout. Blocking. */
int pd_runtime_finish(pd_runtime *rt);
void pd_runtime_get_stats(const pd_runtime *rt, pd_runtime_stats *out);
pd_kafka *pd_runtime_consumer(pd_runtime *rt);
pd_kafka *pd_runtime_producer(pd_runtime *rt);
void pd_runtime_destroy(pd_runtime *rt);

#endif
