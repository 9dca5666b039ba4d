#include "pd_controls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[PD_ROLE__COUNT] = {
    [PD_ROLE_EDR] = "edr",
    [PD_ROLE_ANTIMALWARE] = "antimalware",
    [PD_ROLE_FIM] = "fim",
    [PD_ROLE_VULNERABILITY_ASSESSMENT] = "vulnerability_assessment",
    [PD_ROLE_LOG_COLLECTION] = "log_collection",
    [PD_ROLE_VULNERABILITY_FINDINGS] = "vulnerability_findings",
    [PD_ROLE_SYSTEM_UPDATES] = "system_updates",
    [PD_ROLE_BASELINE] = "baseline",
    [PD_ROLE_JIT] = "jit",
    [PD_ROLE_MANAGEMENT_PORTS] = "management_ports",
    [PD_ROLE_NETWORK_EXPOSURE] = "network_exposure",
    [PD_ROLE_DEFENDER_PLAN] = "defender_plan",
    [PD_ROLE_DISK_ENCRYPTION] = "disk_encryption",
    [PD_ROLE_SECURE_BOOT] = "secure_boot",
    [PD_ROLE_APP_CONTROL] = "app_control",
    [PD_ROLE_BACKUP] = "backup",
    [PD_ROLE_IDENTITY] = "identity",
    [PD_ROLE_AGENT] = "agent",
    [PD_ROLE_ARC_ONBOARDING] = "arc_onboarding",
    [PD_ROLE_SECRETS] = "secrets",
    [PD_ROLE_THREAT_DETECTION] = "threat_detection",
    [PD_ROLE_METADATA_SERVICE] = "metadata_service",
};

const char *pd_control_role_name(pd_control_role r)
{
    return (unsigned)r < PD_ROLE__COUNT ? role_names[r] : "unknown";
}

int pd_control_role_parse(pd_str s, pd_control_role *out)
{
    for (int i = 0; i < PD_ROLE__COUNT; i++)
        if (pd_str_ieq_c(s, role_names[i])) {
            *out = (pd_control_role)i;
            return 0;
        }
    return PD_EINVAL;
}

struct pd_controls {
    pd_ydoc *doc; /* owns every string */
    pd_control_def *defs;
    uint32_t n;
    uint32_t *slots; /* open addressing: index + 1, 0 = empty */
    uint32_t nslots; /* power of two */
};

