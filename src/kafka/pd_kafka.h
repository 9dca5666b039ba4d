/* pd_kafka.h: librdkafka on a libevent loop.
 *
 * A pd_kafka is one librdkafka client (a producer or a high-level consumer) attached to an
 * event_base by file descriptor: librdkafka writes a byte to a non-blocking pipe when its
 * queue turns non-empty (rd_kafka_queue_io_event_enable), the loop wakes and drains at most
 * `budget` messages per wake (continuing on the next loop iteration when more are queued),
 * and a periodic timer drains too, so librdkafka is served even when idle
 * (max.poll.interval.ms, delivery reports, rebalances). librdkafka's logs are routed onto
 * the same queue (log.queue + rd_kafka_set_log_queue) and reach the loop thread.
 *
 * Delivery reports, messages, rebalances, errors and logs all reach the handlers on the loop
 * thread. Consumers use cooperative-sticky assignment unless the configuration says
 * otherwise, and never commit on their own (enable.auto.commit=false): the owner commits
 * what is safe with pd_kafka_commit.
 *
 * pd_kafka_conf is the pass-through of `kafka.*` settings to rd_kafka_conf_set, plus the
 * Azure Event Hubs connection-string helper. Values that are secrets (passwords, keys,
 * connection strings) are never logged: pd_kafka_conf_describe prints them as "***".
 *
 * Ownership: pd_kafka_conf owns copies of its keys and values. pd_kafka_new copies the
 * conf; the caller keeps the event_base alive until pd_kafka_destroy. Messages passed to
 * handlers belong to librdkafka and are valid only during the call.
 * Thread: everything runs on the loop thread (the thread running the event_base), except
 * pd_kafka_close and pd_kafka_flush, which block and are for shutdown, after the loop. */
#ifndef PD_KAFKA_H
#define PD_KAFKA_H

#include "pd_buf.h"
#include "pd_common.h"

#include <librdkafka/rdkafka.h>

struct event_base;

typedef enum { PD_KAFKA_PRODUCER = 0, PD_KAFKA_CONSUMER } pd_kafka_role;

/* ---- configuration -------------------------------------------------------------------- */

typedef struct pd_kafka_conf pd_kafka_conf;

int pd_kafka_conf_new(pd_kafka_conf **out);
void pd_kafka_conf_destroy(pd_kafka_conf *c);
int pd_kafka_conf_copy(const pd_kafka_conf *c, pd_kafka_conf **out);
/* Sets a librdkafka property (its own name: "bootstrap.servers"); replaces an earlier value.
 * A value of the form "${NAME}" is read from the environment variable NAME (PD_ENOTFOUND
 * when it is not set), so secrets need not be written in files. */
int pd_kafka_conf_set(pd_kafka_conf *c, const char *key, const char *value);
/* Same for a config-file key "kafka.<property>"; PD_EINVAL when the prefix is missing. */
int pd_kafka_conf_set_prefixed(pd_kafka_conf *c, const char *key, const char *value);
/* Sets the value as is (no ${NAME} lookup): for values that were already resolved. */
int pd_kafka_conf_set_literal(pd_kafka_conf *c, const char *key, const char *value);
/* The i-th setting (0 <= i < count); the strings belong to the conf. */
void pd_kafka_conf_at(const pd_kafka_conf *c, uint32_t i, const char **key, const char **value);
/* NULL when unset. The string belongs to the conf. */
const char *pd_kafka_conf_get(const pd_kafka_conf *c, const char *key);
uint32_t pd_kafka_conf_count(const pd_kafka_conf *c);
/* True for properties whose values must never be printed (passwords, keys, secrets). */
bool pd_kafka_conf_is_secret(const char *key);
/* "key=value, ..." with secret values as "***". */
void pd_kafka_conf_describe(const pd_kafka_conf *c, pd_buf *out);

/* Azure Event Hubs (Kafka endpoint) from a connection string
 *   Endpoint=sb://NAMESPACE.servicebus.windows.net/;SharedAccessKeyName=K;SharedAccessKey=S
 * (an optional ;EntityPath=hub is accepted): bootstrap NAMESPACE.servicebus.windows.net:9093
 * (an explicit port in the endpoint wins), SASL_SSL, PLAIN, user "$ConnectionString",
 * password the whole connection string, and Microsoft's recommended client settings
 * (socket.keepalive.enable, metadata.max.age.ms=180000, request.timeout.ms=60000 and gzip
 * for producers, session.timeout.ms=30000 for consumers). The error text never contains the
 * key. */
int pd_kafka_conf_eventhubs(pd_kafka_conf *c, const char *connection_string, pd_kafka_role role,
                            char *err, size_t errlen);

/* ---- clients -------------------------------------------------------------------------- */

typedef struct pd_kafka pd_kafka;

