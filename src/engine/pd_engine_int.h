/* pd_engine_int.h: the goals engine's internal records, shared by pd_engine.c and
 * pd_engine_state.c (state export/import). Not a public interface: only files under
 * src/engine include it. Layout notes are at the top of pd_engine.c.
 * Ownership and thread: as pd_engine.h. */
#ifndef PD_ENGINE_INT_H
#define PD_ENGINE_INT_H

#include "pd_arena.h"
#include "pd_engine.h"
#include "pd_intern.h"

#include <stdlib.h>

#define WHEEL_BITS 20 /* 2^20 one-second slots: about 12 days before an entry goes round */
#define WHEEL_SIZE (1u << WHEEL_BITS)
#define WHEEL_MASK (WHEEL_SIZE - 1)
#define MAX_SLA    8 /* SLA goals per control (one bit each in a pair) */

enum {
    F_STALE = 1u << 0,
    F_LINKED = 1u << 1,
    F_FLAPPING = 1u << 2,
    F_EMITTED_BAD = 1u << 3, /* the last per-resource signal said "unhealthy" */
    F_SEV_SHIFT = 4,         /* bits 4..6: pd_severity */
    F_IN_SNAP = 1u << 7,     /* a record came for it during its resource's open snapshot */
};

typedef struct pair {
    uint32_t res, ctl;
    uint32_t ev_s;    /* event time of the last applied event (ordering) */
    uint32_t seen_s;  /* when last confirmed (the watermark then): staleness counts from it */
    uint32_t since_s; /* unhealthy since */
    uint32_t tprev, tnext;
    uint32_t flap_s; /* start of the current flapping window */
    uint8_t status;  /* last known pd_status; REMOVED after a delete or reconciliation */
    uint8_t flags;
    uint8_t flap_n;   /* toggles in the current window */
    uint8_t sla_bits; /* bit i: the control's i-th SLA goal has expired for this pair */
} pair;
_Static_assert(sizeof(pair) == 36, "pair record must stay 36 bytes");

typedef struct res {
    uint64_t scope;    /* goals this resource is in scope of */
    uint64_t tagmatch; /* goals whose tag conditions the resource's last known tags meet */
    uint32_t account, group, type, name, region; /* account: acct table; others: strs */
    uint32_t attr_hash;
    uint32_t snap_s; /* nonzero while a snapshot of it is open (the watermark it opened at) */
    uint16_t live;   /* pairs not removed (saturating); 0 after having some: the resource is gone */
    uint8_t cloud;
    uint8_t gone; /* every pair removed: out of every scope until a record brings it back */
} res;

typedef struct ctl {
    uint64_t goals; /* goals selecting this control */
    uint32_t name;  /* strs */
    pd_str *frameworks;
    uint32_t nframeworks;
    uint32_t stale_s; /* smallest stale_after of its goals; 0 = never */
    uint32_t flap_window_s;
    uint8_t flap_toggles;
    uint8_t sev;
    uint8_t nsla;
    uint8_t sla_goal[MAX_SLA];
} ctl;

typedef struct rgc {
    uint16_t unh, hea, unk, na; /* per (resource, goal) pair counts; sla goals: na = expired */
} rgc;

enum { RS_NONE = 0, RS_BAD, RS_UNKNOWN, RS_HEALTHY, RS_NA };

typedef struct hu {
    uint32_t h, u;
} hu;

typedef struct acct {
    double score_num, score_den;
    bool has_score;
    /* Unused since snapshots complete per resource (res.snap_s, F_IN_SNAP); kept so that
     * state code written against them still builds. */
    bool snap_open, reconciling;
    uint32_t snap_start_s, snap_last_s;
    uint8_t cloud;
} acct;

typedef struct comprec {
    uint32_t passed, failed;
    uint32_t account;
    uint64_t goals; /* compliance goals it counts for */
} comprec;

typedef struct goal_rt {
    const pd_goal *g;
    uint64_t in_scope, res_bad, res_healthy, res_na, res_unk_pairs, sla_viol;
    uint32_t *ctls; /* control ids selecting this goal */
    uint32_t nctls, ctls_cap;
    hu *per_ctl; /* score/compliance from assessments, indexed by control id */
    uint32_t per_ctl_cap;
    uint64_t pc_h, pc_u; /* sums over per_ctl */
    uint64_t score_fp;   /* sum over controls of h / (h + u), fixed point 2^32 */
    uint32_t score_n;    /* controls with h + u > 0 */
    /* score and compliance from their own events */
    double ev_num, ev_den;
    uint32_t ev_records;
    int rgi;   /* index among the per-resource goals (control, coverage, sla), else -1 */
    int state; /* -1 unset, 0 breached, 1 met */
    bool has_value;
    double last_value;
    int64_t changed_ms;
    bool dirty;
    pd_str target;
} goal_rt;

typedef struct ftab {
    uint64_t *slots;
    uint32_t mask, count;
} ftab;

struct pd_engine {
    pd_engine_opts o;
    const pd_goal_set *set;
    uint32_t ngoals;
    goal_rt *goals;

