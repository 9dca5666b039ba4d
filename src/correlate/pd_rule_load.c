/* pd_rule_load.c: rule files (pipelines/RULES.md) into pd_rule structs. Every error is
 * "file:line:column: message"; unknown keys are errors. Strings are copied into the rule
 * set's arena, so the YAML document can be freed right after loading. */
#include "pd_correlate.h"
#include "pd_rule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ld {
    const pd_ydoc *doc;
    pd_diag *diag;
    pd_arena *arena;
} ld;

static const char *ld_strdup(ld *l, const char *s, size_t n)
{
    return pd_arena_strndup(l->arena, s, n);
}

static int ld_str(ld *l, const pd_ynode *n, const char **out)
{
    const char *s;
    int rc = pd_ynode_str(l->doc, n, &s, l->diag);
    if (rc)
        return rc;
    if (!s[0])
        return pd_diag_at(l->diag, l->doc, n, "empty string");
    *out = ld_strdup(l, s, strlen(s));
    return *out ? 0 : PD_ENOMEM;
}

static int ld_list(ld *l, const pd_ynode *n, const char *const **out, uint32_t *count)
{
    const char **items;
    uint32_t k;
    int rc = pd_ynode_strlist(l->doc, n, &items, &k, l->diag);
    if (rc)
        return rc;
    if (!k)
        return pd_diag_at(l->diag, l->doc, n, "empty list");
    const char **copy = pd_arena_alloc(l->arena, k * sizeof(*copy));
    if (!copy)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < k; i++) {
        if (!items[i][0])
            return pd_diag_at(l->diag, l->doc, n, "empty string in list");
        copy[i] = ld_strdup(l, items[i], strlen(items[i]));
        if (!copy[i])
            return PD_ENOMEM;
    }
    *out = copy;
    *count = k;
    return 0;
}

/* The n-th scalar node of a scalar-or-list value, for positioned errors. */
static const pd_ynode *list_item(const pd_ynode *n, uint32_t i)
{
    return n->type == PD_YSEQ && i < n->n ? n->items[i] : n;
}

static int ld_severity(ld *l, const pd_ynode *n, pd_severity *out)
{
    const char *s;
    int rc = pd_ynode_str(l->doc, n, &s, l->diag);
    if (rc)
        return rc;
    if (pd_severity_parse(pd_str_c(s), out))
        return pd_diag_at(l->diag, l->doc, n,
                          "unknown severity '%s' (expected informational, low, medium, high "
                          "or critical)",
                          s);
    return 0;
}

static int status_parse(pd_str s, pd_status *out)
{
    for (int i = 0; i < PD_STATUS__COUNT; i++)
        if (pd_str_ieq_c(s, pd_status_name((pd_status)i))) {
            *out = (pd_status)i;
            return 0;
        }
    return PD_EINVAL;
}

/* A scalar-or-list of names turned into a bit mask by parse. */
static int ld_mask(ld *l, const pd_ynode *n, const char *what, const char *expected,
                   int (*parse)(pd_str, int *), uint32_t *out)
{
    const char **items;
    uint32_t k;
    int rc = pd_ynode_strlist(l->doc, n, &items, &k, l->diag);
    if (rc)
        return rc;
    if (!k)
        return pd_diag_at(l->diag, l->doc, n, "empty list");
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        int v;
        if (parse(pd_str_c(items[i]), &v))
            return pd_diag_at(l->diag, l->doc, list_item(n, i), "unknown %s '%s' (expected %s)",
                              what, items[i], expected);
        m |= 1u << v;
    }
    *out = m;
    return 0;
}

static int p_kind(pd_str s, int *v)
{
    pd_kind k = PD_KIND_ASSESSMENT;
    int rc = pd_kind_parse(s, &k);
    *v = (int)k;
    return rc;
}
static int p_format(pd_str s, int *v)
{
    pd_format f = PD_FMT_AUTO;
    int rc = pd_format_parse(s, &f);
    if (!rc && f == PD_FMT_AUTO)
        return PD_EINVAL;
    *v = (int)f;
    return rc;
}
static int p_status(pd_str s, int *v)
{
    pd_status st = PD_STATUS_UNKNOWN;
    int rc = status_parse(s, &st);
    *v = (int)st;
    return rc;
}
static int p_tactic(pd_str s, int *v)
{
    pd_tactic t = PD_TACTIC_NONE;
    int rc = pd_tactic_parse(s, &t);
    if (!rc && t == PD_TACTIC_NONE)
        return PD_EINVAL;
    *v = (int)t;
    return rc;
}

