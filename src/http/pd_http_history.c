#include "pd_http_history.h"
#include "pd_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recent signals ---- */

typedef struct {
    char id[33];
    pd_buf json; /* len 0: empty or superseded */
} ring_slot;

struct pd_signal_ring {
    ring_slot *slots;
    uint32_t cap, head, count; /* head: next slot to write */
    pd_buf tmp;
};

int pd_signal_ring_create(uint32_t capacity, pd_signal_ring **out)
{
    if (!out)
        return PD_EINVAL;
    pd_signal_ring *r = calloc(1, sizeof(*r));
    if (!r)
        return PD_ENOMEM;
    r->cap = capacity ? capacity : 200;
    r->slots = calloc(r->cap, sizeof(*r->slots));
    if (!r->slots) {
        free(r);
        return PD_ENOMEM;
    }
    pd_buf_init(&r->tmp);
    *out = r;
    return 0;
}

void pd_signal_ring_destroy(pd_signal_ring *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->cap; i++)
        pd_buf_free(&r->slots[i].json);
    free(r->slots);
    pd_buf_free(&r->tmp);
    free(r);
}

void pd_signal_ring_push_json(pd_signal_ring *r, const char *id, const char *json, size_t len)
{
    if (!r || !json || len == 0)
        return;
    uint32_t at = r->head; /* the slot that receives the signal */
    bool replace = false;
    if (id && *id)
        for (uint32_t i = 0; i < r->cap && !replace; i++)
            if (r->slots[i].json.len && !strcmp(r->slots[i].id, id)) {
                /* an update: move the older entry to the newest position (swaps, no copy) */
                uint32_t cur = i, newest = (r->head + r->cap - 1) % r->cap;
                while (cur != newest) {
                    uint32_t nx = (cur + 1) % r->cap;
                    ring_slot tmp = r->slots[cur];
                    r->slots[cur] = r->slots[nx];
                    r->slots[nx] = tmp;
                    cur = nx;
                }
                at = newest;
                replace = true;
            }
    ring_slot *s = &r->slots[at];
    bool was_used = s->json.len > 0;
    pd_buf_reset(&s->json);
    pd_buf_append(&s->json, json, len);
    if (s->json.oom) {
        pd_buf_reset(&s->json);
        if (was_used)
            r->count--;
        return;
    }
    snprintf(s->id, sizeof(s->id), "%s", id ? id : "");
    if (!replace) {
        r->head = (r->head + 1) % r->cap;
        if (!was_used)
            r->count++;
    }
}

void pd_signal_ring_push(pd_signal_ring *r, const pd_signal *s)
{
    if (!r || !s)
        return;
    pd_buf_reset(&r->tmp);
    pd_signal_to_json(s, &r->tmp);
    if (!r->tmp.oom)
        pd_signal_ring_push_json(r, s->id, r->tmp.p, r->tmp.len);
}

uint32_t pd_signal_ring_count(const pd_signal_ring *r)
{
    return r ? r->count : 0;
}

void pd_signal_ring_json(const pd_signal_ring *r, uint32_t limit, pd_buf *out)
{
    pd_buf_puts(out, "{\"signals\":[");
    uint32_t n = 0;
    for (uint32_t k = 1; r && k <= r->cap && n < limit; k++) {
        const ring_slot *s = &r->slots[(r->head + r->cap - k) % r->cap];
        if (!s->json.len)
            continue;
        if (n++)
            pd_buf_putc(out, ',');
        pd_buf_append(out, s->json.p, s->json.len);
    }
    pd_buf_puts(out, "]}");
}

/* ---- goal trends ---- */

typedef struct {
    int64_t t; /* event time of the value kept for the bucket */
    double v;
} trend_pt;

typedef struct {
    uint64_t hash;
    char *id;
    uint32_t idlen;
    trend_pt *pts; /* ring of npts */
    uint32_t head, count;
} trend_goal;

struct pd_trend {
    int64_t bucket_ms, span_ms;
    uint32_t npts;
    trend_goal *goals;
    uint32_t ngoals, cap;
};

int pd_trend_create(int64_t bucket_ms, int64_t span_ms, pd_trend **out)
{
    if (!out || bucket_ms < 0 || span_ms < 0)
        return PD_EINVAL;
    pd_trend *t = calloc(1, sizeof(*t));
    if (!t)
        return PD_ENOMEM;
    t->bucket_ms = bucket_ms ? bucket_ms : 3600 * 1000LL;
    t->span_ms = span_ms ? span_ms : 7 * 24 * 3600 * 1000LL;
    if (t->span_ms / t->bucket_ms > 100000) {
        free(t);
        return PD_EINVAL;
    }
    t->npts = (uint32_t)(t->span_ms / t->bucket_ms) + 2; /* both ends of the span */
    *out = t;
    return 0;
}

