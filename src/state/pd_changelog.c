/* Changelog records as msgpack (schemas/state-changelog.md):
 *   {"v": 1, "fp": u64, "id": str, "cloud": u8, "account": str, "group": str, "type": str,
 *    "name": str, "region": str, "scope": u64, "tagmatch": u64, "ah": u32, "snap": u32,
 *    "live": u16, "gone": 0|1,
 *    "pairs": [[control, status, flags, flap_n, sla_bits, ev, seen, since, flap], ...]}
 * and control records (key "#ctl:" + control key):
 *   {"v": 1, "fp": u64, "ctl": str, "name": str, "goals": u64, "stale": u32,
 *    "flap_window": u32, "flap_toggles": u8, "sev": u8, "sla": [u8...], "frameworks": [str...]}
 * Pairs are arrays (positional) because a resource has tens of them; the map keys make the
 * record readable with any msgpack tool. */
#include "pd_changelog.h"

#include "pd_msgpack.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void pack_key(msgpack_packer *pk, const char *k)
{
    pack_str(pk, pd_str_c(k));
}

int pd_changelog_encode(const pd_changelog_res *r, pd_buf *out)
{
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 16);
    pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, PD_CHANGELOG_VERSION);
    pack_key(&pk, "fp");
    msgpack_pack_uint64(&pk, r->fingerprint);
    pack_key(&pk, "id");
    pack_str(&pk, r->id);
    pack_key(&pk, "cloud");
    msgpack_pack_uint8(&pk, r->cloud);
    pack_key(&pk, "account");
    pack_str(&pk, r->account);
    pack_key(&pk, "group");
    pack_str(&pk, r->group);
    pack_key(&pk, "type");
    pack_str(&pk, r->type);
    pack_key(&pk, "name");
    pack_str(&pk, r->name);
    pack_key(&pk, "region");
    pack_str(&pk, r->region);
    pack_key(&pk, "scope");
    msgpack_pack_uint64(&pk, r->scope);
    pack_key(&pk, "tagmatch");
    msgpack_pack_uint64(&pk, r->tagmatch);
    pack_key(&pk, "ah");
    msgpack_pack_uint32(&pk, r->attr_hash);
    pack_key(&pk, "snap");
    msgpack_pack_uint32(&pk, r->snap_s);
    pack_key(&pk, "live");
    msgpack_pack_uint16(&pk, r->live);
    pack_key(&pk, "gone");
    msgpack_pack_uint8(&pk, r->gone);
    pack_key(&pk, "pairs");
    msgpack_pack_array(&pk, r->npairs);
    for (uint32_t i = 0; i < r->npairs; i++) {
        const pd_changelog_pair *p = &r->pairs[i];
        msgpack_pack_array(&pk, 9);
        pack_str(&pk, p->control);
        msgpack_pack_uint8(&pk, p->status);
        msgpack_pack_uint8(&pk, p->flags);
        msgpack_pack_uint8(&pk, p->flap_n);
        msgpack_pack_uint8(&pk, p->sla_bits);
        msgpack_pack_uint32(&pk, p->ev_s);
        msgpack_pack_uint32(&pk, p->seen_s);
        msgpack_pack_uint32(&pk, p->since_s);
        msgpack_pack_uint32(&pk, p->flap_s);
    }
    if (out->oom) {
        out->len = start;
        return PD_ENOMEM;
    }
    return 0;
}

struct pd_changelog_dec {
    msgpack_unpacked u;
    pd_changelog_comp *comp;
    uint32_t comp_cap;
    pd_changelog_pair *pairs;
    uint32_t cap;
    pd_str *fw;
    uint32_t fw_cap;
};

int pd_changelog_dec_create(pd_changelog_dec **out)
{
    pd_changelog_dec *d = calloc(1, sizeof(*d));
    if (!d)
        return PD_ENOMEM;
    msgpack_unpacked_init(&d->u);
    *out = d;
    return 0;
}

void pd_changelog_dec_destroy(pd_changelog_dec *d)
{
    if (!d)
        return;
    msgpack_unpacked_destroy(&d->u);
    free(d->pairs);
    free(d->fw);
    free(d->comp);
    free(d);
}

