#include "pd_yaml.h"

#include "pd_arena.h"
#include "pd_time.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct pd_ydoc {
    pd_arena arena;
    char *name;
    pd_ynode *root;
};

/* Children are collected in a growable scratch stack, then copied into the arena once
 * the collection ends, so nodes never realloc inside the arena. */
typedef struct {
    pd_ynode **v;
    size_t len, cap;
} node_stack;

static int stack_push(node_stack *s, pd_ynode *n)
{
    if (s->len == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        pd_ynode **nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv)
            return PD_ENOMEM;
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->len++] = n;
    return 0;
}

int pd_diag_at(pd_diag *diag, const pd_ydoc *doc, const pd_ynode *node, const char *fmt, ...)
{
    if (!diag)
        return PD_ECONFIG;
    int n = snprintf(diag->msg, sizeof(diag->msg), "%s:%u:%u: ", doc ? doc->name : "<input>",
                     node ? node->line : 0, node ? node->col : 0);
    if (n < 0 || (size_t)n >= sizeof(diag->msg))
        return PD_ECONFIG;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->msg + n, sizeof(diag->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return PD_ECONFIG;
}

static pd_ynode *new_node(pd_ydoc *doc, pd_ynode_type t, yaml_mark_t mark)
{
    pd_ynode *n = pd_arena_alloc(&doc->arena, sizeof(*n));
    if (!n)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->type = t;
    n->line = (uint32_t)mark.line + 1;
    n->col = (uint32_t)mark.column + 1;
    return n;
}

static void set_diag_raw(pd_diag *diag, const char *name, size_t line, size_t col, const char *what)
{
    if (diag)
        snprintf(diag->msg, sizeof(diag->msg), "%s:%zu:%zu: %s", name, line, col, what);
}

static int build(pd_ydoc *doc, yaml_parser_t *p, pd_diag *diag)
{
    /* Open collections: a stack of (node, index of its first child in `children`). */
    struct open {
        pd_ynode *node;
        size_t first;
    } open[256];
    size_t depth = 0;
    node_stack children = {0};
    int rc = 0;
    bool done = false, seen_root = false;

    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) {
            char what[320];
            snprintf(what, sizeof(what), "%s%s%s", p->problem ? p->problem : "parse error",
                     p->context ? " " : "", p->context ? p->context : "");
            set_diag_raw(diag, doc->name, p->problem_mark.line + 1, p->problem_mark.column + 1,
                         what);
            rc = PD_ECONFIG;
            break;
        }
        pd_ynode *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            done = seen_root || ev.type == YAML_STREAM_END_EVENT;
            break;
        case YAML_ALIAS_EVENT:
            set_diag_raw(diag, doc->name, ev.start_mark.line + 1, ev.start_mark.column + 1,
                         "aliases are not supported");
            rc = PD_ECONFIG;
            break;
        case YAML_SCALAR_EVENT:
            n = new_node(doc, PD_YSCALAR, ev.start_mark);
            if (n) {
                n->str = pd_arena_strndup(&doc->arena, (const char *)ev.data.scalar.value,
                                          ev.data.scalar.length);
                n->len = (uint32_t)ev.data.scalar.length;
                n->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                            ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                            ev.data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                            ev.data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
                if (!n->str)
                    n = NULL;
            }
            if (!n)
                rc = PD_ENOMEM;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == PD_ARRAY_LEN(open)) {
                set_diag_raw(diag, doc->name, ev.start_mark.line + 1, ev.start_mark.column + 1,
                             "nesting too deep");
                rc = PD_ECONFIG;
                break;
            }
            n = new_node(doc, ev.type == YAML_SEQUENCE_START_EVENT ? PD_YSEQ : PD_YMAP,
                         ev.start_mark);
            if (!n) {
                rc = PD_ENOMEM;
                break;
            }
            open[depth].node = n;
            open[depth].first = children.len;
            depth++;
            n = NULL; /* attached to its parent when it closes */
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            depth--;
            n = open[depth].node;
            size_t cnt = children.len - open[depth].first;
            if (cnt) {
                n->items = pd_arena_alloc(&doc->arena, cnt * sizeof(pd_ynode *));
                if (!n->items) {
                    rc = PD_ENOMEM;
                    break;
                }
                memcpy(n->items, children.v + open[depth].first, cnt * sizeof(pd_ynode *));
            }
            n->n = (uint32_t)(n->type == PD_YMAP ? cnt / 2 : cnt);
            children.len = open[depth].first;
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (rc)
            break;
        if (n) {
            if (depth == 0) {
                doc->root = n;
                seen_root = true;
            } else if (stack_push(&children, n)) {
                rc = PD_ENOMEM;
                break;
            }
        }
    }
    free(children.v);
    return rc;
}

