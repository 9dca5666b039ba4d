/* pd_scale.c: route, state and goal stages of a scaled-out run (see pd_scale.h). */
#include "pd_scale.h"

#include "pd_engine.h"
#include "pd_event_pack.h"
#include "pd_goalfold.h"
#include "pd_log.h"
#include "pd_runtime.h"
#include "pd_store.h"
#include "pd_time.h"

#include <event2/event.h>
#include <stdlib.h>
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
    pd_buf *last; /* per goal: the partial last published, packed at time 0 */
} task;

struct pd_scale {
    pd_scale_opts o;
    char *t_events, *t_changelog, *t_partials, *instance;
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
    pd_str cur_source;
    task **tasks; /* by partition */
    uint32_t ntasks;
    pd_goalfold *fold;
    struct event *ev_idle;
    bool stopping, failed;
    uint32_t drained;
    uint64_t decode_errors, routed, bad_events, bad_partials, stale_partials, restores;
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

/* ---- route ---------------------------------------------------------------------------- */

static int route_event(void *ctx, const pd_event *ev)
{
    pd_scale *s = ctx;
    pd_buf_reset(&s->buf);
    int rc = pd_event_pack(ev, &s->buf);
    if (rc)
        return rc;
    if (s->buf.oom)
        return PD_ENOMEM;
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, SOURCE_HEADER, -1, s->cur_source.p, (ssize_t)s->cur_source.len);
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
    pd_processor_opts po = s->popts;
    po.signal_ctx = t;
    po.applied_ctx = t;
    if ((rc = pd_processor_create(&po, &t->proc, &diag)) != 0) {
        pd_log_error("state", "partition %d: %s", (int)partition, diag.msg);
        goto fail;
    }
    t->last = calloc(s->ngoals + 1, sizeof(*t->last));
    if (!t->last) {
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
    uint64_t records = 0, bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        s->tasks[ts[i]->partition] = ts[i];
        records += outs[i].applied;
        bytes += outs[i].bytes;
        ts[i] = NULL;
    }
    s->restores += n;
    s->restored_records += records;
    s->restore_seconds += outs[0].seconds;
    pd_log_info("state", "restored %u partition(s): %llu state records (%.1f MB) from %s in %.2f s",
                n, (unsigned long long)records, (double)bytes / 1e6, s->t_changelog,
                outs[0].seconds);
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
    return pd_processor_feed_event(t->proc, &ev, source);
}

/* Each goal's partial aggregate when it changed since the last one published. */
static int put_partials(pd_scale *s, task *t, pd_runtime *rt)
{
    pd_engine *e = pd_processor_engine(t->proc);
    const pd_goal_set *gs = pd_processor_goals(t->proc);
    int64_t now = pd_engine_now(e);
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
        pd_buf_reset(&s->buf);
        pd_buf_reset(&s->key);
        if ((rc = pd_goal_partial_pack(g, (uint32_t)t->partition, now, &s->gp, &s->buf)) != 0)
            return rc;
        pd_buf_printf(&s->key, "%s\x1f%d", g->id, (int)t->partition);
        if (s->buf.oom || s->key.oom || last->oom)
            return PD_ENOMEM;
        if ((rc = pd_runtime_produce_state(rt, s->t_partials, 0, s->key.p, s->key.len, s->buf.p,
                                           s->buf.len)) != 0)
            return rc;
    }
    return 0;
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
            rc = put_partials(s, t, rt);
        if (rc)
            return rc;
    }
    return 0;
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
    for (uint32_t gi = 0; gi < s->ngoals; gi++)
        write_status(s, gi);
}

