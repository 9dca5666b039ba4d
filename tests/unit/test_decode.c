/* test_decode: every real sample in PD_SAMPLES_DIR decodes to the expected kind and fields,
 * asserted one by one; wrappers, casing, escapes and API behaviour. */
#include "pd_test.h"

#include "pd_arena.h"
#include "pd_buf.h"
#include "pd_decode.h"
#include "pd_time.h"

/* ---------- capture: deep copies of emitted events ---------- */

#define CAP_MAX 16
typedef struct cap {
    pd_arena arena;
    pd_event ev[CAP_MAX];
    int n;
} cap;

static pd_str dup(cap *c, pd_str s)
{
    if (!s.p)
        return s;
    return (pd_str){pd_arena_strndup(&c->arena, s.p, s.len), s.len};
}

static int capture(void *ctx, const pd_event *ev)
{
    cap *c = ctx;
    assert_true(c->n < CAP_MAX);
    pd_event *e = &c->ev[c->n++];
    *e = *ev;
    pd_str *strs[] = {
        &e->resource.id,     &e->resource.canon,   &e->resource.account,    &e->resource.region,
        &e->resource.group,  &e->resource.type,    &e->resource.name,       &e->control.key,
        &e->control.name,    &e->control.category, &e->severity_orig,       &e->event_id,
        &e->alert.id,        &e->alert.type,       &e->alert.status,        &e->vuln.cve,
        &e->vuln.parent_key, &e->score.control,    &e->compliance.standard, &e->compliance.control,
        &e->compliance.state};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        *strs[i] = dup(c, *strs[i]);
    for (int i = 0; i < e->resource.ntags; i++) {
        e->resource.tags[i].key = dup(c, e->resource.tags[i].key);
        e->resource.tags[i].value = dup(c, e->resource.tags[i].value);
    }
    for (int i = 0; i < e->control.nframeworks; i++)
        e->control.frameworks[i] = dup(c, e->control.frameworks[i]);
    return 0;
}

static pd_decoder *dec;
static cap C;

static int setup(void **state)
{
    (void)state;
    pd_arena_init(&C.arena, 65536);
    C.n = 0;
    return pd_decoder_create(NULL, &dec);
}

static int teardown(void **state)
{
    (void)state;
    pd_decoder_destroy(dec);
    pd_arena_destroy(&C.arena);
    return 0;
}

static void reset_cap(void)
{
    pd_arena_reset(&C.arena);
    C.n = 0;
}

static int decode_str(const char *msg, size_t len, pd_format f, pd_decode_error *err)
{
    reset_cap();
    return pd_decode(dec, msg, len, f, capture, &C, err);
}

#define expect_str(s, want) expect_str_(s, want, #s, __LINE__)
static void expect_str_(pd_str s, const char *want, const char *what, int line)
{
    size_t n = strlen(want);
    if (s.len != n || (n && memcmp(s.p, want, n)))
        fail_msg("line %d: %s is '%.*s', want '%s'", line, what, (int)s.len, s.p ? s.p : "", want);
}

static int64_t T(const char *s)
{
    int64_t ms;
    assert_int_equal(pd_time_parse(pd_str_c(s), &ms), 0);
    return ms;
}

static void decode_ok(const char *msg, size_t len, pd_format f, int nevents)
{
    pd_decode_error err;
    int rc = decode_str(msg, len, f, &err);
    if (rc)
        fail_msg("decode failed: %s at %zu: %s", pd_decode_error_name(rc), err.offset, err.message);
    assert_int_equal(C.n, nevents);
}

