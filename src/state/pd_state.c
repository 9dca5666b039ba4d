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
    if (pd_changelog_key_is_control(k)) {
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
