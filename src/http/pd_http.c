#include "pd_http.h"
#include "pd_config.h"
#include "pd_log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define PD_HTTP_MAX_BODY    4096
#define PD_HTTP_MAX_HEADERS 16384
#define PD_HTTP_TIMEOUT_S   30

#define CT_JSON "application/json; charset=utf-8"

enum { CLASS_2XX, CLASS_3XX, CLASS_4XX, CLASS_5XX, NCLASS };

struct pd_http {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct event *sighup;
    pd_http_provider prov;
    pd_metrics *metrics;
    char *token;
    size_t token_len;
    char *cookie; /* Set-Cookie value carrying the token, NULL when it cannot */
    uint16_t port;
    bool reloading;
    pd_buf body; /* reused by every request */
    pd_counter *req[NCLASS];
    pd_counter *reload_ok, *reload_err;
};

int pd_http_parse_listen(const char *listen, char *host, size_t hostcap, uint16_t *port)
{
    if (!listen || !host || hostcap < 2 || !port)
        return PD_EINVAL;
    const char *colon;
    size_t hl;
    const char *hs = listen;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return PD_EINVAL;
        hs = listen + 1;
        hl = (size_t)(close - hs);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
            return PD_EINVAL; /* IPv6 needs brackets */
        hl = (size_t)(colon - listen);
    }
    char *end;
    if (!colon[1])
        return PD_EINVAL;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end || p > 65535 || colon[1] < '0' || colon[1] > '9')
        return PD_EINVAL;
    if (hl == 0) {
        hs = "0.0.0.0";
        hl = 7;
    }
    if (hl >= hostcap)
        return PD_EINVAL;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}

int pd_http_config_from(const struct pd_config *cfg, pd_http_config *out, struct pd_diag *diag)
{
    if (!cfg || !out)
        return PD_EINVAL;
    memset(out, 0, sizeof(*out));
    out->listen = cfg->http_listen;
    if (cfg->http_token_env && *cfg->http_token_env) {
        const char *t = getenv(cfg->http_token_env);
        if (!t || !*t) {
            if (diag)
                snprintf(diag->msg, sizeof(diag->msg),
                         "http.token_env: environment variable %s is unset or empty",
                         cfg->http_token_env);
            return PD_ECONFIG;
        }
        out->token = t;
    }
    return 0;
}

/* ---- responses ---- */

static const char *reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 422:
        return "Unprocessable Entity";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return code < 500 ? "Error" : "Internal Server Error";
    }
}

static void count(pd_http *h, int code)
{
    int c = code < 300 ? CLASS_2XX : code < 400 ? CLASS_3XX : code < 500 ? CLASS_4XX : CLASS_5XX;
    if (h->req[c])
        pd_counter_inc(h->req[c]);
}

static void send_data(pd_http *h, struct evhttp_request *req, int code, const char *ctype,
                      const void *data, size_t len, bool by_ref)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Content-Type", ctype);
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(hdr, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    struct evbuffer *ob = evhttp_request_get_output_buffer(req);
    if (by_ref)
        evbuffer_add_reference(ob, data, len, NULL, NULL);
    else
        evbuffer_add(ob, data, len);
    count(h, code);
    evhttp_send_reply(req, code, reason(code), NULL);
}

static void send_json(pd_http *h, struct evhttp_request *req, int code, pd_buf *b)
{
    send_data(h, req, code, CT_JSON, b->p ? b->p : "", b->len, false);
}

static void send_error(pd_http *h, struct evhttp_request *req, int code, const char *msg)
{
    pd_buf_reset(&h->body);
    pd_buf_puts(&h->body, "{\"error\":");
    pd_buf_json_str(&h->body, msg, strlen(msg));
    pd_buf_puts(&h->body, "}");
    send_json(h, req, code, &h->body);
}

