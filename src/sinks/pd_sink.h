/* pd_sink.h: outputs for signals. Every sink is one interface (a table of callbacks,
 * pd_sink_ops) wrapped by a common layer that does what every sink needs the same way:
 * the route (which signals), the format (native JSON, OCSF 1.x, msgpack), the rate limit
 * with digests, the counters, and the dead-letter hand-off.
 *
 * Built-in types: "file", "stdout" (JSONL / length-prefixed msgpack) and "webhook" (HTTP(S)
 * POST over libevent, presets slack | teams | pagerduty | splunk | json). Other modules add
 * types by passing a pd_sink_type table in pd_sink_env (the Kafka runtime adds "kafka").
 *
 * Pipeline files carry a `sinks:` list; each item is a map:
 *
 *   - name: secops-slack            # optional, default "<type>-<index>"; unique
 *     type: webhook                 # file | stdout | webhook | (extra types)
 *     format: json                  # json | ocsf | msgpack (default json)
 *     route:                        # all optional; AND across keys, OR within a list
 *       kinds: [drift, breach]
 *       types: ["goal.*", "breach.*"]   # globs on the signal type
 *       min_severity: high
 *       goals: [edr-prod]           # globs; goals and rules together are one "about" filter:
 *       rules: ["*"]                # a signal passes if its goal id OR its rule id matches
 *     rate_limit: 30                # at most 30 messages per window; the excess is digested
 *     rate_window: 1m               # default 1m
 *     ...type-specific keys (see pd_sink_ops.keys; e.g. webhook: preset, url, url_env, ...)
 *
 * Ownership: pd_sink_set_load returns a set the caller frees with pd_sink_set_destroy; the
 * set owns its sinks. Strings in pd_sink_msg / pd_sink_dead are valid during the call only.
 * Thread: the loop thread (the event_base in pd_sink_env), all calls and callbacks. */
#ifndef PD_SINK_H
#define PD_SINK_H

#include "pd_buf.h"
#include "pd_common.h"
#include "pd_signal.h"
#include "pd_yaml.h"

struct event_base;

typedef enum {
    PD_SINK_FMT_JSON = 0, /* the native signal contract (pd_signal_to_json), one per line */
    PD_SINK_FMT_OCSF,     /* OCSF 1.x: drift -> Compliance Finding 2003, breach -> Detection
                             Finding 2004 (pd_ocsf.h) */
    PD_SINK_FMT_MSGPACK,  /* the native object as a msgpack map */
    PD_SINK_FMT__COUNT
} pd_sink_format;

const char *pd_sink_format_name(pd_sink_format f); /* "json", "ocsf", "msgpack" */
int pd_sink_format_parse(pd_str s, pd_sink_format *out);

/* Which signals a sink takes. Empty lists and kinds == 0 mean "any". */
typedef struct pd_sink_route {
    uint32_t kinds; /* bit (1u << pd_signal_kind) */
    const char **types;
    uint32_t ntypes;
    pd_severity min_severity; /* PD_SEV_UNKNOWN: any */
    const char **goals;       /* goals/rules: signal passes if goal id OR rule id matches */
    uint32_t ngoals;
    const char **rules;
    uint32_t nrules;
} pd_sink_route;

bool pd_sink_route_match(const pd_sink_route *r, const pd_signal *s);

/* A digest: what the rate limit held back for one (type, goal or rule) group in one window.
 * text reads "37 more control.regressed for goal edr-prod in the last minute". */
typedef struct pd_sink_digest {
    const char *type;  /* the summarized signal type, or "*" for the overflow group */
    const char *about; /* "goal", "rule" or "" */
    const char *about_id;
    uint64_t count;
    pd_severity max_severity;
    int64_t window_start_ms, window_end_ms; /* wall clock */
    const char *text;
    char id[33]; /* deterministic from sink, group and window start */
} pd_sink_digest;

/* What the common layer hands to a sink's submit. Exactly one of signal/digest is set.
 * data/len is the payload already encoded in the sink's format (a digest in json/ocsf is
 * a small JSON object {"signal":"digest",...}; in msgpack, the same as a map). */
typedef struct pd_sink_msg {
    const pd_signal *signal;
    const pd_sink_digest *digest;
    const char *key; /* signal id or digest id: a partition key / dedup key */
    const void *data;
    size_t len;
} pd_sink_msg;

/* Handed to the dead-letter callback once a message is given up on. */
typedef struct pd_sink_dead {
    const char *sink;    /* the sink's name */
    const char *key;     /* signal or digest id */
    const char *reason;  /* e.g. "http 503 after 6 attempts", "queue full", ... */
    const void *payload; /* the body as it was (or would have been) sent */
    size_t len;
    int attempts;
} pd_sink_dead;

typedef void (*pd_sink_dead_fn)(void *ctx, const pd_sink_dead *d);

typedef struct pd_sink_stats {
    uint64_t seen;       /* signals offered to the sink */
    uint64_t filtered;   /* not matched by the route */
    uint64_t accepted;   /* passed route and rate limit, handed to the sink */
    uint64_t digested;   /* held back by the rate limit and counted into a digest */
    uint64_t digests;    /* digest messages emitted */
    uint64_t delivered;  /* confirmed written / acknowledged */
    uint64_t retries;    /* delivery attempts beyond the first */
    uint64_t dead;       /* given to the dead-letter output */
    uint64_t queue_full; /* of dead: rejected because the queue was full */
    uint64_t pending;    /* queued or in flight now */
    uint64_t bytes;      /* payload bytes delivered */
} pd_sink_stats;

