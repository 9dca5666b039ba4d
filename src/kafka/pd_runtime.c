/* pd_runtime.c: consume, process, produce, commit what is safe (see pd_runtime.h). */
#include "pd_runtime.h"

#include "pd_lag.h"
#include "pd_log.h"
#include "pd_time.h"
#include "pd_txn.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One input message with outputs still in flight. Pooled: never allocated per message. */
typedef struct rt_entry rt_entry;
typedef struct rt_part rt_part;
struct rt_entry {
    int64_t offset;
    uint32_t pending; /* outputs awaiting a delivery report (+1 while being processed) */
    rt_part *part;    /* NULL once the partition was revoked */
    rt_entry *next;
};

/* One assigned input partition. */
struct rt_part {
    char *topic;
    int32_t partition;
    pd_format format;
    int64_t last_seen;  /* offset of the last message processed, -1: none */
    int64_t committed;  /* last offset committed (the next to read), -1: none */
    int64_t warm_until; /* offsets below this only rebuild state */
    bool hold;          /* waiting for the committed offset (warm start) */
    rt_entry *head, *tail;
    /* fetched, not yet processed: merged across partitions by timestamp */
    rd_kafka_message_t **ring;
    uint32_t rhead, rcount, rcap;
    int64_t last_fetched;   /* offset of the last message buffered, -1: none */
    int64_t first_fetched;  /* offset of the first message buffered since assignment */
    int64_t empty_since_ms; /* when the buffer last ran empty */
};

/* Prefetch: librdkafka 2.0 stops fetching once its queue passes queued.min.messages or
 * queued.max.messages.kbytes and looks again only about once a second (2.2 made that
 * fetch.queue.backoff.ms); pausing and resuming a partition waits for the same tick. So the
 * loop moves every fetched message into the partition buffers at once, up to buffer_bytes,
 * and then holds the consumer (pd_kafka_hold) until they are half empty: what is buffered
 * here plus librdkafka's queue must outlast that second for a backlog to flow without gaps. */

/* A committed-offsets lookup running on a helper thread. */
typedef struct rt_job {
    pd_runtime *rt;
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_resp_err_t err;
    pthread_t thread;
    bool joined;
    struct rt_job *next;
} rt_job;

struct pd_runtime {
    pd_runtime_opts o;
    char *group, *out[4]; /* drift, breach, status, dead_letter */
    pd_runtime_input *inputs;
    pd_kafka *consumer, *producer;
    pd_lag *lag; /* consumer lag for /metrics (o.metrics); NULL without */
    struct event_base *base;
    struct event *ev_commit, *ev_status, *ev_stop, *ev_jobs;
    int jobpipe[2];
    rt_job *jobs;

    rt_part **parts;
    uint32_t nparts, capparts;
    rt_part *last_part; /* lookup cache */

    rt_entry *free_entries;
    rt_entry **chunks;
    uint32_t nchunks;

    /* the message being processed */
    rt_part *cur_part;
    rt_entry *cur_entry;
    const rd_kafka_message_t *cur_msg;
    bool cur_warm;

    bool bp_paused, stopping, started, pumping, drained;
    bool held;                     /* the consumer is held: buffers are full */
    uint64_t buf_bytes, buf_limit; /* payload bytes in the partition buffers */
    int64_t last_ts;               /* newest timestamp processed */
    uint64_t hold_at;              /* buf_limit, or up to 4x while waiting for order */
    struct event *ev_pump;
    uint32_t budget, order_wait_ms;
    int64_t last_input_ms, stop_deadline_ms;
    uint32_t max_in_flight;
    pd_buf buf;
    pd_runtime_stats st;
    /* exactly-once (NULL txn: at least once) */
    pd_txn *txn;
    struct event *ev_txn;
    rd_kafka_topic_partition_list_t *txn_offsets; /* of the running commit */
    bool txn_busy, txn_dirty, txn_failed;
    uint32_t since_commit;
    uint32_t fault_abort_every; /* PD_FAULT_TXN_ABORT_EVERY: abort every Nth commit (tests) */
    uint64_t fault_commits;
    pthread_t loop_thread;
    pthread_mutex_t dr_mu; /* delivery reports: the txn thread's flush may serve them too */
    bool dr_mu_init;
};

enum { OUT_DRIFT = 0, OUT_BREACH, OUT_STATUS, OUT_DLQ };

/* ---- entries -------------------------------------------------------------------------- */

static rt_entry *entry_get(pd_runtime *rt)
{
    if (!rt->free_entries) {
        enum { CHUNK = 1024 };
        rt_entry *c = calloc(CHUNK, sizeof(*c));
        rt_entry **chunks = realloc(rt->chunks, (rt->nchunks + 1) * sizeof(*chunks));
        if (!c || !chunks) {
            free(c);
            if (chunks)
                rt->chunks = chunks;
            return NULL;
        }
        rt->chunks = chunks;
        rt->chunks[rt->nchunks++] = c;
        for (int i = 0; i < CHUNK; i++) {
            c[i].next = rt->free_entries;
            rt->free_entries = &c[i];
        }
    }
    rt_entry *e = rt->free_entries;
    rt->free_entries = e->next;
    memset(e, 0, sizeof(*e));
    return e;
}

static void entry_put(pd_runtime *rt, rt_entry *e)
{
    e->next = rt->free_entries;
    e->part = NULL;
    rt->free_entries = e;
}

/* Pops the finished messages at the head of a partition's FIFO. */
static void part_advance(pd_runtime *rt, rt_part *p)
{
    while (p->head && p->head->pending == 0) {
        rt_entry *e = p->head;
        p->head = e->next;
        if (!p->head)
            p->tail = NULL;
        entry_put(rt, e);
    }
}

static void entry_done1(pd_runtime *rt, rt_entry *e)
{
    if (!e || e->pending == 0)
        return;
    if (--e->pending > 0)
        return;
    if (!e->part)
        entry_put(rt, e); /* orphan of a revoked partition */
    else if (e->part->head == e)
        part_advance(rt, e->part);
}

/* The next offset to commit for a partition, or -1 when nothing was processed. */
static int64_t part_safe(const rt_part *p)
{
    if (p->head)
        return p->head->offset;
    return p->last_seen >= 0 ? p->last_seen + 1 : -1;
}

/* ---- partitions ----------------------------------------------------------------------- */

static rt_part *part_find(pd_runtime *rt, const char *topic, int32_t partition)
{
    rt_part *c = rt->last_part;
    if (c && c->partition == partition && !strcmp(c->topic, topic))
        return c;
    for (uint32_t i = 0; i < rt->nparts; i++) {
        rt_part *p = rt->parts[i];
        if (p->partition == partition && !strcmp(p->topic, topic)) {
            rt->last_part = p;
            return p;
        }
    }
    return NULL;
}

static pd_format input_format(pd_runtime *rt, const char *topic)
{
    for (uint32_t i = 0; i < rt->o.ninputs; i++)
        if (!strcmp(rt->inputs[i].topic, topic))
            return rt->inputs[i].format;
    return PD_FMT_AUTO;
}

