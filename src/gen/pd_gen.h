/* pd_gen.h: a deterministic generator of realistic input streams (`postured gen`): a fleet of
 * servers across azure, aws, gcp and on-premises (Arc) with tags, assessments drawn from the
 * control mapping table with status churn over simulated days and weekly snapshots, deletes,
 * alerts with tactics, CVE sub-assessments, secure scores, regulatory compliance, ASFF and
 * SCC findings, and scripted incidents that fire each built-in correlation rule of issue 5.
 * Every message is in its source's real shape (see the samples in ../shared/samples).
 *
 * Same options and seed give the same bytes (own PRNG, no libc rand, no wall clock).
 * Messages come out in event-time order unless disorder_ms > 0 (then each message may come
 * up to disorder_ms after later ones, never across a simulated day boundary).
 *
 * Ownership: pd_gen_create returns a generator the caller frees with pd_gen_destroy; the
 * strings in a pd_gen_meta belong to the generator and stay valid until the next
 * pd_gen_next call. opts->controls, when set, must outlive the generator.
 * Thread: one generator per thread; generators share nothing. */
#ifndef PD_GEN_H
#define PD_GEN_H

#include "pd_buf.h"
#include "pd_common.h"
#include "pd_controls.h"
#include "pd_model.h"

typedef enum {
    PD_GEN_MIX_DEFENDER = 0, /* Defender for Cloud shapes only */
    PD_GEN_MIX_ALL,          /* plus ASFF for aws servers and SCC for gcp servers */
} pd_gen_mix;

typedef struct pd_gen_opts {
    uint64_t seed;        /* default 1 */
    uint32_t servers;     /* default 100 */
    uint32_t days;        /* simulated days; default 7; 0 = unbounded (needs max_events) */
    uint64_t max_events;  /* stop after this many messages; 0 = no cap */
    uint32_t keys;        /* Defender assessment keys per server (M), default 12 */
    bool incidents;       /* scripted incidents; default true */
    bool noise;           /* benign alert noise at a higher rate (see alert_rate) */
    bool inventory;       /* ARM resource events (inventory kind) for azure/onprem; default off */
    bool assessment_tags; /* server tags in the assessment's top-level "tags" (the export has
                             that member, null in captures); default true */
    pd_gen_mix mix;       /* default PD_GEN_MIX_DEFENDER */
    int64_t start_ms;     /* simulated start; default 2026-01-05T00:00:00Z (a Monday) */
    int64_t disorder_ms;  /* 0 = strict event-time order */
    double churn;         /* probability a pair changes status on a given day; default 0.02 */
    double alert_rate;    /* background alerts per server per day; default 0.05, noise 0.5 */
    double delete_rate;   /* probability a server is decommissioned on a given day; 0.002 */
    uint32_t alert_rest_pct;     /* % of Defender alerts in the REST shape (properties.*); 0 */
    const pd_controls *controls; /* NULL: pd_controls_load_default() */
} pd_gen_opts;

/* The scripted incidents, one per built-in rule (ids are issue 5's contract). */
typedef enum {
    PD_GEN_INC_NONE = 0,
    PD_GEN_INC_WEAK,       /* alert-on-weak-resource */
    PD_GEN_INC_KILL_CHAIN, /* kill-chain-progression */
    PD_GEN_INC_LATERAL,    /* lateral-spread */
    PD_GEN_INC_DRIFT,      /* drift-then-alert */
    PD_GEN_INC_TAMPER,     /* defense-tampering */
    PD_GEN_INC_BURST,      /* alert-burst */
    PD_GEN_INC__COUNT
} pd_gen_incident;

const char *pd_gen_incident_rule(pd_gen_incident i); /* "alert-on-weak-resource", ... */

/* What one generated message says, for round-trip tests and keyed output. Strings are
 * NUL-terminated. Fields that do not apply are empty strings / 0 / PD_TIME_NONE. */