/* Maps a provider's return code to a response. */
static void send_provider(pd_http *h, struct evhttp_request *req, int rc, const char *what)
{
    if (h->body.oom) {
        send_error(h, req, 500, "out of memory");
        return;
    }
    switch (rc) {
    case 0:
        if (h->body.len == 0)
            send_error(h, req, 500, "the provider returned nothing");
        else
            send_json(h, req, 200, &h->body);
        return;
    case PD_ENOTFOUND:
        if (h->body.len == 0) {
            char msg[128];
            snprintf(msg, sizeof(msg), "no such %s", what);
            send_error(h, req, 404, msg);
        } else {
            send_json(h, req, 404, &h->body);
        }
        return;
    case PD_EAGAIN:
        if (h->body.len == 0)
            send_error(h, req, 503, "not ready");
        else
            send_json(h, req, 503, &h->body);
        return;
    case PD_ECONFIG:
    case PD_EINVAL:
        if (h->body.len == 0)
            send_error(h, req, 422, pd_strerror(rc));
        else
            send_json(h, req, 422, &h->body);
        return;
    default:
        send_error(h, req, 500, pd_strerror(rc));
    }
}

/* ---- auth ---- */

static bool ct_equal(const char *a, size_t al, const char *b, size_t bl)
{
    /* constant time in the token's length: no early exit on the first mismatch */
    unsigned char d = (unsigned char)(al != bl);
    for (size_t i = 0; i < bl; i++)
        d |= (unsigned char)((i < al ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
    return d == 0;
}

enum { AUTH_NO = 0, AUTH_HEADER, AUTH_QUERY, AUTH_COOKIE };

/* The pd_token cookie's value in a Cookie header, or NULL; *n gets its length. */
static const char *cookie_token(const char *cookies, size_t *n)
{
    for (const char *p = cookies; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 9 && !strncmp(p, "pd_token=", 9)) {
            *n = len - 9;
            return p + 9;
        }
        p = end;
    }
    return NULL;
}

/* How the request proved it holds the token (AUTH_NO: it did not). The cookie, set when the
 * dashboard is opened with ?access_token=, lets the browser load the page's assets; it is
 * SameSite=Strict and never accepted for POST, so it cannot be used to trigger a reload. */
static int authorized(pd_http *h, struct evhttp_request *req, struct evkeyvalq *query)
{
    if (!h->token)
        return AUTH_HEADER;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(in, "Authorization");
    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7) != 0)
            return AUTH_NO;
        auth += 7;
        while (*auth == ' ')
            auth++;
        return ct_equal(auth, strlen(auth), h->token, h->token_len) ? AUTH_HEADER : AUTH_NO;
    }
    const char *qt = evhttp_find_header(query, "access_token");
    if (qt)
        return ct_equal(qt, strlen(qt), h->token, h->token_len) ? AUTH_QUERY : AUTH_NO;
    size_t cn = 0;
    const char *ck = cookie_token(evhttp_find_header(in, "Cookie"), &cn);
    if (ck && evhttp_request_get_command(req) != EVHTTP_REQ_POST)
        return ct_equal(ck, cn, h->token, h->token_len) ? AUTH_COOKIE : AUTH_NO;
    return AUTH_NO;
}

/* RFC 6265 cookie-octets only; other tokens work by header and query alone. */
static bool cookie_safe(const char *s)
{
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f || *s == '"' || *s == ',' || *s == ';' || *s == '\\')
            return false;
    return true;
}

/* ---- handlers ---- */

