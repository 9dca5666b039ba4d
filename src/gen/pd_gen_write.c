/* pd_gen_write.c: renders one scheduled item as a message in its source's real shape:
 * Defender continuous export (assessments camelCase, sub-assessments PascalCase with $type,
 * alerts flat PascalCase, secure scores, regulatory compliance), ARM resources (inventory
 * with tags), ASFF (bare or EventBridge) and SCC (bare or notification). Field names follow
 * the samples in ../shared/samples and the two Microsoft schema files there.
 * Hand-written appenders, no printf on the hot path, nothing allocated per message. */
#include "pd_gen_int.h"

#include "pd_time.h"

#include <stdio.h>
#include <string.h>

/* lit must be a string literal ("" lit "" rejects anything else at compile time). */
#define PUT(b, lit) pd_buf_append((b), "" lit "", sizeof(lit) - 1)

static inline void put_s(pd_buf *b, const char *s)
{
    pd_buf_append(b, s, strlen(s));
}

/* A quoted string we generated ourselves (no characters that need escaping). */
static inline void put_q(pd_buf *b, const char *s)
{
    pd_buf_putc(b, '"');
    put_s(b, s);
    pd_buf_putc(b, '"');
}

/* A quoted string from the control table: escaped. */
static inline void put_jq(pd_buf *b, const char *s)
{
    pd_buf_json_str(b, s, strlen(s));
}

/* The escaped text of s and a closing quote: the tail of a string already opened. */
static void put_jq_tail(pd_buf *b, const char *s)
{
    size_t at = b->len;
    pd_buf_json_str(b, s, strlen(s));
    if (b->len > at && b->p[at] == '"') {
        memmove(b->p + at, b->p + at + 1, b->len - at - 1);
        b->len--;
    }
}

static void put_u64(pd_buf *b, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (pd_buf_reserve(b, (size_t)n))
        return;
    while (n)
        b->p[b->len++] = tmp[--n];
}

/* A non-negative number with two decimals at most ("12", "12.5", "0.25"). */
static void put_fixed2(pd_buf *b, double v)
{
    if (v < 0)
        v = 0;
    uint64_t c = (uint64_t)(v * 100.0 + 0.5);
    put_u64(b, c / 100);
    uint64_t f = c % 100;
    if (f) {
        pd_buf_putc(b, '.');
        pd_buf_putc(b, (char)('0' + f / 10));
        if (f % 10)
            pd_buf_putc(b, (char)('0' + f % 10));
    }
}

static void civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static inline void d2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* "2026-01-05T02:00:00.1234567Z" (Defender writes 7 fraction digits; the last four are a
 * stable function of the time) or with 3 digits (ASFF, SCC). Quoted. */
static void put_time(pd_buf *b, int64_t ms, int frac)
{
    char t[32];
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    int y;
    unsigned mo, d;
    civil(days, &y, &mo, &d);
    unsigned sec = (unsigned)(rem / 1000), milli = (unsigned)(rem % 1000);
    t[0] = '"';
    t[1] = (char)('0' + (y / 1000) % 10);
    t[2] = (char)('0' + (y / 100) % 10);
    d2(t + 3, (unsigned)y % 100);
    t[5] = '-';
    d2(t + 6, mo);
    t[8] = '-';
    d2(t + 9, d);
    t[11] = 'T';
    d2(t + 12, sec / 3600);
    t[14] = ':';
    d2(t + 15, sec / 60 % 60);
    t[17] = ':';
    d2(t + 18, sec % 60);
    t[20] = '.';
    t[21] = (char)('0' + milli / 100);
    d2(t + 22, milli % 100);
    int n = 24;
    if (frac == 7) {
        unsigned extra = (unsigned)((uint64_t)ms * 2654435761u % 10000);
        d2(t + 24, extra / 100);
        d2(t + 26, extra % 100);
        n = 28;
    }
    t[n++] = 'Z';
    t[n++] = '"';
    pd_buf_append(b, t, (size_t)n);
}

static void hash_guid(uint64_t a, uint64_t b, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t x = pd_hash_mix(a, b), y = pd_hash_mix(b ^ 0xa5a5a5a5ULL, a + 1);
    int k = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[k++] = '-';
        uint64_t v = i < 16 ? x >> (4 * i) : y >> (4 * (i - 16));
        out[k++] = hex[v & 15];
    }
    out[k] = '\0';
}

/* ---- tables ---- */

#define T(x) (1u << (x))
static const gen_alert_type alert_types[AT__COUNT] = {
    /* Background noise: real Defender for Servers alert types with one tactic each (from the
     * alerts reference for Windows and Linux machines). */
    [AT_NOISE_PROBE] = {"VM_LoginBruteForceValidUserFailed", "Suspicious authentication activity",
                        "Probing", PD_SEV_MEDIUM, T(PD_TACTIC_RECONNAISSANCE),
                        "Several sign in attempts were detected, none succeeded; some used "
                        "accounts known to the host."},
    [AT_NOISE_SSHFAIL] = {"VM_SshBruteForceFailed", "Failed SSH brute force attack", "Probing",
                          PD_SEV_MEDIUM, T(PD_TACTIC_RECONNAISSANCE),
                          "Failed brute force attacks were detected."},
    [AT_NOISE_EXEC] = {"VM_SuspiciousActivity", "Suspicious Activity Detected", "Execution",
                       PD_SEV_MEDIUM, T(PD_TACTIC_EXECUTION),
                       "A sequence of processes historically associated with malicious activity "
                       "ran on the host."},
    [AT_NOISE_AAC] = {"VM_AdaptiveApplicationControlLinuxViolationAudited",
                      "Adaptive application control policy violation was audited", "Execution",
                      PD_SEV_INFORMATIONAL, T(PD_TACTIC_EXECUTION),
                      "Users ran applications that violate the application control policy."},
    [AT_NOISE_MINER] = {"VM_MinerInContainerImage", "Container with a miner image detected",
                        "Execution", PD_SEV_HIGH, T(PD_TACTIC_EXECUTION),
                        "A Docker container runs an image associated with digital currency "
                        "mining."},
    [AT_NOISE_FILELESS_W] = {"VM_FilelessAttackBehavior.Windows",
                             "Fileless attack behavior detected", "DefenseEvasion", PD_SEV_LOW,
                             T(PD_TACTIC_DEFENSE_EVASION),
                             "The memory of the process contains behaviors commonly used by "
                             "fileless attacks."},
    [AT_NOISE_FILELESS_L] = {"VM_FilelessAttackBehavior.Linux", "Fileless attack behavior detected",
                             "Execution", PD_SEV_LOW, T(PD_TACTIC_EXECUTION),
                             "The memory of the process contains behaviors commonly used by "
                             "fileless attacks."},
    [AT_NOISE_AMDIS] = {"VM_AmDisablement", "Antimalware disabled in your virtual machine",
                        "DefenseEvasion", PD_SEV_MEDIUM, T(PD_TACTIC_DEFENSE_EVASION),
                        "Antimalware was disabled in the virtual machine."},
    [AT_NOISE_AMTEMP] = {"VM_AmTempFileExclusion",
                         "Antimalware file exclusion in your virtual machine", "DefenseEvasion",
                         PD_SEV_MEDIUM, T(PD_TACTIC_DEFENSE_EVASION),
                         "A file was excluded from the antimalware scanner."},
    [AT_NOISE_AMRT] = {"VM_AmRealtimeProtectionDisabled",
                       "Antimalware real-time protection was disabled in your virtual machine",
                       "DefenseEvasion", PD_SEV_MEDIUM, T(PD_TACTIC_DEFENSE_EVASION),
                       "Real-time protection of the antimalware extension was disabled."},
    [AT_NOISE_AMRTT] = {"VM_AmTempRealtimeProtectionDisablement",
                        "Antimalware real-time protection was disabled temporarily in your "
                        "virtual machine",
                        "DefenseEvasion", PD_SEV_MEDIUM, T(PD_TACTIC_DEFENSE_EVASION),
                        "Real-time protection of the antimalware extension was disabled "
                        "temporarily."},
    [AT_NOISE_AMCAMP] = {"VM_AmMalwareCampaignRelatedExclusion",
                         "Antimalware scans blocked for files potentially related to malware "
                         "campaigns on your virtual machine",
                         "DefenseEvasion", PD_SEV_MEDIUM, T(PD_TACTIC_DEFENSE_EVASION),
                         "An exclusion rule prevents scanning files suspected of being related "
                         "to a malware campaign."},
    [AT_NOISE_AMUNUSUAL] = {"VM_UnusualAmFileExclusion",
                            "Antimalware unusual file exclusion in your virtual machine",
                            "DefenseEvasion", PD_SEV_MEDIUM, T(PD_TACTIC_DEFENSE_EVASION),
                            "An unusual file exclusion from the antimalware extension was "
                            "detected."},
    [AT_NOISE_SSHKEY] = {"VM_SshKeyAddition", "New SSH key added", "Persistence", PD_SEV_LOW,
                         T(PD_TACTIC_PERSISTENCE),
                         "A new SSH key was added to the authorized keys file."},
    [AT_SCC_BRUTE] = {"Brute Force: SSH", "Brute Force: SSH", "INITIAL_ACCESS", PD_SEV_HIGH,
                      T(PD_TACTIC_INITIAL_ACCESS), "SSH brute force with a successful login."},
    [AT_WEAK] = {"VM_FilelessAttackTechnique.Windows", "Fileless attack technique detected",
                 "DefenseEvasion, Execution", PD_SEV_HIGH,
                 T(PD_TACTIC_DEFENSE_EVASION) | T(PD_TACTIC_EXECUTION),
                 "The memory of the process contains evidence of a fileless attack technique."},
    [AT_KC1] = {"VM_LoginBruteForceSuccess", "Successful brute force attack", "Exploitation",
                PD_SEV_HIGH, T(PD_TACTIC_INITIAL_ACCESS),
                "Several sign in attempts were detected from the same source; some "
                "authenticated to the host."},
    [AT_KC2] = {"SUSPECT_SVCHOST", "Suspicious process detected", "Execution", PD_SEV_HIGH,
                T(PD_TACTIC_EXECUTION), "Suspicious process named SVCHOST.EXE was running."},
    [AT_KC3] = {"VM_SuspiciousCronJob", "Suspicious scheduled job created", "Persistence",
                PD_SEV_MEDIUM, T(PD_TACTIC_PERSISTENCE),
                "A scheduled job that runs a downloaded binary was created."},
    [AT_KC4] = {"VM_CredentialDumping", "Possible credential dumping detected", "CredentialAccess",
                PD_SEV_HIGH, T(PD_TACTIC_CREDENTIAL_ACCESS),
                "A native tool was used in a way that extracts credentials from memory."},
    [AT_LATERAL] = {"VM_FilelessAttackToolkit.Windows", "Fileless attack toolkit detected",
                    "DefenseEvasion, Execution", PD_SEV_MEDIUM,
                    T(PD_TACTIC_DEFENSE_EVASION) | T(PD_TACTIC_EXECUTION),
                    "The memory of the process contains a fileless attack toolkit."},
    [AT_DRIFT] = {"ARM_AnomalousServiceOperation.CredentialAccess",
                  "Suspicious invocation of a credential access operation", "PreAttack",
                  PD_SEV_MEDIUM, T(PD_TACTIC_RECONNAISSANCE),
                  "An unusual operation that accesses credentials was invoked."},
    [AT_TAMPER] = {"VM_AmDisablementAndCodeExecution",
                   "Antimalware disabled and code execution in your virtual machine",
                   "DefenseEvasion", PD_SEV_HIGH, T(PD_TACTIC_DEFENSE_EVASION),
                   "Antimalware was disabled at the same time as code execution on the machine."},
    [AT_BURST] = {"VM_VMAccessUnusualSSHReset",
                  "Unusual user password reset in your virtual machine", "CredentialAccess",
                  PD_SEV_LOW, T(PD_TACTIC_CREDENTIAL_ACCESS),
                  "An unusual user password reset was detected through the VM access extension."},
};
#undef T

