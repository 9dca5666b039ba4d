/* The stream generator: determinism, counts, every message's shape (parsed with jansson and
 * checked field by field against what the generator says it wrote), time order, benign noise
 * and the scripted incidents of each built-in rule. */
#include "pd_test.h"

#include "pd_gen.h"
#include "pd_time.h"

#include <jansson.h>
#include <unistd.h>

static pd_controls *g_controls;

static int setup(void **state)
{
    (void)state;
    char path[1024];
    pd_diag diag = {{0}};
    if (pd_controls_load_file(pd_test_src_path("pipelines/controls.yaml", path, sizeof(path)),
                              &g_controls, &diag)) {
        fprintf(stderr, "%s\n", diag.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pd_controls_destroy(g_controls);
    return 0;
}

static void opts_base(pd_gen_opts *o, uint64_t seed, uint32_t servers, uint32_t days)
{
    pd_gen_opts_default(o);
    o->seed = seed;
    o->servers = servers;
    o->days = days;
    o->controls = g_controls;
}

/* Generates the whole stream into one buffer, lines separated by '\n'. */
static uint64_t gen_all(const pd_gen_opts *o, pd_buf *out)
{
    pd_gen *g = NULL;
    assert_int_equal(pd_gen_create(o, &g, NULL), 0);
    uint64_t n = 0;
    int rc;
    while ((rc = pd_gen_next(g, out, NULL)) == 0) {
        pd_buf_putc(out, '\n');
        n++;
    }
    assert_int_equal(rc, PD_ENOTFOUND);
    pd_gen_stats st;
    pd_gen_get_stats(g, &st);
    assert_int_equal(st.events, n);
    pd_gen_destroy(g);
    return n;
}

static void test_determinism(void **state)
{
    (void)state;
    pd_gen_opts o;
    opts_base(&o, 5, 60, 8);
    o.mix = PD_GEN_MIX_ALL;
    pd_buf a, b, c;
    pd_buf_init(&a);
    pd_buf_init(&b);
    pd_buf_init(&c);
    uint64_t na = gen_all(&o, &a), nb = gen_all(&o, &b);
    assert_true(na > 1000);
    assert_int_equal(na, nb);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    o.seed = 6;
    gen_all(&o, &c);
    assert_false(c.len == a.len && !memcmp(a.p, c.p, a.len));
    /* Disorder is seeded too. */
    pd_buf_reset(&a);
    pd_buf_reset(&b);
    o.disorder_ms = 120000;
    gen_all(&o, &a);
    gen_all(&o, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    pd_buf_free(&a);
    pd_buf_free(&b);
    pd_buf_free(&c);
}

static void test_counts(void **state)
{
    (void)state;
    pd_gen_opts o;
    opts_base(&o, 9, 40, 0);
    o.max_events = 1234;
    pd_buf b;
    pd_buf_init(&b);
    assert_int_equal(gen_all(&o, &b), 1234);
    /* Every line is one message. */
    size_t lines = 0;
    for (size_t i = 0; i < b.len; i++)
        lines += b.p[i] == '\n';
    assert_int_equal(lines, 1234);
    pd_buf_free(&b);

    /* Bad options. */
    pd_gen *g = NULL;
    opts_base(&o, 1, 0, 1);
    assert_int_equal(pd_gen_create(&o, &g, NULL), PD_EINVAL);
    opts_base(&o, 1, 10, 0);
    assert_int_equal(pd_gen_create(&o, &g, NULL), PD_EINVAL);
    assert_null(g);
    pd_gen_destroy(NULL);
}

/* ---- shape checks ---- */

static json_t *jpath(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, "."))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return j;
}

static const char *jstr(json_t *j, const char *path)
{
    const char *s = json_string_value(jpath(j, path));
    if (!s)
        fail_msg("missing string %s", path);
    return s;
}

static int64_t jtime(json_t *j, const char *path)
{
    int64_t ms;
    if (pd_time_parse(pd_str_c(jstr(j, path)), &ms))
        fail_msg("bad time at %s", path);
    return ms;
}

static pd_severity jsev(json_t *j, const char *path)
{
    pd_severity s;
    assert_int_equal(pd_severity_parse(pd_str_c(jstr(j, path)), &s), 0);
    return s;
}

static uint32_t intent_bits(const char *s)
{
    uint32_t bits = 0;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
        pd_tactic t;
        assert_int_equal(pd_tactic_parse(pd_str_c(tok), &t), 0);
        bits |= 1u << t;
    }
    return bits;
}

