/* pd_decode.c: message checks, jsmn tokenizing, strict-JSON validation over the token
 * array, format detection, wrappers, and the typed getters the format files use.
 *
 * Pipeline per message: size/NUL/UTF-8 pre-scan -> jsmn into the reusable token array ->
 * one walk over the tokens checking what jsmn (non-strict) lets through (separators, key
 * types, literals, numbers, control characters, escapes, surrogates, depth) and building the
 * subtree skip table -> format decoders read only the fields they need. */
/* jsmn compiled into this file (JSMN_STATIC) so that jsmn_parse inlines into tokenize() and
 * its parser state lives in registers; pd_jsmn.c provides the extern copy for others. */
#define JSMN_STATIC
#include <jsmn.h>

#include "pd_decode_int.h"

#include "pd_time.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define PD_DEC_TOKCAP0 1024u

void pd_decode_opts_default(pd_decode_opts *o)
{
    o->max_message_bytes = 1u << 20;
    o->max_depth = 64;
    o->max_tokens = 262144;
    o->no_prescan = false;
}

int pd_decoder_create(const pd_decode_opts *opts, pd_decoder **out)
{
    int rc = PD_ENOMEM;
    pd_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return PD_ENOMEM;
    if (opts)
        d->opts = *opts;
    else
        pd_decode_opts_default(&d->opts);
    /* jsmn keeps offsets in int: messages stay under 2 GiB. */
    if (d->opts.max_depth == 0 || d->opts.max_tokens < 2 || d->opts.max_message_bytes == 0 ||
        d->opts.max_message_bytes > (size_t)INT32_MAX || d->opts.max_tokens > (1u << 30)) {
        rc = PD_EINVAL;
        goto fail;
    }
    d->tokcap = PD_MIN(PD_DEC_TOKCAP0, d->opts.max_tokens);
    d->tok = malloc(sizeof(*d->tok) * d->tokcap);
    d->next = malloc(sizeof(*d->next) * d->tokcap);
    d->stack = malloc(sizeof(*d->stack) * ((size_t)d->opts.max_depth + 1));
    if (!d->tok || !d->next || !d->stack)
        goto fail;
    *out = d;
    return 0;
fail:
    pd_decoder_destroy(d);
    return rc;
}

void pd_decoder_destroy(pd_decoder *d)
{
    if (!d)
        return;
    free(d->tok);
    free(d->next);
    free(d->stack);
    free(d->scratch);
    free(d->cjs);
    free(d->quote);
    free(d->qcheck);
    free(d);
}

const char *pd_decode_error_name(int code)
{
    static const char *const names[] = {
        "empty",     "too_big",   "syntax",        "utf8",           "depth",
        "nul",       "top_level", "unknown_type",  "missing_field",  "wrong_type",
        "bad_value", "number",    "duplicate_key", "too_many_tokens"};
    if (code <= PD_EDEC_EMPTY && code >= PD_EDEC_LAST)
        return names[PD_EDEC_EMPTY - code];
    return "error";
}

int pd_dec_fail(pd_decoder *d, int code, size_t offset, const char *fmt, ...)
{
    pd_decode_error *e = d->err;
    e->code = code;
    e->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    /* Messages quote input bytes: keep them printable ASCII, whatever the input was. */
    for (char *c = e->message; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    return code;
}

/* ---------- pre-scan ---------- */

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline size_t skip_ws(const char *js, size_t p, size_t end)
{
    while (p < end && is_ws(js[p]))
        p++;
    return p;
}

/* ---------- tokenizing ---------- */

static int grow_tokens(pd_decoder *d)
{
    uint32_t cap = d->tokcap >= d->opts.max_tokens / 2 ? d->opts.max_tokens : d->tokcap * 2;
    jsmntok_t *t = realloc(d->tok, sizeof(*t) * cap);
    if (!t)
        return PD_ENOMEM;
    d->tok = t;
    uint32_t *nx = realloc(d->next, sizeof(*nx) * cap);
    if (!nx)
        return PD_ENOMEM;
    d->next = nx;
    d->tokcap = cap;
    return 0;
}

/* jsmn over js[0, len) into the token array, growing it as needed. Returns jsmn's count or
 * error; *pos is where jsmn stopped. One call site of jsmn_parse, so one inlined copy. */
static int run_jsmn(pd_decoder *d, const char *js, size_t len, size_t *pos)
{
    jsmn_parser p;
    jsmn_init(&p);
    for (;;) {
        /* Token 0 is a dummy so that index 0 can mean "absent" everywhere. */
        int r = jsmn_parse(&p, js, len, d->tok + 1, d->tokcap - 1);
        *pos = p.pos;
        if (r >= 0) {
            d->ntok = p.toknext + 1;
            d->tok[0] = (jsmntok_t){.type = JSMN_UNDEFINED};
            d->next[0] = d->ntok;
            return r;
        }
        if (r != JSMN_ERROR_NOMEM || d->tokcap >= d->opts.max_tokens)
            return r;
        if (grow_tokens(d))
            return JSMN_ERROR_NOMEM - 100; /* out of memory, not out of tokens */
    }
}

/* ---------- pre-scan: strings out of jsmn's way ----------
 *
 * jsmn walks string contents one byte at a time, which was most of the decoder's time. The
 * pre-scan finds the strings with 16-byte compares and writes a compact copy of the message
 * in which every string is emptied ("..." -> ""); jsmn tokenizes that copy (it stays the
 * tokenizer of the structure), and validate_fast() checks the tokens there and moves their
 * offsets back onto the message.
 *
 * The copy yields exactly the tokens jsmn yields on the message when every string the
 * pre-scan cut is one jsmn would parse as a string there: between the cuts both texts are
 * identical, and the content cut holds no unescaped quote, no NUL and only escapes jsmn
 * accepts (checked here), so jsmn leaves each string in the same state on both.
 * validate_fast() checks that jsmn made a string token at every cut and no other one. Anything else
 * (an unterminated string, a bad escape, a quote not after {[,: or a string jsmn did not see as
 * one) takes the old path: jsmn over the message itself, which gives the exact error. */

/* jsmn starts a string at a quote only after {, [, ',' or ':' (or at the very start). */
static inline bool string_may_start(const char *js, size_t p)
{
    while (p > 0 && is_ws(js[p - 1]))
        p--;
    if (p == 0)
        return true;
    char c = js[p - 1];
    return c == ':' || c == ',' || c == '{' || c == '[';
}

/* First byte at or after p that is '"', '\\', or a control or non-ASCII byte (ctl) or NUL
 * (!ctl); len when none. */
static inline size_t str_stop(const char *js, size_t p, size_t len, bool ctl)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    for (; p + 16 <= len; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(js + p));
        /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them too. */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)),
                                 ctl ? _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))
                                     : _mm_cmpeq_epi8(v, _mm_setzero_si128()));
        unsigned mm = (unsigned)_mm_movemask_epi8(m);
        if (mm)
            return p + (size_t)__builtin_ctz(mm);
    }
#endif
    for (; p < len; p++) {
        unsigned char c = (unsigned char)js[p];
        if (c == '"' || c == '\\' || (ctl ? (c < 0x20 || c >= 0x80) : c == 0))
            return p;
    }
    return len;
}

static inline bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* The string whose opening quote is at p, read as jsmn reads it: returns the offset of its
 * closing quote, or len when jsmn would not end it there cleanly (unterminated, a NUL, an
 * escape jsmn rejects). *check: it holds a backslash, a control or a non-ASCII byte. */
