/* pd_snapshot.h: local state snapshot files (format: schemas/state-snapshot.md).
 *
 * A file is: magic "PDSNAP\r\n", version, a header (the partition it covers, the input
 * offsets the state includes, creation and event time, counts), the payload (an engine
 * image, pd_engine_state.h) and a 64-bit checksum over everything before it. Files are
 * written atomically: a temporary file in the same directory, fsync, rename over the target,
 * fsync of the directory; a crash leaves the old file or the new one, never a mix. Reading
 * validates the magic, version, every length and the checksum before the payload is used:
 * a truncated or corrupt file gives PD_EINVAL and a reason, never a crash.
 *
 * Ownership: the caller owns paths, metadata and buffers. Thread: any (no shared state); the
 * engine calls need the engine's thread. Write and read block on disk I/O: a runtime calls
 * them off the loop thread or when the loop may stall (startup, revoke). */
#ifndef PD_SNAPSHOT_H
#define PD_SNAPSHOT_H

#include "pd_buf.h"
#include "pd_engine.h"

#define PD_SNAPSHOT_VERSION     1
#define PD_SNAPSHOT_MAX_OFFSETS 256

typedef struct pd_snapshot_offset {
    int32_t partition;
    int64_t offset; /* the next offset to consume: everything before it is in the state */
} pd_snapshot_offset;

typedef struct pd_snapshot_meta {
    int32_t partition;  /* the state partition this file holds; -1 = the whole state */
    char topic[250];    /* the input topic the offsets are for (may be empty) */
    int64_t created_ms; /* wall clock when written */
    int64_t watermark_ms;
    uint64_t pairs, resources; /* informational counts of the payload */
    uint32_t payload_version;  /* PD_ENGINE_STATE_VERSION of the payload */
    uint32_t noffsets;
    pd_snapshot_offset offsets[PD_SNAPSHOT_MAX_OFFSETS];
    /* The changelog partition's next offset when the snapshot was taken: a restore applies
     * the changelog from there. -1 = none (apply the whole changelog partition). */
    int64_t changelog_offset;
} pd_snapshot_meta;

void pd_snapshot_meta_init(pd_snapshot_meta *m);

/* Writes meta + payload to path atomically. Returns 0, PD_EINVAL (bad meta) or PD_EIO (why
 * says what failed). */
int pd_snapshot_write(const char *path, const pd_snapshot_meta *m, const void *payload, size_t len,
                      char *why, size_t why_len);
/* Reads and validates path; payload gets the payload bytes (reset first). PD_ENOTFOUND when
 * the file does not exist, PD_EIO on read errors, PD_EINVAL when it is not a valid snapshot,
 * PD_EUNSUPPORTED for a newer version. */
int pd_snapshot_read(const char *path, pd_snapshot_meta *m, pd_buf *payload, char *why,
                     size_t why_len);
/* The same from bytes in memory (payload_off/len: where the payload lies in data). */
int pd_snapshot_parse(const void *data, size_t len, pd_snapshot_meta *m, size_t *payload_off,
                      size_t *payload_len, char *why, size_t why_len);

/* Engine convenience: export e and write it (m's counts and watermark are filled in), or
 * read a file and import it into a fresh engine. scratch is reused between calls. */
int pd_snapshot_save_engine(const char *path, const pd_engine *e, pd_snapshot_meta *m,
                            pd_buf *scratch, char *why, size_t why_len);
int pd_snapshot_load_engine(const char *path, pd_engine *e, pd_snapshot_meta *m, pd_buf *scratch,
                            char *why, size_t why_len);

/* ---- a writer thread ----
 * Writing a snapshot ends in fsync: too slow for the loop thread. The loop exports the state
 * into buffers and submits them; one thread writes the files in submission order (so a pair
 * of files submitted one after the other lands in that order). A write that fails is logged
 * and counted; the previous file stays.
 * Ownership: submit takes the payload buffer's memory (payload is left empty). Thread: submit
 * and stats from any thread; destroy writes what is queued, then joins. */
typedef struct pd_snapwriter pd_snapwriter;
int pd_snapwriter_create(pd_snapwriter **out);
void pd_snapwriter_destroy(pd_snapwriter *w);
int pd_snapwriter_submit(pd_snapwriter *w, const char *path, const pd_snapshot_meta *m,
                         pd_buf *payload);
typedef struct pd_snapwriter_stats {
    uint64_t written, failed, bytes, queued;
} pd_snapwriter_stats;
void pd_snapwriter_stats_get(pd_snapwriter *w, pd_snapwriter_stats *out);
/* Waits until everything submitted so far is written (tests, shutdown). */
void pd_snapwriter_drain(pd_snapwriter *w);

/* The checksum: 64 bits, four independent lanes over 32-byte blocks (GB/s, so 4M pairs
 * verify in tens of milliseconds). Not cryptographic: it detects corruption, not tampering. */
uint64_t pd_snapshot_checksum(const void *data, size_t len);
/* The file's trailing checksum: the head (magic to payload length) and the payload hashed
 * apart, then combined (checksum(head) ^ rotl64(checksum(payload), 29) ^ 0x5053554d). */
uint64_t pd_snapshot_file_sum(const void *head, size_t hlen, const void *payload, size_t plen);

/* `postured bench restore [--pairs N] [--dir DIR]`: builds an engine with N pairs, snapshots
 * it, and times reading + importing it back (entries per second, bytes per pair). argv[0] is
 * "restore". Returns a process exit code. */
int pd_cmd_bench_restore(int argc, char **argv);
/* The bench's fleet: assessment events giving npairs pairs (R resources x the goal pack's
 * key-selected controls), each through apply. flip_every > 0: instead, events a day later
 * that flip the status of every pair of one resource in flip_every (a changelog tail). */
int pd_bench_restore_fill(const pd_goal_set *goals, uint64_t npairs, uint64_t flip_every,
                          int (*apply)(void *ctx, const pd_event *ev), void *ctx);

#endif
