/* pd_kafka.c: librdkafka clients driven by a libevent loop (see pd_kafka.h). */
#include "pd_kafka.h"

#include "pd_log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- configuration -------------------------------------------------------------------- */

typedef struct pd_kafka_kv {
    char *key, *value;
} pd_kafka_kv;

struct pd_kafka_conf {
    pd_kafka_kv *kv;
    uint32_t n, cap;
};

int pd_kafka_conf_new(pd_kafka_conf **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : PD_ENOMEM;
}

void pd_kafka_conf_destroy(pd_kafka_conf *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        /* secrets do not linger in freed memory */
        if (pd_kafka_conf_is_secret(c->kv[i].key))
            memset(c->kv[i].value, 0, strlen(c->kv[i].value));
        free(c->kv[i].key);
        free(c->kv[i].value);
    }
    free(c->kv);
    free(c);
}

static int conf_put(pd_kafka_conf *c, const char *key, const char *value)
{
    for (uint32_t i = 0; i < c->n; i++) {
        if (!strcmp(c->kv[i].key, key)) {
            char *v = strdup(value);
            if (!v)
                return PD_ENOMEM;
            free(c->kv[i].value);
            c->kv[i].value = v;
            return 0;
        }
    }
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 16;
        pd_kafka_kv *kv = realloc(c->kv, cap * sizeof(*kv));
        if (!kv)
            return PD_ENOMEM;
        c->kv = kv;
        c->cap = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return PD_ENOMEM;
    }
    c->kv[c->n++] = (pd_kafka_kv){k, v};
    return 0;
}

int pd_kafka_conf_copy(const pd_kafka_conf *c, pd_kafka_conf **out)
{
    int rc = pd_kafka_conf_new(out);
    for (uint32_t i = 0; rc == 0 && c && i < c->n; i++)
        rc = conf_put(*out, c->kv[i].key, c->kv[i].value);
    if (rc) {
        pd_kafka_conf_destroy(*out);
        *out = NULL;
    }
    return rc;
}

int pd_kafka_conf_set(pd_kafka_conf *c, const char *key, const char *value)
{
    if (!c || !key || !*key || !value)
        return PD_EINVAL;
    size_t n = strlen(value);
    if (n > 3 && value[0] == '$' && value[1] == '{' && value[n - 1] == '}') {
        char name[256];
        if (n - 3 >= sizeof(name))
            return PD_EINVAL;
        memcpy(name, value + 2, n - 3);
        name[n - 3] = '\0';
        const char *env = getenv(name);
        if (!env)
            return PD_ENOTFOUND;
        value = env;
    }
    return conf_put(c, key, value);
}

int pd_kafka_conf_set_literal(pd_kafka_conf *c, const char *key, const char *value)
{
    if (!c || !key || !*key || !value)
        return PD_EINVAL;
    return conf_put(c, key, value);
}

void pd_kafka_conf_at(const pd_kafka_conf *c, uint32_t i, const char **key, const char **value)
{
    *key = c && i < c->n ? c->kv[i].key : NULL;
    *value = c && i < c->n ? c->kv[i].value : NULL;
}

int pd_kafka_conf_set_prefixed(pd_kafka_conf *c, const char *key, const char *value)
{
    if (!key || strncmp(key, "kafka.", 6) != 0 || !key[6])
        return PD_EINVAL;
    return pd_kafka_conf_set(c, key + 6, value);
}

const char *pd_kafka_conf_get(const pd_kafka_conf *c, const char *key)
{
    for (uint32_t i = 0; c && i < c->n; i++)
        if (!strcmp(c->kv[i].key, key))
            return c->kv[i].value;
    return NULL;
}

uint32_t pd_kafka_conf_count(const pd_kafka_conf *c)
{
    return c ? c->n : 0;
}

bool pd_kafka_conf_is_secret(const char *key)
{
    static const char *const words[] = {"password", "secret", "key", "token", "jaas", "pem"};
    if (!key)
        return false;
    if (pd_log_key_is_secret(key))
        return true;
    /* ssl.key.location and friends name files, not secrets */
    size_t n = strlen(key);
    if (n > 9 && !strcmp(key + n - 9, ".location"))
        return false;
    for (size_t i = 0; i < PD_ARRAY_LEN(words); i++)
        if (strstr(key, words[i]))
            return true;
    return false;
}

