/* bench_correlate: correlator throughput over a synthetic fleet (no decode, no goals engine):
 * N events over S servers, one in A an alert (random type of 200, severity, one tactic), the
 * rest EDR assessments flipping health; a fixed posture answers "weak" for 1 in 7 servers.
 * Usage: bench_correlate RULES.yaml [EVENTS] [ALERT_EVERY] [SERVERS]
 * Prints events/s, ns/event and the correlator's counters. Deterministic input. */
#include "pd_correlate.h"
#include "pd_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int emit(void *ctx, const pd_signal *s)
{
    (void)s;
    (*(uint64_t *)ctx)++;
    return 0;
}

static uint32_t goals(void *ctx, pd_str canon, pd_posture_goal_fn fn, void *fctx)
{
    (void)ctx;
    if (canon.len % 7)
        return 0;
    if (fn)
        fn(fctx, pd_str_c("edr-prod"), pd_str_c("EDR"));
    return 1;
}

static uint32_t findings(void *ctx, pd_str canon, pd_severity min, pd_posture_finding_fn fn,
                         void *fctx)
{
    (void)ctx, (void)canon, (void)min, (void)fn, (void)fctx;
    return 0;
}

static pd_status pair(void *ctx, pd_str canon, pd_str key)
{
    (void)ctx, (void)canon, (void)key;
    return PD_STATUS_HEALTHY;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_correlate RULES.yaml [EVENTS] [ALERT_EVERY] [SERVERS]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 2000000;
    long every = argc > 3 ? atol(argv[3]) : 50;
    long servers = argc > 4 ? atol(argv[4]) : 5000;
    if (n <= 0 || every <= 0 || servers <= 0)
        return 2;
    pd_rule_set *rules = NULL;
    pd_diag d;
    if (pd_rule_set_load_file(&rules, argv[1], &d)) {
        fprintf(stderr, "%s\n", d.msg);
        return 1;
    }
    static const pd_posture_ops ops = {goals, findings, pair};
    uint64_t emitted = 0;
    pd_correlate_opts o;
    pd_correlate_opts_default(&o);
    pd_correlator *c = NULL;
    if (pd_correlator_create(rules, &o, &ops, NULL, emit, &emitted, &c))
        return 1;
    char canon[160], aid[32], type[32];
    const int64_t t0 = 1767225600000LL;
    uint64_t x = 88172645463325252ULL;
    pd_event ev;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pd_event_reset(&ev);
        snprintf(canon, sizeof(canon),
                 "/subscriptions/s1/resourcegroups/rg/providers/microsoft.compute/"
                 "virtualmachines/vm%ld",
                 (long)(x % (uint64_t)servers));
        ev.resource.canon = ev.resource.id = pd_str_c(canon);
        ev.time_ms = t0 + i * 50;
        if (i % every == 0) {
            ev.kind = PD_KIND_ALERT;
            snprintf(aid, sizeof(aid), "al-%ld", i);
            snprintf(type, sizeof(type), "VM_T%d", (int)((x >> 20) % 200));
            ev.alert.id = pd_str_c(aid);
            ev.alert.type = pd_str_c(type);
            ev.severity = (pd_severity)(1 + (x >> 30) % 4);
            ev.alert.tactics = 1u << (1 + (x >> 40) % 14);
        } else {
            ev.kind = PD_KIND_ASSESSMENT;
            ev.control.key = pd_str_c("06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c");
            ev.status = ((x >> 33) & 1) ? PD_STATUS_HEALTHY : PD_STATUS_UNHEALTHY;
            ev.event_id = ev.resource.id;
        }
        if (pd_correlator_on_event(c, &ev))
            return 1;
        if (i % 1000 == 0)
            pd_correlator_advance(c, ev.time_ms);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double sec = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    pd_correlate_stats st;
    pd_correlator_stats(c, &st);
    printf("%ld events (1 in %ld an alert, %ld servers) in %.3f s: %.0f events/s, %.0f ns/event "
           "(including building the events)\n",
           n, every, servers, sec, (double)n / sec, sec * 1e9 / (double)n);
    printf("signals %llu, updates %llu, evictions %llu, late %llu, groups %llu, bytes %zu\n",
           (unsigned long long)st.signals, (unsigned long long)st.updates,
           (unsigned long long)st.evictions, (unsigned long long)st.late,
           (unsigned long long)st.groups, st.bytes);
    pd_correlator_destroy(c);
    pd_rule_set_destroy(rules);
    return emitted == st.signals + st.updates ? 0 : 1;
}
