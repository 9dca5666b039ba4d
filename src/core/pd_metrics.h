/* pd_metrics.h: a small metrics registry rendered in the Prometheus text format 0.0.4.
 *
 * Series are registered once (name, help, labels) and updated through the handle they return:
 * an update is one add or store, with no lookup and no allocation, so it is fit for the
 * per-event path. Registering the same name and labels again returns the same handle, so a
 * series for a label seen late (a decode error code, a topic) costs one registration.
 * Values a module already keeps (state sizes, consumer lag, memory) can be read at render time
 * by a gauge callback, and a collector can write whole families whose series come and go (one
 * per goal) at render time.
 *
 * Ownership: the registry owns every series; handles stay valid until pd_metrics_destroy.
 * Label arrays and strings are copied at registration. Thread: the loop thread (updates are
 * plain, not atomic; render on the same thread). */
#ifndef PD_METRICS_H
#define PD_METRICS_H

#include "pd_buf.h"
#include "pd_common.h"

/* Names the runtime, engines and sinks share (see docs/operations.md). */
#define PD_M_EVENTS_IN     "postured_events_in_total"       /* topic, format */
#define PD_M_DECODE_ERRORS "postured_decode_errors_total"   /* code */
#define PD_M_CONSUMER_LAG  "postured_consumer_lag_messages" /* topic, partition */
#define PD_M_LATENCY       "postured_processing_latency_seconds"
#define PD_M_SIGNALS       "postured_signals_total"       /* kind, type */
#define PD_M_GOAL_VALUE    "postured_goal_value"          /* goal */
#define PD_M_GOAL_MET      "postured_goal_met"            /* goal */
#define PD_M_STATE_ENTRIES "postured_state_entries"       /* kind */
#define PD_M_SINK_SENT     "postured_sink_sent_total"     /* sink */
#define PD_M_SINK_RETRIED  "postured_sink_retried_total"  /* sink */
#define PD_M_SINK_DROPPED  "postured_sink_dropped_total"  /* sink */
#define PD_M_SINK_DIGESTED "postured_sink_digested_total" /* sink */
#define PD_M_MEMORY        "postured_memory_bytes"        /* pool */
#define PD_M_RELOADS       "postured_reloads_total"       /* result */
#define PD_M_HTTP_REQUESTS "postured_http_requests_total" /* code */

typedef enum { PD_METRIC_COUNTER = 0, PD_METRIC_GAUGE, PD_METRIC_HISTOGRAM } pd_metric_type;

typedef struct pd_metrics pd_metrics;

typedef struct pd_counter {
    uint64_t v;
} pd_counter;

typedef struct pd_gauge {
    double v;
} pd_gauge;

typedef struct pd_histogram {
    uint32_t nbounds;
    const double *bounds; /* ascending upper bounds; +Inf is implicit */
    uint64_t *counts;     /* nbounds + 1 per-bucket (not cumulative) counts */
    uint64_t count;
    double sum;
} pd_histogram;

/* Labels: NULL, or alternating names and values ending with NULL:
 *   (const char *[]){"topic", "defender", "format", "assessment", NULL} */
typedef const char *const *pd_labels;

int pd_metrics_create(pd_metrics **out);
void pd_metrics_destroy(pd_metrics *m);

/* PD_EINVAL for a bad metric or label name, PD_EEXIST when the name is already registered
 * with another type or help, PD_ENOMEM. */
int pd_metrics_counter(pd_metrics *m, const char *name, const char *help, pd_labels labels,
                       pd_counter **out);
int pd_metrics_gauge(pd_metrics *m, const char *name, const char *help, pd_labels labels,
                     pd_gauge **out);
/* A gauge read at render time (fn runs on the rendering thread). */
typedef double (*pd_gauge_fn)(void *ctx);
int pd_metrics_gauge_fn(pd_metrics *m, const char *name, const char *help, pd_labels labels,
                        pd_gauge_fn fn, void *ctx);
/* bounds: ascending, copied; NULL selects PD_LATENCY_BUCKETS (seconds, 5 us .. 10 s). */
int pd_metrics_histogram(pd_metrics *m, const char *name, const char *help, pd_labels labels,
                         const double *bounds, uint32_t nbounds, pd_histogram **out);

static inline void pd_counter_add(pd_counter *c, uint64_t n)
{
    c->v += n;
}
static inline void pd_counter_inc(pd_counter *c)
{
    c->v++;
}
static inline void pd_gauge_set(pd_gauge *g, double v)
{
    g->v = v;
}
static inline void pd_gauge_add(pd_gauge *g, double d)
{
    g->v += d;
}
static inline void pd_histogram_observe(pd_histogram *h, double v)
{
    uint32_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

/* A collector writes families at render time with the pd_metrics_write_* helpers. */
typedef void (*pd_metrics_collector_fn)(void *ctx, pd_buf *out);
int pd_metrics_add_collector(pd_metrics *m, pd_metrics_collector_fn fn, void *ctx);
/* Removes a collector (e.g. the engine's before it is destroyed on reload). */
void pd_metrics_remove_collector(pd_metrics *m, pd_metrics_collector_fn fn, void *ctx);
/* "# HELP" and "# TYPE" lines of one family (write once, then its samples). */
void pd_metrics_write_family(pd_buf *out, const char *name, const char *help, pd_metric_type t);
/* One sample line: name{labels} value. */
void pd_metrics_write_sample(pd_buf *out, const char *name, pd_labels labels, double value);

/* Adds process gauges: resident memory, virtual memory, start time, open fds, and
 * postured_build_info{version}. */
int pd_metrics_add_process(pd_metrics *m);

/* Renders every family (registered order, then collectors) in text format 0.0.4. */
int pd_metrics_render(pd_metrics *m, pd_buf *out);

#define PD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
extern const double PD_LATENCY_BUCKETS[];
extern const uint32_t PD_LATENCY_NBUCKETS;

bool pd_metrics_valid_name(const char *name);
bool pd_metrics_valid_label_name(const char *name);

#endif
