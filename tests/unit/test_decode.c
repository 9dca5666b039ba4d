/* test_decode: every real sample in PD_SAMPLES_DIR decodes to the expected kind and fields,
 * asserted one by one; wrappers, casing, escapes and API behaviour. */
#include "pd_test.h"

#include "pd_arena.h"
#include "pd_buf.h"
#include "pd_decode.h"
#include "pd_time.h"

#include <jansson.h>

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
    size_t n = 0, len = 0;
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
    size_t n = 0, len = 0;
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
    size_t n = 0, len = 0;
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
    size_t n = 0, len = 0;
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
    size_t n = 0, len = 0;
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
    size_t n = 0;
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

/* ---------- AWS Security Hub ---------- */

static void test_asff_eventbridge_ec2_7(void **state)
{
    (void)state;
    size_t n = 0;
    char *buf =
        pd_test_sample("aws-solutions_automated-security-response-on-aws__afsbp-ec2.7.json", &n);
    decode_ok(buf, n, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    assert_int_equal(e->format, PD_FMT_ASFF);
    expect_str(e->control.key, "EC2.7"); /* from ProductFields.ControlId */
    expect_str(e->control.name, "EC2.7 EBS default encryption should be enabled");
    assert_int_equal(e->status, PD_STATUS_UNHEALTHY);
    assert_int_equal(e->severity, PD_SEV_INFORMATIONAL);
    expect_str(e->severity_orig, "INFORMATIONAL");
    expect_str(e->resource.id, "AWS::::Account:111111111111");
    expect_str(e->resource.canon, "aws::::account:111111111111");
    expect_str(e->resource.type, "awsaccount");
    expect_str(e->resource.account, "111111111111");
    expect_str(e->resource.region, "us-east-1");
    expect_str(e->resource.name, "111111111111");
    assert_int_equal(e->resource.cloud, PD_CLOUD_AWS);
    assert_true(e->time_ms == T("2021-02-17T14:56:09.063Z"));
    assert_true(e->first_seen_ms == T("2021-02-17T14:56:09.063Z"));
    assert_false(e->deleted);
    expect_str(e->event_id, "arn:aws:securityhub:us-east-1:111111111111:subscription/"
                            "aws-foundational-security-best-practices/v/1.0.0/EC2.7/finding/"
                            "0003b335-cf3f-4f93-a025-6b1a7baced06");
    /* The explicit format agrees; another one does not. */
    decode_ok(buf, n, PD_FMT_ASFF, 1);
    pd_decode_error err;
    assert_int_equal(decode_str(buf, n, PD_FMT_SCC, &err), PD_EDEC_UNKNOWN_TYPE);
    free(buf);
}

static void test_asff_bare_ec2_8(void **state)
{
    (void)state;
    size_t n = 0;
    char *buf =
        pd_test_sample("aws-solutions_automated-security-response-on-aws__afsbp-ec2.8.json", &n);
    decode_ok(buf, n, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    assert_int_equal(e->format, PD_FMT_ASFF);
    expect_str(e->control.key, "EC2.8"); /* Compliance.SecurityControlId */
    expect_str(e->control.name,
               "EC2.8 EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)");
    assert_int_equal(e->control.nframeworks, 1);
    expect_str(e->control.frameworks[0],
               "standards/aws-foundational-security-best-practices/v/1.0.0");
    assert_int_equal(e->status, PD_STATUS_UNHEALTHY);
    assert_int_equal(e->severity, PD_SEV_HIGH);
    expect_str(e->resource.id, "arn:aws:ec2:us-east-1:111111111111:instance/i-077c4d5f32561ac45");
    expect_str(e->resource.canon,
               "arn:aws:ec2:us-east-1:111111111111:instance/i-077c4d5f32561ac45");
    expect_str(e->resource.type, "awsec2instance");
    expect_str(e->resource.name, "i-077c4d5f32561ac45");
    expect_str(e->resource.account, "111111111111");
    expect_str(e->resource.region, "us-east-1");
    expect_str(e->resource.group, "");
    assert_int_equal(e->resource.cloud, PD_CLOUD_AWS);
    assert_true(e->time_ms == T("2023-08-21T23:04:49.836Z"));
    assert_true(e->first_seen_ms == T("2023-08-21T23:04:49.836Z"));
    free(buf);
}

static void test_asff_archived_and_alert(void **state)
{
    (void)state;
    static const char m[] =
        "{\"SchemaVersion\":\"2018-10-08\",\"Id\":\"arn:aws:guardduty:eu-west-1:222222222222:"
        "detector/d/finding/f1\",\"AwsAccountId\":\"222222222222\",\"Types\":[\"TTPs/Initial "
        "Access/UnauthorizedAccess:EC2-SSHBruteForce\"],\"UpdatedAt\":\"2024-03-01T10:00:00Z\","
        "\"CreatedAt\":\"2024-03-01T09:00:00Z\",\"Severity\":{\"Normalized\":75},\"Title\":"
        "\"SSH brute force\",\"GeneratorId\":\"arn:aws:guardduty:eu-west-1:222222222222:"
        "detector/d\",\"Resources\":[{\"Type\":\"AwsEc2Instance\",\"Id\":\"arn:aws:ec2:eu-west-1:"
        "222222222222:instance/i-0abc\",\"Region\":\"eu-west-1\",\"Tags\":{\"env\":\"prod\","
        "\"owner\":\"ops\"}}],\"Workflow\":{\"Status\":\"NEW\"},\"RecordState\":\"ACTIVE\"}";
    decode_ok(m, sizeof(m) - 1, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ALERT);
    assert_int_equal(e->alert.tactics, 1u << PD_TACTIC_INITIAL_ACCESS);
    assert_int_equal(e->severity, PD_SEV_HIGH);
    assert_int_equal(e->resource.ntags, 2);
    expect_str(e->resource.tags[1].key, "owner");
    expect_str(e->resource.tags[1].value, "ops");
    assert_true(e->first_seen_ms == T("2024-03-01T09:00:00Z"));
    static const char arch[] =
        "[{\"SchemaVersion\":\"2018-10-08\",\"Id\":\"f2\",\"UpdatedAt\":\"2024-03-02T00:00:00Z\","
        "\"Compliance\":{\"Status\":\"PASSED\",\"SecurityControlId\":\"S3.1\","
        "\"RelatedRequirements\":[\"NIST.800-53.r5 AC-3\"]},\"Resources\":[{\"Type\":"
        "\"AwsS3Bucket\",\"Id\":\"arn:aws:s3:::My-Bucket\"}],\"RecordState\":\"ARCHIVED\"}]";
    decode_ok(arch, sizeof(arch) - 1, PD_FMT_AUTO, 1);
    e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    assert_true(e->deleted);
    assert_int_equal(e->status, PD_STATUS_REMOVED);
    expect_str(e->resource.canon, "arn:aws:s3:::my-bucket");
    expect_str(e->resource.name, "My-Bucket");
    expect_str(e->control.frameworks[0], "NIST.800-53.r5 AC-3");
}

/* ---------- GCP Security Command Center ---------- */

static void test_scc_open_ssh_port(void **state)
{
    (void)state;
    size_t n = 0;
    char *buf = pd_test_sample(
        "GoogleCloudPlatform_security-response-automation__open_ssh_port-remediated.json", &n);
    decode_ok(buf, n, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    assert_int_equal(e->format, PD_FMT_SCC);
    expect_str(e->control.key, "OPEN_SSH_PORT");
    assert_int_equal(e->status, PD_STATUS_UNHEALTHY);
    assert_int_equal(e->severity, PD_SEV_HIGH);
    expect_str(e->resource.id,
               "//compute.googleapis.com/projects/test-project/global/firewalls/43256709");
    expect_str(e->resource.type, "google.compute.firewall");
    expect_str(e->resource.name, "default-allow-ssh");
    expect_str(e->resource.account, "test-project");
    expect_str(e->resource.region, "");
    assert_int_equal(e->resource.cloud, PD_CLOUD_GCP);
    assert_true(e->time_ms == T("2021-06-14T14:55:34.789Z"));
    assert_true(e->first_seen_ms == T("2021-02-10T20:00:17.134Z"));
    /* compliance_standards: iso, pci, cis (1.0 and 1.1 both say 3.6: once), nist */
    assert_int_equal(e->control.nframeworks, 4);
    expect_str(e->control.frameworks[0], "ISO:A.13.1.1");
    expect_str(e->control.frameworks[1], "PCI:1.2.1");
    expect_str(e->control.frameworks[2], "CIS:3.6");
    expect_str(e->control.frameworks[3], "NIST:SC-7");
    expect_str(e->event_id, "organizations/0000000000/sources/0000000/findings/"
                            "2c976b5197e9648a9f64c4a21b4d5333");
    free(buf);
}

static void test_scc_public_ip(void **state)
{
    (void)state;
    size_t n = 0;
    char *buf = pd_test_sample(
        "GoogleCloudPlatform_security-response-automation__public_ip_address-remediated.json", &n);
    decode_ok(buf, n, PD_FMT_SCC, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    expect_str(e->control.key, "PUBLIC_IP_ADDRESS");
    expect_str(e->resource.type, "google.compute.instance");
    expect_str(e->resource.name, "integration-test-default-service-account-non-vuln-instance");
    expect_str(e->resource.region, "us-central1"); /* from zones/us-central1-a */
    expect_str(e->resource.account, "test-project");
    expect_str(e->resource.canon, "//compute.googleapis.com/projects/test-project/zones/"
                                  "us-central1-a/instances/6796113316167375355");
    assert_int_equal(e->control.nframeworks, 4);
    expect_str(e->control.frameworks[2], "NIST:CA-3");
    assert_true(e->time_ms == T("2022-01-08T01:21:41.578Z"));
    free(buf);
}

static void test_scc_ssh_brute_force(void **state)
{
    (void)state;
    size_t n = 0;
    char *buf = pd_test_sample(
        "GoogleCloudPlatform_security-response-automation__ssh_brute_force-remediated.json", &n);
    decode_ok(buf, n, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ALERT);
    assert_int_equal(e->format, PD_FMT_SCC);
    expect_str(e->alert.type, "Brute Force: SSH");
    expect_str(e->alert.id, "organizations/0000000000/sources/0000000/findings/12345");
    expect_str(e->alert.status, "ACTIVE");
    assert_int_equal(e->alert.tactics, 1u << PD_TACTIC_INITIAL_ACCESS); /* primary_tactic */
    expect_str(e->resource.id, "//cloudresourcemanager.googleapis.com/projects/12345678");
    expect_str(e->resource.account, "12345678");
    assert_int_equal(e->resource.cloud, PD_CLOUD_GCP);
    assert_int_equal(e->severity, PD_SEV_HIGH);
    assert_true(e->time_ms == 0);
    free(buf);
}

/* A notification with the resource beside the finding, camelCase. */
static void test_scc_notification(void **state)
{
    (void)state;
    static const char m[] =
        "{\"notificationConfigName\":\"organizations/1/notificationConfigs/pd\",\"finding\":{"
        "\"name\":\"organizations/1/sources/2/findings/f9\",\"category\":\"OS_VULNERABILITY\","
        "\"findingClass\":\"VULNERABILITY\",\"state\":\"INACTIVE\",\"severity\":\"CRITICAL\","
        "\"resourceName\":\"//compute.googleapis.com/projects/p1/zones/europe-west1-b/instances/"
        "42\",\"eventTime\":\"2024-04-01T12:00:00Z\",\"vulnerability\":{\"cve\":{\"id\":"
        "\"CVE-2024-3094\",\"cvssv3\":{\"baseScore\":10}},\"fixedPackage\":{\"packageName\":"
        "\"xz\"}}},\"resource\":{\"name\":\"//compute.googleapis.com/projects/p1/zones/"
        "europe-west1-b/instances/42\",\"displayName\":\"web-1\",\"projectDisplayName\":\"p1\","
        "\"type\":\"google.compute.Instance\"}}";
    decode_ok(m, sizeof(m) - 1, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_VULNERABILITY);
    expect_str(e->vuln.cve, "CVE-2024-3094");
    assert_true(e->vuln.cvss == 10.0);
    assert_true(e->vuln.fix_available);
    assert_int_equal(e->status, PD_STATUS_HEALTHY);
    assert_int_equal(e->severity, PD_SEV_CRITICAL);
    expect_str(e->resource.name, "web-1");
    expect_str(e->resource.region, "europe-west1");
}

/* ---------- OCSF ---------- */

static void test_ocsf(void **state)
{
    (void)state;
    /* Prowler-style detection finding with status_code: a check result. */
    static const char prowler[] =
        "{\"class_uid\":2004,\"class_name\":\"Detection Finding\",\"time\":1717000000000,"
        "\"severity\":\"High\",\"severity_id\":4,\"status\":\"New\",\"status_id\":1,"
        "\"status_code\":\"FAIL\",\"finding_info\":{\"uid\":\"prowler-aws-ec2_imdsv2-1\","
        "\"title\":\"Ensure IMDSv2 is required\",\"created_time\":1716000000000},"
        "\"metadata\":{\"event_code\":\"ec2_instance_imdsv2_enabled\",\"product\":{\"name\":"
        "\"Prowler\"}},\"cloud\":{\"provider\":\"aws\",\"region\":\"eu-west-1\",\"account\":{"
        "\"uid\":\"333333333333\"}},\"resources\":[{\"uid\":\"arn:aws:ec2:eu-west-1:333333333333:"
        "instance/i-9\",\"name\":\"i-9\",\"type\":\"AwsEc2Instance\",\"region\":\"eu-west-1\","
        "\"labels\":[\"env:prod\",\"tier:web\"]}],\"unmapped\":{\"compliance\":{\"CIS-2.0\":["
        "\"5.6\"]}}}";
    decode_ok(prowler, sizeof(prowler) - 1, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    assert_int_equal(e->format, PD_FMT_OCSF);
    assert_int_equal(e->status, PD_STATUS_UNHEALTHY);
    expect_str(e->control.key, "ec2_instance_imdsv2_enabled");
    expect_str(e->control.name, "Ensure IMDSv2 is required");
    assert_int_equal(e->severity, PD_SEV_HIGH);
    expect_str(e->resource.account, "333333333333");
    assert_int_equal(e->resource.cloud, PD_CLOUD_AWS);
    assert_int_equal(e->resource.ntags, 2);
    expect_str(e->resource.tags[1].key, "tier");
    expect_str(e->resource.tags[1].value, "web");
    assert_true(e->time_ms == 1717000000000LL);
    assert_true(e->first_seen_ms == 1716000000000LL);
    /* Compliance finding (2003) for an Azure VM. */
    static const char comp[] =
        "{\"class_uid\":2003,\"time\":1717000000000,\"severity_id\":3,\"finding_info\":{\"uid\":"
        "\"c1\",\"title\":\"Disk encryption\"},\"compliance\":{\"control\":\"ES-1\",\"status\":"
        "\"Pass\",\"standards\":[\"MCSB\"],\"requirements\":[\"MCSB:ES-1\"]},\"cloud\":{"
        "\"provider\":\"Azure\"},\"resources\":[{\"uid\":\"/subscriptions/S/resourceGroups/G/"
        "providers/Microsoft.Compute/virtualMachines/V\"}]}";
    decode_ok(comp, sizeof(comp) - 1, PD_FMT_OCSF, 1);
    e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    assert_int_equal(e->status, PD_STATUS_HEALTHY);
    assert_int_equal(e->severity, PD_SEV_MEDIUM);
    expect_str(e->control.key, "ES-1");
    assert_int_equal(e->control.nframeworks, 2);
    expect_str(e->resource.account, "S");
    expect_str(e->resource.group, "G");
    assert_int_equal(e->resource.cloud, PD_CLOUD_AZURE);
    /* Vulnerability finding (2002) and detection finding (2004) with ATT&CK. */
    static const char vuln[] =
        "{\"class_uid\":2002,\"time\":\"2024-05-01T00:00:00Z\",\"severity\":\"Critical\","
        "\"finding_info\":{\"uid\":\"v1\"},\"vulnerabilities\":[{\"cve\":{\"uid\":"
        "\"CVE-2021-44228\",\"cvss\":[{\"base_score\":10.0}]},\"is_fix_available\":true}],"
        "\"resources\":[{\"uid\":\"//container.googleapis.com/projects/p/clusters/c\"}]}";
    decode_ok(vuln, sizeof(vuln) - 1, PD_FMT_AUTO, 1);
    e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_VULNERABILITY);
    expect_str(e->vuln.cve, "CVE-2021-44228");
    assert_true(e->vuln.cvss == 10.0);
    assert_true(e->vuln.fix_available);
    assert_int_equal(e->resource.cloud, PD_CLOUD_GCP);
    static const char det[] =
        "{\"class_uid\":2004,\"time\":1717000000000,\"status_id\":4,\"finding_info\":{\"uid\":"
        "\"d1\",\"title\":\"Credential dumping\",\"types\":[\"Credential Access\"]},"
        "\"attacks\":[{\"tactic\":{\"uid\":\"TA0006\",\"name\":\"Credential Access\"}},{"
        "\"tactics\":[{\"name\":\"Lateral Movement\"}]}],\"resources\":[{\"uid\":\"host-7\"}],"
        "\"cloud\":{\"provider\":\"onprem\"}}";
    decode_ok(det, sizeof(det) - 1, PD_FMT_AUTO, 1);
    e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ALERT);
    assert_int_equal(e->alert.tactics,
                     (1u << PD_TACTIC_CREDENTIAL_ACCESS) | (1u << PD_TACTIC_LATERAL_MOVEMENT));
    assert_int_equal(e->status, PD_STATUS_HEALTHY);
    assert_int_equal(e->resource.cloud, PD_CLOUD_ONPREM);
    expect_str(e->alert.type, "Credential Access");
}

/* ---------- the examples inside Microsoft's two export schemas ---------- */

/* An instance built from a JSON Schema's "examples" (first one) and nested "properties". */
static json_t *schema_example(json_t *sch)
{
    json_t *props = json_object_get(sch, "properties");
    if (json_is_object(props)) {
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v) json_object_set_new(o, k, schema_example(v));
        return o;
    }
    const char *type = json_string_value(json_object_get(sch, "type"));
    if (type && !strcmp(type, "array")) {
        json_t *items = json_object_get(sch, "items");
        json_t *ex = json_object_get(items, "examples");
        if (json_is_array(ex))
            return json_deep_copy(ex);
        json_t *a = json_array();
        if (json_is_object(items))
            json_array_append_new(a, schema_example(items));
        return a;
    }
    json_t *ex = json_object_get(sch, "examples");
    if (json_is_array(ex) && json_array_size(ex) > 0)
        return json_deep_copy(json_array_get(ex, 0));
    json_t *def = json_object_get(sch, "default");
    return def ? json_deep_copy(def) : json_null();
}

static char *example_of(const char *sample, size_t *len)
{
    size_t n = 0;
    char *buf = pd_test_sample(sample, &n);
    json_error_t jerr;
    json_t *sch = json_loadb(buf, n, 0, &jerr);
    assert_non_null(sch);
    json_t *inst = schema_example(sch);
    char *out = json_dumps(inst, JSON_COMPACT);
    assert_non_null(out);
    *len = strlen(out);
    json_decref(inst);
    json_decref(sch);
    free(buf);
    return out;
}

static void test_schema_recommendation_example(void **state)
{
    (void)state;
    size_t n = 0;
    char *m = example_of("Azure_Microsoft-Defender-for-Cloud__Recommendation.schema.json", &n);
    decode_ok(m, n, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ASSESSMENT);
    assert_int_equal(e->format, PD_FMT_DEFENDER);
    expect_str(e->control.key, "151e82c5-5341-a74b-1eb0-bc38d2c84bb5");
    expect_str(e->control.name, "Enable MFA for Azure Management App accounts with read "
                                "permissions on your subscription");
    assert_int_equal(e->status, PD_STATUS_UNHEALTHY);
    assert_int_equal(e->severity, PD_SEV_LOW);
    assert_false(e->deleted); /* AssessmentEventDataEnrichment.Action: Insert */
    expect_str(e->resource.id, "/subscriptions/a27e854a-8578-4395-8eaf-6fc7849f3050");
    expect_str(e->resource.account, "a27e854a-8578-4395-8eaf-6fc7849f3050");
    expect_str(e->resource.type, "microsoft.resources/subscriptions");
    assert_int_equal(e->resource.cloud, PD_CLOUD_AZURE);
    free(m);
}

static void test_schema_alert_example(void **state)
{
    (void)state;
    size_t n = 0;
    char *m = example_of("Azure_Microsoft-Defender-for-Cloud__SecurityAlert.schema.json", &n);
    decode_ok(m, n, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_ALERT);
    expect_str(e->alert.id, "2342409243234234_F2BFED55-5997-4FEA-95BD-BB7C6DDCD061");
    expect_str(e->alert.type, "SUSPECT_SVCHOST");
    expect_str(e->alert.status, "New");
    assert_int_equal(e->alert.tactics, 1u << PD_TACTIC_EXECUTION);
    assert_int_equal(e->severity, PD_SEV_HIGH);
    expect_str(e->control.name, "Suspicious process detected");
    expect_str(e->resource.account, "86057C9F-3CDD-484E-83B1-7BF1C17A9FF8");
    expect_str(e->resource.group, "backend-srv");
    expect_str(e->resource.canon, "/subscriptions/86057c9f-3cdd-484e-83b1-7bf1c17a9ff8/"
                                  "resourcegroups/backend-srv/providers/microsoft.compute/websrv1");
    assert_true(e->alert.start_ms == T("2016-12-20T13:38:00.000Z"));
    assert_true(e->alert.end_ms == T("2019-12-20T13:40:01.733Z"));
    assert_true(e->time_ms == T("2016-12-20T13:38:03.000Z"));
    free(m);
}

static void test_inventory(void **state)
{
    (void)state;
    static const char m[] =
        "{\"id\":\"/subscriptions/S2/resourceGroups/rg-prod-web/providers/Microsoft.HybridCompute/"
        "machines/web-01\",\"name\":\"web-01\",\"type\":\"Microsoft.HybridCompute/machines\","
        "\"location\":\"westeurope\",\"tags\":{\"env\":\"prod\",\"owner\":\"team-web\",\"tier\":"
        "\"web\"},\"properties\":{\"status\":\"Connected\"}}";
    decode_ok(m, sizeof(m) - 1, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_INVENTORY);
    assert_int_equal(e->format, PD_FMT_DEFENDER);
    assert_int_equal(e->resource.cloud, PD_CLOUD_ONPREM);
    expect_str(e->resource.type, "microsoft.hybridcompute/machines");
    expect_str(e->resource.name, "web-01");
    expect_str(e->resource.group, "rg-prod-web");
    expect_str(e->resource.account, "S2");
    expect_str(e->resource.region, "westeurope");
    assert_int_equal(e->resource.ntags, 3);
    expect_str(e->resource.tags[1].key, "owner");
    expect_str(e->resource.tags[1].value, "team-web");
    assert_int_equal(e->status, PD_STATUS_UNKNOWN);
}

/* The decoder's fast path for times must agree with pd_time_parse everywhere. */
static void test_times(void **state)
{
    (void)state;
    static const char *const times[] = {
        "2023-05-11T13:17:09.0170422Z", "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.1Z",       "2024-02-29T23:59:59.999Z",
        "2024-12-31T23:59:59.5Z",       "1970-01-01T00:00:00Z",
        "2024-03-10T02:30:00+01:00",    "2024-03-10",
        "2024-03-10 02:30:00",          "2024-01-28T10:11:12.12345678901Z",
        "2000-02-28t01:02:03z",
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        char m[512];
        int n = snprintf(m, sizeof(m),
                         "{\"SystemAlertId\":\"a\",\"AlertType\":\"t\",\"AzureResourceId\":"
                         "\"/subscriptions/s\",\"TimeGenerated\":\"%s\"}",
                         times[i]);
        int64_t want;
        if (pd_time_parse(pd_str_c(times[i]), &want) != 0)
            fail_msg("pd_time_parse rejects %s", times[i]);
        decode_ok(m, (size_t)n, PD_FMT_AUTO, 1);
        if (C.ev[0].time_ms != want)
            fail_msg("%s: decoded %lld, pd_time_parse %lld", times[i], (long long)C.ev[0].time_ms,
                     (long long)want);
    }
    /* Bad times are typed errors naming the field. */
    static const char bad[] = "{\"SystemAlertId\":\"a\",\"AlertType\":\"t\",\"AzureResourceId\":"
                              "\"/subscriptions/s\",\"TimeGenerated\":\"2024-13-01T00:00:00Z\"}";
    pd_decode_error err;
    assert_int_equal(decode_str(bad, sizeof(bad) - 1, PD_FMT_AUTO, &err), PD_EDEC_VALUE);
    assert_non_null(strstr(err.message, "TimeGenerated"));
}

/* Sub-assessments as the REST API documents them (camelCase), a secure score, and an AWS
 * machine assessed through Defender's connector (the ARN becomes the canonical id). */
static void test_defender_more_shapes(void **state)
{
    (void)state;
    static const char sub[] =
        "{\"type\":\"Microsoft.Security/assessments/subAssessments\",\"id\":\"/subscriptions/s/"
        "resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v/providers/"
        "Microsoft.Security/assessments/1195AFFF-C881-495E-9BC5-1486211AE03F/subAssessments/"
        "9F3A\",\"name\":\"9F3A\",\"securityEventDataEnrichment\":{\"action\":\"Write\","
        "\"isSnapshot\":true},\"properties\":{\"id\":\"CVE-2021-44228\",\"displayName\":"
        "\"Log4Shell\",\"status\":{\"code\":\"Unhealthy\",\"severity\":\"High\"},"
        "\"timeGenerated\":\"2024-01-01T00:00:00Z\",\"resourceDetails\":{\"source\":\"Azure\","
        "\"id\":\"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/"
        "v\"},\"additionalData\":{\"assessedResourceType\":\"ServerVulnerability\",\"cve\":[{"
        "\"title\":\"CVE-2021-44228\",\"link\":\"x\"}],\"cvss\":{\"2.0\":{\"base\":9.3},\"3.0\":{"
        "\"base\":10}},\"patchable\":true}}}";
    decode_ok(sub, sizeof(sub) - 1, PD_FMT_AUTO, 1);
    pd_event *e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_VULNERABILITY);
    expect_str(e->control.key, "9f3a");
    expect_str(e->vuln.parent_key, "1195afff-c881-495e-9bc5-1486211ae03f");
    expect_str(e->vuln.cve, "CVE-2021-44228");
    assert_true(e->vuln.cvss == 10.0);
    assert_true(e->vuln.fix_available);
    assert_true(e->snapshot);
    assert_int_equal(e->status, PD_STATUS_UNHEALTHY);
    assert_int_equal(e->severity, PD_SEV_HIGH);
    expect_str(e->resource.name, "v");

    static const char score[] =
        "{\"type\":\"Microsoft.Security/secureScores\",\"id\":\"/subscriptions/S9/providers/"
        "Microsoft.Security/secureScores/ascScore\",\"name\":\"ascScore\",\"properties\":{"
        "\"displayName\":\"ASC score\",\"score\":{\"max\":58,\"current\":33.5,\"percentage\":"
        "0.5776},\"weight\":199}}";
    decode_ok(score, sizeof(score) - 1, PD_FMT_AUTO, 1);
    e = &C.ev[0];
    assert_int_equal(e->kind, PD_KIND_SCORE);
    assert_int_equal(e->score.control.len, 0);
    assert_true(e->score.max == 58.0);
    assert_true(e->score.current == 33.5);
    assert_true(e->score.percentage == 0.5776);
    expect_str(e->resource.canon, "/subscriptions/s9");
    expect_str(e->control.key, "ascscore");

    static const char aws[] =
        "{\"type\":\"Microsoft.Security/assessments\",\"name\":\"4BE5393D-CC33-4EF7-ACAE-"
        "80295BC3AE35\",\"properties\":{\"resourceDetails\":{\"source\":\"Aws\",\"id\":"
        "\"/subscriptions/s/resourcegroups/rg/providers/microsoft.security/securityconnectors/"
        "aws-761723954040/securityentitydata/aws-ec2-instance-i-003d-ap-southeast-2\","
        "\"region\":\"ap-southeast-2\",\"nativeResourceId\":\"arn:aws:ec2:ap-southeast-2:"
        "761723954040:instance/i-003D\",\"resourceName\":\"jump-prod-00027\",\"resourceType\":"
        "\"ec2.instance\",\"resourceProvider\":\"aws\",\"hierarchyId\":\"761723954040\"},"
        "\"status\":{\"code\":\"Healthy\"},\"metadata\":{\"severity\":\"Medium\"}}}";
    decode_ok(aws, sizeof(aws) - 1, PD_FMT_AUTO, 1);
    e = &C.ev[0];
    assert_int_equal(e->resource.cloud, PD_CLOUD_AWS);
    expect_str(e->resource.id, "arn:aws:ec2:ap-southeast-2:761723954040:instance/i-003D");
    expect_str(e->resource.canon, "arn:aws:ec2:ap-southeast-2:761723954040:instance/i-003d");
    expect_str(e->resource.account, "761723954040");
    expect_str(e->resource.region, "ap-southeast-2");
    expect_str(e->resource.type, "ec2.instance");
    expect_str(e->resource.name, "jump-prod-00027");
    assert_int_equal(e->status, PD_STATUS_HEALTHY);
}

/* `postured decode`: one JSON line per event on stdout; errors as JSON lines (stdout with
 * --errors) naming code and offset; exit status 1 when any message failed. */
static void test_cli_decode(void **state)
{
    (void)state;
    const char *bin = getenv("PD_BIN");
    const char *dir = getenv("PD_SAMPLES_DIR");
    if (!bin || !dir) {
        fprintf(stderr, "SKIP: PD_BIN or PD_SAMPLES_DIR not set\n");
        skip();
    }
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' decode '%s/elastic_integrations__test-alert.log'", bin, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[65536];
    int n = 0;
    const char *kinds[] = {"compliance", "assessment", "score", "vulnerability", "alert"};
    while (fgets(line, sizeof(line), p)) {
        assert_true(n < 5);
        char want[64];
        snprintf(want, sizeof(want), "{\"kind\":\"%s\",\"format\":\"defender\"", kinds[n]);
        assert_true(!strncmp(line, want, strlen(want)));
        n++;
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(n, 5);
    /* A pretty-printed file is one message; a bad line is an error line and exit status 1. */
    snprintf(cmd, sizeof(cmd),
             "'%s' decode '%s/aws-solutions_automated-security-response-on-aws__afsbp-ec2.8.json'"
             " | grep -c '\"format\":\"asff\"'",
             bin, dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(atoi(line), 1);
    pclose(p);
    snprintf(
        cmd, sizeof(cmd),
        "printf '{\"a\":NaN}\\n\\n{}\\n' | '%s' decode --errors - 2>/dev/null; echo \"status $?\"",
        bin);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p));
    assert_non_null(strstr(line, "\"error\":\"number\""));
    assert_non_null(strstr(line, "\"offset\":5"));
    assert_non_null(strstr(line, "\"line\":1"));
    assert_non_null(fgets(line, sizeof(line), p));
    assert_non_null(strstr(line, "\"error\":\"unknown_type\""));
    assert_non_null(strstr(line, "\"line\":3"));
    assert_non_null(fgets(line, sizeof(line), p));
    assert_string_equal(line, "status 1\n");
    pclose(p);
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
        cmocka_unit_test(test_asff_eventbridge_ec2_7),
        cmocka_unit_test(test_asff_bare_ec2_8),
        cmocka_unit_test(test_asff_archived_and_alert),
        cmocka_unit_test(test_scc_open_ssh_port),
        cmocka_unit_test(test_scc_public_ip),
        cmocka_unit_test(test_scc_ssh_brute_force),
        cmocka_unit_test(test_scc_notification),
        cmocka_unit_test(test_ocsf),
        cmocka_unit_test(test_schema_recommendation_example),
        cmocka_unit_test(test_schema_alert_example),
        cmocka_unit_test(test_defender_more_shapes),
        cmocka_unit_test(test_inventory),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_assessment_template),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_rest_alert),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test(test_cli_decode),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
