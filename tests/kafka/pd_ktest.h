/* pd_ktest.h: helpers shared by the Kafka tests (unit tests on the mock cluster and the
 * integration tests on the real broker). Header-only; test code may block.
 * Thread: the test's thread. */
#ifndef PD_KTEST_H
#define PD_KTEST_H

#include "pd_kafka.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* The real broker's address from the harness (tests/kafka/broker.sh). NULL when absent. */
static inline const char *pd_ktest_bootstrap(void)
{
    const char *b = getenv("PD_KAFKA_BOOTSTRAP");
    return b && *b ? b : NULL;
}

/* A name unique to this process and moment, for topics and groups. */
static inline void pd_ktest_unique(char *buf, size_t n, const char *prefix)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, n, "%s-%d-%lld%03ld", prefix, (int)getpid(), (long long)ts.tv_sec,
             ts.tv_nsec / 1000000);
}

/* Creates a topic with the Admin API and waits for the result (blocking, tests only).
 * 0 on success or when it exists. */
static inline int pd_ktest_create_topic(rd_kafka_t *rk, const char *topic, int partitions,
                                        int timeout_ms)
{
    char err[256];
    int rc = PD_EKAFKA;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, err, sizeof(err));
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        if (rd_kafka_event_error(ev))
            fprintf(stderr, "create topic %s: %s\n", topic, rd_kafka_event_error_string(ev));
        else if (cnt == 1 &&
                 (rd_kafka_topic_result_error(tr[0]) == 0 ||
                  rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
            rc = 0;
        else if (cnt == 1)
            fprintf(stderr, "create topic %s: %s\n", topic,
                    rd_kafka_topic_result_error_string(tr[0]));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* ---- round trip: produce N distinct messages, consume them back, count each one ------ */

typedef struct pd_ktest_rt {
    struct event_base *base;
    uint32_t n;
    uint32_t *seen; /* per message index: how many times consumed */
    uint32_t unique, dups, foreign;
    uint64_t delivered, failed;
    bool timed_out;
    struct event *settle;
} pd_ktest_rt;

static inline void pd_ktest_rt_delivery(void *ctx, pd_kafka *k, const rd_kafka_message_t *m)
{
    pd_ktest_rt *rt = ctx;
    PD_UNUSED(k);
    if (m->err)
        rt->failed++;
    else
        rt->delivered++;
    if (rt->delivered + rt->failed == rt->n)
        event_base_loopbreak(rt->base);
}

static inline void pd_ktest_rt_settled(evutil_socket_t fd, short what, void *arg)
{
    PD_UNUSED(fd);
    PD_UNUSED(what);
    event_base_loopbreak(((pd_ktest_rt *)arg)->base);
}

static inline bool pd_ktest_rt_message(void *ctx, pd_kafka *k, rd_kafka_message_t *m)
{
    pd_ktest_rt *rt = ctx;
    char buf[32];
    PD_UNUSED(k);
    unsigned idx = 0;
    size_t len = m->len < sizeof(buf) - 1 ? m->len : sizeof(buf) - 1;
    memcpy(buf, m->payload, len);
    buf[len] = '\0';
    if (sscanf(buf, "msg-%u", &idx) != 1 || idx >= rt->n) {
        rt->foreign++;
        return false;
    }
    if (rt->seen[idx]++ == 0)
        rt->unique++;
    else
        rt->dups++;
    if (rt->unique == rt->n && !rt->settle) {
        /* everything arrived: keep consuming a little to catch duplicates */
        rt->settle = evtimer_new(rt->base, pd_ktest_rt_settled, rt);
        struct timeval tv = {1, 500000};
        evtimer_add(rt->settle, &tv);
    }
    return false;
}

static inline void pd_ktest_rt_timeout(evutil_socket_t fd, short what, void *arg)
{
    PD_UNUSED(fd);
    PD_UNUSED(what);
    pd_ktest_rt *rt = arg;
    rt->timed_out = true;
    event_base_loopbreak(rt->base);
}

/* Runs the loop until it breaks or timeout_s passes (rt->timed_out). */
static inline void pd_ktest_run(pd_ktest_rt *rt, int timeout_s)
{
    struct event *t = evtimer_new(rt->base, pd_ktest_rt_timeout, rt);
    struct timeval tv = {timeout_s, 0};
    evtimer_add(t, &tv);
    event_base_dispatch(rt->base);
    event_free(t);
}

/* Produces rt->n messages "msg-<i>" keyed by i % 97 to topic through a pd_kafka producer
 * on rt->base, waiting for every delivery report. Returns 0 when all were delivered. */
static inline int pd_ktest_produce_all(pd_ktest_rt *rt, const pd_kafka_conf *conf,
                                       const char *topic, int timeout_s)
{
    char err[512];
    pd_kafka *p = NULL;
    pd_kafka_opts o = {.role = PD_KAFKA_PRODUCER, .conf = conf, .base = rt->base, .ctx = rt};
    o.h.delivery = pd_ktest_rt_delivery;
    if (pd_kafka_new(&o, &p, err, sizeof(err)) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        return -1;
    }
    time_t deadline = time(NULL) + timeout_s;
    for (uint32_t i = 0; i < rt->n && time(NULL) < deadline;) {
        char key[16], val[32];
        int kl = snprintf(key, sizeof(key), "r%02u", i % 97);
        int vl = snprintf(val, sizeof(val), "msg-%07u", i);
        int rc = pd_kafka_produce(p, topic, RD_KAFKA_PARTITION_UA, key, (size_t)kl, val, (size_t)vl,
                                  NULL, NULL);
        if (rc == PD_EFULL) {
            event_base_loop(rt->base, EVLOOP_ONCE); /* let delivery reports drain */
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "produce: %s\n", pd_strerror(rc));
            break;
        }
        i++;
    }
    if (rt->delivered + rt->failed < rt->n)
        pd_ktest_run(rt, timeout_s);
    pd_kafka_destroy(p);
    return rt->delivered == rt->n ? 0 : -1;
}

/* Consumes topic with a fresh group from the beginning until every message arrived (then
 * 1.5 s more, to catch duplicates) or timeout_s passes. */
static inline int pd_ktest_consume_all(pd_ktest_rt *rt, const pd_kafka_conf *conf,
                                       const char *topic, int timeout_s)
{
    char err[512], group[96];
    pd_kafka *c = NULL;
    pd_kafka_conf *cc = NULL;
    if (pd_kafka_conf_copy(conf, &cc) != 0)
        return -1;
    pd_ktest_unique(group, sizeof(group), "pd-test-group");
    pd_kafka_conf_set(cc, "group.id", group);
    pd_kafka_conf_set(cc, "auto.offset.reset", "earliest");
    pd_kafka_opts o = {.role = PD_KAFKA_CONSUMER, .conf = cc, .base = rt->base, .ctx = rt};
    o.h.message = pd_ktest_rt_message;
    o.budget = 256; /* small, so the budget path is exercised */
    int rc = pd_kafka_new(&o, &c, err, sizeof(err));
    pd_kafka_conf_destroy(cc);
    if (rc != 0) {
        fprintf(stderr, "consumer: %s\n", err);
        return -1;
    }
    const char *topics[] = {topic};
    rc = pd_kafka_subscribe(c, topics, 1);
    if (rc == 0)
        pd_ktest_run(rt, timeout_s);
    pd_kafka_close(c);
    pd_kafka_destroy(c);
    if (rt->settle)
        event_free(rt->settle);
    rt->settle = NULL;
    return rc;
}

/* ---- reading a whole topic ----------------------------------------------------------- */

typedef void (*pd_ktest_msg_fn)(void *ctx, const rd_kafka_message_t *m);

typedef struct pd_ktest_collect_state {
    struct event_base *base;
    pd_ktest_msg_fn fn;
    void *ctx;
    uint64_t count;
    int64_t last_ms;
    uint32_t idle_ms;
    bool assigned;
    struct event *t;
} pd_ktest_collect_state;

static inline int64_t pd_ktest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline bool pd_ktest_collect_msg(void *ctx, pd_kafka *k, rd_kafka_message_t *m)
{
    pd_ktest_collect_state *cs = ctx;
    PD_UNUSED(k);
    cs->count++;
    cs->last_ms = pd_ktest_now_ms();
    cs->fn(cs->ctx, m);
    return false;
}

static inline bool pd_ktest_collect_assigned(void *ctx, pd_kafka *k,
                                             rd_kafka_topic_partition_list_t *parts)
{
    pd_ktest_collect_state *cs = ctx;
    PD_UNUSED(k);
    PD_UNUSED(parts);
    cs->last_ms = pd_ktest_now_ms(); /* idle counts from the assignment */
    cs->assigned = true;
    return false;
}

static inline void pd_ktest_collect_tick(evutil_socket_t fd, short what, void *arg)
{
    pd_ktest_collect_state *cs = arg;
    PD_UNUSED(fd);
    PD_UNUSED(what);
    if (cs->assigned && pd_ktest_now_ms() - cs->last_ms >= cs->idle_ms)
        event_base_loopbreak(cs->base);
}

/* Reads every partition of topic from the beginning (assigned, no group), calling fn per
 * message, until no message came for idle_ms (counted from the start too) or timeout_s.
 * Returns the count. */
static inline uint64_t pd_ktest_collect(const pd_kafka_conf *conf, const char *topic,
                                        uint32_t idle_ms, int timeout_s, pd_ktest_msg_fn fn,
                                        void *ctx)
{
    char err[512], group[96];
    pd_ktest_collect_state cs = {
        .base = event_base_new(), .fn = fn, .ctx = ctx, .idle_ms = idle_ms};
    pd_kafka_conf *cc = NULL;
    pd_kafka *c = NULL;
    pd_kafka_conf_copy(conf, &cc);
    pd_ktest_unique(group, sizeof(group), "pd-test-collect");
    pd_kafka_conf_set(cc, "group.id", group);
    pd_kafka_conf_set(cc, "auto.offset.reset", "earliest");
    pd_kafka_opts o = {.role = PD_KAFKA_CONSUMER, .conf = cc, .base = cs.base, .ctx = &cs};
    o.h.message = pd_ktest_collect_msg;
    o.h.assigned = pd_ktest_collect_assigned;
    if (pd_kafka_new(&o, &c, err, sizeof(err)) == 0) {
        /* every partition, assigned by hand: no group join to wait for */
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(pd_kafka_rk(c), topic, NULL);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
        if (rd_kafka_metadata(pd_kafka_rk(c), 0, rkt, &md, 10000) == 0 && md->topic_cnt == 1)
            for (int i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)
                    ->offset = RD_KAFKA_OFFSET_BEGINNING;
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_assign(pd_kafka_rk(c), l);
        rd_kafka_topic_partition_list_destroy(l);
        cs.assigned = true;
        cs.last_ms = pd_ktest_now_ms();
        cs.t = event_new(cs.base, -1, EV_PERSIST, pd_ktest_collect_tick, &cs);
        struct timeval tv = {0, 100000};
        event_add(cs.t, &tv);
        pd_ktest_rt rt = {.base = cs.base};
        pd_ktest_run(&rt, timeout_s);
        event_free(cs.t);
        pd_kafka_destroy(c);
    } else {
        fprintf(stderr, "collect: %s\n", err);
    }
    pd_kafka_conf_destroy(cc);
    event_base_free(cs.base);
    return cs.count;
}

/* A header's value as a NUL-terminated string in buf ("" when absent). */
static inline const char *pd_ktest_header(const rd_kafka_message_t *m, const char *name, char *buf,
                                          size_t n)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;
    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h &&
        rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
        len = len < n - 1 ? len : n - 1;
        memcpy(buf, v, len);
        buf[len] = '\0';
    }
    return buf;
}

/* A child running argv (stdout/stderr to the paths when given); -1 when fork fails. */
static inline pid_t pd_ktest_spawn(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (out_path && !freopen(out_path, "w", stdout))
            _exit(126);
        if (err_path && !freopen(err_path, "w", stderr))
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Its exit code (128 + signal when killed); after timeout_s it is killed and -1 returned. */
static inline int pd_ktest_wait_exit(pid_t pid, int timeout_s)
{
    int st = 0;
    if (pid < 0)
        return -1;
    for (int i = 0; i < timeout_s * 10; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fprintf(stderr, "process %d did not finish within %d s\n", (int)pid, timeout_s);
    return -1;
}

#endif
