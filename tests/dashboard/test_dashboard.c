/* The dashboard in headless Chromium: the page served by pd_http, fed by the fake provider,
 * must show every goal (value, target, status, a 7-day sparkline), the violators of the goal
 * it selects, and the recent signals. Also writes a screenshot ($PD_DASHBOARD_PNG, else
 * ./dashboard.png).
 *
 * Needs Debian's `chromium` (and `chromium-driver` for other drivers). Without it the test
 * skips, or fails when CI=true. $PD_CHROMIUM overrides the binary. Label: dashboard. */
#include "pd_test.h"

#include "pd_fake_provider.h"
#include "pd_http.h"
#include "pd_log.h"

#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define TOKEN "dash-token-5d1e"

static char chromium[512];

static bool find_chromium(void)
{
    const char *env = getenv("PD_CHROMIUM");
    if (env && *env && access(env, X_OK) == 0) {
        snprintf(chromium, sizeof(chromium), "%s", env);
        return true;
    }
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome", "chrome"};
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
    for (size_t i = 0; i < PD_ARRAY_LEN(names); i++) {
        char *save = NULL;
        char copy[4096];
        snprintf(copy, sizeof(copy), "%s", dirs);
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            snprintf(chromium, sizeof(chromium), "%s/%s", d, names[i]);
            if (access(chromium, X_OK) == 0)
                return true;
        }
    }
    return false;
}

typedef struct {
    struct event_base *base;
    pid_t pid;
    int status;
    bool exited;
    int64_t deadline_ms;
} child_wait;

static void poll_child(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    child_wait *w = arg;
    if (waitpid(w->pid, &w->status, WNOHANG) == w->pid) {
        w->exited = true;
        event_base_loopbreak(w->base);
    } else if (pd_monotonic_ms() > w->deadline_ms) {
        kill(w->pid, SIGKILL);
    }
}