const gen_alert_type *pd_gen_alert_type(uint32_t i)
{
    return i < AT__COUNT ? &alert_types[i] : NULL;
}

uint32_t pd_gen_alert_type_count(void)
{
    return AT__COUNT;
}

static const gen_score_group score_groups[GEN_NGROUPS] = {
    {"Secure management ports", 8, NULL},
    {"Restrict unauthorized network access", 4, NULL},
    {"Apply system updates", 6, "61702b76-1fab-41f2-bcbc-50b7870dcf38"}, /* from the sample */
    {"Remediate vulnerabilities", 6, NULL},
    {"Enable endpoint protection", 2, NULL},
    {"Remediate security configurations", 4, NULL},
    {"Enable encryption at rest", 4, NULL},
    {"Apply adaptive application control", 3, NULL},
    {"Enable auditing and logging", 1, NULL},
};

const gen_score_group *pd_gen_score_group(uint32_t i)
{
    return i < GEN_NGROUPS ? &score_groups[i] : NULL;
}

static const char *const sev_word[PD_SEV__COUNT] = {"Low",    "Informational", "Low",
                                                    "Medium", "High",          "Critical"};
static const char *const sev_upper[PD_SEV__COUNT] = {"LOW",    "INFORMATIONAL", "LOW",
                                                     "MEDIUM", "HIGH",          "CRITICAL"};

/* The severity a message states for a table control (Defender has no "unknown"). */
static pd_severity msg_sev(pd_severity s)
{
    return s == PD_SEV_UNKNOWN ? PD_SEV_LOW : s;
}

/* ---- meta ---- */

static void meta_reset(pd_gen_meta *m)
{
    memset(m, 0, sizeof(*m));
    static const char *const empty = "";
    m->key = m->resource_id = m->native_id = m->account = m->region = m->resource_group = empty;
    m->resource_name = m->resource_type = m->control_key = m->control_name = empty;
    m->event_id = m->alert_type = m->cve = m->standard = m->compliance_control = empty;
    m->compliance_state = empty;
    for (int i = 0; i < 3; i++)
        m->tags[i][0] = m->tags[i][1] = empty;
    m->time_ms = m->first_seen_ms = m->status_change_ms = m->alert_start_ms = PD_TIME_NONE;
    m->cvss = -1;
    m->server = UINT32_MAX;
}

static const char *account_of(const pd_gen *g, const gen_server *sv)
{
    switch (sv->cloud) {
    case PD_CLOUD_AWS:
        return gen_str(g, g->aws_acct[sv->acct]);
    case PD_CLOUD_GCP:
        return gen_str(g, g->gcp_proj[sv->acct]);
    default:
        return gen_str(g, g->subs[sv->sub].guid);
    }
}

static void meta_server(const pd_gen *g, uint32_t s, pd_gen_meta *m, bool native)
{
    const gen_server *sv = &g->servers[s];
    m->server = s;
    m->cloud = (pd_cloud)sv->cloud;
    m->key = gen_str(g, sv->key);
    m->resource_id = gen_str(g, native && sv->native ? sv->native : sv->id);
    m->native_id = gen_str(g, sv->native);
    m->account = account_of(g, sv);
    m->region = pd_gen_region(g, sv);
    m->resource_group = gen_str(g, sv->rg);
    m->resource_name = gen_str(g, sv->name);
    m->resource_type = gen_str(g, native && sv->native_type ? sv->native_type : sv->type);
    m->tags[0][0] = "env";
    m->tags[0][1] = pd_gen_env_name(sv->env);
    m->tags[1][0] = "owner";
    m->tags[1][1] = pd_gen_owner(sv);
    m->tags[2][0] = "tier";
    m->tags[2][1] = pd_gen_tier(sv);
}

/* ---- Defender: assessments ---- */

static void put_resource_details(const pd_gen *g, const gen_server *sv, pd_buf *b)
{
    if (sv->cloud == PD_CLOUD_AZURE || sv->cloud == PD_CLOUD_ONPREM) {
        PUT(b, "{\"source\":\"Azure\",\"id\":");
        put_q(b, gen_str(g, sv->id));
        pd_buf_putc(b, '}');
        return;
    }
    bool aws = sv->cloud == PD_CLOUD_AWS;
    if (aws)
        PUT(b, "{\"source\":\"Aws\",\"id\":");
    else
        PUT(b, "{\"source\":\"Gcp\",\"id\":");
    put_q(b, gen_str(g, sv->id));
    PUT(b, ",\"connectorId\":");
    put_q(b, gen_str(g, aws ? g->aws_conn[sv->acct] : g->gcp_conn[sv->acct]));
    PUT(b, ",\"region\":");
    put_q(b, pd_gen_region(g, sv));
    PUT(b, ",\"nativeResourceId\":");
    put_q(b, gen_str(g, sv->native));
    PUT(b, ",\"resourceName\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"resourceType\":");
    put_q(b, gen_str(g, sv->type));
    if (aws)
        PUT(b, ",\"resourceProvider\":\"aws\",\"hierarchyId\":");
    else
        PUT(b, ",\"resourceProvider\":\"gcp\",\"hierarchyId\":");
    put_q(b, account_of(g, sv));
    pd_buf_putc(b, '}');
}

