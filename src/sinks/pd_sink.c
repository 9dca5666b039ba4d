/* The common sink layer: route, rate limit with digests, encoding, counters, sets. */
#include "pd_ocsf.h"
#include "pd_sink_impl.h"
#include "pd_time.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PD_DIGEST_GROUPS 32 /* groups per window; beyond, one overflow group counts the rest */

typedef struct pd_digest_group {
    char type[64];
    char about[8];
    char about_id[96];
    uint64_t count;
    pd_severity max;
} pd_digest_group;

struct pd_sink {
    char name[64];
    const pd_sink_ops *ops;
    void *impl;
    pd_sink_env env;
    pd_sink_format format;
    pd_sink_route route;
    char **strs; /* owned copies of the route's strings */
    size_t nstrs;
    pd_sink_stats st;

    /* rate limit: fixed windows of window_ms, at most limit messages each */
    uint32_t limit; /* 0: unlimited */
    int64_t window_ms;
    int64_t win_start; /* clock of the window start; 0 before the first message */
    int64_t win_start_wall;
    uint32_t win_count;
    pd_digest_group groups[PD_DIGEST_GROUPS];
    uint32_t ngroups;
    pd_digest_group overflow;
    struct event *digest_timer;
    bool timer_armed;

    pd_buf enc, scratch, scratch2;
};

struct pd_sink_set {
    pd_sink **sinks;
    size_t n;
    pd_sink_env env;
};

static const char *const fmt_names[PD_SINK_FMT__COUNT] = {"json", "ocsf", "msgpack"};

const char *pd_sink_format_name(pd_sink_format f)
{
    return (unsigned)f < PD_SINK_FMT__COUNT ? fmt_names[f] : "?";
}

int pd_sink_format_parse(pd_str s, pd_sink_format *out)
{
    for (int i = 0; i < PD_SINK_FMT__COUNT; i++)
        if (pd_str_ieq_c(s, fmt_names[i])) {
            *out = (pd_sink_format)i;
            return 0;
        }
    if (pd_str_ieq_c(s, "native")) {
        *out = PD_SINK_FMT_JSON;
        return 0;
    }
    return PD_EINVAL;
}

static bool any_glob(const char **pats, uint32_t n, pd_str s)
{
    for (uint32_t i = 0; i < n; i++)
        if (pd_glob_match(pats[i], s))
            return true;
    return false;
}

bool pd_sink_route_match(const pd_sink_route *r, const pd_signal *s)
{
    if (r->kinds && !(r->kinds & (1u << s->kind)))
        return false;
    if (r->ntypes && !any_glob(r->types, r->ntypes, pd_str_c(s->type)))
        return false;
    if (r->min_severity != PD_SEV_UNKNOWN && s->severity < r->min_severity)
        return false;
    if (r->ngoals || r->nrules) {
        bool ok = false;
        if (r->ngoals && s->has_goal && s->goal.id.len)
            ok = any_glob(r->goals, r->ngoals, s->goal.id);
        if (!ok && r->nrules && s->kind == PD_SIGNAL_BREACH && s->rule.id.len)
            ok = any_glob(r->rules, r->nrules, s->rule.id);
        if (!ok)
            return false;
    }
    return true;
}

const char *pd_sink_name(const pd_sink *s)
{
    return s->name;
}

pd_sink_format pd_sink_get_format(const pd_sink *s)
{
    return s->format;
}

const pd_sink_env *pd_sink_get_env(const pd_sink *s)
{
    return &s->env;
}

int64_t pd_sink_now(const pd_sink *s)
{
    return s->env.now_ms ? s->env.now_ms(s->env.now_ctx) : pd_monotonic_ms();
}

static int64_t wall_now(const pd_sink *s)
{
    return s->env.now_ms ? s->env.now_ms(s->env.now_ctx) : pd_now_ms();
}

void pd_sink_report_delivered(pd_sink *s, size_t bytes)
{
    s->st.delivered++;
    s->st.bytes += bytes;
}

void pd_sink_report_retry(pd_sink *s)
{
    s->st.retries++;
}

