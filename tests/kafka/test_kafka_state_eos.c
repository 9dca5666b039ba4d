/* Exactly-once through pd_txn against the real broker: a child process consumes an input
 * topic, produces one output per input inside transactions that also carry the consumed
 * offsets (commits on pd_txn's thread, waited for on its descriptor as a loop would), and is
 * killed with SIGKILL at random points and restarted. A read_committed reader then finds
 * every input exactly once in the output: none missing, none twice. */
#include "pd_test.h"

#include "pd_ktest.h"
#include "pd_txn.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#define N_IN    20000
#define N_PARTS 3

static char g_boot[256], g_in[96], g_out[96], g_group[96], g_txid[96];

static rd_kafka_t *mk(rd_kafka_type_t type, const char *const *kv)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_boot, err, sizeof(err));
    for (; kv && kv[0]; kv += 2)
        if (rd_kafka_conf_set(c, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s: %s\n", kv[0], err);
            exit(2);
        }
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        exit(2);
    }
    return rk;
}

/* The child: runs until every input partition is at its end and committed. */
static int child_main(void)
{
    const char *ckv[] = {"group.id",
                         g_group,
                         "enable.auto.commit",
                         "false",
                         "auto.offset.reset",
                         "earliest",
                         "isolation.level",
                         "read_committed",
                         "enable.partition.eof",
                         "true",
                         "session.timeout.ms",
                         "6000",
                         "heartbeat.interval.ms",
                         "1000",
                         NULL};
    const char *pkv[] = {"transactional.id", g_txid, "linger.ms", "5", NULL};
    rd_kafka_t *c = mk(RD_KAFKA_CONSUMER, ckv), *p = mk(RD_KAFKA_PRODUCER, pkv);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, g_in, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    pd_txn *t = NULL;
    if (pd_txn_create(p, c, 30000, &t) || pd_txn_begin(t))
        return 3;
    bool eof[N_PARTS] = {false};
    int uncommitted = 0;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        bool all_eof = true;
        for (int i = 0; i < N_PARTS; i++)
            all_eof = all_eof && eof[i];
        if (m && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < N_PARTS)
                eof[m->partition] = true;
        } else if (m && !m->err) {
            if (m->partition >= 0 && m->partition < N_PARTS)
                eof[m->partition] = false;
            char v[64];
            int n = snprintf(v, sizeof(v), "p%d-o%lld", (int)m->partition, (long long)m->offset);
            rd_kafka_resp_err_t e;
            while (
                (e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(g_out), RD_KAFKA_V_VALUE(v, (size_t)n),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
                RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 10);
            if (e)
                return 4;
            uncommitted++;
        }
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_poll(p, 0);
        if (uncommitted >= 50 || (uncommitted && all_eof)) {
            rd_kafka_topic_partition_list_t *offs = NULL;
            if (pd_txn_offsets(t, &offs))
                return 5;
            if (pd_txn_commit_async(t, offs))
                return 6;
            /* As the loop would: wait on the descriptor, not on the broker. */
            int rc = 0;
            for (;;) {
                struct pollfd pf = {pd_txn_fd(t), POLLIN, 0};
                poll(&pf, 1, 1000);
                if (pd_txn_result(t, &rc) == 0)
                    break;
            }
            if (rc == PD_EAGAIN) {
                /* Aborted: back to the committed offsets. */
                rd_kafka_topic_partition_list_t *parts = NULL;
                if (!rd_kafka_assignment(c, &parts) && parts) {
                    rd_kafka_committed(c, parts, 10000);
                    for (int i = 0; i < parts->cnt; i++)
                        if (parts->elems[i].offset < 0)
                            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
                    rd_kafka_error_t *se = rd_kafka_seek_partitions(c, parts, 10000);
                    if (se)
                        rd_kafka_error_destroy(se);
                    rd_kafka_topic_partition_list_destroy(parts);
                }
                memset(eof, 0, sizeof(eof));
            } else if (rc) {
                return 7;
            }
            uncommitted = 0;
        } else if (!uncommitted && all_eof) {
            break;
        }
    }
    pd_txn_destroy(t);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    return 0;
}

static void test_eos_kill9(void **state)
{
    (void)state;
    const char *b = pd_ktest_bootstrap();
    if (!b) {
        fprintf(stderr, "SKIP: no broker (PD_KAFKA_BOOTSTRAP)\n");
        skip();
    }
    snprintf(g_boot, sizeof(g_boot), "%s", b);
    pd_ktest_unique(g_in, sizeof(g_in), "eos-in");
    pd_ktest_unique(g_out, sizeof(g_out), "eos-out");
    pd_ktest_unique(g_group, sizeof(g_group), "eos-group");
    pd_ktest_unique(g_txid, sizeof(g_txid), "eos-tx");
    rd_kafka_t *adm = mk(RD_KAFKA_PRODUCER, NULL);
    assert_int_equal(pd_ktest_create_topic(adm, g_in, N_PARTS, 30000), 0);
    assert_int_equal(pd_ktest_create_topic(adm, g_out, 1, 30000), 0);
    for (int i = 0; i < N_IN; i++) {
        char k[32], v[32];
        int kn = snprintf(k, sizeof(k), "k%d", i), vn = snprintf(v, sizeof(v), "v%d", i);
        while (rd_kafka_producev(adm, RD_KAFKA_V_TOPIC(g_in), RD_KAFKA_V_KEY(k, (size_t)kn),
                                 RD_KAFKA_V_VALUE(v, (size_t)vn),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(adm, 10);
    }
    assert_int_equal(rd_kafka_flush(adm, 30000), 0);
    rd_kafka_destroy(adm);

    /* Runs killed with SIGKILL after a random while, then one to the end. */
    uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
    int kills = 0;
    for (int run = 0; run < 5; run++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(child_main());
        int status = 0;
        if (run < 4) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            usleep((useconds_t)(1500000 + x % 3000000));
            if (waitpid(pid, &status, WNOHANG) == 0) {
                kill(pid, SIGKILL);
                kills++;
            }
            waitpid(pid, &status, 0);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                break; /* finished before the kill */
        } else {
            waitpid(pid, &status, 0);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
    }
    fprintf(stderr, "eos: %d kills\n", kills);

    /* The committed output: every input exactly once. */
    const char *rkv[] = {"group.id",
                         g_group,
                         "isolation.level",
                         "read_committed",
                         "enable.partition.eof",
                         "true",
                         "enable.auto.commit",
                         "false",
                         NULL};
    rd_kafka_t *r = mk(RD_KAFKA_CONSUMER, rkv);
    rd_kafka_topic_partition_list_t *as = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(as, g_out, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(r, as), 0);
    rd_kafka_topic_partition_list_destroy(as);
    static unsigned char seen[N_PARTS][N_IN];
    memset(seen, 0, sizeof(seen));
    int total = 0, dups = 0;
    for (int idle = 0; idle < 100;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r, 200);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (!m->err) {
            int pp = -1;
            long long oo = -1;
            char v[64];
            snprintf(v, sizeof(v), "%.*s", (int)m->len, (const char *)m->payload);
            if (sscanf(v, "p%d-o%lld", &pp, &oo) == 2 && pp >= 0 && pp < N_PARTS && oo >= 0 &&
                oo < N_IN) {
                if (seen[pp][oo]++)
                    dups++;
                total++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(r);
    rd_kafka_destroy(r);
    fprintf(stderr, "eos: %d committed outputs, %d duplicates\n", total, dups);
    assert_int_equal(dups, 0);
    assert_int_equal(total, N_IN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_eos_kill9)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
