/* Webhook sinks against a local HTTP and HTTPS receiver (libevent evhttp in this process,
 * TLS with a CA and server certificate made by the test with the openssl CLI). The
 * receiver records every request and answers from a script. */
#include "pd_test.h"
#include "test_sink_fixtures.h"

#include "pd_time.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXREQ 64

typedef struct rx_req {
    char *path, *auth, *ctype, *body;
    int64_t at_ms;
} rx_req;

typedef struct rx {
    struct event_base *base;
    struct evhttp *http;
    int port;
    SSL_CTX *ssl;   /* HTTPS when set */
    int script[16]; /* status per request; 0 = 200 */
    const char *retry_after[16];
    int nscript;
    rx_req reqs[MAXREQ];
    int n;
} rx;

static char tls_dir[128];
static bool have_tls;

static void rx_cb(struct evhttp_request *req, void *arg)
{
    rx *r = arg;
    if (r->n < MAXREQ) {
        rx_req *q = &r->reqs[r->n];
        struct evkeyvalq *h = evhttp_request_get_input_headers(req);
        const char *a = evhttp_find_header(h, "Authorization");
        const char *c = evhttp_find_header(h, "Content-Type");
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        q->path = strdup(evhttp_request_get_uri(req));
        q->auth = a ? strdup(a) : NULL;
        q->ctype = c ? strdup(c) : NULL;
        q->body = calloc(1, len + 1);
        evbuffer_remove(in, q->body, len);
        q->at_ms = pd_monotonic_ms();
    }
    int i = r->n++;
    int code = i < r->nscript && r->script[i] ? r->script[i] : 200;
    if (i < r->nscript && r->retry_after[i])
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", r->retry_after[i]);
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "{\"code\":%d}", code);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Scripted", out);
    evbuffer_free(out);
}

