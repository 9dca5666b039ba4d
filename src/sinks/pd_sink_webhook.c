/* webhook sink: HTTP(S) POST over libevent's evhttp client, one request in flight per sink
 * (order kept), a bounded queue of ready bodies, retries with exponential backoff and
 * jitter, Retry-After on 429, dead letters after the last attempt.
 *
 * Presets shape the body: slack (incoming webhook), teams (workflow webhook, Adaptive
 * Card), pagerduty (Events API v2), splunk (HTTP Event Collector), json (the sink's format,
 * or a template of signal fields). Secrets (token, URL) come from environment variables and
 * are never logged: reasons and diagnostics name the variable, never its value. */
#define _XOPEN_SOURCE 700 /* strptime */
#include <sys/queue.h>

#include "pd_ocsf.h"
#include "pd_sink_impl.h"
#include "pd_time.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum { P_JSON = 0, P_SLACK, P_TEAMS, P_PAGERDUTY, P_SPLUNK } wh_preset;
static const char *const preset_names[] = {"json", "slack", "teams", "pagerduty", "splunk"};

/* ---- generic template ---- */

enum {
    F_SIGNAL,
    F_TYPE,
    F_ID,
    F_TIME,
    F_SEVERITY,
    F_PIPELINE,
    F_SUMMARY,
    F_GOAL_ID,
    F_GOAL_TITLE,
    F_GOAL_KIND,
    F_GOAL_VALUE,
    F_GOAL_TARGET,
    F_GOAL_MET,
    F_RES_ID,
    F_RES_CLOUD,
    F_RES_ACCOUNT,
    F_RES_NAME,
    F_RES_TYPE,
    F_CONTROL_KEY,
    F_CONTROL_NAME,
    F_RULE_ID,
    F_RULE_TITLE,
    F_CONFIDENCE,
    F_SCORE,
    F_UPDATE,
    F_COUNT,
    F_JSON,
    F__COUNT
};
static const char *const field_names[F__COUNT] = {
    "signal",
    "type",
    "id",
    "time",
    "severity",
    "pipeline",
    "summary",
    "goal.id",
    "goal.title",
    "goal.kind",
    "goal.value",
    "goal.target",
    "goal.met",
    "resource.id",
    "resource.cloud",
    "resource.account",
    "resource.name",
    "resource.type",
    "control.key",
    "control.name",
    "rule.id",
    "rule.title",
    "confidence",
    "score",
    "update",
    "count",
    "json",
};

typedef struct tpl_node {
    pd_ynode_type type;
    char *key;  /* when the parent is a map */
    char *text; /* scalar */
    int field;  /* scalar is exactly "{{field}}": the typed value; else -1 */
    bool raw;   /* unquoted number/bool/null literal */
    struct tpl_node *kids;
    uint32_t nkids;
} tpl_node;

typedef struct wh_item {
    pd_buf body;
    char key[40];
    int attempts;
} wh_item;

typedef struct wh_pair {
    uint64_t h; /* hash of the pair key; 0 = empty */
    char id[33];
} wh_pair;
#define WH_PAIRS 1024

typedef struct wh {
    pd_sink *sink;
    struct event_base *base;
    struct evdns_base *dns;
    wh_preset preset;
    char *scheme, *host, *path; /* path includes the query */
    int port;
    bool https;
    SSL_CTX *ssl_ctx;
    char *token;                                    /* secret: from token_env */
    char *token_env;                                /* the variable's name, for diagnostics */
    struct evkeyvalq headers;                       /* extra static headers */
    char *source, *sourcetype, *index, *host_field; /* splunk */
    tpl_node *tpl;

    int retries;
    int64_t backoff_ms, max_backoff_ms, timeout_ms, max_retry_after_ms;
    uint64_t rng;

    wh_item *items;
    uint32_t cap, head, count;
    struct event *timer;
    struct evhttp_connection *conn, *old_conn;
    struct bufferevent *bev;
    bool inflight;
    uint32_t inflight_n; /* items in the request in flight (a batch) */
    uint32_t batch;      /* items per request: splunk takes several events per POST */
    pd_buf batch_body;
    enum evhttp_request_error req_err;
    bool have_err;
    int64_t sent_at;

    wh_pair *pairs; /* pagerduty: open trigger per goal / pair, to resolve */
    pd_buf tmp, tmp2;
} wh;

static const char *const webhook_keys[] = {
    "preset",     "url",        "url_env", "token_env",   "tls_ca",
    "tls_verify", "retries",    "backoff", "max_backoff", "max_retry_after",
    "timeout",    "queue_size", "headers", "template",    "source",
    "sourcetype", "index",      "host",    "batch",       NULL};

/* ---- small helpers ---- */

static char *dupn(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

static uint64_t rnd(wh *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

/* Escaped JSON string text without its quotes. */
static void json_raw(pd_buf *b, const char *s, size_t n)
{
    size_t at = b->len;
    pd_buf_json_str(b, s ? s : "", n);
    if (b->oom || b->len < at + 2)
        return;
    memmove(b->p + at, b->p + at + 1, b->len - at - 2);
    b->len -= 2;
}

static void kv(pd_buf *b, const char *k, const char *v, size_t n)
{
    pd_buf_putc(b, '"');
    pd_buf_puts(b, k);
    pd_buf_puts(b, "\":");
    pd_buf_json_str(b, v ? v : "", v ? n : 0);
}

static void kvc(pd_buf *b, const char *k, const char *v)
{
    kv(b, k, v, v ? strlen(v) : 0);
}

static void kvs(pd_buf *b, const char *k, pd_str v)
{
    kv(b, k, v.p, v.len);
}

/* Slack mrkdwn needs &, < and > escaped; then JSON escaping applies. */
static void slack_text(pd_buf *out, const char *s, size_t n, pd_buf *tmp)
{
    pd_buf_reset(tmp);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '&')
            pd_buf_puts(tmp, "&amp;");
        else if (s[i] == '<')
            pd_buf_puts(tmp, "&lt;");
        else if (s[i] == '>')
            pd_buf_puts(tmp, "&gt;");
        else
            pd_buf_putc(tmp, s[i]);
    }
    pd_buf_json_str(out, tmp->p ? tmp->p : "", tmp->len);
}

