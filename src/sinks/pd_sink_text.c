/* Human text for signals: one line used by chat presets, OCSF messages and digests. */
#include "pd_sink.h"

#include <ctype.h>
#include <string.h>

static bool is_percent_kind(const char *kind)
{
    return kind &&
           (!strcmp(kind, "coverage") || !strcmp(kind, "score") || !strcmp(kind, "compliance"));
}

void pd_sink_summary(const pd_signal *s, pd_buf *b)
{
    const char *sev = pd_severity_name(s->severity);
    pd_buf_putc(b, '[');
    for (const char *p = sev; *p; p++)
        pd_buf_putc(b, (char)toupper((unsigned char)*p));
    pd_buf_printf(b, "] %s: ", s->type);
    const pd_signal_resource *r = s->nresources ? &s->resources[0] : NULL;
    if (s->kind == PD_SIGNAL_BREACH) {
        pd_buf_printf(b, "%.*s", (int)s->rule.title.len, s->rule.title.p ? s->rule.title.p : "");
        if (r) {
            pd_str n = r->name.len ? r->name : r->id;
            pd_buf_printf(b, " on %.*s", (int)n.len, n.p);
            if (s->nresources > 1)
                pd_buf_printf(b, " and %u more", s->nresources - 1);
        }
        pd_buf_printf(b, ", confidence %.2f, score %.0f", s->confidence, s->score);
        if (s->update)
            pd_buf_printf(b, " (update %u)", s->update);
        return;
    }
    if (s->has_control && r) {
        pd_str c = s->control.name.len ? s->control.name : s->control.key;
        pd_str n = r->name.len ? r->name : r->id;
        pd_buf_printf(b, "%.*s on %.*s", (int)c.len, c.p ? c.p : "", (int)n.len, n.p ? n.p : "");
        if (s->has_goal)
            pd_buf_printf(b, " (goal %.*s)", (int)s->goal.id.len, s->goal.id.p);
    } else if (s->has_goal) {
        pd_str t = s->goal.title.len ? s->goal.title : s->goal.id;
        pd_buf_printf(b, "%.*s (%.*s) at %.4g%s, target %.*s", (int)t.len, t.p, (int)s->goal.id.len,
                      s->goal.id.p ? s->goal.id.p : "", s->goal.value,
                      is_percent_kind(s->goal.kind) ? "%" : "", (int)s->goal.target.len,
                      s->goal.target.p ? s->goal.target.p : "");
        if (r) {
            pd_str n = r->name.len ? r->name : r->id;
            pd_buf_printf(b, " on %.*s", (int)n.len, n.p ? n.p : "");
        }
    } else if (r) {
        pd_str n = r->name.len ? r->name : r->id;
        pd_buf_printf(b, "%.*s", (int)n.len, n.p ? n.p : "");
    } else if (s->nevidence) {
        const pd_evidence *e = &s->evidence[0];
        pd_buf_printf(b, "%s %.*s", e->kind ? e->kind : "", (int)e->id.len, e->id.p ? e->id.p : "");
    }
    if (s->flapping)
        pd_buf_puts(b, " (flapping)");
}