void pd_sink_report_dead(pd_sink *s, const pd_sink_dead *d)
{
    pd_sink_dead c = *d;
    if (!c.sink)
        c.sink = s->name;
    if (!c.key)
        c.key = "";
    if (!c.reason)
        c.reason = "unknown";
    s->st.dead++;
    if (s->env.dead)
        s->env.dead(s->env.dead_ctx, &c);
    else /* never the payload: it may carry what a secret URL would reveal */
        fprintf(stderr, "postured: sink %s: dead letter %s: %s (%d attempts)\n", c.sink, c.key,
                c.reason, c.attempts);
}

/* ---- YAML ---- */

int pd_sink_opt_str(const pd_ydoc *doc, const pd_ynode *n, const char *key, const char **out,
                    pd_diag *diag)
{
    const pd_ynode *v = pd_ymap_get(n, key);
    *out = NULL;
    return v ? pd_ynode_str(doc, v, out, diag) : 0;
}

static int keep_strs(pd_sink *s, const char **list, uint32_t n, const char ***out)
{
    *out = NULL;
    if (!n)
        return 0;
    const char **arr = calloc(n, sizeof(*arr));
    char **ns = realloc(s->strs, (s->nstrs + n + 1) * sizeof(*ns));
    if (!arr || !ns) {
        free(arr);
        if (ns)
            s->strs = ns;
        return PD_ENOMEM;
    }
    s->strs = ns;
    s->strs[s->nstrs++] = (char *)arr; /* freed with the strings */
    for (uint32_t i = 0; i < n; i++) {
        char *c = strdup(list[i]);
        if (!c)
            return PD_ENOMEM;
        s->strs[s->nstrs++] = c;
        arr[i] = c;
    }
    *out = arr;
    return 0;
}

static int load_route(pd_sink *s, const pd_ydoc *doc, const pd_ynode *r, pd_diag *diag)
{
    static const char *const keys[] = {"kinds", "types", "min_severity", "goals", "rules", NULL};
    int rc = pd_ymap_check(doc, r, keys, diag);
    if (rc)
        return rc;
    const pd_ynode *v;
    const char **list;
    uint32_t n;
    if ((v = pd_ymap_get(r, "kinds"))) {
        if ((rc = pd_ynode_strlist(doc, v, &list, &n, diag)))
            return rc;
        for (uint32_t i = 0; i < n; i++) {
            if (!strcmp(list[i], "drift"))
                s->route.kinds |= 1u << PD_SIGNAL_DRIFT;
            else if (!strcmp(list[i], "breach"))
                s->route.kinds |= 1u << PD_SIGNAL_BREACH;
            else
                return pd_diag_at(diag, doc, v, "unknown signal kind '%s' (expected drift, breach)",
                                  list[i]);
        }
    }
    if ((v = pd_ymap_get(r, "min_severity"))) {
        const char *sv;
        if ((rc = pd_ynode_str(doc, v, &sv, diag)))
            return rc;
        if (pd_severity_parse(pd_str_c(sv), &s->route.min_severity))
            return pd_diag_at(diag, doc, v,
                              "unknown severity '%s' (expected informational, low, medium, "
                              "high, critical)",
                              sv);
    }
    static const char *const lists[] = {"types", "goals", "rules"};
    for (int k = 0; k < 3; k++) {
        if (!(v = pd_ymap_get(r, lists[k])))
            continue;
        if ((rc = pd_ynode_strlist(doc, v, &list, &n, diag)))
            return rc;
        const char ***dst = k == 0 ? &s->route.types : k == 1 ? &s->route.goals : &s->route.rules;
        uint32_t *dn = k == 0 ? &s->route.ntypes : k == 1 ? &s->route.ngoals : &s->route.nrules;
        if (keep_strs(s, list, n, dst))
            return pd_diag_at(diag, doc, v, "out of memory");
        *dn = n;
    }
    return 0;
}