__attribute__((format(printf, 3, 4))) static int bad(char *why, size_t n, const char *fmt, ...)
{
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return PD_EINVAL;
}

/* Walks one msgpack value without building it: every length must fit in the bytes left and
 * every array/map count must be coverable by them (each element takes at least one byte), so
 * a corrupt count cannot make msgpack-c allocate for billions of elements. */

static bool get_uint(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return false;
    *out = o->via.u64;
    return true;
}

static bool get_str(const msgpack_object *o, pd_str *out)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > UINT32_MAX / 2)
        return false;
    *out = (pd_str){o->via.str.ptr, o->via.str.size};
    return true;
}

static bool key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
}

static int dec_pair(const msgpack_object *o, pd_changelog_pair *p, uint32_t i, char *why,
                    size_t why_len)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 9)
        return bad(why, why_len, "pair %u: not an array of 9", i);
    const msgpack_object *a = o->via.array.ptr;
    uint64_t v[8];
    static const uint64_t max[8] = {PD_STATUS__COUNT - 1, 255,        255,        255,
                                    UINT32_MAX,           UINT32_MAX, UINT32_MAX, UINT32_MAX};
    if (!get_str(&a[0], &p->control) || !p->control.len)
        return bad(why, why_len, "pair %u: the control key must be a string", i);
    for (int k = 0; k < 8; k++)
        if (!get_uint(&a[1 + k], max[k], &v[k]))
            return bad(why, why_len, "pair %u: field %d not an unsigned integer in range", i,
                       1 + k);
    p->status = (uint8_t)v[0];
    p->flags = (uint8_t)v[1];
    p->flap_n = (uint8_t)v[2];
    p->sla_bits = (uint8_t)v[3];
    p->ev_s = (uint32_t)v[4];
    p->seen_s = (uint32_t)v[5];
    p->since_s = (uint32_t)v[6];
    p->flap_s = (uint32_t)v[7];
    return 0;
}

