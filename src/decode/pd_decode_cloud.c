/* pd_decode_cloud.c: AWS Security Hub findings (ASFF), GCP Security Command Center findings
 * and OCSF findings (classes 2002, 2003, 2004). */
#include "pd_decode_int.h"

#include "pd_time.h"

#include <string.h>

static pd_str slice_after_last(pd_str s, char c)
{
    for (uint32_t i = s.len; i > 0; i--)
        if (s.p[i - 1] == c)
            return (pd_str){s.p + i, s.len - i};
    return s;
}

/* ---------- ASFF ---------- */

enum {
    AF_ID,
    AF_ACCOUNT,
    AF_REGION,
    AF_TYPES,
    AF_UPDATED,
    AF_FIRST,
    AF_CREATED,
    AF_SEVERITY,
    AF_TITLE,
    AF_PRODFIELDS,
    AF_RESOURCES,
    AF_COMPLIANCE,
    AF_WORKFLOW,
    AF_RECORDSTATE,
    AF_GENERATOR,
    AF_VULNS,
    AF__N
};
static const pd_field af_fields[] = {
    PD_F("id", AF_ID),
    PD_F("awsaccountid", AF_ACCOUNT),
    PD_F("region", AF_REGION),
    PD_F("types", AF_TYPES),
    PD_F("updatedat", AF_UPDATED),
    PD_F("firstobservedat", AF_FIRST),
    PD_F("createdat", AF_CREATED),
    PD_F("severity", AF_SEVERITY),
    PD_F("title", AF_TITLE),
    PD_F("productfields", AF_PRODFIELDS),
    PD_F("resources", AF_RESOURCES),
    PD_F("compliance", AF_COMPLIANCE),
    PD_F("workflow", AF_WORKFLOW),
    PD_F("recordstate", AF_RECORDSTATE),
    PD_F("generatorid", AF_GENERATOR),
    PD_F("vulnerabilities", AF_VULNS),
};

enum { AR_ID, AR_TYPE, AR_REGION, AR_TAGS, AR__N };
static const pd_field ar_fields[] = {
    PD_F("id", AR_ID),
    PD_F("type", AR_TYPE),
    PD_F("region", AR_REGION),
    PD_F("tags", AR_TAGS),
};

enum { AC_STATUS, AC_CONTROL, AC_STANDARDS, AC_REQS, AC__N };
static const pd_field ac_fields[] = {
    PD_F("status", AC_STATUS),
    PD_F("securitycontrolid", AC_CONTROL),
    PD_F("associatedstandards", AC_STANDARDS),
    PD_F("relatedrequirements", AC_REQS),
};

static int asff_severity(pd_decoder *d, uint32_t i, pd_event *e)
{
    static const pd_field f[] = {PD_F("label", 0), PD_F("normalized", 1), PD_F("original", 2)};
    uint32_t s[3];
    int rc;
    if ((rc = pd_dec_fields(d, i, "Severity", f, PD_ARRAY_LEN(f), s, 3)))
        return rc;
    pd_str label = PD_STR_NULL;
    double norm = -1;
    if ((rc = pd_dec_str(d, s[0], "Severity.Label", &label)) ||
        (rc = pd_dec_num(d, s[1], "Severity.Normalized", &norm)))
        return rc;
    if (label.len) {
        e->severity_orig = label;
        e->severity = pd_dec_severity(label);
    } else if (norm >= 0) {
        /* The ASFF mapping from Normalized to Label. */
        e->severity = norm >= 90   ? PD_SEV_CRITICAL
                      : norm >= 70 ? PD_SEV_HIGH
                      : norm >= 40 ? PD_SEV_MEDIUM
                      : norm >= 1  ? PD_SEV_LOW
                                   : PD_SEV_INFORMATIONAL;
        e->severity_orig = pd_dec_raw(d, s[1]);
    }
    return 0;
}

static int asff_compliance(pd_decoder *d, uint32_t i, pd_event *e, bool *present)
{
    uint32_t s[AC__N];
    int rc;
    if ((rc = pd_dec_fields(d, i, "Compliance", ac_fields, PD_ARRAY_LEN(ac_fields), s, AC__N)))
        return rc;
    pd_str st = PD_STR_NULL;
    if ((rc = pd_dec_str(d, s[AC_STATUS], "Compliance.Status", &st)) ||
        (rc = pd_dec_str(d, s[AC_CONTROL], "Compliance.SecurityControlId", &e->control.key)) ||
        (rc = pd_dec_expect(d, s[AC_STANDARDS], JSMN_ARRAY, "Compliance.AssociatedStandards")) ||
        (rc = pd_dec_expect(d, s[AC_REQS], JSMN_ARRAY, "Compliance.RelatedRequirements")))
        return rc;
    *present = st.len > 0;
    if (!st.len)
        e->status = PD_STATUS_UNKNOWN;
    else if (PD_IEQ(st, "passed"))
        e->status = PD_STATUS_HEALTHY;
    else if (PD_IEQ(st, "failed") || PD_IEQ(st, "warning"))
        e->status = PD_STATUS_UNHEALTHY;
    else if (PD_IEQ(st, "not_available"))
        e->status = PD_STATUS_NOT_APPLICABLE;
    else
        return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, s[AC_STATUS]),
                           "Compliance.Status: unknown '%.*s'", (int)PD_MIN(st.len, 40u), st.p);
    if (!pd_dec_absent(d, s[AC_STANDARDS])) {
        static const pd_field f[] = {PD_F("standardsid", 0)};
        uint32_t a = s[AC_STANDARDS];
        for (uint32_t j = pd_dec_first(d, a); j; j = pd_dec_after(d, a, j)) {
            uint32_t fs[1];
            pd_str v = PD_STR_NULL;
            if (d->tok[j].type != JSMN_OBJECT)
                continue;
            if ((rc = pd_dec_fields(d, j, "Compliance.AssociatedStandards[]", f, 1, fs, 1)) ||
                (rc = pd_dec_str(d, fs[0], "Compliance.AssociatedStandards[].StandardsId", &v)))
                return rc;
            pd_dec_add_framework(e, v);
        }
    }
    if (!pd_dec_absent(d, s[AC_REQS])) {
        uint32_t a = s[AC_REQS];
        for (uint32_t j = pd_dec_first(d, a); j; j = pd_dec_after(d, a, j)) {
            pd_str v = PD_STR_NULL;
            if ((rc = pd_dec_str(d, j, "Compliance.RelatedRequirements[]", &v)))
                return rc;
            pd_dec_add_framework(e, v);
        }
    }
    return 0;
}