static rt_part *part_add(pd_runtime *rt, const char *topic, int32_t partition)
{
    rt_part *p = part_find(rt, topic, partition);
    if (p)
        return p;
    if (rt->nparts == rt->capparts) {
        uint32_t cap = rt->capparts ? rt->capparts * 2 : 16;
        rt_part **a = realloc(rt->parts, cap * sizeof(*a));
        if (!a)
            return NULL;
        rt->parts = a;
        rt->capparts = cap;
    }
    p = calloc(1, sizeof(*p));
    if (!p || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->format = input_format(rt, topic);
    p->last_seen = -1;
    p->committed = -1;
    p->last_fetched = -1;
    p->first_fetched = -1;
    p->empty_since_ms = pd_monotonic_ms();
    rt->parts[rt->nparts++] = p;
    return p;
}

static void part_remove(pd_runtime *rt, rt_part *p)
{
    /* entries still in flight become orphans; finished ones go back to the pool */
    for (rt_entry *e = p->head, *n; e; e = n) {
        n = e->next;
        e->next = NULL;
        if (e->pending == 0) {
            entry_put(rt, e);
        } else {
            e->part = NULL;
        }
    }
    if (rt->cur_part == p)
        rt->cur_part = NULL;
    for (uint32_t i = 0; i < rt->nparts; i++) {
        if (rt->parts[i] == p) {
            rt->parts[i] = rt->parts[--rt->nparts];
            break;
        }
    }
    if (rt->last_part == p)
        rt->last_part = NULL;
    for (uint32_t i = 0; i < p->rcount; i++) {
        rd_kafka_message_t *m = p->ring[(p->rhead + i) % p->rcap];
        rt->buf_bytes -= m->len;
        rd_kafka_message_destroy(m);
    }
    free(p->ring);
    free(p->topic);
    free(p);
}

/* ---- committing ----------------------------------------------------------------------- */

/* Offsets worth committing (safe > committed) for every partition, or those in `only`. */
static rd_kafka_topic_partition_list_t *commit_list(pd_runtime *rt,
                                                    const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)rt->nparts + 1);
    for (uint32_t i = 0; i < rt->nparts; i++) {
        rt_part *p = rt->parts[i];
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
            continue;
        int64_t safe = rt->txn ? (p->last_seen >= 0 ? p->last_seen + 1 : -1) : part_safe(p);
        if (p->hold || safe < 0 || safe <= p->committed)
            continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = safe;
    }
    return l;
}

static void commit_mark(pd_runtime *rt, const rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; i < l->cnt; i++) {
        rt_part *p = part_find(rt, l->elems[i].topic, l->elems[i].partition);
        if (p && l->elems[i].offset > p->committed)
            p->committed = l->elems[i].offset;
    }
}

