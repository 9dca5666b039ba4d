#include "pd_goals.h"

#include "pd_arena.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct pd_goal_set {
    pd_goal *goals;
    uint32_t n, cap;
    pd_arena arena;
};

static const char *const kind_names[PD_GOAL__COUNT] = {"control", "coverage", "sla", "score",
                                                       "compliance"};

const char *pd_goal_kind_name(pd_goal_kind k)
{
    return (unsigned)k < PD_GOAL__COUNT ? kind_names[k] : "unknown";
}

int pd_goal_kind_parse(pd_str s, pd_goal_kind *out)
{
    for (int i = 0; i < PD_GOAL__COUNT; i++)
        if (pd_str_ieq_c(s, kind_names[i])) {
            *out = (pd_goal_kind)i;
            return 0;
        }
    return PD_EINVAL;
}

bool pd_goal_cmp(pd_cmp cmp, double value, double target)
{
    /* A small epsilon so that 98% written as 0.98 * 100 compares as people expect. */
    const double eps = 1e-9;
    switch (cmp) {
    case PD_CMP_GE:
        return value >= target - eps;
    case PD_CMP_GT:
        return value > target + eps;
    case PD_CMP_LE:
        return value <= target + eps;
    case PD_CMP_LT:
        return value < target - eps;
    }
    return false;
}

int pd_goal_target_parse(const char *s, pd_cmp *cmp, double *value, bool *pct)
{
    while (*s == ' ')
        s++;
    pd_cmp c;
    bool explicit_op = true;
    if (!strncmp(s, ">=", 2)) {
        c = PD_CMP_GE;
        s += 2;
    } else if (!strncmp(s, "<=", 2)) {
        c = PD_CMP_LE;
        s += 2;
    } else if (*s == '>') {
        c = PD_CMP_GT;
        s++;
    } else if (*s == '<') {
        c = PD_CMP_LT;
        s++;
    } else {
        c = PD_CMP_GE;
        explicit_op = false;
    }
    while (*s == ' ')
        s++;
    if (!*s || !(isdigit((unsigned char)*s) || *s == '.'))
        return PD_EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return PD_EINVAL;
    bool p = false;
    while (*end == ' ')
        end++;
    if (*end == '%') {
        p = true;
        end++;
    }
    while (*end == ' ')
        end++;
    if (*end)
        return PD_EINVAL;
    if (p && v > 100)
        return PD_EINVAL;
    if (!explicit_op && !p)
        c = PD_CMP_LE; /* a bare count is a ceiling on violators */
    *cmp = c;
    *value = v;
    *pct = p;
    return 0;
}

static bool valid_id(const char *s)
{
    if (!*s || !(islower((unsigned char)*s) || isdigit((unsigned char)*s)))
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
            return false;
    return true;
}

static char *dup(pd_goal_set *set, const char *s)
{
    return pd_arena_strndup(&set->arena, s, strlen(s));
}

static char *dup_lower(pd_goal_set *set, const char *s)
{
    char *d = dup(set, s);
    if (d)
        for (char *q = d; *q; q++)
            *q = (char)tolower((unsigned char)*q);
    return d;
}

/* A string list copied into the set's arena. */
static int strlist(pd_goal_set *set, const pd_ydoc *doc, const pd_ynode *n, const char ***out,
                   uint32_t *count, pd_diag *diag)
{
    const char **items;
    uint32_t k;
    int rc = pd_ynode_strlist(doc, n, &items, &k, diag);
    if (rc)
        return rc;
    const char **copy = pd_arena_alloc(&set->arena, sizeof(char *) * (k ? k : 1));
    if (!copy)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < k; i++)
        if (!(copy[i] = dup(set, items[i])))
            return PD_ENOMEM;
    *out = copy;
    *count = k;
    return 0;
}