static int asff_vuln(pd_decoder *d, uint32_t arr, pd_event *e)
{
    static const pd_field f[] = {PD_F("id", 0), PD_F("cvss", 1), PD_F("fixavailable", 2)};
    static const pd_field cf[] = {PD_F("basescore", 0)};
    uint32_t s[3];
    int rc;
    if ((rc = pd_dec_expect(d, arr, JSMN_ARRAY, "Vulnerabilities")) || pd_dec_absent(d, arr))
        return rc;
    uint32_t v = pd_dec_first(d, arr);
    if (!v)
        return 0;
    if ((rc = pd_dec_fields(d, v, "Vulnerabilities[]", f, PD_ARRAY_LEN(f), s, 3)))
        return rc;
    pd_str fix = PD_STR_NULL;
    if ((rc = pd_dec_str(d, s[0], "Vulnerabilities[].Id", &e->vuln.cve)) ||
        (rc = pd_dec_str(d, s[2], "Vulnerabilities[].FixAvailable", &fix)) ||
        (rc = pd_dec_expect(d, s[1], JSMN_ARRAY, "Vulnerabilities[].Cvss")))
        return rc;
    e->vuln.fix_available = PD_IEQ(fix, "yes") || PD_IEQ(fix, "partial");
    if (!pd_dec_absent(d, s[1]))
        for (uint32_t j = pd_dec_first(d, s[1]); j; j = pd_dec_after(d, s[1], j)) {
            uint32_t cs[1];
            double b = -1;
            if (d->tok[j].type != JSMN_OBJECT)
                continue;
            if ((rc = pd_dec_fields(d, j, "Vulnerabilities[].Cvss[]", cf, 1, cs, 1)) ||
                (rc = pd_dec_num(d, cs[0], "Vulnerabilities[].Cvss[].BaseScore", &b)))
                return rc;
            if (b > e->vuln.cvss)
                e->vuln.cvss = b;
        }
    return 0;
}

static bool alert_types(pd_str t)
{
    return PD_IPREFIX(t, "ttps") || PD_IPREFIX(t, "effects") ||
           PD_IPREFIX(t, "unusual behaviors") || PD_IPREFIX(t, "sensitive data identifications");
}