static const char *defender_code(pd_status s)
{
    return s == PD_STATUS_HEALTHY ? "Healthy"
                                  : (s == PD_STATUS_NOT_APPLICABLE ? "NotApplicable" : "Unhealthy");
}

static void check_defender_assessment(json_t *j, const pd_gen_meta *m)
{
    assert_string_equal(jstr(j, "type"), "Microsoft.Security/assessments");
    assert_string_equal(jstr(j, "name"), m->control_key);
    assert_string_equal(jstr(j, "id"), m->event_id);
    assert_string_equal(jstr(j, "properties.resourceDetails.id"), m->resource_id);
    const char *src = jstr(j, "properties.resourceDetails.source");
    assert_string_equal(src, m->cloud == PD_CLOUD_AWS   ? "Aws"
                             : m->cloud == PD_CLOUD_GCP ? "Gcp"
                                                        : "Azure");
    if (m->cloud == PD_CLOUD_AWS || m->cloud == PD_CLOUD_GCP)
        assert_string_equal(jstr(j, "properties.resourceDetails.nativeResourceId"), m->native_id);
    assert_string_equal(jstr(j, "properties.status.code"), defender_code(m->status));
    assert_string_equal(jstr(j, "properties.displayName"), m->control_name);
    assert_int_equal(jsev(j, "properties.metadata.severity"), m->severity);
    assert_int_equal(jtime(j, "properties.status.statusChangeDate"), m->status_change_ms);
    assert_int_equal(jtime(j, "properties.status.firstEvaluationDate"), m->first_seen_ms);
    for (int k = 0; k < 2; k++) {
        json_t *e =
            json_object_get(j, k ? "securityEventDataEnrichment" : "assessmentEventDataEnrichment");
        assert_non_null(e);
        assert_int_equal(json_is_true(json_object_get(e, "isSnapshot")), m->snapshot);
        const char *action = json_string_value(json_object_get(e, "action"));
        assert_string_equal(action, m->deleted ? "Delete" : (m->snapshot ? "Insert" : "Write"));
    }
    json_t *tags = json_object_get(j, "tags");
    if (json_is_object(tags)) {
        for (int k = 0; k < 3; k++)
            assert_string_equal(jstr(tags, m->tags[k][0]), m->tags[k][1]);
    } else {
        assert_true(json_is_null(tags));
    }
    /* The table knows every key the generator uses, with the same name. */
    const pd_control_def *d = pd_controls_find(g_controls, pd_str_c(m->control_key));
    assert_non_null(d);
    assert_string_equal(d->name, m->control_name);
}

static void check_rest_alert(json_t *j, const pd_gen_meta *m)
{
    assert_string_equal(jstr(j, "type"), "Microsoft.Security/Locations/alerts");
    assert_string_equal(jstr(j, "name"), m->event_id);
    json_t *p = json_object_get(j, "properties");
    assert_non_null(p);
    assert_string_equal(jstr(p, "alertType"), m->alert_type);
    assert_string_equal(jstr(p, "systemAlertId"), m->event_id);
    assert_string_equal(jstr(p, "resourceIdentifiers.0.azureResourceId"), m->resource_id);
    assert_string_equal(jstr(p, "compromisedEntity"), m->resource_name);
    assert_int_equal(intent_bits(jstr(p, "intent")), m->tactics);
    assert_int_equal(jsev(p, "severity"), m->severity);
    assert_int_equal(jtime(p, "timeGeneratedUtc"), m->time_ms);
    assert_int_equal(jtime(p, "startTimeUtc"), m->alert_start_ms);
    char loc[64];
    snprintf(loc, sizeof(loc), "/locations/%s/alerts/", m->region);
    assert_non_null(strstr(jstr(j, "id"), loc));
}

