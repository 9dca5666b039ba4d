/* pd_gen_int.h: internals shared by the generator's files (fleet model, schedule, writers).
 * Not part of any public API. Thread: one generator per thread. */
#ifndef PD_GEN_INT_H
#define PD_GEN_INT_H

#include "pd_gen.h"

#define GEN_DAY_MS  86400000LL
#define GEN_HOUR_MS 3600000LL
#define GEN_MIN_MS  60000LL

/* xoshiro256** seeded through splitmix64: fast, good enough, and ours (no libc rand). */
typedef struct gen_rng {
    uint64_t s[4];
} gen_rng;

static inline uint64_t gen_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline void gen_rng_seed(gen_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = gen_splitmix(&x);
}
static inline uint64_t gen_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}
static inline uint64_t gen_next(gen_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = gen_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gen_rotl(s[3], 45);
    return res;
}
/* Uniform in [0, n). */
static inline uint32_t gen_below(gen_rng *r, uint32_t n)
{
    return (uint32_t)(((gen_next(r) >> 32) * (uint64_t)n) >> 32);
}
static inline double gen_unit(gen_rng *r)
{
    return (double)(gen_next(r) >> 11) * 0x1p-53;
}

enum { SHAPE_DEFENDER = 0, SHAPE_ASFF, SHAPE_SCC };
enum { OS_LINUX = 0, OS_WINDOWS };

typedef struct gen_server {
    uint8_t cloud; /* pd_cloud */
    uint8_t os, env, tier;
    uint8_t owner;
    bool incident;    /* reserved for a scripted incident: no noise, churn or delete */
    uint8_t noise[2]; /* indexes into the noise alert table */
    uint32_t sub;     /* Defender subscription index */
    uint32_t acct;    /* AWS account / GCP project index (aws, gcp) */
    uint32_t region;  /* index into the cloud's region table */
    int64_t dead_at;  /* decommission time, INT64_MAX while alive */
    uint32_t first_pair, npairs;
    /* string pool offsets */
    uint32_t name, id, key, native, rg, type, native_type, vmid, instance, ip;
} gen_server;

typedef struct gen_pair {
    uint32_t server;
    uint16_t ctl;     /* index into gen->ctls */
    uint8_t shape;    /* SHAPE_* */
    uint8_t status;   /* pd_status as last rendered */
    uint8_t planned;  /* pd_status as scheduled (targets of scheduled changes) */
    bool locked;      /* scripted: churn leaves it alone */
    uint16_t vgen;    /* vulnerability generation (sub-assessment ids) */
    int64_t first_ms; /* first evaluation */
    int64_t change_ms;
} gen_pair;

/* A control the generator uses, with precomputed facts. */
typedef struct gen_ctl {
    const pd_control_def *def;
    int8_t group;        /* secure score control index, -1 none */
    uint32_t mcsb;       /* pool offset of the compliance control ("PV.5"), 0 = none */
    uint32_t categories; /* pool offset of the Defender categories JSON array */
} gen_ctl;

enum {
    IT_INVENTORY = 0,
    IT_ASSESS,     /* a: pair; flags: snapshot/delete/change; target: new status */
    IT_SUB,        /* a: pair; b: vgen << 4 | j; target: status */
    IT_ALERT,      /* a: server; b: alert table index */
    IT_SCORE,      /* a: subscription */
    IT_SCORECTL,   /* a: subscription; b: group */
    IT_COMPLIANCE, /* a: subscription; b: ctl */
};
enum { ITF_SNAPSHOT = 1, ITF_DELETE = 2, ITF_CHANGE = 4 };

typedef struct gen_item {
    int64_t t, emit;
    uint32_t seq;
    uint8_t type, flags, inc, target;
    uint32_t a, b;
} gen_item;

typedef struct gen_items {
    gen_item *v;
    size_t len, cap;
} gen_items;

typedef struct gen_alert_type {
    const char *type, *display, *intent;
    pd_severity sev;
    uint32_t tactics;
    const char *description;
} gen_alert_type;

typedef struct gen_score_group {
    const char *name;
    int max;
    const char *id; /* NULL: derived from the name */
} gen_score_group;

