/* Snapshot files: round trip of header and payload, atomic replacement, every truncation and
 * corruption refused with a reason, version and magic checks, engine save/load, and the
 * restore benchmark on a small fleet. */
#include "pd_test.h"

#include "pd_engine_state.h"
#include "pd_snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/pd-test-snap.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d)))
            if (de->d_name[0] != '.') {
                snprintf(p, sizeof(p), "%s/%s", g_dir, de->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(g_dir);
    return 0;
}

static const char *path_of(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void sample_meta(pd_snapshot_meta *m)
{
    pd_snapshot_meta_init(m);
    m->partition = 7;
    snprintf(m->topic, sizeof(m->topic), "defender-assessments");
    m->created_ms = 1767225600123LL;
    m->watermark_ms = 1767225000000LL;
    m->pairs = 42;
    m->resources = 3;
    m->noffsets = 3;
    for (uint32_t i = 0; i < 3; i++)
        m->offsets[i] = (pd_snapshot_offset){(int32_t)i * 4, 1000 + (int64_t)i * 77};
    m->changelog_offset = 123456789012LL;
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[512], why[256];
    path_of("a.snap", path, sizeof(path));
    pd_snapshot_meta m, r;
    sample_meta(&m);
    char payload[1000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (char)(i * 31 + 7);
    assert_int_equal(pd_snapshot_write(path, &m, payload, sizeof(payload), why, sizeof(why)), 0);
    pd_buf b;
    pd_buf_init(&b);
    assert_int_equal(pd_snapshot_read(path, &r, &b, why, sizeof(why)), 0);
    assert_int_equal(b.len, sizeof(payload));
    assert_memory_equal(b.p, payload, sizeof(payload));
    assert_int_equal(r.partition, 7);
    assert_string_equal(r.topic, "defender-assessments");
    assert_int_equal(r.created_ms, m.created_ms);
    assert_int_equal(r.watermark_ms, m.watermark_ms);
    assert_int_equal(r.pairs, 42);
    assert_int_equal(r.resources, 3);
    assert_int_equal(r.noffsets, 3);
    assert_int_equal(r.offsets[2].partition, 8);
    assert_int_equal(r.offsets[2].offset, 1154);
    assert_int_equal(r.payload_version, PD_ENGINE_STATE_VERSION);
    assert_int_equal(r.changelog_offset, 123456789012LL);

    /* Replacing it leaves no temporary file behind and the new content in place. */
    m.partition = 9;
    assert_int_equal(pd_snapshot_write(path, &m, payload, 10, why, sizeof(why)), 0);
    assert_int_equal(pd_snapshot_read(path, &r, &b, why, sizeof(why)), 0);
    assert_int_equal(r.partition, 9);
    assert_int_equal(b.len, 10);
    DIR *d = opendir(g_dir);
    struct dirent *de;
    while ((de = readdir(d)))
        assert_null(strstr(de->d_name, ".tmp."));
    closedir(d);

    /* An empty payload is fine. */
    assert_int_equal(pd_snapshot_write(path, &m, NULL, 0, why, sizeof(why)), 0);
    assert_int_equal(pd_snapshot_read(path, &r, &b, why, sizeof(why)), 0);
    assert_int_equal(b.len, 0);
    pd_buf_free(&b);
}

static void test_errors(void **state)
{
    (void)state;
    char path[512], bad[512], why[256];
    pd_snapshot_meta m;
    pd_buf b;
    pd_buf_init(&b);
    why[0] = '\0';
    assert_int_equal(
        pd_snapshot_read(path_of("missing.snap", path, sizeof(path)), &m, &b, why, sizeof(why)),
        PD_ENOTFOUND);
    assert_non_null(strstr(why, "missing.snap"));

    /* A directory that does not exist: the write fails with a reason. */
    snprintf(bad, sizeof(bad), "%s/no/such/dir/x.snap", g_dir);
    sample_meta(&m);
    assert_int_equal(pd_snapshot_write(bad, &m, "x", 1, why, sizeof(why)), PD_EIO);
    assert_true(why[0] != '\0');
    m.noffsets = PD_SNAPSHOT_MAX_OFFSETS + 1;
    assert_int_equal(pd_snapshot_write(path, &m, "x", 1, why, sizeof(why)), PD_EINVAL);

    /* Not a snapshot; a newer version. */
    path_of("junk.snap", path, sizeof(path));
    write_bytes(path, "hello, world, this is not it", 28);
    assert_int_equal(pd_snapshot_read(path, &m, &b, why, sizeof(why)), PD_EINVAL);
    assert_non_null(strstr(why, "magic"));
    sample_meta(&m);
    assert_int_equal(pd_snapshot_write(path, &m, "abc", 3, why, sizeof(why)), 0);
    size_t n = 0;
    char *raw = pd_test_read_file(path, &n);
    assert_non_null(raw);
    raw[8] = 2;
    write_bytes(path, raw, n);
    assert_int_equal(pd_snapshot_read(path, &m, &b, why, sizeof(why)), PD_EUNSUPPORTED);
    assert_non_null(strstr(why, "version"));
    free(raw);
    pd_buf_free(&b);
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    char path[512], why[256];
    path_of("t.snap", path, sizeof(path));
    pd_snapshot_meta m;
    sample_meta(&m);
    char payload[300];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (char)(i ^ 0x5a);
    assert_int_equal(pd_snapshot_write(path, &m, payload, sizeof(payload), why, sizeof(why)), 0);
    size_t n = 0;
    char *raw = pd_test_read_file(path, &n);
    assert_non_null(raw);
    size_t off, plen;
    /* Every prefix. */
    for (size_t k = 0; k < n; k++) {
        why[0] = '\0';
        int rc = pd_snapshot_parse(raw, k, &m, &off, &plen, why, sizeof(why));
        assert_true(rc == PD_EINVAL);
        assert_true(why[0] != '\0');
    }
    /* Every single-bit flip in every byte. */
    for (size_t k = 0; k < n; k++)
        for (int bit = 0; bit < 8; bit++) {
            raw[k] = (char)(raw[k] ^ (1 << bit));
            int rc = pd_snapshot_parse(raw, n, &m, &off, &plen, why, sizeof(why));
            if (rc == 0)
                fail_msg("flip of bit %d in byte %zu accepted", bit, k);
            raw[k] = (char)(raw[k] ^ (1 << bit));
        }
    assert_int_equal(pd_snapshot_parse(raw, n, &m, &off, &plen, why, sizeof(why)), 0);
    assert_int_equal(plen, sizeof(payload));
    assert_memory_equal(raw + off, payload, plen);
    /* A truncated file on disk names itself. */
    write_bytes(path, raw, n - 5);
    pd_buf b;
    pd_buf_init(&b);
    assert_int_equal(pd_snapshot_read(path, &m, &b, why, sizeof(why)), PD_EINVAL);
    assert_non_null(strstr(why, "t.snap"));
    assert_int_equal(b.len, 0);
    pd_buf_free(&b);
    free(raw);
}

/* Headers whose checksum is right but whose fields lie (hand-made, as an attacker could). */
static void resum(char *c, size_t n)
{
    uint32_t hlen;
    memcpy(&hlen, c + 12, 4);
    size_t head = 16 + (size_t)hlen + 8;
    if (head + 8 > n)
        return;
    uint64_t s = pd_snapshot_file_sum(c, head, c + head, n - head - 8);
    memcpy(c + n - 8, &s, 8);
}

static void test_lying_header(void **state)
{
    (void)state;
    char path[512], why[256];
    path_of("l.snap", path, sizeof(path));
    pd_snapshot_meta m;
    sample_meta(&m);
    assert_int_equal(pd_snapshot_write(path, &m, "pay", 3, why, sizeof(why)), 0);
    size_t n = 0, off, plen;
    char *raw = pd_test_read_file(path, &n);
    assert_non_null(raw);
    /* The untouched file re-summed still parses: the lies below are what fails. */
    resum(raw, n);
    assert_int_equal(pd_snapshot_parse(raw, n, &m, &off, &plen, why, sizeof(why)), 0);
    uint32_t topic_at = 16 + 4 + 4 + 8 + 8 + 8 + 8, noff_at = topic_at + 4 + 20;
    struct {
        uint32_t at, value;
        const char *reason;
    } lies[] = {{topic_at, 200, "too short"}, {topic_at, 0xffffffffu, "topic"},
                {noff_at, 5000, "offsets"},   {noff_at, 4, "too short"},
                {12, 4, "payload"},           {12, 0xfffffff0u, "truncated"}};
    for (size_t k = 0; k < PD_ARRAY_LEN(lies); k++) {
        char *c = malloc(n);
        memcpy(c, raw, n);
        memcpy(c + lies[k].at, &lies[k].value, 4);
        resum(c, n);
        why[0] = '\0';
        assert_int_equal(pd_snapshot_parse(c, n, &m, &off, &plen, why, sizeof(why)), PD_EINVAL);
        if (!strstr(why, lies[k].reason))
            fail_msg("lie %zu: reason \"%s\"", k, why);
        free(c);
    }
    free(raw);
}

static void test_engine_save_load(void **state)
{
    (void)state;
    char gpath[1024], path[512], why[256];
    pd_diag d = {{0}};
    pd_goal_set *gs = NULL;
    if (pd_goal_set_load_file(
            &gs, pd_test_src_path("pipelines/defender-servers.goals.yaml", gpath, sizeof(gpath)),
            &d))
        fail_msg("%s", d.msg);
    pd_engine *e = NULL;
    assert_int_equal(pd_engine_create(gs, NULL, &e), 0);
    /* A few pairs on the pack's first key-selected control. */
    const char *key = NULL;
    for (uint32_t i = 0; i < pd_goal_set_count(gs) && !key; i++) {
        const pd_goal *g = pd_goal_set_at(gs, i);
        for (uint32_t j = 0; j < g->ncontrols && !key; j++)
            if (g->controls[j].kind == PD_SEL_KEY)
                key = g->controls[j].value;
    }
    assert_non_null(key);
    pd_event ev;
    pd_event_reset(&ev);
    ev.kind = PD_KIND_ASSESSMENT;
    ev.resource.cloud = PD_CLOUD_AZURE;
    ev.resource.type = PD_STR_LIT("microsoft.compute/virtualmachines");
    ev.resource.account = PD_STR_LIT("sub-1");
    ev.control.key = pd_str_c(key);
    char id[64];
    for (int r = 0; r < 50; r++) {
        int n = snprintf(id, sizeof(id), "/subscriptions/sub-1/vm-%d", r);
        ev.resource.canon = ev.resource.id = (pd_str){id, (uint32_t)n};
        ev.status = r % 3 ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY;
        ev.time_ms = 1767225600000LL + r * 1000;
        assert_int_equal(pd_engine_apply(e, &ev), 0);
    }
    pd_snapshot_meta m, r;
    pd_snapshot_meta_init(&m);
    m.partition = 3;
    pd_buf scratch;
    pd_buf_init(&scratch);
    path_of("engine.snap", path, sizeof(path));
    assert_int_equal(pd_snapshot_save_engine(path, e, &m, &scratch, why, sizeof(why)), 0);
    assert_int_equal(m.pairs, 50);
    assert_int_equal(m.resources, 50);
    pd_engine *e2 = NULL;
    assert_int_equal(pd_engine_create(gs, NULL, &e2), 0);
    assert_int_equal(pd_snapshot_load_engine(path, e2, &r, &scratch, why, sizeof(why)), 0);
    assert_int_equal(r.partition, 3);
    assert_int_equal(r.watermark_ms, pd_engine_now(e));
    assert_int_equal(pd_engine_now(e2), pd_engine_now(e));
    for (uint32_t i = 0; i < pd_engine_goal_count(e); i++) {
        pd_goal_status a, b;
        pd_engine_goal_status(e, i, &a);
        pd_engine_goal_status(e2, i, &b);
        assert_true(a.value == b.value);
        assert_int_equal(a.numerator, b.numerator);
        assert_int_equal(a.denominator, b.denominator);
        assert_int_equal(a.violators, b.violators);
        assert_int_equal(a.unknown, b.unknown);
    }
    pd_engine_destroy(e2);
    pd_engine_destroy(e);
    pd_buf_free(&scratch);
    pd_goal_set_destroy(gs);
}

static void test_bench_smoke(void **state)
{
    (void)state;
    char *argv[] = {"restore", "--pairs", "20000", "--repeat", "1", "--dir", g_dir, NULL};
    assert_int_equal(pd_cmd_bench_restore(7, argv), 0);
    char *bad[] = {"restore", "--nope", NULL};
    assert_int_equal(pd_cmd_bench_restore(2, bad), 2);
}

static void test_checksum(void **state)
{
    (void)state;
    char a[100];
    memset(a, 0, sizeof(a));
    uint64_t h0 = pd_snapshot_checksum(a, sizeof(a));
    /* Every length and every byte position matters. */
    for (size_t n = 0; n < sizeof(a); n++)
        assert_true(pd_snapshot_checksum(a, n) != h0);
    for (size_t i = 0; i < sizeof(a); i++) {
        a[i] = 1;
        assert_true(pd_snapshot_checksum(a, sizeof(a)) != h0);
        a[i] = 0;
    }
}

/* The writer thread: files land in submission order (the last one of a path wins), the
 * payload is taken over, a write that cannot happen is counted and the rest go on. */
static void test_writer(void **state)
{
    (void)state;
    pd_snapwriter *w = NULL;
    assert_int_equal(pd_snapwriter_create(&w), 0);
    char path[512], bad[600], why[256];
    path_of("w.snap", path, sizeof(path));
    snprintf(bad, sizeof(bad), "%s/no-such-dir/w.snap", path);
    pd_snapshot_meta m;
    sample_meta(&m);
    for (int i = 0; i < 5; i++) {
        pd_buf p;
        pd_buf_init(&p);
        for (int k = 0; k < 100 + i; k++)
            pd_buf_append(&p, "x", 1);
        m.changelog_offset = 1000 + i;
        assert_int_equal(pd_snapwriter_submit(w, i == 2 ? bad : path, &m, &p), 0);
        assert_int_equal(p.len, 0); /* taken over */
        pd_buf_free(&p);
    }
    pd_snapwriter_drain(w);
    pd_snapwriter_stats st;
    pd_snapwriter_stats_get(w, &st);
    assert_int_equal(st.written, 4);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.queued, 0);
    pd_snapshot_meta r;
    pd_buf b;
    pd_buf_init(&b);
    assert_int_equal(pd_snapshot_read(path, &r, &b, why, sizeof(why)), 0);
    assert_int_equal(r.changelog_offset, 1004);
    assert_int_equal(b.len, 104);
    pd_buf_free(&b);
    /* destroy writes what is still queued */
    pd_buf p;
    pd_buf_init(&p);
    pd_buf_append(&p, "last", 4);
    m.changelog_offset = 2000;
    assert_int_equal(pd_snapwriter_submit(w, path, &m, &p), 0);
    pd_snapwriter_destroy(w);
    pd_buf_init(&b);
    assert_int_equal(pd_snapshot_read(path, &r, &b, why, sizeof(why)), 0);
    assert_int_equal(r.changelog_offset, 2000);
    assert_int_equal(b.len, 4);
    pd_buf_free(&b);
    pd_snapwriter_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_lying_header),
        cmocka_unit_test(test_engine_save_load),
        cmocka_unit_test(test_bench_smoke),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
