/* pd_processor.h: one object that owns the decoder, the goals engine and the correlator of a
 * pipeline and drives them for each message. The runtime (`postured run`) and `postured
 * replay` both use it.
 *
 * Per message: decode; for each event: pd_correlator_on_event (before the engine applies it,
 * so posture queries see the old state), pd_engine_apply, each drift signal goes to
 * pd_correlator_on_signal and then to the signal callback; breach signals go to the signal
 * callback too. Decode errors go to the dead-letter callback with the original bytes; the
 * stream goes on.
 *
 * Ownership: the processor owns its decoder, engine, correlator, goal and rule sets and the
 * control table it loaded; the pipeline passed in must outlive it. Signals and dead letters
 * passed to callbacks are valid only during the call.
 * Thread: the loop thread only. */
#ifndef PD_PROCESSOR_H
#define PD_PROCESSOR_H

#include "pd_decode.h"
#include "pd_engine.h"
#include "pd_pipeline.h"
#include "pd_signal.h"

typedef struct pd_dead_letter {
    int code;            /* PD_EDEC_* */
    const char *reason;  /* pd_decode_error_name(code): "syntax", "utf8", ... */
    size_t offset;       /* byte offset of the problem in the message */
    const char *message; /* human-readable */
    const char *data;    /* the original bytes */
    size_t len;
    pd_str source; /* the input (topic) it came from */
} pd_dead_letter;

typedef void (*pd_dead_letter_fn)(void *ctx, const pd_dead_letter *dl);

typedef struct pd_processor_opts {
    const pd_pipeline *pipeline;   /* may be NULL: then the files below are used */
    const char *const *goal_files; /* extra goal files (replay --goals) */
    uint32_t ngoal_files;
    const char *const *rule_files; /* extra rule files (replay --rules) */
    uint32_t nrule_files;
    const char *controls_file; /* NULL: the pipeline's, else the default table when present */
    pd_signal_fn on_signal;    /* every drift and breach signal */
    void *signal_ctx;
    pd_dead_letter_fn on_dead_letter; /* may be NULL */
    void *dead_letter_ctx;
    /* Called when a goal's status changes (value or met) - the status topic. May be NULL. */
    pd_goal_status_fn on_status;
    void *status_ctx;
    /* Called after the engine applied an event (change tracking for the changelog). May be
     * NULL. */
    void (*on_applied)(void *ctx, const pd_event *ev);
    void *applied_ctx;
    /* Daemon limits (config decode.*, correlate.*); NULL / 0 keep the defaults. */
    const pd_decode_opts *decode;
    int64_t allowed_lateness_ms; /* < 0 or 0: default */
    size_t correlate_memcap_bytes;
    /* One state partition of a scaled-out run: the engine emits no goal-level signals (the
     * goal stage folds the partitions' partial aggregates, pd_goalfold.h), and input silence
     * (feed.silent) is not evaluated (a partition sees only part of each input). */
    bool partial;
} pd_processor_opts;

typedef struct pd_processor_stats {
    uint64_t messages, events, decode_errors, signals_drift, signals_breach;
    uint64_t events_ignored; /* duplicates, out-of-order, kinds the engine does not use */
} pd_processor_stats;

typedef struct pd_processor pd_processor;

/* Loads goal/rule/control files; diag gets file:line:col on a file error. */
int pd_processor_create(const pd_processor_opts *opts, pd_processor **out, pd_diag *diag);
void pd_processor_destroy(pd_processor *p);

/* Feeds one message as it appeared on an input. format PD_FMT_AUTO detects by content;
 * source names the input (topic) for feed.silent and dead letters. Returns 0 (decode errors
 * are reported to the dead-letter callback and also return 0), or a negative error from a
 * callback or PD_ENOMEM. */
int pd_processor_feed(pd_processor *p, const char *msg, size_t len, pd_format format,
                      pd_str source);
/* Feeds one already decoded event (the state stage of a scaled-out run: events arrive
 * decoded, pd_event_pack.h). source names the input it was first read from. */
int pd_processor_feed_event(pd_processor *p, const pd_event *ev, pd_str source);
/* Advances event time without an event (idle inputs, timers, feed.silent). Never moves time
 * backwards. */
int pd_processor_advance(pd_processor *p, int64_t now_ms);
/* Event time of the latest event (the watermark); PD_TIME_NONE before any. */
int64_t pd_processor_now(const pd_processor *p);

pd_engine *pd_processor_engine(pd_processor *p);
const pd_goal_set *pd_processor_goals(const pd_processor *p);
struct pd_correlator *pd_processor_correlator(pd_processor *p);
void pd_processor_stats_get(const pd_processor *p, pd_processor_stats *out);

#endif