static const pd_signal_resource *res0(const pd_signal *s)
{
    return s && s->nresources ? &s->resources[0] : NULL;
}

/* ---- facts shared by the chat presets ---- */

typedef struct fact {
    const char *title;
    char value[256];
} fact;

static int facts_of(const pd_signal *s, const pd_sink_digest *d, fact *f, int max)
{
    int n = 0;
#define FACT(t, ...)                                                                               \
    do {                                                                                           \
        if (n < max) {                                                                             \
            f[n].title = (t);                                                                      \
            snprintf(f[n].value, sizeof(f[n].value), __VA_ARGS__);                                 \
            n++;                                                                                   \
        }                                                                                          \
    } while (0)
    if (d) {
        FACT("Type", "%s", d->type);
        FACT("Count", "%llu", (unsigned long long)d->count);
        if (d->about[0])
            FACT(!strcmp(d->about, "goal") ? "Goal" : "Rule", "%s", d->about_id);
        FACT("Severity", "%s", pd_severity_name(d->max_severity));
        return n;
    }
    FACT("Type", "%s", s->type);
    FACT("Severity", "%s", pd_severity_name(s->severity));
    if (s->has_goal)
        FACT("Goal", "%.*s (%.4g, target %.*s)", (int)s->goal.id.len, s->goal.id.p, s->goal.value,
             (int)s->goal.target.len, s->goal.target.p ? s->goal.target.p : "");
    if (s->kind == PD_SIGNAL_BREACH) {
        FACT("Rule", "%.*s", (int)s->rule.id.len, s->rule.id.p ? s->rule.id.p : "");
        FACT("Confidence", "%.2f (score %.0f)", s->confidence, s->score);
    }
    if (s->has_control)
        FACT("Control", "%.*s", (int)s->control.name.len,
             s->control.name.p ? s->control.name.p : "");
    const pd_signal_resource *r = res0(s);
    if (r)
        FACT(s->nresources > 1 ? "Resources" : "Resource", "%.*s%s", (int)r->id.len, r->id.p,
             s->nresources > 1 ? " (and more)" : "");
    char ts[PD_RFC3339_LEN];
    pd_time_format(s->time_ms, ts);
    FACT("Time", "%s", ts);
    FACT("Id", "%s", s->id);
#undef FACT
    return n;
}

static void summary_of(wh *w, const pd_signal *s, const pd_sink_digest *d, pd_buf *out)
{
    PD_UNUSED(w);
    if (d)
        pd_buf_puts(out, d->text);
    else
        pd_sink_summary(s, out);
}

/* ---- preset bodies ---- */

