/* Transactional commits (see pd_txn.h). The blocking librdkafka transaction calls run either
 * on the caller's thread or on one worker thread per txn, which signals completion by
 * writing a byte to a pipe. */
#include "pd_txn.h"

#include "pd_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pd_txn {
    rd_kafka_t *producer, *consumer;
    int timeout_ms;
    bool inited;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool thread_started, stop, busy, has_result;
    rd_kafka_topic_partition_list_t *pending; /* owned while an async commit runs */
    int result;
    int pipe_r, pipe_w;
    uint64_t commits, aborts;
};

/* Maps a transactional error: abortable ones abort (and begin anew), fatal ones stop. */
static int handle_error(pd_txn *t, rd_kafka_error_t *err, const char *what)
{
    int rc = PD_EKAFKA;
    if (rd_kafka_error_is_fatal(err)) {
        pd_log_error("txn", "%s: fatal: %s", what, rd_kafka_error_string(err));
    } else if (rd_kafka_error_txn_requires_abort(err)) {
        pd_log_warn("txn", "%s: aborting: %s", what, rd_kafka_error_string(err));
        rd_kafka_error_t *e2 = rd_kafka_abort_transaction(t->producer, t->timeout_ms);
        if (e2) {
            pd_log_error("txn", "abort: %s", rd_kafka_error_string(e2));
            rd_kafka_error_destroy(e2);
        } else {
            t->aborts++;
            e2 = rd_kafka_begin_transaction(t->producer);
            if (e2) {
                pd_log_error("txn", "begin: %s", rd_kafka_error_string(e2));
                rd_kafka_error_destroy(e2);
            } else {
                rc = PD_EAGAIN;
            }
        }
    } else {
        pd_log_error("txn", "%s: %s", what, rd_kafka_error_string(err));
    }
    rd_kafka_error_destroy(err);
    return rc;
}

int pd_txn_create(rd_kafka_t *producer, rd_kafka_t *consumer, int timeout_ms, pd_txn **out)
{
    pd_txn *t = calloc(1, sizeof(*t));
    if (!t)
        return PD_ENOMEM;
    int fds[2];
    if (pipe(fds)) {
        free(t);
        return PD_EIO;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    t->pipe_r = fds[0];
    t->pipe_w = fds[1];
    t->producer = producer;
    t->consumer = consumer;
    t->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    *out = t;
    return 0;
}

void pd_txn_destroy(pd_txn *t)
{
    if (!t)
        return;
    if (t->thread_started) {
        pthread_mutex_lock(&t->mu);
        t->stop = true;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    if (t->pending)
        rd_kafka_topic_partition_list_destroy(t->pending);
    close(t->pipe_r);
    close(t->pipe_w);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

int pd_txn_begin(pd_txn *t)
{
    rd_kafka_error_t *err;
    if (!t->inited) {
        if ((err = rd_kafka_init_transactions(t->producer, t->timeout_ms))) {
            pd_log_error("txn", "init: %s", rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
            return PD_EKAFKA;
        }
        t->inited = true;
    }
    if ((err = rd_kafka_begin_transaction(t->producer)))
        return handle_error(t, err, "begin");
    return 0;
}

int pd_txn_offsets(pd_txn *t, rd_kafka_topic_partition_list_t **out)
{
    *out = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(t->consumer, &parts) || !parts)
        return PD_EKAFKA;
    if (rd_kafka_position(t->consumer, parts)) {
        rd_kafka_topic_partition_list_destroy(parts);
        return PD_EKAFKA;
    }
    *out = parts;
    return 0;
}

int pd_txn_commit(pd_txn *t, const rd_kafka_topic_partition_list_t *offsets)
{
    rd_kafka_error_t *err;
    if (offsets && offsets->cnt) {
        rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(t->consumer);
        if (!md)
            return PD_EKAFKA;
        err = rd_kafka_send_offsets_to_transaction(t->producer, offsets, md, t->timeout_ms);
        rd_kafka_consumer_group_metadata_destroy(md);
        if (err)
            return handle_error(t, err, "send offsets");
    }
    /* commit_transaction flushes what is in flight first. A retriable error (a timeout)
     * leaves the outcome open: retrying the same call is the documented way to learn it. */
    for (int attempt = 0;; attempt++) {
        err = rd_kafka_commit_transaction(t->producer, t->timeout_ms);
        if (!err)
            break;
        if (rd_kafka_error_is_retriable(err) && attempt < 5) {
            rd_kafka_error_destroy(err);
            continue;
        }
        return handle_error(t, err, "commit");
    }
    t->commits++;
    if ((err = rd_kafka_begin_transaction(t->producer)))
        return handle_error(t, err, "begin");
    return 0;
}

int pd_txn_abort(pd_txn *t)
{
    rd_kafka_error_t *err = rd_kafka_abort_transaction(t->producer, t->timeout_ms);
    if (err) {
        pd_log_error("txn", "abort: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        return PD_EKAFKA;
    }
    t->aborts++;
    if ((err = rd_kafka_begin_transaction(t->producer)))
        return handle_error(t, err, "begin");
    return 0;
}

static void *worker(void *arg)
{
    pd_txn *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->stop && !t->pending)
            pthread_cond_wait(&t->cv, &t->mu);
        if (!t->pending && t->stop)
            break;
        rd_kafka_topic_partition_list_t *offs = t->pending;
        pthread_mutex_unlock(&t->mu);
        int rc = pd_txn_commit(t, offs);
        rd_kafka_topic_partition_list_destroy(offs);
        pthread_mutex_lock(&t->mu);
        t->pending = NULL;
        t->result = rc;
        t->has_result = true;
        char c = 1;
        while (write(t->pipe_w, &c, 1) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int pd_txn_commit_async(pd_txn *t, rd_kafka_topic_partition_list_t *offsets)
{
    pthread_mutex_lock(&t->mu);
    if (t->busy) {
        pthread_mutex_unlock(&t->mu);
        return PD_ESTATE;
    }
    if (!t->thread_started) {
        if (pthread_create(&t->thread, NULL, worker, t)) {
            pthread_mutex_unlock(&t->mu);
            return PD_ENOMEM;
        }
        t->thread_started = true;
    }
    t->pending = offsets ? offsets : rd_kafka_topic_partition_list_new(0);
    t->busy = true;
    t->has_result = false;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int pd_txn_fd(const pd_txn *t)
{
    return t->pipe_r;
}

int pd_txn_result(pd_txn *t, int *rc)
{
    char buf[16];
    while (read(t->pipe_r, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&t->mu);
    int r = PD_EAGAIN;
    if (t->has_result) {
        *rc = t->result;
        t->has_result = false;
        t->busy = false;
        r = 0;
    }
    pthread_mutex_unlock(&t->mu);
    return r;
}

void pd_txn_counts(const pd_txn *t, uint64_t *commits, uint64_t *aborts)
{
    *commits = t->commits;
    *aborts = t->aborts;
}
