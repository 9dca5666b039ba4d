/* pd_event as msgpack (format in pd_event_pack.h). */
#include "pd_event_pack.h"

#include "pd_msgpack.h"
#include "pd_time.h"

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define TOP_LEN   15
#define RES_LEN   9
#define CTL_LEN   4
#define ALERT_LEN 6
#define VULN_LEN  4
#define SCORE_LEN 7
#define COMP_LEN  6
/* One event takes about 60 objects (24 bytes each) in the zone; one chunk holds a large one,
 * and msgpack_zone_clear keeps a chunk, so steady state allocates nothing. */
#define ZONE_CHUNK 8192

/* ---------- pack ---------- */

static int buf_write(void *data, const char *p, size_t n)
{
    pd_buf *b = data;
    pd_buf_append(b, p, n);
    return b->oom ? -1 : 0;
}

static void pack_str(msgpack_packer *pk, pd_str s)
{
    msgpack_pack_str(pk, s.len);
    msgpack_pack_str_body(pk, s.p ? s.p : "", s.len);
}

static void pack_time(msgpack_packer *pk, int64_t ms)
{
    if (ms == PD_TIME_NONE)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_int64(pk, ms);
}

/* Integral doubles (scores, counts sent as numbers) as integers: 1-5 bytes instead of 9. The
 * range keeps the cast defined and exact; -0.0 stays a double so its sign survives. */
static void pack_num(msgpack_packer *pk, double v)
{
    if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && v == (double)(int64_t)v &&
        !(v == 0 && signbit(v)))
        msgpack_pack_int64(pk, (int64_t)v);
    else
        msgpack_pack_double(pk, v);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool canon_is_lower_id(const pd_resource *r)
{
    if (r->canon.len != r->id.len)
        return false;
    for (uint32_t i = 0; i < r->id.len; i++)
        if (r->canon.p[i] != lower(r->id.p[i]))
            return false;
    return true;
}

static bool time_ok(int64_t ms)
{
    return ms == PD_TIME_NONE || (ms >= -PD_EVENT_PACK_TIME_MAX && ms <= PD_EVENT_PACK_TIME_MAX);
}

static bool str_ok(pd_str s)
{
    return s.p || !s.len;
}

/* What pack refuses: anything unpack would refuse, so a packed event always unpacks. */
static bool packable(const pd_event *e)
{
    const pd_resource *r = &e->resource;
    if ((unsigned)e->kind >= PD_KIND__COUNT || (unsigned)e->format >= PD_FMT__COUNT ||
        (unsigned)r->cloud >= PD_CLOUD__COUNT || (unsigned)e->status >= PD_STATUS__COUNT ||
        (unsigned)e->severity >= PD_SEV__COUNT || r->ntags > PD_EVENT_MAX_TAGS ||
        e->control.nframeworks > PD_EVENT_MAX_FRAMEWORKS || !time_ok(e->time_ms) ||
        !time_ok(e->first_seen_ms) || !time_ok(e->status_change_ms))
        return false;
    if (e->kind == PD_KIND_ALERT && (!time_ok(e->alert.start_ms) || !time_ok(e->alert.end_ms)))
        return false;
    const pd_str s[] = {r->id,
                        r->canon,
                        r->account,
                        r->region,
                        r->group,
                        r->type,
                        r->name,
                        e->control.key,
                        e->control.name,
                        e->control.category,
                        e->severity_orig,
                        e->event_id,
                        e->alert.id,
                        e->alert.type,
                        e->alert.status,
                        e->vuln.cve,
                        e->vuln.parent_key,
                        e->score.control,
                        e->compliance.standard,
                        e->compliance.control,
                        e->compliance.state};
    for (size_t i = 0; i < PD_ARRAY_LEN(s); i++)
        if (!str_ok(s[i]))
            return false;
    for (unsigned i = 0; i < r->ntags; i++)
        if (!str_ok(r->tags[i].key) || !str_ok(r->tags[i].value))
            return false;
    for (unsigned i = 0; i < e->control.nframeworks; i++)
        if (!str_ok(e->control.frameworks[i]))
            return false;
    return true;
}

