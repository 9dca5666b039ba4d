/* pd_changelog.h: changelog records, one per resource: the Kafka key is the resource's
 * canonical id, the value a msgpack map holding that resource's full state (attributes, scope
 * and every (resource, control) pair with status, times and flap counters), or no value at
 * all (a tombstone) once the resource is gone. Produced to a compacted topic, the latest
 * record per key is the resource's state; restoring a partition is: load the local snapshot,
 * then import every changelog record after the snapshot's changelog offset.
 * Format: schemas/state-changelog.md.
 *
 * pd_changelog_encode / _decode convert between a pd_changelog_res and bytes; the engine side
 * (pd_engine_export_resource / pd_engine_import_resource, src/engine/pd_engine_state.c) fills
 * and applies them.
 *
 * Ownership: a decoded record's strings and pairs belong to the decoder and stay valid until
 * its next decode or its destruction. Encode appends to the caller's buffer.
 * Thread: a decoder belongs to one thread; encode is reentrant. */
#ifndef PD_CHANGELOG_H
#define PD_CHANGELOG_H

#include "pd_buf.h"
#include "pd_common.h"
#include "pd_engine.h"

#define PD_CHANGELOG_VERSION 1

typedef struct pd_changelog_dec pd_changelog_dec; /* a reusable decoder */

typedef struct pd_changelog_pair {
    pd_str control;   /* control key (lowercase, as the engine interned it); its name, goals
                         and frameworks are in the control's own record */
    uint8_t status;   /* pd_status */
    uint8_t flags;    /* engine pair flags (stale, flapping, emitted, severity bits) */
    uint8_t flap_n;   /* toggles in the current flapping window */
    uint8_t sla_bits; /* bit i: the control's i-th SLA goal expired for this pair */
    uint32_t ev_s, seen_s, since_s, flap_s; /* seconds since the epoch */
} pd_changelog_pair;

typedef struct pd_changelog_res {
    uint64_t fingerprint; /* pd_engine_state_fingerprint of the engine that wrote it */
    pd_str id;            /* canonical resource id (also the Kafka key) */
    uint8_t cloud;        /* pd_cloud */
    pd_str account, group, type, name, region;
    uint64_t scope, tagmatch; /* bit per goal index (valid under the same fingerprint) */
    uint32_t attr_hash, snap_s;
    uint16_t live; /* pairs not removed (saturating) */
    uint8_t gone;  /* every pair removed: out of every scope */
    const pd_changelog_pair *pairs;
    uint32_t npairs;
} pd_changelog_res;

/* A control as the engine set it up from the first event naming it (which goals select it,
 * its staleness, flapping and SLA settings, name and frameworks). Keyed "#ctl:" + control
 * key on the same topic (no resource id starts with '#'). The goal selection can depend on
 * what that first event said (a sub-assessment's parent key, a finding's category), which
 * the pair records do not carry: control records come before the resource records that
 * use them. */
typedef struct pd_changelog_ctl {
    uint64_t fingerprint;
    pd_str key, name;
    uint64_t goals;
    uint32_t stale_s, flap_window_s;
    uint8_t flap_toggles, sev, nsla;
    uint8_t sla_goal[8];
    const pd_str *frameworks;
    uint32_t nframeworks;
} pd_changelog_ctl;

#define PD_CHANGELOG_CTL_PREFIX "#ctl:"

/* A goal's met/breached state (key "#goal:" + goal id): restored with the resources, so a
 * changelog-only restore does not re-announce a goal flip the old process already signalled. */
typedef struct pd_changelog_goal {
    uint64_t fingerprint;
    pd_str id;
    int8_t state; /* -1 unset, 0 breached, 1 met */
    bool has_value;
    double value;
    int64_t changed_ms;
} pd_changelog_goal;

#define PD_CHANGELOG_GOAL_PREFIX "#goal:"

/* An account's secure score and its regulatory-compliance records (key "#acct:" + account):
 * what score and compliance goals measure when those events arrive. */
typedef struct pd_changelog_comp {
    pd_str key; /* "account|standard|control|assessment" */
    uint32_t passed, failed;
    uint64_t goals; /* compliance goals it counts for (bit per goal index) */
} pd_changelog_comp;

typedef struct pd_changelog_acct {
    uint64_t fingerprint;
    pd_str account;
    uint8_t cloud;
    bool has_score;
    double score_num, score_den;
    const pd_changelog_comp *comp;
    uint32_t ncomp;
} pd_changelog_acct;

#define PD_CHANGELOG_ACCT_PREFIX "#acct:"
bool pd_changelog_key_is_acct(pd_str key);
int pd_changelog_encode_acct(const pd_changelog_acct *a, pd_buf *out);
int pd_changelog_decode_acct(pd_changelog_dec *d, const void *data, size_t len,
                             pd_changelog_acct *out, char *why, size_t why_len);
bool pd_changelog_key_is_goal(pd_str key);
int pd_changelog_encode_goal(const pd_changelog_goal *g, pd_buf *out);
int pd_changelog_decode_goal(pd_changelog_dec *d, const void *data, size_t len,
                             pd_changelog_goal *out, char *why, size_t why_len);
