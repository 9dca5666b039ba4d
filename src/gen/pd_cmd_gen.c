/* postured gen: writes a generated stream as JSON lines (or key<TAB>json lines). */
#include "pd_cli.h"
#include "pd_gen.h"
#include "pd_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: postured gen [OPTIONS]\n"
               "  --seed S            PRNG seed (default 1); same seed, same bytes\n"
               "  --servers N         fleet size across azure, aws, gcp, onprem (default 100)\n"
               "  --days D            simulated days (default 7; 0 = until --events)\n"
               "  --events N          stop after N messages (with no --days: unbounded days)\n"
               "  --keys M            Defender assessment keys per server (default 12)\n"
               "  --incidents         scripted incidents firing each built-in rule (default)\n"
               "  --no-incidents      no scripted incidents\n"
               "  --noise             benign alert noise at a higher rate (implies "
               "--no-incidents\n"
               "                      unless --incidents is given)\n"
               "  --mix defender|all  Defender shapes only, or also ASFF (aws) and SCC (gcp)\n"
               "  --inventory         also ARM resource events (VMs, Arc machines) with tags\n"
               "  --no-tags           assessments' \"tags\" null, as in captured exports\n"
               "  --alert-shape S     flat (continuous export, default), rest (properties.*) or "
               "mixed\n"
               "  --churn P           per pair per day status change probability (default "
               "0.02)\n"
               "  --alert-rate R      background alerts per server per day (default 0.05; noise "
               "0.2)\n"
               "  --delete-rate P     per server per day decommission probability (default "
               "0.002)\n"
               "  --start TIME        simulated start (default 2026-01-05T00:00:00Z)\n"
               "  --disorder MS       deliver messages up to MS late (out-of-order tests)\n"
               "  --key               print resource_key<TAB>json lines (keyed Kafka messages)\n"
               "  --controls FILE     control mapping table (default pipelines/controls.yaml)\n"
               "  --manifest FILE     write the scripted incidents as JSON lines\n"
               "  --stats             print counts and throughput on stderr\n"
               "  -o FILE             write to FILE instead of stdout\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || *s == '-')
        return PD_EINVAL;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !*s || *end || v < 0)
        return PD_EINVAL;
    *out = v;
    return 0;
}

static int write_manifest(const pd_gen *g, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return PD_EIO;
    for (uint32_t i = 0; i < pd_gen_incident_count(g); i++) {
        const pd_gen_incident_info *ii = pd_gen_incident_at(g, i);
        char t0[PD_RFC3339_LEN], t1[PD_RFC3339_LEN];
        pd_time_format(ii->start_ms, t0);
        pd_time_format(ii->end_ms, t1);
        fprintf(f, "{\"rule\":\"%s\",\"start\":\"%s\",\"end\":\"%s\",\"alert_type\":\"%s\",",
                pd_gen_incident_rule(ii->kind), t0, t1, ii->alert_type);
        fprintf(f, "\"control_key\":\"%s\",\"resources\":[", ii->control_key);
        for (uint32_t k = 0; k < ii->nservers; k++)
            fprintf(f, "%s{\"id\":\"%s\",\"key\":\"%s\"}", k ? "," : "",
                    pd_gen_server_id(g, ii->servers[k]), pd_gen_server_key(g, ii->servers[k]));
        fprintf(f, "]}\n");
    }
    return fclose(f) ? PD_EIO : 0;
}