static const char *status_code(pd_status s)
{
    switch (s) {
    case PD_STATUS_HEALTHY:
        return "Healthy";
    case PD_STATUS_NOT_APPLICABLE:
        return "NotApplicable";
    default:
        return "Unhealthy";
    }
}

static void write_defender_assessment(pd_gen *g, const gen_item *it, const gen_pair *p,
                                      pd_status st, pd_buf *b)
{
    const gen_server *sv = &g->servers[p->server];
    const gen_ctl *c = &g->ctls[p->ctl];
    const pd_control_def *d = c->def;
    const char *action = (it->flags & ITF_DELETE)     ? "Delete"
                         : (it->flags & ITF_SNAPSHOT) ? "Insert"
                                                      : "Write";
    bool snap = it->flags & ITF_SNAPSHOT;
    for (int k = 0; k < 2; k++) {
        if (k == 0)
            PUT(b, "{\"assessmentEventDataEnrichment\":{\"action\":\"");
        else
            PUT(b, ",\"securityEventDataEnrichment\":{\"action\":\"");
        put_s(b, action);
        if (snap)
            PUT(b, "\",\"apiVersion\":\"2019-01-01\",\"isSnapshot\":true}");
        else
            PUT(b, "\",\"apiVersion\":\"2019-01-01\",\"isSnapshot\":false}");
    }
    PUT(b, ",\"tenantId\":");
    put_q(b, gen_str(g, g->tenant));
    PUT(b,
        ",\"type\":\"Microsoft.Security/assessments\",\"kind\":null,\"location\":null,\"id\":\"");
    put_s(b, gen_str(g, sv->id));
    PUT(b, "/providers/Microsoft.Security/assessments/");
    put_s(b, d->key);
    PUT(b, "\",\"name\":");
    put_q(b, d->key);
    if (g->o.assessment_tags) {
        PUT(b, ",\"tags\":{\"env\":");
        put_q(b, pd_gen_env_name(sv->env));
        PUT(b, ",\"owner\":");
        put_q(b, pd_gen_owner(sv));
        PUT(b, ",\"tier\":");
        put_q(b, pd_gen_tier(sv));
        PUT(b, "},\"properties\":{\"resourceDetails\":");
    } else {
        PUT(b, ",\"tags\":null,\"properties\":{\"resourceDetails\":");
    }
    put_resource_details(g, sv, b);
    PUT(b, ",\"displayName\":");
    put_jq(b, d->name);
    PUT(b, ",\"status\":{\"code\":\"");
    put_s(b, status_code(st));
    if (st == PD_STATUS_NOT_APPLICABLE)
        PUT(b, "\",\"cause\":\"OffByPolicy\",\"description\":\"Not applicable to this machine");
    PUT(b, "\",\"statusChangeDate\":");
    put_time(b, p->change_ms, 7);
    PUT(b, ",\"firstEvaluationDate\":");
    put_time(b, p->first_ms, 7);
    PUT(b, "},\"additionalData\":{},\"metadata\":{\"displayName\":");
    put_jq(b, d->name);
    PUT(b, ",\"assessmentType\":\"BuiltIn\",\"description\":");
    put_jq(b, d->name);
    PUT(b, ",\"remediationDescription\":\"Follow the remediation steps of this recommendation in "
           "Defender for Cloud.\",\"categories\":");
    put_s(b, gen_str(g, c->categories));
    PUT(b, ",\"severity\":\"");
    put_s(b, sev_word[msg_sev(d->severity)]);
    PUT(b, "\",\"userImpact\":\"Low\",\"implementationEffort\":\"Low\",\"threats\":["
           "\"ThreatResistance\",\"DataExfiltration\"]},\"links\":{\"azurePortal\":\"portal.azure."
           "com/#blade/Microsoft_Azure_Security/RecommendationsBlade/assessmentKey/");
    put_s(b, d->key);
    PUT(b, "\"}}}");
}

/* ---- ASFF ---- */

static void write_asff(pd_gen *g, const gen_item *it, const gen_pair *p, pd_status st, bool del,
                       bool envelope, pd_buf *b, pd_gen_meta *m)
{
    const gen_server *sv = &g->servers[p->server];
    const pd_control_def *d = g->ctls[p->ctl].def;
    const char *region = pd_gen_region(g, sv), *acct = account_of(g, sv);
    char fid[37], env_id[37];
    hash_guid(g->o.seed ^ 0xa5ffULL, (uint64_t)(p - g->pairs), fid);
    size_t n = (size_t)snprintf(g->s_event, sizeof(g->s_event),
                                "arn:aws:securityhub:%s:%s:security-control/%s/finding/%s", region,
                                acct, d->key, fid);
    (void)n;
    m->event_id = g->s_event;
    if (envelope) {
        hash_guid(g->o.seed ^ 0xeb0ULL, it->seq, env_id);
        PUT(b, "{\"version\":\"0\",\"id\":");
        put_q(b, env_id);
        PUT(b, ",\"detail-type\":\"Security Hub Findings - Imported\",\"source\":\"aws."
               "securityhub\",\"account\":");
        put_q(b, acct);
        PUT(b, ",\"time\":");
        put_time(b, it->t, 3);
        PUT(b, ",\"region\":");
        put_q(b, region);
        PUT(b, ",\"resources\":[");
        put_q(b, g->s_event);
        PUT(b, "],\"detail\":{\"findings\":[");
    }
    pd_severity sev = msg_sev(d->severity);
    PUT(b, "{\"SchemaVersion\":\"2018-10-08\",\"Id\":");
    put_q(b, g->s_event);
    PUT(b, ",\"ProductArn\":\"arn:aws:securityhub:");
    put_s(b, region);
    PUT(b, "::product/aws/securityhub\",\"ProductName\":\"Security Hub\",\"CompanyName\":\"AWS\","
           "\"Region\":");
    put_q(b, region);
    PUT(b, ",\"GeneratorId\":\"security-control/");
    put_s(b, d->key);
    PUT(b, "\",\"AwsAccountId\":");
    put_q(b, acct);
    PUT(b, ",\"Types\":[\"Software and Configuration Checks/Industry and Regulatory "
           "Standards/AWS-Foundational-Security-Best-Practices\"],\"FirstObservedAt\":");
    put_time(b, p->first_ms, 3);
    PUT(b, ",\"LastObservedAt\":");
    put_time(b, it->t, 3);
    PUT(b, ",\"CreatedAt\":");
    put_time(b, p->first_ms, 3);
    PUT(b, ",\"UpdatedAt\":");
    put_time(b, it->t, 3);
    PUT(b, ",\"Severity\":{\"Label\":\"");
    put_s(b, sev_upper[sev]);
    PUT(b, "\",\"Original\":\"");
    put_s(b, sev_upper[sev]);
    PUT(b, "\"},\"Title\":\"");
    put_s(b, d->key);
    pd_buf_putc(b, ' ');
    put_jq_tail(b, d->name);
    PUT(b, ",\"Description\":");
    put_jq(b, d->name);
    PUT(b, ",\"Remediation\":{\"Recommendation\":{\"Text\":\"For information on how to correct "
           "this issue, consult the AWS Security Hub controls documentation.\",\"Url\":\"https://"
           "docs.aws.amazon.com/console/securityhub/");
    put_s(b, d->key);
    PUT(b, "/remediation\"}},\"ProductFields\":{\"ControlId\":\"");
    put_s(b, d->key);
    PUT(b, "\",\"StandardsArn\":\"arn:aws:securityhub:::standards/aws-foundational-security-best-"
           "practices/v/1.0.0\",\"aws/securityhub/ProductName\":\"Security Hub\","
           "\"aws/securityhub/CompanyName\":\"AWS\",\"Resources:0/Id\":");
    put_q(b, gen_str(g, sv->native));
    PUT(b, "},\"Resources\":[{\"Type\":\"AwsEc2Instance\",\"Id\":");
    put_q(b, gen_str(g, sv->native));
    PUT(b, ",\"Partition\":\"aws\",\"Region\":");
    put_q(b, region);
    PUT(b, ",\"Tags\":{\"Name\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"env\":");
    put_q(b, pd_gen_env_name(sv->env));
    PUT(b, ",\"owner\":");
    put_q(b, pd_gen_owner(sv));
    PUT(b, ",\"tier\":");
    put_q(b, pd_gen_tier(sv));
    PUT(b, "},\"Details\":{\"AwsEc2Instance\":{\"ImageId\":\"ami-0a1b2c3d4e5f60718\","
           "\"IpV4Addresses\":[");
    put_q(b, gen_str(g, sv->ip));
    PUT(b, "],\"LaunchedAt\":");
    put_time(b, p->first_ms, 3);
    PUT(b, "}}}],\"Compliance\":{\"Status\":\"");
    put_s(b, st == PD_STATUS_HEALTHY     ? "PASSED"
             : st == PD_STATUS_UNHEALTHY ? "FAILED"
                                         : "NOT_AVAILABLE");
    PUT(b, "\",\"SecurityControlId\":\"");
    put_s(b, d->key);
    PUT(b, "\",\"AssociatedStandards\":[{\"StandardsId\":\"standards/aws-foundational-security-"
           "best-practices/v/1.0.0\"}]},\"WorkflowState\":\"NEW\",\"Workflow\":{\"Status\":\"");
    put_s(b, st == PD_STATUS_UNHEALTHY ? "NEW" : "RESOLVED");
    PUT(b, "\"},\"RecordState\":\"");
    put_s(b, del ? "ARCHIVED" : "ACTIVE");
    PUT(b, "\"}");
    if (envelope)
        PUT(b, "]}}");
}

