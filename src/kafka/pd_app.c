/* pd_app.c: config + pipeline -> processor + runtime + sinks (see pd_app.h). */
#include "pd_app.h"
#include "pd_scale.h"
#include "pd_store.h"

#include "pd_config.h"
#include "pd_log.h"
#include "pd_metrics.h"
#include "pd_provider.h"
#include "pd_sink.h"
#include "pd_sink_kafka.h"

#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pd_app {
    pd_app_opts o;
    pd_config *cfg;
    pd_decode_opts dopts; /* outlives every processor: reload copies the options */
    pd_pipeline *pl;
    pd_processor *proc;
    pd_runtime *rt;
    pd_store *store; /* exactly-once state changelog; NULL without */
    pd_scale *scale; /* state.partitioned: the staged topology instead of rt/proc */
    pd_sink_set *sinks;
    pd_kafka_conf *cconf, *pconf;
    pd_runtime_input *inputs;
    uint8_t *dirty; /* per goal index: status changed since the last write */
    uint32_t ngoals;
    bool any_dirty, stopping;
    struct event *ev_dirty;
    pd_buf buf;
    /* operations (src/engine/pd_provider.h): the provider owns the processor (a->proc follows
     * it across reloads), the status API, metrics and SIGHUP reload */
    pd_provider *pv;
    pd_ops *ops;
    pd_metrics *metrics;
    pd_counter **m_in; /* per input: postured_events_in_total{topic,format} (messages) */
    pd_histogram *m_latency;
};

/* ---- Kafka settings ------------------------------------------------------------------- */