static int parse_scope(pd_goal_set *set, const pd_ydoc *doc, const pd_ynode *n, pd_goal_scope *sc,
                       pd_diag *diag)
{
    static const char *const keys[] = {"clouds", "accounts", "resource_groups", "resource_types",
                                       "names",  "tags",     "regions",         NULL};
    int rc = pd_ymap_check(doc, n, keys, diag);
    if (rc)
        return rc;
    const pd_ynode *v;
    if ((v = pd_ymap_get(n, "clouds"))) {
        const char **cl;
        uint32_t k;
        if ((rc = pd_ynode_strlist(doc, v, &cl, &k, diag)))
            return rc;
        for (uint32_t i = 0; i < k; i++) {
            pd_cloud c;
            if (!strcmp(cl[i], "*")) {
                sc->clouds = 0;
                break;
            }
            if (pd_cloud_parse(pd_str_c(cl[i]), &c) || c == PD_CLOUD_UNKNOWN) {
                const pd_ynode *at = v->type == PD_YSEQ ? v->items[i] : v;
                return pd_diag_at(diag, doc, at,
                                  "unknown cloud '%s' (expected one of: azure, aws, gcp, onprem)",
                                  cl[i]);
            }
            sc->clouds |= 1u << c;
        }
    }
    struct {
        const char *key;
        const char ***list;
        uint32_t *n;
    } lists[] = {{"accounts", &sc->accounts, &sc->naccounts},
                 {"resource_groups", &sc->groups, &sc->ngroups},
                 {"resource_types", &sc->types, &sc->ntypes},
                 {"names", &sc->names, &sc->nnames},
                 {"regions", &sc->regions, &sc->nregions}};
    for (size_t i = 0; i < PD_ARRAY_LEN(lists); i++) {
        if ((v = pd_ymap_get(n, lists[i].key)) &&
            (rc = strlist(set, doc, v, lists[i].list, lists[i].n, diag)))
            return rc;
    }
    if ((v = pd_ymap_get(n, "tags"))) {
        if (v->type != PD_YMAP)
            return pd_diag_at(diag, doc, v, "tags must be a map of tag name to value(s)");
        sc->ntags = v->n;
        sc->tags = pd_arena_alloc(&set->arena, sizeof(pd_goal_tag) * (v->n ? v->n : 1));
        if (!sc->tags)
            return PD_ENOMEM;
        for (uint32_t i = 0; i < v->n; i++) {
            const char *k;
            if ((rc = pd_ynode_str(doc, v->items[2 * i], &k, diag)))
                return rc;
            if (!(sc->tags[i].key = dup(set, k)))
                return PD_ENOMEM;
            if ((rc = strlist(set, doc, v->items[2 * i + 1], &sc->tags[i].values,
                              &sc->tags[i].nvalues, diag)))
                return rc;
        }
    }
    return 0;
}

static int parse_controls(pd_goal_set *set, const pd_ydoc *doc, const pd_ynode *n, pd_goal *g,
                          pd_diag *diag)
{
    if (n->type != PD_YSEQ)
        return pd_diag_at(diag, doc, n,
                          "controls must be a list of {key: ...}, {framework: ...} or "
                          "{category: ...}");
    g->ncontrols = n->n;
    g->controls = pd_arena_alloc(&set->arena, sizeof(pd_goal_sel) * (n->n ? n->n : 1));
    if (!g->controls)
        return PD_ENOMEM;
    static const char *const keys[] = {"key", "framework", "category", NULL};
    for (uint32_t i = 0; i < n->n; i++) {
        const pd_ynode *it = n->items[i];
        int rc = pd_ymap_check(doc, it, keys, diag);
        if (rc)
            return rc;
        if (it->n != 1)
            return pd_diag_at(diag, doc, it,
                              "a control selector has exactly one of key, framework, category");
        const char *k = it->items[0]->str, *val;
        if ((rc = pd_ynode_str(doc, it->items[1], &val, diag)))
            return rc;
        if (!*val)
            return pd_diag_at(diag, doc, it->items[1], "empty control %s", k);
        pd_goal_sel *s = &g->controls[i];
        s->kind = !strcmp(k, "key")         ? PD_SEL_KEY
                  : !strcmp(k, "framework") ? PD_SEL_FRAMEWORK
                                            : PD_SEL_CATEGORY;
        /* Keys are compared with the canonical (lowercase) control key. */
        if (!(s->value = s->kind == PD_SEL_KEY ? dup_lower(set, val) : dup(set, val)))
            return PD_ENOMEM;
    }
    return 0;
}

