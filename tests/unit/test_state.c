/* Engine state export/import: an engine restored from an image taken mid-stream emits the
 * same later signals (same bytes, same order) and ends with the same goal values as one that
 * ran the whole stream; images round-trip; truncated or corrupt images fail cleanly. */
#include "pd_test.h"

#include "pd_engine_state.h"
#include "pd_gen.h"
#include "pd_processor.h"
#include "pd_time.h"

/* A generated stream held in memory: messages back to back, offsets in off. */
typedef struct stream {
    pd_buf data;
    size_t *off; /* n + 1 entries */
    size_t n;
    int64_t last_ms;
} stream;

static void gen_stream(stream *st, uint32_t servers, uint32_t days, int64_t disorder_ms)
{
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.seed = 8;
    go.servers = servers;
    go.days = days;
    go.mix = PD_GEN_MIX_ALL;
    go.inventory = true;
    go.churn = 0.08;
    go.delete_rate = 0.01;
    go.disorder_ms = disorder_ms;
    pd_diag d = {{0}};
    pd_gen *g = NULL;
    if (pd_gen_create(&go, &g, &d))
        fail_msg("gen: %s", d.msg);
    memset(st, 0, sizeof(*st));
    pd_buf_init(&st->data);
    st->last_ms = PD_TIME_NONE;
    size_t cap = 1024;
    st->off = malloc(cap * sizeof(size_t));
    st->off[0] = 0;
    pd_gen_meta meta;
    for (;;) {
        int rc = pd_gen_next(g, &st->data, &meta);
        if (rc == PD_ENOTFOUND)
            break;
        assert_int_equal(rc, 0);
        if (st->n + 2 > cap) {
            cap *= 2;
            st->off = realloc(st->off, cap * sizeof(size_t));
        }
        st->off[++st->n] = st->data.len;
        if (meta.time_ms != PD_TIME_NONE && meta.time_ms > st->last_ms)
            st->last_ms = meta.time_ms;
    }
    pd_gen_destroy(g);
}

static void stream_free(stream *st)
{
    pd_buf_free(&st->data);
    free(st->off);
}

/* Signals as JSON lines. */
typedef struct sigs {
    pd_buf out;
    uint64_t n;
} sigs;

static int on_sig(void *ctx, const pd_signal *s)
{
    sigs *c = ctx;
    pd_signal_to_json(s, &c->out);
    pd_buf_putc(&c->out, '\n');
    c->n++;
    return 0;
}

static pd_processor *mk_proc(sigs *c)
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

static void feed(pd_processor *p, const stream *st, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        assert_int_equal(pd_processor_feed(p, st->data.p + st->off[i], st->off[i + 1] - st->off[i],
                                           PD_FMT_AUTO, PD_STR_LIT("assessments")),
                         0);
}

static void finish(pd_processor *p, const stream *st, pd_buf *status)
{
    /* Past every SLA and staleness deadline of the pack. */
    assert_int_equal(pd_processor_advance(p, st->last_ms + 10 * 86400000LL), 0);
    pd_engine *e = pd_processor_engine(p);
    for (uint32_t i = 0; i < pd_engine_goal_count(e); i++) {
        pd_engine_goal_status_json(e, i, status);
        pd_buf_putc(status, '\n');
    }
}

/* The whole stream in one engine; the signals emitted from message `cut` on start at
 * *cut_at in the output. */
static void run_whole(const stream *st, size_t cut, sigs *c, size_t *cut_at, pd_buf *status)
{
    pd_processor *p = mk_proc(c);
    feed(p, st, 0, cut);
    *cut_at = c->out.len;
    feed(p, st, cut, st->n);
    finish(p, st, status);
    pd_processor_destroy(p);
}

static void export_at(const stream *st, size_t cut, pd_buf *img, sigs *before)
{
    pd_processor *p = mk_proc(before);
    feed(p, st, 0, cut);
    assert_int_equal(pd_engine_state_export(pd_processor_engine(p), img), 0);
    pd_processor_destroy(p);
}