static struct bufferevent *rx_bevcb(struct event_base *base, void *arg)
{
    rx *r = arg;
    return bufferevent_openssl_socket_new(base, -1, SSL_new(r->ssl), BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static void rx_start(rx *r, struct event_base *base, bool tls)
{
    memset(r, 0, sizeof(*r));
    r->base = base;
    r->http = evhttp_new(base);
    assert_non_null(r->http);
    if (tls) {
        char crt[256], key[256];
        snprintf(crt, sizeof(crt), "%s/server.crt", tls_dir);
        snprintf(key, sizeof(key), "%s/server.key", tls_dir);
        r->ssl = SSL_CTX_new(TLS_server_method());
        assert_int_equal(SSL_CTX_use_certificate_chain_file(r->ssl, crt), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(r->ssl, key, SSL_FILETYPE_PEM), 1);
        evhttp_set_bevcb(r->http, rx_bevcb, r);
    }
    evhttp_set_gencb(r->http, rx_cb, r);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(r->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    r->port = ntohs(sa.sin_port);
}

static void rx_stop(rx *r)
{
    evhttp_free(r->http);
    if (r->ssl)
        SSL_CTX_free(r->ssl);
    for (int i = 0; i < r->n && i < MAXREQ; i++) {
        free(r->reqs[i].path);
        free(r->reqs[i].auth);
        free(r->reqs[i].ctype);
        free(r->reqs[i].body);
    }
}

static json_t *rx_json(rx *r, int i)
{
    assert_true(i < r->n);
    json_error_t err;
    json_t *j = json_loads(r->reqs[i].body, 0, &err);
    if (!j)
        fail_msg("request %d body is not JSON: %s\n%s", i, err.text, r->reqs[i].body);
    return j;
}

static json_t *jpath(json_t *j, const char *p)
{
    char key[64];
    while (j && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        if (json_is_array(j))
            j = json_array_get(j, (size_t)atoi(key));
        else
            j = json_object_get(j, key);
        p += n + (dot ? 1 : 0);
    }
    return j;
}

static const char *jstr(json_t *j, const char *p)
{
    const char *s = json_string_value(jpath(j, p));
    if (!s)
        fail_msg("no string at %s", p);
    return s;
}

typedef struct deadlog {
    int n;
    char reason[256];
    char key[40];
    int attempts;
    char payload[4096];
} deadlog;

static void on_dead(void *ctx, const pd_sink_dead *d)
{
    deadlog *l = ctx;
    l->n++;
    snprintf(l->reason, sizeof(l->reason), "%s", d->reason);
    snprintf(l->key, sizeof(l->key), "%s", d->key);
    snprintf(l->payload, sizeof(l->payload), "%.*s", (int)d->len, (const char *)d->payload);
    l->attempts = d->attempts;
}

typedef struct wt {
    struct event_base *base;
    rx r;
    deadlog dl;
    pd_sink_env env;
    pd_sink_set *set;
    pd_ydoc *doc;
} wt;

/* One webhook sink; yaml is the sink map with %d for the receiver's port. */
static void wt_open(wt *t, bool tls, const char *fmt, ...)
{
    memset(t, 0, sizeof(*t));
    t->base = event_base_new();
    rx_start(&t->r, t->base, tls);
    char sink[2048], yaml[2100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sink, sizeof(sink), fmt, ap);
    va_end(ap);
    snprintf(yaml, sizeof(yaml), "- %s\n", sink);
    t->env = (pd_sink_env){.base = t->base, .dead = on_dead, .dead_ctx = &t->dl};
    pd_diag diag;
    assert_int_equal(pd_yaml_load_buf("<wh>", yaml, strlen(yaml), &t->doc, &diag), 0);
    int rc = pd_sink_set_load(&t->env, t->doc, pd_yaml_root(t->doc), &t->set, &diag);
    if (rc)
        fail_msg("%s", diag.msg);
}

static void wt_close(wt *t)
{
    pd_sink_set_destroy(t->set);
    pd_yaml_free(t->doc);
    rx_stop(&t->r);
    event_base_free(t->base);
}

static pd_sink_stats wt_stats(wt *t)
{
    pd_sink_stats st;
    pd_sink_get_stats(pd_sink_set_get(t->set, 0), &st);
    return st;
}

/* Reopens t's set with a sink text that needs the port (two %d are both the port). */
static void wt_reload(wt *t, const char *fmt)
{
    char sink[2048], yaml[2100];
    snprintf(sink, sizeof(sink), fmt, t->r.port, t->r.port);
    snprintf(yaml, sizeof(yaml), "- %s\n", sink);
    pd_sink_set_destroy(t->set);
    pd_yaml_free(t->doc);
    pd_diag diag;
    assert_int_equal(pd_yaml_load_buf("<wh>", yaml, strlen(yaml), &t->doc, &diag), 0);
    int rc = pd_sink_set_load(&t->env, t->doc, pd_yaml_root(t->doc), &t->set, &diag);
    if (rc)
        fail_msg("%s", diag.msg);
}

/* ---- presets ---- */

static void test_slack(void **state)
{
    PD_UNUSED(state);
    wt t;
    wt_open(&t, false, "{type: stdout}");
    /* the URL of a Slack webhook is a secret: it comes from the environment */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/services/T0/B0/xyz", t.r.port);
    setenv("PD_TEST_SLACK_URL", url, 1);
    wt_reload(&t, "{type: webhook, preset: slack, url_env: PD_TEST_SLACK_URL}");

    pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    s.resources = &fx_res[2]; /* a name with quotes */
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 1);
    assert_string_equal(t.r.reqs[0].path, "/services/T0/B0/xyz");
    assert_string_equal(t.r.reqs[0].ctype, "application/json");
    json_t *j = rx_json(&t.r, 0);
    /* Slack: "text" (required fallback) and "blocks" of section/context blocks */
    assert_non_null(strstr(jstr(j, "text"), "control.regressed"));
    assert_non_null(strstr(jstr(j, "text"), "db-\"quoted\""));
    assert_true(json_array_size(jpath(j, "blocks")) >= 2);
    assert_string_equal(jstr(j, "blocks.0.type"), "section");
    assert_string_equal(jstr(j, "blocks.0.text.type"), "mrkdwn");
    assert_true(json_array_size(jpath(j, "blocks.1.fields")) >= 3);
    json_decref(j);
    pd_sink_stats st = wt_stats(&t);
    assert_int_equal(st.delivered, 1);
    wt_close(&t);
    unsetenv("PD_TEST_SLACK_URL");
}

static void test_teams(void **state)
{
    PD_UNUSED(state);
    wt t;
    wt_open(&t, false, "{type: stdout}");
    wt_reload(&t, "{type: webhook, preset: teams, url: 'http://127.0.0.1:%d/workflows/abc'}");
    pd_signal s = fx_breach("lateral-spread", PD_SEV_CRITICAL);
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 1);
    json_t *j = rx_json(&t.r, 0);
    /* Teams workflow: a message with one Adaptive Card attachment */
    assert_string_equal(jstr(j, "type"), "message");
    assert_string_equal(jstr(j, "attachments.0.contentType"),
                        "application/vnd.microsoft.card.adaptive");
    assert_string_equal(jstr(j, "attachments.0.content.type"), "AdaptiveCard");
    assert_non_null(jpath(j, "attachments.0.content.version"));
    assert_non_null(jpath(j, "attachments.0.content.$schema"));
    json_t *body = jpath(j, "attachments.0.content.body");
    assert_true(json_array_size(body) >= 2);
    assert_string_equal(jstr(j, "attachments.0.content.body.0.type"), "TextBlock");
    assert_string_equal(jstr(j, "attachments.0.content.body.0.text"), s.type);
    assert_string_equal(jstr(j, "attachments.0.content.body.2.type"), "FactSet");
    json_t *facts = jpath(j, "attachments.0.content.body.2.facts");
    bool saw_id = false;
    for (size_t i = 0; i < json_array_size(facts); i++)
        if (!strcmp(jstr(json_array_get(facts, i), "title"), "Id"))
            saw_id = !strcmp(jstr(json_array_get(facts, i), "value"), s.id);
    assert_true(saw_id);
    json_decref(j);
    wt_close(&t);
}

static void wt_open_port(wt *t, bool tls, const char *fmt)
{
    wt_open(t, tls, "{type: stdout}");
    wt_reload(t, fmt);
}

static void test_pagerduty(void **state)
{
    PD_UNUSED(state);
    setenv("PD_TEST_PD_KEY", "R0UT1NGKEY0000000000000000000000", 1);
    wt t;
    wt_open_port(&t, false,
                 "{type: webhook, preset: pagerduty, url: 'http://127.0.0.1:%d/v2/enqueue', "
                 "token_env: PD_TEST_PD_KEY}");
    pd_signal b = fx_drift("goal.breached", PD_SEV_CRITICAL, "edr-prod");
    pd_signal other = fx_drift("goal.breached", PD_SEV_MEDIUM, "va-coverage");
    pd_signal r = fx_drift("goal.restored", PD_SEV_CRITICAL, "edr-prod");
    assert_string_not_equal(b.id, r.id);
    assert_int_equal(pd_sink_set_signal(t.set, &b), 0);
    assert_int_equal(pd_sink_set_signal(t.set, &other), 0);
    assert_int_equal(pd_sink_set_signal(t.set, &r), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 3);
    assert_string_equal(t.r.reqs[0].path, "/v2/enqueue");
    json_t *j = rx_json(&t.r, 0);
    /* Events API v2 trigger: routing_key, event_action, dedup_key, payload.{summary,source,
     * severity} required; severity one of critical, error, warning, info */
    assert_string_equal(jstr(j, "routing_key"), "R0UT1NGKEY0000000000000000000000");
    assert_string_equal(jstr(j, "event_action"), "trigger");
    assert_string_equal(jstr(j, "dedup_key"), b.id);
    assert_true(strlen(jstr(j, "payload.summary")) > 0);
    assert_true(strlen(jstr(j, "payload.summary")) <= 1024);
    assert_true(strlen(jstr(j, "payload.source")) > 0);
    assert_string_equal(jstr(j, "payload.severity"), "critical");
    int64_t ts;
    assert_int_equal(pd_time_parse(pd_str_c(jstr(j, "payload.timestamp")), &ts), 0);
    assert_int_equal(ts, b.time_ms);
    assert_string_equal(jstr(j, "payload.custom_details.id"), b.id);
    json_decref(j);
    j = rx_json(&t.r, 1);
    assert_string_equal(jstr(j, "payload.severity"), "warning");
    json_decref(j);
    /* goal.restored resolves the goal.breached of the same goal */
    j = rx_json(&t.r, 2);
    assert_string_equal(jstr(j, "event_action"), "resolve");
    assert_string_equal(jstr(j, "dedup_key"), b.id);
    assert_string_equal(jstr(j, "routing_key"), "R0UT1NGKEY0000000000000000000000");
    json_decref(j);
    wt_close(&t);

    /* receiver down: the dead letter never carries the routing key */
    wt_open_port(&t, false, "{type: stdout}");
    int port = t.r.port;
    evhttp_free(t.r.http);
    t.r.http = evhttp_new(t.base);
    char fmt[256];
    snprintf(fmt, sizeof(fmt),
             "{type: webhook, preset: pagerduty, url: 'http://127.0.0.1:%d/v2/enqueue', "
             "token_env: PD_TEST_PD_KEY, retries: 0}",
             port);
    wt_reload(&t, fmt);
    assert_int_equal(pd_sink_set_signal(t.set, &b), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.dl.n, 1);
    assert_null(strstr(t.dl.payload, "R0UT1NGKEY"));
    j = json_loads(t.dl.payload, 0, NULL);
    assert_non_null(j);
    assert_string_equal(jstr(j, "routing_key"), "[redacted]");
    assert_string_equal(jstr(j, "dedup_key"), b.id);
    json_decref(j);
    wt_close(&t);
    unsetenv("PD_TEST_PD_KEY");
}

static void test_splunk(void **state)
{
    PD_UNUSED(state);
    setenv("PD_TEST_HEC", "11111111-2222-3333-4444-555555555555", 1);
    wt t;
    wt_open_port(&t, false,
                 "{type: webhook, preset: splunk, format: ocsf, index: security, "
                 "url: 'http://127.0.0.1:%d/services/collector/event', token_env: PD_TEST_HEC}");
    pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 1);
    assert_string_equal(t.r.reqs[0].auth, "Splunk 11111111-2222-3333-4444-555555555555");
    assert_string_equal(t.r.reqs[0].path, "/services/collector/event");
    json_t *j = rx_json(&t.r, 0);
    /* HEC event: "event" required; time in epoch seconds; sourcetype/index/source/host */
    assert_true(json_is_number(jpath(j, "time")));
    assert_true(fabs(json_number_value(jpath(j, "time")) - s.time_ms / 1000.0) < 0.001);
    assert_string_equal(jstr(j, "sourcetype"), "ocsf:finding");
    assert_string_equal(jstr(j, "index"), "security");
    assert_true(json_is_object(jpath(j, "event")));
    assert_int_equal(json_integer_value(jpath(j, "event.class_uid")), 2003);
    assert_string_equal(jstr(j, "event.finding_info.uid"), s.id);
    json_decref(j);
    wt_close(&t);

