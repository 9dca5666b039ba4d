/* pd_engine.h: the incremental goals engine. It keeps every (resource, control) pair's status
 * and per-goal counters current as events arrive, fires SLA, staleness and flapping timers in
 * event time, and emits drift signals (control.regressed/recovered, sla.expired,
 * goal.breached/restored, coverage.unknown, feed.silent).
 *
 * Cost per event: O(goals the event's control touches); never a fleet scan (except once per
 * completed snapshot, for reconciliation). Memory: pairs live in one packed array indexed by
 * an open-addressing table of uint32; no per-pair malloc.
 *
 * Ownership: the caller owns the goal set (it must outlive the engine); the engine copies
 * what it keeps from events (interned). Signals passed to emit are valid only during the
 * callback. Thread: the loop thread. */
#ifndef PD_ENGINE_H
#define PD_ENGINE_H

#include "pd_event.h"
#include "pd_goals.h"
#include "pd_posture.h"
#include "pd_signal.h"

/* What the control mapping table says about a control (all optional). */
typedef struct pd_control_info {
    pd_str name, category;
    pd_severity severity;
    const pd_str *frameworks;
    uint32_t nframeworks;
    const char *const *roles; /* role names ("edr", "fim", ...): `category:` matches them too */
    uint32_t nroles;
} pd_control_info;
/* Returns true and fills out when the table knows key (lowercase). */
typedef bool (*pd_control_lookup_fn)(void *ctx, pd_str key, pd_control_info *out);

typedef struct pd_goal_status {
    const pd_goal *goal;
    uint32_t index; /* the goal's position: pd_engine_goal_status(e, index, ...) */
    double value;
    bool has_value; /* false until there is something to measure */
    bool met;
    uint64_t numerator, denominator; /* coverage/score/compliance: passed, total */
    uint64_t violators;              /* control/sla: violating resources/pairs */
    uint64_t unknown;                /* in-scope unknown (never assessed or stale) */
    int64_t changed_ms;              /* event time of the last met/breached flip */
} pd_goal_status;

typedef void (*pd_goal_status_fn)(void *ctx, const pd_goal_status *st);

typedef struct pd_engine_opts {
    pd_str pipeline;             /* copied into signals */
    uint32_t flap_toggles;       /* default 4: more toggles than this within the window flap */
    int64_t flap_window_ms;      /* default 1h */
    int64_t timer_lateness_ms;   /* default 5 min: timers fire this far behind event time, so a
                                    record late on another input still counts (signal times
                                    stay the deadlines) */
    pd_control_lookup_fn lookup; /* may be NULL */
    void *lookup_ctx;
    pd_signal_fn emit;
    void *emit_ctx;
    pd_goal_status_fn on_status; /* may be NULL: called when a goal's value or met changes */
    void *status_ctx;
    /* This engine is one state partition of a fleet split by resource id: it emits no
     * goal.breached / goal.restored (the goal stage does, from the summed partials, see
     * pd_goalfold.h); everything else is unchanged. Default false. */
    bool partial;
} pd_engine_opts;

typedef struct pd_engine pd_engine;

typedef struct pd_engine_stats {
    uint64_t events, applied, duplicates, out_of_order, ignored, signals;
    uint64_t resources, pairs, timers_fired, snapshots_completed;
    size_t bytes;       /* allocator accounting: every table the engine owns */
    size_t bytes_pairs; /* pair array + index */
} pd_engine_stats;

void pd_engine_opts_default(pd_engine_opts *o);
int pd_engine_create(const pd_goal_set *goals, const pd_engine_opts *opts, pd_engine **out);
void pd_engine_destroy(pd_engine *e);

/* Applies one event: first advances event time to ev->time_ms (firing due timers), then
 * updates the pair and the goals its control touches. Returns 0 or an error (the emit
 * callback's non-zero value is returned as is). */
int pd_engine_apply(pd_engine *e, const pd_event *ev);
/* Advances event time without an event. */
int pd_engine_advance(pd_engine *e, int64_t now_ms);
int64_t pd_engine_now(const pd_engine *e); /* PD_TIME_NONE before any event */

