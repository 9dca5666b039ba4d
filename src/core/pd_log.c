#include "pd_log.h"
#include "pd_config.h"
#include "pd_time.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Room kept at the end of a line for closing quotes/braces and the "truncated" marker. */
#define PD_LOG_TAIL    32
#define PD_LOG_MSG_MAX PD_LOG_LINE_MAX /* longer texts overflow the line: marked truncated */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static volatile int log_level = PD_LOG_INFO;
static volatile int log_fd = 2;
static bool log_level_set;

static pthread_mutex_t secrets_mu = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[PD_LOG_SECRETS_MAX];
static size_t secret_lens[PD_LOG_SECRETS_MAX];
static size_t nsecrets;

static void log_init_once(void)
{
    const char *env = getenv("PD_LOG_LEVEL");
    pd_log_level lvl;
    if (!log_level_set && env && pd_log_level_parse(env, &lvl) == 0)
        log_level = (int)lvl;
}

void pd_log_set_level(pd_log_level level)
{
    pthread_once(&log_once, log_init_once);
    log_level_set = true;
    log_level = (int)level;
}

pd_log_level pd_log_get_level(void)
{
    pthread_once(&log_once, log_init_once);
    return (pd_log_level)log_level;
}

int pd_log_level_parse(const char *s, pd_log_level *out)
{
    static const struct {
        const char *name;
        pd_log_level level;
    } names[] = {{"debug", PD_LOG_DEBUG},  {"info", PD_LOG_INFO},   {"warn", PD_LOG_WARN},
                 {"warning", PD_LOG_WARN}, {"error", PD_LOG_ERROR}, {"off", PD_LOG_OFF}};
    if (!s || !out)
        return PD_EINVAL;
    for (size_t i = 0; i < PD_ARRAY_LEN(names); i++)
        if (!strcasecmp(s, names[i].name)) {
            *out = names[i].level;
            return 0;
        }
    return PD_EINVAL;
}

const char *pd_log_level_name(pd_log_level level)
{
    switch (level) {
    case PD_LOG_DEBUG:
        return "debug";
    case PD_LOG_INFO:
        return "info";
    case PD_LOG_WARN:
        return "warn";
    case PD_LOG_ERROR:
        return "error";
    default:
        return "off";
    }
}

void pd_log_set_fd(int fd)
{
    log_fd = fd;
}

int pd_log_add_secret(const char *secret)
{
    if (!secret)
        return PD_EINVAL;
    size_t n = strlen(secret);
    if (n < PD_LOG_SECRET_MIN)
        return PD_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&secrets_mu);
    for (size_t i = 0; i < nsecrets; i++)
        if (secret_lens[i] == n && !memcmp(secrets[i], secret, n))
            goto cleanup;
    if (nsecrets == PD_LOG_SECRETS_MAX) {
        rc = PD_EFULL;
        goto cleanup;
    }
    secrets[nsecrets] = strdup(secret);
    if (!secrets[nsecrets]) {
        rc = PD_ENOMEM;
        goto cleanup;
    }
    secret_lens[nsecrets++] = n;
cleanup:
    pthread_mutex_unlock(&secrets_mu);
    return rc;
}

void pd_log_clear_secrets(void)
{
    pthread_mutex_lock(&secrets_mu);
    for (size_t i = 0; i < nsecrets; i++) {
        /* Wipe before freeing: the heap may be dumped later. */
        memset(secrets[i], 0, secret_lens[i]);
        free(secrets[i]);
        secrets[i] = NULL;
    }
    nsecrets = 0;
    pthread_mutex_unlock(&secrets_mu);
}

/* ---- redaction ---- */

enum { V_TOKEN, V_LINE, V_BEARER };