    /* batches: several HEC events back to back in one POST, each delivered once */
    wt_open_port(&t, false,
                 "{type: webhook, preset: splunk, batch: 3, "
                 "url: 'http://127.0.0.1:%d/services/collector/event', token_env: PD_TEST_HEC}");
    const char *goals[5] = {"g0", "g1", "g2", "g3", "g4"};
    pd_signal sigs[5];
    for (int i = 0; i < 5; i++) {
        sigs[i] = fx_drift("goal.breached", PD_SEV_HIGH, goals[i]);
        assert_int_equal(pd_sink_set_signal(t.set, &sigs[i]), 0);
    }
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 2);
    int seen = 0;
    for (int r = 0; r < 2; r++) {
        const char *p = t.r.reqs[r].body;
        int in_req = 0;
        while (*p) {
            json_error_t err;
            json_t *e = json_loads(p, JSON_DISABLE_EOF_CHECK, &err);
            assert_non_null(e);
            assert_string_equal(jstr(e, "event.id"), sigs[seen].id);
            assert_string_equal(jstr(e, "sourcetype"), "postured:signal");
            json_decref(e);
            p += err.position;
            while (*p == '\n' || *p == ' ')
                p++;
            seen++;
            in_req++;
        }
        assert_int_equal(in_req, r == 0 ? 3 : 2);
    }
    assert_int_equal(seen, 5);
    pd_sink_stats st = wt_stats(&t);
    assert_int_equal(st.delivered, 5);
    wt_close(&t);
    unsetenv("PD_TEST_HEC");
}

