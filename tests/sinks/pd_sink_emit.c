/* Writes signals through real file sinks (json, ocsf, msgpack) into DIR, for
 * tests/sinks/validate.py to check against schemas/.
 *   pd_sink_emit DIR              the fixture signals, plus digests from a rate limit
 *   pd_sink_emit DIR FILE.jsonl   native signals read back from FILE (e.g. `postured replay`
 *                                 output): DIR/replay.{json,ocsf,msgpack} */
#include "test_sink_fixtures.h"

#include "pd_time.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>

static int64_t clock_ms = 1700000000000LL;
static int64_t now_fn(void *ctx)
{
    PD_UNUSED(ctx);
    return clock_ms;
}

static pd_str js(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? (pd_str){json_string_value(v), (uint32_t)json_string_length(v)}
                             : PD_STR_NULL;
}

static void resource_of(json_t *o, pd_signal_resource *r)
{
    r->id = js(o, "id");
    r->account = js(o, "account");
    r->name = js(o, "name");
    r->type = js(o, "type");
    if (pd_cloud_parse(js(o, "cloud"), &r->cloud))
        r->cloud = PD_CLOUD_UNKNOWN;
}

/* The native JSON back into a pd_signal; strings point into j (kept alive by the caller). */
static int signal_of(json_t *j, pd_signal *s, pd_signal_resource *res, uint32_t maxres,
                     pd_evidence *ev, uint32_t maxev, pd_str *fw, uint32_t maxfw, const char **acts,
                     uint32_t maxact)
{
    memset(s, 0, sizeof(*s));
    s->kind = pd_str_eq_c(js(j, "signal"), "breach") ? PD_SIGNAL_BREACH : PD_SIGNAL_DRIFT;
    s->type = json_string_value(json_object_get(j, "type"));
    pd_str id = js(j, "id");
    if (!s->type || id.len != 32 || pd_time_parse(js(j, "time"), &s->time_ms) ||
        pd_severity_parse(js(j, "severity"), &s->severity))
        return -1;
    memcpy(s->id, id.p, 32);
    s->pipeline = js(j, "pipeline");
    s->update = (uint32_t)json_integer_value(json_object_get(j, "update"));
    s->flapping = json_is_true(json_object_get(j, "flapping"));
    json_t *g = json_object_get(j, "goal"), *c = json_object_get(j, "control"), *v, *it;
    size_t i;
    if (g) {
        s->has_goal = true;
        s->goal.id = js(g, "id");
        s->goal.title = js(g, "title");
        s->goal.kind = json_string_value(json_object_get(g, "kind"));
        s->goal.value = json_number_value(json_object_get(g, "value"));
        s->goal.target = js(g, "target");
        s->goal.met = json_is_true(json_object_get(g, "met"));
    }
    if (c) {
        s->has_control = true;
        s->control.key = js(c, "key");
        s->control.name = js(c, "name");
        json_array_foreach(json_object_get(c, "frameworks"), i, it) if (i < maxfw) fw[i] =
            (pd_str){json_string_value(it), (uint32_t)json_string_length(it)};
        s->control.frameworks = fw;
        s->control.nframeworks =
            (uint32_t)PD_MIN(json_array_size(json_object_get(c, "frameworks")), maxfw);
    }
    if ((v = json_object_get(j, "resource"))) {
        resource_of(v, &res[0]);
        s->nresources = 1;
    } else if ((v = json_object_get(j, "resources"))) {
        json_array_foreach(v, i, it) if (i < maxres) resource_of(it, &res[i]);
        s->nresources = (uint32_t)PD_MIN(json_array_size(v), maxres);
        s->multi_resource = true;
    }
    s->resources = res;
    json_array_foreach(json_object_get(j, "evidence"), i, it)
    {
        if (i >= maxev)
            break;
        ev[i].kind = json_string_value(json_object_get(it, "kind"));
        ev[i].id = js(it, "id");
        ev[i].detail = js(it, "detail");
        if (pd_time_parse(js(it, "time"), &ev[i].time_ms))
            return -1;
        s->nevidence = (uint32_t)i + 1;
    }
    s->evidence = ev;
    if (s->kind == PD_SIGNAL_BREACH) {
        json_t *r = json_object_get(j, "rule");
        s->rule.id = js(r, "id");
        s->rule.title = js(r, "title");
        s->confidence = json_number_value(json_object_get(j, "confidence"));
        s->score = json_number_value(json_object_get(j, "score"));
        json_array_foreach(json_object_get(j, "tactics"), i, it)
        {
            pd_tactic t;
            if (!pd_tactic_parse((pd_str){json_string_value(it), (uint32_t)json_string_length(it)},
                                 &t))
                s->tactics |= 1u << t;
        }
        json_array_foreach(json_object_get(j, "recommended_actions"), i, it) if (i < maxact)
            acts[i] = json_string_value(it);
        s->actions = acts;
        s->nactions =
            (uint32_t)PD_MIN(json_array_size(json_object_get(j, "recommended_actions")), maxact);
    }
    return 0;
}