/* Keys whose value is secret when written "key=value", "key: value" or "key":"value". */
static const struct {
    const char *key;
    int kind;
} patterns[] = {
    {"sharedaccesskey", V_TOKEN},
    {"accountkey", V_TOKEN},
    {"sharedaccesssignature", V_LINE},
    {"sig", V_TOKEN},
    {"password", V_TOKEN},
    {"passwd", V_TOKEN},
    {"secret", V_TOKEN},
    {"token", V_TOKEN},
    {"apikey", V_TOKEN},
    {"api_key", V_TOKEN},
    {"authorization", V_LINE},
    {"bearer", V_BEARER},
};

static bool is_word(unsigned char c)
{
    return isalnum(c) != 0;
}

static bool is_token_end(unsigned char c, int kind)
{
    if (c == '"' || c == '\'' || c == '\\' || c == ';' || c == ',' || c == '\r' || c == '\n')
        return true;
    if (kind == V_LINE)
        return false;
    return isspace(c) || c == '&' || c == '}' || c == ')' || c == ']';
}

/* When a secret pattern starts at in[i], sets [*vs, *ve) to its value and returns true. */
static bool match_pattern(const char *in, size_t n, size_t i, size_t *vs, size_t *ve)
{
    if (i > 0 && is_word((unsigned char)in[i - 1]))
        return false;
    for (size_t k = 0; k < PD_ARRAY_LEN(patterns); k++) {
        const char *key = patterns[k].key;
        size_t kl = strlen(key);
        if (i + kl > n || strncasecmp(in + i, key, kl) != 0)
            continue;
        size_t j = i + kl;
        if (j < n && is_word((unsigned char)in[j]))
            continue;
        int kind = patterns[k].kind;
        if (kind == V_BEARER) {
            if (j >= n || in[j] != ' ')
                continue;
            while (j < n && in[j] == ' ')
                j++;
        } else {
            /* closing quote of a quoted key, possibly JSON-escaped */
            for (int q = 0; q < 2 && j < n && (in[j] == '"' || in[j] == '\'' || in[j] == '\\'); q++)
                j++;
            while (j < n && in[j] == ' ')
                j++;
            if (j >= n || (in[j] != '=' && in[j] != ':'))
                continue;
            j++;
            while (j < n && in[j] == ' ')
                j++;
        }
        char quote = 0;
        if (j < n && in[j] == '\\' && j + 1 < n && in[j + 1] == '"')
            j += 2; /* escaped quote: value ends at the next token end */
        else if (j < n && (in[j] == '"' || in[j] == '\''))
            quote = in[j++];
        size_t e = j;
        if (quote) {
            while (e < n && in[e] != quote)
                e++;
        } else {
            while (e < n && !is_token_end((unsigned char)in[e], kind))
                e++;
        }
        if (e == j)
            continue;
        *vs = j;
        *ve = e;
        return true;
    }
    return false;
}

size_t pd_log_redact(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (!out || cap == 0)
        return 0;
    const size_t rl = sizeof(PD_LOG_REDACTED) - 1;
#define PUT(src, len)                                                                              \
    do {                                                                                           \
        size_t l_ = (len);                                                                         \
        if (l_ > cap - 1 - o)                                                                      \
            l_ = cap - 1 - o;                                                                      \
        memcpy(out + o, (src), l_);                                                                \
        o += l_;                                                                                   \
    } while (0)
    pthread_mutex_lock(&secrets_mu);
    size_t i = 0;
    while (i < n && o < cap - 1) {
        size_t best = 0;
        for (size_t s = 0; s < nsecrets; s++)
            if (secret_lens[s] > best && secret_lens[s] <= n - i && in[i] == secrets[s][0] &&
                !memcmp(in + i, secrets[s], secret_lens[s]))
                best = secret_lens[s];
        if (best) {
            PUT(PD_LOG_REDACTED, rl);
            i += best;
            continue;
        }
        size_t vs, ve;
        if (match_pattern(in, n, i, &vs, &ve)) {
            PUT(in + i, vs - i);
            PUT(PD_LOG_REDACTED, rl);
            i = ve;
            continue;
        }
        out[o++] = in[i++];
    }
    pthread_mutex_unlock(&secrets_mu);
#undef PUT
    out[o] = '\0';
    return o;
}

