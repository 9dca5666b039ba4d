/* pd_log.h: structured logs, one JSON object per line on stderr:
 *   {"time":"2026-01-02T03:04:05.678Z","level":"info","component":"kafka",
 *    "message":"...","fields":{"topic":"x","partition":3}}
 * Secrets never reach the output: strings registered with pd_log_add_secret(), values of
 * secret-looking keys ("password", "token", "secret", "SharedAccessKey", "Authorization",
 * "sasl.password", ...) inside messages and field values, "Bearer <token>", and fields whose
 * key looks secret are replaced by "[REDACTED]".
 *
 * Thread: any. A line is built on the stack and written with one write(2), so lines from
 * librdkafka threads never interleave. The level and output fd are process-wide; set them at
 * startup. The secret registry is guarded by a mutex.
 * Ownership: nothing returned is owned by the caller; registered secrets are copied. */
#ifndef PD_LOG_H
#define PD_LOG_H

#include "pd_common.h"

#include <stdarg.h>

typedef enum {
    PD_LOG_DEBUG = 0,
    PD_LOG_INFO,
    PD_LOG_WARN,
    PD_LOG_ERROR,
    PD_LOG_OFF, /* as a threshold: nothing is written */
} pd_log_level;

typedef enum { PD_LOG_F_STR = 0, PD_LOG_F_INT, PD_LOG_F_NUM, PD_LOG_F_BOOL } pd_log_ftype;

/* One structured field. Strings are copied into the line; NULL means JSON null. */
typedef struct pd_log_field {
    const char *key;
    pd_log_ftype type;
    const char *s;
    uint32_t slen; /* 0: strlen(s) */
    int64_t i;
    double d;
} pd_log_field;

#define PD_LF_STR(k, v) ((pd_log_field){.key = (k), .type = PD_LOG_F_STR, .s = (v)})
#define PD_LF_PSTR(k, v)                                                                           \
    ((pd_log_field){.key = (k), .type = PD_LOG_F_STR, .s = (v).p, .slen = (v).len})
#define PD_LF_INT(k, v)    ((pd_log_field){.key = (k), .type = PD_LOG_F_INT, .i = (int64_t)(v)})
#define PD_LF_NUM(k, v)    ((pd_log_field){.key = (k), .type = PD_LOG_F_NUM, .d = (double)(v)})
#define PD_LF_BOOL(k, v)   ((pd_log_field){.key = (k), .type = PD_LOG_F_BOOL, .i = (v) ? 1 : 0})
#define PD_LOG_LINE_MAX    8192 /* longer lines are truncated (still valid JSON) */
#define PD_LOG_REDACTED    "[REDACTED]"
#define PD_LOG_SECRET_MIN  4 /* shorter secrets are not registered: they would mask noise */
#define PD_LOG_SECRETS_MAX 64

/* Threshold: lines below it are dropped (default PD_LOG_INFO, or $PD_LOG_LEVEL at the
 * first log call when set). */
void pd_log_set_level(pd_log_level level);
pd_log_level pd_log_get_level(void);
static inline bool pd_log_enabled(pd_log_level level)
{
    return level >= pd_log_get_level();
}
/* "debug", "info", "warn"/"warning", "error", "off" (case-insensitive). */
int pd_log_level_parse(const char *s, pd_log_level *out);
const char *pd_log_level_name(pd_log_level level);
/* Output descriptor (default 2). Tests point it at a file. */
void pd_log_set_fd(int fd);

/* Registers a secret value (an Event Hubs connection string, a token, a password): every
 * occurrence in any later line is replaced. PD_EINVAL when shorter than PD_LOG_SECRET_MIN,
 * PD_EFULL when the registry is full. Registering the same value twice is a no-op. */
int pd_log_add_secret(const char *secret);
void pd_log_clear_secrets(void);

/* Writes the redacted form of in[0..n) into out (NUL-terminated, truncated to cap-1 bytes);
 * returns the length written. Exposed for code that prints configs or URLs elsewhere. */
size_t pd_log_redact(const char *in, size_t n, char *out, size_t cap);
/* True when a field or config key names a secret ("sasl.password", "token", ...). */
bool pd_log_key_is_secret(const char *key);

void pd_log_fields(pd_log_level level, const char *component, const char *message,
                   const pd_log_field *fields, size_t nfields);
void pd_logf(pd_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pd_logv(pd_log_level level, const char *component, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define pd_log_debug(comp, ...) pd_logf(PD_LOG_DEBUG, comp, __VA_ARGS__)
#define pd_log_info(comp, ...)  pd_logf(PD_LOG_INFO, comp, __VA_ARGS__)
#define pd_log_warn(comp, ...)  pd_logf(PD_LOG_WARN, comp, __VA_ARGS__)
#define pd_log_error(comp, ...) pd_logf(PD_LOG_ERROR, comp, __VA_ARGS__)

/* librdkafka: the runtime receives RD_KAFKA_EVENT_LOG on the loop (rd_kafka_set_log_queue)
 * and passes rd_kafka_event_log()'s (level, fac, str) here. syslog_level is 0..7 (emerg..
 * debug); the line has component "rdkafka" and a "facility" field. */
void pd_log_rdkafka(int syslog_level, const char *facility, const char *message);
/* Same, with librdkafka's log_cb signature, for rd_kafka_conf_set_log_cb() before the
 * log queue exists (it may run on librdkafka threads: pd_log is thread-safe). */
struct rd_kafka_s;
void pd_log_rdkafka_cb(const struct rd_kafka_s *rk, int level, const char *fac, const char *buf);
/* Same, with pd_kafka_handlers.log's signature (src/kafka/pd_kafka.h): set
 * handlers.log = pd_log_kafka_handler and every line from the log queue comes here. */
struct pd_kafka;
void pd_log_kafka_handler(void *ctx, struct pd_kafka *k, int level, const char *fac,
                          const char *text);

/* Registers as secrets the values of settings whose key looks secret (sasl.password,
 * ssl.key.password, ...): call it with the config's and the pipeline's kafka maps at load.
 * Returns the first error of pd_log_add_secret (short values are skipped, not errors). */
struct pd_kv;
int pd_log_add_kv_secrets(const struct pd_kv *kv, uint32_t n);

#endif