/* ---- SCC ---- */

static void put_scc_resource_snake(const pd_gen *g, const gen_server *sv, pd_buf *b)
{
    const char *proj = gen_str(g, g->gcp_proj[sv->acct]);
    const char *num = gen_str(g, g->gcp_projnum[sv->acct]);
    PUT(b, "{\"name\":");
    put_q(b, gen_str(g, sv->native));
    PUT(b, ",\"display_name\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"project_name\":\"//cloudresourcemanager.googleapis.com/projects/");
    put_s(b, num);
    PUT(b, "\",\"project_display_name\":");
    put_q(b, proj);
    PUT(b, ",\"parent_name\":\"//cloudresourcemanager.googleapis.com/projects/");
    put_s(b, num);
    PUT(b, "\",\"parent_display_name\":");
    put_q(b, proj);
    PUT(b, ",\"type\":\"google.compute.Instance\",\"folders\":[]}");
}

/* One SCC finding: a misconfiguration/vulnerability pair (p != NULL) or a threat. */
static void write_scc(pd_gen *g, const gen_item *it, const gen_server *sv, const gen_pair *p,
                      pd_status st, bool envelope, pd_buf *b, pd_gen_meta *m)
{
    const char *org = gen_str(g, g->org);
    const char *category, *cls, *sev;
    char fid[37];
    if (p) {
        const pd_control_def *d = g->ctls[p->ctl].def;
        category = d->key;
        cls = !strcmp(d->category, "vulnerability") ? "VULNERABILITY" : "MISCONFIGURATION";
        sev = sev_upper[msg_sev(d->severity)];
        hash_guid(g->o.seed ^ 0x5cc0ULL, (uint64_t)(p - g->pairs), fid);
    } else {
        category = alert_types[AT_SCC_BRUTE].type;
        cls = "THREAT";
        sev = sev_upper[alert_types[AT_SCC_BRUTE].sev];
        hash_guid(g->o.seed ^ 0x5cc1ULL, it->seq, fid);
    }
    char hexid[33];
    int k = 0;
    for (int i = 0; fid[i] && k < 32; i++)
        if (fid[i] != '-')
            hexid[k++] = fid[i];
    hexid[k] = '\0';
    snprintf(g->s_event, sizeof(g->s_event), "organizations/%s/sources/%u/findings/%s", org,
             p ? 4242u : 7117u, hexid);
    m->event_id = g->s_event;
    if (envelope) {
        PUT(b, "{\"notificationConfigName\":\"organizations/");
        put_s(b, org);
        PUT(b, "/notificationConfigs/postured-findings\",\"finding\":");
    } else {
        PUT(b, "{\"finding\":");
    }
    PUT(b, "{\"name\":");
    put_q(b, g->s_event);
    PUT(b, ",\"parent\":\"organizations/");
    put_s(b, org);
    put_s(b, p ? "/sources/4242\"" : "/sources/7117\"");
    PUT(b, ",\"resourceName\":");
    put_q(b, gen_str(g, sv->native));
    PUT(b, ",\"state\":\"");
    put_s(b, st == PD_STATUS_UNHEALTHY ? "ACTIVE" : "INACTIVE");
    PUT(b, "\",\"category\":");
    put_q(b, category);
    PUT(b, ",\"sourceProperties\":{");
    if (p) {
        const pd_control_def *d = g->ctls[p->ctl].def;
        PUT(b, "\"ScannerName\":\"COMPUTE_INSTANCE_SCANNER\",\"ReactivationCount\":0,"
               "\"Explanation\":");
        put_jq(b, d->name);
        /* compliance_standards from the table's framework ids, grouped like SCC does. */
        static const struct {
            const char *prefix, *key;
        } stds[] = {{"CIS-GCP:", "cis"}, {"NIST:", "nist"}, {"PCI:", "pci"}, {"ISO27001:", "iso"}};
        PUT(b, ",\"compliance_standards\":{");
        bool first_std = true;
        for (size_t s = 0; s < PD_ARRAY_LEN(stds); s++) {
            bool any = false;
            size_t plen = strlen(stds[s].prefix);
            for (uint32_t f = 0; f < d->nframeworks; f++) {
                if (strncmp(d->frameworks[f], stds[s].prefix, plen))
                    continue;
                if (!any) {
                    if (!first_std)
                        pd_buf_putc(b, ',');
                    pd_buf_putc(b, '"');
                    put_s(b, stds[s].key);
                    PUT(b, "\":[{\"ids\":[");
                    any = true;
                    first_std = false;
                } else {
                    pd_buf_putc(b, ',');
                }
                put_q(b, d->frameworks[f] + plen);
            }
            if (any)
                PUT(b, "]}]");
        }
        PUT(b, "}},\"securityMarks\":{},\"eventTime\":");
    } else {
        PUT(b, "\"detectionCategory\":{\"technique\":\"brute_force\",\"indicator\":\"flow_log\","
               "\"ruleName\":\"ssh_brute_force\"},\"properties\":{\"projectId\":");
        put_q(b, gen_str(g, g->gcp_proj[sv->acct]));
        PUT(b, ",\"zone\":");
        put_q(b, pd_gen_region(g, sv));
        PUT(b, ",\"instanceId\":");
        put_q(b, gen_str(g, sv->instance));
        PUT(b, ",\"attempts\":[{\"sourceIp\":\"198.51.100.23\",\"username\":\"admin\",\"vmName\":");
        put_q(b, gen_str(g, sv->name));
        PUT(b, ",\"authResult\":\"SUCCESS\"}]}},\"securityMarks\":{},\"mitreAttack\":{"
               "\"primaryTactic\":\"INITIAL_ACCESS\",\"primaryTechniques\":[\"VALID_ACCOUNTS\"]},"
               "\"eventTime\":");
    }
    put_time(b, it->t, 3);
    PUT(b, ",\"createTime\":");
    put_time(b, p ? p->first_ms : it->t, 3);
    PUT(b, ",\"severity\":\"");
    put_s(b, sev);
    PUT(b, "\",\"findingClass\":\"");
    put_s(b, cls);
    PUT(b, "\",\"mute\":\"UNDEFINED\",\"resource\":");
    put_scc_resource_snake(g, sv, b);
    pd_buf_putc(b, '}');
    if (envelope) {
        PUT(b, ",\"resource\":{\"name\":");
        put_q(b, gen_str(g, sv->native));
        PUT(b, ",\"project\":\"//cloudresourcemanager.googleapis.com/projects/");
        put_s(b, gen_str(g, g->gcp_projnum[sv->acct]));
        PUT(b, "\",\"projectDisplayName\":");
        put_q(b, gen_str(g, g->gcp_proj[sv->acct]));
        PUT(b, ",\"type\":\"google.compute.Instance\",\"displayName\":");
        put_q(b, gen_str(g, sv->name));
        pd_buf_putc(b, '}');
    }
    pd_buf_putc(b, '}');
}