int pd_event_pack(const pd_event *e, pd_buf *out)
{
    if (!packable(e))
        return PD_EINVAL;
    size_t start = out->len;
    bool was_oom = out->oom;
    out->oom = false;
    const pd_resource *r = &e->resource;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_array(&pk, TOP_LEN);
    msgpack_pack_uint8(&pk, PD_EVENT_PACK_VERSION);
    msgpack_pack_uint8(&pk, (uint8_t)e->kind);
    msgpack_pack_uint8(&pk, (uint8_t)e->format);
    msgpack_pack_uint8(&pk, (uint8_t)e->status);
    msgpack_pack_uint8(&pk, (uint8_t)e->severity);
    pack_str(&pk, e->severity_orig);
    pack_time(&pk, e->time_ms);
    pack_time(&pk, e->first_seen_ms);
    pack_time(&pk, e->status_change_ms);
    if (e->snapshot)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    if (e->deleted)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pack_str(&pk, e->event_id);

    msgpack_pack_array(&pk, RES_LEN);
    pack_str(&pk, r->id);
    if (canon_is_lower_id(r))
        msgpack_pack_nil(&pk);
    else
        pack_str(&pk, r->canon);
    msgpack_pack_uint8(&pk, (uint8_t)r->cloud);
    pack_str(&pk, r->account);
    pack_str(&pk, r->region);
    pack_str(&pk, r->group);
    pack_str(&pk, r->type);
    pack_str(&pk, r->name);
    msgpack_pack_map(&pk, r->ntags);
    for (unsigned i = 0; i < r->ntags; i++) {
        pack_str(&pk, r->tags[i].key);
        pack_str(&pk, r->tags[i].value);
    }

    msgpack_pack_array(&pk, CTL_LEN);
    pack_str(&pk, e->control.key);
    pack_str(&pk, e->control.name);
    pack_str(&pk, e->control.category);
    msgpack_pack_array(&pk, e->control.nframeworks);
    for (unsigned i = 0; i < e->control.nframeworks; i++)
        pack_str(&pk, e->control.frameworks[i]);

    switch (e->kind) {
    case PD_KIND_ALERT:
        msgpack_pack_array(&pk, ALERT_LEN);
        pack_str(&pk, e->alert.id);
        pack_str(&pk, e->alert.type);
        pack_str(&pk, e->alert.status);
        msgpack_pack_uint32(&pk, e->alert.tactics);
        pack_time(&pk, e->alert.start_ms);
        pack_time(&pk, e->alert.end_ms);
        break;
    case PD_KIND_VULNERABILITY:
        msgpack_pack_array(&pk, VULN_LEN);
        pack_str(&pk, e->vuln.cve);
        pack_str(&pk, e->vuln.parent_key);
        if (e->vuln.cvss < 0)
            msgpack_pack_nil(&pk);
        else
            pack_num(&pk, e->vuln.cvss);
        if (e->vuln.fix_available)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        break;
    case PD_KIND_SCORE:
        msgpack_pack_array(&pk, SCORE_LEN);
        pack_str(&pk, e->score.control);
        pack_num(&pk, e->score.current);
        pack_num(&pk, e->score.max);
        pack_num(&pk, e->score.percentage);
        msgpack_pack_uint32(&pk, e->score.healthy);
        msgpack_pack_uint32(&pk, e->score.unhealthy);
        msgpack_pack_uint32(&pk, e->score.not_applicable);
        break;
    case PD_KIND_COMPLIANCE:
        msgpack_pack_array(&pk, COMP_LEN);
        pack_str(&pk, e->compliance.standard);
        pack_str(&pk, e->compliance.control);
        pack_str(&pk, e->compliance.state);
        msgpack_pack_uint32(&pk, e->compliance.passed);
        msgpack_pack_uint32(&pk, e->compliance.failed);
        msgpack_pack_uint32(&pk, e->compliance.skipped);
        break;
    default:
        msgpack_pack_nil(&pk);
        break;
    }
    if (out->oom) {
        out->len = start;
        return PD_ENOMEM;
    }
    out->oom = was_oom;
    return 0;
}

/* ---------- unpack ---------- */

struct pd_event_unpacker {
    msgpack_zone zone;
    char *scratch; /* rebuilt canon ids */
    size_t cap;
};

int pd_event_unpacker_create(pd_event_unpacker **out)
{
    pd_event_unpacker *u = calloc(1, sizeof(*u));
    if (!u)
        return PD_ENOMEM;
    if (!msgpack_zone_init(&u->zone, ZONE_CHUNK)) {
        free(u);
        return PD_ENOMEM;
    }
    *out = u;
    return 0;
}

void pd_event_unpacker_destroy(pd_event_unpacker *u)
{
    if (!u)
        return;
    msgpack_zone_destroy(&u->zone);
    free(u->scratch);
    free(u);
}

/* Each reader returns false with *why set; the reasons are static strings. */
typedef const char *why_t;

static bool fail(why_t *why, const char *reason)
{
    *why = reason;
    return false;
}

static bool get_str(const msgpack_object *o, pd_str *out, why_t *why)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return fail(why, "type");
    /* Decoded events never hold NUL; consumers may rely on it (C-string interning). */
    if (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size))
        return fail(why, "nul");
    *out = (pd_str){o->via.str.ptr, o->via.str.size};
    return true;
}