/* Emits feed.silent for input `source` (last event at last_ms, silent since), at now_ms. */
int pd_engine_feed_silent(pd_engine *e, pd_str source, int64_t last_ms, int64_t window_ms,
                          int64_t now_ms);

uint32_t pd_engine_goal_count(const pd_engine *e);
void pd_engine_goal_status(const pd_engine *e, uint32_t i, pd_goal_status *out);
/* One JSON object for the status topic / table: {"goal":..,"kind":..,"value":..,...}. */
void pd_engine_goal_status_json(const pd_engine *e, uint32_t i, pd_buf *out);

/* ---- partial aggregates (scale-out: see pd_goalfold.h) ----
 * A goal's counters over one partition's resources. Summing the partials of partitions that
 * hold disjoint resource sets (pd_goal_partial_add) gives the counters one engine over the
 * whole fleet keeps, so pd_goal_partial_status of the sum is that engine's value. Additive:
 * every integer counter (resources/pairs), the per-control (healthy, unhealthy) counts behind
 * the assessment score, and the event-fed score/compliance sums - these only as long as every
 * record that replaces another (the score of an account, a compliance record keyed by account,
 * standard, control and assessment) lands in the same partition, which keying by resource id
 * gives (score and compliance events carry the subscription as resource). The double sums of
 * secure scores may differ from one engine's in the last bits (another summation order).
 * Not additive, so not carried as such: the assessment score (a mean over controls of
 * h / (h + u)) - the partial carries per-control counts and the sum recomputes it. */
typedef struct pd_goal_partial_ctl {
    uint64_t key; /* pd_hash64 of the control key (seed 0) */
    uint64_t h, u;
} pd_goal_partial_ctl;

typedef struct pd_goal_partial {
    uint64_t digest; /* pd_goal_digest of the goal it measures */
    uint64_t in_scope, res_bad, res_healthy, res_na, sla_viol;
    uint64_t pc_h, pc_u;
    uint64_t ev_records;   /* score: accounts with a score; compliance: records seen */
    double ev_num, ev_den; /* score/compliance from their own events */
    /* Score goals: sum over ctls of h / (h + u) (fixed point 2^32) and how many have h + u > 0.
     * Derived (pd_goal_partial_add recomputes them from ctls), not summed. */
    uint64_t score_fp, score_n;
    pd_goal_partial_ctl *ctls; /* score goals: per control, sorted by key; owned */
    uint32_t nctls, ctls_cap;
    /* Control/SLA goals: the goal had a value here once (zero violators stays a value after
     * every resource went); summed with OR. */
    bool has_value;
} pd_goal_partial;

void pd_goal_partial_init(pd_goal_partial *p);
void pd_goal_partial_free(pd_goal_partial *p);
/* Zero counters, keeping the ctls allocation. */
void pd_goal_partial_reset(pd_goal_partial *p);
/* Copies goal gi's counters into out (initialized; previous content replaced). 0 or
 * PD_ENOMEM. */
int pd_engine_goal_partial(const pd_engine *e, uint32_t gi, pd_goal_partial *out);
/* sum += p (sum's digest becomes p's). 0 or PD_ENOMEM (sum is then unchanged). */
int pd_goal_partial_add(pd_goal_partial *sum, const pd_goal_partial *p);
/* The goal's value from counters, exactly as the engine computes it (the engine uses this
 * too): fills value, has_value, numerator, denominator, violators, unknown and goal; index,
 * met and changed_ms are left 0 (engine state). Returns has_value. */
bool pd_goal_partial_status(const pd_goal *g, const pd_goal_partial *sum, pd_goal_status *st);
/* The met/breached state machine with hysteresis: state -1 unset, 0 breached, 1 met; returns
 * the next state given the goal's status (unchanged without a value). */
int pd_goal_next_state(const pd_goal *g, int state, const pd_goal_status *st);
/* A digest of what gives a goal's counters and state their meaning (id, kind, scope,
 * selectors, target, timers): partials of another definition are refused by it. */