static int render_assess(pd_gen *g, const gen_item *it, pd_buf *b, pd_gen_meta *m)
{
    gen_pair *p = &g->pairs[it->a];
    gen_server *sv = &g->servers[p->server];
    bool del = it->flags & ITF_DELETE;
    if (!del && it->t >= sv->dead_at)
        return PD_ENOTFOUND;
    pd_status st;
    if (it->flags & ITF_CHANGE) {
        p->change_ms = it->t;
        pd_gen_set_status(g, p, (pd_status)it->target);
        st = (pd_status)it->target;
    } else {
        st = (pd_status)p->status;
        if (del)
            pd_gen_set_status(g, p, PD_STATUS_REMOVED);
    }
    const pd_control_def *d = g->ctls[p->ctl].def;
    meta_server(g, p->server, m, p->shape != SHAPE_DEFENDER);
    m->kind = PD_KIND_ASSESSMENT;
    m->control_key = d->key;
    m->control_name = d->name;
    m->status = st;
    m->severity = msg_sev(d->severity);
    m->time_ms = it->t;
    m->first_seen_ms = p->first_ms;
    m->status_change_ms = p->change_ms;
    m->snapshot = it->flags & ITF_SNAPSHOT;
    m->deleted = del;
    m->incident = (pd_gen_incident)it->inc;
    bool envelope = pd_hash_mix(g->o.seed, it->seq) & 1;
    if (p->shape == SHAPE_ASFF) {
        m->format = PD_FMT_ASFF;
        m->envelope = envelope;
        write_asff(g, it, p, st, del, envelope, b, m);
        m->status_change_ms = PD_TIME_NONE;
        if (del)
            m->status = st;
    } else if (p->shape == SHAPE_SCC) {
        m->format = PD_FMT_SCC;
        m->envelope = envelope;
        write_scc(g, it, sv, p, del ? PD_STATUS_HEALTHY : st, envelope, b, m);
        m->deleted = false; /* SCC has no delete: a gone resource's finding turns INACTIVE */
        m->status = del || st != PD_STATUS_UNHEALTHY ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY;
        m->status_change_ms = PD_TIME_NONE;
    } else {
        m->format = PD_FMT_DEFENDER;
        snprintf(g->s_event, sizeof(g->s_event), "%s/providers/Microsoft.Security/assessments/%s",
                 gen_str(g, sv->id), d->key);
        m->event_id = g->s_event;
        write_defender_assessment(g, it, p, st, b);
    }
    return 0;
}

/* ---- Defender: sub-assessments (CVE findings), PascalCase with $type as captured ---- */

static const char *const packages[] = {"openssl", "glibc", "curl", "sudo",  "openssh",
                                       "libxml2", "zlib",  "bash", "nginx", "python3"};

/* Security baseline rules as the Linux and Windows baselines name them. */
static const struct {
    const char *name;
    pd_severity sev;
    unsigned msid;
} linux_rules[] = {{"Ensure DCCP is disabled", PD_SEV_LOW, 54},
                   {"Ensure SCTP is disabled", PD_SEV_LOW, 55},
                   {"Ensure SSH root login is disabled", PD_SEV_HIGH, 113},
                   {"Ensure permissions on /etc/ssh/sshd_config are configured", PD_SEV_MEDIUM,
                    106},
                   {"Ensure auditd service is enabled", PD_SEV_MEDIUM, 161},
                   {"Ensure password expiration is 365 days or less", PD_SEV_LOW, 187}},
  windows_rules[] = {
      {"Minimum password length", PD_SEV_MEDIUM, 1131},
      {"Audit Logon", PD_SEV_MEDIUM, 3001},
      {"Accounts: Guest account status", PD_SEV_HIGH, 2010},
      {"Network access: Do not allow anonymous enumeration of SAM accounts", PD_SEV_HIGH, 2214},
      {"Interactive logon: Do not display last user name", PD_SEV_LOW, 2044}};

static int render_sub(pd_gen *g, const gen_item *it, pd_buf *b, pd_gen_meta *m)
{
    gen_pair *p = &g->pairs[it->a];
    gen_server *sv = &g->servers[p->server];
    if (it->t >= sv->dead_at)
        return PD_ENOTFOUND;
    uint32_t vgen = it->b >> 4, j = it->b & 15;
    uint64_t h = pd_hash_mix(pd_hash_mix(g->o.seed ^ 0xc7eULL, (uint64_t)it->a), vgen * 16 + j);
    unsigned year = 2019 + (unsigned)(h % 7), num = 1000 + (unsigned)((h >> 8) % 49000);
    double cvss = 3.0 + (double)((h >> 24) % 70) / 10.0;
    bool fix = ((h >> 40) % 10) < 7;
    const char *pkg = packages[(h >> 44) % PD_ARRAY_LEN(packages)];
    pd_severity sev = cvss >= 7.0 ? PD_SEV_HIGH : (cvss >= 4.0 ? PD_SEV_MEDIUM : PD_SEV_LOW);
    snprintf(g->s_cve, sizeof(g->s_cve), "CVE-%u-%u", year, num);
    char sid[37];
    hash_guid(h, 0x5ab, sid);
    const gen_ctl *c = &g->ctls[p->ctl];
    bool baseline = !pd_control_has_role(c->def, PD_ROLE_VULNERABILITY_FINDINGS);
    const char *rule = NULL;
    unsigned msid = 0;
    if (baseline) {
        if (sv->os == OS_LINUX) {
            size_t k = (h >> 44) % PD_ARRAY_LEN(linux_rules);
            rule = linux_rules[k].name;
            sev = linux_rules[k].sev;
            msid = linux_rules[k].msid;
        } else {
            size_t k = (h >> 44) % PD_ARRAY_LEN(windows_rules);
            rule = windows_rules[k].name;
            sev = windows_rules[k].sev;
            msid = windows_rules[k].msid;
        }
    }
    pd_status st = (pd_status)it->target;
    const char *action = (it->flags & ITF_SNAPSHOT) ? "Insert" : "Write";
    bool snap = it->flags & ITF_SNAPSHOT;
    PUT(b, "{\"$type\":\"subAssessmentEvent\"");
    for (int k = 0; k < 2; k++) {
        if (k == 0)
            PUT(b, ",\"SubAssessmentEventDataEnrichment\":{");
        else
            PUT(b, ",\"SecurityEventDataEnrichment\":{");
        PUT(b, "\"$type\":\"subAssessmentEventDataEnrichment\",\"Action\":\"");
        put_s(b, action);
        if (snap)
            PUT(b, "\",\"ApiVersion\":\"2020-01-01\",\"IsSnapshot\":true}");
        else
            PUT(b, "\",\"ApiVersion\":\"2020-01-01\",\"IsSnapshot\":false}");
    }
    PUT(b, ",\"TenantId\":");
    put_q(b, gen_str(g, g->tenant));
    PUT(b, ",\"Type\":\"Microsoft.Security/assessments/subAssessments\",\"Id\":\"");
    size_t id_at = b->len;
    put_s(b, gen_str(g, sv->id));
    PUT(b, "/providers/Microsoft.Security/assessments/");
    put_s(b, c->def->key);
    PUT(b, "/subassessments/");
    put_s(b, sid);
    size_t id_len = b->len - id_at;
    if (id_len < sizeof(g->s_event)) {
        memcpy(g->s_event, b->p + id_at, id_len);
        g->s_event[id_len] = '\0';
    } else {
        g->s_event[0] = '\0';
    }
    PUT(b, "\",\"Name\":");
    put_q(b, sid);
    if (baseline) {
        /* The captured shape (elastic sample): a rule result of the OS baseline. */
        PUT(b, ",\"Properties\":{\"$type\":\"response/subAssessmentProperties\",\"Id\":");
        put_q(b, sid);
        PUT(b, ",\"DisplayName\":");
        put_q(b, rule);
        PUT(b, ",\"Status\":{\"$type\":\"status\",\"Code\":\"");
        put_s(b, st == PD_STATUS_UNHEALTHY ? "Unhealthy" : "Healthy");
        PUT(b, "\",\"Severity\":\"");
        put_s(b, sev_word[sev]);
        PUT(b, "\"},\"Remediation\":\"Apply the setting the rule describes.\",\"Impact\":\"A "
               "weaker configuration widens the attack surface.\",\"Category\":\"N/A\","
               "\"Description\":");
        put_q(b, rule);
        PUT(b, ",\"TimeGenerated\":");
        put_time(b, it->t, 7);
        PUT(b, ",\"ResourceDetails\":{\"$type\":\"resourceDetails/azure\",\"Source\":\"Azure\","
               "\"Id\":");
        put_q(b, gen_str(g, sv->id));
        PUT(b, "},\"AdditionalData\":{\"$type\":\"additionalData/general\","
               "\"AssessedResourceType\":\"GeneralVulnerability\",\"Data\":{\"OsName\":\"");
        put_s(b, sv->os == OS_LINUX ? "Linux" : "Windows");
        PUT(b, "\",\"RuleType\":\"Command\",\"Vulnerability\":\"\",\"AZID\":\"MSID ");
        put_u64(b, msid);
        PUT(b, "\",\"DataSourceType\":\"Not Applicable\",\"DataSourceKey\":\"Not "
               "Applicable\"}}}}");
        meta_server(g, p->server, m, false);
        m->kind = PD_KIND_VULNERABILITY;
        m->format = PD_FMT_DEFENDER;
        m->control_key = c->def->key;
        m->control_name = c->def->name;
        m->status = st;
        m->severity = sev;
        m->time_ms = it->t;
        m->snapshot = snap;
        m->event_id = g->s_event;
        m->incident = (pd_gen_incident)it->inc;
        return 0;
    }
    PUT(b, ",\"Properties\":{\"$type\":\"response/subAssessmentProperties\",\"Id\":");
    put_q(b, g->s_cve);
    PUT(b, ",\"DisplayName\":\"");
    put_s(b, pkg);
    PUT(b, " vulnerability (");
    put_s(b, g->s_cve);
    PUT(b, ")\",\"Status\":{\"$type\":\"status\",\"Code\":\"");
    put_s(b, st == PD_STATUS_UNHEALTHY ? "Unhealthy" : "Healthy");
    PUT(b, "\",\"Severity\":\"");
    put_s(b, sev_word[sev]);
    PUT(b, "\"},\"Remediation\":\"Update the ");
    put_s(b, pkg);
    PUT(b, " package to the latest version.\",\"Impact\":\"An attacker may exploit the "
           "vulnerable package.\",\"Category\":\"");
    put_s(b, sv->os == OS_LINUX ? "Ubuntu" : "Windows");
    PUT(b, "\",\"Description\":\"A vulnerability was found in ");
    put_s(b, pkg);
    PUT(b, ".\",\"TimeGenerated\":");
    put_time(b, it->t, 7);
    PUT(b,
        ",\"ResourceDetails\":{\"$type\":\"resourceDetails/azure\",\"Source\":\"Azure\",\"Id\":");
    put_q(b, gen_str(g, sv->id));
    PUT(b, "},\"AdditionalData\":{\"$type\":\"additionalData/serverVulnerability\","
           "\"AssessedResourceType\":\"ServerVulnerabilityAssessment\",\"Type\":\"Vulnerability\","
           "\"Cvss\":{\"2.0\":null,\"3.0\":{\"Base\":");
    put_fixed2(b, cvss);
    PUT(b, "}},\"Patchable\":");
    if (fix)
        PUT(b, "true");
    else
        PUT(b, "false");
    PUT(b, ",\"Cve\":[{\"Title\":");
    put_q(b, g->s_cve);
    PUT(b, ",\"Link\":\"https://nvd.nist.gov/vuln/detail/");
    put_s(b, g->s_cve);
    PUT(b, "\"}],\"Threat\":\"Exploit not known\",\"PublishedTime\":");
    put_time(b, p->first_ms, 7);
    PUT(b, "}}}");
    meta_server(g, p->server, m, false);
    m->kind = PD_KIND_VULNERABILITY;
    m->format = PD_FMT_DEFENDER;
    m->control_key = c->def->key;
    m->control_name = c->def->name;
    m->status = st;
    m->severity = sev;
    m->time_ms = it->t;
    m->snapshot = snap;
    m->event_id = g->s_event;
    m->cve = g->s_cve;
    m->cvss = (double)(uint64_t)(cvss * 100.0 + 0.5) / 100.0;
    m->fix_available = fix;
    m->incident = (pd_gen_incident)it->inc;
    return 0;
}