bool pd_log_key_is_secret(const char *key)
{
    static const char *const needles[] = {
        "password",
        "passwd",
        "secret",
        "token",
        "authorization",
        "apikey",
        "api_key",
        "sharedaccesskey",
        "sharedaccesssignature",
        "accountkey",
        "connection_string",
        "connectionstring",
        "private_key",
        "credential",
    };
    if (!key)
        return false;
    char low[128];
    size_t n = 0;
    for (; key[n] && n < sizeof(low) - 1; n++)
        low[n] = (char)tolower((unsigned char)key[n]);
    low[n] = '\0';
    for (size_t i = 0; i < PD_ARRAY_LEN(needles); i++)
        if (strstr(low, needles[i]))
            return true;
    return false;
}

/* ---- line writer: bounded, never allocates ---- */

typedef struct {
    char *p;
    size_t len, cap; /* cap excludes PD_LOG_TAIL */
    bool trunc;
} lw;

static void lw_raw(lw *w, const char *s, size_t n)
{
    /* raw writes may use the tail: only closing punctuation goes through here past cap */
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static bool lw_room(lw *w, size_t n)
{
    if (w->len + n <= w->cap)
        return true;
    w->trunc = true;
    return false;
}

static void lw_puts(lw *w, const char *s)
{
    size_t n = strlen(s);
    if (lw_room(w, n))
        lw_raw(w, s, n);
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* A JSON string; stops early (still closed) when the line is full. */
static void lw_json_str(lw *w, const char *s, size_t n)
{
    lw_raw(w, "\"", 1); /* quotes may use the tail: the string is always closed */
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        char esc[8];
        const char *src = esc;
        size_t l = 0, adv = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            l = 2;
        } else if (c == '\n') {
            src = "\\n";
            l = 2;
        } else if (c == '\r') {
            src = "\\r";
            l = 2;
        } else if (c == '\t') {
            src = "\\t";
            l = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            l = 6;
        } else if (c < 0x80) {
            src = (const char *)u + i;
            l = 1;
        } else {
            adv = utf8_seq(u + i, n - i);
            if (adv) {
                src = (const char *)u + i;
                l = adv;
            } else {
                src = "\\ufffd";
                l = 6;
                adv = 1;
            }
        }
        if (!lw_room(w, l))
            break;
        lw_raw(w, src, l);
        i += adv;
    }
    lw_raw(w, "\"", 1); /* closing quote may use the tail */
}

static void lw_redacted_str(lw *w, const char *s, size_t n)
{
    char red[PD_LOG_MSG_MAX];
    size_t rn = pd_log_redact(s, n, red, sizeof(red));
    lw_json_str(w, red, rn);
}

static void lw_field(lw *w, const pd_log_field *f)
{
    char num[48];
    lw_json_str(w, f->key ? f->key : "", f->key ? strlen(f->key) : 0);
    lw_puts(w, ":");
    switch (f->type) {
    case PD_LOG_F_STR:
        if (!f->s)
            lw_puts(w, "null");
        else if (pd_log_key_is_secret(f->key))
            lw_json_str(w, PD_LOG_REDACTED, sizeof(PD_LOG_REDACTED) - 1);
        else
            lw_redacted_str(w, f->s, f->slen ? f->slen : strlen(f->s));
        break;
    case PD_LOG_F_INT:
        snprintf(num, sizeof(num), "%lld", (long long)f->i);
        lw_puts(w, num);
        break;
    case PD_LOG_F_NUM:
        if (isfinite(f->d))
            snprintf(num, sizeof(num), "%.17g", f->d);
        else
            snprintf(num, sizeof(num), "null");
        lw_puts(w, num);
        break;
    case PD_LOG_F_BOOL:
        lw_puts(w, f->i ? "true" : "false");
        break;
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += k;
        n -= (size_t)k;
    }
}