static void body_slack(wh *w, const pd_signal *s, const pd_sink_digest *d, pd_buf *b)
{
    pd_buf_reset(&w->tmp2);
    summary_of(w, s, d, &w->tmp2);
    /* "text" is the notification fallback Slack requires next to blocks */
    pd_buf_puts(b, "{\"text\":");
    slack_text(b, w->tmp2.p, w->tmp2.len, &w->tmp);
    pd_buf_puts(b, ",\"blocks\":[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":");
    slack_text(b, w->tmp2.p, w->tmp2.len, &w->tmp);
    pd_buf_puts(b, "}},{\"type\":\"section\",\"fields\":[");
    fact f[10];
    int n = facts_of(s, d, f, 10);
    for (int i = 0; i < n; i++) {
        pd_buf_reset(&w->tmp2);
        pd_buf_printf(&w->tmp2, "*%s*\n%s", f[i].title, f[i].value);
        pd_buf_printf(b, "%s{\"type\":\"mrkdwn\",\"text\":", i ? "," : "");
        slack_text(b, w->tmp2.p, w->tmp2.len, &w->tmp);
        pd_buf_putc(b, '}');
    }
    pd_buf_puts(b, "]},{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\",\"text\":");
    pd_buf_reset(&w->tmp2);
    pd_buf_printf(&w->tmp2, "postured %s", d ? "digest" : pd_signal_kind_name(s->kind));
    if (s && s->pipeline.len)
        pd_buf_printf(&w->tmp2, " | pipeline %.*s", (int)s->pipeline.len, s->pipeline.p);
    slack_text(b, w->tmp2.p, w->tmp2.len, &w->tmp);
    pd_buf_puts(b, "}]}]}");
}

static void body_teams(wh *w, const pd_signal *s, const pd_sink_digest *d, pd_buf *b)
{
    pd_buf_reset(&w->tmp2);
    summary_of(w, s, d, &w->tmp2);
    pd_buf_puts(b, "{\"type\":\"message\",\"attachments\":[{\"contentType\":"
                   "\"application/vnd.microsoft.card.adaptive\",\"contentUrl\":null,\"content\":{"
                   "\"$schema\":\"http://adaptivecards.io/schemas/adaptive-card.json\","
                   "\"type\":\"AdaptiveCard\",\"version\":\"1.4\",\"body\":["
                   "{\"type\":\"TextBlock\",\"size\":\"Medium\",\"weight\":\"Bolder\","
                   "\"wrap\":true,\"text\":");
    const char *title = d ? "postured digest" : s->type;
    pd_buf_json_str(b, title, strlen(title));
    pd_buf_puts(b, "},{\"type\":\"TextBlock\",\"wrap\":true,\"text\":");
    pd_buf_json_str(b, w->tmp2.p ? w->tmp2.p : "", w->tmp2.len);
    pd_buf_puts(b, "},{\"type\":\"FactSet\",\"facts\":[");
    fact f[10];
    int n = facts_of(s, d, f, 10);
    for (int i = 0; i < n; i++) {
        pd_buf_puts(b, i ? ",{" : "{");
        kvc(b, "title", f[i].title);
        pd_buf_putc(b, ',');
        kvc(b, "value", f[i].value);
        pd_buf_putc(b, '}');
    }
    pd_buf_puts(b, "]}]}}]}");
}

static const char *pd_sev_word(pd_severity s)
{
    switch (s) {
    case PD_SEV_CRITICAL:
        return "critical";
    case PD_SEV_HIGH:
        return "error";
    case PD_SEV_MEDIUM:
        return "warning";
    default:
        return "info";
    }
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !memcmp(s + n - m, suf, m);
}

/* The key that ties a resolving signal to the trigger it resolves. */
static uint64_t pair_hash(const pd_signal *s)
{
    uint64_t h = 0x70617273ULL;
    bool goal_level = !strncmp(s->type, "goal.", 5);
    h = pd_hash_mix(h, goal_level ? 1 : 2);
    if (s->has_goal)
        h = pd_hash_mix(h, pd_hash64(s->goal.id.p, s->goal.id.len, 1));
    if (!goal_level) {
        const pd_signal_resource *r = res0(s);
        if (r)
            h = pd_hash_mix(h, pd_hash64(r->id.p, r->id.len, 2));
        if (s->has_control)
            h = pd_hash_mix(h, pd_hash64(s->control.key.p, s->control.key.len, 3));
    }
    return h ? h : 1;
}

static wh_pair *pair_slot(wh *w, uint64_t h, bool insert)
{
    for (uint32_t i = 0; i < 16; i++) {
        wh_pair *p = &w->pairs[(h + i) & (WH_PAIRS - 1)];
        if (p->h == h || (insert && !p->h))
            return p;
    }
    return insert ? &w->pairs[h & (WH_PAIRS - 1)] : NULL; /* full: overwrite the home slot */
}

/* 0: body written; 1: nothing to send (a resolve with no known trigger). */
static int body_pagerduty(wh *w, const pd_signal *s, const pd_sink_digest *d, pd_buf *b)
{
    const char *dedup = d ? d->id : s->id;
    bool resolve = false;
    if (s && (ends_with(s->type, ".restored") || ends_with(s->type, ".recovered"))) {
        /* goal.restored resolves its goal.breached (control.recovered its regressed): the
         * trigger's id is named in the evidence when the engine links it, else remembered */
        dedup = NULL;
        for (uint32_t i = 0; i < s->nevidence; i++)
            if (s->evidence[i].kind && !strcmp(s->evidence[i].kind, "signal") &&
                s->evidence[i].id.len == 32) {
                pd_buf_reset(&w->tmp);
                pd_buf_append(&w->tmp, s->evidence[i].id.p, 32);
                dedup = pd_buf_cstr(&w->tmp);
            }
        wh_pair *p = pair_slot(w, pair_hash(s), false);
        if (!dedup && p)
            dedup = p->id;
        if (!dedup)
            return 1;
        resolve = true;
    } else if (s && (!strcmp(s->type, "goal.breached") || !strcmp(s->type, "control.regressed"))) {
        uint64_t h = pair_hash(s);
        wh_pair *p = pair_slot(w, h, true);
        p->h = h;
        memcpy(p->id, s->id, 33);
    }
    pd_buf_puts(b, "{");
    kvc(b, "routing_key", w->token);
    pd_buf_puts(b, ",\"event_action\":");
    pd_buf_puts(b, resolve ? "\"resolve\"," : "\"trigger\",");
    kvc(b, "dedup_key", dedup);
    if (resolve) {
        pd_buf_putc(b, '}');
        return 0;
    }
    pd_buf_puts(b, ",\"payload\":{\"summary\":");
    pd_buf_reset(&w->tmp2);
    summary_of(w, s, d, &w->tmp2);
    pd_buf_json_str(b, w->tmp2.p ? w->tmp2.p : "", PD_MIN(w->tmp2.len, 1024)); /* PD limit */
    pd_buf_putc(b, ',');
    const pd_signal_resource *r = res0(s);
    if (r)
        kvs(b, "source", r->name.len ? r->name : r->id);
    else if (s && s->pipeline.len)
        kvs(b, "source", s->pipeline);
    else
        kvc(b, "source", "postured");
    pd_buf_putc(b, ',');
    kvc(b, "severity", pd_sev_word(d ? d->max_severity : s->severity));
    char ts[PD_RFC3339_LEN];
    pd_time_format(d ? d->window_end_ms : s->time_ms, ts);
    pd_buf_putc(b, ',');
    kvc(b, "timestamp", ts);
    pd_buf_putc(b, ',');
    if (d)
        kvc(b, "component", d->about_id);
    else if (s->kind == PD_SIGNAL_BREACH)
        kvs(b, "component", s->rule.id);
    else
        kvs(b, "component", s->goal.id);
    pd_buf_putc(b, ',');
    if (s)
        kvs(b, "group", s->pipeline);
    else
        kvc(b, "group", "postured");
    pd_buf_putc(b, ',');
    kvc(b, "class", d ? d->type : s->type);
    pd_buf_puts(b, ",\"custom_details\":");
    if (d)
        pd_sink_digest_to_json(d, pd_sink_name(w->sink), b);
    else
        pd_signal_to_json(s, b);
    pd_buf_puts(b, "},\"client\":\"postured\"}");
    return 0;
}

static void body_splunk(wh *w, const pd_signal *s, const pd_sink_digest *d, const pd_sink_msg *m,
                        pd_buf *b)
{
    int64_t t = d ? d->window_end_ms : s->time_ms;
    pd_buf_printf(b, "{\"time\":%lld.%03d,", (long long)(t / 1000), (int)(t % 1000));
    kvc(b, "host", w->host_field ? w->host_field : "postured");
    pd_buf_putc(b, ',');
    kvc(b, "source", w->source ? w->source : "postured");
    pd_buf_putc(b, ',');
    kvc(b, "sourcetype",
        w->sourcetype                                     ? w->sourcetype
        : pd_sink_get_format(w->sink) == PD_SINK_FMT_OCSF ? "ocsf:finding"
                                                          : "postured:signal");
    if (w->index) {
        pd_buf_putc(b, ',');
        kvc(b, "index", w->index);
    }
    pd_buf_puts(b, ",\"event\":");
    if (pd_sink_get_format(w->sink) == PD_SINK_FMT_MSGPACK) { /* HEC takes JSON only */
        if (d)
            pd_sink_digest_to_json(d, pd_sink_name(w->sink), b);
        else
            pd_signal_to_json(s, b);
    } else
        pd_buf_append(b, m->data, m->len);
    pd_buf_putc(b, '}');
}

/* ---- template ---- */

static void field_value(int f, const pd_signal *s, const pd_sink_digest *d, wh *w, pd_buf *b,
                        bool typed)
{
    const pd_signal_resource *r = res0(s);
    pd_str str = PD_STR_NULL;
    char tmp[64];
    bool is_num = false, is_bool = false, bval = false;
    double num = 0;
    switch (f) {
    case F_SIGNAL:
        str = pd_str_c(d ? "digest" : pd_signal_kind_name(s->kind));
        break;
    case F_TYPE:
        str = pd_str_c(d ? d->type : s->type);
        break;
    case F_ID:
        str = pd_str_c(d ? d->id : s->id);
        break;
    case F_TIME:
        pd_time_format(d ? d->window_end_ms : s->time_ms, tmp);
        str = pd_str_c(tmp);
        break;
    case F_SEVERITY:
        str = pd_str_c(pd_severity_name(d ? d->max_severity : s->severity));
        break;
    case F_PIPELINE:
        str = s ? s->pipeline : PD_STR_NULL;
        break;
    case F_SUMMARY:
        pd_buf_reset(&w->tmp2);
        summary_of(w, s, d, &w->tmp2);
        str = (pd_str){w->tmp2.p, (uint32_t)w->tmp2.len};
        break;
    case F_GOAL_ID:
        if (d)
            str = pd_str_c(!strcmp(d->about, "goal") ? d->about_id : "");
        else if (s->has_goal)
            str = s->goal.id;
        break;
    case F_GOAL_TITLE:
        str = s && s->has_goal ? s->goal.title : PD_STR_NULL;
        break;
    case F_GOAL_KIND:
        str = pd_str_c(s && s->has_goal ? s->goal.kind : "");
        break;
    case F_GOAL_VALUE:
        is_num = true;
        num = s && s->has_goal ? s->goal.value : 0;
        break;
    case F_GOAL_TARGET:
        str = s && s->has_goal ? s->goal.target : PD_STR_NULL;
        break;
    case F_GOAL_MET:
        is_bool = true;
        bval = s && s->has_goal && s->goal.met;
        break;
    case F_RES_ID:
        str = r ? r->id : PD_STR_NULL;
        break;
    case F_RES_CLOUD:
        str = pd_str_c(r ? pd_cloud_name(r->cloud) : "");
        break;
    case F_RES_ACCOUNT:
        str = r ? r->account : PD_STR_NULL;
        break;
    case F_RES_NAME:
        str = r ? r->name : PD_STR_NULL;
        break;
    case F_RES_TYPE:
        str = r ? r->type : PD_STR_NULL;
        break;
    case F_CONTROL_KEY:
        str = s && s->has_control ? s->control.key : PD_STR_NULL;
        break;
    case F_CONTROL_NAME:
        str = s && s->has_control ? s->control.name : PD_STR_NULL;
        break;
    case F_RULE_ID:
        if (d)
            str = pd_str_c(!strcmp(d->about, "rule") ? d->about_id : "");
        else
            str = s->rule.id;
        break;
    case F_RULE_TITLE:
        str = s ? s->rule.title : PD_STR_NULL;
        break;
    case F_CONFIDENCE:
        is_num = true;
        num = s ? s->confidence : 0;
        break;
    case F_SCORE:
        is_num = true;
        num = s ? s->score : 0;
        break;
    case F_UPDATE:
        is_num = true;
        num = s ? s->update : 0;
        break;
    case F_COUNT:
        is_num = true;
        num = d ? (double)d->count : 1;
        break;
    case F_JSON: {
        size_t at = b->len;
        if (d)
            pd_sink_digest_to_json(d, pd_sink_name(w->sink), b);
        else
            pd_signal_to_json(s, b);
        if (!typed) { /* embedded in text: as an escaped string */
            pd_buf_reset(&w->tmp);
            pd_buf_append(&w->tmp, b->p + at, b->len - at);
            b->len = at;
            json_raw(b, w->tmp.p, w->tmp.len);
        }
        return;
    }
    default:
        break;
    }
    if (is_num) {
        if (num == (double)(int64_t)num)
            pd_buf_printf(b, "%lld", (long long)num);
        else
            pd_buf_printf(b, "%.4g", num);
    } else if (is_bool)
        pd_buf_puts(b, bval ? "true" : "false");
    else if (typed)
        pd_buf_json_str(b, str.p ? str.p : "", str.len);
    else
        json_raw(b, str.p, str.len);
}

static int field_lookup(const char *name, size_t n)
{
    while (n && *name == ' ')
        name++, n--;
    while (n && name[n - 1] == ' ')
        n--;
    for (int i = 0; i < F__COUNT; i++)
        if (strlen(field_names[i]) == n && !memcmp(field_names[i], name, n))
            return i;
    return -1;
}

/* Frees what t holds (not t itself). */
static void tpl_free(tpl_node *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nkids; i++)
        tpl_free(&t->kids[i]);
    free(t->key);
    free(t->text);
    free(t->kids);
}

