/* Scenario driver: runs one case directory through the processor and compares the signals
 * with the hand-written expectations.
 *
 * A case directory holds:
 *   goals.yaml       the goals (or pipeline.yaml, which names its goal files)
 *   input.jsonl      messages, one per line; a line "@TOPIC" switches the input the
 *                    following lines come from (default "input"); "#" lines are comments
 *   expected.jsonl   one JSON object per expected signal, in order; only the members written
 *                    are compared (objects recursively, arrays element by element);
 *                    a member written as null must be absent
 *   until            optional: an RFC 3339 time to advance event time to at the end
 * The case also fails when two runs do not give byte-identical output.
 * Usage: pd_scenario CASE_DIR */
#include "pd_processor.h"
#include "pd_time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int collect(void *ctx, const pd_signal *s)
{
    pd_buf *b = ctx;
    pd_signal_to_json(s, b);
    pd_buf_putc(b, '\n');
    return 0;
}

static void dead(void *ctx, const pd_dead_letter *dl)
{
    pd_buf *b = ctx;
    pd_buf_printf(b, "{\"dead_letter\":\"%s\"}\n", dl->reason);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    return b;
}

/* Runs the case once; the signals (and dead letters) go to out as JSONL. */
static int run(const char *dir, pd_buf *out)
{
    char path[1024], gpath[1024];
    const char *goal_files[1];
    pd_pipeline *pl = NULL;
    pd_diag diag;
    pd_processor_opts o;
    memset(&o, 0, sizeof(o));
    snprintf(path, sizeof(path), "%s/pipeline.yaml", dir);
    if (access(path, R_OK) == 0) {
        if (pd_pipeline_load(path, &pl, &diag)) {
            fprintf(stderr, "%s\n", diag.msg);
            return 1;
        }
        o.pipeline = pl;
    } else {
        snprintf(gpath, sizeof(gpath), "%s/goals.yaml", dir);
        goal_files[0] = gpath;
        o.goal_files = goal_files;
        o.ngoal_files = 1;
    }
    o.on_signal = collect;
    o.signal_ctx = out;
    o.on_dead_letter = dead;
    o.dead_letter_ctx = out;
    pd_processor *p = NULL;
    if (pd_processor_create(&o, &p, &diag)) {
        fprintf(stderr, "%s\n", diag.msg);
        pd_pipeline_destroy(pl);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/input.jsonl", dir);
    char *in = slurp(path);
    if (!in) {
        fprintf(stderr, "%s: cannot read\n", path);
        pd_processor_destroy(p);
        pd_pipeline_destroy(pl);
        return 1;
    }
    char topic[128] = "input";
    int rc = 0;
    for (char *line = in, *next; line && *line && !rc; line = next) {
        next = strchr(line, '\n');
        size_t n = next ? (size_t)(next - line) : strlen(line);
        if (next)
            next++;
        if (!n || line[0] == '#')
            continue;
        if (line[0] == '@') {
            snprintf(topic, sizeof(topic), "%.*s", (int)(n - 1), line + 1);
            continue;
        }
        rc = pd_processor_feed(p, line, n, PD_FMT_AUTO, pd_str_c(topic));
    }
    free(in);
    snprintf(path, sizeof(path), "%s/until", dir);
    char *until = slurp(path);
    if (until && !rc) {
        int64_t t;
        char *nl = strchr(until, '\n');
        if (nl)
            *nl = '\0';
        if (pd_time_parse(pd_str_c(until), &t)) {
            fprintf(stderr, "%s: bad time '%s'\n", path, until);
            rc = 1;
        } else {
            rc = pd_processor_advance(p, t);
        }
    }
    free(until);
    pd_processor_destroy(p);
    pd_pipeline_destroy(pl);
    if (rc)
        fprintf(stderr, "processing failed: %s\n", pd_strerror(rc));
    return rc ? 1 : 0;
}

/* Every member of want is in got with an equal value. */
static bool subset(json_t *want, json_t *got, char *where, size_t wl)
{
    if (json_is_object(want)) {
        if (!json_is_object(got))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            json_t *g = json_object_get(got, k);
            if (json_is_null(v) && (!g || json_is_null(g)))
                continue; /* null in an expectation: the member must be absent */
            size_t l = strlen(where);
            snprintf(where + l, wl - l, ".%s", k);
            if (!g || !subset(v, g, where, wl))
                return false;
            where[l] = '\0';
        }
        return true;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(want) != json_array_size(got))
            return false;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!subset(json_array_get(want, i), json_array_get(got, i), where, wl))
                return false;
        return true;
    }
    if (json_is_number(want) && json_is_number(got)) {
        double a = json_number_value(want), b = json_number_value(got);
        return a - b < 1e-3 && b - a < 1e-3;
    }
    return json_equal(want, got);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pd_scenario CASE_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    pd_buf a, b;
    pd_buf_init(&a);
    pd_buf_init(&b);
    if (run(dir, &a) || run(dir, &b))
        return 1;
    if (a.len != b.len || memcmp(a.p, b.p, a.len)) {
        fprintf(stderr, "FAIL %s: two runs gave different bytes\n", dir);
        return 1;
    }
    char path[1024];
    snprintf(path, sizeof(path), "%s/expected.jsonl", dir);
    char *exp = slurp(path);
    if (!exp) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 1;
    }
    int fails = 0;
    uint32_t idx = 0;
    const char *got = pd_buf_cstr(&a);
    char *eline = exp, *enext;
    const char *gline = got;
    for (; eline && *eline; eline = enext) {
        enext = strchr(eline, '\n');
        if (enext)
            *enext++ = '\0';
        if (!*eline || eline[0] == '#')
            continue;
        idx++;
        json_error_t jerr;
        json_t *want = json_loads(eline, 0, &jerr);
        if (!want) {
            fprintf(stderr, "%s: expected signal %u: bad JSON: %s\n", path, idx, jerr.text);
            fails++;
            break;
        }
        if (!*gline) {
            fprintf(stderr, "FAIL %s: expected signal %u missing: %s\n", dir, idx, eline);
            json_decref(want);
            fails++;
            break;
        }
        const char *gend = strchr(gline, '\n');
        json_t *g = json_loadb(gline, (size_t)(gend - gline), 0, &jerr);
        char where[256] = "";
        if (!g || !subset(want, g, where, sizeof(where))) {
            fprintf(stderr, "FAIL %s: signal %u differs at '%s'\n  want: %s\n  got:  %.*s\n", dir,
                    idx, where, eline, (int)(gend - gline), gline);
            fails++;
        }
        json_decref(g);
        json_decref(want);
        gline = gend + 1;
    }
    if (!fails && *gline) {
        fprintf(stderr, "FAIL %s: unexpected extra signals after %u:\n%s", dir, idx, gline);
        fails++;
    }
    free(exp);
    pd_buf_free(&a);
    pd_buf_free(&b);
    if (!fails)
        printf("ok %s: %u signals\n", dir, idx);
    return fails ? 1 : 0;
}
