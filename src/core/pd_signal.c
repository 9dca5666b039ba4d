#include "pd_signal.h"

#include "pd_time.h"

#include <math.h>
#include <stdio.h>

const char *pd_signal_kind_name(pd_signal_kind k)
{
    return k == PD_SIGNAL_BREACH ? "breach" : "drift";
}

void pd_signal_make_id(char out[33], const pd_str *parts, size_t nparts)
{
    uint64_t a = 0x243f6a8885a308d3ULL, b = 0x13198a2e03707344ULL;
    for (size_t i = 0; i < nparts; i++) {
        a = pd_hash_mix(a, pd_hash64(parts[i].p, parts[i].len, 0x5eed0001ULL + i));
        b = pd_hash_mix(b, pd_hash64(parts[i].p, parts[i].len, 0x5eed1001ULL + i));
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

static void key(pd_buf *b, const char *k)
{
    pd_buf_putc(b, '"');
    pd_buf_puts(b, k);
    pd_buf_puts(b, "\":");
}

static void kv_str(pd_buf *b, const char *k, pd_str v, bool comma)
{
    key(b, k);
    pd_buf_json_pstr(b, v);
    if (comma)
        pd_buf_putc(b, ',');
}

static void kv_cstr(pd_buf *b, const char *k, const char *v, bool comma)
{
    kv_str(b, k, pd_str_c(v), comma);
}

static void write_time(pd_buf *b, const char *k, int64_t ms)
{
    char ts[PD_RFC3339_LEN];
    pd_time_format(ms, ts);
    kv_cstr(b, k, ts, false);
}

static void write_resource(pd_buf *b, const pd_signal_resource *r)
{
    pd_buf_putc(b, '{');
    kv_str(b, "id", r->id, true);
    kv_cstr(b, "cloud", pd_cloud_name(r->cloud), true);
    kv_str(b, "account", r->account, true);
    kv_str(b, "name", r->name, true);
    kv_str(b, "type", r->type, false);
    pd_buf_putc(b, '}');
}

static void write_tactics(pd_buf *b, uint32_t tactics)
{
    key(b, "tactics");
    pd_buf_putc(b, '[');
    bool first = true;
    for (int t = PD_TACTIC_RECONNAISSANCE; t < PD_TACTIC__COUNT; t++) {
        if (!(tactics & (1u << t)))
            continue;
        if (!first)
            pd_buf_putc(b, ',');
        pd_buf_json_pstr(b, pd_str_c(pd_tactic_name((pd_tactic)t)));
        first = false;
    }
    pd_buf_putc(b, ']');
}

void pd_signal_to_json(const pd_signal *s, pd_buf *b)
{
    pd_buf_putc(b, '{');
    kv_cstr(b, "signal", pd_signal_kind_name(s->kind), true);
    kv_cstr(b, "type", s->type, true);
    kv_cstr(b, "id", s->id, true);
    write_time(b, "time", s->time_ms);
    pd_buf_putc(b, ',');
    kv_cstr(b, "severity", pd_severity_name(s->severity), true);
    if (s->update) {
        key(b, "update");
        pd_buf_printf(b, "%u,", s->update);
    }
    if (s->kind == PD_SIGNAL_BREACH) {
        key(b, "rule");
        pd_buf_putc(b, '{');
        kv_str(b, "id", s->rule.id, true);
        kv_str(b, "title", s->rule.title, false);
        pd_buf_puts(b, "},");
        key(b, "confidence");
        pd_buf_printf(b, "%.2f,", s->confidence);
        key(b, "score");
        pd_buf_printf(b, "%.0f,", s->score);
        write_tactics(b, s->tactics);
        pd_buf_putc(b, ',');
    }
    if (s->has_goal) {
        key(b, "goal");
        pd_buf_putc(b, '{');
        kv_str(b, "id", s->goal.id, true);
        kv_str(b, "title", s->goal.title, true);
        kv_cstr(b, "kind", s->goal.kind, true);
        key(b, "value");
        /* two decimals: percentages read as 98.25, counts stay exact integers */
        pd_buf_json_num(b, round(s->goal.value * 100.0) / 100.0);
        pd_buf_putc(b, ',');
        kv_str(b, "target", s->goal.target, true);
        key(b, "met");
        pd_buf_puts(b, s->goal.met ? "true" : "false");
        pd_buf_puts(b, "},");
    }
    if (s->nresources > 1 || s->multi_resource) {
        key(b, "resources");
        pd_buf_putc(b, '[');
        for (uint32_t i = 0; i < s->nresources; i++) {
            if (i)
                pd_buf_putc(b, ',');
            write_resource(b, &s->resources[i]);
        }
        pd_buf_puts(b, "],");
    } else if (s->nresources == 1) {
        key(b, "resource");
        write_resource(b, &s->resources[0]);
        pd_buf_putc(b, ',');
    }
    if (s->has_control) {
        key(b, "control");
        pd_buf_putc(b, '{');
        kv_str(b, "key", s->control.key, true);
        kv_str(b, "name", s->control.name, true);
        key(b, "frameworks");
        pd_buf_putc(b, '[');
        for (uint32_t i = 0; i < s->control.nframeworks; i++) {
            if (i)
                pd_buf_putc(b, ',');
            pd_buf_json_pstr(b, s->control.frameworks[i]);
        }
        pd_buf_puts(b, "]},");
    }
    if (s->flapping)
        pd_buf_puts(b, "\"flapping\":true,");
    key(b, "evidence");
    pd_buf_putc(b, '[');
    for (uint32_t i = 0; i < s->nevidence; i++) {
        const pd_evidence *e = &s->evidence[i];
        if (i)
            pd_buf_putc(b, ',');
        pd_buf_putc(b, '{');
        kv_cstr(b, "kind", e->kind, true);
        kv_str(b, "id", e->id, true);
        if (e->detail.len)
            kv_str(b, "detail", e->detail, true);
        write_time(b, "time", e->time_ms);
        pd_buf_putc(b, '}');
    }
    pd_buf_puts(b, "],");
    if (s->kind == PD_SIGNAL_BREACH) {
        key(b, "recommended_actions");
        pd_buf_putc(b, '[');
        for (uint32_t i = 0; i < s->nactions; i++) {
            if (i)
                pd_buf_putc(b, ',');
            pd_buf_json_pstr(b, pd_str_c(s->actions[i]));
        }
        pd_buf_puts(b, "],");
    }
    kv_str(b, "pipeline", s->pipeline, false);
    pd_buf_putc(b, '}');
}
