/* pd_store.h: the durable state of `postured run` with state.exactly_once (issue 8, first
 * part): the engine's state is changelogged to a compacted Kafka topic inside each transaction
 * and restored from that topic at start, so a restart resumes from the committed offsets
 * without re-reading its input.
 *
 * Topic: "<consumer group>-changelog" (state.changelog_topic overrides), created at start when
 * missing with cleanup.policy=compact and one partition: the whole engine is one state
 * partition for now (repartitioning by resource id, which would split it, is not built), so
 * one instance per consumer group owns it. Records: src/state/pd_changelog.h (resources,
 * "#ctl:" controls, "#goal:" goal states, "#acct:" accounts), "#corr:" correlation groups
 * (pd_correlate.h), and "#clock": the engine's event time, 8 bytes big-endian milliseconds
 * (schemas/state-changelog.md).
 *
 * Per commit: pd_store_mark for the resource of every event applied, then, right before the
 * transaction commits, pd_store_checkpoint produces the records of what changed (the tracker's
 * collect) through pd_runtime_produce_state. The transaction holds them with the signals and
 * the consumed offsets: the changelog always says the state as of the committed offsets.
 *
 * Restore: read the topic from the beginning to its end with isolation.level=read_committed
 * (a killed run's open transaction stays invisible), apply every record (pd_state_apply), then
 * settle the engine at the recorded clock and advance the processor (and so the correlator's
 * watermark) to it. Correlation windows are records too ("#corr:" rule id 0x1f group key,
 * pd_correlator_collect). Not restored: per-input silence times (feed.silent).
 *
 * Ownership: the store owns its tracker and buffers; the engine and runtime are borrowed.
 * Thread: create and restore block on the broker: call them before the loop runs; mark and
 * checkpoint on the loop thread. */
#ifndef PD_STORE_H
#define PD_STORE_H

#include "pd_kafka.h"
#include "pd_runtime.h"

struct event_base;
struct pd_engine;
struct pd_processor;

typedef struct pd_store pd_store;

typedef struct pd_store_restored {
    uint64_t records, bytes, tombstones;
    uint64_t applied; /* records imported (0: nothing restored, warm start instead) */
    uint64_t stale;   /* records of another goal set, skipped */
    int64_t clock_ms; /* PD_TIME_NONE when the changelog had no clock */
    double seconds;
    bool from_snapshot;      /* a local snapshot was loaded, then the changelog's tail */
    uint64_t snapshot_pairs; /* its pairs */
    int64_t snapshot_offset; /* where the tail started */
    uint64_t tail_records;   /* changelog records read after the snapshot */
} pd_store_restored;

/* The store of one changelog partition. ensure_partitions > 0: creates the topic with that many
 * partitions when missing (timeout_ms for the broker's answers). conf: the consumer settings. */
int pd_store_create(struct event_base *base, const pd_kafka_conf *conf, const char *topic,
                    int32_t partition, int32_t ensure_partitions, int timeout_ms, pd_store **out,
                    char *err, size_t errlen);
void pd_store_destroy(pd_store *s);
const char *pd_store_topic(const pd_store *s);

/* Restores into the processor's engine (which must be empty); advances the processor to
 * the restored clock. */
int pd_store_restore(pd_store *s, struct pd_processor *p, pd_store_restored *out, char *err,
                     size_t errlen);

/* Restores n stores of one topic (distinct partitions) with one reader, each into its
 * processor: what a state stage does for the partitions it was assigned. outs[i] per store. */
int pd_store_restore_many(pd_store *const *stores, struct pd_processor *const *procs, uint32_t n,
                          pd_store_restored *outs, char *err, size_t errlen);

/* Whether a restore that ends at an open transaction (the last stable offset below the log's
 * end) waits for it to end: needed when several writers take turns on the partition (a
 * killed owner's transaction, then the next owner's records behind it); not with one writer,
 * whose own restart aborts it only after the restore (default: no wait). */
void pd_store_wait_open(pd_store *s, bool wait);

/* Records with keys starting '#' that the store does not know itself go to fn at restore
 * (value NULL: a tombstone); fn returns PD_ENOTFOUND for keys that are not its own and
 * PD_ESTATE for a record to skip (malformed: counted as stale); any other error fails the
 * restore. */
typedef int (*pd_store_hook_fn)(void *ctx, const void *key, size_t klen, const void *value,
                                size_t vlen);
void pd_store_set_hook(pd_store *s, pd_store_hook_fn fn, void *ctx);
/* Every record, whatever its key, goes to the hook (a store of the owner's records only);
 * PD_ENOTFOUND from it then counts as stale. */
void pd_store_set_hook_only(pd_store *s, bool only);

/* Local snapshots (schemas/state-snapshot.md, "Partition snapshots"): with a path prefix,
 * restores start from <prefix>.snap and <prefix>.side when they are usable and read the
 * changelog from the offset they are complete up to; pd_store_snapshot exports the state
 * (on the loop thread, right after a commit: the state then is what the changelog says) and
 * hands the files to the writer thread. fn adds the owner's own records (those its restore
 * hook reads) to the side file; it is called with a record function and its context.
 * NULL prefix: no snapshots. */
typedef int (*pd_store_record_fn)(void *ctx, const void *key, size_t klen, const void *value,
                                  size_t vlen);
typedef int (*pd_store_export_fn)(void *ctx, pd_store_record_fn put, void *put_ctx);
struct pd_snapwriter;
void pd_store_set_snapshot(pd_store *s, const char *path_prefix, pd_store_export_fn fn, void *ctx);
int pd_store_snapshot(pd_store *s, struct pd_processor *p, struct pd_snapwriter *w,
                      uint64_t *bytes);
/* A record of ours reached the partition at offset (the producer's delivery report; any
 * thread). */
void pd_store_note_delivered(pd_store *s, int64_t offset);

void pd_store_mark(pd_store *s, const struct pd_engine *e, pd_str canon);
/* From the runtime's checkpoint callback. */
int pd_store_checkpoint(pd_store *s, struct pd_processor *p, pd_runtime *rt);
/* After the engine was replaced (reload): the next checkpoint writes every record. */
int pd_store_reset(pd_store *s);

/* `postured bench partition-restore` (src/kafka/pd_bench_partition.c): argv[0] is
 * "partition-restore". Returns a process exit code. */
int pd_cmd_bench_partition(int argc, char **argv);

#endif