static int ld_controls(ld *l, const pd_ynode *n, pd_rule_match *m)
{
    static const char *const keys[] = {"keys", "roles", "categories", NULL};
    int rc = pd_ymap_check(l->doc, n, keys, l->diag);
    if (rc)
        return rc;
    const pd_ynode *v;
    if ((v = pd_ymap_get(n, "keys")) && (rc = ld_list(l, v, &m->control_keys, &m->ncontrol_keys)))
        return rc;
    if ((v = pd_ymap_get(n, "roles")) &&
        (rc = ld_list(l, v, &m->control_roles, &m->ncontrol_roles)))
        return rc;
    if ((v = pd_ymap_get(n, "categories")) &&
        (rc = ld_list(l, v, &m->control_categories, &m->ncontrol_categories)))
        return rc;
    if (!m->ncontrol_keys && !m->ncontrol_roles && !m->ncontrol_categories)
        return pd_diag_at(l->diag, l->doc, n, "controls needs keys, roles or categories");
    return 0;
}

static int ld_match(ld *l, const pd_ynode *n, pd_rule_match *m)
{
    static const char *const keys[] = {"kind",     "signal", "min-severity", "alert-type",
                                       "tactics",  "source", "status",       "previous-status",
                                       "controls", NULL};
    int rc = pd_ymap_check(l->doc, n, keys, l->diag);
    if (rc)
        return rc;
    memset(m, 0, sizeof(*m));
    const pd_ynode *v;
    if ((v = pd_ymap_get(n, "signal"))) {
        m->signals = true;
        if ((rc = ld_list(l, v, &m->signal_types, &m->nsignal_types)))
            return rc;
        static const char *const event_only[] = {"kind",   "alert-type",      "tactics", "source",
                                                 "status", "previous-status", NULL};
        for (int i = 0; event_only[i]; i++)
            if ((v = pd_ymap_get(n, event_only[i])))
                return pd_diag_at(l->diag, l->doc, v,
                                  "'%s' applies to events; this match is on drift signals",
                                  event_only[i]);
    }
    if ((v = pd_ymap_get(n, "kind")) &&
        (rc =
             ld_mask(l, v, "kind", "assessment, alert, vulnerability, score, compliance, inventory",
                     p_kind, &m->kinds)))
        return rc;
    if ((v = pd_ymap_get(n, "min-severity")) && (rc = ld_severity(l, v, &m->min_severity)))
        return rc;
    if ((v = pd_ymap_get(n, "alert-type")) &&
        (rc = ld_list(l, v, &m->alert_types, &m->nalert_types)))
        return rc;
    if ((v = pd_ymap_get(n, "tactics")) &&
        (rc = ld_mask(l, v, "tactic", "an ATT&CK tactic name or id", p_tactic, &m->tactics)))
        return rc;
    if ((v = pd_ymap_get(n, "source")) &&
        (rc = ld_mask(l, v, "source", "defender, asff, scc or ocsf", p_format, &m->formats)))
        return rc;
    if ((v = pd_ymap_get(n, "status")) &&
        (rc = ld_mask(l, v, "status", "healthy, unhealthy, not_applicable, unknown, removed",
                      p_status, &m->statuses)))
        return rc;
    if ((v = pd_ymap_get(n, "previous-status")) &&
        (rc = ld_mask(l, v, "status", "healthy, unhealthy, not_applicable, unknown, removed",
                      p_status, &m->prev_statuses)))
        return rc;
    if ((v = pd_ymap_get(n, "controls")) && (rc = ld_controls(l, v, m)))
        return rc;
    return 0;
}