uint64_t pd_goal_digest(const pd_goal *g);
/* The status JSON object (pd_engine_goal_status_json's shape); met is null when state is -1. */
void pd_goal_status_json(const pd_goal_status *st, int state, pd_buf *out);

/* The posture queries the correlator uses (ctx = the engine). */
const pd_posture_ops *pd_engine_posture_ops(void);

void pd_engine_stats_get(const pd_engine *e, pd_engine_stats *out);

/* `postured bench engine [--pairs N] ...` (src/engine/pd_bench_engine.c): argv[0] is "engine".
 * Returns a process exit code. */
int pd_cmd_bench_engine(int argc, char **argv);

/* ---- read-side queries for the status API (src/engine/pd_engine_query.c) ----
 * A pd_engine_query is an index kept beside one engine: each resource's pairs (chained, built
 * incrementally from the pairs appended since the last call, so a query costs the resource's
 * pairs, not a fleet scan) and, per goal, its sorted violators (rebuilt only when the engine
 * changed since the last page asked for). Strings passed to callbacks are the engine's
 * interned slices: valid until the engine is destroyed.
 * Ownership: the query borrows the engine (it must outlive the query); free with
 * pd_engine_query_destroy. Thread: the loop thread, between events. */
typedef struct pd_engine_query pd_engine_query;

typedef struct pd_res_view {
    pd_str id; /* canonical (lowercase) id: the engine keeps no other form */
    pd_str name, type, account, group, region;
    pd_cloud cloud;
    uint32_t npairs;
    bool gone; /* every pair removed */
} pd_res_view;

typedef struct pd_pair_view {
    pd_str control, control_name;
    pd_status status; /* PD_STATUS_UNKNOWN when stale */
    pd_status last;   /* the last status reported, even when stale */
    pd_severity severity;
    int64_t since_ms;   /* unhealthy since (PD_TIME_NONE when healthy) */
    int64_t updated_ms; /* event time of the last record */
    bool stale, flapping, removed;
} pd_pair_view;

typedef struct pd_violator_view {
    pd_res_view res;
    int64_t since_ms; /* earliest unhealthy-since among the goal's failing controls */
    pd_str control;   /* one failing control (the earliest); empty for SLA goals */
    uint32_t failing; /* failing pairs of the goal's controls */
} pd_violator_view;

typedef void (*pd_pair_view_fn)(void *ctx, const pd_pair_view *pv);
typedef void (*pd_violator_fn)(void *ctx, const pd_violator_view *v);

int pd_engine_query_create(const pd_engine *e, pd_engine_query **out);
void pd_engine_query_destroy(pd_engine_query *q);
/* One resource by canonical id: PD_ENOTFOUND when the engine never saw it. */
int pd_engine_query_resource(pd_engine_query *q, pd_str canon, pd_res_view *out);
/* Its pairs, ordered by control key; returns the count (0 for an unknown resource). */
uint32_t pd_engine_query_pairs(pd_engine_query *q, pd_str canon, pd_pair_view_fn fn, void *ctx);
/* A page of goal gi's violating resources, ordered by resource id. *total gets their number
 * (for SLA goals, whose status counts findings, the resources with one past its age; each
 * item's `failing` counts them, so the sum is the goal's count).
 * Goals that are not per resource (score, compliance) have none: total 0. PD_ENOTFOUND for a
 * bad index, PD_ENOMEM. */
int pd_engine_query_violators(pd_engine_query *q, uint32_t gi, uint32_t offset, uint32_t limit,
                              pd_violator_fn fn, void *ctx, uint32_t *total);
/* Goal gi's index by id: PD_ENOTFOUND when absent. */
int pd_engine_goal_find(const pd_engine *e, pd_str id, uint32_t *gi);
/* Applies every pair of src to dst as one assessment record each (resource attributes,
 * control key/name/frameworks, status, severity, unhealthy-since; a removed pair as a record
 * and its delete), in event-time order, then advances dst to src's time. dst's signals and
 * status callbacks fire: mute them. Not carried: tags, control categories that came only from
 * events, score/compliance records. *npairs: pairs applied. */
int pd_engine_import_pairs(pd_engine *dst, const pd_engine *src, uint64_t *npairs);

#endif
