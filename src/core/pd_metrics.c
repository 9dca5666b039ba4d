#include "pd_metrics.h"
#include "pd_time.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const double PD_LATENCY_BUCKETS[] = {0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                     0.001,    0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,
                                     0.25,     0.5,     1,        2.5,     5,      10};
const uint32_t PD_LATENCY_NBUCKETS = PD_ARRAY_LEN(PD_LATENCY_BUCKETS);

typedef struct pd_series {
    char *labels; /* rendered: name="value",... (escaped), "" for none */
    union {
        pd_counter c;
        pd_gauge g;
        pd_histogram h;
    } u;
    pd_gauge_fn fn;
    void *ctx;
} pd_series;

typedef struct pd_family {
    char *name, *help;
    pd_metric_type type;
    pd_series **series;
    size_t nseries, cap;
} pd_family;

typedef struct {
    pd_metrics_collector_fn fn;
    void *ctx;
} pd_collector;

struct pd_metrics {
    pd_family **fam;
    size_t nfam, capfam;
    pd_collector *col;
    size_t ncol, capcol;
    int64_t start_ms;
};

static bool name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
        return true;
    return !first && c >= '0' && c <= '9';
}

bool pd_metrics_valid_name(const char *name)
{
    if (!name || !*name)
        return false;
    for (size_t i = 0; name[i]; i++)
        if (!name_char(name[i], i == 0, true))
            return false;
    return true;
}

bool pd_metrics_valid_label_name(const char *name)
{
    if (!name || !*name || (name[0] == '_' && name[1] == '_'))
        return false;
    for (size_t i = 0; name[i]; i++)
        if (!name_char(name[i], i == 0, false))
            return false;
    return true;
}

int pd_metrics_create(pd_metrics **out)
{
    pd_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return PD_ENOMEM;
    m->start_ms = pd_now_ms();
    *out = m;
    return 0;
}

static void series_free(pd_series *s, pd_metric_type t)
{
    if (!s)
        return;
    free(s->labels);
    if (t == PD_METRIC_HISTOGRAM) {
        free((double *)s->u.h.bounds);
        free(s->u.h.counts);
    }
    free(s);
}

void pd_metrics_destroy(pd_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfam; i++) {
        pd_family *f = m->fam[i];
        for (size_t j = 0; j < f->nseries; j++)
            series_free(f->series[j], f->type);
        free(f->series);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->fam);
    free(m->col);
    free(m);
}

/* Label values: backslash, double quote and newline are escaped. */
static void escape_label_value(pd_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            pd_buf_puts(b, "\\\\");
        else if (*v == '"')
            pd_buf_puts(b, "\\\"");
        else if (*v == '\n')
            pd_buf_puts(b, "\\n");
        else
            pd_buf_putc(b, *v);
    }
}

/* HELP text: backslash and newline are escaped. */
static void escape_help(pd_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            pd_buf_puts(b, "\\\\");
        else if (*v == '\n')
            pd_buf_puts(b, "\\n");
        else
            pd_buf_putc(b, *v);
    }
}

static int render_labels(pd_labels labels, pd_buf *b)
{
    if (!labels)
        return 0;
    for (size_t i = 0; labels[i]; i += 2) {
        if (!labels[i + 1] || !pd_metrics_valid_label_name(labels[i]) || !strcmp(labels[i], "le") ||
            !strcmp(labels[i], "quantile"))
            return PD_EINVAL;
        for (size_t j = 0; j < i; j += 2)
            if (!strcmp(labels[i], labels[j]))
                return PD_EINVAL;
        if (i)
            pd_buf_putc(b, ',');
        pd_buf_puts(b, labels[i]);
        pd_buf_puts(b, "=\"");
        escape_label_value(b, labels[i + 1]);
        pd_buf_putc(b, '"');
    }
    return b->oom ? PD_ENOMEM : 0;
}

