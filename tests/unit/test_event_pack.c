/* pd_event_pack: every event the real decoders produce (shared samples, generated streams of
 * every kind and format) survives pack + unpack with the same JSON and the same fields, edge
 * values included (absent times and cvss, -0.0, NaN, full tag and framework arrays); hostile
 * bytes (truncations, byte flips, wrong version and shapes, huge declared lengths, deep
 * nesting, junk) are refused with a reason or unpack to a well-formed event, never a crash.
 * PD_EVENT_PACK_SEEDS=DIR writes the fuzz seeds (one packed event per kind) to DIR. */
#include "pd_test.h"

#include "pd_buf.h"
#include "pd_decode.h"
#include "pd_event_pack.h"
#include "pd_gen.h"
#include "pd_time.h"

#include <jansson.h>
#include <math.h>
#include <msgpack.h>

static pd_controls *g_controls;
static pd_event_unpacker *g_u;
static pd_decoder *g_dec;
static pd_buf g_pk, g_j1, g_j2;
static uint64_t g_seen[PD_KIND__COUNT], g_checked;
/* Packed and JSON bytes over every generated event; one Defender assessment's sizes. */
static uint64_t g_packed_bytes, g_json_bytes;
static size_t g_def_packed, g_def_json, g_def_msg;
static size_t g_msg_len;

/* One packed event per kind (the first generated), for the hostile tests and seeds. */
static char *g_kind_pk[PD_KIND__COUNT];
static size_t g_kind_len[PD_KIND__COUNT];

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
    pd_buf_init(&g_pk);
    pd_buf_init(&g_j1);
    pd_buf_init(&g_j2);
    if (pd_event_unpacker_create(&g_u) || pd_decoder_create(NULL, &g_dec))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int k = 0; k < PD_KIND__COUNT; k++)
        free(g_kind_pk[k]);
    pd_event_unpacker_destroy(g_u);
    pd_event_unpacker_destroy(NULL);
    pd_decoder_destroy(g_dec);
    pd_controls_destroy(g_controls);
    pd_buf_free(&g_pk);
    pd_buf_free(&g_j1);
    pd_buf_free(&g_j2);
    return 0;
}

/* ---------- comparing events ---------- */

static void str_same(pd_str a, pd_str b, const char *what)
{
    if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len)))
        fail_msg("%s: '%.*s' became '%.*s'", what, (int)a.len, a.p ? a.p : "", (int)b.len,
                 b.p ? b.p : "");
}

static void num_same(double a, double b, const char *what)
{
    if (isnan(a) ? !isnan(b) : memcmp(&a, &b, sizeof(a)) != 0)
        fail_msg("%s: %.17g became %.17g", what, a, b);
}

