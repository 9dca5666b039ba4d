/* pd_scale.c: route, state and goal stages of a scaled-out run (see pd_scale.h). */
#include "pd_scale.h"

#include "pd_engine.h"
#include "pd_event_pack.h"
#include "pd_goalfold.h"
#include "pd_log.h"
#include "pd_runtime.h"
#include "pd_snapshot.h"
#include "pd_store.h"
#include "pd_time.h"

#include <errno.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

enum { ST_ROUTE = 0, ST_STATE, ST_GOALS, NSTAGES };
static const char *const stage_name[NSTAGES] = {"route", "state", "goals"};
#define SOURCE_HEADER "postured.source"

typedef struct task {
    pd_scale *s;
    int32_t partition;
    pd_processor *proc;
    pd_store *store;
    pd_buf *last;        /* per goal: the partial last offered, packed at time 0 */
    uint8_t *last_dirty; /* per goal: last changed since the checkpoint */
    /* goal ticks (see "Ticks" below) */
    int64_t tick;       /* the tick of the newest event applied (INT64_MIN: none) */
    bool tick_dirty;    /* tick changed since the checkpoint */
    bool offer_dirty;   /* an event was applied since the last offer */
    bool snap_dirty;    /* changed since the last local snapshot */
    int64_t snap_at_ms; /* monotonic time of the last local snapshot (0: none) */
    int64_t mark_sent;  /* the last mark published */
    int64_t idle_since_ms;
    pd_buf offers; /* partials not published yet: be32 goal, be64 tick, be32 len, partial */
    /* event-time order across sources (see "Order" below) */
    uint32_t nsrc;
    int64_t *wm;       /* per source: newest input timestamp routed (PD_TIME_NONE: none) */
    uint8_t *idle;     /* per source: caught up with its input */
    uint8_t *known;    /* per source: heard of */
    bool wm_dirty;     /* the table changed since the last checkpoint */
    struct pend *heap; /* events waiting for the watermark, min-heap by (ts, src, off) */
    uint32_t nheap, capheap;
    uint64_t heap_bytes;   /* held by the heap's events (state.reorder_buffer_mb caps it) */
    struct pend_key *tomb; /* released events whose "#buf" record must be deleted */
    uint32_t ntomb, captomb;
} task;

struct pd_scale {
    pd_scale_opts o;
    char *t_events, *t_changelog, *t_partials, *t_goals_changelog, *instance;
    int64_t tick_ms, idle_close_ms;
    char *groups[NSTAGES];
    int32_t nparts;
    pd_runtime *rt[NSTAGES];
    pd_kafka_conf *pconf;
    pd_processor_opts popts;
    pd_processor *tmpl; /* the goal set of the goal stage */
    uint32_t ngoals;
    pd_decoder *dec;
    pd_event_unpacker *unp;
    pd_buf buf, key;
    pd_goal_partial gp; /* reused */
    /* route: input partitions as sources (see "Order") */
    uint32_t nsrc, *src_base; /* per input: index of its partition 0 */
    int32_t *src_count;       /* per input: partitions */
    int64_t *src_max, *src_sent;
    uint8_t *src_idle_sent;
    int64_t cur_ts, cur_off;
    uint32_t cur_src;
    pd_str cur_source;
    task **tasks; /* by partition */
    uint32_t ntasks;
    /* local snapshots of state partitions (state.dir, state.snapshot_interval) */
    char *snap_dir;
    pd_snapwriter *snapw;
    int64_t snap_interval_ms;
    uint32_t snap_next;
    _Atomic int64_t *cl_delivered; /* per changelog partition: newest offset acknowledged */
    uint64_t snapshots, snapshot_bytes, restored_from_snapshot, tail_records;
    pd_goalfold *fold;
    bool fold_ready; /* restored from the goal changelog since the assignment */
    pd_store *fold_store;
    struct event *ev_idle;
    bool stopping, failed;
    uint32_t drained;
    uint64_t decode_errors, routed, bad_events, bad_partials, stale_partials, restores;
    uint64_t offers, marks, fold_restores;
    uint64_t reorder_cap, reorder_forced, reorder_forced_warned;
    uint64_t restored_records;
    double restore_seconds;
};

/* ---- partitioning --------------------------------------------------------------------- */