static int ld_field(ld *l, const pd_ynode *n, bool allow_tactic, pd_rule_field *out)
{
    const char *s;
    int rc = pd_ynode_str(l->doc, n, &s, l->diag);
    if (rc)
        return rc;
    static const struct {
        const char *name;
        pd_rule_field f;
    } names[] = {{"resource", PD_RF_RESOURCE},     {"alert-type", PD_RF_ALERT_TYPE},
                 {"alert_type", PD_RF_ALERT_TYPE}, {"account", PD_RF_ACCOUNT},
                 {"control", PD_RF_CONTROL},       {"tactic", PD_RF_TACTIC}};
    for (size_t i = 0; i < PD_ARRAY_LEN(names); i++)
        if (pd_str_ieq_c(pd_str_c(s), names[i].name) &&
            (allow_tactic || names[i].f != PD_RF_TACTIC)) {
            *out = names[i].f;
            return 0;
        }
    return pd_diag_at(l->diag, l->doc, n,
                      "unknown field '%s' (expected resource, alert-type, "
                      "account, control%s)",
                      s, allow_tactic ? " or tactic" : "");
}

static int ld_condition(ld *l, const pd_ynode *n, pd_rule *r)
{
    static const char *const keys[] = {"gte", "gt", "field", NULL};
    int rc = pd_ymap_check(l->doc, n, keys, l->diag);
    if (rc)
        return rc;
    const pd_ynode *gte = pd_ymap_get(n, "gte"), *gt = pd_ymap_get(n, "gt"),
                   *f = pd_ymap_get(n, "field");
    if (gte && gt)
        return pd_diag_at(l->diag, l->doc, gt, "use one of gte and gt");
    int64_t v;
    if (gte) {
        if ((rc = pd_ynode_int(l->doc, gte, 1, 100000, &v, l->diag)))
            return rc;
        r->threshold = (uint32_t)v;
    } else if (gt) {
        if ((rc = pd_ynode_int(l->doc, gt, 0, 99999, &v, l->diag)))
            return rc;
        r->threshold = (uint32_t)v + 1;
    } else {
        return pd_diag_at(l->diag, l->doc, n, "condition needs gte or gt");
    }
    if (f && (rc = ld_field(l, f, true, &r->count_field)))
        return rc;
    return 0;
}

static int ld_posture(ld *l, const pd_ynode *n, pd_rule_posture *p)
{
    static const char *const keys[] = {"violates", "open-findings", "require", NULL};
    int rc = pd_ymap_check(l->doc, n, keys, l->diag);
    if (rc)
        return rc;
    p->enabled = true;
    const pd_ynode *v;
    if ((v = pd_ymap_get(n, "violates"))) {
        if (v->type == PD_YSCALAR && !strcmp(v->str, "any"))
            p->any_goal = true;
        else if ((rc = ld_list(l, v, &p->goals, &p->ngoals)))
            return rc;
    }
    if ((v = pd_ymap_get(n, "open-findings")) && (rc = ld_severity(l, v, &p->min_finding)))
        return rc;
    if ((v = pd_ymap_get(n, "require"))) {
        const char *s;
        if ((rc = pd_ynode_str(l->doc, v, &s, l->diag)))
            return rc;
        if (!strcmp(s, "all"))
            p->require_all = true;
        else if (strcmp(s, "any"))
            return pd_diag_at(l->diag, l->doc, v, "require is 'any' or 'all', not '%s'", s);
    }
    if (!p->any_goal && !p->ngoals && !p->min_finding)
        return pd_diag_at(l->diag, l->doc, n, "posture needs violates or open-findings");
    return 0;
}

static int ld_steps(ld *l, const pd_ynode *n, pd_rule *r)
{
    if (n->type != PD_YSEQ)
        return pd_diag_at(l->diag, l->doc, n, "steps must be a list");
    if (n->n > PD_RULE_MAX_STEPS)
        return pd_diag_at(l->diag, l->doc, n, "at most %d steps", PD_RULE_MAX_STEPS);
    static const char *const keys[] = {"name", "match", NULL};
    for (uint32_t i = 0; i < n->n; i++) {
        const pd_ynode *s = n->items[i];
        int rc = pd_ymap_check(l->doc, s, keys, l->diag);
        if (rc)
            return rc;
        const pd_ynode *name = pd_ymap_get(s, "name"), *m = pd_ymap_get(s, "match");
        if (!m)
            return pd_diag_at(l->diag, l->doc, s, "step needs match");
        if (name && (rc = ld_str(l, name, &r->steps[i].name)))
            return rc;
        if ((rc = ld_match(l, m, &r->steps[i].match)))
            return rc;
    }
    r->nsteps = n->n;
    return 0;
}

