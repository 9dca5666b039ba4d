/* pd_scale.h: the scaled-out topology of `postured run` (state.partitioned, issue 8): three
 * stages, each a pd_runtime with its own consumer group and transactional producer on the
 * one libevent loop. Every instance of a group runs all three; Kafka spreads the partitions.
 *
 *   route   group G,         inputs -> decode -> "<G>-events", partition by canonical
 *                            resource id (pd_scale_partition), msgpack events
 *                            (pd_event_pack.h); dead letters here.
 *   state   group G-state,   "<G>-events" -> one processor (engine + correlator) per
 *                            partition, restored from "<G>-state-changelog" (same partition
 *                            number, compacted) when the partition is first seen; per-resource
 *                            and breach signals out; per commit, the changed state records and
 *                            each changed goal's partial aggregate ("<G>-partials", compacted,
 *                            key "<goal id> 0x1f <partition>") join the transaction.
 *   goals   group G-goals,   "<G>-partials" -> pd_goalfold: the fleet value of each goal is the
 *                            sum of the partitions' partials; goal.breached/restored and goal
 *                            status out. Rebuilt at start by re-reading the compacted partials.
 *
 * Exactly once throughout (state.exactly_once is required): each stage commits its outputs
 * and its consumed offsets in one transaction (transactional id "<G>.postured.<stage>.<instance
 * id>", stable across restarts so a restarted instance aborts what its killed self left open);
 * the next stage reads read_committed. On revoke the stage commits, then drops the partitions'
 * state: the next owner restores it from the changelog.
 *
 * Ownership: the scale copies what it keeps from its options except cfg, pl and the confs,
 * which must outlive it. Thread: the loop thread; create restores nothing (partition state is
 * restored on the loop thread when its first event arrives, blocking that loop for the
 * restore) and finish blocks. */
#ifndef PD_SCALE_H
#define PD_SCALE_H

#include "pd_config.h"
#include "pd_kafka.h"
#include "pd_pipeline.h"
#include "pd_processor.h"
#include "pd_signal.h"

#include <stdio.h>

struct event_base;

typedef struct pd_scale pd_scale;

typedef struct pd_scale_opts {
    struct event_base *base;
    const pd_config *cfg;
    const pd_pipeline *pl;
    const pd_kafka_conf *consumer_conf, *producer_conf;
    const char *group;
    const pd_decode_opts *decode;
    uint32_t exit_idle_ms; /* 0: never; else stop once every stage was idle this long */
    uint32_t status_interval_ms;
    pd_signal_fn also; /* every signal also goes here (sinks); may be NULL */
    void *also_ctx;
} pd_scale_opts;

/* The state partition of a canonical resource id: Kafka's murmur2 partitioner (what a Java
 * producer keyed by the canonical id would choose), so co-partitioned inputs keep their
 * partition. */
int32_t pd_scale_partition(pd_str canon, int32_t npartitions);

int pd_scale_create(const pd_scale_opts *o, pd_scale **out, char *err, size_t errlen);
int pd_scale_start(pd_scale *s);
void pd_scale_stop(pd_scale *s);
/* After the loop: commits and closes every stage. 0 when all committed. Blocking. */
int pd_scale_finish(pd_scale *s);
void pd_scale_print_stats(pd_scale *s, FILE *f);
void pd_scale_destroy(pd_scale *s);

#endif
