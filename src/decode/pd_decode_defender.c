/* pd_decode_defender.c: Microsoft Defender for Cloud continuous-export records: assessments,
 * sub-assessments, secure scores and controls, regulatory compliance, and security alerts in
 * both the flat PascalCase export shape and the REST properties.* camelCase shape. Field
 * names match case-insensitively, so one table serves both casings. */
#include "pd_decode_int.h"

#include "pd_time.h"

#include <string.h>

/* ---------- shared pieces ---------- */

/* The scope an ARM id belongs to: everything before the last "/providers/Microsoft.Security/". */
static pd_str arm_scope(pd_str id)
{
    static const char pat[] = "/providers/microsoft.security/";
    const size_t n = sizeof(pat) - 1;
    uint32_t cut = 0;
    bool found = false;
    for (uint32_t i = 0; i + n <= id.len; i++) {
        if (id.p[i] != '/')
            continue;
        size_t k = 0;
        while (k < n) {
            char c = id.p[i + k];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c + 32);
            if (c != pat[k])
                break;
            k++;
        }
        if (k == n) {
            cut = i;
            found = true;
        }
    }
    return found ? (pd_str){id.p, cut} : id;
}

enum { EN_ACTION, EN_SNAPSHOT, EN__N };
static const pd_field enrich_fields[] = {PD_F("action", EN_ACTION),
                                         PD_F("issnapshot", EN_SNAPSHOT)};

static int enrichment(pd_decoder *d, uint32_t obj, const char *path, pd_event *e)
{
    uint32_t s[EN__N];
    int rc;
    if ((rc = pd_dec_fields(d, obj, path, enrich_fields, PD_ARRAY_LEN(enrich_fields), s, EN__N)))
        return rc;
    pd_str action = PD_STR_NULL;
    if ((rc = pd_dec_str(d, s[EN_ACTION], path, &action)) ||
        (rc = pd_dec_bool(d, s[EN_SNAPSHOT], path, &e->snapshot)))
        return rc;
    if (!action.len || PD_IEQ(action, "insert") || PD_IEQ(action, "write"))
        return 0;
    if (PD_IEQ(action, "delete")) {
        e->deleted = true;
        return 0;
    }
    return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, s[EN_ACTION]), "%s.action: unknown '%.*s'",
                       path, (int)PD_MIN(action.len, 40u), action.p);
}

enum {
    RD_SOURCE,
    RD_ID,
    RD_NATIVE,
    RD_PROVIDER,
    RD_RTYPE,
    RD_RNAME,
    RD_REGION,
    RD_HIER,
    RD_MACHINE,
    RD_VMUUID,
    RD_COMPUTER,
    RD_TAGS,
    RD__N
};
static const pd_field rd_fields[] = {
    PD_F("source", RD_SOURCE),
    PD_F("id", RD_ID),
    PD_F("nativeresourceid", RD_NATIVE),
    PD_F("resourceprovider", RD_PROVIDER),
    PD_F("resourcetype", RD_RTYPE),
    PD_F("resourcename", RD_RNAME),
    PD_F("region", RD_REGION),
    PD_F("location", RD_REGION),
    PD_F("hierarchyid", RD_HIER),
    PD_F("machinename", RD_MACHINE),
    PD_F("vmuuid", RD_VMUUID),
    PD_F("sourcecomputerid", RD_COMPUTER),
    PD_F("tags", RD_TAGS),
};

static pd_cloud cloud_word(pd_str s)
{
    if (PD_IEQ(s, "aws") || PD_IEQ(s, "amazon"))
        return PD_CLOUD_AWS;
    if (PD_IEQ(s, "gcp") || PD_IEQ(s, "google"))
        return PD_CLOUD_GCP;
    if (PD_IPREFIX(s, "onpremise"))
        return PD_CLOUD_ONPREM;
    if (PD_IEQ(s, "azure"))
        return PD_CLOUD_AZURE;
    return PD_CLOUD_UNKNOWN;
}

/* properties.resourceDetails: Azure ids, native AWS/GCP ids (the ARN or the GCP full
 * resource name becomes the canonical id, so Defender and Security Hub / SCC findings on the
 * same machine meet), on-premises machines. `fallback` is the record's own id. */