static int parse_pct_or_num(const pd_ydoc *doc, const pd_ynode *n, double *out, pd_diag *diag)
{
    const char *s;
    int rc = pd_ynode_str(doc, n, &s, diag);
    if (rc)
        return rc;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return pd_diag_at(diag, doc, n, "expected a non-negative number or percentage, got '%s'",
                          s);
    if (*end == '%')
        end++;
    if (*end)
        return pd_diag_at(diag, doc, n, "expected a non-negative number or percentage, got '%s'",
                          s);
    *out = v;
    return 0;
}

static int parse_flapping(const pd_ydoc *doc, const pd_ynode *n, uint32_t *toggles, int64_t *window,
                          pd_diag *diag)
{
    static const char *const keys[] = {"toggles", "window", NULL};
    int rc = pd_ymap_check(doc, n, keys, diag);
    if (rc)
        return rc;
    const pd_ynode *v;
    if ((v = pd_ymap_get(n, "toggles"))) {
        int64_t t;
        if ((rc = pd_ynode_int(doc, v, 1, 250, &t, diag)))
            return rc;
        *toggles = (uint32_t)t;
    }
    if ((v = pd_ymap_get(n, "window"))) {
        if ((rc = pd_ynode_duration(doc, v, window, diag)))
            return rc;
        if (*window <= 0)
            return pd_diag_at(diag, doc, v, "window must be positive");
    }
    return 0;
}

/* Flapping settings are shared by goals and pipelines. */
int pd_goals_parse_flapping(const pd_ydoc *doc, const pd_ynode *n, uint32_t *toggles,
                            int64_t *window, pd_diag *diag);
int pd_goals_parse_flapping(const pd_ydoc *doc, const pd_ynode *n, uint32_t *toggles,
                            int64_t *window, pd_diag *diag)
{
    return parse_flapping(doc, n, toggles, window, diag);
}

