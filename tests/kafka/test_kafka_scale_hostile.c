/* test_kafka_scale_hostile.c: malformed records on the internal topics of a scaled-out run
 * (state.partitioned, schemas/internal-topics.md) against the real broker. One input (3,000
 * generated events on 12 partitions, a few malformed messages), a reference instance of a
 * clean group, and a hostile group whose internal topics get malformed records written with a
 * plain (non-transactional) producer before and between its runs:
 *   - before run 1 (topics created here, as postured would): stale garbage on
 *     <G>-state-changelog ("#tk", "#wm", "#buf:", "#last:") and <G>-goals-changelog ("#fm",
 *     "#fs:", "#fc:", "#fq:");
 *   - run 1 is SIGKILLed once its state stage committed 40% of the input (and its route
 *     stage all of it);
 *   - then <G>-events gets "#wm" of 0, 16, 18 bytes, a tombstone, src >= nsrc, and events that
 *     are not one (garbage, empty, tombstone, msgpack of another shape); <G>-partials gets
 *     "#m" of the wrong length, a tombstone "#m", garbage partials; both changelogs get more
 *     garbage, and two "#buf:" records in time whose event is garbage (applied: bad events);
 *   - run 2 restores and runs to the end: exit 0, every "event" and "partial" dead letter with
 *     its source topic, the "bad events" count of the summary, every goal changelog garbage
 *     record skipped as stale at the fold restore;
 *   - then a routed event re-produced with a 3-byte postured.order header, two real partials
 *     without / with a 3-byte postured.tick header, more changelog garbage; run 3 restores
 *     again and runs to the end (exit 0, two more "partial" dead letters).
 * The read_committed outputs then equal the reference's: per-resource signal ids, goal-level
 * signal ids, no id repeated beyond the reference's, final goal values.
 *
 * test_gaps: malformed records that used to stall or stop a stage (a partition or source
 * count that is not the topic's, keys that fell through to the resource path), each on a
 * group of its own, compared with the reference the same way. PD_HOSTILE_CASE=name runs one
 * test. */
#include "pd_test.h"

#include "pd_gen.h"
#include "pd_ktest.h"
#include "pd_ktest_scale.h"
#include "pd_ktest_sig.h"

#include <ctype.h>
#include <signal.h>
#include <sys/wait.h>

enum { NEVENTS = 3000, NPART = 12 };

static const char *g_bootstrap, *g_bin, *g_src;
static char g_dir[256], g_topic[96];
static uint32_t g_bad, g_total;
static int64_t g_first_ts; /* the input's oldest timestamp */
static pd_kafka_conf *g_conf;

/* ---- input, groups, runs (as test_kafka_scaleout.c) ---------------------------------- */

static int produce_input(void)
{
    pd_ktest_unique(g_topic, sizeof(g_topic), "pd-hostile-in");
    static const char *const bad[] = {"BAD not json at all"};
    pd_kscale_input in = {.bootstrap = g_bootstrap,
                          .topic = g_topic,
                          .partitions = NPART,
                          .events = NEVENTS,
                          .servers = 150,
                          .bad_every = 1001,
                          .bad = bad,
                          .nbad = 1};
    int rc = pd_kscale_produce(&in);
    g_total = in.total;
    g_bad = in.bad_sent;
    g_first_ts = in.first_ts;
    fprintf(stderr, "input: %u messages (%u malformed) on %s, times from %lld to %lld\n", g_total,
            g_bad, g_topic, (long long)g_first_ts, (long long)in.last_ts);
    return rc;
}

typedef struct group {
    char prefix[96], pipeline[300], config[300], log[300];
    char events[160], changelog[160], partials[160], goals[160], state_group[160];
} group;

static void group_init(group *gr, const char *name)
{
    pd_ktest_unique(gr->prefix, sizeof(gr->prefix), name);
    snprintf(gr->pipeline, sizeof(gr->pipeline), "%s/%s.yaml", g_dir, name);
    snprintf(gr->config, sizeof(gr->config), "%s/%s-config.yaml", g_dir, name);
    snprintf(gr->log, sizeof(gr->log), "%s/%s.log", g_dir, name);
    snprintf(gr->events, sizeof(gr->events), "%s-group-events", gr->prefix);
    snprintf(gr->changelog, sizeof(gr->changelog), "%s-group-state-changelog", gr->prefix);
    snprintf(gr->partials, sizeof(gr->partials), "%s-group-partials", gr->prefix);
    snprintf(gr->goals, sizeof(gr->goals), "%s-group-goals-changelog", gr->prefix);
    snprintf(gr->state_group, sizeof(gr->state_group), "%s-group-state", gr->prefix);
    char state[300];
    snprintf(state, sizeof(state), "%s/state", g_dir);
    /* the same pipeline name for every group: goal-level signal ids include it */
    pd_kscale_files(gr->pipeline, gr->config, "hostile", g_src, g_topic, gr->prefix, state);
}

