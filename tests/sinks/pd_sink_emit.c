/* Writes the fixture signals through real file sinks (json, ocsf, msgpack) and a rate
 * limit that produces digests, into DIR; tests/sinks/validate.py checks them against
 * schemas/. Usage: pd_sink_emit DIR */
#include "test_sink_fixtures.h"

#include <stdio.h>
#include <stdlib.h>

static int64_t clock_ms = 1700000000000LL;
static int64_t now_fn(void *ctx)
{
    PD_UNUSED(ctx);
    return clock_ms;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    static const char *const fmts[] = {"json", "ocsf", "msgpack"};
    pd_signal sigs[] = {
        fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod"),
        fx_drift("control.recovered", PD_SEV_HIGH, "edr-prod"),
        fx_drift("sla.expired", PD_SEV_CRITICAL, "vuln-sla"),
        fx_drift("goal.breached", PD_SEV_CRITICAL, "edr-prod"),
        fx_drift("goal.restored", PD_SEV_CRITICAL, "edr-prod"),
        fx_drift("coverage.unknown", PD_SEV_LOW, "va-coverage"),
        fx_breach("lateral-spread", PD_SEV_CRITICAL),
        fx_breach("kill-chain-progression", PD_SEV_CRITICAL),
        fx_breach("alert-burst", PD_SEV_MEDIUM),
    };
    sigs[1].flapping = true;
    sigs[2].resources = &fx_res[1]; /* sla.expired is about one pair */
    sigs[2].nresources = 1;
    sigs[5].nevidence = 0;
    sigs[7].update = 2;
    sigs[7].nresources = 1; /* one resource: "resource" */
    sigs[8].multi_resource = true;
    sigs[8].nresources = 1; /* forced "resources" with one item */
    pd_signal silent = fx_drift("feed.silent", PD_SEV_MEDIUM, "x");
    silent.has_goal = false;
    silent.has_control = false;
    silent.nresources = 0;

    int rc = 0;
    for (size_t f = 0; f < PD_ARRAY_LEN(fmts); f++) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml),
                 "{type: file, name: %s, path: '%s/signals.%s', append: false, format: %s}",
                 fmts[f], argv[1], fmts[f], fmts[f]);
        pd_sink_env env = {0};
        pd_sink *s;
        pd_diag diag;
        if (fx_sink(&env, yaml, &s, &diag)) {
            fprintf(stderr, "%s\n", diag.msg);
            return 1;
        }
        for (size_t i = 0; i < PD_ARRAY_LEN(sigs); i++)
            rc |= pd_sink_submit(s, &sigs[i]);
        rc |= pd_sink_submit(s, &silent);
        pd_sink_destroy(s);
    }
    /* digests: a rate limit of 1 over many signals of two groups */
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "{type: file, path: '%s/digests.json', append: false, rate_limit: 1}", argv[1]);
    pd_sink_env env = {.now_ms = now_fn};
    pd_sink *s;
    pd_diag diag;
    if (fx_sink(&env, yaml, &s, &diag)) {
        fprintf(stderr, "%s\n", diag.msg);
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        rc |= pd_sink_submit(s, &sigs[0]);
        rc |= pd_sink_submit(s, &sigs[6]);
    }
    clock_ms += 60000;
    rc |= pd_sink_flush(s);
    pd_sink_destroy(s);
    return rc ? 1 : 0;
}