static void check_cut(const stream *st, size_t cut)
{
    sigs whole = {0}, before = {0}, after = {0};
    pd_buf st_whole, st_after, img, img2;
    pd_buf_init(&whole.out);
    pd_buf_init(&before.out);
    pd_buf_init(&after.out);
    pd_buf_init(&st_whole);
    pd_buf_init(&st_after);
    pd_buf_init(&img);
    pd_buf_init(&img2);
    size_t cut_at = 0;
    run_whole(st, cut, &whole, &cut_at, &st_whole);

    export_at(st, cut, &img, &before);
    assert_int_equal(before.out.len, cut_at);
    assert_memory_equal(before.out.p, whole.out.p, cut_at);

    pd_processor *p = mk_proc(&after);
    char why[256];
    int rc = pd_engine_state_import(pd_processor_engine(p), img.p, img.len, why, sizeof(why));
    if (rc)
        fail_msg("import: %s", why);
    /* The restored engine exports the same image. */
    assert_int_equal(pd_engine_state_export(pd_processor_engine(p), &img2), 0);
    assert_int_equal(img2.len, img.len);
    assert_memory_equal(img2.p, img.p, img.len);
    feed(p, st, cut, st->n);
    finish(p, st, &st_after);
    pd_processor_destroy(p);

    fprintf(stderr, "cut %zu/%zu: image %zu bytes, %llu signals after the cut\n", cut, st->n,
            img.len, (unsigned long long)after.n);
    assert_true(whole.out.len > cut_at); /* the test must see signals after the cut */
    assert_int_equal(after.out.len, whole.out.len - cut_at);
    assert_memory_equal(after.out.p, whole.out.p + cut_at, after.out.len);
    assert_int_equal(st_after.len, st_whole.len);
    assert_memory_equal(st_after.p, st_whole.p, st_whole.len);

    pd_buf_free(&whole.out);
    pd_buf_free(&before.out);
    pd_buf_free(&after.out);
    pd_buf_free(&st_whole);
    pd_buf_free(&st_after);
    pd_buf_free(&img);
    pd_buf_free(&img2);
}

static void test_restore_equals_uninterrupted(void **state)
{
    (void)state;
    stream st;
    gen_stream(&st, 150, 21, 0);
    assert_true(st.n > 1000);
    check_cut(&st, st.n / 2);
    check_cut(&st, st.n / 5);
    check_cut(&st, st.n - st.n / 10);
    stream_free(&st);
}

static void test_restore_out_of_order(void **state)
{
    (void)state;
    stream st;
    gen_stream(&st, 120, 15, 30 * 60 * 1000);
    check_cut(&st, st.n / 2);
    check_cut(&st, st.n / 3);
    stream_free(&st);
}

/* An image of a small run. */
static void small_image(pd_buf *img)
{
    stream st;
    gen_stream(&st, 12, 9, 0);
    sigs c = {0};
    pd_buf_init(&c.out);
    export_at(&st, st.n * 2 / 3, img, &c);
    pd_buf_free(&c.out);
    stream_free(&st);
}

static pd_goal_set *g_goals; /* the pack, loaded once for the hostile-input tests */

static int try_import(const char *p, size_t n, char *why, size_t why_len)
{
    if (!g_goals) {
        char gpath[1024];
        pd_diag d = {{0}};
        if (pd_goal_set_load_file(
                &g_goals, pd_test_src_path("pipelines/defender-servers.goals.yaml", gpath, 1024),
                &d))
            fail_msg("goals: %s", d.msg);
    }
    pd_engine_opts eo;
    pd_engine_opts_default(&eo);
    pd_engine *e = NULL;
    assert_int_equal(pd_engine_create(g_goals, &eo, &e), 0);
    int rc = pd_engine_state_import(e, p, n, why, why_len);
    if (rc == 0) {
        /* A corrupt image that passed the checks must still be safe to run. */
        pd_goal_status gs;
        for (uint32_t i = 0; i < pd_engine_goal_count(e); i++)
            pd_engine_goal_status(e, i, &gs);
        pd_engine_advance(e, pd_engine_now(e) + 30 * 86400000LL);
    }
    pd_engine_destroy(e);
    return rc;
}