void pd_kafka_conf_describe(const pd_kafka_conf *c, pd_buf *out)
{
    for (uint32_t i = 0; c && i < c->n; i++) {
        if (i)
            pd_buf_puts(out, ", ");
        pd_buf_puts(out, c->kv[i].key);
        pd_buf_putc(out, '=');
        pd_buf_puts(out, pd_kafka_conf_is_secret(c->kv[i].key) ? "***" : c->kv[i].value);
    }
}

/* Finds "Name=" among ';'-separated fields; returns the value as a slice. */
static bool connstr_field(const char *cs, const char *name, pd_str *out)
{
    size_t nl = strlen(name);
    const char *p = cs;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && p[nl] == '=' && !strncasecmp(p, name, nl)) {
            out->p = p + nl + 1;
            out->len = (uint32_t)(len - nl - 1);
            return true;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

int pd_kafka_conf_eventhubs(pd_kafka_conf *c, const char *cs, pd_kafka_role role, char *err,
                            size_t errlen)
{
    pd_str ep, kn, kv;
    if (!c || !cs)
        return PD_EINVAL;
    if (!connstr_field(cs, "Endpoint", &ep) || !connstr_field(cs, "SharedAccessKeyName", &kn) ||
        !connstr_field(cs, "SharedAccessKey", &kv) || kn.len == 0 || kv.len == 0) {
        snprintf(err, errlen,
                 "Event Hubs connection string: expected Endpoint=sb://NAMESPACE.servicebus."
                 "windows.net/;SharedAccessKeyName=...;SharedAccessKey=...");
        return PD_ECONFIG;
    }
    if (ep.len < 6 || strncasecmp(ep.p, "sb://", 5) != 0) {
        snprintf(err, errlen, "Event Hubs connection string: Endpoint must start with sb://");
        return PD_ECONFIG;
    }
    const char *host = ep.p + 5;
    size_t hl = ep.len - 5;
    while (hl && host[hl - 1] == '/')
        hl--;
    if (hl == 0 || memchr(host, '/', hl) || hl > 255) {
        snprintf(err, errlen, "Event Hubs connection string: Endpoint has no host name");
        return PD_ECONFIG;
    }
    char bootstrap[300];
    bool has_port = memchr(host, ':', hl) != NULL;
    snprintf(bootstrap, sizeof(bootstrap), "%.*s%s", (int)hl, host, has_port ? "" : ":9093");

    struct {
        const char *k, *v;
    } set[] = {
        {"bootstrap.servers", bootstrap},
        {"security.protocol", "SASL_SSL"},
        {"sasl.mechanisms", "PLAIN"},
        {"sasl.username", "$ConnectionString"},
        {"sasl.password", cs},
        {"socket.keepalive.enable", "true"},
        {"metadata.max.age.ms", "180000"},
        {role == PD_KAFKA_PRODUCER ? "request.timeout.ms" : "session.timeout.ms",
         role == PD_KAFKA_PRODUCER ? "60000" : "30000"},
        {role == PD_KAFKA_PRODUCER ? "compression.type" : NULL, "gzip"},
    };
    for (size_t i = 0; i < PD_ARRAY_LEN(set); i++) {
        if (!set[i].k)
            continue;
        /* conf_put: the connection string is taken literally, never as ${ENV} */
        int rc = conf_put(c, set[i].k, set[i].v);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- clients -------------------------------------------------------------------------- */

struct pd_kafka {
    pd_kafka_role role;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q; /* the queue whose io event wakes us */
    struct event_base *base;
    struct event *ev_pipe, *ev_tick, *ev_more;
    int pipefd[2];
    pd_kafka_handlers h;
    void *ctx;
    uint32_t budget;
    int log_level;
    bool paused, held, cooperative_checked, cooperative, closed;
    char name[64];
    pd_kafka_stats st;
};

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    pd_kafka *k = rd_kafka_opaque(rk);
    if (!k)
        return;
    k->st.logs++;
    if (k->h.log)
        k->h.log(k->ctx, k, level, fac, buf);
    else if (level <= k->log_level)
        pd_log_rdkafka(level, fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    pd_kafka *k = opaque;
    bool fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    char fbuf[256];
    if (fatal) {
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, fbuf, sizeof(fbuf));
        err = ferr;
        reason = fbuf;
    }
    k->st.errors++;
    if (k->h.error)
        k->h.error(k->ctx, k, (rd_kafka_resp_err_t)err, reason, fatal);
    else
        pd_log_fields(
            fatal ? PD_LOG_ERROR : PD_LOG_WARN, "kafka", reason,
            (pd_log_field[]){PD_LF_STR("client", k->name),
                             PD_LF_STR("error", rd_kafka_err2name((rd_kafka_resp_err_t)err)),
                             PD_LF_BOOL("fatal", fatal)},
            3);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    pd_kafka *k = opaque;
    PD_UNUSED(rk);
    if (m->err)
        k->st.delivery_failed++;
    else
        k->st.delivered++;
    if (k->h.delivery)
        k->h.delivery(k->ctx, k, m);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    pd_kafka *k = opaque;
    PD_UNUSED(rk);
    if (k->h.committed)
        k->h.committed(k->ctx, k, err, offsets);
}

static bool is_cooperative(pd_kafka *k)
{
    if (!k->cooperative_checked) {
        const char *p = rd_kafka_rebalance_protocol(k->rk);
        k->cooperative = p && !strcmp(p, "COOPERATIVE");
        k->cooperative_checked = true;
    }
    return k->cooperative;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    pd_kafka *k = opaque;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t rerr = 0;
    k->cooperative_checked = false; /* the protocol is known per rebalance */
    bool coop = is_cooperative(k);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        bool hold = false;
        if (k->h.assigned)
            hold = k->h.assigned(k->ctx, k, parts);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, parts);
        if (!e && !rerr && (k->paused || hold) && parts->cnt > 0)
            rd_kafka_pause_partitions(rk, parts);
    } else {
        bool lost = rd_kafka_assignment_lost(rk) != 0;
        if (k->h.revoked)
            k->h.revoked(k->ctx, k, parts, lost);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        pd_log_error("kafka", "%s: rebalance: %s", k->name, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (rerr) {
        pd_log_error("kafka", "%s: rebalance: %s", k->name, rd_kafka_err2str(rerr));
    }
}

uint32_t pd_kafka_drain(pd_kafka *k)
{
    uint32_t n = 0;
    if (!k || !k->rk)
        return 0;
    if (k->role == PD_KAFKA_PRODUCER) {
        /* Serves the delivery reports queued now: bounded by the messages in flight. */
        uint64_t before = k->st.delivered + k->st.delivery_failed;
        rd_kafka_poll(k->rk, 0);
        n = (uint32_t)(k->st.delivered + k->st.delivery_failed - before);
        return n;
    }
    while (n < k->budget && !k->held) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 0);
        if (!m)
            break;
        n++;
        bool kept = false;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                k->st.errors++;
                const char *why = rd_kafka_message_errstr(m);
                if (k->h.error)
                    k->h.error(k->ctx, k, m->err, why, false);
                else
                    pd_log_fields(PD_LOG_WARN, "kafka", why,
                                  (pd_log_field[]){PD_LF_STR("client", k->name),
                                                   PD_LF_STR("error", rd_kafka_err2name(m->err))},
                                  2);
            }
        } else {
            k->st.messages++;
            if (k->h.message)
                kept = k->h.message(k->ctx, k, m);
        }
        if (!kept)
            rd_kafka_message_destroy(m);
    }
    if (n == k->budget) {
        /* More may be queued, and librdkafka only wakes us on an empty->non-empty
         * transition: come back after the loop has polled its fds (a zero timeout, since
         * event_active from a callback would run again before any fd is served). */
        static const struct timeval zero = {0, 0};
        k->st.budget_hits++;
        event_add(k->ev_more, &zero);
    }
    return n;
}

