/* pd_fake_provider.h: a pd_http_provider over made-up posture data, for the HTTP and
 * dashboard tests (the real one is the goals engine). Everything it serves is computed from
 * the structs below, so tests compare responses with these structs, not with copied output.
 *
 * Reload reads fp->pending, one goal per line "<id> <threshold> <title...>"; a bad line is
 * refused as "goals.txt:LINE:COL: message" and the old set stays. Values (the "state") live
 * in fp->values keyed by goal id and survive reloads. Header-only; static functions. */
#ifndef PD_FAKE_PROVIDER_H
#define PD_FAKE_PROVIDER_H

#include "pd_http.h"
#include "pd_signal.h"
#include "pd_time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_MAX_GOALS 8
#define FAKE_TREND_PTS 29 /* every 6 h over 7 days, plus now */
#define FAKE_NOW_MS    1780000000000LL

typedef struct {
    char id[32], title[96];
    double threshold; /* ">= threshold %" */
    double value;
    bool met;
    uint32_t violating;
} fake_goal;

typedef struct {
    fake_goal goals[FAKE_MAX_GOALS];
    size_t ngoals;
    /* state: the current value of each goal id ever seen, kept across reloads */
    char state_ids[32][32];
    double state_values[32];
    size_t nstate;
    bool ready;
    const char *pending; /* what the next reload reads */
    int reloads, reload_calls;
    int goals_calls;
    const char *refreshed_title; /* when set, goal 0's title from the second goals call on */
} fake_provider;

static double fake_state_value(fake_provider *fp, const char *id)
{
    for (size_t i = 0; i < fp->nstate; i++)
        if (!strcmp(fp->state_ids[i], id))
            return fp->state_values[i];
    /* a goal never seen: a value derived from its id, between 80 and 100 */
    uint64_t h = pd_hash64(id, strlen(id), 1);
    double v = 80.0 + (double)(h % 2000) / 100.0;
    snprintf(fp->state_ids[fp->nstate], sizeof(fp->state_ids[0]), "%s", id);
    fp->state_values[fp->nstate++] = v;
    return v;
}

static void fake_set_goal(fake_provider *fp, fake_goal *g, const char *id, double threshold,
                          const char *title)
{
    snprintf(g->id, sizeof(g->id), "%s", id);
    snprintf(g->title, sizeof(g->title), "%s", title);
    g->threshold = threshold;
    g->value = fake_state_value(fp, id);
    g->met = g->value >= threshold;
    /* population 400: violating = the share below 100 % */
    g->violating = (uint32_t)lround((100.0 - g->value) * 4.0);
}

static void fake_init(fake_provider *fp)
{
    memset(fp, 0, sizeof(*fp));
    fp->ready = true;
    static const struct {
        const char *id;
        double thr;
        const char *title;
    } init[] = {
        {"mfa-admins", 99.0, "MFA on every privileged account"},
        {"disk-encryption", 90.0, "Disks encrypted at rest"},
        {"edr-coverage", 85.0, "EDR agent on every server"},
        {"public-exposure", 97.0, "No management ports open to the internet"},
    };
    for (size_t i = 0; i < PD_ARRAY_LEN(init); i++)
        fake_set_goal(fp, &fp->goals[fp->ngoals++], init[i].id, init[i].thr, init[i].title);
}

/* Trend point k (0 = 7 days ago, FAKE_TREND_PTS-1 = now) of a goal. */
static double fake_trend_value(const fake_goal *g, int k)
{
    if (k == FAKE_TREND_PTS - 1)
        return g->value;
    return g->value + 3.0 * sin((double)k / 3.0 + (double)(g->id[0] % 7)) - 0.05 * (double)k;
}

static int64_t fake_trend_time(int k)
{
    return FAKE_NOW_MS - (int64_t)(FAKE_TREND_PTS - 1 - k) * 6 * 3600 * 1000;
}