int pd_dec_asff(pd_decoder *d, uint32_t obj, pd_event *e)
{
    uint32_t s[AF__N], r[AR__N];
    int rc;
    e->format = PD_FMT_ASFF;
    if ((rc = pd_dec_fields(d, obj, "", af_fields, PD_ARRAY_LEN(af_fields), s, AF__N)))
        return rc;
    pd_str region = PD_STR_NULL, type0 = PD_STR_NULL, rstate = PD_STR_NULL;
    if ((rc = pd_dec_str_req(d, s[AF_ID], obj, "Id", &e->event_id)) ||
        (rc = pd_dec_str(d, s[AF_ACCOUNT], "AwsAccountId", &e->resource.account)) ||
        (rc = pd_dec_str(d, s[AF_REGION], "Region", &region)) ||
        (rc = pd_dec_str(d, s[AF_TITLE], "Title", &e->control.name)) ||
        (rc = pd_dec_str(d, s[AF_RECORDSTATE], "RecordState", &rstate)) ||
        (rc = pd_dec_time(d, s[AF_UPDATED], "UpdatedAt", &e->time_ms)) ||
        (rc = pd_dec_time(d, s[AF_FIRST], "FirstObservedAt", &e->first_seen_ms)) ||
        (rc = pd_dec_expect(d, s[AF_TYPES], JSMN_ARRAY, "Types")))
        return rc;
    if (e->time_ms == PD_TIME_NONE)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "UpdatedAt: required field missing");
    if (e->first_seen_ms == PD_TIME_NONE &&
        (rc = pd_dec_time(d, s[AF_CREATED], "CreatedAt", &e->first_seen_ms)))
        return rc;
    uint32_t t0 = pd_dec_absent(d, s[AF_TYPES]) ? 0 : pd_dec_first(d, s[AF_TYPES]);
    if (t0 && (rc = pd_dec_str(d, t0, "Types[]", &type0)))
        return rc;
    if (!pd_dec_absent(d, s[AF_SEVERITY]) && (rc = asff_severity(d, s[AF_SEVERITY], e)))
        return rc;

    /* Resources[0] is the resource the finding is about. */
    if (pd_dec_absent(d, s[AF_RESOURCES]))
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "Resources: required field missing");
    if ((rc = pd_dec_expect(d, s[AF_RESOURCES], JSMN_ARRAY, "Resources")))
        return rc;
    uint32_t r0 = pd_dec_first(d, s[AF_RESOURCES]);
    if (!r0)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, s[AF_RESOURCES]), "Resources: empty");
    pd_resource *res = &e->resource;
    pd_str rtype = PD_STR_NULL, rregion = PD_STR_NULL;
    if ((rc = pd_dec_fields(d, r0, "Resources[0]", ar_fields, PD_ARRAY_LEN(ar_fields), r, AR__N)) ||
        (rc = pd_dec_str_req(d, r[AR_ID], r0, "Resources[0].Id", &res->id)) ||
        (rc = pd_dec_str(d, r[AR_TYPE], "Resources[0].Type", &rtype)) ||
        (rc = pd_dec_str(d, r[AR_REGION], "Resources[0].Region", &rregion)) ||
        (rc = pd_dec_tags(d, r[AR_TAGS], "Resources[0].Tags", res)))
        return rc;
    res->canon = pd_dec_lower(d, res->id);
    res->cloud = PD_CLOUD_AWS;
    res->type = pd_dec_lower(d, rtype);
    res->region = rregion.len ? rregion : region;
    /* arn:partition:service:region:account:resource-type/name, or AWS::::Account:123 */
    pd_str tail = slice_after_last(res->id, ':');
    res->name = pd_dec_last_seg(tail, '/');
    if (!res->account.len && PD_IPREFIX(res->id, "arn:")) {
        pd_str p = res->id;
        int colon = 0;
        uint32_t s4 = 0, e4 = 0;
        for (uint32_t i = 0; i < p.len; i++)
            if (p.p[i] == ':') {
                colon++;
                if (colon == 4)
                    s4 = i + 1;
                else if (colon == 5) {
                    e4 = i;
                    break;
                }
            }
        if (e4 > s4)
            res->account = (pd_str){p.p + s4, e4 - s4};
    }

    bool has_compliance = false;
    if (!pd_dec_absent(d, s[AF_COMPLIANCE]) &&
        (rc = asff_compliance(d, s[AF_COMPLIANCE], e, &has_compliance)))
        return rc;
    if (!e->control.key.len && !pd_dec_absent(d, s[AF_PRODFIELDS])) {
        static const pd_field f[] = {PD_F("controlid", 0)};
        uint32_t ps[1];
        if ((rc = pd_dec_fields(d, s[AF_PRODFIELDS], "ProductFields", f, 1, ps, 1)) ||
            (rc = pd_dec_str(d, ps[0], "ProductFields.ControlId", &e->control.key)))
            return rc;
    }
    if (!e->control.key.len) {
        pd_str gen = PD_STR_NULL;
        if ((rc = pd_dec_str(d, s[AF_GENERATOR], "GeneratorId", &gen)))
            return rc;
        e->control.key = gen;
    }
    if (!e->control.key.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "Compliance.SecurityControlId: required field missing (nor "
                           "ProductFields.ControlId, GeneratorId)");
    if ((rc = asff_vuln(d, s[AF_VULNS], e)))
        return rc;

    pd_str wf = PD_STR_NULL;
    if (!pd_dec_absent(d, s[AF_WORKFLOW])) {
        static const pd_field f[] = {PD_F("status", 0)};
        uint32_t ws[1];
        if ((rc = pd_dec_fields(d, s[AF_WORKFLOW], "Workflow", f, 1, ws, 1)) ||
            (rc = pd_dec_str(d, ws[0], "Workflow.Status", &wf)))
            return rc;
    }
    if (e->vuln.cve.len && !has_compliance) {
        e->kind = PD_KIND_VULNERABILITY;
        e->status = PD_STATUS_UNHEALTHY;
    } else if (!has_compliance && alert_types(type0)) {
        e->kind = PD_KIND_ALERT;
        e->alert.id = e->event_id;
        e->alert.type = type0;
        e->alert.status = wf;
        e->alert.start_ms = e->first_seen_ms;
        bool closed = PD_IEQ(wf, "resolved") || PD_IEQ(wf, "suppressed");
        e->status = closed ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY;
        /* "TTPs/Initial Access/..." names the tactic in its second part. */
        if (PD_IPREFIX(type0, "ttps/")) {
            pd_str rest = {type0.p + 5, type0.len - 5};
            uint32_t k = 0;
            while (k < rest.len && rest.p[k] != '/')
                k++;
            pd_dec_tactics((pd_str){rest.p, k}, &e->alert.tactics);
        }
    } else {
        e->kind = PD_KIND_ASSESSMENT;
    }
    if (PD_IEQ(rstate, "archived")) {
        e->deleted = true;
        e->status = PD_STATUS_REMOVED;
    }
    return 0;
}

/* ---------- GCP Security Command Center ---------- */

enum {
    GF_NAME,
    GF_CATEGORY,
    GF_CLASS,
    GF_STATE,
    GF_SEVERITY,
    GF_RESNAME,
    GF_EVENTTIME,
    GF_CREATETIME,
    GF_PROPS,
    GF_MITRE,
    GF_RESOURCE,
    GF_VULN,
    GF_COMPLIANCES,
    GF_DESC,
    GF__N
};
static const pd_field gf_fields[] = {
    PD_F("name", GF_NAME),
    PD_F("category", GF_CATEGORY),
    PD_F("findingclass", GF_CLASS),
    PD_F("finding_class", GF_CLASS),
    PD_F("state", GF_STATE),
    PD_F("severity", GF_SEVERITY),
    PD_F("resourcename", GF_RESNAME),
    PD_F("resource_name", GF_RESNAME),
    PD_F("eventtime", GF_EVENTTIME),
    PD_F("event_time", GF_EVENTTIME),
    PD_F("createtime", GF_CREATETIME),
    PD_F("create_time", GF_CREATETIME),
    PD_F("sourceproperties", GF_PROPS),
    PD_F("source_properties", GF_PROPS),
    PD_F("mitreattack", GF_MITRE),
    PD_F("mitre_attack", GF_MITRE),
    PD_F("resource", GF_RESOURCE),
    PD_F("vulnerability", GF_VULN),
    PD_F("compliances", GF_COMPLIANCES),
    PD_F("description", GF_DESC),
};

enum { GR_NAME, GR_DISPLAY, GR_PROJECT, GR_PROJECTNAME, GR_TYPE, GR_LOCATION, GR_LABELS, GR__N };
static const pd_field gr_fields[] = {
    PD_F("name", GR_NAME),
    PD_F("display_name", GR_DISPLAY),
    PD_F("displayname", GR_DISPLAY),
    PD_F("project_display_name", GR_PROJECT),
    PD_F("projectdisplayname", GR_PROJECT),
    PD_F("project_name", GR_PROJECTNAME),
    PD_F("projectname", GR_PROJECTNAME),
    PD_F("type", GR_TYPE),
    PD_F("location", GR_LOCATION),
    PD_F("labels", GR_LABELS),
    PD_F("resource_labels", GR_LABELS),
};