#define int_same(a, b)                                                                             \
    do {                                                                                           \
        if ((int64_t)(a) != (int64_t)(b))                                                          \
            fail_msg("%s: %lld became %lld", #a, (long long)(a), (long long)(b));                  \
    } while (0)

/* Every field the format carries, including what pd_event_json does not print exactly
 * (doubles, tactics bits it has no name for, times beyond its range, raw string bytes). */
static void same_event(const pd_event *a, const pd_event *b)
{
    int_same(a->kind, b->kind);
    int_same(a->format, b->format);
    int_same(a->status, b->status);
    int_same(a->severity, b->severity);
    str_same(a->severity_orig, b->severity_orig, "severity_orig");
    int_same(a->time_ms, b->time_ms);
    int_same(a->first_seen_ms, b->first_seen_ms);
    int_same(a->status_change_ms, b->status_change_ms);
    int_same(a->snapshot, b->snapshot);
    int_same(a->deleted, b->deleted);
    str_same(a->event_id, b->event_id, "event_id");
    const pd_resource *ra = &a->resource, *rb = &b->resource;
    str_same(ra->id, rb->id, "resource.id");
    str_same(ra->canon, rb->canon, "resource.canon");
    int_same(ra->cloud, rb->cloud);
    str_same(ra->account, rb->account, "resource.account");
    str_same(ra->region, rb->region, "resource.region");
    str_same(ra->group, rb->group, "resource.group");
    str_same(ra->type, rb->type, "resource.type");
    str_same(ra->name, rb->name, "resource.name");
    int_same(ra->ntags, rb->ntags);
    for (int i = 0; i < ra->ntags; i++) {
        str_same(ra->tags[i].key, rb->tags[i].key, "tag key");
        str_same(ra->tags[i].value, rb->tags[i].value, "tag value");
    }
    str_same(a->control.key, b->control.key, "control.key");
    str_same(a->control.name, b->control.name, "control.name");
    str_same(a->control.category, b->control.category, "control.category");
    int_same(a->control.nframeworks, b->control.nframeworks);
    for (int i = 0; i < a->control.nframeworks; i++)
        str_same(a->control.frameworks[i], b->control.frameworks[i], "framework");
    switch (a->kind) {
    case PD_KIND_ALERT:
        str_same(a->alert.id, b->alert.id, "alert.id");
        str_same(a->alert.type, b->alert.type, "alert.type");
        str_same(a->alert.status, b->alert.status, "alert.status");
        int_same(a->alert.tactics, b->alert.tactics);
        int_same(a->alert.start_ms, b->alert.start_ms);
        int_same(a->alert.end_ms, b->alert.end_ms);
        break;
    case PD_KIND_VULNERABILITY:
        str_same(a->vuln.cve, b->vuln.cve, "vuln.cve");
        str_same(a->vuln.parent_key, b->vuln.parent_key, "vuln.parent_key");
        if (a->vuln.cvss < 0) /* absent: unpacks as pd_event_reset's -1 */
            num_same(-1.0, b->vuln.cvss, "vuln.cvss (absent)");
        else
            num_same(a->vuln.cvss, b->vuln.cvss, "vuln.cvss");
        int_same(a->vuln.fix_available, b->vuln.fix_available);
        break;
    case PD_KIND_SCORE:
        str_same(a->score.control, b->score.control, "score.control");
        num_same(a->score.current, b->score.current, "score.current");
        num_same(a->score.max, b->score.max, "score.max");
        num_same(a->score.percentage, b->score.percentage, "score.percentage");
        int_same(a->score.healthy, b->score.healthy);
        int_same(a->score.unhealthy, b->score.unhealthy);
        int_same(a->score.not_applicable, b->score.not_applicable);
        break;
    case PD_KIND_COMPLIANCE:
        str_same(a->compliance.standard, b->compliance.standard, "compliance.standard");
        str_same(a->compliance.control, b->compliance.control, "compliance.control");
        str_same(a->compliance.state, b->compliance.state, "compliance.state");
        int_same(a->compliance.passed, b->compliance.passed);
        int_same(a->compliance.failed, b->compliance.failed);
        int_same(a->compliance.skipped, b->compliance.skipped);
        break;
    default:
        /* Not carried: they unpack as pd_event_reset leaves them. */
        assert_int_equal(b->alert.id.len + b->vuln.cve.len + b->score.control.len +
                             b->compliance.standard.len,
                         0);
        assert_true(b->alert.start_ms == PD_TIME_NONE && b->vuln.cvss == -1.0);
        break;
    }
}

/* Packs e, unpacks it from an exact-size copy (so ASan sees any read past the end), and
 * checks the JSON and every field. Returns the packed size. */
static size_t round_trip(const pd_event *e)
{
    pd_buf_reset(&g_pk);
    assert_int_equal(pd_event_pack(e, &g_pk), 0);
    char *copy = malloc(g_pk.len);
    assert_non_null(copy);
    memcpy(copy, g_pk.p, g_pk.len);
    pd_event o;
    memset(&o, 0xa5, sizeof(o)); /* stale garbage: unpack must set everything it reports */
    const char *why = "unset";
    int rc = pd_event_unpack(g_u, copy, g_pk.len, &o, &why);
    if (rc)
        fail_msg("unpack of a packed %s event failed: %s", pd_kind_name(e->kind), why);
    assert_null(why);
    pd_buf_reset(&g_j1);
    pd_buf_reset(&g_j2);
    pd_event_json(e, &g_j1);
    pd_event_json(&o, &g_j2);
    if (g_j1.len != g_j2.len || memcmp(g_j1.p, g_j2.p, g_j1.len))
        fail_msg("JSON differs:\n%.*s\n%.*s", (int)g_j1.len, g_j1.p, (int)g_j2.len, g_j2.p);
    same_event(e, &o);
    /* Pack is a function of the event: repacking the unpacked event gives the same bytes. */
    size_t n = g_pk.len;
    pd_buf_reset(&g_pk);
    assert_int_equal(pd_event_pack(&o, &g_pk), 0);
    assert_int_equal(g_pk.len, n);
    assert_memory_equal(g_pk.p, copy, n);
    free(copy);
    g_seen[e->kind]++;
    g_checked++;
    return n;
}

static void keep_kind(const pd_event *e)
{
    if (g_kind_pk[e->kind])
        return;
    pd_buf_reset(&g_pk);
    assert_int_equal(pd_event_pack(e, &g_pk), 0);
    g_kind_pk[e->kind] = malloc(g_pk.len);
    assert_non_null(g_kind_pk[e->kind]);
    memcpy(g_kind_pk[e->kind], g_pk.p, g_pk.len);
    g_kind_len[e->kind] = g_pk.len;
}

static int on_event(void *ctx, const pd_event *e)
{
    (void)ctx;
    size_t n = round_trip(e);
    pd_buf_reset(&g_j1);
    pd_event_json(e, &g_j1);
    g_packed_bytes += n;
    g_json_bytes += g_j1.len;
    if (!g_def_packed && e->kind == PD_KIND_ASSESSMENT && e->format == PD_FMT_DEFENDER &&
        e->resource.ntags) {
        g_def_packed = n;
        g_def_json = g_j1.len;
        g_def_msg = g_msg_len;
    }
    keep_kind(e);
    return 0;
}

/* ---------- (a) round trips ---------- */

/* An instance built from a JSON Schema's first "examples" and nested "properties" (as
 * test_decode.c does for Microsoft's export schemas). */
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

static uint64_t decode_all(const char *msg, size_t len)
{
    uint64_t before = g_checked;
    g_msg_len = len;
    pd_decode_error err;
    if (pd_decode(g_dec, msg, len, PD_FMT_AUTO, on_event, NULL, &err))
        return 0;
    return g_checked - before;
}

static void test_samples(void **state)
{
    (void)state;
    static const char *const schemas[] = {
        "Azure_Microsoft-Defender-for-Cloud__Recommendation.schema.json",
        "Azure_Microsoft-Defender-for-Cloud__SecurityAlert.schema.json"};
    static const char *const docs[] = {
        "GoogleCloudPlatform_security-response-automation__open_ssh_port-remediated.json",
        "GoogleCloudPlatform_security-response-automation__public_ip_address-remediated.json",
        "GoogleCloudPlatform_security-response-automation__ssh_brute_force-remediated.json",
        "aws-solutions_automated-security-response-on-aws__afsbp-ec2.7.json",
        "aws-solutions_automated-security-response-on-aws__afsbp-ec2.8.json"};
    uint64_t events = 0;
    for (size_t i = 0; i < PD_ARRAY_LEN(schemas); i++) {
        size_t n = 0;
        char *buf = pd_test_sample(schemas[i], &n);
        json_error_t jerr;
        json_t *sch = json_loadb(buf, n, 0, &jerr);
        assert_non_null(sch);
        json_t *inst = schema_example(sch);
        char *msg = json_dumps(inst, JSON_COMPACT);
        assert_non_null(msg);
        uint64_t got = decode_all(msg, strlen(msg));
        if (!got)
            fail_msg("%s: its example did not decode", schemas[i]);
        fprintf(stderr, "test_event_pack: %s example: %zu packed, %zu event JSON, %zu message\n",
                schemas[i], g_pk.len, g_j1.len, strlen(msg));
        events += got;
        free(msg);
        json_decref(inst);
        json_decref(sch);
        free(buf);
    }
    for (size_t i = 0; i < PD_ARRAY_LEN(docs); i++) {
        size_t n = 0;
        char *buf = pd_test_sample(docs[i], &n);
        uint64_t got = decode_all(buf, n);
        if (!got)
            fail_msg("%s did not decode", docs[i]);
        events += got;
        free(buf);
    }
    /* JSON lines: every line a message. */
    size_t n = 0;
    char *buf = pd_test_sample("elastic_integrations__test-alert.log", &n);
    for (char *p = buf, *end = buf + n; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l)
            events += decode_all(p, l);
        p += l + 1;
    }
    free(buf);
    fprintf(stderr, "test_event_pack: %llu sample events round-tripped\n",
            (unsigned long long)events);
    assert_true(events >= 8);
}