static bool get_uint(const msgpack_object *o, uint64_t max, uint64_t *out, why_t *why,
                     const char *range)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return fail(why, "type");
    if (o->via.u64 > max)
        return fail(why, range);
    *out = o->via.u64;
    return true;
}

static bool get_u32(const msgpack_object *o, uint32_t *out, why_t *why)
{
    uint64_t v;
    if (!get_uint(o, UINT32_MAX, &v, why, "range"))
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool get_time(const msgpack_object *o, int64_t *out, why_t *why)
{
    if (o->type == MSGPACK_OBJECT_NIL) {
        *out = PD_TIME_NONE;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)PD_EVENT_PACK_TIME_MAX)
            return fail(why, "range");
        *out = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < -PD_EVENT_PACK_TIME_MAX)
            return fail(why, "range");
        *out = o->via.i64;
        return true;
    }
    return fail(why, "type");
}

static bool get_num(const msgpack_object *o, double *out, why_t *why)
{
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = o->via.f64;
        return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)o->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)o->via.i64;
        return true;
    default:
        return fail(why, "type");
    }
}

static bool get_bool(const msgpack_object *o, bool *out, why_t *why)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return fail(why, "type");
    *out = o->via.boolean;
    return true;
}

static const msgpack_object *get_arr(const msgpack_object *o, uint32_t n, why_t *why)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n) {
        fail(why, "shape");
        return NULL;
    }
    return o->via.array.ptr;
}

/* canon nil: the lowercase of id, rebuilt in scratch (grown, never shrunk). */
static bool rebuild_canon(pd_event_unpacker *u, pd_resource *r, why_t *why)
{
    if (r->id.len > u->cap) {
        char *p = realloc(u->scratch, r->id.len);
        if (!p)
            return fail(why, "out of memory");
        u->scratch = p;
        u->cap = r->id.len;
    }
    for (uint32_t i = 0; i < r->id.len; i++)
        u->scratch[i] = lower(r->id.p[i]);
    r->canon = (pd_str){u->scratch, r->id.len};
    return true;
}

static bool get_resource(pd_event_unpacker *u, const msgpack_object *o, pd_resource *r, why_t *why)
{
    const msgpack_object *a = get_arr(o, RES_LEN, why);
    uint64_t cloud;
    if (!a || !get_str(&a[0], &r->id, why))
        return false;
    if (a[1].type == MSGPACK_OBJECT_NIL) {
        if (!rebuild_canon(u, r, why))
            return false;
    } else if (!get_str(&a[1], &r->canon, why)) {
        return false;
    }
    if (!get_uint(&a[2], PD_CLOUD__COUNT - 1, &cloud, why, "cloud") ||
        !get_str(&a[3], &r->account, why) || !get_str(&a[4], &r->region, why) ||
        !get_str(&a[5], &r->group, why) || !get_str(&a[6], &r->type, why) ||
        !get_str(&a[7], &r->name, why))
        return false;
    r->cloud = (pd_cloud)cloud;
    if (a[8].type != MSGPACK_OBJECT_MAP)
        return fail(why, "shape");
    if (a[8].via.map.size > PD_EVENT_MAX_TAGS)
        return fail(why, "too many tags");
    for (uint32_t i = 0; i < a[8].via.map.size; i++) {
        const msgpack_object_kv *kv = &a[8].via.map.ptr[i];
        if (!get_str(&kv->key, &r->tags[i].key, why) || !get_str(&kv->val, &r->tags[i].value, why))
            return false;
    }
    r->ntags = (uint8_t)a[8].via.map.size;
    return true;
}

static bool get_control(const msgpack_object *o, pd_control *c, why_t *why)
{
    const msgpack_object *a = get_arr(o, CTL_LEN, why);
    if (!a || !get_str(&a[0], &c->key, why) || !get_str(&a[1], &c->name, why) ||
        !get_str(&a[2], &c->category, why))
        return false;
    if (a[3].type != MSGPACK_OBJECT_ARRAY)
        return fail(why, "shape");
    if (a[3].via.array.size > PD_EVENT_MAX_FRAMEWORKS)
        return fail(why, "too many frameworks");
    for (uint32_t i = 0; i < a[3].via.array.size; i++)
        if (!get_str(&a[3].via.array.ptr[i], &c->frameworks[i], why))
            return false;
    c->nframeworks = (uint8_t)a[3].via.array.size;
    return true;
}

