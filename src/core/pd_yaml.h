/* pd_yaml.h: YAML (and JSON) files loaded into a small read-only tree with positions, the
 * base of every config, goal, rule and pipeline file. Errors come back as
 * "file:line:column: message" in a pd_diag.
 *
 * Ownership: pd_yaml_load_* returns a document the caller frees with pd_yaml_free; every
 * node and string belongs to the document. Thread: any, one owner. */
#ifndef PD_YAML_H
#define PD_YAML_H

#include "pd_common.h"

#include <stdarg.h>

typedef enum { PD_YSCALAR = 0, PD_YMAP, PD_YSEQ } pd_ynode_type;

typedef struct pd_ynode pd_ynode;
struct pd_ynode {
    pd_ynode_type type;
    uint32_t line, col; /* 1-based */
    const char *str;    /* scalar: NUL-terminated text */
    uint32_t len;       /* scalar: length */
    bool quoted;        /* scalar was quoted: never null/bool/number by its spelling */
    pd_ynode **items;   /* seq: n items; map: n keys at items[2i], values at items[2i+1] */
    uint32_t n;         /* seq: item count; map: pair count */
};

typedef struct pd_ydoc pd_ydoc;

/* A diagnostic: the first error found, formatted "file:line:column: message". */
typedef struct pd_diag {
    char msg[512];
} pd_diag;

int pd_yaml_load_file(const char *path, pd_ydoc **out, pd_diag *diag);
/* name is used in diagnostics (a file name, "<env>", "<inline>"). */
int pd_yaml_load_buf(const char *name, const char *buf, size_t len, pd_ydoc **out, pd_diag *diag);
void pd_yaml_free(pd_ydoc *doc);
const pd_ynode *pd_yaml_root(const pd_ydoc *doc); /* NULL for an empty document */
const char *pd_yaml_name(const pd_ydoc *doc);

/* Sets diag to "name:line:col: fmt..." for node (node may be NULL: position 0:0);
 * returns PD_ECONFIG so callers can `return pd_diag_at(...)`. */
int pd_diag_at(pd_diag *diag, const pd_ydoc *doc, const pd_ynode *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Map access: the value node for key, or NULL. */
const pd_ynode *pd_ymap_get(const pd_ynode *map, const char *key);
/* Unknown keys are errors: fails with "unknown key 'k' (expected one of: a, b, c)" at the
 * key's position, and also when the node is not a map or has a duplicate key.
 * allowed is NULL-terminated. */
int pd_ymap_check(const pd_ydoc *doc, const pd_ynode *map, const char *const *allowed,
                  pd_diag *diag);

/* Typed scalars; each fails with a positioned diagnostic naming what was expected. */
int pd_ynode_str(const pd_ydoc *doc, const pd_ynode *n, const char **out, pd_diag *diag);
int pd_ynode_bool(const pd_ydoc *doc, const pd_ynode *n, bool *out, pd_diag *diag);
int pd_ynode_int(const pd_ydoc *doc, const pd_ynode *n, int64_t min, int64_t max, int64_t *out,
                 pd_diag *diag);
int pd_ynode_double(const pd_ydoc *doc, const pd_ynode *n, double *out, pd_diag *diag);
int pd_ynode_duration(const pd_ydoc *doc, const pd_ynode *n, int64_t *out_ms, pd_diag *diag);
/* A scalar or a sequence of scalars, as a list (a lone scalar is a list of one). */
int pd_ynode_strlist(const pd_ydoc *doc, const pd_ynode *n, const char ***out, uint32_t *count,
                     pd_diag *diag); /* *out is allocated in the document */

#endif