static void gen_all(pd_gen_opts *o, uint64_t *events)
{
    pd_gen *g = NULL;
    assert_int_equal(pd_gen_create(o, &g, NULL), 0);
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta m;
    while (pd_gen_next(g, &b, &m) == 0) {
        *events += decode_all(b.p, b.len);
        pd_buf_reset(&b);
    }
    pd_buf_free(&b);
    pd_gen_destroy(g);
}

static void test_generated(void **state)
{
    (void)state;
    uint64_t events = 0;
    memset(g_seen, 0, sizeof(g_seen));
    pd_gen_opts o;
    pd_gen_opts_default(&o);
    o.seed = 7;
    o.servers = 40;
    o.days = 8;
    o.mix = PD_GEN_MIX_ALL;
    o.inventory = true;
    o.delete_rate = 0.01;
    o.alert_rest_pct = 50;
    o.controls = g_controls;
    gen_all(&o, &events);
    pd_gen_opts_default(&o);
    o.seed = 8;
    o.servers = 30;
    o.days = 8;
    o.churn = 0.05;
    o.controls = g_controls;
    gen_all(&o, &events);
    for (int k = 0; k < PD_KIND__COUNT; k++) {
        fprintf(stderr, "test_event_pack: %-13s %llu\n", pd_kind_name((pd_kind)k),
                (unsigned long long)g_seen[k]);
        if (!g_seen[k])
            fail_msg("no %s event was round-tripped", pd_kind_name((pd_kind)k));
    }
    assert_true(events > 2000);
    assert_true(g_def_packed > 0);
    fprintf(stderr,
            "test_event_pack: %llu generated events: %llu bytes packed, %llu as event JSON "
            "(%.0f%%); a Defender assessment: %zu packed, %zu event JSON, %zu source message\n",
            (unsigned long long)events, (unsigned long long)g_packed_bytes,
            (unsigned long long)g_json_bytes, 100.0 * (double)g_packed_bytes / (double)g_json_bytes,
            g_def_packed, g_def_json, g_def_msg);
}

