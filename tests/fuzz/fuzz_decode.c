/* fuzz_decode: libFuzzer entry point over pd_decode.
 *
 * Each input is decoded with format detection, with the format its first byte picks, and by
 * a decoder with tight limits. Beyond "no crash, no sanitizer report", it checks what every
 * emitted event promises: slices are non-NULL when non-empty and hold no NUL, canon is the
 * lowercase of a same-length id, enums are in range, and the event's JSON rendering is
 * itself strict JSON (so every string the decoder produced was valid UTF-8), and the
 * decoder's pre-scan path agrees with its reference path (opts.no_prescan: jsmn over the
 * message itself) on the result, the error and every event. Violations abort. Thread: libFuzzer's
 * one thread. Ownership: the decoders live for the process. */
#include "pd_buf.h"
#include "pd_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pd_decoder *dec, *tight, *check, *ref;
static pd_buf out, evs, ref_evs;

static void need(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_decode: invariant violated: %s\n", what);
        abort();
    }
}

static void slice_ok(pd_str s, const char *what)
{
    need(s.len == 0 || s.p != NULL, what);
    if (s.len)
        need(memchr(s.p, 0, s.len) == NULL, what);
}

static int on_event(void *ctx, const pd_event *e)
{
    (void)ctx;
    const pd_resource *r = &e->resource;
    need(e->kind < PD_KIND__COUNT && e->format < PD_FMT__COUNT, "enum range");
    need(r->cloud < PD_CLOUD__COUNT && e->status < PD_STATUS__COUNT && e->severity < PD_SEV__COUNT,
         "enum range");
    need(r->ntags <= PD_EVENT_MAX_TAGS && e->control.nframeworks <= PD_EVENT_MAX_FRAMEWORKS,
         "counts");
    need(r->canon.len == r->id.len, "canon length");
    for (uint32_t i = 0; i < r->canon.len; i++) {
        char a = r->id.p[i], c = r->canon.p[i];
        need(c == ((a >= 'A' && a <= 'Z') ? (char)(a + 32) : a), "canon is lowercase id");
    }
    const pd_str *strs[] = {&r->id,
                            &r->canon,
                            &r->account,
                            &r->region,
                            &r->group,
                            &r->type,
                            &r->name,
                            &e->control.key,
                            &e->control.name,
                            &e->control.category,
                            &e->severity_orig,
                            &e->event_id,
                            &e->alert.id,
                            &e->alert.type,
                            &e->alert.status,
                            &e->vuln.cve,
                            &e->vuln.parent_key,
                            &e->score.control,
                            &e->compliance.standard,
                            &e->compliance.control,
                            &e->compliance.state};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        slice_ok(*strs[i], "slice");
    for (int i = 0; i < r->ntags; i++) {
        slice_ok(r->tags[i].key, "tag key");
        slice_ok(r->tags[i].value, "tag value");
    }
    for (int i = 0; i < e->control.nframeworks; i++)
        slice_ok(e->control.frameworks[i], "framework");
    pd_buf_reset(&out);
    pd_event_json(e, &out);
    need(!out.oom, "json oom");
    if (ctx)
        pd_buf_append(ctx, out.p, out.len);
    pd_decode_error err;
    int rc = pd_decode(check, out.p, out.len, PD_FMT_AUTO, NULL, NULL, &err);
    if (rc == PD_EDEC_SYNTAX || rc == PD_EDEC_UTF8 || rc == PD_EDEC_NUL || rc == PD_EDEC_NUMBER ||
        rc == PD_EDEC_DEPTH) {
        fprintf(stderr, "fuzz_decode: event JSON rejected (%s at %zu: %s): %.*s\n",
                pd_decode_error_name(rc), err.offset, err.message, (int)out.len, out.p);
        abort();
    }
    return 0;
}

static int collect(void *ctx, const pd_event *e)
{
    pd_event_json(e, ctx);
    return 0;
}

static void one(pd_decoder *d, const uint8_t *data, size_t size, pd_format fmt)
{
    pd_decode_error err, rerr;
    pd_buf_reset(&evs);
    pd_buf_reset(&ref_evs);
    int rc = pd_decode(d, (const char *)data, size, fmt, on_event, &evs, &err);
    if (d == dec) {
        int rrc = pd_decode(ref, (const char *)data, size, fmt, collect, &ref_evs, &rerr);
        need(rc == rrc && (!rc || (err.code == rerr.code && err.offset == rerr.offset &&
                                   !strcmp(err.message, rerr.message))),
             "pre-scan and reference paths: same result");
        need(evs.len == ref_evs.len && (!evs.len || !memcmp(evs.p, ref_evs.p, evs.len)),
             "pre-scan and reference paths: same events");
    }
    if (rc) {
        need(rc <= PD_EDEC_EMPTY && rc >= PD_EDEC_LAST, "error code range");
        need(err.code == rc, "error code recorded");
        need(err.offset <= size || rc == PD_EDEC_TOO_BIG, "error offset");
        need(memchr(err.message, 0, sizeof(err.message)) != NULL, "message terminated");
        for (const char *c = err.message; *c; c++)
            need((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "message printable");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dec) {
        pd_decode_opts o;
        pd_decode_opts_default(&o);
        if (pd_decoder_create(&o, &dec) || pd_decoder_create(&o, &check))
            abort();
        o.no_prescan = true;
        if (pd_decoder_create(&o, &ref))
            abort();
        o.no_prescan = false;
        o.max_depth = 6;
        o.max_tokens = 64;
        o.max_message_bytes = 4096;
        if (pd_decoder_create(&o, &tight))
            abort();
        pd_buf_init(&out);
        pd_buf_init(&evs);
        pd_buf_init(&ref_evs);
    }
    one(dec, data, size, PD_FMT_AUTO);
    one(dec, data, size, size ? (pd_format)(data[0] % PD_FMT__COUNT) : PD_FMT_AUTO);
    one(tight, data, size, PD_FMT_AUTO);
    return 0;
}
