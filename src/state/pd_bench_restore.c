/* postured bench restore: how fast a snapshot of N tracked pairs comes back. Builds an engine
 * of N pairs (R resources x the goal pack's key-selected controls, about one pair in twenty
 * unhealthy, so SLA timers are armed), writes its snapshot, destroys it, then times reading
 * the file (checksum included) and importing it into a fresh engine (counters rebuilt), best
 * of --repeat rounds. Restore rate = pairs / (read + import) seconds, wall clock. */
#include "pd_changelog.h"
#include "pd_engine_state.h"
#include "pd_snapshot.h"

#include "pd_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEYS 20

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int load_keys(const pd_goal_set *g, char keys[MAX_KEYS][64], uint32_t *n)
{
    *n = 0;
    for (uint32_t i = 0; i < pd_goal_set_count(g) && *n < MAX_KEYS; i++) {
        const pd_goal *goal = pd_goal_set_at(g, i);
        for (uint32_t j = 0; j < goal->ncontrols && *n < MAX_KEYS; j++) {
            if (goal->controls[j].kind != PD_SEL_KEY)
                continue;
            bool dup = false;
            for (uint32_t k = 0; k < *n && !dup; k++)
                dup = !strcmp(keys[k], goal->controls[j].value);
            if (!dup)
                snprintf(keys[(*n)++], 64, "%s", goal->controls[j].value);
        }
    }
    return *n ? 0 : PD_EINVAL;
}

int pd_bench_restore_fill(const pd_goal_set *goals, uint64_t npairs, uint64_t flip_every,
                          int (*apply)(void *ctx, const pd_event *ev), void *ctx)
{
    char keys[MAX_KEYS][64];
    uint32_t nkeys;
    int rc = load_keys(goals, keys, &nkeys);
    if (rc)
        return rc;
    pd_event ev;
    pd_event_reset(&ev);
    ev.kind = PD_KIND_ASSESSMENT;
    ev.format = PD_FMT_DEFENDER;
    ev.resource.cloud = PD_CLOUD_AZURE;
    ev.resource.type = PD_STR_LIT("microsoft.compute/virtualmachines");
    ev.severity = PD_SEV_HIGH;
    char id[192], sub[16], rg[16], name[32];
    uint64_t nres = (npairs + nkeys - 1) / nkeys, made = 0;
    int64_t t = 1767225600000LL; /* 2026-01-01 */
    if (flip_every)
        t += 86400000LL; /* a day later: the flips are newer than what they change */
    for (uint64_t r = 0; r < nres && !rc; r++) {
        if (flip_every && r % flip_every) {
            made += nkeys;
            continue;
        }
        snprintf(sub, sizeof(sub), "sub-%03u", (unsigned)(r % 997));
        snprintf(rg, sizeof(rg), "rg-%02u", (unsigned)(r % 61));
        snprintf(name, sizeof(name), "vm-%07llu", (unsigned long long)r);
        int n = snprintf(id, sizeof(id),
                         "/subscriptions/%s/resourcegroups/%s/providers/"
                         "microsoft.compute/virtualmachines/%s",
                         sub, rg, name);
        ev.resource.canon = ev.resource.id = (pd_str){id, (uint32_t)n};
        ev.resource.account = pd_str_c(sub);
        ev.resource.group = pd_str_c(rg);
        ev.resource.name = pd_str_c(name);
        for (uint32_t c = 0; c < nkeys && made < npairs && !rc; c++, made++) {
            ev.control.key = ev.control.name = pd_str_c(keys[c]);
            ev.status = mix(made) % 20 ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY;
            if (flip_every)
                ev.status =
                    ev.status == PD_STATUS_HEALTHY ? PD_STATUS_UNHEALTHY : PD_STATUS_HEALTHY;
            ev.time_ms = t + (int64_t)(made / 64) * 1000;
            rc = apply(ctx, &ev);
        }
    }
    return rc;
}

static int engine_apply(void *ctx, const pd_event *ev)
{
    return pd_engine_apply(ctx, ev);
}

static int build(const pd_goal_set *goals, uint64_t npairs, pd_engine **out)
{
    pd_engine *e = NULL;
    int rc = pd_engine_create(goals, NULL, &e);
    if (!rc)
        rc = pd_bench_restore_fill(goals, npairs, 0, engine_apply, e);
    if (rc) {
        pd_engine_destroy(e);
        return rc;
    }
    *out = e;
    return 0;
}