/* ---- Defender: alerts (flat PascalCase, as continuous export writes them) ---- */

/* The REST shape of an alert (Microsoft.Security/locations/alerts, camelCase under
 * properties), as the alerts API and Azure Resource Graph return it. */
static void write_rest_alert(pd_gen *g, const gen_server *sv, const gen_alert_type *at,
                             int64_t start, int64_t t, pd_buf *b)
{
    const char *sub = gen_str(g, g->subs[sv->sub].guid);
    const char *id = gen_str(g, sv->id);
    const char *loc = sv->cloud == PD_CLOUD_AZURE || sv->cloud == PD_CLOUD_ONPREM
                          ? pd_gen_region(g, sv)
                          : "centralus";
    PUT(b, "{\"id\":\"/subscriptions/");
    put_s(b, sub);
    PUT(b, "/resourceGroups/");
    put_s(b, gen_str(g, sv->rg));
    PUT(b, "/providers/Microsoft.Security/locations/");
    put_s(b, loc);
    PUT(b, "/alerts/");
    put_s(b, g->s_alert);
    PUT(b, "\",\"name\":");
    put_q(b, g->s_alert);
    PUT(b, ",\"type\":\"Microsoft.Security/Locations/alerts\",\"properties\":{\"status\":"
           "\"Active\",\"timeGeneratedUtc\":");
    put_time(b, t, 7);
    PUT(b, ",\"processingEndTimeUtc\":");
    put_time(b, t + 2000, 7);
    PUT(b, ",\"version\":\"2022-01-01.0\",\"vendorName\":\"Microsoft\",\"productName\":"
           "\"Microsoft Defender for Cloud\",\"productComponentName\":\"Servers\","
           "\"alertType\":");
    put_q(b, at->type);
    PUT(b, ",\"startTimeUtc\":");
    put_time(b, start, 7);
    PUT(b, ",\"endTimeUtc\":");
    put_time(b, start, 7);
    PUT(b, ",\"severity\":\"");
    put_s(b, sev_word[at->sev]);
    PUT(b, "\",\"isIncident\":false,\"systemAlertId\":");
    put_q(b, g->s_alert);
    PUT(b, ",\"intent\":");
    put_q(b, at->intent);
    PUT(b, ",\"resourceIdentifiers\":[{\"type\":\"AzureResource\",\"azureResourceId\":");
    put_q(b, id);
    PUT(b, "}],\"compromisedEntity\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"alertDisplayName\":");
    put_q(b, at->display);
    PUT(b, ",\"description\":");
    put_q(b, at->description);
    PUT(b, ",\"remediationSteps\":[\"Review the activity on the machine and isolate it if it "
           "is not expected.\"],\"extendedProperties\":{\"resourceType\":\"");
    put_s(b, sv->cloud == PD_CLOUD_ONPREM ? "Hybrid Machine" : "Virtual Machine");
    PUT(b, "\"},\"entities\":[{\"$id\":\"2\",\"hostName\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"azureID\":");
    put_q(b, id);
    PUT(b, ",\"type\":\"host\"}],\"alertUri\":\"https://portal.azure.com/#blade/"
           "Microsoft_Azure_Security_AzureDefenderForData/AlertBlade/alertId/");
    put_s(b, g->s_alert);
    PUT(b, "\"}}");
}