/* Violator k of a goal: a deterministic resource. */
static void fake_violator(const fake_goal *g, uint32_t k, char *id, size_t idn, char *name,
                          size_t nn, const char **cloud)
{
    static const char *const clouds[] = {"azure", "aws", "gcp", "onprem"};
    *cloud = clouds[k % 4];
    snprintf(name, nn, "srv-%s-%03u", g->id, k);
    if (k % 4 == 0)
        snprintf(id, idn,
                 "/subscriptions/0000-1111/resourceGroups/prod/providers/"
                 "Microsoft.Compute/virtualMachines/%s",
                 name);
    else if (k % 4 == 1)
        snprintf(id, idn, "arn:aws:ec2:eu-west-1:123456789012:instance/i-%s", name);
    else
        snprintf(id, idn, "%s/%s", *cloud, name);
}

static void fake_goal_json(const fake_goal *g, const char *title, pd_buf *b)
{
    char ts[PD_RFC3339_LEN];
    pd_buf_puts(b, "{\"id\":");
    pd_buf_json_str(b, g->id, strlen(g->id));
    pd_buf_puts(b, ",\"title\":");
    pd_buf_json_str(b, title, strlen(title));
    pd_buf_puts(b, ",\"kind\":\"coverage\",\"unit\":\"%\",\"value\":");
    pd_buf_json_num(b, g->value);
    pd_buf_printf(b, ",\"target\":\">= %g%%\",\"op\":\">=\",\"threshold\":", g->threshold);
    pd_buf_json_num(b, g->threshold);
    pd_buf_printf(b, ",\"met\":%s,\"population\":400,\"violating\":%u", g->met ? "true" : "false",
                  g->violating);
    pd_time_format(FAKE_NOW_MS, ts);
    pd_buf_printf(b, ",\"updated_at\":\"%s\",\"trend\":[", ts);
    for (int k = 0; k < FAKE_TREND_PTS; k++) {
        pd_time_format(fake_trend_time(k), ts);
        pd_buf_printf(b, "%s{\"t\":\"%s\",\"v\":", k ? "," : "", ts);
        pd_buf_json_num(b, fake_trend_value(g, k));
        pd_buf_putc(b, '}');
    }
    pd_buf_puts(b, "]}");
}

static int fake_goals(void *ctx, pd_buf *out)
{
    fake_provider *fp = ctx;
    char ts[PD_RFC3339_LEN];
    fp->goals_calls++;
    pd_time_format(FAKE_NOW_MS, ts);
    pd_buf_printf(out, "{\"generated_at\":\"%s\",\"goals\":[", ts);
    for (size_t i = 0; i < fp->ngoals; i++) {
        const char *title = fp->goals[i].title;
        if (i == 0 && fp->refreshed_title && fp->goals_calls >= 2)
            title = fp->refreshed_title;
        if (i)
            pd_buf_putc(out, ',');
        fake_goal_json(&fp->goals[i], title, out);
    }
    pd_buf_puts(out, "]}");
    return 0;
}

static const fake_goal *fake_find(const fake_provider *fp, const char *id)
{
    for (size_t i = 0; i < fp->ngoals; i++)
        if (!strcmp(fp->goals[i].id, id))
            return &fp->goals[i];
    return NULL;
}

static int fake_goal_one(void *ctx, const char *id, uint32_t offset, uint32_t limit, pd_buf *out)
{
    const fake_goal *g = fake_find(ctx, id);
    if (!g)
        return PD_ENOTFOUND;
    pd_buf_puts(out, "{\"goal\":");
    fake_goal_json(g, g->title, out);
    pd_buf_printf(out, ",\"violators\":{\"total\":%u,\"offset\":%u,\"limit\":%u,\"items\":[",
                  g->violating, offset, limit);
    for (uint32_t k = offset; k < g->violating && k < offset + limit; k++) {
        char rid[200], name[64], ts[PD_RFC3339_LEN];
        const char *cloud;
        fake_violator(g, k, rid, sizeof(rid), name, sizeof(name), &cloud);
        pd_time_format(FAKE_NOW_MS - (int64_t)(k + 1) * 3600 * 1000, ts);
        pd_buf_puts(out, k > offset ? ",{\"id\":" : "{\"id\":");
        pd_buf_json_str(out, rid, strlen(rid));
        pd_buf_printf(out, ",\"name\":\"%s\",\"cloud\":\"%s\",\"account\":\"acct-%u\",", name,
                      cloud, k % 3);
        pd_buf_printf(out, "\"since\":\"%s\",\"reason\":\"control unhealthy\"}", ts);
    }
    pd_buf_puts(out, "]}}");
    return 0;
}