static int from_file(const char *dir, const char *path)
{
    static const char *const fmts[] = {"json", "ocsf", "msgpack"};
    pd_sink *sinks[3] = {0};
    int rc = 0;
    for (int f = 0; f < 3; f++) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml),
                 "{type: file, path: '%s/replay.%s', append: false, format: %s}", dir, fmts[f],
                 fmts[f]);
        pd_sink_env env = {0};
        pd_diag diag;
        if (fx_sink(&env, yaml, &sinks[f], &diag)) {
            fprintf(stderr, "%s\n", diag.msg);
            return 1;
        }
    }
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        rc = 1;
        goto cleanup;
    }
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, in) > 0) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        pd_signal s;
        pd_signal_resource res[64];
        pd_evidence ev[256];
        pd_str fw[32];
        const char *acts[16];
        n++;
        if (!j || signal_of(j, &s, res, 64, ev, 256, fw, 32, acts, 16)) {
            fprintf(stderr, "%s:%d: not a native signal\n", path, n);
            rc = 1;
        } else
            for (int f = 0; f < 3; f++)
                rc |= pd_sink_submit(sinks[f], &s);
        json_decref(j);
    }
    free(line);
    fclose(in);
cleanup:
    for (int f = 0; f < 3; f++)
        pd_sink_destroy(sinks[f]);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3)
        return from_file(argv[1], argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR [SIGNALS.jsonl]\n", argv[0]);
        return 2;
    }
    static const char *const fmts[] = {"json", "ocsf", "msgpack"};
    pd_signal sigs[] = {
        fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod"),
        fx_drift("control.recovered", PD_SEV_HIGH, "edr-prod"),
        fx_drift("sla.expired", PD_SEV_CRITICAL, "vuln-sla"),
        fx_drift("goal.breached", PD_SEV_CRITICAL, "edr-prod"),
        fx_drift("goal.restored", PD_SEV_CRITICAL, "edr-prod"),
        fx_drift("coverage.unknown", PD_SEV_LOW, "va-coverage"),
        fx_breach("lateral-spread", PD_SEV_CRITICAL),
        fx_breach("kill-chain-progression", PD_SEV_CRITICAL),
        fx_breach("alert-burst", PD_SEV_MEDIUM),
    };
    sigs[1].flapping = true;
    sigs[2].resources = &fx_res[1]; /* sla.expired is about one pair */
    sigs[2].nresources = 1;
    sigs[5].nevidence = 0;
    sigs[7].update = 2;
    sigs[7].nresources = 1; /* one resource: "resource" */
    sigs[8].multi_resource = true;
    sigs[8].nresources = 1; /* forced "resources" with one item */
    pd_signal silent = fx_drift("feed.silent", PD_SEV_MEDIUM, "x");
    silent.has_goal = false;
    silent.has_control = false;
    silent.nresources = 0;

    int rc = 0;
    for (size_t f = 0; f < PD_ARRAY_LEN(fmts); f++) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml),
                 "{type: file, name: %s, path: '%s/signals.%s', append: false, format: %s}",
                 fmts[f], argv[1], fmts[f], fmts[f]);
        pd_sink_env env = {0};
        pd_sink *s;
        pd_diag diag;
        if (fx_sink(&env, yaml, &s, &diag)) {
            fprintf(stderr, "%s\n", diag.msg);
            return 1;
        }
        for (size_t i = 0; i < PD_ARRAY_LEN(sigs); i++)
            rc |= pd_sink_submit(s, &sigs[i]);
        rc |= pd_sink_submit(s, &silent);
        pd_sink_destroy(s);
    }
    /* digests: a rate limit of 1 over many signals of two groups */
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "{type: file, path: '%s/digests.json', append: false, rate_limit: 1}", argv[1]);
    pd_sink_env env = {.now_ms = now_fn};
    pd_sink *s;
    pd_diag diag;
    if (fx_sink(&env, yaml, &s, &diag)) {
        fprintf(stderr, "%s\n", diag.msg);
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        rc |= pd_sink_submit(s, &sigs[0]);
        rc |= pd_sink_submit(s, &sigs[6]);
    }
    clock_ms += 60000;
    rc |= pd_sink_flush(s);
    pd_sink_destroy(s);
    return rc ? 1 : 0;
}
