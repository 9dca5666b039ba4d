/* pd_http_history.h: the two histories the status API shows that the engines do not keep:
 * recent signals (a ring of serialized signals, for /v1/signals and the dashboard) and each
 * goal's trend (one point per bucket of event time over a span, for /v1/goals "trend").
 * A provider (pd_http.h) feeds them from the processor's callbacks and reads them back.
 *
 * Cost: pushing a signal serializes it into a slot buffer that is reused (no allocation once
 * the slot has grown); recording a goal value is a lookup among the goals by hashed id and a
 * store (a goal's ring is allocated once, when its id is first seen). Histories survive a
 * reload: goals keep their points by id.
 *
 * Ownership: each object owns its memory; *_destroy(NULL) is a no-op. Thread: the loop
 * thread. */
#ifndef PD_HTTP_HISTORY_H
#define PD_HTTP_HISTORY_H

#include "pd_buf.h"
#include "pd_common.h"
#include "pd_signal.h"

/* ---- recent signals ---- */

typedef struct pd_signal_ring pd_signal_ring;

/* capacity: signals kept (0: 200). */
int pd_signal_ring_create(uint32_t capacity, pd_signal_ring **out);
void pd_signal_ring_destroy(pd_signal_ring *r);
/* Keeps the signal (newest); an earlier entry with the same id (a breach update) is dropped so
 * the list shows each signal once, in its latest form. */
void pd_signal_ring_push(pd_signal_ring *r, const pd_signal *s);
/* Same for an already serialized signal (one JSON object) with its id. */
void pd_signal_ring_push_json(pd_signal_ring *r, const char *id, const char *json, size_t len);
uint32_t pd_signal_ring_count(const pd_signal_ring *r);
/* Appends {"signals":[...]} with at most limit signals, newest first. */
void pd_signal_ring_json(const pd_signal_ring *r, uint32_t limit, pd_buf *out);

/* ---- goal trends ---- */

typedef struct pd_trend pd_trend;

/* bucket_ms: one point per bucket (0: 1 h); span_ms: how far back (0: 7 days). */
int pd_trend_create(int64_t bucket_ms, int64_t span_ms, pd_trend **out);
void pd_trend_destroy(pd_trend *t);
/* Records the goal's value at event time time_ms: the last value within a bucket wins; a time
 * before the goal's latest bucket is ignored (late events do not rewrite history). */
int pd_trend_record(pd_trend *t, pd_str goal_id, int64_t time_ms, double value);
/* Appends a JSON array [{"t":"RFC 3339","v":number},...], oldest first, of the goal's points
 * within the span before now_ms (PD_TIME_NONE: before its latest point); [] when unknown. */
void pd_trend_json(const pd_trend *t, pd_str goal_id, int64_t now_ms, pd_buf *out);
/* Number of points the goal has (all, not only within the span). */
uint32_t pd_trend_points(const pd_trend *t, pd_str goal_id);

#endif