/* Kafka's murmur2 (the Java client's default partitioner for keyed records). */
static uint32_t murmur2(const unsigned char *d, size_t n)
{
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ (uint32_t)n;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t k = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 | (uint32_t)d[i + 2] << 16 |
                     (uint32_t)d[i + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (n - i) {
    case 3:
        h ^= (uint32_t)d[i + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)d[i + 1] << 8;
        /* fall through */
    case 1:
        h ^= d[i];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t pd_scale_partition(pd_str canon, int32_t npartitions)
{
    if (npartitions <= 1)
        return 0;
    return (int32_t)((murmur2((const unsigned char *)canon.p, canon.len) & 0x7fffffffu) %
                     (uint32_t)npartitions);
}

/* ---- order -----------------------------------------------------------------------------
 * A state partition receives events from every input partition (a "source"), routed by
 * whichever instance owns that source, so their interleaving depends on the layout. To apply
 * them in an order that does not, each routed event carries (input timestamp, source index,
 * input offset) in the header postured.order, and the route stage tells every state
 * partition, per commit, how far each source it owns has been routed ("#wm" records: the
 * newest input timestamp, and whether the source is caught up). A state partition buffers
 * events and applies them in (timestamp, source, offset) order once every source that is not
 * caught up has been routed past their timestamp: the sequence one instance would apply after
 * its timestamp-ordered merge of the inputs, whatever the number of instances. Buffered events
 * and the table are changelogged ("#buf:", "#wm"), so a crash loses neither. Input timestamps
 * must not go backwards within a partition (CreateTime from one producer, or LogAppendTime);
 * an event older than what was applied is applied at once. */

#define ORDER_HEADER "postured.order"
#define WM_KEY       "#wm"
#define BUF_PREFIX   "#buf:"
#define TICK_KEY     "#tk"
#define LAST_PREFIX  "#last:"
#define TICK_HEADER  "postured.tick"
#define MARK_KEY     "#m"

typedef struct pend_key {
    uint32_t src;
    int64_t off;
} pend_key;

typedef struct pend {
    int64_t ts, off;
    uint32_t src;
    bool written;
    char *data; /* source name (NUL-terminated), then the packed event */
    uint32_t nlen, len;
} pend;

static bool pend_less(const pend *a, const pend *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts;
    if (a->src != b->src)
        return a->src < b->src;
    return a->off < b->off;
}

static void heap_up(pend *h, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!pend_less(&h[i], &h[p]))
            break;
        pend t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void heap_down(pend *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && pend_less(&h[l], &h[m]))
            m = l;
        if (r < n && pend_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        pend t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int task_sources(task *t, uint32_t nsrc)
{
    if (nsrc <= t->nsrc)
        return 0;
    if (nsrc > 1u << 20)
        return PD_EINVAL;
    int64_t *wm = realloc(t->wm, nsrc * sizeof(*wm));
    if (wm)
        t->wm = wm;
    uint8_t *idle = realloc(t->idle, nsrc), *known = idle ? realloc(t->known, nsrc) : NULL;
    if (idle)
        t->idle = idle;
    if (known)
        t->known = known;
    if (!wm || !idle || !known)
        return PD_ENOMEM;
    for (uint32_t i = t->nsrc; i < nsrc; i++) {
        t->wm[i] = PD_TIME_NONE;
        t->idle[i] = 0;
        t->known[i] = 0;
    }
    t->nsrc = nsrc;
    return 0;
}

static int pend_push(task *t, int64_t ts, uint32_t src, int64_t off, pd_str source,
                     const void *data, size_t len, bool written)
{
    if (t->nheap == t->capheap) {
        uint32_t cap = t->capheap ? t->capheap * 2 : 256;
        pend *h = realloc(t->heap, cap * sizeof(*h));
        if (!h)
            return PD_ENOMEM;
        t->heap = h;
        t->capheap = cap;
    }
    pend *e = &t->heap[t->nheap];
    e->data = malloc((size_t)source.len + 1 + len);
    if (!e->data)
        return PD_ENOMEM;
    t->heap_bytes += (uint64_t)source.len + 1 + len;
    memcpy(e->data, source.p, source.len);
    e->data[source.len] = '\0';
    memcpy(e->data + source.len + 1, data, len);
    e->nlen = source.len;
    e->len = (uint32_t)len;
    e->ts = ts;
    e->src = src;
    e->off = off;
    e->written = written;
    heap_up(t->heap, t->nheap++);
    return 0;
}

static int tomb_push(task *t, uint32_t src, int64_t off)
{
    if (t->ntomb == t->captomb) {
        uint32_t cap = t->captomb ? t->captomb * 2 : 256;
        pend_key *a = realloc(t->tomb, cap * sizeof(*a));
        if (!a)
            return PD_ENOMEM;
        t->tomb = a;
        t->captomb = cap;
    }
    t->tomb[t->ntomb++] = (pend_key){src, off};
    return 0;
}

/* The timestamp below which every source has been routed: INT64_MAX when every source is
 * caught up, INT64_MIN while one is unheard of. */
static int64_t task_watermark(const task *t)
{
    if (t->nsrc == 0)
        return INT64_MIN;
    int64_t w = INT64_MAX;
    for (uint32_t i = 0; i < t->nsrc; i++) {
        if (t->idle[i])
            continue;
        if (!t->known[i] || t->wm[i] == PD_TIME_NONE)
            return INT64_MIN;
        if (t->wm[i] < w)
            w = t->wm[i];
    }
    return w;
}

static int apply_packed(pd_scale *s, task *t, const char *data, size_t len, pd_str source)
{
    pd_event ev;
    const char *why = NULL;
    if (pd_event_unpack(s->unp, data, len, &ev, &why) != 0) {
        s->bad_events++;
        pd_log_warn("state", "partition %d: buffered event unreadable: %s", (int)t->partition,
                    why ? why : "?");
        return 0;
    }
    return pd_processor_feed_event(t->proc, &ev, source);
}

/* ---- ticks ------------------------------------------------------------------------------
 * Goal-level signals come from the sum of every partition's partial aggregate, so they
 * depend on which partial of each partition the sum takes. To make them independent of the
 * layout and of commit timing, a partition offers its partials per tick (state.goal_tick of
 * input time): when it is about to apply the first event of a later tick, each goal's partial
 * that changed since the last offer is queued, tagged with the tick just completed; per commit
 * the queue goes to the partials topic with a mark, "every tick below M offered", where M
 * follows the watermark. The goal stage evaluates a tick once every partition marked past it
 * (pd_goalfold.h). With every source caught up, the watermark is the newest timestamp routed:
 * that tick stays open until a later one starts, or for state.goal_tick_idle_close while
 * nothing comes. */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Queues the partials that changed since the last offer, tagged with t->tick. */
static int task_offer_changed(pd_scale *s, task *t)
{
    pd_engine *e = pd_processor_engine(t->proc);
    const pd_goal_set *gs = pd_processor_goals(t->proc);
    int64_t now = pd_engine_now(e);
    t->offer_dirty = false;
    for (uint32_t gi = 0; gi < s->ngoals; gi++) {
        const pd_goal *g = pd_goal_set_at(gs, gi);
        int rc = pd_engine_goal_partial(e, gi, &s->gp);
        pd_buf_reset(&s->buf);
        if (!rc)
            rc = pd_goal_partial_pack(g, (uint32_t)t->partition, 0, &s->gp, &s->buf);
        if (rc)
            return rc;
        pd_buf *last = &t->last[gi];
        if (last->len == s->buf.len && !memcmp(last->p, s->buf.p, s->buf.len))
            continue;
        pd_buf_reset(last);
        pd_buf_append(last, s->buf.p, s->buf.len);
        t->last_dirty[gi] = 1;
        unsigned char h[16];
        size_t at = t->offers.len;
        pd_be32_put(h, gi);
        pd_be64_put(h + 4, t->tick);
        pd_buf_append(&t->offers, h, 16);
        if ((rc = pd_goal_partial_pack(g, (uint32_t)t->partition, now, &s->gp, &t->offers)) != 0)
            return rc;
        pd_be32_put((unsigned char *)t->offers.p + at + 12, (uint32_t)(t->offers.len - at - 16));
        if (t->offers.oom || last->oom)
            return PD_ENOMEM;
    }
    return 0;
}

/* Before an event of input time ts is applied: a later tick completes the current one. */
static int task_tick(pd_scale *s, task *t, int64_t ts)
{
    int64_t b = floor_div(ts, s->tick_ms);
    if (t->tick != INT64_MIN && b <= t->tick)
        return 0;
    int rc = t->tick != INT64_MIN && t->offer_dirty ? task_offer_changed(s, t) : 0;
    t->tick = b;
    t->tick_dirty = true;
    return rc;
}

/* The mark: the ticks below it are complete here (INT64_MIN: none known). */
static int64_t task_mark(pd_scale *s, task *t)
{
    int64_t w = task_watermark(t);
    if (w == INT64_MIN)
        return INT64_MIN;
    if (w != INT64_MAX) {
        t->idle_since_ms = 0;
        return floor_div(w, s->tick_ms);
    }
    /* every source caught up: complete below the newest tick routed, and that one too once
     * nothing came for idle_close */
    int64_t newest = INT64_MIN;
    for (uint32_t i = 0; i < t->nsrc; i++)
        if (t->known[i] && t->wm[i] != PD_TIME_NONE && t->wm[i] > newest)
            newest = t->wm[i];
    if (newest == INT64_MIN)
        return INT64_MIN;
    int64_t now = pd_monotonic_ms();
    if (!t->idle_since_ms)
        t->idle_since_ms = now;
    int64_t m = floor_div(newest, s->tick_ms);
    return now - t->idle_since_ms >= s->idle_close_ms ? m + 1 : m;
}

/* Per commit: the offers that completed ticks allow, the mark, and what a restore needs. */
static int task_put_ticks(pd_scale *s, task *t, pd_runtime *rt)
{
    int64_t m = task_mark(s, t);
    int rc = 0;
    if (m != INT64_MIN && t->tick != INT64_MIN && t->tick < m && t->offer_dirty &&
        (rc = task_offer_changed(s, t)) != 0)
        return rc;
    const pd_goal_set *gs = pd_processor_goals(t->proc);
    for (size_t off = 0; off + 16 <= t->offers.len && !rc;) {
        const unsigned char *h = (const unsigned char *)t->offers.p + off;
        uint32_t gi = pd_be32_get(h), len = pd_be32_get(h + 12);
        pd_buf_reset(&s->key);
        pd_buf_printf(&s->key, "%s\x1f%d", pd_goal_set_at(gs, gi)->id, (int)t->partition);
        rd_kafka_headers_t *hd = rd_kafka_headers_new(1);
        rd_kafka_header_add(hd, TICK_HEADER, -1, h + 4, 8);
        if (s->key.oom)
            rc = PD_ENOMEM;
        else
            rc = pd_runtime_produce(rt, s->t_partials, 0, s->key.p, s->key.len, h + 16, len, hd);
        s->offers++;
        off += 16 + len;
    }
    pd_buf_reset(&t->offers);
    if (!rc && m != INT64_MIN && m > t->mark_sent) {
        unsigned char v[12];
        pd_be32_put(v, (uint32_t)t->partition);
        pd_be64_put(v + 4, m);
        rc = pd_runtime_produce(rt, s->t_partials, 0, MARK_KEY, sizeof(MARK_KEY) - 1, v, sizeof(v),
                                NULL);
        t->mark_sent = m;
        s->marks++;
    }
    for (uint32_t gi = 0; gi < s->ngoals && !rc; gi++) {
        if (!t->last_dirty[gi])
            continue;
        pd_buf_reset(&s->key);
        pd_buf_puts(&s->key, LAST_PREFIX);
        pd_buf_puts(&s->key, pd_goal_set_at(gs, gi)->id);
        if (s->key.oom)
            return PD_ENOMEM;
        rc = pd_runtime_produce_state(rt, s->t_changelog, t->partition, s->key.p, s->key.len,
                                      t->last[gi].p, t->last[gi].len);
        t->last_dirty[gi] = 0;
    }
    if (!rc && t->tick_dirty) {
        unsigned char v[8];
        pd_be64_put(v, t->tick);
        rc = pd_runtime_produce_state(rt, s->t_changelog, t->partition, TICK_KEY,
                                      sizeof(TICK_KEY) - 1, v, 8);
        t->tick_dirty = false;
    }
    return rc;
}

/* Applies the buffered events the watermark allows, oldest first. Over the buffer's cap (a
 * source that is behind and silent holds everything back) the oldest go anyway: memory is
 * bounded, and the order is then the arrival's (counted, warned once per partition). */
static int task_release(pd_scale *s, task *t)
{
    int64_t w = task_watermark(t);
    while (t->nheap > 0) {
        if (w != INT64_MAX && t->heap[0].ts >= w) {
            if (t->heap_bytes <= s->reorder_cap)
                break;
            if (!s->reorder_forced_warned++)
                pd_log_warn("state",
                            "partition %d: reorder buffer over state.reorder_buffer_mb (a "
                            "source is behind): applying its oldest events before their turn",
                            (int)t->partition);
            s->reorder_forced++;
        }
        pend e = t->heap[0];
        t->heap[0] = t->heap[--t->nheap];
        t->heap_bytes -= (uint64_t)e.nlen + 1 + e.len;
        heap_down(t->heap, t->nheap, 0);
        int rc = task_tick(s, t, e.ts);
        if (!rc)
            rc = apply_packed(s, t, e.data + e.nlen + 1, e.len, (pd_str){e.data, e.nlen});
        if (!rc && e.written)
            rc = tomb_push(t, e.src, e.off);
        free(e.data);
        if (rc)
            return rc;
    }
    return 0;
}

/* A route stage's "#wm" record: nsrc u32, src u32, timestamp i64 (INT64_MIN: none), idle u8. */
static int task_heartbeat(pd_scale *s, task *t, const unsigned char *v, size_t len)
{
    if (len != 17) {
        s->bad_events++;
        return 0;
    }
    uint32_t nsrc = pd_be32_get(v), src = pd_be32_get(v + 4);
    int64_t ts = pd_be64_get(v + 8);
    /* the sources are this pipeline's input partitions: another count is another
     * configuration's (or garbage), and an unknown source would hold everything back */
    if (nsrc != s->nsrc || src >= nsrc || v[16] > 1) {
        s->bad_events++;
        return 0;
    }
    int rc = task_sources(t, nsrc);
    if (rc)
        return rc;
    if (ts != INT64_MIN && (t->wm[src] == PD_TIME_NONE || ts > t->wm[src]))
        t->wm[src] = ts;
    t->known[src] = 1;
    t->idle[src] = v[16] != 0;
    t->wm_dirty = true;
    return task_release(s, t);
}

/* A "#buf:" key: the prefix, source (be32), offset (be64). */
#define BUF_KEY_LEN (sizeof(BUF_PREFIX) - 1 + 12)
static void buf_key(unsigned char *key, uint32_t src, int64_t off)
{
    memcpy(key, BUF_PREFIX, sizeof(BUF_PREFIX) - 1);
    pd_be32_put(key + sizeof(BUF_PREFIX) - 1, src);
    pd_be64_put(key + sizeof(BUF_PREFIX) - 1 + 4, off);
}

/* A "#buf:" value: timestamp (be64), the source name, NUL, the packed event. */
static int buf_value(const pend *e, pd_buf *out)
{
    pd_buf_reset(out);
    unsigned char ts[8];
    pd_be64_put(ts, e->ts);
    pd_buf_append(out, ts, 8);
    pd_buf_append(out, e->data, (size_t)e->nlen + 1 + e->len);
    return out->oom ? PD_ENOMEM : 0;
}

/* The "#wm" value: the source table. */
static int wm_value(const task *t, pd_buf *out)
{
    pd_buf_reset(out);
    unsigned char n[4];
    pd_be32_put(n, t->nsrc);
    pd_buf_append(out, n, 4);
    for (uint32_t i = 0; i < t->nsrc; i++) {
        unsigned char r[10];
        pd_be64_put(r, t->wm[i] == PD_TIME_NONE ? INT64_MIN : t->wm[i]);
        r[8] = t->idle[i];
        r[9] = t->known[i];
        pd_buf_append(out, r, 10);
    }
    return out->oom ? PD_ENOMEM : 0;
}

/* The table and the buffered events into the changelog (from the state checkpoint). */
static int task_put_order(pd_scale *s, task *t, pd_runtime *rt)
{
    int rc = 0;
    unsigned char key[BUF_KEY_LEN];
    for (uint32_t i = 0; i < t->ntomb && !rc; i++) {
        buf_key(key, t->tomb[i].src, t->tomb[i].off);
        rc = pd_runtime_produce_state(rt, s->t_changelog, t->partition, key, sizeof(key), NULL, 0);
    }
    t->ntomb = 0;
    for (uint32_t i = 0; i < t->nheap && !rc; i++) {
        pend *e = &t->heap[i];
        if (e->written)
            continue;
        buf_key(key, e->src, e->off);
        if ((rc = buf_value(e, &s->buf)) != 0)
            return rc;
        rc = pd_runtime_produce_state(rt, s->t_changelog, t->partition, key, sizeof(key), s->buf.p,
                                      s->buf.len);
        e->written = true;
    }
    if (!rc && t->wm_dirty && t->nsrc > 0) {
        if ((rc = wm_value(t, &s->buf)) != 0)
            return rc;
        rc = pd_runtime_produce_state(rt, s->t_changelog, t->partition, WM_KEY, sizeof(WM_KEY) - 1,
                                      s->buf.p, s->buf.len);
        t->wm_dirty = false;
    }
    return rc;
}

/* A local snapshot's side records of the task: what task_restore_hook reads. */
static int task_export(void *ctx, pd_store_record_fn put, void *put_ctx)
{
    task *t = ctx;
    pd_scale *s = t->s;
    int rc = 0;
    unsigned char key[BUF_KEY_LEN];
    for (uint32_t i = 0; i < t->nheap && !rc; i++) {
        buf_key(key, t->heap[i].src, t->heap[i].off);
        if (!(rc = buf_value(&t->heap[i], &s->buf)))
            rc = put(put_ctx, key, sizeof(key), s->buf.p, s->buf.len);
    }
    if (!rc && t->nsrc > 0 && !(rc = wm_value(t, &s->buf)))
        rc = put(put_ctx, WM_KEY, sizeof(WM_KEY) - 1, s->buf.p, s->buf.len);
    if (!rc && t->tick != INT64_MIN) {
        unsigned char v[8];
        pd_be64_put(v, t->tick);
        rc = put(put_ctx, TICK_KEY, sizeof(TICK_KEY) - 1, v, 8);
    }
    const pd_goal_set *gs = pd_processor_goals(t->proc);
    for (uint32_t gi = 0; gi < s->ngoals && !rc; gi++) {
        if (!t->last[gi].len)
            continue;
        pd_buf_reset(&s->key);
        pd_buf_puts(&s->key, LAST_PREFIX);
        pd_buf_puts(&s->key, pd_goal_set_at(gs, gi)->id);
        rc = s->key.oom ? PD_ENOMEM
                        : put(put_ctx, s->key.p, s->key.len, t->last[gi].p, t->last[gi].len);
    }
    return rc;
}

/* Restore: "#wm", "#buf:", "#tk" and "#last:" records of the task's changelog partition. */
static int task_restore_hook(void *ctx, const void *key, size_t klen, const void *value,
                             size_t vlen)
{
    task *t = ctx;
    const unsigned char *v = value;
    if (klen == sizeof(TICK_KEY) - 1 && !memcmp(key, TICK_KEY, klen)) {
        if (v && vlen != 8)
            return PD_ESTATE;
        t->tick = v ? pd_be64_get(v) : INT64_MIN;
        return 0;
    }
    if (klen >= sizeof(LAST_PREFIX) - 1 && !memcmp(key, LAST_PREFIX, sizeof(LAST_PREFIX) - 1)) {
        uint32_t gi, part;
        int64_t tm;
        pd_str id = {(const char *)key + sizeof(LAST_PREFIX) - 1,
                     (uint32_t)(klen - (sizeof(LAST_PREFIX) - 1))},
               pid;
        if (pd_goal_set_index(pd_processor_goals(t->proc), id, &gi) != 0)
            return PD_ESTATE; /* a goal this goal set does not have */
        /* a partial of this goal and partition, or it is skipped (offered again) */
        if (v && (pd_goal_partial_unpack(v, vlen, &pid, &part, &tm, &t->s->gp, NULL) != 0 ||
                  !pd_str_eq(pid, id) || part != (uint32_t)t->partition))
            return PD_ESTATE;
        pd_buf_reset(&t->last[gi]);
        if (v)
            pd_buf_append(&t->last[gi], v, vlen);
        return t->last[gi].oom ? PD_ENOMEM : 0;
    }
    if (klen == sizeof(WM_KEY) - 1 && !memcmp(key, WM_KEY, klen)) {
        if (!v)
            return 0;
        if (vlen < 4 || (vlen - 4) % 10 || pd_be32_get(v) != (vlen - 4) / 10 ||
            pd_be32_get(v) != t->s->nsrc)
            return PD_ESTATE;
        uint32_t n = pd_be32_get(v);
        int rc = task_sources(t, n);
        if (rc)
            return rc;
        for (uint32_t i = 0; i < n; i++) {
            int64_t w = pd_be64_get(v + 4 + 10 * i);
            t->wm[i] = w == INT64_MIN ? PD_TIME_NONE : w;
            t->idle[i] = v[4 + 10 * i + 8];
            t->known[i] = v[4 + 10 * i + 9];
        }
        return 0;
    }
    if (klen < sizeof(BUF_PREFIX) - 1 || memcmp(key, BUF_PREFIX, sizeof(BUF_PREFIX) - 1))
        return PD_ENOTFOUND;
    if (klen != sizeof(BUF_PREFIX) - 1 + 12)
        return PD_ESTATE;
    const unsigned char *kp = (const unsigned char *)key + sizeof(BUF_PREFIX) - 1;
    uint32_t src = pd_be32_get(kp);
    int64_t off = pd_be64_get(kp + 4);
    if (!v) {
        for (uint32_t i = 0; i < t->nheap; i++)
            if (t->heap[i].src == src && t->heap[i].off == off) {
                free(t->heap[i].data);
                t->heap_bytes -= (uint64_t)t->heap[i].nlen + 1 + t->heap[i].len;
                t->heap[i] = t->heap[--t->nheap];
                break;
            }
        return 0; /* re-heaped after the restore */
    }
    const char *nul = vlen > 8 ? memchr(v + 8, '\0', vlen - 8) : NULL;
    if (!nul)
        return PD_ESTATE;
    pd_str source = {(const char *)v + 8, (uint32_t)(nul - (const char *)v - 8)};
    size_t dl = vlen - 8 - source.len - 1;
    return pend_push(t, pd_be64_get(v), src, off, source, nul + 1, dl, true);
}

/* After the records: a proper heap again, then whatever the restored table allows. */
static int task_restored(pd_scale *s, task *t)
{
    t->offer_dirty = true; /* events of the open tick may not be offered yet: compare */
    for (uint32_t i = t->nheap / 2 + 1; i-- > 0;)
        heap_down(t->heap, t->nheap, i);
    return task_release(s, t);
}

/* ---- route ---------------------------------------------------------------------------- */

/* The source index of an input partition: inputs in pipeline order, then partition. */
static uint32_t src_index(const pd_scale *s, pd_str topic, int32_t partition)
{
    for (uint32_t i = 0; s->src_base && i < s->o.pl->ninputs; i++)
        if (pd_str_eq_c(topic, s->o.pl->inputs[i].topic))
            return partition >= 0 && partition < s->src_count[i]
                       ? s->src_base[i] + (uint32_t)partition
                       : UINT32_MAX;
    return UINT32_MAX;
}

/* Before each route commit: every owned source whose progress changed, to every state
 * partition (after the events routed so far, in the same transaction). */
static int route_checkpoint(void *ctx, pd_runtime *rt)
{
    pd_scale *s = ctx;
    uint32_t n = pd_runtime_partition_count(rt);
    for (uint32_t i = 0; i < n; i++) {
        const char *topic;
        int32_t part;
        bool caught_up;
        if (pd_runtime_partition_at(rt, i, &topic, &part, &caught_up) != 0)
            continue;
        uint32_t src = src_index(s, pd_str_c(topic), part);
        if (src == UINT32_MAX)
            continue;
        int64_t ts = s->src_max[src];
        if (ts == s->src_sent[src] && caught_up == (s->src_idle_sent[src] != 0))
            continue;
        if (ts == PD_TIME_NONE && !caught_up)
            continue; /* nothing to tell yet */
        unsigned char v[17];
        pd_be32_put(v, s->nsrc);
        pd_be32_put(v + 4, src);
        pd_be64_put(v + 8, ts == PD_TIME_NONE ? INT64_MIN : ts);
        v[16] = caught_up;
        for (int32_t p = 0; p < s->nparts; p++) {
            int rc = pd_runtime_produce_state(rt, s->t_events, p, WM_KEY, sizeof(WM_KEY) - 1, v,
                                              sizeof(v));
            if (rc)
                return rc;
        }
        s->src_sent[src] = ts;
        s->src_idle_sent[src] = caught_up;
    }
    return 0;
}

static int route_event(void *ctx, const pd_event *ev)
{
    pd_scale *s = ctx;
    pd_buf_reset(&s->buf);
    int rc = pd_event_pack(ev, &s->buf);
    if (rc)
        return rc;
    if (s->buf.oom)
        return PD_ENOMEM;
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, SOURCE_HEADER, -1, s->cur_source.p, (ssize_t)s->cur_source.len);
    if (s->cur_src != UINT32_MAX) {
        unsigned char o[20];
        pd_be64_put(o, s->cur_ts);
        pd_be32_put(o + 8, s->cur_src);
        pd_be64_put(o + 12, s->cur_off);
        rd_kafka_header_add(h, ORDER_HEADER, -1, o, sizeof(o));
    }
    s->routed++;
    return pd_runtime_produce(
        s->rt[ST_ROUTE], s->t_events, pd_scale_partition(ev->resource.canon, s->nparts),
        ev->resource.canon.p, ev->resource.canon.len, s->buf.p, s->buf.len, h);
}

static int route_feed(void *ctx, pd_runtime *rt, const char *msg, size_t len, pd_format format,
                      pd_str source)
{
    pd_scale *s = ctx;
    s->cur_source = source;
    s->cur_src = src_index(s, source, pd_runtime_partition(rt));
    if (s->cur_src != UINT32_MAX && pd_runtime_message(rt, &s->cur_ts, &s->cur_off) == 0 &&
        (s->src_max[s->cur_src] == PD_TIME_NONE || s->cur_ts > s->src_max[s->cur_src]))
        s->src_max[s->cur_src] = s->cur_ts;
    pd_decode_error err;
    memset(&err, 0, sizeof(err));
    int rc = pd_decode(s->dec, msg, len, format, route_event, s, &err);
    if (rc <= PD_EDECODE_FIRST && rc >= PD_EDEC_LAST) {
        s->decode_errors++;
        return pd_runtime_dead_letter(rt, pd_decode_error_name(rc), err.message, err.offset, msg,
                                      len);
    }
    return rc;
}

/* ---- state ---------------------------------------------------------------------------- */

static int task_signal(void *ctx, const pd_signal *sig)
{
    task *t = ctx;
    return pd_runtime_signal(t->s->rt[ST_STATE], sig);
}

static void task_applied(void *ctx, const pd_event *ev)
{
    task *t = ctx;
    t->offer_dirty = true;
    t->snap_dirty = true;
    pd_store_mark(t->store, pd_processor_engine(t->proc), ev->resource.canon);
}

static void task_destroy(task *t)
{
    if (!t)
        return;
    pd_store_destroy(t->store);
    pd_processor_destroy(t->proc);
    for (uint32_t i = 0; t->last && i < t->s->ngoals; i++)
        pd_buf_free(&t->last[i]);
    free(t->last);
    free(t->last_dirty);
    pd_buf_free(&t->offers);
    for (uint32_t i = 0; i < t->nheap; i++)
        free(t->heap[i].data);
    free(t->heap);
    free(t->tomb);
    free(t->wm);
    free(t->idle);
    free(t->known);
    free(t);
}

static int tasks_room(pd_scale *s, int32_t partition)
{
    if ((uint32_t)partition < s->ntasks)
        return 0;
    uint32_t n = (uint32_t)partition + 1;
    task **a = realloc(s->tasks, n * sizeof(*a));
    if (!a)
        return PD_ENOMEM;
    memset(a + s->ntasks, 0, (n - s->ntasks) * sizeof(*a));
    s->tasks = a;
    s->ntasks = n;
    return 0;
}

/* A partition's processor and store, empty (restore_tasks fills them). */
static int task_new(pd_scale *s, int32_t partition, task **out)
{
    int rc;
    char err[512] = "";
    pd_diag diag;
    memset(&diag, 0, sizeof(diag));
    task *t = calloc(1, sizeof(*t));
    if (!t)
        return PD_ENOMEM;
    t->s = s;
    t->partition = partition;
    t->tick = t->mark_sent = INT64_MIN;
    pd_buf_init(&t->offers);
    pd_processor_opts po = s->popts;
    po.signal_ctx = t;
    po.applied_ctx = t;
    if ((rc = pd_processor_create(&po, &t->proc, &diag)) != 0) {
        pd_log_error("state", "partition %d: %s", (int)partition, diag.msg);
        goto fail;
    }
    t->last = calloc(s->ngoals + 1, sizeof(*t->last));
    t->last_dirty = calloc(s->ngoals + 1, 1);
    if (!t->last || !t->last_dirty) {
        rc = PD_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < s->ngoals; i++)
        pd_buf_init(&t->last[i]);
    if ((rc = pd_store_create(s->o.base, s->o.consumer_conf, s->t_changelog, partition, 0, 15000,
                              &t->store, err, sizeof(err))) != 0) {
        pd_log_error("state", "partition %d: %s", (int)partition, err);
        goto fail;
    }
    pd_store_set_hook(t->store, task_restore_hook, t);
    pd_store_wait_open(t->store, true);
    if (s->snapw) {
        char prefix[4200];
        snprintf(prefix, sizeof(prefix), "%s/p%d", s->snap_dir, (int)partition);
        pd_store_set_snapshot(t->store, prefix, task_export, t);
    }
    *out = t;
    return 0;
fail:
    task_destroy(t);
    return rc;
}

/* Creates and restores the tasks of the partitions in parts that have none, with one reader
 * of the changelog for all of them. Blocks the loop for the restore. */
static int restore_tasks(pd_scale *s, const rd_kafka_topic_partition_list_t *parts)
{
    int rc = 0;
    uint32_t n = 0;
    char err[512] = "";
    task **ts = calloc((size_t)parts->cnt + 1, sizeof(*ts));
    pd_store **stores = calloc((size_t)parts->cnt + 1, sizeof(*stores));
    pd_processor **procs = calloc((size_t)parts->cnt + 1, sizeof(*procs));
    pd_store_restored *outs = calloc((size_t)parts->cnt + 1, sizeof(*outs));
    if (!ts || !stores || !procs || !outs) {
        rc = PD_ENOMEM;
        goto done;
    }
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (strcmp(parts->elems[i].topic, s->t_events) || p < 0)
            continue;
        if ((rc = tasks_room(s, p)) != 0)
            goto done;
        if (s->tasks[p])
            continue;
        if ((rc = task_new(s, p, &ts[n])) != 0)
            goto done;
        stores[n] = ts[n]->store;
        procs[n] = ts[n]->proc;
        n++;
    }
    if (n == 0)
        goto done;
    rc = pd_store_restore_many(stores, procs, n, outs, err, sizeof(err));
    if (rc) {
        pd_log_error("state", "restoring %u partition(s) of %s: %s", n, s->t_changelog, err);
        goto done;
    }
    uint64_t records = 0, bytes = 0, pending = 0, snaps = 0, snap_pairs = 0, tail = 0;
    for (uint32_t i = 0; i < n; i++) {
        task *t = ts[i];
        s->tasks[t->partition] = t;
        records += outs[i].applied;
        snaps += outs[i].from_snapshot;
        snap_pairs += outs[i].snapshot_pairs;
        tail += outs[i].tail_records;
        bytes += outs[i].bytes;
        pending += t->nheap;
        ts[i] = NULL;
        if ((rc = task_restored(s, t)) != 0)
            goto done;
    }
    s->restores += n;
    s->restored_records += records;
    s->restore_seconds += outs[0].seconds;
    s->restored_from_snapshot += snaps;
    s->tail_records += tail;
    pd_log_info("state",
                "restored %u partition(s): %llu state records (%.1f MB, %llu buffered events) "
                "from %s in %.2f s; %llu from local snapshots (%llu pairs) and %llu changelog "
                "records after them",
                n, (unsigned long long)records, (double)bytes / 1e6, (unsigned long long)pending,
                s->t_changelog, outs[0].seconds, (unsigned long long)snaps,
                (unsigned long long)snap_pairs, (unsigned long long)tail);
done:
    for (uint32_t i = 0; ts && i < n; i++)
        task_destroy(ts[i]);
    free(ts);
    free(stores);
    free(procs);
    free(outs);
    return rc;
}

static void state_assigned(void *ctx, pd_runtime *rt, const rd_kafka_topic_partition_list_t *parts)
{
    pd_scale *s = ctx;
    if (restore_tasks(s, parts) != 0) {
        /* processing on without the state would emit wrong signals: stop, a restart retries */
        pd_log_error("state", "partition state not restored: stopping");
        pd_runtime_stop(rt);
        s->failed = true;
    }
}

/* The partition's task (restored on assignment; here only if a message came first). */
static int task_get(pd_scale *s, int32_t partition, task **out)
{
    if (partition >= 0 && (uint32_t)partition < s->ntasks && s->tasks[partition]) {
        *out = s->tasks[partition];
        return 0;
    }
    if (partition < 0)
        return PD_EINVAL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->t_events, partition);
    int rc = restore_tasks(s, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (!rc && !s->tasks[partition])
        rc = PD_EINVAL;
    if (!rc)
        *out = s->tasks[partition];
    return rc;
}

static int state_feed(void *ctx, pd_runtime *rt, const char *msg, size_t len, pd_format format,
                      pd_str source)
{
    pd_scale *s = ctx;
    PD_UNUSED(format);
    task *t = NULL;
    int rc = task_get(s, pd_runtime_partition(rt), &t);
    if (rc)
        return rc;
    const void *key = NULL;
    size_t klen = 0;
    if (pd_runtime_key(rt, &key, &klen) == 0 && klen == sizeof(WM_KEY) - 1 &&
        !memcmp(key, WM_KEY, klen))
        return task_heartbeat(s, t, (const unsigned char *)msg, msg ? len : 0);
    pd_event ev;
    const char *why = NULL;
    if (!msg || pd_event_unpack(s->unp, msg, len, &ev, &why) != 0) {
        s->bad_events++;
        return pd_runtime_dead_letter(rt, "event", why ? why : "no value", 0, msg, len);
    }
    const void *hv;
    size_t hl;
    if (pd_runtime_header(rt, SOURCE_HEADER, &hv, &hl) == 0)
        source = (pd_str){hv, (uint32_t)hl};
    if (pd_runtime_header(rt, ORDER_HEADER, &hv, &hl) != 0)
        return pd_processor_feed_event(t->proc, &ev, source); /* no order: as it comes */
    if (hl != 20) {
        s->bad_events++;
        return pd_runtime_dead_letter(rt, "event", ORDER_HEADER " header is not 20 bytes", 0, msg,
                                      len);
    }
    const unsigned char *o = hv;
    if ((rc = pend_push(t, pd_be64_get(o), pd_be32_get(o + 8), pd_be64_get(o + 12), source, msg,
                        len, false)) != 0)
        return rc;
    return task_release(s, t);
}

/* Before each commit of the state stage: every partition's changed state and partials. */
static int state_checkpoint(void *ctx, pd_runtime *rt)
{
    pd_scale *s = ctx;
    for (uint32_t i = 0; i < s->ntasks; i++) {
        task *t = s->tasks[i];
        if (!t)
            continue;
        int rc = pd_store_checkpoint(t->store, t->proc, rt);
        if (!rc)
            rc = task_put_order(s, t, rt);
        if (!rc)
            rc = task_put_ticks(s, t, rt);
        if (rc)
            return rc;
    }
    return 0;
}

/* After a commit of the state stage (the state is the committed one): one partition whose
 * last local snapshot is older than the interval is snapshotted (one per commit: an export
 * stalls the loop for its size). */
static void state_committed(void *ctx, pd_runtime *rt)
{
    pd_scale *s = ctx;
    PD_UNUSED(rt);
    if (!s->snapw || s->ntasks == 0)
        return;
    int64_t now = pd_monotonic_ms();
    for (uint32_t k = 0; k < s->ntasks; k++) {
        uint32_t i = (s->snap_next + k) % s->ntasks;
        task *t = s->tasks[i];
        if (!t || !t->snap_dirty || (t->snap_at_ms && now - t->snap_at_ms < s->snap_interval_ms))
            continue;
        if (i < (uint32_t)s->nparts)
            pd_store_note_delivered(t->store, atomic_load(&s->cl_delivered[i]));
        uint64_t bytes = 0;
        int rc = pd_store_snapshot(t->store, t->proc, s->snapw, &bytes);
        if (rc) {
            pd_log_warn("state", "partition %d: snapshot not taken: %s", (int)t->partition,
                        pd_strerror(rc));
        } else {
            s->snapshots++;
            s->snapshot_bytes += bytes;
        }
        t->snap_at_ms = now;
        t->snap_dirty = false;
        s->snap_next = i + 1;
        break;
    }
}

/* A changelog record reached the broker (any thread: the array is never reallocated). */
static void state_delivered(void *ctx, const char *topic, int32_t partition, int64_t offset)
{
    pd_scale *s = ctx;
    if (!s->cl_delivered || partition < 0 || partition >= s->nparts ||
        strcmp(topic, s->t_changelog))
        return;
    _Atomic int64_t *d = &s->cl_delivered[partition];
    int64_t cur = atomic_load_explicit(d, memory_order_relaxed);
    while (offset > cur && !atomic_compare_exchange_weak(d, &cur, offset))
        ;
}

/* The runtime committed everything processed: the next owner restores from the changelog. */
static void state_revoked(void *ctx, pd_runtime *rt, const rd_kafka_topic_partition_list_t *parts)
{
    pd_scale *s = ctx;
    PD_UNUSED(rt);
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (strcmp(parts->elems[i].topic, s->t_events) || p < 0 || (uint32_t)p >= s->ntasks)
            continue;
        task_destroy(s->tasks[p]);
        s->tasks[p] = NULL;
    }
}

/* ---- goals ---------------------------------------------------------------------------- */

static int fold_signal(void *ctx, const pd_signal *sig)
{
    pd_scale *s = ctx;
    return pd_runtime_signal(s->rt[ST_GOALS], sig);
}

static void write_status(pd_scale *s, uint32_t gi)
{
    const pd_goal *g = pd_goal_set_at(pd_processor_goals(s->tmpl), gi);
    pd_buf_reset(&s->key);
    pd_goalfold_status_json(s->fold, gi, &s->key);
    if (s->key.oom)
        return;
    int rc = pd_runtime_status(s->rt[ST_GOALS], pd_str_c(g->id), s->key.p, s->key.len);
    if (rc)
        pd_log_warn("goals", "status of %s not written: %s", g->id, pd_strerror(rc));
}

static void fold_status(void *ctx, const pd_goal_status *st)
{
    write_status(ctx, st->index);
}

static void goals_status_all(void *ctx, pd_runtime *rt)
{
    pd_scale *s = ctx;
    PD_UNUSED(rt);
    for (uint32_t gi = 0; s->fold_ready && gi < s->ngoals; gi++)
        write_status(s, gi);
}

/* A goal changelog record for the fold: a malformed one, or one of a goal the goal set does
 * not have, is skipped as stale. */
static int fold_restore_hook(void *ctx, const void *key, size_t klen, const void *value,
                             size_t vlen)
{
    pd_scale *s = ctx;
    int rc = pd_goalfold_restore_record(s->fold, key, klen, value, vlen);
    return rc == PD_ENOTFOUND ? PD_ESTATE : rc;
}

/* The fold as of the goal stage's committed offsets: an empty one, then the changelog. */
static int fold_restore(pd_scale *s)
{
    char err[512] = "";
    pd_goalfold *f = NULL;
    int rc = pd_goalfold_create(pd_processor_goals(s->tmpl), pd_str_c(s->o.pl->name),
                                (uint32_t)s->nparts, fold_signal, s, fold_status, s, &f);
    if (rc)
        return rc;
    pd_goalfold_destroy(s->fold);
    s->fold = f;
    s->fold_ready = false;
    if (!s->fold_store) {
        if ((rc = pd_store_create(s->o.base, s->o.consumer_conf, s->t_goals_changelog, 0, 0, 15000,
                                  &s->fold_store, err, sizeof(err))) != 0) {
            pd_log_error("goals", "%s", err);
            return rc;
        }
        pd_store_set_hook(s->fold_store, fold_restore_hook, s);
        pd_store_set_hook_only(s->fold_store, true); /* every record is the fold's */
        pd_store_wait_open(s->fold_store, true);     /* instances take turns on it */
    }
    pd_store_restored out;
    memset(&out, 0, sizeof(out));
    if ((rc = pd_store_restore(s->fold_store, s->tmpl, &out, err, sizeof(err))) != 0) {
        pd_log_error("goals", "restoring %s: %s", s->t_goals_changelog, err);
        return rc;
    }
    if ((rc = pd_goalfold_restored(s->fold)) != 0)
        return rc;
    s->fold_ready = true;
    s->fold_restores++;
    pd_log_info("goals", "fold restored: %llu records (%llu stale), %u partials pending, in %.2f s",
                (unsigned long long)out.applied, (unsigned long long)out.stale,
                pd_goalfold_pending(s->fold), out.seconds);
    return 0;
}

static void goals_assigned(void *ctx, pd_runtime *rt, const rd_kafka_topic_partition_list_t *parts)
{
    pd_scale *s = ctx;
    bool ours = false;
    for (int i = 0; i < parts->cnt; i++)
        ours = ours || !strcmp(parts->elems[i].topic, s->t_partials);
    if (!ours || s->fold_ready)
        return;
    if (fold_restore(s) != 0) {
        pd_log_error("goals", "goal fold not restored: stopping");
        pd_runtime_stop(rt);
        s->failed = true;
    }
}

/* Committed (the fold's records with it): the next owner restores them. */
static void goals_revoked(void *ctx, pd_runtime *rt, const rd_kafka_topic_partition_list_t *parts)
{
    pd_scale *s = ctx;
    PD_UNUSED(rt);
    for (int i = 0; i < parts->cnt; i++)
        if (!strcmp(parts->elems[i].topic, s->t_partials))
            s->fold_ready = false;
}

static int put_fold_record(void *ctx, const void *key, size_t klen, const void *value, size_t vlen)
{
    pd_scale *s = ctx;
    return pd_runtime_produce_state(s->rt[ST_GOALS], s->t_goals_changelog, 0, key, klen, value,
                                    vlen);
}

static int goals_checkpoint(void *ctx, pd_runtime *rt)
{
    pd_scale *s = ctx;
    PD_UNUSED(rt);
    return s->fold_ready ? pd_goalfold_collect(s->fold, put_fold_record, s) : 0;
}

static int goals_feed(void *ctx, pd_runtime *rt, const char *msg, size_t len, pd_format format,
                      pd_str source)
{
    pd_scale *s = ctx;
    PD_UNUSED(format);
    PD_UNUSED(source);
    int rc;
    if (!s->fold_ready && (rc = fold_restore(s)) != 0)
        return rc; /* a message before the assignment callback ran */
    const void *key = NULL, *hv = NULL;
    size_t klen = 0, hl = 0;
    if (pd_runtime_key(rt, &key, &klen) == 0 && klen == sizeof(MARK_KEY) - 1 &&
        !memcmp(key, MARK_KEY, klen)) {
        if (!msg || len != 12) {
            s->bad_partials++;
            return pd_runtime_dead_letter(rt, "partial", "mark is not 12 bytes", 0, msg, len);
        }
        const unsigned char *v = (const unsigned char *)msg;
        uint32_t part = pd_be32_get(v);
        if (part >= (uint32_t)s->nparts) {
            s->bad_partials++;
            return pd_runtime_dead_letter(rt, "partial", "mark of a partition out of range", 0, msg,
                                          len);
        }
        return pd_goalfold_mark(s->fold, part, pd_be64_get(v + 4));
    }
    if (!msg)
        return 0; /* a tombstone: nothing publishes them */
    pd_str gid;
    uint32_t part, gi;
    int64_t t_ms;
    const char *why = NULL;
    rc = pd_goal_partial_unpack(msg, len, &gid, &part, &t_ms, &s->gp, &why);
    if (rc == PD_ENOMEM)
        return rc;
    if (!rc && (pd_runtime_header(rt, TICK_HEADER, &hv, &hl) != 0 || hl != 8)) {
        why = "no " TICK_HEADER " header of 8 bytes";
        rc = PD_EINVAL;
    }
    if (!rc && part >= (uint32_t)s->nparts) {
        why = "partial of a partition out of range";
        rc = PD_EINVAL;
    }
    if (rc) {
        s->bad_partials++;
        return pd_runtime_dead_letter(rt, "partial", why ? why : "malformed", 0, msg, len);
    }
    if (pd_goalfold_goal_find(s->fold, gid, &gi) != 0) {
        s->stale_partials++; /* a goal this goal set does not have */
        return 0;
    }
    rc = pd_goalfold_offer(s->fold, gi, part, pd_be64_get(hv), &s->gp, t_ms);
    if (rc == PD_ESTATE || rc == PD_EINVAL) {
        s->stale_partials++; /* another definition of the goal (written before a change) */
        return 0;
    }
    return rc;
}

/* ---- rewind after an aborted transaction ----------------------------------------------- */

/* Route: what was routed since the last commit is routed again; its progress is re-learnt. */
static int route_rewind(void *ctx, pd_runtime *rt)
{
    pd_scale *s = ctx;
    PD_UNUSED(rt);
    for (uint32_t i = 0; i < s->nsrc; i++) {
        s->src_max[i] = s->src_sent[i] = PD_TIME_NONE;
        s->src_idle_sent[i] = 0;
    }
    return 0;
}

/* State: every assigned partition's processor is restored from the changelog again (the
 * changelog holds the state as of the committed offsets). */
static int state_rewind(void *ctx, pd_runtime *rt)
{
    pd_scale *s = ctx;
    for (uint32_t i = 0; i < s->ntasks; i++) {
        task_destroy(s->tasks[i]);
        s->tasks[i] = NULL;
    }
    uint32_t n = pd_runtime_partition_count(rt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n + 1);
    for (uint32_t i = 0; i < n; i++) {
        const char *topic;
        int32_t part;
        bool caught_up;
        if (pd_runtime_partition_at(rt, i, &topic, &part, &caught_up) == 0)
            rd_kafka_topic_partition_list_add(l, topic, part);
    }
    int rc = restore_tasks(s, l);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* Goals: the fold as of the committed offsets, from its changelog. */
static int goals_rewind(void *ctx, pd_runtime *rt)
{
    PD_UNUSED(rt);
    return fold_restore(ctx);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void on_drained(void *ctx, pd_runtime *rt)
{
    pd_scale *s = ctx;
    PD_UNUSED(rt);
    if (++s->drained == NSTAGES)
        event_base_loopbreak(s->o.base);
}

static void on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
    pd_scale *s = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    if (s->stopping || !s->o.exit_idle_ms)
        return;
    for (int i = 0; i < NSTAGES; i++)
        if (pd_runtime_idle_ms(s->rt[i]) < (int64_t)s->o.exit_idle_ms)
            return;
    pd_log_info("runtime", "no input on any stage for %u ms: stopping", s->o.exit_idle_ms);
    pd_scale_stop(s);
}

/* The topic's partition count; retried while a just created topic's metadata propagates. */
static int topic_partitions(pd_kafka *k, const char *topic, int32_t *out)
{
    int64_t until = pd_monotonic_ms() + 15000;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(pd_kafka_rk(k), topic, NULL);
        if (!rkt)
            return PD_ENOMEM;
        rd_kafka_resp_err_t err = rd_kafka_metadata(pd_kafka_rk(k), 0, rkt, &md, 5000);
        rd_kafka_topic_destroy(rkt);
        bool ok = !err && md && md->topic_cnt == 1 && !md->topics[0].err &&
                  md->topics[0].partition_cnt >= 1;
        if (ok)
            *out = md->topics[0].partition_cnt;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (ok)
            return 0;
        if (pd_monotonic_ms() >= until)
            return PD_EKAFKA;
        usleep(200000);
    }
}

static char *fmt(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", a, b);
    return p;
}

int pd_scale_create(const pd_scale_opts *o, pd_scale **out, char *err, size_t errlen)
{
    int rc = 0;
    pd_diag diag;
    memset(&diag, 0, sizeof(diag));
    *out = NULL;
    pd_scale *s = calloc(1, sizeof(*s));
    if (!s)
        return PD_ENOMEM;
    s->o = *o;
    pd_buf_init(&s->buf);
    pd_buf_init(&s->key);
    pd_goal_partial_init(&s->gp);
    const pd_config *cfg = o->cfg;
    if (!cfg->state_exactly_once) {
        snprintf(err, errlen, "state.partitioned needs state.exactly_once: true");
        rc = PD_ECONFIG;
        goto fail;
    }
    char host[256] = "postured";
    const char *inst = cfg->runtime_instance_id;
    if (!inst || !*inst) {
        if (gethostname(host, sizeof(host) - 1) != 0)
            snprintf(host, sizeof(host), "postured");
        inst = host;
    }
    s->nparts = (int32_t)cfg->state_partitions;
    s->tick_ms = cfg->state_goal_tick_ms > 0 ? cfg->state_goal_tick_ms : 60000;
    s->snap_interval_ms = cfg->state_snapshot_interval_ms;
    s->reorder_cap = (uint64_t)cfg->state_reorder_buffer_mb << 20;
    s->idle_close_ms = cfg->state_goal_tick_idle_close_ms;
    if (!(s->instance = strdup(inst)) || !(s->t_events = fmt(o->group, "-events")) ||
        !(s->t_changelog = fmt(o->group, "-state-changelog")) ||
        !(s->t_partials = fmt(o->group, "-partials")) ||
        !(s->t_goals_changelog = fmt(o->group, "-goals-changelog")) ||
        !(s->groups[ST_ROUTE] = strdup(o->group)) ||
        !(s->groups[ST_STATE] = fmt(o->group, "-state")) ||
        !(s->groups[ST_GOALS] = fmt(o->group, "-goals"))) {
        rc = PD_ENOMEM;
        goto fail;
    }
    if ((rc = pd_kafka_conf_copy(o->producer_conf, &s->pconf)) != 0)
        goto fail;
    /* transaction.timeout.ms stays the runtime's 60 s: a restore blocks the loop while other
     * stages' transactions are open, and a dead instance's open transaction is aborted when
     * it restarts (same transactional id) or after that timeout */

    s->popts = (pd_processor_opts){.pipeline = o->pl,
                                   .decode = o->decode,
                                   .allowed_lateness_ms = cfg->correlate_allowed_lateness_ms,
                                   .correlate_memcap_bytes = (size_t)cfg->correlate_memcap_bytes,
                                   .on_signal = task_signal,
                                   .on_applied = task_applied,
                                   .partial = true};
    if ((rc = pd_processor_create(&s->popts, &s->tmpl, &diag)) != 0) {
        snprintf(err, errlen, "%s", diag.msg);
        goto fail;
    }
    s->ngoals = pd_goal_set_count(pd_processor_goals(s->tmpl));
    if ((rc = pd_decoder_create(o->decode, &s->dec)) != 0 ||
        (rc = pd_event_unpacker_create(&s->unp)) != 0)
        goto fail;

    pd_runtime_input *inputs = calloc(o->pl->ninputs, sizeof(*inputs));
    if (!inputs) {
        rc = PD_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < o->pl->ninputs; i++) {
        inputs[i].topic = o->pl->inputs[i].topic;
        inputs[i].format = o->pl->inputs[i].format;
    }
    pd_runtime_input ev_in = {s->t_events, PD_FMT_AUTO}, part_in = {s->t_partials, PD_FMT_AUTO};
    for (int i = 0; i < NSTAGES && !rc; i++) {
        char tid[768];
        snprintf(tid, sizeof(tid), "%s.postured.%s.%s", o->group, stage_name[i], s->instance);
        pd_runtime_opts ro = {.base = o->base,
                              .consumer_conf = o->consumer_conf,
                              .producer_conf = s->pconf,
                              .group = s->groups[i],
                              .out_dead_letter = o->pl->outputs.dead_letter,
                              .max_in_flight = (uint32_t)cfg->runtime_max_in_flight,
                              .buffer_bytes = (uint64_t)cfg->runtime_buffer_mb << 20,
                              .commit_interval_ms = (uint32_t)cfg->runtime_commit_interval_ms,
                              .status_interval_ms = o->status_interval_ms,
                              .shutdown_timeout_ms = (uint32_t)cfg->runtime_shutdown_timeout_ms,
                              .budget = (uint32_t)cfg->runtime_wake_budget,
                              .tick_ms = (uint32_t)cfg->runtime_poll_interval_ms,
                              .exactly_once = true,
                              .transactional_id = tid,
                              .eos_every_events = (uint32_t)cfg->state_commit_every_events,
                              .eos_interval_ms = (uint32_t)cfg->state_commit_interval_ms,
                              .feed_ctx = s,
                              .drained = on_drained,
                              .drained_ctx = s,
                              .rewind_ctx = s,
                              .also = o->also,
                              .also_ctx = o->also_ctx};
        if (i == ST_ROUTE) {
            ro.inputs = inputs;
            ro.ninputs = o->pl->ninputs;
            ro.feed = route_feed;
            ro.checkpoint = route_checkpoint;
            ro.checkpoint_ctx = s;
            ro.rewind = route_rewind;
        } else if (i == ST_STATE) {
            ro.inputs = &ev_in;
            ro.ninputs = 1;
            ro.unordered = true; /* one processor per partition: no order across them */
            ro.feed = state_feed;
            ro.out_drift = o->pl->outputs.drift;
            ro.out_breach = o->pl->outputs.breach;
            ro.checkpoint = state_checkpoint;
            ro.checkpoint_ctx = s;
            ro.revoked = state_revoked;
            ro.revoked_ctx = s;
            ro.assigned = state_assigned;
            ro.assigned_ctx = s;
            ro.rewind = state_rewind;
            ro.committed = state_committed;
            ro.committed_ctx = s;
            ro.delivered = state_delivered;
            ro.delivered_ctx = s;
        } else {
            /* the fold's state is changelogged (<G>-goals-changelog) and restored on
             * assignment: the partials are read from the committed offset */
            ro.inputs = &part_in;
            ro.ninputs = 1;
            ro.unordered = true;
            ro.feed = goals_feed;
            ro.checkpoint = goals_checkpoint;
            ro.checkpoint_ctx = s;
            ro.assigned = goals_assigned;
            ro.assigned_ctx = s;
            ro.revoked = goals_revoked;
            ro.revoked_ctx = s;
            ro.out_drift = o->pl->outputs.drift;
            ro.out_status = o->pl->outputs.status;
            ro.status_all = goals_status_all;
            ro.status_ctx = s;
            ro.rewind = goals_rewind;
        }
        rc = pd_runtime_create(&ro, &s->rt[i], err, errlen);
    }
    free(inputs);
    if (rc)
        goto fail;
    s->ev_idle = event_new(o->base, -1, EV_PERSIST, on_idle_timer, s);
    if (!s->ev_idle) {
        rc = PD_ENOMEM;
        goto fail;
    }
    *out = s;
    return 0;
fail:
    pd_scale_destroy(s);
    return rc ? rc : PD_EINVAL;
}

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

/* <state.dir>/<group>/p<N>.snap and .side; without a usable directory, no snapshots. */
static void snapshots_open(pd_scale *s)
{
    const char *dir = s->o.cfg->state_dir;
    if (s->snap_interval_ms <= 0 || !dir || !*dir)
        return;
    size_t n = strlen(dir) + strlen(s->o.group) + 2;
    if (!(s->snap_dir = malloc(n)))
        return;
    snprintf(s->snap_dir, n, "%s/%s", dir, s->o.group);
    if (mkdir_p(s->snap_dir) != 0 || access(s->snap_dir, W_OK) != 0) {
        pd_log_warn("state", "%s: %s: no local snapshots (partitions restore from the changelog)",
                    s->snap_dir, strerror(errno));
    } else if (pd_snapwriter_create(&s->snapw) != 0) {
        pd_log_warn("state", "snapshot writer not started: no local snapshots");
        s->snapw = NULL;
    }
}

int pd_scale_start(pd_scale *s)
{
    char err[256];
    pd_kafka *k = pd_runtime_producer(s->rt[ST_ROUTE]);
    static const char *const events_cfg[] = {"cleanup.policy", "delete", NULL};
    /* segments roll at 64 MB or 10 minutes, whichever first: compaction only cleans rolled
     * segments, and the goal changelog's small records would take days to fill 64 MB */
    static const char *const compact_cfg[] = {
        "cleanup.policy", "compact", "segment.bytes", "67108864", "segment.ms", "600000", NULL};
    int rc = pd_kafka_ensure_topic(k, s->t_events, s->nparts, events_cfg, 15000, err, sizeof(err));
    if (!rc)
        rc = pd_kafka_ensure_topic(k, s->t_changelog, s->nparts, compact_cfg, 15000, err,
                                   sizeof(err));
    if (!rc)
        rc = pd_kafka_ensure_topic(k, s->t_partials, 1, events_cfg, 15000, err, sizeof(err));
    if (!rc)
        rc =
            pd_kafka_ensure_topic(k, s->t_goals_changelog, 1, compact_cfg, 15000, err, sizeof(err));
    if (rc) {
        pd_log_error("runtime", "internal topics: %s", err);
        return rc;
    }
    int32_t n = 0, nc = 0;
    if ((rc = topic_partitions(k, s->t_events, &n)) != 0 ||
        (rc = topic_partitions(k, s->t_changelog, &nc)) != 0) {
        pd_log_error("runtime", "internal topics: no metadata for %s", s->t_events);
        return rc;
    }
    if (n != nc) {
        /* state partition p is changelogged to partition p: the counts must agree */
        pd_log_error("runtime", "%s has %d partitions but %s has %d", s->t_events, (int)n,
                     s->t_changelog, (int)nc);
        return PD_ECONFIG;
    }
    s->nparts = n; /* an existing topic's count wins over state.partitions */
    if (!(s->cl_delivered = calloc((size_t)n, sizeof(*s->cl_delivered))))
        return PD_ENOMEM;
    for (int32_t i = 0; i < n; i++)
        atomic_init(&s->cl_delivered[i], -1);
    snapshots_open(s);
    /* the fold waits for a mark from every partition: it needs the real count */
    if ((rc = pd_goalfold_create(pd_processor_goals(s->tmpl), pd_str_c(s->o.pl->name),
                                 (uint32_t)s->nparts, fold_signal, s, fold_status, s, &s->fold)) !=
        0)
        return rc;
    uint32_t nin = s->o.pl->ninputs;
    s->src_base = calloc(nin, sizeof(*s->src_base));
    s->src_count = calloc(nin, sizeof(*s->src_count));
    if (!s->src_base || !s->src_count)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < nin; i++) {
        int32_t c = 0;
        if ((rc = topic_partitions(k, s->o.pl->inputs[i].topic, &c)) != 0) {
            pd_log_error("runtime", "input %s: no metadata", s->o.pl->inputs[i].topic);
            return rc;
        }
        s->src_base[i] = s->nsrc;
        s->src_count[i] = c;
        s->nsrc += (uint32_t)c;
    }
    s->src_max = malloc(s->nsrc * sizeof(*s->src_max));
    s->src_sent = malloc(s->nsrc * sizeof(*s->src_sent));
    s->src_idle_sent = calloc(s->nsrc, 1);
    if (!s->src_max || !s->src_sent || !s->src_idle_sent)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < s->nsrc; i++)
        s->src_max[i] = s->src_sent[i] = PD_TIME_NONE;
    if (s->o.pl->outputs.status) {
        static const char *const st_cfg[] = {"cleanup.policy", "compact", NULL};
        if (pd_kafka_ensure_topic(k, s->o.pl->outputs.status, 1, st_cfg, 5000, err, sizeof(err)) !=
            0)
            pd_log_warn("runtime", "status topic %s: %s", s->o.pl->outputs.status, err);
    }
    pd_log_info("runtime",
                "partitioned: %d state partitions; topics %s, %s, %s; instance %s; groups %s, "
                "%s, %s",
                (int)n, s->t_events, s->t_changelog, s->t_partials, s->instance, s->groups[0],
                s->groups[1], s->groups[2]);
    for (int i = 0; i < NSTAGES; i++)
        if ((rc = pd_runtime_start(s->rt[i])) != 0)
            return rc;
    struct timeval tv = {0, 200000};
    event_add(s->ev_idle, &tv);
    return 0;
}

