/*
 * outbox.h - the readings that could not be delivered yet, in order, in a
 * bounded append-only log: files in OUTBOX_DIR (survive a restart or a
 * kill -9), or the same log in memory when no directory is configured.
 *
 * The publisher writes here only while the broker is unreachable (or while
 * an older backlog is still being replayed), so an SD card sees no writes
 * in normal operation. Once connected again the publisher reads the records
 * back in order (outbox_next), and tells the outbox which ones the broker
 * acknowledged (outbox_commit). When every record is committed the files
 * are deleted. After a lost connection, outbox_rewind() makes the records
 * that were read but not committed unread again, so they are sent again.
 *
 * On disk: segment files "outbox-<N>.log" (N rising), each an 8-byte magic
 * "SWOUTBX1" followed by records
 *   u32le body_len | u32le crc32(body) | body = u16le topic_len | topic | payload
 * A segment is closed once it holds about max_bytes/4; when the total would
 * pass max_bytes the oldest segment is deleted and its undelivered records
 * are counted as dropped (oldest readings go first). Each append is one
 * write(2), not fsync'd: a crash of the process loses nothing, a power cut
 * may lose what the kernel had not yet written back (typically the last
 * few seconds).
 *
 * Recovery (outbox_open, framing and classification in common/frame.h):
 *  - torn tail: a damaged region that reaches the end of a segment with no
 *    good record after it (a write that never reached the disk; any
 *    segment, none is fsync'd) is cut off, counted in cut_bytes, logged;
 *  - bad frame in the middle: a damaged region followed by good records
 *    (CRC mismatch, a damaged length) is one damaged record: the file keeps
 *    it, outbox_next() skips it (counted in corrupt, logged) and resumes at
 *    the next good record, found again byte by byte;
 *  - a segment after a damaged one is read as any other; a damaged record
 *    at its start passes with the commit of the record before it, even
 *    when that one ended the previous segment;
 *  - foreign file: a segment without the magic is renamed to .bad with an
 *    error naming it, and the outbox opens without it; one shorter than
 *    the magic and a prefix of it (created, never written) is removed;
 *  - stale cursor: there is none on disk. Delivered records leave the
 *    files (outbox_commit deletes delivered segments, outbox_trim the
 *    delivered start of the oldest), so what was delivered since the last
 *    trim is sent again after a restart (QoS 1: at least once).
 *
 * Not thread-safe: the caller serialises all calls. The struct outbox is
 * owned by the caller: outbox_close() frees it (files stay on disk).
 */
#ifndef SW_OUTBOX_H
#define SW_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest record body (topic + payload + 2). */
#define OUTBOX_REC_MAX 8192
/* Smallest bound accepted (four segments of 16 KiB). */
#define OUTBOX_MIN_BYTES 65536

struct outbox;

/* Where a record ends: what outbox_commit() takes. */
struct outbox_pos {
	uint64_t seg;
	uint64_t off;
	uint64_t n;                 /* records in seg up to here */
};

/* One record read back; topic and payload point into the caller's buffer. */
struct outbox_rec {
	const char *topic;          /* NUL-terminated */
	const char *payload;        /* len bytes, NUL-terminated as a courtesy */
	size_t len;
	struct outbox_pos end;
};

struct outbox_stats {
	uint64_t pending;           /* records not yet committed (unread + in flight) */
	uint64_t bytes;             /* bytes held, headers included */
	uint64_t dropped;           /* undelivered records deleted to respect the bound */
	uint64_t corrupt;           /* records skipped because their CRC did not match */
	uint64_t cut_bytes;         /* bytes of torn records cut off at open */
};

/*
 * Opens the outbox in dir (created if missing, mode 0700), or in memory
 * when dir is NULL or "". Recovers what a previous run left: cuts torn
 * records, counts records waiting. Returns NULL with a message in err.
 * Messages about what was recovered or cut are logged ("outbox").
 */
struct outbox *outbox_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen);
/* Frees the outbox; files stay for the next run. Accepts NULL. */
void outbox_close(struct outbox *ob);

/*
 * Appends one record. Returns 0, -EMSGSIZE (record larger than
 * OUTBOX_REC_MAX) or -errno of a failed write (then nothing was added).
 * May delete the oldest segment first (see the file comment).
 */
int outbox_append(struct outbox *ob, const char *topic, const void *payload, size_t len);

/*
 * Reads the oldest unread record into buf (at least OUTBOX_REC_MAX + 2
 * bytes) and marks it read. Returns 1, 0 when nothing is unread, or a
 * negative errno from the read.
 */
int outbox_next(struct outbox *ob, char *buf, size_t cap, struct outbox_rec *rec);

/*
 * Marks every record up to and including the one ending at end delivered.
 * Deletes segments that are fully delivered, and everything (the files
 * too) once no record is left. A position in an already dropped segment is
 * ignored.
 */
void outbox_commit(struct outbox *ob, const struct outbox_pos *end);

/*
 * Removes the delivered records at the start of the oldest segment from
 * disk (rewrites its rest to a new file and renames it over the old one),
 * so that they are not sent again after a restart. Meant for a clean
 * shutdown; cheap otherwise too. No-op in memory. Returns 0 or -errno (the
 * old file is then left as it was).
 */
int outbox_trim(struct outbox *ob);

/* Makes read-but-uncommitted records unread again (the connection dropped). */
void outbox_rewind(struct outbox *ob);

/* True when no record is waiting (unread or uncommitted). */
bool outbox_empty(const struct outbox *ob);
/* True when outbox_next() would return a record. */
bool outbox_has_unread(const struct outbox *ob);
void outbox_get_stats(const struct outbox *ob, struct outbox_stats *st);
/* True when the outbox keeps its records in files. */
bool outbox_is_durable(const struct outbox *ob);

#endif