static int resource_details(pd_decoder *d, uint32_t rd, const char *path, pd_str fallback,
                            pd_event *e)
{
    uint32_t s[RD__N];
    int rc;
    pd_resource *r = &e->resource;
    if ((rc = pd_dec_fields(d, rd, path, rd_fields, PD_ARRAY_LEN(rd_fields), s, RD__N)))
        return rc;
    pd_str src = PD_STR_NULL, id = PD_STR_NULL, native = PD_STR_NULL, prov = PD_STR_NULL;
    pd_str rtype = PD_STR_NULL, rname = PD_STR_NULL, region = PD_STR_NULL, hier = PD_STR_NULL;
    pd_str machine = PD_STR_NULL, vmuuid = PD_STR_NULL, computer = PD_STR_NULL;
    if ((rc = pd_dec_str(d, s[RD_SOURCE], path, &src)) ||
        (rc = pd_dec_str(d, s[RD_ID], path, &id)) ||
        (rc = pd_dec_str(d, s[RD_NATIVE], path, &native)) ||
        (rc = pd_dec_str(d, s[RD_PROVIDER], path, &prov)) ||
        (rc = pd_dec_str(d, s[RD_RTYPE], path, &rtype)) ||
        (rc = pd_dec_str(d, s[RD_RNAME], path, &rname)) ||
        (rc = pd_dec_str(d, s[RD_REGION], path, &region)) ||
        (rc = pd_dec_str(d, s[RD_HIER], path, &hier)) ||
        (rc = pd_dec_str(d, s[RD_MACHINE], path, &machine)) ||
        (rc = pd_dec_str(d, s[RD_VMUUID], path, &vmuuid)) ||
        (rc = pd_dec_str(d, s[RD_COMPUTER], path, &computer)))
        return rc;
    pd_cloud said = cloud_word(src);
    if (said == PD_CLOUD_UNKNOWN || said == PD_CLOUD_AZURE) {
        pd_cloud p = cloud_word(prov);
        if (p == PD_CLOUD_AWS || p == PD_CLOUD_GCP)
            said = p;
    }
    if ((said == PD_CLOUD_AWS || said == PD_CLOUD_GCP) && native.len) {
        r->id = native;
        r->canon = pd_dec_lower(d, native);
        r->cloud = said;
        r->account = hier;
        r->type = pd_dec_lower(d, rtype);
        r->name = rname.len ? rname : pd_dec_last_seg(native, '/');
    } else if (id.len) {
        pd_dec_azure_resource(d, id, r);
        /* Arc machines are on-premises unless the source says which cloud hosts them. */
        if (said == PD_CLOUD_AWS || said == PD_CLOUD_GCP)
            r->cloud = said;
        else if (said == PD_CLOUD_ONPREM)
            r->cloud = PD_CLOUD_ONPREM;
    } else if (said == PD_CLOUD_ONPREM && (vmuuid.len || computer.len || machine.len)) {
        pd_str mid = vmuuid.len ? vmuuid : computer.len ? computer : machine;
        r->id = mid;
        r->canon = pd_dec_lower(d, mid);
        r->cloud = PD_CLOUD_ONPREM;
        r->name = machine.len ? machine : mid;
        r->type = PD_STR_LIT("onpremise/machine");
    } else if (fallback.len) {
        pd_dec_azure_resource(d, arm_scope(fallback), r);
    } else {
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, rd), "%s.id: required field missing",
                           path);
    }
    if (region.len)
        r->region = region;
    if (machine.len && !r->name.len)
        r->name = machine;
    return pd_dec_tags(d, s[RD_TAGS], path, r);
}

static int status_code(pd_decoder *d, uint32_t i, const char *path, pd_status *out)
{
    pd_str c = PD_STR_NULL;
    int rc = pd_dec_str(d, i, path, &c);
    if (rc)
        return rc;
    if (PD_IEQ(c, "healthy"))
        *out = PD_STATUS_HEALTHY;
    else if (PD_IEQ(c, "unhealthy"))
        *out = PD_STATUS_UNHEALTHY;
    else if (PD_IEQ(c, "notapplicable") || PD_IEQ(c, "not applicable"))
        *out = PD_STATUS_NOT_APPLICABLE;
    else
        return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, i), "%s: unknown status '%.*s'", path,
                           (int)PD_MIN(c.len, 40u), c.p);
    return 0;
}

