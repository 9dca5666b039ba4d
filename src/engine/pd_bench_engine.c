/* postured bench engine: per-event cost of the goals engine at a small and a large fleet in
 * one run (their ratio shows the cost does not grow with the fleet), and memory per tracked
 * (resource, control) pair by allocator accounting (and RSS, as a cross-check).
 *
 * The fleet: N pairs = R resources x C controls, the controls taken from the shipped goal
 * pack's key selectors so that every event touches goals. Events are built in place (no
 * decoding: that is `bench decode`), and come in bursts per resource: by default as many
 * records as the machine has controls (Defender evaluates a machine's assessments together
 * and exports them together), each for a random control of a random machine. The cost per
 * event is O(1) in the fleet size, but at a million pairs the working set leaves the CPU
 * caches: --burst 1 (every record for another machine) shows the cache-miss-bound worst case. */
#include "pd_engine.h"

#include "pd_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_CONTROLS 20

typedef struct fleet {
    char *names; /* R canonical ids, fixed width */
    uint32_t width, idlen, nres;
    char keys[BENCH_CONTROLS][64];
    uint32_t keylen[BENCH_CONTROLS];
    uint32_t nkeys;
} fleet;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    /* splitmix64: deterministic, so runs compare */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: robust on a shared machine */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * 4;
}

static int count_signal(void *ctx, const pd_signal *s)
{
    (void)s;
    (*(uint64_t *)ctx)++;
    return 0;
}

static void event_for(const fleet *f, pd_event *ev, uint32_t r, uint32_t c, pd_status st, int64_t t)
{
    ev->kind = PD_KIND_ASSESSMENT;
    ev->format = PD_FMT_DEFENDER;
    const char *id = f->names + (size_t)r * f->width;
    ev->resource.canon = ev->resource.id = (pd_str){id, f->idlen};
    ev->resource.cloud = PD_CLOUD_AZURE;
    /* "/subscriptions/sub-NNN/resourcegroups/rg-NN/providers/.../vm-NNNNNNN" */
    ev->resource.account = (pd_str){id + 15, 7};
    ev->resource.group = (pd_str){id + 38, 5};
    ev->resource.type = PD_STR_LIT("microsoft.compute/virtualmachines");
    ev->resource.name = (pd_str){id + 88, 10};
    ev->control.key = (pd_str){f->keys[c], f->keylen[c]};
    ev->control.name = ev->control.key;
    ev->status = st;
    ev->severity = PD_SEV_HIGH;
    ev->time_ms = t;
}

typedef struct result {
    double ns_per_event;
    uint64_t pairs, signals;
    size_t bytes;
    long rss_delta_kb;
} result;

static int run_size(const pd_goal_set *goals, fleet *f, uint64_t npairs, uint64_t nevents,
                    uint32_t burst, uint32_t repeat, result *out)
{
    f->nres = (uint32_t)((npairs + f->nkeys - 1) / f->nkeys);
    f->width = 100;
    f->names = malloc((size_t)f->nres * f->width);
    if (!f->names)
        return PD_ENOMEM;
    for (uint32_t r = 0; r < f->nres; r++)
        snprintf(f->names + (size_t)r * f->width, f->width,
                 "/subscriptions/sub-%03u/resourcegroups/rg-%02u/providers/"
                 "microsoft.compute/virtualmachines/vm-%07u",
                 r % 1000, r % 100, r);
    f->idlen = (uint32_t)strlen(f->names);
    uint64_t signals = 0;
    pd_engine_opts o;
    pd_engine_opts_default(&o);
    o.emit = count_signal;
    o.emit_ctx = &signals;
    pd_engine *e = NULL;
    long rss0 = rss_kb();
    int rc = pd_engine_create(goals, &o, &e);
    if (rc) {
        free(f->names);
        return rc;
    }
    int64_t t = 1700000000000LL;
    pd_event ev;
    pd_event_reset(&ev); /* once: the fields event_for sets are the only ones that change */
    /* Fill: every pair once, mostly healthy. */
    uint64_t made = 0;
    for (uint32_t r = 0; r < f->nres && !rc; r++)
        for (uint32_t c = 0; c < f->nkeys && made < npairs && !rc; c++, made++) {
            event_for(f, &ev, r, c, rng() % 20 ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY, t);
            rc = pd_engine_apply(e, &ev);
        }
    /* Measure (best of `repeat` rounds: the machine is shared): records in bursts per resource,
     * event time moving forward; most confirm the current status (about one in ten changes it), as
     * in a continuous export. */
    double best = 0;
    for (uint32_t round = 0; round < repeat && !rc; round++) {
        double t0 = now_ns();
        for (uint64_t i = 0; i < nevents && !rc;) {
            uint32_t r = (uint32_t)(rng() % f->nres);
            for (uint32_t k = 0; k < burst && i < nevents && !rc; k++, i++) {
                uint64_t x = rng();
                uint32_t c = (uint32_t)(x % f->nkeys);
                t += 50;
                event_for(f, &ev, r, c, (x >> 32) % 20 ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY,
                          t);
                rc = pd_engine_apply(e, &ev);
            }
        }
        double t1 = now_ns();
        if (!round || t1 - t0 < best)
            best = t1 - t0;
    }
    pd_engine_stats st;
    pd_engine_stats_get(e, &st);
    out->ns_per_event = best / (double)nevents;
    out->pairs = st.pairs;
    out->signals = signals;
    out->bytes = st.bytes;
    out->rss_delta_kb = rss_kb() - rss0;
    pd_engine_destroy(e);
    free(f->names);
    f->names = NULL;
    return rc;
}