static size_t string_end(const char *js, size_t len, size_t p, uint8_t *check)
{
    size_t e = p + 1;
    *check = 0;
    for (;;) {
        e = str_stop(js, e, len, *check == 0);
        if (e >= len)
            return len;
        char ch = js[e];
        if (ch == '"')
            return e;
        *check = 1;
        if (ch == '\\') {
            /* The escapes jsmn accepts, consumed as jsmn does. */
            if (e + 1 >= len)
                return len;
            switch (js[e + 1]) {
            case '"':
            case '/':
            case '\\':
            case 'b':
            case 'f':
            case 'r':
            case 'n':
            case 't':
                e += 2;
                break;
            case 'u':
                if (e + 6 > len || !is_hex(js[e + 2]) || !is_hex(js[e + 3]) || !is_hex(js[e + 4]) ||
                    !is_hex(js[e + 5]))
                    return len;
                e += 6;
                break;
            default:
                return len;
            }
        } else if (ch == 0) {
            return len;
        } else {
            e++;
        }
    }
}

#ifndef __SSE2__
/* String by string: fills quote[] and qcheck[]; returns the number of quotes, or -1 for
 * "take the old path". */
static long quotes_by_string(pd_decoder *d)
{
    const char *js = d->js;
    const size_t len = d->len;
    size_t p = 0, n = 0;
    for (;;) {
        const char *qp = memchr(js + p, '"', len - p);
        if (!qp)
            break;
        p = (size_t)(qp - js);
        uint8_t check;
        size_t e = string_end(js, len, p, &check);
        if (e >= len)
            return -1;
        d->qcheck[n / 2] = check;
        d->quote[n++] = (uint32_t)p;
        d->quote[n++] = (uint32_t)e;
        p = e + 1;
    }
    d->qcheck_on = true;
    return (long)n;
}
#endif

#ifdef __SSE2__
/* Bit i of x: the parity of the bits 0..i of x (inside-a-string bits from quote bits). */
static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* 64 bytes at a time: bit masks of quotes, backslashes, and control and non-ASCII bytes;
 * quotes after an odd run of backslashes do not count. Fills quote[] with the offsets of the
 * others (each opens or closes a string) and returns their number, or -1 for "take the old
 * path". The masks only propose the strings: when one holds a backslash, control or
 * non-ASCII byte, every string is re-read as jsmn reads it (string_end), which must end
 * where proposed, and gets its check flag. */
static long quotes_by_block(pd_decoder *d)
{
    const char *js = d->js;
    const size_t len = d->len;
    uint32_t *out = d->quote;
    char tail[64];
    size_t n = 0;
    uint64_t in = 0;   /* all ones inside a string carried over from the previous block */
    uint64_t escd = 0; /* bit 0: the previous block ended in an escaping backslash */
    bool special = false;
    const __m128i vq = _mm_set1_epi8('"'), vb = _mm_set1_epi8('\\'), vc = _mm_set1_epi8(0x20);
    for (size_t base = 0; base < len; base += 64) {
        const char *bp = js + base;
        if (len - base < 64) {
            memset(tail, ' ', sizeof(tail)); /* spaces set no bit */
            memcpy(tail, bp, len - base);
            bp = tail;
        }
        uint64_t q = 0, bs = 0, sp = 0;
        for (int k = 0; k < 4; k++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(bp + 16 * k));
            __m128i b = _mm_cmpeq_epi8(v, vb);
            q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vq)) << (16 * k);
            bs |= (uint64_t)(unsigned)_mm_movemask_epi8(b) << (16 * k);
            /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them too. */
            sp |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, vc)) << (16 * k);
        }
        if (bs | escd) {
            /* Rare: backslash by backslash, each unescaped one escapes the next byte. */
            uint64_t e = escd;
            escd = 0;
            for (uint64_t b = bs; b; b &= b - 1) {
                unsigned j = (unsigned)__builtin_ctzll(b);
                if ((e >> j) & 1)
                    continue;
                if (j == 63)
                    escd = 1;
                else
                    e |= 1ULL << (j + 1);
            }
            q &= ~e;
            sp |= bs;
        }
        /* From each opening quote (included) to its closing quote (excluded). */
        uint64_t inside = prefix_xor(q) ^ in;
        special |= (sp & inside) != 0;
        in = (uint64_t)((int64_t)inside >> 63);
        while (q) {
            out[n++] = (uint32_t)(base + (unsigned)__builtin_ctzll(q));
            q &= q - 1;
        }
    }
    d->qcheck_on = special;
    if (special && !(n & 1)) {
        for (size_t k = 0; k < n; k += 2) {
            uint8_t check;
            if (string_end(js, len, out[k], &check) != out[k + 1])
                return -1;
            d->qcheck[k / 2] = check;
        }
    }
    return (long)n;
}
#endif

/* Builds the compact copy (length *clen) and quote[] (*nq entries). Returns 0, or 1 for
 * "take the old path". */
static int prescan(pd_decoder *d, size_t *clen, size_t *nq)
{
    const char *js = d->js;
    const size_t len = d->len;
    if (d->cjcap < len + 64) {
        size_t cap = PD_MAX(len + 64, d->cjcap * 2);
        char *c = realloc(d->cjs, cap);
        if (!c)
            return 1;
        d->cjs = c;
        d->cjcap = cap;
    }
    if (d->qcap < len + 1) {
        size_t cap = PD_MAX(len + 1, d->qcap * 2);
        uint32_t *q = realloc(d->quote, sizeof(*q) * cap);
        if (!q)
            return 1;
        d->quote = q;
        uint8_t *qc = realloc(d->qcheck, cap / 2 + 1);
        if (!qc)
            return 1;
        d->qcheck = qc;
        d->qcap = cap;
    }
#ifdef __SSE2__
    long n = quotes_by_block(d);
#else
    long n = quotes_by_string(d);
#endif
    if (n < 0 || (n & 1))
        return 1;
    /* The gaps between strings go to the copy as they are; o <= the source offset and the
     * copy has 64 bytes of slack, so the 16-byte moves stay inside both buffers. */
    char *c = d->cjs;
    const uint32_t *qa = d->quote;
    size_t o = 0, g = 0;
    for (size_t k = 0; k < (size_t)n; k += 2) {
        size_t p = qa[k], gl = p - g + 1;
        if (!string_may_start(js, p))
            return 1;
#ifdef __SSE2__
        if (gl <= 16 && len - g >= 16)
            _mm_storeu_si128((__m128i *)(void *)(c + o),
                             _mm_loadu_si128((const __m128i *)(const void *)(js + g)));
        else
#endif
            memcpy(c + o, js + g, gl);
        o += gl;
        c[o++] = '"';
        g = qa[k + 1] + 1;
    }
    memcpy(c + o, js + g, len - g);
    *clen = o + (len - g);
    *nq = (size_t)n;
    return 0;
}

/* jsmn over the message itself (the old path), with its errors. */
static int tokenize(pd_decoder *d)
{
    size_t pos;
    int r = run_jsmn(d, d->js, d->len, &pos);
    if (r >= 0)
        return 0;
    if (r == JSMN_ERROR_NOMEM)
        return pd_dec_fail(d, PD_EDEC_TOO_MANY_TOKENS, pos, "more than %u JSON tokens",
                           d->opts.max_tokens);
    if (r == JSMN_ERROR_NOMEM - 100)
        return pd_dec_fail(d, PD_EDEC_TOO_MANY_TOKENS, pos,
                           "out of memory growing the token array");
    if (r == JSMN_ERROR_PART)
        return pd_dec_fail(d, PD_EDEC_SYNTAX, pos, "truncated JSON");
    return pd_dec_fail(d, PD_EDEC_SYNTAX, pos, "invalid JSON");
}

/* ---------- strict validation over the tokens ---------- */