static void log_emit(pd_log_level level, const char *component, const char *message, bool cut,
                     const pd_log_field *fields, size_t nfields)
{
    char line[PD_LOG_LINE_MAX];
    lw w = {line, 0, sizeof(line) - PD_LOG_TAIL, false};
    char ts[PD_RFC3339_LEN];
    pd_time_format(pd_now_ms(), ts);
    lw_puts(&w, "{\"time\":\"");
    lw_puts(&w, ts);
    lw_puts(&w, "\",\"level\":\"");
    lw_puts(&w, pd_log_level_name(level));
    lw_puts(&w, "\",\"component\":");
    if (!component)
        component = "postured";
    lw_json_str(&w, component, PD_MIN(strlen(component), 64)); /* keeps the header bounded */
    lw_puts(&w, ",\"message\":");
    if (!message)
        message = "";
    lw_redacted_str(&w, message, strlen(message));
    if (nfields && !w.trunc) {
        lw_puts(&w, ",\"fields\":{");
        for (size_t i = 0; i < nfields && !w.trunc; i++) {
            size_t mark = w.len;
            if (i)
                lw_puts(&w, ",");
            lw_field(&w, &fields[i]);
            if (w.trunc)
                w.len = mark; /* drop the partial field: the line stays valid JSON */
        }
        lw_raw(&w, "}", 1);
    }
    if (w.trunc || cut)
        lw_raw(&w, ",\"truncated\":true", 17);
    lw_raw(&w, "}\n", 2);
    write_all(log_fd, line, w.len);
}

void pd_log_fields(pd_log_level level, const char *component, const char *message,
                   const pd_log_field *fields, size_t nfields)
{
    if (level >= PD_LOG_OFF || !pd_log_enabled(level))
        return;
    log_emit(level, component, message, false, fields, nfields);
}

void pd_logv(pd_log_level level, const char *component, const char *fmt, va_list ap)
{
    if (level >= PD_LOG_OFF || !pd_log_enabled(level))
        return;
    char msg[PD_LOG_MSG_MAX];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    log_emit(level, component, msg, n >= (int)sizeof(msg), NULL, 0);
}

void pd_logf(pd_log_level level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pd_logv(level, component, fmt, ap);
    va_end(ap);
}

void pd_log_rdkafka(int syslog_level, const char *facility, const char *message)
{
    /* syslog: 0 emerg .. 3 err, 4 warning, 5 notice, 6 info, 7 debug */
    pd_log_level lvl = syslog_level <= 3   ? PD_LOG_ERROR
                       : syslog_level == 4 ? PD_LOG_WARN
                       : syslog_level <= 6 ? PD_LOG_INFO
                                           : PD_LOG_DEBUG;
    pd_log_field f[2] = {PD_LF_STR("facility", facility ? facility : ""),
                         PD_LF_INT("syslog_level", syslog_level)};
    pd_log_fields(lvl, "rdkafka", message ? message : "", f, 2);
}

void pd_log_rdkafka_cb(const struct rd_kafka_s *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    pd_log_rdkafka(level, fac, buf);
}

void pd_log_kafka_handler(void *ctx, struct pd_kafka *k, int level, const char *fac,
                          const char *text)
{
    (void)ctx;
    (void)k;
    pd_log_rdkafka(level, fac, text);
}

int pd_log_add_kv_secrets(const struct pd_kv *kv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!kv[i].key || !kv[i].value || !pd_log_key_is_secret(kv[i].key))
            continue;
        if (strlen(kv[i].value) < PD_LOG_SECRET_MIN)
            continue;
        int rc = pd_log_add_secret(kv[i].value);
        if (rc)
            return rc;
    }
    return 0;
}
