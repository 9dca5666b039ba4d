/* Signals as OCSF findings; see pd_ocsf.h. */
#include "pd_ocsf.h"

#include "pd_sink.h"
#include "pd_time.h"

#include <string.h>

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !memcmp(s + n - m, suf, m);
}

static bool is_closing(const pd_signal *s)
{
    return ends_with(s->type, ".recovered") || ends_with(s->type, ".restored");
}

int pd_ocsf_activity(const pd_signal *s)
{
    if (is_closing(s))
        return PD_OCSF_ACTIVITY_CLOSE;
    return s->update ? PD_OCSF_ACTIVITY_UPDATE : PD_OCSF_ACTIVITY_CREATE;
}

static const char *activity_name(int a)
{
    return a == PD_OCSF_ACTIVITY_CLOSE    ? "Close"
           : a == PD_OCSF_ACTIVITY_UPDATE ? "Update"
                                          : "Create";
}

/* OCSF severity_id uses the same ladder as pd_severity: 0 Unknown .. 5 Critical. */
static const char *const sev_caption[] = {"Unknown", "Informational", "Low",
                                          "Medium",  "High",          "Critical"};

static const struct {
    const char *uid, *name;
} tactics[PD_TACTIC__COUNT] = {
    [PD_TACTIC_RECONNAISSANCE] = {"TA0043", "Reconnaissance"},
    [PD_TACTIC_RESOURCE_DEVELOPMENT] = {"TA0042", "Resource Development"},
    [PD_TACTIC_INITIAL_ACCESS] = {"TA0001", "Initial Access"},
    [PD_TACTIC_EXECUTION] = {"TA0002", "Execution"},
    [PD_TACTIC_PERSISTENCE] = {"TA0003", "Persistence"},
    [PD_TACTIC_PRIVILEGE_ESCALATION] = {"TA0004", "Privilege Escalation"},
    [PD_TACTIC_DEFENSE_EVASION] = {"TA0005", "Defense Evasion"},
    [PD_TACTIC_CREDENTIAL_ACCESS] = {"TA0006", "Credential Access"},
    [PD_TACTIC_DISCOVERY] = {"TA0007", "Discovery"},
    [PD_TACTIC_LATERAL_MOVEMENT] = {"TA0008", "Lateral Movement"},
    [PD_TACTIC_COLLECTION] = {"TA0009", "Collection"},
    [PD_TACTIC_COMMAND_AND_CONTROL] = {"TA0011", "Command and Control"},
    [PD_TACTIC_EXFILTRATION] = {"TA0010", "Exfiltration"},
    [PD_TACTIC_IMPACT] = {"TA0040", "Impact"},
};

static const char *provider(pd_cloud c)
{
    switch (c) {
    case PD_CLOUD_AZURE:
        return "Azure";
    case PD_CLOUD_AWS:
        return "AWS";
    case PD_CLOUD_GCP:
        return "GCP";
    case PD_CLOUD_ONPREM:
        return "On-premises";
    default:
        return "Unknown";
    }
}

static void k(pd_buf *b, const char *key)
{
    pd_buf_putc(b, '"');
    pd_buf_puts(b, key);
    pd_buf_puts(b, "\":");
}

static void ks(pd_buf *b, const char *key, pd_str v)
{
    k(b, key);
    pd_buf_json_pstr(b, v);
}

static void kc(pd_buf *b, const char *key, const char *v)
{
    ks(b, key, pd_str_c(v));
}

/* The escaped text of a JSON string without its quotes, to build one string of pieces. */
static void json_raw(pd_buf *b, const char *s, size_t n)
{
    size_t at = b->len;
    pd_buf_json_str(b, s ? s : "", n);
    if (b->oom || b->len < at + 2)
        return;
    memmove(b->p + at, b->p + at + 1, b->len - at - 2);
    b->len -= 2;
}

