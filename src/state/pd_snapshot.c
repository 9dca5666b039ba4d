/* Local snapshot files. Layout (all little-endian; schemas/state-snapshot.md):
 *   0   magic "PDSNAP\r\n"       8
 *   8   version u32, header length H u32
 *   16  header (H bytes): partition i32, payload version u32, created_ms i64, watermark_ms
 *       i64, pairs u64, resources u64, topic (u32 length + bytes), noffsets u32, then
 *       noffsets x (partition i32, offset i64), changelog offset i64. Readers skip header
 *       bytes they do not know.
 *   16+H payload length u64, payload
 *   end-8 checksum u64: pd_snapshot_file_sum(bytes 0..16+H+8, payload) */
#include "pd_snapshot.h"

#include "pd_engine_state.h"
#include "pd_time.h"

#include "pd_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pd_snapshot.c writes little-endian fields with memcpy"
#endif

static const char magic[8] = {'P', 'D', 'S', 'N', 'A', 'P', '\r', '\n'};

__attribute__((format(printf, 3, 4))) static int why_set(char *why, size_t n, const char *fmt, ...)
{
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return 0;
}

void pd_snapshot_meta_init(pd_snapshot_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->partition = -1;
    m->watermark_ms = PD_TIME_NONE;
    m->payload_version = PD_ENGINE_STATE_VERSION;
    m->changelog_offset = -1;
}

/* ---------- checksum ---------- */

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t lane(uint64_t acc, uint64_t w)
{
    acc += w * 0xc2b2ae3d27d4eb4fULL;
    return rotl(acc, 31) * 0x9e3779b97f4a7c15ULL;
}

uint64_t pd_snapshot_checksum(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t a = 0x243f6a8885a308d3ULL, b = 0x13198a2e03707344ULL, c = 0xa4093822299f31d0ULL,
             d = 0x082efa98ec4e6c89ULL;
    size_t n = len;
    while (n >= 32) {
        uint64_t w[4];
        memcpy(w, p, 32);
        a = lane(a, w[0]);
        b = lane(b, w[1]);
        c = lane(c, w[2]);
        d = lane(d, w[3]);
        p += 32;
        n -= 32;
    }
    uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18) + len;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = lane(h, w);
        p += 8;
        n -= 8;
    }
    uint64_t t = 0;
    if (n)
        memcpy(&t, p, n);
    h = lane(h ^ n, t);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

uint64_t pd_snapshot_file_sum(const void *head, size_t hlen, const void *payload, size_t plen)
{
    return pd_snapshot_checksum(head, hlen) ^ rotl(pd_snapshot_checksum(payload, plen), 29) ^
           0x5053554dULL;
}

/* ---------- writing ---------- */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return PD_EIO;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static void put(pd_buf *b, const void *p, size_t n)
{
    pd_buf_append(b, p, n);
}

static void header(pd_buf *b, const pd_snapshot_meta *m, size_t payload_len)
{
    uint32_t version = PD_SNAPSHOT_VERSION, hlen = 0;
    put(b, magic, 8);
    put(b, &version, 4);
    size_t hlen_at = b->len;
    put(b, &hlen, 4);
    put(b, &m->partition, 4);
    put(b, &m->payload_version, 4);
    put(b, &m->created_ms, 8);
    put(b, &m->watermark_ms, 8);
    put(b, &m->pairs, 8);
    put(b, &m->resources, 8);
    uint32_t tl = (uint32_t)strnlen(m->topic, sizeof(m->topic));
    put(b, &tl, 4);
    put(b, m->topic, tl);
    put(b, &m->noffsets, 4);
    for (uint32_t i = 0; i < m->noffsets; i++) {
        put(b, &m->offsets[i].partition, 4);
        put(b, &m->offsets[i].offset, 8);
    }
    put(b, &m->changelog_offset, 8);
    hlen = (uint32_t)(b->len - 16);
    if (!b->oom)
        memcpy(b->p + hlen_at, &hlen, 4);
    uint64_t pl = payload_len;
    put(b, &pl, 8);
}