/* ---------- top level ---------- */

typedef struct top {
    const uint32_t *s; /* PD_TOP_* slots */
    pd_str type, id, name;
} top;

/* ---------- alerts ---------- */

enum {
    AL_ID,
    AL_TYPE,
    AL_DISPLAY,
    AL_SEVERITY,
    AL_STATUS,
    AL_INTENT,
    AL_ENTITY,
    AL_RESID,
    AL_RESIDS,
    AL_START,
    AL_END,
    AL_GENERATED,
    AL_URI,
    AL__N
};
static const pd_field alert_fields[] = {
    PD_F("systemalertid", AL_ID),
    PD_F("alerttype", AL_TYPE),
    PD_F("alertdisplayname", AL_DISPLAY),
    PD_F("severity", AL_SEVERITY),
    PD_F("status", AL_STATUS),
    PD_F("intent", AL_INTENT),
    PD_F("compromisedentity", AL_ENTITY),
    PD_F("azureresourceid", AL_RESID),
    PD_F("resourceidentifiers", AL_RESIDS),
    PD_F("starttimeutc", AL_START),
    PD_F("endtimeutc", AL_END),
    PD_F("timegenerated", AL_GENERATED),
    PD_F("alerturi", AL_URI),
};

static int alert_resource_id(pd_decoder *d, uint32_t arr, const char *path, pd_str *out)
{
    static const pd_field f[] = {PD_F("azureresourceid", 0)};
    int rc;
    if ((rc = pd_dec_expect(d, arr, JSMN_ARRAY, path)))
        return rc;
    if (pd_dec_absent(d, arr))
        return 0;
    for (uint32_t j = pd_dec_first(d, arr); j; j = pd_dec_after(d, arr, j)) {
        uint32_t s[1];
        if (d->tok[j].type != JSMN_OBJECT)
            continue;
        if ((rc = pd_dec_fields(d, j, path, f, 1, s, 1)) || (rc = pd_dec_str(d, s[0], path, out)))
            return rc;
        if (out->len)
            return 0;
    }
    return 0;
}

static int alert(pd_decoder *d, uint32_t obj, const top *t, bool rest, pd_event *e)
{
    uint32_t s[AL__N];
    int rc;
    const char *P = rest ? "properties" : "";
#define AP(f) (rest ? "properties." f : f)
    if ((rc = pd_dec_fields(d, obj, P, alert_fields, PD_ARRAY_LEN(alert_fields), s, AL__N)))
        return rc;
    e->kind = PD_KIND_ALERT;
    e->format = PD_FMT_DEFENDER;
    pd_alert *a = &e->alert;
    pd_str sev = PD_STR_NULL, intent = PD_STR_NULL, resid = PD_STR_NULL, entity = PD_STR_NULL;
    pd_str uri = PD_STR_NULL;
    if (rest && pd_dec_absent(d, s[AL_ID]) && t->name.len)
        a->id = t->name;
    else if ((rc = pd_dec_str_req(d, s[AL_ID], obj, AP("SystemAlertId"), &a->id)))
        return rc;
    if ((rc = pd_dec_str_req(d, s[AL_TYPE], obj, AP("AlertType"), &a->type)) ||
        (rc = pd_dec_str(d, s[AL_DISPLAY], AP("AlertDisplayName"), &e->control.name)) ||
        (rc = pd_dec_str(d, s[AL_SEVERITY], AP("Severity"), &sev)) ||
        (rc = pd_dec_str(d, s[AL_STATUS], AP("Status"), &a->status)) ||
        (rc = pd_dec_str(d, s[AL_INTENT], AP("Intent"), &intent)) ||
        (rc = pd_dec_str(d, s[AL_ENTITY], AP("CompromisedEntity"), &entity)) ||
        (rc = pd_dec_str(d, s[AL_RESID], AP("AzureResourceId"), &resid)) ||
        (rc = pd_dec_str(d, s[AL_URI], AP("AlertUri"), &uri)) ||
        (rc = pd_dec_time(d, s[AL_START], AP("StartTimeUtc"), &a->start_ms)) ||
        (rc = pd_dec_time(d, s[AL_END], AP("EndTimeUtc"), &a->end_ms)) ||
        (rc = pd_dec_time(d, s[AL_GENERATED], AP("TimeGenerated"), &e->time_ms)))
        return rc;
    if (!resid.len && (rc = alert_resource_id(d, s[AL_RESIDS], AP("ResourceIdentifiers"), &resid)))
        return rc;
    if (!resid.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "%s: required field missing (nor ResourceIdentifiers[].AzureResourceId)",
                           AP("AzureResourceId"));
#undef AP
    pd_dec_azure_resource(d, resid, &e->resource);
    if (entity.len && !e->resource.name.len)
        e->resource.name = entity;
    pd_str loc = pd_dec_path_seg(uri, "location");
    if (!loc.len)
        loc = pd_dec_path_seg(t->id, "locations");
    e->resource.region = loc;
    if (e->time_ms == PD_TIME_NONE)
        e->time_ms = a->start_ms;
    e->first_seen_ms = a->start_ms;
    e->severity_orig = sev;
    e->severity = pd_dec_severity(sev);
    pd_dec_tactics(intent, &a->tactics);
    e->control.key = a->type;
    e->event_id = a->id;
    if (PD_IEQ(a->status, "resolved") || PD_IEQ(a->status, "dismissed"))
        e->status = PD_STATUS_HEALTHY;
    else
        e->status = PD_STATUS_UNHEALTHY;
    return 0;
}