static inline int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0)
            return -1;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at s[i] (a byte >= 0x80) within [i, e), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t e)
{
    unsigned char c = s[i];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* no overlongs */
        else if (c == 0xF4)
            hi = 0x8F; /* <= U+10FFFF */
    } else {
        return 0;
    }
    if (e - i <= need || s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

/* Content of a string token [s, e): control characters, UTF-8, \u escapes and surrogate
 * pairs. jsmn already checked that every backslash is followed by a valid escape letter.
 * Only strings can hold bytes >= 0x80 (jsmn rejects them in primitives, the gap checks
 * elsewhere), so this is the whole UTF-8 validation. The fast path skips 16 clean bytes at a
 * time; loads may read past the string but never past the message. */
static inline int check_string(pd_decoder *d, const char *js, size_t len, size_t s, size_t e)
{
    size_t p = s;
    int esc = 0;
    while (p < e) {
#ifdef __SSE2__
        while (p + 16 <= len) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(js + p));
            /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them too. */
            __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                       _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
            unsigned m = (unsigned)_mm_movemask_epi8(bad);
            if (m == 0) {
                p += 16;
                if (p >= e)
                    return esc;
                continue;
            }
            p += (size_t)__builtin_ctz(m);
            if (p >= e)
                return esc;
            break;
        }
#endif
        if (p >= e)
            break;
        unsigned char c = (unsigned char)js[p];
        if (c >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)js, p, e);
            if (!k)
                return pd_dec_fail(d, PD_EDEC_UTF8, p, "invalid UTF-8 byte 0x%02x", c);
            p += k;
            continue;
        }
        if (c < 0x20)
            return pd_dec_fail(d, PD_EDEC_SYNTAX, p, "control character 0x%02x in a string", c);
        if (c != '\\') {
            p++;
            continue;
        }
        if (p + 1 >= e)
            return pd_dec_fail(d, PD_EDEC_SYNTAX, p, "bad escape");
        esc = 1;
        if (js[p + 1] != 'u') {
            p += 2;
            continue;
        }
        uint32_t cp, lo;
        if (p + 6 > e || hex4(js + p + 2, &cp))
            return pd_dec_fail(d, PD_EDEC_UTF8, p, "bad \\u escape");
        if (cp == 0)
            return pd_dec_fail(d, PD_EDEC_NUL, p, "\\u0000 in a string");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return pd_dec_fail(d, PD_EDEC_UTF8, p, "unpaired low surrogate \\u%04x", cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p + 12 > e || js[p + 6] != '\\' || js[p + 7] != 'u' || hex4(js + p + 8, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return pd_dec_fail(d, PD_EDEC_UTF8, p, "unpaired high surrogate \\u%04x", cp);
            p += 12;
        } else {
            p += 6;
        }
    }
    return esc;
}

static inline bool isdig(char c)
{
    return c >= '0' && c <= '9';
}

static int check_primitive(pd_decoder *d, size_t s, size_t e)
{
    const char *p = d->js + s;
    size_t n = e - s;
    switch (p[0]) {
    case 't':
        if (n == 4 && !memcmp(p, "true", 4))
            return 0;
        break;
    case 'f':
        if (n == 5 && !memcmp(p, "false", 5))
            return 0;
        break;
    case 'n':
        if (n == 4 && !memcmp(p, "null", 4))
            return 0;
        break;
    case 'N':
    case 'I':
    case '+':
    case '.':
        return pd_dec_fail(d, PD_EDEC_NUMBER, s, "not a JSON number: '%.*s'", (int)PD_MIN(n, 32),
                           p);
    case '-':
    default:
        if (p[0] == '-' || isdig(p[0])) {
            size_t i = 0;
            if (p[i] == '-')
                i++;
            if (i < n && p[i] == '0') {
                i++;
            } else if (i < n && isdig(p[i])) {
                while (i < n && isdig(p[i]))
                    i++;
            } else {
                goto badnum;
            }
            if (i < n && p[i] == '.') {
                i++;
                if (i >= n || !isdig(p[i]))
                    goto badnum;
                while (i < n && isdig(p[i]))
                    i++;
            }
            if (i < n && (p[i] == 'e' || p[i] == 'E')) {
                i++;
                if (i < n && (p[i] == '+' || p[i] == '-'))
                    i++;
                if (i >= n || !isdig(p[i]))
                    goto badnum;
                while (i < n && isdig(p[i]))
                    i++;
            }
            if (i == n)
                return 0;
        badnum:
            return pd_dec_fail(d, PD_EDEC_NUMBER, s, "malformed number '%.*s'", (int)PD_MIN(n, 32),
                               p);
        }
    }
    return pd_dec_fail(d, PD_EDEC_SYNTAX, s, "invalid literal '%.*s'", (int)PD_MIN(n, 32), p);
}

/* True when the message has no byte below 0x20, none above 0x7f and no backslash: then no
 * string can hold a control character, bad UTF-8 or an escape, and validation skips the
 * per-string checks. Compact JSON (what Kafka carries) usually qualifies; pretty-printed
 * JSON (newlines) does not and takes the per-string path. */
static bool plain_ascii(const char *js, size_t len)
{
    size_t p = 0;
#ifdef __SSE2__
    __m128i acc = _mm_setzero_si128();
    const __m128i lo = _mm_set1_epi8(0x20), bs = _mm_set1_epi8('\\');
    for (; p + 16 <= len; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(js + p));
        acc = _mm_or_si128(acc, _mm_or_si128(_mm_cmplt_epi8(v, lo), _mm_cmpeq_epi8(v, bs)));
    }
    if (_mm_movemask_epi8(acc))
        return false;
#endif
    for (; p < len; p++) {
        unsigned char c = (unsigned char)js[p];
        if (c < 0x20 || c >= 0x80 || c == '\\')
            return false;
    }
    return true;
}

static int gap_error(pd_decoder *d, size_t pos, size_t rs, char sep)
{
    const char *js = d->js;
    size_t p = pos;
    while (p < rs && is_ws(js[p]))
        p++;
    if (sep) {
        if (p >= rs || js[p] != sep)
            return pd_dec_fail(d, PD_EDEC_SYNTAX, p, "expected '%c'", sep);
        p++;
        while (p < rs && is_ws(js[p]))
            p++;
    }
    if (p != rs)
        return pd_dec_fail(d, PD_EDEC_SYNTAX, p, "unexpected '%c'", js[p]);
    return 0;
}

/* One pass over the tokens in document order. `cur` is the innermost open container (0 at
 * the top level); `sep` is what its grammar expects before the next token: 0 right after
 * the opening bracket, ',' after an element, ':' after a key. The bytes between tokens (the
 * gaps) must be whitespace plus exactly that separator. Builds next[]. */
static int validate(pd_decoder *d)
{
    const char *js = d->js;
    jsmntok_t *t = d->tok;
    jsmntok_t *const tend = t + d->ntok;
    const uint32_t max_depth = d->opts.max_depth;
    uint32_t *next = d->next;
    pd_dec_frame *st = d->stack;
    uint32_t sp = 0, cur = 0;
    size_t cur_end = SIZE_MAX, pos = 0;
    char sep = 0;
    bool obj = false;
    const bool plain = plain_ascii(js, d->len);
    int rc;

    uint32_t i = 1;
    for (jsmntok_t *ti = t + 1;; ti++, i++) {
        const bool last = ti == tend;
        size_t rs = last ? d->len : (size_t)ti->start - (ti->type == JSMN_STRING);
        /* Close every container that ends before this token. */
        while (cur_end <= rs) {
            size_t ce1 = cur_end - 1;
            if (pos != ce1 && (rc = gap_error(d, pos, ce1, 0)))
                return rc;
            if (sep == ':')
                return pd_dec_fail(d, PD_EDEC_SYNTAX, ce1, "object key without a value");
            next[cur] = i;
            pos = cur_end;
            cur = st[--sp].tok;
            cur_end = cur ? (size_t)t[cur].end : SIZE_MAX;
            obj = cur && t[cur].type == JSMN_OBJECT;
            sep = ',';
        }
        if (last)
            break;
        if (sep) {
            if (cur == 0)
                return pd_dec_fail(d, PD_EDEC_SYNTAX, rs, "data after the top-level value");
            /* Compact JSON: the separator alone fills the gap. */
            if (!(pos + 1 == rs && js[pos] == sep) && (rc = gap_error(d, pos, rs, sep)))
                return rc;
        } else if (pos != rs && (rc = gap_error(d, pos, rs, 0))) {
            return rc;
        }
        const bool want_key = obj && sep != ':';
        switch (ti->type) {
        case JSMN_STRING:
            if (!plain) {
                if ((rc = check_string(d, js, d->len, (size_t)ti->start, (size_t)ti->end)) < 0)
                    return rc;
                if (rc)
                    ti->size |= PD_DEC_TOK_ESC;
            }
            next[i] = i + 1;
            pos = (size_t)ti->end + 1;
            sep = want_key ? ':' : ',';
            break;
        case JSMN_PRIMITIVE:
            if (want_key)
                return pd_dec_fail(d, PD_EDEC_SYNTAX, rs, "object key is not a string");
            if ((rc = check_primitive(d, (size_t)ti->start, (size_t)ti->end)))
                return rc;
            next[i] = i + 1;
            pos = (size_t)ti->end;
            sep = ',';
            break;
        case JSMN_OBJECT:
        case JSMN_ARRAY:
            if (want_key)
                return pd_dec_fail(d, PD_EDEC_SYNTAX, rs, "object key is not a string");
            if (sp >= max_depth)
                return pd_dec_fail(d, PD_EDEC_DEPTH, rs, "nesting deeper than %u levels",
                                   max_depth);
            st[sp++].tok = cur;
            cur = i;
            cur_end = (size_t)ti->end;
            obj = ti->type == JSMN_OBJECT;
            sep = 0;
            pos = rs + 1;
            break;
        default:
            return pd_dec_fail(d, PD_EDEC_SYNTAX, rs, "invalid JSON");
        }
    }
    if (pos != d->len && (rc = gap_error(d, pos, d->len, 0)))
        return pd_dec_fail(d, PD_EDEC_SYNTAX, d->err->offset, "data after the top-level value");
    return 0;
}

