/* pd_correlate.h: the breach-assumption correlation engine (rule files, windows in event
 * time, posture conditions). It runs beside the goals engine in the same loop.
 *
 * Call order per event (pd_processor does this): pd_correlator_on_event() BEFORE the goals
 * engine applies the event (so pair_status() still shows the old status), then the goals
 * engine's drift signals are passed to pd_correlator_on_signal().
 *
 * Ownership: the correlator copies what it keeps from events and signals; the rule set is
 * owned by the caller and must outlive the correlator. Signals passed to emit are valid only
 * during the callback. Thread: the loop thread. */
#ifndef PD_CORRELATE_H
#define PD_CORRELATE_H

#include "pd_event.h"
#include "pd_posture.h"
#include "pd_signal.h"
#include "pd_yaml.h"

typedef struct pd_rule_set pd_rule_set;
typedef struct pd_correlator pd_correlator;

typedef struct pd_correlate_opts {
    int64_t allowed_lateness_ms; /* default 5 minutes */
    size_t memcap_bytes;         /* per rule; default 64 MiB */
    pd_str pipeline;             /* copied into signals */
} pd_correlate_opts;

void pd_correlate_opts_default(pd_correlate_opts *o);

/* Rule files: YAML with a top-level `rules:` list. Appends to *set (created when NULL). */
int pd_rule_set_load_file(pd_rule_set **set, const char *path, pd_diag *diag);
uint32_t pd_rule_set_count(const pd_rule_set *set);
void pd_rule_set_destroy(pd_rule_set *set);

int pd_correlator_create(const pd_rule_set *rules, const pd_correlate_opts *opts,
                         const pd_posture_ops *posture, void *posture_ctx, pd_signal_fn emit,
                         void *emit_ctx, pd_correlator **out);
void pd_correlator_destroy(pd_correlator *c);
int pd_correlator_on_event(pd_correlator *c, const pd_event *ev);
int pd_correlator_on_signal(pd_correlator *c, const pd_signal *drift);
/* Advances event time (watermark) and expires windows; may emit. */
int pd_correlator_advance(pd_correlator *c, int64_t now_ms);

typedef struct pd_correlate_stats {
    uint64_t events, signals, updates, suppressed, evictions;
    size_t bytes;
} pd_correlate_stats;
void pd_correlator_stats(const pd_correlator *c, pd_correlate_stats *out);

#endif
