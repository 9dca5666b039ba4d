/* pd_provider.h: the status API's data provider (pd_http_provider, src/http/pd_http.h) over a
 * pd_processor: goals, one goal's violators (paged), one resource's posture, recent signals,
 * goal trends, and reload. JSON shapes: docs/operations.md.
 *
 * The provider creates and owns the processor (from a pipeline or goal/rule files, as
 * pd_processor_opts) and wraps its callbacks: every signal also goes to a recent-signal ring
 * and every goal status change to the 7-day trend (pd_http_history.h) before the caller's own
 * callbacks run. Use pd_provider_processor() to feed it; after a reload it is another object
 * (on_swap tells the caller, between events).
 *
 * Reload (pd_provider_reload, SIGHUP and POST /v1/reload through pd_http): the pipeline file
 * (or the goal/rule/control files) are loaded and validated into a new processor first; on
 * any error the old processor stays and the error ("file:line:column: message") is returned.
 * When valid, the old engine's pairs (resource attributes, control, status, severity, since,
 * event time) are applied to the new engine in event-time order with every output muted, the
 * new engine is advanced to the old watermark (so timers and new goals are evaluated over the
 * current state at once), then the processors are swapped and every goal's status is reported
 * to on_status. Not carried: resource tags (goals scoped by tags see them again with the next
 * record of each resource), control categories that came only from events, score and
 * compliance events, and the correlator's windows (it starts empty).
 *
 * Ownership: the provider copies file paths; opts.pipeline (may be NULL) is borrowed and must
 * outlive the provider; pipelines loaded on reload are owned by the provider. metrics is
 * borrowed. Thread: the loop thread. */
#ifndef PD_PROVIDER_H
#define PD_PROVIDER_H

#include "pd_http.h"
#include "pd_metrics.h"
#include "pd_processor.h"

typedef struct pd_provider pd_provider;

/* After a successful reload, before the old processor is destroyed. pl is the pipeline now in
 * force (NULL when running from files). */
typedef void (*pd_provider_swap_fn)(void *ctx, pd_processor *old_proc, pd_processor *new_proc,
                                    const pd_pipeline *pl);

typedef struct pd_provider_opts {
    pd_processor_opts proc;    /* pipeline and/or files, and the caller's callbacks */
    const char *pipeline_path; /* reloaded from here; NULL: proc.pipeline->path when set */
    pd_metrics *metrics;       /* may be NULL: goal value/met, state and signal series */
    uint32_t ring_capacity;    /* recent signals (0: 200) */
    /* /readyz: may be NULL (always ready). */
    int (*ready)(void *ctx, pd_buf *out);
    void *ready_ctx;
    pd_provider_swap_fn on_swap; /* may be NULL */
    void *swap_ctx;
} pd_provider_opts;

int pd_provider_create(const pd_provider_opts *opts, pd_provider **out, pd_diag *diag);
void pd_provider_destroy(pd_provider *pv);

pd_processor *pd_provider_processor(pd_provider *pv);
/* The table for pd_http_create (ctx = pv). */
void pd_provider_http(pd_provider *pv, pd_http_provider *out);

/* The provider callbacks, callable directly (tests, CLI). */
int pd_provider_goals_json(pd_provider *pv, pd_buf *out);
int pd_provider_goal_json(pd_provider *pv, const char *id, uint32_t offset, uint32_t limit,
                          pd_buf *out);
int pd_provider_resource_json(pd_provider *pv, const char *id, pd_buf *out);
/* 0 applied ({"reloaded":true,...}); PD_ECONFIG refused, old set kept
 * ({"reloaded":false,"error":"file:line:column: message"}); PD_ENOMEM. */
int pd_provider_reload(pd_provider *pv, pd_buf *out);

/* ---- the operations side of `postured run` ----
 * One call wires what an operator sees: a metrics registry with the process metrics, the
 * provider's goal/state/signal series and (when sinks is set) each sink's sent / retried /
 * dropped / digested counters read at scrape time; the HTTP server from the daemon config
 * (http.listen, http.token_env; pd_http_config_from) over the provider; SIGHUP -> reload; and
 * the Kafka settings of the config and the pipeline registered as log secrets.
 * Ownership: cfg, pl, pv and sinks are borrowed and must outlive the pd_ops. Thread: loop. */
struct pd_config;
struct pd_sink_set;
struct pd_sink_dead;
typedef struct pd_ops pd_ops;

typedef struct pd_ops_opts {
    struct event_base *base;
    const struct pd_config *cfg;
    const pd_pipeline *pipeline; /* may be NULL */
    pd_provider *provider;
    struct pd_sink_set *sinks; /* may be NULL */
    bool no_http;              /* metrics only (tests, one-shot commands) */
} pd_ops_opts;

/* metrics (may be NULL; borrowed) is the registry the provider was created with (its
 * opts.metrics), so goal, state and sink series are served together. PD_ECONFIG (diag) for an
 * unset http.token_env variable; PD_EINVAL / PD_EIO when http.listen is bad or cannot be
 * bound. */
int pd_ops_create(const pd_ops_opts *o, pd_metrics *metrics, pd_ops **out, pd_diag *diag);
void pd_ops_destroy(pd_ops *ops);
pd_http *pd_ops_http(pd_ops *ops);
/* A pd_sink_env.dead callback: logs the sink's dead letter (sink, key, reason, attempts; never
 * the payload) and counts it. ctx may be NULL. */
void pd_ops_sink_dead(void *ctx, const struct pd_sink_dead *d);

#endif