static const pd_sink_ops *find_ops(const pd_sink_env *env, const char *type, void **ctx)
{
    for (size_t i = 0; i < env->ntypes; i++)
        if (env->types[i].ops && !strcmp(env->types[i].ops->type, type)) {
            *ctx = env->types[i].ctx;
            return env->types[i].ops;
        }
    static const pd_sink_ops *const builtin[] = {&pd_sink_file_ops, &pd_sink_stdout_ops,
                                                 &pd_sink_webhook_ops};
    *ctx = NULL;
    for (size_t i = 0; i < PD_ARRAY_LEN(builtin); i++)
        if (!strcmp(builtin[i]->type, type))
            return builtin[i];
    return NULL;
}

static void digest_timer_cb(evutil_socket_t fd, short what, void *arg);

int pd_sink_create(const pd_sink_env *env, const pd_ydoc *doc, const pd_ynode *node, int index,
                   pd_sink **out, pd_diag *diag)
{
    static const char *const common[] = {"name",  "type",       "format",
                                         "route", "rate_limit", "rate_window"};
    const char *allowed[64];
    pd_sink *s = NULL;
    int rc;
    *out = NULL;
    if (!node || node->type != PD_YMAP)
        return pd_diag_at(diag, doc, node, "a sink must be a map with at least 'type'");
    const pd_ynode *tn = pd_ymap_get(node, "type");
    const char *type;
    if (!tn)
        return pd_diag_at(diag, doc, node, "sink needs 'type' (file, stdout, webhook, ...)");
    if ((rc = pd_ynode_str(doc, tn, &type, diag)))
        return rc;
    void *type_ctx;
    const pd_sink_ops *ops = find_ops(env, type, &type_ctx);
    if (!ops) {
        char known[256] = "file, stdout, webhook";
        for (size_t i = 0; i < env->ntypes; i++)
            if (env->types[i].ops) {
                strncat(known, ", ", sizeof(known) - strlen(known) - 1);
                strncat(known, env->types[i].ops->type, sizeof(known) - strlen(known) - 1);
            }
        return pd_diag_at(diag, doc, tn, "unknown sink type '%s' (expected one of: %s)", type,
                          known);
    }
    size_t na = 0;
    for (size_t i = 0; i < PD_ARRAY_LEN(common); i++)
        allowed[na++] = common[i];
    for (size_t i = 0; ops->keys && ops->keys[i] && na < PD_ARRAY_LEN(allowed) - 1; i++)
        allowed[na++] = ops->keys[i];
    allowed[na] = NULL;
    if ((rc = pd_ymap_check(doc, node, (const char *const *)allowed, diag)))
        return rc;

    s = calloc(1, sizeof(*s));
    if (!s)
        return PD_ENOMEM;
    s->env = *env;
    s->env.types = NULL; /* only valid during the load */
    s->env.ntypes = 0;
    s->ops = ops;
    s->window_ms = 60000;
    pd_buf_init(&s->enc);
    pd_buf_init(&s->scratch);
    pd_buf_init(&s->scratch2);

    const char *name;
    if ((rc = pd_sink_opt_str(doc, node, "name", &name, diag)))
        goto fail;
    if (name)
        snprintf(s->name, sizeof(s->name), "%s", name);
    else
        snprintf(s->name, sizeof(s->name), "%s-%d", type, index);
    const pd_ynode *v;
    if ((v = pd_ymap_get(node, "format"))) {
        const char *f;
        if ((rc = pd_ynode_str(doc, v, &f, diag)))
            goto fail;
        if (pd_sink_format_parse(pd_str_c(f), &s->format)) {
            rc = pd_diag_at(diag, doc, v, "unknown format '%s' (expected json, ocsf, msgpack)", f);
            goto fail;
        }
    }
    if ((v = pd_ymap_get(node, "route")) && (rc = load_route(s, doc, v, diag)))
        goto fail;
    if ((v = pd_ymap_get(node, "rate_limit"))) {
        int64_t lim;
        if ((rc = pd_ynode_int(doc, v, 0, 1000000, &lim, diag)))
            goto fail;
        s->limit = (uint32_t)lim;
    }
    if ((v = pd_ymap_get(node, "rate_window"))) {
        if ((rc = pd_ynode_duration(doc, v, &s->window_ms, diag)))
            goto fail;
        if (s->window_ms <= 0) {
            rc = pd_diag_at(diag, doc, v, "rate_window must be positive");
            goto fail;
        }
    }
    if (s->limit && env->base && !env->check_only) {
        s->digest_timer = evtimer_new(env->base, digest_timer_cb, s);
        if (!s->digest_timer) {
            rc = PD_ENOMEM;
            goto fail;
        }
    }
    pd_sink_create_args a = {doc, node, s, &s->env, type_ctx};
    if ((rc = ops->create(&a, &s->impl, diag)))
        goto fail;
    *out = s;
    return 0;
fail:
    s->ops = NULL; /* no impl to destroy */
    pd_sink_destroy(s);
    return rc;
}