#define GEN_NGROUPS 9

typedef struct gen_subinfo {
    uint32_t guid;                /* pool offset */
    uint32_t key;                 /* "/subscriptions/<guid>" (pool offset) */
    uint32_t cls[GEN_NGROUPS][3]; /* per score group: healthy, unhealthy, n/a resources */
} gen_subinfo;

typedef struct gen_cmp {
    uint32_t passed, failed, skipped;
} gen_cmp;

struct pd_gen {
    pd_gen_opts o;
    pd_controls *owned_controls;
    const pd_controls *controls;
    gen_rng rng; /* the schedule's stream */
    char *pool;  /* strings; offsets into it, 0 = "" */
    size_t pool_len, pool_cap;
    uint32_t tenant;
    gen_server *servers;
    uint32_t nservers;
    gen_pair *pairs;
    uint32_t npairs;
    gen_ctl *ctls;
    uint32_t nctls;
    gen_subinfo *subs;
    uint32_t nsubs;
    uint32_t naws, ngcp;
    uint32_t *aws_acct, *gcp_proj, *gcp_projnum;         /* pool offsets */
    uint32_t *aws_conn, *gcp_conn;                       /* connector ids (pool offsets) */
    uint32_t org;                                        /* GCP organization number */
    uint32_t grp_id[GEN_NGROUPS], grp_defs[GEN_NGROUPS]; /* score control id, JSON list */
    uint16_t *grp_n, *grp_unh, *grp_na; /* per server and score group: pair counts */
    gen_cmp *cmp;                       /* per subscription and ctl */
    gen_items day;                      /* the current day's schedule, sorted */
    size_t cursor;
    uint32_t day_no;
    gen_items inc; /* every scripted incident item, sorted by time */
    size_t inc_cursor;
    pd_gen_incident_info *incs;
    uint32_t nincs;
    uint32_t seq;
    /* noise lateral-spread guard: per noise type the last two accepted (time, server) */
    int64_t guard_t[32][2]; /* indexed by alert table index < AT_NOISE__COUNT + 1 */
    uint32_t guard_s[32][2];
    pd_gen_stats stats;
    /* per-message scratch for meta strings */
    char s_event[512], s_alert[96], s_cve[32], s_std[64], s_ctl[16];
};

/* pd_gen_write.c */
int pd_gen_render(pd_gen *g, const gen_item *it, pd_buf *out, pd_gen_meta *m);
const gen_alert_type *pd_gen_alert_type(uint32_t i);
uint32_t pd_gen_alert_type_count(void);
const gen_score_group *pd_gen_score_group(uint32_t i);
void pd_gen_set_status(pd_gen *g, gen_pair *p, pd_status st);

static inline const char *gen_str(const pd_gen *g, uint32_t off)
{
    return g->pool + off;
}

/* Alert table indexes the schedule refers to by name. */
enum {
    AT_NOISE_PROBE = 0,
    AT_NOISE_SSHFAIL,
    AT_NOISE_EXEC,
    AT_NOISE_AAC,
    AT_NOISE_MINER,
    AT_NOISE_FILELESS_W,
    AT_NOISE_FILELESS_L,
    AT_NOISE_AMDIS,
    AT_NOISE_AMTEMP,
    AT_NOISE_AMRT,
    AT_NOISE_AMRTT,
    AT_NOISE_AMCAMP,
    AT_NOISE_AMUNUSUAL,
    AT_NOISE_SSHKEY,
    AT_NOISE__COUNT,
    AT_SCC_BRUTE = AT_NOISE__COUNT, /* gcp servers' SCC threat finding */
    AT_WEAK,
    AT_KC1,
    AT_KC2,
    AT_KC3,
    AT_KC4,
    AT_LATERAL,
    AT_DRIFT,
    AT_TAMPER,
    AT_BURST,
    AT__COUNT
};

/* pd_gen.c helpers for the writers. */
const char *pd_gen_region(const pd_gen *g, const gen_server *sv);
const char *pd_gen_owner(const gen_server *sv);
const char *pd_gen_tier(const gen_server *sv);
const char *pd_gen_env_name(uint8_t e);

#endif
