#define _GNU_SOURCE /* memmem */
/* Changelog records: msgpack round trip, hostile values refused, and an engine rebuilt only
 * from its resources' records measures the same per-resource goals and, fed the rest of the
 * stream, raises the same per-resource signals as the engine that wrote them. */
#include "pd_test.h"

#include "pd_changelog.h"
#include "pd_correlate.h"
#include "pd_engine_state.h"
#include "pd_gen.h"
#include "pd_processor.h"
#include "pd_state.h"
#include "pd_time.h"

#include <msgpack.h>
#include <unistd.h>

static void test_round_trip(void **state)
{
    (void)state;
    pd_changelog_pair ps[2] = {
        {PD_STR_LIT("k1"), PD_STATUS_UNHEALTHY, 0x45, 3, 1, 100, 200, 50, 90},
        {PD_STR_LIT("k2"), PD_STATUS_HEALTHY, 0, 0, 0, 4000000000u, 1, 2, 3}};
    pd_changelog_res r = {0x1234567890abcdefULL,
                          PD_STR_LIT("/subscriptions/s/vm-1"),
                          PD_CLOUD_AWS,
                          PD_STR_LIT("acct"),
                          PD_STR_LIT("rg"),
                          PD_STR_LIT("t"),
                          PD_STR_LIT("vm-1"),
                          PD_STR_LIT(""),
                          0x5,
                          0xffffffffffffffffULL,
                          77,
                          9,
                          12,
                          1,
                          ps,
                          2};
    pd_buf b;
    pd_buf_init(&b);
    assert_int_equal(pd_changelog_encode(&r, &b), 0);
    pd_changelog_dec *d = NULL;
    assert_int_equal(pd_changelog_dec_create(&d), 0);
    pd_changelog_res o;
    char why[256];
    assert_int_equal(pd_changelog_decode(d, b.p, b.len, &o, why, sizeof(why)), 0);
    assert_true(o.fingerprint == r.fingerprint);
    assert_true(pd_str_eq(o.id, r.id));
    assert_int_equal(o.cloud, PD_CLOUD_AWS);
    assert_true(pd_str_eq(o.account, r.account) && pd_str_eq(o.group, r.group) &&
                pd_str_eq(o.type, r.type) && pd_str_eq(o.name, r.name) && o.region.len == 0);
    assert_true(o.scope == 5 && o.tagmatch == r.tagmatch && o.attr_hash == 77 && o.snap_s == 9);
    assert_true(o.live == 12 && o.gone == 1);
    assert_int_equal(o.npairs, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(pd_str_eq(o.pairs[i].control, ps[i].control));
        assert_int_equal(o.pairs[i].status, ps[i].status);
        assert_int_equal(o.pairs[i].flags, ps[i].flags);
        assert_int_equal(o.pairs[i].flap_n, ps[i].flap_n);
        assert_int_equal(o.pairs[i].sla_bits, ps[i].sla_bits);
        assert_int_equal(o.pairs[i].ev_s, ps[i].ev_s);
        assert_int_equal(o.pairs[i].seen_s, ps[i].seen_s);
        assert_int_equal(o.pairs[i].since_s, ps[i].since_s);
        assert_int_equal(o.pairs[i].flap_s, ps[i].flap_s);
    }
    /* Every truncation fails; trailing bytes fail. */
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(pd_changelog_decode(d, b.p, n, &o, why, sizeof(why)), PD_EINVAL);
    pd_buf_putc(&b, 0);
    assert_int_equal(pd_changelog_decode(d, b.p, b.len, &o, why, sizeof(why)), PD_EINVAL);
    assert_non_null(strstr(why, "after the record"));
    /* Random corruption never crashes. */
    uint64_t x = 88172645463325252ULL;
    b.len--;
    char *c = malloc(b.len);
    for (int k = 0; k < 3000; k++) {
        memcpy(c, b.p, b.len);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c[x % b.len] = (char)(x >> 40);
        int rc = pd_changelog_decode(d, c, b.len, &o, why, sizeof(why));
        assert_true(rc == 0 || rc == PD_EINVAL);
    }
    free(c);
    pd_changelog_dec_destroy(d);
    pd_buf_free(&b);
}

/* Hand-made records that lie. */
static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static int wr(void *data, const char *p, size_t n)
{
    pd_buf_append(data, p, n);
    return 0;
}