void pd_scale_stop(pd_scale *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = true;
    for (int i = 0; i < NSTAGES; i++)
        pd_runtime_stop(s->rt[i]);
}

int pd_scale_finish(pd_scale *s)
{
    int rc = s->failed ? PD_ESTATE : 0;
    if (s->ev_idle)
        event_del(s->ev_idle);
    for (int i = 0; i < NSTAGES; i++) {
        int r = pd_runtime_finish(s->rt[i]);
        if (r && !rc)
            rc = r;
    }
    return rc;
}

void pd_scale_print_stats(pd_scale *s, FILE *f)
{
    pd_runtime_stats rs[NSTAGES];
    for (int i = 0; i < NSTAGES; i++)
        pd_runtime_get_stats(s->rt[i], &rs[i]);
    fprintf(f,
            "route: %llu messages, %llu events routed, %llu dead letters, %llu commits\n"
            "state: %llu events, %llu signals, %llu state records, %llu partitions restored "
            "(%llu records in %.2f s), %llu commits, %llu bad events, %llu events applied "
            "before their turn (reorder buffer full)\n"
            "goals: %llu partials and marks, %llu signals, %llu status records, %llu commits; "
            "%llu partials offered, %llu marks, %llu fold restores, %llu late partials, %llu "
            "bad partials, %llu stale partials\n"
            "aborted transactions rewound: route %llu, state %llu, goals %llu\n"
            "local snapshots: %llu taken (%.1f MB), %llu partitions restored from one (%llu "
            "changelog records after them)\n",
            (unsigned long long)rs[0].messages, (unsigned long long)s->routed,
            (unsigned long long)rs[0].dead_letters, (unsigned long long)rs[0].commits,
            (unsigned long long)rs[1].messages, (unsigned long long)rs[1].signals,
            (unsigned long long)rs[1].state_records, (unsigned long long)s->restores,
            (unsigned long long)s->restored_records, s->restore_seconds,
            (unsigned long long)rs[1].commits, (unsigned long long)s->bad_events,
            (unsigned long long)s->reorder_forced, (unsigned long long)rs[2].messages,
            (unsigned long long)rs[2].signals, (unsigned long long)rs[2].status_records,
            (unsigned long long)rs[2].commits, (unsigned long long)s->offers,
            (unsigned long long)s->marks, (unsigned long long)s->fold_restores,
            (unsigned long long)(s->fold ? pd_goalfold_late(s->fold) : 0),
            (unsigned long long)s->bad_partials, (unsigned long long)s->stale_partials,
            (unsigned long long)rs[0].rewinds, (unsigned long long)rs[1].rewinds,
            (unsigned long long)rs[2].rewinds, (unsigned long long)s->snapshots,
            (double)s->snapshot_bytes / 1e6, (unsigned long long)s->restored_from_snapshot,
            (unsigned long long)s->tail_records);
}