static bool parse_uint(const char *s, uint32_t *out)
{
    if (!s || !*s || strlen(s) > 9)
        return false;
    uint32_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint32_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* Decodes a path segment; NULL (400) when it is empty or hides a NUL. Caller frees. */
static char *decode_id(const char *raw)
{
    size_t n = 0;
    if (!raw || !*raw)
        return NULL;
    char *id = evhttp_uridecode(raw, 0, &n);
    if (id && (n == 0 || strlen(id) != n)) {
        free(id);
        return NULL;
    }
    return id;
}

static void handle_goal(pd_http *h, struct evhttp_request *req, const char *raw,
                        struct evkeyvalq *q)
{
    uint32_t offset = 0, limit = PD_HTTP_PAGE_DEFAULT;
    const char *o = evhttp_find_header(q, "offset"), *l = evhttp_find_header(q, "limit");
    if ((o && !parse_uint(o, &offset)) || (l && !parse_uint(l, &limit)) || limit == 0) {
        send_error(h, req, 400, "offset and limit are non-negative integers, limit >= 1");
        return;
    }
    if (limit > PD_HTTP_PAGE_MAX)
        limit = PD_HTTP_PAGE_MAX;
    char *id = decode_id(raw);
    if (!id) {
        send_error(h, req, 400, "bad goal id");
        return;
    }
    pd_buf_reset(&h->body);
    int rc = h->prov.goal(h->prov.ctx, id, offset, limit, &h->body);
    free(id);
    send_provider(h, req, rc, "goal");
}

static void handle_resource(pd_http *h, struct evhttp_request *req, const char *raw)
{
    char *id = decode_id(raw);
    if (!id) {
        send_error(h, req, 400, "bad resource id");
        return;
    }
    pd_buf_reset(&h->body);
    int rc = h->prov.resource(h->prov.ctx, id, &h->body);
    free(id);
    send_provider(h, req, rc, "resource");
}

int pd_http_reload(pd_http *h, const char *origin, pd_buf *out)
{
    if (!h || !out)
        return PD_EINVAL;
    if (!h->prov.reload)
        return PD_EUNSUPPORTED;
    if (h->reloading)
        return PD_EAGAIN;
    h->reloading = true;
    size_t mark = out->len;
    int rc = h->prov.reload(h->prov.ctx, out);
    h->reloading = false;
    pd_str result = {out->p ? out->p + mark : "", (uint32_t)(out->len - mark)};
    pd_log_field f[] = {PD_LF_STR("origin", origin ? origin : "api"), PD_LF_PSTR("result", result),
                        PD_LF_STR("code", pd_strerror(rc))};
    if (rc == 0) {
        if (h->reload_ok)
            pd_counter_inc(h->reload_ok);
        pd_log_fields(PD_LOG_INFO, "reload", "configuration reloaded", f, PD_ARRAY_LEN(f));
    } else {
        if (h->reload_err)
            pd_counter_inc(h->reload_err);
        pd_log_fields(PD_LOG_ERROR, "reload", "reload refused; the previous configuration stays", f,
                      PD_ARRAY_LEN(f));
    }
    return rc;
}

static void handle_reload(pd_http *h, struct evhttp_request *req)
{
    if (!h->token) {
        send_error(h, req, 403, "reload over HTTP needs a token (http.token_env); use SIGHUP");
        return;
    }
    if (!h->prov.reload) {
        send_error(h, req, 501, "reload is not available");
        return;
    }
    pd_buf_reset(&h->body);
    int rc = pd_http_reload(h, "http", &h->body);
    if (rc == 0 && h->body.len == 0)
        pd_buf_puts(&h->body, "{\"reloaded\":true}");
    send_provider(h, req, rc, "reload");
}

static const pd_http_asset *find_asset(const char *path)
{
    if (!strcmp(path, "/index.html"))
        path = "/";
    for (size_t i = 0; i < pd_http_nassets; i++)
        if (!strcmp(pd_http_assets[i].path, path))
            return &pd_http_assets[i];
    return NULL;
}

static void method_not_allowed(pd_http *h, struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    send_error(h, req, 405, "method not allowed");
}

static void on_request(struct evhttp_request *req, void *arg)
{
    pd_http *h = arg;
    struct evkeyvalq query;
    query.tqh_first = NULL; /* TAILQ_INIT without sys/queue.h */
    query.tqh_last = &query.tqh_first;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!path || !*path)
        path = "/";
    if (qs && evhttp_parse_query_str(qs, &query) != 0) {
        send_error(h, req, 400, "bad query string");
        goto cleanup;
    }
    bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    pd_log_debug("http", "%s %s", cmd == EVHTTP_REQ_POST ? "POST" : get ? "GET" : "other", path);

    if (!strcmp(path, "/healthz")) {
        if (!get) {
            method_not_allowed(h, req, "GET, HEAD");
            goto cleanup;
        }
        static const char ok[] = "{\"status\":\"ok\"}";
        send_data(h, req, 200, CT_JSON, ok, sizeof(ok) - 1, true);
        goto cleanup;
    }
    int auth = authorized(h, req, &query);
    if (auth == AUTH_NO) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"postured\"");
        send_error(h, req, 401, "a valid bearer token is required");
        goto cleanup;
    }
    if (auth == AUTH_QUERY && h->cookie) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", h->cookie);
    }
    if (!strcmp(path, "/v1/reload")) {
        if (cmd != EVHTTP_REQ_POST)
            method_not_allowed(h, req, "POST");
        else
            handle_reload(h, req);
        goto cleanup;
    }
    if (!get) {
        method_not_allowed(h, req, "GET, HEAD");
        goto cleanup;
    }
    if (!strcmp(path, "/readyz")) {
        pd_buf_reset(&h->body);
        int rc = 0;
        if (h->prov.ready)
            rc = h->prov.ready(h->prov.ctx, &h->body);
        if (h->body.len == 0)
            pd_buf_puts(&h->body, rc == 0 ? "{\"ready\":true}" : "{\"ready\":false}");
        send_json(h, req, rc == 0 ? 200 : 503, &h->body);
    } else if (!strcmp(path, "/metrics")) {
        pd_buf_reset(&h->body);
        if (h->metrics && pd_metrics_render(h->metrics, &h->body) != 0)
            send_error(h, req, 500, "out of memory");
        else
            send_data(h, req, 200, PD_METRICS_CONTENT_TYPE, h->body.p ? h->body.p : "", h->body.len,
                      false);
    } else if (!strcmp(path, "/v1/goals") || !strcmp(path, "/v1/goals/")) {
        if (!h->prov.goals) {
            send_error(h, req, 501, "goals are not available");
            goto cleanup;
        }
        pd_buf_reset(&h->body);
        send_provider(h, req, h->prov.goals(h->prov.ctx, &h->body), "goals");
    } else if (!strncmp(path, "/v1/goals/", 10)) {
        if (!h->prov.goal)
            send_error(h, req, 501, "goals are not available");
        else
            handle_goal(h, req, path + 10, &query);
    } else if (!strncmp(path, "/v1/resources/", 14)) {
        if (!h->prov.resource)
            send_error(h, req, 501, "resources are not available");
        else
            handle_resource(h, req, path + 14);
    } else if (!strcmp(path, "/v1/signals")) {
        uint32_t limit = PD_HTTP_PAGE_DEFAULT;
        const char *l = evhttp_find_header(&query, "limit");
        if (l && (!parse_uint(l, &limit) || limit == 0)) {
            send_error(h, req, 400, "limit is an integer >= 1");
            goto cleanup;
        }
        if (!h->prov.signals) {
            send_error(h, req, 501, "signals are not available");
            goto cleanup;
        }
        pd_buf_reset(&h->body);
        send_provider(h, req,
                      h->prov.signals(h->prov.ctx, PD_MIN(limit, PD_HTTP_PAGE_MAX), &h->body),
                      "signals");
    } else {
        const pd_http_asset *a = find_asset(path);
        if (a)
            send_data(h, req, 200, a->content_type, a->data, a->len, true);
        else
            send_error(h, req, 404, "not found");
    }