/* validate() over the tokens of the compact copy (see prescan), moving their offsets onto
 * the message as it goes. The bytes between tokens and the primitives are the same in the
 * copy as in the message, so those checks run on the copy (d->js points at it meanwhile);
 * strings are checked in the message, when the pre-scan saw a backslash, control or
 * non-ASCII byte in them. Returns non-zero on any failure: the caller then redoes the
 * message on the old path, which reports the error at the message's offsets. */
static int validate_fast(pd_decoder *d, size_t clen, size_t nq)
{
    const char *const ojs = d->js, *const js = d->cjs;
    const size_t olen = d->len;
    jsmntok_t *t = d->tok;
    jsmntok_t *const tend = t + d->ntok;
    const uint32_t max_depth = d->opts.max_depth;
    const uint32_t *qa = d->quote;
    const bool qcheck = d->qcheck_on;
    uint32_t *next = d->next;
    pd_dec_frame *st = d->stack;
    uint32_t sp = 0, cur = 0;
    size_t cur_end = SIZE_MAX, pos = 0, k = 0, cut = 0;
    char sep = 0;
    bool obj = false;
    int rc = 1;
    d->js = js;
    d->len = clen;

    uint32_t i = 1;
    for (jsmntok_t *ti = t + 1;; ti++, i++) {
        const bool last = ti == tend;
        size_t rs = last ? clen : (size_t)ti->start - (ti->type == JSMN_STRING);
        /* Close every container that ends before this token: it holds the strings cut so
         * far. */
        while (cur_end <= rs) {
            size_t ce1 = cur_end - 1;
            if ((pos != ce1 && gap_error(d, pos, ce1, 0)) || sep == ':')
                goto out;
            next[cur] = i;
            t[cur].end += (int)cut;
            pos = cur_end;
            cur = st[--sp].tok;
            cur_end = cur ? (size_t)t[cur].end : SIZE_MAX;
            obj = cur && t[cur].type == JSMN_OBJECT;
            sep = ',';
        }
        if (last)
            break;
        if (sep) {
            if (cur == 0)
                goto out;
            if (!(pos + 1 == rs && js[pos] == sep) && gap_error(d, pos, rs, sep))
                goto out;
        } else if (pos != rs && gap_error(d, pos, rs, 0)) {
            goto out;
        }
        const bool want_key = obj && sep != ':';
        switch (ti->type) {
        case JSMN_STRING:
            /* jsmn's string must be the k-th one cut, "" in the copy. */
            if (k >= nq || rs + cut != qa[k] || ti->end != ti->start)
                goto out;
            ti->start = (int)qa[k] + 1;
            ti->end = (int)qa[k + 1];
            if (qcheck && d->qcheck[k / 2]) {
                int r = check_string(d, ojs, olen, (size_t)ti->start, (size_t)ti->end);
                if (r < 0)
                    goto out;
                if (r)
                    ti->size |= PD_DEC_TOK_ESC;
            }
            cut += (size_t)(ti->end - ti->start);
            k += 2;
            next[i] = i + 1;
            pos = rs + 2;
            sep = want_key ? ':' : ',';
            break;
        case JSMN_PRIMITIVE:
            if (want_key || check_primitive(d, (size_t)ti->start, (size_t)ti->end))
                goto out;
            next[i] = i + 1;
            pos = (size_t)ti->end;
            ti->start += (int)cut;
            ti->end += (int)cut;
            sep = ',';
            break;
        case JSMN_OBJECT:
        case JSMN_ARRAY:
            if (want_key || sp >= max_depth)
                goto out;
            st[sp++].tok = cur;
            cur = i;
            cur_end = (size_t)ti->end;
            ti->start += (int)cut;
            obj = ti->type == JSMN_OBJECT;
            sep = 0;
            pos = rs + 1;
            break;
        default:
            goto out;
        }
    }
    if ((pos != clen && gap_error(d, pos, clen, 0)) || k != nq)
        goto out;
    rc = 0;
out:
    d->js = ojs;
    d->len = olen;
    return rc;
}

/* Tokens for the message, validated: the pre-scan path, or the old one when that fails. */
static int parse(pd_decoder *d)
{
    size_t clen, pos, nq;
    int rc;
    if (!d->opts.no_prescan && prescan(d, &clen, &nq) == 0 &&
        run_jsmn(d, d->cjs, clen, &pos) >= 0 && validate_fast(d, clen, nq) == 0)
        return 0;
    d->err->code = 0;
    d->err->offset = 0;
    d->err->message[0] = '\0';
    if ((rc = tokenize(d)) || (rc = validate(d)))
        return rc;
    return 0;
}

/* ---------- getters ---------- */

static inline char lc(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* ASCII case-insensitive equality with a lowercase name, eight bytes at a time. OR-ing 0x20
 * folds 'A'..'Z' onto 'a'..'z'; for the characters field names use it is exact except that
 * it also takes DEL for '_', which no real key contains. */
static inline bool key_is(const char *k, uint32_t n, const pd_field *f)
{
    if (n != f->len)
        return false;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, k + i, 8);
        memcpy(&b, f->name + i, 8);
        if ((a | 0x2020202020202020ULL) != (b | 0x2020202020202020ULL))
            return false;
    }
    for (; i < n; i++)
        if ((k[i] | 0x20) != (f->name[i] | 0x20))
            return false;
    return true;
}

static inline unsigned field_hash(uint32_t len, char c0, char cl)
{
    return (len * 7u + (unsigned char)c0 * 3u + (unsigned char)cl) & 63u;
}