/* Line `n` (1-based) of a JSON-lines buffer. */
static const char *nth_line(const char *buf, int n, size_t *len)
{
    const char *p = buf;
    for (int i = 1; i < n; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    const char *e = strchr(p, '\n');
    *len = e ? (size_t)(e - p) : strlen(p);
    return p;
}

/* ---------- Defender: the five continuous-export lines ---------- */

static const char SUB[] = "12cabcb4-86e8-404f-a3d2-1dc9982f45ca";

static void test_elastic_compliance(void **state)
{
    (void)state;
    size_t n, len;
    char *buf = pd_test_sample("elastic_integrations__test-alert.log", &n);
    const char *l = nth_line(buf, 1, &len);
    decode_ok(l, len, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_COMPLIANCE);
    assert_int_equal(e->format, PD_FMT_DEFENDER);
    expect_str(e->compliance.standard, "Microsoft-cloud-security-benchmark");
    expect_str(e->compliance.control, "LT.5");
    expect_str(e->compliance.state, "Skipped");
    assert_int_equal(e->compliance.passed, 0);
    assert_int_equal(e->compliance.failed, 0);
    assert_int_equal(e->compliance.skipped, 1);
    assert_int_equal(e->status, PD_STATUS_NOT_APPLICABLE);
    expect_str(e->control.key, "45cfe080-ceb1-a91e-9743-71551ed24e94");
    expect_str(e->control.name, "Log Analytics agent should be installed on virtual machine "
                                "scale sets");
    assert_int_equal(e->control.nframeworks, 1);
    expect_str(e->control.frameworks[0], "Microsoft-cloud-security-benchmark:LT.5");
    expect_str(e->resource.canon, "/subscriptions/12cabcb4-86e8-404f-a3d2-1dc9982f45ca");
    expect_str(e->resource.account, SUB);
    expect_str(e->resource.type, "microsoft.resources/subscriptions");
    assert_int_equal(e->resource.cloud, PD_CLOUD_AZURE);
    assert_false(e->snapshot);
    assert_false(e->deleted);
    assert_true(e->time_ms == PD_TIME_NONE);
    free(buf);
}

static void test_elastic_assessment_delete(void **state)
{
    (void)state;
    size_t n, len;
    char *buf = pd_test_sample("elastic_integrations__test-alert.log", &n);
    const char *l = nth_line(buf, 2, &len);
    decode_ok(l, len, PD_FMT_DEFENDER, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    assert_int_equal(e->format, PD_FMT_DEFENDER);
    expect_str(e->control.key, "7b3d4796-9400-2904-692b-4a5ede7f0a1e");
    expect_str(e->control.name, "CORS should not allow every resource to access Function Apps");
    expect_str(e->control.category, "AppServices");
    assert_true(e->deleted);
    assert_false(e->snapshot);
    assert_int_equal(e->status, PD_STATUS_REMOVED);
    assert_int_equal(e->severity, PD_SEV_LOW);
    expect_str(e->severity_orig, "Low");
    expect_str(e->resource.id, "/subscriptions/12cabcb4-86e8-404f-a3d2-1dc9982f45ca/"
                               "resourcegroups/mbranca-esf/providers/microsoft.web/sites/"
                               "mbranca-esf");
    expect_str(e->resource.canon, "/subscriptions/12cabcb4-86e8-404f-a3d2-1dc9982f45ca/"
                                  "resourcegroups/mbranca-esf/providers/microsoft.web/sites/"
                                  "mbranca-esf");
    expect_str(e->resource.account, SUB);
    expect_str(e->resource.group, "mbranca-esf");
    expect_str(e->resource.type, "microsoft.web/sites");
    expect_str(e->resource.name, "mbranca-esf");
    assert_int_equal(e->resource.cloud, PD_CLOUD_AZURE);
    assert_int_equal(e->resource.ntags, 0);
    assert_true(e->status_change_ms == T("2023-05-09T13:19:49.3381028Z"));
    assert_true(e->first_seen_ms == T("2023-05-09T13:19:49.3381028Z"));
    assert_true(e->time_ms == e->status_change_ms);
    expect_str(e->event_id, "/subscriptions/12cabcb4-86e8-404f-a3d2-1dc9982f45ca/resourcegroups/"
                            "mbranca-esf/providers/microsoft.web/sites/mbranca-esf/providers/"
                            "Microsoft.Security/assessments/7b3d4796-9400-2904-692b-4a5ede7f0a1e");
    free(buf);
}

static void test_elastic_score_control(void **state)
{
    (void)state;
    size_t n, len;
    char *buf = pd_test_sample("elastic_integrations__test-alert.log", &n);
    const char *l = nth_line(buf, 3, &len);
    decode_ok(l, len, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_SCORE);
    expect_str(e->score.control, "Apply system updates");
    expect_str(e->control.name, "Apply system updates");
    expect_str(e->control.key, "61702b76-1fab-41f2-bcbc-50b7870dcf38");
    assert_true(e->score.max == 6.0);
    assert_true(e->score.current == 0.0);
    assert_true(e->score.percentage == 0.0);
    assert_int_equal(e->score.healthy, 0);
    assert_int_equal(e->score.unhealthy, 3);
    assert_int_equal(e->score.not_applicable, 1);
    expect_str(e->resource.account, SUB);
    expect_str(e->resource.canon, "/subscriptions/12cabcb4-86e8-404f-a3d2-1dc9982f45ca");
    assert_false(e->deleted);
    free(buf);
}

static void test_elastic_sub_assessment(void **state)
{
    (void)state;
    size_t n, len;
    char *buf = pd_test_sample("elastic_integrations__test-alert.log", &n);
    const char *l = nth_line(buf, 4, &len);
    decode_ok(l, len, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_VULNERABILITY);
    expect_str(e->control.key, "93d2736e-7329-8806-3ef6-e71bb2203d11");
    expect_str(e->control.name, "Ensure DCCP is disabled");
    expect_str(e->vuln.parent_key, "c476dc48-8110-4139-91af-c8d940896b98");
    expect_str(e->vuln.cve, "");
    assert_true(e->vuln.cvss < 0);
    assert_false(e->vuln.fix_available);
    assert_true(e->deleted);
    assert_int_equal(e->status, PD_STATUS_REMOVED);
    assert_int_equal(e->severity, PD_SEV_LOW);
    assert_true(e->time_ms == T("2023-05-12T09:58:32.2607101Z"));
    expect_str(e->resource.type, "microsoft.compute/virtualmachines");
    expect_str(e->resource.name, "sdh-3372");
    expect_str(e->resource.group, "mbranca-sdh-3372");
    expect_str(e->resource.account, SUB);
    assert_int_equal(e->resource.cloud, PD_CLOUD_AZURE);
    free(buf);
}

static void test_elastic_alert(void **state)
{
    (void)state;
    size_t n, len;
    char *buf = pd_test_sample("elastic_integrations__test-alert.log", &n);
    const char *l = nth_line(buf, 5, &len);
    decode_ok(l, len, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ALERT);
    assert_int_equal(e->format, PD_FMT_DEFENDER);
    expect_str(e->alert.id, "2517184898549829577_cdcf9f94-ec53-47a6-ab87-76130f87218d");
    expect_str(e->event_id, "2517184898549829577_cdcf9f94-ec53-47a6-ab87-76130f87218d");
    expect_str(e->alert.type, "ARM_AnomalousServiceOperation.CredentialAccess");
    expect_str(e->alert.status, "New");
    assert_int_equal(e->alert.tactics, 1u << PD_TACTIC_RECONNAISSANCE); /* PreAttack */
    assert_true(e->alert.start_ms == T("2023-05-11T13:15:45.0170422Z"));
    assert_true(e->alert.end_ms == T("2023-05-11T13:15:45.0170422Z"));
    assert_true(e->time_ms == T("2023-05-11T13:17:09.0170422Z"));
    assert_int_equal(e->severity, PD_SEV_MEDIUM);
    expect_str(e->control.name, "[SAMPLE ALERT] Login from a suspicious IP");
    expect_str(e->resource.id, "/SUBSCRIPTIONS/12cabcb4-86e8-404f-a3d2-1dc9982f45ca/"
                               "RESOURCEGROUPS/Sample-RG/providers/Microsoft.Compute/"
                               "virtualMachines/Sample-VM");
    expect_str(e->resource.canon, "/subscriptions/12cabcb4-86e8-404f-a3d2-1dc9982f45ca/"
                                  "resourcegroups/sample-rg/providers/microsoft.compute/"
                                  "virtualmachines/sample-vm");
    expect_str(e->resource.account, SUB);
    expect_str(e->resource.group, "Sample-RG");
    expect_str(e->resource.type, "microsoft.compute/virtualmachines");
    expect_str(e->resource.name, "Sample-VM");
    expect_str(e->resource.region, "centralus");
    assert_int_equal(e->resource.cloud, PD_CLOUD_AZURE);
    free(buf);
}

/* The whole 5-line log through the records wrapper and a top-level array. */
static void test_elastic_wrappers(void **state)
{
    (void)state;
    size_t n;
    char *buf = pd_test_sample("elastic_integrations__test-alert.log", &n);
    pd_buf b;
    pd_buf_init(&b);
    for (int wrap = 0; wrap < 2; wrap++) {
        pd_buf_reset(&b);
        pd_buf_puts(&b, wrap ? "[" : "{\"records\": [");
        for (int i = 1; i <= 5; i++) {
            size_t len;
            const char *l = nth_line(buf, i, &len);
            if (i > 1)
                pd_buf_puts(&b, ",\n");
            pd_buf_append(&b, l, len);
        }
        pd_buf_puts(&b, wrap ? "]" : "]}");
        decode_ok(b.p, b.len, PD_FMT_AUTO, 5);
        assert_int_equal(C.ev[0].kind, PD_KIND_COMPLIANCE);
        assert_int_equal(C.ev[1].kind, PD_KIND_ASSESSMENT);
        assert_int_equal(C.ev[2].kind, PD_KIND_SCORE);
        assert_int_equal(C.ev[3].kind, PD_KIND_VULNERABILITY);
        assert_int_equal(C.ev[4].kind, PD_KIND_ALERT);
        expect_str(C.ev[1].control.key, "7b3d4796-9400-2904-692b-4a5ede7f0a1e");
        expect_str(C.ev[4].resource.name, "Sample-VM");
    }
    /* One bad element: nothing is emitted, the error names the element. */
    pd_buf_reset(&b);
    pd_buf_puts(&b, "{\"records\":[");
    size_t len;
    const char *l = nth_line(buf, 2, &len);
    pd_buf_append(&b, l, len);
    pd_buf_puts(&b, ",{\"type\":\"Microsoft.Security/assessments\",\"id\":\"/subscriptions/x\"}]}");
    pd_decode_error err;
    assert_int_equal(decode_str(b.p, b.len, PD_FMT_AUTO, &err), PD_EDEC_MISSING);
    assert_int_equal(C.n, 0);
    pd_buf_free(&b);
    free(buf);
}

/* ---------- API behaviour ---------- */

static const char ASSESS[] =
    "{\"assessmentEventDataEnrichment\":{\"action\":\"Insert\",\"isSnapshot\":true},"
    "\"type\":\"Microsoft.Security/assessments\","
    "\"id\":\"/subscriptions/S1/resourceGroups/RG1/providers/Microsoft.Compute/virtualMachines/"
    "VM1/providers/Microsoft.Security/assessments/4AB6E3C5-74DD-8B35-9AB9-F61B30875B27\","
    "\"name\":\"4AB6E3C5-74DD-8B35-9AB9-F61B30875B27\","
    "\"tags\":{\"env\":\"prod\",\"owner\":\"team-a\",\"tier\":\"web\"},"
    "\"properties\":{\"resourceDetails\":{\"Source\":\"Azure\",\"Id\":\"/subscriptions/S1/"
    "resourceGroups/RG1/providers/Microsoft.Compute/virtualMachines/VM1\"},"
    "\"displayName\":\"System updates should be installed on your machines \\u2014 now\","
    "\"status\":{\"code\":\"Unhealthy\",\"statusChangeDate\":\"2024-01-02T03:04:05Z\","
    "\"firstEvaluationDate\":\"2024-01-01T00:00:00Z\"},"
    "\"metadata\":{\"severity\":\"High\",\"categories\":[\"Compute\"]}}}";

static void test_assessment_template(void **state)
{
    (void)state;
    decode_ok(ASSESS, sizeof(ASSESS) - 1, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    expect_str(e->control.key, "4ab6e3c5-74dd-8b35-9ab9-f61b30875b27");
    expect_str(e->control.name,
               "System updates should be installed on your machines \xe2\x80\x94 now");
    assert_true(e->snapshot);
    assert_false(e->deleted);
    assert_int_equal(e->status, PD_STATUS_UNHEALTHY);
    assert_int_equal(e->severity, PD_SEV_HIGH);
    assert_int_equal(e->resource.ntags, 3);
    expect_str(e->resource.tags[0].key, "env");
    expect_str(e->resource.tags[0].value, "prod");
    expect_str(e->resource.tags[2].key, "tier");
    expect_str(e->resource.tags[2].value, "web");
    expect_str(e->resource.canon,
               "/subscriptions/s1/resourcegroups/rg1/providers/microsoft.compute/virtualmachines/"
               "vm1");
    expect_str(e->resource.group, "RG1");
    expect_str(e->resource.name, "VM1");
    assert_true(e->time_ms == T("2024-01-02T03:04:05Z"));
    assert_true(e->first_seen_ms == T("2024-01-01T00:00:00Z"));
}

/* camelCase vs PascalCase vs shouting: field names match case-insensitively. */
static void test_case_insensitive(void **state)
{
    (void)state;
    static const char m[] =
        "{\"TYPE\":\"microsoft.security/ASSESSMENTS\",\"Name\":\"abc\","
        "\"PROPERTIES\":{\"ResourceDetails\":{\"SOURCE\":\"Azure\",\"ID\":\"/subscriptions/s/"
        "resourceGroups/g/providers/Microsoft.HybridCompute/machines/m1\"},"
        "\"Status\":{\"CODE\":\"notapplicable\"}}}";
    decode_ok(m, sizeof(m) - 1, PD_FMT_AUTO, 1);
    assert_int_equal(C.ev[0].status, PD_STATUS_NOT_APPLICABLE);
    assert_int_equal(C.ev[0].resource.cloud, PD_CLOUD_ONPREM);
    expect_str(C.ev[0].resource.type, "microsoft.hybridcompute/machines");
    /* An Arc machine the source says lives in AWS. */
    static const char m2[] =
        "{\"type\":\"Microsoft.Security/assessments\",\"name\":\"abc\",\"properties\":{"
        "\"resourceDetails\":{\"source\":\"Aws\",\"id\":\"/subscriptions/s/resourceGroups/g/"
        "providers/Microsoft.HybridCompute/machines/m1\"},\"status\":{\"code\":\"Healthy\"}}}";
    decode_ok(m2, sizeof(m2) - 1, PD_FMT_AUTO, 1);
    assert_int_equal(C.ev[0].resource.cloud, PD_CLOUD_AWS);
}

static void test_rest_alert(void **state)
{
    (void)state;
    static const char m[] =
        "{\"id\":\"/subscriptions/s/resourceGroups/g/providers/Microsoft.Security/locations/"
        "westeurope/alerts/2518_abc\",\"name\":\"2518_abc\",\"type\":\"Microsoft.Security/"
        "Locations/alerts\",\"properties\":{\"alertType\":\"VM_SuspiciousCommand\","
        "\"systemAlertId\":\"2518_abc\",\"alertDisplayName\":\"Suspicious command\","
        "\"severity\":\"High\",\"intent\":\"Execution, LateralMovement,Unknown\","
        "\"status\":\"Active\",\"startTimeUtc\":\"2024-02-01T10:00:00Z\","
        "\"timeGenerated\":\"2024-02-01T10:05:00Z\",\"resourceIdentifiers\":[{\"type\":"
        "\"AzureResource\",\"azureResourceId\":\"/subscriptions/s/resourceGroups/g/providers/"
        "Microsoft.Compute/virtualMachines/vm9\"}]}}";
    decode_ok(m, sizeof(m) - 1, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ALERT);
    expect_str(e->alert.id, "2518_abc");
    expect_str(e->alert.type, "VM_SuspiciousCommand");
    assert_int_equal(e->alert.tactics,
                     (1u << PD_TACTIC_EXECUTION) | (1u << PD_TACTIC_LATERAL_MOVEMENT));
    expect_str(e->resource.name, "vm9");
    expect_str(e->resource.region, "westeurope");
    assert_int_equal(e->severity, PD_SEV_HIGH);
    assert_true(e->time_ms == T("2024-02-01T10:05:00Z"));
}

static int stop_after_one(void *ctx, const pd_event *ev)
{
    (void)ev;
    (*(int *)ctx)++;
    return 7;
}

static void test_api(void **state)
{
    (void)state;
    int calls = 0;
    pd_decode_error err;
    static const char two[] = "[{\"SystemAlertId\":\"a\",\"AlertType\":\"t\",\"AzureResourceId\":"
                              "\"/subscriptions/s\"},{\"SystemAlertId\":\"b\",\"AlertType\":\"t\","
                              "\"AzureResourceId\":\"/subscriptions/s\"}]";
    assert_int_equal(
        pd_decode(dec, two, sizeof(two) - 1, PD_FMT_AUTO, stop_after_one, &calls, &err), 7);
    assert_int_equal(calls, 1);
    /* err may be NULL; the decoder is reusable after an error. */
    assert_int_equal(pd_decode(dec, "{", 1, PD_FMT_AUTO, capture, &C, NULL), PD_EDEC_SYNTAX);
    decode_ok(ASSESS, sizeof(ASSESS) - 1, PD_FMT_DEFENDER, 1);
    /* A format override that does not match the shape. */
    assert_int_equal(decode_str(ASSESS, sizeof(ASSESS) - 1, PD_FMT_ASFF, &err),
                     PD_EDEC_UNKNOWN_TYPE);
    assert_string_equal(pd_decode_error_name(PD_EDEC_DUPLICATE), "duplicate_key");
    assert_string_equal(pd_decode_error_name(PD_EDEC_TOO_MANY_TOKENS), "too_many_tokens");
    assert_string_equal(pd_decode_error_name(PD_EDEC_EMPTY), "empty");
    pd_decoder_destroy(NULL);
    /* Options: a smaller size limit. */
    pd_decode_opts o;
    pd_decode_opts_default(&o);
    assert_int_equal(o.max_message_bytes, 1u << 20);
    o.max_message_bytes = 100;
    pd_decoder *small = NULL;
    assert_int_equal(pd_decoder_create(&o, &small), 0);
    assert_int_equal(pd_decode(small, ASSESS, sizeof(ASSESS) - 1, PD_FMT_AUTO, NULL, NULL, &err),
                     PD_EDEC_TOO_BIG);
    pd_decoder_destroy(small);
}

static void test_event_json(void **state)
{
    (void)state;
    decode_ok(ASSESS, sizeof(ASSESS) - 1, PD_FMT_AUTO, 1);
    pd_buf b;
    pd_buf_init(&b);
    pd_event_json(&C.ev[0], &b);
    /* The output is itself valid input for the strict validator (as an unknown shape). */
    pd_decode_error err;
    assert_int_equal(pd_decode(dec, b.p, b.len, PD_FMT_AUTO, NULL, NULL, &err),
                     PD_EDEC_UNKNOWN_TYPE);
    assert_non_null(strstr(pd_buf_cstr(&b), "\"status\":\"unhealthy\""));
    assert_non_null(strstr(pd_buf_cstr(&b), "\"time\":\"2024-01-02T03:04:05.000Z\""));
    pd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elastic_compliance),
        cmocka_unit_test(test_elastic_assessment_delete),
        cmocka_unit_test(test_elastic_score_control),
        cmocka_unit_test(test_elastic_sub_assessment),
        cmocka_unit_test(test_elastic_alert),
        cmocka_unit_test(test_elastic_wrappers),
        cmocka_unit_test(test_assessment_template),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_rest_alert),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_event_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