static pd_str S(const char *s)
{
    return pd_str_c(s);
}

static void fill(pd_event *e, pd_kind kind)
{
    pd_event_reset(e);
    e->resource.ntags = 0;
    e->control.nframeworks = 0;
    e->kind = kind;
    e->format = PD_FMT_OCSF;
    e->status = PD_STATUS_REMOVED;
    e->severity = PD_SEV_CRITICAL;
    e->resource.cloud = PD_CLOUD_ONPREM;
}

static void test_edges(void **state)
{
    (void)state;
    pd_event e;
    /* Nothing known, every kind: absent times and cvss, NULL strings. */
    for (int k = 0; k < PD_KIND__COUNT; k++) {
        fill(&e, (pd_kind)k);
        round_trip(&e);
    }
    /* Full arrays, explicit canon, extreme integers and doubles. */
    fill(&e, PD_KIND_SCORE);
    e.resource.id = S("/Subscriptions/ABC/vm-1");
    e.resource.canon = S("something-else");
    for (int i = 0; i < PD_EVENT_MAX_TAGS; i++) {
        e.resource.tags[i].key = S(i % 2 ? "k" : "");
        e.resource.tags[i].value = S("v\xc3\xa9");
    }
    e.resource.ntags = PD_EVENT_MAX_TAGS;
    for (int i = 0; i < PD_EVENT_MAX_FRAMEWORKS; i++)
        e.control.frameworks[i] = S("NIST:SI-2");
    e.control.nframeworks = PD_EVENT_MAX_FRAMEWORKS;
    e.time_ms = PD_EVENT_PACK_TIME_MAX;
    e.first_seen_ms = -PD_EVENT_PACK_TIME_MAX;
    e.status_change_ms = -1;
    e.snapshot = e.deleted = true;
    static const double nums[] = {
        0.0, -0.0,     1.0,      -1.0, 0.1, 1e300, -1e-300, 9007199254740993.0, -9007199254740992.0,
        NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < PD_ARRAY_LEN(nums); i++) {
        e.score.current = nums[i];
        e.score.max = nums[(i + 1) % PD_ARRAY_LEN(nums)];
        e.score.percentage = nums[(i + 5) % PD_ARRAY_LEN(nums)];
        e.score.healthy = UINT32_MAX;
        round_trip(&e);
    }
    e.resource.canon = PD_STR_NULL; /* empty canon with an id: not the lowercase id */
    round_trip(&e);
    e.resource.id = PD_STR_NULL;
    round_trip(&e);

    fill(&e, PD_KIND_VULNERABILITY);
    static const double cvss[] = {-1.0, -0.5, 0.0, 7.5, 10.0};
    for (size_t i = 0; i < PD_ARRAY_LEN(cvss); i++) {
        e.vuln.cvss = cvss[i];
        e.vuln.fix_available = i & 1;
        round_trip(&e);
    }
    fill(&e, PD_KIND_ALERT);
    e.alert.tactics = UINT32_MAX;
    e.alert.start_ms = 0;
    round_trip(&e);
    fill(&e, PD_KIND_COMPLIANCE);
    e.compliance.passed = UINT32_MAX;
    e.compliance.state = S("Failed");
    round_trip(&e);

    /* Pack refuses what it cannot represent, appending nothing. */
    pd_buf_reset(&g_pk);
    pd_buf_putc(&g_pk, 'x');
    pd_event bad;
    fill(&bad, PD_KIND_ALERT);
    bad.resource.ntags = PD_EVENT_MAX_TAGS + 1;
    assert_int_equal(pd_event_pack(&bad, &g_pk), PD_EINVAL);
    fill(&bad, PD_KIND_ALERT);
    bad.control.nframeworks = PD_EVENT_MAX_FRAMEWORKS + 1;
    assert_int_equal(pd_event_pack(&bad, &g_pk), PD_EINVAL);
    fill(&bad, PD_KIND_ALERT);
    bad.kind = PD_KIND__COUNT;
    assert_int_equal(pd_event_pack(&bad, &g_pk), PD_EINVAL);
    fill(&bad, PD_KIND_ALERT);
    bad.severity = PD_SEV__COUNT;
    assert_int_equal(pd_event_pack(&bad, &g_pk), PD_EINVAL);
    fill(&bad, PD_KIND_ALERT);
    bad.alert.type = (pd_str){NULL, 3};
    assert_int_equal(pd_event_pack(&bad, &g_pk), PD_EINVAL);
    fill(&bad, PD_KIND_ALERT);
    bad.time_ms = PD_EVENT_PACK_TIME_MAX + 1;
    assert_int_equal(pd_event_pack(&bad, &g_pk), PD_EINVAL);
    fill(&bad, PD_KIND_ALERT);
    bad.alert.end_ms = INT64_MIN + 1;
    assert_int_equal(pd_event_pack(&bad, &g_pk), PD_EINVAL);
    assert_int_equal(g_pk.len, 1);
    /* Appends after what is there. */
    fill(&e, PD_KIND_INVENTORY);
    assert_int_equal(pd_event_pack(&e, &g_pk), 0);
    pd_event o;
    assert_int_equal(pd_event_unpack(g_u, g_pk.p + 1, g_pk.len - 1, &o, NULL), 0);
    assert_int_equal(o.kind, PD_KIND_INVENTORY);
}