/* Finds or adds the series; *created tells which. */
static int get_series(pd_metrics *m, const char *name, const char *help, pd_metric_type type,
                      pd_labels labels, pd_series **out, bool *created)
{
    int rc = 0;
    pd_buf lb;
    pd_buf_init(&lb);
    pd_family *f = NULL;
    pd_series *s = NULL;
    *created = false;
    if (!m || !out || !pd_metrics_valid_name(name)) {
        rc = PD_EINVAL;
        goto cleanup;
    }
    if (!help)
        help = "";
    rc = render_labels(labels, &lb);
    if (rc)
        goto cleanup;
    const char *ls = pd_buf_cstr(&lb);
    for (size_t i = 0; i < m->nfam; i++)
        if (!strcmp(m->fam[i]->name, name)) {
            f = m->fam[i];
            break;
        }
    if (f) {
        if (f->type != type || strcmp(f->help, help) != 0) {
            rc = PD_EEXIST;
            goto cleanup;
        }
        for (size_t j = 0; j < f->nseries; j++)
            if (!strcmp(f->series[j]->labels, ls)) {
                *out = f->series[j];
                goto cleanup;
            }
    } else {
        if (m->nfam == m->capfam) {
            size_t nc = m->capfam ? m->capfam * 2 : 16;
            pd_family **nf = realloc(m->fam, nc * sizeof(*nf));
            if (!nf) {
                rc = PD_ENOMEM;
                goto cleanup;
            }
            m->fam = nf;
            m->capfam = nc;
        }
        f = calloc(1, sizeof(*f));
        if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help))) {
            if (f) {
                free(f->name);
                free(f);
            }
            rc = PD_ENOMEM;
            goto cleanup;
        }
        f->type = type;
        m->fam[m->nfam++] = f;
    }
    if (f->nseries == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 4;
        pd_series **ns = realloc(f->series, nc * sizeof(*ns));
        if (!ns) {
            rc = PD_ENOMEM;
            goto cleanup;
        }
        f->series = ns;
        f->cap = nc;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->labels = strdup(ls))) {
        free(s);
        rc = PD_ENOMEM;
        goto cleanup;
    }
    f->series[f->nseries++] = s;
    *out = s;
    *created = true;
cleanup:
    pd_buf_free(&lb);
    return rc;
}

int pd_metrics_counter(pd_metrics *m, const char *name, const char *help, pd_labels labels,
                       pd_counter **out)
{
    pd_series *s;
    bool created;
    int rc = get_series(m, name, help, PD_METRIC_COUNTER, labels, &s, &created);
    if (rc == 0)
        *out = &s->u.c;
    return rc;
}

int pd_metrics_gauge(pd_metrics *m, const char *name, const char *help, pd_labels labels,
                     pd_gauge **out)
{
    pd_series *s;
    bool created;
    int rc = get_series(m, name, help, PD_METRIC_GAUGE, labels, &s, &created);
    if (rc == 0)
        *out = &s->u.g;
    return rc;
}

int pd_metrics_gauge_fn(pd_metrics *m, const char *name, const char *help, pd_labels labels,
                        pd_gauge_fn fn, void *ctx)
{
    pd_series *s;
    bool created;
    if (!fn)
        return PD_EINVAL;
    int rc = get_series(m, name, help, PD_METRIC_GAUGE, labels, &s, &created);
    if (rc == 0) {
        s->fn = fn;
        s->ctx = ctx;
    }
    return rc;
}

