/* pd_pipeline.h: pipeline files (pipelines/NAME.yaml): what to consume, which goal and rule
 * files to apply, where to write. The format is documented in pipelines/README.md:
 *
 *   pipeline:
 *     name: servers                      # required, [a-z0-9][a-z0-9-]*
 *     goals: [defender-servers.goals.yaml]      # relative to this file
 *     rules: [rules/builtin.yaml]
 *     controls: controls.yaml
 *     inputs:
 *       - topic: defender-assessments
 *         format: auto|defender|asff|scc|ocsf   # default auto
 *         silence: 30m                          # feed.silent window; 0/absent = off
 *     consumer_group: postured-servers
 *     outputs: {drift: T, breach: T, status: T, dead_letter: T}
 *     flapping: {toggles: 4, window: 1h}        # engine default for goals without one
 *     timer_lateness: 5m                        # timers run this far behind event time
 *     snapshot_quiet: 1h                        # accepted, ignored (older files)
 *     sinks: [...]                              # kept as a YAML node for the sinks module
 *     kafka: {bootstrap.servers: ..., ...}      # pass-through client settings
 *
 * Ownership: pd_pipeline_load returns a pipeline the caller frees with pd_pipeline_destroy;
 * every string and node (including `sinks` and the document) belongs to it.
 * Thread: read-only after load. */
#ifndef PD_PIPELINE_H
#define PD_PIPELINE_H

#include "pd_common.h"
#include "pd_config.h" /* pd_kv */
#include "pd_model.h"
#include "pd_yaml.h"

typedef struct pd_pipeline_input {
    const char *topic;
    pd_format format;
    int64_t silence_ms; /* 0 = no feed.silent for this input */
} pd_pipeline_input;

typedef struct pd_pipeline {
    const char *path; /* the file it came from */
    const char *name;
    char **goal_files, **rule_files; /* resolved against the pipeline file's directory */
    uint32_t ngoal_files, nrule_files;
    char *controls_file; /* NULL when absent */
    pd_pipeline_input *inputs;
    uint32_t ninputs;
    const char *consumer_group; /* default "postured-<name>" */
    struct {
        const char *drift, *breach, *status, *dead_letter; /* NULL when absent */
    } outputs;
    uint32_t flap_toggles;     /* default 4 */
    int64_t flap_window_ms;    /* default 1h */
    int64_t timer_lateness_ms; /* default 5 min */
    const pd_ydoc *doc;        /* the parsed file: owns `sinks` */
    const pd_ynode *sinks;     /* NULL when absent; not interpreted here */
    pd_kv *kafka;              /* pass-through settings, values as written */
    uint32_t nkafka;
} pd_pipeline;

int pd_pipeline_load(const char *path, pd_pipeline **out, pd_diag *diag);
void pd_pipeline_destroy(pd_pipeline *p);

#endif
