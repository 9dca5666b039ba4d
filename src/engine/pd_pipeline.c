#include "pd_pipeline.h"

#include "pd_arena.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pd_goals_parse_flapping(const pd_ydoc *doc, const pd_ynode *n, uint32_t *toggles,
                            int64_t *window, pd_diag *diag); /* pd_goals.c */

typedef struct pd_pipeline_impl {
    pd_pipeline pub; /* first: pd_pipeline * converts */
    pd_ydoc *doc;
    pd_arena arena;
} pd_pipeline_impl;

static char *adup(pd_arena *a, const char *s)
{
    return pd_arena_strndup(a, s, strlen(s));
}

/* Relative paths resolve against the directory of the pipeline file. */
static char *resolve(pd_arena *a, const char *base, const char *rel)
{
    if (rel[0] == '/')
        return adup(a, rel);
    const char *slash = strrchr(base, '/');
    size_t dl = slash ? (size_t)(slash - base) + 1 : 0;
    size_t rl = strlen(rel);
    char *p = pd_arena_alloc(a, dl + rl + 1);
    if (!p)
        return NULL;
    memcpy(p, base, dl);
    memcpy(p + dl, rel, rl + 1);
    return p;
}

static bool valid_name(const char *s)
{
    if (!*s || !(islower((unsigned char)*s) || isdigit((unsigned char)*s)))
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
            return false;
    return true;
}

static int paths(pd_arena *a, const pd_ydoc *doc, const pd_ynode *n, const char *base, char ***out,
                 uint32_t *count, pd_diag *diag)
{
    const char **items;
    uint32_t k;
    int rc = pd_ynode_strlist(doc, n, &items, &k, diag);
    if (rc)
        return rc;
    char **v = pd_arena_alloc(a, sizeof(char *) * (k ? k : 1));
    if (!v)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < k; i++)
        if (!(v[i] = resolve(a, base, items[i])))
            return PD_ENOMEM;
    *out = v;
    *count = k;
    return 0;
}