int pd_yaml_load_buf(const char *name, const char *buf, size_t len, pd_ydoc **out, pd_diag *diag)
{
    pd_ydoc *doc = calloc(1, sizeof(*doc));
    if (!doc)
        return PD_ENOMEM;
    pd_arena_init(&doc->arena, 16 * 1024);
    doc->name = strdup(name ? name : "<input>");
    if (!doc->name) {
        free(doc);
        return PD_ENOMEM;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        pd_yaml_free(doc);
        return PD_ENOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    int rc = build(doc, &p, diag);
    yaml_parser_delete(&p);
    if (rc) {
        pd_yaml_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

int pd_yaml_load_file(const char *path, pd_ydoc **out, pd_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (diag)
            snprintf(diag->msg, sizeof(diag->msg), "%s:0:0: cannot open: %s", path,
                     strerror(errno));
        return PD_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                rc = PD_ENOMEM;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    if (!rc && ferror(f)) {
        if (diag)
            snprintf(diag->msg, sizeof(diag->msg), "%s:0:0: read error", path);
        rc = PD_EIO;
    }
    fclose(f);
    if (!rc)
        rc = pd_yaml_load_buf(path, buf ? buf : "", len, out, diag);
    free(buf);
    return rc;
}

void pd_yaml_free(pd_ydoc *doc)
{
    if (!doc)
        return;
    pd_arena_destroy(&doc->arena);
    free(doc->name);
    free(doc);
}

const pd_ynode *pd_yaml_root(const pd_ydoc *doc)
{
    return doc ? doc->root : NULL;
}

const char *pd_yaml_name(const pd_ydoc *doc)
{
    return doc ? doc->name : "<input>";
}

const pd_ynode *pd_ymap_get(const pd_ynode *map, const char *key)
{
    if (!map || map->type != PD_YMAP)
        return NULL;
    for (uint32_t i = 0; i < map->n; i++) {
        const pd_ynode *k = map->items[2 * i];
        if (k->type == PD_YSCALAR && !strcmp(k->str, key))
            return map->items[2 * i + 1];
    }
    return NULL;
}

int pd_ymap_check(const pd_ydoc *doc, const pd_ynode *map, const char *const *allowed,
                  pd_diag *diag)
{
    if (!map || map->type != PD_YMAP)
        return pd_diag_at(diag, doc, map, "expected a mapping");
    for (uint32_t i = 0; i < map->n; i++) {
        const pd_ynode *k = map->items[2 * i];
        if (k->type != PD_YSCALAR)
            return pd_diag_at(diag, doc, k, "keys must be plain strings");
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, k->str)) {
                ok = true;
                break;
            }
        if (!ok) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *a = allowed; *a && used < sizeof(list) - 1; a++) {
                int w = snprintf(list + used, sizeof(list) - used, "%s%s", a == allowed ? "" : ", ",
                                 *a);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            return pd_diag_at(diag, doc, k, "unknown key '%s' (expected one of: %s)", k->str, list);
        }
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(map->items[2 * j]->str, k->str))
                return pd_diag_at(diag, doc, k, "duplicate key '%s'", k->str);
    }
    return 0;
}

