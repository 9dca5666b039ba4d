/* pd_signal.h: the signal contract (drift and breach), shared by the goals engine, the
 * correlation engine and every sink. Field names in the JSON are a contract (see
 * schemas/signal.schema.json).
 *
 * Ownership: a pd_signal and everything it points to belong to its producer and are valid
 * only during the pd_signal_fn callback; a sink that queues a signal serializes it first.
 * Thread: the loop thread. */
#ifndef PD_SIGNAL_H
#define PD_SIGNAL_H

#include "pd_buf.h"
#include "pd_common.h"
#include "pd_model.h"

typedef enum { PD_SIGNAL_DRIFT = 0, PD_SIGNAL_BREACH } pd_signal_kind;

typedef struct pd_signal_resource {
    pd_str id;
    pd_cloud cloud;
    pd_str account, name, type;
} pd_signal_resource;

typedef struct pd_evidence {
    const char *kind; /* "alert", "assessment", "signal", "goal", "finding", ... */
    pd_str id;
    int64_t time_ms;
    pd_str detail; /* optional short text: alert type, control key, severity */
} pd_evidence;

typedef struct pd_signal {
    pd_signal_kind kind;
    const char *type; /* "control.regressed", "goal.breached", "breach.lateral-spread", ... */
    char id[33];      /* 32 lowercase hex chars, deterministic from the inputs */
    int64_t time_ms;  /* event time */
    pd_severity severity;
    pd_str pipeline;

    /* drift */
    bool has_goal;
    struct {
        pd_str id, title;
        const char *kind;
        double value;  /* a percentage for coverage/score/compliance, a count otherwise */
        pd_str target; /* as written: ">= 98%" */
        bool met;
    } goal;
    bool has_control;
    struct {
        pd_str key, name;
        const pd_str *frameworks;
        uint32_t nframeworks;
    } control;
    bool flapping;

    /* resources: one for per-resource signals ("resource"), several for spread ("resources") */
    const pd_signal_resource *resources;
    uint32_t nresources;
    bool multi_resource; /* serialize as "resources" even when nresources == 1 */

    const pd_evidence *evidence;
    uint32_t nevidence;

    /* breach */
    struct {
        pd_str id, title;
    } rule;
    double confidence; /* 0..1 */
    double score;      /* 0..100 */
    uint32_t tactics;  /* bit (1u << pd_tactic) */
    const char *const *actions;
    uint32_t nactions;
    uint32_t update; /* 0 for the first emission, n for the n-th update of the same id */
} pd_signal;

typedef int (*pd_signal_fn)(void *ctx, const pd_signal *s);

/* Deterministic id: hashes the NUL-separated parts into 32 hex chars. */
void pd_signal_make_id(char out[33], const pd_str *parts, size_t nparts);
/* Appends the native JSON object (one line, no trailing newline). */
void pd_signal_to_json(const pd_signal *s, pd_buf *out);
const char *pd_signal_kind_name(pd_signal_kind k); /* "drift", "breach" */

#endif
