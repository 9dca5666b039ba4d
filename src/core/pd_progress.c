#include "pd_progress.h"
#include "pd_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PD_PROGRESS_INTERVAL_MS 250

void pd_progress_init(pd_progress *p, const char *label, uint64_t total, int fd)
{
    memset(p, 0, sizeof(*p));
    p->label = label ? label : "progress";
    p->fd = fd;
    p->total = total;
    const char *off = getenv("PD_NO_PROGRESS");
    p->enabled = isatty(fd) && !(off && *off && strcmp(off, "0") != 0);
    p->start_ms = pd_monotonic_ms();
    p->last_draw_ms = 0;
}

void pd_progress_force(pd_progress *p, bool enabled)
{
    p->enabled = enabled;
}

void pd_progress_set_total(pd_progress *p, uint64_t total)
{
    p->total = total;
}

/* 1234567 -> "1,234,567" */
static void fmt_count(uint64_t v, char *buf, size_t cap)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 1 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 2 < cap)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
}

size_t pd_progress_format(const pd_progress *p, int64_t now_ms, char *buf, size_t cap)
{
    char done[32], total[32];
    int64_t el = now_ms - p->start_ms;
    double secs = el > 0 ? (double)el / 1000.0 : 0.0;
    double rate = secs > 0 ? (double)p->done / secs : 0.0;
    fmt_count(p->done, done, sizeof(done));
    int n;
    if (p->total) {
        fmt_count(p->total, total, sizeof(total));
        double pct = 100.0 * (double)p->done / (double)p->total;
        if (pct > 100.0)
            pct = 100.0;
        n = snprintf(buf, cap, "%s: %s / %s events (%.1f%%), %.0f events/s, %.1fs", p->label, done,
                     total, pct, rate, secs);
    } else {
        n = snprintf(buf, cap, "%s: %s events, %.0f events/s, %.1fs", p->label, done, rate, secs);
    }
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

static void put(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

static void draw_at(pd_progress *p, int64_t now)
{
    char line[256];
    line[0] = '\r';
    size_t n = 1 + pd_progress_format(p, now, line + 1, sizeof(line) - 5);
    memcpy(line + n, "\x1b[K", 3); /* clear what a longer previous line left */
    put(p->fd, line, n + 3);
    p->drawn = true;
    p->last_draw_ms = now;
}

void pd_progress_draw(pd_progress *p)
{
    if (!p->enabled)
        return;
    int64_t now = pd_monotonic_ms();
    if (p->drawn && now - p->last_draw_ms < PD_PROGRESS_INTERVAL_MS)
        return;
    draw_at(p, now);
}

void pd_progress_finish(pd_progress *p)
{
    if (!p->enabled)
        return;
    draw_at(p, pd_monotonic_ms());
    put(p->fd, "\n", 1);
    p->drawn = false;
}