static int fake_resource(void *ctx, const char *id, pd_buf *out)
{
    fake_provider *fp = ctx;
    /* a resource exists when it is a violator of some goal */
    for (size_t i = 0; i < fp->ngoals; i++) {
        const fake_goal *g = &fp->goals[i];
        for (uint32_t k = 0; k < g->violating; k++) {
            char rid[200], name[64];
            const char *cloud;
            fake_violator(g, k, rid, sizeof(rid), name, sizeof(name), &cloud);
            if (strcmp(rid, id) != 0)
                continue;
            pd_buf_puts(out, "{\"id\":");
            pd_buf_json_str(out, rid, strlen(rid));
            pd_buf_printf(out,
                          ",\"name\":\"%s\",\"cloud\":\"%s\",\"type\":\"server\",\"pairs\":[{"
                          "\"control\":\"%s\",\"status\":\"unhealthy\"}],\"open_findings\":[{"
                          "\"control\":\"%s\",\"severity\":\"high\"}],\"recent_alerts\":[],"
                          "\"goals\":[{\"id\":\"%s\"}]}",
                          name, cloud, g->id, g->id, g->id);
            return 0;
        }
    }
    return PD_ENOTFOUND;
}

/* Three real signals serialized by the signal contract's own writer. */
static int fake_signals(void *ctx, uint32_t limit, pd_buf *out)
{
    fake_provider *fp = ctx;
    pd_buf_puts(out, "{\"signals\":[");
    uint32_t n = 0;
    const fake_goal *bad = NULL;
    for (size_t i = 0; i < fp->ngoals && !bad; i++)
        if (!fp->goals[i].met)
            bad = &fp->goals[i];
    pd_signal_resource res[2] = {
        {PD_STR_LIT("/subscriptions/0000-1111/resourceGroups/prod/providers/"
                    "Microsoft.Compute/virtualMachines/web-01"),
         PD_CLOUD_AZURE, PD_STR_LIT("0000-1111"), PD_STR_LIT("web-01"), PD_STR_LIT("vm")},
        {PD_STR_LIT("arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"), PD_CLOUD_AWS,
         PD_STR_LIT("123456789012"), PD_STR_LIT("db-02"), PD_STR_LIT("ec2")},
    };
    if (bad && n < limit) {
        pd_signal s = {0};
        s.kind = PD_SIGNAL_DRIFT;
        s.type = "goal.breached";
        s.time_ms = FAKE_NOW_MS - 60000;
        s.severity = PD_SEV_HIGH;
        s.has_goal = true;
        s.goal.id = pd_str_c(bad->id);
        s.goal.title = pd_str_c(bad->title);
        s.goal.kind = "coverage";
        s.goal.value = bad->value;
        s.goal.target = PD_STR_LIT(">= target");
        pd_str parts[] = {s.goal.id, PD_STR_LIT("breached")};
        pd_signal_make_id(s.id, parts, 2);
        pd_signal_to_json(&s, out);
        n++;
    }
    if (n < limit) {
        pd_signal s = {0};
        s.kind = PD_SIGNAL_BREACH;
        s.type = "breach.lateral-spread";
        s.time_ms = FAKE_NOW_MS - 120000;
        s.severity = PD_SEV_CRITICAL;
        s.rule.id = PD_STR_LIT("lateral-spread");
        s.rule.title = PD_STR_LIT("Lateral spread from an exposed server");
        s.resources = res;
        s.nresources = 2;
        s.multi_resource = true;
        s.confidence = 0.8;
        s.score = 88;
        pd_str parts[] = {s.rule.id, res[0].id};
        pd_signal_make_id(s.id, parts, 2);
        if (n)
            pd_buf_putc(out, ',');
        pd_signal_to_json(&s, out);
        n++;
    }
    if (n < limit) {
        pd_signal s = {0};
        s.kind = PD_SIGNAL_DRIFT;
        s.type = "control.regressed";
        s.time_ms = FAKE_NOW_MS - 180000;
        s.severity = PD_SEV_MEDIUM;
        s.has_control = true;
        s.control.key = PD_STR_LIT("azure:disk-encryption");
        s.control.name = PD_STR_LIT("Disks should be encrypted");
        s.resources = res;
        s.nresources = 1;
        pd_str parts[] = {s.control.key, res[0].id};
        pd_signal_make_id(s.id, parts, 2);
        if (n)
            pd_buf_putc(out, ',');
        pd_signal_to_json(&s, out);
        n++;
    }
    pd_buf_puts(out, "]}");
    return 0;
}