/* ---------- assessments ---------- */

enum { AS_RD, AS_DISPLAY, AS_STATUS, AS_META, AS_TAGS, AS__N };
static const pd_field as_fields[] = {
    PD_F("resourcedetails", AS_RD), PD_F("displayname", AS_DISPLAY), PD_F("status", AS_STATUS),
    PD_F("metadata", AS_META),      PD_F("tags", AS_TAGS),
};
enum { ST_CODE, ST_CHANGE, ST_FIRST, ST_SEVERITY, ST__N };
static const pd_field st_fields[] = {
    PD_F("code", ST_CODE),
    PD_F("statuschangedate", ST_CHANGE),
    PD_F("firstevaluationdate", ST_FIRST),
    PD_F("severity", ST_SEVERITY),
};
enum { MD_DISPLAY, MD_SEVERITY, MD_CATEGORIES, MD__N };
static const pd_field md_fields[] = {
    PD_F("displayname", MD_DISPLAY),
    PD_F("severity", MD_SEVERITY),
    PD_F("categories", MD_CATEGORIES),
};

static int first_string(pd_decoder *d, uint32_t arr, const char *path, pd_str *out)
{
    int rc = pd_dec_expect(d, arr, JSMN_ARRAY, path);
    if (rc || pd_dec_absent(d, arr))
        return rc;
    uint32_t j = pd_dec_first(d, arr);
    return j ? pd_dec_str(d, j, path, out) : 0;
}

static int key_from(pd_decoder *d, const top *t, const char *seg, pd_str *out)
{
    pd_str k = t->name.len ? t->name : pd_dec_path_seg(t->id, seg);
    if (!k.len)
        return pd_dec_fail(d, PD_EDEC_MISSING,
                           t->s[PD_TOP_NAME] ? pd_dec_off(d, t->s[PD_TOP_NAME]) : 0,
                           "name: required field missing");
    *out = pd_dec_lower(d, k);
    return 0;
}