static void check_alert(json_t *j, const pd_gen_meta *m)
{
    if (m->rest_shape) {
        check_rest_alert(j, m);
        return;
    }
    assert_string_equal(jstr(j, "AlertType"), m->alert_type);
    assert_string_equal(jstr(j, "SystemAlertId"), m->event_id);
    assert_string_equal(jstr(j, "AzureResourceId"), m->resource_id);
    assert_string_equal(jstr(j, "CompromisedEntity"), m->resource_name);
    assert_string_equal(jstr(j, "VendorName"), "Microsoft");
    assert_int_equal(intent_bits(jstr(j, "Intent")), m->tactics);
    assert_int_equal(jsev(j, "Severity"), m->severity);
    assert_int_equal(jtime(j, "TimeGenerated"), m->time_ms);
    assert_int_equal(jtime(j, "StartTimeUtc"), m->alert_start_ms);
    assert_true(json_is_array(json_object_get(j, "Entities")));
    assert_string_equal(jstr(j, "Entities.0.AzureID"), m->resource_id);
    assert_true(json_is_object(json_object_get(j, "ExtendedProperties")));
    assert_string_equal(jstr(j, "ResourceIdentifiers.0.AzureResourceId"), m->resource_id);
}

static void check_sub(json_t *j, const pd_gen_meta *m)
{
    assert_string_equal(jstr(j, "Type"), "Microsoft.Security/assessments/subAssessments");
    assert_string_equal(jstr(j, "$type"), "subAssessmentEvent");
    assert_string_equal(jstr(j, "Id"), m->event_id);
    char want[128];
    snprintf(want, sizeof(want), "/assessments/%s/subassessments/", m->control_key);
    assert_non_null(strstr(m->event_id, want));
    if (!*m->cve) {
        /* A baseline rule result, as captured: no CVE, general additional data. */
        assert_string_equal(jstr(j, "Properties.Id"), jstr(j, "Name"));
        assert_string_equal(jstr(j, "Properties.AdditionalData.AssessedResourceType"),
                            "GeneralVulnerability");
        assert_true(m->cvss < 0);
        const pd_control_def *d = pd_controls_find(g_controls, pd_str_c(m->control_key));
        assert_true(pd_control_has_role(d, PD_ROLE_BASELINE));
        assert_string_equal(jstr(j, "Properties.Status.Code"),
                            m->status == PD_STATUS_UNHEALTHY ? "Unhealthy" : "Healthy");
        assert_int_equal(jsev(j, "Properties.Status.Severity"), m->severity);
        assert_int_equal(jtime(j, "Properties.TimeGenerated"), m->time_ms);
        return;
    }
    assert_string_equal(jstr(j, "Properties.Id"), m->cve);
    assert_string_equal(jstr(j, "Properties.AdditionalData.Cve.0.Title"), m->cve);
    json_t *cv = json_object_get(jpath(j, "Properties.AdditionalData.Cvss"), "3.0");
    assert_float_equal(json_number_value(json_object_get(cv, "Base")), m->cvss, 1e-9);
    assert_int_equal(json_is_true(jpath(j, "Properties.AdditionalData.Patchable")),
                     m->fix_available);
    assert_string_equal(jstr(j, "Properties.Status.Code"),
                        m->status == PD_STATUS_UNHEALTHY ? "Unhealthy" : "Healthy");
    assert_int_equal(jsev(j, "Properties.Status.Severity"), m->severity);
    assert_int_equal(jtime(j, "Properties.TimeGenerated"), m->time_ms);
    assert_string_equal(jstr(j, "Properties.ResourceDetails.Id"), m->resource_id);
    assert_int_equal(json_is_true(jpath(j, "SubAssessmentEventDataEnrichment.IsSnapshot")),
                     m->snapshot);
}

static void check_score(json_t *j, const pd_gen_meta *m)
{
    const char *type = jstr(j, "type");
    assert_string_equal(jstr(j, "id"), m->event_id);
    assert_float_equal(json_number_value(jpath(j, "properties.score.current")), m->score_current,
                       1e-9);
    assert_float_equal(json_number_value(jpath(j, "properties.score.max")), m->score_max, 1e-9);
    assert_float_equal(json_number_value(jpath(j, "properties.score.percentage")),
                       m->score_percentage, 1e-9);
    if (!strcmp(type, "Microsoft.Security/secureScores")) {
        assert_string_equal(jstr(j, "name"), "ascScore");
        assert_int_equal(json_integer_value(jpath(j, "properties.weight")),
                         m->healthy + m->unhealthy);
    } else {
        assert_string_equal(type, "Microsoft.Security/secureScores/secureScoreControls");
        assert_string_equal(jstr(j, "properties.displayName"), m->control_name);
        assert_string_equal(jstr(j, "name"), m->control_key);
        assert_int_equal(json_integer_value(jpath(j, "properties.healthyResourceCount")),
                         m->healthy);
        assert_int_equal(json_integer_value(jpath(j, "properties.unhealthyResourceCount")),
                         m->unhealthy);
        assert_int_equal(json_integer_value(jpath(j, "properties.notApplicableResourceCount")),
                         m->not_applicable);
        assert_true(json_array_size(jpath(j, "properties.definition.properties."
                                             "assessmentDefinitions")) > 0);
    }
    assert_true(m->score_current <= m->score_max + 1e-9);
}

