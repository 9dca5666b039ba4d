#include "pd_config.h"

#include "pd_time.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define PD_ERANGE_LOCAL (-1000) /* internal: value out of bounds */

typedef enum { OPT_STR, OPT_INT, OPT_BOOL, OPT_DURATION } opt_type;

typedef struct {
    const char *section, *name;
    opt_type type;
    const char *def;
    int64_t min, max;
    size_t offset;
    const char *description;
} option;

#define OFF(f) offsetof(pd_config, f)
static const option options[] = {
    {"log", "level", OPT_STR, "info", 0, 0, OFF(log_level), "debug, info, warn or error"},
    {"", "pipeline", OPT_STR, "pipelines/default.yaml", 0, 0, OFF(pipeline),
     "pipeline file (inputs, goals, rules, outputs)"},
    {"http", "listen", OPT_STR, "127.0.0.1:9464", 0, 0, OFF(http_listen),
     "address:port of the status API; empty disables it"},
    {"http", "token_env", OPT_STR, "", 0, 0, OFF(http_token_env),
     "environment variable holding the bearer token (all but /healthz)"},
    {"decode", "max_message_bytes", OPT_INT, "1048576", 64, 64 << 20, OFF(decode_max_message_bytes),
     "larger messages go to the dead-letter output"},
    {"decode", "max_depth", OPT_INT, "64", 4, 10000, OFF(decode_max_depth),
     "deeper JSON nesting is a decode error"},
    {"runtime", "poll_interval", OPT_DURATION, "100ms", 1, 60000, OFF(runtime_poll_interval_ms),
     "housekeeping timer: polls librdkafka even when idle"},
    {"runtime", "wake_budget", OPT_INT, "2000", 1, 1000000, OFF(runtime_wake_budget),
     "messages handled per loop wake before yielding"},
    {"runtime", "max_in_flight", OPT_INT, "100000", 100, 100000000, OFF(runtime_max_in_flight),
     "undelivered output messages before input partitions pause"},
    {"runtime", "buffer_mb", OPT_INT, "128", 1, 65536, OFF(runtime_buffer_mb),
     "fetched input buffered for processing (plus librdkafka's queue) before fetching waits"},
    {"runtime", "commit_interval", OPT_DURATION, "1s", 10, 600000, OFF(runtime_commit_interval_ms),
     "at-least-once offset commit period"},
    {"runtime", "shutdown_timeout", OPT_DURATION, "10s", 100, 600000,
     OFF(runtime_shutdown_timeout_ms), "SIGTERM: drain, flush and commit within this"},
    {"state", "exactly_once", OPT_BOOL, "false", 0, 0, OFF(state_exactly_once),
     "transactional output with offsets in the transaction"},
    {"state", "changelog", OPT_BOOL, "true", 0, 0, OFF(state_changelog),
     "exactly-once: changelog the state in each transaction, restore it at start"},
    {"state", "changelog_topic", OPT_STR, "", 0, 0, OFF(state_changelog_topic),
     "compacted changelog topic (empty: <consumer group>-changelog)"},
    {"state", "partitioned", OPT_BOOL, "false", 0, 0, OFF(state_partitioned),
     "scale out: route events by resource id, state per partition, a goal stage (needs "
     "exactly_once)"},
    {"state", "partitions", OPT_INT, "12", 1, 10000, OFF(state_partitions),
     "partitioned: partitions of the internal events and changelog topics when created"},
    {"state", "goal_tick", OPT_DURATION, "60s", 1, 86400000, OFF(state_goal_tick_ms),
     "partitioned: goal-level signals are evaluated per tick of input time"},
    {"state", "goal_tick_idle_close", OPT_DURATION, "2s", 0, 3600000,
     OFF(state_goal_tick_idle_close_ms),
     "partitioned: with every input caught up this long, the newest tick is evaluated"},
    {"runtime", "instance_id", OPT_STR, "", 0, 0, OFF(runtime_instance_id),
     "stable name of this instance in its group (transactional ids; empty: the host name)"},
    {"state", "dir", OPT_STR, "/var/lib/postured", 0, 0, OFF(state_dir),
     "local snapshots of partition state"},
    {"state", "reorder_buffer_mb", OPT_INT, "64", 1, 65536, OFF(state_reorder_buffer_mb),
     "partitioned: events a state partition holds for their turn, per partition (MiB)"},
    {"state", "snapshot_interval", OPT_DURATION, "60s", 0, 86400000,
     OFF(state_snapshot_interval_ms),
     "partitioned: snapshot each state partition locally this often (0: never)"},
    {"state", "commit_every_events", OPT_INT, "10000", 1, 100000000, OFF(state_commit_every_events),
     "exactly-once: commit after this many events"},
    {"state", "commit_interval", OPT_DURATION, "100ms", 1, 600000, OFF(state_commit_interval_ms),
     "exactly-once: commit at least this often"},
    {"correlate", "allowed_lateness", OPT_DURATION, "5m", 0, 86400000LL,
     OFF(correlate_allowed_lateness_ms), "out-of-order tolerance of correlation windows"},
    {"correlate", "memcap_bytes", OPT_INT, "67108864", 1 << 20, 1LL << 40,
     OFF(correlate_memcap_bytes), "correlation state per rule; evictions are counted"},
};

