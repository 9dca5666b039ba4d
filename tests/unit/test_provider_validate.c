/* `postured validate` checks a pipeline's `sinks:` the way `postured run` loads them (through
 * pd_sink_set_check): a bad sink key is file:line:column and exit 1; good sinks are counted. */
#include "pd_test.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_validate_sinks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
