/* pd_time.h: event-time helpers. Times are int64 milliseconds since the Unix epoch, UTC.
 * Thread: any. Ownership: callers own every buffer. */
#ifndef PD_TIME_H
#define PD_TIME_H

#include "pd_common.h"

#define PD_TIME_NONE   INT64_MIN
#define PD_RFC3339_LEN 25 /* "2024-01-02T03:04:05.678Z" + NUL */

/* Parses RFC 3339 / ISO 8601 ("2024-01-02T03:04:05.1234567Z", "+01:00" offsets,
 * "2024-01-02 03:04:05", date only). Fractions beyond milliseconds are truncated. */
int pd_time_parse(pd_str s, int64_t *out_ms);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least PD_RFC3339_LEN bytes). */
void pd_time_format(int64_t ms, char *buf);
/* Durations: "72h", "8d", "30m", "45s", "500ms", "1w", "1h30m". */
int pd_duration_parse(pd_str s, int64_t *out_ms);
int64_t pd_days_from_civil(int64_t y, unsigned m, unsigned d);
int64_t pd_now_ms(void);       /* wall clock */
int64_t pd_monotonic_ms(void); /* for timeouts, never for event time */

#endif
