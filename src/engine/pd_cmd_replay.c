/* postured replay: drives the processor over JSONL files in event time, prints signals as
 * JSONL on stdout and a goal status table on stderr. Deterministic: the same input gives the
 * same bytes. */
#include "pd_cli.h"
#include "pd_processor.h"
#include "pd_provider.h"
#include "pd_sink.h"
#include "pd_time.h"

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct replay_ctx {
    pd_buf out;
    FILE *f;
    const char *file;
    uint64_t line;
    uint64_t dead;
    pd_sink_set *sinks; /* --sinks: signals go through the pipeline's sinks instead */
} replay_ctx;

static int on_signal(void *ctx, const pd_signal *s)
{
    replay_ctx *r = ctx;
    if (r->sinks)
        return pd_sink_set_signal(r->sinks, s);
    pd_buf_reset(&r->out);
    pd_signal_to_json(s, &r->out);
    pd_buf_putc(&r->out, '\n');
    if (r->out.oom)
        return PD_ENOMEM;
    return fwrite(r->out.p, 1, r->out.len, r->f) == r->out.len ? 0 : PD_EIO;
}

static void on_dead(void *ctx, const pd_dead_letter *dl)
{
    replay_ctx *r = ctx;
    r->dead++;
    fprintf(stderr, "%s:%llu: dead letter (%s at byte %zu): %s\n", r->file,
            (unsigned long long)r->line, dl->reason, dl->offset, dl->message);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: postured replay [-p PIPELINE] [--goals FILE]... [--rules FILE]...\n"
               "                       [--controls FILE] [--format auto|defender|asff|scc|ocsf]\n"
               "                       [--until TIME] [--quiet] [--sinks] [[TOPIC=]FILE|-]...\n"
               "Reads messages, one per line as they appear on the topics, drives the goals and\n"
               "correlation engines in event time and prints signals as JSONL on stdout, then a\n"
               "goal status table on stderr. TOPIC= names the input a file stands for (for\n"
               "feed.silent); by default the pipeline's only input, else the file's base name.\n"
               "--sinks sends the signals through the pipeline's `sinks:` (file, stdout, webhook)\n"
               "instead of stdout, and waits for them to deliver at the end.\n");
}

static void print_table(pd_engine *eng, FILE *f)
{
    uint32_t n = pd_engine_goal_count(eng);
    if (!n)
        return;
    fprintf(f, "%-32s %-10s %10s %-10s %-8s %s\n", "GOAL", "KIND", "VALUE", "TARGET", "STATUS",
            "DETAIL");
    for (uint32_t i = 0; i < n; i++) {
        pd_goal_status st;
        pd_engine_goal_status(eng, i, &st);
        char val[32], detail[96];
        bool pct = st.goal->target_pct;
        if (!st.has_value)
            snprintf(val, sizeof(val), "-");
        else if (pct)
            snprintf(val, sizeof(val), "%.2f%%", st.value);
        else
            snprintf(val, sizeof(val), "%.0f", st.value);
        if (pct)
            snprintf(detail, sizeof(detail), "%llu/%llu, %llu unknown",
                     (unsigned long long)st.numerator, (unsigned long long)st.denominator,
                     (unsigned long long)st.unknown);
        else
            snprintf(detail, sizeof(detail), "%llu in scope, %llu unknown",
                     (unsigned long long)st.denominator, (unsigned long long)st.unknown);
        const char *status = !st.has_value ? "no-data" : st.met ? "met" : "BREACHED";
        fprintf(f, "%-32s %-10s %10s %-10s %-8s %s\n", st.goal->id,
                pd_goal_kind_name(st.goal->kind), val, st.goal->target_text, status, detail);
    }
}

