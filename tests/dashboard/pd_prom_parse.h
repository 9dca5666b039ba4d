/* pd_prom_parse.h: a strict reader of the Prometheus text exposition format 0.0.4, for tests.
 * It checks the grammar (HELP/TYPE lines, metric and label names, label escapes, values),
 * that TYPE precedes a family's samples, that a family's samples are contiguous, that no
 * series repeats, and that histograms have cumulative buckets ending in le="+Inf" equal to
 * _count. Header-only; used by test_metrics and test_http. */
#ifndef PD_PROM_PARSE_H
#define PD_PROM_PARSE_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[128];
    char labels[512]; /* canonical: name="value" pairs as written, without le */
    char le[32];      /* histogram bucket bound, "" otherwise */
    char family[128];
    double value;
} prom_sample;

typedef struct {
    char name[128];
    char type[16];
    bool has_help;
} prom_family;

typedef struct {
    prom_sample *s;
    size_t ns;
    prom_family *f;
    size_t nf;
    char err[256];
} prom_doc;

static inline void prom_free(prom_doc *d)
{
    free(d->s);
    free(d->f);
    memset(d, 0, sizeof(*d));
}

static inline bool prom_name_ok(const char *p, size_t n, bool colon)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static inline bool prom_value_ok(const char *s, double *out)
{
    if (!strcmp(s, "NaN")) {
        *out = NAN;
        return true;
    }
    if (!strcmp(s, "+Inf")) {
        *out = INFINITY;
        return true;
    }
    if (!strcmp(s, "-Inf")) {
        *out = -INFINITY;
        return true;
    }
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*out);
}

static inline prom_family *prom_find_family(prom_doc *d, const char *name)
{
    for (size_t i = 0; i < d->nf; i++)
        if (!strcmp(d->f[i].name, name))
            return &d->f[i];
    return NULL;
}

/* The family a sample name belongs to, given the declared types. */
static inline prom_family *prom_family_of(prom_doc *d, const char *name)
{
    prom_family *f = prom_find_family(d, name);
    if (f)
        return f;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t n = strlen(name);
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(sfx[i]);
        if (n > l && !strcmp(name + n - l, sfx[i])) {
            char base[128];
            snprintf(base, sizeof(base), "%.*s", (int)(n - l), name);
            f = prom_find_family(d, base);
            if (f && (!strcmp(f->type, "histogram") || !strcmp(f->type, "summary")))
                return f;
        }
    }
    return NULL;
}

