/* pd_rule.h: the in-memory form of correlation rules (what a rule file loads into). Private
 * to src/correlate and its tests, which may build rules in code.
 *
 * Ownership: a pd_rule_set owns its rules and every string they point to (its arena).
 * Rules built in code by tests point to static strings. Thread: any, one owner; read-only
 * once a correlator uses it. */
#ifndef PD_RULE_H
#define PD_RULE_H

#include "pd_arena.h"
#include "pd_common.h"
#include "pd_model.h"

#define PD_RULE_MAX_STEPS    8
#define PD_RULE_MAX_GROUP_BY 4

typedef enum {
    PD_RULE_EVENT_COUNT = 0,
    PD_RULE_VALUE_COUNT,
    PD_RULE_TEMPORAL,
    PD_RULE_TEMPORAL_ORDERED,
    PD_RULE__TYPE_COUNT
} pd_rule_type;

/* Fields for group-by and value_count / temporal_ordered conditions. */
typedef enum {
    PD_RF_NONE = 0,
    PD_RF_RESOURCE,   /* canonical resource id */
    PD_RF_ALERT_TYPE, /* alert type (events without one do not group) */
    PD_RF_ACCOUNT,    /* subscription / account / project */
    PD_RF_CONTROL,    /* control key */
    PD_RF_TACTIC,     /* value_count: distinct tactics; temporal_ordered: kill-chain climb */
    PD_RF__COUNT
} pd_rule_field;

/* Which events (or drift signals) a rule or step considers. Empty lists and zero masks mean
 * "any". Lists of strings are globs (alert types, signal types) or exact, case-insensitive
 * values (control keys, roles, categories). */
typedef struct pd_rule_match {
    uint32_t kinds; /* bit (1u << pd_kind); 0 = any kind */
    bool signals;   /* matches drift signals (pd_correlator_on_signal), not events */
    const char *const *signal_types;
    uint32_t nsignal_types;
    pd_severity min_severity; /* PD_SEV_UNKNOWN = no minimum */
    const char *const *alert_types;
    uint32_t nalert_types;
    uint32_t tactics;       /* any of these; 0 = any */
    uint32_t formats;       /* bit (1u << pd_format); 0 = any */
    uint32_t statuses;      /* bit (1u << pd_status) of the event's status; 0 = any */
    uint32_t prev_statuses; /* pair status before the event (pair_status()); 0 = any */
    const char *const *control_keys;
    uint32_t ncontrol_keys;
    const char *const *control_roles;
    uint32_t ncontrol_roles;
    const char *const *control_categories;
    uint32_t ncontrol_categories;
} pd_rule_match;

typedef struct pd_rule_step {
    const char *name;
    pd_rule_match match;
} pd_rule_step;

/* Posture condition on the matching event's resource, checked when the event arrives. */
typedef struct pd_rule_posture {
    bool enabled;
    bool require_all;         /* all set conditions (default: any of them) */
    bool any_goal;            /* violates at least one goal */
    const char *const *goals; /* violates one of these goals */
    uint32_t ngoals;
    pd_severity min_finding; /* an open (unhealthy) finding at least this severe */
} pd_rule_posture;

typedef struct pd_rule {
    const char *id, *title;
    pd_rule_type type;
    pd_rule_match match; /* event_count, value_count, temporal_ordered over tactics */
    pd_rule_step steps[PD_RULE_MAX_STEPS];
    uint32_t nsteps; /* temporal and temporal_ordered with steps */
    pd_rule_field group_by[PD_RULE_MAX_GROUP_BY];
    uint32_t ngroup_by; /* 0 = one global group */
    int64_t timespan_ms;
    uint32_t threshold;        /* condition: count >= threshold */
    pd_rule_field count_field; /* value_count; temporal_ordered over tactics */
    pd_rule_posture posture;
    pd_severity severity;
    int64_t suppress_ms; /* default: timespan */
    const char *const *actions;
    uint32_t nactions;
} pd_rule;

struct pd_rule_set {
    pd_rule *rules;
    uint32_t n, cap;
    pd_arena arena; /* strings and lists of loaded rules */
};

const char *pd_rule_type_name(pd_rule_type t);
const char *pd_rule_field_name(pd_rule_field f);

/* Creates *set when it is NULL. */
int pd_rule_set_create(pd_rule_set **set);
/* Appends a copy of r (its pointers are kept as they are: static or arena-owned). */
int pd_rule_set_add(pd_rule_set **set, const pd_rule *r);
/* Checks a rule built in code the way the loader does; writes a message into err. */
int pd_rule_check(const pd_rule *r, char *err, size_t errlen);

#endif