static void check_compliance(json_t *j, const pd_gen_meta *m)
{
    assert_string_equal(jstr(j, "id"), m->event_id);
    assert_string_equal(jstr(j, "name"), m->control_key);
    char want[128];
    snprintf(want, sizeof(want),
             "/regulatoryComplianceStandards/%s/regulatoryComplianceControls/%s/", m->standard,
             m->compliance_control);
    assert_non_null(strstr(m->event_id, want));
    assert_non_null(strchr(m->compliance_control, '.'));
    assert_string_equal(jstr(j, "properties.state"), m->compliance_state);
    assert_int_equal(json_integer_value(jpath(j, "properties.passedResources")), m->passed);
    assert_int_equal(json_integer_value(jpath(j, "properties.failedResources")), m->failed);
    assert_int_equal(json_integer_value(jpath(j, "properties.skippedResources")), m->skipped);
    /* The compliance control comes from the table's MCSB id. */
    const pd_control_def *d = pd_controls_find(g_controls, pd_str_c(m->control_key));
    assert_non_null(d);
    char fw[32];
    snprintf(fw, sizeof(fw), "MCSB:%s", m->compliance_control);
    for (char *p = fw + 5; *p; p++)
        if (*p == '.')
            *p = '-';
    assert_true(pd_control_in_framework(d, fw));
}

static void check_inventory(json_t *j, const pd_gen_meta *m)
{
    assert_string_equal(jstr(j, "id"), m->resource_id);
    assert_string_equal(jstr(j, "type"), m->resource_type);
    assert_string_equal(jstr(j, "name"), m->resource_name);
    for (int k = 0; k < 3; k++)
        assert_string_equal(jstr(json_object_get(j, "tags"), m->tags[k][0]), m->tags[k][1]);
}

static void check_asff(json_t *j, const pd_gen_meta *m)
{
    json_t *f = j;
    if (m->envelope) {
        assert_string_equal(jstr(j, "detail-type"), "Security Hub Findings - Imported");
        assert_string_equal(jstr(j, "source"), "aws.securityhub");
        assert_int_equal(json_array_size(jpath(j, "detail.findings")), 1);
        f = jpath(j, "detail.findings.0");
    } else {
        assert_null(json_object_get(j, "detail-type"));
    }
    assert_string_equal(jstr(f, "SchemaVersion"), "2018-10-08");
    assert_string_equal(jstr(f, "Id"), m->event_id);
    assert_string_equal(jstr(f, "Compliance.SecurityControlId"), m->control_key);
    assert_string_equal(jstr(f, "ProductFields.ControlId"), m->control_key);
    assert_string_equal(jstr(f, "Compliance.Status"), m->status == PD_STATUS_HEALTHY ? "PASSED"
                                                      : m->status == PD_STATUS_UNHEALTHY
                                                          ? "FAILED"
                                                          : "NOT_AVAILABLE");
    assert_string_equal(jstr(f, "RecordState"), m->deleted ? "ARCHIVED" : "ACTIVE");
    assert_string_equal(jstr(f, "Resources.0.Id"), m->resource_id);
    assert_string_equal(jstr(f, "Resources.0.Type"), m->resource_type);
    assert_string_equal(jstr(f, "AwsAccountId"), m->account);
    assert_string_equal(jstr(f, "Region"), m->region);
    assert_int_equal(jsev(f, "Severity.Label"), m->severity);
    assert_int_equal(jtime(f, "UpdatedAt"), m->time_ms);
    assert_int_equal(jtime(f, "FirstObservedAt"), m->first_seen_ms);
    for (int k = 0; k < 3; k++)
        assert_string_equal(jstr(jpath(f, "Resources.0.Tags"), m->tags[k][0]), m->tags[k][1]);
}

