/* pd_gen.c: the fleet model and the schedule. Each simulated day is planned at once (weekly
 * inventory and snapshot, status churn, alerts, deletes, scores, compliance, scripted
 * incidents), sorted by emit time, then rendered one message per pd_gen_next call by
 * pd_gen_write.c. Planning is O(pairs) per day; rendering allocates nothing per event. */
#include "pd_gen_int.h"

#include "pd_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(AT_NOISE__COUNT + 1 <= 32, "noise guard arrays hold 32 alert types");

static const char *const incident_rules[PD_GEN_INC__COUNT] = {
    "",
    "alert-on-weak-resource",
    "kill-chain-progression",
    "lateral-spread",
    "drift-then-alert",
    "defense-tampering",
    "alert-burst",
};

const char *pd_gen_incident_rule(pd_gen_incident i)
{
    return (unsigned)i < PD_GEN_INC__COUNT ? incident_rules[i] : "";
}

void pd_gen_opts_default(pd_gen_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->servers = 100;
    o->days = 7;
    o->keys = 12;
    o->incidents = true;
    o->inventory = false;
    o->assessment_tags = true;
    o->mix = PD_GEN_MIX_DEFENDER;
    o->start_ms = pd_days_from_civil(2026, 1, 5) * GEN_DAY_MS;
    o->churn = 0.02;
    o->alert_rate = -1; /* default depends on noise */
    o->delete_rate = 0.002;
}

/* ---- string pool ---- */

static uint32_t pool_add(pd_gen *g, const char *s, size_t n)
{
    if (g->pool_len + n + 1 > g->pool_cap) {
        size_t ncap = g->pool_cap ? g->pool_cap : 4096;
        while (ncap < g->pool_len + n + 1)
            ncap *= 2;
        char *np = realloc(g->pool, ncap);
        if (!np)
            return UINT32_MAX;
        g->pool = np;
        g->pool_cap = ncap;
    }
    uint32_t off = (uint32_t)g->pool_len;
    memcpy(g->pool + off, s, n);
    g->pool[off + n] = '\0';
    g->pool_len += n + 1;
    return off;
}