static bool id_ok(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return strlen(s) <= 64;
}

static int ld_rule(ld *l, const pd_ynode *n, pd_rule *r)
{
    static const char *const keys[] = {
        "id",       "title",     "description", "type",     "match",    "steps",   "group-by",
        "timespan", "condition", "posture",     "severity", "suppress", "actions", NULL};
    int rc = pd_ymap_check(l->doc, n, keys, l->diag);
    if (rc)
        return rc;
    memset(r, 0, sizeof(*r));
    const pd_ynode *v;
    static const char *const required[] = {"id",       "title",     "type",
                                           "timespan", "condition", "severity"};
    for (size_t i = 0; i < PD_ARRAY_LEN(required); i++)
        if (!pd_ymap_get(n, required[i]))
            return pd_diag_at(l->diag, l->doc, n, "rule needs '%s'", required[i]);
    v = pd_ymap_get(n, "id");
    if ((rc = ld_str(l, v, &r->id)))
        return rc;
    if (!id_ok(r->id))
        return pd_diag_at(l->diag, l->doc, v,
                          "rule id '%s' must match [a-z0-9][a-z0-9-]* (at most 64 chars)", r->id);
    if ((rc = ld_str(l, pd_ymap_get(n, "title"), &r->title)))
        return rc;
    if ((v = pd_ymap_get(n, "description"))) {
        const char *d;
        if ((rc = pd_ynode_str(l->doc, v, &d, l->diag)))
            return rc;
    }
    v = pd_ymap_get(n, "type");
    const char *type;
    if ((rc = pd_ynode_str(l->doc, v, &type, l->diag)))
        return rc;
    int t = 0;
    while (t < PD_RULE__TYPE_COUNT && strcmp(type, pd_rule_type_name((pd_rule_type)t)))
        t++;
    if (t == PD_RULE__TYPE_COUNT)
        return pd_diag_at(l->diag, l->doc, v,
                          "unknown type '%s' (expected event_count, value_count, temporal or "
                          "temporal_ordered)",
                          type);
    r->type = (pd_rule_type)t;
    const pd_ynode *match = pd_ymap_get(n, "match"), *steps = pd_ymap_get(n, "steps");
    bool want_steps = r->type == PD_RULE_TEMPORAL;
    if (match && steps)
        return pd_diag_at(l->diag, l->doc, steps, "use match or steps, not both");
    if (match && (rc = ld_match(l, match, &r->match)))
        return rc;
    if (steps) {
        if (r->type == PD_RULE_EVENT_COUNT || r->type == PD_RULE_VALUE_COUNT)
            return pd_diag_at(l->diag, l->doc, steps, "%s takes match, not steps", type);
        if ((rc = ld_steps(l, steps, r)))
            return rc;
    }
    if (!match && !steps)
        return pd_diag_at(l->diag, l->doc, n, "rule needs %s", want_steps ? "steps" : "match");
    if ((v = pd_ymap_get(n, "group-by"))) {
        if (v->type == PD_YSEQ) {
            if (v->n > PD_RULE_MAX_GROUP_BY)
                return pd_diag_at(l->diag, l->doc, v, "at most %d group-by fields",
                                  PD_RULE_MAX_GROUP_BY);
            for (uint32_t i = 0; i < v->n; i++)
                if ((rc = ld_field(l, v->items[i], false, &r->group_by[i])))
                    return rc;
            r->ngroup_by = v->n;
        } else {
            if ((rc = ld_field(l, v, false, &r->group_by[0])))
                return rc;
            r->ngroup_by = 1;
        }
    }
    if ((rc = pd_ynode_duration(l->doc, pd_ymap_get(n, "timespan"), &r->timespan_ms, l->diag)))
        return rc;
    if (r->timespan_ms <= 0)
        return pd_diag_at(l->diag, l->doc, pd_ymap_get(n, "timespan"), "timespan must be positive");
    v = pd_ymap_get(n, "condition");
    if ((rc = ld_condition(l, v, r)))
        return rc;
    if (r->type == PD_RULE_VALUE_COUNT && r->count_field == PD_RF_NONE)
        return pd_diag_at(l->diag, l->doc, v, "value_count needs condition.field");
    if (r->type == PD_RULE_TEMPORAL_ORDERED && !r->nsteps && r->count_field != PD_RF_TACTIC)
        return pd_diag_at(l->diag, l->doc, v,
                          "temporal_ordered without steps needs field: tactic (the kill chain)");
    if (r->nsteps && (r->type == PD_RULE_TEMPORAL || r->type == PD_RULE_TEMPORAL_ORDERED)) {
        if (r->nsteps < 2)
            return pd_diag_at(l->diag, l->doc, steps, "%s needs at least 2 steps", type);
        if (r->threshold != r->nsteps && r->threshold != 1)
            return pd_diag_at(l->diag, l->doc, v,
                              "with steps the condition is gte: %u (every step)", r->nsteps);
        r->threshold = r->nsteps;
    }
    if ((v = pd_ymap_get(n, "posture")) && (rc = ld_posture(l, v, &r->posture)))
        return rc;
    if ((rc = ld_severity(l, pd_ymap_get(n, "severity"), &r->severity)))
        return rc;
    if ((v = pd_ymap_get(n, "suppress"))) {
        if ((rc = pd_ynode_duration(l->doc, v, &r->suppress_ms, l->diag)))
            return rc;
        if (r->suppress_ms <= 0)
            return pd_diag_at(l->diag, l->doc, v, "suppress must be positive");
    } else {
        r->suppress_ms = r->timespan_ms;
    }
    if ((v = pd_ymap_get(n, "actions")) && (rc = ld_list(l, v, &r->actions, &r->nactions)))
        return rc;
    char err[256];
    if (pd_rule_check(r, err, sizeof(err)))
        return pd_diag_at(l->diag, l->doc, n, "%s", err);
    return 0;
}