cleanup:
    evhttp_clear_headers(&query);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    pd_http *h = arg;
    pd_buf out;
    pd_buf_init(&out);
    pd_http_reload(h, "SIGHUP", &out); /* logged and counted there */
    pd_buf_free(&out);
}

int pd_http_watch_sighup(pd_http *h)
{
    if (!h)
        return PD_EINVAL;
    if (h->sighup)
        return 0;
    h->sighup = evsignal_new(h->base, SIGHUP, on_sighup, h);
    if (!h->sighup || event_add(h->sighup, NULL) != 0)
        return PD_EIO;
    return 0;
}

uint16_t pd_http_port(const pd_http *h)
{
    return h ? h->port : 0;
}

static int register_metrics(pd_http *h)
{
    static const char *const classes[NCLASS] = {"2xx", "3xx", "4xx", "5xx"};
    int rc = 0;
    if (!h->metrics)
        return 0;
    for (int i = 0; i < NCLASS && rc == 0; i++)
        rc = pd_metrics_counter(h->metrics, PD_M_HTTP_REQUESTS, "HTTP requests by status class.",
                                (const char *[]){"code", classes[i], NULL}, &h->req[i]);
    if (rc == 0)
        rc = pd_metrics_counter(h->metrics, PD_M_RELOADS, "Reloads by result.",
                                (const char *[]){"result", "ok", NULL}, &h->reload_ok);
    if (rc == 0)
        rc = pd_metrics_counter(h->metrics, PD_M_RELOADS, "Reloads by result.",
                                (const char *[]){"result", "error", NULL}, &h->reload_err);
    return rc;
}