static int parse_goal(pd_goal_set *set, const pd_ydoc *doc, const pd_ynode *n, pd_goal *g,
                      pd_diag *diag)
{
    static const char *const keys[] = {
        "id",         "title",        "description", "kind",     "scope",
        "controls",   "min_severity", "target",      "max_age",  "stale_after",
        "hysteresis", "severity",     "standard",    "flapping", NULL};
    int rc = pd_ymap_check(doc, n, keys, diag);
    if (rc)
        return rc;
    memset(g, 0, sizeof(*g));
    g->file = pd_yaml_name(doc);
    g->line = n->line;
    g->col = n->col;
    g->severity = PD_SEV_MEDIUM;
    const pd_ynode *v;
    const char *s;

    if (!(v = pd_ymap_get(n, "id")))
        return pd_diag_at(diag, doc, n, "goal without an id");
    if ((rc = pd_ynode_str(doc, v, &s, diag)))
        return rc;
    if (!valid_id(s))
        return pd_diag_at(diag, doc, v, "goal id '%s' must match [a-z0-9][a-z0-9-]*", s);
    for (uint32_t i = 0; i < set->n; i++)
        if (!strcmp(set->goals[i].id, s))
            return pd_diag_at(diag, doc, v, "duplicate goal id '%s' (first defined at %s:%u:%u)", s,
                              set->goals[i].file, set->goals[i].line, set->goals[i].col);
    if (!(g->id = dup(set, s)))
        return PD_ENOMEM;

    if ((v = pd_ymap_get(n, "title"))) {
        if ((rc = pd_ynode_str(doc, v, &s, diag)))
            return rc;
        g->title = dup(set, s);
    } else {
        g->title = g->id;
    }
    if (!g->title)
        return PD_ENOMEM;

    if (!(v = pd_ymap_get(n, "kind")))
        return pd_diag_at(diag, doc, n,
                          "goal '%s' has no kind (expected one of: control, coverage, sla, score, "
                          "compliance)",
                          g->id);
    if ((rc = pd_ynode_str(doc, v, &s, diag)))
        return rc;
    if (pd_goal_kind_parse(pd_str_c(s), &g->kind))
        return pd_diag_at(diag, doc, v,
                          "unknown kind '%s' (expected one of: control, coverage, sla, score, "
                          "compliance)",
                          s);

    if ((v = pd_ymap_get(n, "scope")) && (rc = parse_scope(set, doc, v, &g->scope, diag)))
        return rc;
    if ((v = pd_ymap_get(n, "controls")) && (rc = parse_controls(set, doc, v, g, diag)))
        return rc;
    if (g->ncontrols == 0 &&
        (g->kind == PD_GOAL_CONTROL || g->kind == PD_GOAL_COVERAGE || g->kind == PD_GOAL_SLA))
        return pd_diag_at(diag, doc, n, "%s goal '%s' needs a non-empty controls list",
                          pd_goal_kind_name(g->kind), g->id);

    if ((v = pd_ymap_get(n, "min_severity"))) {
        if ((rc = pd_ynode_str(doc, v, &s, diag)))
            return rc;
        if (pd_severity_parse(pd_str_c(s), &g->min_severity))
            return pd_diag_at(diag, doc, v,
                              "unknown severity '%s' (expected one of: informational, low, "
                              "medium, high, critical)",
                              s);
    }
    if ((v = pd_ymap_get(n, "severity"))) {
        if ((rc = pd_ynode_str(doc, v, &s, diag)))
            return rc;
        if (pd_severity_parse(pd_str_c(s), &g->severity) || g->severity == PD_SEV_UNKNOWN)
            return pd_diag_at(diag, doc, v,
                              "unknown severity '%s' (expected one of: informational, low, "
                              "medium, high, critical)",
                              s);
    }

    bool pct_kind =
        g->kind == PD_GOAL_COVERAGE || g->kind == PD_GOAL_SCORE || g->kind == PD_GOAL_COMPLIANCE;
    if ((v = pd_ymap_get(n, "target"))) {
        if ((rc = pd_ynode_str(doc, v, &s, diag)))
            return rc;
        if (pd_goal_target_parse(s, &g->cmp, &g->target, &g->target_pct))
            return pd_diag_at(diag, doc, v,
                              "bad target '%s' (expected e.g. \">= 98%%\" or \"<= 0\")", s);
        if (pct_kind && !g->target_pct)
            return pd_diag_at(diag, doc, v,
                              "a %s goal's target is a percentage, e.g. \">= 98%%\" (got '%s')",
                              pd_goal_kind_name(g->kind), s);
        if (!pct_kind && g->target_pct)
            return pd_diag_at(diag, doc, v,
                              "a %s goal's target is a count of violators, e.g. \"<= 0\" (got "
                              "'%s')",
                              pd_goal_kind_name(g->kind), s);
        g->target_text = dup(set, s);
    } else if (pct_kind) {
        return pd_diag_at(diag, doc, n, "%s goal '%s' needs a target, e.g. \">= 98%%\"",
                          pd_goal_kind_name(g->kind), g->id);
    } else {
        g->cmp = PD_CMP_LE;
        g->target = 0;
        g->target_text = "<= 0";
    }
    if (!g->target_text)
        return PD_ENOMEM;

    if ((v = pd_ymap_get(n, "max_age"))) {
        if (g->kind != PD_GOAL_SLA)
            return pd_diag_at(diag, doc, v, "max_age applies to sla goals only");
        if ((rc = pd_ynode_duration(doc, v, &g->max_age_ms, diag)))
            return rc;
        if (g->max_age_ms <= 0)
            return pd_diag_at(diag, doc, v, "max_age must be positive");
    } else if (g->kind == PD_GOAL_SLA) {
        return pd_diag_at(diag, doc, n, "sla goal '%s' needs max_age, e.g. 72h", g->id);
    }
    if ((v = pd_ymap_get(n, "stale_after"))) {
        if ((rc = pd_ynode_duration(doc, v, &g->stale_after_ms, diag)))
            return rc;
        if (g->stale_after_ms <= 0)
            return pd_diag_at(diag, doc, v, "stale_after must be positive");
    }
    if ((v = pd_ymap_get(n, "hysteresis")) && (rc = parse_pct_or_num(doc, v, &g->hysteresis, diag)))
        return rc;
    if ((v = pd_ymap_get(n, "standard"))) {
        if (g->kind != PD_GOAL_COMPLIANCE)
            return pd_diag_at(diag, doc, v, "standard applies to compliance goals only");
        if ((rc = pd_ynode_str(doc, v, &s, diag)))
            return rc;
        if (!(g->standard = dup(set, s)))
            return PD_ENOMEM;
    }
    if ((v = pd_ymap_get(n, "flapping")) &&
        (rc = parse_flapping(doc, v, &g->flap_toggles, &g->flap_window_ms, diag)))
        return rc;
    return 0;
}

