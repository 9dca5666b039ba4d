/* pd_buf.h: growable byte buffer, reused across events (reset, never freed per event),
 * with JSON writing helpers. Thread: one owner. Ownership: the buffer owns its bytes. */
#ifndef PD_BUF_H
#define PD_BUF_H

#include "pd_common.h"

#include <stdarg.h>

typedef struct pd_buf {
    char *p;
    size_t len, cap;
    bool oom; /* sticky: set when an append failed */
} pd_buf;

void pd_buf_init(pd_buf *b);
void pd_buf_free(pd_buf *b);
static inline void pd_buf_reset(pd_buf *b)
{
    b->len = 0;
    b->oom = false;
}
int pd_buf_reserve(pd_buf *b, size_t extra);
void pd_buf_append(pd_buf *b, const void *data, size_t n);
void pd_buf_puts(pd_buf *b, const char *s);
void pd_buf_putc(pd_buf *b, char c);
void pd_buf_printf(pd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates without counting the NUL in len. */
const char *pd_buf_cstr(pd_buf *b);

/* JSON: a quoted, escaped string (valid UTF-8 passes through; control chars escaped). */
void pd_buf_json_str(pd_buf *b, const char *s, size_t n);
static inline void pd_buf_json_pstr(pd_buf *b, pd_str s)
{
    pd_buf_json_str(b, s.p ? s.p : "", s.len);
}
/* Shortest round-trip-safe-enough number: integers without ".0", else %.6g-ish. */
void pd_buf_json_num(pd_buf *b, double v);

#endif
