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
    /* Optional: whether a control key has a role ("edr", "antimalware", "fim",
     * "vulnerability_assessment", "log_collection", ... as pd_control_role_name() spells
     * them) in the control mapping table (pipelines/controls.yaml). NULL: rules match
     * controls by key and category only. */
    bool (*control_has_role)(void *ctx, pd_str control_key, pd_str role);
    void *control_ctx;
} pd_correlate_opts;

void pd_correlate_opts_default(pd_correlate_opts *o);

/* Rule files: YAML with a top-level `rules:` list. Appends to *set (created when NULL). */
int pd_rule_set_load_file(pd_rule_set **set, const char *path, pd_diag *diag);
/* The same from a buffer; name is used in diagnostics. */
int pd_rule_set_load_buf(pd_rule_set **set, const char *name, const char *buf, size_t len,
                         pd_diag *diag);
/* Checks a YAML document already loaded (e.g. by `postured validate`, which dispatches on
 * the top-level key `rules:`); appends to *set when set is not NULL. */
int pd_rule_set_load_doc(pd_rule_set **set, const pd_ydoc *doc, pd_diag *diag);
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

/* events: events seen; signals: new breach signals; updates: updates of a signal (same id);
 * suppressed: firings folded into an open suppress window (each became an update);
 * evictions: groups evicted under the memory cap plus events pushed out of a full group;
 * bytes: memory in use (groups, tables, scratch). */
typedef struct pd_correlate_stats {
    uint64_t events, signals, updates, suppressed, evictions;
    size_t bytes;
    uint64_t late;    /* matching events older than the watermark minus the allowed lateness:
                         dropped */
    uint64_t groups;  /* live correlation groups over all rules */
    uint64_t matched; /* (event, rule) matches */
} pd_correlate_stats;
void pd_correlator_stats(const pd_correlator *c, pd_correlate_stats *out);

/* State for the changelog (src/kafka/pd_store.c, schemas/state-changelog.md): collect calls fn
 * with a record, key "#corr:" rule id 0x1f group key, for every correlation group that changed
 * since the previous collect, after a tombstone (value NULL) for every group gone since whose
 * record was written. import applies one such record (oldest first) to a correlator of the
 * same rules: PD_ENOTFOUND for a rule it does not have, PD_EINVAL with why for a bad record.
 * The watermark is not in the records: advance the restored correlator to the engine clock. */
typedef int (*pd_correlator_record_fn)(void *ctx, const void *key, size_t klen, const void *value,
                                       size_t vlen);
bool pd_correlator_key_is_state(pd_str key);
int pd_correlator_collect(pd_correlator *c, pd_correlator_record_fn fn, void *ctx);
/* Every live group's record (for a snapshot), whatever was collected; changes nothing. */
int pd_correlator_export(pd_correlator *c, pd_correlator_record_fn fn, void *ctx);
int pd_correlator_import(pd_correlator *c, pd_str key, const void *value, size_t vlen, char *why,
                         size_t why_len);

#endif
