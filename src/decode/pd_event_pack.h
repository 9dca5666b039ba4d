/* pd_event_pack.h: a compact binary form of pd_event (msgpack), so the "route" stage can hand
 * decoded events to the "state" stage over an internal Kafka topic without re-decoding JSON.
 *
 * Format version 1: one msgpack array of 15 at fixed positions
 *   [1, kind, format, status, severity, severity_orig, time, first_seen, status_change,
 *    snapshot, deleted, event_id,
 *    [id, canon, cloud, account, region, group, type, name, {tag key: value, ...}],
 *    [key, name, category, [framework, ...]],
 *    extra]
 * Enums are unsigned integers (pd_model.h values); times are integers in ms or nil for
 * PD_TIME_NONE; canon is nil when it is the ASCII lowercase of id (the usual case, saving the
 * longest string); doubles are integers when integral, else float64. extra is nil except for
 *   alert:         [id, type, status, tactics, start, end]
 *   vulnerability: [cve, parent_key, cvss (nil when < 0), fix_available]
 *   score:         [control, current, max, percentage, healthy, unhealthy, not_applicable]
 *   compliance:    [standard, control, state, passed, failed, skipped]
 * (the other kinds' members are not carried: they unpack as pd_event_reset leaves them).
 * Tags are a map in the event's order (duplicate keys kept).
 *
 * Ownership: pd_event_pack appends to the caller's buffer. An unpacked event's pd_strs point
 * into the caller's `data` (string payloads) or the unpacker's scratch (a rebuilt canon):
 * valid until the next pd_event_unpack on that unpacker, its destruction, or `data` being
 * freed, whichever comes first. Consumers that keep anything intern it, as with pd_decode.
 * Thread: pack is reentrant; an unpacker belongs to one thread. */
#ifndef PD_EVENT_PACK_H
#define PD_EVENT_PACK_H

#include "pd_buf.h"
#include "pd_event.h"

#define PD_EVENT_PACK_VERSION 1
/* Times are PD_TIME_NONE or within +-this (10000-01-01, past any RFC 3339 time a decoder can
 * parse), so a hostile value cannot overflow pd_time_format's arithmetic downstream. */
#define PD_EVENT_PACK_TIME_MAX 253402300800000LL

/* Appends e as one msgpack value to out. PD_EINVAL (nothing appended) when e is not
 * representable: an enum out of range, ntags / nframeworks over their maximum, a time out of
 * range, or a non-empty pd_str with a NULL pointer; PD_ENOMEM (out restored to its length before)
 * when out could not grow. */
int pd_event_pack(const pd_event *e, pd_buf *out);

typedef struct pd_event_unpacker pd_event_unpacker; /* reusable zone and scratch */

int pd_event_unpacker_create(pd_event_unpacker **out);
void pd_event_unpacker_destroy(pd_event_unpacker *u); /* NULL: no-op */

/* Unpacks exactly one packed event from data[0..len) (untrusted: a topic's bytes) into *out.
 * Returns 0, or PD_EINVAL with *why (may be NULL) a short static reason ("truncated or corrupt",
 * "trailing bytes", "version", "shape", "type", "range", "too many tags",
 * "too many frameworks", "kind", "format", "cloud", "status", "severity", "nul", "depth",
 * "corrupt") and *out reset. Strings may hold any bytes but NUL (UTF-8 is not re-checked: the
 * packer's input came from pd_decode, which validated it). Allocates nothing per event once its
 * zone and scratch have grown to the largest event seen. */
int pd_event_unpack(pd_event_unpacker *u, const void *data, size_t len, pd_event *out,
                    const char **why);

#endif