/* "us-central1-a" -> "us-central1": a zone's region drops the last "-x". */
static pd_str zone_region(pd_str zone)
{
    uint32_t dashes = 0, last = 0;
    for (uint32_t i = 0; i < zone.len; i++)
        if (zone.p[i] == '-') {
            dashes++;
            last = i;
        }
    if (dashes >= 2 && zone.len - last == 2)
        return (pd_str){zone.p, last};
    return zone;
}

static int scc_frameworks(pd_decoder *d, uint32_t props, uint32_t compliances, pd_event *e)
{
    int rc;
    /* sourceProperties.compliance_standards: {"cis":[{"version":"1.1","ids":["4.9"]}],...} */
    if (!pd_dec_absent(d, props)) {
        static const pd_field f[] = {PD_F("compliance_standards", 0)};
        uint32_t ps[1];
        if ((rc = pd_dec_fields(d, props, "sourceProperties", f, 1, ps, 1)))
            return rc;
        uint32_t cs = ps[0];
        if (pd_dec_is(d, cs, JSMN_OBJECT)) {
            uint32_t end = d->next[cs];
            for (uint32_t k = cs + 1; k < end; k = d->next[k + 1]) {
                pd_str std = PD_STR_NULL;
                if ((rc = pd_dec_str(d, k, "compliance_standards", &std)))
                    return rc;
                std = pd_dec_upper(d, std);
                uint32_t arr = k + 1;
                if (d->tok[arr].type != JSMN_ARRAY)
                    continue;
                for (uint32_t j = pd_dec_first(d, arr); j; j = pd_dec_after(d, arr, j)) {
                    static const pd_field idf[] = {PD_F("ids", 0)};
                    uint32_t is[1];
                    if (d->tok[j].type != JSMN_OBJECT)
                        continue;
                    if ((rc = pd_dec_fields(d, j, "compliance_standards[]", idf, 1, is, 1)))
                        return rc;
                    if (!pd_dec_is(d, is[0], JSMN_ARRAY))
                        continue;
                    for (uint32_t q = pd_dec_first(d, is[0]); q; q = pd_dec_after(d, is[0], q)) {
                        pd_str id = PD_STR_NULL;
                        if ((rc = pd_dec_str(d, q, "compliance_standards[].ids[]", &id)))
                            return rc;
                        pd_str f2 = pd_dec_join(d, std, ":", id);
                        bool dup = false;
                        for (int z = 0; z < e->control.nframeworks; z++)
                            dup |= pd_str_eq(e->control.frameworks[z], f2);
                        if (!dup)
                            pd_dec_add_framework(e, f2);
                    }
                }
            }
        }
    }
    /* finding.compliances: [{"standard":"cis","version":"1.0","ids":["3.6"]}] */
    if (pd_dec_is(d, compliances, JSMN_ARRAY)) {
        static const pd_field f[] = {PD_F("standard", 0), PD_F("ids", 1)};
        for (uint32_t j = pd_dec_first(d, compliances); j; j = pd_dec_after(d, compliances, j)) {
            uint32_t s[2];
            pd_str std = PD_STR_NULL;
            if (d->tok[j].type != JSMN_OBJECT)
                continue;
            if ((rc = pd_dec_fields(d, j, "compliances[]", f, 2, s, 2)) ||
                (rc = pd_dec_str(d, s[0], "compliances[].standard", &std)))
                return rc;
            std = pd_dec_upper(d, std);
            if (!pd_dec_is(d, s[1], JSMN_ARRAY))
                continue;
            for (uint32_t q = pd_dec_first(d, s[1]); q; q = pd_dec_after(d, s[1], q)) {
                pd_str id = PD_STR_NULL;
                if ((rc = pd_dec_str(d, q, "compliances[].ids[]", &id)))
                    return rc;
                pd_str f2 = pd_dec_join(d, std, ":", id);
                bool dup = false;
                for (int z = 0; z < e->control.nframeworks; z++)
                    dup |= pd_str_eq(e->control.frameworks[z], f2);
                if (!dup)
                    pd_dec_add_framework(e, f2);
            }
        }
    }
    return 0;
}

static int scc_mitre(pd_decoder *d, uint32_t m, pd_event *e)
{
    static const pd_field f[] = {PD_F("primarytactic", 0), PD_F("primary_tactic", 0),
                                 PD_F("additionaltactics", 1), PD_F("additional_tactics", 1)};
    uint32_t s[2];
    int rc;
    if ((rc = pd_dec_fields(d, m, "mitreAttack", f, PD_ARRAY_LEN(f), s, 2)))
        return rc;
    pd_str t = PD_STR_NULL;
    if ((rc = pd_dec_str(d, s[0], "mitreAttack.primaryTactic", &t)))
        return rc;
    pd_dec_tactics(t, &e->alert.tactics);
    if (pd_dec_is(d, s[1], JSMN_ARRAY))
        for (uint32_t j = pd_dec_first(d, s[1]); j; j = pd_dec_after(d, s[1], j)) {
            pd_str a = PD_STR_NULL;
            if ((rc = pd_dec_str(d, j, "mitreAttack.additionalTactics[]", &a)))
                return rc;
            pd_dec_tactics(a, &e->alert.tactics);
        }
    return 0;
}