static void check_scc(json_t *j, const pd_gen_meta *m)
{
    if (m->envelope) {
        assert_non_null(strstr(jstr(j, "notificationConfigName"), "/notificationConfigs/"));
        assert_string_equal(jstr(j, "resource.name"), m->resource_id);
    } else {
        assert_null(json_object_get(j, "notificationConfigName"));
    }
    json_t *f = json_object_get(j, "finding");
    assert_non_null(f);
    assert_string_equal(jstr(f, "name"), m->event_id);
    assert_string_equal(jstr(f, "resourceName"), m->resource_id);
    assert_string_equal(jstr(f, "resource.type"), "google.compute.Instance");
    assert_int_equal(jtime(f, "eventTime"), m->time_ms);
    assert_int_equal(jsev(f, "severity"), m->severity);
    if (m->kind == PD_KIND_ALERT) {
        assert_string_equal(jstr(f, "category"), m->alert_type);
        assert_string_equal(jstr(f, "findingClass"), "THREAT");
        assert_string_equal(jstr(f, "state"), "ACTIVE");
        assert_int_equal(intent_bits(jstr(f, "mitreAttack.primaryTactic")), m->tactics);
    } else {
        assert_string_equal(jstr(f, "category"), m->control_key);
        assert_string_equal(jstr(f, "state"),
                            m->status == PD_STATUS_UNHEALTHY ? "ACTIVE" : "INACTIVE");
        const pd_control_def *d = pd_controls_find(g_controls, pd_str_c(m->control_key));
        assert_non_null(d);
        assert_string_equal(d->source, "scc");
    }
}

static void check_one(const char *line, size_t len, const pd_gen_meta *m)
{
    json_error_t err;
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (!j)
        fail_msg("unparsable line (%s): %.200s", err.text, line);
    assert_true(json_is_object(j));
    switch (m->format) {
    case PD_FMT_ASFF:
        check_asff(j, m);
        break;
    case PD_FMT_SCC:
        check_scc(j, m);
        break;
    case PD_FMT_DEFENDER:
        switch (m->kind) {
        case PD_KIND_ASSESSMENT:
            check_defender_assessment(j, m);
            break;
        case PD_KIND_ALERT:
            check_alert(j, m);
            break;
        case PD_KIND_VULNERABILITY:
            check_sub(j, m);
            break;
        case PD_KIND_SCORE:
            check_score(j, m);
            break;
        case PD_KIND_COMPLIANCE:
            check_compliance(j, m);
            break;
        case PD_KIND_INVENTORY:
            check_inventory(j, m);
            break;
        default:
            fail_msg("unexpected kind %d", m->kind);
        }
        break;
    default:
        fail_msg("unexpected format %d", m->format);
    }
    json_decref(j);
}

static void run_shapes(pd_gen_opts *o, uint64_t *per_kind, uint64_t *per_fmt)
{
    pd_gen *g = NULL;
    assert_int_equal(pd_gen_create(o, &g, NULL), 0);
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta m;
    int64_t max_t = INT64_MIN / 2;
    int rc;
    while ((rc = pd_gen_next(g, &b, &m)) == 0) {
        check_one(b.p, b.len, &m);
        assert_true(m.time_ms != PD_TIME_NONE);
        if (m.time_ms < max_t - o->disorder_ms)
            fail_msg("out of order: kind %s format %s at %lld after %lld", pd_kind_name(m.kind),
                     pd_format_name(m.format), (long long)m.time_ms, (long long)max_t);
        if (m.time_ms > max_t)
            max_t = m.time_ms;
        if (m.server != UINT32_MAX) {
            assert_string_equal(m.key, pd_gen_server_key(g, m.server));
            for (const char *p = m.key; *p; p++)
                assert_false(*p >= 'A' && *p <= 'Z');
        }
        per_kind[m.kind]++;
        per_fmt[m.format]++;
        pd_buf_reset(&b);
    }
    assert_int_equal(rc, PD_ENOTFOUND);
    pd_buf_free(&b);
    pd_gen_destroy(g);
}

