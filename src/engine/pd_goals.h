/* pd_goals.h: posture goal files (pipelines/NAME.yaml with a top-level `goals:` list; JSON too).
 *
 * Shape (see pipelines/README.md):
 *   goals:
 *     - id: edr-prod               # required, [a-z0-9][a-z0-9-]*, unique across loaded files
 *       title: ...                 # optional (defaults to the id)
 *       description: ...           # optional, informational
 *       kind: control|coverage|sla|score|compliance
 *       scope: {clouds, accounts, resource_groups, resource_types, names, tags, regions}
 *       controls: [{key: K}, {framework: "MCSB:ES-*"}, {category: edr}]
 *       min_severity: high
 *       target: ">= 98%" | "<= 0"
 *       max_age: 72h               # sla only (required there)
 *       stale_after: 8d
 *       hysteresis: 1% | 2
 *       severity: high             # severity of the signals this goal emits (default medium)
 *       standard: Microsoft-cloud-security-benchmark   # compliance: the standard's name
 *       flapping: {toggles: 4, window: 1h}
 *
 * Ownership: a pd_goal_set owns every goal and string in it; pd_goal_set_destroy frees it.
 * Thread: read-only after load. */
#ifndef PD_GOALS_H
#define PD_GOALS_H

#include "pd_common.h"
#include "pd_model.h"
#include "pd_yaml.h"

#define PD_GOALS_MAX 64 /* goals per engine: scope membership is one uint64 per resource */

typedef enum {
    PD_GOAL_CONTROL = 0,
    PD_GOAL_COVERAGE,
    PD_GOAL_SLA,
    PD_GOAL_SCORE,
    PD_GOAL_COMPLIANCE,
    PD_GOAL__COUNT
} pd_goal_kind;

typedef enum { PD_CMP_GE = 0, PD_CMP_GT, PD_CMP_LE, PD_CMP_LT } pd_cmp;

typedef enum { PD_SEL_KEY = 0, PD_SEL_FRAMEWORK, PD_SEL_CATEGORY } pd_sel_kind;

typedef struct pd_goal_sel {
    pd_sel_kind kind;
    const char *value; /* key (lowercase), or a glob for framework/category */
} pd_goal_sel;

typedef struct pd_goal_tag {
    const char *key;
    const char **values; /* globs; any matches */
    uint32_t nvalues;
} pd_goal_tag;

typedef struct pd_goal_scope {
    uint32_t clouds; /* bit (1u << pd_cloud); 0 = any */
    const char **accounts, **groups, **types, **names, **regions; /* globs; NULL = any */
    uint32_t naccounts, ngroups, ntypes, nnames, nregions;
    pd_goal_tag *tags; /* every tag must match (AND across keys) */
    uint32_t ntags;
} pd_goal_scope;

typedef struct pd_goal {
    const char *id, *title;
    pd_goal_kind kind;
    pd_goal_scope scope;
    pd_goal_sel *controls;
    uint32_t ncontrols;
    pd_severity min_severity; /* PD_SEV_UNKNOWN = no filter */
    const char *target_text;  /* as written, for signals */
    pd_cmp cmp;
    double target;          /* percent (0..100) for percentage targets, a count otherwise */
    bool target_pct;        /* written with '%' */
    int64_t max_age_ms;     /* sla; 0 otherwise */
    int64_t stale_after_ms; /* 0 = never stale */
    double hysteresis;      /* same unit as target */
    pd_severity severity;   /* of emitted signals */
    const char *standard;   /* compliance; NULL = any */
    uint32_t flap_toggles;  /* 0 = engine default */
    int64_t flap_window_ms; /* 0 = engine default */
    const char *file;       /* where it was defined (for messages) */
    uint32_t line, col;
} pd_goal;

typedef struct pd_goal_set pd_goal_set;

/* Appends the goals of one file to *set (created when NULL). Errors are
 * "file:line:column: message" in diag, including duplicate ids across files. On error *set
 * keeps the goals loaded before this file. */
int pd_goal_set_load_file(pd_goal_set **set, const char *path, pd_diag *diag);
int pd_goal_set_load_buf(pd_goal_set **set, const char *name, const char *buf, size_t len,
                         pd_diag *diag);
/* Same, from an already loaded document whose root has a `goals:` key (pipeline files may
 * embed goals). */
int pd_goal_set_load_doc(pd_goal_set **set, const pd_ydoc *doc, const pd_ynode *goals,
                         pd_diag *diag);
void pd_goal_set_destroy(pd_goal_set *set);
uint32_t pd_goal_set_count(const pd_goal_set *set);
const pd_goal *pd_goal_set_at(const pd_goal_set *set, uint32_t i);
/* The index of the goal with this id: 0, or PD_ENOTFOUND. */
int pd_goal_set_index(const pd_goal_set *set, pd_str id, uint32_t *out);

const char *pd_goal_kind_name(pd_goal_kind k);
int pd_goal_kind_parse(pd_str s, pd_goal_kind *out);
/* Parses ">= 98%", "<= 0", "> 5", "98%" (means >=), "0" (means <=). */
int pd_goal_target_parse(const char *s, pd_cmp *cmp, double *value, bool *pct);
bool pd_goal_cmp(pd_cmp cmp, double value, double target);

#endif
