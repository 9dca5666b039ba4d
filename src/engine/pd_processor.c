#include "pd_processor.h"

#include "pd_correlate.h"
#include "pd_decode.h"
#include "pd_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The control mapping table is wired in when its module is in the tree. */
#if defined(__has_include)
#if __has_include("pd_controls.h")
#include "pd_controls.h"
#define PD_HAVE_CONTROLS 1
#endif
#endif

typedef struct input_st {
    char *name;
    int64_t silence_ms;
    int64_t last_ms; /* watermark when its last message came; PD_TIME_NONE before */
    bool silent;     /* feed.silent emitted since its last message */
} input_st;

struct pd_processor {
    pd_processor_opts o;
    pd_goal_set *goals;
    pd_rule_set *rules;
    pd_decoder *dec;
    pd_engine *eng;
    pd_correlator *corr;
    input_st *inputs;
    uint32_t ninputs, inputs_cap;
    uint32_t cur_input;
    int64_t now_ms;
    pd_processor_stats st;
#ifdef PD_HAVE_CONTROLS
    pd_controls *controls;
    pd_str fw_scratch[64];
    const char *role_scratch[32];
#endif
};

#ifdef PD_HAVE_CONTROLS
static bool lookup(void *ctx, pd_str key, pd_control_info *out)
{
    pd_processor *p = ctx;
    const pd_control_def *d = p->controls ? pd_controls_find(p->controls, key) : NULL;
    if (!d)
        return false;
    out->name = pd_str_c(d->name);
    out->category = pd_str_c(d->category);
    out->severity = d->severity;
    uint32_t n = PD_MIN(d->nframeworks, (uint32_t)PD_ARRAY_LEN(p->fw_scratch));
    for (uint32_t i = 0; i < n; i++)
        p->fw_scratch[i] = pd_str_c(d->frameworks[i]);
    out->frameworks = p->fw_scratch;
    out->nframeworks = n;
    uint32_t nr = 0;
    for (int r = 0; r < PD_ROLE__COUNT && nr < PD_ARRAY_LEN(p->role_scratch); r++)
        if (d->role_bits & PD_ROLE_BIT(r))
            p->role_scratch[nr++] = pd_control_role_name((pd_control_role)r);
    out->roles = p->role_scratch;
    out->nroles = nr;
    return true;
}

static bool has_role(void *ctx, pd_str key, pd_str role)
{
    pd_processor *p = ctx;
    const pd_control_def *d = p->controls ? pd_controls_find(p->controls, key) : NULL;
    pd_control_role r;
    if (!d || pd_control_role_parse(role, &r))
        return false;
    return pd_control_has_role(d, r);
}
#endif

static int add_input(pd_processor *p, const char *name, size_t len, int64_t silence_ms,
                     uint32_t *out)
{
    for (uint32_t i = 0; i < p->ninputs; i++)
        if (strlen(p->inputs[i].name) == len && !memcmp(p->inputs[i].name, name, len)) {
            *out = i;
            return 0;
        }
    if (p->ninputs == p->inputs_cap) {
        uint32_t nc = p->inputs_cap ? p->inputs_cap * 2 : 4;
        input_st *ni = realloc(p->inputs, nc * sizeof(*ni));
        if (!ni)
            return PD_ENOMEM;
        p->inputs = ni;
        p->inputs_cap = nc;
    }
    input_st *in = &p->inputs[p->ninputs];
    memset(in, 0, sizeof(*in));
    if (!(in->name = malloc(len + 1)))
        return PD_ENOMEM;
    memcpy(in->name, name, len);
    in->name[len] = '\0';
    in->silence_ms = silence_ms;
    in->last_ms = PD_TIME_NONE;
    *out = p->ninputs++;
    return 0;
}

static int on_drift(void *ctx, const pd_signal *s)
{
    pd_processor *p = ctx;
    p->st.signals_drift++;
    int rc = p->o.on_signal ? p->o.on_signal(p->o.signal_ctx, s) : 0;
    if (!rc && p->corr)
        rc = pd_correlator_on_signal(p->corr, s);
    return rc;
}

static int on_breach(void *ctx, const pd_signal *s)
{
    pd_processor *p = ctx;
    p->st.signals_breach++;
    return p->o.on_signal ? p->o.on_signal(p->o.signal_ctx, s) : 0;
}