void pd_trend_destroy(pd_trend *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->ngoals; i++) {
        free(t->goals[i].id);
        free(t->goals[i].pts);
    }
    free(t->goals);
    free(t);
}

static trend_goal *find_goal(const pd_trend *t, pd_str id, uint64_t h)
{
    for (uint32_t i = 0; i < t->ngoals; i++) {
        trend_goal *g = &t->goals[i];
        if (g->hash == h && g->idlen == id.len && !memcmp(g->id, id.p, id.len))
            return g;
    }
    return NULL;
}

static int64_t bucket_of(const pd_trend *t, int64_t ms)
{
    int64_t b = ms / t->bucket_ms;
    return (ms < 0 && ms % t->bucket_ms) ? b - 1 : b;
}

int pd_trend_record(pd_trend *t, pd_str goal_id, int64_t time_ms, double value)
{
    if (!t || !goal_id.p || goal_id.len == 0 || time_ms == PD_TIME_NONE)
        return PD_EINVAL;
    uint64_t h = pd_hash64(goal_id.p, goal_id.len, 0);
    trend_goal *g = find_goal(t, goal_id, h);
    if (!g) {
        if (t->ngoals == t->cap) {
            uint32_t nc = t->cap ? t->cap * 2 : 16;
            trend_goal *ng = realloc(t->goals, nc * sizeof(*ng));
            if (!ng)
                return PD_ENOMEM;
            t->goals = ng;
            t->cap = nc;
        }
        g = &t->goals[t->ngoals];
        memset(g, 0, sizeof(*g));
        g->id = malloc(goal_id.len + 1);
        g->pts = calloc(t->npts, sizeof(*g->pts));
        if (!g->id || !g->pts) {
            free(g->id);
            free(g->pts);
            return PD_ENOMEM;
        }
        memcpy(g->id, goal_id.p, goal_id.len);
        g->id[goal_id.len] = '\0';
        g->idlen = goal_id.len;
        g->hash = h;
        t->ngoals++;
    }
    if (g->count) {
        trend_pt *last = &g->pts[(g->head + t->npts - 1) % t->npts];
        int64_t lb = bucket_of(t, last->t), b = bucket_of(t, time_ms);
        if (b < lb)
            return 0; /* late: history is not rewritten */
        if (b == lb) {
            if (time_ms >= last->t) {
                last->t = time_ms;
                last->v = value;
            }
            return 0;
        }
    }
    g->pts[g->head] = (trend_pt){time_ms, value};
    g->head = (g->head + 1) % t->npts;
    if (g->count < t->npts)
        g->count++;
    return 0;
}

uint32_t pd_trend_points(const pd_trend *t, pd_str goal_id)
{
    if (!t || !goal_id.p)
        return 0;
    const trend_goal *g = find_goal(t, goal_id, pd_hash64(goal_id.p, goal_id.len, 0));
    return g ? g->count : 0;
}

void pd_trend_json(const pd_trend *t, pd_str goal_id, int64_t now_ms, pd_buf *out)
{
    pd_buf_putc(out, '[');
    const trend_goal *g =
        t && goal_id.p ? find_goal(t, goal_id, pd_hash64(goal_id.p, goal_id.len, 0)) : NULL;
    if (g && g->count) {
        uint32_t first = (g->head + t->npts - g->count) % t->npts;
        if (now_ms == PD_TIME_NONE)
            now_ms = g->pts[(g->head + t->npts - 1) % t->npts].t;
        int64_t from = now_ms - t->span_ms;
        bool any = false;
        for (uint32_t k = 0; k < g->count; k++) {
            const trend_pt *p = &g->pts[(first + k) % t->npts];
            if (p->t < from || p->t > now_ms)
                continue;
            char ts[PD_RFC3339_LEN];
            pd_time_format(p->t, ts);
            pd_buf_printf(out, "%s{\"t\":\"%s\",\"v\":", any ? "," : "", ts);
            pd_buf_json_num(out, p->v);
            pd_buf_putc(out, '}');
            any = true;
        }
    }
    pd_buf_putc(out, ']');
}