static void write_title(const pd_signal *s, pd_buf *b)
{
    /* what a SOC analyst reads first: the rule, control or goal title */
    if (s->kind == PD_SIGNAL_BREACH && s->rule.title.len)
        pd_buf_json_pstr(b, s->rule.title);
    else if (s->has_control && s->control.name.len) {
        pd_buf_putc(b, '"');
        json_raw(b, s->control.name.p, s->control.name.len);
        pd_buf_puts(b, " (");
        json_raw(b, s->type, strlen(s->type));
        pd_buf_puts(b, ")\"");
    } else if (s->has_goal && s->goal.title.len)
        pd_buf_json_pstr(b, s->goal.title);
    else
        pd_buf_json_str(b, s->type, strlen(s->type));
}

static void write_resource(pd_buf *b, const pd_signal_resource *r)
{
    pd_buf_putc(b, '{');
    ks(b, "uid", r->id);
    pd_buf_putc(b, ',');
    ks(b, "name", r->name.len ? r->name : r->id);
    pd_buf_putc(b, ',');
    ks(b, "type", r->type);
    pd_buf_puts(b, ",\"cloud_partition\":");
    pd_buf_json_str(b, pd_cloud_name(r->cloud), strlen(pd_cloud_name(r->cloud)));
    pd_buf_puts(b, ",\"data\":{");
    kc(b, "cloud", pd_cloud_name(r->cloud));
    pd_buf_putc(b, ',');
    ks(b, "account", r->account);
    pd_buf_puts(b, "}}");
}

static void write_resources(const pd_signal *s, pd_buf *b)
{
    k(b, "resources");
    pd_buf_putc(b, '[');
    if (s->nresources == 0) {
        /* a goal-level signal is about the goal: name it as the resource */
        pd_buf_puts(b, "{\"uid\":");
        if (s->has_goal) {
            pd_buf_puts(b, "\"goal:");
            json_raw(b, s->goal.id.p, s->goal.id.len);
            pd_buf_puts(b, "\",");
            ks(b, "name", s->goal.title.len ? s->goal.title : s->goal.id);
            pd_buf_puts(b, ",\"type\":\"postured.goal\"}");
        } else {
            pd_buf_json_pstr(b, s->pipeline.len ? s->pipeline : pd_str_c("postured"));
            pd_buf_puts(b, ",\"type\":\"postured.pipeline\"}");
        }
    }
    for (uint32_t i = 0; i < s->nresources; i++) {
        if (i)
            pd_buf_putc(b, ',');
        write_resource(b, &s->resources[i]);
    }
    pd_buf_putc(b, ']');
}

static void write_evidence_list(const pd_signal *s, pd_buf *b)
{
    pd_buf_putc(b, '[');
    for (uint32_t i = 0; i < s->nevidence; i++) {
        const pd_evidence *e = &s->evidence[i];
        char ts[PD_RFC3339_LEN];
        if (i)
            pd_buf_putc(b, ',');
        pd_buf_putc(b, '{');
        kc(b, "kind", e->kind ? e->kind : "");
        pd_buf_putc(b, ',');
        ks(b, "id", e->id);
        if (e->detail.len) {
            pd_buf_putc(b, ',');
            ks(b, "detail", e->detail);
        }
        pd_time_format(e->time_ms, ts);
        pd_buf_putc(b, ',');
        kc(b, "time", ts);
        pd_buf_putc(b, '}');
    }
    pd_buf_putc(b, ']');
}

static int compliance_status(const pd_signal *s)
{
    /* 0 Unknown, 1 Pass, 2 Warning, 3 Fail */
    if (is_closing(s))
        return 1;
    if (!strcmp(s->type, "coverage.unknown"))
        return 0;
    if (!strcmp(s->type, "feed.silent"))
        return 2;
    return 3;
}

static const char *const compliance_caption[] = {"Unknown", "Pass", "Warning", "Fail"};

