/* test_decode_prescan: the decoder's pre-scan path (jsmn over a copy with the strings
 * emptied) against the reference path (jsmn over the message itself, opts.no_prescan):
 * for every input, the same return code, error code, offset and message, and the same
 * events. Inputs: cases aimed at the pre-scan's edges, generated streams of every shape,
 * the real samples, and systematic truncations and byte mutations of those. */
#include "pd_test.h"

#include "pd_buf.h"
#include "pd_decode.h"
#include "pd_gen.h"

typedef struct side {
    pd_decoder *d;
    pd_buf ev;
    pd_decode_error err;
    int rc;
} side;

static side fast, ref;
static unsigned long compared, failed_inputs;

static int collect(void *ctx, const pd_event *e)
{
    pd_buf *b = ctx;
    pd_event_json(e, b);
    pd_buf_putc(b, '\n');
    return 0;
}

static void run(side *s, const char *msg, size_t len)
{
    pd_buf_reset(&s->ev);
    memset(&s->err, 0, sizeof(s->err));
    s->rc = pd_decode(s->d, msg, len, PD_FMT_AUTO, collect, &s->ev, &s->err);
}

/* Decodes msg on both paths and fails the test on any difference. */
static void same(const char *msg, size_t len)
{
    run(&fast, msg, len);
    run(&ref, msg, len);
    compared++;
    if (fast.rc == ref.rc && fast.err.code == ref.err.code && fast.err.offset == ref.err.offset &&
        !strcmp(fast.err.message, ref.err.message) && fast.ev.len == ref.ev.len &&
        (!fast.ev.len || !memcmp(fast.ev.p, ref.ev.p, fast.ev.len)))
        return;
    failed_inputs++;
    fail_msg("pre-scan and reference differ on %zu bytes '%.*s': rc %d/%d, offset %zu/%zu, "
             "'%s' / '%s', events %zu/%zu bytes",
             len, (int)(len < 200 ? len : 200), msg, fast.rc, ref.rc, fast.err.offset,
             ref.err.offset, fast.err.message, ref.err.message, fast.ev.len, ref.ev.len);
}

static int setup(void **state)
{
    (void)state;
    pd_decode_opts o;
    pd_decode_opts_default(&o);
    if (pd_decoder_create(&o, &fast.d))
        return -1;
    o.no_prescan = true;
    if (pd_decoder_create(&o, &ref.d))
        return -1;
    pd_buf_init(&fast.ev);
    pd_buf_init(&ref.ev);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pd_decoder_destroy(fast.d);
    pd_decoder_destroy(ref.d);
    pd_buf_free(&fast.ev);
    pd_buf_free(&ref.ev);
    return 0;
}

#define SAME(lit) same(lit, sizeof(lit) - 1)

/* A valid Defender assessment with a string of `n` x's in the display name, so that string
 * ends fall at every offset of a 64-byte block. */
static void assessment_pad(pd_buf *b, size_t n, const char *filler)
{
    pd_buf_reset(b);
    pd_buf_puts(b, "{\"type\":\"Microsoft.Security/assessments\",\"id\":\"/subscriptions/"
                   "0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/"
                   "providers/Microsoft.Security/assessments/k1\",\"name\":\"k1\","
                   "\"properties\":{\"displayName\":\"");
    for (size_t i = 0; i < n; i++)
        pd_buf_puts(b, filler);
    pd_buf_puts(b, "\",\"status\":{\"code\":\"Unhealthy\"},\"resourceDetails\":{\"Source\":"
                   "\"Azure\",\"Id\":\"/subscriptions/0000/resourceGroups/rg/providers/"
                   "Microsoft.Compute/virtualMachines/vm1\"}}}");
}

