/* pd_controls.h: the control mapping table (pipelines/controls.yaml): for each Defender
 * assessment key, ASFF control id and SCC category its display name, severity, category,
 * security roles (edr, antimalware, fim, ...) and framework ids ("MCSB:ES-1", "NIST:SC-7").
 * The goals engine resolves `framework:` and `category:` selectors through it; the
 * correlator asks it which controls are defenses (defense-tampering); the generator draws
 * its assessment keys from it.
 *
 * File format (YAML or JSON; unknown keys are errors, reported as file:line:column):
 *   version: 1
 *   roles: [edr, ...]            # optional: the role vocabulary (must be known roles)
 *   controls:
 *     - key: <string>            # required, unique case-insensitively
 *       source: defender|asff|scc|ocsf
 *       name: <string>           # required
 *       severity: unknown|informational|low|medium|high|critical (also None, Moderate...)
 *       category: <word>         # required, e.g. vulnerability, endpoint, network
 *       roles: [<role>...]       # optional, each one of pd_control_role's names
 *       frameworks: ["MCSB:PV-5", "NIST:RA-5", ...]   # optional
 *       applies_to, origin: <string>                   # optional, informational
 *       deprecated, mcsb_historic: <bool>              # optional
 *
 * Ownership: pd_controls_load_* returns a table the caller frees with pd_controls_destroy;
 * every pointer handed out (defs, strings) belongs to the table and lives until destroy.
 * Thread: read-only after load, so any number of threads may query one table. */
#ifndef PD_CONTROLS_H
#define PD_CONTROLS_H

#include "pd_common.h"
#include "pd_model.h"
#include "pd_yaml.h"

/* Security roles a control plays. The first five are the "defenses" whose loss of health
 * near a high alert is defense tampering (issue 5). */
typedef enum {
    PD_ROLE_EDR = 0,
    PD_ROLE_ANTIMALWARE,
    PD_ROLE_FIM,
    PD_ROLE_VULNERABILITY_ASSESSMENT,
    PD_ROLE_LOG_COLLECTION,
    PD_ROLE_VULNERABILITY_FINDINGS,
    PD_ROLE_SYSTEM_UPDATES,
    PD_ROLE_BASELINE,
    PD_ROLE_JIT,
    PD_ROLE_MANAGEMENT_PORTS,
    PD_ROLE_NETWORK_EXPOSURE,
    PD_ROLE_DEFENDER_PLAN,
    PD_ROLE_DISK_ENCRYPTION,
    PD_ROLE_SECURE_BOOT,
    PD_ROLE_APP_CONTROL,
    PD_ROLE_BACKUP,
    PD_ROLE_IDENTITY,
    PD_ROLE_AGENT,
    PD_ROLE_ARC_ONBOARDING,
    PD_ROLE_SECRETS,
    PD_ROLE_THREAT_DETECTION,
    PD_ROLE_METADATA_SERVICE,
    PD_ROLE__COUNT
} pd_control_role;

#define PD_ROLE_BIT(r) (1u << (r))
#define PD_ROLE_DEFENSE_MASK                                                                       \
    (PD_ROLE_BIT(PD_ROLE_EDR) | PD_ROLE_BIT(PD_ROLE_ANTIMALWARE) | PD_ROLE_BIT(PD_ROLE_FIM) |      \
     PD_ROLE_BIT(PD_ROLE_VULNERABILITY_ASSESSMENT) | PD_ROLE_BIT(PD_ROLE_LOG_COLLECTION))

const char *pd_control_role_name(pd_control_role r);       /* "edr", "fim", ... */
int pd_control_role_parse(pd_str s, pd_control_role *out); /* case-insensitive; PD_EINVAL */

typedef struct pd_control_def {
    const char *key;    /* as written in the table */
    const char *source; /* "defender", "asff", "scc", "ocsf" */
    const char *name;
    pd_severity severity; /* PD_SEV_UNKNOWN when the table says unknown */
    const char *category;
    uint32_t role_bits; /* PD_ROLE_BIT(role) per role */
    const char *const *frameworks;
    uint32_t nframeworks;
    const char *applies_to; /* "" when absent */
    bool deprecated;
    bool mcsb_historic; /* MCSB ids come from the initiative's history, not its current form */
    uint32_t index;     /* position in the table */
} pd_control_def;

typedef struct pd_controls pd_controls;

int pd_controls_load_file(const char *path, pd_controls **out, pd_diag *diag);
/* name is used in diagnostics. */
int pd_controls_load_buf(const char *name, const char *buf, size_t len, pd_controls **out,
                         pd_diag *diag);
/* Loads $PD_CONTROLS, else <PD_SOURCE_DIR>/pipelines/controls.yaml (compiled-in path). */
int pd_controls_load_default(pd_controls **out, pd_diag *diag);
void pd_controls_destroy(pd_controls *t);

uint32_t pd_controls_count(const pd_controls *t);
const pd_control_def *pd_controls_at(const pd_controls *t, uint32_t i); /* NULL past end */
/* ASCII case-insensitive; NULL when absent. O(1). */
const pd_control_def *pd_controls_find(const pd_controls *t, pd_str key);

static inline bool pd_control_has_role(const pd_control_def *d, pd_control_role r)
{
    return d && (d->role_bits & PD_ROLE_BIT(r)) != 0;
}
static inline bool pd_control_is_defense(const pd_control_def *d)
{
    return d && (d->role_bits & PD_ROLE_DEFENSE_MASK) != 0;
}
/* True when one of the control's framework ids matches pattern ('*'/'?' glob,
 * case-insensitive): "MCSB:ES-1", "NIST:*", "MCSB:PV-*". */
bool pd_control_in_framework(const pd_control_def *d, const char *pattern);

/* Listings: write up to cap matching defs into out (in table order) and return the total
 * number of matches (so a call with cap 0 counts). */
uint32_t pd_controls_by_role(const pd_controls *t, pd_control_role r, const pd_control_def **out,
                             uint32_t cap);
/* Matches the control's category or one of its role names (so `category: vulnerability`
 * and `category: edr` both work), case-insensitive. */
uint32_t pd_controls_by_category(const pd_controls *t, const char *category,
                                 const pd_control_def **out, uint32_t cap);
uint32_t pd_controls_by_framework(const pd_controls *t, const char *pattern,
                                  const pd_control_def **out, uint32_t cap);
uint32_t pd_controls_by_source(const pd_controls *t, const char *source, const pd_control_def **out,
                               uint32_t cap);

#endif