static void test_json_template(void **state)
{
    PD_UNUSED(state);
    wt t;
    wt_open_port(&t, false,
                 "{type: webhook, url: 'http://127.0.0.1:%d/hook', headers: {X-Team: secops}, "
                 "template: {text: '{{summary}}', goal: '{{goal.id}}', value: '{{goal.value}}', "
                 "met: '{{goal.met}}', note: 'id={{id}} on {{resource.name}}', fixed: 3, "
                 "list: ['{{severity}}', x], signal: '{{json}}'}}");
    pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 1);
    json_t *j = rx_json(&t.r, 0);
    assert_string_equal(jstr(j, "goal"), "edr-prod");
    assert_true(json_is_number(jpath(j, "value")));
    assert_true(fabs(json_number_value(jpath(j, "value")) - s.goal.value) < 1e-9);
    assert_true(json_is_false(jpath(j, "met")));
    char note[128];
    snprintf(note, sizeof(note), "id=%s on web-01", s.id);
    assert_string_equal(jstr(j, "note"), note);
    assert_int_equal(json_integer_value(jpath(j, "fixed")), 3);
    assert_string_equal(jstr(j, "list.0"), "high");
    assert_string_equal(jstr(j, "list.1"), "x");
    assert_string_equal(jstr(j, "signal.id"), s.id);
    assert_string_equal(jstr(j, "signal.goal.target"), ">= 98%");
    json_decref(j);
    wt_close(&t);

    /* an unknown field is a config error at its position */
    static const char bad[] = "- {type: webhook, url: 'http://h/', template: {a: '{{gaol.id}}'}}";
    pd_ydoc *doc;
    pd_diag diag;
    struct event_base *base = event_base_new();
    pd_sink_env env = {.base = base};
    pd_sink_set *set;
    assert_int_equal(pd_yaml_load_buf("<t>", bad, sizeof(bad) - 1, &doc, &diag), 0);
    assert_int_equal(pd_sink_set_load(&env, doc, pd_yaml_root(doc), &set, &diag), PD_ECONFIG);
    assert_non_null(strstr(diag.msg, "<t>:1:"));
    assert_non_null(strstr(diag.msg, "unknown template field 'gaol.id'"));
    pd_yaml_free(doc);
    event_base_free(base);
}