int pd_processor_create(const pd_processor_opts *opts, pd_processor **out, pd_diag *diag)
{
    pd_processor *p = calloc(1, sizeof(*p));
    if (!p)
        return PD_ENOMEM;
    int rc = 0;
    p->o = *opts;
    p->now_ms = PD_TIME_NONE;
    diag->msg[0] = '\0';
    const pd_pipeline *pl = opts->pipeline;
    for (uint32_t i = 0; pl && i < pl->ngoal_files && !rc; i++)
        rc = pd_goal_set_load_file(&p->goals, pl->goal_files[i], diag);
    for (uint32_t i = 0; i < opts->ngoal_files && !rc; i++)
        rc = pd_goal_set_load_file(&p->goals, opts->goal_files[i], diag);
    for (uint32_t i = 0; pl && i < pl->nrule_files && !rc; i++)
        rc = pd_rule_set_load_file(&p->rules, pl->rule_files[i], diag);
    for (uint32_t i = 0; i < opts->nrule_files && !rc; i++)
        rc = pd_rule_set_load_file(&p->rules, opts->rule_files[i], diag);
    if (rc)
        goto fail;
#ifdef PD_HAVE_CONTROLS
    {
        const char *cf = opts->controls_file       ? opts->controls_file
                         : pl && pl->controls_file ? pl->controls_file
                                                   : NULL;
        if (cf)
            rc = pd_controls_load_file(cf, &p->controls, diag);
        else if (pd_controls_load_default(&p->controls, diag))
            p->controls = NULL; /* no table: selectors by key only */
        if (rc)
            goto fail;
    }
#endif
    if ((rc = pd_decoder_create(opts->decode, &p->dec)))
        goto fail;
    pd_engine_opts eo;
    pd_engine_opts_default(&eo);
    if (pl) {
        eo.pipeline = pd_str_c(pl->name);
        eo.flap_toggles = pl->flap_toggles;
        eo.flap_window_ms = pl->flap_window_ms;
        eo.timer_lateness_ms = pl->timer_lateness_ms;
    }
    eo.emit = on_drift;
    eo.emit_ctx = p;
    eo.partial = opts->partial;
    eo.on_status = opts->on_status;
    eo.status_ctx = opts->status_ctx;
#ifdef PD_HAVE_CONTROLS
    if (p->controls) {
        eo.lookup = lookup;
        eo.lookup_ctx = p;
    }
#endif
    if ((rc = pd_engine_create(p->goals, &eo, &p->eng)))
        goto fail;
    pd_correlate_opts co;
    pd_correlate_opts_default(&co);
    co.pipeline = eo.pipeline;
    if (opts->allowed_lateness_ms > 0)
        co.allowed_lateness_ms = opts->allowed_lateness_ms;
    if (opts->correlate_memcap_bytes)
        co.memcap_bytes = opts->correlate_memcap_bytes;
#ifdef PD_HAVE_CONTROLS
    if (p->controls) {
        co.control_has_role = has_role;
        co.control_ctx = p;
    }
#endif
    if ((rc = pd_correlator_create(p->rules, &co, pd_engine_posture_ops(), p->eng, on_breach, p,
                                   &p->corr)))
        goto fail;
    for (uint32_t i = 0; pl && i < pl->ninputs && !rc; i++) {
        uint32_t k;
        rc = add_input(p, pl->inputs[i].topic, strlen(pl->inputs[i].topic),
                       pl->inputs[i].silence_ms, &k);
    }
    if (rc)
        goto fail;
    *out = p;
    return 0;
fail:
    if (!diag->msg[0])
        snprintf(diag->msg, sizeof(diag->msg), "processor: %s", pd_strerror(rc));
    pd_processor_destroy(p);
    return rc;
}

void pd_processor_destroy(pd_processor *p)
{
    if (!p)
        return;
    pd_correlator_destroy(p->corr);
    pd_engine_destroy(p->eng);
    pd_decoder_destroy(p->dec);
    pd_rule_set_destroy(p->rules);
    pd_goal_set_destroy(p->goals);
#ifdef PD_HAVE_CONTROLS
    pd_controls_destroy(p->controls);
#endif
    for (uint32_t i = 0; i < p->ninputs; i++)
        free(p->inputs[i].name);
    free(p->inputs);
    free(p);
}