static int render_alert(pd_gen *g, const gen_item *it, pd_buf *b, pd_gen_meta *m)
{
    gen_server *sv = &g->servers[it->a];
    if (it->t >= sv->dead_at)
        return PD_ENOTFOUND;
    const gen_alert_type *at = &alert_types[it->b];
    meta_server(g, it->a, m, it->b == AT_SCC_BRUTE);
    m->kind = PD_KIND_ALERT;
    m->time_ms = it->t;
    m->alert_type = at->type;
    m->tactics = at->tactics;
    m->severity = at->sev;
    m->incident = (pd_gen_incident)it->inc;
    m->status = PD_STATUS_UNHEALTHY;
    if (it->b == AT_SCC_BRUTE) {
        bool envelope = pd_hash_mix(g->o.seed, it->seq) & 1;
        m->format = PD_FMT_SCC;
        m->envelope = envelope;
        m->alert_start_ms = it->t;
        m->control_key = at->type;
        write_scc(g, it, sv, NULL, PD_STATUS_UNHEALTHY, envelope, b, m);
        return 0;
    }
    m->format = PD_FMT_DEFENDER;
    /* The alert names the resource by its Azure id (for aws/gcp servers the Defender
     * connector's entity) in the subscription that holds it. */
    m->account = gen_str(g, g->subs[sv->sub].guid);
    int64_t start = it->t - 1000 * (int64_t)(1 + pd_hash_mix(it->seq, 77) % 90);
    m->alert_start_ms = start;
    char gid[37];
    hash_guid(g->o.seed ^ 0xa1e7ULL, it->seq, gid);
    /* SystemAlertId: (DateTime.MaxValue.Ticks - start ticks) + "_" + a GUID, as Defender. */
    uint64_t ticks = (uint64_t)start * 10000ULL + 621355968000000000ULL;
    uint64_t inv = 3155378975999999999ULL - ticks;
    char num[24];
    int nn = 0;
    do {
        num[nn++] = (char)('0' + inv % 10);
        inv /= 10;
    } while (inv);
    int k = 0;
    while (nn)
        g->s_alert[k++] = num[--nn];
    g->s_alert[k++] = '_';
    memcpy(g->s_alert + k, gid, 37);
    m->event_id = g->s_alert;
    const char *sub = gen_str(g, g->subs[sv->sub].guid);
    const char *id = gen_str(g, sv->id);
    if (g->o.alert_rest_pct &&
        pd_hash_mix(g->o.seed ^ 0x7e57ULL, it->seq) % 100 < (uint64_t)g->o.alert_rest_pct) {
        write_rest_alert(g, sv, at, start, it->t, b);
        m->rest_shape = true;
        m->region = sv->cloud == PD_CLOUD_AZURE || sv->cloud == PD_CLOUD_ONPREM
                        ? pd_gen_region(g, sv)
                        : "centralus";
        return 0;
    }
    PUT(b, "{\"VendorName\":\"Microsoft\",\"AlertType\":");
    put_q(b, at->type);
    PUT(b, ",\"ProductName\":\"Microsoft Defender for Cloud\",\"StartTimeUtc\":");
    put_time(b, start, 7);
    PUT(b, ",\"EndTimeUtc\":");
    put_time(b, start, 7);
    PUT(b, ",\"TimeGenerated\":");
    put_time(b, it->t, 7);
    PUT(b, ",\"ProcessingEndTime\":");
    put_time(b, it->t + 2000, 7);
    PUT(b, ",\"Severity\":\"");
    put_s(b, sev_word[at->sev]);
    PUT(b, "\",\"Status\":\"New\",\"ProviderAlertStatus\":null,\"ConfidenceLevel\":null,"
           "\"ConfidenceScore\":null,\"ConfidenceReasons\":null,\"IsIncident\":false,"
           "\"SystemAlertId\":");
    put_q(b, g->s_alert);
    PUT(b, ",\"CorrelationKey\":null,\"Intent\":");
    put_q(b, at->intent);
    PUT(b, ",\"AzureResourceId\":");
    put_q(b, id);
    PUT(b, ",\"AzureResourceSubscriptionId\":");
    put_q(b, sub);
    PUT(b, ",\"WorkspaceId\":null,\"WorkspaceSubscriptionId\":null,\"WorkspaceResourceGroup\":"
           "null,\"AgentId\":null,\"CompromisedEntity\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"AlertDisplayName\":");
    put_q(b, at->display);
    PUT(b, ",\"Description\":");
    put_q(b, at->description);
    PUT(b, ",\"Entities\":[{\"$id\":\"2\",\"HostName\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"AzureID\":");
    put_q(b, id);
    PUT(b, ",\"OMSAgentID\":");
    put_q(b, gen_str(g, sv->vmid));
    PUT(b, ",\"OSFamily\":\"");
    put_s(b, sv->os == OS_LINUX ? "Linux" : "Windows");
    PUT(b, "\",\"Asset\":true,\"Type\":\"host\"},{\"$id\":\"3\",\"Name\":\"svc-deploy\","
           "\"Host\":{\"$ref\":\"2\"},\"Asset\":false,\"Type\":\"account\"},{\"$id\":\"4\","
           "\"Address\":");
    put_q(b, gen_str(g, sv->ip));
    PUT(b, ",\"Asset\":false,\"Type\":\"ip\"}],\"ExtendedLinks\":[],\"ResourceIdentifiers\":["
           "{\"$id\":\"5\",\"AzureResourceId\":");
    put_q(b, id);
    PUT(b, ",\"Type\":\"AzureResource\",\"AzureResourceTenantId\":");
    put_q(b, gen_str(g, g->tenant));
    PUT(b, "}],\"RemediationSteps\":[\"Review the activity on the machine and isolate it if it is "
           "not expected.\"],\"ExtendedProperties\":{\"resourceType\":\"");
    put_s(b, sv->cloud == PD_CLOUD_ONPREM ? "Hybrid Machine" : "Virtual Machine");
    PUT(b, "\",\"Compromised Host\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"Account\":\"svc-deploy\"},\"AlertUri\":\"https://portal.azure.com/#blade/"
           "Microsoft_Azure_Security_AzureDefenderForData/AlertBlade/alertId/");
    put_s(b, g->s_alert);
    PUT(b, "/subscriptionId/");
    put_s(b, sub);
    PUT(b, "\"}");
    return 0;
}

/* ---- Defender: secure score and secure score controls ---- */

static int render_score(pd_gen *g, const gen_item *it, pd_buf *b, pd_gen_meta *m)
{
    const gen_subinfo *si = &g->subs[it->a];
    const char *sub = gen_str(g, si->guid);
    meta_reset(m);
    m->kind = PD_KIND_SCORE;
    m->format = PD_FMT_DEFENDER;
    m->time_ms = it->t;
    m->account = sub;
    m->key = gen_str(g, si->key);
    PUT(b, "{\"securityEventDataEnrichment\":{\"action\":\"Insert\",\"apiVersion\":\"2020-01-01\","
           "\"isSnapshot\":false},\"id\":\"/subscriptions/");
    put_s(b, sub);
    if (it->type == IT_SCORE) {
        double max = 0, cur = 0;
        uint32_t h = 0, u = 0, na = 0;
        for (int k = 0; k < GEN_NGROUPS; k++) {
            const uint32_t *c = si->cls[k];
            if (c[0] + c[1] == 0)
                continue;
            max += score_groups[k].max;
            cur += score_groups[k].max * (double)c[0] / (double)(c[0] + c[1]);
            h += c[0];
            u += c[1];
            na += c[2];
        }
        cur = (double)(uint64_t)(cur * 100.0 + 0.5) / 100.0;
        double pct = max > 0 ? (double)(uint64_t)(cur / max * 10000.0 + 0.5) / 10000.0 : 0;
        PUT(b, "/providers/Microsoft.Security/secureScores/ascScore\",\"name\":\"ascScore\","
               "\"type\":\"Microsoft.Security/secureScores\",\"properties\":{\"displayName\":"
               "\"ASC score\",\"score\":{\"max\":");
        put_fixed2(b, max);
        PUT(b, ",\"current\":");
        put_fixed2(b, cur);
        PUT(b, ",\"percentage\":");
        pd_buf_json_num(b, pct);
        PUT(b, "},\"weight\":");
        put_u64(b, h + u);
        PUT(b, "}}");
        snprintf(g->s_event, sizeof(g->s_event),
                 "/subscriptions/%s/providers/Microsoft.Security/secureScores/ascScore", sub);
        m->event_id = g->s_event;
        m->score_current = cur;
        m->score_max = max;
        m->score_percentage = pct;
        m->healthy = h;
        m->unhealthy = u;
        m->not_applicable = na;
        return 0;
    }
    uint32_t k = it->b;
    const uint32_t *c = si->cls[k];
    if (c[0] + c[1] + c[2] == 0)
        return PD_ENOTFOUND;
    const gen_score_group *sg = &score_groups[k];
    const char *cid = gen_str(g, g->grp_id[k]);
    double cur = c[0] + c[1] ? sg->max * (double)c[0] / (double)(c[0] + c[1]) : 0;
    cur = (double)(uint64_t)(cur * 100.0 + 0.5) / 100.0;
    double pct = sg->max ? (double)(uint64_t)(cur / sg->max * 10000.0 + 0.5) / 10000.0 : 0;
    PUT(b, "/providers/Microsoft.Security/secureScores/ascScore/secureScoreControls/");
    put_s(b, cid);
    PUT(b, "\",\"name\":");
    put_q(b, cid);
    PUT(b, ",\"type\":\"Microsoft.Security/secureScores/secureScoreControls\",\"properties\":{"
           "\"displayName\":");
    put_q(b, sg->name);
    PUT(b, ",\"healthyResourceCount\":");
    put_u64(b, c[0]);
    PUT(b, ",\"unhealthyResourceCount\":");
    put_u64(b, c[1]);
    PUT(b, ",\"notApplicableResourceCount\":");
    put_u64(b, c[2]);
    PUT(b, ",\"score\":{\"max\":");
    put_u64(b, (uint64_t)sg->max);
    PUT(b, ",\"current\":");
    put_fixed2(b, cur);
    PUT(b, ",\"percentage\":");
    pd_buf_json_num(b, pct);
    PUT(b, "},\"definition\":{\"id\":\"/providers/Microsoft.Security/"
           "secureScoreControlDefinitions/");
    put_s(b, cid);
    PUT(b, "\",\"name\":");
    put_q(b, cid);
    PUT(b, ",\"type\":\"Microsoft.Security/secureScoreControlDefinitions\",\"properties\":{"
           "\"source\":{\"sourceType\":\"BuiltIn\"},\"displayName\":");
    put_q(b, sg->name);
    PUT(b, ",\"maxScore\":");
    put_u64(b, (uint64_t)sg->max);
    PUT(b, ",\"assessmentDefinitions\":");
    put_s(b, gen_str(g, g->grp_defs[k]));
    PUT(b, "}},\"weight\":");
    put_u64(b, c[0] + c[1]);
    PUT(b, "}}");
    snprintf(g->s_event, sizeof(g->s_event),
             "/subscriptions/%s/providers/Microsoft.Security/secureScores/ascScore/"
             "secureScoreControls/%s",
             sub, cid);
    m->event_id = g->s_event;
    m->control_key = cid;
    m->control_name = sg->name;
    m->score_current = cur;
    m->score_max = sg->max;
    m->score_percentage = pct;
    m->healthy = c[0];
    m->unhealthy = c[1];
    m->not_applicable = c[2];
    return 0;
}