static void test_hostile(void **state)
{
    (void)state;
    pd_changelog_dec *d = NULL;
    assert_int_equal(pd_changelog_dec_create(&d), 0);
    pd_changelog_res o;
    char why[256];
    pd_buf b;
    pd_buf_init(&b);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, wr);
    /* Not a map. */
    msgpack_pack_array(&pk, 0);
    assert_int_equal(pd_changelog_decode(d, b.p, b.len, &o, why, sizeof(why)), PD_EINVAL);
    /* An unknown key. */
    pd_buf_reset(&b);
    msgpack_pack_map(&pk, 1);
    pack_s(&pk, "bogus");
    msgpack_pack_nil(&pk);
    assert_int_equal(pd_changelog_decode(d, b.p, b.len, &o, why, sizeof(why)), PD_EINVAL);
    assert_non_null(strstr(why, "bogus"));
    /* A newer version. */
    pd_buf_reset(&b);
    msgpack_pack_map(&pk, 1);
    pack_s(&pk, "v");
    msgpack_pack_uint32(&pk, 2);
    assert_int_equal(pd_changelog_decode(d, b.p, b.len, &o, why, sizeof(why)), PD_EINVAL);
    assert_non_null(strstr(why, "version"));
    /* Missing keys. */
    pd_buf_reset(&b);
    msgpack_pack_map(&pk, 1);
    pack_s(&pk, "v");
    msgpack_pack_uint32(&pk, 1);
    assert_int_equal(pd_changelog_decode(d, b.p, b.len, &o, why, sizeof(why)), PD_EINVAL);
    assert_non_null(strstr(why, "missing"));
    /* A cloud out of range, a status out of range in a pair. */
    pd_buf_reset(&b);
    msgpack_pack_map(&pk, 1);
    pack_s(&pk, "cloud");
    msgpack_pack_uint32(&pk, 99);
    assert_int_equal(pd_changelog_decode(d, b.p, b.len, &o, why, sizeof(why)), PD_EINVAL);
    pd_buf_reset(&b);
    msgpack_pack_map(&pk, 1);
    pack_s(&pk, "pairs");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 9);
    pack_s(&pk, "k");
    for (int i = 0; i < 8; i++)
        msgpack_pack_uint32(&pk, i == 0 ? 200 : 1);
    assert_int_equal(pd_changelog_decode(d, b.p, b.len, &o, why, sizeof(why)), PD_EINVAL);
    assert_non_null(strstr(why, "pair 0"));
    /* Goal records: round trip, and a state out of range. */
    pd_changelog_goal gin = {42, PD_STR_LIT("edr-prod"), 0, true, 97.5, 1767225600000LL}, gout;
    pd_buf_reset(&b);
    assert_int_equal(pd_changelog_encode_goal(&gin, &b), 0);
    assert_int_equal(pd_changelog_decode_goal(d, b.p, b.len, &gout, why, sizeof(why)), 0);
    assert_true(gout.fingerprint == 42 && pd_str_eq(gout.id, gin.id) && gout.state == 0 &&
                gout.has_value && gout.value == 97.5 && gout.changed_ms == gin.changed_ms);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(pd_changelog_decode_goal(d, b.p, n, &gout, why, sizeof(why)), PD_EINVAL);
    gin.state = 1;
    pd_buf_reset(&b);
    assert_int_equal(pd_changelog_encode_goal(&gin, &b), 0);
    char *st = memmem(b.p, b.len, "state", 5); /* the key; its value (fixint 1) follows */
    assert_non_null(st);
    assert_int_equal(st[5], 0x01);
    st[5] = 0x05;
    assert_int_equal(pd_changelog_decode_goal(d, b.p, b.len, &gout, why, sizeof(why)), PD_EINVAL);
    pd_buf_free(&b);
    pd_changelog_dec_destroy(d);
}

/* ---------- engine rebuilt from records ---------- */

typedef struct ids {
    char (*v)[33];
    size_t n, cap;
    bool collect;
    char tag;
} ids;

static int on_sig(void *ctx, const pd_signal *s)
{
    ids *c = ctx;
    if (!c->collect || !s->nresources || !strncmp(s->type, "goal.", 5))
        return 0;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
    }
    memcpy(c->v[c->n++], s->id, 33);
    if (getenv("PD_TEST_DUMP")) {
        pd_buf b;
        pd_buf_init(&b);
        pd_signal_to_json(s, &b);
        fprintf(stderr, "%c %.*s\n", c->tag, (int)b.len, b.p);
        pd_buf_free(&b);
    }
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static pd_processor *mk_proc(ids *c)
{
    char gpath[1024];
    const char *goals[1] = {
        pd_test_src_path("pipelines/defender-servers.goals.yaml", gpath, sizeof(gpath))};
    pd_processor_opts po;
    memset(&po, 0, sizeof(po));
    po.goal_files = goals;
    po.ngoal_files = 1;
    po.on_signal = on_sig;
    po.signal_ctx = c;
    pd_diag d = {{0}};
    pd_processor *p = NULL;
    if (pd_processor_create(&po, &p, &d))
        fail_msg("processor: %s", d.msg);
    return p;
}