static int tpl_compile(const pd_ydoc *doc, const pd_ynode *n, tpl_node *t, pd_diag *diag)
{
    t->type = n->type;
    t->field = -1;
    if (n->type == PD_YSCALAR) {
        if (!(t->text = dupn(n->str, n->len)))
            return PD_ENOMEM;
        /* check every placeholder names a field */
        const char *p = t->text;
        while ((p = strstr(p, "{{"))) {
            const char *e = strstr(p + 2, "}}");
            if (!e)
                return pd_diag_at(diag, doc, n, "unterminated '{{' in template");
            int f = field_lookup(p + 2, (size_t)(e - p - 2));
            if (f < 0)
                return pd_diag_at(diag, doc, n, "unknown template field '%.*s'", (int)(e - p - 2),
                                  p + 2);
            if (p == t->text && e[2] == '\0')
                t->field = f;
            p = e + 2;
        }
        if (!n->quoted && t->field < 0) {
            char *end;
            if (!strcmp(t->text, "true") || !strcmp(t->text, "false") || !strcmp(t->text, "null") ||
                (strtod(t->text, &end), *t->text && !*end))
                t->raw = true;
        }
        return 0;
    }
    uint32_t nk = n->n;
    t->kids = calloc(nk ? nk : 1, sizeof(*t->kids));
    if (!t->kids)
        return PD_ENOMEM;
    t->nkids = nk;
    for (uint32_t i = 0; i < nk; i++) {
        const pd_ynode *v = n->type == PD_YMAP ? n->items[2 * i + 1] : n->items[i];
        if (n->type == PD_YMAP) {
            const pd_ynode *k = n->items[2 * i];
            if (!(t->kids[i].key = dupn(k->str ? k->str : "", k->len)))
                return PD_ENOMEM;
        }
        int rc = tpl_compile(doc, v, &t->kids[i], diag);
        if (rc)
            return rc;
    }
    return 0;
}