/* Damages the group's local snapshots (state.dir): a flipped byte, a truncated side file,
 * garbage; each must be refused (checksum, length) and the partition restored from its
 * changelog instead. Returns how many files were damaged. */
static int corrupt_snapshots(const group *gr)
{
    char path[600];
    int n = 0;
    for (int p = 0; p < NPART && n < 3; p++) {
        snprintf(path, sizeof(path), "%s/state/%s-group/p%d.snap", g_dir, gr->prefix, p);
        FILE *f = fopen(path, "r+b");
        if (!f)
            continue;
        if (n == 0) { /* one byte in the middle */
            fseek(f, 0, SEEK_END);
            long len = ftell(f);
            fseek(f, len / 2, SEEK_SET);
            int c = fgetc(f);
            fseek(f, len / 2, SEEK_SET);
            fputc(c ^ 0x5a, f);
            fclose(f);
        } else if (n == 1) { /* the side file cut short */
            fclose(f);
            snprintf(path, sizeof(path), "%s/state/%s-group/p%d.side", g_dir, gr->prefix, p);
            assert_int_equal(truncate(path, 20), 0);
        } else {
            fclose(f);
            f = fopen(path, "wb");
            fputs("BAD snapshot", f);
            fclose(f);
        }
        n++;
    }
    fprintf(stderr, "%d local snapshot(s) damaged\n", n);
    return n;
}

static pid_t start(const group *gr, int n)
{
    char log[400];
    snprintf(log, sizeof(log), "%s.%d", gr->log, n);
    return pd_kscale_start(g_bin, gr->config, gr->pipeline, g_bootstrap, "h1", log, NULL);
}

static void show(const group *gr, int n)
{
    char cmd[500];
    snprintf(cmd, sizeof(cmd), "tail -n 6 '%s.%d' >&2", gr->log, n);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
}

/* Calls fn on every line of run n's log. */
static void log_lines(const group *gr, int n, void (*fn)(const char *line, void *ctx), void *ctx)
{
    char path[400];
    snprintf(path, sizeof(path), "%s.%d", gr->log, n);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0)
        fn(line, ctx);
    free(line);
    fclose(f);
}

typedef struct linecount {
    const char *needle;
    int n;
} linecount;

static void count_hit(const char *line, void *ctx)
{
    linecount *c = ctx;
    c->n += strstr(line, c->needle) != NULL;
}

/* Lines of run n's log that contain needle. */
static int count_lines(const group *gr, int n, const char *needle)
{
    linecount c = {needle, 0};
    log_lines(gr, n, count_hit, &c);
    return c.n;
}

typedef struct logscan {
    const char *needle;
    uint32_t hits;
    uint64_t state_events, bad_events, rewinds, restored_parts;
    uint32_t fold_restores;
    uint64_t stale_min, stale_max;
} logscan;

/* The number right before what (e.g. " bad events"), or 0. */
static uint64_t number_before(const char *line, const char *what)
{
    const char *p = strstr(line, what);
    if (!p)
        return 0;
    const char *q = p;
    while (q > line && isdigit((unsigned char)q[-1]))
        q--;
    return strtoull(q, NULL, 10);
}

static void scan_line(const char *line, void *ctx)
{
    logscan *s = ctx;
    if (s->needle && strstr(line, s->needle))
        s->hits++;
    if (!strncmp(line, "state: ", 7)) {
        s->state_events = strtoull(line + 7, NULL, 10);
        s->bad_events = number_before(line, " bad events");
    }
    const char *r = strstr(line, "aborted transactions rewound: ");
    if (r) {
        unsigned long long a = 0, b = 0, c = 0;
        if (sscanf(r, "aborted transactions rewound: route %llu, state %llu, goals %llu", &a, &b,
                   &c) == 3)
            s->rewinds = a + b + c;
    }
    const char *p = strstr(line, "restored ");
    if (p && strstr(p, " partition(s): "))
        s->restored_parts += strtoull(p + 9, NULL, 10);
    if (strstr(line, "fold restored: ") && strstr(line, " stale)")) {
        uint64_t st = number_before(line, " stale)");
        s->stale_min = s->fold_restores ? PD_MIN(s->stale_min, st) : st;
        s->stale_max = s->fold_restores ? PD_MAX(s->stale_max, st) : st;
        s->fold_restores++;
    }
}

static logscan scan_log(const group *gr, int n, const char *needle)
{
    logscan s = {.needle = needle};
    log_lines(gr, n, scan_line, &s);
    return s;
}

/* ---- writing hostile records ----------------------------------------------------------- */

static rd_kafka_t *g_prod;
static uint32_t g_delivery_errors;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        g_delivery_errors++;
        fprintf(stderr, "hostile record not delivered: %s\n", rd_kafka_err2str(m->err));
    }
}

static void prod_open(void)
{
    char e[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_bootstrap, e, sizeof(e));
    rd_kafka_conf_set(c, "linger.ms", "5", e, sizeof(e));
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    g_prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof(e));
    assert_non_null(g_prod);
}