static void test_engine_from_records(void **state)
{
    (void)state;
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.seed = 5;
    go.servers = 120;
    go.days = 16;
    go.inventory = true;
    go.churn = 0.08;
    pd_diag dg = {{0}};
    pd_gen *g = NULL;
    if (pd_gen_create(&go, &g, &dg))
        fail_msg("gen: %s", dg.msg);
    /* Both engines see the first part; then B is rebuilt from A's records. */
    pd_buf msgs;
    pd_buf_init(&msgs);
    size_t *off = malloc(sizeof(size_t) * 200000), n = 0;
    off[0] = 0;
    pd_gen_meta meta;
    int64_t last = PD_TIME_NONE;
    while (n + 1 < 200000 && pd_gen_next(g, &msgs, &meta) == 0) {
        off[++n] = msgs.len;
        if (meta.time_ms > last)
            last = meta.time_ms;
    }
    pd_gen_destroy(g);
    size_t cut = n / 2;
    ids ca = {0}, cb = {0};
    ca.tag = 'a';
    cb.tag = 'b';
    pd_processor *a = mk_proc(&ca), *b = mk_proc(&cb);
    for (size_t i = 0; i < cut; i++)
        assert_int_equal(pd_processor_feed(a, msgs.p + off[i], off[i + 1] - off[i], PD_FMT_AUTO,
                                           PD_STR_LIT("assessments")),
                         0);
    pd_engine *ea = pd_processor_engine(a), *eb = pd_processor_engine(b);
    pd_buf rec;
    pd_buf_init(&rec);
    pd_changelog_dec *dec = NULL;
    assert_int_equal(pd_changelog_dec_create(&dec), 0);
    uint32_t nres = pd_engine_resource_count(ea);
    assert_true(nres > 100);
    size_t bytes = 0;
    /* Controls first, as the runtime produces them. */
    pd_buf ckey;
    pd_buf_init(&ckey);
    for (uint32_t i = 1; i <= pd_engine_control_count(ea); i++) {
        pd_buf_reset(&rec);
        pd_buf_reset(&ckey);
        assert_int_equal(pd_engine_export_control(ea, i, &rec, &ckey), 0);
        assert_true(pd_changelog_key_is_control((pd_str){ckey.p, (uint32_t)ckey.len}));
        bytes += rec.len;
        pd_changelog_ctl c;
        char why[256];
        if (pd_changelog_decode_control(dec, rec.p, rec.len, &c, why, sizeof(why)))
            fail_msg("decode control: %s", why);
        assert_int_equal(pd_engine_import_control(eb, &c), 0);
        assert_int_equal(pd_engine_import_control(eb, &c), 0); /* known: left as it is */
    }
    assert_int_equal(pd_engine_control_count(eb), pd_engine_control_count(ea));
    pd_buf_free(&ckey);
    for (uint32_t i = 1; i <= nres; i++) {
        pd_str key;
        pd_buf_reset(&rec);
        assert_int_equal(pd_engine_export_resource(ea, i, &rec, &key), 0);
        bytes += rec.len;
        pd_changelog_res r;
        char why[256];
        if (pd_changelog_decode(dec, rec.p, rec.len, &r, why, sizeof(why)))
            fail_msg("decode: %s", why);
        assert_true(pd_str_eq(r.id, key));
        assert_int_equal(pd_engine_import_resource(eb, &r), 0);
        /* Applying the same record twice changes nothing. */
        if (i % 7 == 0)
            assert_int_equal(pd_engine_import_resource(eb, &r), 0);
    }
    assert_int_equal(pd_engine_import_settle(eb, pd_engine_now(ea)), 0);
    pd_engine_stats sa, sb;
    pd_engine_stats_get(ea, &sa);
    pd_engine_stats_get(eb, &sb);
    fprintf(stderr, "%u resources, %llu pairs: %zu record bytes (%.1f per pair)\n", nres,
            (unsigned long long)sa.pairs, bytes, (double)bytes / (double)sa.pairs);
    /* Per-resource goals measure the same. */
    uint32_t compared = 0;
    for (uint32_t i = 0; i < pd_engine_goal_count(ea); i++) {
        pd_goal_status x, y;
        pd_engine_goal_status(ea, i, &x);
        pd_engine_goal_status(eb, i, &y);
        if (x.goal->kind != PD_GOAL_CONTROL && x.goal->kind != PD_GOAL_COVERAGE &&
            x.goal->kind != PD_GOAL_SLA)
            continue;
        compared++;
        if (x.value != y.value || x.numerator != y.numerator || x.denominator != y.denominator ||
            x.violators != y.violators || x.unknown != y.unknown)
            fail_msg("goal %s: %g (%llu/%llu) vs %g (%llu/%llu)", x.goal->id, x.value,
                     (unsigned long long)x.numerator, (unsigned long long)x.denominator, y.value,
                     (unsigned long long)y.numerator, (unsigned long long)y.denominator);
    }
    assert_true(compared >= 3);
    /* The rest of the stream: the same per-resource signals (as a set of ids). */
    ca.collect = cb.collect = true;
    for (size_t i = cut; i < n; i++) {
        assert_int_equal(pd_processor_feed(a, msgs.p + off[i], off[i + 1] - off[i], PD_FMT_AUTO,
                                           PD_STR_LIT("assessments")),
                         0);
        assert_int_equal(pd_processor_feed(b, msgs.p + off[i], off[i + 1] - off[i], PD_FMT_AUTO,
                                           PD_STR_LIT("assessments")),
                         0);
    }
    assert_int_equal(pd_processor_advance(a, last + 10 * 86400000LL), 0);
    assert_int_equal(pd_processor_advance(b, last + 10 * 86400000LL), 0);
    fprintf(stderr, "after the cut: %zu and %zu per-resource signals\n", ca.n, cb.n);
    assert_true(ca.n > 0);
    assert_int_equal(ca.n, cb.n);
    qsort(ca.v, ca.n, 33, id_cmp);
    qsort(cb.v, cb.n, 33, id_cmp);
    for (size_t i = 0; i < ca.n; i++)
        assert_string_equal(ca.v[i], cb.v[i]);
    for (uint32_t i = 0; i < pd_engine_goal_count(ea); i++) {
        pd_goal_status x, y;
        pd_engine_goal_status(ea, i, &x);
        pd_engine_goal_status(eb, i, &y);
        if (x.goal->kind == PD_GOAL_CONTROL || x.goal->kind == PD_GOAL_COVERAGE ||
            x.goal->kind == PD_GOAL_SLA)
            assert_true(x.value == y.value && x.violators == y.violators);
    }
    free(ca.v);
    free(cb.v);
    pd_processor_destroy(a);
    pd_processor_destroy(b);
    pd_changelog_dec_destroy(dec);
    pd_buf_free(&rec);
    pd_buf_free(&msgs);
    free(off);
}

