/* postured demo: the whole product in one command, with no broker to install. Starts
 * librdkafka's in-process mock Kafka cluster, creates the shipped pipeline's topics, feeds
 * them from the generator (a few hundred servers across azure, aws, gcp and on-premises,
 * ordinary churn and the scripted intrusions), runs the pipeline against the mock through
 * the real Kafka protocol (the same runtime as `postured run`), shows live progress on a
 * terminal, and ends with the goal status table and the signals raised. */
#include "pd_app.h"
#include "pd_cli.h"
#include "pd_gen.h"
#include "pd_log.h"
#include "pd_progress.h"
#include "pd_sink.h"
#include "pd_time.h"

#include <event2/event.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEMO_MAX_SHOWN 12

typedef struct demo {
    struct event_base *base;
    pd_app *app;
    rd_kafka_t *feeder;
    pd_gen *gen;
    pd_buf msg;
    const pd_pipeline *pl;
    const char *topic_of[4]; /* assessments, alerts, asff, scc */
    uint64_t fed, per_tick;
    bool gen_done;
    struct event *ev_feed, *ev_progress;
    pd_progress progress;
    /* what was raised */
    struct {
        char type[64];
        uint64_t n;
    } types[48];
    uint32_t ntypes;
    char shown[DEMO_MAX_SHOWN][200];
    uint32_t nshown, nflips;
    uint64_t breach, drift;
} demo;

static const char *pick_topic(const pd_pipeline *pl, pd_format want, const char *fallback)
{
    for (uint32_t i = 0; i < pl->ninputs; i++)
        if (pl->inputs[i].format == want)
            return pl->inputs[i].topic;
    return fallback;
}

static int on_signal(void *ctx, const pd_signal *s)
{
    demo *d = ctx;
    if (s->kind == PD_SIGNAL_BREACH)
        d->breach++;
    else
        d->drift++;
    uint32_t i = 0;
    while (i < d->ntypes && strcmp(d->types[i].type, s->type))
        i++;
    if (i == d->ntypes && d->ntypes < PD_ARRAY_LEN(d->types))
        snprintf(d->types[d->ntypes++].type, sizeof(d->types[0].type), "%s", s->type);
    if (i < d->ntypes)
        d->types[i].n++;
    /* what a person wants to see: the first of each intrusion, the first goal flips */
    bool first_of_type = i < d->ntypes && d->types[i].n == 1;
    bool notable = (s->kind == PD_SIGNAL_BREACH && first_of_type) ||
                   ((!strcmp(s->type, "goal.breached") || !strcmp(s->type, "goal.restored")) &&
                    d->nflips++ < 4);
    if (notable && d->nshown < DEMO_MAX_SHOWN && s->update == 0) {
        pd_buf b;
        pd_buf_init(&b);
        pd_sink_summary(s, &b);
        snprintf(d->shown[d->nshown++], sizeof(d->shown[0]), "%s", pd_buf_cstr(&b));
        pd_buf_free(&b);
    }
    return 0;
}

static void on_feed(evutil_socket_t fd, short what, void *arg)
{
    demo *d = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    /* Feed once the pipeline consumes, and no faster than it does: the mock cluster keeps
     * only a few MB per partition, like a short retention. */
    pd_runtime_stats st;
    pd_runtime_get_stats(pd_app_runtime(d->app), &st);
    if (st.partitions == 0 || st.holding > 0 || d->fed > st.messages + 3000)
        return;
    for (uint64_t n = 0; n < d->per_tick && !d->gen_done; n++) {
        pd_gen_meta meta;
        pd_buf_reset(&d->msg);
        if (pd_gen_next(d->gen, &d->msg, &meta) != 0) {
            d->gen_done = true;
            break;
        }
        const char *topic = d->topic_of[0];
        if (meta.format == PD_FMT_ASFF)
            topic = d->topic_of[2];
        else if (meta.format == PD_FMT_SCC)
            topic = d->topic_of[3];
        else if (meta.kind == PD_KIND_ALERT)
            topic = d->topic_of[1];
        /* the Kafka timestamp is the event time, as a real export's append time would be */
        rd_kafka_resp_err_t err = rd_kafka_producev(
            d->feeder, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(meta.key, strlen(meta.key)),
            RD_KAFKA_V_VALUE(d->msg.p, d->msg.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_TIMESTAMP((meta.time_ms > 0 ? meta.time_ms : 0)), RD_KAFKA_V_END);
        if (err) {
            pd_log_error("demo", "feeding %s: %s", topic, rd_kafka_err2str(err));
            break;
        }
        d->fed++;
    }
    rd_kafka_poll(d->feeder, 0);
    if (d->gen_done) {
        pd_progress_set_total(&d->progress, d->fed);
        event_del(d->ev_feed);
    }
}

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    demo *d = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    pd_runtime_stats st;
    pd_runtime_get_stats(pd_app_runtime(d->app), &st);
    d->progress.done = st.messages;
    pd_progress_draw(&d->progress);
    rd_kafka_poll(d->feeder, 0);
}