static void tpl_render(wh *w, const tpl_node *t, const pd_signal *s, const pd_sink_digest *d,
                       pd_buf *b)
{
    if (t->type == PD_YSCALAR) {
        if (t->field >= 0) {
            field_value(t->field, s, d, w, b, true);
            return;
        }
        if (t->raw) {
            pd_buf_puts(b, t->text);
            return;
        }
        pd_buf_putc(b, '"');
        const char *p = t->text;
        for (;;) {
            const char *o = strstr(p, "{{");
            if (!o) {
                json_raw(b, p, strlen(p));
                break;
            }
            json_raw(b, p, (size_t)(o - p));
            const char *e = strstr(o + 2, "}}");
            field_value(field_lookup(o + 2, (size_t)(e - o - 2)), s, d, w, b, false);
            p = e + 2;
        }
        pd_buf_putc(b, '"');
        return;
    }
    bool map = t->type == PD_YMAP;
    pd_buf_putc(b, map ? '{' : '[');
    for (uint32_t i = 0; i < t->nkids; i++) {
        if (i)
            pd_buf_putc(b, ',');
        if (map) {
            pd_buf_json_str(b, t->kids[i].key, strlen(t->kids[i].key));
            pd_buf_putc(b, ':');
        }
        tpl_render(w, &t->kids[i], s, d, b);
    }
    pd_buf_putc(b, map ? '}' : ']');
}

/* ---- delivery ---- */

static void schedule(wh *w, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(w->timer, &tv);
}

static int64_t backoff(wh *w, int attempts)
{
    int64_t d = w->backoff_ms;
    for (int i = 1; i < attempts && d < w->max_backoff_ms; i++)
        d *= 2;
    if (d > w->max_backoff_ms)
        d = w->max_backoff_ms;
    /* equal jitter: half fixed, half random, so retries of many sinks spread out */
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(rnd(w) % (uint64_t)(half + 1)) : 0);
}

/* Retry-After: delta-seconds or an HTTP-date; -1 when absent or unreadable. */
static int64_t retry_after_ms(const char *v)
{
    if (!v)
        return -1;
    char *end;
    long long secs = strtoll(v, &end, 10);
    if (end != v && *end == '\0' && secs >= 0)
        return secs * 1000;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *e = strptime(v, "%a, %d %b %Y %H:%M:%S", &tm);
    if (!e)
        return -1;
    int64_t at = (int64_t)timegm(&tm) * 1000, now = pd_now_ms();
    return at > now ? at - now : 0;
}

static void pop(wh *w)
{
    w->head = (w->head + 1) % w->cap;
    w->count--;
}

static void give_up(wh *w, wh_item *it, const char *reason)
{
    pd_sink_dead d = {NULL, it->key, reason, it->body.p, it->body.len, it->attempts};
    /* a body that carries the secret (PagerDuty's routing key) is redacted: dead letters
     * go to topics and files that are not secret stores */
    const char *body = pd_buf_cstr(&it->body);
    size_t tl = w->token ? strlen(w->token) : 0;
    if (tl && body && strstr(body, w->token)) {
        pd_buf_reset(&w->tmp);
        for (const char *p = body, *q; p; p = q ? q + tl : NULL) {
            q = strstr(p, w->token);
            pd_buf_append(&w->tmp, p, q ? (size_t)(q - p) : strlen(p));
            if (q)
                pd_buf_puts(&w->tmp, "[redacted]");
        }
        d.payload = w->tmp.p;
        d.len = w->tmp.len;
    }
    pd_sink_report_dead(w->sink, &d);
    pop(w);
}

static const char *req_err_name(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timeout";
    case EVREQ_HTTP_EOF:
        return "connection closed";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid response";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection failed";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "response too long";
    default:
        return "connection failed";
    }
}

