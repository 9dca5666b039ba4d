/* test_decode_hostile: bad input never crashes and never emits; each case yields its typed
 * decode error (code, and where it matters the byte offset and the field named). */
#include "pd_test.h"

#include "pd_buf.h"
#include "pd_decode.h"

typedef struct hcase {
    const char *name;
    const char *msg; /* NULL: built by `build` */
    size_t len;      /* 0: strlen(msg) */
    int code;
    long offset;      /* -1: not checked */
    const char *want; /* substring of the message, or NULL */
    void (*build)(pd_buf *b);
} hcase;

#define S(lit) lit, sizeof(lit) - 1

static void big_4mb(pd_buf *b)
{
    pd_buf_puts(b, "{\"type\":\"Microsoft.Security/assessments\",\"pad\":\"");
    while (b->len < 4u * 1024 * 1024)
        pd_buf_puts(b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    pd_buf_puts(b, "\"}");
}

static void nest_arrays(pd_buf *b)
{
    for (int i = 0; i < 10000; i++)
        pd_buf_putc(b, '[');
    for (int i = 0; i < 10000; i++)
        pd_buf_putc(b, ']');
}

static void nest_objects(pd_buf *b)
{
    for (int i = 0; i < 10000; i++)
        pd_buf_puts(b, "{\"a\":");
    pd_buf_puts(b, "1");
    for (int i = 0; i < 10000; i++)
        pd_buf_putc(b, '}');
}

static void nest_truncated(pd_buf *b)
{
    for (int i = 0; i < 10000; i++)
        pd_buf_putc(b, '[');
}

static void many_tokens(pd_buf *b)
{
    /* 300,000 elements: over the default max_tokens (262,144), under 1 MB. */
    pd_buf_putc(b, '[');
    for (int i = 0; i < 300000; i++)
        pd_buf_puts(b, i ? ",1" : "1");
    pd_buf_putc(b, ']');
}

/* A sample for a builder: NULL when missing (the case is skipped unless CI=true). */
static char *sample_opt(const char *name, size_t *len)
{
    const char *dir = getenv("PD_SAMPLES_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared/samples", name);
    char *s = pd_test_read_file(path, len);
    const char *ci = getenv("CI");
    if (!s && ci && !strcmp(ci, "true"))
        fail_msg("sample %s is missing (CI=true)", path);
    return s;
}

static void truncated_sample(pd_buf *b)
{
    size_t n = 0;
    char *s = sample_opt("elastic_integrations__test-alert.log", &n);
    if (!s)
        return;
    const char *nl = strchr(s, '\n');
    if (nl)
        n = (size_t)(nl - s);
    pd_buf_append(b, s, n / 2);
    free(s);
}

static void sample_with_nul(pd_buf *b)
{
    size_t n = 0;
    char *s = sample_opt("aws-solutions_automated-security-response-on-aws__afsbp-ec2.8.json", &n);
    if (!s)
        return;
    s[n / 3] = '\0';
    pd_buf_append(b, s, n);
    free(s);
}

static const hcase cases[] = {
    /* empty and size */
    {"empty", S(""), PD_EDEC_EMPTY, 0, NULL, NULL},
    {"whitespace only", S(" \n\t\r "), PD_EDEC_EMPTY, 0, NULL, NULL},
    {"4 MB message", NULL, 0, PD_EDEC_TOO_BIG, 1048576, "limit", big_4mb},
    {"300k tokens", NULL, 0, PD_EDEC_TOO_MANY_TOKENS, -1, "tokens", many_tokens},
    /* truncation and grammar */
    {"truncated object", S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"x\""),
     PD_EDEC_SYNTAX, -1, "truncated", NULL},
    {"truncated string", S("{\"a\":\"abc"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"truncated real sample", NULL, 0, PD_EDEC_SYNTAX, -1, NULL, truncated_sample},
    {"truncated 10k nesting", NULL, 0, PD_EDEC_SYNTAX, -1, NULL, nest_truncated},
    {"trailing comma", S("{\"a\":1,}"), PD_EDEC_SYNTAX, 6, NULL, NULL},
    {"missing colon", S("{\"a\" 1}"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"missing comma", S("{\"a\":1 \"b\":2}"), PD_EDEC_SYNTAX, 7, "','", NULL},
    {"array missing comma", S("[{} {}]"), PD_EDEC_SYNTAX, 4, NULL, NULL},
    {"empty array slot", S("[1,,2]"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"single quotes", S("{'a':1}"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"unquoted key", S("{a:1}"), PD_EDEC_SYNTAX, 1, NULL, NULL},
    {"number key", S("{1:2}"), PD_EDEC_SYNTAX, 1, NULL, NULL},
    {"raw newline in string", S("{\"a\":\"b\nc\"}"), PD_EDEC_SYNTAX, 7, "control", NULL},
    {"raw tab in string", S("{\"a\":\"b\tc\"}"), PD_EDEC_SYNTAX, 7, "control", NULL},
    {"comment", S("{\"a\":1 /* x */}"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"two top-level values", S("{} {}"), PD_EDEC_SYNTAX, 3, NULL, NULL},
    {"garbage after value", S("{\"a\":1} x"), PD_EDEC_SYNTAX, 8, NULL, NULL},
    {"extra closing bracket", S("{\"a\":1}]"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"mismatched bracket", S("{\"a\":[1}"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"bad escape", S("{\"a\":\"\\x\"}"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"bad hex escape", S("{\"a\":\"\\u12g4\"}"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    {"bare word", S("tru"), PD_EDEC_SYNTAX, 0, NULL, NULL},
    {"key without value", S("{\"a\"}"), PD_EDEC_SYNTAX, -1, NULL, NULL},
    /* UTF-8 and escapes */
    {"invalid byte 0xff", S("{\"a\":\"\xff\"}"), PD_EDEC_UTF8, 6, NULL, NULL},
    {"overlong slash", S("{\"a\":\"\xc0\xaf\"}"), PD_EDEC_UTF8, 6, NULL, NULL},
    {"UTF-8 encoded surrogate", S("{\"a\":\"\xed\xa0\x80\"}"), PD_EDEC_UTF8, 6, NULL, NULL},
    {"truncated sequence", S("{\"a\":\"x\xe2\x82\"}"), PD_EDEC_UTF8, 7, NULL, NULL},
    {"above U+10FFFF", S("{\"a\":\"\xf4\x90\x80\x80\"}"), PD_EDEC_UTF8, 6, NULL, NULL},
    {"lone continuation byte", S("{\"a\":\"\x80\"}"), PD_EDEC_UTF8, 6, NULL, NULL},
    {"invalid UTF-8 in a key", S("{\"\xfe\":1}"), PD_EDEC_UTF8, 2, NULL, NULL},
    {"lone high surrogate", S("{\"a\":\"\\ud800\"}"), PD_EDEC_UTF8, 6, "surrogate", NULL},
    {"lone low surrogate", S("{\"a\":\"\\udc00x\"}"), PD_EDEC_UTF8, 6, "surrogate", NULL},
    {"high then non-low", S("{\"a\":\"\\ud800\\u0041\"}"), PD_EDEC_UTF8, 6, NULL, NULL},
    /* NUL */
    {"raw NUL in string", S("{\"a\":\"b\0c\"}"), PD_EDEC_NUL, 7, NULL, NULL},
    {"NUL after object", S("{\"a\":1}\0"), PD_EDEC_NUL, 7, NULL, NULL},
    {"escaped NUL", S("{\"a\":\"\\u0000\"}"), PD_EDEC_NUL, 6, NULL, NULL},
    {"NUL inside a real sample", NULL, 0, PD_EDEC_NUL, -1, NULL, sample_with_nul},
    /* numbers */
    {"NaN", S("{\"a\":NaN}"), PD_EDEC_NUMBER, 5, NULL, NULL},
    {"Infinity", S("{\"a\":Infinity}"), PD_EDEC_NUMBER, 5, NULL, NULL},
    {"-Infinity", S("{\"a\":-Infinity}"), PD_EDEC_NUMBER, 5, NULL, NULL},
    {"leading zero", S("{\"a\":01}"), PD_EDEC_NUMBER, 5, NULL, NULL},
    {"trailing dot", S("{\"a\":1.}"), PD_EDEC_NUMBER, 5, NULL, NULL},
    {"leading dot", S("{\"a\":.5}"), PD_EDEC_NUMBER, 5, NULL, NULL},
    {"plus sign", S("{\"a\":+1}"), PD_EDEC_NUMBER, 5, NULL, NULL},
    {"bare exponent", S("{\"a\":1e}"), PD_EDEC_NUMBER, 5, NULL, NULL},
    {"hex number", S("[0x10]"), PD_EDEC_NUMBER, 1, NULL, NULL},
    /* depth */
    {"10,000 nested arrays", NULL, 0, PD_EDEC_DEPTH, 64, "deeper", nest_arrays},
    {"10,000 nested objects", NULL, 0, PD_EDEC_DEPTH, 64 * 5, "deeper", nest_objects},
    /* top level */
    {"top-level string", S("\"abc\""), PD_EDEC_TOP_LEVEL, 0, NULL, NULL},
    {"top-level number", S(" 42 "), PD_EDEC_TOP_LEVEL, 1, NULL, NULL},
    {"top-level null", S("null"), PD_EDEC_TOP_LEVEL, 0, NULL, NULL},
    {"array of numbers", S("[1,2]"), PD_EDEC_TYPE, 1, "not an object", NULL},
    {"records of strings", S("{\"records\":[\"a\"]}"), PD_EDEC_TYPE, 12, NULL, NULL},
    /* shapes */
    {"unknown ARM type", S("{\"type\":\"Microsoft.Compute/virtualMachines\",\"id\":\"/x\"}"),
     PD_EDEC_UNKNOWN_TYPE, 8, "Microsoft.Compute", NULL},
    {"unknown Defender type", S("{\"type\":\"Microsoft.Security/pricings\",\"properties\":{}}"),
     PD_EDEC_UNKNOWN_TYPE, 8, "pricings", NULL},
    {"no known shape", S("{\"hello\":\"world\"}"), PD_EDEC_UNKNOWN_TYPE, 0, NULL, NULL},
    {"empty object", S("{}"), PD_EDEC_UNKNOWN_TYPE, 0, NULL, NULL},
    {"OCSF class 1001", S("{\"class_uid\":1001,\"time\":1}"), PD_EDEC_UNKNOWN_TYPE, 13, "1001",
     NULL},
    /* missing fields */
    {"assessment without properties",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\",\"id\":\"/subscriptions/s\"}"),
     PD_EDEC_MISSING, 0, "properties", NULL},
    {"assessment without status code",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\",\"properties\":{"
       "\"resourceDetails\":{\"id\":\"/subscriptions/s\"},\"status\":{}}}"),
     PD_EDEC_MISSING, -1, "properties.status.code", NULL},
    {"assessment without resource",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\",\"properties\":{"
       "\"status\":{\"code\":\"Healthy\"}}}"),
     PD_EDEC_MISSING, -1, "resourceDetails", NULL},
    {"alert without SystemAlertId",
     S("{\"AlertType\":\"t\",\"AzureResourceId\":\"/subscriptions/s\"}"), PD_EDEC_MISSING, 0,
     "SystemAlertId", NULL},
    {"alert without resource", S("{\"SystemAlertId\":\"a\",\"AlertType\":\"t\"}"), PD_EDEC_MISSING,
     0, "AzureResourceId", NULL},
    {"ASFF without Resources",
     S("{\"SchemaVersion\":\"2018-10-08\",\"Id\":\"f1\",\"UpdatedAt\":\"2024-01-01T00:00:00Z\","
       "\"Compliance\":{\"Status\":\"FAILED\",\"SecurityControlId\":\"EC2.8\"}}"),
     PD_EDEC_MISSING, 0, "Resources", NULL},
    {"EventBridge without findings",
     S("{\"detail-type\":\"Security Hub Findings - Imported\",\"detail\":{}}"), PD_EDEC_MISSING, -1,
     "detail.findings", NULL},
    {"SCC finding without category",
     S("{\"finding\":{\"name\":\"organizations/1/sources/2/findings/3\",\"state\":\"ACTIVE\","
       "\"resourceName\":\"//compute.googleapis.com/projects/p/zones/z/instances/1\"}}"),
     PD_EDEC_MISSING, -1, "finding.category", NULL},
    {"OCSF without time",
     S("{\"class_uid\":2003,\"finding_info\":{\"uid\":\"u\"},\"resources\":[{\"uid\":\"r\"}]}"),
     PD_EDEC_MISSING, -1, "time", NULL},
    /* wrong types */
    {"properties is a string",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\",\"properties\":\"x\"}"),
     PD_EDEC_TYPE, 66, "properties", NULL},
    {"status code is a number",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\",\"properties\":{"
       "\"resourceDetails\":{\"id\":\"/subscriptions/s\"},\"status\":{\"code\":1}}}"),
     PD_EDEC_TYPE, -1, "properties.status.code", NULL},
    {"isSnapshot is a word",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\","
       "\"assessmentEventDataEnrichment\":{\"action\":\"Insert\",\"isSnapshot\":\"maybe\"}}"),
     PD_EDEC_TYPE, -1, "assessmentEventDataEnrichment", NULL},
    {"type is a number", S("{\"type\":7,\"name\":\"k\",\"SystemAlertId\":5}"), PD_EDEC_TYPE, -1,
     NULL, NULL},
    {"ASFF Resources is an object",
     S("{\"SchemaVersion\":\"2018-10-08\",\"Id\":\"f1\",\"UpdatedAt\":\"2024-01-01T00:00:00Z\","
       "\"Resources\":{}}"),
     PD_EDEC_TYPE, -1, "Resources", NULL},
    {"score counts are strings of words",
     S("{\"type\":\"Microsoft.Security/secureScores\",\"id\":\"/subscriptions/s/providers/"
       "Microsoft.Security/secureScores/ascScore\",\"properties\":{\"score\":{\"max\":true}}}"),
     PD_EDEC_TYPE, -1, "properties.score.max", NULL},
    /* values */
    {"unknown status code",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\",\"properties\":{"
       "\"resourceDetails\":{\"id\":\"/subscriptions/s\"},\"status\":{\"code\":\"Sick\"}}}"),
     PD_EDEC_VALUE, -1, "Sick", NULL},
    {"bad time",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\",\"properties\":{"
       "\"resourceDetails\":{\"id\":\"/subscriptions/s\"},\"status\":{\"code\":\"Healthy\","
       "\"statusChangeDate\":\"yesterday\"}}}"),
     PD_EDEC_VALUE, -1, "statusChangeDate", NULL},
    {"unknown action",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\","
       "\"securityEventDataEnrichment\":{\"action\":\"Explode\"}}"),
     PD_EDEC_VALUE, -1, "action", NULL},
    {"negative count",
     S("{\"type\":\"Microsoft.Security/regulatoryComplianceStandards/regulatoryComplianceControls/"
       "regulatoryComplianceAssessments\",\"id\":\"/subscriptions/s/providers/Microsoft.Security/"
       "regulatoryComplianceStandards/x/regulatoryComplianceControls/LT.5/"
       "regulatoryComplianceAssessments/k\",\"properties\":{\"state\":\"Passed\","
       "\"passedResources\":-1}}"),
     PD_EDEC_VALUE, -1, "passedResources", NULL},
    /* duplicates */
    {"duplicate top-level key",
     S("{\"type\":\"Microsoft.Security/assessments\",\"type\":\"Microsoft.Security/assessments\"}"),
     PD_EDEC_DUPLICATE, 41, "type", NULL},
    {"duplicate key in another case",
     S("{\"type\":\"Microsoft.Security/assessments\",\"name\":\"k1\",\"properties\":{"
       "\"status\":{\"code\":\"Healthy\"},\"Status\":{\"code\":\"Unhealthy\"}}}"),
     PD_EDEC_DUPLICATE, -1, "Status", NULL},
    {"duplicate alert id", S("{\"SystemAlertId\":\"a\",\"SystemAlertId\":\"b\"}"),
     PD_EDEC_DUPLICATE, 21, NULL, NULL},
};

static int no_emit(void *ctx, const pd_event *ev)
{
    (void)ev;
    (*(int *)ctx)++;
    return 0;
}

static void test_hostile_table(void **state)
{
    (void)state;
    pd_decoder *d = NULL;
    assert_int_equal(pd_decoder_create(NULL, &d), 0);
    pd_buf b;
    pd_buf_init(&b);
    size_t ncases = sizeof(cases) / sizeof(cases[0]);
    assert_true(ncases >= 40);
    for (size_t i = 0; i < ncases; i++) {
        const hcase *c = &cases[i];
        const char *msg = c->msg;
        size_t len = c->len;
        if (c->build) {
            pd_buf_reset(&b);
            c->build(&b);
            assert_false(b.oom);
            if (b.len == 0) {
                fprintf(stderr, "SKIP: case '%s' (sample missing)\n", c->name);
                continue;
            }
            msg = b.p;
            len = b.len;
        }
        pd_decode_error err;
        memset(&err, 0x5a, sizeof(err));
        int emitted = 0;
        int rc = pd_decode(d, msg, len, PD_FMT_AUTO, no_emit, &emitted, &err);
        if (rc != c->code)
            fail_msg("case '%s': got %d (%s: %s at %zu), want %d (%s)", c->name, rc,
                     pd_decode_error_name(rc), err.message, err.offset, c->code,
                     pd_decode_error_name(c->code));
        if (emitted)
            fail_msg("case '%s': %d events emitted with an error", c->name, emitted);
        assert_int_equal(err.code, c->code);
        assert_true(strlen(err.message) > 0);
        if (c->offset >= 0 && err.offset != (size_t)c->offset)
            fail_msg("case '%s': offset %zu, want %ld (%s)", c->name, err.offset, c->offset,
                     err.message);
        if (c->want && !strstr(err.message, c->want))
            fail_msg("case '%s': message '%s' does not name '%s'", c->name, err.message, c->want);
        if (len && c->offset < 0)
            assert_true(err.offset <= len);
    }
    /* The decoder still works after all that. */
    static const char ok[] =
        "{\"SystemAlertId\":\"a\",\"AlertType\":\"t\",\"AzureResourceId\":\"/subscriptions/s\"}";
    int emitted = 0;
    assert_int_equal(pd_decode(d, ok, sizeof(ok) - 1, PD_FMT_AUTO, no_emit, &emitted, NULL), 0);
    assert_int_equal(emitted, 1);
    pd_buf_free(&b);
    pd_decoder_destroy(d);
}

/* Limits are configurable: a small depth and token cap. */
static void test_limits(void **state)
{
    (void)state;
    pd_decode_opts o;
    pd_decode_opts_default(&o);
    assert_int_equal(o.max_depth, 64);
    o.max_depth = 3;
    o.max_tokens = 10;
    pd_decoder *d = NULL;
    assert_int_equal(pd_decoder_create(&o, &d), 0);
    pd_decode_error err;
    assert_int_equal(pd_decode(d, S("[[[[1]]]]"), PD_FMT_AUTO, NULL, NULL, &err), PD_EDEC_DEPTH);
    assert_int_equal(err.offset, 3);
    assert_int_equal(pd_decode(d, S("[[[1]]]"), PD_FMT_AUTO, NULL, NULL, &err), PD_EDEC_TYPE);
    assert_int_equal(pd_decode(d, S("[1,2,3,4,5,6,7,8,9,10,11,12]"), PD_FMT_AUTO, NULL, NULL, &err),
                     PD_EDEC_TOO_MANY_TOKENS);
    pd_decoder_destroy(d);
    o.max_depth = 0;
    assert_int_equal(pd_decoder_create(&o, &d), PD_EINVAL);
}

/* Every prefix of a real message fails cleanly (never crashes, never emits). */
static void test_every_prefix(void **state)
{
    (void)state;
    size_t n = 0;
    char *s =
        pd_test_sample("aws-solutions_automated-security-response-on-aws__afsbp-ec2.7.json", &n);
    pd_decoder *d = NULL;
    assert_int_equal(pd_decoder_create(NULL, &d), 0);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        n--;
    for (size_t k = 0; k < n; k++) {
        int emitted = 0;
        pd_decode_error err;
        int rc = pd_decode(d, s, k, PD_FMT_AUTO, no_emit, &emitted, &err);
        assert_true(rc == PD_EDEC_SYNTAX || rc == PD_EDEC_EMPTY);
        assert_int_equal(emitted, 0);
    }
    int emitted = 0;
    assert_int_equal(pd_decode(d, s, n, PD_FMT_AUTO, no_emit, &emitted, NULL), 0);
    assert_int_equal(emitted, 1);
    pd_decoder_destroy(d);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_table),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_every_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