void pd_scale_destroy(pd_scale *s)
{
    if (!s)
        return;
    if (s->ev_idle)
        event_free(s->ev_idle);
    for (int i = 0; i < NSTAGES; i++) {
        pd_runtime_destroy(s->rt[i]);
        free(s->groups[i]);
    }
    for (uint32_t i = 0; i < s->ntasks; i++)
        task_destroy(s->tasks[i]);
    free(s->tasks);
    pd_goalfold_destroy(s->fold);
    pd_event_unpacker_destroy(s->unp);
    pd_decoder_destroy(s->dec);
    pd_processor_destroy(s->tmpl);
    pd_kafka_conf_destroy(s->pconf);
    pd_buf_free(&s->buf);
    pd_buf_free(&s->key);
    pd_goal_partial_free(&s->gp);
    free(s->src_base);
    free(s->src_count);
    free(s->src_max);
    free(s->src_sent);
    free(s->src_idle_sent);
    free(s->instance);
    free(s->t_events);
    free(s->t_changelog);
    free(s->t_partials);
    free(s->t_goals_changelog);
    pd_store_destroy(s->fold_store);
    pd_snapwriter_destroy(s->snapw); /* writes what is queued */
    free(s->snap_dir);
    free(s->cl_delivered);
    free(s);
}
