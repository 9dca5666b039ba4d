/* Snapshot + changelog restore (see pd_state.h). */
#include "pd_state.h"

#include <stdio.h>
#include <string.h>

int pd_state_restore_snapshot(pd_engine *e, const char *path, pd_snapshot_meta *m, pd_buf *scratch,
                              char *why, size_t why_len)
{
    int rc = pd_snapshot_load_engine(path, e, m, scratch, why, why_len);
    if (rc == PD_ENOTFOUND)
        pd_snapshot_meta_init(m);
    return rc;
}

int pd_state_apply(pd_engine *e, pd_changelog_dec *d, const void *key, size_t klen,
                   const void *value, size_t vlen, char *why, size_t why_len)
{
    if (!key || !klen || klen > UINT32_MAX / 2) {
        snprintf(why, why_len, "a changelog record without a key");
        return PD_EINVAL;
    }
    pd_str k = {key, (uint32_t)klen};
    int rc;
    if (pd_changelog_key_is_acct(k)) {
        if (!value)
            return 0;
        pd_changelog_acct a;
        if ((rc = pd_changelog_decode_acct(d, value, vlen, &a, why, why_len)))
            return rc;
        rc = pd_engine_import_account(e, &a);
    } else if (pd_changelog_key_is_goal(k)) {
        if (!value)
            return 0;
        pd_changelog_goal g;
        if ((rc = pd_changelog_decode_goal(d, value, vlen, &g, why, why_len)))
            return rc;
        rc = pd_engine_import_goal(e, &g);
        if (rc == PD_ENOTFOUND)
            rc = 0; /* a goal this goal set no longer has (cannot happen under one fingerprint) */
    } else if (pd_changelog_key_is_control(k)) {
        if (!value) /* controls are never deleted */
            return 0;
        pd_changelog_ctl c;
        if ((rc = pd_changelog_decode_control(d, value, vlen, &c, why, why_len)))
            return rc;
        rc = pd_engine_import_control(e, &c);
    } else if (!value) {
        rc = pd_engine_import_tombstone(e, k);
    } else {
        pd_changelog_res r;
        if ((rc = pd_changelog_decode(d, value, vlen, &r, why, why_len)))
            return rc;
        if (!pd_str_eq(r.id, k)) {
            snprintf(why, why_len, "record for %.*s under key %.*s", (int)PD_MIN(r.id.len, 200u),
                     r.id.p, (int)PD_MIN(k.len, 200u), k.p);
            return PD_EINVAL;
        }
        rc = pd_engine_import_resource(e, &r);
    }
    if (rc == PD_ESTATE)
        snprintf(why, why_len, "record of another goal set or engine options");
    else if (rc == PD_EINVAL)
        snprintf(why, why_len, "record values out of range (goal bits, status, duplicate pair)");
    return rc;
}

/* ---------- change tracking ---------- */

#include <stdlib.h>

struct pd_state_tracker {
    uint64_t *last; /* digest last written, per resource id */
    uint64_t *now;
    uint32_t cap, nres_written, nctl_written;
    uint64_t timers_seen, snaps_seen;
    uint64_t *acct_last, *acct_now;
    uint32_t acct_cap, nacct_written;
    pd_goal_status goal_last[PD_GOALS_MAX];
    bool goal_written[PD_GOALS_MAX];
    uint32_t *marks;
    uint32_t nmarks, marks_cap;
    pd_buf val, key;
};

int pd_state_tracker_create(pd_state_tracker **out)
{
    pd_state_tracker *t = calloc(1, sizeof(*t));
    if (!t)
        return PD_ENOMEM;
    pd_buf_init(&t->val);
    pd_buf_init(&t->key);
    *out = t;
    return 0;
}

void pd_state_tracker_destroy(pd_state_tracker *t)
{
    if (!t)
        return;
    free(t->last);
    free(t->now);
    free(t->marks);
    free(t->acct_last);
    free(t->acct_now);
    pd_buf_free(&t->val);
    pd_buf_free(&t->key);
    free(t);
}

int pd_state_tracker_mark(pd_state_tracker *t, const pd_engine *e, pd_str canon)
{
    uint32_t r = pd_engine_resource_find(e, canon);
    if (!r || r > t->nres_written)
        return 0;
    if (t->nmarks && t->marks[t->nmarks - 1] == r)
        return 0; /* bursts of one machine's records */
    if (t->nmarks == t->marks_cap) {
        uint32_t nc = t->marks_cap ? t->marks_cap * 2 : 1024;
        uint32_t *nm = realloc(t->marks, nc * sizeof(uint32_t));
        if (!nm)
            return PD_ENOMEM;
        t->marks = nm;
        t->marks_cap = nc;
    }
    t->marks[t->nmarks++] = r;
    return 0;
}

static int grow(uint64_t **a, uint32_t old, uint32_t n)
{
    uint64_t *na = realloc(*a, ((size_t)n + 1) * sizeof(uint64_t));
    if (!na)
        return PD_ENOMEM;
    if (n > old)
        memset(na + old + 1, 0, (size_t)(n - old) * sizeof(uint64_t));
    if (!old)
        na[0] = 0;
    *a = na;
    return 0;
}