/* ---- delivery ---- */

static void test_retry_5xx_then_ok(void **state)
{
    PD_UNUSED(state);
    wt t;
    wt_open_port(&t, false,
                 "{type: webhook, url: 'http://127.0.0.1:%d/h', retries: 5, backoff: 20ms}");
    t.r.script[0] = 503;
    t.r.script[1] = 500;
    t.r.nscript = 2;
    pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 3);
    /* the same body every time; delivered once */
    assert_string_equal(t.r.reqs[0].body, t.r.reqs[2].body);
    pd_sink_stats st = wt_stats(&t);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.dead, 0);
    assert_int_equal(t.dl.n, 0);
    /* backoff: second wait at least the first (exponential with equal jitter: >= base/2) */
    assert_true(t.r.reqs[1].at_ms - t.r.reqs[0].at_ms >= 10);
    assert_true(t.r.reqs[2].at_ms - t.r.reqs[1].at_ms >= 20);
    wt_close(&t);
}

static void test_429_retry_after(void **state)
{
    PD_UNUSED(state);
    wt t;
    wt_open_port(&t, false,
                 "{type: webhook, url: 'http://127.0.0.1:%d/h', retries: 3, backoff: 10ms}");
    t.r.script[0] = 429;
    t.r.retry_after[0] = "1";
    t.r.nscript = 1;
    pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 2);
    int64_t waited = t.r.reqs[1].at_ms - t.r.reqs[0].at_ms;
    if (waited < 990) /* the backoff alone would be ~10 ms */
        fail_msg("Retry-After: 1 not honored: retried after %lld ms", (long long)waited);
    pd_sink_stats st = wt_stats(&t);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.retries, 1);
    wt_close(&t);
}

static void test_receiver_down_dead_letter(void **state)
{
    PD_UNUSED(state);
    wt t;
    /* a port that was bound and released: nobody listens */
    wt_open_port(&t, false, "{type: stdout}");
    int port = t.r.port;
    evhttp_free(t.r.http);
    t.r.http = evhttp_new(t.base);
    char yaml[256];
    snprintf(yaml, sizeof(yaml),
             "- {type: webhook, url: 'http://127.0.0.1:%d/h', retries: 2, backoff: 10ms, "
             "timeout: 2s}",
             port);
    pd_sink_set_destroy(t.set);
    pd_yaml_free(t.doc);
    pd_diag diag;
    assert_int_equal(pd_yaml_load_buf("<wh>", yaml, strlen(yaml), &t.doc, &diag), 0);
    assert_int_equal(pd_sink_set_load(&t.env, t.doc, pd_yaml_root(t.doc), &t.set, &diag), 0);
    pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.dl.n, 1);
    assert_int_equal(t.dl.attempts, 3); /* the first try and 2 retries */
    assert_string_equal(t.dl.key, s.id);
    assert_non_null(strstr(t.dl.reason, "after 3 attempts"));
    /* the dead letter carries the body that would have been sent */
    json_error_t err;
    json_t *j = json_loads(t.dl.payload, 0, &err);
    assert_non_null(j);
    assert_string_equal(jstr(j, "id"), s.id);
    json_decref(j);
    pd_sink_stats st = wt_stats(&t);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.delivered, 0);
    wt_close(&t);
}