/* ---- digests ---- */

static void window_words(int64_t ms, char *buf, size_t n)
{
    if (ms == 60000)
        snprintf(buf, n, "minute");
    else if (ms == 3600000)
        snprintf(buf, n, "hour");
    else if (ms % 3600000 == 0)
        snprintf(buf, n, "%lld hours", (long long)(ms / 3600000));
    else if (ms % 60000 == 0)
        snprintf(buf, n, "%lld minutes", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(buf, n, "%lld seconds", (long long)(ms / 1000));
    else
        snprintf(buf, n, "%lld ms", (long long)ms);
}

void pd_sink_digest_to_json(const pd_sink_digest *d, const char *sink_name, pd_buf *b)
{
    char ts[PD_RFC3339_LEN];
    pd_buf_puts(b, "{\"signal\":\"digest\",\"type\":");
    pd_buf_json_str(b, d->type, strlen(d->type));
    pd_buf_puts(b, ",\"id\":\"");
    pd_buf_puts(b, d->id);
    pd_time_format(d->window_end_ms, ts);
    pd_buf_printf(b, "\",\"time\":\"%s\",\"severity\":\"%s\",\"count\":%llu", ts,
                  pd_severity_name(d->max_severity), (unsigned long long)d->count);
    if (d->about[0]) {
        pd_buf_printf(b, ",\"%s\":", d->about);
        pd_buf_json_str(b, d->about_id, strlen(d->about_id));
    }
    pd_time_format(d->window_start_ms, ts);
    pd_buf_printf(b, ",\"window\":{\"start\":\"%s\",", ts);
    pd_time_format(d->window_end_ms, ts);
    pd_buf_printf(b, "\"end\":\"%s\"},\"text\":", ts);
    pd_buf_json_str(b, d->text, strlen(d->text));
    pd_buf_puts(b, ",\"sink\":");
    pd_buf_json_str(b, sink_name, strlen(sink_name));
    pd_buf_putc(b, '}');
}

static void deliver(pd_sink *s, const pd_sink_msg *m)
{
    int rc = s->ops->submit(s->impl, m);
    if (!rc)
        return;
    if (rc == PD_EFULL)
        s->st.queue_full++;
    pd_sink_dead d = {NULL,    m->key, rc == PD_EFULL ? "queue full" : pd_strerror(rc),
                      m->data, m->len, 0};
    pd_sink_report_dead(s, &d);
}

static void emit_group(pd_sink *s, const pd_digest_group *g, int64_t end_wall)
{
    pd_sink_digest d;
    char words[32], text[320];
    memset(&d, 0, sizeof(d));
    d.type = g->type;
    d.about = g->about;
    d.about_id = g->about_id;
    d.count = g->count;
    d.max_severity = g->max;
    d.window_start_ms = s->win_start_wall;
    d.window_end_ms = end_wall;
    window_words(s->window_ms, words, sizeof(words));
    if (!strcmp(g->type, "*"))
        snprintf(text, sizeof(text), "%llu more signals in the last %s",
                 (unsigned long long)g->count, words);
    else if (g->about[0])
        snprintf(text, sizeof(text), "%llu more %s for %s %s in the last %s",
                 (unsigned long long)g->count, g->type, g->about, g->about_id, words);
    else
        snprintf(text, sizeof(text), "%llu more %s in the last %s", (unsigned long long)g->count,
                 g->type, words);
    d.text = text;
    char startbuf[24];
    snprintf(startbuf, sizeof(startbuf), "%lld", (long long)s->win_start_wall);
    pd_str parts[] = {pd_str_c(s->name), pd_str_c(g->type), pd_str_c(g->about_id),
                      pd_str_c(startbuf)};
    pd_signal_make_id(d.id, parts, PD_ARRAY_LEN(parts));

    pd_buf_reset(&s->enc);
    pd_sink_digest_to_json(&d, s->name, &s->enc);
    const void *data = s->enc.p;
    size_t len = s->enc.len;
    if (s->format == PD_SINK_FMT_MSGPACK) {
        pd_buf_reset(&s->scratch);
        if (pd_msgpack_from_json(s->enc.p, s->enc.len, &s->scratch, &s->scratch2) == 0) {
            data = s->scratch.p;
            len = s->scratch.len;
        }
    }
    pd_sink_msg m = {NULL, &d, d.id, data, len};
    s->st.digests++;
    deliver(s, &m);
}

/* Emits one digest per group held back in the current window and clears them. */
static void emit_digests(pd_sink *s)
{
    if (!s->ngroups && !s->overflow.count)
        return;
    int64_t end = s->win_start_wall + s->window_ms;
    int64_t now = wall_now(s);
    if (now < end)
        end = now; /* forced early (destroy) */
    uint32_t n = s->ngroups;
    s->ngroups = 0;
    for (uint32_t i = 0; i < n; i++)
        emit_group(s, &s->groups[i], end);
    if (s->overflow.count) {
        pd_digest_group o = s->overflow;
        s->overflow.count = 0;
        emit_group(s, &o, end);
    }
}

static void roll_window(pd_sink *s, int64_t now)
{
    if (s->win_start && now < s->win_start + s->window_ms)
        return;
    emit_digests(s);
    s->win_start = now ? now : 1;
    s->win_start_wall = wall_now(s);
    s->win_count = 0;
}

static void digest_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    pd_sink *s = arg;
    s->timer_armed = false;
    int64_t now = pd_sink_now(s);
    if (now >= s->win_start + s->window_ms)
        roll_window(s, now);
    else if (s->ngroups || s->overflow.count) { /* clock override in tests: re-arm */
        int64_t left = s->win_start + s->window_ms - now;
        struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
        evtimer_add(s->digest_timer, &tv);
        s->timer_armed = true;
    }
    if (s->ops && s->ops->flush)
        s->ops->flush(s->impl);
}