static void on_req_error(enum evhttp_request_error e, void *arg)
{
    wh *w = arg;
    w->req_err = e;
    w->have_err = true;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    wh *w = arg;
    wh_item *it = &w->items[w->head];
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char reason[256];
    int64_t delay = -1;
    uint32_t n = w->inflight_n ? w->inflight_n : 1;
    w->inflight = false;
    w->old_conn = w->conn; /* freed from the timer: not inside its own callback */
    w->conn = NULL;
    for (uint32_t i = 0; i < n; i++) /* a batch shares its attempts */
        w->items[(w->head + i) % w->cap].attempts++;
    if (code >= 200 && code < 300) {
        for (uint32_t i = 0; i < n; i++) {
            pd_sink_report_delivered(w->sink, w->items[w->head].body.len);
            pop(w);
        }
        schedule(w, 0);
        return;
    }
    if (code == 429) {
        int64_t ra = retry_after_ms(
            evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After"));
        if (ra > w->max_retry_after_ms)
            ra = w->max_retry_after_ms;
        delay = PD_MAX(ra, backoff(w, it->attempts)); /* never sooner than the server asked */
        snprintf(reason, sizeof(reason), "http 429");
    } else if (code >= 500 || code == 408) {
        delay = backoff(w, it->attempts);
        snprintf(reason, sizeof(reason), "http %d", code);
    } else if (code > 0) { /* other 4xx: the request is wrong; resending will not help */
        snprintf(reason, sizeof(reason), "http %d", code);
    } else {
        const char *what = w->have_err ? req_err_name(w->req_err) : "connection failed";
        unsigned long tls = w->bev ? bufferevent_get_openssl_error(w->bev) : 0;
        SSL *ssl = w->bev ? bufferevent_openssl_get_ssl(w->bev) : NULL;
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (vr != X509_V_OK)
            snprintf(reason, sizeof(reason), "tls: certificate verify failed: %s",
                     X509_verify_cert_error_string(vr));
        else if (tls)
            snprintf(reason, sizeof(reason), "tls: %s", ERR_reason_error_string(tls));
        else
            snprintf(reason, sizeof(reason), "%s", what);
        ERR_clear_error();
        /* a certificate that fails verification will fail the same way next time */
        delay = vr != X509_V_OK ? -1 : backoff(w, it->attempts);
    }
    w->bev = NULL;
    if (delay < 0 || it->attempts > w->retries) {
        char full[320];
        snprintf(full, sizeof(full), "%s after %d attempt%s", reason, it->attempts,
                 it->attempts == 1 ? "" : "s");
        for (uint32_t i = 0; i < n; i++)
            give_up(w, &w->items[w->head], full);
        schedule(w, 0);
        return;
    }
    pd_sink_report_retry(w->sink);
    schedule(w, delay);
}

static int start(wh *w)
{
    wh_item *it = &w->items[w->head];
    const pd_buf *body = &it->body;
    w->inflight_n = PD_MIN(w->batch, w->count);
    if (w->inflight_n > 1) { /* HEC: event objects back to back in one body */
        pd_buf_reset(&w->batch_body);
        for (uint32_t i = 0; i < w->inflight_n; i++) {
            const pd_buf *b = &w->items[(w->head + i) % w->cap].body;
            if (i)
                pd_buf_putc(&w->batch_body, '\n');
            pd_buf_append(&w->batch_body, b->p, b->len);
        }
        if (w->batch_body.oom)
            return PD_ENOMEM;
        body = &w->batch_body;
    }
    struct bufferevent *bev = NULL;
    SSL *ssl = NULL;
    if (w->https) {
        if (!(ssl = SSL_new(w->ssl_ctx)))
            return PD_ENOMEM;
        struct in6_addr a6;
        struct in_addr a4;
        bool ip = inet_pton(AF_INET, w->host, &a4) == 1 || inet_pton(AF_INET6, w->host, &a6) == 1;
        if (ip)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), w->host);
        else {
            SSL_set_tlsext_host_name(ssl, w->host);
            SSL_set1_host(ssl, w->host);
        }
        bev = bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (!bev) {
            SSL_free(ssl);
            return PD_ENOMEM;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    }
    w->conn = evhttp_connection_base_bufferevent_new(w->base, w->dns, bev, w->host,
                                                     (unsigned short)w->port);
    if (!w->conn) {
        if (bev)
            bufferevent_free(bev);
        return PD_ENOMEM;
    }
    w->bev = bev;
    struct timeval tv = {(time_t)(w->timeout_ms / 1000),
                         (suseconds_t)((w->timeout_ms % 1000) * 1000)};
    evhttp_connection_set_timeout_tv(w->conn, &tv);
    struct evhttp_request *req = evhttp_request_new(on_done, w);
    if (!req)
        return PD_ENOMEM;
    evhttp_request_set_error_cb(req, on_req_error);
    w->have_err = false;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hostport[300], len[32], auth[600];
    bool dflt = w->port == (w->https ? 443 : 80);
    if (dflt)
        snprintf(hostport, sizeof(hostport), "%s", w->host);
    else
        snprintf(hostport, sizeof(hostport), "%s:%d", w->host, w->port);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "User-Agent", "postured/" PD_VERSION);
    evhttp_add_header(h, "Content-Type",
                      pd_sink_get_format(w->sink) == PD_SINK_FMT_MSGPACK && w->preset == P_JSON &&
                              !w->tpl
                          ? "application/msgpack"
                          : "application/json");
    snprintf(len, sizeof(len), "%zu", body->len);
    evhttp_add_header(h, "Content-Length", len);
    evhttp_add_header(h, "Connection", "close");
    if (w->token && w->preset == P_SPLUNK) {
        snprintf(auth, sizeof(auth), "Splunk %s", w->token);
        evhttp_add_header(h, "Authorization", auth);
    } else if (w->token && w->preset == P_JSON) {
        snprintf(auth, sizeof(auth), "Bearer %s", w->token);
        evhttp_add_header(h, "Authorization", auth);
    }
    struct evkeyval *kvp;
    TAILQ_FOREACH(kvp, &w->headers, next)
    evhttp_add_header(h, kvp->key, kvp->value);
    evbuffer_add(evhttp_request_get_output_buffer(req), body->p ? body->p : "", body->len);
    w->inflight = true;
    w->sent_at = pd_monotonic_ms();
    if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, w->path)) {
        /* the request was freed by evhttp */
        w->inflight = false;
        return PD_EIO;
    }
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    wh *w = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    if (w->old_conn) {
        evhttp_connection_free(w->old_conn);
        w->old_conn = NULL;
    }
    while (!w->inflight && w->count) {
        if (start(w) == 0)
            return;
        /* could not even start: count it as a failed attempt */
        wh_item *it = &w->items[w->head];
        if (w->conn) {
            evhttp_connection_free(w->conn);
            w->conn = NULL;
            w->bev = NULL;
        }
        if (++it->attempts > w->retries) {
            give_up(w, it, "cannot start request");
            continue;
        }
        pd_sink_report_retry(w->sink);
        schedule(w, backoff(w, it->attempts));
        return;
    }
}

static void kick(wh *w)
{
    if (!w->inflight && w->count && !evtimer_pending(w->timer, NULL))
        schedule(w, 0);
}

/* ---- interface ---- */

static int wh_submit(void *impl, const pd_sink_msg *m)
{
    wh *w = impl;
    if (w->count >= w->cap)
        return PD_EFULL;
    wh_item *it = &w->items[(w->head + w->count) % w->cap];
    pd_buf_reset(&it->body);
    it->attempts = 0;
    snprintf(it->key, sizeof(it->key), "%s", m->key ? m->key : "");
    const pd_signal *s = m->signal;
    const pd_sink_digest *d = m->digest;
    switch (w->preset) {
    case P_SLACK:
        body_slack(w, s, d, &it->body);
        break;
    case P_TEAMS:
        body_teams(w, s, d, &it->body);
        break;
    case P_PAGERDUTY:
        if (body_pagerduty(w, s, d, &it->body) == 1)
            return 0; /* nothing to resolve */
        break;
    case P_SPLUNK:
        body_splunk(w, s, d, m, &it->body);
        break;
    default:
        if (w->tpl)
            tpl_render(w, w->tpl, s, d, &it->body);
        else
            pd_buf_append(&it->body, m->data, m->len);
        break;
    }
    if (it->body.oom)
        return PD_ENOMEM;
    w->count++;
    kick(w);
    return 0;
}

static int wh_flush(void *impl)
{
    kick(impl);
    return 0;
}