static void test_timeout_and_queue_full(void **state)
{
    PD_UNUSED(state);
    /* a server that accepts connections (the kernel does) but never answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    wt t;
    wt_open_port(&t, false, "{type: stdout}");
    char fmt[256];
    snprintf(fmt, sizeof(fmt),
             "{type: webhook, url: 'http://127.0.0.1:%d/h', retries: 1, backoff: 10ms, "
             "timeout: 200ms, queue_size: 1}",
             ntohs(sa.sin_port));
    wt_reload(&t, fmt);
    pd_signal a = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    pd_signal b = fx_drift("control.regressed", PD_SEV_HIGH, "other");
    assert_int_equal(pd_sink_set_signal(t.set, &a), 0);
    /* the queue holds one: the second is dead-lettered at once, counted */
    assert_int_equal(pd_sink_set_signal(t.set, &b), 0);
    assert_int_equal(t.dl.n, 1);
    assert_string_equal(t.dl.reason, "queue full");
    assert_string_equal(t.dl.key, b.id);
    int64_t t0 = pd_monotonic_ms();
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    int64_t took = pd_monotonic_ms() - t0;
    assert_int_equal(t.dl.n, 2);
    assert_string_equal(t.dl.key, a.id);
    assert_string_equal(t.dl.reason, "timeout after 2 attempts");
    assert_true(took >= 2 * 200 - 20); /* two attempts, each waited for its timeout */
    pd_sink_stats st = wt_stats(&t);
    assert_int_equal(st.queue_full, 1);
    assert_int_equal(st.dead, 2);
    assert_int_equal(st.retries, 1);
    wt_close(&t);
    close(fd);
}

static void test_shutdown_in_flight(void **state)
{
    PD_UNUSED(state);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    wt t;
    wt_open_port(&t, false, "{type: stdout}");
    char fmt[256];
    snprintf(fmt, sizeof(fmt), "{type: webhook, url: 'http://127.0.0.1:%d/h', timeout: 10s}",
             ntohs(sa.sin_port));
    wt_reload(&t, fmt);
    pd_signal a = fx_drift("control.regressed", PD_SEV_HIGH, "a");
    pd_signal b = fx_drift("control.regressed", PD_SEV_HIGH, "b");
    assert_int_equal(pd_sink_set_signal(t.set, &a), 0);
    assert_int_equal(pd_sink_set_signal(t.set, &b), 0);
    /* a is in flight to a server that never answers; b waits behind it */
    assert_int_equal(pd_sink_set_drain(t.set, 100), PD_ETIMEOUT);
    assert_int_equal(wt_stats(&t).pending, 2);
    pd_sink_set_destroy(t.set);
    t.set = NULL;
    assert_int_equal(t.dl.n, 2); /* both dead-lettered, none lost silently */
    assert_string_equal(t.dl.reason, "shutdown before delivery");
    assert_string_equal(t.dl.key, b.id);
    wt_close(&t);
    close(fd);
}

/* A host name goes through evdns (and its hosts file), not the blocking resolver. */
static void test_hostname(void **state)
{
    PD_UNUSED(state);
    wt t;
    wt_open_port(&t, false, "{type: stdout}");
    /* localhost may resolve to ::1 first: listen there too when the system has IPv6 */
    bool v6 = evhttp_bind_socket(t.r.http, "::1", (unsigned short)t.r.port) == 0;
    wt_reload(&t, "{type: webhook, url: 'http://localhost:%d/named', retries: 2, backoff: 10ms}");
    pd_signal s = fx_drift("goal.breached", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    if (t.dl.n)
        fail_msg("dead letter: %s", t.dl.reason);
    assert_int_equal(t.r.n, 1);
    assert_string_equal(t.r.reqs[0].path, "/named");
    if (v6) { /* an IPv6 literal: the brackets are not part of the address */
        wt_reload(&t, "{type: webhook, url: 'http://[::1]:%d/v6', retries: 0}");
        assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
        assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
        if (t.dl.n)
            fail_msg("dead letter: %s", t.dl.reason);
        assert_int_equal(t.r.n, 2);
        assert_string_equal(t.r.reqs[1].path, "/v6");
    } else
        fprintf(stderr, "note: no IPv6 loopback, [::1] not tested\n");
    wt_close(&t);
}

static void test_4xx_no_retry(void **state)
{
    PD_UNUSED(state);
    setenv("PD_TEST_TOKEN", "s3cr3t-t0ken", 1);
    wt t;
    wt_open_port(&t, false,
                 "{type: webhook, url: 'http://127.0.0.1:%d/h', retries: 5, backoff: 10ms, "
                 "token_env: PD_TEST_TOKEN}");
    t.r.script[0] = 400;
    t.r.nscript = 1;
    pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 1);
    assert_string_equal(t.r.reqs[0].auth, "Bearer s3cr3t-t0ken");
    assert_int_equal(t.dl.n, 1);
    assert_string_equal(t.dl.reason, "http 400 after 1 attempt");
    assert_null(strstr(t.dl.reason, "s3cr3t"));
    wt_close(&t);
    unsetenv("PD_TEST_TOKEN");
}