typedef struct pd_sink pd_sink;
typedef struct pd_sink_env pd_sink_env;

typedef struct pd_sink_create_args {
    const pd_ydoc *doc;
    const pd_ynode *node; /* the sink's map; unknown keys were already rejected */
    pd_sink *sink;        /* the common wrapper: name, format, report functions below */
    const pd_sink_env *env;
    void *type_ctx; /* pd_sink_type.ctx */
} pd_sink_create_args;

/* The interface. All callbacks run on the loop thread. */
typedef struct pd_sink_ops {
    const char *type;        /* the `type:` value */
    const char *const *keys; /* NULL-terminated type-specific keys allowed in the map */
    /* Reads its keys from a->node; errors through pd_diag_at (file:line:col). */
    int (*create)(const pd_sink_create_args *a, void **impl, pd_diag *diag);
    /* Takes one message; copies what it keeps. PD_EFULL when its queue is full (the common
     * layer then dead-letters the message with reason "queue full"). Other errors: the
     * common layer dead-letters with the error's text. */
    int (*submit)(void *impl, const pd_sink_msg *m);
    /* Starts delivering whatever is queued now (never blocks on the network). */
    int (*flush)(void *impl);
    /* Adds its own counters: delivered/retries/pending/bytes (may be NULL). */
    void (*stats)(void *impl, pd_sink_stats *st);
    void (*destroy)(void *impl);
} pd_sink_ops;

/* An extra sink type supplied by another module, with its context. */
typedef struct pd_sink_type {
    const pd_sink_ops *ops;
    void *ctx;
} pd_sink_type;

struct pd_sink_env {
    struct event_base *base; /* required by webhook (and kafka); NULL allowed for file/stdout */
    pd_sink_dead_fn dead;    /* NULL: one line per dead letter on stderr (never the payload) */
    void *dead_ctx;
    const pd_sink_type *types; /* extra types, checked before the built-ins */
    size_t ntypes;
    const char *base_dir; /* relative file paths resolve here; NULL: the working directory */
    /* Clock for rate windows and retry timers' bookkeeping; NULL: pd_monotonic_ms. */
    int64_t (*now_ms)(void *ctx);
    void *now_ctx;
    /* Validation only (`postured validate`): every key is parsed and checked, but nothing is
     * opened or connected and environment variables may be unset. Sinks made this way take
     * no signals (submit fails with PD_ESTATE). */
    bool check_only;
};

/* For sink implementations: report outcomes to the common layer. */
const char *pd_sink_name(const pd_sink *s);
pd_sink_format pd_sink_get_format(const pd_sink *s);
void pd_sink_report_delivered(pd_sink *s, size_t bytes);
void pd_sink_report_retry(pd_sink *s);
void pd_sink_report_dead(pd_sink *s, const pd_sink_dead *d); /* d->sink filled in if NULL */

/* One sink, built directly (tests, or a caller without a pipeline file). */
int pd_sink_create(const pd_sink_env *env, const pd_ydoc *doc, const pd_ynode *node, int index,
                   pd_sink **out, pd_diag *diag);
/* Routes, rate-limits, encodes and submits. 0 also when filtered or digested. */
int pd_sink_submit(pd_sink *s, const pd_signal *sig);
/* Emits due digests and asks the sink to deliver what is queued. Non-blocking. */
int pd_sink_flush(pd_sink *s);
void pd_sink_get_stats(const pd_sink *s, pd_sink_stats *out);
void pd_sink_destroy(pd_sink *s); /* emits pending digests first, best effort */

/* A set: the `sinks:` list of a pipeline file. */
typedef struct pd_sink_set pd_sink_set;

/* node is the `sinks:` sequence (NULL or empty: a set with no sinks). */
int pd_sink_set_load(const pd_sink_env *env, const pd_ydoc *doc, const pd_ynode *node,
                     pd_sink_set **out, pd_diag *diag);
/* Checks a `sinks:` list the way pd_sink_set_load reads it, without opening anything
 * (env may be NULL: built-in types only). For `postured validate`. */
int pd_sink_set_check(const pd_sink_env *env, const pd_ydoc *doc, const pd_ynode *node,
                      pd_diag *diag);
/* A set with one stdout JSON sink (what `replay` uses when no pipeline names sinks). */
int pd_sink_set_stdout(const pd_sink_env *env, pd_sink_set **out);
/* Fans out to every sink; matches pd_signal_fn (ctx = the set). Returns the first error. */
int pd_sink_set_signal(void *set, const pd_signal *sig);
int pd_sink_set_flush(pd_sink_set *set);
/* For shutdown: emits held-back digests now, flushes, then runs env->base (EVLOOP_ONCE)
 * until nothing is pending or timeout_ms passes (PD_ETIMEOUT if something still is). */
int pd_sink_set_drain(pd_sink_set *set, int64_t timeout_ms);
size_t pd_sink_set_count(const pd_sink_set *set);
pd_sink *pd_sink_set_get(pd_sink_set *set, size_t i);
pd_sink *pd_sink_set_find(pd_sink_set *set, const char *name);
void pd_sink_set_destroy(pd_sink_set *set);

/* Shared text: one human line for a signal ("[HIGH] goal.breached: EDR on every production
 * server (edr-prod) 96.5 vs >= 98%"), used by chat presets and digests. Appends to out. */
void pd_sink_summary(const pd_signal *s, pd_buf *out);

#endif