int pd_cmd_replay(int argc, char **argv)
{
    const char *pipeline_path = NULL, *controls = NULL;
    const char **goals = calloc((size_t)argc, sizeof(char *));
    const char **rules = calloc((size_t)argc, sizeof(char *));
    const char **files = calloc((size_t)argc + 1, sizeof(char *));
    uint32_t ngoals = 0, nrules = 0, nfiles = 0;
    pd_format fmt = PD_FMT_AUTO;
    int64_t until = PD_TIME_NONE;
    bool quiet = false, use_sinks = false;
    struct event_base *evb = NULL;
    int ret = 1;
    pd_pipeline *pl = NULL;
    pd_processor *proc = NULL;
    replay_ctx rc_ctx = {.f = stdout};
    pd_buf_init(&rc_ctx.out);
    char *line = NULL;
    size_t cap = 0;
    if (!goals || !rules || !files)
        goto done;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if ((!strcmp(a, "-p") || !strcmp(a, "--pipeline")) && more) {
            pipeline_path = argv[++i];
        } else if (!strcmp(a, "--goals") && more) {
            goals[ngoals++] = argv[++i];
        } else if (!strcmp(a, "--rules") && more) {
            rules[nrules++] = argv[++i];
        } else if (!strcmp(a, "--controls") && more) {
            controls = argv[++i];
        } else if (!strcmp(a, "--format") && more) {
            if (pd_format_parse(pd_str_c(argv[++i]), &fmt)) {
                fprintf(stderr, "postured replay: unknown format '%s'\n", argv[i]);
                ret = 2;
                goto done;
            }
        } else if (!strcmp(a, "--until") && more) {
            if (pd_time_parse(pd_str_c(argv[++i]), &until)) {
                fprintf(stderr, "postured replay: bad time '%s' (RFC 3339 expected)\n", argv[i]);
                ret = 2;
                goto done;
            }
        } else if (!strcmp(a, "--sinks")) {
            use_sinks = true;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            ret = 0;
            goto done;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "postured replay: unknown option '%s'\n", a);
            usage(stderr);
            ret = 2;
            goto done;
        } else {
            files[nfiles++] = a;
        }
    }
    if (!nfiles)
        files[nfiles++] = "-";
    pd_diag diag;
    if (pipeline_path && pd_pipeline_load(pipeline_path, &pl, &diag)) {
        fprintf(stderr, "%s\n", diag.msg);
        goto done;
    }
    if (!pipeline_path && !ngoals && !nrules) {
        fprintf(stderr, "postured replay: nothing to apply: give -p PIPELINE or --goals/--rules\n");
        ret = 2;
        goto done;
    }
    if (use_sinks) {
        if (!pl || !pl->sinks) {
            fprintf(stderr, "postured replay: --sinks needs -p PIPELINE with a `sinks:` list\n");
            ret = 2;
            goto done;
        }
        pd_sink_env env = {.dead = pd_ops_sink_dead};
        if (!(evb = event_base_new()))
            goto done;
        env.base = evb;
        if (pd_sink_set_load(&env, pl->doc, pl->sinks, &rc_ctx.sinks, &diag)) {
            fprintf(stderr, "%s\n", diag.msg);
            goto done;
        }
    }
    pd_processor_opts po = {0};
    po.pipeline = pl;
    po.goal_files = goals;
    po.ngoal_files = ngoals;
    po.rule_files = rules;
    po.nrule_files = nrules;
    po.controls_file = controls;
    po.on_signal = on_signal;
    po.signal_ctx = &rc_ctx;
    po.on_dead_letter = on_dead;
    po.dead_letter_ctx = &rc_ctx;
    if (pd_processor_create(&po, &proc, &diag)) {
        fprintf(stderr, "%s\n", diag.msg);
        goto done;
    }
    int err = 0;
    for (uint32_t fi = 0; fi < nfiles && !err; fi++) {
        const char *spec = files[fi], *path = spec;
        char topic[256] = "";
        const char *eq = strchr(spec, '=');
        if (eq && !memchr(spec, '/', (size_t)(eq - spec)) && (size_t)(eq - spec) < sizeof(topic)) {
            memcpy(topic, spec, (size_t)(eq - spec));
            topic[eq - spec] = '\0';
            path = eq + 1;
        } else if (pl && pl->ninputs == 1) {
            snprintf(topic, sizeof(topic), "%s", pl->inputs[0].topic);
        } else {
            const char *base = strrchr(path, '/');
            base = base ? base + 1 : path;
            snprintf(topic, sizeof(topic), "%s", strcmp(path, "-") ? base : "stdin");
            char *dot = strrchr(topic, '.');
            if (dot && dot != topic)
                *dot = '\0';
        }
        FILE *in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        if (!in) {
            fprintf(stderr, "postured replay: cannot open %s\n", path);
            err = PD_EIO;
            break;
        }
        rc_ctx.file = path;
        rc_ctx.line = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, in)) >= 0) {
            rc_ctx.line++;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                n--;
            size_t k = 0;
            while (k < (size_t)n && (line[k] == ' ' || line[k] == '\t'))
                k++;
            if (k == (size_t)n)
                continue; /* blank lines separate nothing */
            if ((err = pd_processor_feed(proc, line, (size_t)n, fmt, pd_str_c(topic))))
                break;
            if (evb && rc_ctx.line % 1024 == 0) /* let webhook deliveries progress */
                event_base_loop(evb, EVLOOP_NONBLOCK);
            if (until != PD_TIME_NONE && pd_processor_now(proc) != PD_TIME_NONE &&
                pd_processor_now(proc) > until)
                break;
        }
        if (in != stdin)
            fclose(in);
        if (until != PD_TIME_NONE && pd_processor_now(proc) > until)
            break;
    }
    if (!err && until != PD_TIME_NONE)
        err = pd_processor_advance(proc, until);
    if (!err && rc_ctx.sinks && pd_sink_set_drain(rc_ctx.sinks, 30000) != 0)
        fprintf(stderr, "postured replay: sinks still had signals pending after 30 s\n");
    if (err) {
        fprintf(stderr, "postured replay: %s\n", pd_strerror(err));
        goto done;
    }
    fflush(stdout);
    if (!quiet) {
        print_table(pd_processor_engine(proc), stderr);
        pd_processor_stats st;
        pd_processor_stats_get(proc, &st);
        fprintf(stderr,
                "%llu messages, %llu events (%llu ignored), %llu dead letters, %llu drift and "
                "%llu breach signals\n",
                (unsigned long long)st.messages, (unsigned long long)st.events,
                (unsigned long long)st.events_ignored, (unsigned long long)st.decode_errors,
                (unsigned long long)st.signals_drift, (unsigned long long)st.signals_breach);
    }
    ret = 0;
done:
    free(line);
    pd_buf_free(&rc_ctx.out);
    pd_processor_destroy(proc);
    pd_sink_set_destroy(rc_ctx.sinks);
    if (evb)
        event_base_free(evb);
    pd_pipeline_destroy(pl);
    free(goals);
    free(rules);
    free(files);
    return ret;
}