static int assessment(pd_decoder *d, uint32_t obj, const top *t, pd_event *e)
{
    uint32_t s[AS__N], st[ST__N], md[MD__N];
    int rc;
    e->kind = PD_KIND_ASSESSMENT;
    if (pd_dec_absent(d, t->s[PD_TOP_PROPS]))
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "properties: required field missing");
    if ((rc = pd_dec_fields(d, t->s[PD_TOP_PROPS], "properties", as_fields, PD_ARRAY_LEN(as_fields),
                            s, AS__N)) ||
        (rc = pd_dec_fields(d, s[AS_STATUS], "properties.status", st_fields,
                            PD_ARRAY_LEN(st_fields), st, ST__N)) ||
        (rc = pd_dec_fields(d, s[AS_META], "properties.metadata", md_fields,
                            PD_ARRAY_LEN(md_fields), md, MD__N)))
        return rc;
    if ((rc = key_from(d, t, "assessments", &e->control.key)))
        return rc;
    pd_str sev = PD_STR_NULL;
    if ((rc = pd_dec_str(d, s[AS_DISPLAY], "properties.displayName", &e->control.name)) ||
        (!e->control.name.len &&
         (rc = pd_dec_str(d, md[MD_DISPLAY], "properties.metadata.displayName",
                          &e->control.name))) ||
        (rc = pd_dec_str(d, md[MD_SEVERITY], "properties.metadata.severity", &sev)) ||
        (!sev.len && (rc = pd_dec_str(d, st[ST_SEVERITY], "properties.status.severity", &sev))) ||
        (rc = first_string(d, md[MD_CATEGORIES], "properties.metadata.categories",
                           &e->control.category)) ||
        (rc = pd_dec_time(d, st[ST_CHANGE], "properties.status.statusChangeDate",
                          &e->status_change_ms)) ||
        (rc = pd_dec_time(d, st[ST_FIRST], "properties.status.firstEvaluationDate",
                          &e->first_seen_ms)))
        return rc;
    if (pd_dec_absent(d, st[ST_CODE])) {
        if (!e->deleted)
            return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, s[AS_STATUS] ? s[AS_STATUS] : obj),
                               "properties.status.code: required field missing");
    } else if ((rc = status_code(d, st[ST_CODE], "properties.status.code", &e->status))) {
        return rc;
    }
    if (pd_dec_absent(d, s[AS_RD]) && !t->id.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, t->s[PD_TOP_PROPS]),
                           "properties.resourceDetails: required field missing");
    if ((rc = resource_details(d, s[AS_RD], "properties.resourceDetails", t->id, e)))
        return rc;
    if ((rc = pd_dec_tags(d, s[AS_TAGS], "properties.tags", &e->resource)))
        return rc;
    e->severity_orig = sev;
    e->severity = pd_dec_severity(sev);
    e->time_ms = e->status_change_ms != PD_TIME_NONE ? e->status_change_ms : e->first_seen_ms;
    return 0;
}

/* ---------- sub-assessments ---------- */

enum { SA_ID, SA_DISPLAY, SA_STATUS, SA_TIME, SA_RD, SA_DATA, SA_CATEGORY, SA__N };
static const pd_field sa_fields[] = {
    PD_F("id", SA_ID),
    PD_F("displayname", SA_DISPLAY),
    PD_F("status", SA_STATUS),
    PD_F("timegenerated", SA_TIME),
    PD_F("resourcedetails", SA_RD),
    PD_F("additionaldata", SA_DATA),
    PD_F("category", SA_CATEGORY),
};
enum { AD_TYPE, AD_CVE, AD_CVSS, AD_PATCH, AD__N };
static const pd_field ad_fields[] = {
    PD_F("assessedresourcetype", AD_TYPE),
    PD_F("cve", AD_CVE),
    PD_F("cvss", AD_CVSS),
    PD_F("patchable", AD_PATCH),
};

static int cvss_max(pd_decoder *d, uint32_t obj, double *out)
{
    static const pd_field f[] = {PD_F("base", 0)};
    int rc;
    if ((rc = pd_dec_expect(d, obj, JSMN_OBJECT, "properties.additionalData.cvss")) ||
        pd_dec_absent(d, obj))
        return rc;
    uint32_t end = d->next[obj];
    for (uint32_t k = obj + 1; k < end; k = d->next[k + 1]) {
        uint32_t s[1];
        double v = -1;
        if (d->tok[k + 1].type != JSMN_OBJECT)
            continue;
        if ((rc = pd_dec_fields(d, k + 1, "properties.additionalData.cvss", f, 1, s, 1)) ||
            (rc = pd_dec_num(d, s[0], "properties.additionalData.cvss.base", &v)))
            return rc;
        if (v > *out)
            *out = v;
    }
    return 0;
}

