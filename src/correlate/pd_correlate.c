/* Placeholder: an empty rule engine that accepts no rule file, so the processor links
 * before the real correlation engine lands. */
#include "pd_correlate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pd_correlator {
    pd_correlate_stats stats;
};

void pd_correlate_opts_default(pd_correlate_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->allowed_lateness_ms = 5 * 60 * 1000;
    o->memcap_bytes = 64u << 20;
}

int pd_rule_set_load_file(pd_rule_set **set, const char *path, pd_diag *diag)
{
    (void)set;
    snprintf(diag->msg, sizeof(diag->msg), "%s: rule files are not supported yet", path);
    return PD_EUNSUPPORTED;
}

uint32_t pd_rule_set_count(const pd_rule_set *set)
{
    (void)set;
    return 0;
}

void pd_rule_set_destroy(pd_rule_set *set)
{
    (void)set;
}

int pd_correlator_create(const pd_rule_set *rules, const pd_correlate_opts *opts,
                         const pd_posture_ops *posture, void *posture_ctx, pd_signal_fn emit,
                         void *emit_ctx, pd_correlator **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : PD_ENOMEM;
}

void pd_correlator_destroy(pd_correlator *c)
{
    free(c);
}

int pd_correlator_on_event(pd_correlator *c, const pd_event *ev)
{
    c->stats.events++;
    return 0;
}

int pd_correlator_on_signal(pd_correlator *c, const pd_signal *drift)
{
    return 0;
}

int pd_correlator_advance(pd_correlator *c, int64_t now_ms)
{
    return 0;
}

void pd_correlator_stats(const pd_correlator *c, pd_correlate_stats *out)
{
    *out = c->stats;
}