int pd_metrics_histogram(pd_metrics *m, const char *name, const char *help, pd_labels labels,
                         const double *bounds, uint32_t nbounds, pd_histogram **out)
{
    if (!bounds) {
        bounds = PD_LATENCY_BUCKETS;
        nbounds = PD_LATENCY_NBUCKETS;
    }
    if (nbounds == 0)
        return PD_EINVAL;
    for (uint32_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
            return PD_EINVAL;
    pd_series *s;
    bool created;
    int rc = get_series(m, name, help, PD_METRIC_HISTOGRAM, labels, &s, &created);
    if (rc)
        return rc;
    if (created) {
        double *b = malloc(nbounds * sizeof(*b));
        uint64_t *c = calloc(nbounds + 1, sizeof(*c));
        if (!b || !c) {
            free(b);
            free(c);
            return PD_ENOMEM; /* the series stays, empty: renders as zero buckets */
        }
        memcpy(b, bounds, nbounds * sizeof(*b));
        s->u.h.bounds = b;
        s->u.h.counts = c;
        s->u.h.nbounds = nbounds;
    } else if (s->u.h.nbounds != nbounds ||
               memcmp(s->u.h.bounds, bounds, nbounds * sizeof(*bounds)) != 0) {
        return PD_EEXIST;
    }
    *out = &s->u.h;
    return 0;
}

int pd_metrics_add_collector(pd_metrics *m, pd_metrics_collector_fn fn, void *ctx)
{
    if (!m || !fn)
        return PD_EINVAL;
    if (m->ncol == m->capcol) {
        size_t nc = m->capcol ? m->capcol * 2 : 4;
        pd_collector *n = realloc(m->col, nc * sizeof(*n));
        if (!n)
            return PD_ENOMEM;
        m->col = n;
        m->capcol = nc;
    }
    m->col[m->ncol++] = (pd_collector){fn, ctx};
    return 0;
}

void pd_metrics_remove_collector(pd_metrics *m, pd_metrics_collector_fn fn, void *ctx)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ncol; i++)
        if (m->col[i].fn == fn && m->col[i].ctx == ctx) {
            memmove(m->col + i, m->col + i + 1, (m->ncol - i - 1) * sizeof(*m->col));
            m->ncol--;
            return;
        }
}

/* A "%g" form that reads back to the same double. */
static void put_double(pd_buf *b, double v)
{
    if (isnan(v)) {
        pd_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        pd_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char tmp[40];
    if (v == floor(v) && fabs(v) < 1e15) { /* integers as integers, not "1e+01" */
        snprintf(tmp, sizeof(tmp), "%.0f", v);
        pd_buf_puts(b, tmp);
        return;
    }
    /* 15 digits reads back for most values; 17 always does */
    snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof(tmp), "%.17g", v);
    pd_buf_puts(b, tmp);
}

static const char *type_name(pd_metric_type t)
{
    return t == PD_METRIC_COUNTER ? "counter" : t == PD_METRIC_GAUGE ? "gauge" : "histogram";
}

void pd_metrics_write_family(pd_buf *out, const char *name, const char *help, pd_metric_type t)
{
    pd_buf_printf(out, "# HELP %s ", name);
    escape_help(out, help ? help : "");
    pd_buf_printf(out, "\n# TYPE %s %s\n", name, type_name(t));
}

static void sample_start(pd_buf *out, const char *name, const char *suffix, const char *labels,
                         const char *extra_name, const char *extra_value)
{
    pd_buf_puts(out, name);
    if (suffix)
        pd_buf_puts(out, suffix);
    bool has = labels && *labels;
    if (has || extra_name) {
        pd_buf_putc(out, '{');
        if (has)
            pd_buf_puts(out, labels);
        if (extra_name) {
            if (has)
                pd_buf_putc(out, ',');
            pd_buf_printf(out, "%s=\"%s\"", extra_name, extra_value);
        }
        pd_buf_putc(out, '}');
    }
    pd_buf_putc(out, ' ');
}

void pd_metrics_write_sample(pd_buf *out, const char *name, pd_labels labels, double value)
{
    pd_buf lb;
    pd_buf_init(&lb);
    if (render_labels(labels, &lb) == 0) {
        sample_start(out, name, NULL, pd_buf_cstr(&lb), NULL, NULL);
        put_double(out, value);
        pd_buf_putc(out, '\n');
    }
    pd_buf_free(&lb);
}