static int fake_ready(void *ctx, pd_buf *out)
{
    fake_provider *fp = ctx;
    pd_buf_printf(out,
                  "{\"ready\":%s,\"checks\":{\"partitions_assigned\":%s,\"state_restored\":true,"
                  "\"sinks_writable\":true}}",
                  fp->ready ? "true" : "false", fp->ready ? "true" : "false");
    return fp->ready ? 0 : PD_EAGAIN;
}

static int fake_reload(void *ctx, pd_buf *out)
{
    fake_provider *fp = ctx;
    fp->reload_calls++;
    fake_goal next[FAKE_MAX_GOALS];
    size_t n = 0;
    const char *p = fp->pending ? fp->pending : "";
    int line = 1;
    char err[160] = "";
    while (*p && !err[0]) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char buf[160], id[32], title[96];
        double thr;
        int used = 0;
        snprintf(buf, sizeof(buf), "%.*s", (int)len, p);
        if (len == 0) {
            /* blank line */
        } else if (sscanf(buf, "%31s %lf %n", id, &thr, &used) < 2 || used == 0) {
            snprintf(err, sizeof(err), "goals.txt:%d:1: expected '<id> <threshold> <title>'", line);
        } else if (thr < 0 || thr > 100) {
            snprintf(err, sizeof(err), "goals.txt:%d:%d: threshold must be within 0..100", line,
                     (int)strlen(id) + 2);
        } else if (n == FAKE_MAX_GOALS) {
            snprintf(err, sizeof(err), "goals.txt:%d:1: too many goals", line);
        } else {
            snprintf(title, sizeof(title), "%s", buf + used);
            fake_set_goal(fp, &next[n++], id, thr, title);
        }
        p += len + (nl ? 1 : 0);
        line++;
    }
    if (!err[0] && n == 0)
        snprintf(err, sizeof(err), "goals.txt:1:1: no goals");
    if (err[0]) {
        pd_buf_puts(out, "{\"reloaded\":false,\"error\":");
        pd_buf_json_str(out, err, strlen(err));
        pd_buf_putc(out, '}');
        return PD_ECONFIG;
    }
    memcpy(fp->goals, next, n * sizeof(next[0]));
    fp->ngoals = n;
    fp->reloads++;
    pd_buf_printf(out, "{\"reloaded\":true,\"goals\":%zu}", n);
    return 0;
}

static pd_http_provider fake_provider_ops(fake_provider *fp)
{
    return (pd_http_provider){.ctx = fp,
                              .goals = fake_goals,
                              .goal = fake_goal_one,
                              .resource = fake_resource,
                              .signals = fake_signals,
                              .ready = fake_ready,
                              .reload = fake_reload};
}

#endif