/* ---------- (b) hostile input ---------- */

static void slice_ok(pd_str s, const char *data, size_t len, bool in_data)
{
    if (!s.len)
        return;
    assert_non_null(s.p);
    if (in_data)
        assert_true(s.p >= data && s.p + s.len <= data + len);
    assert_null(memchr(s.p, 0, s.len));
}

/* What a successful unpack promises, whatever the bytes. */
static void well_formed(const pd_event *e, const char *data, size_t len)
{
    const pd_resource *r = &e->resource;
    assert_true(e->kind < PD_KIND__COUNT && e->format < PD_FMT__COUNT);
    assert_true(r->cloud < PD_CLOUD__COUNT && e->status < PD_STATUS__COUNT &&
                e->severity < PD_SEV__COUNT);
    assert_true(r->ntags <= PD_EVENT_MAX_TAGS && e->control.nframeworks <= PD_EVENT_MAX_FRAMEWORKS);
    const pd_str s[] = {r->id,
                        r->account,
                        r->region,
                        r->group,
                        r->type,
                        r->name,
                        e->control.key,
                        e->control.name,
                        e->control.category,
                        e->severity_orig,
                        e->event_id,
                        e->alert.id,
                        e->alert.type,
                        e->alert.status,
                        e->vuln.cve,
                        e->vuln.parent_key,
                        e->score.control,
                        e->compliance.standard,
                        e->compliance.control,
                        e->compliance.state};
    for (size_t i = 0; i < PD_ARRAY_LEN(s); i++)
        slice_ok(s[i], data, len, true);
    slice_ok(r->canon, data, len, false); /* may be the unpacker's scratch */
    for (int i = 0; i < r->ntags; i++) {
        slice_ok(r->tags[i].key, data, len, true);
        slice_ok(r->tags[i].value, data, len, true);
    }
    for (int i = 0; i < e->control.nframeworks; i++)
        slice_ok(e->control.frameworks[i], data, len, true);
    pd_buf_reset(&g_j1);
    pd_event_json(e, &g_j1);
    assert_false(g_j1.oom);
}