static int goals_feed(void *ctx, pd_runtime *rt, const char *msg, size_t len, pd_format format,
                      pd_str source)
{
    pd_scale *s = ctx;
    PD_UNUSED(format);
    PD_UNUSED(source);
    if (!msg)
        return 0; /* a tombstone: nothing publishes them, compaction may */
    pd_str gid;
    uint32_t part, gi;
    int64_t t_ms;
    const char *why = NULL;
    int rc = pd_goal_partial_unpack(msg, len, &gid, &part, &t_ms, &s->gp, &why);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc) {
        s->bad_partials++;
        return pd_runtime_dead_letter(rt, "partial", why ? why : "malformed", 0, msg, len);
    }
    if (pd_goalfold_goal_find(s->fold, gid, &gi) != 0) {
        s->stale_partials++; /* a goal this goal set does not have */
        return 0;
    }
    rc = pd_goalfold_update(s->fold, gi, part, &s->gp, t_ms);
    if (rc == PD_ESTATE || rc == PD_EINVAL) {
        s->stale_partials++; /* another definition of the goal (written before a change) */
        return 0;
    }
    return rc;
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
    if (!(s->instance = strdup(inst)) || !(s->t_events = fmt(o->group, "-events")) ||
        !(s->t_changelog = fmt(o->group, "-state-changelog")) ||
        !(s->t_partials = fmt(o->group, "-partials")) ||
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
        (rc = pd_event_unpacker_create(&s->unp)) != 0 ||
        (rc = pd_goalfold_create(pd_processor_goals(s->tmpl), pd_str_c(o->pl->name),
                                 (uint32_t)s->nparts, fold_signal, s, fold_status, s, &s->fold)) !=
            0)
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
                              .also = o->also,
                              .also_ctx = o->also_ctx};
        if (i == ST_ROUTE) {
            ro.inputs = inputs;
            ro.ninputs = o->pl->ninputs;
            ro.feed = route_feed;
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
        } else {
            /* the partials topic is compacted to the latest of each goal and partition: read
             * from the start at every start, outputs suppressed up to the committed offset */
            ro.inputs = &part_in;
            ro.ninputs = 1;
            ro.unordered = true;
            ro.feed = goals_feed;
            ro.warm_start = true;
            ro.out_drift = o->pl->outputs.drift;
            ro.out_status = o->pl->outputs.status;
            ro.status_all = goals_status_all;
            ro.status_ctx = s;
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

int pd_scale_start(pd_scale *s)
{
    char err[256];
    pd_kafka *k = pd_runtime_producer(s->rt[ST_ROUTE]);
    static const char *const events_cfg[] = {"cleanup.policy", "delete", NULL};
    static const char *const compact_cfg[] = {"cleanup.policy", "compact", "segment.bytes",
                                              "67108864", NULL};
    int rc = pd_kafka_ensure_topic(k, s->t_events, s->nparts, events_cfg, 15000, err, sizeof(err));
    if (!rc)
        rc = pd_kafka_ensure_topic(k, s->t_changelog, s->nparts, compact_cfg, 15000, err,
                                   sizeof(err));
    if (!rc)
        rc = pd_kafka_ensure_topic(k, s->t_partials, 1, compact_cfg, 15000, err, sizeof(err));
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
            "(%llu records in %.2f s), %llu commits, %llu bad events\n"
            "goals: %llu partials (%llu rebuilding), %llu signals, %llu status records, %llu "
            "commits\n",
            (unsigned long long)rs[0].messages, (unsigned long long)s->routed,
            (unsigned long long)rs[0].dead_letters, (unsigned long long)rs[0].commits,
            (unsigned long long)rs[1].messages, (unsigned long long)rs[1].signals,
            (unsigned long long)rs[1].state_records, (unsigned long long)s->restores,
            (unsigned long long)s->restored_records, s->restore_seconds,
            (unsigned long long)rs[1].commits, (unsigned long long)s->bad_events,
            (unsigned long long)rs[2].messages, (unsigned long long)rs[2].warm_messages,
            (unsigned long long)rs[2].signals, (unsigned long long)rs[2].status_records,
            (unsigned long long)rs[2].commits);
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
    free(s->instance);
    free(s->t_events);
    free(s->t_changelog);
    free(s->t_partials);
    free(s);
}