static void hold_back(pd_sink *s, const pd_signal *sig)
{
    const char *about = "", *id = "";
    pd_str aid = PD_STR_NULL;
    if (sig->kind == PD_SIGNAL_BREACH && sig->rule.id.len) {
        about = "rule";
        aid = sig->rule.id;
    } else if (sig->has_goal && sig->goal.id.len) {
        about = "goal";
        aid = sig->goal.id;
    }
    pd_digest_group *g = NULL;
    for (uint32_t i = 0; i < s->ngroups; i++) {
        pd_digest_group *c = &s->groups[i];
        if (!strcmp(c->type, sig->type) && !strcmp(c->about, about) &&
            strlen(c->about_id) == aid.len && !memcmp(c->about_id, aid.p ? aid.p : id, aid.len)) {
            g = c;
            break;
        }
    }
    if (!g && s->ngroups < PD_DIGEST_GROUPS) {
        g = &s->groups[s->ngroups++];
        memset(g, 0, sizeof(*g));
        snprintf(g->type, sizeof(g->type), "%s", sig->type);
        snprintf(g->about, sizeof(g->about), "%s", about);
        snprintf(g->about_id, sizeof(g->about_id), "%.*s", (int)aid.len, aid.p ? aid.p : "");
    }
    if (!g) {
        g = &s->overflow;
        snprintf(g->type, sizeof(g->type), "*");
        g->about[0] = g->about_id[0] = '\0';
    }
    g->count++;
    if (sig->severity > g->max)
        g->max = sig->severity;
    s->st.digested++;
    if (s->digest_timer && !s->timer_armed) {
        int64_t left = s->win_start + s->window_ms - pd_sink_now(s);
        if (left < 0)
            left = 0;
        struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
        evtimer_add(s->digest_timer, &tv);
        s->timer_armed = true;
    }
}