static void test_shapes(void **state)
{
    (void)state;
    pd_gen_opts o;
    opts_base(&o, 11, 80, 9);
    o.mix = PD_GEN_MIX_ALL;
    o.churn = 0.05;
    o.delete_rate = 0.01;
    o.inventory = true;
    uint64_t k[PD_KIND__COUNT] = {0}, f[PD_FMT__COUNT] = {0};
    run_shapes(&o, k, f);
    for (int i = 0; i < PD_KIND__COUNT; i++)
        if (!k[i])
            fail_msg("no %s event generated", pd_kind_name(i));
    assert_true(f[PD_FMT_DEFENDER] > 0 && f[PD_FMT_ASFF] > 0 && f[PD_FMT_SCC] > 0);
    /* Defender-only mix, with disorder. */
    memset(k, 0, sizeof(k));
    memset(f, 0, sizeof(f));
    opts_base(&o, 12, 50, 3);
    o.disorder_ms = 300000;
    o.alert_rest_pct = 50;
    o.assessment_tags = false;
    run_shapes(&o, k, f);
    assert_int_equal(f[PD_FMT_ASFF] + f[PD_FMT_SCC], 0);
    assert_int_equal(k[PD_KIND_INVENTORY], 0); /* off by default */
    assert_true(k[PD_KIND_ASSESSMENT] > 0 && k[PD_KIND_ALERT] > 0);
}

/* ---- benign noise and scripted incidents, checked on the stream's own facts ---- */

typedef struct alert_rec {
    uint32_t server;
    int64_t t;
    uint32_t tactics;
    const char *type; /* static table strings */
    pd_severity sev;
    pd_gen_incident inc;
} alert_rec;

typedef struct change_rec {
    uint32_t server;
    int64_t t;
    pd_status from, to;
    char key[64];
    pd_gen_incident inc;
} change_rec;

typedef struct stream {
    alert_rec *a;
    size_t na;
    change_rec *c;
    size_t nc;
} stream;

static int key_status_slot(char (*keys)[96], pd_status *st, size_t *n, const char *k)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(keys[i], k))
            return (int)i;
    snprintf(keys[*n], 96, "%s", k);
    st[*n] = PD_STATUS_UNKNOWN;
    return (int)(*n)++;
}

static void collect(pd_gen_opts *o, stream *s, pd_gen **keep)
{
    pd_gen *g = NULL;
    assert_int_equal(pd_gen_create(o, &g, NULL), 0);
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta m;
    memset(s, 0, sizeof(*s));
    size_t cap_a = 1024, cap_c = 1024;
    s->a = malloc(cap_a * sizeof(*s->a));
    s->c = malloc(cap_c * sizeof(*s->c));
    /* Last status per (server key, control key), to see transitions. */
    size_t nk = 0, capk = 200000;
    char(*keys)[96] = malloc(capk * sizeof(*keys));
    pd_status *st = malloc(capk * sizeof(*st));
    while (pd_gen_next(g, &b, &m) == 0) {
        pd_buf_reset(&b);
        if (m.kind == PD_KIND_ALERT) {
            if (s->na == cap_a)
                s->a = realloc(s->a, (cap_a *= 2) * sizeof(*s->a));
            s->a[s->na++] =
                (alert_rec){m.server, m.time_ms, m.tactics, m.alert_type, m.severity, m.incident};
        } else if (m.kind == PD_KIND_ASSESSMENT && m.format == PD_FMT_DEFENDER) {
            char k[96];
            snprintf(k, sizeof(k), "%u/%s", m.server, m.control_key);
            assert_true(nk < capk);
            int i = key_status_slot(keys, st, &nk, k);
            if (st[i] != m.status && st[i] != PD_STATUS_UNKNOWN) {
                if (s->nc == cap_c)
                    s->c = realloc(s->c, (cap_c *= 2) * sizeof(*s->c));
                change_rec *c = &s->c[s->nc++];
                c->server = m.server;
                c->t = m.time_ms;
                c->from = st[i];
                c->to = m.status;
                c->inc = m.incident;
                snprintf(c->key, sizeof(c->key), "%s", m.control_key);
            }
            st[i] = m.deleted ? PD_STATUS_UNKNOWN : m.status;
        }
    }
    free(keys);
    free(st);
    pd_buf_free(&b);
    if (keep)
        *keep = g;
    else
        pd_gen_destroy(g);
}

static void stream_free(stream *s)
{
    free(s->a);
    free(s->c);
}

/* Does any server see >= 3 distinct tactics in increasing kill-chain order within 24 h? */
static bool has_kill_chain(const stream *s, uint32_t only_server)
{
    for (size_t i = 0; i < s->na; i++) {
        if (only_server != UINT32_MAX && s->a[i].server != only_server)
            continue;
        /* Longest increasing chain of lowest tactics starting at alert i. */
        int last = -1, n = 0;
        for (size_t j = i; j < s->na; j++) {
            const alert_rec *r = &s->a[j];
            if (r->server != s->a[i].server || r->t - s->a[i].t > 24 * 3600000LL)
                continue;
            for (int t = last + 1; t < 32; t++)
                if (r->tactics & (1u << t)) {
                    last = t;
                    n++;
                    break;
                }
        }
        if (n >= 3)
            return true;
    }
    return false;
}