static void on_pipe(evutil_socket_t fd, short what, void *arg)
{
    pd_kafka *k = arg;
    char buf[256];
    PD_UNUSED(what);
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    k->st.wakes++;
    pd_kafka_drain(k);
}

static void on_more(evutil_socket_t fd, short what, void *arg)
{
    PD_UNUSED(fd);
    PD_UNUSED(what);
    pd_kafka_drain(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    pd_kafka *k = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    k->st.ticks++;
    pd_kafka_drain(k);
    if (k->h.tick)
        k->h.tick(k->ctx, k);
}

static int conf_set1(rd_kafka_conf_t *rc, const char *key, const char *value, char *err,
                     size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(rc, key, value, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        /* librdkafka's message names the property; the value is not repeated. */
        snprintf(err, errlen, "kafka.%s: %s", key, e);
        return PD_ECONFIG;
    }
    return 0;
}

int pd_kafka_new(const pd_kafka_opts *o, pd_kafka **out, char *err, size_t errlen)
{
    int rc = 0;
    rd_kafka_conf_t *rc_conf = NULL;
    pd_kafka *k = NULL;
    char e[512];
    if (!o || !o->base || !out) {
        snprintf(err, errlen, "pd_kafka_new: bad arguments");
        return PD_EINVAL;
    }
    *out = NULL;
    k = calloc(1, sizeof(*k));
    if (!k)
        return PD_ENOMEM;
    k->pipefd[0] = k->pipefd[1] = -1;
    k->role = o->role;
    k->base = o->base;
    k->h = o->h;
    k->ctx = o->ctx;
    k->budget = o->budget ? o->budget : 1000;
    /* asking librdkafka for debug output means wanting to see it */
    k->log_level = o->log_level                                  ? o->log_level
                   : pd_kafka_conf_get(o->conf, "debug") != NULL ? 7
                                                                 : 5;
    snprintf(k->name, sizeof(k->name), "%s",
             o->name ? o->name : (o->role == PD_KAFKA_PRODUCER ? "producer" : "consumer"));

    rc_conf = rd_kafka_conf_new();
    /* Defaults first, so the configuration can override them. */
    if (o->role == PD_KAFKA_CONSUMER) {
        rc = conf_set1(rc_conf, "partition.assignment.strategy", "cooperative-sticky", err, errlen);
        if (!rc)
            rc = conf_set1(rc_conf, "auto.offset.reset", "earliest", err, errlen);
    }
    for (uint32_t i = 0; !rc && o->conf && i < o->conf->n; i++) {
        rc = conf_set1(rc_conf, o->conf->kv[i].key, o->conf->kv[i].value, err, errlen);
        /* librdkafka may echo a value in its logs: make sure a secret never gets out */
        if (pd_kafka_conf_is_secret(o->conf->kv[i].key))
            pd_log_add_secret(o->conf->kv[i].value);
    }
    /* Not overridable: the runtime's contract with librdkafka. */
    if (!rc)
        rc = conf_set1(rc_conf, "log.queue", "true", err, errlen);
    if (!rc && o->role == PD_KAFKA_CONSUMER)
        rc = conf_set1(rc_conf, "enable.auto.commit", "false", err, errlen);
    if (rc)
        goto fail;
    rd_kafka_conf_set_opaque(rc_conf, k);
    rd_kafka_conf_set_log_cb(rc_conf, on_log);
    rd_kafka_conf_set_error_cb(rc_conf, on_error);
    if (o->role == PD_KAFKA_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(rc_conf, on_delivery);
    } else {
        rd_kafka_conf_set_rebalance_cb(rc_conf, on_rebalance);
        rd_kafka_conf_set_offset_commit_cb(rc_conf, on_commit);
    }
    k->rk = rd_kafka_new(o->role == PD_KAFKA_PRODUCER ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER,
                         rc_conf, e, sizeof(e));
    if (!k->rk) {
        snprintf(err, errlen, "rd_kafka_new: %s", e);
        rc = PD_EKAFKA;
        goto fail;
    }
    rc_conf = NULL; /* owned by rk now */
    if (o->role == PD_KAFKA_CONSUMER) {
        rd_kafka_poll_set_consumer(k->rk); /* main queue (logs, errors) -> consumer queue */
        k->q = rd_kafka_queue_get_consumer(k->rk);
    } else {
        k->q = rd_kafka_queue_get_main(k->rk);
    }
    if (rd_kafka_set_log_queue(k->rk, NULL) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "rd_kafka_set_log_queue failed");
        rc = PD_EKAFKA;
        goto fail;
    }
    if (pipe(k->pipefd) != 0 || fcntl(k->pipefd[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(k->pipefd[1], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(k->pipefd[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(k->pipefd[1], F_SETFD, FD_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        rc = PD_EIO;
        goto fail;
    }
    k->ev_pipe = event_new(k->base, k->pipefd[0], EV_READ | EV_PERSIST, on_pipe, k);
    k->ev_tick = event_new(k->base, -1, EV_PERSIST, on_tick, k);
    k->ev_more = event_new(k->base, -1, 0, on_more, k);
    if (!k->ev_pipe || !k->ev_tick || !k->ev_more) {
        rc = PD_ENOMEM;
        goto fail;
    }
    uint32_t tick = o->tick_ms ? o->tick_ms : 100;
    struct timeval tv = {tick / 1000, (tick % 1000) * 1000};
    if (event_add(k->ev_pipe, NULL) != 0 || event_add(k->ev_tick, &tv) != 0) {
        rc = PD_EIO;
        goto fail;
    }
    rd_kafka_queue_io_event_enable(k->q, k->pipefd[1], "1", 1);
    *out = k;
    return 0;
fail:
    if (rc_conf)
        rd_kafka_conf_destroy(rc_conf);
    pd_kafka_destroy(k);
    return rc;
}

void pd_kafka_destroy(pd_kafka *k)
{
    if (!k)
        return;
    if (k->q) {
        rd_kafka_queue_io_event_enable(k->q, -1, NULL, 0);
        rd_kafka_queue_destroy(k->q);
    }
    if (k->ev_pipe)
        event_free(k->ev_pipe);
    if (k->ev_tick)
        event_free(k->ev_tick);
    if (k->ev_more)
        event_free(k->ev_more);
    if (k->rk)
        rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    for (int i = 0; i < 2; i++)
        if (k->pipefd[i] >= 0)
            close(k->pipefd[i]);
    free(k);
}

rd_kafka_t *pd_kafka_rk(pd_kafka *k)
{
    return k ? k->rk : NULL;
}

const char *pd_kafka_name(const pd_kafka *k)
{
    return k ? k->name : "";
}

int pd_kafka_subscribe(pd_kafka *k, const char *const *topics, uint32_t ntopics)
{
    if (!k || k->role != PD_KAFKA_CONSUMER || !topics || ntopics == 0)
        return PD_EINVAL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)ntopics);
    for (uint32_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        pd_log_error("kafka", "%s: subscribe: %s", k->name, rd_kafka_err2str(err));
        return PD_EKAFKA;
    }
    return 0;
}

static int pause_resume(pd_kafka *k, bool pause)
{
    if (!k || k->role != PD_KAFKA_CONSUMER)
        return PD_EINVAL;
    rd_kafka_topic_partition_list_t *l = NULL;
    k->paused = pause;
    if (rd_kafka_assignment(k->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return PD_EKAFKA;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (l->cnt > 0)
        err = pause ? rd_kafka_pause_partitions(k->rk, l) : rd_kafka_resume_partitions(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return err ? PD_EKAFKA : 0;
}

int pd_kafka_pause(pd_kafka *k)
{
    return pause_resume(k, true);
}

int pd_kafka_resume(pd_kafka *k)
{
    return pause_resume(k, false);
}

void pd_kafka_hold(pd_kafka *k, bool hold)
{
    if (!k || k->role != PD_KAFKA_CONSUMER || k->held == hold)
        return;
    k->held = hold;
    if (!hold) {
        /* the queue may be non-empty, so no wake-up will come: look now, from the loop */
        static const struct timeval zero = {0, 0};
        event_add(k->ev_more, &zero);
    }
}

bool pd_kafka_paused(const pd_kafka *k)
{
    return k && k->paused;
}

int pd_kafka_pause_partitions(pd_kafka *k, const rd_kafka_topic_partition_list_t *parts)
{
    if (!k || k->role != PD_KAFKA_CONSUMER || !parts)
        return PD_EINVAL;
    if (parts->cnt == 0)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err = rd_kafka_pause_partitions(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return err ? PD_EKAFKA : 0;
}

int pd_kafka_resume_partitions(pd_kafka *k, const rd_kafka_topic_partition_list_t *parts)
{
    if (!k || k->role != PD_KAFKA_CONSUMER || !parts)
        return PD_EINVAL;
    if (parts->cnt == 0 || k->paused)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err = rd_kafka_resume_partitions(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return err ? PD_EKAFKA : 0;
}

int pd_kafka_commit(pd_kafka *k, const rd_kafka_topic_partition_list_t *offsets)
{
    if (!k || k->role != PD_KAFKA_CONSUMER || !offsets)
        return PD_EINVAL;
    if (offsets->cnt == 0)
        return 0;
    rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, offsets, 1);
    return err ? PD_EKAFKA : 0;
}

int pd_kafka_commit_sync(pd_kafka *k, const rd_kafka_topic_partition_list_t *offsets)
{
    if (!k || k->role != PD_KAFKA_CONSUMER || !offsets)
        return PD_EINVAL;
    if (offsets->cnt == 0)
        return 0;
    rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, offsets, 0);
    return err ? PD_EKAFKA : 0;
}

int pd_kafka_produce(pd_kafka *k, const char *topic, int32_t partition, const void *key,
                     size_t keylen, const void *value, size_t valuelen, rd_kafka_headers_t *headers,
                     void *opaque)
{
    if (!k || k->role != PD_KAFKA_PRODUCER || !topic)
        return PD_EINVAL;
    rd_kafka_resp_err_t err;
    if (headers)
        err = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *)value, valuelen), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    else
        err = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *)value, valuelen), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return PD_EFULL;
    if (err)
        return PD_EKAFKA;
    return 0;
}

int pd_kafka_ensure_topic(pd_kafka *k, const char *topic, int partitions,
                          const char *const *configs, int timeout_ms, char *err, size_t errlen)
{
    int rc = PD_EKAFKA;
    char e[256];
    if (!k || !topic)
        return PD_EINVAL;
    snprintf(err, errlen, "no answer within %d ms", timeout_ms);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, e, sizeof(e));
    if (!nt) {
        snprintf(err, errlen, "%s", e);
        return PD_EINVAL;
    }
    for (size_t i = 0; configs && configs[i] && configs[i + 1]; i += 2)
        rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, e, sizeof(e));
    rd_kafka_CreateTopics(k->rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        rd_kafka_resp_err_t terr = cnt == 1 ? rd_kafka_topic_result_error(tr[0]) : 0;
        if (rd_kafka_event_error(ev)) {
            snprintf(err, errlen, "%s", rd_kafka_event_error_string(ev));
        } else if (cnt == 1 && (terr == RD_KAFKA_RESP_ERR_NO_ERROR ||
                                terr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)) {
            rc = 0;
        } else if (cnt == 1) {
            snprintf(err, errlen, "%s", rd_kafka_topic_result_error_string(tr[0]));
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

uint32_t pd_kafka_outq_len(pd_kafka *k)
{
    return k && k->rk ? (uint32_t)rd_kafka_outq_len(k->rk) : 0;
}

int pd_kafka_flush(pd_kafka *k, int timeout_ms)
{
    if (!k || k->role != PD_KAFKA_PRODUCER)
        return PD_EINVAL;
    rd_kafka_resp_err_t err = rd_kafka_flush(k->rk, timeout_ms);
    return err == RD_KAFKA_RESP_ERR__TIMED_OUT ? PD_ETIMEOUT : (err ? PD_EKAFKA : 0);
}

int pd_kafka_close(pd_kafka *k)
{
    if (!k || k->role != PD_KAFKA_CONSUMER)
        return PD_EINVAL;
    if (k->closed)
        return 0;
    k->closed = true;
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(k->rk);
    return err ? PD_EKAFKA : 0;
}

void pd_kafka_get_stats(const pd_kafka *k, pd_kafka_stats *out)
{
    if (k && out)
        *out = k->st;
}