static void on_sigint(evutil_socket_t sig, short what, void *arg)
{
    PD_UNUSED(sig);
    PD_UNUSED(what);
    pd_app_stop(arg);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: postured demo [--servers N] [--days D] [--seed S] [-p PIPELINE]\n"
               "Runs the shipped pipeline against an in-process mock Kafka cluster fed by the\n"
               "generator (default 400 servers over 28 simulated days, with scripted\n"
               "intrusions), then prints the goal status table and the signals raised.\n");
}

static const char *default_pipeline(char *buf, size_t n)
{
    struct stat sb;
    if (stat("pipelines/default.yaml", &sb) == 0)
        return "pipelines/default.yaml";
    snprintf(buf, n, "%s/pipelines/default.yaml", PD_SOURCE_DIR);
    return buf;
}

int pd_cmd_demo(int argc, char **argv)
{
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = 400;
    go.days = 28;
    go.mix = PD_GEN_MIX_ALL;
    const char *pipeline = NULL;
    char pbuf[1024];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--servers") && more)
            go.servers = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--days") && more)
            go.days = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--seed") && more)
            go.seed = strtoull(argv[++i], NULL, 10);
        else if ((!strcmp(a, "-p") || !strcmp(a, "--pipeline")) && more)
            pipeline = argv[++i];
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "postured demo: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (go.servers == 0 || go.servers > 100000 || go.days == 0 || go.days > 365) {
        fprintf(stderr, "postured demo: --servers 1..100000, --days 1..365\n");
        return 2;
    }
    if (!pipeline)
        pipeline = default_pipeline(pbuf, sizeof(pbuf));
    if (!getenv("PD_LOG_LEVEL"))
        pd_log_set_level(PD_LOG_WARN); /* the demo's own output is the table */
    signal(SIGPIPE, SIG_IGN);

    int ret = 1;
    int64_t t0 = pd_monotonic_ms();
    demo d = {0};
    pd_buf_init(&d.msg);
    pd_diag diag;
    char e[512];
    rd_kafka_mock_cluster_t *mc = NULL;
    struct event *sint = NULL, *sterm = NULL;
    d.base = event_base_new();
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    rd_kafka_conf_set(rc, "log_level", "0", e, sizeof(e)); /* the mock goes first at the end */
    rd_kafka_conf_set(rc, "queue.buffering.max.messages", "1000000", e, sizeof(e));
    d.feeder = rd_kafka_new(RD_KAFKA_PRODUCER, rc, e, sizeof(e));
    if (!d.base || !d.feeder) {
        fprintf(stderr, "postured demo: %s\n", d.feeder ? "no event base" : e);
        goto done;
    }
    mc = rd_kafka_mock_cluster_new(d.feeder, 1);
    if (!mc) {
        fprintf(stderr, "postured demo: cannot start the mock cluster\n");
        goto done;
    }
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    /* the feeder talks to the mock it owns */
    if (rd_kafka_brokers_add(d.feeder, bootstrap) == 0) {
        fprintf(stderr, "postured demo: cannot reach the mock cluster\n");
        goto done;
    }
    if (pd_gen_create(&go, &d.gen, &diag) != 0) {
        fprintf(stderr, "postured demo: %s\n", diag.msg);
        goto done;
    }

    pd_app_opts ao = {.base = d.base,
                      .pipeline_path = pipeline,
                      .bootstrap = bootstrap,
                      .exit_idle_ms = 1500,
                      .topics_exist = true, /* created on the mock below */
                      .status_interval_ms = 5000,
                      .on_signal = on_signal,
                      .signal_ctx = &d};
    if (pd_app_create(&ao, &d.app) != 0)
        goto done;
    d.pl = pd_app_pipeline(d.app);
    /* the shipped pipeline's topics, with a few partitions each */
    for (uint32_t i = 0; i < d.pl->ninputs; i++)
        rd_kafka_mock_topic_create(mc, d.pl->inputs[i].topic, 3, 1);
    const char *outs[] = {d.pl->outputs.drift, d.pl->outputs.breach, d.pl->outputs.status,
                          d.pl->outputs.dead_letter};
    for (size_t i = 0; i < PD_ARRAY_LEN(outs); i++)
        if (outs[i])
            rd_kafka_mock_topic_create(mc, outs[i], i == 0 ? 3 : 1, 1);
    d.topic_of[0] = d.pl->inputs[0].topic;
    d.topic_of[1] = pick_topic(d.pl, PD_FMT_DEFENDER, d.topic_of[0]);
    d.topic_of[2] = pick_topic(d.pl, PD_FMT_ASFF, d.topic_of[0]);
    d.topic_of[3] = pick_topic(d.pl, PD_FMT_SCC, d.topic_of[0]);

    printf("postured demo: %u servers across azure, aws, gcp and on-premises, %u simulated "
           "days,\nscripted intrusions; pipeline %s on an in-process Kafka cluster (%s)\n\n",
           go.servers, go.days, d.pl->name, bootstrap);
    fflush(stdout);
    pd_progress_init(&d.progress, "demo: events processed", 0, 2);

    d.per_tick = 400; /* about 20k events/s: a stream, not a batch */
    d.ev_feed = event_new(d.base, -1, EV_PERSIST, on_feed, &d);
    d.ev_progress = event_new(d.base, -1, EV_PERSIST, on_progress, &d);
    struct timeval tf = {0, 20000}, tp = {0, 250000};
    event_add(d.ev_feed, &tf);
    event_add(d.ev_progress, &tp);
    sint = evsignal_new(d.base, SIGINT, on_sigint, d.app);
    sterm = evsignal_new(d.base, SIGTERM, on_sigint, d.app);
    evsignal_add(sint, NULL);
    evsignal_add(sterm, NULL);
    if (pd_app_start(d.app) != 0)
        goto done;
    event_base_dispatch(d.base);
    int rc_fin = pd_app_finish(d.app);
    on_progress(-1, 0, &d);
    pd_progress_finish(&d.progress);

    pd_runtime_stats st;
    pd_runtime_get_stats(pd_app_runtime(d.app), &st);
    printf("Goal status after %llu events (%llu dead letters):\n\n",
           (unsigned long long)st.messages, (unsigned long long)st.dead_letters);
    pd_app_print_status(d.app, stdout);
    printf("\nSignals raised: %llu drift, %llu breach\n", (unsigned long long)d.drift,
           (unsigned long long)d.breach);
    for (uint32_t i = 0; i < d.ntypes; i++)
        printf("  %-28s %llu\n", d.types[i].type, (unsigned long long)d.types[i].n);
    if (d.nshown) {
        printf("\nFirst goal flips and the first signal of each intrusion:\n");
        for (uint32_t i = 0; i < d.nshown; i++)
            printf("  %s\n", d.shown[i]);
    }
    printf("\n%llu events in, %llu signals out through Kafka topics %s, %s; %.1f s\n",
           (unsigned long long)st.messages, (unsigned long long)st.delivered,
           d.pl->outputs.drift ? d.pl->outputs.drift : "-",
           d.pl->outputs.breach ? d.pl->outputs.breach : "-",
           (double)(pd_monotonic_ms() - t0) / 1000.0);
    ret = rc_fin == 0 && st.messages == d.fed && d.gen_done ? 0 : 1;
    if (ret)
        fprintf(stderr, "postured demo: processed %llu of %llu events%s\n",
                (unsigned long long)st.messages, (unsigned long long)d.fed,
                rc_fin ? ", unclean stop" : "");
done:
    if (sint)
        event_free(sint);
    if (sterm)
        event_free(sterm);
    if (d.ev_feed)
        event_free(d.ev_feed);
    if (d.ev_progress)
        event_free(d.ev_progress);
    pd_app_destroy(d.app);
    pd_gen_destroy(d.gen);
    pd_buf_free(&d.msg);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (d.feeder)
        rd_kafka_destroy(d.feeder);
    if (d.base)
        event_base_free(d.base);
    return ret;
}
