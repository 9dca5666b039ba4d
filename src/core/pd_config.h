/* pd_config.h: the daemon configuration (config/postured.yaml). Every option is declared
 * once, in pd_config.c's table, with its type, default, bounds and description; files are
 * checked against that table (unknown keys are errors, reported file:line:column), then
 * environment variables override: option "a.b_c" is POSTURED_A_B_C. Values of the form
 * "${NAME}" are read from the environment (secrets stay out of files). `kafka:` is a map of
 * librdkafka settings passed through verbatim.
 *
 * Ownership: pd_config_destroy frees the config and every string in it.
 * Thread: load on the main thread before the loop starts; read-only afterwards. */
#ifndef PD_CONFIG_H
#define PD_CONFIG_H

#include "pd_common.h"
#include "pd_yaml.h"

#include <stdio.h>

typedef struct pd_kv {
    char *key, *value;
} pd_kv;

typedef struct pd_config {
    char *log_level; /* debug | info | warn | error */
    char *pipeline;  /* pipeline file */
    char *http_listen;
    char *http_token_env; /* name of the env var holding the bearer token; empty: none */
    int64_t decode_max_message_bytes;
    int64_t decode_max_depth;
    int64_t runtime_poll_interval_ms;
    int64_t runtime_wake_budget;
    int64_t runtime_max_in_flight;
    int64_t runtime_buffer_mb;
    int64_t runtime_commit_interval_ms;
    int64_t runtime_shutdown_timeout_ms;
    bool state_exactly_once;
    bool state_changelog;
    char *state_changelog_topic;
    char *state_dir;
    bool state_partitioned;
    int64_t state_partitions;
    int64_t state_goal_tick_ms;
    int64_t state_goal_tick_idle_close_ms;
    int64_t state_snapshot_interval_ms;
    int64_t state_reorder_buffer_mb;
    char *runtime_instance_id;
    int64_t state_commit_every_events;
    int64_t state_commit_interval_ms;
    int64_t correlate_allowed_lateness_ms;
    int64_t correlate_memcap_bytes;
    pd_kv *kafka; /* pass-through librdkafka settings */
    uint32_t nkafka;
} pd_config;

/* Defaults only. */
int pd_config_create(pd_config **out);
/* Defaults, then the file (path may be NULL), then the environment. */
int pd_config_load(const char *path, pd_config **out, pd_diag *diag);
/* Applies one YAML document on top of cfg (used by load and by tests). */
int pd_config_apply_doc(pd_config *cfg, const pd_ydoc *doc, pd_diag *diag);
int pd_config_apply_env(pd_config *cfg, pd_diag *diag);
void pd_config_destroy(pd_config *cfg);
/* Prints every option: name, type, default, bounds, env var, description. */
void pd_config_describe(FILE *out);

#endif
