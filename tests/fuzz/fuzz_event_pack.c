/* fuzz_event_pack: libFuzzer entry point over pd_event_unpack (the bytes a "state" stage
 * reads from the internal events topic).
 *
 * Beyond "no crash, no sanitizer report": a refusal is PD_EINVAL with a printable reason; an
 * accepted event has its enums and counts in range, every slice inside the input (canon may
 * be the unpacker's scratch) and free of NUL, and packing it gives bytes that unpack to the
 * same event JSON and pack to the same bytes again (pack is a function of the event).
 * Violations abort. Thread: libFuzzer's one thread. Ownership: the unpacker and buffers live
 * for the process. */
#include "pd_buf.h"
#include "pd_event_pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pd_event_unpacker *un;
static pd_buf pk1, pk2, j1, j2;

static void need(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_event_pack: invariant violated: %s\n", what);
        abort();
    }
}

static void slice_ok(pd_str s, const uint8_t *data, size_t size, bool in_data, const char *what)
{
    if (!s.len)
        return;
    need(s.p != NULL, what);
    if (in_data)
        need((const uint8_t *)s.p >= data && (const uint8_t *)s.p + s.len <= data + size, what);
    need(memchr(s.p, 0, s.len) == NULL, what);
}

static void check_event(const pd_event *e, const uint8_t *data, size_t size)
{
    const pd_resource *r = &e->resource;
    need(e->kind < PD_KIND__COUNT && e->format < PD_FMT__COUNT, "enum range");
    need(r->cloud < PD_CLOUD__COUNT && e->status < PD_STATUS__COUNT && e->severity < PD_SEV__COUNT,
         "enum range");
    need(r->ntags <= PD_EVENT_MAX_TAGS && e->control.nframeworks <= PD_EVENT_MAX_FRAMEWORKS,
         "counts");
    const pd_str *strs[] = {&r->id,
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
        slice_ok(*strs[i], data, size, true, "slice");
    slice_ok(r->canon, data, size, false, "canon");
    for (int i = 0; i < r->ntags; i++) {
        slice_ok(r->tags[i].key, data, size, true, "tag key");
        slice_ok(r->tags[i].value, data, size, true, "tag value");
    }
    for (int i = 0; i < e->control.nframeworks; i++)
        slice_ok(e->control.frameworks[i], data, size, true, "framework");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!un) {
        if (pd_event_unpacker_create(&un))
            abort();
        pd_buf_init(&pk1);
        pd_buf_init(&pk2);
        pd_buf_init(&j1);
        pd_buf_init(&j2);
    }
    pd_event e, e2;
    const char *why = NULL;
    int rc = pd_event_unpack(un, data, size, &e, &why);
    if (rc) {
        need(rc == PD_EINVAL, "error code");
        need(why != NULL, "a reason");
        for (const char *c = why; *c; c++)
            need((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "reason printable");
        return 0;
    }
    need(why == NULL, "no reason on success");
    check_event(&e, data, size);
    pd_buf_reset(&j1);
    pd_event_json(&e, &j1);
    pd_buf_reset(&pk1);
    need(pd_event_pack(&e, &pk1) == 0, "an accepted event packs");
    /* e's canon may live in the scratch the next unpack rewrites: j1 and pk1 are taken. */
    need(pd_event_unpack(un, pk1.p, pk1.len, &e2, &why) == 0, "a packed event unpacks");
    pd_buf_reset(&j2);
    pd_event_json(&e2, &j2);
    need(j1.len == j2.len && !memcmp(j1.p, j2.p, j1.len), "same JSON after a repack");
    pd_buf_reset(&pk2);
    need(pd_event_pack(&e2, &pk2) == 0, "repack");
    need(pk1.len == pk2.len && !memcmp(pk1.p, pk2.p, pk1.len), "pack is stable");
    return 0;
}