static int sub_assessment(pd_decoder *d, uint32_t obj, const top *t, pd_event *e)
{
    uint32_t s[SA__N], st[ST__N], ad[AD__N];
    int rc;
    e->kind = PD_KIND_VULNERABILITY;
    if (pd_dec_absent(d, t->s[PD_TOP_PROPS]))
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "properties: required field missing");
    if ((rc = pd_dec_fields(d, t->s[PD_TOP_PROPS], "properties", sa_fields, PD_ARRAY_LEN(sa_fields),
                            s, SA__N)) ||
        (rc = pd_dec_fields(d, s[SA_STATUS], "properties.status", st_fields,
                            PD_ARRAY_LEN(st_fields), st, ST__N)) ||
        (rc = pd_dec_fields(d, s[SA_DATA], "properties.additionalData", ad_fields,
                            PD_ARRAY_LEN(ad_fields), ad, AD__N)))
        return rc;
    if ((rc = key_from(d, t, "subassessments", &e->control.key)))
        return rc;
    pd_str vid = PD_STR_NULL, sev = PD_STR_NULL;
    if ((rc = pd_dec_str(d, s[SA_ID], "properties.id", &vid)) ||
        (rc = pd_dec_str(d, s[SA_DISPLAY], "properties.displayName", &e->control.name)) ||
        (rc = pd_dec_str(d, s[SA_CATEGORY], "properties.category", &e->control.category)) ||
        (rc = pd_dec_str(d, st[ST_SEVERITY], "properties.status.severity", &sev)) ||
        (rc = pd_dec_time(d, s[SA_TIME], "properties.timeGenerated", &e->time_ms)) ||
        (rc = pd_dec_bool(d, ad[AD_PATCH], "properties.additionalData.patchable",
                          &e->vuln.fix_available)) ||
        (rc = cvss_max(d, ad[AD_CVSS], &e->vuln.cvss)))
        return rc;
    if (pd_dec_absent(d, st[ST_CODE])) {
        if (!e->deleted)
            return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, s[SA_STATUS] ? s[SA_STATUS] : obj),
                               "properties.status.code: required field missing");
    } else if ((rc = status_code(d, st[ST_CODE], "properties.status.code", &e->status))) {
        return rc;
    }
    /* CVE: the first additionalData.cve[].title, else a CVE-looking properties.id. */
    uint32_t cves = ad[AD_CVE];
    if ((rc = pd_dec_expect(d, cves, JSMN_ARRAY, "properties.additionalData.cve")))
        return rc;
    uint32_t c0 = pd_dec_absent(d, cves) ? 0 : pd_dec_first(d, cves);
    if (c0 && d->tok[c0].type == JSMN_OBJECT) {
        static const pd_field f[] = {PD_F("title", 0)};
        uint32_t cs[1];
        if ((rc = pd_dec_fields(d, c0, "properties.additionalData.cve[]", f, 1, cs, 1)) ||
            (rc = pd_dec_str(d, cs[0], "properties.additionalData.cve[].title", &e->vuln.cve)))
            return rc;
    }
    if (!e->vuln.cve.len && PD_IPREFIX(vid, "cve-"))
        e->vuln.cve = vid;
    e->vuln.parent_key = pd_dec_lower(d, pd_dec_path_seg(t->id, "assessments"));
    if (pd_dec_absent(d, s[SA_RD]) && !t->id.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, t->s[PD_TOP_PROPS]),
                           "properties.resourceDetails: required field missing");
    if ((rc = resource_details(d, s[SA_RD], "properties.resourceDetails", t->id, e)))
        return rc;
    e->severity_orig = sev;
    e->severity = pd_dec_severity(sev);
    return 0;
}

/* ---------- secure scores ---------- */

enum { SC_DISPLAY, SC_SCORE, SC_HEALTHY, SC_UNHEALTHY, SC_NA, SC__N };
static const pd_field sc_fields[] = {
    PD_F("displayname", SC_DISPLAY),           PD_F("score", SC_SCORE),
    PD_F("healthyresourcecount", SC_HEALTHY),  PD_F("unhealthyresourcecount", SC_UNHEALTHY),
    PD_F("notapplicableresourcecount", SC_NA),
};
enum { SV_MAX, SV_CURRENT, SV_PCT, SV__N };
static const pd_field sv_fields[] = {
    PD_F("max", SV_MAX),
    PD_F("current", SV_CURRENT),
    PD_F("percentage", SV_PCT),
};