static void wh_stats(void *impl, pd_sink_stats *st)
{
    wh *w = impl;
    st->pending += w->count;
}

static void wh_destroy(void *impl)
{
    wh *w = impl;
    if (!w)
        return;
    if (w->conn) /* frees the in-flight request without calling back */
        evhttp_connection_free(w->conn);
    if (w->old_conn)
        evhttp_connection_free(w->old_conn);
    while (w->count) /* never dropped silently */
        give_up(w, &w->items[w->head], "shutdown before delivery");
    if (w->timer)
        event_free(w->timer);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    if (w->ssl_ctx)
        SSL_CTX_free(w->ssl_ctx);
    for (uint32_t i = 0; w->items && i < w->cap; i++)
        pd_buf_free(&w->items[i].body);
    free(w->items);
    free(w->pairs);
    if (w->token) {
        memset(w->token, 0, strlen(w->token));
        free(w->token);
    }
    free(w->token_env);
    free(w->scheme);
    free(w->host);
    free(w->path);
    free(w->source);
    free(w->sourcetype);
    free(w->index);
    free(w->host_field);
    evhttp_clear_headers(&w->headers);
    if (w->tpl) {
        tpl_free(w->tpl);
        free(w->tpl);
    }
    pd_buf_free(&w->tmp);
    pd_buf_free(&w->tmp2);
    pd_buf_free(&w->batch_body);
    free(w);
}

static int opt_dup(const pd_ydoc *doc, const pd_ynode *n, const char *key, char **out,
                   pd_diag *diag)
{
    const char *v;
    int rc = pd_sink_opt_str(doc, n, key, &v, diag);
    if (rc || !v)
        return rc;
    return (*out = strdup(v)) ? 0 : PD_ENOMEM;
}

static int opt_ms(const pd_ydoc *doc, const pd_ynode *n, const char *key, int64_t *out,
                  pd_diag *diag)
{
    const pd_ynode *v = pd_ymap_get(n, key);
    if (!v)
        return 0;
    int rc = pd_ynode_duration(doc, v, out, diag);
    if (!rc && *out < 0)
        rc = pd_diag_at(diag, doc, v, "%s must not be negative", key);
    return rc;
}

static int parse_url(wh *w, const pd_ydoc *doc, const pd_ynode *at, const char *url, bool secret,
                     pd_diag *diag)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    int rc = 0;
    /* a URL from the environment may be a secret (Slack, Teams): never echo it */
    const char *shown = secret ? "(from the environment)" : url;
    if (!u)
        return pd_diag_at(diag, doc, at, "invalid url %s", shown);
    const char *scheme = evhttp_uri_get_scheme(u), *host = evhttp_uri_get_host(u);
    const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
    if (!scheme || (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
        rc = pd_diag_at(diag, doc, at, "url %s: scheme must be http or https", shown);
        goto cleanup;
    }
    if (!host || !*host) {
        rc = pd_diag_at(diag, doc, at, "url %s has no host", shown);
        goto cleanup;
    }
    w->https = !strcmp(scheme, "https");
    w->port = evhttp_uri_get_port(u);
    if (w->port <= 0)
        w->port = w->https ? 443 : 80;
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') /* an IPv6 literal */
        w->host = dupn(host + 1, hl - 2);
    else
        w->host = strdup(host);
    size_t n = strlen(path && *path ? path : "/") + (query ? strlen(query) + 1 : 0) + 1;
    w->path = malloc(n);
    if (!w->host || !w->path) {
        rc = PD_ENOMEM;
        goto cleanup;
    }
    snprintf(w->path, n, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
             query ? query : "");
cleanup:
    evhttp_uri_free(u);
    return rc;
}