int pd_dec_fields(pd_decoder *d, uint32_t obj, const char *path, const pd_field *f, size_t nf,
                  uint32_t *slots, size_t nslots)
{
    memset(slots, 0, sizeof(*slots) * nslots);
    if (!obj)
        return 0;
    if (d->tok[obj].type != JSMN_OBJECT)
        return pd_dec_fail(d, PD_EDEC_TYPE, pd_dec_off(d, obj), "%s: expected an object", path);
    /* A 64-entry open-addressing index on (length, first, last letter): a key costs one
     * probe whatever the table size, and most keys (not wanted) stop at the length mask.
     * Built once per table and decoder; tables are static, so their address is the key. */
    /* The cache is open-addressed on the table's address. */
    unsigned c = (unsigned)(((uintptr_t)f >> 4) * 0x9e3779b1u) & (PD_DEC_INDEX_CACHE - 1);
    unsigned probes = 0;
    while (d->index[c].table && d->index[c].table != f && probes < PD_DEC_INDEX_CACHE) {
        c = (c + 1) & (PD_DEC_INDEX_CACHE - 1);
        probes++;
    }
    pd_dec_index local;
    const pd_dec_index *ix = &d->index[c];
    if (ix->table != f) {
        /* A new table (or, never with the tables of this module, a full cache). */
        pd_dec_index *nx = probes < PD_DEC_INDEX_CACHE ? &d->index[c] : &local;
        memset(nx, 0, sizeof(*nx));
        nx->table = f;
        for (size_t j = 0; j < nf; j++) {
            nx->lens |= 1ULL << (f[j].len & 63);
            unsigned h = field_hash(f[j].len, f[j].name[0], f[j].name[f[j].len - 1]);
            while (nx->slot[h])
                h = (h + 1) & 63u;
            nx->slot[h] = (uint8_t)(j + 1);
        }
        ix = nx;
    }
    const uint64_t lens = ix->lens;
    const uint8_t *idx = ix->slot;
    uint32_t end = d->next[obj];
    for (uint32_t k = obj + 1; k < end; k = d->next[k + 1]) {
        const char *kp = d->js + d->tok[k].start;
        uint32_t kn = (uint32_t)(d->tok[k].end - d->tok[k].start);
        if (!((lens >> (kn & 63)) & 1) || kn == 0)
            continue;
        /* |0x20 lowercases letters; field names neither start nor end with '_'. */
        char c0 = (char)(kp[0] | 0x20), cl = (char)(kp[kn - 1] | 0x20);
        for (unsigned h = field_hash(kn, c0, cl); idx[h]; h = (h + 1) & 63u) {
            const pd_field *fj = &f[idx[h] - 1];
            if (fj->len != kn || fj->name[0] != c0 || fj->name[kn - 1] != cl || !key_is(kp, kn, fj))
                continue;
            if (slots[fj->slot])
                return pd_dec_fail(d, PD_EDEC_DUPLICATE, pd_dec_off(d, k),
                                   "%s%s%.*s: duplicate key", path, *path ? "." : "", (int)kn, kp);
            slots[fj->slot] = k + 1;
            break;
        }
    }
    return 0;
}

static const char *type_name(const pd_decoder *d, uint32_t i)
{
    switch (d->tok[i].type) {
    case JSMN_OBJECT:
        return "an object";
    case JSMN_ARRAY:
        return "an array";
    case JSMN_STRING:
        return "a string";
    default: {
        char c = d->js[d->tok[i].start];
        return c == 't' || c == 'f' ? "a boolean" : c == 'n' ? "null" : "a number";
    }
    }
}

int pd_dec_expect(pd_decoder *d, uint32_t i, jsmntype_t type, const char *path)
{
    if (pd_dec_absent(d, i) || d->tok[i].type == type)
        return 0;
    return pd_dec_fail(d, PD_EDEC_TYPE, pd_dec_off(d, i), "%s: expected %s, got %s", path,
                       type == JSMN_OBJECT  ? "an object"
                       : type == JSMN_ARRAY ? "an array"
                                            : "a string",
                       type_name(d, i));
}

static char *scratch(pd_decoder *d, size_t n)
{
    if (d->sccap - d->sclen < n) {
        d->scratch_full = true;
        return NULL;
    }
    char *p = d->scratch + d->sclen;
    d->sclen += n;
    return p;
}

static void put_utf8(char **o, uint32_t cp)
{
    char *q = *o;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xC0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xE0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (char)(0xF0 | (cp >> 18));
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = q;
}

/* Escapes were validated; the unescaped form is never longer than the escaped one. */
static pd_str unescape(pd_decoder *d, pd_str raw)
{
    char *out = scratch(d, raw.len);
    if (!out)
        return PD_STR_NULL;
    char *o = out;
    for (uint32_t i = 0; i < raw.len; i++) {
        char c = raw.p[i];
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        c = raw.p[++i];
        switch (c) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            uint32_t cp = 0, lo = 0;
            hex4(raw.p + i + 1, &cp);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                hex4(raw.p + i + 3, &lo);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            put_utf8(&o, cp);
            break;
        }
        default: /* '"', '\\', '/' */
            *o++ = c;
        }
    }
    /* Give back what the escapes saved. */
    d->sclen -= raw.len - (size_t)(o - out);
    return (pd_str){out, (uint32_t)(o - out)};
}

int pd_dec_str(pd_decoder *d, uint32_t i, const char *path, pd_str *out)
{
    if (pd_dec_absent(d, i))
        return 0;
    if (d->tok[i].type != JSMN_STRING)
        return pd_dec_fail(d, PD_EDEC_TYPE, pd_dec_off(d, i), "%s: expected a string, got %s", path,
                           type_name(d, i));
    pd_str raw = pd_dec_raw(d, i);
    *out = (d->tok[i].size & PD_DEC_TOK_ESC) ? unescape(d, raw) : raw;
    return 0;
}

int pd_dec_str_req(pd_decoder *d, uint32_t i, uint32_t parent, const char *path, pd_str *out)
{
    if (pd_dec_absent(d, i))
        return pd_dec_fail(d, PD_EDEC_MISSING, i ? pd_dec_off(d, i) : pd_dec_off(d, parent),
                           "%s: required field missing", path);
    int rc = pd_dec_str(d, i, path, out);
    if (rc == 0 && out->len == 0)
        return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, i), "%s: empty", path);
    return rc;
}

int pd_dec_bool(pd_decoder *d, uint32_t i, const char *path, bool *out)
{
    if (pd_dec_absent(d, i))
        return 0;
    pd_str s = pd_dec_raw(d, i);
    if (d->tok[i].type == JSMN_PRIMITIVE || d->tok[i].type == JSMN_STRING) {
        if (PD_IEQ(s, "true")) {
            *out = true;
            return 0;
        }
        if (PD_IEQ(s, "false")) {
            *out = false;
            return 0;
        }
    }
    return pd_dec_fail(d, PD_EDEC_TYPE, pd_dec_off(d, i), "%s: expected a boolean, got %s", path,
                       type_name(d, i));
}

int pd_dec_num(pd_decoder *d, uint32_t i, const char *path, double *out)
{
    if (pd_dec_absent(d, i))
        return 0;
    pd_str s = pd_dec_raw(d, i);
    char c = s.len ? s.p[0] : 0;
    bool prim = d->tok[i].type == JSMN_PRIMITIVE;
    if ((!prim && d->tok[i].type != JSMN_STRING) || (prim && c != '-' && !isdig(c)))
        return pd_dec_fail(d, PD_EDEC_TYPE, pd_dec_off(d, i), "%s: expected a number, got %s", path,
                           type_name(d, i));
    char buf[64];
    if (s.len == 0 || s.len >= sizeof(buf))
        goto bad;
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (*end || !isfinite(v))
        goto bad;
    *out = v;
    return 0;
bad:
    return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, i), "%s: not a number", path);
}

int pd_dec_u32(pd_decoder *d, uint32_t i, const char *path, uint32_t *out)
{
    double v = 0;
    int rc = pd_dec_num(d, i, path, &v);
    if (rc || pd_dec_absent(d, i))
        return rc;
    if (v < 0 || v > 4294967295.0 || v != floor(v))
        return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, i),
                           "%s: expected a non-negative integer", path);
    *out = (uint32_t)v;
    return 0;
}

static inline int dig2(const char *p)
{
    unsigned a = (unsigned)(p[0] - '0'), b = (unsigned)(p[1] - '0');
    return (a > 9 || b > 9) ? -1 : (int)(a * 10 + b);
}