int pd_ynode_str(const pd_ydoc *doc, const pd_ynode *n, const char **out, pd_diag *diag)
{
    if (!n || n->type != PD_YSCALAR)
        return pd_diag_at(diag, doc, n, "expected a string");
    *out = n->str;
    return 0;
}

int pd_ynode_bool(const pd_ydoc *doc, const pd_ynode *n, bool *out, pd_diag *diag)
{
    if (n && n->type == PD_YSCALAR && !n->quoted) {
        static const char *const yes[] = {"true", "True", "TRUE", "yes", "on"};
        static const char *const no[] = {"false", "False", "FALSE", "no", "off"};
        for (size_t i = 0; i < PD_ARRAY_LEN(yes); i++) {
            if (!strcmp(n->str, yes[i])) {
                *out = true;
                return 0;
            }
            if (!strcmp(n->str, no[i])) {
                *out = false;
                return 0;
            }
        }
    }
    return pd_diag_at(diag, doc, n, "expected true or false");
}

int pd_ynode_int(const pd_ydoc *doc, const pd_ynode *n, int64_t min, int64_t max, int64_t *out,
                 pd_diag *diag)
{
    if (!n || n->type != PD_YSCALAR || n->len == 0)
        return pd_diag_at(diag, doc, n, "expected an integer");
    char *end;
    errno = 0;
    long long v = strtoll(n->str, &end, 10);
    if (errno || *end)
        return pd_diag_at(diag, doc, n, "expected an integer, got '%s'", n->str);
    if (v < min || v > max)
        return pd_diag_at(diag, doc, n, "%lld is out of range [%lld, %lld]", v, (long long)min,
                          (long long)max);
    *out = v;
    return 0;
}

int pd_ynode_double(const pd_ydoc *doc, const pd_ynode *n, double *out, pd_diag *diag)
{
    if (!n || n->type != PD_YSCALAR || n->len == 0)
        return pd_diag_at(diag, doc, n, "expected a number");
    char *end;
    errno = 0;
    double v = strtod(n->str, &end);
    if (errno || *end || !isfinite(v))
        return pd_diag_at(diag, doc, n, "expected a number, got '%s'", n->str);
    *out = v;
    return 0;
}

int pd_ynode_duration(const pd_ydoc *doc, const pd_ynode *n, int64_t *out_ms, pd_diag *diag)
{
    if (!n || n->type != PD_YSCALAR || pd_duration_parse((pd_str){n->str, n->len}, out_ms) != 0)
        return pd_diag_at(diag, doc, n, "expected a duration like 30s, 5m, 72h, 8d, got '%s'",
                          n && n->str ? n->str : "");
    return 0;
}

int pd_ynode_strlist(const pd_ydoc *doc, const pd_ynode *n, const char ***out, uint32_t *count,
                     pd_diag *diag)
{
    pd_ydoc *mdoc = (pd_ydoc *)doc; /* the list is allocated in the document's arena */
    if (!n)
        return pd_diag_at(diag, doc, n, "expected a string or a list of strings");
    uint32_t cnt = n->type == PD_YSEQ ? n->n : 1;
    const char **v = pd_arena_alloc(&mdoc->arena, (cnt ? cnt : 1) * sizeof(char *));
    if (!v)
        return PD_ENOMEM;
    if (n->type == PD_YSCALAR) {
        v[0] = n->str;
    } else if (n->type == PD_YSEQ) {
        for (uint32_t i = 0; i < cnt; i++) {
            if (n->items[i]->type != PD_YSCALAR)
                return pd_diag_at(diag, doc, n->items[i], "expected a string");
            v[i] = n->items[i]->str;
        }
    } else {
        return pd_diag_at(diag, doc, n, "expected a string or a list of strings");
    }
    *out = v;
    *count = cnt;
    return 0;
}
