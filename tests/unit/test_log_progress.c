/* pd_progress: silent when not a terminal, one redrawn line with events, events/s and percent
 * when enabled. */
#include "pd_test.h"

#include "pd_progress.h"
#include "pd_time.h"

#include <unistd.h>

static size_t file_size(FILE *f)
{
    return (size_t)lseek(fileno(f), 0, SEEK_END);
}

static void test_quiet_when_not_a_tty(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    pd_progress p;
    pd_progress_init(&p, "replay", 1000, fileno(f));
    assert_false(p.enabled); /* a regular file is not a terminal */
    for (int i = 0; i < 5000; i++)
        pd_progress_tick(&p, 1);
    pd_progress_finish(&p);
    assert_int_equal(p.done, 5000);
    assert_int_equal(file_size(f), 0);
    fclose(f);
}

static void test_format(void **state)
{
    (void)state;
    pd_progress p;
    pd_progress_init(&p, "replay", 200000, -1);
    p.start_ms = 1000;
    p.done = 50000;
    char line[200];
    pd_progress_format(&p, 1000 + 2000, line, sizeof(line));
    /* 50,000 of 200,000 in 2 s: 25.0 %, 25000 events/s */
    assert_non_null(strstr(line, "replay: 50,000 / 200,000 events"));
    assert_non_null(strstr(line, "(25.0%)"));
    assert_non_null(strstr(line, "25000 events/s"));
    pd_progress_set_total(&p, 0);
    p.done = 1234567;
    pd_progress_format(&p, 1000 + 1000, line, sizeof(line));
    assert_non_null(strstr(line, "1,234,567 events, 1234567 events/s"));
    assert_null(strchr(line, '%'));
    /* truncation stays inside the buffer */
    size_t n = pd_progress_format(&p, 2000, line, 10);
    assert_int_equal(n, 9);
    assert_int_equal(strlen(line), 9);
}

static void test_forced_draws_and_finishes(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    pd_progress p;
    pd_progress_init(&p, "demo", 4096, fileno(f));
    pd_progress_force(&p, true);
    for (int i = 0; i < 4096; i++)
        pd_progress_tick(&p, 1);
    size_t mid = file_size(f);
    assert_true(mid > 0); /* the first check draws at once */
    pd_progress_finish(&p);
    size_t n = file_size(f);
    char *buf = calloc(1, n + 1);
    assert_int_equal(pread(fileno(f), buf, n, 0), (ssize_t)n);
    assert_int_equal(buf[0], '\r');
    assert_int_equal(buf[n - 1], '\n');
    assert_non_null(strstr(buf, "demo: 4,096 / 4,096 events (100.0%)"));
    free(buf);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_when_not_a_tty),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_forced_draws_and_finishes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