/* The shape every source uses, "YYYY-MM-DDTHH:MM:SS[.fraction]Z", without the general
 * parser; anything else (offsets, dates only, odd days) goes to pd_time_parse. Same result:
 * fractions beyond milliseconds are truncated. */
static bool fast_time(pd_str s, int64_t *out)
{
    const char *p = s.p;
    if (s.len < 20 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != 't') ||
        p[13] != ':' || p[16] != ':')
        return false;
    int y1 = dig2(p), y2 = dig2(p + 2), mo = dig2(p + 5), da = dig2(p + 8);
    int h = dig2(p + 11), mi = dig2(p + 14), se = dig2(p + 17);
    if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || da < 1 || da > 28 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 59)
        return false;
    uint32_t i = 19;
    int ms = 0, nd = 0;
    if (p[i] == '.') {
        i++;
        while (i < s.len && p[i] >= '0' && p[i] <= '9') {
            if (nd < 3)
                ms = ms * 10 + (p[i] - '0');
            nd++;
            i++;
        }
        if (nd == 0)
            return false;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    if (i + 1 != s.len || (p[i] != 'Z' && p[i] != 'z'))
        return false;
    int64_t days = pd_days_from_civil(y1 * 100 + y2, (unsigned)mo, (unsigned)da);
    *out = ((days * 24 + h) * 60 + mi) * 60000LL + se * 1000LL + ms;
    return true;
}

int pd_dec_time(pd_decoder *d, uint32_t i, const char *path, int64_t *out)
{
    if (pd_dec_absent(d, i))
        return 0;
    if (d->tok[i].type == JSMN_PRIMITIVE) {
        double v = 0;
        int rc = pd_dec_num(d, i, path, &v);
        if (rc)
            return rc;
        if (v < 0 || v > 9e15)
            return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, i), "%s: time out of range", path);
        *out = (int64_t)v;
        return 0;
    }
    pd_str s = PD_STR_NULL;
    int rc = pd_dec_str(d, i, path, &s);
    if (rc)
        return rc;
    if (fast_time(s, out))
        return 0;
    if (pd_time_parse(s, out))
        return pd_dec_fail(d, PD_EDEC_VALUE, pd_dec_off(d, i), "%s: bad time '%.*s'", path,
                           (int)PD_MIN(s.len, 40u), s.p);
    return 0;
}

/* ---------- string helpers ---------- */

pd_str pd_dec_lower(pd_decoder *d, pd_str s)
{
    if (!s.len)
        return s;
    char *o = scratch(d, s.len);
    if (!o)
        return PD_STR_NULL;
    uint32_t i = 0;
    /* Eight bytes at a time: set bit 5 of the bytes in 'A'..'Z' only. */
    for (; i + 8 <= s.len; i += 8) {
        uint64_t w;
        memcpy(&w, s.p + i, 8);
        uint64_t h = w & 0x7f7f7f7f7f7f7f7fULL;
        uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3fULL; /* high bit when >= 'A' */
        uint64_t gt_z = h + 0x2525252525252525ULL; /* high bit when > 'Z' */
        uint64_t up = ge_a & ~gt_z & ~w & 0x8080808080808080ULL;
        w |= up >> 2;
        memcpy(o + i, &w, 8);
    }
    for (; i < s.len; i++)
        o[i] = lc(s.p[i]);
    return (pd_str){o, s.len};
}

pd_str pd_dec_upper(pd_decoder *d, pd_str s)
{
    if (!s.len)
        return s;
    char *o = scratch(d, s.len);
    if (!o)
        return PD_STR_NULL;
    for (uint32_t i = 0; i < s.len; i++)
        o[i] = (s.p[i] >= 'a' && s.p[i] <= 'z') ? (char)(s.p[i] - 32) : s.p[i];
    return (pd_str){o, s.len};
}

pd_str pd_dec_join(pd_decoder *d, pd_str a, const char *sep, pd_str b)
{
    size_t sl = strlen(sep);
    char *o = scratch(d, a.len + sl + b.len);
    if (!o)
        return PD_STR_NULL;
    if (a.len)
        memcpy(o, a.p, a.len);
    memcpy(o + a.len, sep, sl);
    if (b.len)
        memcpy(o + a.len + sl, b.p, b.len);
    return (pd_str){o, (uint32_t)(a.len + sl + b.len)};
}

