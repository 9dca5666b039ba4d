/* file and stdout sinks: one JSON object per line (json, ocsf) or back-to-back msgpack
 * objects. Writes are buffered by stdio; flush pushes them to the kernel. */
#include "pd_sink_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pd_file_sink {
    pd_sink *sink;
    FILE *f;
    bool owned; /* false for stdout */
    bool newline;
    bool flush_each; /* line-buffered behaviour: flush after every message */
} pd_file_sink;

static const char *const file_keys[] = {"path", "append", "flush", NULL};
static const char *const stdout_keys[] = {"flush", NULL};

static int open_common(const pd_sink_create_args *a, pd_file_sink *fs, pd_diag *diag)
{
    const pd_ynode *v = pd_ymap_get(a->node, "flush");
    fs->sink = a->sink;
    fs->newline = pd_sink_get_format(a->sink) != PD_SINK_FMT_MSGPACK;
    if (v) {
        const char *w;
        int rc = pd_ynode_str(a->doc, v, &w, diag);
        if (rc)
            return rc;
        if (!strcmp(w, "each"))
            fs->flush_each = true;
        else if (strcmp(w, "buffered"))
            return pd_diag_at(diag, a->doc, v, "unknown flush mode '%s' (expected each, buffered)",
                              w);
    }
    return 0;
}

static int file_create(const pd_sink_create_args *a, void **impl, pd_diag *diag)
{
    pd_file_sink *fs = calloc(1, sizeof(*fs));
    int rc;
    if (!fs)
        return PD_ENOMEM;
    if ((rc = open_common(a, fs, diag)))
        goto fail;
    const pd_ynode *pn = pd_ymap_get(a->node, "path");
    const char *path;
    if (!pn) {
        rc = pd_diag_at(diag, a->doc, a->node, "file sink needs 'path'");
        goto fail;
    }
    if ((rc = pd_ynode_str(a->doc, pn, &path, diag)))
        goto fail;
    bool append = true;
    const pd_ynode *an = pd_ymap_get(a->node, "append");
    if (an && (rc = pd_ynode_bool(a->doc, an, &append, diag)))
        goto fail;
    if (a->env->check_only) { /* validate: do not create the file */
        *impl = fs;
        return 0;
    }
    char full[4096];
    if (path[0] != '/' && a->env->base_dir)
        snprintf(full, sizeof(full), "%s/%s", a->env->base_dir, path);
    else
        snprintf(full, sizeof(full), "%s", path);
    fs->f = fopen(full, append ? "ab" : "wb");
    if (!fs->f) {
        rc = pd_diag_at(diag, a->doc, pn, "cannot open '%s': %s", full, strerror(errno));
        goto fail;
    }
    fs->owned = true;
    *impl = fs;
    return 0;
fail:
    free(fs);
    return rc;
}

static int stdout_create(const pd_sink_create_args *a, void **impl, pd_diag *diag)
{
    pd_file_sink *fs = calloc(1, sizeof(*fs));
    if (!fs)
        return PD_ENOMEM;
    int rc = open_common(a, fs, diag);
    if (rc) {
        free(fs);
        return rc;
    }
    fs->f = a->env->check_only ? NULL : stdout;
    *impl = fs;
    return 0;
}

static int file_submit(void *impl, const pd_sink_msg *m)
{
    pd_file_sink *fs = impl;
    if (fwrite(m->data, 1, m->len, fs->f) != m->len || (fs->newline && putc('\n', fs->f) == EOF))
        return PD_EIO;
    if (fs->flush_each && fflush(fs->f))
        return PD_EIO;
    pd_sink_report_delivered(fs->sink, m->len + fs->newline);
    return 0;
}

static int file_flush(void *impl)
{
    pd_file_sink *fs = impl;
    return fs->f && fflush(fs->f) ? PD_EIO : 0;
}

static void file_destroy(void *impl)
{
    pd_file_sink *fs = impl;
    if (!fs)
        return;
    if (fs->owned)
        fclose(fs->f);
    else if (fs->f)
        fflush(fs->f);
    free(fs);
}

const pd_sink_ops pd_sink_file_ops = {"file",     file_keys, file_create, file_submit,
                                      file_flush, NULL,      file_destroy};
const pd_sink_ops pd_sink_stdout_ops = {"stdout",   stdout_keys, stdout_create, file_submit,
                                        file_flush, NULL,        file_destroy};