int pd_changelog_decode(pd_changelog_dec *d, const void *data, size_t len, pd_changelog_res *out,
                        char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (!pd_msgpack_sane(data, len))
        return bad(why, why_len, "truncated or corrupt msgpack");
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&d->u, data, len, &off);
    if (ur == MSGPACK_UNPACK_CONTINUE)
        return bad(why, why_len, "truncated record");
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) /* a corrupt count asks for more than exists */
        return bad(why, why_len, "record too large or corrupt");
    if (ur != MSGPACK_UNPACK_SUCCESS)
        return bad(why, why_len, "not msgpack");
    if (off != len)
        return bad(why, why_len, "%zu bytes after the record", len - off);
    const msgpack_object *o = &d->u.data;
    if (o->type != MSGPACK_OBJECT_MAP)
        return bad(why, why_len, "record is not a map");
    uint32_t seen = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        uint64_t u = 0;
        bool ok = true;
        uint32_t bit;
        if (key_is(k, "v")) {
            bit = 1;
            ok = get_uint(v, UINT32_MAX, &u);
            if (ok && u != PD_CHANGELOG_VERSION)
                return bad(why, why_len, "record version %llu (this build reads %d)",
                           (unsigned long long)u, PD_CHANGELOG_VERSION);
        } else if (key_is(k, "fp")) {
            bit = 2;
            ok = get_uint(v, UINT64_MAX, &out->fingerprint);
        } else if (key_is(k, "id")) {
            bit = 4;
            ok = get_str(v, &out->id) && out->id.len;
        } else if (key_is(k, "cloud")) {
            bit = 8;
            ok = get_uint(v, PD_CLOUD__COUNT - 1, &u);
            out->cloud = (uint8_t)u;
        } else if (key_is(k, "account")) {
            bit = 16;
            ok = get_str(v, &out->account);
        } else if (key_is(k, "group")) {
            bit = 32;
            ok = get_str(v, &out->group);
        } else if (key_is(k, "type")) {
            bit = 64;
            ok = get_str(v, &out->type);
        } else if (key_is(k, "name")) {
            bit = 128;
            ok = get_str(v, &out->name);
        } else if (key_is(k, "region")) {
            bit = 256;
            ok = get_str(v, &out->region);
        } else if (key_is(k, "scope")) {
            bit = 512;
            ok = get_uint(v, UINT64_MAX, &out->scope);
        } else if (key_is(k, "tagmatch")) {
            bit = 1024;
            ok = get_uint(v, UINT64_MAX, &out->tagmatch);
        } else if (key_is(k, "ah")) {
            bit = 2048;
            ok = get_uint(v, UINT32_MAX, &u);
            out->attr_hash = (uint32_t)u;
        } else if (key_is(k, "snap")) {
            bit = 4096;
            ok = get_uint(v, UINT32_MAX, &u);
            out->snap_s = (uint32_t)u;
        } else if (key_is(k, "live")) {
            bit = 16384;
            ok = get_uint(v, UINT16_MAX, &u);
            out->live = (uint16_t)u;
        } else if (key_is(k, "gone")) {
            bit = 32768;
            ok = get_uint(v, 1, &u);
            out->gone = (uint8_t)u;
        } else if (key_is(k, "pairs")) {
            bit = 8192;
            if (v->type != MSGPACK_OBJECT_ARRAY)
                return bad(why, why_len, "pairs: not an array");
            uint32_t n = v->via.array.size;
            if (n > d->cap) {
                pd_changelog_pair *np = realloc(d->pairs, (size_t)n * sizeof(*np));
                if (!np)
                    return PD_ENOMEM;
                d->pairs = np;
                d->cap = n;
            }
            for (uint32_t j = 0; j < n; j++) {
                int rc = dec_pair(&v->via.array.ptr[j], &d->pairs[j], j, why, why_len);
                if (rc)
                    return rc;
            }
            out->pairs = d->pairs;
            out->npairs = n;
        } else {
            if (k->type == MSGPACK_OBJECT_STR)
                return bad(why, why_len, "unknown key \"%.*s\"", (int)PD_MIN(k->via.str.size, 64u),
                           k->via.str.ptr);
            return bad(why, why_len, "a key that is not a string");
        }
        if (!ok) {
            const char *kn = k->via.str.ptr;
            return bad(why, why_len, "\"%.*s\": wrong type or out of range", (int)k->via.str.size,
                       kn);
        }
        if (seen & bit)
            return bad(why, why_len, "a key appears twice");
        seen |= bit;
    }
    if (seen != 65535)
        return bad(why, why_len, "missing keys (have mask %#x)", seen);
    return 0;
}

/* ---------- control records ---------- */

bool pd_changelog_key_is_control(pd_str key)
{
    return pd_str_iprefix(key, PD_CHANGELOG_CTL_PREFIX);
}

int pd_changelog_encode_control(const pd_changelog_ctl *c, pd_buf *out)
{
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 11);
    pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, PD_CHANGELOG_VERSION);
    pack_key(&pk, "fp");
    msgpack_pack_uint64(&pk, c->fingerprint);
    pack_key(&pk, "ctl");
    pack_str(&pk, c->key);
    pack_key(&pk, "name");
    pack_str(&pk, c->name);
    pack_key(&pk, "goals");
    msgpack_pack_uint64(&pk, c->goals);
    pack_key(&pk, "stale");
    msgpack_pack_uint32(&pk, c->stale_s);
    pack_key(&pk, "flap_window");
    msgpack_pack_uint32(&pk, c->flap_window_s);
    pack_key(&pk, "flap_toggles");
    msgpack_pack_uint8(&pk, c->flap_toggles);
    pack_key(&pk, "sev");
    msgpack_pack_uint8(&pk, c->sev);
    pack_key(&pk, "sla");
    msgpack_pack_array(&pk, c->nsla);
    for (uint32_t i = 0; i < c->nsla; i++)
        msgpack_pack_uint8(&pk, c->sla_goal[i]);
    pack_key(&pk, "frameworks");
    msgpack_pack_array(&pk, c->nframeworks);
    for (uint32_t i = 0; i < c->nframeworks; i++)
        pack_str(&pk, c->frameworks[i]);
    if (out->oom) {
        out->len = start;
        return PD_ENOMEM;
    }
    return 0;
}