static int parse(pd_pipeline_impl *pi, const char *path, pd_diag *diag)
{
    pd_pipeline *p = &pi->pub;
    pd_arena *a = &pi->arena;
    const pd_ydoc *doc = pi->doc;
    const pd_ynode *root = pd_yaml_root(doc), *n, *v;
    int rc;
    if (!root)
        return pd_diag_at(diag, doc, NULL, "empty pipeline file (expected 'pipeline:')");
    static const char *const top[] = {"pipeline", NULL};
    if ((rc = pd_ymap_check(doc, root, top, diag)))
        return rc;
    if (!(n = pd_ymap_get(root, "pipeline")))
        return pd_diag_at(diag, doc, root, "missing top-level 'pipeline:' map");
    static const char *const keys[] = {
        "name",           "description",    "goals",   "rules",    "controls",
        "inputs",         "consumer_group", "outputs", "flapping", "timer_lateness",
        "snapshot_quiet", "sinks",          "kafka",   NULL};
    if ((rc = pd_ymap_check(doc, n, keys, diag)))
        return rc;
    const char *s;
    if (!(v = pd_ymap_get(n, "name")))
        return pd_diag_at(diag, doc, n, "pipeline without a name");
    if ((rc = pd_ynode_str(doc, v, &s, diag)))
        return rc;
    if (!valid_name(s))
        return pd_diag_at(diag, doc, v, "pipeline name '%s' must match [a-z0-9][a-z0-9-]*", s);
    if (!(p->name = adup(a, s)))
        return PD_ENOMEM;
    if ((v = pd_ymap_get(n, "goals")) &&
        (rc = paths(a, doc, v, path, &p->goal_files, &p->ngoal_files, diag)))
        return rc;
    if ((v = pd_ymap_get(n, "rules")) &&
        (rc = paths(a, doc, v, path, &p->rule_files, &p->nrule_files, diag)))
        return rc;
    if ((v = pd_ymap_get(n, "controls"))) {
        if ((rc = pd_ynode_str(doc, v, &s, diag)))
            return rc;
        if (!(p->controls_file = resolve(a, path, s)))
            return PD_ENOMEM;
    }
    if ((v = pd_ymap_get(n, "inputs"))) {
        if (v->type != PD_YSEQ)
            return pd_diag_at(diag, doc, v, "inputs must be a list of {topic, format, silence}");
        p->ninputs = v->n;
        p->inputs = pd_arena_alloc(a, sizeof(pd_pipeline_input) * (v->n ? v->n : 1));
        if (!p->inputs)
            return PD_ENOMEM;
        static const char *const ikeys[] = {"topic", "format", "silence", NULL};
        for (uint32_t i = 0; i < v->n; i++) {
            const pd_ynode *it = v->items[i], *f;
            pd_pipeline_input *in = &p->inputs[i];
            memset(in, 0, sizeof(*in));
            if ((rc = pd_ymap_check(doc, it, ikeys, diag)))
                return rc;
            if (!(f = pd_ymap_get(it, "topic")))
                return pd_diag_at(diag, doc, it, "input without a topic");
            if ((rc = pd_ynode_str(doc, f, &s, diag)))
                return rc;
            if (!*s)
                return pd_diag_at(diag, doc, f, "empty topic");
            for (uint32_t j = 0; j < i; j++)
                if (!strcmp(p->inputs[j].topic, s))
                    return pd_diag_at(diag, doc, f, "duplicate input topic '%s'", s);
            if (!(in->topic = adup(a, s)))
                return PD_ENOMEM;
            if ((f = pd_ymap_get(it, "format"))) {
                if ((rc = pd_ynode_str(doc, f, &s, diag)))
                    return rc;
                if (pd_format_parse(pd_str_c(s), &in->format))
                    return pd_diag_at(diag, doc, f,
                                      "unknown format '%s' (expected one of: auto, defender, "
                                      "asff, scc, ocsf)",
                                      s);
            }
            if ((f = pd_ymap_get(it, "silence"))) {
                if ((rc = pd_ynode_duration(doc, f, &in->silence_ms, diag)))
                    return rc;
                if (in->silence_ms < 0)
                    return pd_diag_at(diag, doc, f, "silence must not be negative");
            }
        }
    }
    if ((v = pd_ymap_get(n, "consumer_group"))) {
        if ((rc = pd_ynode_str(doc, v, &s, diag)))
            return rc;
        if (!(p->consumer_group = adup(a, s)))
            return PD_ENOMEM;
    } else {
        char buf[160];
        snprintf(buf, sizeof(buf), "postured-%s", p->name);
        if (!(p->consumer_group = adup(a, buf)))
            return PD_ENOMEM;
    }
    if ((v = pd_ymap_get(n, "outputs"))) {
        static const char *const okeys[] = {"drift", "breach", "status", "dead_letter", NULL};
        if ((rc = pd_ymap_check(doc, v, okeys, diag)))
            return rc;
        const char **slots[] = {&p->outputs.drift, &p->outputs.breach, &p->outputs.status,
                                &p->outputs.dead_letter};
        for (int i = 0; i < 4; i++) {
            const pd_ynode *f = pd_ymap_get(v, okeys[i]);
            if (!f)
                continue;
            if ((rc = pd_ynode_str(doc, f, &s, diag)))
                return rc;
            if (!(*slots[i] = adup(a, s)))
                return PD_ENOMEM;
        }
    }
    if ((v = pd_ymap_get(n, "flapping")) &&
        (rc = pd_goals_parse_flapping(doc, v, &p->flap_toggles, &p->flap_window_ms, diag)))
        return rc;
    /* snapshot_quiet: accepted for older files; snapshots now complete per resource. */
    if ((v = pd_ymap_get(n, "snapshot_quiet"))) {
        int64_t ignored;
        if ((rc = pd_ynode_duration(doc, v, &ignored, diag)))
            return rc;
    }
    if ((v = pd_ymap_get(n, "timer_lateness"))) {
        if ((rc = pd_ynode_duration(doc, v, &p->timer_lateness_ms, diag)))
            return rc;
        if (p->timer_lateness_ms < 0)
            return pd_diag_at(diag, doc, v, "timer_lateness must not be negative");
    }
    if ((v = pd_ymap_get(n, "sinks"))) {
        if (v->type != PD_YSEQ)
            return pd_diag_at(diag, doc, v, "sinks must be a list");
        p->sinks = v;
    }
    if ((v = pd_ymap_get(n, "kafka"))) {
        if (v->type != PD_YMAP)
            return pd_diag_at(diag, doc, v, "kafka must be a map of client settings");
        p->nkafka = v->n;
        p->kafka = pd_arena_alloc(a, sizeof(pd_kv) * (v->n ? v->n : 1));
        if (!p->kafka)
            return PD_ENOMEM;
        for (uint32_t i = 0; i < v->n; i++) {
            const char *k, *val;
            if ((rc = pd_ynode_str(doc, v->items[2 * i], &k, diag)) ||
                (rc = pd_ynode_str(doc, v->items[2 * i + 1], &val, diag)))
                return rc;
            for (uint32_t j = 0; j < i; j++)
                if (!strcmp(p->kafka[j].key, k))
                    return pd_diag_at(diag, doc, v->items[2 * i], "duplicate kafka setting '%s'",
                                      k);
            p->kafka[i].key = adup(a, k);
            p->kafka[i].value = adup(a, val);
            if (!p->kafka[i].key || !p->kafka[i].value)
                return PD_ENOMEM;
        }
    }
    return 0;
}

int pd_pipeline_load(const char *path, pd_pipeline **out, pd_diag *diag)
{
    pd_pipeline_impl *pi = calloc(1, sizeof(*pi));
    if (!pi)
        return PD_ENOMEM;
    pd_arena_init(&pi->arena, 8 * 1024);
    pi->pub.flap_toggles = 4;
    pi->pub.flap_window_ms = 3600 * 1000;
    pi->pub.timer_lateness_ms = 5 * 60 * 1000;
    int rc = pd_yaml_load_file(path, &pi->doc, diag);
    if (!rc) {
        pi->pub.doc = pi->doc;
        pi->pub.path = adup(&pi->arena, path);
        rc = pi->pub.path ? parse(pi, path, diag) : PD_ENOMEM;
    }
    if (rc) {
        pd_pipeline_destroy(&pi->pub);
        return rc;
    }
    *out = &pi->pub;
    return 0;
}

void pd_pipeline_destroy(pd_pipeline *p)
{
    if (!p)
        return;
    pd_pipeline_impl *pi = (pd_pipeline_impl *)p;
    pd_yaml_free(pi->doc);
    pd_arena_destroy(&pi->arena);
    free(pi);
}
