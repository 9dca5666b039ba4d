/* pd_goalfold.h: the goal stage of a scaled-out pipeline. The fleet is split by resource id
 * into state partitions, each a pd_engine over its resources (opts.partial = true, so it emits
 * no goal signals). Each partition publishes its goals' partial aggregates
 * (pd_engine_goal_partial, on the wire with pd_goal_partial_pack); the fold keeps the latest
 * partial per (goal, partition), sums them - which gives the counters one engine over the
 * whole fleet keeps (see pd_goal_partial in pd_engine.h for what is additive) - and runs the
 * met/breached state machine with hysteresis on the sum, emitting goal.breached /
 * goal.restored with the engine's fields and deterministic ids (no cause evidence: the fold
 * does not know which resource tipped the sum).
 *
 * Ownership: the goal set is borrowed and must outlive the fold; the fold copies the pipeline
 * name and every partial it is given. Signals and statuses passed to callbacks are valid only
 * during the call. Thread: the loop thread. */
#ifndef PD_GOALFOLD_H
#define PD_GOALFOLD_H

#include "pd_buf.h"
#include "pd_engine.h"

#define PD_GOAL_PARTIAL_VERSION    1
#define PD_GOALFOLD_MAX_PARTITIONS 65536

typedef struct pd_goalfold pd_goalfold;

/* npartitions: the expected count (may be 0; grows on demand). emit and on_status may be
 * NULL. 0, PD_EINVAL (npartitions too large) or PD_ENOMEM. */
int pd_goalfold_create(const pd_goal_set *goals, pd_str pipeline, uint32_t npartitions,
                       pd_signal_fn emit, void *emit_ctx, pd_goal_status_fn on_status,
                       void *status_ctx, pd_goalfold **out);
void pd_goalfold_destroy(pd_goalfold *f);

/* Replaces partition's partial for goal goal_index (a partition beyond the current count
 * grows the fold), recomputes the fleet sum and evaluates the goal at event time t_ms:
 * goal.breached / goal.restored on a flip, on_status when the value or met changed.
 * Returns 0, PD_ENOTFOUND (bad goal index), PD_ESTATE (the partial carries the digest of
 * another definition of the goal), PD_EINVAL (partition too large), PD_ENOMEM, or the emit
 * callback's non-zero value. */
int pd_goalfold_update(pd_goalfold *f, uint32_t goal_index, uint32_t partition,
                       const pd_goal_partial *p, int64_t t_ms);
/* ---- ordered use (the goal stage of `state.partitioned`) ----
 * The value of a sum of partials depends on which partial of each partition it takes, so
 * evaluating on every arrival gives goal signals that depend on arrival order (commit timing,
 * how many instances). Instead each partition offers its partials per tick (a span of input
 * time: the partition's state once it applied every event of the tick) and marks how far it
 * has offered; the fold evaluates a tick once every partition marked past it, ticks in order,
 * the tick's partials set in (partition, goal) order, then each goal they touched once, in
 * index order, at the fleet's event time (the newest t of the partials folded so far). The
 * signals are then a function of the partitions' offers alone. A partial offered for a tick
 * already evaluated counts in the next one (counted: pd_goalfold_late). */

/* Offers partition's partial of goal gi for tick (replacing one offered for the same tick);
 * evaluated by a later pd_goalfold_mark. Ordered use has the partition count the fold was
 * created with: a partition beyond it is PD_EINVAL (it would never mark). Otherwise 0,
 * PD_ENOTFOUND, PD_ESTATE, PD_ENOMEM as pd_goalfold_update. */
int pd_goalfold_offer(pd_goalfold *f, uint32_t gi, uint32_t partition, int64_t tick,
                      const pd_goal_partial *p, int64_t t_ms);
/* Partition offered every partial of the ticks below `below` (marks only grow). Evaluates
 * the ticks every partition has marked: signals and statuses through the callbacks. Returns 0,
 * PD_EINVAL (a partition beyond the count), PD_ENOMEM or the emit callback's value. */
int pd_goalfold_mark(pd_goalfold *f, uint32_t partition, int64_t below);
uint32_t pd_goalfold_pending(const pd_goalfold *f);
uint64_t pd_goalfold_late(const pd_goalfold *f);

/* Durable form: records (key, value; value NULL is a tombstone) for a compacted changelog, all
 * keys starting with '#f' (schemas/internal-topics.md). collect passes what changed since the
 * last collect to fn (a non-zero return stops it and is returned); restoring every record of
 * the log into an empty fold of the same goal set, then pd_goalfold_restored, gives the fold
 * that collected them, pending partials included. restore_record: 0, PD_ENOTFOUND (not a
 * fold key, or a goal the set does not have), PD_ESTATE (malformed, or another definition of
 * the goal: skip it), PD_ENOMEM. */
typedef int (*pd_goalfold_record_fn)(void *ctx, const void *key, size_t klen, const void *value,
                                     size_t vlen);
int pd_goalfold_collect(pd_goalfold *f, pd_goalfold_record_fn fn, void *ctx);
int pd_goalfold_restore_record(pd_goalfold *f, const void *key, size_t klen, const void *value,
                               size_t vlen);
int pd_goalfold_restored(pd_goalfold *f);

/* The fleet status of goal gi (as pd_engine_goal_status). */
void pd_goalfold_status(const pd_goalfold *f, uint32_t gi, pd_goal_status *out);
/* As pd_engine_goal_status_json. */
void pd_goalfold_status_json(const pd_goalfold *f, uint32_t gi, pd_buf *out);
uint32_t pd_goalfold_partitions(const pd_goalfold *f);
/* Goal gi's index by id: PD_ENOTFOUND when absent (maps an unpacked partial to its goal). */
int pd_goalfold_goal_find(const pd_goalfold *f, pd_str id, uint32_t *gi);

/* The wire form of one partial, a msgpack map:
 *   {"v": 1, "goal": str, "gd": u64 (pd_goal_digest), "part": u32, "t": i64,
 *    "c": [in_scope, res_bad, res_healthy, res_na, sla_viol, pc_h, pc_u, ev_records,
 *          score_fp, score_n],
 *    "ev": [ev_num, ev_den] (float64), "hv": bool, "ctl": [[key u64, h u64, u u64], ...]}
 * Appends to out: 0 or PD_ENOMEM (out unchanged then). */
int pd_goal_partial_pack(const pd_goal *g, uint32_t partition, int64_t t_ms,
                         const pd_goal_partial *p, pd_buf *out);
/* Reads one packed partial (untrusted bytes). out must be initialized (its ctls buffer is
 * reused); goal_id points into data. PD_EINVAL with *why (a static string; why may be NULL)
 * for anything but one complete record of this version and shape; PD_ENOMEM. */
int pd_goal_partial_unpack(const void *data, size_t len, pd_str *goal_id, uint32_t *partition,
                           int64_t *t_ms, pd_goal_partial *out, const char **why);

#endif