int pd_http_create(struct event_base *base, const pd_http_config *cfg,
                   const pd_http_provider *provider, pd_metrics *metrics, pd_http **out)
{
    int rc = 0;
    pd_http *h = NULL;
    char host[64];
    uint16_t port;
    if (!base || !provider || !out)
        return PD_EINVAL;
    const char *listen = cfg && cfg->listen && *cfg->listen ? cfg->listen : PD_HTTP_DEFAULT_LISTEN;
    if (pd_http_parse_listen(listen, host, sizeof(host), &port) != 0) {
        pd_log_error("http", "bad listen address '%s' (want host:port)", listen);
        return PD_EINVAL;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return PD_ENOMEM;
    h->base = base;
    h->prov = *provider;
    h->metrics = metrics;
    pd_buf_init(&h->body);
    if (cfg && cfg->token && *cfg->token) {
        h->token = strdup(cfg->token);
        if (!h->token) {
            rc = PD_ENOMEM;
            goto fail;
        }
        h->token_len = strlen(h->token);
        if (cookie_safe(h->token)) {
            pd_buf c;
            pd_buf_init(&c);
            pd_buf_printf(&c, "pd_token=%s; Path=/; HttpOnly; SameSite=Strict", h->token);
            h->cookie = c.oom ? NULL : strdup(pd_buf_cstr(&c));
            pd_buf_free(&c);
        }
        if (h->token_len >= PD_LOG_SECRET_MIN)
            pd_log_add_secret(h->token);
    }
    if ((rc = register_metrics(h)) != 0)
        goto fail;
    h->http = evhttp_new(base);
    if (!h->http) {
        rc = PD_ENOMEM;
        goto fail;
    }
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_max_body_size(h->http, PD_HTTP_MAX_BODY);
    evhttp_set_max_headers_size(h->http, PD_HTTP_MAX_HEADERS);
    evhttp_set_timeout(h->http, PD_HTTP_TIMEOUT_S);
    evhttp_set_gencb(h->http, on_request, h);
    h->sock = evhttp_bind_socket_with_handle(h->http, host, port);
    if (!h->sock) {
        pd_log_error("http", "cannot listen on %s", listen);
        rc = PD_EIO;
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(h->sock), (struct sockaddr *)&ss, &sl) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    pd_log_fields(PD_LOG_INFO, "http", "serving status API, metrics and dashboard",
                  (pd_log_field[]){PD_LF_STR("host", host), PD_LF_INT("port", h->port),
                                   PD_LF_BOOL("token", h->token != NULL)},
                  3);
    *out = h;
    return 0;
fail:
    pd_http_destroy(h);
    return rc;
}

void pd_http_destroy(pd_http *h)
{
    if (!h)
        return;
    if (h->sighup)
        event_free(h->sighup);
    if (h->http)
        evhttp_free(h->http);
    if (h->token) {
        memset(h->token, 0, h->token_len);
        free(h->token);
    }
    if (h->cookie) {
        memset(h->cookie, 0, strlen(h->cookie));
        free(h->cookie);
    }
    pd_buf_free(&h->body);
    free(h);
}