int pd_snapshot_write(const char *path, const pd_snapshot_meta *m, const void *payload, size_t len,
                      char *why, size_t why_len)
{
    if (m->noffsets > PD_SNAPSHOT_MAX_OFFSETS) {
        why_set(why, why_len, "%u offsets (at most %u)", m->noffsets, PD_SNAPSHOT_MAX_OFFSETS);
        return PD_EINVAL;
    }
    pd_buf h;
    pd_buf_init(&h);
    header(&h, m, len);
    if (h.oom) {
        pd_buf_free(&h);
        return PD_ENOMEM;
    }
    /* The checksum covers the head (magic to payload length) and the payload, hashed
     * separately so the payload need not be copied behind the head: see pd_snapshot_file_sum(). */
    uint64_t sum = pd_snapshot_file_sum(h.p, h.len, payload, len);
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        pd_buf_free(&h);
        why_set(why, why_len, "%s: path too long", path);
        return PD_EINVAL;
    }
    int rc = PD_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        why_set(why, why_len, "%s: %s", tmp, strerror(errno));
        pd_buf_free(&h);
        return PD_EIO;
    }
    if (write_all(fd, h.p, h.len) || write_all(fd, payload, len) || write_all(fd, &sum, 8)) {
        why_set(why, why_len, "%s: write: %s", tmp, strerror(errno));
        goto fail;
    }
    if (fsync(fd)) {
        why_set(why, why_len, "%s: fsync: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd)) {
        fd = -1;
        why_set(why, why_len, "%s: close: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path)) {
        why_set(why, why_len, "rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    /* The rename itself must reach the disk: fsync the directory. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    pd_buf_free(&h);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    pd_buf_free(&h);
    return rc;
}

/* ---------- reading ---------- */

int pd_snapshot_parse(const void *data, size_t len, pd_snapshot_meta *m, size_t *payload_off,
                      size_t *payload_len, char *why, size_t why_len)
{
    const unsigned char *p = data;
    pd_snapshot_meta_init(m);
    if (len < 16 || memcmp(p, magic, 8)) {
        why_set(why, why_len, "not a postured snapshot (bad magic)");
        return PD_EINVAL;
    }
    uint32_t version, hlen;
    memcpy(&version, p + 8, 4);
    memcpy(&hlen, p + 12, 4);
    if (version > PD_SNAPSHOT_VERSION || version == 0) {
        why_set(why, why_len, "snapshot version %u (this build reads up to %u)", version,
                PD_SNAPSHOT_VERSION);
        return PD_EUNSUPPORTED;
    }
    if ((uint64_t)hlen + 16 + 8 + 8 > len) {
        why_set(why, why_len, "truncated: header of %u bytes in a %zu-byte file", hlen, len);
        return PD_EINVAL;
    }
    uint64_t pl;
    memcpy(&pl, p + 16 + hlen, 8);
    size_t off = 16 + (size_t)hlen + 8;
    if (pl > len - off - 8 || off + pl + 8 != len) {
        why_set(why, why_len, "%s: payload of %llu bytes, file has %zu after the header",
                pl > len - off - 8 ? "truncated" : "trailing bytes", (unsigned long long)pl,
                len - off);
        return PD_EINVAL;
    }
    uint64_t sum, want;
    memcpy(&sum, p + len - 8, 8);
    want = pd_snapshot_file_sum(p, off, p + off, (size_t)pl);
    if (sum != want) {
        why_set(why, why_len, "checksum mismatch (file corrupt)");
        return PD_EINVAL;
    }
    /* The header, field by field, within its length. */
    const unsigned char *h = p + 16, *he = h + hlen;
#define TAKE(dst, n)                                                                               \
    do {                                                                                           \
        if ((size_t)(he - h) < (n))                                                                \
            goto short_header;                                                                     \
        memcpy((dst), h, (n));                                                                     \
        h += (n);                                                                                  \
    } while (0)
    TAKE(&m->partition, 4);
    TAKE(&m->payload_version, 4);
    TAKE(&m->created_ms, 8);
    TAKE(&m->watermark_ms, 8);
    TAKE(&m->pairs, 8);
    TAKE(&m->resources, 8);
    uint32_t tl;
    TAKE(&tl, 4);
    if (tl >= sizeof(m->topic)) {
        why_set(why, why_len, "topic name of %u bytes", tl);
        return PD_EINVAL;
    }
    TAKE(m->topic, tl);
    m->topic[tl] = '\0';
    TAKE(&m->noffsets, 4);
    if (m->noffsets > PD_SNAPSHOT_MAX_OFFSETS) {
        why_set(why, why_len, "%u offsets (at most %u)", m->noffsets, PD_SNAPSHOT_MAX_OFFSETS);
        m->noffsets = 0;
        return PD_EINVAL;
    }
    for (uint32_t i = 0; i < m->noffsets; i++) {
        TAKE(&m->offsets[i].partition, 4);
        TAKE(&m->offsets[i].offset, 8);
    }
    /* Added fields: absent in a shorter header (their defaults stay). */
    if (he - h >= 8)
        TAKE(&m->changelog_offset, 8);
#undef TAKE
    *payload_off = off;
    *payload_len = (size_t)pl;
    return 0;
short_header:
    why_set(why, why_len, "header of %u bytes is too short for its fields", hlen);
    m->noffsets = 0;
    return PD_EINVAL;
}

int pd_snapshot_read(const char *path, pd_snapshot_meta *m, pd_buf *payload, char *why,
                     size_t why_len)
{
    pd_buf_reset(payload);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        why_set(why, why_len, "%s: %s", path, strerror(err));
        pd_snapshot_meta_init(m);
        return err == ENOENT ? PD_ENOTFOUND : PD_EIO;
    }
    struct stat sb;
    int rc = PD_EIO;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        why_set(why, why_len, "%s: not a regular file", path);
        goto done;
    }
    size_t size = (size_t)sb.st_size;
    if (pd_buf_reserve(payload, size)) {
        rc = PD_ENOMEM;
        goto done;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, payload->p + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            why_set(why, why_len, "%s: read: %s", path, strerror(errno));
            goto done;
        }
        if (k == 0)
            break; /* shrank while reading: the parse below reports it */
        got += (size_t)k;
    }
    size_t off, len;
    rc = pd_snapshot_parse(payload->p, got, m, &off, &len, why, why_len);
    if (rc) {
        /* Name the file in the reason. */
        if (why && why_len) {
            char tmp[512];
            snprintf(tmp, sizeof(tmp), "%s", why);
            why_set(why, why_len, "%s: %s", path, tmp);
        }
        goto done;
    }
    memmove(payload->p, payload->p + off, len);
    payload->len = len;
done:
    if (rc)
        pd_buf_reset(payload);
    close(fd);
    return rc;
}

