/* postured decode: messages in, one normalized event per JSON line out; decode errors as JSON
 * lines (file, line, code, offset, message) on stderr, or on stdout with --errors. */
#include "pd_buf.h"
#include "pd_cli.h"
#include "pd_decode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dec_out {
    pd_buf buf;
    unsigned long events;
} dec_out;

static int print_event(void *ctx, const pd_event *ev)
{
    dec_out *o = ctx;
    pd_buf_reset(&o->buf);
    pd_event_json(ev, &o->buf);
    pd_buf_putc(&o->buf, '\n');
    fwrite(o->buf.p, 1, o->buf.len, stdout);
    o->events++;
    return 0;
}

static void print_error(FILE *f, const char *file, size_t line, const pd_decode_error *err)
{
    pd_buf b;
    pd_buf_init(&b);
    pd_buf_puts(&b, "{\"error\":");
    pd_buf_json_str(&b, pd_decode_error_name(err->code), strlen(pd_decode_error_name(err->code)));
    pd_buf_printf(&b, ",\"code\":%d,\"offset\":%zu,\"message\":", err->code, err->offset);
    pd_buf_json_str(&b, err->message, strlen(err->message));
    pd_buf_puts(&b, ",\"file\":");
    pd_buf_json_str(&b, file, strlen(file));
    pd_buf_printf(&b, ",\"line\":%zu}\n", line);
    fwrite(b.p, 1, b.len, f);
    pd_buf_free(&b);
}

static int read_all(FILE *f, pd_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        pd_buf_append(b, chunk, n);
    return (ferror(f) || b->oom) ? PD_EIO : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: postured decode [--format auto|defender|asff|scc|ocsf] [--errors]\n"
               "                       [--lines|--whole] [--max-bytes N] [FILE|-]...\n"
               "Decodes messages and prints one normalized event per JSON line.\n"
               "  --lines   every line is one message (JSON lines)\n"
               "  --whole   every file is one message\n"
               "  default   JSON lines, unless the first line opens a value that continues on\n"
               "            the next lines (a pretty-printed document: one message)\n"
               "  --errors  print decode errors on stdout (default: stderr)\n"
               "Exit status: 0 when every message decoded, 1 when any failed, 2 on usage.\n");
}

enum { MODE_AUTO, MODE_LINES, MODE_WHOLE };

int pd_cmd_decode(int argc, char **argv)
{
    pd_format fmt = PD_FMT_AUTO;
    bool errors_out = false;
    int mode = MODE_AUTO;
    pd_decode_opts opts;
    pd_decode_opts_default(&opts);
    int first_file = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            if (pd_format_parse(pd_str_c(argv[++i]), &fmt)) {
                fprintf(stderr, "postured decode: unknown format '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--errors")) {
            errors_out = true;
        } else if (!strcmp(a, "--lines")) {
            mode = MODE_LINES;
        } else if (!strcmp(a, "--whole")) {
            mode = MODE_WHOLE;
        } else if (!strcmp(a, "--max-bytes") && i + 1 < argc) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v == 0) {
                fprintf(stderr, "postured decode: bad --max-bytes '%s'\n", argv[i]);
                return 2;
            }
            opts.max_message_bytes = (size_t)v;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "postured decode: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            first_file = i;
            break;
        }
    }
    pd_decoder *d = NULL;
    if (pd_decoder_create(&opts, &d)) {
        fprintf(stderr, "postured decode: cannot create decoder\n");
        return 1;
    }
    dec_out out = {.events = 0};
    pd_buf_init(&out.buf);
    pd_buf in;
    pd_buf_init(&in);
    unsigned long failures = 0, messages = 0;
    int rc = 0;
    int nfiles = argc - first_file;
    for (int fi = 0; fi < (nfiles ? nfiles : 1); fi++) {
        const char *path = nfiles ? argv[first_file + fi] : "-";
        FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        if (!f) {
            fprintf(stderr, "postured decode: %s: %s\n", path, strerror(errno));
            rc = 1;
            continue;
        }
        pd_buf_reset(&in);
        int rrc = read_all(f, &in);
        if (f != stdin)
            fclose(f);
        if (rrc) {
            fprintf(stderr, "postured decode: %s: read error\n", path);
            rc = 1;
            continue;
        }
        pd_decode_error err;
        int m = mode;
        if (m == MODE_AUTO) {
            /* JSON lines, unless the first line is the start of a value that goes on (a
             * pretty-printed document: then the file is one message). */
            size_t p0 = 0;
            while (p0 < in.len &&
                   (in.p[p0] == ' ' || in.p[p0] == '\t' || in.p[p0] == '\r' || in.p[p0] == '\n'))
                p0++;
            const char *nl = p0 < in.len ? memchr(in.p + p0, '\n', in.len - p0) : NULL;
            m = MODE_LINES;
            if (nl) {
                int r = pd_decode(d, in.p + p0, (size_t)(nl - in.p) - p0, fmt, NULL, NULL, &err);
                if (r == PD_EDEC_SYNTAX && !strncmp(err.message, "truncated", 9))
                    m = MODE_WHOLE;
            }
        }
        if (m == MODE_WHOLE) {
            messages++;
            if (pd_decode(d, in.p, in.len, fmt, print_event, &out, &err)) {
                failures++;
                print_error(errors_out ? stdout : stderr, path, 1, &err);
            }
            continue;
        }
        size_t pos = 0, line = 0;
        while (pos < in.len) {
            const char *s = in.p + pos;
            const char *nl = memchr(s, '\n', in.len - pos);
            size_t n = nl ? (size_t)(nl - s) : in.len - pos;
            pos += n + (nl ? 1 : 0);
            line++;
            size_t k = 0;
            while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
                k++;
            if (k == n)
                continue; /* blank lines separate nothing */
            messages++;
            if (pd_decode(d, s, n, fmt, print_event, &out, &err)) {
                failures++;
                print_error(errors_out ? stdout : stderr, path, line, &err);
            }
        }
    }
    fflush(stdout);
    if (failures)
        fprintf(stderr, "postured decode: %lu of %lu messages failed, %lu events\n", failures,
                messages, out.events);
    pd_buf_free(&in);
    pd_buf_free(&out.buf);
    pd_decoder_destroy(d);
    return (rc || failures) ? 1 : 0;
}
