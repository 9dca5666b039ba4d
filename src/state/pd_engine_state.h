/* pd_engine_state.h: the goals engine's state as bytes, and back (src/engine/pd_engine_state.c).
 *
 * Image: the whole engine (interned strings, resources, controls, accounts, compliance
 * records, goal states, every pair with its status, times and flap counters, and the timer
 * wheel with its list order), as a stream of tagged sections of fixed-width little-endian
 * records (format in schemas/state-snapshot.md). Importing an image into a fresh engine made
 * from the same goal set rebuilds the per-goal counters from the pairs, and gives an engine
 * that computes the same goal values and emits the same later signals, in the same order, as
 * the one exported. Per-resource records (the changelog): see pd_changelog.h.
 *
 * Ownership: the caller owns every buffer; nothing is kept after return.
 * Thread: the engine's thread (export reads the engine, import writes it). */
#ifndef PD_ENGINE_STATE_H
#define PD_ENGINE_STATE_H

#include "pd_buf.h"
#include "pd_engine.h"

#define PD_ENGINE_STATE_VERSION 1

/* A fingerprint of what gives the engine's state its meaning: the goals (in order), their
 * scopes, selectors, targets and timers, and the engine options that shape pair records.
 * An image only imports into an engine with the same fingerprint. */
uint64_t pd_engine_state_fingerprint(const pd_engine *e);
/* Mixes one goal's definition (what gives its counters and state their meaning) into h: the
 * fingerprint's per-goal part, also pd_goal_digest's. */
uint64_t pd_goal_hash(uint64_t h, const pd_goal *g);

/* Appends e's image to out. Returns 0 or PD_ENOMEM. */
int pd_engine_state_export(const pd_engine *e, pd_buf *out);

/* Restores an image into e, which must be fresh (created, nothing applied) and have the same
 * fingerprint. Every count, id and length is checked before use: a truncated or corrupt
 * image gives PD_EINVAL with a reason in why (may be NULL; why_len bytes), PD_ESTATE when e
 * is not fresh or the fingerprint differs. After an error e is unusable: destroy it. */
int pd_engine_state_import(pd_engine *e, const void *data, size_t len, char *why, size_t why_len);

#endif
