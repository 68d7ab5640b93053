/*
 * wal_int.h - the log's private definitions, shared by the files that
 * implement wal.h (which stays the contract). One concern each:
 *   wal.c          the public API on the log as a whole: open/close,
 *                  append, sync (and the syncer thread), commit, stats;
 *                  the bounds (trim, drop_head)
 *   wal_read.c     the readers: opening a cursor, wal_read (waiting, then
 *                  reading large chunks and cutting them into records),
 *                  rewind, lag, wake-ups
 *   wal_seg.c      segment storage: file names and header, pread, the
 *                  mmap/fallocate append path and its write() fallback,
 *                  memory segments, sealing, rolling to a new segment
 *   wal_recover.c  what wal_open finds on disk: segment files of both
 *                  formats, torn tails, damage, gaps, stale cursors
 *   wal_cursor.c   cursor files: parse, load, save (write, fsync, rename)
 *
 * Locking. w->lock guards everything in struct wal and the readers'
 * positions (lsn, committed, dropped, the locate cache, the wait state).
 * The log's own file I/O happens under it (an append, its sync when
 * WAL_SYNC=always, a roll): that is the append. The cursor saves do not:
 * wal_commit writes and fsyncs a cursor file holding only r->save_lock
 * (one writer per cursor file), so wal_append, which the MQTT callback
 * calls on Paho's receive thread, never waits for another output's fsync.
 * Order: r->save_lock, then w->lock; never the other way round.
 */
#ifndef SW_WAL_INT_H
#define SW_WAL_INT_H

#include "bridge/wal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HDR 8
#define BODY_FIXED 10
#define MAX_BODY (1u << 20)
#define MAX_READERS 8
/* wal_read reads this much at least (more than one largest reading) and at most */
#define READ_MIN (32u << 10)
#define READ_MAX (1u << 20)
#define SEG_MAGIC "SWLOG"     /* and a NUL: 6 bytes, then u16 format */
#define SEG_HDR 8
#define MAP_WINDOW (256u << 10)
/* the highest lsn a segment or cursor may name (lsn + count never wraps) */
#define LSN_MAX (UINT64_C(1) << 62)

struct seg {
	uint64_t first_lsn;
	unsigned format;      /* WAL_FORMAT, or 1 for a .seg file */
	uint64_t start;       /* bytes before the first frame (the file header) */
	uint64_t count;
	uint64_t bytes;
	int64_t newest_ms;
	int fd;               /* disk */
	/* the last segment's append window (disk): file bytes [map_off, map_off + map_len) */
	char *map;
	uint64_t map_off, map_len;
	uint64_t alloc;       /* file size: bytes, plus what fallocate reserved */
	bool damaged;         /* a sealed segment with damage past bytes: never cut */
	char *mem;            /* memory */
	uint64_t mem_cap;
	struct seg *next;
};

struct wal_reader {
	struct wal *w;
	char name[64];
	uint64_t lsn;         /* next record to read */
	/* next record after the last commit; moved by wal_commit only once the
	 * cursor file says so (see wal_trim) */
	uint64_t committed;
	uint64_t dropped;     /* lost to bounds, not yet reported */
	/* cache: where lsn is inside its segment */
	const struct seg *cseg;
	uint64_t coff;
	uint64_t clsn;
	/* a reader waiting in wal_read is signalled once wait_min records are there */
	pthread_cond_t cond;
	bool waiting;
	uint64_t wait_min;
	/* held by wal_commit across the cursor file's write, fsync and rename */
	pthread_mutex_t save_lock;
};

struct wal {
	struct wal_opts o;
	char *dir;
	pthread_mutex_t lock;
	pthread_cond_t sync_cond;   /* the syncer waits here for its period or stop */
	int waiting;                /* readers inside wal_read's wait */
	struct seg *head, *tail;
	uint64_t next_lsn;
	uint64_t bytes;
	struct wal_stats st;
	struct wal_reader *readers[MAX_READERS];
	int n_readers;
	bool woken;
	bool dirty;
	pthread_t syncer;
	bool syncer_running;
	bool stopping;
	bool no_map;                /* the log's files cannot be mapped: write() */
	uint64_t page;
	/* a failed fdatasync of the log: its errno until a sync succeeds
	 * (appends fail meanwhile), and the first record it may not cover */
	_Atomic int sync_err;
	uint64_t synced_lsn;        /* records before this one were synced */
};

/* wal.c */
int wal_sync_fd(int fd);
void wal_sync_result(struct wal *w, int rc, uint64_t upto);
void wal_trim(struct wal *w);

/* wal_seg.c */
void wal_seg_path(const struct wal *w, uint64_t first, unsigned format, char *out, size_t n);
void wal_seg_header(unsigned char *h);
int wal_seg_pread(const struct seg *s, uint64_t off, void *buf, size_t n);
void wal_seg_seal(struct seg *s);
void wal_seg_free(struct wal *w, struct seg *s, bool unlink_file);
void wal_seg_link(struct wal *w, struct seg *s);
int wal_seg_write(struct wal *w, struct seg *s, const void *f, size_t n);
void wal_seg_unwrite(struct wal *w, struct seg *s, size_t n);
int wal_roll(struct wal *w);

/* wal_recover.c */
int wal_recover(struct wal *w, char *err, size_t errlen);

/* wal_cursor.c */
int wal_cursor_load(const struct wal *w, const char *name, uint64_t *lsn);
int wal_cursor_save(const struct wal *w, const char *name, uint64_t lsn);

/* wal_read.c */
void wal_wake_all(struct wal *w);
void wal_wake_ready(struct wal *w);

#endif
