/* pd_progress.h: a one-line progress display for long commands (replay of large files, demo,
 * benchmarks): events, events/s and percent (when the total is known), redrawn in place at
 * most every 250 ms. It writes only when its fd is a terminal (or when forced, for tests)
 * and stays silent otherwise, so piped output and CI logs are untouched. PD_NO_PROGRESS=1
 * disables it.
 *
 * Cost on the hot path: pd_progress_tick() adds to a counter and reads the clock once every
 * 1024 ticks. Thread: one owner. Ownership: the caller owns the struct (no allocation);
 * label must outlive it. */
#ifndef PD_PROGRESS_H
#define PD_PROGRESS_H

#include "pd_common.h"

typedef struct pd_progress {
    const char *label;
    int fd;
    bool enabled;
    bool drawn;     /* a line is on screen: finish clears or ends it */
    uint64_t total; /* 0: unknown */
    uint64_t done;
    uint32_t since_check;
    int64_t start_ms, last_draw_ms;
} pd_progress;

/* enabled = isatty(fd) and PD_NO_PROGRESS unset. total 0 = unknown. */
void pd_progress_init(pd_progress *p, const char *label, uint64_t total, int fd);
/* Tests: enable or disable regardless of the terminal. */
void pd_progress_force(pd_progress *p, bool enabled);
void pd_progress_set_total(pd_progress *p, uint64_t total);

void pd_progress_draw(pd_progress *p); /* redraws now */
static inline void pd_progress_tick(pd_progress *p, uint64_t n)
{
    p->done += n;
    if (p->enabled && ++p->since_check >= 1024) {
        p->since_check = 0;
        pd_progress_draw(p);
    }
}
/* Sets the absolute count (for byte offsets or external counters). */
static inline void pd_progress_set(pd_progress *p, uint64_t done)
{
    p->done = done;
    if (p->enabled && ++p->since_check >= 64) {
        p->since_check = 0;
        pd_progress_draw(p);
    }
}
/* Draws the final line and ends it with a newline (no-op when disabled). */
void pd_progress_finish(pd_progress *p);
/* Formats the status line (without "\r" or escapes) into buf; used by draw and tests. */
size_t pd_progress_format(const pd_progress *p, int64_t now_ms, char *buf, size_t cap);

#endif