int pd_cmd_bench_restore(int argc, char **argv)
{
    uint64_t pairs = 4000000;
    uint32_t repeat = 3;
    const char *dir = "/tmp";
    const char *goals_path = PD_SOURCE_DIR "/pipelines/defender-servers.goals.yaml";
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (!strcmp(argv[i], "--pairs") && more)
            pairs = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--repeat") && more)
            repeat = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && more)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--goals") && more)
            goals_path = argv[++i];
        else {
            fprintf(stderr,
                    "usage: postured bench restore [--pairs N (4000000)] [--repeat R (3)]\n"
                    "       [--dir DIR (/tmp)] [--goals FILE]\n"
                    "Snapshot an engine of N pairs, then time reading and importing it back.\n");
            return 2;
        }
    }
    if (!pairs || !repeat)
        return 2;
    pd_diag d;
    pd_goal_set *goals = NULL;
    if (pd_goal_set_load_file(&goals, goals_path, &d)) {
        fprintf(stderr, "%s\n", d.msg);
        return 1;
    }
    char path[4096], why[512] = "";
    snprintf(path, sizeof(path), "%s/postured-bench-restore.%ld.snap", dir, (long)getpid());
    pd_buf scratch;
    pd_buf_init(&scratch);
    pd_engine *e = NULL;
    int rc = 0, code = 1;
    double t0 = wall_s();
    if ((rc = build(goals, pairs, &e))) {
        fprintf(stderr, "bench restore: build: %s\n", pd_strerror(rc));
        goto done;
    }
    double t1 = wall_s();
    pd_snapshot_meta m;
    pd_snapshot_meta_init(&m);
    if ((rc = pd_snapshot_save_engine(path, e, &m, &scratch, why, sizeof(why)))) {
        fprintf(stderr, "bench restore: save: %s\n", why);
        goto done;
    }
    double t2 = wall_s();
    /* The changelog tracker's full pass (after timers fired): digests of every resource. */
    uint32_t nres_all = pd_engine_resource_count(e);
    uint64_t *dig = malloc(((size_t)nres_all + 1) * sizeof(uint64_t));
    double t3 = wall_s();
    if (!dig || (rc = pd_engine_resource_digests(e, dig, NULL, 0))) {
        free(dig);
        fprintf(stderr, "bench restore: digests: %s\n", pd_strerror(rc ? rc : PD_ENOMEM));
        goto done;
    }
    double t4 = wall_s();
    free(dig);
    pd_engine_stats st0;
    pd_engine_stats_get(e, &st0);
    pd_goal_status gs0[PD_GOALS_MAX];
    uint32_t ng = pd_engine_goal_count(e);
    for (uint32_t i = 0; i < ng; i++)
        pd_engine_goal_status(e, i, &gs0[i]);
    pd_engine_destroy(e);
    e = NULL;
    struct stat sb;
    stat(path, &sb);
    double best_read = 0, best_import = 0, best = 0;
    for (uint32_t round = 0; round < repeat; round++) {
        pd_engine *r = NULL;
        if ((rc = pd_engine_create(goals, NULL, &r)))
            goto done;
        double a = wall_s();
        rc = pd_snapshot_read(path, &m, &scratch, why, sizeof(why));
        double b = wall_s();
        char iw[256] = "";
        if (!rc && (rc = pd_engine_state_import(r, scratch.p, scratch.len, iw, sizeof(iw))))
            snprintf(why, sizeof(why), "%s", iw);
        double c = wall_s();
        if (!rc) {
            /* The restored engine must measure the same. */
            for (uint32_t i = 0; i < ng && !rc; i++) {
                pd_goal_status g;
                pd_engine_goal_status(r, i, &g);
                if (g.value != gs0[i].value || g.numerator != gs0[i].numerator ||
                    g.denominator != gs0[i].denominator || g.violators != gs0[i].violators) {
                    snprintf(why, sizeof(why), "goal %s differs after restore", g.goal->id);
                    rc = PD_ESTATE;
                }
            }
        }
        pd_engine_destroy(r);
        if (rc) {
            fprintf(stderr, "bench restore: %s\n", why);
            goto done;
        }
        if (!round || c - a < best) {
            best = c - a;
            best_read = b - a;
            best_import = c - b;
        }
    }
    printf("pairs %llu, resources %llu, goals %u; build %.2f s, snapshot write %.2f s\n",
           (unsigned long long)st0.pairs, (unsigned long long)st0.resources, ng, t1 - t0, t2 - t1);
    printf("snapshot %lld bytes, %.1f bytes/pair (engine in memory: %.1f bytes/pair)\n",
           (long long)sb.st_size, (double)sb.st_size / (double)st0.pairs,
           (double)st0.bytes / (double)st0.pairs);
    printf("restore (best of %u): read+verify %.3f s, import %.3f s, total %.3f s\n", repeat,
           best_read, best_import, best);
    printf("restore rate: %.2f M pairs/s\n", (double)st0.pairs / best / 1e6);
    printf("changelog tracker full pass (digest of every resource): %.3f s\n", t4 - t3);
    code = 0;
done:
    unlink(path);
    pd_engine_destroy(e);
    pd_buf_free(&scratch);
    pd_goal_set_destroy(goals);
    return code;
}