static void render_series(pd_buf *out, const pd_family *f, const pd_series *s)
{
    switch (f->type) {
    case PD_METRIC_COUNTER:
        sample_start(out, f->name, NULL, s->labels, NULL, NULL);
        pd_buf_printf(out, "%llu\n", (unsigned long long)s->u.c.v);
        break;
    case PD_METRIC_GAUGE:
        sample_start(out, f->name, NULL, s->labels, NULL, NULL);
        put_double(out, s->fn ? s->fn(s->ctx) : s->u.g.v);
        pd_buf_putc(out, '\n');
        break;
    case PD_METRIC_HISTOGRAM: {
        const pd_histogram *h = &s->u.h;
        uint64_t cum = 0;
        for (uint32_t i = 0; i <= h->nbounds && h->counts; i++) {
            char le[40];
            if (i < h->nbounds) {
                pd_buf tmp;
                pd_buf_init(&tmp);
                put_double(&tmp, h->bounds[i]);
                snprintf(le, sizeof(le), "%s", tmp.len ? pd_buf_cstr(&tmp) : "0");
                pd_buf_free(&tmp);
            } else {
                snprintf(le, sizeof(le), "+Inf");
            }
            cum += h->counts[i];
            sample_start(out, f->name, "_bucket", s->labels, "le", le);
            pd_buf_printf(out, "%llu\n", (unsigned long long)cum);
        }
        if (!h->counts) {
            sample_start(out, f->name, "_bucket", s->labels, "le", "+Inf");
            pd_buf_puts(out, "0\n");
        }
        sample_start(out, f->name, "_sum", s->labels, NULL, NULL);
        put_double(out, h->sum);
        pd_buf_putc(out, '\n');
        sample_start(out, f->name, "_count", s->labels, NULL, NULL);
        pd_buf_printf(out, "%llu\n", (unsigned long long)h->count);
        break;
    }
    }
}

int pd_metrics_render(pd_metrics *m, pd_buf *out)
{
    if (!m || !out)
        return PD_EINVAL;
    for (size_t i = 0; i < m->nfam; i++) {
        const pd_family *f = m->fam[i];
        pd_metrics_write_family(out, f->name, f->help, f->type);
        for (size_t j = 0; j < f->nseries; j++)
            render_series(out, f, f->series[j]);
    }
    for (size_t i = 0; i < m->ncol; i++)
        m->col[i].fn(m->col[i].ctx, out);
    return out->oom ? PD_ENOMEM : 0;
}

/* ---- process metrics (Linux /proc; zero elsewhere) ---- */

static double statm_field(int idx)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long v[2] = {0, 0};
    int n = fscanf(f, "%lu %lu", &v[0], &v[1]);
    fclose(f);
    if (n != 2)
        return 0;
    return (double)v[idx] * (double)sysconf(_SC_PAGESIZE);
}

static double proc_rss(void *ctx)
{
    (void)ctx;
    return statm_field(1);
}

static double proc_vsize(void *ctx)
{
    (void)ctx;
    return statm_field(0);
}

static double proc_fds(void *ctx)
{
    (void)ctx;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double proc_start(void *ctx)
{
    return (double)((pd_metrics *)ctx)->start_ms / 1000.0;
}

int pd_metrics_add_process(pd_metrics *m)
{
    int rc;
    pd_gauge *g;
    if ((rc = pd_metrics_gauge_fn(m, "process_resident_memory_bytes",
                                  "Resident memory size in bytes.", NULL, proc_rss, NULL)) ||
        (rc = pd_metrics_gauge_fn(m, "process_virtual_memory_bytes",
                                  "Virtual memory size in bytes.", NULL, proc_vsize, NULL)) ||
        (rc = pd_metrics_gauge_fn(m, "process_open_fds", "Number of open file descriptors.", NULL,
                                  proc_fds, NULL)) ||
        (rc = pd_metrics_gauge_fn(m, "process_start_time_seconds",
                                  "Start time of the process since the Unix epoch in seconds.",
                                  NULL, proc_start, m)) ||
        (rc = pd_metrics_gauge(m, "postured_build_info", "postured version (always 1).",
                               (const char *[]){"version", PD_VERSION, NULL}, &g)))
        return rc;
    pd_gauge_set(g, 1);
    return 0;
}
