#include "pd_time.h"

#include <stdio.h>
#include <time.h>

/* Howard Hinnant's days-from-civil: exact for the proleptic Gregorian calendar. */
int64_t pd_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static int digits(const char *p, uint32_t n, uint32_t at, int count, int *out)
{
    int v = 0;
    if (at + (uint32_t)count > n)
        return PD_EINVAL;
    for (int i = 0; i < count; i++) {
        char c = p[at + (uint32_t)i];
        if (c < '0' || c > '9')
            return PD_EINVAL;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

int pd_time_parse(pd_str s, int64_t *out_ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    const char *p = s.p;
    uint32_t n = s.len, i;
    if (!p || digits(p, n, 0, 4, &y) || n < 10 || p[4] != '-' || digits(p, n, 5, 2, &mo) ||
        p[7] != '-' || digits(p, n, 8, 2, &d))
        return PD_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return PD_EINVAL;
    i = 10;
    if (i < n && (p[i] == 'T' || p[i] == 't' || p[i] == ' ')) {
        if (digits(p, n, i + 1, 2, &h) || i + 3 >= n || p[i + 3] != ':' ||
            digits(p, n, i + 4, 2, &mi))
            return PD_EINVAL;
        i += 6;
        if (i < n && p[i] == ':') {
            if (digits(p, n, i + 1, 2, &sec))
                return PD_EINVAL;
            i += 3;
        }
        if (i < n && (p[i] == '.' || p[i] == ',')) {
            int scale = 100;
            i++;
            if (i >= n || p[i] < '0' || p[i] > '9')
                return PD_EINVAL;
            while (i < n && p[i] >= '0' && p[i] <= '9') {
                ms += (p[i] - '0') * scale;
                scale /= 10;
                i++;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return PD_EINVAL;
    }
    int64_t offset_min = 0;
    if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i < n && (p[i] == '+' || p[i] == '-')) {
        int oh, om;
        int sign = p[i] == '-' ? -1 : 1;
        if (digits(p, n, i + 1, 2, &oh))
            return PD_EINVAL;
        i += 3;
        if (i < n && p[i] == ':')
            i++;
        if (digits(p, n, i, 2, &om))
            return PD_EINVAL;
        i += 2;
        offset_min = sign * (oh * 60 + om);
    }
    if (i != n)
        return PD_EINVAL;
    int64_t days = pd_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *out_ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + ms;
    return 0;
}

void pd_time_format(int64_t ms, char *buf)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t rem = ms - secs * 1000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* Bounded fields keep the output exactly 24 characters. */
    unsigned yy = (unsigned)(y < 0 ? 0 : y % 10000), hh = (unsigned)(sod / 3600) % 24,
             mi = (unsigned)(sod / 60 % 60), ss = (unsigned)(sod % 60), mss = (unsigned)rem % 1000;
    snprintf(buf, PD_RFC3339_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", yy % 10000u, m % 13u,
             d % 32u, hh, mi, ss, mss);
}

int pd_duration_parse(pd_str s, int64_t *out_ms)
{
    int64_t total = 0;
    uint32_t i = 0;
    if (s.len == 0)
        return PD_EINVAL;
    while (i < s.len) {
        int64_t v = 0;
        uint32_t start = i;
        while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
            v = v * 10 + (s.p[i] - '0');
            if (v > (int64_t)1 << 40)
                return PD_EINVAL;
            i++;
        }
        if (i == start || i == s.len)
            return PD_EINVAL;
        int64_t unit;
        if (s.p[i] == 'm' && i + 1 < s.len && s.p[i + 1] == 's') {
            unit = 1;
            i++;
        } else {
            switch (s.p[i]) {
            case 's':
                unit = 1000;
                break;
            case 'm':
                unit = 60000;
                break;
            case 'h':
                unit = 3600000;
                break;
            case 'd':
                unit = 86400000;
                break;
            case 'w':
                unit = 7 * 86400000LL;
                break;
            default:
                return PD_EINVAL;
            }
        }
        i++;
        total += v * unit;
    }
    *out_ms = total;
    return 0;
}

int64_t pd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pd_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