static int score(pd_decoder *d, uint32_t obj, const top *t, bool control, pd_event *e)
{
    uint32_t s[SC__N], v[SV__N];
    int rc;
    e->kind = PD_KIND_SCORE;
    if (pd_dec_absent(d, t->s[PD_TOP_PROPS]))
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "properties: required field missing");
    if ((rc = pd_dec_fields(d, t->s[PD_TOP_PROPS], "properties", sc_fields, PD_ARRAY_LEN(sc_fields),
                            s, SC__N)))
        return rc;
    if (pd_dec_absent(d, s[SC_SCORE]))
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, t->s[PD_TOP_PROPS]),
                           "properties.score: required field missing");
    if ((rc = pd_dec_fields(d, s[SC_SCORE], "properties.score", sv_fields, PD_ARRAY_LEN(sv_fields),
                            v, SV__N)) ||
        (rc = pd_dec_num(d, v[SV_MAX], "properties.score.max", &e->score.max)) ||
        (rc = pd_dec_num(d, v[SV_CURRENT], "properties.score.current", &e->score.current)) ||
        (rc = pd_dec_num(d, v[SV_PCT], "properties.score.percentage", &e->score.percentage)) ||
        (rc = pd_dec_u32(d, s[SC_HEALTHY], "properties.healthyResourceCount", &e->score.healthy)) ||
        (rc = pd_dec_u32(d, s[SC_UNHEALTHY], "properties.unhealthyResourceCount",
                         &e->score.unhealthy)) ||
        (rc = pd_dec_u32(d, s[SC_NA], "properties.notApplicableResourceCount",
                         &e->score.not_applicable)) ||
        (rc = pd_dec_str(d, s[SC_DISPLAY], "properties.displayName", &e->control.name)))
        return rc;
    if (!t->id.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj), "id: required field missing");
    if ((rc = key_from(d, t, control ? "securescorecontrols" : "securescores", &e->control.key)))
        return rc;
    if (control)
        e->score.control = e->control.name;
    pd_dec_azure_resource(d, arm_scope(t->id), &e->resource);
    e->event_id = t->id;
    return 0;
}

/* ---------- regulatory compliance ---------- */

enum { RC_STATE, RC_PASSED, RC_FAILED, RC_SKIPPED, RC_DESC, RC__N };
static const pd_field rc_fields[] = {
    PD_F("state", RC_STATE),
    PD_F("passedresources", RC_PASSED),
    PD_F("passedassessments", RC_PASSED),
    PD_F("failedresources", RC_FAILED),
    PD_F("failedassessments", RC_FAILED),
    PD_F("skippedresources", RC_SKIPPED),
    PD_F("skippedassessments", RC_SKIPPED),
    PD_F("description", RC_DESC),
};

static int compliance(pd_decoder *d, uint32_t obj, const top *t, pd_event *e)
{
    uint32_t s[RC__N];
    int rc;
    e->kind = PD_KIND_COMPLIANCE;
    pd_compliance *c = &e->compliance;
    if (pd_dec_absent(d, t->s[PD_TOP_PROPS]))
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj),
                           "properties: required field missing");
    if ((rc = pd_dec_fields(d, t->s[PD_TOP_PROPS], "properties", rc_fields, PD_ARRAY_LEN(rc_fields),
                            s, RC__N)) ||
        (rc = pd_dec_str_req(d, s[RC_STATE], t->s[PD_TOP_PROPS], "properties.state", &c->state)) ||
        (rc = pd_dec_u32(d, s[RC_PASSED], "properties.passedResources", &c->passed)) ||
        (rc = pd_dec_u32(d, s[RC_FAILED], "properties.failedResources", &c->failed)) ||
        (rc = pd_dec_u32(d, s[RC_SKIPPED], "properties.skippedResources", &c->skipped)) ||
        (rc = pd_dec_str(d, s[RC_DESC], "properties.description", &e->control.name)))
        return rc;
    if (!t->id.len)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj), "id: required field missing");
    c->standard = pd_dec_path_seg(t->id, "regulatorycompliancestandards");
    c->control = pd_dec_path_seg(t->id, "regulatorycompliancecontrols");
    if (!c->standard.len)
        return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, t->s[PD_TOP_ID]),
                           "id: no regulatoryComplianceStandards segment");
    if (PD_IEQ(c->state, "passed"))
        e->status = PD_STATUS_HEALTHY;
    else if (PD_IEQ(c->state, "failed"))
        e->status = PD_STATUS_UNHEALTHY;
    else if (PD_IEQ(c->state, "skipped") || PD_IEQ(c->state, "unsupported"))
        e->status = PD_STATUS_NOT_APPLICABLE;
    else
        return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, s[RC_STATE]),
                           "properties.state: unknown '%.*s'", (int)PD_MIN(c->state.len, 40u),
                           c->state.p);
    pd_str key = t->name.len ? t->name : pd_dec_last_seg(t->id, '/');
    e->control.key = pd_dec_lower(d, key);
    if (c->control.len)
        pd_dec_add_framework(e, pd_dec_join(d, c->standard, ":", c->control));
    pd_dec_azure_resource(d, arm_scope(t->id), &e->resource);
    e->event_id = t->id;
    return 0;
}