/* Same alert type on >= 3 distinct servers within 1 h? */
static bool has_spread(const stream *s, const char *only_type)
{
    for (size_t i = 0; i < s->na; i++) {
        if (only_type && strcmp(s->a[i].type, only_type))
            continue;
        uint32_t seen[3] = {s->a[i].server, UINT32_MAX, UINT32_MAX};
        int n = 1;
        for (size_t j = i + 1; j < s->na && n < 3; j++) {
            const alert_rec *r = &s->a[j];
            if (r->t - s->a[i].t > 3600000LL || r->t < s->a[i].t || strcmp(r->type, s->a[i].type))
                continue;
            bool dup = false;
            for (int k = 0; k < n; k++)
                dup |= seen[k] == r->server;
            if (!dup)
                seen[n++] = r->server;
        }
        if (n >= 3)
            return true;
    }
    return false;
}

static void test_noise_is_benign(void **state)
{
    (void)state;
    pd_gen_opts o;
    opts_base(&o, 21, 1500, 7);
    o.noise = true;
    o.incidents = false;
    o.alert_rate = 0.5;
    o.keys = 4;
    stream s;
    collect(&o, &s, NULL);
    assert_true(s.na > 500);
    assert_false(has_kill_chain(&s, UINT32_MAX));
    assert_false(has_spread(&s, NULL));
    for (size_t i = 0; i < s.na; i++)
        assert_int_equal(s.a[i].inc, PD_GEN_INC_NONE);
    stream_free(&s);
}

static void test_incidents(void **state)
{
    (void)state;
    pd_gen_opts o;
    opts_base(&o, 31, 120, 9);
    stream s;
    pd_gen *g;
    collect(&o, &s, &g);
    uint32_t ninc = pd_gen_incident_count(g);
    assert_int_equal(ninc, 2 * (PD_GEN_INC__COUNT - 1)); /* weeks 0 and 1 */
    for (uint32_t i = 0; i < ninc; i++) {
        const pd_gen_incident_info *ii = pd_gen_incident_at(g, i);
        uint32_t sv = ii->servers[0];
        size_t nal = 0;
        for (size_t k = 0; k < s.na; k++)
            if (s.a[k].inc == ii->kind && s.a[k].t >= ii->start_ms &&
                s.a[k].t <= ii->end_ms + 3 * 3600000LL)
                nal++;
        assert_true(nal > 0);
        switch (ii->kind) {
        case PD_GEN_INC_KILL_CHAIN:
            assert_true(has_kill_chain(&s, sv));
            break;
        case PD_GEN_INC_LATERAL:
            assert_true(ii->nservers >= 3);
            assert_true(has_spread(&s, ii->alert_type));
            break;
        case PD_GEN_INC_BURST: {
            size_t n = 0;
            for (size_t k = 0; k < s.na; k++)
                n += s.a[k].server == sv && s.a[k].t >= ii->start_ms &&
                     s.a[k].t < ii->start_ms + 600000;
            assert_true(n >= 10);
            break;
        }
        case PD_GEN_INC_WEAK: {
            /* The alert is medium+ and the server's high pair is unhealthy (never changed). */
            const pd_control_def *d = pd_controls_find(g_controls, pd_str_c(ii->control_key));
            assert_non_null(d);
            assert_true(d->severity >= PD_SEV_HIGH);
            for (size_t k = 0; k < s.na; k++)
                if (s.a[k].inc == PD_GEN_INC_WEAK && s.a[k].server == sv)
                    assert_true(s.a[k].sev >= PD_SEV_MEDIUM);
            for (size_t k = 0; k < s.nc; k++)
                assert_false(s.c[k].server == sv && !strcmp(s.c[k].key, ii->control_key));
            break;
        }
        case PD_GEN_INC_DRIFT:
        case PD_GEN_INC_TAMPER: {
            const change_rec *c = NULL;
            for (size_t k = 0; k < s.nc; k++)
                if (s.c[k].server == sv && !strcmp(s.c[k].key, ii->control_key) &&
                    s.c[k].inc == ii->kind)
                    c = &s.c[k];
            assert_non_null(c);
            assert_int_equal(c->from, PD_STATUS_HEALTHY);
            assert_int_equal(c->to, PD_STATUS_UNHEALTHY);
            const alert_rec *a = NULL;
            for (size_t k = 0; k < s.na; k++)
                if (s.a[k].server == sv && s.a[k].inc == ii->kind)
                    a = &s.a[k];
            assert_non_null(a);
            if (ii->kind == PD_GEN_INC_DRIFT) {
                assert_true(a->t > c->t && a->t - c->t < 24 * 3600000LL);
            } else {
                const pd_control_def *d = pd_controls_find(g_controls, pd_str_c(c->key));
                assert_true(pd_control_is_defense(d));
                assert_true(a->sev >= PD_SEV_HIGH);
                int64_t dt = c->t - a->t;
                assert_true(dt > -3600000LL && dt < 3600000LL);
            }
            break;
        }
        default:
            fail_msg("unknown incident kind");
        }
    }
    stream_free(&s);
    pd_gen_destroy(g);
}