int pd_goal_set_load_doc(pd_goal_set **setp, const pd_ydoc *doc, const pd_ynode *goals,
                         pd_diag *diag)
{
    if (!*setp) {
        pd_goal_set *s = calloc(1, sizeof(*s));
        if (!s)
            return PD_ENOMEM;
        pd_arena_init(&s->arena, 16 * 1024);
        *setp = s;
    }
    pd_goal_set *set = *setp;
    if (!goals || goals->type != PD_YSEQ)
        return pd_diag_at(diag, doc, goals, "goals must be a list");
    uint32_t n0 = set->n;
    for (uint32_t i = 0; i < goals->n; i++) {
        if (set->n == PD_GOALS_MAX) {
            set->n = n0;
            return pd_diag_at(diag, doc, goals->items[i], "too many goals (at most %d)",
                              PD_GOALS_MAX);
        }
        if (set->n == set->cap) {
            uint32_t nc = set->cap ? set->cap * 2 : 16;
            pd_goal *ng = realloc(set->goals, nc * sizeof(pd_goal));
            if (!ng) {
                set->n = n0;
                return PD_ENOMEM;
            }
            set->goals = ng;
            set->cap = nc;
        }
        int rc = parse_goal(set, doc, goals->items[i], &set->goals[set->n], diag);
        if (rc) {
            set->n = n0;
            return rc;
        }
        /* The file name outlives the document. */
        set->goals[set->n].file = dup(set, pd_yaml_name(doc));
        set->n++;
    }
    return 0;
}

static int load_root(pd_goal_set **set, pd_ydoc *doc, pd_diag *diag)
{
    const pd_ynode *root = pd_yaml_root(doc);
    if (!root)
        return pd_diag_at(diag, doc, NULL, "empty goal file (expected a top-level 'goals:' list)");
    static const char *const keys[] = {"goals", "version", NULL};
    int rc = pd_ymap_check(doc, root, keys, diag);
    if (rc)
        return rc;
    const pd_ynode *g = pd_ymap_get(root, "goals");
    if (!g)
        return pd_diag_at(diag, doc, root, "missing top-level 'goals:' list");
    return pd_goal_set_load_doc(set, doc, g, diag);
}

int pd_goal_set_load_file(pd_goal_set **set, const char *path, pd_diag *diag)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_file(path, &doc, diag);
    if (rc)
        return rc;
    rc = load_root(set, doc, diag);
    pd_yaml_free(doc);
    return rc;
}

int pd_goal_set_load_buf(pd_goal_set **set, const char *name, const char *buf, size_t len,
                         pd_diag *diag)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_buf(name, buf, len, &doc, diag);
    if (rc)
        return rc;
    rc = load_root(set, doc, diag);
    pd_yaml_free(doc);
    return rc;
}

void pd_goal_set_destroy(pd_goal_set *set)
{
    if (!set)
        return;
    free(set->goals);
    pd_arena_destroy(&set->arena);
    free(set);
}

uint32_t pd_goal_set_count(const pd_goal_set *set)
{
    return set ? set->n : 0;
}

const pd_goal *pd_goal_set_at(const pd_goal_set *set, uint32_t i)
{
    return set && i < set->n ? &set->goals[i] : NULL;
}

int pd_goal_set_index(const pd_goal_set *set, pd_str id, uint32_t *out)
{
    for (uint32_t i = 0; set && i < set->n; i++)
        if (pd_str_eq_c(id, set->goals[i].id)) {
            *out = i;
            return 0;
        }
    return PD_ENOTFOUND;
}