/* ---- Defender: regulatory compliance assessments ---- */

static int render_compliance(pd_gen *g, const gen_item *it, pd_buf *b, pd_gen_meta *m)
{
    const gen_ctl *c = &g->ctls[it->b];
    const gen_cmp *cm = &g->cmp[(size_t)it->a * g->nctls + it->b];
    const char *sub = gen_str(g, g->subs[it->a].guid);
    const char *state = cm->failed ? "Failed" : (cm->passed ? "Passed" : "Skipped");
    const char *std = "Microsoft-cloud-security-benchmark";
    const char *ctl = gen_str(g, c->mcsb);
    meta_reset(m);
    m->kind = PD_KIND_COMPLIANCE;
    m->format = PD_FMT_DEFENDER;
    m->time_ms = it->t;
    m->account = sub;
    m->key = gen_str(g, g->subs[it->a].key);
    m->control_key = c->def->key;
    m->control_name = c->def->name;
    snprintf(g->s_std, sizeof(g->s_std), "%s", std);
    snprintf(g->s_ctl, sizeof(g->s_ctl), "%s", ctl);
    m->standard = g->s_std;
    m->compliance_control = g->s_ctl;
    m->compliance_state = state;
    m->passed = cm->passed;
    m->failed = cm->failed;
    m->skipped = cm->skipped;
    PUT(b, "{\"securityEventDataEnrichment\":{\"action\":\"Write\",\"apiVersion\":\"2019-01-01-"
           "preview\",\"isSnapshot\":false,\"interval\":\"00:00:00\"},\"id\":\"");
    size_t id_at = b->len;
    PUT(b, "/subscriptions/");
    put_s(b, sub);
    PUT(b, "/providers/Microsoft.Security/regulatoryComplianceStandards/");
    put_s(b, std);
    PUT(b, "/regulatoryComplianceControls/");
    put_s(b, ctl);
    PUT(b, "/regulatoryComplianceAssessments/");
    put_s(b, c->def->key);
    size_t id_len = b->len - id_at;
    if (id_len < sizeof(g->s_event)) {
        memcpy(g->s_event, b->p + id_at, id_len);
        g->s_event[id_len] = '\0';
        m->event_id = g->s_event;
    }
    PUT(b, "\",\"name\":");
    put_q(b, c->def->key);
    PUT(b, ",\"type\":\"Microsoft.Security/regulatoryComplianceStandards/"
           "regulatoryComplianceControls/regulatoryComplianceAssessments\",\"properties\":{"
           "\"description\":");
    put_jq(b, c->def->name);
    PUT(b, ",\"state\":\"");
    put_s(b, state);
    PUT(b, "\",\"passedResources\":");
    put_u64(b, cm->passed);
    PUT(b, ",\"failedResources\":");
    put_u64(b, cm->failed);
    PUT(b, ",\"skippedResources\":");
    put_u64(b, cm->skipped);
    PUT(b, ",\"assessmentType\":\"AssessmentResult\",\"assessmentDetailsLink\":\"https://portal."
           "azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/assessmentKey/");
    put_s(b, c->def->key);
    PUT(b, "/initiativeId/");
    put_s(b, std);
    PUT(b, "\"}}");
    return 0;
}

/* ---- inventory: the ARM resource (Azure VM or Arc machine) with its tags ---- */

static int render_inventory(pd_gen *g, const gen_item *it, pd_buf *b, pd_gen_meta *m)
{
    gen_server *sv = &g->servers[it->a];
    if (it->t >= sv->dead_at)
        return PD_ENOTFOUND;
    bool arc = sv->cloud == PD_CLOUD_ONPREM;
    meta_server(g, it->a, m, false);
    m->kind = PD_KIND_INVENTORY;
    m->format = PD_FMT_DEFENDER;
    m->time_ms = it->t;
    m->event_id = gen_str(g, sv->id);
    m->status = PD_STATUS_UNKNOWN;
    PUT(b, "{\"id\":");
    put_q(b, gen_str(g, sv->id));
    PUT(b, ",\"name\":");
    put_q(b, gen_str(g, sv->name));
    PUT(b, ",\"type\":");
    put_q(b, gen_str(g, sv->type));
    PUT(b, ",\"location\":");
    put_q(b, pd_gen_region(g, sv));
    PUT(b, ",\"tags\":{\"env\":");
    put_q(b, pd_gen_env_name(sv->env));
    PUT(b, ",\"owner\":");
    put_q(b, pd_gen_owner(sv));
    PUT(b, ",\"tier\":");
    put_q(b, pd_gen_tier(sv));
    PUT(b, "},\"properties\":{\"vmId\":");
    put_q(b, gen_str(g, sv->vmid));
    if (arc) {
        PUT(b, ",\"osName\":\"");
        put_s(b, sv->os == OS_LINUX ? "linux" : "windows");
        PUT(b, "\",\"status\":\"Connected\",\"machineFqdn\":\"");
        put_s(b, gen_str(g, sv->name));
        PUT(b, ".corp.example.com\",\"provisioningState\":\"Succeeded\"}}");
    } else {
        PUT(b, ",\"hardwareProfile\":{\"vmSize\":\"Standard_D2s_v3\"},\"storageProfile\":{"
               "\"osDisk\":{\"osType\":\"");
        put_s(b, sv->os == OS_LINUX ? "Linux" : "Windows");
        PUT(b, "\"}},\"provisioningState\":\"Succeeded\"}}");
    }
    return 0;
}

int pd_gen_render(pd_gen *g, const gen_item *it, pd_buf *out, pd_gen_meta *m)
{
    meta_reset(m);
    size_t mark = out->len;
    int rc;
    switch (it->type) {
    case IT_INVENTORY:
        rc = render_inventory(g, it, out, m);
        break;
    case IT_ASSESS:
        rc = render_assess(g, it, out, m);
        break;
    case IT_SUB:
        rc = render_sub(g, it, out, m);
        break;
    case IT_ALERT:
        rc = render_alert(g, it, out, m);
        break;
    case IT_SCORE:
    case IT_SCORECTL:
        rc = render_score(g, it, out, m);
        break;
    case IT_COMPLIANCE:
        rc = render_compliance(g, it, out, m);
        break;
    default:
        rc = PD_EINVAL;
    }
    if (rc)
        out->len = mark;
    return rc;
}
