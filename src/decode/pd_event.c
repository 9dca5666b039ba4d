#include "pd_event.h"

#include "pd_buf.h"
#include "pd_time.h"

#include <stddef.h>
#include <string.h>

void pd_event_reset(pd_event *e)
{
    /* Everything but the tag and framework arrays (their counts say what is valid): this
     * runs once per decoded event. */
    memset(e, 0, offsetof(pd_event, resource.tags));
    memset((char *)e + offsetof(pd_event, resource.ntags), 0,
           offsetof(pd_event, control.frameworks) - offsetof(pd_event, resource.ntags));
    memset((char *)e + offsetof(pd_event, control.nframeworks), 0,
           sizeof(*e) - offsetof(pd_event, control.nframeworks));
    e->time_ms = PD_TIME_NONE;
    e->first_seen_ms = PD_TIME_NONE;
    e->status_change_ms = PD_TIME_NONE;
    e->alert.start_ms = PD_TIME_NONE;
    e->alert.end_ms = PD_TIME_NONE;
    e->vuln.cvss = -1.0;
}

static void key(pd_buf *b, const char *k)
{
    pd_buf_putc(b, ',');
    pd_buf_json_str(b, k, strlen(k));
    pd_buf_putc(b, ':');
}

static void kstr(pd_buf *b, const char *k, pd_str v)
{
    key(b, k);
    pd_buf_json_pstr(b, v);
}

static void ktime(pd_buf *b, const char *k, int64_t ms)
{
    key(b, k);
    if (ms == PD_TIME_NONE) {
        pd_buf_puts(b, "null");
        return;
    }
    char t[PD_RFC3339_LEN];
    pd_time_format(ms, t);
    pd_buf_json_str(b, t, strlen(t));
}

void pd_event_json(const pd_event *e, pd_buf *b)
{
    const pd_resource *r = &e->resource;
    pd_buf_puts(b, "{\"kind\":");
    pd_buf_json_str(b, pd_kind_name(e->kind), strlen(pd_kind_name(e->kind)));
    key(b, "format");
    pd_buf_json_str(b, pd_format_name(e->format), strlen(pd_format_name(e->format)));
    pd_buf_puts(b, ",\"resource\":{\"id\":");
    pd_buf_json_pstr(b, r->id);
    kstr(b, "canon", r->canon);
    key(b, "cloud");
    pd_buf_json_str(b, pd_cloud_name(r->cloud), strlen(pd_cloud_name(r->cloud)));
    kstr(b, "account", r->account);
    kstr(b, "region", r->region);
    kstr(b, "group", r->group);
    kstr(b, "type", r->type);
    kstr(b, "name", r->name);
    pd_buf_puts(b, ",\"tags\":{");
    for (unsigned i = 0; i < r->ntags; i++) {
        if (i)
            pd_buf_putc(b, ',');
        pd_buf_json_pstr(b, r->tags[i].key);
        pd_buf_putc(b, ':');
        pd_buf_json_pstr(b, r->tags[i].value);
    }
    pd_buf_puts(b, "}},\"control\":{\"key\":");
    pd_buf_json_pstr(b, e->control.key);
    kstr(b, "name", e->control.name);
    kstr(b, "category", e->control.category);
    pd_buf_puts(b, ",\"frameworks\":[");
    for (unsigned i = 0; i < e->control.nframeworks; i++) {
        if (i)
            pd_buf_putc(b, ',');
        pd_buf_json_pstr(b, e->control.frameworks[i]);
    }
    pd_buf_puts(b, "]}");
    key(b, "status");
    pd_buf_json_str(b, pd_status_name(e->status), strlen(pd_status_name(e->status)));
    key(b, "severity");
    pd_buf_json_str(b, pd_severity_name(e->severity), strlen(pd_severity_name(e->severity)));
    kstr(b, "severity_orig", e->severity_orig);
    ktime(b, "time", e->time_ms);
    ktime(b, "first_seen", e->first_seen_ms);
    ktime(b, "status_change", e->status_change_ms);
    key(b, "snapshot");
    pd_buf_puts(b, e->snapshot ? "true" : "false");
    key(b, "deleted");
    pd_buf_puts(b, e->deleted ? "true" : "false");
    kstr(b, "event_id", e->event_id);
    switch (e->kind) {
    case PD_KIND_ALERT:
        pd_buf_puts(b, ",\"alert\":{\"id\":");
        pd_buf_json_pstr(b, e->alert.id);
        kstr(b, "type", e->alert.type);
        kstr(b, "status", e->alert.status);
        pd_buf_puts(b, ",\"tactics\":[");
        for (int t = 1, n = 0; t < PD_TACTIC__COUNT; t++)
            if (e->alert.tactics & (1u << t)) {
                const char *tn = pd_tactic_name((pd_tactic)t);
                if (n++)
                    pd_buf_putc(b, ',');
                pd_buf_json_str(b, tn, strlen(tn));
            }
        pd_buf_putc(b, ']');
        ktime(b, "start", e->alert.start_ms);
        ktime(b, "end", e->alert.end_ms);
        pd_buf_putc(b, '}');
        break;
    case PD_KIND_VULNERABILITY:
        pd_buf_puts(b, ",\"vuln\":{\"cve\":");
        pd_buf_json_pstr(b, e->vuln.cve);
        kstr(b, "parent_key", e->vuln.parent_key);
        key(b, "cvss");
        if (e->vuln.cvss < 0)
            pd_buf_puts(b, "null");
        else
            pd_buf_json_num(b, e->vuln.cvss);
        key(b, "fix_available");
        pd_buf_puts(b, e->vuln.fix_available ? "true" : "false");
        pd_buf_putc(b, '}');
        break;
    case PD_KIND_SCORE:
        pd_buf_puts(b, ",\"score\":{\"control\":");
        pd_buf_json_pstr(b, e->score.control);
        key(b, "current");
        pd_buf_json_num(b, e->score.current);
        key(b, "max");
        pd_buf_json_num(b, e->score.max);
        key(b, "percentage");
        pd_buf_json_num(b, e->score.percentage);
        pd_buf_printf(b, ",\"healthy\":%u,\"unhealthy\":%u,\"not_applicable\":%u}",
                      e->score.healthy, e->score.unhealthy, e->score.not_applicable);
        break;
    case PD_KIND_COMPLIANCE:
        pd_buf_puts(b, ",\"compliance\":{\"standard\":");
        pd_buf_json_pstr(b, e->compliance.standard);
        kstr(b, "control", e->compliance.control);
        kstr(b, "state", e->compliance.state);
        pd_buf_printf(b, ",\"passed\":%u,\"failed\":%u,\"skipped\":%u}", e->compliance.passed,
                      e->compliance.failed, e->compliance.skipped);
        break;
    default:
        break;
    }
    pd_buf_putc(b, '}');
}