static void test_cli(void **state)
{
    (void)state;
    const char *bin = getenv("PD_BIN");
    if (!bin) {
        fprintf(stderr, "SKIP: PD_BIN not set\n");
        skip();
    }
    char cmd[2048];
    const char *ctl = getenv("PD_SOURCE_DIR");
    snprintf(cmd, sizeof(cmd),
             "%s gen --seed 3 --servers 12 --days 2 --key --controls %s/pipelines/controls.yaml",
             bin, ctl ? ctl : ".");
    char *out[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    for (int r = 0; r < 2; r++) {
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t cap = 1 << 16;
        out[r] = malloc(cap);
        size_t n;
        while ((n = fread(out[r] + len[r], 1, cap - len[r], p)) > 0) {
            len[r] += n;
            if (len[r] == cap)
                out[r] = realloc(out[r], cap *= 2);
        }
        assert_int_equal(pclose(p), 0);
    }
    assert_true(len[0] > 1000);
    assert_int_equal(len[0], len[1]);
    assert_memory_equal(out[0], out[1], len[0]);
    /* Every line is key<TAB>json, the json parses. */
    char *line = out[0], *end = out[0] + len[0];
    int lines = 0;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        assert_non_null(nl);
        char *tab = memchr(line, '\t', (size_t)(nl - line));
        assert_non_null(tab);
        assert_true(tab > line);
        json_t *j = json_loadb(tab + 1, (size_t)(nl - tab - 1), 0, NULL);
        assert_non_null(j);
        json_decref(j);
        lines++;
        line = nl + 1;
    }
    assert_true(lines > 10);
    free(out[0]);
    free(out[1]);
    snprintf(cmd, sizeof(cmd), "%s gen --mix nope >/dev/null 2>&1", bin);
    assert_int_not_equal(system(cmd), 0);

    /* The manifest lists one line per scripted incident, each naming its rule. */
    char man[] = "/tmp/pd_gen_manifest_XXXXXX";
    int fd = mkstemp(man);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof(cmd),
             "%s gen --seed 3 --servers 30 --days 2 --controls %s/pipelines/controls.yaml "
             "--manifest %s >/dev/null",
             bin, ctl ? ctl : ".", man);
    assert_int_equal(system(cmd), 0);
    size_t mlen = 0;
    char *mtext = pd_test_read_file(man, &mlen);
    unlink(man);
    assert_non_null(mtext);
    bool seen[PD_GEN_INC__COUNT] = {false};
    int mlines = 0;
    for (char *l = strtok(mtext, "\n"); l; l = strtok(NULL, "\n")) {
        json_t *j = json_loads(l, 0, NULL);
        assert_non_null(j);
        const char *rule = json_string_value(json_object_get(j, "rule"));
        assert_non_null(rule);
        for (int k = 1; k < PD_GEN_INC__COUNT; k++)
            if (!strcmp(rule, pd_gen_incident_rule(k)))
                seen[k] = true;
        assert_true(json_array_size(json_object_get(j, "resources")) >= 1);
        json_decref(j);
        mlines++;
    }
    assert_int_equal(mlines, PD_GEN_INC__COUNT - 1);
    for (int k = 1; k < PD_GEN_INC__COUNT; k++)
        assert_true(seen[k]);
    free(mtext);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism), cmocka_unit_test(test_counts),
        cmocka_unit_test(test_shapes),      cmocka_unit_test(test_noise_is_benign),
        cmocka_unit_test(test_incidents),   cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
