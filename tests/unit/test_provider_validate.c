/* CLI wiring of the pipeline's sinks: `postured validate` checks a pipeline's `sinks:` the way
 * `postured run` loads them (pd_sink_set_check): a bad sink key is file:line:column and exit 1;
 * good sinks are counted. `postured replay --sinks` sends the signals through them: a file sink
 * receives exactly the signals plain `replay` prints. */
#include "pd_test.h"

#include "pd_gen.h"

#include <regex.h>
#include <unistd.h>

static int run(const char *path, char *out, size_t cap)
{
    const char *bin = getenv("PD_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' validate '%s' 2>&1", bin, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_pipeline(const char *path, const char *sinks)
{
    char goals[1024];
    pd_test_src_path("pipelines/defender-servers.goals.yaml", goals, sizeof(goals));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "pipeline:\n  name: vt\n  goals: [%s]\n  inputs:\n    - {topic: a}\n  sinks:\n%s",
            goals, sinks);
    fclose(f);
}

static void test_validate_sinks(void **state)
{
    (void)state;
    if (!getenv("PD_BIN"))
        skip();
    char path[] = "/tmp/pd_validate_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char out[8192];
    write_pipeline(path, "    - {type: file, name: out, path: /tmp/unused.jsonl}\n"
                         "    - {type: stdout, name: console}\n");
    assert_int_equal(run(path, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "2 sinks"));

    write_pipeline(path, "    - {type: file, name: out, path: /tmp/unused.jsonl}\n"
                         "    - type: webhook\n"
                         "      url: https://example.com/hook\n"
                         "      colour: red\n");
    assert_int_equal(run(path, out, sizeof(out)), 1);
    char pat[256];
    /* line 10 (the `colour:` line), column 7 */
    snprintf(pat, sizeof(pat), "^%s:10:7: unknown key 'colour'", path);
    regex_t re;
    assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NEWLINE), 0);
    if (regexec(&re, out, 0, NULL, 0))
        fail_msg("unexpected output: %s", out);
    regfree(&re);

    write_pipeline(path, "    - {type: carrier-pigeon}\n");
    assert_int_equal(run(path, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "unknown sink type 'carrier-pigeon'"));
    unlink(path);
}

static size_t count_lines(const char *path)
{
    size_t n = 0, len = 0;
    char *t = pd_test_read_file(path, &len);
    assert_non_null(t);
    for (size_t i = 0; i < len; i++)
        n += t[i] == '\n';
    free(t);
    return n;
}

static void test_replay_sinks(void **state)
{
    (void)state;
    const char *bin = getenv("PD_BIN");
    if (!bin)
        skip();
    char in[] = "/tmp/pd_rs_in_XXXXXX", pl[] = "/tmp/pd_rs_pl_XXXXXX",
         sink[] = "/tmp/pd_rs_out_XXXXXX", plain[] = "/tmp/pd_rs_plain_XXXXXX";
    int fds[4] = {mkstemp(in), mkstemp(pl), mkstemp(sink), mkstemp(plain)};
    for (int i = 0; i < 4; i++) {
        assert_true(fds[i] >= 0);
        close(fds[i]);
    }
    /* input: a generated stream */
    pd_gen_opts go;
    pd_gen_opts_default(&go);
    go.servers = 40;
    go.days = 2;
    pd_gen *g = NULL;
    assert_int_equal(pd_gen_create(&go, &g, NULL), 0);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    pd_buf b;
    pd_buf_init(&b);
    while (pd_buf_reset(&b), pd_gen_next(g, &b, NULL) == 0) {
        fwrite(b.p, 1, b.len, f);
        fputc('\n', f);
    }
    fclose(f);
    pd_buf_free(&b);
    pd_gen_destroy(g);
    char goals[1024], rules[1024];
    pd_test_src_path("tests/correlate/goals.yaml", goals, sizeof(goals));
    pd_test_src_path("pipelines/rules/builtin.yaml", rules, sizeof(rules));
    f = fopen(pl, "w");
    assert_non_null(f);
    fprintf(f,
            "pipeline:\n  name: rs\n  goals: [%s]\n  rules: [%s]\n  inputs:\n    - {topic: in}\n"
            "  sinks:\n    - {type: file, name: archive, path: %s, append: false}\n",
            goals, rules, sink);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "'%s' replay -q -p '%s' '%s' > '%s'", bin, pl, in, plain);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "'%s' replay -q --sinks -p '%s' '%s'", bin, pl, in);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[256];
    size_t stdout_bytes = 0;
    while (fgets(buf, sizeof(buf), p))
        stdout_bytes += strlen(buf);
    assert_int_equal(pclose(p), 0);
    assert_int_equal(stdout_bytes, 0); /* the signals went to the sink, not stdout */
    size_t want = count_lines(plain);
    assert_true(want > 0);
    assert_int_equal(count_lines(sink), want);
    /* --sinks without a sinks list is a usage error */
    snprintf(cmd, sizeof(cmd), "'%s' replay -q --sinks --goals '%s' '%s' 2>/dev/null", bin, goals,
             in);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    unlink(in);
    unlink(pl);
    unlink(sink);
    unlink(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_validate_sinks),
                                       cmocka_unit_test(test_replay_sinks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