int pd_dec_scc(pd_decoder *d, uint32_t obj, uint32_t resource, pd_event *e)
{
    uint32_t s[GF__N], r[GR__N];
    int rc;
    e->format = PD_FMT_SCC;
    if ((rc = pd_dec_fields(d, obj, "finding", gf_fields, PD_ARRAY_LEN(gf_fields), s, GF__N)))
        return rc;
    pd_str cls = PD_STR_NULL, state = PD_STR_NULL, sev = PD_STR_NULL, resname = PD_STR_NULL;
    if ((rc = pd_dec_str_req(d, s[GF_NAME], obj, "finding.name", &e->event_id)) ||
        (rc = pd_dec_str_req(d, s[GF_CATEGORY], obj, "finding.category", &e->control.key)) ||
        (rc = pd_dec_str(d, s[GF_CLASS], "finding.findingClass", &cls)) ||
        (rc = pd_dec_str(d, s[GF_STATE], "finding.state", &state)) ||
        (rc = pd_dec_str(d, s[GF_SEVERITY], "finding.severity", &sev)) ||
        (rc = pd_dec_str(d, s[GF_RESNAME], "finding.resourceName", &resname)) ||
        (rc = pd_dec_str(d, s[GF_DESC], "finding.description", &e->control.name)) ||
        (rc = pd_dec_time(d, s[GF_EVENTTIME], "finding.eventTime", &e->time_ms)) ||
        (rc = pd_dec_time(d, s[GF_CREATETIME], "finding.createTime", &e->first_seen_ms)) ||
        (rc = pd_dec_expect(d, s[GF_PROPS], JSMN_OBJECT, "finding.sourceProperties")) ||
        (rc = pd_dec_expect(d, s[GF_MITRE], JSMN_OBJECT, "finding.mitreAttack")))
        return rc;
    if (!e->control.name.len)
        e->control.name = e->control.key;
    if (!resource && !pd_dec_absent(d, s[GF_RESOURCE]))
        resource = s[GF_RESOURCE];
    pd_resource *res = &e->resource;
    pd_str rtype = PD_STR_NULL, project = PD_STR_NULL, projname = PD_STR_NULL;
    pd_str location = PD_STR_NULL, display = PD_STR_NULL;
    if (resource) {
        if ((rc = pd_dec_fields(d, resource, "resource", gr_fields, PD_ARRAY_LEN(gr_fields), r,
                                GR__N)) ||
            (rc = pd_dec_str(d, r[GR_NAME], "resource.name", &res->id)) ||
            (rc = pd_dec_str(d, r[GR_DISPLAY], "resource.display_name", &display)) ||
            (rc = pd_dec_str(d, r[GR_PROJECT], "resource.project_display_name", &project)) ||
            (rc = pd_dec_str(d, r[GR_PROJECTNAME], "resource.project_name", &projname)) ||
            (rc = pd_dec_str(d, r[GR_TYPE], "resource.type", &rtype)) ||
            (rc = pd_dec_str(d, r[GR_LOCATION], "resource.location", &location)) ||
            (rc = pd_dec_tags(d, r[GR_LABELS], "resource.labels", res)))
            return rc;
    }
    if (!res->id.len)
        res->id = resname;
    if (!res->id.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "finding.resourceName: required field missing (nor resource.name)");
    res->canon = pd_dec_lower(d, res->id);
    res->cloud = PD_CLOUD_GCP;
    res->type = pd_dec_lower(d, rtype);
    res->name = display.len ? display : pd_dec_last_seg(res->id, '/');
    res->account = project.len ? project : pd_dec_path_seg(res->id, "projects");
    if (!res->account.len)
        res->account = pd_dec_last_seg(projname, '/');
    if (location.len)
        res->region = location;
    else {
        pd_str z = pd_dec_path_seg(res->id, "zones");
        res->region = z.len ? zone_region(z) : pd_dec_path_seg(res->id, "regions");
        if (!res->region.len)
            res->region = pd_dec_path_seg(res->id, "locations");
    }
    e->severity_orig = sev;
    e->severity = pd_dec_severity(sev);
    if (!state.len || PD_IEQ(state, "active"))
        e->status = PD_STATUS_UNHEALTHY;
    else if (PD_IEQ(state, "inactive"))
        e->status = PD_STATUS_HEALTHY;
    else if (PD_IEQ(state, "state_unspecified"))
        e->status = PD_STATUS_UNKNOWN;
    else
        return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, s[GF_STATE]),
                           "finding.state: unknown '%.*s'", (int)PD_MIN(state.len, 40u), state.p);
    if ((rc = scc_frameworks(d, s[GF_PROPS], s[GF_COMPLIANCES], e)))
        return rc;
    if (PD_IEQ(cls, "threat") || PD_IEQ(cls, "toxic_combination")) {
        e->kind = PD_KIND_ALERT;
        e->alert.id = e->event_id;
        e->alert.type = e->control.key;
        e->alert.status = state;
        e->alert.start_ms = e->time_ms;
        if (!pd_dec_absent(d, s[GF_MITRE]) && (rc = scc_mitre(d, s[GF_MITRE], e)))
            return rc;
    } else if (PD_IEQ(cls, "vulnerability") && pd_dec_is(d, s[GF_VULN], JSMN_OBJECT)) {
        /* vulnerability.cve.{id, cvssv3.baseScore}, vulnerability.fixedPackage */
        static const pd_field vf[] = {PD_F("cve", 0), PD_F("fixedpackage", 1),
                                      PD_F("fixed_package", 1)};
        static const pd_field cf[] = {PD_F("id", 0), PD_F("cvssv3", 1)};
        static const pd_field sf[] = {PD_F("basescore", 0), PD_F("base_score", 0)};
        uint32_t vs[2], cs[2], ss[1];
        if ((rc = pd_dec_fields(d, s[GF_VULN], "finding.vulnerability", vf, PD_ARRAY_LEN(vf), vs,
                                2)) ||
            (rc = pd_dec_fields(d, vs[0], "finding.vulnerability.cve", cf, 2, cs, 2)) ||
            (rc = pd_dec_str(d, cs[0], "finding.vulnerability.cve.id", &e->vuln.cve)) ||
            (rc = pd_dec_fields(d, cs[1], "finding.vulnerability.cve.cvssv3", sf, PD_ARRAY_LEN(sf),
                                ss, 1)) ||
            (rc =
                 pd_dec_num(d, ss[0], "finding.vulnerability.cve.cvssv3.baseScore", &e->vuln.cvss)))
            return rc;
        e->vuln.fix_available = !pd_dec_absent(d, vs[1]);
        e->kind = e->vuln.cve.len ? PD_KIND_VULNERABILITY : PD_KIND_ASSESSMENT;
    } else {
        e->kind = PD_KIND_ASSESSMENT;
    }
    if (e->time_ms == PD_TIME_NONE)
        e->time_ms = e->first_seen_ms;
    return 0;
}