/* ---------- engine convenience ---------- */

int pd_snapshot_save_engine(const char *path, const pd_engine *e, pd_snapshot_meta *m,
                            pd_buf *scratch, char *why, size_t why_len)
{
    pd_buf_reset(scratch);
    int rc = pd_engine_state_export(e, scratch);
    if (rc) {
        why_set(why, why_len, "export: %s", pd_strerror(rc));
        return rc;
    }
    pd_engine_stats st;
    pd_engine_stats_get(e, &st);
    m->pairs = st.pairs;
    m->resources = st.resources;
    m->watermark_ms = pd_engine_now(e);
    m->payload_version = PD_ENGINE_STATE_VERSION;
    return pd_snapshot_write(path, m, scratch->p, scratch->len, why, why_len);
}

int pd_snapshot_load_engine(const char *path, pd_engine *e, pd_snapshot_meta *m, pd_buf *scratch,
                            char *why, size_t why_len)
{
    int rc = pd_snapshot_read(path, m, scratch, why, why_len);
    if (rc)
        return rc;
    if (m->payload_version != PD_ENGINE_STATE_VERSION) {
        why_set(why, why_len, "%s: engine state version %u (this build reads %u)", path,
                m->payload_version, PD_ENGINE_STATE_VERSION);
        return PD_EUNSUPPORTED;
    }
    char tmp[256];
    rc = pd_engine_state_import(e, scratch->p, scratch->len, tmp, sizeof(tmp));
    if (rc)
        why_set(why, why_len, "%s: %s", path, tmp);
    return rc;
}

/* ---------- writer thread ---------- */

typedef struct snapjob {
    struct snapjob *next;
    char *path;
    pd_snapshot_meta meta;
    pd_buf payload;
} snapjob;

struct pd_snapwriter {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle;
    snapjob *head, *tail;
    bool stop, busy;
    pd_snapwriter_stats st;
};

static void job_free(snapjob *j)
{
    if (!j)
        return;
    free(j->path);
    pd_buf_free(&j->payload);
    free(j);
}

static void *writer_main(void *arg)
{
    pd_snapwriter *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        snapjob *j = w->head;
        if (!j)
            break; /* stopping, nothing queued */
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        char why[512] = "";
        int rc =
            pd_snapshot_write(j->path, &j->meta, j->payload.p, j->payload.len, why, sizeof(why));
        if (rc)
            pd_log_warn("state", "snapshot %s not written: %s", j->path, why);
        size_t len = j->payload.len;
        job_free(j);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        w->st.queued--;
        if (rc) {
            w->st.failed++;
        } else {
            w->st.written++;
            w->st.bytes += len;
        }
        if (!w->head)
            pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int pd_snapwriter_create(pd_snapwriter **out)
{
    *out = NULL;
    pd_snapwriter *w = calloc(1, sizeof(*w));
    if (!w)
        return PD_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->idle, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->idle);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return PD_ENOMEM;
    }
    *out = w;
    return 0;
}

void pd_snapwriter_drain(pd_snapwriter *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    while (w->head || w->busy)
        pthread_cond_wait(&w->idle, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void pd_snapwriter_destroy(pd_snapwriter *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int pd_snapwriter_submit(pd_snapwriter *w, const char *path, const pd_snapshot_meta *m,
                         pd_buf *payload)
{
    snapjob *j = calloc(1, sizeof(*j));
    if (!j || !(j->path = strdup(path))) {
        free(j);
        return PD_ENOMEM;
    }
    j->meta = *m;
    j->payload = *payload; /* moved */
    pd_buf_init(payload);
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->st.queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void pd_snapwriter_stats_get(pd_snapwriter *w, pd_snapwriter_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    pthread_mutex_unlock(&w->mu);
}