    pd_intern *res_ids, *ctl_ids, *strs, *accts, *comp_ids;
    ftab res_tab, ctl_tab;
    uint32_t last_res; /* events come in bursts per resource */
    bool burst_start;  /* this record's machine differs from the previous one's */
    bool defer_eval;   /* inside a batch of pair changes: goals are evaluated at its end */
    res *res;
    uint32_t res_cap;
    rgc *rg; /* res_cap * nrg: per (resource, per-resource goal) */
    uint32_t nrg;
    ctl *ctls;
    uint32_t ctls_cap;
    acct *accts_v;
    uint32_t accts_cap;
    uint32_t open_snapshots, live_s, snap_due_s; /* unused, see acct */
    comprec *comp;
    uint32_t comp_cap;

    pair **chunks;
    uint32_t nchunks, chunks_cap, npairs;
    uint32_t *index;
    uint32_t index_groups;

    uint32_t *wheel;
    uint32_t wheel_cur;  /* every slot before this second has been processed */
    uint32_t clock_s;    /* the timers' clock: now_s - lateness_s */
    uint32_t lateness_s; /* how far timers run behind event time */

    int64_t now_ms;
    uint32_t now_s;
    pd_arena arena;
    pd_engine_stats st;
    char timebuf[32];
    uint64_t fingerprint; /* pd_engine_state_fingerprint, computed at creation */
    /* Change tracking (pd_engine_track_touched): resources whose state timers, snapshot
     * reconciliation or deletes changed since the last pd_engine_touched_clear. */
    uint32_t *touched;
    uint32_t ntouched, touched_cap;
    bool track_touched, touched_overflow;
};

#define TOUCHED_MAX (1u << 20) /* beyond, the tracker compares every resource */

static inline void pd_engine_int_touch(pd_engine *e, uint32_t r)
{
    if (!e->track_touched || e->touched_overflow ||
        (e->ntouched && e->touched[e->ntouched - 1] == r))
        return;
    if (e->ntouched == e->touched_cap) {
        uint32_t nc = e->touched_cap ? e->touched_cap * 2 : 1024;
        uint32_t *nt = nc <= TOUCHED_MAX ? realloc(e->touched, nc * sizeof(uint32_t)) : NULL;
        if (!nt) {
            e->touched_overflow = true;
            return;
        }
        e->touched = nt;
        e->touched_cap = nc;
    }
    e->touched[e->ntouched++] = r;
}

#define PAIR_BITS  14
#define PAIR_CHUNK (1u << PAIR_BITS)
/* The record of pair v (1-based). */
#define PAIR(e, v) (&(e)->chunks[((v)-1) >> PAIR_BITS][((v)-1) & (PAIR_CHUNK - 1)])

/* Entry points for pd_engine_state.c (defined at the end of pd_engine.c). */
int pd_engine_int_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem, uint32_t min);
/* Finds or adds a resource id (res table) or control key (ctl table); *fresh tells which. */
int pd_engine_int_res_id(pd_engine *e, pd_str canon, uint32_t *out, bool *fresh);
int pd_engine_int_ctl_id(pd_engine *e, pd_str key, uint32_t *out, bool *fresh);
/* Appends a pair record (status unknown) and indexes it; *v is its 1-based index. */
int pd_engine_int_pair_add(pd_engine *e, uint32_t r, uint32_t c, uint32_t *v);
/* Links pair v at the head of the wheel slot of deadline_s. */
void pd_engine_int_link(pd_engine *e, uint32_t v, uint32_t deadline_s);
/* Adds (sign +1) or removes (-1) pair v's share in the counters of its goals. */
void pd_engine_int_contrib(pd_engine *e, uint32_t v, int sign);
/* Looks a resource id / control key up without adding it: 0 when absent. */
uint32_t pd_engine_int_find_res(const pd_engine *e, pd_str canon);
uint32_t pd_engine_int_find_ctl(const pd_engine *e, pd_str key);
/* The pair index's layout, so an image can carry the index itself: a slot holds
 * pd_engine_int_idx_tag(h) | v (v = pair index, at most pd_engine_int_idx_mask()), with h =
 * pd_engine_int_pair_hash(r, c); probing starts at pd_engine_int_pair_home(h, groups). */
uint64_t pd_engine_int_pair_hash(uint32_t r, uint32_t c);
uint32_t pd_engine_int_pair_home(uint64_t h, uint32_t ngroups);
uint32_t pd_engine_int_idx_tag(uint64_t h);
uint32_t pd_engine_int_idx_mask(void);
/* Per-resource restore (changelog records): the pairs of resource r (as pairs_of_res: up to
 * cap written, the count returned), a pair's next timer deadline (0 = none), unlinking its
 * timer, finding or adding an account, and finding or adding a control as an event naming it
 * would (ev: kind, control key/name/frameworks). */
uint32_t pd_engine_int_pairs_of_res(const pd_engine *e, uint32_t r, uint32_t *out, uint32_t cap);
uint32_t pd_engine_int_deadline(const pd_engine *e, uint32_t v);
void pd_engine_int_unlink(pd_engine *e, uint32_t v);
int pd_engine_int_acct(pd_engine *e, pd_str account, uint32_t *out);
int pd_engine_int_ctl_from_event(pd_engine *e, const pd_event *ev, uint32_t *out);
/* Whether an account (of a cloud) is in goal g's scope, as score and compliance events are. */
bool pd_engine_int_acct_in_scope(const pd_goal *g, pd_cloud cloud, pd_str account);
/* The 1-based index of pair (r, c), 0 when absent. */
uint32_t pd_engine_int_find_pair(const pd_engine *e, uint32_t r, uint32_t c);

#endif