int pd_cmd_gen(int argc, char **argv)
{
    pd_gen_opts o;
    pd_gen_opts_default(&o);
    const char *outpath = NULL, *controls_path = NULL, *manifest = NULL;
    bool keyed = false, stats = false, days_set = false, inc_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u;
        bool takes = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--incidents")) {
            o.incidents = true;
            inc_set = true;
            takes = false;
        } else if (!strcmp(a, "--no-incidents")) {
            o.incidents = false;
            inc_set = true;
            takes = false;
        } else if (!strcmp(a, "--noise")) {
            o.noise = true;
            takes = false;
        } else if (!strcmp(a, "--inventory")) {
            o.inventory = true;
            takes = false;
        } else if (!strcmp(a, "--no-inventory")) {
            o.inventory = false;
            takes = false;
        } else if (!strcmp(a, "--no-tags")) {
            o.assessment_tags = false;
            takes = false;
        } else if (!strcmp(a, "--key")) {
            keyed = true;
            takes = false;
        } else if (!strcmp(a, "--stats")) {
            stats = true;
            takes = false;
        }
        if (!takes)
            continue;
        static const char *const valued[] = {
            "--seed",        "--servers", "--days",     "--events",
            "--keys",        "--mix",     "--churn",    "--alert-rate",
            "--delete-rate", "--start",   "--disorder", "--controls",
            "--manifest",    "-o",        "--output",   "--alert-shape"};
        bool known = false;
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
            known |= !strcmp(a, valued[k]);
        if (!known) {
            fprintf(stderr, "postured gen: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "postured gen: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        int bad = 0;
        if (!strcmp(a, "--seed")) {
            bad = parse_u64(v, &o.seed);
        } else if (!strcmp(a, "--servers")) {
            bad = parse_u64(v, &u) || u == 0 || u > 10000000;
            o.servers = (uint32_t)u;
        } else if (!strcmp(a, "--days")) {
            bad = parse_u64(v, &u) || u > 100000;
            o.days = (uint32_t)u;
            days_set = true;
        } else if (!strcmp(a, "--events")) {
            bad = parse_u64(v, &o.max_events);
        } else if (!strcmp(a, "--keys")) {
            bad = parse_u64(v, &u) || u == 0 || u > 200;
            o.keys = (uint32_t)u;
        } else if (!strcmp(a, "--mix")) {
            if (!strcmp(v, "defender"))
                o.mix = PD_GEN_MIX_DEFENDER;
            else if (!strcmp(v, "all"))
                o.mix = PD_GEN_MIX_ALL;
            else
                bad = 1;
        } else if (!strcmp(a, "--alert-shape")) {
            if (!strcmp(v, "flat"))
                o.alert_rest_pct = 0;
            else if (!strcmp(v, "rest"))
                o.alert_rest_pct = 100;
            else if (!strcmp(v, "mixed"))
                o.alert_rest_pct = 50;
            else
                bad = 1;
        } else if (!strcmp(a, "--churn")) {
            bad = parse_double(v, &o.churn) || o.churn > 1;
        } else if (!strcmp(a, "--alert-rate")) {
            bad = parse_double(v, &o.alert_rate) || o.alert_rate > 1000;
        } else if (!strcmp(a, "--delete-rate")) {
            bad = parse_double(v, &o.delete_rate) || o.delete_rate > 1;
        } else if (!strcmp(a, "--start")) {
            bad = pd_time_parse(pd_str_c(v), &o.start_ms) != 0;
        } else if (!strcmp(a, "--disorder")) {
            bad = parse_u64(v, &u) || u > 86400000;
            o.disorder_ms = (int64_t)u;
        } else if (!strcmp(a, "--controls")) {
            controls_path = v;
        } else if (!strcmp(a, "--manifest")) {
            manifest = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            outpath = v;
        } else {
            fprintf(stderr, "postured gen: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "postured gen: bad value '%s' for %s\n", v, a);
            return 2;
        }
        i++;
    }
    if (o.max_events && !days_set)
        o.days = 0;
    if (o.noise && !inc_set)
        o.incidents = false;
    if (o.days == 0 && o.max_events == 0) {
        fprintf(stderr, "postured gen: --days 0 needs --events\n");
        return 2;
    }

    int status = 1;
    pd_controls *controls = NULL;
    pd_gen *g = NULL;
    FILE *out = stdout;
    pd_buf buf;
    pd_buf_init(&buf);
    pd_diag diag = {{0}};
    if (controls_path) {
        if (pd_controls_load_file(controls_path, &controls, &diag)) {
            fprintf(stderr, "postured gen: %s\n", diag.msg);
            goto cleanup;
        }
        o.controls = controls;
    }
    int rc = pd_gen_create(&o, &g, &diag);
    if (rc) {
        fprintf(stderr, "postured gen: %s\n", rc == PD_ECONFIG ? diag.msg : pd_strerror(rc));
        goto cleanup;
    }
    if (manifest && write_manifest(g, manifest)) {
        fprintf(stderr, "postured gen: cannot write %s\n", manifest);
        goto cleanup;
    }
    if (outpath && !(out = fopen(outpath, "w"))) {
        fprintf(stderr, "postured gen: cannot open %s: %s\n", outpath, strerror(errno));
        out = stdout;
        goto cleanup;
    }
    int64_t t0 = pd_monotonic_ms();
    pd_gen_meta m;
    for (;;) {
        size_t mark = buf.len;
        if (keyed) {
            /* The key first: render, then move it in front (keys are short). */
            rc = pd_gen_next(g, &buf, &m);
            if (rc)
                break;
            size_t klen = strlen(m.key), mlen = buf.len - mark;
            if (pd_buf_reserve(&buf, klen + 1)) {
                rc = PD_ENOMEM;
                break;
            }
            memmove(buf.p + mark + klen + 1, buf.p + mark, mlen);
            memcpy(buf.p + mark, m.key, klen);
            buf.p[mark + klen] = '\t';
            buf.len += klen + 1;
        } else {
            rc = pd_gen_next(g, &buf, &m);
            if (rc)
                break;
        }
        pd_buf_putc(&buf, '\n');
        if (buf.len >= (1u << 20)) {
            if (fwrite(buf.p, 1, buf.len, out) != buf.len) {
                fprintf(stderr, "postured gen: write failed: %s\n", strerror(errno));
                goto cleanup;
            }
            pd_buf_reset(&buf);
        }
    }
    if (rc != PD_ENOTFOUND) {
        fprintf(stderr, "postured gen: %s\n", pd_strerror(rc));
        goto cleanup;
    }
    if (buf.len && fwrite(buf.p, 1, buf.len, out) != buf.len) {
        fprintf(stderr, "postured gen: write failed: %s\n", strerror(errno));
        goto cleanup;
    }
    if (fflush(out)) {
        fprintf(stderr, "postured gen: write failed: %s\n", strerror(errno));
        goto cleanup;
    }
    if (stats) {
        pd_gen_stats st;
        pd_gen_get_stats(g, &st);
        int64_t ms = pd_monotonic_ms() - t0;
        fprintf(stderr, "gen: %llu events, %llu bytes in %lld ms (%.0f events/s)\n",
                (unsigned long long)st.events, (unsigned long long)st.bytes, (long long)ms,
                ms > 0 ? (double)st.events * 1000.0 / (double)ms : 0.0);
        for (int k = 0; k < PD_KIND__COUNT; k++)
            if (st.by_kind[k])
                fprintf(stderr, "gen:   %-13s %llu\n", pd_kind_name(k),
                        (unsigned long long)st.by_kind[k]);
        for (int f = 1; f < PD_FMT__COUNT; f++)
            if (st.by_format[f])
                fprintf(stderr, "gen:   format %-6s %llu\n", pd_format_name(f),
                        (unsigned long long)st.by_format[f]);
        for (int i = 1; i < PD_GEN_INC__COUNT; i++)
            fprintf(stderr, "gen:   incident %-24s %llu\n", pd_gen_incident_rule(i),
                    (unsigned long long)st.incidents[i]);
        fprintf(stderr, "gen:   noise alerts dropped by the lateral-spread guard: %llu\n",
                (unsigned long long)st.noise_dropped);
    }
    status = 0;
cleanup:
    if (out != stdout && fclose(out) && status == 0) {
        fprintf(stderr, "postured gen: write failed: %s\n", strerror(errno));
        status = 1;
    }
    pd_buf_free(&buf);
    pd_gen_destroy(g);
    pd_controls_destroy(controls);
    return status;
}