int pd_changelog_decode_control(pd_changelog_dec *d, const void *data, size_t len,
                                pd_changelog_ctl *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (!pd_msgpack_sane(data, len))
        return bad(why, why_len, "truncated or corrupt msgpack");
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&d->u, data, len, &off);
    if (ur == MSGPACK_UNPACK_CONTINUE)
        return bad(why, why_len, "truncated record");
    if (ur != MSGPACK_UNPACK_SUCCESS)
        return bad(why, why_len, "not msgpack, or a corrupt count");
    if (off != len)
        return bad(why, why_len, "%zu bytes after the record", len - off);
    const msgpack_object *o = &d->u.data;
    if (o->type != MSGPACK_OBJECT_MAP)
        return bad(why, why_len, "record is not a map");
    uint32_t seen = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        uint64_t u = 0;
        bool ok = true;
        uint32_t bit;
        if (key_is(k, "v")) {
            bit = 1;
            ok = get_uint(v, UINT32_MAX, &u);
            if (ok && u != PD_CHANGELOG_VERSION)
                return bad(why, why_len, "record version %llu (this build reads %d)",
                           (unsigned long long)u, PD_CHANGELOG_VERSION);
        } else if (key_is(k, "fp")) {
            bit = 2;
            ok = get_uint(v, UINT64_MAX, &out->fingerprint);
        } else if (key_is(k, "ctl")) {
            bit = 4;
            ok = get_str(v, &out->key) && out->key.len;
        } else if (key_is(k, "name")) {
            bit = 8;
            ok = get_str(v, &out->name);
        } else if (key_is(k, "goals")) {
            bit = 16;
            ok = get_uint(v, UINT64_MAX, &out->goals);
        } else if (key_is(k, "stale")) {
            bit = 32;
            ok = get_uint(v, UINT32_MAX, &u);
            out->stale_s = (uint32_t)u;
        } else if (key_is(k, "flap_window")) {
            bit = 64;
            ok = get_uint(v, UINT32_MAX, &u);
            out->flap_window_s = (uint32_t)u;
        } else if (key_is(k, "flap_toggles")) {
            bit = 128;
            ok = get_uint(v, 255, &u);
            out->flap_toggles = (uint8_t)u;
        } else if (key_is(k, "sev")) {
            bit = 256;
            ok = get_uint(v, PD_SEV__COUNT - 1, &u);
            out->sev = (uint8_t)u;
        } else if (key_is(k, "sla")) {
            bit = 512;
            ok = v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size <= 8;
            for (uint32_t j = 0; ok && j < v->via.array.size; j++) {
                ok = get_uint(&v->via.array.ptr[j], 63, &u);
                out->sla_goal[j] = (uint8_t)u;
            }
            if (ok)
                out->nsla = (uint8_t)v->via.array.size;
        } else if (key_is(k, "frameworks")) {
            bit = 1024;
            ok = v->type == MSGPACK_OBJECT_ARRAY;
            uint32_t n = ok ? v->via.array.size : 0;
            if (n > d->fw_cap) {
                pd_str *nf = realloc(d->fw, (size_t)n * sizeof(pd_str));
                if (!nf)
                    return PD_ENOMEM;
                d->fw = nf;
                d->fw_cap = n;
            }
            for (uint32_t j = 0; ok && j < n; j++)
                ok = get_str(&v->via.array.ptr[j], &d->fw[j]);
            out->frameworks = d->fw;
            out->nframeworks = ok ? n : 0;
        } else {
            if (k->type == MSGPACK_OBJECT_STR)
                return bad(why, why_len, "unknown key \"%.*s\"", (int)PD_MIN(k->via.str.size, 64u),
                           k->via.str.ptr);
            return bad(why, why_len, "a key that is not a string");
        }
        if (!ok)
            return bad(why, why_len, "\"%.*s\": wrong type or out of range", (int)k->via.str.size,
                       k->via.str.ptr);
        if (seen & bit)
            return bad(why, why_len, "a key appears twice");
        seen |= bit;
    }
    if (seen != 2047)
        return bad(why, why_len, "missing keys (have mask %#x)", seen);
    return 0;
}

/* ---------- goal records ---------- */

bool pd_changelog_key_is_goal(pd_str key)
{
    return pd_str_iprefix(key, PD_CHANGELOG_GOAL_PREFIX);
}