/* feed.silent: an input with a silence window that has had no message for that long. The
 * signal's time is when the window ran out, so replays give the same signal. */
static int check_silence(pd_processor *p)
{
    /* A state partition sees only its resources' share of each input: its own silence would
     * raise one signal per partition, and false ones for a sparse input. Not evaluated there
     * (src/kafka/README.md, "Scale-out"). */
    if (p->o.partial)
        return 0;
    for (uint32_t i = 0; i < p->ninputs; i++) {
        input_st *in = &p->inputs[i];
        if (!in->silence_ms || in->silent || p->now_ms == PD_TIME_NONE)
            continue;
        if (in->last_ms == PD_TIME_NONE)
            in->last_ms = p->now_ms; /* silence counts from the first event of the stream */
        if (p->now_ms - in->last_ms < in->silence_ms)
            continue;
        in->silent = true;
        int rc = pd_engine_feed_silent(p->eng, pd_str_c(in->name), in->last_ms, in->silence_ms,
                                       in->last_ms + in->silence_ms);
        if (rc)
            return rc;
    }
    return 0;
}

static int advance(pd_processor *p, int64_t t)
{
    if (t == PD_TIME_NONE || (p->now_ms != PD_TIME_NONE && t <= p->now_ms))
        return 0;
    p->now_ms = t;
    return check_silence(p);
}

static int on_event(void *ctx, const pd_event *ev)
{
    pd_processor *p = ctx;
    p->st.events++;
    int rc = advance(p, ev->time_ms);
    if (rc)
        return rc;
    input_st *in = &p->inputs[p->cur_input];
    if (p->now_ms != PD_TIME_NONE) {
        in->last_ms = p->now_ms;
        in->silent = false;
    }
    if ((rc = pd_correlator_on_event(p->corr, ev)))
        return rc;
    rc = pd_engine_apply(p->eng, ev);
    if (!rc && p->o.on_applied)
        p->o.on_applied(p->o.applied_ctx, ev);
    return rc;
}

int pd_processor_feed(pd_processor *p, const char *msg, size_t len, pd_format format, pd_str source)
{
    p->st.messages++;
    int rc = add_input(p, source.p ? source.p : "", source.len, 0, &p->cur_input);
    if (rc)
        return rc;
    pd_decode_error err;
    memset(&err, 0, sizeof(err));
    rc = pd_decode(p->dec, msg, len, format, on_event, p, &err);
    if (rc <= PD_EDECODE_FIRST && rc >= PD_EDEC_LAST) {
        p->st.decode_errors++;
        if (p->o.on_dead_letter) {
            pd_dead_letter dl = {rc,    pd_decode_error_name(rc), err.offset, err.message, msg, len,
                                 source};
            p->o.on_dead_letter(p->o.dead_letter_ctx, &dl);
        }
        return 0;
    }
    return rc;
}

int pd_processor_feed_event(pd_processor *p, const pd_event *ev, pd_str source)
{
    p->st.messages++;
    int rc = add_input(p, source.p ? source.p : "", source.len, 0, &p->cur_input);
    return rc ? rc : on_event(p, ev);
}

int pd_processor_advance(pd_processor *p, int64_t now_ms)
{
    int rc = advance(p, now_ms);
    if (!rc && now_ms != PD_TIME_NONE)
        rc = pd_engine_advance(p->eng, now_ms);
    if (!rc && now_ms != PD_TIME_NONE)
        rc = pd_correlator_advance(p->corr, now_ms);
    return rc;
}

int64_t pd_processor_now(const pd_processor *p)
{
    return p->now_ms;
}

const pd_goal_set *pd_processor_goals(const pd_processor *p)
{
    return p->goals;
}

pd_engine *pd_processor_engine(pd_processor *p)
{
    return p->eng;
}

pd_correlator *pd_processor_correlator(pd_processor *p)
{
    return p ? p->corr : NULL;
}

void pd_processor_stats_get(const pd_processor *p, pd_processor_stats *out)
{
    *out = p->st;
    pd_engine_stats es;
    pd_engine_stats_get(p->eng, &es);
    out->events_ignored = es.ignored + es.duplicates + es.out_of_order;
}