/* Unpacks an exact-size copy: an error with a reason, or a well-formed event. */
static int try_unpack(const void *bytes, size_t len, const char **why_out)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, bytes, len);
    pd_event o;
    const char *why = "unset";
    int rc = pd_event_unpack(g_u, copy, len, &o, &why);
    if (rc) {
        assert_int_equal(rc, PD_EINVAL);
        assert_non_null(why);
        assert_true(strcmp(why, "unset") != 0);
        assert_int_equal(o.resource.ntags + o.control.nframeworks, 0);
    } else {
        assert_null(why);
        well_formed(&o, copy, len);
        /* Whatever was accepted packs again and unpacks to the same JSON (g_j1 holds o's,
         * rendered before o2 may reuse the scratch o's canon sits in). */
        pd_buf b;
        pd_buf_init(&b);
        assert_int_equal(pd_event_pack(&o, &b), 0);
        pd_event o2;
        assert_int_equal(pd_event_unpack(g_u, b.p, b.len, &o2, NULL), 0);
        pd_buf_reset(&g_j2);
        pd_event_json(&o2, &g_j2);
        assert_int_equal(g_j1.len, g_j2.len);
        assert_memory_equal(g_j1.p, g_j2.p, g_j1.len);
        pd_buf_free(&b);
    }
    free(copy);
    if (why_out)
        *why_out = rc ? why : NULL;
    return rc;
}

static void test_truncations_and_flips(void **state)
{
    (void)state;
    uint64_t accepted = 0, refused = 0;
    for (int k = 0; k < PD_KIND__COUNT; k++) {
        const char *p = g_kind_pk[k];
        size_t len = g_kind_len[k];
        if (!p)
            fail_msg("no packed %s event was kept (test_generated runs first)",
                     pd_kind_name((pd_kind)k));
        assert_int_equal(try_unpack(p, len, NULL), 0);
        /* Every truncation fails. */
        for (size_t n = 0; n < len; n++)
            assert_int_equal(try_unpack(p, n, NULL), PD_EINVAL);
        /* Trailing bytes fail. */
        char *longer = malloc(len + 1);
        memcpy(longer, p, len);
        longer[len] = 0;
        const char *why;
        assert_int_equal(try_unpack(longer, len + 1, &why), PD_EINVAL);
        assert_string_equal(why, "trailing bytes");
        /* Every single-byte flip, several ways: refused with a reason or well-formed. */
        static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
        for (size_t i = 0; i < len; i++)
            for (size_t m = 0; m < PD_ARRAY_LEN(masks) + 4; m++) {
                memcpy(longer, p, len);
                if (m < PD_ARRAY_LEN(masks))
                    longer[i] ^= (char)masks[m];
                else /* the header bytes that declare the most */
                    longer[i] = (char)(uint8_t[]){0xdd, 0xdf, 0xdb, 0xc1}[m - PD_ARRAY_LEN(masks)];
                if (try_unpack(longer, len, NULL))
                    refused++;
                else
                    accepted++;
            }
        free(longer);
    }
    fprintf(stderr, "test_event_pack: byte flips: %llu refused, %llu accepted well-formed\n",
            (unsigned long long)refused, (unsigned long long)accepted);
    assert_true(refused > 0);
}

/* ---------- crafted objects: unpack a good event, change one thing, pack it again ---------- */

static int buf_write(void *data, const char *p, size_t n)
{
    pd_buf_append(data, p, n);
    return 0;
}

static void expect_why(const msgpack_object *top, const char *want)
{
    pd_buf b;
    pd_buf_init(&b);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, buf_write);
    assert_int_equal(msgpack_pack_object(&pk, *top), 0);
    const char *why = NULL;
    assert_int_equal(try_unpack(b.p, b.len, &why), PD_EINVAL);
    if (strcmp(why, want))
        fail_msg("expected '%s', got '%s'", want, why);
    pd_buf_free(&b);
}

static void expect_ok(const msgpack_object *top)
{
    pd_buf b;
    pd_buf_init(&b);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, buf_write);
    assert_int_equal(msgpack_pack_object(&pk, *top), 0);
    assert_int_equal(try_unpack(b.p, b.len, NULL), 0);
    pd_buf_free(&b);
}

static void expect_bytes(const void *p, size_t n, const char *want)
{
    const char *why = NULL;
    assert_int_equal(try_unpack(p, n, &why), PD_EINVAL);
    if (want && strcmp(why, want))
        fail_msg("expected '%s', got '%s'", want, why);
}

/* A fresh, mutable copy of the packed event of `kind` as an object tree. */
static msgpack_object load(msgpack_zone *z, pd_kind kind)
{
    msgpack_zone_clear(z);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(g_kind_pk[kind], g_kind_len[kind], &off, z, &o),
                     MSGPACK_UNPACK_SUCCESS);
    return o;
}

static msgpack_object uint_obj(uint64_t v)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
    o.via.u64 = v;
    return o;
}

static msgpack_object str_obj(const char *p, uint32_t n)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};
    o.via.str.ptr = p;
    o.via.str.size = n;
    return o;
}

static void test_crafted(void **state)
{
    (void)state;
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 4096));
    msgpack_object o, *a;
