/* pd_app.h: what `postured run` and `postured demo` share: the daemon config and a pipeline
 * turned into one processor (decode -> correlate -> goals engine -> signals) driven by one
 * pd_runtime on the caller's event_base, plus the pipeline's extra sinks and the goal status
 * outputs (the status topic on change, batched, and periodically; a table at the end).
 *
 * Kafka settings, in increasing precedence: the config file's `kafka:` map, the pipeline's
 * `kafka:` map, then pd_app_opts.bootstrap. The special key `eventhubs.connection_string`
 * (usually "${EVENTHUBS_CONNECTION_STRING}") expands into the Event Hubs settings
 * (pd_kafka_conf_eventhubs) instead of being passed to librdkafka.
 *
 * Ownership: pd_app_create copies what it needs from the options; pd_app_destroy frees all.
 * Thread: the loop thread; pd_app_finish and pd_app_destroy after the loop has stopped. */
#ifndef PD_APP_H
#define PD_APP_H

#include "pd_processor.h"
#include "pd_runtime.h"

#include <stdio.h>

typedef struct pd_app_opts {
    struct event_base *base;
    const char *config_path;   /* NULL: defaults and environment only */
    const char *pipeline_path; /* NULL: the config's `pipeline` */
    const char *bootstrap;     /* overrides bootstrap.servers when set */
    const char *group;         /* overrides the pipeline's consumer group when set */
    uint32_t exit_idle_ms;     /* pd_runtime_opts */
    bool warm_start;
    bool topics_exist;           /* skip creating the compacted status topic (the demo) */
    uint32_t status_interval_ms; /* 0: 30000 */
    /* every signal also goes here (the demo's summary); may be NULL */
    pd_signal_fn on_signal;
    void *signal_ctx;
} pd_app_opts;

typedef struct pd_app pd_app;

/* Errors are printed on stderr (file:line:column for config and pipeline files). */
int pd_app_create(const pd_app_opts *o, pd_app **out);
int pd_app_start(pd_app *a);
/* SIGTERM/SIGINT: begins the graceful stop and arms a watchdog that ends the process with
 * exit code 3 if the whole shutdown takes longer than the configured timeout. */
void pd_app_stop(pd_app *a);
/* After the loop: final status, flush, commit, close. 0 when clean. */
int pd_app_finish(pd_app *a);
void pd_app_print_status(pd_app *a, FILE *f);
void pd_app_print_stats(pd_app *a, FILE *f);
pd_runtime *pd_app_runtime(pd_app *a);
pd_processor *pd_app_processor(pd_app *a);
const pd_pipeline *pd_app_pipeline(pd_app *a);
void pd_app_destroy(pd_app *a);

#endif