static uint64_t key_hash(pd_str k)
{
    char low[128];
    uint32_t n = PD_MIN(k.len, (uint32_t)sizeof(low));
    for (uint32_t i = 0; i < n; i++) {
        char c = k.p[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    /* Keys longer than the buffer hash their first 128 bytes plus their length. */
    return pd_hash64(low, n, 0x70d5c0e7u) ^ k.len;
}

static const char *const top_keys[] = {"version", "roles", "controls", NULL};
static const char *const row_keys[] = {"key",      "source",     "name",          "severity",
                                       "category", "roles",      "frameworks",    "applies_to",
                                       "origin",   "deprecated", "mcsb_historic", NULL};

static int opt_str(const pd_ydoc *doc, const pd_ynode *row, const char *k, const char **out,
                   const char *dflt, pd_diag *diag)
{
    const pd_ynode *n = pd_ymap_get(row, k);
    *out = dflt;
    if (!n)
        return 0;
    return pd_ynode_str(doc, n, out, diag);
}

static int req_str(const pd_ydoc *doc, const pd_ynode *row, const char *k, const char **out,
                   pd_diag *diag)
{
    const pd_ynode *n = pd_ymap_get(row, k);
    if (!n)
        return pd_diag_at(diag, doc, row, "missing required key '%s'", k);
    int rc = pd_ynode_str(doc, n, out, diag);
    if (rc == 0 && !**out)
        return pd_diag_at(diag, doc, n, "'%s' must not be empty", k);
    return rc;
}

static int load_row(pd_controls *t, const pd_ynode *row, pd_control_def *d, pd_diag *diag)
{
    const pd_ydoc *doc = t->doc;
    int rc = pd_ymap_check(doc, row, row_keys, diag);
    if (rc)
        return rc;
    if ((rc = req_str(doc, row, "key", &d->key, diag)) ||
        (rc = req_str(doc, row, "name", &d->name, diag)) ||
        (rc = req_str(doc, row, "category", &d->category, diag)) ||
        (rc = opt_str(doc, row, "source", &d->source, "defender", diag)) ||
        (rc = opt_str(doc, row, "applies_to", &d->applies_to, "", diag)))
        return rc;
    const char *origin;
    if ((rc = opt_str(doc, row, "origin", &origin, "", diag)))
        return rc;
    static const char *const sources[] = {"defender", "asff", "scc", "ocsf"};
    bool src_ok = false;
    for (size_t i = 0; i < PD_ARRAY_LEN(sources); i++)
        src_ok |= !strcmp(d->source, sources[i]);
    if (!src_ok)
        return pd_diag_at(diag, doc, pd_ymap_get(row, "source"),
                          "unknown source '%s' (expected defender, asff, scc or ocsf)", d->source);

    d->severity = PD_SEV_UNKNOWN;
    const pd_ynode *sev = pd_ymap_get(row, "severity");
    if (sev) {
        const char *s;
        if ((rc = pd_ynode_str(doc, sev, &s, diag)))
            return rc;
        if (strcmp(s, "unknown") && pd_severity_parse(pd_str_c(s), &d->severity))
            return pd_diag_at(diag, doc, sev,
                              "unknown severity '%s' (expected unknown, informational, low, "
                              "medium, high or critical)",
                              s);
    }

    const pd_ynode *roles = pd_ymap_get(row, "roles");
    if (roles) {
        if (roles->type != PD_YSEQ)
            return pd_diag_at(diag, doc, roles, "expected a list of roles");
        for (uint32_t i = 0; i < roles->n; i++) {
            const pd_ynode *r = roles->items[i];
            pd_control_role role;
            if (r->type != PD_YSCALAR || pd_control_role_parse((pd_str){r->str, r->len}, &role))
                return pd_diag_at(diag, doc, r, "unknown role '%s'",
                                  r->type == PD_YSCALAR ? r->str : "(not a string)");
            d->role_bits |= PD_ROLE_BIT(role);
        }
    }

    const pd_ynode *fw = pd_ymap_get(row, "frameworks");
    if (fw) {
        if (fw->type != PD_YSEQ)
            return pd_diag_at(diag, doc, fw, "expected a list of framework ids");
        const char **v;
        uint32_t cnt;
        if ((rc = pd_ynode_strlist(doc, fw, &v, &cnt, diag)))
            return rc;
        for (uint32_t i = 0; i < cnt; i++)
            if (!strchr(v[i], ':'))
                return pd_diag_at(diag, doc, fw->items[i],
                                  "framework id '%s' needs a prefix, e.g. MCSB:ES-1", v[i]);
        d->frameworks = v;
        d->nframeworks = cnt;
    }

    const pd_ynode *b;
    if ((b = pd_ymap_get(row, "deprecated")) && (rc = pd_ynode_bool(doc, b, &d->deprecated, diag)))
        return rc;
    if ((b = pd_ymap_get(row, "mcsb_historic")) &&
        (rc = pd_ynode_bool(doc, b, &d->mcsb_historic, diag)))
        return rc;
    return 0;
}

static int build(pd_controls *t, pd_diag *diag)
{
    const pd_ydoc *doc = t->doc;
    const pd_ynode *root = pd_yaml_root(doc);
    if (!root)
        return pd_diag_at(diag, doc, NULL, "empty control table");
    int rc = pd_ymap_check(doc, root, top_keys, diag);
    if (rc)
        return rc;
    const pd_ynode *ver = pd_ymap_get(root, "version");
    if (ver) {
        int64_t v;
        if ((rc = pd_ynode_int(doc, ver, 1, 1, &v, diag)))
            return rc;
    }
    const pd_ynode *roles = pd_ymap_get(root, "roles");
    if (roles) {
        if (roles->type != PD_YSEQ)
            return pd_diag_at(diag, doc, roles, "expected a list of roles");
        for (uint32_t i = 0; i < roles->n; i++) {
            pd_control_role r;
            const pd_ynode *it = roles->items[i];
            if (it->type != PD_YSCALAR || pd_control_role_parse((pd_str){it->str, it->len}, &r))
                return pd_diag_at(diag, doc, it, "unknown role '%s'",
                                  it->type == PD_YSCALAR ? it->str : "(not a string)");
        }
    }
    const pd_ynode *rows = pd_ymap_get(root, "controls");
    if (!rows)
        return pd_diag_at(diag, doc, root, "missing required key 'controls'");
    if (rows->type != PD_YSEQ)
        return pd_diag_at(diag, doc, rows, "'controls' must be a list");
    t->n = rows->n;
    t->defs = calloc(t->n ? t->n : 1, sizeof(*t->defs));
    t->nslots = 16;
    while (t->nslots < t->n * 2)
        t->nslots *= 2;
    t->slots = calloc(t->nslots, sizeof(*t->slots));
    if (!t->defs || !t->slots)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < t->n; i++) {
        pd_control_def *d = &t->defs[i];
        d->index = i;
        if ((rc = load_row(t, rows->items[i], d, diag)))
            return rc;
        pd_str k = pd_str_c(d->key);
        uint32_t mask = t->nslots - 1, s = (uint32_t)key_hash(k) & mask;
        for (; t->slots[s]; s = (s + 1) & mask)
            if (pd_str_ieq(pd_str_c(t->defs[t->slots[s] - 1].key), k))
                return pd_diag_at(diag, doc, pd_ymap_get(rows->items[i], "key"),
                                  "duplicate control key '%s' (also at index %u)", d->key,
                                  t->slots[s] - 1);
        t->slots[s] = i + 1;
    }
    return 0;
}

static int finish(pd_ydoc *doc, int rc, pd_controls **out, pd_diag *diag)
{
    if (rc)
        return rc;
    pd_controls *t = calloc(1, sizeof(*t));
    if (!t) {
        pd_yaml_free(doc);
        return PD_ENOMEM;
    }
    t->doc = doc;
    rc = build(t, diag);
    if (rc) {
        if (rc == PD_ENOMEM && diag)
            snprintf(diag->msg, sizeof(diag->msg), "%s: out of memory", pd_yaml_name(doc));
        pd_controls_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

int pd_controls_load_file(const char *path, pd_controls **out, pd_diag *diag)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_file(path, &doc, diag);
    return finish(doc, rc, out, diag);
}

int pd_controls_load_buf(const char *name, const char *buf, size_t len, pd_controls **out,
                         pd_diag *diag)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_buf(name, buf, len, &doc, diag);
    return finish(doc, rc, out, diag);
}

int pd_controls_load_default(pd_controls **out, pd_diag *diag)
{
    const char *env = getenv("PD_CONTROLS");
    if (env && *env)
        return pd_controls_load_file(env, out, diag);
#ifdef PD_SOURCE_DIR
    return pd_controls_load_file(PD_SOURCE_DIR "/pipelines/controls.yaml", out, diag);
#else
    return pd_controls_load_file("pipelines/controls.yaml", out, diag);
#endif
}

void pd_controls_destroy(pd_controls *t)
{
    if (!t)
        return;
    free(t->defs);
    free(t->slots);
    pd_yaml_free(t->doc);
    free(t);
}

uint32_t pd_controls_count(const pd_controls *t)
{
    return t ? t->n : 0;
}

const pd_control_def *pd_controls_at(const pd_controls *t, uint32_t i)
{
    return (t && i < t->n) ? &t->defs[i] : NULL;
}

const pd_control_def *pd_controls_find(const pd_controls *t, pd_str key)
{
    if (!t || !key.p || !t->nslots)
        return NULL;
    uint32_t mask = t->nslots - 1, s = (uint32_t)key_hash(key) & mask;
    for (; t->slots[s]; s = (s + 1) & mask) {
        const pd_control_def *d = &t->defs[t->slots[s] - 1];
        if (pd_str_ieq(pd_str_c(d->key), key))
            return d;
    }
    return NULL;
}

bool pd_control_in_framework(const pd_control_def *d, const char *pattern)
{
    if (!d || !pattern)
        return false;
    for (uint32_t i = 0; i < d->nframeworks; i++)
        if (pd_glob_match(pattern, pd_str_c(d->frameworks[i])))
            return true;
    return false;
}

typedef bool (*match_fn)(const pd_control_def *d, const void *arg);

static uint32_t list(const pd_controls *t, match_fn fn, const void *arg, const pd_control_def **out,
                     uint32_t cap)
{
    uint32_t total = 0;
    for (uint32_t i = 0; t && i < t->n; i++)
        if (fn(&t->defs[i], arg)) {
            if (out && total < cap)
                out[total] = &t->defs[i];
            total++;
        }
    return total;
}

static bool m_role(const pd_control_def *d, const void *arg)
{
    return pd_control_has_role(d, *(const pd_control_role *)arg);
}

static bool m_category(const pd_control_def *d, const void *arg)
{
    pd_str c = pd_str_c(arg);
    if (pd_str_ieq_c(c, d->category))
        return true;
    pd_control_role r;
    return pd_control_role_parse(c, &r) == 0 && pd_control_has_role(d, r);
}

static bool m_framework(const pd_control_def *d, const void *arg)
{
    return pd_control_in_framework(d, arg);
}

static bool m_source(const pd_control_def *d, const void *arg)
{
    return pd_str_ieq_c(pd_str_c(arg), d->source);
}

uint32_t pd_controls_by_role(const pd_controls *t, pd_control_role r, const pd_control_def **out,
                             uint32_t cap)
{
    return list(t, m_role, &r, out, cap);
}

uint32_t pd_controls_by_category(const pd_controls *t, const char *category,
                                 const pd_control_def **out, uint32_t cap)
{
    return category ? list(t, m_category, category, out, cap) : 0;
}

uint32_t pd_controls_by_framework(const pd_controls *t, const char *pattern,
                                  const pd_control_def **out, uint32_t cap)
{
    return pattern ? list(t, m_framework, pattern, out, cap) : 0;
}

uint32_t pd_controls_by_source(const pd_controls *t, const char *source, const pd_control_def **out,
                               uint32_t cap)
{
    return source ? list(t, m_source, source, out, cap) : 0;
}