/* ---------- OCSF ---------- */

enum {
    OC_CLASS,
    OC_TIME,
    OC_SEVERITY,
    OC_SEVERITY_ID,
    OC_STATUS,
    OC_STATUS_ID,
    OC_STATUS_CODE,
    OC_FINDING,
    OC_RESOURCES,
    OC_CLOUD,
    OC_COMPLIANCE,
    OC_METADATA,
    OC_VULNS,
    OC_ATTACKS,
    OC__N
};
static const pd_field oc_fields[] = {
    PD_F("class_uid", OC_CLASS),         PD_F("time", OC_TIME),
    PD_F("severity", OC_SEVERITY),       PD_F("severity_id", OC_SEVERITY_ID),
    PD_F("status", OC_STATUS),           PD_F("status_id", OC_STATUS_ID),
    PD_F("status_code", OC_STATUS_CODE), PD_F("finding_info", OC_FINDING),
    PD_F("resources", OC_RESOURCES),     PD_F("cloud", OC_CLOUD),
    PD_F("compliance", OC_COMPLIANCE),   PD_F("metadata", OC_METADATA),
    PD_F("vulnerabilities", OC_VULNS),   PD_F("attacks", OC_ATTACKS),
};

static int ocsf_resource(pd_decoder *d, uint32_t arr, uint32_t cloud, pd_event *e)
{
    static const pd_field rf[] = {PD_F("uid", 0),    PD_F("name", 1),   PD_F("type", 2),
                                  PD_F("region", 3), PD_F("labels", 4), PD_F("tags", 5)};
    static const pd_field cf[] = {PD_F("provider", 0), PD_F("region", 1), PD_F("account", 2),
                                  PD_F("project", 3)};
    static const pd_field af[] = {PD_F("uid", 0)};
    uint32_t r[6], c[4], a[1];
    int rc;
    pd_resource *res = &e->resource;
    if ((rc = pd_dec_expect(d, arr, JSMN_ARRAY, "resources")))
        return rc;
    uint32_t r0 = pd_dec_absent(d, arr) ? 0 : pd_dec_first(d, arr);
    if (!r0)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, arr ? arr : 1),
                           "resources: required field missing");
    pd_str rtype = PD_STR_NULL, provider = PD_STR_NULL, cregion = PD_STR_NULL;
    if ((rc = pd_dec_fields(d, r0, "resources[0]", rf, PD_ARRAY_LEN(rf), r, 6)) ||
        (rc = pd_dec_str(d, r[1], "resources[0].name", &res->name)) ||
        (rc = pd_dec_str(d, r[0], "resources[0].uid", &res->id)) ||
        (rc = pd_dec_str(d, r[2], "resources[0].type", &rtype)) ||
        (rc = pd_dec_str(d, r[3], "resources[0].region", &res->region)) ||
        (rc = pd_dec_tags(d, r[5], "resources[0].tags", res)))
        return rc;
    /* labels: ["key:value", ...] (Prowler) */
    if (pd_dec_is(d, r[4], JSMN_ARRAY))
        for (uint32_t j = pd_dec_first(d, r[4]); j && res->ntags < PD_EVENT_MAX_TAGS;
             j = pd_dec_after(d, r[4], j)) {
            pd_str l = PD_STR_NULL;
            if ((rc = pd_dec_str(d, j, "resources[0].labels[]", &l)))
                return rc;
            uint32_t k = 0;
            while (k < l.len && l.p[k] != ':' && l.p[k] != '=')
                k++;
            if (k == 0 || k >= l.len)
                continue;
            res->tags[res->ntags++] = (pd_tag){{l.p, k}, {l.p + k + 1, l.len - k - 1}};
        }
    if (!res->id.len)
        res->id = res->name;
    if (!res->id.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, r0),
                           "resources[0].uid: required field missing");
    res->canon = pd_dec_lower(d, res->id);
    res->type = pd_dec_lower(d, rtype);
    if (!pd_dec_absent(d, cloud)) {
        if ((rc = pd_dec_fields(d, cloud, "cloud", cf, PD_ARRAY_LEN(cf), c, 4)) ||
            (rc = pd_dec_str(d, c[0], "cloud.provider", &provider)) ||
            (rc = pd_dec_str(d, c[1], "cloud.region", &cregion)) ||
            (rc = pd_dec_fields(d, c[2], "cloud.account", af, 1, a, 1)) ||
            (rc = pd_dec_str(d, a[0], "cloud.account.uid", &res->account)))
            return rc;
        if (!res->account.len && (rc = pd_dec_fields(d, c[3], "cloud.project", af, 1, a, 1)) == 0)
            rc = pd_dec_str(d, a[0], "cloud.project.uid", &res->account);
        if (rc)
            return rc;
    }
    if (!res->region.len)
        res->region = cregion;
    if (PD_IEQ(provider, "aws"))
        res->cloud = PD_CLOUD_AWS;
    else if (PD_IEQ(provider, "azure"))
        res->cloud = PD_CLOUD_AZURE;
    else if (PD_IEQ(provider, "gcp") || PD_IEQ(provider, "google"))
        res->cloud = PD_CLOUD_GCP;
    else if (PD_IPREFIX(res->id, "arn:"))
        res->cloud = PD_CLOUD_AWS;
    else if (PD_IPREFIX(res->id, "/subscriptions/"))
        res->cloud = PD_CLOUD_AZURE;
    else if (PD_IPREFIX(res->id, "//"))
        res->cloud = PD_CLOUD_GCP;
    else if (provider.len)
        res->cloud = PD_CLOUD_ONPREM;
    if (res->cloud == PD_CLOUD_AZURE && PD_IPREFIX(res->id, "/subscriptions/")) {
        pd_resource az;
        memset(&az, 0, sizeof(az));
        pd_dec_azure_resource(d, res->id, &az);
        if (!res->account.len)
            res->account = az.account;
        res->group = az.group;
        if (az.cloud == PD_CLOUD_ONPREM)
            res->cloud = PD_CLOUD_ONPREM;
    }
    return 0;
}

