/*
 * wal.h - the bridge's hand-off between MQTT and the outputs: an
 * append-only, segmented log with one read cursor per output.
 *
 * messageArrived appends each accepted message (arrival time, topic,
 * payload) before it returns, so the PUBACK leaves only after the append
 * (docs/protocols.md#mqtt, G8). Each output's sender thread reads through its own
 * cursor and commits it after a successful send; a slow output never holds
 * back another. Segments are deleted once every cursor has passed them.
 *
 * With a directory the log is on disk: records framed with length + CRC32
 * (common/frame.h), cursors saved atomically (write, fsync, rename) as
 * "<lsn> <crc32>" (a plain "<lsn>" from an older bridge is read too).
 * Recovery at wal_open():
 *  - torn tail: the last segment is cut at its last good record, whatever
 *    follows (a torn write, zeros reserved for appends, or a bad frame:
 *    what follows one cannot be numbered); logged, in repaired_bytes;
 *  - bad frame in a sealed segment (not the last): corruption, logged as
 *    an error; the file is never cut, its records before the bad frame are
 *    read, those from it to the next segment are a gap;
 *  - segments after a damaged one are read in full (no tail rules); a gap
 *    between segments is logged, and readers pass it without waiting;
 *  - foreign or inconsistent state refuses to open, naming the file: no
 *    SWLOG header, an unknown format, two segments claiming one LSN;
 *  - stale cursor: a cursor ahead of the recovered log (a power cut after
 *    its fsync, before the log's) is logged and new records are numbered
 *    above every saved cursor, so no output skips them; a damaged cursor
 *    file is logged and that output starts from the oldest record kept. Without one it lives in memory, bounded by
 * a record count. Either way the log is bounded (bytes, age, records); past
 * a bound the oldest records are dropped, counted and logged - the only way
 * the bridge loses data, and never silently.
 *
 * Thread-safe: one appender and any number of readers. A commit saves its
 * cursor without the lock appends take: the MQTT callback never waits for
 * an output's fsync.
 *
 * The code: wal.c (this API, bounds), wal_read.c (readers), wal_seg.c
 * (segment files and the on-disk format, the append path), wal_recover.c
 * (what wal_open finds on disk), wal_cursor.c (cursor files); wal_int.h
 * has their shared definitions and the locking rules.
 */
#ifndef SW_WAL_H
#define SW_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_SYNC_ALWAYS 0
#define WAL_SYNC_NEVER (-1)

/*
 * The log's format, in the header of every segment file. The framing is the
 * same in all formats; what changed is what the bridge stores as payload:
 *  1  (sensor-bridge 0.1.0, "<lsn>.seg" files without a header): the MQTT
 *     payload as received;
 *  2  ("<lsn>.log"): for a reading, its binary record (bridge/record.h);
 *     status payloads as received.
 * New segments are written in WAL_FORMAT; format 1 segments left by an older
 * bridge are read (each record says its format), and a segment in a format
 * this code does not know stops wal_open() with an error naming the file.
 * A .log name keeps an older bridge from reading (and cutting) new segments.
 */
#define WAL_FORMAT 2

struct wal_opts {
	const char *dir;          /* NULL = in memory */
	uint64_t max_bytes;       /* 0 = unbounded (disk) */
	int64_t max_age_ms;       /* 0 = unbounded */
	int sync_ms;              /* WAL_SYNC_ALWAYS, WAL_SYNC_NEVER or a period in ms */
	uint64_t max_records;     /* memory mode bound (QUEUE_MAX_SAMPLES); 0 = 100000 */
	uint64_t segment_bytes;   /* 0 = 4 MiB */
};

struct wal_record {
	uint64_t lsn;             /* position in the log, +1 per record */
	unsigned format;          /* of the segment it was read from: 1 or WAL_FORMAT */
	int64_t arrival_ms;
	const char *topic;        /* NUL-terminated */
	const void *payload;      /* not NUL-terminated */
	size_t len;
};

/* A reader's batch: records point into buf, valid until the next wal_read. */
struct wal_batch {
	struct wal_record *recs;
	size_t n, cap;
	char *buf;
	size_t buf_len, buf_cap;
	size_t *offs;             /* wal_read's bookkeeping: cap pairs of offsets */
};

struct wal_stats {
	uint64_t appended;
	uint64_t dropped;         /* records dropped by a bound, summed over cursors */
	uint64_t repaired_bytes;  /* cut from a torn or corrupt tail, or left unread, at open */
	uint64_t bytes;           /* current size */
	uint64_t segments;
	uint64_t sync_errors;     /* failed fdatasync calls on the log */
};

struct wal;
struct wal_reader;

/* Opens (and repairs) the log. NULL + err on failure. Free with wal_close(). */
struct wal *wal_open(const struct wal_opts *o, char *err, size_t errlen);
void wal_close(struct wal *w);
bool wal_durable(const struct wal *w);

/*
 * Appends one record. 0, or -errno: the record is not in the log (the
 * caller must not acknowledge it). -EMSGSIZE: it never can be (over 1 MiB);
 * any other error may pass (a full disk, a failed sync: see
 * wal_sync_error).
 */
int wal_append(struct wal *w, int64_t arrival_ms, const char *topic, const void *payload,
	       size_t len);
/* Flushes to stable storage now (for shutdown). */
int wal_sync(struct wal *w);
/*
 * The errno of the last fdatasync of the log if it failed and none has
 * succeeded since, else 0. Meanwhile every append fails with it (each first
 * tries a sync). Never blocks.
 */
int wal_sync_error(const struct wal *w);

/*
 * A cursor named name (an output). On disk it resumes from the saved
 * position; a new cursor starts at the oldest record kept.
 */
struct wal_reader *wal_reader_open(struct wal *w, const char *name, char *err, size_t errlen);

/*
 * Reads up to max records after the reader's position into b (replacing
 * its contents). When fewer than min (1 <= min <= max) are there, it first
 * waits up to wait_ms for min of them: the appender wakes a reader only once
 * its min is reached, so a sender filling a batch is woken once per batch,
 * not once per record. Returns the number read (fewer than min after a
 * timeout; 0 on timeout or after wal_wake). Does not move the saved cursor.
 * The log is read in large chunks, not record by record.
 */
size_t wal_read(struct wal_reader *r, struct wal_batch *b, size_t max, size_t min,
		int wait_ms);
/* Moves the reader back to its last committed position (retry from the log). */
void wal_rewind(struct wal_reader *r);
/* Everything up to and including lsn is done: saves the cursor. 0 or -errno. */
int wal_commit(struct wal_reader *r, uint64_t lsn);
/* Records between the committed position and the newest record. */
uint64_t wal_reader_lag(struct wal_reader *r);
/* Records this reader lost to a bound (and resets the count). */
uint64_t wal_reader_take_dropped(struct wal_reader *r);

/* Wakes every reader waiting in wal_read (shutdown). */
void wal_wake(struct wal *w);
void wal_get_stats(struct wal *w, struct wal_stats *s);

void wal_batch_release(struct wal_batch *b);

#endif