/* Returns 0 and fills d, or -1 with d->err set. */
static inline int prom_parse(const char *text, prom_doc *d)
{
    memset(d, 0, sizeof(*d));
    size_t cap = 16;
    for (const char *p = text; *p; p++)
        cap += *p == '\n';
    d->s = calloc(cap, sizeof(*d->s));
    d->f = calloc(cap, sizeof(*d->f));
    char last_family[128] = "";
    int lineno = 0;
    const char *p = text;
#define PROM_FAIL(...)                                                                             \
    do {                                                                                           \
        int o_ = snprintf(d->err, sizeof(d->err), "line %d: ", lineno);                            \
        snprintf(d->err + o_, sizeof(d->err) - (size_t)o_, __VA_ARGS__);                           \
        return -1;                                                                                 \
    } while (0)
    while (*p) {
        lineno++;
        const char *nl = strchr(p, '\n');
        if (!nl)
            PROM_FAIL("last line has no newline");
        char line[2048];
        size_t ll = (size_t)(nl - p);
        if (ll >= sizeof(line))
            PROM_FAIL("line too long");
        memcpy(line, p, ll);
        line[ll] = '\0';
        p = nl + 1;
        if (ll == 0)
            continue;
        if (line[0] == '#') {
            char kw[8], name[128];
            int off = 0;
            if (sscanf(line, "# %7s %127s %n", kw, name, &off) >= 2 &&
                (!strcmp(kw, "HELP") || !strcmp(kw, "TYPE"))) {
                if (!prom_name_ok(name, strlen(name), true))
                    PROM_FAIL("bad metric name in %s: %s", kw, name);
                prom_family *f = prom_find_family(d, name);
                if (!f) {
                    f = &d->f[d->nf++];
                    snprintf(f->name, sizeof(f->name), "%s", name);
                }
                if (!strcmp(kw, "TYPE")) {
                    if (f->type[0])
                        PROM_FAIL("second TYPE for %s", name);
                    for (size_t i = 0; i < d->ns; i++)
                        if (!strcmp(d->s[i].family, name))
                            PROM_FAIL("TYPE after samples of %s", name);
                    const char *t = line + off;
                    if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") &&
                        strcmp(t, "summary") && strcmp(t, "untyped"))
                        PROM_FAIL("bad type '%s'", t);
                    snprintf(f->type, sizeof(f->type), "%s", t);
                } else {
                    if (f->has_help)
                        PROM_FAIL("second HELP for %s", name);
                    f->has_help = true;
                    for (const char *h = line + off; *h; h++)
                        if (*h == '\\' && h[1] != '\\' && h[1] != 'n')
                            PROM_FAIL("bad escape in HELP");
                        else if (*h == '\\')
                            h++;
                }
            }
            continue;
        }
        prom_sample *s = &d->s[d->ns];
        memset(s, 0, sizeof(*s));
        const char *q = line;
        while (*q && *q != '{' && *q != ' ')
            q++;
        if (!prom_name_ok(line, (size_t)(q - line), true) || (size_t)(q - line) >= sizeof(s->name))
            PROM_FAIL("bad sample name");
        memcpy(s->name, line, (size_t)(q - line));
        size_t lo = 0;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                const char *ns = q;
                while (*q && *q != '=')
                    q++;
                if (*q != '=' || !prom_name_ok(ns, (size_t)(q - ns), false))
                    PROM_FAIL("bad label name");
                char lname[64];
                snprintf(lname, sizeof(lname), "%.*s", (int)(q - ns), ns);
                q++;
                if (*q != '"')
                    PROM_FAIL("label value not quoted");
                q++;
                char val[256];
                size_t vl = 0;
                while (*q && *q != '"') {
                    char c = *q++;
                    if (c == '\\') {
                        c = *q++;
                        if (c == 'n')
                            c = '\n';
                        else if (c != '\\' && c != '"')
                            PROM_FAIL("bad escape in label value");
                    }
                    if (vl + 1 < sizeof(val))
                        val[vl++] = c;
                }
                val[vl] = '\0';
                if (*q != '"')
                    PROM_FAIL("unterminated label value");
                q++;
                if (!strcmp(lname, "le")) {
                    snprintf(s->le, sizeof(s->le), "%.31s", val);
                } else {
                    if (strstr(s->labels, lname) == s->labels ||
                        (strstr(s->labels, lname) && strstr(s->labels, lname)[-1] == ','))
                        PROM_FAIL("duplicate label %s", lname);
                    lo += (size_t)snprintf(s->labels + lo, sizeof(s->labels) - lo, "%s%s=\"%s\"",
                                           lo ? "," : "", lname, val);
                }
                if (*q == ',')
                    q++;
                else if (*q != '}')
                    PROM_FAIL("expected , or }");
            }
            q++;
        }
        if (*q != ' ')
            PROM_FAIL("no space before value");
        while (*q == ' ')
            q++;
        char vbuf[64];
        size_t vn = 0;
        while (*q && *q != ' ' && vn + 1 < sizeof(vbuf))
            vbuf[vn++] = *q++;
        vbuf[vn] = '\0';
        if (!prom_value_ok(vbuf, &s->value))
            PROM_FAIL("bad value '%s'", vbuf);
        while (*q == ' ')
            q++;
        if (*q) { /* optional timestamp: an integer */
            char *end;
            strtoll(q, &end, 10);
            if (*end)
                PROM_FAIL("trailing garbage");
        }
        prom_family *f = prom_family_of(d, s->name);
        if (!f || !f->type[0])
            PROM_FAIL("sample %s has no TYPE", s->name);
        snprintf(s->family, sizeof(s->family), "%s", f->name);
        if (!strcmp(f->type, "histogram") && strcmp(s->name, f->name) == 0)
            PROM_FAIL("histogram sample without suffix: %s", s->name);
        if (strcmp(last_family, f->name) != 0) {
            for (size_t i = 0; i < d->ns; i++)
                if (!strcmp(d->s[i].family, f->name))
                    PROM_FAIL("samples of %s are not contiguous", f->name);
            snprintf(last_family, sizeof(last_family), "%s", f->name);
        }
        if (s->le[0] && !strstr(s->name, "_bucket"))
            PROM_FAIL("le on a non-bucket sample");
        for (size_t i = 0; i < d->ns; i++)
            if (!strcmp(d->s[i].name, s->name) && !strcmp(d->s[i].labels, s->labels) &&
                !strcmp(d->s[i].le, s->le))
                PROM_FAIL("duplicate series %.100s{%.100s}", s->name, s->labels);
        d->ns++;
    }
    /* histograms: cumulative buckets, +Inf equals _count */
    for (size_t i = 0; i < d->ns; i++) {
        prom_sample *c = &d->s[i];
        size_t n = strlen(c->name);
        if (n < 6 || strcmp(c->name + n - 6, "_count") != 0)
            continue;
        prom_family *f = prom_find_family(d, c->family);
        if (!f || strcmp(f->type, "histogram"))
            continue;
        double prev = -1, prev_le = -INFINITY;
        bool inf = false;
        for (size_t j = 0; j < d->ns; j++) {
            prom_sample *b = &d->s[j];
            if (strcmp(b->family, c->family) || !b->le[0] || strcmp(b->labels, c->labels))
                continue;
            double le;
            if (!prom_value_ok(b->le, &le) && strcmp(b->le, "+Inf"))
                PROM_FAIL("bad le %s", b->le);
            if (!strcmp(b->le, "+Inf")) {
                le = INFINITY;
                inf = true;
                if (b->value != c->value)
                    PROM_FAIL("%s: +Inf bucket %g != count %g", c->family, b->value, c->value);
            }
            if (le <= prev_le || b->value < prev)
                PROM_FAIL("%s: buckets not cumulative/ascending", c->family);
            prev_le = le;
            prev = b->value;
        }
        if (!inf)
            PROM_FAIL("%s: no +Inf bucket", c->family);
    }
#undef PROM_FAIL
    return 0;
}

/* The value of name{labels} (labels as "a=\"x\",b=\"y\"", "" for none; le = "" unless a
 * bucket); NAN when absent. */
static inline double prom_get(const prom_doc *d, const char *name, const char *labels,
                              const char *le)
{
    for (size_t i = 0; i < d->ns; i++)
        if (!strcmp(d->s[i].name, name) && !strcmp(d->s[i].labels, labels ? labels : "") &&
            !strcmp(d->s[i].le, le ? le : ""))
            return d->s[i].value;
    return NAN;
}

static inline const char *prom_type(prom_doc *d, const char *family)
{
    prom_family *f = prom_find_family(d, family);
    return f ? f->type : NULL;
}

#endif