static void test_truncated(void **state)
{
    (void)state;
    pd_buf img;
    pd_buf_init(&img);
    small_image(&img);
    char why[256];
    assert_int_equal(try_import(img.p, img.len, why, sizeof(why)), 0);
    /* Every prefix fails with a reason (step through the large sections). */
    size_t step = img.len > 20000 ? 7 : 1;
    for (size_t n = 0; n < img.len; n += (n < 4096 ? 1 : step)) {
        why[0] = '\0';
        int rc = try_import(img.p, n, why, sizeof(why));
        if (rc != PD_EINVAL)
            fail_msg("prefix %zu of %zu: rc %d", n, img.len, rc);
        assert_true(why[0] != '\0');
    }
    /* Trailing garbage too. */
    pd_buf_putc(&img, 'x');
    assert_int_equal(try_import(img.p, img.len, why, sizeof(why)), PD_EINVAL);
    assert_non_null(strstr(why, "after the last section"));
    pd_buf_free(&img);
}

static void test_corrupt(void **state)
{
    (void)state;
    pd_buf img;
    pd_buf_init(&img);
    small_image(&img);
    char *copy = malloc(img.len);
    char why[256];
    uint64_t x = 0x9e3779b97f4a7c15ULL, failed = 0, ok = 0;
    for (int k = 0; k < 600; k++) {
        memcpy(copy, img.p, img.len);
        int flips = 1 + k % 4;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t at = (size_t)(x % img.len);
            copy[at] = (char)(copy[at] ^ (char)(1u << (x >> 61)));
            if (k % 3 == 0)
                copy[at] = (char)0xff; /* counts and ids at their largest */
        }
        int rc = try_import(copy, img.len, why, sizeof(why));
        assert_true(rc == 0 || rc == PD_EINVAL || rc == PD_ESTATE);
        if (rc)
            failed++;
        else
            ok++;
    }
    fprintf(stderr, "corrupt images: %llu refused, %llu accepted\n", (unsigned long long)failed,
            (unsigned long long)ok);
    assert_true(failed > 0);
    free(copy);
    pd_buf_free(&img);
}

static void test_refuses_other_goals_and_used_engine(void **state)
{
    (void)state;
    pd_buf img;
    pd_buf_init(&img);
    small_image(&img);
    char why[256];
    /* Another goal set. */
    pd_goal_set *gs = NULL;
    pd_diag d = {{0}};
    const char *y = "goals:\n  - id: only\n    kind: control\n    controls: [{key: abc}]\n";
    assert_int_equal(pd_goal_set_load_buf(&gs, "<t>", y, strlen(y), &d), 0);
    pd_engine_opts eo;
    pd_engine_opts_default(&eo);
    pd_engine *e = NULL;
    assert_int_equal(pd_engine_create(gs, &eo, &e), 0);
    assert_int_equal(pd_engine_state_import(e, img.p, img.len, why, sizeof(why)), PD_ESTATE);
    assert_non_null(strstr(why, "other goals"));
    pd_engine_destroy(e);
    pd_goal_set_destroy(gs);
    /* An engine that has state already. */
    sigs c = {0};
    pd_buf_init(&c.out);
    pd_processor *p = mk_proc(&c);
    assert_int_equal(pd_engine_state_import(pd_processor_engine(p), img.p, img.len, why, 256), 0);
    assert_int_equal(pd_engine_state_import(pd_processor_engine(p), img.p, img.len, why, 256),
                     PD_ESTATE);
    pd_processor_destroy(p);
    pd_buf_free(&c.out);
    pd_buf_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_equals_uninterrupted),
        cmocka_unit_test(test_restore_out_of_order),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_refuses_other_goals_and_used_engine),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pd_goal_set_destroy(g_goals);
    return rc;
}