int pd_sink_submit(pd_sink *s, const pd_signal *sig)
{
    if (s->env.check_only)
        return PD_ESTATE;
    s->st.seen++;
    if (!pd_sink_route_match(&s->route, sig)) {
        s->st.filtered++;
        return 0;
    }
    if (s->limit) {
        roll_window(s, pd_sink_now(s));
        if (s->win_count >= s->limit) {
            hold_back(s, sig);
            return 0;
        }
        s->win_count++;
    }
    s->st.accepted++;
    pd_buf_reset(&s->enc);
    const void *data;
    size_t len;
    switch (s->format) {
    case PD_SINK_FMT_OCSF:
        pd_ocsf_write(sig, &s->enc, &s->scratch);
        data = s->enc.p;
        len = s->enc.len;
        break;
    case PD_SINK_FMT_MSGPACK:
        pd_signal_to_json(sig, &s->enc);
        pd_buf_reset(&s->scratch);
        if (pd_msgpack_from_json(s->enc.p, s->enc.len, &s->scratch, &s->scratch2))
            return PD_EINVAL;
        data = s->scratch.p;
        len = s->scratch.len;
        break;
    default:
        pd_signal_to_json(sig, &s->enc);
        data = s->enc.p;
        len = s->enc.len;
        break;
    }
    if (s->enc.oom || s->scratch.oom)
        return PD_ENOMEM;
    pd_sink_msg m = {sig, NULL, sig->id, data, len};
    deliver(s, &m);
    return 0;
}

int pd_sink_flush(pd_sink *s)
{
    if (s->limit && s->win_start)
        roll_window(s, pd_sink_now(s));
    return s->ops->flush ? s->ops->flush(s->impl) : 0;
}

void pd_sink_get_stats(const pd_sink *s, pd_sink_stats *out)
{
    *out = s->st;
    out->pending = 0;
    if (s->ops && s->ops->stats)
        s->ops->stats(s->impl, out);
}

void pd_sink_destroy(pd_sink *s)
{
    if (!s)
        return;
    if (s->ops) {
        emit_digests(s);
        if (s->ops->flush)
            s->ops->flush(s->impl);
        s->ops->destroy(s->impl);
    }
    if (s->digest_timer)
        event_free(s->digest_timer);
    for (size_t i = 0; i < s->nstrs; i++)
        free(s->strs[i]);
    free(s->strs);
    pd_buf_free(&s->enc);
    pd_buf_free(&s->scratch);
    pd_buf_free(&s->scratch2);
    free(s);
}

/* ---- sets ---- */

static int set_add(pd_sink_set *set, pd_sink *s)
{
    pd_sink **n = realloc(set->sinks, (set->n + 1) * sizeof(*n));
    if (!n)
        return PD_ENOMEM;
    set->sinks = n;
    set->sinks[set->n++] = s;
    return 0;
}

int pd_sink_set_load(const pd_sink_env *env, const pd_ydoc *doc, const pd_ynode *node,
                     pd_sink_set **out, pd_diag *diag)
{
    int rc;
    *out = NULL;
    pd_sink_set *set = calloc(1, sizeof(*set));
    if (!set)
        return PD_ENOMEM;
    set->env = *env;
    set->env.types = NULL;
    set->env.ntypes = 0;
    if (node && node->type != PD_YSEQ) {
        rc = pd_diag_at(diag, doc, node, "'sinks' must be a list of sink maps");
        goto fail;
    }
    for (uint32_t i = 0; node && i < node->n; i++) {
        pd_sink *s;
        if ((rc = pd_sink_create(env, doc, node->items[i], (int)i, &s, diag)))
            goto fail;
        for (size_t j = 0; j < set->n; j++)
            if (!strcmp(set->sinks[j]->name, s->name)) {
                pd_sink_destroy(s);
                rc = pd_diag_at(diag, doc, node->items[i], "duplicate sink name '%s'",
                                set->sinks[j]->name);
                goto fail;
            }
        if ((rc = set_add(set, s))) {
            pd_sink_destroy(s);
            goto fail;
        }
    }
    *out = set;
    return 0;
fail:
    pd_sink_set_destroy(set);
    return rc;
}

