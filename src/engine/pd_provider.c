/* pd_provider.c: pd_http_provider over a pd_processor (see pd_provider.h). */
#include "pd_provider.h"

#include "pd_config.h"
#include "pd_engine_state.h"
#include "pd_http_history.h"
#include "pd_log.h"
#include "pd_sink.h"
#include "pd_time.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIG_TYPES 32
#define ALERT_RING    1024 /* alerts cited by breach signals, kept for /v1/resources */

/* One alert that a breach signal cites as evidence, with one resource that signal names. */
typedef struct alert_ent {
    char res[256], id[96], type[96], sig[33];
    int64_t time_ms;
    pd_severity sev;
} alert_ent;

typedef struct sigcount {
    char kind[8], type[40];
    uint64_t n;
} sigcount;

struct pd_provider {
    pd_provider_opts o;  /* caller's callbacks; proc.* paths point into the copies below */
    char *pipeline_path; /* NULL: files mode */
    char **goal_files, **rule_files, *controls_file;
    uint32_t ngoal_files, nrule_files;
    pd_pipeline *own_pl; /* loaded by a reload */
    const pd_pipeline *pl;
    pd_processor *proc;
    pd_engine_query *q;
    pd_signal_ring *ring;
    pd_trend *trend;
    bool muted; /* reload import in progress: outputs of the new processor are dropped */
    sigcount sigs[MAX_SIG_TYPES];
    uint32_t nsigs;
    uint64_t reloads_ok, reloads_err;
    alert_ent *alerts; /* ring of ALERT_RING, allocated once */
    uint32_t alerts_next, alerts_n;
    pd_buf tmp;
};

/* ---- callbacks of the processor ---- */

static void copy_lower(char *dst, size_t cap, pd_str s)
{
    size_t n = PD_MIN(s.len, cap - 1);
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)s.p[i]);
    dst[n] = '\0';
}