/* One record to topic's partition part; val NULL: a tombstone; h (may be NULL): headers,
 * name and value pairs of NUL-terminated strings, then their count in nh. */
static void put_h(const char *topic, int32_t part, const void *key, size_t klen, const void *val,
                  size_t vlen, const char *const *h, int nh)
{
    rd_kafka_headers_t *hd = rd_kafka_headers_new(4);
    for (int i = 0; i + 1 < 2 * nh; i += 2)
        rd_kafka_header_add(hd, h[i], -1, h[i + 1], -1);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        g_prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hd), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hd);
        fail_msg("produce to %s: %s", topic, rd_kafka_err2str(err));
    }
}

static void put(const char *topic, int32_t part, const void *key, size_t klen, const void *val,
                size_t vlen)
{
    put_h(topic, part, key, klen, val, vlen, NULL, 0);
}

/* put for the goal changelog, counting the record */
static uint32_t gput(const char *topic, const void *key, size_t klen, const void *val, size_t vlen)
{
    put(topic, 0, key, klen, val, vlen);
    return 1;
}

static void prod_flush(void)
{
    assert_int_equal(rd_kafka_flush(g_prod, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(g_delivery_errors, 0);
}

/* The internal topics as pd_scale_start creates them, so garbage can precede the first run. */
static void create_topic_cfg(const char *topic, int partitions, bool compact)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof(err));
    assert_non_null(nt);
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", compact ? "compact" : "delete");
    rd_kafka_queue_t *q = rd_kafka_queue_new(g_prod);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(g_prod, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 15000, err, sizeof(err));
    rd_kafka_CreateTopics(g_prod, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    assert_non_null(ev);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr =
        res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
    assert_int_equal(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(cnt, 1);
    assert_int_equal(rd_kafka_topic_result_error(tr[0]), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

static void create_internal(const group *gr)
{
    create_topic_cfg(gr->events, NPART, false);
    create_topic_cfg(gr->changelog, NPART, true);
    create_topic_cfg(gr->partials, 1, false);
    create_topic_cfg(gr->goals, 1, true);
    /* a just created topic's metadata takes a moment to reach every broker thread */
    usleep(500000);
}

static size_t key_cat(unsigned char *k, const char *prefix, const void *bin, size_t blen,
                      const char *id)
{
    size_t n = strlen(prefix);
    memcpy(k, prefix, n);
    if (blen)
        memcpy(k + n, bin, blen);
    n += blen;
    if (id) {
        memcpy(k + n, id, strlen(id));
        n += strlen(id);
    }
    return n;
}

/* State records of <G>-state-changelog a restore must skip as stale (wrong lengths, no NUL
 * in a buffered event, a goal the set does not have), on every partition; with in_time, also
 * "#buf:" records on partitions 3 and 7 whose event is garbage, in the input's time (applied
 * when the watermark passes them: one bad event each). Returns those applied ones. */
static uint32_t garbage_state_changelog(const group *gr, bool in_time, uint32_t round)
{
    unsigned char k[64], v[256];
    uint32_t applied = 0;
    for (int32_t p = 0; p < NPART; p++) {
        put(gr->changelog, p, "#tk", 3, "BAD", 3);
        memset(v, 0x42, 9);
        put(gr->changelog, p, "#tk", 3, v, 9);
        put(gr->changelog, p, "#wm", 3, "BAD", 3);
        /* the table of the input's 12 sources has 124 bytes: one more; then a count that
         * disagrees with the length */
        memset(v, 0, sizeof(v));
        pd_be32_put(v, NPART);
        put(gr->changelog, p, "#wm", 3, v, 4 + 10 * NPART + 1);
        pd_be32_put(v, 5);
        put(gr->changelog, p, "#wm", 3, v, 4 + 10 * NPART);
        unsigned char bk[12];
        pd_be32_put(bk, 0);
        pd_be64_put(bk + 4, 1000000000 + 100 * (int64_t)round + p);
        size_t kl = key_cat(k, "#buf:", bk, 12, NULL);
        put(gr->changelog, p, k, kl, "BAD", 3);
        put(gr->changelog, p, k, kl, "BAD buffered, no NUL", 20);
        kl = key_cat(k, "#last:", NULL, 0, "no-such-goal");
        put(gr->changelog, p, k, kl, "BAD", 3);
        if (round > 0 && p == 4) {
            /* garbage where the partial last offered goes: not checked at restore, the
             * goal's partial is offered once more (a late partial of the same content) */
            kl = key_cat(k, "#last:", NULL, 0, "secure-score");
            put(gr->changelog, p, k, kl, "BAD not a partial", 17);
        }
        if (in_time && (p == 3 || p == 7)) {
            pd_be64_put(bk + 4, 2000000000 + 100 * (int64_t)round + p);
            kl = key_cat(k, "#buf:", bk, 12, NULL);
            pd_be64_put(v, g_first_ts);
            memcpy(v + 8, "hostile\0BAD not an event", 25);
            put(gr->changelog, p, k, kl, v, 33);
            applied++;
        }
    }
    prod_flush();
    return applied;
}

/* Records of <G>-goals-changelog the fold restore must skip as stale. Returns how many. */
static uint32_t garbage_goals_changelog(const group *gr)
{
    unsigned char k[96], v[64], bin[12];
    uint32_t n = 0;
    const char *t = gr->goals;
    n += gput(t, "#fm", 3, "BAD", 3);
    memset(v, 0x42, sizeof(v));
    n += gput(t, "#fm", 3, v, 21);
    pd_be32_put(v + 16, 5); /* 28 bytes: one mark, but the count says 5 */
    n += gput(t, "#fm", 3, v, 28);
    size_t kl = key_cat(k, "#fs:", NULL, 0, "edr-coverage");
    n += gput(t, k, kl, "BAD", 3);
    memset(v, 0x42, sizeof(v)); /* 26 bytes, another goal digest */
    n += gput(t, k, kl, v, 26);
    kl = key_cat(k, "#fs:", NULL, 0, "no-such-goal");
    n += gput(t, k, kl, v, 26);
    n += gput(t, "#fc:", 4, "BAD", 3);
    pd_be32_put(bin, 0);
    kl = key_cat(k, "#fc:", bin, 4, NULL);
    n += gput(t, k, kl, "BAD", 3);
    kl = key_cat(k, "#fc:", bin, 4, "edr-coverage");
    n += gput(t, k, kl, "BAD not a partial", 17);
    n += gput(t, k, kl, "\x80", 1); /* msgpack, an empty map */
    n += gput(t, "#fq:", 4, "BAD", 3);
    pd_be64_put(bin, 1);
    pd_be32_put(bin + 8, 0);
    kl = key_cat(k, "#fq:", bin, 12, "edr-coverage");
    n += gput(t, k, kl, "BAD not a partial", 17);
    pd_be32_put(bin + 8, 70000);
    kl = key_cat(k, "#fq:", bin, 12, "edr-coverage");
    n += gput(t, k, kl, "BAD", 3);
    n += gput(t, "#fzz", 4, "BAD", 3);
    prod_flush();
    return n;
}

/* <G>-events: "#wm" records the state stage must count as bad (not 17 bytes, src >= nsrc) and
 * events that are not one (dead letters, reason "event"). */
static void garbage_events(const group *gr, uint32_t *bad, uint32_t *dead)
{
    unsigned char v[32];
    memset(v, 0, sizeof(v));
    const char *t = gr->events;
    put(t, 0, "#wm", 3, "", 0);
    put(t, 1, "#wm", 3, v, 16);
    put(t, 2, "#wm", 3, v, 18);
    put(t, 3, "#wm", 3, NULL, 0);
    pd_be32_put(v, NPART);
    pd_be32_put(v + 4, NPART);
    pd_be64_put(v + 8, g_first_ts);
    put(t, 4, "#wm", 3, v, 17);
    *bad = 5;
    put(t, 5, "BAD-resource-1", 14, "BAD not msgpack", 15);
    put(t, 6, "BAD-resource-2", 14, "", 0);
    put(t, 7, "BAD-resource-3", 14, NULL, 0);
    unsigned char arr[16]; /* msgpack: an array of 15 nils, no version */
    arr[0] = 0x9f;
    memset(arr + 1, 0xc0, 15);
    put(t, 8, "BAD-resource-4", 14, arr, sizeof(arr));
    *dead = 4;
    *bad += *dead;
    prod_flush();
}

/* <G>-partials: marks of the wrong length and partials that are not one (reason "partial"). */
static uint32_t garbage_partials(const group *gr)
{
    unsigned char v[16];
    memset(v, 0, sizeof(v));
    memcpy(v, "BAD", 3);
    const char *t = gr->partials;
    put(t, 0, "#m", 2, "BAD", 3);
    put(t, 0, "#m", 2, v, 13);
    put(t, 0, "#m", 2, NULL, 0);
    char k[64]; /* goal id, 0x1f, state partition */
    int kl = snprintf(k, sizeof(k), "%s%c%d", "edr-coverage", 0x1f, 0);
    put(t, 0, k, (size_t)kl, "BAD not a partial", 17);
    kl = snprintf(k, sizeof(k), "%s%c%d", "edr-coverage", 0x1f, 1);
    put(t, 0, k, (size_t)kl, "\x80", 1); /* msgpack, an empty map */
    prod_flush();
    return 5;
}

/* ---- reading internal topics --------------------------------------------------------- */

typedef struct rec {
    char key[256];
    size_t klen;
    unsigned char *val;
    size_t vlen;
    int32_t partition;
    unsigned char order[20];
    char source[200];
} rec;

typedef struct pick_ctx {
    rec best; /* events: the last applied event (greatest order) of the smallest key */
    bool found;
} pick_ctx;

static void rec_set(rec *r, const rd_kafka_message_t *m)
{
    free(r->val);
    r->klen = m->key_len < sizeof(r->key) ? m->key_len : sizeof(r->key);
    memcpy(r->key, m->key, r->klen);
    r->val = malloc(m->len ? m->len : 1);
    assert_non_null(r->val);
    memcpy(r->val, m->payload, m->len);
    r->vlen = m->len;
    r->partition = m->partition;
}

static int order_cmp(const unsigned char *a, const unsigned char *b)
{
    int64_t ta = pd_be64_get(a), tb = pd_be64_get(b);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return memcmp(a + 8, b + 8, 12); /* src, offset: both non-negative, big-endian */
}

/* An assessment event (kind 0 at position 1 of the packed array) with its order header. */
static void pick_event(void *ctx, const rd_kafka_message_t *m)
{
    pick_ctx *pc = ctx;
    rd_kafka_headers_t *h = NULL;
    const void *ov = NULL, *sv = NULL;
    size_t ol = 0, sl = 0;
    if (!m->key_len || ((const char *)m->key)[0] == '#' || m->len < 3 ||
        memcmp(m->payload, "\x9f\x01\x00", 3) ||
        rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, "postured.order", &ov, &ol) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        ol != 20 ||
        rd_kafka_header_get_last(h, "postured.source", &sv, &sl) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    size_t kl = m->key_len;
    int c = pc->found ? memcmp(m->key, pc->best.key, PD_MIN(kl, pc->best.klen)) : -1;
    if (c == 0 && kl != pc->best.klen)
        c = kl < pc->best.klen ? -1 : 1;
    if (c > 0 || (c == 0 && order_cmp(ov, pc->best.order) <= 0))
        return;
    rec_set(&pc->best, m);
    memcpy(pc->best.order, ov, 20);
    sl = PD_MIN(sl, sizeof(pc->best.source) - 1);
    memcpy(pc->best.source, sv, sl);
    pc->best.source[sl] = '\0';
    pc->found = true;
}

typedef struct partials_ctx {
    rec r[2];
    uint32_t n;
} partials_ctx;

static void pick_partial(void *ctx, const rd_kafka_message_t *m)
{
    partials_ctx *pc = ctx;
    if (pc->n < 2 && m->key_len > 2 && m->payload && ((const unsigned char *)m->payload)[0] >= 0x80)
        rec_set(&pc->r[pc->n++], m);
}

/* ---- dead letters -------------------------------------------------------------------- */

typedef struct dlq_counts {
    uint32_t event, partial, decode, bad;
    char events_topic[160], partials_topic[160];
} dlq_counts;

static void count_dlq(void *ctx, const rd_kafka_message_t *m)
{
    dlq_counts *d = ctx;
    char reason[64], topic[200], h[200];
    pd_ktest_header(m, "postured.reason", reason, sizeof(reason));
    pd_ktest_header(m, "postured.source.topic", topic, sizeof(topic));
    bool complete = *pd_ktest_header(m, "postured.error", h, sizeof(h)) &&
                    *pd_ktest_header(m, "postured.source.partition", h, sizeof(h)) &&
                    *pd_ktest_header(m, "postured.source.offset", h, sizeof(h));
    if (!complete)
        d->bad++;
    if (!strcmp(reason, "event")) {
        d->event++;
        d->bad += strcmp(topic, d->events_topic) != 0;
    } else if (!strcmp(reason, "partial")) {
        d->partial++;
        d->bad += strcmp(topic, d->partials_topic) != 0;
    } else if (*reason && strcmp(reason, "error") && !strcmp(topic, g_topic) && m->len >= 3 &&
               !memcmp(m->payload, "BAD", 3)) {
        d->decode++; /* the input's malformed messages, from the route stage */
    } else {
        d->bad++;
        fprintf(stderr, "unexpected dead letter: reason '%s', topic %s\n", reason, topic);
    }
}

static dlq_counts read_dlq(const group *gr)
{
    dlq_counts d;
    memset(&d, 0, sizeof(d));
    snprintf(d.events_topic, sizeof(d.events_topic), "%s", gr->events);
    snprintf(d.partials_topic, sizeof(d.partials_topic), "%s", gr->partials);
    char t[200];
    snprintf(t, sizeof(t), "%s-dlq", gr->prefix);
    pd_ktest_collect(g_conf, t, 2000, 60, count_dlq, &d);
    fprintf(stderr, "dead letters of %s: %u event, %u partial, %u input, %u unexpected\n",
            gr->prefix, d.event, d.partial, d.decode, d.bad);
    return d;
}

/* ---- comparison with the reference ----------------------------------------------------- */

static uint32_t diff_ids(const idset *a, const idset *b, const char *what)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->n; i++)
        if (!idset_has(b, a->ids[i]) && ++n <= 5)
            fprintf(stderr, "%s: %s\n", what, a->ids[i]);
    return n;
}

/* Whether gr's read_committed outputs equal the reference's a; with assert_all each
 * difference fails the test, else they are printed only. */
static bool same_outputs(const outputs *a, const group *gr, bool assert_all)
{
    outputs b;
    read_outputs_with(g_conf, gr->prefix, &b);
    idset ga, gb;
    pd_kscale_goal_level(a, &ga);
    pd_kscale_goal_level(&b, &gb);
    uint32_t missing = diff_ids(&a->per_resource, &b.per_resource, "missing");
    uint32_t extra = diff_ids(&b.per_resource, &a->per_resource, "extra");
    uint32_t gmissing = diff_ids(&ga, &gb, "goal-level missing");
    uint32_t gextra = diff_ids(&gb, &ga, "goal-level extra");
    uint32_t excess = count_excess(&b.raw, &a->raw);
    uint32_t values = 0;
    for (uint32_t i = 0; i < a->ngoals; i++) {
        uint32_t j = 0;
        while (j < b.ngoals && strcmp(b.goals[j], a->goals[i]))
            j++;
        if (j == b.ngoals || b.has_value[j] != a->has_value[i] ||
            (a->has_value[i] && fabs(b.values[j] - a->values[i]) > 0.006)) {
            values++;
            fprintf(stderr, "goal %s: %s %.4f, reference %.4f\n", a->goals[i], gr->prefix,
                    j < b.ngoals ? b.values[j] : NAN, a->values[i]);
        }
    }
    fprintf(stderr,
            "%s: %u signal ids (%u per resource), %u goals; per-resource missing %u, extra %u; "
            "goal-level (reference %u) missing %u, extra %u; repeats beyond the reference's %u; "
            "goal values differing %u\n",
            gr->prefix, b.all.n, b.per_resource.n, b.ngoals, missing, extra, ga.n, gmissing, gextra,
            excess, values);
    bool same =
        !missing && !extra && !gmissing && !gextra && !excess && !values && b.ngoals == a->ngoals;
    if (assert_all) {
        assert_int_equal(missing, 0);
        assert_int_equal(extra, 0);
        assert_int_equal(gmissing, 0);
        assert_int_equal(gextra, 0);
        assert_int_equal(excess, 0);
        assert_int_equal(values, 0);
        assert_int_equal(b.ngoals, a->ngoals);
    }
    free(ga.ids);
    free(gb.ids);
    outputs_free(&b);
    return same;
}

/* ---- setup, reference ------------------------------------------------------------------ */

static group g_ref;
static outputs g_ref_out;
static bool g_ref_done;
static pid_t g_ref_pid = -1;

static void reference_start(void)
{
    if (g_ref_done || g_ref_pid > 0)
        return;
    group_init(&g_ref, "pd-hostile-ref");
    g_ref_pid = start(&g_ref, 1);
}

static void reference_finish(void)
{
    if (g_ref_done)
        return;
    reference_start();
    int rc = pd_ktest_wait_exit(g_ref_pid, 240);
    g_ref_pid = -1;
    show(&g_ref, 1);
    assert_int_equal(rc, 0);
    read_outputs_with(g_conf, g_ref.prefix, &g_ref_out);
    idset ga;
    pd_kscale_goal_level(&g_ref_out, &ga);
    fprintf(stderr, "reference: %u signal ids (%u per resource, %u goal-level), %u goals\n",
            g_ref_out.all.n, g_ref_out.per_resource.n, ga.n, g_ref_out.ngoals);
    /* something to compare: per-resource signals, goal flips, every goal's status */
    assert_true(g_ref_out.per_resource.n > 100);
    assert_true(ga.n > 0);
    assert_true(g_ref_out.ngoals >= 5);
    assert_int_equal(g_ref_out.dlq, g_bad);
    free(ga.ids);
    g_ref_done = true;
}

static int setup(void **state)
{
    (void)state;
    g_bootstrap = pd_ktest_bootstrap();
    g_bin = getenv("PD_BIN");
    g_src = getenv("PD_SOURCE_DIR");
    if (!g_bootstrap || !g_bin || !g_src) {
        fprintf(stderr, "PD_KAFKA_BOOTSTRAP, PD_BIN and PD_SOURCE_DIR are required\n");
        return -1;
    }
    snprintf(g_dir, sizeof(g_dir), "%s/pd-hostile-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    pd_kafka_conf_new(&g_conf);
    pd_kafka_conf_set(g_conf, "bootstrap.servers", g_bootstrap);
    pd_kafka_conf_set(g_conf, "isolation.level", "read_committed");
    if (produce_input() != 0)
        return -1;
    prod_open();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    if (g_ref_pid > 0) {
        kill(g_ref_pid, SIGKILL);
        pd_ktest_wait_exit(g_ref_pid, 10);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (g_dir[0] && !getenv("PD_TEST_KEEP") && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    if (g_ref_done)
        outputs_free(&g_ref_out);
    if (g_prod)
        rd_kafka_destroy(g_prod);
    pd_kafka_conf_destroy(g_conf);
    return 0;
}

/* Runs gr to its end (exit 0 on idle) and checks what every run must show. */
static logscan run_to_end(const group *gr, int n)
{
    int64_t t0 = pd_ktest_now_ms();
    pid_t pid = start(gr, n);
    int rc = pd_ktest_wait_exit(pid, 240);
    show(gr, n);
    fprintf(stderr, "run %d: exit %d in %.1f s\n", n, rc,
            (double)(pd_ktest_now_ms() - t0) / 1000.0);
    assert_int_equal(rc, 0);
    logscan s = scan_log(gr, n, "not restored");
    assert_int_equal(s.hits, 0);
    assert_true(s.restored_parts >= NPART); /* every state partition restored, garbage and all */
    assert_true(s.fold_restores >= 1);
    return s;
}

/* ---- the test ------------------------------------------------------------------------ */

static void test_hostile(void **state)
{
    (void)state;
    int64_t t0 = pd_ktest_now_ms();
    group h;
    group_init(&h, "pd-hostile");
    create_internal(&h);
    garbage_state_changelog(&h, false, 0);
    uint32_t goal_stale = garbage_goals_changelog(&h);

    /* run 1, next to the reference: killed once its state stage committed 40% of the input
     * (the route stage may have some left: a restarted route stage must not wait for input
     * partitions it already consumed to their end) */
    reference_start();
    char e[256], route_group[160];
    snprintf(route_group, sizeof(route_group), "%s-group", h.prefix);
    rd_kafka_t *cr[2];
    const char *gids[2] = {h.state_group, route_group};
    for (int i = 0; i < 2; i++) {
        rd_kafka_conf_t *cc = rd_kafka_conf_new();
        rd_kafka_conf_set(cc, "bootstrap.servers", g_bootstrap, e, sizeof(e));
        rd_kafka_conf_set(cc, "group.id", gids[i], e, sizeof(e));
        cr[i] = rd_kafka_new(RD_KAFKA_CONSUMER, cc, e, sizeof(e));
        assert_non_null(cr[i]);
    }
    pid_t pid = start(&h, 1);
    int64_t target = (int64_t)g_total * 4 / 10, sum = 0, routed = 0;
    int st = 0;
    bool gone = false;
    while ((sum = pd_kscale_committed_sum(cr[0], h.events, NPART)) < target &&
           pd_ktest_now_ms() - t0 < 120000 && !(gone = waitpid(pid, &st, WNOHANG) == pid))
        usleep(20000);
    routed = pd_kscale_committed_sum(cr[1], g_topic, NPART);
    rd_kafka_destroy(cr[0]);
    rd_kafka_destroy(cr[1]);
    if (gone) {
        show(&h, 1);
        fail_msg("run 1 ended before the kill (status %d)", st);
    }
    kill(pid, SIGKILL);
    int rc = pd_ktest_wait_exit(pid, 30);
    fprintf(stderr, "run 1 killed at %lld committed events, %lld routed (exit %d)\n",
            (long long)sum, (long long)routed, rc);
    assert_true(sum >= target);
    assert_int_equal(rc, 128 + SIGKILL);

    /* between runs: the stages' inputs and both changelogs */
    uint32_t bad = 0, dead_events = 0;
    garbage_events(&h, &bad, &dead_events);
    uint32_t dead_partials = garbage_partials(&h);
    bad += garbage_state_changelog(&h, true, 1);
    goal_stale += garbage_goals_changelog(&h);

    logscan s = run_to_end(&h, 2);
    /* the malformed records were counted (exactly, unless an aborted transaction made a
     * stage process some twice) and skipped at restore */
    fprintf(stderr,
            "run 2: %llu bad events (expected %u), fold restores %u with %llu-%llu stale "
            "(expected %u), %llu rewinds\n",
            (unsigned long long)s.bad_events, bad, s.fold_restores, (unsigned long long)s.stale_min,
            (unsigned long long)s.stale_max, goal_stale, (unsigned long long)s.rewinds);
    assert_true(s.state_events > 200); /* the rest of the input, after the restore */
    if (s.rewinds)
        assert_true(s.bad_events >= bad);
    else
        assert_int_equal(s.bad_events, bad);
    assert_int_equal(s.stale_min, goal_stale);
    assert_int_equal(s.stale_max, goal_stale);
    dlq_counts d = read_dlq(&h);
    assert_int_equal(d.event, dead_events);
    assert_int_equal(d.partial, dead_partials);
    assert_int_equal(d.decode, g_bad);
    assert_int_equal(d.bad, 0);

    /* after the end: a routed event again with a broken order header (dead-lettered; the
     * last one its resource applied, so outputs stay exact either way), real partials without a
     * valid tick header, more changelog garbage; run 3 restores it all and goes on */
    pick_ctx pe;
    memset(&pe, 0, sizeof(pe));
    pd_ktest_collect(g_conf, h.events, 2000, 60, pick_event, &pe);
    assert_true(pe.found);
    const char *const oh[] = {"postured.source", pe.best.source, "postured.order", "BAD"};
    put_h(h.events, pe.best.partition, pe.best.key, pe.best.klen, pe.best.val, pe.best.vlen, oh, 2);
    dead_events++; /* a broken order header: dead-lettered, not applied out of order */
    free(pe.best.val);
    partials_ctx pp;
    memset(&pp, 0, sizeof(pp));
    pd_ktest_collect(g_conf, h.partials, 2000, 60, pick_partial, &pp);
    assert_int_equal(pp.n, 2);
    put(h.partials, 0, pp.r[0].key, pp.r[0].klen, pp.r[0].val, pp.r[0].vlen);
    const char *const th[] = {"postured.tick", "BAD"};
    put_h(h.partials, 0, pp.r[1].key, pp.r[1].klen, pp.r[1].val, pp.r[1].vlen, th, 1);
    dead_partials += 2;
    free(pp.r[0].val);
    free(pp.r[1].val);
    prod_flush();
    garbage_state_changelog(&h, false, 2);
    int damaged = corrupt_snapshots(&h);
    goal_stale += garbage_goals_changelog(&h);

    s = run_to_end(&h, 3);
    if (damaged == 3) {
        /* refused, each partition restored from its changelog (outputs compared below) */
        assert_int_equal(count_lines(&h, 3, "moved aside"), 2);
        assert_int_equal(count_lines(&h, 3, "side file is missing or of another snapshot"), 1);
    } else {
        fprintf(stderr, "only %d snapshot(s) to damage: not checked\n", damaged);
    }
    assert_int_equal(s.stale_min, goal_stale);
    assert_int_equal(s.stale_max, goal_stale);
    d = read_dlq(&h);
    assert_int_equal(d.event, dead_events);
    assert_int_equal(d.partial, dead_partials);
    assert_int_equal(d.decode, g_bad);
    assert_int_equal(d.bad, 0);

    reference_finish();
    same_outputs(&g_ref_out, &h, true);
    fprintf(stderr, "hostile: %.1f s\n", (double)(pd_ktest_now_ms() - t0) / 1000.0);
}

/* ---- gaps -----------------------------------------------------------------------------------
 * Malformed records that used to stall or stop a stage, one group each, all run at once. */

enum { GAP_WM_NSRC, GAP_MARK_PART, GAP_FM_COUNT, GAP_GOALS_KEY, GAP_BUF_KEY, NGAPS };
static const char *const gap_name[NGAPS] = {
    "events \"#wm\" of 13 sources (the input has 12)", "partials \"#m\" of partition 12 (of 12)",
    "goals changelog \"#fm\" of 13 partitions",        "goals changelog key without '#'",
    "state changelog \"#buf:\" key of 5 bytes",
};

static void gap_inject(const group *gr, int gap)
{
    unsigned char v[160];
    memset(v, 0, sizeof(v));
    switch (gap) {
    case GAP_WM_NSRC:
        /* a source this run does not have, never heard of again: holds partition 5 back */
        pd_be32_put(v, NPART + 1);
        pd_be32_put(v + 4, 0);
        pd_be64_put(v + 8, g_first_ts);
        put(gr->events, 5, "#wm", 3, v, 17);
        break;
    case GAP_MARK_PART:
        pd_be32_put(v, NPART);
        pd_be64_put(v + 4, 0);
        put(gr->partials, 0, "#m", 2, v, 12);
        break;
    case GAP_FM_COUNT:
        pd_be64_put(v, INT64_MIN);
        pd_be64_put(v + 8, INT64_MIN);
        pd_be32_put(v + 16, NPART + 1);
        for (int i = 0; i <= NPART; i++)
            pd_be64_put(v + 20 + 8 * i, INT64_MIN);
        put(gr->goals, 0, "#fm", 3, v, 20 + 8 * (NPART + 1));
        break;
    case GAP_GOALS_KEY:
        put(gr->goals, 0, "BAD-key", 7, "BAD", 3);
        break;
    case GAP_BUF_KEY:
        put(gr->changelog, 2, "#buf:BADBA", 10, "BAD", 3);
        break;
    }
    prod_flush();
}

static void test_gaps(void **state)
{
    (void)state;
    reference_start();
    group g[NGAPS];
    pid_t pid[NGAPS];
    for (int i = 0; i < NGAPS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "pd-hostile-gap%d", i);
        group_init(&g[i], name);
        create_internal(&g[i]);
        gap_inject(&g[i], i);
        pid[i] = start(&g[i], 1);
    }
    reference_finish();
    uint32_t failed = 0;
    for (int i = 0; i < NGAPS; i++) {
        int rc = pd_ktest_wait_exit(pid[i], 240);
        show(&g[i], 1);
        bool same = rc == 0 && same_outputs(&g_ref_out, &g[i], false);
        fprintf(stderr, "gap %d, %s: exit %d, outputs %s\n", i, gap_name[i], rc,
                rc     ? "not compared"
                : same ? "equal the reference"
                       : "differ");
        failed += !same;
    }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_gaps),
    };
    if (getenv("PD_HOSTILE_CASE"))
        cmocka_set_test_filter(getenv("PD_HOSTILE_CASE"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