void pd_ocsf_write(const pd_signal *s, pd_buf *b, pd_buf *scratch)
{
    pd_buf own;
    pd_buf_init(&own);
    pd_buf *tmp = scratch ? scratch : &own;
    bool drift = s->kind == PD_SIGNAL_DRIFT;
    int cls = drift ? PD_OCSF_CLASS_COMPLIANCE : PD_OCSF_CLASS_DETECTION;
    int act = pd_ocsf_activity(s);
    int sev = (unsigned)s->severity < PD_SEV__COUNT ? (int)s->severity : 0;
    bool closing = is_closing(s);

    pd_buf_printf(b,
                  "{\"class_uid\":%d,\"class_name\":\"%s\",\"category_uid\":%d,"
                  "\"category_name\":\"Findings\",\"activity_id\":%d,\"activity_name\":\"%s\","
                  "\"type_uid\":%d,\"severity_id\":%d,\"severity\":\"%s\",\"time\":%lld,",
                  cls, drift ? "Compliance Finding" : "Detection Finding",
                  PD_OCSF_CATEGORY_FINDINGS, act, activity_name(act), cls * 100 + act, sev,
                  sev_caption[sev], (long long)s->time_ms);
    /* finding status: 1 New, 2 In Progress, 4 Resolved */
    pd_buf_printf(b, "\"status_id\":%d,\"status\":\"%s\",",
                  closing     ? 4
                  : s->update ? 2
                              : 1,
                  closing     ? "Resolved"
                  : s->update ? "In Progress"
                              : "New");
    k(b, "message");
    pd_buf_reset(tmp);
    pd_sink_summary(s, tmp);
    pd_buf_json_str(b, tmp->p ? tmp->p : "", tmp->len);
    pd_buf_putc(b, ',');

    pd_buf_puts(b, "\"metadata\":{\"product\":{\"name\":\"postured\",\"vendor_name\":\"postured\","
                   "\"version\":\"" PD_VERSION "\"},\"version\":\"" PD_OCSF_VERSION "\",");
    kc(b, "uid", s->id);
    pd_buf_putc(b, ',');
    kc(b, "event_code", s->type);
    if (s->pipeline.len) {
        pd_buf_putc(b, ',');
        ks(b, "log_name", s->pipeline);
    }
    pd_buf_puts(b, "},");

    pd_buf_puts(b, "\"finding_info\":{");
    kc(b, "uid", s->id);
    pd_buf_puts(b, ",\"title\":");
    write_title(s, b);
    pd_buf_puts(b, ",\"types\":[");
    pd_buf_json_str(b, s->type, strlen(s->type));
    pd_buf_printf(b, "],\"created_time\":%lld", (long long)s->time_ms);
    if (s->nevidence) {
        int64_t first = s->evidence[0].time_ms, last = first;
        for (uint32_t i = 1; i < s->nevidence; i++) {
            first = PD_MIN(first, s->evidence[i].time_ms);
            last = PD_MAX(last, s->evidence[i].time_ms);
        }
        pd_buf_printf(b, ",\"first_seen_time\":%lld,\"last_seen_time\":%lld", (long long)first,
                      (long long)last);
    }
    if (!drift) {
        pd_buf_puts(b, ",\"analytic\":{");
        ks(b, "uid", s->rule.id);
        pd_buf_putc(b, ',');
        ks(b, "name", s->rule.title);
        pd_buf_puts(b, ",\"type_id\":1,\"type\":\"Rule\"},\"attacks\":[");
        bool first = true;
        for (int t = PD_TACTIC_RECONNAISSANCE; t < PD_TACTIC__COUNT; t++) {
            if (!(s->tactics & (1u << t)))
                continue;
            pd_buf_printf(b, "%s{\"tactic\":{\"uid\":\"%s\",\"name\":\"%s\"}}", first ? "" : ",",
                          tactics[t].uid, tactics[t].name);
            first = false;
        }
        pd_buf_putc(b, ']');
    } else if (s->has_goal) {
        pd_buf_puts(b, ",\"analytic\":{");
        ks(b, "uid", s->goal.id);
        pd_buf_putc(b, ',');
        ks(b, "name", s->goal.title);
        pd_buf_puts(b, ",\"type_id\":1,\"type\":\"Rule\"}");
    }
    if (s->nevidence) {
        pd_buf_puts(b, ",\"related_events\":[");
        for (uint32_t i = 0; i < s->nevidence; i++) {
            if (i)
                pd_buf_putc(b, ',');
            pd_buf_putc(b, '{');
            ks(b, "uid", s->evidence[i].id);
            pd_buf_putc(b, ',');
            kc(b, "type", s->evidence[i].kind ? s->evidence[i].kind : "");
            pd_buf_putc(b, '}');
        }
        pd_buf_putc(b, ']');
    }
    pd_buf_puts(b, "},");

    if (drift) {
        int cs = compliance_status(s);
        pd_buf_printf(b, "\"compliance\":{\"status_id\":%d,\"status\":\"%s\",", cs,
                      compliance_caption[cs]);
        k(b, "control");
        if (s->has_control && s->control.key.len)
            pd_buf_json_pstr(b, s->control.key);
        else if (s->has_goal)
            pd_buf_json_pstr(b, s->goal.id);
        else
            pd_buf_json_str(b, s->type, strlen(s->type));
        pd_buf_puts(b, ",\"standards\":[");
        uint32_t nf = s->has_control ? s->control.nframeworks : 0;
        for (uint32_t i = 0; i < nf; i++) {
            if (i)
                pd_buf_putc(b, ',');
            pd_buf_json_pstr(b, s->control.frameworks[i]);
        }
        if (!nf) /* the goal itself is the standard the resource is held to */
            pd_buf_puts(b, "\"postured\"");
        pd_buf_puts(b, "]},");
    } else {
        pd_buf_printf(b, "\"confidence_score\":%d,\"risk_score\":%d,",
                      (int)(s->confidence * 100 + 0.5), (int)(s->score + 0.5));
        if (s->nactions) {
            pd_buf_puts(b, "\"remediation\":{\"desc\":");
            pd_buf_reset(tmp);
            for (uint32_t i = 0; i < s->nactions; i++) {
                if (i)
                    pd_buf_puts(tmp, "; ");
                pd_buf_puts(tmp, s->actions[i]);
            }
            pd_buf_json_str(b, tmp->p ? tmp->p : "", tmp->len);
            pd_buf_puts(b, "},");
        }
    }

    write_resources(s, b);
    pd_buf_putc(b, ',');
    if (s->nresources) {
        const pd_signal_resource *r = &s->resources[0];
        pd_buf_puts(b, "\"cloud\":{");
        kc(b, "provider", provider(r->cloud));
        pd_buf_puts(b, ",\"account\":{");
        ks(b, "uid", r->account);
        pd_buf_puts(b, "}},");
    }

    /* what OCSF has no place for, kept so nothing of the signal is lost */
    pd_buf_puts(b, "\"unmapped\":{");
    kc(b, "signal", pd_signal_kind_name(s->kind));
    pd_buf_putc(b, ',');
    kc(b, "type", s->type);
    if (s->has_goal) {
        pd_buf_puts(b, ",\"goal\":{");
        ks(b, "id", s->goal.id);
        pd_buf_putc(b, ',');
        kc(b, "kind", s->goal.kind ? s->goal.kind : "");
        pd_buf_puts(b, ",\"value\":");
        pd_buf_printf(b, "%.4g,", s->goal.value);
        ks(b, "target", s->goal.target);
        pd_buf_printf(b, ",\"met\":%s}", s->goal.met ? "true" : "false");
    }
    if (s->flapping)
        pd_buf_puts(b, ",\"flapping\":true");
    if (s->update)
        pd_buf_printf(b, ",\"update\":%u", s->update);
    if (!drift)
        pd_buf_printf(b, ",\"confidence\":%.2f,\"score\":%.0f", s->confidence, s->score);
    pd_buf_puts(b, ",\"evidence\":");
    write_evidence_list(s, b);
    pd_buf_puts(b, "}}");
    pd_buf_free(&own);
}