/* ---------- entry ---------- */

int pd_dec_defender(pd_decoder *d, uint32_t obj, const uint32_t *slots, pd_event *e)
{
    top t;
    int rc;
    memset(&t, 0, sizeof(t));
    t.s = slots;
    e->format = PD_FMT_DEFENDER;
    if (t.s[PD_TOP_ALERTID] || t.s[PD_TOP_ALERTTYPE])
        return alert(d, obj, &t, false, e);
    if ((rc = pd_dec_str_req(d, t.s[PD_TOP_TYPE], obj, "type", &t.type)) ||
        (rc = pd_dec_str(d, t.s[PD_TOP_ID], "id", &t.id)) ||
        (rc = pd_dec_str(d, t.s[PD_TOP_NAME], "name", &t.name)) ||
        (rc = pd_dec_expect(d, t.s[PD_TOP_PROPS], JSMN_OBJECT, "properties")))
        return rc;
    /* Both wrappers may be present with the same content; the specific one wins. */
    uint32_t en = t.s[PD_TOP_ENRICH] ? t.s[PD_TOP_ENRICH] : t.s[PD_TOP_SECENRICH];
    if (!pd_dec_absent(d, en) &&
        (rc = enrichment(d, en,
                         t.s[PD_TOP_ENRICH] ? "assessmentEventDataEnrichment"
                                            : "securityEventDataEnrichment",
                         e)))
        return rc;
    if (e->deleted)
        e->status = PD_STATUS_REMOVED;
    e->event_id = t.id;
    pd_str ty = t.type;
    if (PD_IEQ(ty, "microsoft.security/assessments"))
        rc = assessment(d, obj, &t, e);
    else if (PD_IEQ(ty, "microsoft.security/assessments/subassessments"))
        rc = sub_assessment(d, obj, &t, e);
    else if (PD_IEQ(ty, "microsoft.security/securescores"))
        rc = score(d, obj, &t, false, e);
    else if (PD_IEQ(ty, "microsoft.security/securescores/securescorecontrols") ||
             PD_IEQ(ty, "microsoft.security/securescorecontrols"))
        rc = score(d, obj, &t, true, e);
    else if (pd_dec_icontains(ty, "/regulatorycompliance"))
        rc = compliance(d, obj, &t, e);
    else if (pd_dec_icontains(ty, "/alerts") && !pd_dec_absent(d, t.s[PD_TOP_PROPS]))
        rc = alert(d, t.s[PD_TOP_PROPS], &t, true, e);
    else if (!PD_IPREFIX(ty, "microsoft.security/") && PD_IPREFIX(t.id, "/subscriptions/")) {
        /* An ARM resource (Resource Graph / resource events): inventory with its tags. */
        e->kind = PD_KIND_INVENTORY;
        pd_dec_azure_resource(d, t.id, &e->resource);
        if (t.name.len)
            e->resource.name = t.name;
    } else
        return pd_dec_fail(d, PD_EDEC_UNKNOWN_TYPE, pd_dec_off(d, t.s[PD_TOP_TYPE]),
                           "type '%.*s' is not a known Defender for Cloud record",
                           (int)PD_MIN(ty.len, 80u), ty.p);
    if (rc)
        return rc;
    if (e->deleted)
        e->status = PD_STATUS_REMOVED;
    if (!e->resource.region.len && pd_dec_is(d, t.s[PD_TOP_LOCATION], JSMN_STRING))
        e->resource.region = pd_dec_raw(d, t.s[PD_TOP_LOCATION]);
    if (e->resource.ntags == 0)
        rc = pd_dec_tags(d, t.s[PD_TOP_TAGS], "tags", &e->resource);
    return rc;
}