int pd_changelog_encode_goal(const pd_changelog_goal *g, pd_buf *out)
{
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 7);
    pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, PD_CHANGELOG_VERSION);
    pack_key(&pk, "fp");
    msgpack_pack_uint64(&pk, g->fingerprint);
    pack_key(&pk, "goal");
    pack_str(&pk, g->id);
    pack_key(&pk, "state");
    msgpack_pack_int8(&pk, g->state);
    pack_key(&pk, "has");
    if (g->has_value)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pack_key(&pk, "value");
    msgpack_pack_double(&pk, g->value);
    pack_key(&pk, "changed");
    msgpack_pack_int64(&pk, g->changed_ms);
    if (out->oom) {
        out->len = start;
        return PD_ENOMEM;
    }
    return 0;
}

static bool get_int(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
        *out = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o->via.i64;
    else
        return false;
    return true;
}

int pd_changelog_decode_goal(pd_changelog_dec *d, const void *data, size_t len,
                             pd_changelog_goal *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (!pd_msgpack_sane(data, len))
        return bad(why, why_len, "truncated or corrupt msgpack");
    size_t off = 0;
    if (msgpack_unpack_next(&d->u, data, len, &off) != MSGPACK_UNPACK_SUCCESS)
        return bad(why, why_len, "not msgpack");
    if (off != len)
        return bad(why, why_len, "%zu bytes after the record", len - off);
    const msgpack_object *o = &d->u.data;
    if (o->type != MSGPACK_OBJECT_MAP)
        return bad(why, why_len, "record is not a map");
    uint32_t seen = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        uint64_t u = 0;
        int64_t x = 0;
        bool ok = true;
        uint32_t bit;
        if (key_is(k, "v")) {
            bit = 1;
            ok = get_uint(v, UINT32_MAX, &u) && u == PD_CHANGELOG_VERSION;
        } else if (key_is(k, "fp")) {
            bit = 2;
            ok = get_uint(v, UINT64_MAX, &out->fingerprint);
        } else if (key_is(k, "goal")) {
            bit = 4;
            ok = get_str(v, &out->id) && out->id.len;
        } else if (key_is(k, "state")) {
            bit = 8;
            ok = get_int(v, &x) && x >= -1 && x <= 1;
            out->state = (int8_t)x;
        } else if (key_is(k, "has")) {
            bit = 16;
            ok = v->type == MSGPACK_OBJECT_BOOLEAN;
            out->has_value = ok && v->via.boolean;
        } else if (key_is(k, "value")) {
            bit = 32;
            ok = v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32;
            out->value = ok ? v->via.f64 : 0;
        } else if (key_is(k, "changed")) {
            bit = 64;
            ok = get_int(v, &out->changed_ms);
        } else {
            return bad(why, why_len, "unknown key");
        }
        if (!ok)
            return bad(why, why_len, "\"%.*s\": wrong type, value or version", (int)k->via.str.size,
                       k->via.str.ptr);
        if (seen & bit)
            return bad(why, why_len, "a key appears twice");
        seen |= bit;
    }
    if (seen != 127)
        return bad(why, why_len, "missing keys (have mask %#x)", seen);
    return 0;
}

/* ---------- account records ---------- */

bool pd_changelog_key_is_acct(pd_str key)
{
    return pd_str_iprefix(key, PD_CHANGELOG_ACCT_PREFIX);
}

int pd_changelog_encode_acct(const pd_changelog_acct *a, pd_buf *out)
{
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 8);
    pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, PD_CHANGELOG_VERSION);
    pack_key(&pk, "fp");
    msgpack_pack_uint64(&pk, a->fingerprint);
    pack_key(&pk, "acct");
    pack_str(&pk, a->account);
    pack_key(&pk, "cloud");
    msgpack_pack_uint8(&pk, a->cloud);
    pack_key(&pk, "has_score");
    if (a->has_score)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pack_key(&pk, "num");
    msgpack_pack_double(&pk, a->score_num);
    pack_key(&pk, "den");
    msgpack_pack_double(&pk, a->score_den);
    pack_key(&pk, "comp");
    msgpack_pack_array(&pk, a->ncomp);
    for (uint32_t i = 0; i < a->ncomp; i++) {
        msgpack_pack_array(&pk, 4);
        pack_str(&pk, a->comp[i].key);
        msgpack_pack_uint32(&pk, a->comp[i].passed);
        msgpack_pack_uint32(&pk, a->comp[i].failed);
        msgpack_pack_uint64(&pk, a->comp[i].goals);
    }
    if (out->oom) {
        out->len = start;
        return PD_ENOMEM;
    }
    return 0;
}