/* Runs chromium with extra args while the loop serves it; stdout goes to out_path. */
static int run_chromium(struct event_base *base, const char *const *extra, size_t nextra,
                        const char *out_path)
{
    char profile[] = "/tmp/pd-dashboard-XXXXXX";
    assert_non_null(mkdtemp(profile));
    char udd[600];
    snprintf(udd, sizeof(udd), "--user-data-dir=%s", profile);
    const char *args[32] = {chromium,
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            "--hide-scrollbars",
                            udd};
    size_t n = 12;
    for (size_t i = 0; i < nextra; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    child_wait w = {.base = base, .deadline_ms = pd_monotonic_ms() + 90000};
    int rc = posix_spawn(&w.pid, chromium, &fa, NULL, (char *const *)args, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    struct event *t = event_new(base, -1, EV_PERSIST, poll_child, &w);
    struct timeval tv = {0, 50 * 1000};
    event_add(t, &tv);
    event_base_dispatch(base);
    event_free(t);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", profile);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", profile);
    assert_true(w.exited);
    return WIFEXITED(w.status) ? WEXITSTATUS(w.status) : -1;
}

static const char *whole_dom; /* printed when a check fails */

static void expect(const char *dom, const char *needle)
{
    if (!strstr(dom, needle)) {
        fprintf(stderr, "DOM (first 6000 bytes):\n%.6000s\n", whole_dom ? whole_dom : dom);
        fail_msg("the dashboard does not show: %s", needle);
    }
}

/* The text between the element that carries attr and its closing </tr> or </li>. */
static char *element_with(const char *dom, const char *attr, const char *end_tag)
{
    const char *p = strstr(dom, attr);
    if (!p)
        fail_msg("no element with %s", attr);
    const char *e = strstr(p, end_tag);
    assert_non_null(e);
    return strndup(p, (size_t)(e - p));
}

static void test_dashboard_shows_provider_data(void **state)
{
    (void)state;
    if (!find_chromium()) {
        const char *ci = getenv("CI");
        if (ci && !strcmp(ci, "true"))
            fail_msg("chromium is required under CI=true (apt-get install chromium "
                     "chromium-driver)");
        fprintf(stderr, "SKIP: chromium not found (apt-get install chromium chromium-driver)\n");
        skip();
    }
    struct event_base *base = event_base_new();
    fake_provider fp;
    fake_init(&fp);
    /* auto-refresh: from the second poll on, goal 0 has another title */
    char refreshed[128];
    snprintf(refreshed, sizeof(refreshed), "%s (refreshed)", fp.goals[0].title);
    fp.refreshed_title = refreshed;
    pd_http_provider prov = fake_provider_ops(&fp);
    pd_http_config cfg = {.listen = "127.0.0.1:0", .token = TOKEN};
    pd_http *http;
    assert_int_equal(pd_http_create(base, &cfg, &prov, NULL, &http), 0);
    char url[256], dump_url[600];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/?refresh=2&access_token=%s", pd_http_port(http),
             TOKEN);
    /* the dump also opens one resource (as a click on a violator does) */
    char rid[200], rname[64];
    const char *rcloud;
    fake_violator(&fp.goals[1], 1, rid, sizeof(rid), rname, sizeof(rname), &rcloud);
    char *rid_enc = evhttp_encode_uri(rid);
    snprintf(dump_url, sizeof(dump_url), "%s&resource=%s", url, rid_enc);
    free(rid_enc);

    char dom_path[] = "/tmp/pd-dashboard-dom-XXXXXX";
    int fd = mkstemp(dom_path);
    assert_true(fd >= 0);
    close(fd);
    const char *dump[] = {"--virtual-time-budget=5000", "--dump-dom", dump_url};
    assert_int_equal(run_chromium(base, dump, PD_ARRAY_LEN(dump), dom_path), 0);
    char *dom = pd_test_read_file(dom_path, NULL);
    unlink(dom_path);
    assert_non_null(dom);
    whole_dom = dom;

    /* loaded without errors, API calls authenticated with the token from the page URL */
    expect(dom, "data-loaded=\"true\"");
    expect(dom, "<div id=\"error\" class=\"banner\" hidden=\"\"></div>");
    expect(dom, ">ready</span>");

    /* every goal: value against target, status, violating count, 7-day sparkline */
    const fake_goal *selected = NULL;
    for (size_t i = 0; i < fp.ngoals; i++) {
        const fake_goal *g = &fp.goals[i];
        if (!selected && !g->met)
            selected = g;
        char attr[96], want[160];
        snprintf(attr, sizeof(attr), "data-goal-id=\"%s\"", g->id);
        char *row = element_with(dom, attr, "</tr>");
        snprintf(want, sizeof(want), "data-met=\"%s\"", g->met ? "true" : "false");
        expect(row, want);
        expect(row, i == 0 ? refreshed : g->title); /* goal 0: only after a refresh */
        snprintf(want, sizeof(want), "<td class=\"value\">%.1f%%</td>", g->value);
        expect(row, want);
        snprintf(want, sizeof(want), "<td class=\"target\">&gt;= %g%%</td>", g->threshold);
        expect(row, want);
        snprintf(want, sizeof(want), "<td class=\"violating\">%u</td>", g->violating);
        expect(row, want);
        expect(row, g->met ? ">met</span>" : ">not met</span>");
        snprintf(want, sizeof(want), "data-points=\"%d\"", FAKE_TREND_PTS);
        expect(row, want);
        /* the polyline has one vertex per trend point */
        const char *pl = strstr(row, "<polyline points=\"");
        assert_non_null(pl);
        pl += strlen("<polyline points=\"");
        int vertices = 1;
        for (; *pl && *pl != '"'; pl++)
            vertices += *pl == ' ';
        assert_int_equal(vertices, FAKE_TREND_PTS);
        free(row);
    }
    assert_non_null(selected);

    /* the first goal not met is selected: its first page of violators is listed */
    char want[300];
    snprintf(want, sizeof(want), "&ndash; %s", selected->title);
    char *vhead = element_with(dom, "id=\"violators-goal\"", "</span>");
    expect(vhead, selected->title);
    assert_true(fp.goals_calls >= 2);
    free(vhead);
    uint32_t shown = PD_MIN(selected->violating, 25u);
    for (uint32_t k = 0; k < shown; k++) {
        char vid[200], name[64];
        const char *cloud;
        fake_violator(selected, k, vid, sizeof(vid), name, sizeof(name), &cloud);
        snprintf(want, sizeof(want), "data-resource-id=\"%s\"", vid);
        expect(dom, want);
    }
    snprintf(want, sizeof(want), "1\xe2\x80\x93%u of %u", shown, selected->violating);
    expect(dom, want);

    /* the recent signals, by id, with their kinds */
    pd_buf sig;
    pd_buf_init(&sig);
    fake_signals(&fp, 50, &sig);
    int nsig = 0;
    for (const char *p = pd_buf_cstr(&sig); (p = strstr(p, "\"id\":\"")); p++) {
        if (strlen(p) < 6 + 32 || p[6 + 32] != '"')
            continue; /* a nested id (goal, rule, resource), not a signal id */
        snprintf(want, sizeof(want), "data-signal-id=\"%.32s\"", p + 6);
        expect(dom, want);
        nsig++;
    }
    pd_buf_free(&sig);
    assert_int_equal(nsig, 3);
    expect(dom, "breach.lateral-spread");
    expect(dom, "goal.breached");

    /* the resource panel: shown, for that resource, with the goal it violates */
    char *panel = element_with(dom, "id=\"resource\"", "</section>");
    snprintf(want, sizeof(want), "data-resource-id=\"%s\"", rid);
    expect(panel, want);
    assert_null(strstr(panel, "hidden"));
    expect(panel, rname);
    expect(panel, fp.goals[1].id);
    free(panel);
    free(dom);

    /* the screenshot kept under docs/ (with the goal's own title) */
    fp.refreshed_title = NULL;
    const char *png = getenv("PD_DASHBOARD_PNG");
    if (!png || !*png)
        png = "dashboard.png";
    char shot[600];
    snprintf(shot, sizeof(shot), "--screenshot=%s", png);
    unlink(png);
    const char *shoot[] = {"--virtual-time-budget=5000", "--window-size=1280,1100", shot, url};
    char junk[] = "/tmp/pd-dashboard-out-XXXXXX";
    fd = mkstemp(junk);
    close(fd);
    assert_int_equal(run_chromium(base, shoot, PD_ARRAY_LEN(shoot), junk), 0);
    unlink(junk);
    size_t n = 0;
    char *img = pd_test_read_file(png, &n);
    assert_non_null(img);
    assert_true(n > 10000 && !memcmp(img, "\x89PNG\r\n\x1a\n", 8));
    free(img);

    pd_http_destroy(http);
    event_base_free(base);
    pd_log_clear_secrets();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dashboard_shows_provider_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
