/* postured run: the daemon. Consumes the pipeline's input topics (Kafka or Azure Event
 * Hubs), drives the processor in one libevent loop and writes signals, goal status and dead
 * letters to the output topics, at least once. SIGTERM/SIGINT: graceful stop within the
 * configured shutdown timeout; the exit code says whether it was clean. */
#include "pd_app.h"
#include "pd_cli.h"
#include "pd_log.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: postured run [-c CONFIG] [-p PIPELINE] [--bootstrap HOST:PORT]\n"
               "                    [--group GROUP] [--exit-idle MS] [--no-warm-start]\n"
               "Consumes the pipeline's input topics, keeps the goals current and writes drift\n"
               "and breach signals, goal status and dead letters to its output topics, at least\n"
               "once: an input offset is committed only after everything it caused was\n"
               "delivered. State is rebuilt at start by re-reading the input partitions up to\n"
               "the committed offsets with outputs suppressed (--no-warm-start: start empty).\n"
               "With state.exactly_once: true (or POSTURED_STATE_EXACTLY_ONCE=true) outputs and\n"
               "input offsets commit together in Kafka transactions: exactly once for readers\n"
               "with isolation.level=read_committed.\n"
               "  -c CONFIG        daemon config (default: built-in defaults + POSTURED_* env)\n"
               "  -p PIPELINE      pipeline file (default: the config's `pipeline`)\n"
               "  --bootstrap B    Kafka bootstrap servers (overrides kafka.bootstrap.servers)\n"
               "  --group G        consumer group (overrides the pipeline's)\n"
               "  --exit-idle MS   stop gracefully after MS without input (batch use, tests)\n"
               "Event Hubs: kafka.eventhubs.connection_string: \"${EVENTHUBS_CONNECTION_STRING}\"\n"
               "Exit: 0 clean stop, 1 error or unclean stop, 2 usage, 3 shutdown timeout.\n");
}

static void on_signal_ev(evutil_socket_t sig, short what, void *arg)
{
    PD_UNUSED(what);
    pd_log_info("runtime", "signal %d: stopping", (int)sig);
    pd_app_stop(arg);
}

int pd_cmd_run(int argc, char **argv)
{
    pd_app_opts o = {.warm_start = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "-c") && more) {
            o.config_path = argv[++i];
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--pipeline")) && more) {
            o.pipeline_path = argv[++i];
        } else if (!strcmp(a, "--bootstrap") && more) {
            o.bootstrap = argv[++i];
        } else if (!strcmp(a, "--group") && more) {
            o.group = argv[++i];
        } else if (!strcmp(a, "--exit-idle") && more) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v <= 0 || v > 86400000) {
                fprintf(stderr, "postured run: --exit-idle wants milliseconds\n");
                return 2;
            }
            o.exit_idle_ms = (uint32_t)v;
        } else if (!strcmp(a, "--no-warm-start")) {
            o.warm_start = false;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "postured run: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    if (!base)
        return 1;
    o.base = base;
    pd_app *app = NULL;
    if (pd_app_create(&o, &app) != 0) {
        event_base_free(base);
        return 1;
    }
    struct event *sterm = evsignal_new(base, SIGTERM, on_signal_ev, app);
    struct event *sint = evsignal_new(base, SIGINT, on_signal_ev, app);
    evsignal_add(sterm, NULL);
    evsignal_add(sint, NULL);
    int ret = 1;
    if (pd_app_start(app) == 0) {
        event_base_dispatch(base);
        int rc = pd_app_finish(app);
        pd_app_print_stats(app, stderr);
        ret = rc == 0 ? 0 : 1;
        if (rc)
            pd_log_error("runtime", "unclean stop: %s", pd_strerror(rc));
    }
    event_free(sterm);
    event_free(sint);
    pd_app_destroy(app);
    event_base_free(base);
    return ret;
}