static int ocsf_compliance(pd_decoder *d, uint32_t i, pd_event *e, int *status_id)
{
    static const pd_field f[] = {PD_F("control", 0), PD_F("status", 1), PD_F("status_id", 2),
                                 PD_F("standards", 3), PD_F("requirements", 4)};
    uint32_t s[5];
    int rc;
    pd_str st = PD_STR_NULL;
    double sid = 0;
    if ((rc = pd_dec_fields(d, i, "compliance", f, PD_ARRAY_LEN(f), s, 5)) ||
        (rc = pd_dec_str(d, s[0], "compliance.control", &e->control.key)) ||
        (rc = pd_dec_str(d, s[1], "compliance.status", &st)) ||
        (rc = pd_dec_num(d, s[2], "compliance.status_id", &sid)))
        return rc;
    if (sid > 0)
        *status_id = (int)sid;
    else if (PD_IEQ(st, "pass"))
        *status_id = 1;
    else if (PD_IEQ(st, "warning"))
        *status_id = 2;
    else if (PD_IEQ(st, "fail"))
        *status_id = 3;
    for (int k = 3; k <= 4; k++) {
        if (!pd_dec_is(d, s[k], JSMN_ARRAY))
            continue;
        for (uint32_t j = pd_dec_first(d, s[k]); j; j = pd_dec_after(d, s[k], j)) {
            pd_str v = PD_STR_NULL;
            if ((rc = pd_dec_str(
                     d, j, k == 3 ? "compliance.standards[]" : "compliance.requirements[]", &v)))
                return rc;
            pd_dec_add_framework(e, v);
        }
    }
    return 0;
}

static int ocsf_vuln(pd_decoder *d, uint32_t arr, pd_event *e)
{
    static const pd_field vf[] = {PD_F("cve", 0), PD_F("is_fix_available", 1),
                                  PD_F("fix_available", 1)};
    static const pd_field cf[] = {PD_F("uid", 0), PD_F("cvss", 1)};
    static const pd_field sf[] = {PD_F("base_score", 0)};
    uint32_t v[2], c[2], s[1];
    int rc;
    if ((rc = pd_dec_expect(d, arr, JSMN_ARRAY, "vulnerabilities")) || pd_dec_absent(d, arr))
        return rc;
    uint32_t v0 = pd_dec_first(d, arr);
    if (!v0)
        return 0;
    if ((rc = pd_dec_fields(d, v0, "vulnerabilities[0]", vf, PD_ARRAY_LEN(vf), v, 2)) ||
        (rc =
             pd_dec_bool(d, v[1], "vulnerabilities[0].is_fix_available", &e->vuln.fix_available)) ||
        (rc = pd_dec_fields(d, v[0], "vulnerabilities[0].cve", cf, 2, c, 2)) ||
        (rc = pd_dec_str(d, c[0], "vulnerabilities[0].cve.uid", &e->vuln.cve)) ||
        (rc = pd_dec_expect(d, c[1], JSMN_ARRAY, "vulnerabilities[0].cve.cvss")))
        return rc;
    if (pd_dec_is(d, c[1], JSMN_ARRAY))
        for (uint32_t j = pd_dec_first(d, c[1]); j; j = pd_dec_after(d, c[1], j)) {
            double b = -1;
            if (d->tok[j].type != JSMN_OBJECT)
                continue;
            if ((rc = pd_dec_fields(d, j, "vulnerabilities[0].cve.cvss[]", sf, 1, s, 1)) ||
                (rc = pd_dec_num(d, s[0], "vulnerabilities[0].cve.cvss[].base_score", &b)))
                return rc;
            if (b > e->vuln.cvss)
                e->vuln.cvss = b;
        }
    return 0;
}

static int ocsf_attacks(pd_decoder *d, uint32_t arr, pd_event *e)
{
    static const pd_field af[] = {PD_F("tactic", 0), PD_F("tactics", 1)};
    static const pd_field tf[] = {PD_F("uid", 0), PD_F("name", 1)};
    int rc;
    if (!pd_dec_is(d, arr, JSMN_ARRAY))
        return pd_dec_expect(d, arr, JSMN_ARRAY, "attacks");
    for (uint32_t j = pd_dec_first(d, arr); j; j = pd_dec_after(d, arr, j)) {
        uint32_t a[2];
        if (d->tok[j].type != JSMN_OBJECT)
            continue;
        if ((rc = pd_dec_fields(d, j, "attacks[]", af, 2, a, 2)))
            return rc;
        /* tactic: {uid, name}; older OCSF: tactics: [{uid, name}] */
        uint32_t list[8], n = 0;
        if (pd_dec_is(d, a[0], JSMN_OBJECT))
            list[n++] = a[0];
        if (pd_dec_is(d, a[1], JSMN_ARRAY))
            for (uint32_t q = pd_dec_first(d, a[1]); q && n < 8; q = pd_dec_after(d, a[1], q))
                if (d->tok[q].type == JSMN_OBJECT)
                    list[n++] = q;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t t[2];
            pd_str uid = PD_STR_NULL, name = PD_STR_NULL;
            if ((rc = pd_dec_fields(d, list[k], "attacks[].tactic", tf, 2, t, 2)) ||
                (rc = pd_dec_str(d, t[0], "attacks[].tactic.uid", &uid)) ||
                (rc = pd_dec_str(d, t[1], "attacks[].tactic.name", &name)))
                return rc;
            uint32_t before = e->alert.tactics;
            pd_dec_tactics(uid, &e->alert.tactics);
            if (e->alert.tactics == before)
                pd_dec_tactics(name, &e->alert.tactics);
        }
    }
    return 0;
}

