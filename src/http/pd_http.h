/* pd_http.h: the status API, Prometheus metrics and dashboard, served by evhttp on the
 * daemon's event_base (default 127.0.0.1:9464).
 *
 *   GET  /healthz                 200 {"status":"ok"} while the loop runs (never needs a token)
 *   GET  /readyz                  200 or 503, body from provider->ready
 *   GET  /metrics                 Prometheus text 0.0.4 (pd_metrics_render)
 *   GET  /v1/goals                every goal's status (provider->goals)
 *   GET  /v1/goals/{id}?offset=&limit=   one goal and a page of its violators (provider->goal)
 *   GET  /v1/resources/{id}       one resource's posture (provider->resource)
 *   GET  /v1/signals?limit=       recent drift and breach signals (provider->signals)
 *   POST /v1/reload               validates and swaps goals/rules/pipelines (provider->reload)
 *   GET  /, /assets/..           the dashboard (bundled, no external requests)
 * Also SIGHUP -> provider->reload (pd_http_watch_sighup).
 *
 * With a token configured, every path but /healthz needs "Authorization: Bearer <token>"
 * (or ?access_token=<token>, RFC 6750, so a browser can open the dashboard; the page passes
 * it on to its API calls). POST /v1/reload always needs the token: without one configured it
 * is refused with 403 (SIGHUP still works). JSON shapes: docs/operations.md.
 *
 * Ownership: pd_http_create copies the config strings; the provider table is copied, its ctx
 * is borrowed and must outlive the server; metrics (may be NULL) is borrowed. The token is
 * registered with pd_log as a secret. Thread: the loop thread (create, callbacks, destroy). */
#ifndef PD_HTTP_H
#define PD_HTTP_H

#include "pd_buf.h"
#include "pd_common.h"
#include "pd_metrics.h"

struct event_base;

#define PD_HTTP_DEFAULT_LISTEN "127.0.0.1:9464"
#define PD_HTTP_PAGE_DEFAULT   50
#define PD_HTTP_PAGE_MAX       1000

/* What the server asks the engine and runtime. Each callback appends one JSON document to
 * out and returns 0; PD_ENOTFOUND gives 404, PD_EAGAIN 503, PD_ECONFIG / PD_EINVAL 422 (with
 * the provider's JSON body when it wrote one), anything else 500. A NULL callback gives 501
 * (ready: NULL means always ready). Ids arrive percent-decoded and NUL-terminated. */
typedef struct pd_http_provider {
    void *ctx;
    /* {"goals":[{"id","title","kind","value","target","met","violating","trend":[...]}...]} */
    int (*goals)(void *ctx, pd_buf *out);
    /* {"goal":{...},"violators":{"total","offset","limit","items":[...]}} */
    int (*goal)(void *ctx, const char *id, uint32_t offset, uint32_t limit, pd_buf *out);
    /* {"id",...,"pairs":[...],"open_findings":[...],"recent_alerts":[...],"goals":[...]} */
    int (*resource)(void *ctx, const char *id, pd_buf *out);
    /* {"signals":[<signal JSON, newest first>...]} */
    int (*signals)(void *ctx, uint32_t limit, pd_buf *out);
    /* 0 ready, PD_EAGAIN not yet; out: {"ready":bool,"checks":{"partitions":bool,...}} */
    int (*ready)(void *ctx, pd_buf *out);
    /* Validate everything first; swap only when valid. 0 applied; PD_ECONFIG refused (old set
     * kept) with out = {"error":"file:line:column: message"}. */
    int (*reload)(void *ctx, pd_buf *out);
} pd_http_provider;

typedef struct pd_http_config {
    const char *listen; /* "host:port", "[v6]:port" or ":port"; NULL: PD_HTTP_DEFAULT_LISTEN.
                           Port 0 picks a free port (tests; see pd_http_port). */
    const char *token;  /* NULL or "": no authentication (reload over HTTP refused) */
} pd_http_config;

typedef struct pd_http pd_http;

/* From the daemon configuration: listen = cfg->http_listen, token = getenv(cfg->http_token_env).
 * PD_ECONFIG (message in diag) when token_env names a variable that is unset or empty: the
 * operator asked for authentication. The strings stay owned by cfg and the environment. */
struct pd_config;
struct pd_diag;
int pd_http_config_from(const struct pd_config *cfg, pd_http_config *out, struct pd_diag *diag);

/* Binds and starts serving on base. PD_EINVAL for a bad listen string, PD_EIO when the
 * address cannot be bound. */
int pd_http_create(struct event_base *base, const pd_http_config *cfg,
                   const pd_http_provider *provider, pd_metrics *metrics, pd_http **out);
void pd_http_destroy(pd_http *h);
/* The bound port (useful with port 0). */
uint16_t pd_http_port(const pd_http *h);
/* SIGHUP triggers provider->reload on the loop; the result is logged and counted. */
int pd_http_watch_sighup(pd_http *h);
/* Runs provider->reload as SIGHUP or POST would; returns its code (result JSON in out). */
int pd_http_reload(pd_http *h, const char *origin, pd_buf *out);

/* "127.0.0.1:9464" -> host "127.0.0.1", port 9464. host must hold 64 bytes. */
int pd_http_parse_listen(const char *listen, char *host, size_t hostcap, uint16_t *port);

/* The bundled dashboard assets (src/http/pd_http_assets.c, generated from src/http/assets by
 * src/http/assets/embed.cmake). */
typedef struct pd_http_asset {
    const char *path; /* "/", "/assets/app.js", ... */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} pd_http_asset;
extern const pd_http_asset pd_http_assets[];
extern const size_t pd_http_nassets;

#endif
