/* pd_state.h: restoring a partition's engine state the way the runtime does it on
 * assignment: the local snapshot (when there is one), then the changelog records produced
 * after it (pd_snapshot_meta.changelog_offset), in topic order, through pd_state_apply.
 *
 *   pd_state_restore_snapshot(e, path, &meta, ...)   -> PD_ENOTFOUND: start from nothing
 *   for each changelog message from meta.changelog_offset (or the beginning):
 *       pd_state_apply(e, dec, key, klen, value, vlen, ...)
 *   pd_engine_import_settle(e, watermark)             -> only when no snapshot was loaded
 *
 * Ownership: the caller owns the engine, decoder, buffers. Thread: the engine's thread
 * (restores happen before the partition's first event, so stalling there is expected). */
#ifndef PD_STATE_H
#define PD_STATE_H

#include "pd_changelog.h"
#include "pd_snapshot.h"

/* Loads the snapshot at path into the fresh engine e. PD_ENOTFOUND (m initialized, e left
 * fresh) when there is none; other errors as pd_snapshot_load_engine (then destroy e and
 * start from the changelog alone). */
int pd_state_restore_snapshot(pd_engine *e, const char *path, pd_snapshot_meta *m, pd_buf *scratch,
                              char *why, size_t why_len);

/* Applies one changelog message: key "#ctl:..." is a control record, any other key a
 * resource record, or a tombstone when value is NULL. A resource record whose id is not its
 * key is refused (PD_EINVAL). Returns 0, PD_EINVAL (why says why), PD_ESTATE (another goal
 * set), PD_ENOMEM. */
int pd_state_apply(pd_engine *e, pd_changelog_dec *d, const void *key, size_t klen,
                   const void *value, size_t vlen, char *why, size_t why_len);

/* The changelog producer's side: which records to write at a commit. The runtime marks the
 * resource of each message it feeds (the message key: issue 8 re-keys input by canonical
 * resource id); collect then hands out a control record for every control set up since the
 * last collect, and a resource record for every resource whose state changed: the marked
 * ones, resources new since then, and, when timers fired or snapshots were reconciled since
 * (the engine's statistics say so), every resource (one pass over the pairs, comparing
 * digests). Records come out controls first. Values passed to fn are valid during the call.
 * Memory: 8 bytes per resource plus the marks of one commit. */
typedef struct pd_state_tracker pd_state_tracker;
typedef int (*pd_state_record_fn)(void *ctx, const void *key, size_t klen, const void *value,
                                  size_t vlen);

int pd_state_tracker_create(pd_state_tracker **out);
void pd_state_tracker_destroy(pd_state_tracker *t);
/* Marks the resource with canonical id canon (no-op when the engine does not know it yet:
 * new resources are found by count). */
int pd_state_tracker_mark(pd_state_tracker *t, const pd_engine *e, pd_str canon);
/* Calls fn for each record to write; returns 0, fn's non-zero value, or PD_ENOMEM. The
 * tracker counts a record as written only when fn returned 0. *nrecords (may be NULL) gets
 * how many records fn was given. fn NULL: every record counts as written without being
 * encoded (after a restore: the changelog already holds them). */
int pd_state_tracker_collect(pd_state_tracker *t, pd_engine *e, pd_state_record_fn fn, void *ctx,
                             uint32_t *nrecords);

#endif