static int wh_create(const pd_sink_create_args *a, void **impl, pd_diag *diag)
{
    const pd_ydoc *doc = a->doc;
    const pd_ynode *n = a->node, *v;
    int rc;
    bool check = a->env->check_only;
    if (!a->env->base && !check)
        return pd_diag_at(diag, doc, n, "webhook sink needs the event loop (run, not replay)");
    wh *w = calloc(1, sizeof(*w));
    if (!w)
        return PD_ENOMEM;
    TAILQ_INIT(&w->headers);
    pd_buf_init(&w->tmp);
    pd_buf_init(&w->tmp2);
    pd_buf_init(&w->batch_body);
    w->sink = a->sink;
    w->base = a->env->base;
    w->retries = 5;
    w->backoff_ms = 1000;
    w->max_backoff_ms = 60000;
    w->timeout_ms = 10000;
    w->max_retry_after_ms = 600000;
    w->rng = (uint64_t)pd_now_ms() ^ ((uint64_t)(uintptr_t)w << 16) ^ (uint64_t)getpid();
    if (!w->rng)
        w->rng = 1;
    w->cap = 1000;

    const char *preset = NULL;
    if ((rc = pd_sink_opt_str(doc, n, "preset", &preset, diag)))
        goto fail;
    v = pd_ymap_get(n, "preset");
    if (preset) {
        int i;
        for (i = 0; i < (int)PD_ARRAY_LEN(preset_names); i++)
            if (!strcmp(preset, preset_names[i]))
                break;
        if (i == (int)PD_ARRAY_LEN(preset_names)) {
            rc = pd_diag_at(diag, doc, v,
                            "unknown preset '%s' (expected json, slack, teams, pagerduty, splunk)",
                            preset);
            goto fail;
        }
        w->preset = (wh_preset)i;
    }

    const char *url = NULL, *url_env = NULL;
    if ((rc = pd_sink_opt_str(doc, n, "url", &url, diag)) ||
        (rc = pd_sink_opt_str(doc, n, "url_env", &url_env, diag)))
        goto fail;
    const pd_ynode *url_at = pd_ymap_get(n, url_env ? "url_env" : "url");
    bool secret = false;
    if (url && url_env) {
        rc = pd_diag_at(diag, doc, url_at, "give either url or url_env, not both");
        goto fail;
    }
    if (url_env) {
        url = getenv(url_env);
        secret = true;
        if ((!url || !*url) && check)
            url = "https://unset.invalid/"; /* validate: the secret lives elsewhere */
        else if (!url || !*url) {
            rc = pd_diag_at(diag, doc, url_at, "environment variable %s is not set", url_env);
            goto fail;
        }
    }
    if (!url && w->preset == P_PAGERDUTY)
        url = "https://events.pagerduty.com/v2/enqueue";
    if (!url) {
        rc = pd_diag_at(diag, doc, n, "webhook sink needs 'url' or 'url_env'");
        goto fail;
    }
    if ((rc = parse_url(w, doc, url_at ? url_at : n, url, secret, diag)))
        goto fail;

    const char *token_env = NULL;
    if ((rc = pd_sink_opt_str(doc, n, "token_env", &token_env, diag)))
        goto fail;
    if (token_env) {
        const char *t = getenv(token_env);
        if ((!t || !*t) && check)
            t = "unset";
        else if (!t || !*t) {
            rc = pd_diag_at(diag, doc, pd_ymap_get(n, "token_env"),
                            "environment variable %s is not set", token_env);
            goto fail;
        }
        w->token = strdup(t);
        w->token_env = strdup(token_env);
        if (!w->token || !w->token_env) {
            rc = PD_ENOMEM;
            goto fail;
        }
    } else if (w->preset == P_PAGERDUTY || w->preset == P_SPLUNK) {
        rc = pd_diag_at(diag, doc, n, "preset %s needs 'token_env' (%s)", preset_names[w->preset],
                        w->preset == P_PAGERDUTY ? "the integration routing key" : "the HEC token");
        goto fail;
    }

    int64_t i64;
    if ((v = pd_ymap_get(n, "retries"))) {
        if ((rc = pd_ynode_int(doc, v, 0, 100, &i64, diag)))
            goto fail;
        w->retries = (int)i64;
    }
    w->batch = w->preset == P_SPLUNK ? 50 : 1;
    if ((v = pd_ymap_get(n, "batch"))) {
        if ((rc = pd_ynode_int(doc, v, 1, 1000, &i64, diag)))
            goto fail;
        if (w->preset != P_SPLUNK && i64 > 1) {
            rc = pd_diag_at(diag, doc, v, "batch is for the splunk preset only");
            goto fail;
        }
        w->batch = (uint32_t)i64;
    }
    if ((v = pd_ymap_get(n, "queue_size"))) {
        if ((rc = pd_ynode_int(doc, v, 1, 1000000, &i64, diag)))
            goto fail;
        w->cap = (uint32_t)i64;
    }
    if ((rc = opt_ms(doc, n, "backoff", &w->backoff_ms, diag)) ||
        (rc = opt_ms(doc, n, "max_backoff", &w->max_backoff_ms, diag)) ||
        (rc = opt_ms(doc, n, "max_retry_after", &w->max_retry_after_ms, diag)) ||
        (rc = opt_ms(doc, n, "timeout", &w->timeout_ms, diag)))
        goto fail;
    if (w->timeout_ms <= 0)
        w->timeout_ms = 1;
    if ((rc = opt_dup(doc, n, "source", &w->source, diag)) ||
        (rc = opt_dup(doc, n, "sourcetype", &w->sourcetype, diag)) ||
        (rc = opt_dup(doc, n, "index", &w->index, diag)) ||
        (rc = opt_dup(doc, n, "host", &w->host_field, diag)))
        goto fail;

    if ((v = pd_ymap_get(n, "headers"))) {
        if (v->type != PD_YMAP) {
            rc = pd_diag_at(diag, doc, v, "headers must be a map of name: value");
            goto fail;
        }
        for (uint32_t i = 0; i < v->n; i++) {
            const char *val;
            if ((rc = pd_ynode_str(doc, v->items[2 * i + 1], &val, diag)))
                goto fail;
            if (evhttp_add_header(&w->headers, v->items[2 * i]->str, val)) {
                rc = pd_diag_at(diag, doc, v->items[2 * i], "invalid header '%s'",
                                v->items[2 * i]->str);
                goto fail;
            }
        }
    }
    if ((v = pd_ymap_get(n, "template"))) {
        if (w->preset != P_JSON) {
            rc = pd_diag_at(diag, doc, v, "template is for the json preset only");
            goto fail;
        }
        if (!(w->tpl = calloc(1, sizeof(*w->tpl)))) {
            rc = PD_ENOMEM;
            goto fail;
        }
        if ((rc = tpl_compile(doc, v, w->tpl, diag)))
            goto fail;
    }

    if (w->https) {
        bool verify = true;
        if ((v = pd_ymap_get(n, "tls_verify")) && (rc = pd_ynode_bool(doc, v, &verify, diag)))
            goto fail;
        if (!(w->ssl_ctx = SSL_CTX_new(TLS_client_method()))) {
            rc = PD_ENOMEM;
            goto fail;
        }
        SSL_CTX_set_min_proto_version(w->ssl_ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(w->ssl_ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
        const char *ca = NULL;
        if ((rc = pd_sink_opt_str(doc, n, "tls_ca", &ca, diag)))
            goto fail;
        if (ca && !check) {
            if (SSL_CTX_load_verify_locations(w->ssl_ctx, ca, NULL) != 1) {
                ERR_clear_error();
                rc = pd_diag_at(diag, doc, pd_ymap_get(n, "tls_ca"),
                                "cannot load CA certificates from '%s'", ca);
                goto fail;
            }
        } else
            SSL_CTX_set_default_verify_paths(w->ssl_ctx);
        if (!verify)
            fprintf(stderr, "postured: sink %s: TLS certificate verification is OFF\n",
                    pd_sink_name(w->sink));
    }

    if (check) {
        *impl = w;
        return 0;
    }
    if (!(w->items = calloc(w->cap, sizeof(*w->items))) ||
        (w->preset == P_PAGERDUTY && !(w->pairs = calloc(WH_PAIRS, sizeof(*w->pairs)))) ||
        !(w->timer = evtimer_new(w->base, on_timer, w))) {
        rc = PD_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < w->cap; i++)
        pd_buf_init(&w->items[i].body);
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, w->host, &a4) != 1 && inet_pton(AF_INET6, w->host, &a6) != 1)
        w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                             EVDNS_BASE_DISABLE_WHEN_INACTIVE); /* NULL: blocking */
    *impl = w;
    return 0;
fail:
    wh_destroy(w);
    return rc;
}

const pd_sink_ops pd_sink_webhook_ops = {"webhook", webhook_keys, wh_create, wh_submit,
                                         wh_flush,  wh_stats,     wh_destroy};