static const char *type_name(opt_type t)
{
    static const char *const names[] = {"string", "integer", "bool", "duration"};
    return names[t];
}

static void env_name(const option *o, char *buf, size_t n)
{
    snprintf(buf, n, "POSTURED_%s%s%s", o->section, o->section[0] ? "_" : "", o->name);
    for (char *p = buf; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

/* Expands "${NAME}" from the environment; other text is kept. */
static int expand(const char *in, char **out)
{
    size_t len = strlen(in);
    if (len > 3 && in[0] == '$' && in[1] == '{' && in[len - 1] == '}') {
        char name[256];
        if (len - 3 >= sizeof(name))
            return PD_EINVAL;
        memcpy(name, in + 2, len - 3);
        name[len - 3] = '\0';
        const char *v = getenv(name);
        if (!v)
            return PD_ENOTFOUND;
        in = v;
    }
    *out = strdup(in);
    return *out ? 0 : PD_ENOMEM;
}

/* Sets one option from text; `where` gives the diagnostic its position. */
static int set_option(pd_config *cfg, const option *o, const char *text, const pd_ydoc *doc,
                      const pd_ynode *where, const char *origin, pd_diag *diag)
{
    void *field = (char *)cfg + o->offset;
    char *val = NULL;
    int rc = expand(text, &val);
    if (rc == PD_ENOTFOUND)
        return doc ? pd_diag_at(diag, doc, where, "environment variable in '%s' is not set", text)
                   : (snprintf(diag->msg, sizeof(diag->msg), "%s: '%s' is not set", origin, text),
                      PD_ECONFIG);
    if (rc)
        return rc;
    int64_t v = 0;
    switch (o->type) {
    case OPT_STR:
        free(*(char **)field);
        *(char **)field = val;
        return 0;
    case OPT_BOOL:
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
            *(bool *)field = true;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
            *(bool *)field = false;
        else
            rc = PD_EINVAL;
        break;
    case OPT_INT: {
        char *end;
        v = strtoll(val, &end, 10);
        rc = (*val && !*end) ? 0 : PD_EINVAL;
        break;
    }
    case OPT_DURATION:
        rc = pd_duration_parse(pd_str_c(val), &v);
        break;
    }
    if (!rc && o->type != OPT_BOOL) {
        if (v < o->min || v > o->max)
            rc = PD_ERANGE_LOCAL;
        else
            *(int64_t *)field = v;
    }
    if (rc) {
        char msg[200];
        if (rc == PD_ERANGE_LOCAL)
            snprintf(msg, sizeof(msg), "%s.%s: %s is out of range [%lld, %lld]", o->section,
                     o->name, val, (long long)o->min, (long long)o->max);
        else
            snprintf(msg, sizeof(msg), "%s%s%s: expected a %s, got '%s'", o->section,
                     o->section[0] ? "." : "", o->name, type_name(o->type), val);
        if (doc)
            pd_diag_at(diag, doc, where, "%s", msg);
        else
            snprintf(diag->msg, sizeof(diag->msg), "%s: %s", origin, msg);
        rc = PD_ECONFIG;
    }
    free(val);
    return rc;
}

int pd_config_create(pd_config **out)
{
    pd_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return PD_ENOMEM;
    pd_diag d;
    for (size_t i = 0; i < PD_ARRAY_LEN(options); i++) {
        int rc = set_option(cfg, &options[i], options[i].def, NULL, NULL, "default", &d);
        if (rc) {
            pd_config_destroy(cfg);
            return rc;
        }
    }
    *out = cfg;
    return 0;
}

static int apply_kafka(pd_config *cfg, const pd_ydoc *doc, const pd_ynode *map, pd_diag *diag)
{
    if (map->type != PD_YMAP)
        return pd_diag_at(diag, doc, map, "kafka: expected a mapping of librdkafka settings");
    for (uint32_t i = 0; i < map->n; i++) {
        const pd_ynode *k = map->items[2 * i], *v = map->items[2 * i + 1];
        if (k->type != PD_YSCALAR || v->type != PD_YSCALAR)
            return pd_diag_at(diag, doc, k, "kafka: settings are key: value strings");
        char *val = NULL;
        int rc = expand(v->str, &val);
        if (rc == PD_ENOTFOUND)
            return pd_diag_at(diag, doc, v, "environment variable in '%s' is not set", v->str);
        if (rc)
            return rc;
        pd_kv *nk = realloc(cfg->kafka, (cfg->nkafka + 1) * sizeof(*nk));
        if (!nk) {
            free(val);
            return PD_ENOMEM;
        }
        cfg->kafka = nk;
        nk[cfg->nkafka].key = strdup(k->str);
        nk[cfg->nkafka].value = val;
        cfg->nkafka++;
        if (!nk[cfg->nkafka - 1].key)
            return PD_ENOMEM;
    }
    return 0;
}

int pd_config_apply_doc(pd_config *cfg, const pd_ydoc *doc, pd_diag *diag)
{
    const pd_ynode *root = pd_yaml_root(doc);
    if (!root)
        return 0; /* an empty file keeps the defaults */
    static const char *const sections[] = {"log",   "pipeline",  "http",  "decode", "runtime",
                                           "state", "correlate", "kafka", NULL};
    int rc = pd_ymap_check(doc, root, sections, diag);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < root->n; i++) {
        const pd_ynode *k = root->items[2 * i], *v = root->items[2 * i + 1];
        if (!strcmp(k->str, "kafka")) {
            if ((rc = apply_kafka(cfg, doc, v, diag)))
                return rc;
            continue;
        }
        if (!strcmp(k->str, "pipeline")) {
            if (v->type != PD_YSCALAR)
                return pd_diag_at(diag, doc, v, "pipeline: expected a file name");
            if ((rc = set_option(cfg, &options[1], v->str, doc, v, NULL, diag)))
                return rc;
            continue;
        }
        /* Allowed keys of this section, from the table. */
        const char *allowed[16];
        const option *opts[16];
        size_t n = 0;
        for (size_t j = 0; j < PD_ARRAY_LEN(options) && n < 15; j++)
            if (!strcmp(options[j].section, k->str)) {
                opts[n] = &options[j];
                allowed[n++] = options[j].name;
            }
        allowed[n] = NULL;
        if ((rc = pd_ymap_check(doc, v, allowed, diag)))
            return rc;
        for (uint32_t j = 0; j < v->n; j++) {
            const pd_ynode *ok = v->items[2 * j], *ov = v->items[2 * j + 1];
            if (ov->type != PD_YSCALAR)
                return pd_diag_at(diag, doc, ov, "%s.%s: expected a scalar", k->str, ok->str);
            for (size_t m = 0; m < n; m++)
                if (!strcmp(opts[m]->name, ok->str) &&
                    (rc = set_option(cfg, opts[m], ov->str, doc, ov, NULL, diag)))
                    return rc;
        }
    }
    return 0;
}

int pd_config_apply_env(pd_config *cfg, pd_diag *diag)
{
    for (size_t i = 0; i < PD_ARRAY_LEN(options); i++) {
        char name[96];
        env_name(&options[i], name, sizeof(name));
        const char *v = getenv(name);
        if (!v)
            continue;
        int rc = set_option(cfg, &options[i], v, NULL, NULL, name, diag);
        if (rc)
            return rc;
    }
    return 0;
}

int pd_config_load(const char *path, pd_config **out, pd_diag *diag)
{
    pd_config *cfg = NULL;
    pd_ydoc *doc = NULL;
    int rc = pd_config_create(&cfg);
    if (rc)
        goto fail;
    if (path) {
        if ((rc = pd_yaml_load_file(path, &doc, diag)))
            goto fail;
        if ((rc = pd_config_apply_doc(cfg, doc, diag)))
            goto fail;
    }
    if ((rc = pd_config_apply_env(cfg, diag)))
        goto fail;
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    bool ok = false;
    for (size_t i = 0; i < PD_ARRAY_LEN(levels); i++)
        ok = ok || !strcmp(cfg->log_level, levels[i]);
    if (!ok) {
        snprintf(diag->msg, sizeof(diag->msg), "%s: log.level must be debug, info, warn or error",
                 path ? path : "<env>");
        rc = PD_ECONFIG;
        goto fail;
    }
    pd_yaml_free(doc);
    *out = cfg;
    return 0;
fail:
    pd_yaml_free(doc);
    pd_config_destroy(cfg);
    return rc;
}

void pd_config_destroy(pd_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < PD_ARRAY_LEN(options); i++)
        if (options[i].type == OPT_STR)
            free(*(char **)((char *)cfg + options[i].offset));
    for (uint32_t i = 0; i < cfg->nkafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    free(cfg);
}

void pd_config_describe(FILE *out)
{
    fprintf(out, "%-32s %-9s %-24s %s\n", "option (env var)", "type", "default", "description");
    for (size_t i = 0; i < PD_ARRAY_LEN(options); i++) {
        const option *o = &options[i];
        char full[64], env[96];
        snprintf(full, sizeof(full), "%s%s%s", o->section, o->section[0] ? "." : "", o->name);
        env_name(o, env, sizeof(env));
        fprintf(out, "%-32s %-9s %-24s %s", full, type_name(o->type), o->def, o->description);
        if (o->type == OPT_INT)
            fprintf(out, " [%lld..%lld]", (long long)o->min, (long long)o->max);
        fprintf(out, "\n  %s\n", env);
    }
    fprintf(out, "%-32s %-9s %-24s %s\n", "kafka.<name>", "string", "",
            "passed verbatim to librdkafka; \"${VAR}\" reads the environment");
}