/* Goals from the shipped pack; the keys its goals select become the fleet's controls. */
static int load_goals(const char *path, pd_goal_set **out, fleet *f)
{
    pd_diag d;
    int rc = pd_goal_set_load_file(out, path, &d);
    if (rc) {
        fprintf(stderr, "%s\n", d.msg);
        return rc;
    }
    f->nkeys = 0;
    for (uint32_t i = 0; i < pd_goal_set_count(*out) && f->nkeys < BENCH_CONTROLS; i++) {
        const pd_goal *g = pd_goal_set_at(*out, i);
        for (uint32_t j = 0; j < g->ncontrols && f->nkeys < BENCH_CONTROLS; j++) {
            if (g->controls[j].kind != PD_SEL_KEY)
                continue;
            bool dup = false;
            for (uint32_t k = 0; k < f->nkeys && !dup; k++)
                dup = !strcmp(f->keys[k], g->controls[j].value);
            if (!dup) {
                snprintf(f->keys[f->nkeys], sizeof(f->keys[0]), "%s", g->controls[j].value);
                f->keylen[f->nkeys] = (uint32_t)strlen(f->keys[f->nkeys]);
                f->nkeys++;
            }
        }
    }
    return f->nkeys ? 0 : PD_EINVAL;
}

int pd_cmd_bench_engine(int argc, char **argv)
{
    uint64_t pairs = 1000000, small = 10000, events = 200000;
    uint32_t burst = BENCH_CONTROLS, repeat = 5;
    const char *goals_path = PD_SOURCE_DIR "/pipelines/defender-servers.goals.yaml";
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (!strcmp(argv[i], "--pairs") && more)
            pairs = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--small") && more)
            small = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--events") && more)
            events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--burst") && more)
            burst = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--repeat") && more)
            repeat = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--goals") && more)
            goals_path = argv[++i];
        else {
            fprintf(
                stderr,
                "usage: postured bench engine [--pairs N (1000000)] [--small N (10000)]\n"
                "       [--events N (200000)] [--burst K (20)] [--repeat R (5)] [--goals FILE]\n"
                "Per-event engine cost at --small and --pairs tracked pairs and their ratio;\n"
                "memory per pair at --pairs (allocator accounting and RSS delta).\n");
            return 2;
        }
    }
    if (!pairs || !small || !events || !burst || !repeat)
        return 2;
    pd_goal_set *goals = NULL;
    fleet f;
    memset(&f, 0, sizeof(f));
    if (load_goals(goals_path, &goals, &f)) {
        pd_goal_set_destroy(goals);
        return 1;
    }
    result a, b;
    int rc = run_size(goals, &f, small, events, burst, repeat, &a);
    if (!rc)
        rc = run_size(goals, &f, pairs, events, burst, repeat, &b);
    if (rc) {
        fprintf(stderr, "bench engine: %s\n", pd_strerror(rc));
        pd_goal_set_destroy(goals);
        return 1;
    }
    printf("goals %u, controls %u, events %llu per size (best of %u), burst %u\n",
           pd_goal_set_count(goals), f.nkeys, (unsigned long long)events, repeat, burst);
    printf("%-10s %12s %10s %14s %12s %14s\n", "size", "pairs", "ns/event", "bytes", "bytes/pair",
           "rss/pair");
    const result *rs[2] = {&a, &b};
    for (int i = 0; i < 2; i++)
        printf("%-10s %12llu %10.1f %14zu %12.1f %14.1f\n", i ? "large" : "small",
               (unsigned long long)rs[i]->pairs, rs[i]->ns_per_event, rs[i]->bytes,
               (double)rs[i]->bytes / (double)rs[i]->pairs,
               (double)rs[i]->rss_delta_kb * 1024.0 / (double)rs[i]->pairs);
    printf("ratio large/small ns/event: %.2f\n", b.ns_per_event / a.ns_per_event);
    pd_goal_set_destroy(goals);
    return 0;
}