int pd_rule_set_load_doc(pd_rule_set **set, const pd_ydoc *doc, pd_diag *diag)
{
    const pd_ynode *root = pd_yaml_root(doc);
    if (!root)
        return pd_diag_at(diag, doc, NULL, "empty rule file");
    static const char *const top[] = {"rules", NULL};
    int rc = pd_ymap_check(doc, root, top, diag);
    if (rc)
        return rc;
    const pd_ynode *rules = pd_ymap_get(root, "rules");
    if (!rules || rules->type != PD_YSEQ)
        return pd_diag_at(diag, doc, rules ? rules : root, "'rules' must be a list of rules");
    pd_rule_set *tmp = NULL;
    pd_rule_set **dst = set ? set : &tmp;
    uint32_t base = pd_rule_set_count(*dst);
    if ((rc = pd_rule_set_create(dst)))
        goto done;
    ld l = {doc, diag, &(*dst)->arena};
    for (uint32_t i = 0; i < rules->n; i++) {
        pd_rule r;
        if ((rc = ld_rule(&l, rules->items[i], &r)))
            goto fail;
        for (uint32_t j = 0; j < (*dst)->n; j++)
            if (!strcmp((*dst)->rules[j].id, r.id)) {
                rc = pd_diag_at(diag, doc, pd_ymap_get(rules->items[i], "id"),
                                "duplicate rule id '%s'", r.id);
                goto fail;
            }
        if ((rc = pd_rule_set_add(dst, &r)))
            goto fail;
    }
    goto done;
fail:
    (*dst)->n = base; /* a file loads whole or not at all (its strings stay in the arena) */
done:
    pd_rule_set_destroy(tmp);
    return rc;
}

int pd_rule_set_load_file(pd_rule_set **set, const char *path, pd_diag *diag)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_file(path, &doc, diag);
    if (!rc)
        rc = pd_rule_set_load_doc(set, doc, diag);
    pd_yaml_free(doc);
    return rc;
}

int pd_rule_set_load_buf(pd_rule_set **set, const char *name, const char *buf, size_t len,
                         pd_diag *diag)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_buf(name, buf, len, &doc, diag);
    if (!rc)
        rc = pd_rule_set_load_doc(set, doc, diag);
    pd_yaml_free(doc);
    return rc;
}