int pd_sink_set_check(const pd_sink_env *env, const pd_ydoc *doc, const pd_ynode *node,
                      pd_diag *diag)
{
    pd_sink_env e = {0};
    if (env)
        e = *env;
    e.check_only = true;
    pd_sink_set *set = NULL;
    int rc = pd_sink_set_load(&e, doc, node, &set, diag);
    pd_sink_set_destroy(set);
    return rc;
}

int pd_sink_set_stdout(const pd_sink_env *env, pd_sink_set **out)
{
    static const char yaml[] = "{type: stdout, name: stdout}";
    pd_ydoc *doc = NULL;
    pd_diag diag;
    int rc = pd_yaml_load_buf("<builtin>", yaml, sizeof(yaml) - 1, &doc, &diag);
    pd_sink *s = NULL;
    pd_sink_set *set = NULL;
    *out = NULL;
    if (rc)
        goto cleanup;
    if ((rc = pd_sink_create(env, doc, pd_yaml_root(doc), 0, &s, &diag)))
        goto cleanup;
    if (!(set = calloc(1, sizeof(*set)))) {
        rc = PD_ENOMEM;
        goto cleanup;
    }
    set->env = *env;
    if ((rc = set_add(set, s)))
        goto cleanup;
    s = NULL;
    *out = set;
    set = NULL;
cleanup:
    pd_sink_destroy(s);
    pd_sink_set_destroy(set);
    pd_yaml_free(doc);
    return rc;
}

int pd_sink_set_signal(void *ctx, const pd_signal *sig)
{
    pd_sink_set *set = ctx;
    int first = 0;
    for (size_t i = 0; i < set->n; i++) {
        int rc = pd_sink_submit(set->sinks[i], sig);
        if (rc && !first)
            first = rc;
    }
    return first;
}

int pd_sink_set_flush(pd_sink_set *set)
{
    int first = 0;
    for (size_t i = 0; i < set->n; i++) {
        int rc = pd_sink_flush(set->sinks[i]);
        if (rc && !first)
            first = rc;
    }
    return first;
}

static uint64_t set_pending(pd_sink_set *set)
{
    uint64_t p = 0;
    for (size_t i = 0; i < set->n; i++) {
        pd_sink_stats st;
        pd_sink_get_stats(set->sinks[i], &st);
        p += st.pending;
    }
    return p;
}

static void drain_wake(evutil_socket_t fd, short what, void *arg)
{
    PD_UNUSED(fd);
    PD_UNUSED(what);
    PD_UNUSED(arg);
}

int pd_sink_set_drain(pd_sink_set *set, int64_t timeout_ms)
{
    /* shutting down: what the rate limit holds goes out now, as digests */
    for (size_t i = 0; i < set->n; i++)
        emit_digests(set->sinks[i]);
    pd_sink_set_flush(set);
    int64_t end = pd_monotonic_ms() + timeout_ms;
    if (!set_pending(set))
        return 0;
    if (!set->env.base)
        return PD_ETIMEOUT;
    /* a wake-up at the deadline, so one loop turn never outlives the timeout */
    struct event *wake = evtimer_new(set->env.base, drain_wake, NULL);
    if (!wake)
        return PD_ENOMEM;
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)((timeout_ms % 1000) * 1000)};
    evtimer_add(wake, &tv);
    int rc = 0;
    while (set_pending(set)) {
        if (pd_monotonic_ms() >= end) {
            rc = PD_ETIMEOUT;
            break;
        }
        event_base_loop(set->env.base, EVLOOP_ONCE);
    }
    event_free(wake);
    return rc;
}

size_t pd_sink_set_count(const pd_sink_set *set)
{
    return set ? set->n : 0;
}

pd_sink *pd_sink_set_get(pd_sink_set *set, size_t i)
{
    return i < set->n ? set->sinks[i] : NULL;
}

pd_sink *pd_sink_set_find(pd_sink_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->sinks[i]->name, name))
            return set->sinks[i];
    return NULL;
}

void pd_sink_set_destroy(pd_sink_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        pd_sink_destroy(set->sinks[i]);
    free(set->sinks);
    free(set);
}
