/* pd_txn.h: exactly-once commits for a consume-process-produce loop. One Kafka transaction
 * holds what the loop produced since the last commit (signals, changelog records, partial
 * aggregates) and the consumed offsets (rd_kafka_send_offsets_to_transaction with the
 * consumer's group metadata); readers with isolation.level=read_committed see all of it or
 * none of it. After a crash the consumer resumes from the last committed offsets and the
 * aborted (or never committed) outputs stay invisible.
 *
 * Usage: pd_txn_begin once (init_transactions + begin_transaction). Then per commit point:
 * stop producing, take the offsets (pd_txn_offsets: the consumer's positions), and commit,
 * blocking (pd_txn_commit) or on the txn's own thread (pd_txn_commit_async, completion on a
 * file descriptor the loop watches, result by pd_txn_result), so the libevent loop never
 * blocks on the broker. The next transaction is begun as part of a successful commit.
 * Results: 0; PD_EAGAIN when the transaction had to be aborted (an abortable error): the
 * caller rewinds (seek to the committed offsets, restore the state as of them) and goes on;
 * PD_EKAFKA when the producer is fenced or failed fatally: the process must stop.
 *
 * Ownership: the caller owns the producer (created with transactional.id set) and the
 * consumer; both must outlive the txn. Thread: begin/commit/offsets on the loop thread (or
 * any one thread); while an async commit runs, the caller must not produce or commit. */
#ifndef PD_TXN_H
#define PD_TXN_H

#include "pd_common.h"

#include <librdkafka/rdkafka.h>

typedef struct pd_txn pd_txn;

int pd_txn_create(rd_kafka_t *producer, rd_kafka_t *consumer, int timeout_ms, pd_txn **out);
/* Joins the txn's thread (waiting for a running commit); does not abort anything. */
void pd_txn_destroy(pd_txn *t);

int pd_txn_begin(pd_txn *t);
/* The consumer's positions on its assignment (the next offset to read per partition), for a
 * commit; the caller owns the list (NULL and PD_ENOMEM/PD_EKAFKA on failure). */
int pd_txn_offsets(pd_txn *t, rd_kafka_topic_partition_list_t **out);
/* Sends offsets (borrowed) to the transaction, commits it, begins the next. */
int pd_txn_commit(pd_txn *t, const rd_kafka_topic_partition_list_t *offsets);
/* The same on the txn's thread; takes ownership of offsets. PD_ESTATE when one is running. */
int pd_txn_commit_async(pd_txn *t, rd_kafka_topic_partition_list_t *offsets);
/* Readable when an async commit finished. */
int pd_txn_fd(const pd_txn *t);
/* The finished async commit's result into *rc: 0 when there was one, PD_EAGAIN when it is
 * still running. */
int pd_txn_result(pd_txn *t, int *rc);
/* Aborts the open transaction (blocking) and begins the next. */
int pd_txn_abort(pd_txn *t);

/* Statistics: commits, aborts. */
void pd_txn_counts(const pd_txn *t, uint64_t *commits, uint64_t *aborts);

#endif