bool pd_dec_icontains(pd_str hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (uint32_t i = 0; i + n <= hay.len; i++) {
        size_t k = 0;
        while (k < n && lc(hay.p[i + k]) == needle[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

pd_str pd_dec_path_seg(pd_str path, const char *seg)
{
    if (!path.len)
        return PD_STR_NULL;
    size_t n = strlen(seg);
    const char *p = path.p, *end = path.p + path.len;
    /* Jump from slash to slash; compare only where the segment could start. */
    while (p && (size_t)(end - p) >= n + 2) {
        if (pd_dec_ieq_n(p + 1, seg, n) && p[1 + n] == '/') {
            const char *s = p + 2 + n, *e = s;
            while (e < end && *e != '/')
                e++;
            return (pd_str){s, (uint32_t)(e - s)};
        }
        p = memchr(p + 1, '/', (size_t)(end - p - 1));
    }
    return PD_STR_NULL;
}

pd_str pd_dec_last_seg(pd_str path, char sep)
{
    if (!path.len)
        return PD_STR_NULL;
    uint32_t e = path.len;
    while (e > 0 && path.p[e - 1] == sep)
        e--;
    uint32_t s = e;
    while (s > 0 && path.p[s - 1] != sep)
        s--;
    return (pd_str){path.p + s, e - s};
}

void pd_dec_add_framework(pd_event *e, pd_str f)
{
    if (f.len && e->control.nframeworks < PD_EVENT_MAX_FRAMEWORKS)
        e->control.frameworks[e->control.nframeworks++] = f;
}

pd_severity pd_dec_severity(pd_str s)
{
    /* The common words first, without the table walk. */
    if (s.len == 0)
        return PD_SEV_UNKNOWN;
    switch (lc(s.p[0])) {
    case 'h':
        if (PD_IEQ(s, "high"))
            return PD_SEV_HIGH;
        break;
    case 'm':
        if (PD_IEQ(s, "medium"))
            return PD_SEV_MEDIUM;
        break;
    case 'l':
        if (PD_IEQ(s, "low"))
            return PD_SEV_LOW;
        break;
    default:
        break;
    }
    pd_severity v = PD_SEV_UNKNOWN;
    if (pd_severity_parse(s, &v))
        v = PD_SEV_UNKNOWN;
    return v;
}

void pd_dec_tactics(pd_str list, uint32_t *bits)
{
    uint32_t i = 0;
    while (i < list.len) {
        uint32_t s = i;
        while (i < list.len && list.p[i] != ',')
            i++;
        uint32_t e = i;
        while (s < e && is_ws(list.p[s]))
            s++;
        while (e > s && is_ws(list.p[e - 1]))
            e--;
        pd_tactic t;
        if (e > s && pd_tactic_parse((pd_str){list.p + s, e - s}, &t) == 0 && t != PD_TACTIC_NONE)
            *bits |= 1u << t;
        i++;
    }
}

/* The next '/' at or after p, or end; eight bytes at a time (ARM ids are long). */
static inline const char *next_slash(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= 0x2f2f2f2f2f2f2f2fULL;
        uint64_t z = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
        if (z)
            return p + (__builtin_ctzll(z) >> 3);
        p += 8;
    }
    while (p < end && *p != '/')
        p++;
    return p;
}

void pd_dec_azure_resource(pd_decoder *d, pd_str id, pd_resource *r)
{
    r->id = id;
    r->canon = pd_dec_lower(d, id);
    r->cloud = PD_CLOUD_AZURE;
    r->account = r->group = r->type = r->name = PD_STR_NULL;
    if (!id.len)
        return;
    /* One walk over the segments: ".../subscriptions/S/resourceGroups/G/providers/NS/T/N"; the
     * type is namespace/type[/subtype...] after the last "providers", from the lowercase copy. */
    const char *p = id.p, *end = id.p + id.len;
    pd_str prev = PD_STR_NULL;
    uint32_t prov = 0;
    bool has_prov = false;
    while (p < end) {
        if (*p == '/') {
            p++;
            continue;
        }
        const char *e = next_slash(p, end);
        pd_str seg = {p, (uint32_t)(e - p)};
        if (!r->account.len && PD_IEQ(prev, "subscriptions"))
            r->account = seg;
        else if (!r->group.len && PD_IEQ(prev, "resourcegroups"))
            r->group = seg;
        if (PD_IEQ(seg, "providers")) {
            prov = (uint32_t)(e - id.p);
            has_prov = true;
        }
        r->name = seg;
        prev = seg;
        p = e;
    }
    if (has_prov && r->canon.len == id.len) {
        const char *c = r->canon.p + prov, *ce = r->canon.p + r->canon.len;
        char *o = scratch(d, (size_t)(ce - c));
        uint32_t n = 0, seg = 0;
        while (o && c < ce) {
            if (*c == '/') {
                c++;
                continue;
            }
            const char *e = next_slash(c, ce);
            /* segments: 0 namespace, 1 type, 2 name, 3 type, 4 name, ... */
            if (seg == 0 || seg % 2 == 1) {
                if (n)
                    o[n++] = '/';
                memcpy(o + n, c, (size_t)(e - c));
                n += (uint32_t)(e - c);
            }
            seg++;
            c = e;
        }
        /* An even segment count means the id ends on a type (a collection): drop it. */
        if (o && seg >= 2 && seg % 2 == 0) {
            while (n > 0 && o[n - 1] != '/')
                n--;
            if (n)
                n--;
        }
        if (o)
            r->type = (pd_str){o, n};
    } else if (r->group.len) {
        r->type = PD_STR_LIT("microsoft.resources/resourcegroups");
    } else if (r->account.len) {
        r->type = PD_STR_LIT("microsoft.resources/subscriptions");
    }
    if (PD_IEQ(r->type, "microsoft.hybridcompute/machines")) {
        r->cloud = PD_CLOUD_ONPREM;
    } else if (PD_IPREFIX(r->type, "microsoft.security/securityconnectors")) {
        /* Multicloud connector entities: .../securityentitydata/aws-ec2-instance-... */
        if (pd_dec_icontains(r->canon, "/securityentitydata/aws-"))
            r->cloud = PD_CLOUD_AWS;
        else if (pd_dec_icontains(r->canon, "/securityentitydata/gcp-"))
            r->cloud = PD_CLOUD_GCP;
    }
}

int pd_dec_tags(pd_decoder *d, uint32_t i, const char *path, pd_resource *r)
{
    int rc = 0;
    if (pd_dec_absent(d, i))
        return 0;
    if (d->tok[i].type == JSMN_OBJECT) {
        uint32_t end = d->next[i];
        for (uint32_t k = i + 1; k < end && r->ntags < PD_EVENT_MAX_TAGS; k = d->next[k + 1]) {
            pd_tag t = {PD_STR_NULL, PD_STR_NULL};
            if ((rc = pd_dec_str(d, k, path, &t.key)))
                return rc;
            uint32_t v = k + 1;
            if (d->tok[v].type == JSMN_STRING) {
                if ((rc = pd_dec_str(d, v, path, &t.value)))
                    return rc;
            } else if (d->tok[v].type == JSMN_PRIMITIVE) {
                if (pd_dec_absent(d, v))
                    continue;
                t.value = pd_dec_raw(d, v);
            } else {
                continue; /* nested values are not tags */
            }
            r->tags[r->ntags++] = t;
        }
        return 0;
    }
    if (d->tok[i].type == JSMN_ARRAY) {
        static const pd_field f[] = {PD_F("key", 0), PD_F("name", 0), PD_F("value", 1)};
        for (uint32_t j = pd_dec_first(d, i); j && r->ntags < PD_EVENT_MAX_TAGS;
             j = pd_dec_after(d, i, j)) {
            uint32_t s[2];
            if (d->tok[j].type != JSMN_OBJECT)
                continue;
            if ((rc = pd_dec_fields(d, j, path, f, PD_ARRAY_LEN(f), s, 2)))
                return rc;
            pd_tag t = {PD_STR_NULL, PD_STR_NULL};
            if ((rc = pd_dec_str(d, s[0], path, &t.key)) ||
                (rc = pd_dec_str(d, s[1], path, &t.value)))
                return rc;
            if (t.key.len)
                r->tags[r->ntags++] = t;
        }
        return 0;
    }
    return pd_dec_fail(d, PD_EDEC_TYPE, pd_dec_off(d, i), "%s: expected an object, got %s", path,
                       type_name(d, i));
}

/* ---------- detection and dispatch ---------- */

static const pd_field top_fields[] = {
    PD_F("type", PD_TOP_TYPE),
    PD_F("id", PD_TOP_ID),
    PD_F("name", PD_TOP_NAME),
    PD_F("properties", PD_TOP_PROPS),
    PD_F("tags", PD_TOP_TAGS),
    PD_F("location", PD_TOP_LOCATION),
    PD_F("assessmenteventdataenrichment", PD_TOP_ENRICH),
    PD_F("subassessmenteventdataenrichment", PD_TOP_ENRICH),
    PD_F("securityeventdataenrichment", PD_TOP_SECENRICH),
    PD_F("systemalertid", PD_TOP_ALERTID),
    PD_F("alerttype", PD_TOP_ALERTTYPE),
    PD_F("schemaversion", PD_TOP_SCHEMA),
    PD_F("detail", PD_TOP_DETAIL),
    PD_F("finding", PD_TOP_FINDING),
    PD_F("class_uid", PD_TOP_CLASS),
    PD_F("records", PD_TOP_RECORDS),
    PD_F("findingclass", PD_TOP_FCLASS),
    PD_F("resource", PD_TOP_RESOURCE),
    PD_F("resourcename", PD_TOP_RESNAME),
};

typedef struct pd_run {
    pd_emit_fn emit;
    void *ctx;
    bool dry;
    pd_event ev;
} pd_run;

typedef enum { U_DEFENDER, U_ASFF, U_SCC, U_OCSF } unit_kind;

static int unit(pd_decoder *d, pd_run *run, unit_kind k, uint32_t obj, uint32_t extra,
                const uint32_t *top)
{
    int rc;
    pd_event *e = &run->ev;
    d->sclen = 0;
    d->scratch_full = false;
    pd_event_reset(e);
    switch (k) {
    case U_DEFENDER:
        rc = pd_dec_defender(d, obj, top, e);
        break;
    case U_ASFF:
        rc = pd_dec_asff(d, obj, e);
        break;
    case U_SCC:
        rc = pd_dec_scc(d, obj, extra, e);
        break;
    default:
        rc = pd_dec_ocsf(d, obj, e);
    }
    if (rc)
        return rc;
    if (d->scratch_full)
        return pd_dec_fail(d, PD_EDEC_TOO_BIG, pd_dec_off(d, obj), "event too large to decode");
    if (run->dry || !run->emit)
        return 0;
    return run->emit(run->ctx, e);
}

static bool fmt_ok(pd_format want, pd_format got)
{
    return want == PD_FMT_AUTO || want == got;
}

static int dispatch(pd_decoder *d, pd_run *run, uint32_t obj, pd_format fmt, int level)
{
    int rc;
    uint32_t s[PD_TOP__N];
    if (d->tok[obj].type != JSMN_OBJECT)
        return pd_dec_fail(d, level ? PD_EDEC_TYPE : PD_EDEC_TOP_LEVEL, pd_dec_off(d, obj),
                           level ? "records: element is not an object"
                                 : "top level is not an object or array");
    if ((rc = pd_dec_fields(d, obj, "", top_fields, PD_ARRAY_LEN(top_fields), s, PD_TOP__N)))
        return rc;

    if (s[PD_TOP_RECORDS] && level == 0 && d->tok[s[PD_TOP_RECORDS]].type == JSMN_ARRAY) {
        uint32_t arr = s[PD_TOP_RECORDS];
        for (uint32_t j = pd_dec_first(d, arr); j; j = pd_dec_after(d, arr, j))
            if ((rc = dispatch(d, run, j, fmt, 1)))
                return rc;
        return 0;
    }
    if (s[PD_TOP_CLASS] && fmt_ok(fmt, PD_FMT_OCSF))
        return unit(d, run, U_OCSF, obj, 0, s);
    if (s[PD_TOP_SCHEMA] && fmt_ok(fmt, PD_FMT_ASFF))
        return unit(d, run, U_ASFF, obj, 0, s);
    if (s[PD_TOP_DETAIL] && fmt_ok(fmt, PD_FMT_ASFF)) {
        static const pd_field ff[] = {PD_F("findings", 0)};
        uint32_t fs[1];
        if ((rc = pd_dec_fields(d, s[PD_TOP_DETAIL], "detail", ff, 1, fs, 1)))
            return rc;
        if (!fs[0])
            return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, s[PD_TOP_DETAIL]),
                               "detail.findings: required field missing");
        if ((rc = pd_dec_expect(d, fs[0], JSMN_ARRAY, "detail.findings")))
            return rc;
        for (uint32_t j = pd_dec_first(d, fs[0]); j; j = pd_dec_after(d, fs[0], j)) {
            if (d->tok[j].type != JSMN_OBJECT)
                return pd_dec_fail(d, PD_EDEC_TYPE, pd_dec_off(d, j),
                                   "detail.findings[]: expected an object");
            if ((rc = unit(d, run, U_ASFF, j, 0, s)))
                return rc;
        }
        return 0;
    }
    if (s[PD_TOP_FINDING] && fmt_ok(fmt, PD_FMT_SCC)) {
        if ((rc = pd_dec_expect(d, s[PD_TOP_FINDING], JSMN_OBJECT, "finding")) ||
            (rc = pd_dec_expect(d, s[PD_TOP_RESOURCE], JSMN_OBJECT, "resource")))
            return rc;
        if (pd_dec_absent(d, s[PD_TOP_FINDING]))
            return pd_dec_fail(d, PD_EDEC_MISSING, pd_dec_off(d, obj), "finding: is null");
        return unit(d, run, U_SCC, s[PD_TOP_FINDING],
                    pd_dec_absent(d, s[PD_TOP_RESOURCE]) ? 0 : s[PD_TOP_RESOURCE], s);
    }
    if ((s[PD_TOP_FCLASS] || s[PD_TOP_RESNAME]) && fmt_ok(fmt, PD_FMT_SCC))
        return unit(d, run, U_SCC, obj, 0, s);
    if (fmt_ok(fmt, PD_FMT_DEFENDER)) {
        if (s[PD_TOP_ALERTID] || s[PD_TOP_ALERTTYPE])
            return unit(d, run, U_DEFENDER, obj, 0, s);
        if (pd_dec_is(d, s[PD_TOP_TYPE], JSMN_STRING) &&
            (PD_IPREFIX(pd_dec_raw(d, s[PD_TOP_TYPE]), "microsoft.security/") ||
             (pd_dec_is(d, s[PD_TOP_ID], JSMN_STRING) &&
              PD_IPREFIX(pd_dec_raw(d, s[PD_TOP_ID]), "/subscriptions/"))))
            return unit(d, run, U_DEFENDER, obj, 0, s);
    }
    if (s[PD_TOP_TYPE] && d->tok[s[PD_TOP_TYPE]].type == JSMN_STRING) {
        pd_str t = pd_dec_raw(d, s[PD_TOP_TYPE]);
        return pd_dec_fail(d, PD_EDEC_UNKNOWN_TYPE, pd_dec_off(d, s[PD_TOP_TYPE]),
                           "type '%.*s' is not a known %s message", (int)PD_MIN(t.len, 60u), t.p,
                           fmt == PD_FMT_AUTO ? "security" : pd_format_name(fmt));
    }
    return pd_dec_fail(d, PD_EDEC_UNKNOWN_TYPE, pd_dec_off(d, obj), "no %s message shape matches",
                       fmt == PD_FMT_AUTO ? "known" : pd_format_name(fmt));
}

static bool is_multi(pd_decoder *d)
{
    if (d->tok[1].type == JSMN_ARRAY)
        return true;
    /* A wrapper or an envelope: a few top-level keys decide it; cheap compared to decoding. */
    static const pd_field f[] = {PD_F("records", 0), PD_F("detail", 0)};
    uint32_t end = d->next[1];
    for (uint32_t k = 2; k < end; k = d->next[k + 1]) {
        const char *kp = d->js + d->tok[k].start;
        uint32_t kn = (uint32_t)(d->tok[k].end - d->tok[k].start);
        if (key_is(kp, kn, &f[0]) || key_is(kp, kn, &f[1]))
            return true;
    }
    return false;
}

static int run_all(pd_decoder *d, pd_run *run, pd_format fmt)
{
    int rc;
    if (d->tok[1].type == JSMN_ARRAY) {
        for (uint32_t j = pd_dec_first(d, 1); j; j = pd_dec_after(d, 1, j))
            if ((rc = dispatch(d, run, j, fmt, 1)))
                return rc;
        return 0;
    }
    return dispatch(d, run, 1, fmt, 0);
}

int pd_decode(pd_decoder *d, const char *msg, size_t len, pd_format fmt, pd_emit_fn emit, void *ctx,
              pd_decode_error *err)
{
    pd_decode_error local;
    int rc;
    d->err = err ? err : &local;
    d->err->code = 0;
    d->err->offset = 0;
    d->err->message[0] = '\0';
    d->js = msg;
    d->len = len;

    if (len == 0 || !msg)
        return pd_dec_fail(d, PD_EDEC_EMPTY, 0, "empty message");
    if (len > d->opts.max_message_bytes)
        return pd_dec_fail(d, PD_EDEC_TOO_BIG, d->opts.max_message_bytes,
                           "message of %zu bytes is over the %zu-byte limit", len,
                           d->opts.max_message_bytes);
    if (skip_ws(msg, 0, len) == len)
        return pd_dec_fail(d, PD_EDEC_EMPTY, 0, "message is only whitespace");
    /* jsmn stops at a NUL byte, so a NUL always ends in a tokenize or validate error: look
     * for one only then, and report it in preference to what it caused. */
    if ((rc = parse(d))) {
        const char *nul = memchr(msg, 0, len);
        if (nul)
            return pd_dec_fail(d, PD_EDEC_NUL, (size_t)(nul - msg), "NUL byte in message");
        return rc;
    }
    if (d->tok[1].type != JSMN_OBJECT && d->tok[1].type != JSMN_ARRAY)
        return pd_dec_fail(d, PD_EDEC_TOP_LEVEL, pd_dec_off(d, 1),
                           "top level is %s, not an object or array", type_name(d, 1));
    /* Scratch: unescaped and lowercased copies never exceed a few times the input. */
    size_t need = 4 * len + 4096;
    if (d->sccap < need) {
        size_t cap = PD_MAX(need, d->sccap * 2);
        char *p = realloc(d->scratch, cap);
        if (!p)
            return pd_dec_fail(d, PD_EDEC_TOO_BIG, 0, "out of memory for scratch");
        d->scratch = p;
        d->sccap = cap;
    }
    pd_run run; /* not zero-initialised: the event inside is reset per event */
    run.emit = emit;
    run.ctx = ctx;
    run.dry = false;
    if (is_multi(d)) {
        /* Validate every event before emitting any. */
        run.dry = true;
        if ((rc = run_all(d, &run, fmt)))
            return rc;
        run.dry = false;
    }
    return run_all(d, &run, fmt);
}