/* The restore path of an assignment: the snapshot taken at cut1, then the changelog records
 * written up to cut2 (every control and resource: a compacted topic's latest records). */
static void feed_range(pd_processor *p, const pd_buf *msgs, const size_t *off, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        assert_int_equal(pd_processor_feed(p, msgs->p + off[i], off[i + 1] - off[i], PD_FMT_AUTO,
                                           PD_STR_LIT("assessments")),
                         0);
}

static void test_snapshot_then_changelog(void **state)
{
    (void)state;
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.seed = 11;
    go.servers = 100;
    go.days = 18;
    go.inventory = true;
    go.churn = 0.1;
    go.delete_rate = 0.01;
    pd_diag dg = {{0}};
    pd_gen *g = NULL;
    if (pd_gen_create(&go, &g, &dg))
        fail_msg("gen: %s", dg.msg);
    pd_buf msgs;
    pd_buf_init(&msgs);
    size_t *off = malloc(sizeof(size_t) * 200000), n = 0;
    off[0] = 0;
    pd_gen_meta meta;
    int64_t last = PD_TIME_NONE;
    while (n + 1 < 200000 && pd_gen_next(g, &msgs, &meta) == 0) {
        off[++n] = msgs.len;
        if (meta.time_ms > last)
            last = meta.time_ms;
    }
    pd_gen_destroy(g);
    size_t cut1 = n / 3, cut2 = n * 2 / 3;
    ids ca = {0}, cb = {0};
    ca.tag = 'a';
    cb.tag = 'b';
    pd_processor *a = mk_proc(&ca), *b = mk_proc(&cb);
    pd_engine *ea = pd_processor_engine(a), *eb = pd_processor_engine(b);
    feed_range(a, &msgs, off, 0, cut1);
    char dir[] = "/tmp/pd-test-cl.XXXXXX", path[256], why[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/p0.snap", dir);
    pd_snapshot_meta m;
    pd_snapshot_meta_init(&m);
    pd_buf scratch, rec, key;
    pd_buf_init(&scratch);
    pd_buf_init(&rec);
    pd_buf_init(&key);
    assert_int_equal(pd_snapshot_save_engine(path, ea, &m, &scratch, why, sizeof(why)), 0);
    feed_range(a, &msgs, off, cut1, cut2);

    assert_int_equal(pd_state_restore_snapshot(eb, path, &m, &scratch, why, sizeof(why)), 0);
    pd_changelog_dec *dec = NULL;
    assert_int_equal(pd_changelog_dec_create(&dec), 0);
    for (uint32_t i = 1; i <= pd_engine_control_count(ea); i++) {
        pd_buf_reset(&rec);
        pd_buf_reset(&key);
        assert_int_equal(pd_engine_export_control(ea, i, &rec, &key), 0);
        if (pd_state_apply(eb, dec, key.p, key.len, rec.p, rec.len, why, sizeof(why)))
            fail_msg("control %u: %s", i, why);
    }
    for (uint32_t i = 1; i <= pd_engine_resource_count(ea); i++) {
        pd_str k;
        pd_buf_reset(&rec);
        assert_int_equal(pd_engine_export_resource(ea, i, &rec, &k), 0);
        if (pd_state_apply(eb, dec, k.p, k.len, rec.p, rec.len, why, sizeof(why)))
            fail_msg("resource %u: %s", i, why);
    }
    /* A record under the wrong key is refused. */
    pd_str k1;
    pd_buf_reset(&rec);
    assert_int_equal(pd_engine_export_resource(ea, 1, &rec, &k1), 0);
    assert_int_equal(pd_state_apply(eb, dec, "x", 1, rec.p, rec.len, why, sizeof(why)), PD_EINVAL);
    assert_int_equal(pd_engine_import_settle(eb, pd_engine_now(ea)), 0);

    ca.collect = cb.collect = true;
    feed_range(a, &msgs, off, cut2, n);
    feed_range(b, &msgs, off, cut2, n);
    assert_int_equal(pd_processor_advance(a, last + 10 * 86400000LL), 0);
    assert_int_equal(pd_processor_advance(b, last + 10 * 86400000LL), 0);
    fprintf(stderr, "snapshot + changelog: %zu and %zu per-resource signals after the cut\n", ca.n,
            cb.n);
    assert_true(ca.n > 0);
    assert_int_equal(ca.n, cb.n);
    qsort(ca.v, ca.n, 33, id_cmp);
    qsort(cb.v, cb.n, 33, id_cmp);
    for (size_t i = 0; i < ca.n; i++)
        assert_string_equal(ca.v[i], cb.v[i]);
    for (uint32_t i = 0; i < pd_engine_goal_count(ea); i++) {
        pd_goal_status x, y;
        pd_engine_goal_status(ea, i, &x);
        pd_engine_goal_status(eb, i, &y);
        if (x.goal->kind == PD_GOAL_CONTROL || x.goal->kind == PD_GOAL_COVERAGE ||
            x.goal->kind == PD_GOAL_SLA)
            assert_true(x.value == y.value && x.violators == y.violators &&
                        x.denominator == y.denominator);
    }
    unlink(path);
    rmdir(dir);
    free(ca.v);
    free(cb.v);
    pd_processor_destroy(a);
    pd_processor_destroy(b);
    pd_changelog_dec_destroy(dec);
    pd_buf_free(&scratch);
    pd_buf_free(&rec);
    pd_buf_free(&key);
    pd_buf_free(&msgs);
    free(off);
}

/* The producer side: a tracker marks each message's resource and collects records every so
 * often; a second engine that only reads those records ends with the same state. */
typedef struct sink_b {
    pd_engine *e;
    pd_changelog_dec *dec;
    uint64_t records, bytes;
} sink_b;

static int to_b(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    sink_b *s = ctx;
    char why[256];
    s->records++;
    s->bytes += vlen;
    int rc = pd_state_apply(s->e, s->dec, key, klen, value, vlen, why, sizeof(why));
    if (rc)
        fail_msg("apply: %s", why);
    return rc;
}

static void test_tracker(void **state)
{
    (void)state;
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.seed = 21;
    go.servers = 90;
    go.days = 15;
    go.inventory = true;
    go.churn = 0.1;
    go.delete_rate = 0.01;
    pd_diag dg = {{0}};
    pd_gen *g = NULL;
    if (pd_gen_create(&go, &g, &dg))
        fail_msg("gen: %s", dg.msg);
    ids ca = {0}, cb = {0};
    pd_processor *a = mk_proc(&ca), *b = mk_proc(&cb);
    pd_engine *ea = pd_processor_engine(a);
    sink_b sb = {pd_processor_engine(b), NULL, 0, 0};
    assert_int_equal(pd_changelog_dec_create(&sb.dec), 0);
    pd_state_tracker *t = NULL;
    assert_int_equal(pd_state_tracker_create(&t), 0);
    pd_buf msg;
    pd_buf_init(&msg);
    pd_gen_meta meta;
    uint64_t n = 0, collects = 0;
    for (;;) {
        pd_buf_reset(&msg);
        if (pd_gen_next(g, &msg, &meta))
            break;
        if (meta.key && meta.key[0])
            assert_int_equal(pd_state_tracker_mark(t, ea, pd_str_c(meta.key)), 0);
        assert_int_equal(
            pd_processor_feed(a, msg.p, msg.len, PD_FMT_AUTO, PD_STR_LIT("assessments")), 0);
        if (++n % 97 == 0) {
            assert_int_equal(pd_state_tracker_collect(t, ea, to_b, &sb, NULL), 0);
            collects++;
        }
    }
    uint32_t last_n = 0;
    assert_int_equal(pd_state_tracker_collect(t, ea, to_b, &sb, &last_n), 0);
    /* Nothing changed since: nothing more to write. */
    assert_int_equal(pd_state_tracker_collect(t, ea, to_b, &sb, &last_n), 0);
    assert_int_equal(last_n, 0);
    pd_engine *eb = sb.e;
    assert_int_equal(pd_engine_import_settle(eb, pd_engine_now(ea)), 0);
    pd_engine_stats st;
    pd_engine_stats_get(ea, &st);
    uint32_t nscore = 0;
    for (uint32_t i = 0; i < pd_engine_goal_count(ea); i++) {
        pd_goal_status x;
        pd_engine_goal_status(ea, i, &x);
        nscore +=
            (x.goal->kind == PD_GOAL_SCORE || x.goal->kind == PD_GOAL_COMPLIANCE) && x.has_value;
    }
    assert_true(nscore > 0); /* the stream must exercise account records */
    fprintf(stderr,
            "tracker: %llu messages, %llu collects, %llu records (%.1f per collect), %llu "
            "bytes; %llu pairs\n",
            (unsigned long long)n, (unsigned long long)collects, (unsigned long long)sb.records,
            (double)sb.records / (double)(collects + 1), (unsigned long long)sb.bytes,
            (unsigned long long)st.pairs);
    /* Every resource's state is the same in both. */
    uint32_t na = pd_engine_resource_count(ea), nb = pd_engine_resource_count(eb);
    assert_int_equal(na, nb);
    uint64_t *da = calloc(na + 1, 8), *db = calloc(nb + 1, 8);
    assert_int_equal(pd_engine_resource_digests(ea, da, NULL, 0), 0);
    assert_int_equal(pd_engine_resource_digests(eb, db, NULL, 0), 0);
    pd_buf rec;
    pd_buf_init(&rec);
    for (uint32_t r = 1; r <= na; r++) {
        pd_str k;
        pd_buf_reset(&rec);
        assert_int_equal(pd_engine_export_resource(ea, r, &rec, &k), 0);
        uint32_t rb = pd_engine_resource_find(eb, k);
        assert_true(rb != 0);
        if (da[r] != db[rb])
            fail_msg("resource %.*s differs", (int)k.len, k.p);
    }
    for (uint32_t i = 0; i < pd_engine_goal_count(ea); i++) {
        pd_goal_status x, y;
        pd_engine_goal_status(ea, i, &x);
        pd_engine_goal_status(eb, i, &y);
        /* Every kind: score and compliance goals come back through the account records. */
        if (x.value != y.value || x.violators != y.violators || x.numerator != y.numerator ||
            x.denominator != y.denominator || x.has_value != y.has_value)
            fail_msg("goal %s (%s): %g %llu/%llu vs %g %llu/%llu", x.goal->id,
                     pd_goal_kind_name(x.goal->kind), x.value, (unsigned long long)x.numerator,
                     (unsigned long long)x.denominator, y.value, (unsigned long long)y.numerator,
                     (unsigned long long)y.denominator);
        /* Met/breached and when it last flipped: from the goal records, for every goal. */
        assert_true(x.met == y.met);
        assert_int_equal(x.changed_ms, y.changed_ms);
    }
    free(da);
    free(db);
    pd_buf_free(&rec);
    pd_buf_free(&msg);
    pd_state_tracker_destroy(t);
    pd_changelog_dec_destroy(sb.dec);
    pd_processor_destroy(a);
    pd_processor_destroy(b);
    pd_gen_destroy(g);
}

/* What `postured run` does with exactly-once state (src/kafka/pd_store.c): the tracker marks
 * the resource of every event the engine applied (the processor's on_applied), records are
 * collected every 500 messages; a processor restored from those records at a commit point
 * then gives the same per-resource signals as the uninterrupted one, for every source shape
 * (alerts, vulnerabilities, Security Hub and SCC findings). */
typedef struct marker {
    pd_state_tracker *t;
    pd_processor *p;
} marker;

static void mark_applied(void *ctx, const pd_event *ev)
{
    marker *m = ctx;
    assert_int_equal(pd_state_tracker_mark(m->t, pd_processor_engine(m->p), ev->resource.canon), 0);
}

/* Restore records: correlation groups to the correlator, the rest to the engine. */
typedef struct sink_p {
    pd_processor *p;
    pd_changelog_dec *dec;
    uint64_t corr_records;
} sink_p;

static int to_p(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    sink_p *s = ctx;
    char why[256] = "";
    pd_str k = {key, (uint32_t)klen};
    int rc;
    if (pd_correlator_key_is_state(k)) {
        s->corr_records++;
        rc = pd_correlator_import(pd_processor_correlator(s->p), k, value, vlen, why, sizeof(why));
    } else {
        rc = pd_state_apply(pd_processor_engine(s->p), s->dec, key, klen, value, vlen, why,
                            sizeof(why));
    }
    if (rc)
        fail_msg("apply %.*s: %s", (int)PD_MIN(klen, 100u), (const char *)key, why);
    return rc;
}

static pd_processor *mk_proc_rules(ids *c, marker *mk)
{
    char gpath[1024], rpath[1024];
    const char *goals[1] = {
        pd_test_src_path("pipelines/defender-servers.goals.yaml", gpath, sizeof(gpath))};
    const char *rules[1] = {pd_test_src_path("pipelines/rules/builtin.yaml", rpath, sizeof(rpath))};
    pd_processor_opts po;
    memset(&po, 0, sizeof(po));
    po.goal_files = goals;
    po.ngoal_files = 1;
    po.rule_files = rules;
    po.nrule_files = 1;
    po.on_signal = on_sig;
    po.signal_ctx = c;
    if (mk) {
        po.on_applied = mark_applied;
        po.applied_ctx = mk;
    }
    pd_processor *p = NULL;
    pd_diag d = {{0}};
    if (pd_processor_create(&po, &p, &d))
        fail_msg("processor: %s", d.msg);
    return p;
}

static int collect_all(pd_state_tracker *t, pd_processor *a, sink_p *sb)
{
    int rc = pd_state_tracker_collect(t, pd_processor_engine(a), to_p, sb, NULL);
    return rc ? rc : pd_correlator_collect(pd_processor_correlator(a), to_p, sb);
}

/* A generated stream with every source shape: Defender, Security Hub (ASFF), SCC. */
static pd_gen *mixed_gen(uint32_t servers, uint32_t events)
{
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = servers;
    go.days = 0;
    go.max_events = events;
    go.mix = PD_GEN_MIX_ALL;
    pd_diag dg = {{0}};
    pd_gen *g = NULL;
    if (pd_gen_create(&go, &g, &dg))
        fail_msg("gen: %s", dg.msg);
    return g;
}

static void test_resume_all_shapes(void **state)
{
    (void)state;
    pd_gen *g = mixed_gen(500, 30000);
    pd_buf msgs;
    pd_buf_init(&msgs);
    size_t *off = malloc(sizeof(size_t) * 40000), n = 0;
    off[0] = 0;
    pd_gen_meta meta;
    while (n + 1 < 40000 && pd_gen_next(g, &msgs, &meta) == 0)
        off[++n] = msgs.len;
    pd_gen_destroy(g);
    uint64_t corr_total = 0;
    for (size_t cut = n / 4; cut < n - n / 5; cut += n / 20) {
        ids ca = {0}, cb = {0};
        ca.tag = 'x';
        cb.tag = 'y';
        marker mk = {0};
        assert_int_equal(pd_state_tracker_create(&mk.t), 0);
        pd_processor *a = mk_proc_rules(&ca, &mk), *b = mk_proc_rules(&cb, NULL);
        mk.p = a;
        /* as the runtime does: timers and reconciliation list what they touch, no full pass */
        pd_engine_track_touched(pd_processor_engine(a), true);
        sink_p sb = {b, NULL, 0};
        assert_int_equal(pd_changelog_dec_create(&sb.dec), 0);
        for (size_t i = 0; i < cut; i++) {
            assert_int_equal(pd_processor_feed(a, msgs.p + off[i], off[i + 1] - off[i], PD_FMT_AUTO,
                                               PD_STR_LIT("in")),
                             0);
            if ((i + 1) % 500 == 0 || i + 1 == cut)
                assert_int_equal(collect_all(mk.t, a, &sb), 0);
        }
        corr_total += sb.corr_records;
        int64_t now = pd_engine_now(pd_processor_engine(a));
        assert_int_equal(pd_engine_import_settle(pd_processor_engine(b), now), 0);
        /* The restored engine holds the same state: every resource and every control. */
        pd_engine *ea = pd_processor_engine(a), *eb = pd_processor_engine(b);
        uint32_t na = pd_engine_resource_count(ea);
        assert_int_equal(pd_engine_resource_count(eb), na);
        uint64_t *da = calloc(na + 1, 8), *db = calloc(na + 1, 8);
        assert_int_equal(pd_engine_resource_digests(ea, da, NULL, 0), 0);
        assert_int_equal(pd_engine_resource_digests(eb, db, NULL, 0), 0);
        pd_buf ra, rb;
        pd_buf_init(&ra);
        pd_buf_init(&rb);
        for (uint32_t r = 1; r <= na; r++) {
            pd_str k;
            pd_buf_reset(&ra);
            assert_int_equal(pd_engine_export_resource(ea, r, &ra, &k), 0);
            uint32_t r2 = pd_engine_resource_find(eb, k);
            if (!r2 || da[r] != db[r2])
                fail_msg("cut %zu: resource %.*s differs after the restore", cut, (int)k.len, k.p);
        }
        uint32_t nc = pd_engine_control_count(ea);
        assert_int_equal(pd_engine_control_count(eb), nc);
        for (uint32_t c = 1; c <= nc; c++) {
            pd_buf ka, kb;
            pd_buf_init(&ka);
            pd_buf_init(&kb);
            pd_buf_reset(&ra);
            assert_int_equal(pd_engine_export_control(ea, c, &ra, &ka), 0);
            bool same = false;
            for (uint32_t c2 = 1; c2 <= nc && !same; c2++) {
                pd_buf_reset(&rb);
                pd_buf_reset(&kb);
                assert_int_equal(pd_engine_export_control(eb, c2, &rb, &kb), 0);
                same = ka.len == kb.len && !memcmp(ka.p, kb.p, ka.len) && ra.len == rb.len &&
                       !memcmp(ra.p, rb.p, ra.len);
            }
            if (!same)
                fail_msg("cut %zu: control %.*s differs after the restore", cut, (int)ka.len, ka.p);
            pd_buf_free(&ka);
            pd_buf_free(&kb);
        }
        free(da);
        free(db);
        pd_buf_free(&ra);
        pd_buf_free(&rb);
        assert_int_equal(pd_processor_advance(b, now), 0);
        ca.collect = cb.collect = true;
        for (size_t i = cut; i < n; i++) {
            assert_int_equal(pd_processor_feed(a, msgs.p + off[i], off[i + 1] - off[i], PD_FMT_AUTO,
                                               PD_STR_LIT("in")),
                             0);
            assert_int_equal(pd_processor_feed(b, msgs.p + off[i], off[i + 1] - off[i], PD_FMT_AUTO,
                                               PD_STR_LIT("in")),
                             0);
        }
        qsort(ca.v, ca.n, 33, id_cmp);
        qsort(cb.v, cb.n, 33, id_cmp);
        size_t only_a = 0, only_b = 0;
        for (size_t i = 0, j = 0; i < ca.n || j < cb.n;) {
            int c = i == ca.n ? 1 : j == cb.n ? -1 : strcmp(ca.v[i], cb.v[j]);
            if (c < 0) {
                only_a++;
                i++;
            } else if (c > 0) {
                only_b++;
                j++;
            } else {
                i++;
                j++;
            }
        }
        fprintf(stderr,
                "cut at %zu of %zu (%llu correlation records): %zu and %zu per-resource "
                "signals after it, %zu only uninterrupted, %zu only restored\n",
                cut, n, (unsigned long long)sb.corr_records, ca.n, cb.n, only_a, only_b);
        assert_true(ca.n > 0);
        assert_int_equal(only_a, 0);
        assert_int_equal(only_b, 0);
        free(ca.v);
        free(cb.v);
        pd_state_tracker_destroy(mk.t);
        pd_changelog_dec_destroy(sb.dec);
        pd_processor_destroy(a);
        pd_processor_destroy(b);
    }
    assert_true(corr_total > 0); /* the cuts fall inside correlation windows */
    pd_buf_free(&msgs);
    free(off);
}

/* Hostile correlation records: every truncation of a real one, wrong shapes, a rule the set
 * does not have, keys without a group; each is refused with a reason and the correlator goes
 * on (ASan watches the reads). */
typedef struct rec_copy {
    pd_buf key, val;
    bool have;
} rec_copy;

static int keep_first_corr(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    rec_copy *r = ctx;
    if (r->have || !value || !pd_correlator_key_is_state((pd_str){key, (uint32_t)klen}))
        return 0;
    pd_buf_append(&r->key, key, klen);
    pd_buf_append(&r->val, value, vlen);
    r->have = true;
    return 0;
}

static void test_corr_hostile(void **state)
{
    (void)state;
    pd_gen *g = mixed_gen(200, 8000);
    ids ca = {0}, cb = {0};
    pd_processor *a = mk_proc_rules(&ca, NULL), *b = mk_proc_rules(&cb, NULL);
    pd_buf msg;
    pd_buf_init(&msg);
    pd_gen_meta meta;
    while (pd_buf_reset(&msg), pd_gen_next(g, &msg, &meta) == 0)
        assert_int_equal(pd_processor_feed(a, msg.p, msg.len, PD_FMT_AUTO, PD_STR_LIT("in")), 0);
    pd_gen_destroy(g);
    rec_copy r;
    memset(&r, 0, sizeof(r));
    pd_buf_init(&r.key);
    pd_buf_init(&r.val);
    assert_int_equal(pd_correlator_collect(pd_processor_correlator(a), keep_first_corr, &r), 0);
    assert_true(r.have);
    pd_correlator *cb_corr = pd_processor_correlator(b);
    pd_str key = {r.key.p, (uint32_t)r.key.len};
    char why[256];
    assert_int_equal(pd_correlator_import(cb_corr, key, r.val.p, r.val.len, why, sizeof(why)), 0);
    for (size_t n = 0; n < r.val.len; n++) {
        why[0] = 0;
        assert_int_equal(pd_correlator_import(cb_corr, key, r.val.p, n, why, sizeof(why)),
                         PD_EINVAL);
        assert_true(why[0] != 0);
    }
    /* every byte flipped in turn: refused or accepted, never a crash */
    pd_buf bad;
    pd_buf_init(&bad);
    for (size_t n = 0; n < r.val.len; n++) {
        pd_buf_reset(&bad);
        pd_buf_append(&bad, r.val.p, r.val.len);
        bad.p[n] ^= 0xff;
        int rc = pd_correlator_import(cb_corr, key, bad.p, bad.len, why, sizeof(why));
        assert_true(rc == 0 || rc == PD_EINVAL);
    }
    const char msgpack_nil[] = {(char)0xc0}, wrong_version[] = {(char)0x99, 0x02};
    assert_int_equal(pd_correlator_import(cb_corr, key, msgpack_nil, 1, why, sizeof(why)),
                     PD_EINVAL);
    assert_int_equal(pd_correlator_import(cb_corr, key, wrong_version, 2, why, sizeof(why)),
                     PD_EINVAL);
    assert_int_equal(pd_correlator_import(cb_corr, PD_STR_LIT("#corr:no-group"), r.val.p, r.val.len,
                                          why, sizeof(why)),
                     PD_EINVAL);
    assert_int_equal(pd_correlator_import(cb_corr, PD_STR_LIT("#corr:no-such-rule\x1fk"), r.val.p,
                                          r.val.len, why, sizeof(why)),
                     PD_ENOTFOUND);
    assert_int_equal(pd_correlator_import(cb_corr, PD_STR_LIT("/subscriptions/x"), r.val.p,
                                          r.val.len, why, sizeof(why)),
                     PD_EINVAL);
    /* a tombstone of a group it does not have changes nothing; of one it has, removes it */
    assert_int_equal(pd_correlator_import(cb_corr, PD_STR_LIT("#corr:alert-burst\x1fnone"), NULL, 0,
                                          why, sizeof(why)),
                     0);
    assert_int_equal(pd_correlator_import(cb_corr, key, NULL, 0, why, sizeof(why)), 0);
    pd_buf_free(&bad);
    pd_buf_free(&r.key);
    pd_buf_free(&r.val);
    pd_buf_free(&msg);
    free(ca.v);
    free(cb.v);
    pd_processor_destroy(a);
    pd_processor_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_engine_from_records),
        cmocka_unit_test(test_snapshot_then_changelog),
        cmocka_unit_test(test_tracker),
        cmocka_unit_test(test_resume_all_shapes),
        cmocka_unit_test(test_corr_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