static void test_https(void **state)
{
    PD_UNUSED(state);
    if (!have_tls)
        skip();
    char fmt[512];
    wt t;
    snprintf(fmt, sizeof(fmt),
             "{type: webhook, url: 'https://127.0.0.1:%%d/h', tls_ca: '%s/ca.crt', retries: 1, "
             "backoff: 10ms}",
             tls_dir);
    wt_open(&t, true, "{type: stdout}");
    wt_reload(&t, fmt);
    pd_signal s = fx_breach("lateral-spread", PD_SEV_HIGH);
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 1);
    assert_int_equal(t.dl.n, 0);
    json_t *j = rx_json(&t.r, 0);
    assert_string_equal(jstr(j, "id"), s.id);
    json_decref(j);
    wt_close(&t);

    /* verification is on by default: without the test CA the server is not trusted */
    wt_open(&t, true, "{type: stdout}");
    wt_reload(&t, "{type: webhook, url: 'https://127.0.0.1:%d/h', retries: 3, backoff: 10ms}");
    assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 0);
    assert_int_equal(t.dl.n, 1);
    assert_non_null(strstr(t.dl.reason, "certificate verify failed"));
    wt_close(&t);
}

static void test_rate_limit_digest_webhook(void **state)
{
    PD_UNUSED(state);
    wt t;
    wt_open_port(&t, false,
                 "{type: webhook, preset: slack, url: 'http://127.0.0.1:%d/s', rate_limit: 2, "
                 "rate_window: 300ms}");
    const int n = 9;
    for (int i = 0; i < n; i++) {
        pd_signal s = fx_drift("control.regressed", PD_SEV_HIGH, "edr-prod");
        assert_int_equal(pd_sink_set_signal(t.set, &s), 0);
    }
    /* the window closes on a timer; run the loop past it */
    struct timeval tv = {0, 600000};
    event_base_loopexit(t.base, &tv);
    event_base_dispatch(t.base);
    assert_int_equal(pd_sink_set_drain(t.set, 5000), 0);
    assert_int_equal(t.r.n, 3); /* 2 signals, then one digest */
    json_t *j = rx_json(&t.r, 2);
    char want[160];
    snprintf(want, sizeof(want), "%d more control.regressed for goal edr-prod in the last 300 ms",
             n - 2);
    assert_string_equal(jstr(j, "text"), want);
    json_decref(j);
    pd_sink_stats st = wt_stats(&t);
    assert_int_equal(st.digested, (uint64_t)(n - 2));
    assert_int_equal(st.digests, 1);
    assert_int_equal(st.delivered, 3);
    wt_close(&t);
}

