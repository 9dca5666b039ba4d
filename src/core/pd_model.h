/* pd_model.h: the small enumerations every module shares (kinds, clouds, statuses,
 * severities, ATT&CK tactics) with their one name table each.
 * Thread: any. Ownership: the returned names are static. */
#ifndef PD_MODEL_H
#define PD_MODEL_H

#include "pd_common.h"

typedef enum {
    PD_KIND_ASSESSMENT = 0,
    PD_KIND_ALERT,
    PD_KIND_VULNERABILITY, /* sub-assessments: CVEs and baseline rules */
    PD_KIND_SCORE,
    PD_KIND_COMPLIANCE,
    PD_KIND_INVENTORY,
    PD_KIND__COUNT
} pd_kind;

typedef enum {
    PD_FMT_AUTO = 0,
    PD_FMT_DEFENDER,
    PD_FMT_ASFF,
    PD_FMT_SCC,
    PD_FMT_OCSF,
    PD_FMT__COUNT
} pd_format;

typedef enum {
    PD_CLOUD_UNKNOWN = 0,
    PD_CLOUD_AZURE,
    PD_CLOUD_AWS,
    PD_CLOUD_GCP,
    PD_CLOUD_ONPREM,
    PD_CLOUD__COUNT
} pd_cloud;

/* Pair status. UNKNOWN = never assessed or stale; never counts as healthy. */
typedef enum {
    PD_STATUS_UNKNOWN = 0,
    PD_STATUS_HEALTHY,
    PD_STATUS_UNHEALTHY,
    PD_STATUS_NOT_APPLICABLE,
    PD_STATUS_REMOVED,
    PD_STATUS__COUNT
} pd_status;

typedef enum {
    PD_SEV_UNKNOWN = 0,
    PD_SEV_INFORMATIONAL,
    PD_SEV_LOW,
    PD_SEV_MEDIUM,
    PD_SEV_HIGH,
    PD_SEV_CRITICAL,
    PD_SEV__COUNT
} pd_severity;

/* ATT&CK enterprise tactics in kill-chain order; the ordinal is the order. */
typedef enum {
    PD_TACTIC_NONE = 0,
    PD_TACTIC_RECONNAISSANCE,
    PD_TACTIC_RESOURCE_DEVELOPMENT,
    PD_TACTIC_INITIAL_ACCESS,
    PD_TACTIC_EXECUTION,
    PD_TACTIC_PERSISTENCE,
    PD_TACTIC_PRIVILEGE_ESCALATION,
    PD_TACTIC_DEFENSE_EVASION,
    PD_TACTIC_CREDENTIAL_ACCESS,
    PD_TACTIC_DISCOVERY,
    PD_TACTIC_LATERAL_MOVEMENT,
    PD_TACTIC_COLLECTION,
    PD_TACTIC_COMMAND_AND_CONTROL,
    PD_TACTIC_EXFILTRATION,
    PD_TACTIC_IMPACT,
    PD_TACTIC__COUNT
} pd_tactic;

const char *pd_kind_name(pd_kind k);
const char *pd_format_name(pd_format f);
const char *pd_cloud_name(pd_cloud c);
const char *pd_status_name(pd_status s);
const char *pd_severity_name(pd_severity s); /* "informational".."critical", "unknown" */
const char *pd_tactic_name(pd_tactic t);     /* ATT&CK display name, e.g. "LateralMovement" */

/* Parsers are ASCII case-insensitive; they return 0 or PD_EINVAL. */
int pd_kind_parse(pd_str s, pd_kind *out);
int pd_format_parse(pd_str s, pd_format *out); /* "auto", "defender", "asff", "scc", "ocsf" */
int pd_cloud_parse(pd_str s, pd_cloud *out);
/* Accepts every source's words: Informational/Info/None, Low, Medium/Moderate, High, Critical. */
int pd_severity_parse(pd_str s, pd_severity *out);
/* Accepts ATT&CK names with or without spaces ("Lateral Movement", "LateralMovement",
 * "lateral_movement", "TA0008") and Defender's extra intents: PreAttack and Probing map to
 * Reconnaissance, Exploitation to InitialAccess. */
int pd_tactic_parse(pd_str s, pd_tactic *out);

#endif