static int add_settings(pd_kafka_conf *c, const pd_kv *kv, uint32_t n, const char *origin,
                        const char **eventhubs)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "eventhubs.connection_string")) {
            *eventhubs = kv[i].value;
            continue;
        }
        int rc = pd_kafka_conf_set(c, kv[i].key, kv[i].value);
        if (rc == PD_ENOTFOUND) {
            fprintf(stderr, "%s: kafka.%s: environment variable in '%s' is not set\n", origin,
                    kv[i].key, kv[i].value);
            return PD_ECONFIG;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int build_conf(pd_app *a, pd_kafka_role role, pd_kafka_conf **out)
{
    const char *eh = NULL;
    int rc = pd_kafka_conf_new(out);
    if (!rc)
        rc = add_settings(*out, a->cfg->kafka, a->cfg->nkafka,
                          a->o.config_path ? a->o.config_path : "config", &eh);
    if (!rc)
        rc = add_settings(*out, a->pl->kafka, a->pl->nkafka, a->pl->path, &eh);
    if (!rc && eh) {
        char err[256];
        const char *cs = eh;
        if (cs[0] == '$' && cs[1] == '{') {
            /* ${NAME}: the connection string lives in the environment */
            char name[128];
            size_t n = strlen(cs);
            if (n > 3 && n - 3 < sizeof(name) && cs[n - 1] == '}') {
                memcpy(name, cs + 2, n - 3);
                name[n - 3] = '\0';
                cs = getenv(name);
            } else {
                cs = NULL;
            }
            if (!cs) {
                fprintf(stderr, "kafka.eventhubs.connection_string: %s is not set\n", eh);
                return PD_ECONFIG;
            }
        }
        pd_log_add_secret(cs);
        rc = pd_kafka_conf_eventhubs(*out, cs, role, err, sizeof(err));
        if (rc)
            fprintf(stderr, "kafka.eventhubs.connection_string: %s\n", err);
    }
    if (!rc && a->o.bootstrap)
        rc = pd_kafka_conf_set_literal(*out, "bootstrap.servers", a->o.bootstrap);
    return rc;
}

/* ---- processor <-> runtime ------------------------------------------------------------ */

static int on_signal(void *ctx, const pd_signal *s)
{
    pd_app *a = ctx;
    if (a->o.on_signal && !pd_runtime_warming(a->rt))
        a->o.on_signal(a->o.signal_ctx, s);
    return pd_runtime_signal(a->rt, s);
}

static void on_dead_letter(void *ctx, const pd_dead_letter *dl)
{
    pd_app *a = ctx;
    if (a->metrics) {
        pd_counter *c = NULL; /* decode errors are rare: a registry lookup is fine here */
        if (!pd_metrics_counter(a->metrics, PD_M_DECODE_ERRORS, "Messages that failed to decode.",
                                (const char *[]){"code", dl->reason, NULL}, &c))
            pd_counter_inc(c);
    }
    if (!pd_runtime_warming(a->rt))
        pd_log_fields(PD_LOG_WARN, "runtime", "dead letter",
                      (pd_log_field[]){PD_LF_STR("reason", dl->reason),
                                       PD_LF_STR("error", dl->message),
                                       PD_LF_PSTR("source", dl->source)},
                      3);
    int rc = pd_runtime_dead_letter(a->rt, dl->reason, dl->message, dl->offset, dl->data, dl->len);
    if (rc)
        pd_log_error("runtime", "dead letter not written: %s", pd_strerror(rc));
}

static void on_status_change(void *ctx, const pd_goal_status *st)
{
    pd_app *a = ctx;
    pd_engine *e = pd_processor_engine(a->proc);
    if (!e)
        return;
    uint32_t n = pd_engine_goal_count(e);
    for (uint32_t i = 0; i < n && i < a->ngoals; i++) {
        pd_goal_status s;
        pd_engine_goal_status(e, i, &s);
        if (s.goal == st->goal) {
            a->dirty[i] = 1;
            a->any_dirty = true;
            return;
        }
    }
}

static void write_status(pd_app *a, uint32_t i)
{
    pd_engine *e = pd_processor_engine(a->proc);
    pd_goal_status s;
    pd_engine_goal_status(e, i, &s);
    pd_buf_reset(&a->buf);
    pd_engine_goal_status_json(e, i, &a->buf);
    if (!a->buf.oom)
        pd_runtime_status(a->rt, pd_str_c(s.goal->id), a->buf.p, a->buf.len);
}

static void status_all(void *ctx, pd_runtime *rt)
{
    pd_app *a = ctx;
    PD_UNUSED(rt);
    pd_engine *e = pd_processor_engine(a->proc);
    if (!e)
        return;
    for (uint32_t i = 0; i < pd_engine_goal_count(e) && i < a->ngoals; i++) {
        write_status(a, i);
        a->dirty[i] = 0;
    }
    a->any_dirty = false;
}

/* Status changes are batched: at most one record per goal per second. */
static void on_dirty_timer(evutil_socket_t fd, short what, void *arg)
{
    pd_app *a = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    if (!a->any_dirty || pd_runtime_stopping(a->rt) || pd_runtime_busy(a->rt))
        return; /* (busy: an exactly-once commit runs; the next tick writes them) */
    for (uint32_t i = 0; i < a->ngoals; i++) {
        if (a->dirty[i]) {
            a->dirty[i] = 0;
            write_status(a, i);
        }
    }
    a->any_dirty = false;
}

static int feed(void *ctx, pd_runtime *rt, const char *msg, size_t len, pd_format format,
                pd_str source)
{
    pd_app *a = ctx;
    PD_UNUSED(rt);
    if (!a->m_in)
        return pd_processor_feed(a->proc, msg, len, format, source);
    for (uint32_t i = 0; i < a->pl->ninputs; i++)
        if (pd_str_eq_c(source, a->pl->inputs[i].topic)) {
            pd_counter_inc(a->m_in[i]);
            break;
        }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = pd_processor_feed(a->proc, msg, len, format, source);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pd_histogram_observe(a->m_latency, (double)(t1.tv_sec - t0.tv_sec) +
                                           (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    return rc;
}

/* Sink dead letters go to the runtime's dead-letter output (with the reason) and the log. */
static void on_sink_dead(void *ctx, const pd_sink_dead *d)
{
    pd_app *a = ctx;
    pd_ops_sink_dead(NULL, d);
    if (a->rt && a->pl->outputs.dead_letter) {
        char why[256];
        snprintf(why, sizeof(why), "sink %s: %s", d->sink ? d->sink : "?",
                 d->reason ? d->reason : "dropped");
        int rc = pd_runtime_dead_letter(a->rt, "sink", why, 0, d->payload, d->len);
        if (rc)
            pd_log_error("runtime", "sink dead letter not written: %s", pd_strerror(rc));
    }
}

/* After a reload (SIGHUP, POST /v1/reload): the provider swapped processors between events. */
static void on_applied(void *ctx, const pd_event *ev)
{
    pd_app *a = ctx;
    pd_store_mark(a->store, pd_processor_engine(a->proc), ev->resource.canon);
}

static int checkpoint(void *ctx, pd_runtime *rt)
{
    pd_app *a = ctx;
    return pd_store_checkpoint(a->store, a->proc, rt);
}

static void on_swap(void *ctx, pd_processor *old_proc, pd_processor *new_proc,
                    const pd_pipeline *pl)
{
    pd_app *a = ctx;
    PD_UNUSED(old_proc);
    PD_UNUSED(pl);
    a->proc = new_proc;
    if (a->store && pd_store_reset(a->store) != 0)
        pd_log_error("state", "reload: change tracking reset failed: the next commits may "
                              "miss state records");
    uint32_t n = pd_engine_goal_count(pd_processor_engine(new_proc));
    uint8_t *d = realloc(a->dirty, n + 1);
    if (d) {
        a->dirty = d;
        a->ngoals = n;
        memset(a->dirty, 1, n + 1); /* every goal's status goes out with the next batch */
        a->any_dirty = true;
    }
}

static int on_ready(void *ctx, pd_buf *out)
{
    pd_app *a = ctx;
    pd_runtime_stats rs;
    pd_runtime_get_stats(a->rt, &rs);
    bool parts = rs.partitions > 0, restored = !pd_runtime_warming(a->rt),
         running = !pd_runtime_stopping(a->rt);
    pd_buf_printf(out,
                  "{\"ready\":%s,\"checks\":{\"partitions\":%s,\"state\":%s,\"running\":%s,"
                  "\"sinks\":true}}",
                  parts && restored && running ? "true" : "false", parts ? "true" : "false",
                  restored ? "true" : "false", running ? "true" : "false");
    return parts && restored && running ? 0 : PD_EAGAIN;
}

static int sink_signal(void *ctx, const pd_signal *s)
{
    return pd_sink_set_signal(ctx, s);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

int pd_app_create(const pd_app_opts *o, pd_app **out)
{
    pd_diag diag;
    int rc = 0;
    char err[512];
    *out = NULL;
    pd_app *a = calloc(1, sizeof(*a));
    if (!a)
        return PD_ENOMEM;
    a->o = *o;
    pd_buf_init(&a->buf);
    if ((rc = pd_config_load(o->config_path, &a->cfg, &diag)) != 0) {
        fprintf(stderr, "%s\n", diag.msg);
        goto fail;
    }
    pd_log_level lvl;
    if (a->cfg->log_level && pd_log_level_parse(a->cfg->log_level, &lvl) == 0 &&
        !getenv("PD_LOG_LEVEL"))
        pd_log_set_level(lvl);
    const char *pp = o->pipeline_path ? o->pipeline_path : a->cfg->pipeline;
    if (!pp || !*pp) {
        fprintf(stderr, "postured: no pipeline (give -p FILE or set `pipeline:`)\n");
        rc = PD_ECONFIG;
        goto fail;
    }
    if ((rc = pd_pipeline_load(pp, &a->pl, &diag)) != 0) {
        fprintf(stderr, "%s\n", diag.msg);
        goto fail;
    }
    if (a->pl->ninputs == 0) {
        fprintf(stderr, "%s: the pipeline has no inputs\n", pp);
        rc = PD_ECONFIG;
        goto fail;
    }
    if ((rc = build_conf(a, PD_KAFKA_CONSUMER, &a->cconf)) != 0 ||
        (rc = build_conf(a, PD_KAFKA_PRODUCER, &a->pconf)) != 0)
        goto fail;
    if (!pd_kafka_conf_get(a->cconf, "bootstrap.servers")) {
        fprintf(stderr, "postured: no Kafka bootstrap servers (kafka.bootstrap.servers, "
                        "kafka.eventhubs.connection_string or --bootstrap)\n");
        rc = PD_ECONFIG;
        goto fail;
    }

    if (a->pl->sinks) {
        pd_sink_type kt = {&pd_sink_kafka_ops, a->pconf}; /* `type: kafka` sinks */
        pd_sink_env env = {
            .base = o->base, .dead = on_sink_dead, .dead_ctx = a, .types = &kt, .ntypes = 1};
        if ((rc = pd_sink_set_load(&env, a->pl->doc, a->pl->sinks, &a->sinks, &diag)) != 0) {
            fprintf(stderr, "%s\n", diag.msg);
            goto fail;
        }
    }

    pd_decode_opts_default(&a->dopts);
    a->dopts.max_message_bytes = (size_t)a->cfg->decode_max_message_bytes;
    a->dopts.max_depth = (uint32_t)a->cfg->decode_max_depth;
    if (a->cfg->state_partitioned) {
        pd_scale_opts so = {.base = o->base,
                            .cfg = a->cfg,
                            .pl = a->pl,
                            .consumer_conf = a->cconf,
                            .producer_conf = a->pconf,
                            .group = o->group ? o->group : a->pl->consumer_group,
                            .decode = &a->dopts,
                            .exit_idle_ms = o->exit_idle_ms,
                            .status_interval_ms = o->status_interval_ms,
                            .also = a->sinks ? sink_signal : NULL,
                            .also_ctx = a->sinks};
        if ((rc = pd_scale_create(&so, &a->scale, err, sizeof(err))) != 0) {
            fprintf(stderr, "postured: %s\n", err);
            goto fail;
        }
        *out = a;
        return 0;
    }
    pd_processor_opts po = {.pipeline = a->pl,
                            .decode = &a->dopts,
                            .allowed_lateness_ms = a->cfg->correlate_allowed_lateness_ms,
                            .correlate_memcap_bytes = (size_t)a->cfg->correlate_memcap_bytes,
                            .on_signal = on_signal,
                            .signal_ctx = a,
                            .on_dead_letter = on_dead_letter,
                            .dead_letter_ctx = a,
                            .on_status = on_status_change,
                            .status_ctx = a,
                            .on_applied = on_applied,
                            .applied_ctx = a};
    if ((rc = pd_metrics_create(&a->metrics)) != 0)
        goto fail;
    pd_provider_opts pvo = {.proc = po,
                            .metrics = a->metrics,
                            .ready = on_ready,
                            .ready_ctx = a,
                            .on_swap = on_swap,
                            .swap_ctx = a};
    if ((rc = pd_provider_create(&pvo, &a->pv, &diag)) != 0) {
        fprintf(stderr, "%s\n", diag.msg);
        goto fail;
    }
    a->proc = pd_provider_processor(a->pv);
    a->ngoals = pd_engine_goal_count(pd_processor_engine(a->proc));
    a->dirty = calloc(a->ngoals + 1, 1);
    a->inputs = calloc(a->pl->ninputs, sizeof(*a->inputs));
    if (!a->dirty || !a->inputs) {
        rc = PD_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < a->pl->ninputs; i++) {
        a->inputs[i].topic = a->pl->inputs[i].topic;
        a->inputs[i].format = a->pl->inputs[i].format;
    }
    const char *group = o->group ? o->group : a->pl->consumer_group;
    bool warm_start = o->warm_start;
    if (a->cfg->state_exactly_once && a->cfg->state_changelog) {
        char topic[512];
        if (a->cfg->state_changelog_topic && *a->cfg->state_changelog_topic)
            snprintf(topic, sizeof(topic), "%s", a->cfg->state_changelog_topic);
        else
            snprintf(topic, sizeof(topic), "%s-changelog", group);
        pd_store_restored r;
        if ((rc = pd_store_create(o->base, a->cconf, topic, 0, 1, 15000, &a->store, err,
                                  sizeof(err))) != 0 ||
            (rc = pd_store_restore(a->store, a->proc, &r, err, sizeof(err))) != 0) {
            fprintf(stderr, "postured: state changelog %s: %s\n", topic, err);
            goto fail;
        }
        if (r.applied > 0) {
            warm_start = false; /* the state is as of the committed offsets already */
            pd_log_info("state",
                        "restored %llu state records (%llu stale, %.1f MB) from %s in %.2f s; "
                        "resuming from the committed offsets",
                        (unsigned long long)r.applied, (unsigned long long)r.stale,
                        (double)r.bytes / 1e6, topic, r.seconds);
        } else if (r.stale > 0) {
            pd_log_warn("state",
                        "%s holds only another goal set's state (%llu records): rebuilding "
                        "from the inputs",
                        topic, (unsigned long long)r.stale);
        }
    }
    pd_runtime_opts ro = {.base = o->base,
                          .consumer_conf = a->cconf,
                          .producer_conf = a->pconf,
                          .group = group,
                          .inputs = a->inputs,
                          .ninputs = a->pl->ninputs,
                          .out_drift = a->pl->outputs.drift,
                          .out_breach = a->pl->outputs.breach,
                          .out_status = a->pl->outputs.status,
                          .out_dead_letter = a->pl->outputs.dead_letter,
                          .max_in_flight = (uint32_t)a->cfg->runtime_max_in_flight,
                          .buffer_bytes = (uint64_t)a->cfg->runtime_buffer_mb << 20,
                          .commit_interval_ms = (uint32_t)a->cfg->runtime_commit_interval_ms,
                          .status_interval_ms = o->status_interval_ms,
                          .shutdown_timeout_ms = (uint32_t)a->cfg->runtime_shutdown_timeout_ms,
                          .exit_idle_ms = o->exit_idle_ms,
                          .budget = (uint32_t)a->cfg->runtime_wake_budget,
                          .tick_ms = (uint32_t)a->cfg->runtime_poll_interval_ms,
                          .warm_start = warm_start,
                          .exactly_once = a->cfg->state_exactly_once,
                          .eos_every_events = (uint32_t)a->cfg->state_commit_every_events,
                          .eos_interval_ms = (uint32_t)a->cfg->state_commit_interval_ms,
                          .feed = feed,
                          .feed_ctx = a,
                          .checkpoint = a->store ? checkpoint : NULL,
                          .checkpoint_ctx = a,
                          .status_all = status_all,
                          .status_ctx = a,
                          .also = a->sinks ? sink_signal : NULL,
                          .also_ctx = a->sinks,
                          .metrics = a->metrics};
    if ((rc = pd_runtime_create(&ro, &a->rt, err, sizeof(err))) != 0) {
        fprintf(stderr, "postured: %s\n", err);
        goto fail;
    }
    a->m_in = calloc(a->pl->ninputs, sizeof(*a->m_in));
    if (!a->m_in) {
        rc = PD_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < a->pl->ninputs && !rc; i++)
        rc = pd_metrics_counter(a->metrics, PD_M_EVENTS_IN, "Messages read, by input.",
                                (const char *[]){"topic", a->pl->inputs[i].topic, "format",
                                                 pd_format_name(a->pl->inputs[i].format), NULL},
                                &a->m_in[i]);
    if (!rc)
        rc = pd_metrics_histogram(a->metrics, PD_M_LATENCY, "Time to decode and apply one message.",
                                  NULL, NULL, 0, &a->m_latency);
    if (rc)
        goto fail;
    pd_ops_opts oo = {
        .base = o->base, .cfg = a->cfg, .pipeline = a->pl, .provider = a->pv, .sinks = a->sinks};
    if ((rc = pd_ops_create(&oo, a->metrics, &a->ops, &diag)) == PD_EIO) {
        /* The address is taken (a second instance, a demo beside a daemon): keep processing
         * without the status API rather than stopping the pipeline. */
        pd_log_error("http", "status API not started: %s", diag.msg);
        oo.no_http = true;
        rc = pd_ops_create(&oo, a->metrics, &a->ops, &diag);
    }
    if (rc) {
        fprintf(stderr, "postured: %s\n", diag.msg[0] ? diag.msg : pd_strerror(rc));
        goto fail;
    }
    a->ev_dirty = event_new(o->base, -1, EV_PERSIST, on_dirty_timer, a);
    if (!a->ev_dirty) {
        rc = PD_ENOMEM;
        goto fail;
    }
    pd_buf desc;
    pd_buf_init(&desc);
    pd_kafka_conf_describe(a->cconf, &desc);
    pd_log_info("runtime", "pipeline %s: %u input(s), group %s; kafka: %s", a->pl->name,
                a->pl->ninputs, ro.group, pd_buf_cstr(&desc));
    pd_buf_free(&desc);
    *out = a;
    return 0;
fail:
    pd_app_destroy(a);
    return rc ? rc : PD_EINVAL;
}

int pd_app_start(pd_app *a)
{
    if (a->scale)
        return pd_scale_start(a->scale);
    /* The status topic is compacted (one record per goal id is all a reader needs); created
     * here when missing, before the first record could auto-create it otherwise. */
    if (a->pl->outputs.status && !a->o.topics_exist) {
        static const char *const cfg[] = {"cleanup.policy", "compact", NULL};
        char err[256];
        if (pd_kafka_ensure_topic(pd_runtime_producer(a->rt), a->pl->outputs.status, 1, cfg, 5000,
                                  err, sizeof(err)) != 0)
            pd_log_warn("runtime", "status topic %s: %s", a->pl->outputs.status, err);
    }
    struct timeval tv = {1, 0};
    event_add(a->ev_dirty, &tv);
    return pd_runtime_start(a->rt);
}

static void on_watchdog(int sig)
{
    static const char msg[] = "postured: shutdown took longer than its timeout\n";
    PD_UNUSED(sig);
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    PD_UNUSED(w);
    _exit(3);
}

void pd_app_stop(pd_app *a)
{
    if (!a || (!a->scale && pd_runtime_stopping(a->rt)) || a->stopping)
        return;
    a->stopping = true;
    unsigned secs = (unsigned)((a->cfg->runtime_shutdown_timeout_ms + 999) / 1000) + 1;
    signal(SIGALRM, on_watchdog);
    alarm(a->scale ? 3 * secs : secs); /* three stages commit one after the other */
    if (a->scale)
        pd_scale_stop(a->scale);
    else
        pd_runtime_stop(a->rt);
}

int pd_app_finish(pd_app *a)
{
    int rc;
    if (a->scale) {
        rc = pd_scale_finish(a->scale);
        if (a->sinks && pd_sink_set_drain(a->sinks, 2000) != 0)
            rc = rc ? rc : PD_ETIMEOUT;
        alarm(0);
        return rc;
    }
    event_del(a->ev_dirty);
    rc = pd_runtime_finish(a->rt);
    if (a->sinks && pd_sink_set_drain(a->sinks, 2000) != 0)
        rc = rc ? rc : PD_ETIMEOUT;
    alarm(0);
    return rc;
}

void pd_app_print_status(pd_app *a, FILE *f)
{
    pd_engine *eng = pd_processor_engine(a->proc);
    uint32_t n = pd_engine_goal_count(eng);
    fprintf(f, "%-34s %-10s %10s %-10s %-8s %s\n", "GOAL", "KIND", "VALUE", "TARGET", "STATUS",
            "DETAIL");
    for (uint32_t i = 0; i < n; i++) {
        pd_goal_status st;
        pd_engine_goal_status(eng, i, &st);
        char val[32], detail[96];
        if (!st.has_value)
            snprintf(val, sizeof(val), "-");
        else if (st.goal->target_pct)
            snprintf(val, sizeof(val), "%.2f%%", st.value);
        else
            snprintf(val, sizeof(val), "%.0f", st.value);
        if (st.goal->target_pct)
            snprintf(detail, sizeof(detail), "%llu/%llu, %llu unknown",
                     (unsigned long long)st.numerator, (unsigned long long)st.denominator,
                     (unsigned long long)st.unknown);
        else
            snprintf(detail, sizeof(detail), "%llu violating, %llu unknown",
                     (unsigned long long)st.violators, (unsigned long long)st.unknown);
        fprintf(f, "%-34s %-10s %10s %-10s %-8s %s\n", st.goal->id,
                pd_goal_kind_name(st.goal->kind), val, st.goal->target_text,
                !st.has_value ? "no-data"
                : st.met      ? "met"
                              : "BREACHED",
                detail);
    }
}

void pd_app_print_stats(pd_app *a, FILE *f)
{
    if (a->scale) {
        pd_scale_print_stats(a->scale, f);
        return;
    }
    pd_runtime_stats rs;
    pd_processor_stats ps;
    pd_runtime_get_stats(a->rt, &rs);
    pd_processor_stats_get(a->proc, &ps);
    fprintf(f,
            "%llu messages (%llu rebuilding state), %llu events, %llu dead letters, %llu drift "
            "and %llu breach signals, %llu outputs delivered, %llu commits, %llu out of "
            "timestamp order\n",
            (unsigned long long)rs.messages, (unsigned long long)rs.warm_messages,
            (unsigned long long)ps.events, (unsigned long long)rs.dead_letters,
            (unsigned long long)ps.signals_drift, (unsigned long long)ps.signals_breach,
            (unsigned long long)rs.delivered, (unsigned long long)rs.commits,
            (unsigned long long)rs.out_of_order);
}

pd_runtime *pd_app_runtime(pd_app *a)
{
    return a ? a->rt : NULL;
}

pd_processor *pd_app_processor(pd_app *a)
{
    return a ? a->proc : NULL;
}

const pd_pipeline *pd_app_pipeline(pd_app *a)
{
    return a ? a->pl : NULL;
}

void pd_app_destroy(pd_app *a)
{
    if (!a)
        return;
    if (a->ev_dirty)
        event_free(a->ev_dirty);
    pd_ops_destroy(a->ops);
    pd_scale_destroy(a->scale);
    pd_runtime_destroy(a->rt);
    pd_store_destroy(a->store);
    pd_provider_destroy(a->pv); /* owns a->proc */
    pd_metrics_destroy(a->metrics);
    free(a->m_in);
    pd_sink_set_destroy(a->sinks);
    pd_kafka_conf_destroy(a->cconf);
    pd_kafka_conf_destroy(a->pconf);
    pd_pipeline_destroy(a->pl);
    pd_config_destroy(a->cfg);
    free(a->dirty);
    free(a->inputs);
    pd_buf_free(&a->buf);
    free(a);
}