static void copy_str(char *dst, size_t cap, pd_str s)
{
    size_t n = PD_MIN(s.len, cap - 1);
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

/* Breach signals cite alerts as evidence: remember them per resource the signal names. An
 * update of a breach signal cites the same alerts again: an alert already kept for the same
 * resource is not added twice (a scan of the recent entries). */
static void keep_alerts(pd_provider *pv, const pd_signal *s)
{
    for (uint32_t e = 0; e < s->nevidence; e++) {
        const pd_evidence *ev = &s->evidence[e];
        if (!ev->kind || strcmp(ev->kind, "alert") != 0 || !ev->id.len)
            continue;
        for (uint32_t r = 0; r < s->nresources; r++) {
            alert_ent tmp;
            copy_lower(tmp.res, sizeof(tmp.res), s->resources[r].id);
            copy_str(tmp.id, sizeof(tmp.id), ev->id);
            bool dup = false;
            for (uint32_t k = 0; k < pv->alerts_n && k < 64 && !dup; k++) {
                const alert_ent *a =
                    &pv->alerts[(pv->alerts_next + ALERT_RING - 1 - k) % ALERT_RING];
                dup = !strcmp(a->id, tmp.id) && !strcmp(a->res, tmp.res);
            }
            if (dup)
                continue;
            alert_ent *a = &pv->alerts[pv->alerts_next];
            memcpy(a->res, tmp.res, sizeof(a->res));
            memcpy(a->id, tmp.id, sizeof(a->id));
            copy_str(a->type, sizeof(a->type), ev->detail);
            memcpy(a->sig, s->id, sizeof(a->sig));
            a->time_ms = ev->time_ms;
            a->sev = s->severity;
            pv->alerts_next = (pv->alerts_next + 1) % ALERT_RING;
            if (pv->alerts_n < ALERT_RING)
                pv->alerts_n++;
        }
    }
}

static int w_signal(void *ctx, const pd_signal *s)
{
    pd_provider *pv = ctx;
    if (pv->muted)
        return 0;
    pd_signal_ring_push(pv->ring, s);
    if (s->kind == PD_SIGNAL_BREACH)
        keep_alerts(pv, s);
    const char *kind = s->kind == PD_SIGNAL_BREACH ? "breach" : "drift";
    const char *type = s->type ? s->type : "";
    uint32_t i = 0;
    for (; i < pv->nsigs; i++)
        if (!strcmp(pv->sigs[i].type, type) && !strcmp(pv->sigs[i].kind, kind))
            break;
    if (i == pv->nsigs && pv->nsigs < MAX_SIG_TYPES) {
        snprintf(pv->sigs[i].kind, sizeof(pv->sigs[i].kind), "%s", kind);
        snprintf(pv->sigs[i].type, sizeof(pv->sigs[i].type), "%s", type);
        pv->nsigs++;
    }
    if (i < pv->nsigs)
        pv->sigs[i].n++;
    return pv->o.proc.on_signal ? pv->o.proc.on_signal(pv->o.proc.signal_ctx, s) : 0;
}

static void w_dead_letter(void *ctx, const pd_dead_letter *dl)
{
    pd_provider *pv = ctx;
    if (pv->muted)
        return;
    if (pv->o.proc.on_dead_letter)
        pv->o.proc.on_dead_letter(pv->o.proc.dead_letter_ctx, dl);
}

static int64_t now_of(pd_provider *pv)
{
    return pv->proc ? pd_engine_now(pd_processor_engine(pv->proc)) : PD_TIME_NONE;
}

static void w_status(void *ctx, const pd_goal_status *st)
{
    pd_provider *pv = ctx;
    if (pv->muted)
        return;
    int64_t t = now_of(pv);
    if (st->has_value && t != PD_TIME_NONE)
        pd_trend_record(pv->trend, pd_str_c(st->goal->id), t, st->value);
    if (pv->o.proc.on_status)
        pv->o.proc.on_status(pv->o.proc.status_ctx, st);
}

/* ---- metrics ---- */

static void collect(void *ctx, pd_buf *out)
{
    pd_provider *pv = ctx;
    pd_engine *e = pd_processor_engine(pv->proc);
    uint32_t n = pd_engine_goal_count(e);
    pd_metrics_write_family(out, PD_M_GOAL_VALUE, "Each goal's current value (percent or count).",
                            PD_METRIC_GAUGE);
    for (uint32_t i = 0; i < n; i++) {
        pd_goal_status st;
        pd_engine_goal_status(e, i, &st);
        if (st.has_value)
            pd_metrics_write_sample(out, PD_M_GOAL_VALUE,
                                    (const char *[]){"goal", st.goal->id, NULL}, st.value);
    }
    pd_metrics_write_family(out, PD_M_GOAL_MET, "1 when the goal meets its target.",
                            PD_METRIC_GAUGE);
    for (uint32_t i = 0; i < n; i++) {
        pd_goal_status st;
        pd_engine_goal_status(e, i, &st);
        if (st.has_value)
            pd_metrics_write_sample(out, PD_M_GOAL_MET, (const char *[]){"goal", st.goal->id, NULL},
                                    st.met ? 1 : 0);
    }
    pd_engine_stats es;
    pd_engine_stats_get(e, &es);
    pd_metrics_write_family(out, PD_M_STATE_ENTRIES, "Entries of the engine's state.",
                            PD_METRIC_GAUGE);
    pd_metrics_write_sample(out, PD_M_STATE_ENTRIES, (const char *[]){"kind", "pairs", NULL},
                            (double)es.pairs);
    pd_metrics_write_sample(out, PD_M_STATE_ENTRIES, (const char *[]){"kind", "resources", NULL},
                            (double)es.resources);
    pd_metrics_write_sample(out, PD_M_STATE_ENTRIES,
                            (const char *[]){"kind", "recent_signals", NULL},
                            (double)pd_signal_ring_count(pv->ring));
    pd_metrics_write_family(out, PD_M_MEMORY, "Bytes held, by pool.", PD_METRIC_GAUGE);
    pd_metrics_write_sample(out, PD_M_MEMORY, (const char *[]){"pool", "engine", NULL},
                            (double)es.bytes);
    pd_metrics_write_family(out, PD_M_SIGNALS, "Signals emitted, by kind and type.",
                            PD_METRIC_COUNTER);
    for (uint32_t i = 0; i < pv->nsigs; i++)
        pd_metrics_write_sample(
            out, PD_M_SIGNALS,
            (const char *[]){"kind", pv->sigs[i].kind, "type", pv->sigs[i].type, NULL},
            (double)pv->sigs[i].n);
}

/* ---- construction ---- */

static char *dupz(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int copy_list(const char *const *src, uint32_t n, char ***out)
{
    if (!n)
        return 0;
    if (!(*out = calloc(n, sizeof(char *))))
        return PD_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (!((*out)[i] = strdup(src[i])))
            return PD_ENOMEM;
    return 0;
}

static void free_list(char **l, uint32_t n)
{
    for (uint32_t i = 0; l && i < n; i++)
        free(l[i]);
    free(l);
}

static int make_processor(pd_provider *pv, const pd_pipeline *pl, pd_processor **out, pd_diag *diag)
{
    pd_processor_opts po = pv->o.proc;
    po.pipeline = pl;
    po.goal_files = (const char *const *)pv->goal_files;
    po.ngoal_files = pv->ngoal_files;
    po.rule_files = (const char *const *)pv->rule_files;
    po.nrule_files = pv->nrule_files;
    po.controls_file = pv->controls_file;
    po.on_signal = w_signal;
    po.signal_ctx = pv;
    po.on_dead_letter = w_dead_letter;
    po.dead_letter_ctx = pv;
    po.on_status = w_status;
    po.status_ctx = pv;
    return pd_processor_create(&po, out, diag);
}

static void record_all(pd_provider *pv)
{
    pd_engine *e = pd_processor_engine(pv->proc);
    int64_t t = pd_engine_now(e);
    for (uint32_t i = 0, n = pd_engine_goal_count(e); i < n; i++) {
        pd_goal_status st;
        pd_engine_goal_status(e, i, &st);
        if (st.has_value && t != PD_TIME_NONE)
            pd_trend_record(pv->trend, pd_str_c(st.goal->id), t, st.value);
    }
}

int pd_provider_create(const pd_provider_opts *opts, pd_provider **out, pd_diag *diag)
{
    int rc = PD_ENOMEM;
    pd_provider *pv = calloc(1, sizeof(*pv));
    if (!pv)
        goto done;
    pv->o = *opts;
    pd_buf_init(&pv->tmp);
    pv->pl = opts->proc.pipeline;
    const char *pp = opts->pipeline_path ? opts->pipeline_path : pv->pl ? pv->pl->path : NULL;
    if ((pp && !(pv->pipeline_path = strdup(pp))) ||
        copy_list(opts->proc.goal_files, opts->proc.ngoal_files, &pv->goal_files) ||
        copy_list(opts->proc.rule_files, opts->proc.nrule_files, &pv->rule_files) ||
        (opts->proc.controls_file && !(pv->controls_file = dupz(opts->proc.controls_file))))
        goto done;
    pv->ngoal_files = opts->proc.ngoal_files;
    pv->nrule_files = opts->proc.nrule_files;
    if (!(pv->alerts = calloc(ALERT_RING, sizeof(alert_ent)))) {
        rc = PD_ENOMEM;
        goto done;
    }
    if ((rc = pd_signal_ring_create(opts->ring_capacity, &pv->ring)) ||
        (rc = pd_trend_create(0, 0, &pv->trend)))
        goto done;
    if ((rc = make_processor(pv, pv->pl, &pv->proc, diag)))
        goto done;
    if ((rc = pd_engine_query_create(pd_processor_engine(pv->proc), &pv->q)))
        goto done;
    if (opts->metrics && (rc = pd_metrics_add_collector(opts->metrics, collect, pv)))
        goto done;
    *out = pv;
    pv = NULL;
done:
    pd_provider_destroy(pv);
    return rc;
}

void pd_provider_destroy(pd_provider *pv)
{
    if (!pv)
        return;
    if (pv->o.metrics)
        pd_metrics_remove_collector(pv->o.metrics, collect, pv);
    pd_engine_query_destroy(pv->q);
    pd_processor_destroy(pv->proc);
    pd_pipeline_destroy(pv->own_pl);
    pd_signal_ring_destroy(pv->ring);
    pd_trend_destroy(pv->trend);
    free(pv->alerts);
    free(pv->pipeline_path);
    free_list(pv->goal_files, pv->ngoal_files);
    free_list(pv->rule_files, pv->nrule_files);
    free(pv->controls_file);
    pd_buf_free(&pv->tmp);
    free(pv);
}

pd_processor *pd_provider_processor(pd_provider *pv)
{
    return pv->proc;
}

/* ---- JSON ---- */

static void put_time(pd_buf *b, const char *key, int64_t ms)
{
    pd_buf_printf(b, ",\"%s\":", key);
    if (ms == PD_TIME_NONE || ms == 0) {
        pd_buf_puts(b, "null");
        return;
    }
    char ts[PD_RFC3339_LEN];
    pd_time_format(ms, ts);
    pd_buf_printf(b, "\"%s\"", ts);
}

static const char *op_name(pd_cmp c)
{
    switch (c) {
    case PD_CMP_GE:
        return ">=";
    case PD_CMP_GT:
        return ">";
    case PD_CMP_LE:
        return "<=";
    default:
        return "<";
    }
}

static void goal_obj(pd_provider *pv, pd_engine *e, uint32_t i, pd_buf *b)
{
    pd_goal_status st;
    pd_engine_goal_status(e, i, &st);
    const pd_goal *g = st.goal;
    bool pct =
        g->kind == PD_GOAL_COVERAGE || g->kind == PD_GOAL_SCORE || g->kind == PD_GOAL_COMPLIANCE;
    pd_buf_puts(b, "{\"id\":");
    pd_buf_json_str(b, g->id, strlen(g->id));
    pd_buf_puts(b, ",\"title\":");
    pd_buf_json_str(b, g->title ? g->title : "", g->title ? strlen(g->title) : 0);
    pd_buf_printf(b, ",\"kind\":\"%s\",\"unit\":\"%s\",\"value\":", pd_goal_kind_name(g->kind),
                  pct ? "%" : "count");
    if (st.has_value)
        pd_buf_json_num(b, st.value);
    else
        pd_buf_puts(b, "null");
    pd_buf_puts(b, ",\"target\":");
    pd_buf_json_str(b, g->target_text ? g->target_text : "",
                    g->target_text ? strlen(g->target_text) : 0);
    pd_buf_printf(b, ",\"op\":\"%s\",\"threshold\":", op_name(g->cmp));
    pd_buf_json_num(b, g->target);
    pd_buf_printf(b, ",\"met\":%s", !st.has_value ? "null" : st.met ? "true" : "false");
    pd_buf_printf(b, ",\"population\":%llu,\"violating\":%llu,\"unknown\":%llu",
                  (unsigned long long)st.denominator, (unsigned long long)st.violators,
                  (unsigned long long)st.unknown);
    int64_t now = pd_engine_now(e);
    put_time(b, "updated_at", now);
    put_time(b, "changed_at", st.changed_ms);
    pd_buf_puts(b, ",\"trend\":");
    pd_trend_json(pv->trend, pd_str_c(g->id), now, b);
    pd_buf_putc(b, '}');
}

static void now_json(pd_buf *b, int64_t ms)
{
    char ts[PD_RFC3339_LEN];
    pd_time_format(ms == PD_TIME_NONE ? 0 : ms, ts);
    pd_buf_printf(b, "\"%s\"", ts);
}

int pd_provider_goals_json(pd_provider *pv, pd_buf *out)
{
    pd_engine *e = pd_processor_engine(pv->proc);
    pd_buf_puts(out, "{\"generated_at\":");
    now_json(out, pd_engine_now(e));
    pd_buf_puts(out, ",\"goals\":[");
    for (uint32_t i = 0, n = pd_engine_goal_count(e); i < n; i++) {
        if (i)
            pd_buf_putc(out, ',');
        goal_obj(pv, e, i, out);
    }
    pd_buf_puts(out, "]}");
    return 0;
}

typedef struct vctx {
    pd_buf *b;
    uint32_t n;
    bool sla;
} vctx;

static void on_violator(void *ctx, const pd_violator_view *v)
{
    vctx *c = ctx;
    pd_buf *b = c->b;
    if (c->n++)
        pd_buf_putc(b, ',');
    pd_buf_puts(b, "{\"id\":");
    pd_buf_json_pstr(b, v->res.id);
    pd_buf_puts(b, ",\"name\":");
    pd_buf_json_pstr(b, v->res.name);
    pd_buf_printf(b, ",\"cloud\":\"%s\",\"account\":", pd_cloud_name(v->res.cloud));
    pd_buf_json_pstr(b, v->res.account);
    put_time(b, "since", v->since_ms);
    pd_buf_puts(b, ",\"reason\":");
    char reason[256];
    if (c->sla)
        snprintf(reason, sizeof(reason), "%u finding(s) past the SLA", v->failing);
    else if (v->control.len)
        snprintf(reason, sizeof(reason), "control %.*s unhealthy%s",
                 (int)PD_MIN(v->control.len, 200), v->control.p,
                 v->failing > 1 ? " (and others)" : "");
    else
        snprintf(reason, sizeof(reason), "control unhealthy");
    pd_buf_json_str(b, reason, strlen(reason));
    pd_buf_printf(b, ",\"failing\":%u}", v->failing);
}

int pd_provider_goal_json(pd_provider *pv, const char *id, uint32_t offset, uint32_t limit,
                          pd_buf *out)
{
    pd_engine *e = pd_processor_engine(pv->proc);
    uint32_t gi, total = 0;
    if (pd_engine_goal_find(e, pd_str_c(id), &gi))
        return PD_ENOTFOUND;
    pd_buf_puts(out, "{\"goal\":");
    goal_obj(pv, e, gi, out);
    pd_buf_puts(out, ",\"violators\":{\"items\":[");
    pd_goal_status st;
    pd_engine_goal_status(e, gi, &st);
    vctx c = {out, 0, st.goal->kind == PD_GOAL_SLA};
    int rc = pd_engine_query_violators(pv->q, gi, offset, limit, on_violator, &c, &total);
    if (rc)
        return rc;
    pd_buf_printf(out, "],\"total\":%u,\"offset\":%u,\"limit\":%u}}", total, offset, limit);
    return 0;
}

typedef struct rctx {
    pd_buf *b;
    uint32_t n;
} rctx;

static void on_pair(void *ctx, const pd_pair_view *p)
{
    rctx *c = ctx;
    pd_buf *b = c->b;
    if (p->removed)
        return;
    if (c->n++)
        pd_buf_putc(b, ',');
    pd_buf_puts(b, "{\"control\":");
    pd_buf_json_pstr(b, p->control);
    pd_buf_puts(b, ",\"name\":");
    pd_buf_json_pstr(b, p->control_name);
    pd_buf_printf(b, ",\"status\":\"%s\",\"severity\":\"%s\"", pd_status_name(p->status),
                  pd_severity_name(p->severity));
    put_time(b, "since", p->since_ms);
    put_time(b, "updated", p->updated_ms);
    pd_buf_printf(b, ",\"stale\":%s,\"flapping\":%s}", p->stale ? "true" : "false",
                  p->flapping ? "true" : "false");
}

static void on_finding(void *fctx, pd_str key, pd_str name, pd_severity sev, int64_t since)
{
    rctx *c = fctx;
    pd_buf *b = c->b;
    if (c->n++)
        pd_buf_putc(b, ',');
    pd_buf_puts(b, "{\"control\":");
    pd_buf_json_pstr(b, key);
    pd_buf_puts(b, ",\"name\":");
    pd_buf_json_pstr(b, name);
    pd_buf_printf(b, ",\"severity\":\"%s\"", pd_severity_name(sev));
    put_time(b, "since", since);
    pd_buf_putc(b, '}');
}

static void on_goal(void *fctx, pd_str id, pd_str title)
{
    rctx *c = fctx;
    pd_buf *b = c->b;
    if (c->n++)
        pd_buf_putc(b, ',');
    pd_buf_puts(b, "{\"id\":");
    pd_buf_json_pstr(b, id);
    pd_buf_puts(b, ",\"title\":");
    pd_buf_json_pstr(b, title);
    pd_buf_putc(b, '}');
}

int pd_provider_resource_json(pd_provider *pv, const char *id, pd_buf *out)
{
    pd_engine *e = pd_processor_engine(pv->proc);
    pd_res_view rv;
    size_t n = strlen(id);
    pd_buf_reset(&pv->tmp);
    for (size_t i = 0; i < n; i++)
        pd_buf_putc(&pv->tmp, (char)tolower((unsigned char)id[i]));
    pd_str canon = {pv->tmp.p, pv->tmp.len};
    if (pd_engine_query_resource(pv->q, canon, &rv) &&
        pd_engine_query_resource(pv->q, pd_str_c(id), &rv))
        return PD_ENOTFOUND;
    pd_buf_puts(out, "{\"id\":");
    pd_buf_json_pstr(out, rv.id);
    pd_buf_puts(out, ",\"name\":");
    pd_buf_json_pstr(out, rv.name);
    pd_buf_printf(out, ",\"cloud\":\"%s\",\"type\":", pd_cloud_name(rv.cloud));
    pd_buf_json_pstr(out, rv.type);
    pd_buf_puts(out, ",\"account\":");
    pd_buf_json_pstr(out, rv.account);
    pd_buf_puts(out, ",\"group\":");
    pd_buf_json_pstr(out, rv.group);
    pd_buf_puts(out, ",\"region\":");
    pd_buf_json_pstr(out, rv.region);
    pd_buf_printf(out, ",\"gone\":%s,\"pairs\":[", rv.gone ? "true" : "false");
    rctx c = {out, 0};
    pd_engine_query_pairs(pv->q, rv.id, on_pair, &c);
    pd_buf_puts(out, "],\"open_findings\":[");
    const pd_posture_ops *ops = pd_engine_posture_ops();
    c.n = 0;
    ops->open_findings(e, rv.id, PD_SEV_UNKNOWN, on_finding, &c);
    /* Alerts cited by recent breach signals that name this resource, newest first (the
     * correlator has no per-resource query of its windows). */
    pd_buf_puts(out, "],\"recent_alerts\":[");
    c.n = 0;
    for (uint32_t k = 0; k < pv->alerts_n && c.n < 20; k++) {
        const alert_ent *a = &pv->alerts[(pv->alerts_next + ALERT_RING - 1 - k) % ALERT_RING];
        if (strlen(a->res) != rv.id.len || memcmp(a->res, rv.id.p, rv.id.len) != 0)
            continue;
        if (c.n++)
            pd_buf_putc(out, ',');
        pd_buf_puts(out, "{\"id\":");
        pd_buf_json_str(out, a->id, strlen(a->id));
        pd_buf_puts(out, ",\"type\":");
        pd_buf_json_str(out, a->type, strlen(a->type));
        put_time(out, "time", a->time_ms);
        pd_buf_printf(out, ",\"severity\":\"%s\",\"signal\":\"%s\"}", pd_severity_name(a->sev),
                      a->sig);
    }
    pd_buf_puts(out, "],\"goals\":[");
    c.n = 0;
    ops->violated_goals(e, rv.id, on_goal, &c);
    pd_buf_puts(out, "]}");
    return 0;
}

/* ---- reload ---- */

static void reload_error(pd_buf *out, const char *msg)
{
    pd_buf_puts(out, "{\"reloaded\":false,\"error\":");
    pd_buf_json_str(out, msg, strlen(msg));
    pd_buf_putc(out, '}');
}

int pd_provider_reload(pd_provider *pv, pd_buf *out)
{
    pd_diag diag;
    memset(&diag, 0, sizeof(diag));
    pd_pipeline *npl = NULL;
    pd_processor *np = NULL;
    pd_engine_query *nq = NULL;
    int rc;
    if (pv->pipeline_path && (rc = pd_pipeline_load(pv->pipeline_path, &npl, &diag))) {
        rc = rc == PD_ENOMEM ? rc : PD_ECONFIG;
        goto refused;
    }
    if ((rc = make_processor(pv, npl, &np, &diag))) {
        rc = rc == PD_ENOMEM ? rc : PD_ECONFIG;
        goto refused;
    }
    /* Valid: carry the state over with the new processor's outputs muted. */
    uint64_t npairs = 0;
    pd_engine *ne = pd_processor_engine(np);
    pd_engine *oe = pd_processor_engine(pv->proc);
    char why[160] = "";
    bool exact = pd_engine_state_fingerprint(oe) == pd_engine_state_fingerprint(ne);
    pv->muted = true;
    if (exact) {
        /* Same goals and engine options (rules or controls changed): the state engine's
         * image carries everything, timers and flap counters included. */
        pd_buf img;
        pd_buf_init(&img);
        rc = pd_engine_state_export(oe, &img);
        if (!rc)
            rc = pd_engine_state_import(ne, img.p, img.len, why, sizeof(why));
        pd_buf_free(&img);
        pd_engine_stats es0;
        pd_engine_stats_get(ne, &es0);
        npairs = es0.pairs;
    } else {
        rc = pd_engine_import_pairs(ne, oe, &npairs);
    }
    if (!rc && pd_processor_now(pv->proc) != PD_TIME_NONE)
        rc = pd_processor_advance(np, pd_processor_now(pv->proc));
    pv->muted = false;
    if (rc || (rc = pd_engine_query_create(ne, &nq))) {
        snprintf(diag.msg, sizeof(diag.msg), "carrying the state over failed: %s%s%s",
                 pd_strerror(rc), why[0] ? ": " : "", why);
        goto refused;
    }
    if (pv->o.on_swap)
        pv->o.on_swap(pv->o.swap_ctx, pv->proc, np, npl ? npl : pv->pl);
    pd_engine_query_destroy(pv->q);
    pd_processor_destroy(pv->proc);
    pv->q = nq;
    pv->proc = np;
    if (npl) {
        pd_pipeline_destroy(pv->own_pl);
        pv->own_pl = npl;
        pv->pl = npl;
    }
    record_all(pv);
    /* Every goal's status at once (the status topic sees the new goals now). */
    if (pv->o.proc.on_status)
        for (uint32_t i = 0, n = pd_engine_goal_count(ne); i < n; i++) {
            pd_goal_status st;
            pd_engine_goal_status(ne, i, &st);
            pv->o.proc.on_status(pv->o.proc.status_ctx, &st);
        }
    pv->reloads_ok++;
    pd_engine_stats es;
    pd_engine_stats_get(ne, &es);
    pd_buf_printf(out,
                  "{\"reloaded\":true,\"goals\":%u,\"pairs\":%llu,\"resources\":%llu,"
                  "\"carried\":\"%s\"}",
                  pd_engine_goal_count(ne), (unsigned long long)npairs,
                  (unsigned long long)es.resources, exact ? "image" : "pairs");
    pd_log_fields(
        PD_LOG_INFO, "reload", "goal set reloaded",
        (pd_log_field[]){PD_LF_INT("goals", pd_engine_goal_count(ne)), PD_LF_INT("pairs", npairs)},
        2);
    return 0;
refused:
    pd_engine_query_destroy(nq);
    pd_processor_destroy(np);
    pd_pipeline_destroy(npl);
    pv->reloads_err++;
    if (!diag.msg[0])
        snprintf(diag.msg, sizeof(diag.msg), "%s", pd_strerror(rc));
    reload_error(out, diag.msg);
    pd_log_error("reload", "reload refused, previous goal set kept: %s", diag.msg);
    return rc;
}

/* ---- the pd_http_provider table ---- */

static int h_goals(void *ctx, pd_buf *out)
{
    return pd_provider_goals_json(ctx, out);
}

static int h_goal(void *ctx, const char *id, uint32_t offset, uint32_t limit, pd_buf *out)
{
    return pd_provider_goal_json(ctx, id, offset, limit, out);
}

static int h_resource(void *ctx, const char *id, pd_buf *out)
{
    return pd_provider_resource_json(ctx, id, out);
}

static int h_signals(void *ctx, uint32_t limit, pd_buf *out)
{
    pd_provider *pv = ctx;
    pd_signal_ring_json(pv->ring, limit, out);
    return 0;
}

static int h_ready(void *ctx, pd_buf *out)
{
    pd_provider *pv = ctx;
    if (pv->o.ready)
        return pv->o.ready(pv->o.ready_ctx, out);
    pd_buf_puts(out, "{\"ready\":true,\"checks\":{\"state\":true}}");
    return 0;
}

static int h_reload(void *ctx, pd_buf *out)
{
    return pd_provider_reload(ctx, out);
}

void pd_provider_http(pd_provider *pv, pd_http_provider *out)
{
    memset(out, 0, sizeof(*out));
    out->ctx = pv;
    out->goals = h_goals;
    out->goal = h_goal;
    out->resource = h_resource;
    out->signals = h_signals;
    out->ready = h_ready;
    out->reload = h_reload;
}

/* ---- pd_ops: the operations side of `postured run` ---- */

struct pd_ops {
    pd_ops_opts o;
    pd_metrics *metrics;
    pd_http *http;
};

static void collect_sinks(void *ctx, pd_buf *out)
{
    pd_ops *ops = ctx;
    size_t n = pd_sink_set_count(ops->o.sinks);
    static const struct {
        const char *name, *help;
    } fam[4] = {{PD_M_SINK_SENT, "Signals a sink delivered."},
                {PD_M_SINK_RETRIED, "Delivery attempts beyond the first."},
                {PD_M_SINK_DROPPED, "Signals given up (dead letters)."},
                {PD_M_SINK_DIGESTED, "Signals held back by a rate limit into a digest."}};
    for (int f = 0; f < 4; f++) {
        pd_metrics_write_family(out, fam[f].name, fam[f].help, PD_METRIC_COUNTER);
        for (size_t i = 0; i < n; i++) {
            pd_sink *s = pd_sink_set_get(ops->o.sinks, i);
            pd_sink_stats st;
            pd_sink_get_stats(s, &st);
            uint64_t v = f == 0   ? st.delivered
                         : f == 1 ? st.retries
                         : f == 2 ? st.dead
                                  : st.digested;
            pd_metrics_write_sample(out, fam[f].name,
                                    (const char *[]){"sink", pd_sink_name(s), NULL}, (double)v);
        }
    }
}

int pd_ops_create(const pd_ops_opts *o, pd_metrics *metrics, pd_ops **out, pd_diag *diag)
{
    int rc = PD_ENOMEM;
    pd_ops *ops = calloc(1, sizeof(*ops));
    if (!ops)
        goto done;
    ops->o = *o;
    ops->metrics = metrics;
    if (o->cfg && o->cfg->nkafka && (rc = pd_log_add_kv_secrets(o->cfg->kafka, o->cfg->nkafka)))
        goto done;
    if (o->pipeline && o->pipeline->nkafka &&
        (rc = pd_log_add_kv_secrets(o->pipeline->kafka, o->pipeline->nkafka)))
        goto done;
    if (metrics && (rc = pd_metrics_add_process(metrics)))
        goto done;
    if (metrics && o->sinks && pd_sink_set_count(o->sinks) &&
        (rc = pd_metrics_add_collector(metrics, collect_sinks, ops)))
        goto done;
    if (!o->no_http) {
        pd_http_config hc;
        if ((rc = pd_http_config_from(o->cfg, &hc, diag)))
            goto done;
        pd_http_provider hp;
        pd_provider_http(o->provider, &hp);
        if ((rc = pd_http_create(o->base, &hc, &hp, metrics, &ops->http))) {
            if (diag && !diag->msg[0])
                snprintf(diag->msg, sizeof(diag->msg), "http.listen %s: %s",
                         hc.listen ? hc.listen : PD_HTTP_DEFAULT_LISTEN, pd_strerror(rc));
            goto done;
        }
        if ((rc = pd_http_watch_sighup(ops->http)))
            goto done;
    }
    *out = ops;
    ops = NULL;
    rc = 0;
done:
    pd_ops_destroy(ops);
    return rc;
}

void pd_ops_destroy(pd_ops *ops)
{
    if (!ops)
        return;
    pd_http_destroy(ops->http);
    if (ops->metrics && ops->o.sinks)
        pd_metrics_remove_collector(ops->metrics, collect_sinks, ops);
    free(ops);
}

pd_http *pd_ops_http(pd_ops *ops)
{
    return ops ? ops->http : NULL;
}

void pd_ops_sink_dead(void *ctx, const pd_sink_dead *d)
{
    (void)ctx;
    pd_log_fields(PD_LOG_WARN, "sink", "signal dropped",
                  (pd_log_field[]){PD_LF_STR("sink", d->sink ? d->sink : ""),
                                   PD_LF_STR("key", d->key ? d->key : ""),
                                   PD_LF_STR("reason", d->reason ? d->reason : ""),
                                   PD_LF_INT("attempts", d->attempts), PD_LF_INT("bytes", d->len)},
                  5);
}