static void test_config(void **state)
{
    PD_UNUSED(state);
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"- {type: webhook, preset: sms, url: 'http://h/'}", "unknown preset 'sms'"},
        {"- {type: webhook, url: 'ftp://h/'}", "scheme must be http or https"},
        {"- {type: webhook, preset: splunk, url: 'https://h/'}", "needs 'token_env'"},
        {"- {type: webhook, url_env: PD_TEST_NOT_SET_ANYWHERE}",
         "environment variable PD_TEST_NOT_SET_ANYWHERE is not set"},
        {"- {type: webhook, url: 'https://h/', tls_ca: /nonexistent/ca.pem}",
         "cannot load CA certificates"},
        {"- {type: webhook}", "needs 'url' or 'url_env'"},
        {"- {type: webhook, url: 'http://h/', retry: 3}", "unknown key 'retry'"},
        {"- {type: webhook, url: 'http://h/', headers: {\"X-A\": \"a\\r\\nX-B: b\"}}",
         "invalid header 'X-A'"},
        {"- {type: webhook, url: 'http://h/', preset: slack, batch: 5}",
         "batch is for the splunk preset only"},
    };
    struct event_base *base = event_base_new();
    for (size_t i = 0; i < PD_ARRAY_LEN(cases); i++) {
        pd_ydoc *doc;
        pd_diag diag;
        pd_sink_env env = {.base = base};
        pd_sink_set *set = NULL;
        if (pd_yaml_load_buf("<c>", cases[i].yaml, strlen(cases[i].yaml), &doc, &diag))
            fail_msg("case %zu: %s", i, diag.msg);
        assert_int_equal(pd_sink_set_load(&env, doc, pd_yaml_root(doc), &set, &diag), PD_ECONFIG);
        if (!strstr(diag.msg, cases[i].want) || strncmp(diag.msg, "<c>:1:", 6))
            fail_msg("case %zu: got '%s', want '%s'", i, diag.msg, cases[i].want);
        pd_yaml_free(doc);
    }
    /* validation: secrets may be absent and nothing is opened, but keys are still checked */
    {
        static const char ok[] = "- {type: webhook, preset: splunk, url_env: PD_TEST_UNSET_URL, "
                                 "token_env: PD_TEST_UNSET_TOKEN, tls_ca: /nonexistent.pem}\n"
                                 "- {type: file, path: /nonexistent/dir/out.jsonl}\n";
        static const char bad[] = "- {type: webhook, url_env: X, retires: 3}\n";
        pd_ydoc *d2;
        pd_diag dg;
        assert_int_equal(pd_yaml_load_buf("<v>", ok, sizeof(ok) - 1, &d2, &dg), 0);
        if (pd_sink_set_check(NULL, d2, pd_yaml_root(d2), &dg))
            fail_msg("%s", dg.msg);
        pd_yaml_free(d2);
        assert_int_equal(pd_yaml_load_buf("<v>", bad, sizeof(bad) - 1, &d2, &dg), 0);
        assert_int_equal(pd_sink_set_check(NULL, d2, pd_yaml_root(d2), &dg), PD_ECONFIG);
        assert_non_null(strstr(dg.msg, "<v>:1:31: unknown key 'retires'"));
        pd_yaml_free(d2);
    }
    /* without a loop, webhooks cannot run */
    pd_ydoc *doc;
    pd_diag diag;
    pd_sink_env env = {0};
    pd_sink_set *set = NULL;
    static const char y[] = "- {type: webhook, url: 'http://h/'}";
    assert_int_equal(pd_yaml_load_buf("<c>", y, sizeof(y) - 1, &doc, &diag), 0);
    assert_int_equal(pd_sink_set_load(&env, doc, pd_yaml_root(doc), &set, &diag), PD_ECONFIG);
    pd_yaml_free(doc);
    event_base_free(base);
}

static int make_tls(void **state)
{
    PD_UNUSED(state);
    snprintf(tls_dir, sizeof(tls_dir), "/tmp/pd_test_tls_%d_XXXXXX", (int)getpid());
    if (!mkdtemp(tls_dir))
        return -1;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
             "-subj '/CN=postured test CA' >/dev/null 2>&1 && "
             "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
             "-subj '/CN=127.0.0.1' >/dev/null 2>&1 && "
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf && "
             "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
             "-out server.crt -days 2 -extfile ext.cnf >/dev/null 2>&1",
             tls_dir);
    have_tls = system(cmd) == 0;
    if (!have_tls)
        fprintf(stderr, "SKIP: openssl CLI could not make the test CA\n");
    return 0;
}

static int drop_tls(void **state)
{
    PD_UNUSED(state);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack),
        cmocka_unit_test(test_teams),
        cmocka_unit_test(test_pagerduty),
        cmocka_unit_test(test_splunk),
        cmocka_unit_test(test_json_template),
        cmocka_unit_test(test_retry_5xx_then_ok),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_receiver_down_dead_letter),
        cmocka_unit_test(test_timeout_and_queue_full),
        cmocka_unit_test(test_shutdown_in_flight),
        cmocka_unit_test(test_hostname),
        cmocka_unit_test(test_4xx_no_retry),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_rate_limit_digest_webhook),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, make_tls, drop_tls);
}