int pd_state_tracker_collect(pd_state_tracker *t, pd_engine *e, pd_state_record_fn fn, void *ctx,
                             uint32_t *nrecords)
{
    uint32_t count = 0;
    int rc = 0;
    uint32_t nctl = pd_engine_control_count(e), nres = pd_engine_resource_count(e);
    if (nrecords)
        *nrecords = 0;
    for (uint32_t c = t->nctl_written + 1; c <= nctl; c++) {
        pd_buf_reset(&t->val);
        pd_buf_reset(&t->key);
        if (fn && ((rc = pd_engine_export_control(e, c, &t->val, &t->key)) ||
                   (rc = fn(ctx, t->key.p, t->key.len, t->val.p, t->val.len))))
            return rc;
        t->nctl_written = c;
        count++;
    }
    if (nres > t->cap) {
        uint32_t nc = t->cap ? t->cap : 1024;
        while (nc < nres)
            nc *= 2;
        if ((rc = grow(&t->last, t->cap, nc)) || (rc = grow(&t->now, t->cap, nc)))
            return rc;
        t->cap = nc;
    }
    pd_engine_stats st;
    pd_engine_stats_get(e, &st);
    bool full = st.timers_fired != t->timers_seen || st.snapshots_completed != t->snaps_seen;
    /* With the engine listing what timers, reconciliation and deletes touched, those are
     * marks too and no full pass is needed (unless the list overflowed). */
    uint32_t ntouched = 0;
    bool overflow = false;
    const uint32_t *touched = NULL;
    if (pd_engine_tracking_touched(e)) {
        touched = pd_engine_touched(e, &ntouched, &overflow);
        full = overflow;
    }
    /* Which resources to compare: all, or the marked ones and the new ones. */
    uint32_t nnew = nres - t->nres_written;
    if (!full) {
        if (t->nmarks + nnew + ntouched > t->marks_cap) {
            size_t nc = (size_t)t->nmarks + nnew + ntouched;
            uint32_t *nm = realloc(t->marks, nc * sizeof(uint32_t));
            if (!nm)
                return PD_ENOMEM;
            t->marks = nm;
            t->marks_cap = (uint32_t)nc;
        }
        for (uint32_t i = 0; i < ntouched; i++)
            if (touched[i] && touched[i] <= t->nres_written)
                t->marks[t->nmarks++] = touched[i];
        for (uint32_t r = t->nres_written + 1; r <= nres; r++)
            t->marks[t->nmarks++] = r;
        rc = pd_engine_resource_digests(e, t->now, t->marks, t->nmarks);
    } else {
        rc = pd_engine_resource_digests(e, t->now, NULL, 0);
    }
    if (rc)
        return rc;
    uint32_t n = full ? nres : t->nmarks;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = full ? i + 1 : t->marks[i];
        bool fresh = r > t->nres_written;
        if (!fresh && t->now[r] == t->last[r])
            continue;
        pd_str k;
        pd_buf_reset(&t->val);
        if (fn && ((rc = pd_engine_export_resource(e, r, &t->val, &k)) ||
                   (rc = fn(ctx, k.p, k.len, t->val.p, t->val.len))))
            return rc;
        t->last[r] = t->now[r];
        count++;
        if (nrecords)
            *nrecords = count;
    }
    /* Accounts (scores, compliance records): few, so compared in full each time. */
    uint32_t nacc = pd_engine_account_count(e);
    if (nacc > t->acct_cap) {
        uint32_t nc = t->acct_cap ? t->acct_cap : 64;
        while (nc < nacc)
            nc *= 2;
        if ((rc = grow(&t->acct_last, t->acct_cap, nc)) ||
            (rc = grow(&t->acct_now, t->acct_cap, nc)))
            return rc;
        t->acct_cap = nc;
    }
    if (nacc && (rc = pd_engine_account_digests(e, t->acct_now)))
        return rc;
    for (uint32_t a = 1; a <= nacc; a++) {
        if (a <= t->nacct_written && t->acct_now[a] == t->acct_last[a])
            continue;
        pd_buf_reset(&t->val);
        pd_buf_reset(&t->key);
        if (fn && ((rc = pd_engine_export_account(e, a, &t->val, &t->key)) ||
                   (rc = fn(ctx, t->key.p, t->key.len, t->val.p, t->val.len))))
            return rc;
        t->acct_last[a] = t->acct_now[a];
        count++;
    }
    t->nacct_written = nacc;
    /* Goal states after the resources, so a reader that stops mid-way errs on the old side. */
    for (uint32_t i = 0; i < pd_engine_goal_count(e) && i < PD_GOALS_MAX; i++) {
        pd_goal_status gs;
        pd_engine_goal_status(e, i, &gs);
        const pd_goal_status *o = &t->goal_last[i];
        if (t->goal_written[i] && o->met == gs.met && o->has_value == gs.has_value &&
            o->value == gs.value && o->changed_ms == gs.changed_ms)
            continue;
        pd_buf_reset(&t->val);
        pd_buf_reset(&t->key);
        if (fn && ((rc = pd_engine_export_goal(e, i, &t->val, &t->key)) ||
                   (rc = fn(ctx, t->key.p, t->key.len, t->val.p, t->val.len))))
            return rc;
        t->goal_last[i] = gs;
        t->goal_written[i] = true;
        count++;
    }
    t->nmarks = 0;
    if (pd_engine_tracking_touched(e))
        pd_engine_touched_clear(e);
    t->nres_written = nres;
    t->timers_seen = st.timers_fired;
    t->snaps_seen = st.snapshots_completed;
    if (nrecords)
        *nrecords = count;
    return 0;
}