static void test_edges(void **state)
{
    (void)state;
    /* Quotes jsmn does not take as string starts (inside primitives, after a string). */
    SAME("{\"a\":x\"y\"}");
    SAME("[1\"a\"]");
    SAME("[1 \"a\"]");
    SAME("[a[\"x\"]");
    SAME("[a[ \"x\"]");
    SAME("[\"a\"\"b\"]");
    SAME("[\"a\" \"b\"]");
    SAME("{\"a\":\"b\"\"c\":1}");
    SAME("{\"a\":1}\"x\"");
    SAME("\"x\"");
    SAME("  \"x\"  ");
    SAME("{\"a\"}");
    SAME("{\"a\":}");
    SAME("{:\"a\"}");
    SAME("{\"a\":\"b\",}");
    SAME("{\"a\" : \"b\" , \"c\" : [ \"d\" , {\"e\":\"f\"} ] }");
    /* Escapes and what jsmn checks in them. */
    SAME("{\"a\":\"\\\"\"}");
    SAME("{\"a\\\"b\":1}");
    SAME("{\"a\":\"x\\\\\"}");
    SAME("{\"a\":\"x\\\\\\\"y\"}");
    SAME("{\"a\":\"\\u00e9\\ud83d\\ude00\"}");
    SAME("{\"a\":\"\\ug000\"}");
    SAME("{\"a\":\"\\u0g00\"}");
    SAME("{\"a\":\"\\u00g0\"}");
    SAME("{\"a\":\"\\u000g\"}");
    SAME("{\"a\":\"\\u000G\\u00aF\"}");
    SAME("{\"a\":\"\\u00\"}");
    SAME("{\"a\":\"\\x\"}");
    SAME("{\"a\":\"\\");
    SAME("{\"a\":\"\\u");
    SAME("{\"a\":\"\\ud800\"}");
    SAME("{\"a\":\"\\udc00\"}");
    SAME("{\"a\":\"\\u0000\"}");
    SAME("{\"a\":\"/\\/\\b\\f\\n\\r\\t\"}");
    /* Unterminated, NUL, control and non-ASCII bytes in and out of strings. */
    SAME("{\"a\":\"b");
    SAME("{\"a\":\"b\\\"}");
    SAME("{\"a");
    SAME("\"");
    same("{\"a\":\"b\0c\"}", 11);
    same("{\"a\":\"b\"}\0", 10);
    same("{\"a\":\0\"b\"}", 10);
    same("\0", 1);
    SAME("{\"a\":\"b\tc\"}");
    SAME("{\"a\":\"b\nc\"}");
    SAME("{\n\t\"a\":\r\n\"b\"\n}");
    SAME("{\"a\":\"caf\xc3\xa9\"}");
    SAME("{\"a\":\"caf\xc3\"}");
    SAME("{\"a\":\"\xed\xa0\x80\"}");
    SAME("{\"a\":\"\xf4\x90\x80\x80\"}");
    SAME("{\"a\":caf\xc3\xa9}");
    SAME("{\"a\":\"b\"\xc3\xa9}");
    SAME("{\"\xc3\xa9\":\"b\"}");
    SAME("{\"a\":\\\"b\"}");
    SAME("\\");
    /* Structure. */
    SAME("");
    SAME("   ");
    SAME("{}");
    SAME("[]");
    SAME("[{}]");
    SAME("{\"records\":[]}");
    SAME("{\"a\":[1,2,{\"b\":[\"c\",{\"d\":\"e\"}]}],\"f\":\"g\"}");
    SAME("{\"a\":[1,2,{\"b\":[\"c\",{\"d\":\"e\"}]],\"f\":\"g\"}");
    SAME("{\"a\":1,\"a\":2}");
    SAME("{\"a\":NaN}");
    SAME("{\"a\":-}");
    SAME("{\"a\":01}");
    SAME("{\"a\":1.}");
    SAME("{\"a\":truex}");
    SAME("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    /* String ends at every offset of a 64-byte block, plain and with non-ASCII. */
    pd_buf b;
    pd_buf_init(&b);
    for (size_t n = 0; n < 200; n++) {
        assessment_pad(&b, n, "x");
        same(b.p, b.len);
        assessment_pad(&b, n % 70, "\xc3\xa9");
        same(b.p, b.len);
        assessment_pad(&b, n % 40, "\\\"");
        same(b.p, b.len);
    }
    pd_buf_free(&b);
    assert_int_equal(failed_inputs, 0);
}

static uint64_t rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Every truncation of msg, and `n` single-byte replacements, insertions and deletions with
 * bytes that matter to the pre-scan. */
static void mutate(const char *msg, size_t len, int n, uint64_t *seed)
{
    static const char bytes[] = {'"',  '\\', '{',  '}',  '[',        ']',       ',',
                                 ':',  ' ',  '\0', 'u',  '1',        'n',       'x',
                                 '\n', '\t', 0x1f, 0x7f, (char)0x80, (char)0xc3};
    char *m = malloc(len + 1);
    assert_non_null(m);
    for (size_t i = 0; i <= len; i++)
        same(msg, i);
    for (int k = 0; k < n; k++) {
        size_t at = len ? rng(seed) % len : 0;
        char c = bytes[rng(seed) % sizeof(bytes)];
        size_t ml = len;
        switch (rng(seed) % 3) {
        case 0: /* replace */
            memcpy(m, msg, len);
            if (len)
                m[at] = c;
            break;
        case 1: /* insert */
            memcpy(m, msg, at);
            m[at] = c;
            memcpy(m + at + 1, msg + at, len - at);
            ml = len + 1;
            break;
        default: /* delete */
            if (!len)
                continue;
            memcpy(m, msg, at);
            memcpy(m + at, msg + at + 1, len - at - 1);
            ml = len - 1;
        }
        same(m, ml);
    }
    free(m);
}

static void test_generated(void **state)
{
    (void)state;
    pd_gen_opts o;
    pd_gen_opts_default(&o);
    o.seed = 7;
    o.servers = 40;
    o.days = 0;
    o.max_events = 1500;
    o.mix = PD_GEN_MIX_ALL;
    o.inventory = true;
    o.alert_rest_pct = 30;
    pd_gen *g = NULL;
    assert_int_equal(pd_gen_create(&o, &g, NULL), 0);
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta meta;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    unsigned long events = 0, n = 0;
    while (pd_gen_next(g, &b, &meta) == 0) {
        same(b.p, b.len);
        assert_int_equal(fast.rc, 0);
        events += fast.ev.len > 0;
        /* A few of every shape get the full mutation treatment. */
        if (n++ % 97 == 0)
            mutate(b.p, b.len, 300, &seed);
        pd_buf_reset(&b);
    }
    pd_buf_free(&b);
    pd_gen_destroy(g);
    assert_true(events > 1000);
    assert_int_equal(failed_inputs, 0);
}

static void test_samples(void **state)
{
    (void)state;
    static const char *const files[] = {
        "Azure_Microsoft-Defender-for-Cloud__Recommendation.schema.json",
        "Azure_Microsoft-Defender-for-Cloud__SecurityAlert.schema.json",
        "GoogleCloudPlatform_security-response-automation__open_ssh_port-remediated.json",
        "aws-solutions_automated-security-response-on-aws__afsbp-ec2.7.json",
        "defender-server-assessments.json",
        "elastic_integrations__test-alert.log",
    };
    uint64_t seed = 42;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t len;
        char *s = pd_test_sample(files[f], &len);
        same(s, len);
        if (len < 20000)
            mutate(s, len, 300, &seed);
        /* JSON lines: each line too. */
        for (char *p = s, *e = s + len; p < e;) {
            char *nl = memchr(p, '\n', (size_t)(e - p));
            size_t l = nl ? (size_t)(nl - p) : (size_t)(e - p);
            same(p, l);
            p += l + 1;
        }
        free(s);
    }
    assert_int_equal(failed_inputs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_generated),
        cmocka_unit_test(test_samples),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    fprintf(stderr, "test_decode_prescan: %lu inputs compared\n", compared);
    return rc;
}
