/* pd_test.h: helpers shared by the cmocka unit tests. Header-only. */
#ifndef PD_TEST_H
#define PD_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL when absent. */
static inline char *pd_test_read_file(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (out_len)
            *out_len = (size_t)n;
    }
    return buf;
}

/* Loads ../shared/samples/<name>. When it is missing: fails under CI=true, else skips the
 * calling test with a clear message. */
static inline char *pd_test_sample(const char *name, size_t *out_len)
{
    const char *dir = getenv("PD_SAMPLES_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared/samples", name);
    char *buf = pd_test_read_file(path, out_len);
    if (!buf) {
        const char *ci = getenv("CI");
        if (ci && !strcmp(ci, "true"))
            fail_msg("sample %s is missing (CI=true: samples are required)", path);
        fprintf(stderr, "SKIP: sample %s is missing (set PD_SAMPLES_DIR)\n", path);
        skip();
    }
    return buf;
}

/* Path of a file in the source tree (pipelines/, schemas/, tests/...). */
static inline const char *pd_test_src_path(const char *rel, char *buf, size_t n)
{
    const char *src = getenv("PD_SOURCE_DIR");
    snprintf(buf, n, "%s/%s", src ? src : ".", rel);
    return buf;
}

#endif