typedef struct pd_gen_meta {
    pd_kind kind;
    pd_format format;
    bool envelope;   /* ASFF inside EventBridge; SCC notification with notificationConfigName */
    bool rest_shape; /* a Defender alert in the REST shape (properties.*, camelCase) */
    pd_cloud cloud;
    const char *key;         /* Kafka key: the server's canonical id (lowercase; the ARN or GCP name
                                for aws/gcp), or "/subscriptions/<id>" for score and compliance */
    const char *resource_id; /* as written in the message (original case) */
    const char *native_id;   /* ARN / GCP resource name for aws/gcp servers, else "" */
    const char *account;     /* subscription / AWS account / GCP project id */
    const char *region;
    const char *resource_group;
    const char *resource_name;
    const char *resource_type; /* as written, e.g. Microsoft.Compute/virtualMachines */
    const char *tags[3][2];    /* env, owner, tier: carried by Defender assessments (unless
                                  assessment_tags is off), inventory events and ASFF */
    const char *control_key;   /* assessment key, ASFF control id, SCC category, sub-assessment
                                  parent key, compliance assessment key */
    const char *control_name;
    pd_status status;
    pd_severity severity;
    int64_t time_ms; /* event time */
    int64_t first_seen_ms, status_change_ms;
    bool snapshot, deleted;
    const char *event_id; /* SystemAlertId, finding Id/name, assessment id */
    const char *alert_type;
    uint32_t tactics; /* bit (1u << pd_tactic) per tactic */
    int64_t alert_start_ms;
    const char *cve;
    double cvss; /* -1 when absent */
    bool fix_available;
    double score_current, score_max, score_percentage; /* percentage 0..1 */
    uint32_t healthy, unhealthy, not_applicable;
    const char *standard, *compliance_control, *compliance_state;
    uint32_t passed, failed, skipped;
    pd_gen_incident incident; /* the scripted incident this message belongs to */
    uint32_t server;          /* server index, UINT32_MAX for subscription-level events */
} pd_gen_meta;

/* Counters since creation. */
typedef struct pd_gen_stats {
    uint64_t events, bytes;
    uint64_t by_kind[PD_KIND__COUNT];
    uint64_t by_format[PD_FMT__COUNT];
    uint64_t incidents[PD_GEN_INC__COUNT]; /* incident instances scheduled */
    uint64_t noise_dropped;                /* background alerts dropped to keep noise benign */
} pd_gen_stats;

typedef struct pd_gen pd_gen;

void pd_gen_opts_default(pd_gen_opts *o);
/* Fails with PD_EINVAL for impossible options (0 servers, days 0 without max_events) and
 * PD_ECONFIG when the default control table cannot be loaded (diag says why; may be NULL). */
int pd_gen_create(const pd_gen_opts *opts, pd_gen **out, pd_diag *diag);
void pd_gen_destroy(pd_gen *g);
/* Appends one message (no newline) to out and fills meta (may be NULL). Returns 0, or
 * PD_ENOTFOUND at the end of the stream, or PD_ENOMEM. */
int pd_gen_next(pd_gen *g, pd_buf *out, pd_gen_meta *meta);
void pd_gen_get_stats(const pd_gen *g, pd_gen_stats *out);

/* One scripted incident instance, for manifests and scenario tests: the rule it should fire,
 * its window and the servers involved (indexes; resource ids via pd_gen_server_id). */
typedef struct pd_gen_incident_info {
    pd_gen_incident kind;
    int64_t start_ms, end_ms;
    uint32_t servers[4];
    uint32_t nservers;
    const char *control_key; /* the pair the incident changes, or "" */
    const char *alert_type;
} pd_gen_incident_info;

uint32_t pd_gen_incident_count(const pd_gen *g);
const pd_gen_incident_info *pd_gen_incident_at(const pd_gen *g, uint32_t i);
/* The server's id as Defender messages write it, and its Kafka key (lowercase). */
const char *pd_gen_server_id(const pd_gen *g, uint32_t server);
const char *pd_gen_server_key(const pd_gen *g, uint32_t server);

#endif