bool pd_changelog_key_is_control(pd_str key);

/* Appends r as a msgpack map to out. Returns 0 or PD_ENOMEM. */
int pd_changelog_encode(const pd_changelog_res *r, pd_buf *out);

int pd_changelog_dec_create(pd_changelog_dec **out);
void pd_changelog_dec_destroy(pd_changelog_dec *d);
/* Decodes one record value. PD_EINVAL (why says what) for anything that is not a complete,
 * well-typed record of this version: truncated, trailing bytes, wrong types, values out of
 * range, unknown keys. */
int pd_changelog_decode(pd_changelog_dec *d, const void *data, size_t len, pd_changelog_res *out,
                        char *why, size_t why_len);

int pd_changelog_encode_control(const pd_changelog_ctl *c, pd_buf *out);
int pd_changelog_decode_control(pd_changelog_dec *d, const void *data, size_t len,
                                pd_changelog_ctl *out, char *why, size_t why_len);

/* Engine side (src/engine/pd_engine_state.c). Resource ids run 1..count. */
uint32_t pd_engine_resource_count(const pd_engine *e);
/* Encodes resource i's record into out (appended); *key gets its canonical id (valid while
 * the engine lives). The engine never forgets a resource (a deleted one keeps counting in
 * its goals' scope, with no live pair), so every resource has a record; tombstones are for
 * partitions handed over for good (the runtime produces them, with a NULL value). */
int pd_engine_export_resource(const pd_engine *e, uint32_t i, pd_buf *out, pd_str *key);
/* Controls run 1..count; export_control appends control i's record to out and its Kafka key
 * ("#ctl:" + key) to key_out. import_control sets a control up as recorded when the engine
 * does not know it yet (known controls are left as they are). PD_ESTATE for another
 * fingerprint, PD_EINVAL for values out of range. */
uint32_t pd_engine_control_count(const pd_engine *e);
int pd_engine_export_control(const pd_engine *e, uint32_t i, pd_buf *out, pd_buf *key_out);
int pd_engine_import_control(pd_engine *e, const pd_changelog_ctl *c);
/* Goal i's state record (key "#goal:" + id into key_out); import sets the goal of the same id
 * (PD_ENOTFOUND when this goal set has none). */
int pd_engine_export_goal(const pd_engine *e, uint32_t i, pd_buf *out, pd_buf *key_out);
int pd_engine_import_goal(pd_engine *e, const pd_changelog_goal *g);
/* Accounts run 1..count. export_account appends account i's record (its compliance records
 * included) and its key; import_account sets the account's score and compliance records and
 * moves the score and compliance goals by the difference. */
uint32_t pd_engine_account_count(const pd_engine *e);
int pd_engine_export_account(const pd_engine *e, uint32_t i, pd_buf *out, pd_buf *key_out);
int pd_engine_import_account(pd_engine *e, const pd_changelog_acct *a);
/* Digests of every account's record into out[1..count] (one pass), for change tracking. */
int pd_engine_account_digests(const pd_engine *e, uint64_t *out);
/* Applies one record: creates or replaces the resource's attributes and pairs (pairs the
 * record does not name are removed), moving the goal counters by exactly the difference.
 * Timers are re-armed, and fire at the next advance when due. Emits no signal. A record
 * with another fingerprint is refused (PD_ESTATE). */
int pd_engine_import_resource(pd_engine *e, const pd_changelog_res *r);
/* A tombstone: the resource's pairs are removed and it leaves every scope (gone). */
int pd_engine_import_tombstone(pd_engine *e, pd_str id);
/* Change tracking (pd_state_tracker): the id of a resource (0 when unknown), and digests of
 * resources' exportable state into out[id] (out sized resource_count + 1): every resource
 * when which is NULL (one pass over the pairs), else the nwhich ids listed. Two engines
 * holding the same state for a resource give it the same digest. */
uint32_t pd_engine_resource_find(const pd_engine *e, pd_str canon);
int pd_engine_resource_digests(const pd_engine *e, uint64_t *out, const uint32_t *which,
                               uint32_t nwhich);
/* Change tracking without full passes: once pd_engine_track_touched(e, true), the engine lists
 * the resources whose state changed other than by an event on them (timers, snapshot
 * reconciliation, deletes); pd_engine_touched gives the list (consecutive repeats folded;
 * *overflow when it outgrew 2^20 entries) until pd_engine_touched_clear. */
void pd_engine_track_touched(pd_engine *e, bool on);
bool pd_engine_tracking_touched(const pd_engine *e);
const uint32_t *pd_engine_touched(const pd_engine *e, uint32_t *n, bool *overflow);
void pd_engine_touched_clear(pd_engine *e);
/* After a changelog-only restore (no snapshot): sets the engine's event time (timers already
 * due fire at the next advance); goals that got no state record take their current values as
 * their met/breached state, without signals. Secure-score and regulatory-compliance records (per
 * account, not per resource) are not in the changelog: they come back with the next export of them.
 */
int pd_engine_import_settle(pd_engine *e, int64_t now_ms);

#endif