static void commit_async(pd_runtime *rt, const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_topic_partition_list_t *l = commit_list(rt, only);
    if (l->cnt > 0) {
        if (pd_kafka_commit(rt->consumer, l) == 0) {
            commit_mark(rt, l);
            rt->st.commits++;
        } else {
            rt->st.commit_errors++;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void bp_check(pd_runtime *rt);
static void pump_soon(pd_runtime *rt);

/* ---- exactly-once commits ------------------------------------------------------------- */

/* After an aborted transaction (an abortable error; pd_txn has begun the next one): every
 * partition goes back to its committed offset, so what the aborted transaction consumed is
 * read again, and the application drops the state built since (o.rewind). false when there is
 * no rewind hook or the seek failed: the caller stops instead. */
static bool eos_rewind(pd_runtime *rt)
{
    if (!rt->o.rewind)
        return false;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)rt->nparts + 1);
    for (uint32_t i = 0; i < rt->nparts; i++) {
        rt_part *p = rt->parts[i];
        for (uint32_t k = 0; k < p->rcount; k++) {
            rd_kafka_message_t *m = p->ring[(p->rhead + k) % p->rcap];
            rt->buf_bytes -= m->len;
            rd_kafka_message_destroy(m);
        }
        p->rcount = p->rhead = 0;
        int64_t to = p->committed >= 0 ? p->committed : p->first_fetched;
        if (to < 0)
            continue; /* nothing fetched yet: nothing to read again */
        p->last_fetched = to - 1;
        p->empty_since_ms = pd_monotonic_ms();
        if (rt->o.warm_start) {
            /* the state comes from reading the partition again from its start */
            p->warm_until = to;
            p->last_seen = -1;
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        } else {
            p->last_seen = to - 1;
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = to;
        }
    }
    if (rt->held) {
        rt->held = false;
        pd_kafka_hold(rt->consumer, false);
    }
    bool ok = true;
    if (l->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(pd_kafka_rk(rt->consumer), l, 5000);
        if (e) {
            pd_log_error("runtime", "rewind: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            ok = false;
        }
        for (int i = 0; ok && i < l->cnt; i++)
            if (l->elems[i].err) {
                pd_log_error("runtime", "rewind %s [%d]: %s", l->elems[i].topic,
                             (int)l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
                ok = false;
            }
    }
    int n = l->cnt;
    rd_kafka_topic_partition_list_destroy(l);
    if (!ok)
        return false;
    rt->txn_dirty = false;
    rt->since_commit = 0;
    rt->st.rewinds++;
    if (rt->o.rewind(rt->o.rewind_ctx, rt) != 0)
        return false;
    pd_log_warn("runtime",
                "transaction aborted: %d partition(s) rewound to their committed offsets, state "
                "as of them",
                n);
    return true;
}

/* Handles a finished async commit (if there is one). */
static void eos_result(pd_runtime *rt)
{
    int rc = 0;
    if (!rt->txn_busy || pd_txn_result(rt->txn, &rc) != 0)
        return;
    rt->txn_busy = false;
    if (rc == 0) {
        commit_mark(rt, rt->txn_offsets);
        rt->st.commits++;
        if (rt->o.committed)
            rt->o.committed(rt->o.committed_ctx, rt);
    } else {
        rt->st.commit_errors++;
        if (rc == PD_EAGAIN)
            rt->st.txn_aborts++;
        rd_kafka_topic_partition_list_destroy(rt->txn_offsets);
        rt->txn_offsets = NULL;
        if (rc == PD_EAGAIN && eos_rewind(rt))
            return;
        rt->txn_failed = true;
        pd_log_error("runtime",
                     "transaction %s: stopping; a restart resumes from the committed offsets",
                     rc == PD_EAGAIN ? "aborted" : "failed");
        event_base_loopbreak(rt->base);
        return;
    }
    rd_kafka_topic_partition_list_destroy(rt->txn_offsets);
    rt->txn_offsets = NULL;
}

/* The state records of this commit (o.checkpoint) join the transaction before it commits, so
 * the changelog holds the state as of exactly the committed offsets. A failure stops the
 * loop: committing offsets without the state they imply would lose it. */
static int eos_checkpoint(pd_runtime *rt)
{
    if (!rt->o.checkpoint)
        return 0;
    int rc = rt->o.checkpoint(rt->o.checkpoint_ctx, rt);
    if (rc) {
        pd_log_error("runtime", "state records for the commit: %s: stopping", pd_strerror(rc));
        rt->txn_failed = true;
        event_base_loopbreak(rt->base);
    }
    return rc;
}

/* Starts a commit of everything produced and processed so far, on the txn's thread. */
static void eos_commit_start(pd_runtime *rt)
{
    if (!rt->txn || rt->txn_busy || rt->txn_failed)
        return;
    rt->since_commit = 0;
    if (eos_checkpoint(rt) != 0)
        return;
    rd_kafka_topic_partition_list_t *l = commit_list(rt, NULL);
    if (l->cnt == 0 && !rt->txn_dirty) {
        rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    if (rt->fault_abort_every && ++rt->fault_commits % rt->fault_abort_every == 0) {
        /* fault injection (tests): this commit fails as an abortable error would, once what
         * the transaction holds reached the broker */
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_flush(pd_kafka_rk(rt->producer), 10000);
        rt->st.commit_errors++;
        rt->st.txn_aborts++;
        if (pd_txn_abort(rt->txn) == 0 && eos_rewind(rt))
            return;
        rt->txn_failed = true;
        pd_log_error("runtime", "transaction aborted: stopping");
        event_base_loopbreak(rt->base);
        return;
    }
    rt->txn_offsets = rd_kafka_topic_partition_list_copy(l);
    rt->txn_dirty = false;
    if (pd_txn_commit_async(rt->txn, l) != 0) {
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_topic_partition_list_destroy(rt->txn_offsets);
        rt->txn_offsets = NULL;
        rt->txn_dirty = true;
        return;
    }
    rt->txn_busy = true;
}

/* Waits (blocking) for a running async commit. */
static void eos_wait(pd_runtime *rt)
{
    while (rt->txn_busy) {
        struct pollfd pf = {.fd = pd_txn_fd(rt->txn), .events = POLLIN};
        poll(&pf, 1, 1000);
        eos_result(rt);
    }
}

/* Commits now, blocking (revoke, shutdown). 0, or PD_EKAFKA when the transaction failed. */
static int eos_commit_sync(pd_runtime *rt)
{
    eos_wait(rt);
    if (rt->txn_failed || eos_checkpoint(rt) != 0)
        return PD_EKAFKA;
    rd_kafka_topic_partition_list_t *l = commit_list(rt, NULL);
    int rc = 0;
    if (l->cnt > 0 || rt->txn_dirty) {
        rc = pd_txn_commit(rt->txn, l);
        if (rc == 0) {
            commit_mark(rt, l);
            rt->st.commits++;
            rt->txn_dirty = false;
            if (rt->o.committed)
                rt->o.committed(rt->o.committed_ctx, rt);
        } else {
            rt->st.commit_errors++;
            rt->st.txn_aborts += rc == PD_EAGAIN;
            rt->txn_failed = true;
            rc = PD_EKAFKA;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void on_txn_done(evutil_socket_t fd, short what, void *arg)
{
    pd_runtime *rt = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    eos_result(rt);
    if (!rt->txn_busy && !rt->txn_failed) {
        bp_check(rt);
        pump_soon(rt);
    }
}

static void on_committed(void *ctx, pd_kafka *k, rd_kafka_resp_err_t err,
                         const rd_kafka_topic_partition_list_t *offsets)
{
    pd_runtime *rt = ctx;
    PD_UNUSED(k);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        rt->st.commit_errors++;
        /* a failed commit is retried: forget what we thought was committed */
        for (int i = 0; offsets && i < offsets->cnt; i++) {
            rt_part *p = part_find(rt, offsets->elems[i].topic, offsets->elems[i].partition);
            if (p && p->committed == offsets->elems[i].offset)
                p->committed = -1;
        }
        pd_log_warn("runtime", "commit failed: %s", rd_kafka_err2str(err));
    }
}

/* ---- backpressure --------------------------------------------------------------------- */

static void bp_check(pd_runtime *rt)
{
    if (!rt->bp_paused && rt->st.in_flight >= rt->max_in_flight) {
        rt->bp_paused = true;
        rt->st.pauses++;
        pd_kafka_pause(rt->consumer);
    } else if (rt->bp_paused && rt->st.in_flight <= rt->max_in_flight / 2 && !rt->stopping) {
        rt->bp_paused = false;
        rt->st.resumes++;
        pd_kafka_resume(rt->consumer);
        pump_soon(rt);
    }
}

/* ---- producing ------------------------------------------------------------------------ */

/* The entry that will own an output of the current message (created on first use). */
static rt_entry *cur_entry(pd_runtime *rt)
{
    if (!rt->cur_part)
        return NULL;
    if (!rt->cur_entry) {
        rt_entry *e = entry_get(rt);
        if (!e)
            return NULL;
        e->offset = rt->cur_msg ? rt->cur_msg->offset : 0;
        e->part = rt->cur_part;
        e->pending = 1; /* held until the message is fully processed */
        if (rt->cur_part->tail)
            rt->cur_part->tail->next = e;
        else
            rt->cur_part->head = e;
        rt->cur_part->tail = e;
        rt->cur_entry = e;
    }
    return rt->cur_entry;
}

static int produce_tracked(pd_runtime *rt, const char *topic, int32_t partition, const void *key,
                           size_t keylen, const void *val, size_t vallen, rd_kafka_headers_t *hdrs)
{
    if (rt->txn_busy || rt->txn_failed) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return PD_EAGAIN; /* a commit is running: nothing may join the transaction */
    }
    /* exactly-once: the transaction's commit covers every output, no per-message tracking */
    rt_entry *e = rt->txn ? NULL : cur_entry(rt);
    if (rt->cur_part && !e && !rt->txn)
        return PD_ENOMEM;
    for (;;) {
        int rc =
            pd_kafka_produce(rt->producer, topic, partition, key, keylen, val, vallen, hdrs, e);
        if (rc == 0)
            break;
        if (rc != PD_EFULL) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            return rc;
        }
        /* The local queue is full although inputs pause long before: a burst of outputs
         * from one message. Serve delivery reports briefly; bounded by the broker. */
        rd_kafka_poll(pd_kafka_rk(rt->producer), 10);
    }
    if (e)
        e->pending++;
    if (rt->txn) {
        rt->txn_dirty = true;
        pthread_mutex_lock(&rt->dr_mu);
    }
    rt->st.in_flight++;
    if (rt->st.in_flight > rt->st.max_in_flight_seen)
        rt->st.max_in_flight_seen = rt->st.in_flight;
    if (rt->txn)
        pthread_mutex_unlock(&rt->dr_mu);
    return 0;
}

/* Exactly-once delivery reports: counted only (a failure fails the transaction's commit,
 * which aborts it). Called on the loop thread, or on the txn thread while a commit flushes. */
static void on_delivery_txn(pd_runtime *rt, const rd_kafka_message_t *m)
{
    pthread_mutex_lock(&rt->dr_mu);
    if (m->err) {
        rt->st.delivery_failed++;
    } else {
        rt->st.delivered++;
        if (rt->o.delivered)
            rt->o.delivered(rt->o.delivered_ctx, rd_kafka_topic_name(m->rkt), m->partition,
                            m->offset);
    }
    rt->st.in_flight--;
    pthread_mutex_unlock(&rt->dr_mu);
    if (m->err)
        pd_log_warn("runtime", "output to %s failed: %s (the transaction will abort)",
                    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    if (pthread_equal(pthread_self(), rt->loop_thread))
        bp_check(rt);
}

static void on_delivery(void *ctx, pd_kafka *k, const rd_kafka_message_t *m)
{
    pd_runtime *rt = ctx;
    rt_entry *e = m->_private;
    PD_UNUSED(k);
    if (rt->txn) {
        on_delivery_txn(rt, m);
        return;
    }
    if (m->err) {
        rt->st.delivery_failed++;
        bool permanent = m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
                         m->err == RD_KAFKA_RESP_ERR_INVALID_MSG ||
                         m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                         m->err == RD_KAFKA_RESP_ERR__FATAL;
        if (!permanent) {
            /* produce the same bytes again: at least once, whatever the outage */
            rd_kafka_headers_t *h = NULL, *hc = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
                hc = rd_kafka_headers_copy(h);
            int rc = pd_kafka_produce(rt->producer, rd_kafka_topic_name(m->rkt), m->partition,
                                      m->key, m->key_len, m->payload, m->len, hc, e);
            if (rc == 0) {
                rt->st.redelivered++;
                return; /* in_flight and pending unchanged */
            }
            if (hc)
                rd_kafka_headers_destroy(hc);
        }
        pd_log_error("runtime", "output to %s lost: %s", rd_kafka_topic_name(m->rkt),
                     rd_kafka_err2str(m->err));
    } else {
        rt->st.delivered++;
    }
    rt->st.in_flight--;
    entry_done1(rt, e);
    bp_check(rt);
}

int pd_runtime_signal(void *ctx, const pd_signal *s)
{
    pd_runtime *rt = ctx;
    if (!rt || !s)
        return PD_EINVAL;
    if (rt->cur_warm) {
        rt->st.suppressed++;
        return 0;
    }
    rt->st.signals++;
    if (rt->o.also) {
        int rc = rt->o.also(rt->o.also_ctx, s);
        if (rc)
            pd_log_warn("runtime", "sink: %s", pd_strerror(rc));
    }
    const char *topic = rt->out[s->kind == PD_SIGNAL_BREACH ? OUT_BREACH : OUT_DRIFT];
    if (!topic)
        return 0;
    pd_buf_reset(&rt->buf);
    pd_signal_to_json(s, &rt->buf);
    if (rt->buf.oom)
        return PD_ENOMEM;
    /* per-resource signals keyed by resource: one resource's signals stay in order */
    pd_str key = {s->id, 32};
    if (s->nresources == 1 && !s->multi_resource && s->resources[0].id.len)
        key = s->resources[0].id;
    else if (s->has_goal && s->goal.id.len)
        key = s->goal.id;
    else if (s->rule.id.len)
        key = s->rule.id;
    return produce_tracked(rt, topic, RD_KAFKA_PARTITION_UA, key.p, key.len, rt->buf.p, rt->buf.len,
                           NULL);
}

int pd_runtime_produce_state(pd_runtime *rt, const char *topic, int32_t partition, const void *key,
                             size_t klen, const void *value, size_t vlen)
{
    if (!rt || !topic || !rt->txn)
        return PD_EINVAL;
    rt->st.state_records++;
    return produce_tracked(rt, topic, partition, key, klen, value, vlen, NULL);
}

int pd_runtime_produce(pd_runtime *rt, const char *topic, int32_t partition, const void *key,
                       size_t klen, const void *value, size_t vlen, rd_kafka_headers_t *headers)
{
    if (!rt || !topic) {
        if (headers)
            rd_kafka_headers_destroy(headers);
        return PD_EINVAL;
    }
    if (rt->cur_warm) {
        if (headers)
            rd_kafka_headers_destroy(headers);
        return 0;
    }
    rt->st.records++;
    return produce_tracked(rt, topic, partition, key, klen, value, vlen, headers);
}

int pd_runtime_message(const pd_runtime *rt, int64_t *timestamp, int64_t *offset)
{
    if (!rt || !rt->cur_msg)
        return PD_EINVAL;
    int64_t ts = rd_kafka_message_timestamp(rt->cur_msg, NULL);
    *timestamp = ts < 0 ? 0 : ts;
    *offset = rt->cur_msg->offset;
    return 0;
}

uint32_t pd_runtime_partition_count(const pd_runtime *rt)
{
    return rt ? rt->nparts : 0;
}

/* Where a partition that fetched nothing since its assignment stands: the consumer's
 * position (the committed offset it resumed from), else the offset we committed, else the
 * log's start. */
static int64_t start_offset(const pd_runtime *rt, const rt_part *p, int64_t lo)
{
    int64_t at = PD_MAX(p->committed, lo);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    if (rd_kafka_position(pd_kafka_rk(rt->consumer), l) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        l->elems[0].offset >= 0)
        at = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return at;
}

int pd_runtime_partition_at(const pd_runtime *rt, uint32_t i, const char **topic,
                            int32_t *partition, bool *caught_up)
{
    if (!rt || i >= rt->nparts)
        return PD_ENOTFOUND;
    const rt_part *p = rt->parts[i];
    *topic = p->topic;
    *partition = p->partition;
    int64_t lo = -1, hi = -1;
    *caught_up = false;
    if (!p->hold && p->rcount == 0 &&
        rd_kafka_get_watermark_offsets(pd_kafka_rk(rt->consumer), p->topic, p->partition, &lo,
                                       &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi >= 0) {
        /* consumed to the end; nothing fetched since the assignment counts from where the
         * consumer resumed (a restarted instance whose input is all committed is caught up) */
        int64_t next = p->last_seen >= 0 ? p->last_seen + 1 : start_offset(rt, p, lo);
        *caught_up = next >= hi;
    }
    return 0;
}

int pd_runtime_key(const pd_runtime *rt, const void **key, size_t *len)
{
    if (!rt || !rt->cur_msg)
        return PD_EINVAL;
    *key = rt->cur_msg->key;
    *len = rt->cur_msg->key_len;
    return 0;
}

int32_t pd_runtime_partition(const pd_runtime *rt)
{
    return rt && rt->cur_msg ? rt->cur_msg->partition : -1;
}

int pd_runtime_header(const pd_runtime *rt, const char *name, const void **value, size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    if (!rt || !rt->cur_msg ||
        rd_kafka_message_headers(rt->cur_msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h ||
        rd_kafka_header_get_last(h, name, value, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return PD_ENOTFOUND;
    return 0;
}

int pd_runtime_status(pd_runtime *rt, pd_str goal_id, const void *json, size_t len)
{
    if (!rt || !json)
        return PD_EINVAL;
    if (rt->cur_warm || !rt->out[OUT_STATUS])
        return 0;
    rt->st.status_records++;
    return produce_tracked(rt, rt->out[OUT_STATUS], RD_KAFKA_PARTITION_UA, goal_id.p, goal_id.len,
                           json, len, NULL);
}

bool pd_runtime_warming(const pd_runtime *rt)
{
    return rt && rt->cur_warm;
}

bool pd_runtime_busy(const pd_runtime *rt)
{
    return rt && (rt->txn_busy || rt->txn_failed);
}

int pd_runtime_dead_letter(pd_runtime *rt, const char *reason, const char *message,
                           size_t byte_offset, const void *data, size_t len)
{
    if (!rt)
        return PD_EINVAL;
    if (rt->cur_warm)
        return 0; /* written when the message was first processed */
    rt->st.dead_letters++;
    if (!rt->out[OUT_DLQ])
        return 0;
    const rd_kafka_message_t *m = rt->cur_msg;
    rd_kafka_headers_t *h = NULL, *orig = NULL;
    if (m && rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(6);
    char num[32];
    rd_kafka_header_add(h, "postured.reason", -1, reason ? reason : "error", -1);
    rd_kafka_header_add(h, "postured.error", -1, message ? message : "", -1);
    snprintf(num, sizeof(num), "%zu", byte_offset);
    rd_kafka_header_add(h, "postured.error.offset", -1, num, -1);
    if (m) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_header_add(h, "postured.source.topic", -1, topic, -1);
        snprintf(num, sizeof(num), "%d", (int)m->partition);
        rd_kafka_header_add(h, "postured.source.partition", -1, num, -1);
        snprintf(num, sizeof(num), "%lld", (long long)m->offset);
        rd_kafka_header_add(h, "postured.source.offset", -1, num, -1);
        if (!data) {
            data = m->payload;
            len = m->len;
        }
    }
    return produce_tracked(rt, rt->out[OUT_DLQ], RD_KAFKA_PARTITION_UA, m ? m->key : NULL,
                           m ? m->key_len : 0, data, len, h);
}

/* ---- consuming ------------------------------------------------------------------------ */

static void process_msg(pd_runtime *rt, rt_part *p, const rd_kafka_message_t *m)
{
    const char *topic = p->topic;
    rt->cur_part = p;
    rt->cur_msg = m;
    rt->cur_entry = NULL;
    rt->cur_warm = m->offset < p->warm_until;
    if (rt->cur_warm)
        rt->st.warm_messages++;
    else
        rt->st.messages++;
    int rc = rt->o.feed(rt->o.feed_ctx, rt, m->payload, m->len, p->format,
                        (pd_str){topic, (uint32_t)strlen(topic)});
    if (rc)
        pd_log_error("runtime", "processing %s/%d@%lld: %s", topic, (int)m->partition,
                     (long long)m->offset, pd_strerror(rc));
    p->last_seen = m->offset;
    rt_entry *e = rt->cur_entry;
    rt->cur_part = NULL;
    rt->cur_msg = NULL;
    rt->cur_entry = NULL;
    rt->cur_warm = false;
    entry_done1(rt, e); /* release the processing hold */
    bp_check(rt);
}

/* How long to wait for an empty partition before processing the others: not at all when
 * everything up to its (cached) high watermark is here; long when the broker said more is
 * there (an outage must not reorder the stream); 10 x order_wait_ms when nothing is known yet. */
static int64_t part_wait_ms(pd_runtime *rt, const rt_part *p)
{
    int64_t lo = -1, hi = -1;
    if (rt->o.unordered)
        return 0;
    if (rd_kafka_get_watermark_offsets(pd_kafka_rk(rt->consumer), p->topic, p->partition, &lo,
                                       &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return (int64_t)rt->order_wait_ms * 10; /* no fetch answered yet: librdkafka's fetch
                                                 * backoff alone can take a second */
    int64_t next = p->last_fetched >= 0 ? p->last_fetched + 1 : start_offset(rt, p, lo);
    return next >= hi ? 0 : (int64_t)rt->order_wait_ms * 60;
}

static int64_t msg_time(const rd_kafka_message_t *m)
{
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    return ts < 0 ? 0 : ts;
}

/* Processes buffered messages in timestamp order across partitions (Kafka Streams' rule):
 * always the partition whose next message is the oldest; a partition with nothing buffered
 * but more on the broker is waited for (see part_wait_ms). So a resource's events and the
 * fleet's move through event time together, whatever the fetch interleaving. */
/* A zero timeout, not event_active: libevent runs an event activated from a callback in
 * the same pass, so a pump re-arming itself that way would starve the consumer's and the
 * producer's fds (fetched messages, delivery reports) until it ran dry. */
static void pump_soon(pd_runtime *rt)
{
    static const struct timeval zero = {0, 0};
    event_add(rt->ev_pump, &zero);
}

static void pump(pd_runtime *rt)
{
    if (rt->pumping)
        return;
    rt->pumping = true;
    uint32_t n = 0;
    int64_t now = pd_monotonic_ms();
    bool waiting = false; /* for an empty partition with more on the broker */
    while (n < rt->budget && !rt->bp_paused && !rt->stopping && !rt->txn_busy && !rt->txn_failed) {
        rt_part *best = NULL;
        int64_t best_ts = 0;
        bool blocked = false;
        waiting = false;
        for (uint32_t i = 0; i < rt->nparts && !blocked; i++) {
            rt_part *p = rt->parts[i];
            if (p->hold) {
                blocked = true; /* its order is unknown until its committed offset is */
                continue;
            }
            if (p->rcount == 0) {
                if (now - p->empty_since_ms < part_wait_ms(rt, p))
                    blocked = waiting = true;
                continue;
            }
            int64_t ts = msg_time(p->ring[p->rhead]);
            if (!best || ts < best_ts) {
                best = p;
                best_ts = ts;
            }
        }
        if (blocked || !best)
            break;
        rd_kafka_message_t *m = best->ring[best->rhead];
        best->rhead = (best->rhead + 1) % best->rcap;
        if (--best->rcount == 0)
            best->empty_since_ms = now;
        rt->buf_bytes -= m->len;
        if (best_ts < rt->last_ts)
            rt->st.out_of_order++;
        else
            rt->last_ts = best_ts;
        process_msg(rt, best, m);
        rd_kafka_message_destroy(m);
        n++;
        if (rt->txn && ++rt->since_commit >= rt->o.eos_every_events)
            eos_commit_start(rt);
    }
    if (rt->held && rt->buf_bytes <= rt->buf_limit / 2) {
        rt->held = false;
        rt->hold_at = rt->buf_limit;
        pd_kafka_hold(rt->consumer, false);
    } else if (rt->held && waiting && rt->buf_bytes < 4 * rt->buf_limit) {
        /* the messages waited for may sit in librdkafka's queue behind the held ones: take
         * another quarter of the bound, up to 4x; beyond, wait as part_wait_ms says */
        rt->held = false;
        rt->hold_at = PD_MIN(rt->buf_bytes + rt->buf_limit / 4, 4 * rt->buf_limit);
        pd_kafka_hold(rt->consumer, false);
    }
    rt->pumping = false;
    if (n == rt->budget)
        pump_soon(rt);
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    PD_UNUSED(fd);
    PD_UNUSED(what);
    pump(arg);
}

static void on_consumer_tick(void *ctx, pd_kafka *k)
{
    PD_UNUSED(k);
    pump(ctx);
}

static bool on_message(void *ctx, pd_kafka *k, rd_kafka_message_t *m)
{
    pd_runtime *rt = ctx;
    PD_UNUSED(k);
    rt_part *p = part_find(rt, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p)
        return false; /* not ours: whoever owns it fetches it again */
    if (m->offset <= p->last_fetched)
        return false; /* buffered already (re-fetch after a pause) */
    if (p->rcount == p->rcap) {
        uint32_t cap = p->rcap ? p->rcap * 2 : 256;
        rd_kafka_message_t **r = malloc(cap * sizeof(*r));
        if (!r)
            return false; /* not buffered: re-fetched after the next pause */
        for (uint32_t i = 0; i < p->rcount; i++)
            r[i] = p->ring[(p->rhead + i) % p->rcap];
        free(p->ring);
        p->ring = r;
        p->rhead = 0;
        p->rcap = cap;
    }
    p->ring[(p->rhead + p->rcount++) % p->rcap] = m;
    p->last_fetched = m->offset;
    if (p->first_fetched < 0)
        p->first_fetched = m->offset;
    rt->last_input_ms = pd_monotonic_ms();
    rt->buf_bytes += m->len;
    if (rt->buf_bytes >= rt->hold_at && !rt->held) {
        rt->held = true;
        pd_kafka_hold(rt->consumer, true);
    }
    /* processed after this drain, which empties librdkafka's queue as fast as it fills */
    pump_soon(rt);
    return true;
}

/* Helper thread: the group's committed offsets (a network round trip). */
static void *job_main(void *arg)
{
    rt_job *j = arg;
    j->err = rd_kafka_committed(pd_kafka_rk(j->rt->consumer), j->parts, 10000);
    rt_job *jp = j;
    ssize_t w;
    do {
        w = write(j->rt->jobpipe[1], &jp, sizeof(jp));
    } while (w < 0 && errno == EINTR);
    return NULL;
}

static void job_start(pd_runtime *rt, const rd_kafka_topic_partition_list_t *parts)
{
    rt_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->rt = rt;
    j->parts = rd_kafka_topic_partition_list_copy(parts);
    if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
        rd_kafka_topic_partition_list_destroy(j->parts);
        free(j);
        pd_log_error("runtime", "cannot start the committed-offsets thread");
        return;
    }
    j->next = rt->jobs;
    rt->jobs = j;
}

static void job_unlink(pd_runtime *rt, rt_job *j)
{
    for (rt_job **pp = &rt->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    pthread_join(j->thread, NULL);
    rd_kafka_topic_partition_list_destroy(j->parts);
    free(j);
}

static void on_job(evutil_socket_t fd, short what, void *arg)
{
    pd_runtime *rt = arg;
    rt_job *j;
    PD_UNUSED(what);
    while (read(fd, &j, sizeof(j)) == sizeof(j)) {
        if (j->err) {
            pd_log_warn("runtime", "fetching committed offsets: %s; retrying",
                        rd_kafka_err2str(j->err));
            rd_kafka_topic_partition_list_t *again = rd_kafka_topic_partition_list_copy(j->parts);
            job_unlink(rt, j);
            job_start(rt, again);
            rd_kafka_topic_partition_list_destroy(again);
            continue;
        }
        rd_kafka_topic_partition_list_t *go = rd_kafka_topic_partition_list_new(j->parts->cnt);
        for (int i = 0; i < j->parts->cnt; i++) {
            rd_kafka_topic_partition_t *e = &j->parts->elems[i];
            rt_part *p = part_find(rt, e->topic, e->partition);
            if (!p || !p->hold)
                continue;
            p->hold = false;
            if (p->rcount == 0) /* its wait for order starts now that it can be fetched */
                p->empty_since_ms = pd_monotonic_ms();
            p->warm_until = e->offset >= 0 ? e->offset : 0;
            p->committed = e->offset >= 0 ? e->offset : -1;
            rd_kafka_topic_partition_list_add(go, e->topic, e->partition);
            pd_log_info("runtime", "%s/%d: rebuilding state up to offset %lld", e->topic,
                        (int)e->partition, (long long)p->warm_until);
        }
        rt->last_input_ms = pd_monotonic_ms();
        rd_kafka_topic_partition_list_destroy(go);
        job_unlink(rt, j);
        pump_soon(rt);
    }
}

static bool on_assigned(void *ctx, pd_kafka *k, rd_kafka_topic_partition_list_t *parts)
{
    pd_runtime *rt = ctx;
    PD_UNUSED(k);
    for (int i = 0; i < parts->cnt; i++) {
        rt_part *p = part_add(rt, parts->elems[i].topic, parts->elems[i].partition);
        if (!p)
            continue;
        if (rt->o.warm_start) {
            p->hold = true;
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    if (rt->lag)
        pd_lag_assign(rt->lag, parts);
    if (rt->o.assigned)
        rt->o.assigned(rt->o.assigned_ctx, rt, parts);
    rt->last_input_ms = pd_monotonic_ms(); /* idle time counts from here */
    pd_log_info("runtime", "%d partition(s) assigned", parts->cnt);
    /* Fetching starts at once; messages wait in the buffer until the committed offsets are
     * known (pausing inside the rebalance callback could stall librdkafka 2.0's fetcher). */
    if (rt->o.warm_start && parts->cnt > 0)
        job_start(rt, parts);
    return false;
}

static void on_revoked(void *ctx, pd_kafka *k, const rd_kafka_topic_partition_list_t *parts,
                       bool lost)
{
    pd_runtime *rt = ctx;
    PD_UNUSED(k);
    if (rt->txn) {
        /* the next owner starts from what is committed now: commit everything (blocking) */
        if (!lost && !rt->txn_failed)
            eos_commit_sync(rt);
        else
            eos_wait(rt);
    } else if (!lost) {
        commit_async(rt, parts);
    }
    if (rt->o.revoked)
        rt->o.revoked(rt->o.revoked_ctx, rt, parts);
    for (int i = 0; i < parts->cnt; i++) {
        rt_part *p = part_find(rt, parts->elems[i].topic, parts->elems[i].partition);
        if (p)
            part_remove(rt, p);
    }
    if (rt->lag)
        pd_lag_revoke(rt->lag, parts);
    pd_log_info("runtime", "%d partition(s) %s", parts->cnt, lost ? "lost" : "revoked");
}

static void on_kafka_error(void *ctx, pd_kafka *k, rd_kafka_resp_err_t err, const char *reason,
                           bool fatal)
{
    PD_UNUSED(ctx);
    /* librdkafka retries transient errors by itself: log them, stop only on fatal ones */
    pd_log_fields(fatal ? PD_LOG_ERROR : PD_LOG_WARN, "kafka", reason,
                  (pd_log_field[]){PD_LF_STR("client", pd_kafka_name(k)),
                                   PD_LF_STR("error", rd_kafka_err2name(err))},
                  2);
    if (fatal)
        pd_runtime_stop(ctx);
}

/* ---- timers --------------------------------------------------------------------------- */

static void on_commit_timer(evutil_socket_t fd, short what, void *arg)
{
    pd_runtime *rt = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    if (rt->txn)
        eos_commit_start(rt);
    else
        commit_async(rt, NULL);
    if (!rt->txn_busy)
        bp_check(rt);
    if (!rt->stopping && rt->o.exit_idle_ms && rt->nparts > 0 && rt->st.in_flight == 0) {
        bool holding = false;
        for (uint32_t i = 0; i < rt->nparts; i++)
            holding |= rt->parts[i]->hold || rt->parts[i]->rcount > 0;
        if (!holding && pd_monotonic_ms() - rt->last_input_ms >= (int64_t)rt->o.exit_idle_ms) {
            pd_log_info("runtime", "no input for %u ms: stopping", rt->o.exit_idle_ms);
            pd_runtime_stop(rt);
        }
    }
}

static void on_status_timer(evutil_socket_t fd, short what, void *arg)
{
    pd_runtime *rt = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    if (rt->o.status_all && !rt->stopping && !rt->txn_busy && !rt->txn_failed)
        rt->o.status_all(rt->o.status_ctx, rt);
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
    pd_runtime *rt = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    if (rt->st.in_flight == 0 || pd_monotonic_ms() >= rt->stop_deadline_ms) {
        if (!rt->o.drained) {
            event_base_loopbreak(rt->base);
        } else if (!rt->drained) {
            rt->drained = true;
            rt->o.drained(rt->o.drained_ctx, rt);
        }
    }
}

int64_t pd_runtime_idle_ms(const pd_runtime *rt)
{
    if (!rt || rt->nparts == 0 || rt->st.in_flight > 0 || rt->txn_busy)
        return 0;
    for (uint32_t i = 0; i < rt->nparts; i++)
        if (rt->parts[i]->hold || rt->parts[i]->rcount > 0)
            return 0;
    return pd_monotonic_ms() - rt->last_input_ms;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int pd_runtime_create(const pd_runtime_opts *o, pd_runtime **out, char *err, size_t errlen)
{
    int rc = 0;
    pd_runtime *rt = NULL;
    pd_kafka_conf *pc = NULL;
    *out = NULL;
    if (!o || !o->base || !o->feed || !o->group || !o->inputs || o->ninputs == 0) {
        snprintf(err, errlen, "runtime: base, feed, group and inputs are required");
        return PD_EINVAL;
    }
    rt = calloc(1, sizeof(*rt));
    if (!rt)
        return PD_ENOMEM;
    rt->jobpipe[0] = rt->jobpipe[1] = -1;
    rt->o = *o;
    rt->base = o->base;
    pd_buf_init(&rt->buf);
    rt->max_in_flight = o->max_in_flight ? o->max_in_flight : 100000;
    rt->budget = o->budget ? o->budget : 1000;
    rt->order_wait_ms = o->order_wait_ms ? o->order_wait_ms : 1000;
    rt->buf_limit = o->buffer_bytes ? o->buffer_bytes : (uint64_t)128 << 20;
    rt->hold_at = rt->buf_limit;
    if (!o->commit_interval_ms)
        rt->o.commit_interval_ms = 1000;
    if (!o->status_interval_ms)
        rt->o.status_interval_ms = 30000;
    if (!o->shutdown_timeout_ms)
        rt->o.shutdown_timeout_ms = 10000;
    if (o->exactly_once) {
        const char *fault = getenv("PD_FAULT_TXN_ABORT_EVERY");
        rt->fault_abort_every = fault ? (uint32_t)strtoul(fault, NULL, 10) : 0;
        if (!o->eos_every_events)
            rt->o.eos_every_events = 10000;
        rt->o.commit_interval_ms = o->eos_interval_ms ? o->eos_interval_ms : 100;
        pthread_mutex_init(&rt->dr_mu, NULL);
        rt->dr_mu_init = true;
    }
    rt->group = strdup(o->group);
    rt->out[OUT_DRIFT] = dup_or_null(o->out_drift);
    rt->out[OUT_BREACH] = dup_or_null(o->out_breach);
    rt->out[OUT_STATUS] = dup_or_null(o->out_status);
    rt->out[OUT_DLQ] = dup_or_null(o->out_dead_letter);
    rt->inputs = calloc(o->ninputs, sizeof(*rt->inputs));
    if (!rt->group || !rt->inputs) {
        rc = PD_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < o->ninputs; i++) {
        rt->inputs[i].format = o->inputs[i].format;
        if (!(rt->inputs[i].topic = strdup(o->inputs[i].topic))) {
            rc = PD_ENOMEM;
            goto fail;
        }
    }
    rt->o.inputs = rt->inputs;

    /* producer: never give up on an output by itself; room for bursts beyond the bound */
    char qmax[32];
    snprintf(qmax, sizeof(qmax), "%u", PD_MAX(2 * rt->max_in_flight, 100000u));
    if ((rc = pd_kafka_conf_new(&pc)) != 0)
        goto fail;
    if (o->exactly_once) {
        /* a transactional producer wants message.timeout.ms <= transaction.timeout.ms */
        pd_kafka_conf_set(pc, "transaction.timeout.ms", "60000");
        pd_kafka_conf_set(pc, "message.timeout.ms", "60000");
    } else {
        pd_kafka_conf_set(pc, "message.timeout.ms", "0");
    }
    pd_kafka_conf_set(pc, "queue.buffering.max.messages", qmax);
    for (uint32_t i = 0; o->producer_conf && i < pd_kafka_conf_count(o->producer_conf); i++) {
        const char *k, *v;
        pd_kafka_conf_at(o->producer_conf, i, &k, &v);
        if ((rc = pd_kafka_conf_set_literal(pc, k, v)) != 0)
            goto fail;
    }
    if (o->exactly_once) {
        char txid[512];
        const char *tid = o->transactional_id;
        if (!tid)
            tid = pd_kafka_conf_get(pc, "transactional.id");
        if (!tid) {
            snprintf(txid, sizeof(txid), "%s.postured", o->group);
            tid = txid;
        }
        if ((rc = pd_kafka_conf_set_literal(pc, "transactional.id", tid)) != 0)
            goto fail;
    }
    pd_kafka_opts po = {.role = PD_KAFKA_PRODUCER,
                        .conf = pc,
                        .base = o->base,
                        .ctx = rt,
                        .budget = o->budget,
                        .tick_ms = o->tick_ms,
                        .name = "producer"};
    po.h.delivery = on_delivery;
    po.h.error = on_kafka_error;
    if ((rc = pd_kafka_new(&po, &rt->producer, err, errlen)) != 0)
        goto fail;

    pd_kafka_conf_destroy(pc);
    pc = NULL;
    if ((rc = pd_kafka_conf_new(&pc)) != 0)
        goto fail;
    for (uint32_t i = 0; o->consumer_conf && i < pd_kafka_conf_count(o->consumer_conf); i++) {
        const char *k, *v;
        pd_kafka_conf_at(o->consumer_conf, i, &k, &v);
        if ((rc = pd_kafka_conf_set_literal(pc, k, v)) != 0)
            goto fail;
    }
    if ((rc = pd_kafka_conf_set_literal(pc, "group.id", rt->group)) != 0)
        goto fail;
    if (o->exactly_once &&
        (rc = pd_kafka_conf_set_literal(pc, "isolation.level", "read_committed")) != 0)
        goto fail;
    pd_kafka_opts co = {.role = PD_KAFKA_CONSUMER,
                        .conf = pc,
                        .base = o->base,
                        .ctx = rt,
                        /* moving fetched messages to the buffers is cheap: take all there is */
                        .budget = PD_MAX(o->budget, 100000u),
                        .tick_ms = o->tick_ms,
                        .name = "consumer"};
    co.h.message = on_message;
    co.h.assigned = on_assigned;
    co.h.revoked = on_revoked;
    co.h.committed = on_committed;
    co.h.error = on_kafka_error;
    co.h.tick = on_consumer_tick;
    if ((rc = pd_kafka_new(&co, &rt->consumer, err, errlen)) != 0)
        goto fail;
    pd_kafka_conf_destroy(pc);
    pc = NULL;
    if (o->metrics) {
        if ((rc = pd_lag_create(o->metrics, &rt->lag)) != 0)
            goto fail;
        pd_lag_set_consumer(rt->lag, pd_kafka_rk(rt->consumer));
    }

    if (pipe(rt->jobpipe) != 0 || fcntl(rt->jobpipe[0], F_SETFL, O_NONBLOCK) != 0) {
        rc = PD_EIO;
        goto fail;
    }
    rt->ev_jobs = event_new(rt->base, rt->jobpipe[0], EV_READ | EV_PERSIST, on_job, rt);
    rt->ev_commit = event_new(rt->base, -1, EV_PERSIST, on_commit_timer, rt);
    rt->ev_status = event_new(rt->base, -1, EV_PERSIST, on_status_timer, rt);
    rt->ev_stop = event_new(rt->base, -1, EV_PERSIST, on_stop_timer, rt);
    rt->ev_pump = event_new(rt->base, -1, 0, on_pump, rt);
    if (!rt->ev_jobs || !rt->ev_commit || !rt->ev_status || !rt->ev_stop || !rt->ev_pump) {
        rc = PD_ENOMEM;
        goto fail;
    }
    if (o->exactly_once) {
        if ((rc = pd_txn_create(pd_kafka_rk(rt->producer), pd_kafka_rk(rt->consumer),
                                (int)rt->o.shutdown_timeout_ms, &rt->txn)) != 0)
            goto fail;
        rt->ev_txn = event_new(rt->base, pd_txn_fd(rt->txn), EV_READ | EV_PERSIST, on_txn_done, rt);
        if (!rt->ev_txn) {
            rc = PD_ENOMEM;
            goto fail;
        }
    }
    *out = rt;
    return 0;
fail:
    pd_kafka_conf_destroy(pc);
    pd_runtime_destroy(rt);
    return rc;
}

static void add_ms(struct event *ev, uint32_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(ev, &tv);
}

int pd_runtime_start(pd_runtime *rt)
{
    if (!rt || rt->started)
        return PD_ESTATE;
    const char **topics = calloc(rt->o.ninputs, sizeof(*topics));
    if (!topics)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < rt->o.ninputs; i++)
        topics[i] = rt->inputs[i].topic;
    rt->loop_thread = pthread_self();
    if (rt->txn) {
        /* init_transactions blocks (it fences an earlier instance with the same id and
         * aborts its open transaction): once, before anything is consumed */
        int trc = pd_txn_begin(rt->txn);
        if (trc) {
            free(topics);
            pd_log_error("runtime", "exactly-once: cannot start transactions: %s",
                         pd_strerror(trc));
            return trc;
        }
        event_add(rt->ev_txn, NULL);
        pd_log_info("runtime", "exactly-once: commit every %u events or %u ms",
                    rt->o.eos_every_events, rt->o.commit_interval_ms);
    }
    int rc = pd_kafka_subscribe(rt->consumer, topics, rt->o.ninputs);
    free(topics);
    if (rc)
        return rc;
    rt->started = true;
    rt->last_input_ms = pd_monotonic_ms();
    event_add(rt->ev_jobs, NULL);
    add_ms(rt->ev_commit, rt->o.commit_interval_ms);
    add_ms(rt->ev_status, rt->o.status_interval_ms);
    return 0;
}

void pd_runtime_stop(pd_runtime *rt)
{
    if (!rt || rt->stopping)
        return;
    rt->stopping = true;
    pd_kafka_pause(rt->consumer);
    /* keep most of the budget for the drain; the rest is for flush, commit and close */
    rt->stop_deadline_ms = pd_monotonic_ms() + (int64_t)rt->o.shutdown_timeout_ms * 6 / 10;
    add_ms(rt->ev_stop, 20);
    pd_log_info("runtime", "stopping: %llu output(s) in flight",
                (unsigned long long)rt->st.in_flight);
}

bool pd_runtime_stopping(const pd_runtime *rt)
{
    return rt && rt->stopping;
}

int pd_runtime_finish(pd_runtime *rt)
{
    if (!rt)
        return PD_EINVAL;
    int64_t t0 = pd_monotonic_ms();
    int64_t budget = (int64_t)rt->o.shutdown_timeout_ms * 4 / 10;
    int rc = 0;
    event_del(rt->ev_commit);
    event_del(rt->ev_status);
    event_del(rt->ev_stop);
    if (rt->txn) {
        eos_wait(rt);
        if (!rt->txn_failed && rt->o.status_all && rt->out[OUT_STATUS])
            rt->o.status_all(rt->o.status_ctx, rt);
        rc = rt->txn_failed ? PD_EKAFKA : eos_commit_sync(rt);
        if (rc)
            pd_log_error("runtime", "shutdown: the last transaction was not committed");
        pd_kafka_close(rt->consumer);
        return rc;
    }
    if (rt->o.status_all && rt->out[OUT_STATUS])
        rt->o.status_all(rt->o.status_ctx, rt);
    int64_t left = budget - (pd_monotonic_ms() - t0);
    if (pd_kafka_flush(rt->producer, (int)PD_MAX(left * 2 / 3, 100)) != 0 || rt->st.in_flight > 0) {
        pd_log_error("runtime", "shutdown: %llu output(s) still in flight",
                     (unsigned long long)rt->st.in_flight);
        rc = PD_ETIMEOUT;
    }
    rd_kafka_topic_partition_list_t *l = commit_list(rt, NULL);
    if (l->cnt > 0) {
        if (pd_kafka_commit_sync(rt->consumer, l) == 0) {
            commit_mark(rt, l);
            rt->st.commits++;
        } else {
            rt->st.commit_errors++;
            rc = rc ? rc : PD_EKAFKA;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    /* the revoke during close must not commit again: nothing is in flight by now */
    pd_kafka_close(rt->consumer);
    return rc;
}

void pd_runtime_get_stats(const pd_runtime *rt, pd_runtime_stats *out)
{
    if (!rt || !out)
        return;
    *out = rt->st;
    out->partitions = rt->nparts;
    out->holding = 0;
    for (uint32_t i = 0; i < rt->nparts; i++)
        out->holding += rt->parts[i]->hold;
}

pd_kafka *pd_runtime_consumer(pd_runtime *rt)
{
    return rt ? rt->consumer : NULL;
}

pd_kafka *pd_runtime_producer(pd_runtime *rt)
{
    return rt ? rt->producer : NULL;
}

void pd_runtime_destroy(pd_runtime *rt)
{
    if (!rt)
        return;
    while (rt->jobs)
        job_unlink(rt, rt->jobs);
    if (rt->txn && rt->txn_busy)
        eos_wait(rt);
    pd_txn_destroy(rt->txn);
    if (rt->ev_txn)
        event_free(rt->ev_txn);
    if (rt->txn_offsets)
        rd_kafka_topic_partition_list_destroy(rt->txn_offsets);
    if (rt->ev_jobs)
        event_free(rt->ev_jobs);
    if (rt->ev_commit)
        event_free(rt->ev_commit);
    if (rt->ev_status)
        event_free(rt->ev_status);
    if (rt->ev_stop)
        event_free(rt->ev_stop);
    if (rt->ev_pump)
        event_free(rt->ev_pump);
    pd_lag_destroy(rt->lag); /* before the consumer it reads */
    pd_kafka_destroy(rt->consumer);
    pd_kafka_destroy(rt->producer);
    while (rt->nparts)
        part_remove(rt, rt->parts[0]);
    free(rt->parts);
    for (uint32_t i = 0; i < rt->nchunks; i++)
        free(rt->chunks[i]);
    free(rt->chunks);
    for (int i = 0; i < 2; i++)
        if (rt->jobpipe[i] >= 0)
            close(rt->jobpipe[i]);
    for (uint32_t i = 0; rt->inputs && i < rt->o.ninputs; i++)
        free((char *)rt->inputs[i].topic);
    free(rt->inputs);
    for (int i = 0; i < 4; i++)
        free(rt->out[i]);
    free(rt->group);
    pd_buf_free(&rt->buf);
    if (rt->dr_mu_init)
        pthread_mutex_destroy(&rt->dr_mu);
    free(rt);
}