static bool get_extra(const msgpack_object *o, pd_event *e, why_t *why)
{
    const msgpack_object *a;
    switch (e->kind) {
    case PD_KIND_ALERT:
        a = get_arr(o, ALERT_LEN, why);
        return a && get_str(&a[0], &e->alert.id, why) && get_str(&a[1], &e->alert.type, why) &&
               get_str(&a[2], &e->alert.status, why) && get_u32(&a[3], &e->alert.tactics, why) &&
               get_time(&a[4], &e->alert.start_ms, why) && get_time(&a[5], &e->alert.end_ms, why);
    case PD_KIND_VULNERABILITY:
        a = get_arr(o, VULN_LEN, why);
        if (!a || !get_str(&a[0], &e->vuln.cve, why) || !get_str(&a[1], &e->vuln.parent_key, why))
            return false;
        if (a[2].type == MSGPACK_OBJECT_NIL)
            e->vuln.cvss = -1.0;
        else if (!get_num(&a[2], &e->vuln.cvss, why))
            return false;
        return get_bool(&a[3], &e->vuln.fix_available, why);
    case PD_KIND_SCORE:
        a = get_arr(o, SCORE_LEN, why);
        return a && get_str(&a[0], &e->score.control, why) &&
               get_num(&a[1], &e->score.current, why) && get_num(&a[2], &e->score.max, why) &&
               get_num(&a[3], &e->score.percentage, why) &&
               get_u32(&a[4], &e->score.healthy, why) && get_u32(&a[5], &e->score.unhealthy, why) &&
               get_u32(&a[6], &e->score.not_applicable, why);
    case PD_KIND_COMPLIANCE:
        a = get_arr(o, COMP_LEN, why);
        return a && get_str(&a[0], &e->compliance.standard, why) &&
               get_str(&a[1], &e->compliance.control, why) &&
               get_str(&a[2], &e->compliance.state, why) &&
               get_u32(&a[3], &e->compliance.passed, why) &&
               get_u32(&a[4], &e->compliance.failed, why) &&
               get_u32(&a[5], &e->compliance.skipped, why);
    default:
        return o->type == MSGPACK_OBJECT_NIL || fail(why, "shape");
    }
}

static bool get_event(pd_event_unpacker *u, const msgpack_object *o, pd_event *e, why_t *why)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1)
        return fail(why, "shape");
    const msgpack_object *a = o->via.array.ptr;
    /* The version first, so a future layout is reported as such rather than as "shape". */
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 != PD_EVENT_PACK_VERSION)
        return fail(why, "version");
    if (o->via.array.size != TOP_LEN)
        return fail(why, "shape");
    uint64_t kind, format, status, sev;
    if (!get_uint(&a[1], PD_KIND__COUNT - 1, &kind, why, "kind") ||
        !get_uint(&a[2], PD_FMT__COUNT - 1, &format, why, "format") ||
        !get_uint(&a[3], PD_STATUS__COUNT - 1, &status, why, "status") ||
        !get_uint(&a[4], PD_SEV__COUNT - 1, &sev, why, "severity"))
        return false;
    e->kind = (pd_kind)kind;
    e->format = (pd_format)format;
    e->status = (pd_status)status;
    e->severity = (pd_severity)sev;
    return get_str(&a[5], &e->severity_orig, why) && get_time(&a[6], &e->time_ms, why) &&
           get_time(&a[7], &e->first_seen_ms, why) && get_time(&a[8], &e->status_change_ms, why) &&
           get_bool(&a[9], &e->snapshot, why) && get_bool(&a[10], &e->deleted, why) &&
           get_str(&a[11], &e->event_id, why) && get_resource(u, &a[12], &e->resource, why) &&
           get_control(&a[13], &e->control, why) && get_extra(&a[14], e, why);
}

int pd_event_unpack(pd_event_unpacker *u, const void *data, size_t len, pd_event *out,
                    const char **why)
{
    why_t dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    pd_event_reset(out);
    out->resource.ntags = 0;
    out->control.nframeworks = 0;
    /* msgpack-c allocates for the counts a header declares before reading the elements:
     * only walk bytes whose every count and length fits in them. */
    if (!data || !pd_msgpack_sane(data, len)) {
        *why = "truncated or corrupt";
        return PD_EINVAL;
    }
    msgpack_zone_clear(&u->zone);
    size_t off = 0;
    msgpack_object o;
    msgpack_unpack_return ur = msgpack_unpack(data, len, &off, &u->zone, &o);
    int rc = PD_EINVAL;
    if (ur == MSGPACK_UNPACK_EXTRA_BYTES)
        *why = "trailing bytes";
    else if (ur == MSGPACK_UNPACK_CONTINUE)
        *why = "truncated";
    else if (ur == MSGPACK_UNPACK_NOMEM_ERROR) /* the sane walk bounds sizes: nesting > 32 */
        *why = "depth";
    else if (ur != MSGPACK_UNPACK_SUCCESS)
        *why = "corrupt";
    else if (get_event(u, &o, out, why))
        rc = 0;
    if (rc) {
        pd_event_reset(out);
        out->resource.ntags = 0;
        out->control.nframeworks = 0;
    }
    return rc;
}