static bool get_f64(const msgpack_object *o, double *out)
{
    if (o->type != MSGPACK_OBJECT_FLOAT64 && o->type != MSGPACK_OBJECT_FLOAT32)
        return false;
    *out = o->via.f64;
    return *out == *out; /* not NaN */
}

int pd_changelog_decode_acct(pd_changelog_dec *d, const void *data, size_t len,
                             pd_changelog_acct *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (!pd_msgpack_sane(data, len))
        return bad(why, why_len, "truncated or corrupt msgpack");
    size_t off = 0;
    if (msgpack_unpack_next(&d->u, data, len, &off) != MSGPACK_UNPACK_SUCCESS)
        return bad(why, why_len, "not msgpack");
    if (off != len)
        return bad(why, why_len, "%zu bytes after the record", len - off);
    const msgpack_object *o = &d->u.data;
    if (o->type != MSGPACK_OBJECT_MAP)
        return bad(why, why_len, "record is not a map");
    uint32_t seen = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        uint64_t u = 0;
        bool ok = true;
        uint32_t bit;
        if (key_is(k, "v")) {
            bit = 1;
            ok = get_uint(v, UINT32_MAX, &u) && u == PD_CHANGELOG_VERSION;
        } else if (key_is(k, "fp")) {
            bit = 2;
            ok = get_uint(v, UINT64_MAX, &out->fingerprint);
        } else if (key_is(k, "acct")) {
            bit = 4;
            ok = get_str(v, &out->account) && out->account.len;
        } else if (key_is(k, "cloud")) {
            bit = 8;
            ok = get_uint(v, PD_CLOUD__COUNT - 1, &u);
            out->cloud = (uint8_t)u;
        } else if (key_is(k, "has_score")) {
            bit = 16;
            ok = v->type == MSGPACK_OBJECT_BOOLEAN;
            out->has_score = ok && v->via.boolean;
        } else if (key_is(k, "num")) {
            bit = 32;
            ok = get_f64(v, &out->score_num);
        } else if (key_is(k, "den")) {
            bit = 64;
            ok = get_f64(v, &out->score_den);
        } else if (key_is(k, "comp")) {
            bit = 128;
            ok = v->type == MSGPACK_OBJECT_ARRAY;
            uint32_t n = ok ? v->via.array.size : 0;
            if (n > d->comp_cap) {
                pd_changelog_comp *nc = realloc(d->comp, (size_t)n * sizeof(*nc));
                if (!nc)
                    return PD_ENOMEM;
                d->comp = nc;
                d->comp_cap = n;
            }
            for (uint32_t j = 0; ok && j < n; j++) {
                const msgpack_object *e = &v->via.array.ptr[j];
                pd_changelog_comp *c = &d->comp[j];
                uint64_t pa = 0, fa = 0;
                ok = e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 4 &&
                     get_str(&e->via.array.ptr[0], &c->key) && c->key.len &&
                     get_uint(&e->via.array.ptr[1], UINT32_MAX, &pa) &&
                     get_uint(&e->via.array.ptr[2], UINT32_MAX, &fa) &&
                     get_uint(&e->via.array.ptr[3], UINT64_MAX, &c->goals);
                c->passed = (uint32_t)pa;
                c->failed = (uint32_t)fa;
            }
            out->comp = d->comp;
            out->ncomp = ok ? n : 0;
        } else {
            return bad(why, why_len, "unknown key");
        }
        if (!ok)
            return bad(why, why_len, "\"%.*s\": wrong type, value or version", (int)k->via.str.size,
                       k->via.str.ptr);
        if (seen & bit)
            return bad(why, why_len, "a key appears twice");
        seen |= bit;
    }
    if (seen != 255)
        return bad(why, why_len, "missing keys (have mask %#x)", seen);
    return 0;
}
