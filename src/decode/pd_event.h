/* pd_event.h: the one normalized event every decoder produces and every engine consumes.
 *
 * Ownership: every pd_str in a pd_event points into memory owned by the pd_decoder that
 * produced it (the input message or the decoder's reusable scratch). It stays valid only
 * until the next pd_decode() call on that decoder. Consumers that keep anything intern it.
 * Thread: a pd_event belongs to the thread that decoded it (the loop thread). */
#ifndef PD_EVENT_H
#define PD_EVENT_H

#include "pd_common.h"
#include "pd_model.h"

#define PD_EVENT_MAX_TAGS       16
#define PD_EVENT_MAX_FRAMEWORKS 8

typedef struct pd_tag {
    pd_str key, value;
} pd_tag;

typedef struct pd_resource {
    pd_str id;    /* original, for display */
    pd_str canon; /* canonical lowercase form: the key of all state */
    pd_cloud cloud;
    pd_str account; /* Azure subscription, AWS account, GCP project */
    pd_str region;
    pd_str group; /* Azure resource group (empty elsewhere) */
    pd_str type;  /* lowercase, e.g. microsoft.compute/virtualmachines, awsec2instance */
    pd_str name;
    pd_tag tags[PD_EVENT_MAX_TAGS];
    uint8_t ntags;
} pd_resource;

typedef struct pd_control {
    pd_str key;      /* Defender assessment key (GUID, lowercase), ASFF control id, SCC category */
    pd_str name;     /* display name */
    pd_str category; /* e.g. "vulnerability", "compute", "endpoint" when the source says */
    pd_str frameworks[PD_EVENT_MAX_FRAMEWORKS]; /* "MCSB:ES-1", "CIS:4.1", "NIST:SI-2" as sent */
    uint8_t nframeworks;
} pd_control;

typedef struct pd_alert {
    pd_str id;        /* SystemAlertId, finding name, ... */
    pd_str type;      /* AlertType, SCC category */
    pd_str status;    /* "Active", "Resolved", ... as sent */
    uint32_t tactics; /* bit (1u << pd_tactic) per tactic; several per alert */
    int64_t start_ms, end_ms;
} pd_alert;

typedef struct pd_vuln {
    pd_str cve;
    pd_str parent_key; /* parent assessment key for sub-assessments */
    double cvss;       /* < 0 when absent */
    bool fix_available;
} pd_vuln;

typedef struct pd_score {
    pd_str control;                  /* secure score control name; empty for the overall score */
    double current, max, percentage; /* percentage in 0..1 when sent */
    uint32_t healthy, unhealthy, not_applicable;
} pd_score;

typedef struct pd_compliance {
    pd_str standard; /* e.g. "Microsoft-cloud-security-benchmark" */
    pd_str control;  /* e.g. "LT.5" */
    pd_str state;    /* Passed, Failed, Skipped as sent */
    uint32_t passed, failed, skipped;
} pd_compliance;

typedef struct pd_event {
    pd_kind kind;
    pd_format format;
    pd_resource resource;
    pd_control control;
    pd_status status;
    pd_severity severity;
    pd_str severity_orig;
    int64_t time_ms;          /* event time: when the source says the state held */
    int64_t first_seen_ms;    /* PD_TIME_NONE when absent */
    int64_t status_change_ms; /* PD_TIME_NONE when absent */
    bool snapshot;            /* part of a weekly full snapshot */
    bool deleted;             /* Delete action / archived / removed finding */
    pd_str event_id;          /* the source's id of this record, for evidence */
    pd_alert alert;           /* kind == ALERT */
    pd_vuln vuln;             /* kind == VULNERABILITY */
    pd_score score;           /* kind == SCORE */
    pd_compliance compliance; /* kind == COMPLIANCE */
} pd_event;

/* Clears e to "nothing known": times PD_TIME_NONE, cvss -1, everything else empty (tag and
 * framework entries beyond ntags / nframeworks are left as they were). */
void pd_event_reset(pd_event *e);

struct pd_buf;
/* Appends e as one JSON object (no newline) to b: the shape `postured decode` prints. Kind-
 * specific members (alert, vuln, score, compliance) appear only for their kind; absent
 * times are null. */
void pd_event_json(const pd_event *e, struct pd_buf *b);

#endif