typedef struct pd_kafka_handlers {
    /* Consumer: one message (m->err == 0). Returning true keeps it: the handler then owns
     * it and frees it with rd_kafka_message_destroy (on the loop thread). */
    bool (*message)(void *ctx, pd_kafka *k, rd_kafka_message_t *m);
    /* Producer: one delivery report; m->_private is the opaque given to pd_kafka_produce,
     * m->err says whether it was delivered. */
    void (*delivery)(void *ctx, pd_kafka *k, const rd_kafka_message_t *m);
    /* Consumer: partitions about to be assigned. The handler may set each element's offset
     * (for example RD_KAFKA_OFFSET_BEGINNING) before the assignment takes effect. Returning
     * true keeps these partitions paused once assigned, until pd_kafka_resume_partitions. */
    bool (*assigned)(void *ctx, pd_kafka *k, rd_kafka_topic_partition_list_t *parts);
    /* Consumer: partitions about to be revoked (lost: taken without a clean hand-over).
     * The last chance to commit their offsets. */
    void (*revoked)(void *ctx, pd_kafka *k, const rd_kafka_topic_partition_list_t *parts,
                    bool lost);
    /* Consumer: result of an asynchronous commit. */
    void (*committed)(void *ctx, pd_kafka *k, rd_kafka_resp_err_t err,
                      const rd_kafka_topic_partition_list_t *offsets);
    /* Errors reported by librdkafka (most are transient: it retries by itself). */
    void (*error)(void *ctx, pd_kafka *k, rd_kafka_resp_err_t err, const char *reason, bool fatal);
    /* A librdkafka log line (syslog level). NULL: pd_log_rdkafka when level <= log_level. */
    void (*log)(void *ctx, pd_kafka *k, int level, const char *fac, const char *text);
    /* Called on every periodic tick, after draining. */
    void (*tick)(void *ctx, pd_kafka *k);
} pd_kafka_handlers;

typedef struct pd_kafka_opts {
    pd_kafka_role role;
    const pd_kafka_conf *conf; /* may be NULL */
    struct event_base *base;
    pd_kafka_handlers h;
    void *ctx;
    uint32_t budget;  /* messages/reports per wake; 0: 1000 */
    uint32_t tick_ms; /* periodic poll; 0: 100 */
    int log_level;    /* default logging threshold (syslog level); 0: 5 (notice) */
    const char *name; /* for log lines; NULL: "producer"/"consumer" */
} pd_kafka_opts;

/* Creates and attaches the client. err receives librdkafka's message on failure (it names
 * the property, never a secret value). */
int pd_kafka_new(const pd_kafka_opts *o, pd_kafka **out, char *err, size_t errlen);
/* Detaches from the loop and destroys the client without closing (see pd_kafka_close). */
void pd_kafka_destroy(pd_kafka *k);
rd_kafka_t *pd_kafka_rk(pd_kafka *k);
const char *pd_kafka_name(const pd_kafka *k);

/* Consumer: subscribe to topics (replaces the subscription). */
int pd_kafka_subscribe(pd_kafka *k, const char *const *topics, uint32_t ntopics);
/* Consumer: stop/restart fetching of every assigned partition (also those assigned later,
 * until resumed). Messages already fetched are re-fetched after the resume from the last
 * position handed to the message handler, so nothing is skipped. */
int pd_kafka_pause(pd_kafka *k);
int pd_kafka_resume(pd_kafka *k);
bool pd_kafka_paused(const pd_kafka *k);
/* Consumer: stop/restart taking messages out of librdkafka's queue. Held messages stay
 * there; fetching goes on until the queue reaches queued.min.messages or
 * queued.max.messages.kbytes. Unlike a pause nothing is discarded and fetched again, but
 * librdkafka 2.0 looks at a full queue again only about once a second. */
void pd_kafka_hold(pd_kafka *k, bool hold);
/* Consumer: pause/resume some partitions only (a resumed partition stays paused while the
 * whole consumer is paused by pd_kafka_pause). */
int pd_kafka_pause_partitions(pd_kafka *k, const rd_kafka_topic_partition_list_t *parts);
int pd_kafka_resume_partitions(pd_kafka *k, const rd_kafka_topic_partition_list_t *parts);
/* Consumer: asynchronous commit of explicit offsets (the next offset to read, per
 * partition); the result reaches h.committed. */
int pd_kafka_commit(pd_kafka *k, const rd_kafka_topic_partition_list_t *offsets);
/* Consumer: the synchronous commit, for shutdown only (blocks up to librdkafka's timeout). */
int pd_kafka_commit_sync(pd_kafka *k, const rd_kafka_topic_partition_list_t *offsets);

/* Producer: enqueue one message (bytes are copied). headers: NULL, or a list whose ownership
 * passes to librdkafka on success (the caller destroys it on failure). partition may be
 * RD_KAFKA_PARTITION_UA. PD_EFULL: the local queue is full (backpressure: retry after
 * delivery reports drain it). */
int pd_kafka_produce(pd_kafka *k, const char *topic, int32_t partition, const void *key,
                     size_t keylen, const void *value, size_t valuelen, rd_kafka_headers_t *headers,
                     void *opaque);
/* Producer: messages not yet reported. */
uint32_t pd_kafka_outq_len(pd_kafka *k);

/* Start-up, blocking (before the loop runs): creates topic when it does not exist yet, with
 * `partitions` partitions, the broker's default replication and the given topic configs
 * (NULL-terminated key, value pairs). 0 when created or already there. */
int pd_kafka_ensure_topic(pd_kafka *k, const char *topic, int partitions,
                          const char *const *configs, int timeout_ms, char *err, size_t errlen);

/* Drains now (as a wake would). Returns the number of messages/reports handled. */
uint32_t pd_kafka_drain(pd_kafka *k);

/* Shutdown, blocking (not on a running loop): wait for outstanding deliveries (reports are
 * served to the handlers) up to timeout_ms; PD_ETIMEOUT when some remain. */
int pd_kafka_flush(pd_kafka *k, int timeout_ms);
/* Shutdown, blocking: leave the group cleanly (revoked handler runs). */
int pd_kafka_close(pd_kafka *k);

/* Counters, for tests and metrics. */
typedef struct pd_kafka_stats {
    uint64_t wakes, ticks, messages, delivered, delivery_failed, errors, logs, budget_hits;
} pd_kafka_stats;
void pd_kafka_get_stats(const pd_kafka *k, pd_kafka_stats *out);

#endif