int pd_dec_ocsf(pd_decoder *d, uint32_t obj, pd_event *e)
{
    uint32_t s[OC__N];
    int rc;
    e->format = PD_FMT_OCSF;
    if ((rc = pd_dec_fields(d, obj, "", oc_fields, PD_ARRAY_LEN(oc_fields), s, OC__N)))
        return rc;
    uint32_t cls = 0;
    if ((rc = pd_dec_u32(d, s[OC_CLASS], "class_uid", &cls)))
        return rc;
    if (cls != 2002 && cls != 2003 && cls != 2004)
        return pd_dec_fail(d, PD_EDEC_UNKNOWN_TYPE, pd_dec_off(d, s[OC_CLASS]),
                           "class_uid %u is not a supported OCSF finding (2002, 2003, 2004)", cls);
    pd_str sev = PD_STR_NULL, status = PD_STR_NULL, code = PD_STR_NULL;
    double sev_id = -1, status_id = -1;
    if ((rc = pd_dec_time(d, s[OC_TIME], "time", &e->time_ms)) ||
        (rc = pd_dec_str(d, s[OC_SEVERITY], "severity", &sev)) ||
        (rc = pd_dec_num(d, s[OC_SEVERITY_ID], "severity_id", &sev_id)) ||
        (rc = pd_dec_str(d, s[OC_STATUS], "status", &status)) ||
        (rc = pd_dec_num(d, s[OC_STATUS_ID], "status_id", &status_id)) ||
        (rc = pd_dec_str(d, s[OC_STATUS_CODE], "status_code", &code)))
        return rc;
    if (e->time_ms == PD_TIME_NONE)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj), "time: required field missing");
    /* finding_info: uid, title, types, created_time, first_seen_time */
    static const pd_field ff[] = {
        PD_F("uid", 0),          PD_F("title", 1),           PD_F("types", 2),
        PD_F("created_time", 3), PD_F("first_seen_time", 4), PD_F("first_seen_time_dt", 4)};
    uint32_t fi[5];
    if (pd_dec_absent(d, s[OC_FINDING]))
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "finding_info: required field missing");
    if ((rc = pd_dec_fields(d, s[OC_FINDING], "finding_info", ff, PD_ARRAY_LEN(ff), fi, 5)) ||
        (rc = pd_dec_str_req(d, fi[0], s[OC_FINDING], "finding_info.uid", &e->event_id)) ||
        (rc = pd_dec_str(d, fi[1], "finding_info.title", &e->control.name)) ||
        (rc = pd_dec_time(d, fi[4], "finding_info.first_seen_time", &e->first_seen_ms)) ||
        (rc = pd_dec_expect(d, fi[2], JSMN_ARRAY, "finding_info.types")))
        return rc;
    if (e->first_seen_ms == PD_TIME_NONE &&
        (rc = pd_dec_time(d, fi[3], "finding_info.created_time", &e->first_seen_ms)))
        return rc;
    if ((rc = ocsf_resource(d, s[OC_RESOURCES], s[OC_CLOUD], e)))
        return rc;
    int comp_status = 0;
    if (!pd_dec_absent(d, s[OC_COMPLIANCE]) &&
        (rc = ocsf_compliance(d, s[OC_COMPLIANCE], e, &comp_status)))
        return rc;
    if (!e->control.key.len && !pd_dec_absent(d, s[OC_METADATA])) {
        static const pd_field mf[] = {PD_F("event_code", 0)};
        uint32_t m[1];
        if ((rc = pd_dec_fields(d, s[OC_METADATA], "metadata", mf, 1, m, 1)) ||
            (rc = pd_dec_str(d, m[0], "metadata.event_code", &e->control.key)))
            return rc;
    }
    if (cls == 2002 && (rc = ocsf_vuln(d, s[OC_VULNS], e)))
        return rc;
    if (!e->control.key.len)
        e->control.key = e->control.name.len ? e->control.name : e->vuln.cve;
    if (!e->control.key.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "compliance.control: required field missing (nor "
                           "metadata.event_code, finding_info.title, a CVE)");
    /* Severity: the label, else severity_id (1 info .. 5 critical, 6 fatal). */
    e->severity_orig = sev;
    e->severity = pd_dec_severity(sev);
    if (e->severity == PD_SEV_UNKNOWN && sev_id >= 1)
        e->severity = sev_id >= 5 ? PD_SEV_CRITICAL : (pd_severity)(int)sev_id;
    bool resolved = status_id == 4 || PD_IEQ(status, "resolved");
    if (cls == 2002) {
        e->kind = PD_KIND_VULNERABILITY;
        e->status = resolved ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY;
    } else if (cls == 2003 || code.len) {
        /* Compliance findings, and Prowler's checks (2004 with status_code PASS/FAIL). */
        e->kind = PD_KIND_ASSESSMENT;
        if (comp_status == 1 || PD_IEQ(code, "pass"))
            e->status = PD_STATUS_HEALTHY;
        else if (comp_status == 2 || comp_status == 3 || PD_IEQ(code, "fail"))
            e->status = PD_STATUS_UNHEALTHY;
        else if (PD_IEQ(code, "manual") || PD_IEQ(code, "muted"))
            e->status = PD_STATUS_NOT_APPLICABLE;
        else
            e->status = PD_STATUS_UNKNOWN;
    } else {
        e->kind = PD_KIND_ALERT;
        e->alert.id = e->event_id;
        uint32_t t0 = pd_dec_is(d, fi[2], JSMN_ARRAY) ? pd_dec_first(d, fi[2]) : 0;
        if (t0 && (rc = pd_dec_str(d, t0, "finding_info.types[]", &e->alert.type)))
            return rc;
        if (!e->alert.type.len)
            e->alert.type = e->control.key;
        e->alert.status = status;
        e->alert.start_ms = e->first_seen_ms;
        e->status = resolved ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY;
        if (!pd_dec_absent(d, s[OC_ATTACKS]) && (rc = ocsf_attacks(d, s[OC_ATTACKS], e)))
            return rc;
    }
    if (status_id == 5 /* Archived */) {
        e->deleted = true;
        e->status = PD_STATUS_REMOVED;
    }
    return 0;
}