static uint32_t pool_fmt(pd_gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uint32_t pool_fmt(pd_gen *g, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return UINT32_MAX;
    return pool_add(g, tmp, (size_t)n);
}

static uint32_t pool_lower(pd_gen *g, uint32_t off)
{
    char tmp[512];
    const char *s = gen_str(g, off);
    size_t n = strlen(s);
    if (n >= sizeof(tmp))
        return UINT32_MAX;
    for (size_t i = 0; i < n; i++)
        tmp[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    return pool_add(g, tmp, n);
}

static void guid(gen_rng *r, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = gen_next(r), b = gen_next(r);
    int k = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[k++] = '-';
        uint64_t v = i < 16 ? a >> (4 * i) : b >> (4 * (i - 16));
        out[k++] = hex[v & 15];
    }
    out[k] = '\0';
}

/* ---- the fleet ---- */

static const char *const azure_regions[] = {"eastus", "westeurope", "northeurope", "westus2",
                                            "southeastasia"};
static const char *const aws_regions[] = {"us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"};
static const char *const gcp_zones[] = {"us-central1-a", "europe-west1-b", "us-east1-c",
                                        "asia-southeast1-a"};
static const char *const envs[] = {"prod", "dev", "test"};
static const char *const roles[] = {"web", "app", "db", "batch", "jump", "cache"};
static const char *const role_tier[] = {"frontend", "backend", "data", "backend", "mgmt", "data"};
static const char *const owners[] = {"team-payments", "team-identity", "team-platform",
                                     "team-data",     "team-web",      "team-sre"};

const char *pd_gen_env_name(uint8_t e)
{
    return envs[e % 3];
}

static bool name_has(const char *s, const char *w)
{
    return s && strstr(s, w) != NULL;
}

/* Does a Defender recommendation apply to a server of this cloud and OS? From the table's
 * applies_to text, which comes from the recommendation reference. */
static bool applies(const pd_control_def *d, int cloud, int os)
{
    const char *a = d->applies_to, *n = d->name;
    if (strcmp(d->source, "defender") || !strncmp(n, "[Deprecated]", 12) || name_has(a, "SQL"))
        return false;
    if ((name_has(n, "Linux") && os != OS_LINUX) || (name_has(n, "Windows") && os != OS_WINDOWS))
        return false;
    switch (cloud) {
    case PD_CLOUD_AZURE:
        return name_has(a, "Azure VMs") || (os == OS_LINUX && name_has(a, "Azure Linux VMs")) ||
               (os == OS_WINDOWS && name_has(a, "Azure Windows VMs"));
    case PD_CLOUD_ONPREM:
        if (!name_has(a, "Arc machines"))
            return false;
        if (name_has(a, "Arc machines (Linux)"))
            return os == OS_LINUX;
        if (name_has(a, "Arc machines (Windows)"))
            return os == OS_WINDOWS;
        return true;
    case PD_CLOUD_AWS:
        return name_has(a, "AWS EC2");
    case PD_CLOUD_GCP:
        return name_has(a, "GCP VMs");
    }
    return false;
}

/* Roles every server gets first when its cloud has a control for them. */
static const pd_control_role core_roles[] = {PD_ROLE_EDR,
                                             PD_ROLE_VULNERABILITY_ASSESSMENT,
                                             PD_ROLE_VULNERABILITY_FINDINGS,
                                             PD_ROLE_SYSTEM_UPDATES,
                                             PD_ROLE_BASELINE,
                                             PD_ROLE_FIM,
                                             PD_ROLE_JIT,
                                             PD_ROLE_LOG_COLLECTION,
                                             PD_ROLE_ANTIMALWARE};

static int add_pair(pd_gen *g, uint32_t s, uint32_t ctl, uint8_t shape, gen_rng *r, uint32_t *cap)
{
    if (g->npairs == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 1024;
        gen_pair *np = realloc(g->pairs, ncap * sizeof(*np));
        if (!np)
            return PD_ENOMEM;
        g->pairs = np;
        *cap = ncap;
    }
    gen_pair *p = &g->pairs[g->npairs++];
    memset(p, 0, sizeof(*p));
    p->server = s;
    p->ctl = (uint16_t)ctl;
    p->shape = shape;
    p->status = PD_STATUS_UNKNOWN;
    uint32_t u = gen_below(r, 100);
    p->planned =
        u < 5 ? PD_STATUS_NOT_APPLICABLE : (u < 25 ? PD_STATUS_UNHEALTHY : PD_STATUS_HEALTHY);
    p->first_ms = g->o.start_ms - (int64_t)(1 + gen_below(r, 120)) * GEN_DAY_MS -
                  (int64_t)gen_below(r, (uint32_t)GEN_DAY_MS);
    p->change_ms = p->first_ms + (int64_t)(gen_unit(r) * (double)(g->o.start_ms - p->first_ms));
    return 0;
}

static int build_pairs(pd_gen *g, uint32_t s, gen_rng *r, uint32_t *cap)
{
    gen_server *sv = &g->servers[s];
    uint32_t cand[256], nc = 0, chosen[256], nch = 0;
    bool used[256] = {false};
    for (uint32_t i = 0; i < g->nctls && nc < 256; i++)
        if (applies(g->ctls[i].def, sv->cloud, sv->os))
            cand[nc++] = i;
    uint32_t want = PD_MIN(g->o.keys, nc);
    for (size_t k = 0; k < PD_ARRAY_LEN(core_roles) && nch < want; k++)
        for (uint32_t i = 0; i < nc; i++)
            if (!used[i] && pd_control_has_role(g->ctls[cand[i]].def, core_roles[k])) {
                used[i] = true;
                chosen[nch++] = cand[i];
                break;
            }
    /* The rest: a seeded partial shuffle of the remaining candidates. */
    uint32_t rest[256], nr = 0;
    for (uint32_t i = 0; i < nc; i++)
        if (!used[i])
            rest[nr++] = cand[i];
    for (uint32_t i = 0; i < nr && nch < want; i++) {
        uint32_t j = i + gen_below(r, nr - i);
        uint32_t t = rest[i];
        rest[i] = rest[j];
        rest[j] = t;
        chosen[nch++] = rest[i];
    }
    sv->first_pair = g->npairs;
    for (uint32_t i = 0; i < nch; i++)
        if (add_pair(g, s, chosen[i], SHAPE_DEFENDER, r, cap))
            return PD_ENOMEM;
    if (g->o.mix == PD_GEN_MIX_ALL && (sv->cloud == PD_CLOUD_AWS || sv->cloud == PD_CLOUD_GCP)) {
        const char *src = sv->cloud == PD_CLOUD_AWS ? "asff" : "scc";
        const char *res = sv->cloud == PD_CLOUD_AWS ? "AwsEc2Instance" : "google.compute.Instance";
        for (uint32_t i = 0; i < g->nctls; i++) {
            const pd_control_def *d = g->ctls[i].def;
            if (!strcmp(d->source, src) && !strcmp(d->applies_to, res) &&
                add_pair(g, s, i, sv->cloud == PD_CLOUD_AWS ? SHAPE_ASFF : SHAPE_SCC, r, cap))
                return PD_ENOMEM;
        }
    }
    sv->npairs = g->npairs - sv->first_pair;
    return 0;
}

static int build_server(pd_gen *g, uint32_t s, uint32_t *cap)
{
    gen_rng r;
    gen_rng_seed(&r, g->o.seed ^ (0x5e7e7000ULL + (uint64_t)s * 0x100000001b3ULL));
    gen_server *sv = &g->servers[s];
    memset(sv, 0, sizeof(*sv));
    sv->dead_at = INT64_MAX;
    uint32_t u = gen_below(&r, 100);
    sv->cloud = u < 40 ? PD_CLOUD_AZURE
                       : (u < 65 ? PD_CLOUD_AWS : (u < 85 ? PD_CLOUD_GCP : PD_CLOUD_ONPREM));
    sv->os = gen_below(&r, 100) < 70 ? OS_LINUX : OS_WINDOWS;
    u = gen_below(&r, 100);
    sv->env = u < 50 ? 0 : (u < 80 ? 1 : 2);
    uint32_t role = gen_below(&r, PD_ARRAY_LEN(roles));
    sv->tier = (uint8_t)role;
    sv->owner = (uint8_t)gen_below(&r, PD_ARRAY_LEN(owners));
    /* Two background alert types that fit the server's OS (one tactic each). */
    uint8_t fit[AT_NOISE__COUNT], nfit = 0;
    for (uint8_t k = 0; k < AT_NOISE__COUNT; k++) {
        bool lin_only = k == AT_NOISE_SSHFAIL || k == AT_NOISE_AAC || k == AT_NOISE_MINER ||
                        k == AT_NOISE_FILELESS_L || k == AT_NOISE_SSHKEY;
        bool win_only = k == AT_NOISE_FILELESS_W;
        if ((sv->os == OS_LINUX && !win_only) || (sv->os == OS_WINDOWS && !lin_only))
            fit[nfit++] = k;
    }
    uint32_t a = gen_below(&r, nfit), b2 = (a + 1 + gen_below(&r, nfit - 1u)) % nfit;
    sv->noise[0] = fit[a];
    sv->noise[1] = fit[b2];
    if (g->o.mix == PD_GEN_MIX_ALL && sv->cloud == PD_CLOUD_GCP)
        sv->noise[0] = AT_SCC_BRUTE;
    sv->name = pool_fmt(g, "%s-%s-%05u", roles[role], envs[sv->env], s);
    /* Local copies: the pool may move while this server's strings are added. */
    char name[64], sub0[40], subx[40], acct[40], rg[64], type[64], inst[40];
    snprintf(name, sizeof(name), "%s", gen_str(g, sv->name));
    char id[37];
    guid(&r, id);
    sv->vmid = pool_add(g, id, 36);
    sv->ip =
        pool_fmt(g, "10.%u.%u.%u", gen_below(&r, 256), gen_below(&r, 256), 1 + gen_below(&r, 254));
    snprintf(sub0, sizeof(sub0), "%s", gen_str(g, g->subs[0].guid));
    switch (sv->cloud) {
    case PD_CLOUD_AZURE:
    case PD_CLOUD_ONPREM: {
        sv->sub = gen_below(&r, g->nsubs);
        sv->region = gen_below(&r, PD_ARRAY_LEN(azure_regions));
        bool arc = sv->cloud == PD_CLOUD_ONPREM;
        sv->rg = pool_fmt(g, "rg-%s-%s", envs[sv->env], arc ? "onprem" : roles[role]);
        sv->type = pool_fmt(g, "%s",
                            arc ? "Microsoft.HybridCompute/machines"
                                : "Microsoft.Compute/virtualMachines");
        snprintf(subx, sizeof(subx), "%s", gen_str(g, g->subs[sv->sub].guid));
        snprintf(rg, sizeof(rg), "%s", gen_str(g, sv->rg));
        snprintf(type, sizeof(type), "%s", gen_str(g, sv->type));
        sv->id = pool_fmt(g, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s", subx, rg, type,
                          name);
        sv->key = pool_lower(g, sv->id);
        break;
    }
    case PD_CLOUD_AWS: {
        sv->acct = gen_below(&r, g->naws);
        sv->region = gen_below(&r, PD_ARRAY_LEN(aws_regions));
        sv->instance =
            pool_fmt(g, "i-%017llx", (unsigned long long)(gen_next(&r) & 0xfffffffffffffffULL));
        snprintf(acct, sizeof(acct), "%s", gen_str(g, g->aws_acct[sv->acct]));
        snprintf(inst, sizeof(inst), "%s", gen_str(g, sv->instance));
        sv->native =
            pool_fmt(g, "arn:aws:ec2:%s:%s:instance/%s", aws_regions[sv->region], acct, inst);
        sv->rg = pool_add(g, "rg-security-connectors", 22);
        sv->type = pool_add(g, "ec2.instance", 12);
        sv->native_type = pool_add(g, "AwsEc2Instance", 14);
        sv->id = pool_fmt(g,
                          "/subscriptions/%s/resourcegroups/rg-security-connectors/providers/"
                          "microsoft.security/securityconnectors/aws-%s/securityentitydata/"
                          "aws-ec2-instance-%s-%s",
                          sub0, acct, inst, aws_regions[sv->region]);
        sv->key = pool_lower(g, sv->native);
        break;
    }
    case PD_CLOUD_GCP: {
        sv->acct = gen_below(&r, g->ngcp);
        sv->region = gen_below(&r, PD_ARRAY_LEN(gcp_zones));
        sv->instance = pool_fmt(
            g, "%llu",
            (unsigned long long)(1000000000000000000ULL + gen_next(&r) % 8000000000000000000ULL));
        snprintf(acct, sizeof(acct), "%s", gen_str(g, g->gcp_proj[sv->acct]));
        snprintf(inst, sizeof(inst), "%s", gen_str(g, sv->instance));
        sv->native = pool_fmt(g, "//compute.googleapis.com/projects/%s/zones/%s/instances/%s", acct,
                              gcp_zones[sv->region], inst);
        sv->rg = pool_add(g, "rg-security-connectors", 22);
        sv->type = pool_add(g, "compute.instances", 17);
        sv->native_type = pool_add(g, "google.compute.Instance", 23);
        sv->id = pool_fmt(g,
                          "/subscriptions/%s/resourcegroups/rg-security-connectors/providers/"
                          "microsoft.security/securityconnectors/gcp-%s/securityentitydata/"
                          "gcp-compute-instance-%s-%s",
                          sub0, acct, inst, gcp_zones[sv->region]);
        sv->key = pool_lower(g, sv->native);
        break;
    }
    }
    if (sv->id == UINT32_MAX || sv->key == UINT32_MAX || sv->name == UINT32_MAX)
        return PD_ENOMEM;
    return build_pairs(g, s, &r, cap);
}

const char *pd_gen_region(const pd_gen *g, const gen_server *sv)
{
    (void)g;
    switch (sv->cloud) {
    case PD_CLOUD_AWS:
        return aws_regions[sv->region];
    case PD_CLOUD_GCP:
        return gcp_zones[sv->region];
    default:
        return azure_regions[sv->region];
    }
}
const char *pd_gen_owner(const gen_server *sv)
{
    return owners[sv->owner];
}
const char *pd_gen_tier(const gen_server *sv)
{
    return role_tier[sv->tier];
}

/* Secure score group of a control (by its category and roles), -1 when none. */
static int8_t score_group(const pd_control_def *d)
{
    if (strcmp(d->source, "defender"))
        return -1;
    if (pd_control_has_role(d, PD_ROLE_JIT) || pd_control_has_role(d, PD_ROLE_MANAGEMENT_PORTS))
        return 0;
    static const char *const cats[] = {
        "network",       "updates",         "vulnerability",       "endpoint",
        "configuration", "data_protection", "application_control", "monitoring"};
    for (size_t i = 0; i < PD_ARRAY_LEN(cats); i++)
        if (!strcmp(d->category, cats[i]))
            return (int8_t)(i + 1);
    if (!strcmp(d->category, "identity"))
        return 5;
    return -1;
}

static int build_ctls(pd_gen *g)
{
    g->nctls = pd_controls_count(g->controls);
    g->ctls = calloc(g->nctls ? g->nctls : 1, sizeof(*g->ctls));
    if (!g->ctls)
        return PD_ENOMEM;
    for (uint32_t i = 0; i < g->nctls; i++) {
        gen_ctl *c = &g->ctls[i];
        c->def = pd_controls_at(g->controls, i);
        c->group = score_group(c->def);
        for (uint32_t k = 0; k < c->def->nframeworks; k++)
            if (!strncmp(c->def->frameworks[k], "MCSB:", 5)) {
                char id[16];
                snprintf(id, sizeof(id), "%s", c->def->frameworks[k] + 5);
                for (char *p = id; *p; p++)
                    if (*p == '-')
                        *p = '.';
                c->mcsb = pool_add(g, id, strlen(id));
                break;
            }
        /* Defender's metadata.categories words for the table's category. */
        const char *cat = c->def->category;
        const char *dc = !strcmp(cat, "network")           ? "Networking"
                         : !strcmp(cat, "data_protection") ? "Data"
                         : !strcmp(cat, "identity")        ? "IdentityAndAccess"
                                                           : "Compute";
        c->categories = pool_fmt(g, "[\"%s\"]", dc);
    }
    return 0;
}

/* Secure score controls: ids (the real one where a sample shows it, else a stable GUID
 * derived from the name) and each control's assessment definitions list. */
static int build_groups(pd_gen *g)
{
    for (uint32_t k = 0; k < GEN_NGROUPS; k++) {
        const gen_score_group *sg = pd_gen_score_group(k);
        if (sg->id) {
            g->grp_id[k] = pool_add(g, sg->id, strlen(sg->id));
        } else {
            gen_rng r;
            gen_rng_seed(&r, pd_hash64(sg->name, strlen(sg->name), 0x5c0e));
            char id[37];
            guid(&r, id);
            g->grp_id[k] = pool_add(g, id, 36);
        }
        char buf[8192];
        size_t n = 0;
        buf[n++] = '[';
        for (uint32_t i = 0; i < g->nctls; i++) {
            if (g->ctls[i].group != (int8_t)k)
                continue;
            int w = snprintf(buf + n, sizeof(buf) - n,
                             "%s{\"id\":\"/providers/Microsoft.Security/assessmentMetadata/%s\"}",
                             n > 1 ? "," : "", g->ctls[i].def->key);
            if (w < 0 || (size_t)w >= sizeof(buf) - n - 2)
                break;
            n += (size_t)w;
        }
        buf[n++] = ']';
        g->grp_defs[k] = pool_add(g, buf, n);
        if (g->grp_defs[k] == UINT32_MAX || g->grp_id[k] == UINT32_MAX)
            return PD_ENOMEM;
    }
    return 0;
}

/* ---- scripted incidents ---- */

static gen_item *push_item(gen_items *v)
{
    if (v->len == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 1024;
        gen_item *nv = realloc(v->v, ncap * sizeof(*nv));
        if (!nv)
            return NULL;
        v->v = nv;
        v->cap = ncap;
    }
    gen_item *it = &v->v[v->len++];
    memset(it, 0, sizeof(*it));
    return it;
}

static int inc_item(pd_gen *g, int64_t t, uint8_t type, uint8_t inc, uint32_t a, uint32_t b,
                    uint8_t target)
{
    gen_item *it = push_item(&g->inc);
    if (!it)
        return PD_ENOMEM;
    it->t = t;
    it->type = type;
    it->inc = inc;
    it->a = a;
    it->b = b;
    it->target = target;
    it->flags = type == IT_ASSESS ? ITF_CHANGE : 0;
    return 0;
}

/* The server's pair with a role (or, role < 0, any pair of at least min severity that is
 * not a defense); UINT32_MAX when none. */
static uint32_t find_pair(const pd_gen *g, uint32_t s, int role, pd_severity min)
{
    const gen_server *sv = &g->servers[s];
    for (uint32_t i = 0; i < sv->npairs; i++) {
        uint32_t p = sv->first_pair + i;
        const gen_pair *gp = &g->pairs[p];
        const pd_control_def *d = g->ctls[gp->ctl].def;
        if (gp->shape != SHAPE_DEFENDER || d->severity < min)
            continue;
        if (role >= 0 ? pd_control_has_role(d, (pd_control_role)role) : !pd_control_is_defense(d))
            return p;
    }
    return UINT32_MAX;
}

static pd_gen_incident_info *new_inc(pd_gen *g, pd_gen_incident kind, int64_t t0, int64_t t1)
{
    pd_gen_incident_info *v = realloc(g->incs, (g->nincs + 1) * sizeof(*v));
    if (!v)
        return NULL;
    g->incs = v;
    pd_gen_incident_info *i = &g->incs[g->nincs++];
    memset(i, 0, sizeof(*i));
    i->kind = kind;
    i->start_ms = t0;
    i->end_ms = t1;
    i->control_key = "";
    i->alert_type = pd_gen_alert_type(AT_WEAK)->type;
    g->stats.incidents[kind]++;
    return i;
}

static void force(pd_gen *g, uint32_t p, pd_status st)
{
    g->pairs[p].planned = (uint8_t)st;
}

static int plan_incidents(pd_gen *g)
{
    /* Candidates: azure prod first (their tags arrive through inventory events and their
     * controls include EDR and system updates), then the rest of azure, then everyone. */
    uint32_t *cand = malloc(g->nservers * sizeof(*cand)), nc = 0;
    if (!cand)
        return PD_ENOMEM;
    for (int pass = 0; pass < 3; pass++)
        for (uint32_t s = 0; s < g->nservers; s++) {
            const gen_server *sv = &g->servers[s];
            bool az = sv->cloud == PD_CLOUD_AZURE, prod = sv->env == 0;
            if ((pass == 0 && az && prod) || (pass == 1 && az && !prod) || (pass == 2 && !az))
                cand[nc++] = s;
        }
    uint32_t weeks = g->o.days ? (g->o.days + 6) / 7 : 52, next = 0;
    /* Incident servers are frozen (no churn, noise or delete): keep them under a fifth of
     * the fleet so long streams still churn. */
    weeks = PD_MIN(weeks, PD_MAX(1u, g->nservers / 45));
    int rc = 0;
    for (uint32_t w = 0; w < weeks && next + 9 <= nc; w++) {
        uint32_t day = 7 * w + ((g->o.days == 0 || g->o.days >= 2) ? 1 : 0);
        if (g->o.days && day >= g->o.days)
            break;
        int64_t T0 = g->o.start_ms + (int64_t)day * GEN_DAY_MS + 2 * GEN_HOUR_MS;
        uint32_t A = cand[next], C = cand[next + 1], E = cand[next + 6], F = cand[next + 7],
                 G = cand[next + 8];
        uint32_t D[4] = {cand[next + 2], cand[next + 3], cand[next + 4], cand[next + 5]};
        next += 9;
        for (uint32_t k = next - 9; k < next; k++) {
            gen_server *sv = &g->servers[cand[k]];
            sv->incident = true;
            for (uint32_t i = 0; i < sv->npairs; i++)
                g->pairs[sv->first_pair + i].locked = true;
        }
        pd_gen_incident_info *ii;
        /* alert-on-weak-resource: a high-severity pair unhealthy from the start, then an
         * alert of severity high. */
        uint32_t p = find_pair(g, A, PD_ROLE_EDR, PD_SEV_HIGH);
        if (p == UINT32_MAX)
            p = find_pair(g, A, -1, PD_SEV_HIGH);
        if (p != UINT32_MAX) {
            force(g, p, PD_STATUS_UNHEALTHY);
            if ((rc = inc_item(g, T0, IT_ALERT, PD_GEN_INC_WEAK, A, AT_WEAK, 0)))
                goto fail;
            if (!(ii = new_inc(g, PD_GEN_INC_WEAK, T0, T0)))
                goto oom;
            ii->servers[ii->nservers++] = A;
            ii->control_key = g->ctls[g->pairs[p].ctl].def->key;
            ii->alert_type = pd_gen_alert_type(AT_WEAK)->type;
        }
        /* kill-chain-progression: four alerts, tactics in kill-chain order, within 3 h. */
        int64_t T1 = T0 + GEN_HOUR_MS;
        static const int64_t kc_off[4] = {0, 40 * GEN_MIN_MS, 95 * GEN_MIN_MS, 150 * GEN_MIN_MS};
        for (int k = 0; k < 4; k++)
            if ((rc = inc_item(g, T1 + kc_off[k], IT_ALERT, PD_GEN_INC_KILL_CHAIN, C,
                               (uint32_t)(AT_KC1 + k), 0)))
                goto fail;
        if (!(ii = new_inc(g, PD_GEN_INC_KILL_CHAIN, T1, T1 + kc_off[3])))
            goto oom;
        ii->servers[ii->nservers++] = C;
        ii->alert_type = pd_gen_alert_type(AT_KC1)->type;
        /* lateral-spread: the same alert type on four servers within 41 minutes. */
        int64_t T2 = T0 + 5 * GEN_HOUR_MS;
        static const int64_t lat_off[4] = {0, 12 * GEN_MIN_MS, 27 * GEN_MIN_MS, 41 * GEN_MIN_MS};
        if (!(ii = new_inc(g, PD_GEN_INC_LATERAL, T2, T2 + lat_off[3])))
            goto oom;
        ii->alert_type = pd_gen_alert_type(AT_LATERAL)->type;
        for (int k = 0; k < 4; k++) {
            if ((rc = inc_item(g, T2 + lat_off[k], IT_ALERT, PD_GEN_INC_LATERAL, D[k], AT_LATERAL,
                               0)))
                goto fail;
            ii->servers[ii->nservers++] = D[k];
        }
        /* drift-then-alert: a healthy pair regresses, an alert follows 3 h later. */
        int64_t T3 = T0 + 8 * GEN_HOUR_MS;
        p = find_pair(g, E, PD_ROLE_SYSTEM_UPDATES, PD_SEV_UNKNOWN);
        if (p == UINT32_MAX)
            p = find_pair(g, E, -1, PD_SEV_MEDIUM);
        if (p != UINT32_MAX) {
            force(g, p, PD_STATUS_HEALTHY);
            if ((rc = inc_item(g, T3, IT_ASSESS, PD_GEN_INC_DRIFT, p, 0, PD_STATUS_UNHEALTHY)) ||
                (rc =
                     inc_item(g, T3 + 3 * GEN_HOUR_MS, IT_ALERT, PD_GEN_INC_DRIFT, E, AT_DRIFT, 0)))
                goto fail;
            if (!(ii = new_inc(g, PD_GEN_INC_DRIFT, T3, T3 + 3 * GEN_HOUR_MS)))
                goto oom;
            ii->servers[ii->nservers++] = E;
            ii->control_key = g->ctls[g->pairs[p].ctl].def->key;
            ii->alert_type = pd_gen_alert_type(AT_DRIFT)->type;
        }
        /* defense-tampering: a high alert, then EDR (or another defense) loses health 20 min
         * later. */
        int64_t T4 = T0 + 14 * GEN_HOUR_MS;
        p = find_pair(g, F, PD_ROLE_EDR, PD_SEV_UNKNOWN);
        for (int role = PD_ROLE_ANTIMALWARE; p == UINT32_MAX && role <= PD_ROLE_LOG_COLLECTION;
             role++)
            p = find_pair(g, F, role, PD_SEV_UNKNOWN);
        if (p != UINT32_MAX) {
            force(g, p, PD_STATUS_HEALTHY);
            if ((rc = inc_item(g, T4, IT_ALERT, PD_GEN_INC_TAMPER, F, AT_TAMPER, 0)) ||
                (rc = inc_item(g, T4 + 20 * GEN_MIN_MS, IT_ASSESS, PD_GEN_INC_TAMPER, p, 0,
                               PD_STATUS_UNHEALTHY)))
                goto fail;
            if (!(ii = new_inc(g, PD_GEN_INC_TAMPER, T4, T4 + 20 * GEN_MIN_MS)))
                goto oom;
            ii->servers[ii->nservers++] = F;
            ii->control_key = g->ctls[g->pairs[p].ctl].def->key;
            ii->alert_type = pd_gen_alert_type(AT_TAMPER)->type;
        }
        /* alert-burst: 12 alerts on one server within 8 min 15 s. */
        int64_t T5 = T0 + 18 * GEN_HOUR_MS;
        for (int k = 0; k < 12; k++)
            if ((rc = inc_item(g, T5 + k * 45000, IT_ALERT, PD_GEN_INC_BURST, G, AT_BURST, 0)))
                goto fail;
        if (!(ii = new_inc(g, PD_GEN_INC_BURST, T5, T5 + 11 * 45000)))
            goto oom;
        ii->servers[ii->nservers++] = G;
        ii->alert_type = pd_gen_alert_type(AT_BURST)->type;
    }
    free(cand);
    return rc;
oom:
    rc = PD_ENOMEM;
fail:
    free(cand);
    return rc;
}

static int cmp_item(const void *a, const void *b)
{
    const gen_item *x = a, *y = b;
    if (x->emit != y->emit)
        return x->emit < y->emit ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int cmp_time(const void *a, const void *b)
{
    const gen_item *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* ---- create / destroy ---- */

int pd_gen_create(const pd_gen_opts *opts, pd_gen **out, pd_diag *diag)
{
    pd_gen_opts o;
    if (opts)
        o = *opts;
    else
        pd_gen_opts_default(&o);
    if (o.servers == 0 || (o.days == 0 && o.max_events == 0) || o.keys == 0 || o.disorder_ms < 0 ||
        o.disorder_ms > GEN_DAY_MS)
        return PD_EINVAL;
    if (o.alert_rate < 0)
        o.alert_rate = o.noise ? 0.2 : 0.05;
    int rc = PD_ENOMEM;
    pd_gen *g = calloc(1, sizeof(*g));
    if (!g)
        return PD_ENOMEM;
    g->o = o;
    if (o.controls) {
        g->controls = o.controls;
    } else {
        pd_diag local;
        if ((rc = pd_controls_load_default(&g->owned_controls, diag ? diag : &local)))
            goto fail;
        g->controls = g->owned_controls;
    }
    rc = PD_ENOMEM;
    gen_rng_seed(&g->rng, o.seed);
    if (pool_add(g, "", 0) != 0)
        goto fail;
    gen_rng ids;
    gen_rng_seed(&ids, o.seed ^ 0x1d5a11ULL);
    char id[37];
    guid(&ids, id);
    g->tenant = pool_add(g, id, 36);
    g->nsubs = PD_MIN(1 + o.servers / 400, 64u);
    g->naws = PD_MIN(1 + o.servers / 800, 32u);
    g->ngcp = PD_MIN(1 + o.servers / 800, 32u);
    g->subs = calloc(g->nsubs, sizeof(*g->subs));
    g->aws_acct = calloc(g->naws, sizeof(uint32_t));
    g->gcp_proj = calloc(g->ngcp, sizeof(uint32_t));
    g->gcp_projnum = calloc(g->ngcp, sizeof(uint32_t));
    g->servers = calloc(o.servers, sizeof(*g->servers));
    if (!g->subs || !g->aws_acct || !g->gcp_proj || !g->gcp_projnum || !g->servers)
        goto fail;
    static const char *const words[] = {"orion", "vega", "lyra", "draco", "cygnus", "hydra"};
    for (uint32_t i = 0; i < g->nsubs; i++) {
        guid(&ids, id);
        g->subs[i].guid = pool_add(g, id, 36);
        g->subs[i].key = pool_fmt(g, "/subscriptions/%s", id);
    }
    for (uint32_t i = 0; i < g->naws; i++)
        g->aws_acct[i] =
            pool_fmt(g, "%012llu", (unsigned long long)(gen_next(&ids) % 1000000000000ULL));
    for (uint32_t i = 0; i < g->ngcp; i++) {
        g->gcp_proj[i] =
            pool_fmt(g, "prj-%s-%04u", words[i % PD_ARRAY_LEN(words)], gen_below(&ids, 10000));
        g->gcp_projnum[i] =
            pool_fmt(g, "%012llu", (unsigned long long)(gen_next(&ids) % 1000000000000ULL));
    }
    g->aws_conn = calloc(g->naws, sizeof(uint32_t));
    g->gcp_conn = calloc(g->ngcp, sizeof(uint32_t));
    if (!g->aws_conn || !g->gcp_conn)
        goto fail;
    for (uint32_t i = 0; i < g->naws; i++) {
        guid(&ids, id);
        g->aws_conn[i] = pool_add(g, id, 36);
    }
    for (uint32_t i = 0; i < g->ngcp; i++) {
        guid(&ids, id);
        g->gcp_conn[i] = pool_add(g, id, 36);
    }
    g->org = pool_fmt(g, "%012llu", (unsigned long long)(gen_next(&ids) % 1000000000000ULL));
    if ((rc = build_ctls(g)) || (rc = build_groups(g)))
        goto fail;
    uint32_t cap = 0;
    g->nservers = o.servers;
    for (uint32_t s = 0; s < o.servers; s++)
        if ((rc = build_server(g, s, &cap)))
            goto fail;
    rc = PD_ENOMEM;
    size_t ng = (size_t)g->nservers * GEN_NGROUPS;
    g->grp_n = calloc(ng, sizeof(uint16_t));
    g->grp_unh = calloc(ng, sizeof(uint16_t));
    g->grp_na = calloc(ng, sizeof(uint16_t));
    g->cmp = calloc((size_t)g->nsubs * g->nctls, sizeof(*g->cmp));
    if (!g->grp_n || !g->grp_unh || !g->grp_na || !g->cmp)
        goto fail;
    if (o.incidents && (rc = plan_incidents(g)))
        goto fail;
    for (size_t i = 0; i < g->inc.len; i++)
        g->inc.v[i].seq = (uint32_t)i;
    if (g->inc.len)
        qsort(g->inc.v, g->inc.len, sizeof(gen_item), cmp_time);
    /* Initial statuses (the state before the first snapshot), counted for scores. */
    for (uint32_t p = 0; p < g->npairs; p++)
        pd_gen_set_status(g, &g->pairs[p], (pd_status)g->pairs[p].planned);
    *out = g;
    return 0;
fail:
    pd_gen_destroy(g);
    return rc;
}

void pd_gen_destroy(pd_gen *g)
{
    if (!g)
        return;
    pd_controls_destroy(g->owned_controls);
    free(g->pool);
    free(g->servers);
    free(g->pairs);
    free(g->ctls);
    free(g->subs);
    free(g->aws_acct);
    free(g->gcp_proj);
    free(g->gcp_projnum);
    free(g->aws_conn);
    free(g->gcp_conn);
    free(g->grp_n);
    free(g->grp_unh);
    free(g->grp_na);
    free(g->cmp);
    free(g->day.v);
    free(g->inc.v);
    free(g->incs);
    free(g);
}

/* ---- status bookkeeping for scores and compliance ---- */

static int grp_class(const pd_gen *g, size_t k)
{
    if (g->grp_n[k] == 0)
        return -1;
    if (g->grp_unh[k])
        return 1;
    if (g->grp_na[k] == g->grp_n[k])
        return 2;
    return 0;
}

static bool counted(int st)
{
    return st == PD_STATUS_HEALTHY || st == PD_STATUS_UNHEALTHY || st == PD_STATUS_NOT_APPLICABLE;
}

void pd_gen_set_status(pd_gen *g, gen_pair *p, pd_status st)
{
    pd_status old = (pd_status)p->status;
    p->status = (uint8_t)st;
    if (old == st || p->shape != SHAPE_DEFENDER)
        return;
    const gen_server *sv = &g->servers[p->server];
    gen_ctl *c = &g->ctls[p->ctl];
    gen_cmp *cm = &g->cmp[(size_t)sv->sub * g->nctls + p->ctl];
    uint32_t *slot_old = old == PD_STATUS_HEALTHY     ? &cm->passed
                         : old == PD_STATUS_UNHEALTHY ? &cm->failed
                                                      : &cm->skipped;
    uint32_t *slot_new = st == PD_STATUS_HEALTHY     ? &cm->passed
                         : st == PD_STATUS_UNHEALTHY ? &cm->failed
                                                     : &cm->skipped;
    if (counted(old) && *slot_old)
        (*slot_old)--;
    if (counted(st))
        (*slot_new)++;
    if (c->group < 0)
        return;
    size_t k = (size_t)p->server * GEN_NGROUPS + (size_t)c->group;
    int before = grp_class(g, k);
    if (counted(old)) {
        g->grp_n[k]--;
        g->grp_unh[k] -= old == PD_STATUS_UNHEALTHY;
        g->grp_na[k] -= old == PD_STATUS_NOT_APPLICABLE;
    }
    if (counted(st)) {
        g->grp_n[k]++;
        g->grp_unh[k] += st == PD_STATUS_UNHEALTHY;
        g->grp_na[k] += st == PD_STATUS_NOT_APPLICABLE;
    }
    int after = grp_class(g, k);
    uint32_t *cls = g->subs[sv->sub].cls[c->group];
    if (before >= 0 && cls[before])
        cls[before]--;
    if (after >= 0)
        cls[after]++;
}

/* ---- the daily schedule ---- */

static int day_item(pd_gen *g, int64_t t, uint8_t type, uint8_t flags, uint32_t a, uint32_t b,
                    uint8_t target)
{
    gen_item *it = push_item(&g->day);
    if (!it)
        return PD_ENOMEM;
    it->t = t;
    it->type = type;
    it->flags = flags;
    it->a = a;
    it->b = b;
    it->target = target;
    return 0;
}

/* Poisson draw by multiplication (Knuth) for lam <= 2, summed over pieces for larger lam.
 * e^-lam comes from its series, not libm, so every machine draws the same numbers. */
static uint32_t poisson_small(gen_rng *r, double lam)
{
    double lim = 1.0, term = 1.0, l = 1.0;
    for (int i = 1; i < 30; i++) {
        term *= -lam / i;
        lim += term;
    }
    uint32_t k = 0;
    do {
        k++;
        l *= gen_unit(r);
    } while (l > lim && k < 64);
    return k - 1;
}

static uint32_t poisson(gen_rng *r, double lam)
{
    uint32_t k = 0;
    for (; lam > 2.0; lam -= 2.0)
        k += poisson_small(r, 2.0);
    return k + poisson_small(r, lam);
}

static bool is_vuln_pair(const pd_gen *g, const gen_pair *p)
{
    /* CVE findings under the findings recommendation, rule results under the baseline
     * ones ("Machines should be configured securely"), as Defender nests them. */
    const pd_control_def *d = g->ctls[p->ctl].def;
    return p->shape == SHAPE_DEFENDER &&
           (pd_control_has_role(d, PD_ROLE_VULNERABILITY_FINDINGS) ||
            (pd_control_has_role(d, PD_ROLE_BASELINE) && !pd_control_has_role(d, PD_ROLE_AGENT) &&
             strstr(d->applies_to, "VMSS") == NULL));
}

static uint32_t nvulns(const pd_gen *g, const gen_pair *p, uint16_t vgen)
{
    return 1 + (uint32_t)(pd_hash_mix(g->o.seed ^ (uint64_t)(p - g->pairs), vgen) % 3);
}

static int sched_vulns(pd_gen *g, uint32_t pi, int64_t t, uint8_t flags, uint8_t st, uint16_t vgen)
{
    gen_pair *p = &g->pairs[pi];
    uint32_t n = nvulns(g, p, vgen);
    for (uint32_t j = 0; j < n; j++)
        if (day_item(g, t + 1 + j, IT_SUB, flags, pi, ((uint32_t)vgen << 4) | j, st))
            return PD_ENOMEM;
    return 0;
}

/* Accepts a background alert unless it would put the same alert type on a third distinct
 * server within 70 minutes (lateral-spread's 1 h plus lateness): noise stays benign. */
static bool guard_ok(pd_gen *g, uint32_t type, uint32_t s, int64_t t)
{
    int64_t win = 70 * GEN_MIN_MS;
    int64_t *gt = g->guard_t[type];
    uint32_t *gs = g->guard_s[type];
    int others = 0;
    for (int i = 0; i < 2; i++)
        if (gs[i] != UINT32_MAX && gs[i] != s && t - gt[i] <= win)
            others++;
    if (others >= 2)
        return false;
    int slot = gs[0] == s ? 0 : gs[1] == s ? 1 : (gt[0] <= gt[1] ? 0 : 1);
    gt[slot] = t;
    gs[slot] = s;
    return true;
}

static int plan_day(pd_gen *g)
{
    uint32_t d = g->day_no;
    int64_t ds = g->o.start_ms + (int64_t)d * GEN_DAY_MS, de = ds + GEN_DAY_MS;
    const int64_t quiet = 15 * GEN_MIN_MS; /* snapshot window at the start of each day */
    gen_rng *r = &g->rng;
    g->day.len = 0;
    g->cursor = 0;
    if (d == 0)
        for (size_t k = 0; k < PD_ARRAY_LEN(g->guard_t); k++)
            for (int i = 0; i < 2; i++) {
                g->guard_t[k][i] = INT64_MIN / 2;
                g->guard_s[k][i] = UINT32_MAX;
            }
    bool weekly = d % 7 == 0;
    for (uint32_t s = 0; s < g->nservers; s++) {
        gen_server *sv = &g->servers[s];
        if (sv->dead_at != INT64_MAX)
            continue;
        if (weekly && g->o.inventory &&
            (sv->cloud == PD_CLOUD_AZURE || sv->cloud == PD_CLOUD_ONPREM) &&
            day_item(g, ds + gen_below(r, 60000), IT_INVENTORY, 0, s, 0, 0))
            return PD_ENOMEM;
        for (uint32_t i = 0; i < sv->npairs; i++) {
            uint32_t pi = sv->first_pair + i;
            gen_pair *p = &g->pairs[pi];
            if (weekly) {
                int64_t t = ds + 60000 + gen_below(r, 600000);
                uint8_t fl = p->shape == SHAPE_DEFENDER ? ITF_SNAPSHOT : 0;
                if (day_item(g, t, IT_ASSESS, fl, pi, 0, p->planned))
                    return PD_ENOMEM;
                if (is_vuln_pair(g, p) && p->planned == PD_STATUS_UNHEALTHY &&
                    sched_vulns(g, pi, t, ITF_SNAPSHOT, PD_STATUS_UNHEALTHY, p->vgen))
                    return PD_ENOMEM;
            }
            if (!p->locked && gen_unit(r) < g->o.churn) {
                int64_t t = ds + quiet + gen_below(r, (uint32_t)(GEN_DAY_MS - quiet));
                uint8_t old = p->planned, nw;
                if (old == PD_STATUS_NOT_APPLICABLE)
                    nw = gen_below(r, 5) == 0 ? PD_STATUS_HEALTHY : PD_STATUS_NOT_APPLICABLE;
                else
                    nw = old == PD_STATUS_HEALTHY ? PD_STATUS_UNHEALTHY : PD_STATUS_HEALTHY;
                if (nw == old)
                    continue;
                p->planned = nw;
                if (day_item(g, t, IT_ASSESS, ITF_CHANGE, pi, 0, nw))
                    return PD_ENOMEM;
                if (is_vuln_pair(g, p)) {
                    if (nw == PD_STATUS_UNHEALTHY)
                        p->vgen++;
                    if ((nw == PD_STATUS_UNHEALTHY || old == PD_STATUS_UNHEALTHY) &&
                        sched_vulns(g, pi, t, 0, nw, p->vgen))
                        return PD_ENOMEM;
                }
            }
        }
        if (sv->incident)
            continue;
        /* Decommission: every pair deleted at once. */
        if (g->o.delete_rate > 0 && gen_unit(r) < g->o.delete_rate) {
            int64_t t = ds + quiet + gen_below(r, (uint32_t)(GEN_DAY_MS - quiet - 60000));
            sv->dead_at = t;
            for (uint32_t i = 0; i < sv->npairs; i++)
                if (day_item(g, t + i, IT_ASSESS, ITF_DELETE, sv->first_pair + i, 0,
                             PD_STATUS_REMOVED))
                    return PD_ENOMEM;
        }
    }
    /* Background alerts, filtered in time order by the lateral-spread guard. */
    size_t first_alert = g->day.len;
    for (uint32_t s = 0; s < g->nservers; s++) {
        gen_server *sv = &g->servers[s];
        if (sv->incident)
            continue;
        uint32_t n = poisson(r, g->o.alert_rate);
        for (uint32_t k = 0; k < n; k++) {
            int64_t t = ds + quiet + gen_below(r, (uint32_t)(GEN_DAY_MS - quiet));
            if (t >= sv->dead_at)
                continue;
            if (day_item(g, t, IT_ALERT, 0, s, sv->noise[gen_below(r, 2)], 0))
                return PD_ENOMEM;
        }
    }
    size_t nalerts = g->day.len - first_alert;
    for (size_t i = 0; i < nalerts; i++)
        g->day.v[first_alert + i].seq = (uint32_t)i;
    if (nalerts)
        qsort(g->day.v + first_alert, nalerts, sizeof(gen_item), cmp_time);
    size_t keep = first_alert;
    for (size_t i = first_alert; i < first_alert + nalerts; i++) {
        gen_item *it = &g->day.v[i];
        if (guard_ok(g, it->b, it->a, it->t))
            g->day.v[keep++] = *it;
        else
            g->stats.noise_dropped++;
    }
    g->day.len = keep;
    /* Secure scores every 8 hours, compliance once a day, per subscription. */
    for (uint32_t sub = 0; sub < g->nsubs; sub++) {
        for (int h = 0; h < 3; h++) {
            int64_t t = ds + (7 + 8 * h) * GEN_HOUR_MS + 30 * GEN_MIN_MS + sub;
            if (day_item(g, t, IT_SCORE, 0, sub, 0, 0))
                return PD_ENOMEM;
            for (uint32_t k = 0; k < GEN_NGROUPS; k++)
                if (day_item(g, t + 1 + k, IT_SCORECTL, 0, sub, k, 0))
                    return PD_ENOMEM;
        }
        for (uint32_t c = 0; c < g->nctls; c++) {
            const gen_cmp *cm = &g->cmp[(size_t)sub * g->nctls + c];
            if (g->ctls[c].mcsb && (cm->passed || cm->failed || cm->skipped) &&
                day_item(g, ds + 12 * GEN_HOUR_MS + sub * 1000 + c, IT_COMPLIANCE, 0, sub, c, 0))
                return PD_ENOMEM;
        }
    }
    /* Scripted incidents of this day. */
    while (g->inc_cursor < g->inc.len && g->inc.v[g->inc_cursor].t < de) {
        gen_item *src = &g->inc.v[g->inc_cursor++];
        gen_item *it = push_item(&g->day);
        if (!it)
            return PD_ENOMEM;
        *it = *src;
        if (it->type == IT_ASSESS) {
            gen_pair *p = &g->pairs[it->a];
            uint8_t old = p->planned;
            p->planned = it->target;
            if (is_vuln_pair(g, p)) {
                if (it->target == PD_STATUS_UNHEALTHY)
                    p->vgen++;
                if (sched_vulns(g, it->a, it->t, 0, it->target, p->vgen))
                    return PD_ENOMEM;
            }
            (void)old;
        }
    }
    for (size_t i = 0; i < g->day.len; i++) {
        gen_item *it = &g->day.v[i];
        it->seq = g->seq++;
        it->emit = it->t;
        if (g->o.disorder_ms > 0)
            it->emit += gen_below(r, (uint32_t)g->o.disorder_ms + 1);
    }
    if (g->day.len)
        qsort(g->day.v, g->day.len, sizeof(gen_item), cmp_item);
    g->day_no++;
    return 0;
}

int pd_gen_next(pd_gen *g, pd_buf *out, pd_gen_meta *meta)
{
    pd_gen_meta local;
    pd_gen_meta *m = meta ? meta : &local;
    for (;;) {
        if (g->o.max_events && g->stats.events >= g->o.max_events)
            return PD_ENOTFOUND;
        if (g->cursor >= g->day.len) {
            if (g->o.days && g->day_no >= g->o.days)
                return PD_ENOTFOUND;
            if (g->day_no > 100000)
                return PD_ENOTFOUND;
            int rc = plan_day(g);
            if (rc)
                return rc;
            continue;
        }
        const gen_item *it = &g->day.v[g->cursor++];
        size_t before = out->len;
        int rc = pd_gen_render(g, it, out, m);
        if (rc == PD_ENOTFOUND)
            continue; /* skipped (its server was decommissioned) */
        if (rc)
            return rc;
        if (out->oom)
            return PD_ENOMEM;
        g->stats.events++;
        g->stats.bytes += out->len - before;
        g->stats.by_kind[m->kind]++;
        g->stats.by_format[m->format]++;
        return 0;
    }
}

void pd_gen_get_stats(const pd_gen *g, pd_gen_stats *out)
{
    *out = g->stats;
}

uint32_t pd_gen_incident_count(const pd_gen *g)
{
    return g->nincs;
}

const pd_gen_incident_info *pd_gen_incident_at(const pd_gen *g, uint32_t i)
{
    return i < g->nincs ? &g->incs[i] : NULL;
}

const char *pd_gen_server_id(const pd_gen *g, uint32_t server)
{
    return server < g->nservers ? gen_str(g, g->servers[server].id) : "";
}

const char *pd_gen_server_key(const pd_gen *g, uint32_t server)
{
    return server < g->nservers ? gen_str(g, g->servers[server].key) : "";
}
