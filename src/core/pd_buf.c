#include "pd_buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pd_buf_init(pd_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void pd_buf_free(pd_buf *b)
{
    if (!b)
        return;
    free(b->p);
    memset(b, 0, sizeof(*b));
}

int pd_buf_reserve(pd_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->oom = true;
        return PD_ENOMEM;
    }
    b->p = np;
    b->cap = ncap;
    return 0;
}

void pd_buf_append(pd_buf *b, const void *data, size_t n)
{
    if (n == 0 || pd_buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void pd_buf_puts(pd_buf *b, const char *s)
{
    pd_buf_append(b, s, strlen(s));
}

void pd_buf_putc(pd_buf *b, char c)
{
    if (pd_buf_reserve(b, 1))
        return;
    b->p[b->len++] = c;
}

void pd_buf_printf(pd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        pd_buf_append(b, tmp, (size_t)n);
        return;
    }
    if (pd_buf_reserve(b, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *pd_buf_cstr(pd_buf *b)
{
    if (pd_buf_reserve(b, 1))
        return "";
    b->p[b->len] = '\0';
    return b->p;
}

void pd_buf_json_str(pd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (pd_buf_reserve(b, n + 2))
        return;
    b->p[b->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        pd_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        pd_buf_append(b, esc, elen);
    }
    pd_buf_append(b, s + run, n - run);
    pd_buf_putc(b, '"');
}

void pd_buf_json_num(pd_buf *b, double v)
{
    if (!isfinite(v)) {
        pd_buf_puts(b, "null");
        return;
    }
    /* range first: converting a double beyond int64 is undefined */
    if (fabs(v) < 9e15 && v == (double)(int64_t)v) {
        pd_buf_printf(b, "%lld", (long long)v);
        return;
    }
    pd_buf_printf(b, "%.6g", v);
}