#define TOP(kind) (o = load(&z, kind), a = o.via.array.ptr)
    TOP(PD_KIND_ASSESSMENT);
    a[0] = uint_obj(2);
    expect_why(&o, "version");
    TOP(PD_KIND_ASSESSMENT);
    a[0] = str_obj("1", 1);
    expect_why(&o, "version");
    TOP(PD_KIND_ASSESSMENT);
    o.via.array.size = 14;
    expect_why(&o, "shape");
    TOP(PD_KIND_ASSESSMENT);
    o.via.array.size = 1;
    expect_why(&o, "shape");
    TOP(PD_KIND_ASSESSMENT);
    o.via.array.size = 0;
    expect_why(&o, "shape");
    TOP(PD_KIND_ASSESSMENT);
    o.type = MSGPACK_OBJECT_MAP;
    o.via.map.size = 0;
    expect_why(&o, "shape");
    TOP(PD_KIND_ASSESSMENT);
    a[1] = uint_obj(PD_KIND__COUNT);
    expect_why(&o, "kind");
    TOP(PD_KIND_ASSESSMENT);
    a[1] = str_obj("alert", 5);
    expect_why(&o, "type");
    TOP(PD_KIND_ASSESSMENT);
    a[2] = uint_obj(PD_FMT__COUNT);
    expect_why(&o, "format");
    TOP(PD_KIND_ASSESSMENT);
    a[3] = uint_obj(PD_STATUS__COUNT);
    expect_why(&o, "status");
    TOP(PD_KIND_ASSESSMENT);
    a[4] = uint_obj(PD_SEV__COUNT);
    expect_why(&o, "severity");
    TOP(PD_KIND_ASSESSMENT);
    a[12].via.array.ptr[2] = uint_obj(PD_CLOUD__COUNT);
    expect_why(&o, "cloud");
    TOP(PD_KIND_ASSESSMENT);
    a[6] = uint_obj((uint64_t)INT64_MAX + 1);
    expect_why(&o, "range");
    TOP(PD_KIND_ASSESSMENT);
    a[7] = uint_obj(PD_EVENT_PACK_TIME_MAX + 1);
    expect_why(&o, "range");
    TOP(PD_KIND_ASSESSMENT);
    a[8].type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
    a[8].via.i64 = INT64_MIN;
    expect_why(&o, "range");
    TOP(PD_KIND_ASSESSMENT);
    a[6].type = MSGPACK_OBJECT_FLOAT64;
    a[6].via.f64 = 1.5;
    expect_why(&o, "type");
    TOP(PD_KIND_ASSESSMENT);
    a[9] = uint_obj(1); /* a bool as an integer */
    expect_why(&o, "type");
    TOP(PD_KIND_ASSESSMENT);
    a[11] = str_obj("a\0b", 3);
    expect_why(&o, "nul");
    TOP(PD_KIND_ASSESSMENT);
    a[12].via.array.size = 8;
    expect_why(&o, "shape");
    TOP(PD_KIND_ASSESSMENT);
    a[13].via.array.ptr[3].type = MSGPACK_OBJECT_NIL;
    expect_why(&o, "shape");
    /* Too many tags and frameworks. */
    msgpack_object_kv kv[PD_EVENT_MAX_TAGS + 1];
    msgpack_object fw[PD_EVENT_MAX_FRAMEWORKS + 1];
    for (size_t i = 0; i < PD_ARRAY_LEN(kv); i++)
        kv[i].key = kv[i].val = str_obj("t", 1);
    for (size_t i = 0; i < PD_ARRAY_LEN(fw); i++)
        fw[i] = str_obj("CIS:1", 5);
    TOP(PD_KIND_ASSESSMENT);
    a[12].via.array.ptr[8].via.map.ptr = kv;
    a[12].via.array.ptr[8].via.map.size = PD_EVENT_MAX_TAGS + 1;
    expect_why(&o, "too many tags");
    a[12].via.array.ptr[8].via.map.size = PD_EVENT_MAX_TAGS; /* the maximum passes */
    expect_ok(&o);
    kv[3].val = uint_obj(3);
    expect_why(&o, "type");
    TOP(PD_KIND_ASSESSMENT);
    a[13].via.array.ptr[3].via.array.ptr = fw;
    a[13].via.array.ptr[3].via.array.size = PD_EVENT_MAX_FRAMEWORKS + 1;
    expect_why(&o, "too many frameworks");
    /* Kind-specific members: present exactly for their kind, with their shape. */
    TOP(PD_KIND_ASSESSMENT);
    a[14] = a[13];
    expect_why(&o, "shape");
    TOP(PD_KIND_ALERT);
    a[14].type = MSGPACK_OBJECT_NIL;
    expect_why(&o, "shape");
    TOP(PD_KIND_ALERT);
    a[14].via.array.ptr[3] = uint_obj((uint64_t)UINT32_MAX + 1);
    expect_why(&o, "range");
    TOP(PD_KIND_SCORE);
    a[14].via.array.size = 6;
    expect_why(&o, "shape");
    TOP(PD_KIND_SCORE);
    a[14].via.array.ptr[1] = str_obj("1", 1);
    expect_why(&o, "type");
    TOP(PD_KIND_VULNERABILITY);
    a[14].via.array.ptr[3] = uint_obj(0);
    expect_why(&o, "type");
    TOP(PD_KIND_COMPLIANCE);
    a[14].via.array.ptr[5].type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
    a[14].via.array.ptr[5].via.i64 = -1;
    expect_why(&o, "type");
    /* Kind changed to one whose members are a different shape. */
    TOP(PD_KIND_ALERT);
    a[1] = uint_obj(PD_KIND_SCORE);
    expect_why(&o, "shape");
