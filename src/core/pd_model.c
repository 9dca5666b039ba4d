#include "pd_model.h"

static const char *const kind_names[PD_KIND__COUNT] = {"assessment", "alert",      "vulnerability",
                                                       "score",      "compliance", "inventory"};
static const char *const format_names[PD_FMT__COUNT] = {"auto", "defender", "asff", "scc", "ocsf"};
static const char *const cloud_names[PD_CLOUD__COUNT] = {"unknown", "azure", "aws", "gcp",
                                                         "onprem"};
static const char *const status_names[PD_STATUS__COUNT] = {"unknown", "healthy", "unhealthy",
                                                           "not_applicable", "removed"};
static const char *const severity_names[PD_SEV__COUNT] = {"unknown", "informational", "low",
                                                          "medium",  "high",          "critical"};
static const char *const tactic_names[PD_TACTIC__COUNT] = {"None",
                                                           "Reconnaissance",
                                                           "ResourceDevelopment",
                                                           "InitialAccess",
                                                           "Execution",
                                                           "Persistence",
                                                           "PrivilegeEscalation",
                                                           "DefenseEvasion",
                                                           "CredentialAccess",
                                                           "Discovery",
                                                           "LateralMovement",
                                                           "Collection",
                                                           "CommandAndControl",
                                                           "Exfiltration",
                                                           "Impact"};

#define NAME_OF(table, v) (((unsigned)(v) < PD_ARRAY_LEN(table)) ? (table)[v] : "unknown")

const char *pd_kind_name(pd_kind k)
{
    return NAME_OF(kind_names, k);
}
const char *pd_format_name(pd_format f)
{
    return NAME_OF(format_names, f);
}
const char *pd_cloud_name(pd_cloud c)
{
    return NAME_OF(cloud_names, c);
}
const char *pd_status_name(pd_status s)
{
    return NAME_OF(status_names, s);
}
const char *pd_severity_name(pd_severity s)
{
    return NAME_OF(severity_names, s);
}
const char *pd_tactic_name(pd_tactic t)
{
    return NAME_OF(tactic_names, t);
}

static int lookup(const char *const *table, size_t n, pd_str s, int *out)
{
    for (size_t i = 0; i < n; i++)
        if (pd_str_ieq_c(s, table[i])) {
            *out = (int)i;
            return 0;
        }
    return PD_EINVAL;
}

int pd_kind_parse(pd_str s, pd_kind *out)
{
    int v;
    if (lookup(kind_names, PD_ARRAY_LEN(kind_names), s, &v))
        return PD_EINVAL;
    *out = (pd_kind)v;
    return 0;
}

int pd_format_parse(pd_str s, pd_format *out)
{
    int v;
    if (lookup(format_names, PD_ARRAY_LEN(format_names), s, &v))
        return PD_EINVAL;
    *out = (pd_format)v;
    return 0;
}

int pd_cloud_parse(pd_str s, pd_cloud *out)
{
    int v;
    if (lookup(cloud_names, PD_ARRAY_LEN(cloud_names), s, &v))
        return PD_EINVAL;
    *out = (pd_cloud)v;
    return 0;
}

int pd_severity_parse(pd_str s, pd_severity *out)
{
    static const struct {
        const char *name;
        pd_severity sev;
    } words[] = {{"informational", PD_SEV_INFORMATIONAL},
                 {"information", PD_SEV_INFORMATIONAL},
                 {"info", PD_SEV_INFORMATIONAL},
                 {"none", PD_SEV_INFORMATIONAL},
                 {"low", PD_SEV_LOW},
                 {"medium", PD_SEV_MEDIUM},
                 {"moderate", PD_SEV_MEDIUM},
                 {"high", PD_SEV_HIGH},
                 {"critical", PD_SEV_CRITICAL},
                 {"fatal", PD_SEV_CRITICAL}};
    for (size_t i = 0; i < PD_ARRAY_LEN(words); i++)
        if (pd_str_ieq_c(s, words[i].name)) {
            *out = words[i].sev;
            return 0;
        }
    return PD_EINVAL;
}

int pd_tactic_parse(pd_str s, pd_tactic *out)
{
    static const struct {
        const char *id;
        pd_tactic t;
    } ids[] = {
        {"TA0043", PD_TACTIC_RECONNAISSANCE},      {"TA0042", PD_TACTIC_RESOURCE_DEVELOPMENT},
        {"TA0001", PD_TACTIC_INITIAL_ACCESS},      {"TA0002", PD_TACTIC_EXECUTION},
        {"TA0003", PD_TACTIC_PERSISTENCE},         {"TA0004", PD_TACTIC_PRIVILEGE_ESCALATION},
        {"TA0005", PD_TACTIC_DEFENSE_EVASION},     {"TA0006", PD_TACTIC_CREDENTIAL_ACCESS},
        {"TA0007", PD_TACTIC_DISCOVERY},           {"TA0008", PD_TACTIC_LATERAL_MOVEMENT},
        {"TA0009", PD_TACTIC_COLLECTION},          {"TA0011", PD_TACTIC_COMMAND_AND_CONTROL},
        {"TA0010", PD_TACTIC_EXFILTRATION},        {"TA0040", PD_TACTIC_IMPACT},
        {"PreAttack", PD_TACTIC_RECONNAISSANCE},   {"Probing", PD_TACTIC_RECONNAISSANCE},
        {"Exploitation", PD_TACTIC_INITIAL_ACCESS}};
    for (size_t i = 0; i < PD_ARRAY_LEN(ids); i++)
        if (pd_str_ieq_c(s, ids[i].id)) {
            *out = ids[i].t;
            return 0;
        }
    /* Compare ignoring spaces, '_', '-' and case: "Command and Control" == "CommandAndControl". */
    char norm[48];
    uint32_t n = 0;
    for (uint32_t i = 0; i < s.len && n < sizeof(norm); i++) {
        char c = s.p[i];
        if (c == ' ' || c == '_' || c == '-')
            continue;
        norm[n++] = c;
    }
    if (n == sizeof(norm))
        return PD_EINVAL;
    pd_str ns = {norm, n};
    for (int t = PD_TACTIC_RECONNAISSANCE; t < PD_TACTIC__COUNT; t++)
        if (pd_str_ieq_c(ns, tactic_names[t])) {
            *out = (pd_tactic)t;
            return 0;
        }
    return PD_EINVAL;
}
