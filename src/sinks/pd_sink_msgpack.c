/* JSON to msgpack, so the msgpack format is the native object field for field. */
#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "pd_sink_impl.h"

static int buf_write(void *data, const char *p, size_t n)
{
    pd_buf *b = data;
    pd_buf_append(b, p, n);
    return b->oom ? -1 : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, const char *end, uint32_t *out)
{
    if (end - p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return 0;
}

static void put_utf8(pd_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    pd_buf_append(b, u, n);
}

/* Unescapes a JSON string body into tmp (reset first). */
static int unescape(const char *p, const char *end, pd_buf *tmp)
{
    pd_buf_reset(tmp);
    while (p < end) {
        if (*p != '\\') {
            const char *q = p;
            while (q < end && *q != '\\')
                q++;
            pd_buf_append(tmp, p, (size_t)(q - p));
            p = q;
            continue;
        }
        if (++p >= end)
            return PD_EINVAL;
        char c = *p++;
        switch (c) {
        case 'n':
            pd_buf_putc(tmp, '\n');
            break;
        case 't':
            pd_buf_putc(tmp, '\t');
            break;
        case 'r':
            pd_buf_putc(tmp, '\r');
            break;
        case 'b':
            pd_buf_putc(tmp, '\b');
            break;
        case 'f':
            pd_buf_putc(tmp, '\f');
            break;
        case 'u': {
            uint32_t cp, lo;
            if (hex4(p, end, &cp))
                return PD_EINVAL;
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                !hex4(p + 2, end, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            put_utf8(tmp, cp);
            break;
        }
        default: /* \" \\ \/ */
            pd_buf_putc(tmp, c);
            break;
        }
    }
    return tmp->oom ? PD_ENOMEM : 0;
}

typedef struct conv {
    const char *js;
    const jsmntok_t *t;
    int n;
    msgpack_packer pk;
    pd_buf tmp;
} conv;

/* Packs token i and its children; returns the index after them, or -1. */
static int pack(conv *c, int i)
{
    if (i >= c->n)
        return -1;
    const jsmntok_t *t = &c->t[i];
    const char *p = c->js + t->start;
    size_t len = (size_t)(t->end - t->start);
    switch (t->type) {
    case JSMN_OBJECT:
        msgpack_pack_map(&c->pk, (size_t)t->size);
        i++;
        for (int k = 0; k < t->size; k++) {
            if ((i = pack(c, i)) < 0 || (i = pack(c, i)) < 0)
                return -1;
        }
        return i;
    case JSMN_ARRAY:
        msgpack_pack_array(&c->pk, (size_t)t->size);
        i++;
        for (int k = 0; k < t->size; k++)
            if ((i = pack(c, i)) < 0)
                return -1;
        return i;
    case JSMN_STRING:
        if (memchr(p, '\\', len)) {
            if (unescape(p, p + len, &c->tmp))
                return -1;
            p = c->tmp.p ? c->tmp.p : "";
            len = c->tmp.len;
        }
        msgpack_pack_str(&c->pk, len);
        msgpack_pack_str_body(&c->pk, p, len);
        return i + 1;
    case JSMN_PRIMITIVE: {
        char num[64];
        if (len == 4 && !memcmp(p, "true", 4))
            msgpack_pack_true(&c->pk);
        else if (len == 5 && !memcmp(p, "false", 5))
            msgpack_pack_false(&c->pk);
        else if (len == 4 && !memcmp(p, "null", 4))
            msgpack_pack_nil(&c->pk);
        else if (len < sizeof(num)) {
            memcpy(num, p, len);
            num[len] = '\0';
            char *e;
            if (!strpbrk(num, ".eE")) {
                long long v = strtoll(num, &e, 10);
                if (*e)
                    return -1;
                msgpack_pack_int64(&c->pk, v);
            } else {
                double d = strtod(num, &e);
                if (*e)
                    return -1;
                msgpack_pack_double(&c->pk, d);
            }
        } else
            return -1;
        return i + 1;
    }
    default:
        return -1;
    }
}

int pd_msgpack_from_json(const char *json, size_t len, pd_buf *out, pd_buf *scratch)
{
    jsmn_parser p;
    int n;
    size_t cap = scratch->cap / sizeof(jsmntok_t);
    for (;;) {
        if (cap < 64)
            cap = 64;
        if (scratch->cap < cap * sizeof(jsmntok_t)) {
            pd_buf_reset(scratch);
            if (pd_buf_reserve(scratch, cap * sizeof(jsmntok_t)))
                return PD_ENOMEM;
        }
        jsmn_init(&p);
        n = jsmn_parse(&p, json, len, (jsmntok_t *)(void *)scratch->p, (unsigned)cap);
        if (n != JSMN_ERROR_NOMEM)
            break;
        cap *= 2;
    }
    if (n <= 0)
        return PD_EINVAL;
    conv c = {json, (const jsmntok_t *)(void *)scratch->p, n, {0}, {0}};
    pd_buf_init(&c.tmp);
    msgpack_packer_init(&c.pk, out, buf_write);
    int end = pack(&c, 0);
    pd_buf_free(&c.tmp);
    if (end < 0)
        return PD_EINVAL;
    return out->oom ? PD_ENOMEM : 0;
}
