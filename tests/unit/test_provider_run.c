/* The daemon wiring end to end: `postured demo` (pd_app on the in-process mock cluster, the
 * same wiring as `postured run`) serves the status API on POSTURED_HTTP_LISTEN with the token
 * from POSTURED_HTTP_TOKEN_ENV while it processes: /healthz, /v1/goals (token enforced),
 * /metrics with the events-in, latency and goal series, and SIGHUP reloads without stopping it. */
#include "pd_test.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "run-test-token-31337"

typedef struct {
    int code;
    char *body;
    size_t len;
    struct event_base *base;
} resp;

static void on_response(struct evhttp_request *req, void *arg)
{
    resp *r = arg;
    r->code = req ? evhttp_request_get_response_code(req) : -1;
    if (req && r->code > 0) {
        struct evbuffer *b = evhttp_request_get_input_buffer(req);
        r->len = evbuffer_get_length(b);
        r->body = malloc(r->len + 1);
        evbuffer_remove(b, r->body, r->len);
        r->body[r->len] = '\0';
    }
    event_base_loopbreak(r->base);
}

static resp get(struct event_base *base, uint16_t port, const char *path, bool auth)
{
    resp r = {-1, NULL, 0, base};
    struct evhttp_connection *conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", port);
    assert_non_null(conn);
    evhttp_connection_set_timeout(conn, 20);
    struct evhttp_request *req = evhttp_request_new(on_response, &r);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    if (auth)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", "Bearer " TOKEN);
    if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, path) == 0)
        event_base_dispatch(base);
    evhttp_connection_free(conn);
    return r;
}

static uint16_t free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t l = sizeof(a);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_demo_serves(void **state)
{
    (void)state;
    const char *bin = getenv("PD_BIN");
    if (!bin)
        skip();
    uint16_t port = free_port();
    char listen[64], logpath[] = "/tmp/pd_run_log_XXXXXX";
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    int lfd = mkstemp(logpath);
    assert_true(lfd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("POSTURED_HTTP_LISTEN", listen, 1);
        setenv("POSTURED_HTTP_TOKEN_ENV", "PD_RUN_TEST_TOKEN", 1);
        setenv("PD_RUN_TEST_TOKEN", TOKEN, 1);
        dup2(lfd, 2);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        execl(bin, bin, "demo", "--servers", "800", "--days", "28", (char *)NULL);
        _exit(127);
    }
    struct event_base *base = event_base_new();
    /* wait for the server (the demo starts it before consuming) */
    resp r = {-1, NULL, 0, base};
    for (int i = 0; i < 200 && r.code != 200; i++) {
        free(r.body);
        r = get(base, port, "/healthz", false);
        if (r.code != 200)
            usleep(50000);
    }
    assert_int_equal(r.code, 200);
    free(r.body);

    /* SIGHUP while it runs (early: the demo is still consuming): the reload is logged */
    kill(pid, SIGHUP);

    r = get(base, port, "/v1/goals", false);
    assert_int_equal(r.code, 401);
    free(r.body);
    r = get(base, port, "/v1/goals", true);
    assert_int_equal(r.code, 200);
    json_error_t err;
    json_t *j = json_loadb(r.body, r.len, 0, &err);
    assert_non_null(j);
    json_t *goals = json_object_get(j, "goals");
    assert_true(json_array_size(goals) > 0);
    assert_true(json_is_string(json_object_get(json_array_get(goals, 0), "id")));
    json_decref(j);
    free(r.body);

    /* metrics fed by the runtime wiring: wait until some messages were processed */
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        r = get(base, port, "/metrics", true);
        if (r.code != 200) {
            free(r.body);
            break; /* the demo may have finished */
        }
        const char *p = strstr(r.body, "\npostured_processing_latency_seconds_count ");
        seen = p && strtod(p + strlen("\npostured_processing_latency_seconds_count "), NULL) > 0 &&
               strstr(r.body, "\npostured_events_in_total{") &&
               strstr(r.body, "\npostured_goal_value{");
        free(r.body);
        if (!seen)
            usleep(50000);
    }
    assert_true(seen);

    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    size_t n = 0;
    char *log = pd_test_read_file(logpath, &n);
    assert_non_null(log);
    if (!strstr(log, "\"configuration reloaded\""))
        fail_msg("no reload in the log:\n%s", log);
    assert_null(strstr(log, TOKEN));
    free(log);
    close(lfd);
    unlink(logpath);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_demo_serves)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