#undef TOP
    msgpack_zone_destroy(&z);

    /* Raw bytes: huge declared lengths, nesting, junk. */
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01};
    static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01};
    static const uint8_t str32[] = {0x9f, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t bin32[] = {0x91, 0xc6, 0x7f, 0xff, 0xff, 0xff};
    static const uint8_t ext32[] = {0x91, 0xc9, 0xff, 0xff, 0xff, 0xf0, 0x01};
    static const uint8_t never[] = {0x91, 0xc1};
    static const uint8_t nil[] = {0xc0};
    static const uint8_t arr15[] = {0x9f, 0x01};
    expect_bytes(arr32, sizeof(arr32), "truncated or corrupt");
    expect_bytes(map32, sizeof(map32), "truncated or corrupt");
    expect_bytes(str32, sizeof(str32), "truncated or corrupt");
    expect_bytes(bin32, sizeof(bin32), "truncated or corrupt");
    expect_bytes(ext32, sizeof(ext32), "truncated or corrupt");
    expect_bytes(never, sizeof(never), "truncated or corrupt");
    expect_bytes(arr15, sizeof(arr15), "truncated or corrupt");
    expect_bytes(nil, sizeof(nil), "shape");
    expect_bytes("", 0, "truncated or corrupt");
    pd_event ev;
    const char *why = NULL;
    assert_int_equal(pd_event_unpack(g_u, NULL, 0, &ev, &why), PD_EINVAL);
    assert_non_null(why);
    /* Nested deeper than msgpack-c's stack, and exactly a valid event wrapped once. */
    uint8_t deep[200];
    memset(deep, 0x91, sizeof(deep));
    deep[sizeof(deep) - 1] = 0x01;
    expect_bytes(deep, sizeof(deep), "depth");
    expect_bytes(deep + sizeof(deep) - 3, 3, "version"); /* [[1]] */
    char *wrapped = malloc(g_kind_len[0] + 1);
    wrapped[0] = (char)0x91;
    memcpy(wrapped + 1, g_kind_pk[0], g_kind_len[0]);
    expect_bytes(wrapped, g_kind_len[0] + 1, "version");
    free(wrapped);
    /* Junk: random buffers, and random buffers starting like an event. */
    uint64_t x = 88172645463325252ULL;
    uint8_t junk[96];
    for (int k = 0; k < 20000; k++) {
        size_t n = 1 + (size_t)(k % (int)sizeof(junk));
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk[i] = (uint8_t)x;
        }
        if (k & 1) {
            junk[0] = 0x9f;
            if (n > 1)
                junk[1] = 0x01;
        }
        try_unpack(junk, n, NULL);
    }
}

/* Writes one packed event per kind as fuzz seeds when PD_EVENT_PACK_SEEDS names a directory. */
static void test_write_seeds(void **state)
{
    (void)state;
    const char *dir = getenv("PD_EVENT_PACK_SEEDS");
    for (int k = 0; k < PD_KIND__COUNT; k++)
        assert_true(g_kind_pk[k] && g_kind_len[k] < 2048);
    if (!dir)
        return;
    for (int k = 0; k < PD_KIND__COUNT; k++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s.msgpack", dir, pd_kind_name((pd_kind)k));
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(g_kind_pk[k], 1, g_kind_len[k], f), g_kind_len[k]);
        fclose(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples), cmocka_unit_test(test_generated),
        cmocka_unit_test(test_edges),   cmocka_unit_test(test_truncations_and_flips),
        cmocka_unit_test(test_crafted), cmocka_unit_test(test_write_seeds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
