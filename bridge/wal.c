/*
 * wal.c - segmented append-only log with per-output cursors (see wal.h).
 *
 * On disk: STATE_DIR/wal/<first-lsn as 16 hex digits>.log, a header
 *   "SWLOG" 0 | u16 format
 * then records framed as
 *   u32 body length | u32 crc32(body) | body
 *   body = i64 arrival_ms | u16 topic length | topic | payload
 * (little endian), and STATE_DIR/wal/<name>.cursor holding the next LSN to
 * read. Format 1 segments (<first-lsn>.seg, sensor-bridge 0.1.0) have the
 * same frames and no header; they are read, never written. In memory the
 * same frames live in malloc'd segment buffers.
 *
 * Appends go through a shared mapping of the last segment, a window of
 * MAP_WINDOW bytes at a time (so a record costs a copy, not a write() call;
 * once copied it is in the page cache and survives a kill -9 just the same).
 * The window's blocks are reserved with fallocate() first, so a full disk is
 * an error from the append and never a SIGBUS. The file is therefore longer
 * than its records while it is appended to: a closed segment is cut to its
 * records, and after a crash the zeros past the last record are cut when the
 * log is opened. Where a file cannot be mapped, write() is used.
 */
#include "bridge/wal.h"
#include "bridge/bytes.h"
#include "common/log.h"
#include "common/clock.h"
#include "common/frame.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
	uint64_t committed;   /* next record after the last commit */
	uint64_t dropped;     /* lost to bounds, not yet reported */
	/* cache: where lsn is inside its segment */
	const struct seg *cseg;
	uint64_t coff;
	uint64_t clsn;
	/* a reader waiting in wal_read is signalled once wait_min records are there */
	pthread_cond_t cond;
	bool waiting;
	uint64_t wait_min;
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

/*
 * The result of one fdatasync of the log covering records before upto. A
 * failure makes the log unhealthy: the records since the last good sync
 * may not be on disk (the kernel may have dropped the pages it could not
 * write), so nothing more is appended, and acknowledged, until a sync
 * succeeds again (wal_append tries one first). One line per episode. Lock
 * held.
 */
static void sync_result(struct wal *w, int rc, uint64_t upto)
{
	if (rc < 0) {
		w->st.sync_errors++;
		if (!w->sync_err)
			log_error("wal", "cannot sync the log to disk: %s; records %llu..%llu may "
				  "not be durable; appends fail (the broker keeps the messages) "
				  "until a sync succeeds", strerror(-rc),
				  (unsigned long long)w->synced_lsn, (unsigned long long)upto - 1);
		w->sync_err = -rc;
		return;
	}
	if (w->sync_err)
		log_info("wal", "the log syncs to disk again (after %llu failed syncs)",
			 (unsigned long long)w->st.sync_errors);
	w->sync_err = 0;
	if (upto > w->synced_lsn)
		w->synced_lsn = upto;
}

static int sync_fd(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

static void seg_path(const struct wal *w, uint64_t first, unsigned format, char *out, size_t n)
{
	snprintf(out, n, "%s/%016llx.%s", w->dir, (unsigned long long)first,
		 format == 1 ? "seg" : "log");
}

/* Reads n bytes at off from a segment. 0 or -1. */
static int seg_pread(const struct seg *s, uint64_t off, void *buf, size_t n)
{
	if (off + n > s->bytes)
		return -1;
	if (s->mem) {
		memcpy(buf, s->mem + off, n);
		return 0;
	}
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(s->fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* A disk segment done with appends: unmapped, and cut to its records. */
static void seg_seal(struct seg *s)
{
	if (s->map) {
		munmap(s->map, s->map_len);
		s->map = NULL;
		s->map_len = 0;
	}
	if (s->fd >= 0 && s->alloc > s->bytes) {
		if (ftruncate(s->fd, (off_t)s->bytes) == 0)
			s->alloc = s->bytes;
	}
}

static void seg_free(struct wal *w, struct seg *s, bool unlink_file)
{
	seg_seal(s);
	if (s->fd >= 0)
		close(s->fd);
	if (unlink_file && w->dir) {
		char path[512];
		seg_path(w, s->first_lsn, s->format, path, sizeof(path));
		unlink(path);
	}
	free(s->mem);
	free(s);
}

static uint64_t seg_recover(struct wal *w, struct seg *s, const char *path, bool last);

static void put_seg_header(unsigned char *h)
{
	memcpy(h, SEG_MAGIC, 6);
	h[6] = WAL_FORMAT & 0xff;
	h[7] = WAL_FORMAT >> 8;
}

/* A new, empty segment in the current format; on disk its file, header written. */
static struct seg *seg_new(struct wal *w, uint64_t first)
{
	struct seg *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->first_lsn = first;
	s->format = WAL_FORMAT;
	s->fd = -1;
	if (w->dir) {
		char path[512];
		unsigned char h[SEG_HDR];
		put_seg_header(h);
		seg_path(w, first, WAL_FORMAT, path, sizeof(path));
		s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
		if (s->fd < 0) {
			free(s);
			return NULL;
		}
		if (write(s->fd, h, SEG_HDR) != SEG_HDR) {
			int e = errno ? errno : EIO;
			close(s->fd);
			unlink(path);
			free(s);
			errno = e;
			return NULL;
		}
		s->start = s->bytes = s->alloc = SEG_HDR;
	}
	return s;
}

/*
 * An existing segment file: checks its header (format 2 on) and finds its
 * records (seg_recover). NULL + err when it is not a log segment this bridge
 * can read.
 */
static struct seg *seg_load(struct wal *w, uint64_t first, unsigned format, bool last,
			    char *err, size_t errlen)
{
	char path[512];
	struct stat sb;
	unsigned char h[SEG_HDR];
	struct seg *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->first_lsn = first;
	s->format = format;
	seg_path(w, first, format, path, sizeof(path));
	s->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (s->fd < 0 || fstat(s->fd, &sb) < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		goto err_free;
	}
	if (format != 1) {
		struct frame_src src = { .fd = s->fd, .size = (uint64_t)sb.st_size };
		enum frame_header fh;
		int rc;
		s->start = SEG_HDR;
		put_seg_header(h);
		if ((rc = frame_check_header(&src, h, SEG_HDR, &fh)) < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-rc));
			goto err_free;
		}
		if (fh == FRAME_HEADER_TORN) {
			/* created, then stopped before its header was written */
			log_warn("wal", "'%s': torn header; rewritten", path);
			if (ftruncate(s->fd, 0) < 0 || write(s->fd, h, SEG_HDR) != SEG_HDR) {
				snprintf(err, errlen, "cannot repair '%s': %s", path, strerror(errno));
				goto err_free;
			}
		} else if (fh == FRAME_HEADER_OK) {
			/* this format */
		} else if (sb.st_size < SEG_HDR || pread(s->fd, h, SEG_HDR, 0) != SEG_HDR ||
			   memcmp(h, SEG_MAGIC, 6) != 0) {
			snprintf(err, errlen, "'%s' is not a sensor-bridge log segment (no SWLOG "
				 "header); move it out of the way", path);
			goto err_free;
		} else if ((s->format = (unsigned)(h[6] | h[7] << 8)) != WAL_FORMAT) {
			snprintf(err, errlen, "'%s' is in log format %u, which this sensor-bridge "
				 "cannot read (it reads formats 1 and %d): it was written by a %s one",
				 path, s->format, WAL_FORMAT, s->format > WAL_FORMAT ? "newer" : "broken");
			goto err_free;
		}
	}
	w->st.repaired_bytes += seg_recover(w, s, path, last);
	return s;

err_free:
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return NULL;
}

static void check_cursors(struct wal *w);

static void seg_link(struct wal *w, struct seg *s)
{
	if (w->tail)
		w->tail->next = s;
	else
		w->head = s;
	w->tail = s;
	w->st.segments++;
}

static bool wal_body_ok(const unsigned char *body, uint32_t len)
{
	/* the topic fits in the body (take_frames relies on it) */
	return (size_t)(body[8] | body[9] << 8) <= len - BODY_FIXED;
}

static const struct frame_fmt wal_fmt = {
	.min_body = BODY_FIXED,
	.max_body = MAX_BODY,
	.valid = wal_body_ok,
	.resync_max = 2 * (MAX_BODY + HDR),
};

static void on_frame(void *arg, const unsigned char *body, uint32_t len)
{
	struct seg *s = arg;
	(void)len;
	int64_t ts = (int64_t)get64(body);
	if (ts > s->newest_ms)
		s->newest_ms = ts;
}

/*
 * Scans a segment file: its records are its good frames from the start
 * (frame.h). What follows them is, by the policy in wal.h:
 *  - zeros (space reserved for appends): cut, silently;
 *  - in the last segment, a torn tail or a bad frame: cut at the last good
 *    record (appends continue there; what follows a bad frame cannot be
 *    numbered), logged;
 *  - in a sealed segment, a bad frame: logged as corruption, never cut: the
 *    file keeps its bytes, the records from the bad frame to the next
 *    segment are missing (a gap, which readers skip).
 * Returns the bytes cut or left unread.
 */
static uint64_t seg_recover(struct wal *w, struct seg *s, const char *path, bool last)
{
	struct stat sb;
	struct frame_scan sc;
	(void)w;
	if (fstat(s->fd, &sb) < 0)
		return 0;
	struct frame_src src = { .fd = s->fd, .size = (uint64_t)sb.st_size };
	int rc = frame_scan(&src, &wal_fmt, s->start, on_frame, s, &sc);
	if (rc < 0) {
		/* unreadable from here on: keep what was counted, cut nothing */
		log_error("wal", "'%s': cannot read: %s", path, strerror(-rc));
		sc.damage = FRAME_CORRUPT;
		last = false;
	}
	uint64_t size = (uint64_t)sb.st_size, cut = size - sc.end;
	s->count = sc.frames;
	s->bytes = sc.end;
	s->alloc = s->bytes;
	if (sc.damage == FRAME_CLEAN)
		return 0;
	if (sc.damage == FRAME_ZEROS || last) {
		if (sc.damage == FRAME_TORN)
			log_warn("wal", "'%s': torn or corrupt record at offset %llu (a torn tail); cut "
				 "%llu bytes, kept %llu records", path, (unsigned long long)sc.end,
				 (unsigned long long)cut, (unsigned long long)s->count);
		else if (sc.damage == FRAME_CORRUPT)
			log_error("wal", "'%s': torn or corrupt record at offset %llu, good records "
				  "again at offset %llu (corruption in the last segment): cut %llu "
				  "bytes, kept %llu records; what followed cannot be numbered",
				  path, (unsigned long long)sc.end, (unsigned long long)sc.resume,
				  (unsigned long long)cut, (unsigned long long)s->count);
		if (ftruncate(s->fd, (off_t)sc.end) < 0)
			log_error("wal", "'%s': cannot truncate: %s", path, strerror(errno));
		return sc.damage == FRAME_ZEROS ? 0 : cut;
	}
	log_error("wal", "'%s': corrupt record at offset %llu of a sealed segment (%s); kept "
		  "the %llu records before it, the %llu bytes from there are not read and are "
		  "left in the file", path, (unsigned long long)sc.end,
		  sc.damage == FRAME_TORN ? "its end is lost" : "good records follow",
		  (unsigned long long)s->count, (unsigned long long)cut);
	s->damaged = true;
	return cut;
}

struct seg_name {
	uint64_t first;
	unsigned format;      /* 1 for .seg, else read from the header */
};

/* By first LSN; an old segment before a new one with the same first LSN. */
static int cmp_seg_name(const void *a, const void *b)
{
	const struct seg_name *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return (x->format != 1) - (y->format != 1);
}

static int load_segments(struct wal *w, char *err, size_t errlen)
{
	DIR *d = opendir(w->dir);
	if (!d) {
		snprintf(err, errlen, "cannot open '%s': %s", w->dir, strerror(errno));
		return -1;
	}
	struct seg_name *firsts = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		unsigned long long first;
		char tail[8];
		if (strlen(e->d_name) != 20 || sscanf(e->d_name, "%16llx.%3s", &first, tail) != 2 ||
		    (strcmp(tail, "seg") != 0 && strcmp(tail, "log") != 0))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct seg_name *nf = realloc(firsts, cap * sizeof(*nf));
			if (!nf) {
				closedir(d);
				free(firsts);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			firsts = nf;
		}
		firsts[n++] = (struct seg_name){ first, strcmp(tail, "seg") == 0 ? 1 : WAL_FORMAT };
	}
	closedir(d);
	if (n)
		qsort(firsts, n, sizeof(*firsts), cmp_seg_name);
	w->next_lsn = 1;
	const struct seg *top = NULL;
	for (size_t i = 0; i < n; i++) {
		bool last = i + 1 == n;
		if (firsts[i].first == 0 || firsts[i].first > LSN_MAX) {
			/* a number no bridge gives (past it, lsn + count could wrap): not read, not cut */
			char path[512];
			seg_path(w, firsts[i].first, firsts[i].format, path, sizeof(path));
			snprintf(err, errlen, "'%s' names lsn %llu, outside the log's numbering "
				 "(1..%llu): not a sensor-bridge log segment; move it out of the way",
				 path, (unsigned long long)firsts[i].first, (unsigned long long)LSN_MAX);
			free(firsts);
			return -1;
		}
		struct seg *s = seg_load(w, firsts[i].first, firsts[i].format, last, err, errlen);
		if (!s) {
			free(firsts);
			return -1;
		}
		char path[512], prev[512] = "";
		seg_path(w, s->first_lsn, s->format, path, sizeof(path));
		/*
		 * where the records so far end, and the segment they end in: not
		 * always the one before (an empty damaged segment may be in between)
		 */
		uint64_t end = top ? top->first_lsn + top->count : 1;
		const struct seg *before = top ? top : w->tail;
		if (before)
			seg_path(w, before->first_lsn, before->format, prev, sizeof(prev));
		/*
		 * an empty segment is kept only to append to: the last, in this
		 * format, after the records before it
		 */
		if (s->count == 0 && !s->damaged &&
		    (!last || s->format != WAL_FORMAT || s->first_lsn < end)) {
			seg_free(w, s, true);
			continue;
		}
		if (s->count && top && s->first_lsn < end) {
			snprintf(err, errlen, "'%s' (lsn %llu..%llu) overlaps '%s' (lsn %llu..%llu): "
				 "the log is inconsistent (written by two bridges?); move one of "
				 "them out of the way", path, (unsigned long long)s->first_lsn,
				 (unsigned long long)(s->first_lsn + s->count - 1), prev,
				 (unsigned long long)top->first_lsn, (unsigned long long)end - 1);
			seg_free(w, s, false);
			free(firsts);
			return -1;
		}
		if (s->first_lsn > end && before)
			log_error("wal", "records lsn %llu..%llu are missing between '%s' and '%s' "
				  "(lost to damage): outputs skip them", (unsigned long long)end,
				  (unsigned long long)s->first_lsn - 1, prev, path);
		seg_link(w, s);
		w->bytes += s->bytes;
		if (s->first_lsn + s->count > w->next_lsn)
			w->next_lsn = s->first_lsn + s->count;
		if (s->count && (!top || s->first_lsn + s->count > end))
			top = s;
	}
	free(firsts);
	if (w->head)
		log_info("wal", "'%s': %llu records in %llu segments (lsn %llu..%llu)", w->dir,
			 (unsigned long long)(w->next_lsn - w->head->first_lsn),
			 (unsigned long long)w->st.segments, (unsigned long long)w->head->first_lsn,
			 (unsigned long long)w->next_lsn - 1);
	return 0;
}

static void *syncer_main(void *arg)
{
	struct wal *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		struct timespec until = clock_deadline_ms(w->o.sync_ms);
		while (!w->stopping &&
		       pthread_cond_timedwait(&w->sync_cond, &w->lock, &until) != ETIMEDOUT)
			;
		if (w->dirty && w->tail && w->tail->fd >= 0) {
			int fd = w->tail->fd;
			uint64_t upto = w->next_lsn;
			w->dirty = false;
			pthread_mutex_unlock(&w->lock);
			int rc = sync_fd(fd);
			pthread_mutex_lock(&w->lock);
			sync_result(w, rc, upto);
			if (rc < 0)
				w->dirty = true;
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Signals every waiting reader (shutdown). Lock held. */
static void wake_all(struct wal *w)
{
	for (int i = 0; i < w->n_readers; i++)
		pthread_cond_broadcast(&w->readers[i]->cond);
}

/* Signals the waiting readers that now have as many records as they wait for. Lock held. */
static void wake_ready(struct wal *w)
{
	for (int i = 0; i < w->n_readers; i++) {
		struct wal_reader *r = w->readers[i];
		if (r->waiting && w->next_lsn >= r->lsn + r->wait_min) {
			r->waiting = false;
			w->waiting--;
			pthread_cond_signal(&r->cond);
		}
	}
}

struct wal *wal_open(const struct wal_opts *o, char *err, size_t errlen)
{
	struct wal *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->o = *o;
	long pg = sysconf(_SC_PAGESIZE);
	w->page = pg > 0 ? (uint64_t)pg : 4096;
	if (!w->o.segment_bytes)
		w->o.segment_bytes = 4u << 20;
	if (!w->o.max_records)
		w->o.max_records = 100000;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->sync_cond, NULL);
	w->next_lsn = 1;
	if (o->dir) {
		size_t n = strlen(o->dir) + 5;
		w->dir = malloc(n);
		if (!w->dir) {
			snprintf(err, errlen, "out of memory");
			goto err_free;
		}
		snprintf(w->dir, n, "%s/wal", o->dir);
		if ((mkdir(o->dir, 0700) < 0 && errno != EEXIST) ||
		    (mkdir(w->dir, 0700) < 0 && errno != EEXIST)) {
			snprintf(err, errlen, "cannot create '%s': %s", w->dir, strerror(errno));
			goto err_free;
		}
		if (load_segments(w, err, errlen) < 0)
			goto err_free;
		w->synced_lsn = w->next_lsn;
		check_cursors(w);
		if (o->sync_ms > 0) {
			if (pthread_create(&w->syncer, NULL, syncer_main, w) == 0)
				w->syncer_running = true;
		}
	}
	return w;
err_free:
	wal_close(w);
	return NULL;
}

bool wal_durable(const struct wal *w)
{
	return w->dir != NULL;
}

int wal_sync_error(const struct wal *w)
{
	return w->sync_err;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	wake_all(w);
	pthread_cond_broadcast(&w->sync_cond);
	pthread_mutex_unlock(&w->lock);
	if (w->syncer_running)
		pthread_join(w->syncer, NULL);
	if (w->tail)
		seg_seal(w->tail);
	if (w->tail && w->tail->fd >= 0 && w->o.sync_ms != WAL_SYNC_NEVER)
		fdatasync(w->tail->fd);
	for (int i = 0; i < w->n_readers; i++) {
		pthread_cond_destroy(&w->readers[i]->cond);
		free(w->readers[i]);
	}
	while (w->head) {
		struct seg *s = w->head;
		w->head = s->next;
		seg_free(w, s, false);
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->sync_cond);
	free(w->dir);
	free(w);
}

/* Drops the oldest segment; readers inside it skip ahead and count the loss. */
static void drop_head(struct wal *w, const char *why)
{
	struct seg *s = w->head;
	uint64_t end = s->first_lsn + s->count;
	uint64_t lost_max = 0;
	for (int i = 0; i < w->n_readers; i++) {
		struct wal_reader *r = w->readers[i];
		if (r->committed < end) {
			uint64_t lost = end - (r->committed > s->first_lsn ? r->committed : s->first_lsn);
			r->dropped += lost;
			w->st.dropped += lost;
			if (lost > lost_max)
				lost_max = lost;
			r->committed = end;
		}
		if (r->lsn < end)
			r->lsn = end;
		if (r->cseg == s)
			r->cseg = NULL;
	}
	if (lost_max)
		log_error("wal", "log is over its %s bound: dropped %llu unsent readings "
			  "(lsn %llu..%llu)", why, (unsigned long long)lost_max,
			  (unsigned long long)s->first_lsn, (unsigned long long)end - 1);
	w->head = s->next;
	if (!w->head)
		w->tail = NULL;
	w->bytes -= s->bytes;
	w->st.segments--;
	seg_free(w, s, true);
}

/* Deletes segments every cursor has passed, and enforces the bounds. */
static void trim(struct wal *w)
{
	uint64_t min = w->next_lsn;
	for (int i = 0; i < w->n_readers; i++)
		if (w->readers[i]->committed < min)
			min = w->readers[i]->committed;
	while (w->head && w->head != w->tail && w->head->first_lsn + w->head->count <= min)
		drop_head(w, "");
	if (w->dir) {
		while (w->o.max_bytes && w->head && w->head != w->tail && w->bytes > w->o.max_bytes)
			drop_head(w, "WAL_MAX_BYTES");
	} else {
		while (w->head && w->head != w->tail &&
		       w->next_lsn - w->head->first_lsn > w->o.max_records)
			drop_head(w, "QUEUE_MAX_SAMPLES");
	}
	if (w->o.max_age_ms > 0) {
		int64_t limit = clock_now_ms() - w->o.max_age_ms;
		while (w->head && w->head != w->tail && w->head->newest_ms < limit)
			drop_head(w, "WAL_MAX_AGE");
	}
}

/* From now on the log is appended to with write(), not through a mapping. */
static void stop_mapping(struct wal *w, struct seg *s, const char *why, int err)
{
	log_warn("wal", "cannot map the log for appending (%s: %s); using write()", why,
		 strerror(err));
	w->no_map = true;
	seg_seal(s);
}

/*
 * Makes room for n more bytes at the end of disk segment s: reserves the
 * blocks (fallocate) and maps the window that holds them. A failed
 * reservation is the append's error (a full disk must not become a SIGBUS
 * later); a file system without fallocate, or a failed mmap, switches the
 * log to write(). 0 or -errno.
 */
static int seg_map(struct wal *w, struct seg *s, size_t n)
{
	uint64_t off = s->bytes & ~(w->page - 1);
	uint64_t len = MAP_WINDOW;
	while (off + len < s->bytes + n)
		len += MAP_WINDOW;
	if (off + len > s->alloc) {
		if (fallocate(s->fd, 0, (off_t)s->alloc, (off_t)(off + len - s->alloc)) < 0) {
			int rc = errno;
			/* a failed fallocate may still have grown the file */
			if (ftruncate(s->fd, (off_t)s->alloc) < 0)
				log_debug("wal", "cannot cut back the log: %s", strerror(errno));
			if (rc != EOPNOTSUPP)
				return -rc;
			stop_mapping(w, s, "fallocate", rc);
			return 0;
		}
		s->alloc = off + len;
	}
	if (s->map)
		munmap(s->map, s->map_len);
	s->map = NULL;
	s->map_len = 0;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, (off_t)off);
	if (m == MAP_FAILED) {
		stop_mapping(w, s, "mmap", errno);
		return 0;
	}
	s->map = m;
	s->map_off = off;
	s->map_len = len;
	return 0;
}

/* Appends frame f (n bytes) to disk segment s: through its mapping, else write(). */
static int seg_write(struct wal *w, struct seg *s, const void *f, size_t n)
{
	if (!w->no_map && s->bytes + n > s->map_off + s->map_len) {
		int rc = seg_map(w, s, n);
		if (rc < 0)
			return rc;
	}
	if (!w->no_map) {
		memcpy(s->map + (s->bytes - s->map_off), f, n);
		return 0;
	}
	ssize_t k = write(s->fd, f, n);
	if (k == (ssize_t)n)
		return 0;
	int rc = k < 0 ? -errno : -EIO;
	/* a partial frame would be cut at the next open; cut it now */
	if (k > 0 && ftruncate(s->fd, (off_t)s->bytes) < 0)
		rc = -errno;
	return rc;
}

static int roll(struct wal *w)
{
	struct seg *s = seg_new(w, w->next_lsn);
	if (!s)
		return -errno;
	if (w->tail)
		seg_seal(w->tail);
	if (w->tail && w->tail->fd >= 0 && w->o.sync_ms != WAL_SYNC_NEVER)
		sync_result(w, sync_fd(w->tail->fd), w->next_lsn);
	seg_link(w, s);
	w->bytes += s->bytes;
	return 0;
}

int wal_append(struct wal *w, int64_t arrival_ms, const char *topic, const void *payload,
	       size_t len)
{
	size_t tl = strlen(topic);
	size_t body = BODY_FIXED + tl + len;
	if (tl > 65535 || body > MAX_BODY)
		return -EMSGSIZE;
	unsigned char stackbuf[2048];
	unsigned char *f = HDR + body <= sizeof(stackbuf) ? stackbuf : malloc(HDR + body);
	if (!f)
		return -ENOMEM;
	put64(f + HDR, (uint64_t)arrival_ms);
	f[HDR + 8] = (unsigned char)(tl & 0xff);
	f[HDR + 9] = (unsigned char)(tl >> 8);
	memcpy(f + HDR + BODY_FIXED, topic, tl);
	memcpy(f + HDR + BODY_FIXED + tl, payload, len);
	frame_put_header(f, f + HDR, (uint32_t)body);
	size_t flen = HDR + body;

	int rc = 0;
	pthread_mutex_lock(&w->lock);
	if (w->sync_err && w->tail && w->tail->fd >= 0) {
		/* the log is unhealthy until a sync succeeds */
		sync_result(w, sync_fd(w->tail->fd), w->next_lsn);
		if (w->sync_err) {
			rc = -w->sync_err;
			goto out;
		}
	}
	/* memory segments hold 1/16 of the record bound, so a drop is at most that */
	bool full = w->dir ? w->tail && w->tail->bytes + flen > w->o.segment_bytes :
			     w->tail && w->tail->count >= w->o.max_records / 16 + 1;
	/*
	 * an old-format or damaged segment is never appended to, nor one that
	 * does not end at next_lsn (numbering continued above a cursor)
	 */
	bool old = w->tail && (w->tail->format != WAL_FORMAT || w->tail->damaged ||
			       w->tail->first_lsn + w->tail->count != w->next_lsn);
	if (!w->tail || full || old) {
		if (w->tail && w->tail->count == 0 && !old) {
			/* an empty segment takes any record */
		} else if ((rc = roll(w)) < 0) {
			goto out;
		} else if (w->sync_err) {
			/* the segment just closed did not sync */
			rc = -w->sync_err;
			goto out;
		}
	}
	struct seg *s = w->tail;
	if (w->dir) {
		if ((rc = seg_write(w, s, f, flen)) < 0)
			goto out;
		if (w->o.sync_ms == WAL_SYNC_ALWAYS) {
			sync_result(w, sync_fd(s->fd), w->next_lsn + 1);
			if (w->sync_err) {
				/* not durable, so not appended: the caller does not
				 * acknowledge it, and the frame must not turn up as a
				 * record at the next open */
				rc = -w->sync_err;
				if (!w->no_map && s->map)
					memset(s->map + (s->bytes - s->map_off), 0, flen);
				else if (ftruncate(s->fd, (off_t)s->bytes) < 0)
					log_debug("wal", "cannot cut back the log: %s", strerror(errno));
				goto out;
			}
		} else {
			w->dirty = true;
		}
	} else {
		if (s->bytes + flen > s->mem_cap) {
			uint64_t cap = s->mem_cap ? s->mem_cap * 2 : 4096;
			while (cap < s->bytes + flen)
				cap *= 2;
			char *m = realloc(s->mem, cap);
			if (!m) {
				rc = -ENOMEM;
				goto out;
			}
			s->mem = m;
			s->mem_cap = cap;
		}
		memcpy(s->mem + s->bytes, f, flen);
	}
	s->bytes += flen;
	s->count++;
	if (arrival_ms > s->newest_ms)
		s->newest_ms = arrival_ms;
	w->bytes += flen;
	w->next_lsn++;
	w->st.appended++;
	trim(w);
	if (w->waiting)
		wake_ready(w);
out:
	pthread_mutex_unlock(&w->lock);
	if (f != stackbuf)
		free(f);
	return rc;
}

int wal_sync(struct wal *w)
{
	int rc = 0;
	pthread_mutex_lock(&w->lock);
	if (w->tail && w->tail->fd >= 0) {
		rc = sync_fd(w->tail->fd);
		sync_result(w, rc, w->next_lsn);
	}
	w->dirty = rc < 0;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/*
 * A cursor file holds "<lsn> <crc32 of the digits, 8 hex digits>\n"; one
 * written before the CRC was added holds "<lsn>\n", and is read as well.
 * 0 and *lsn, or -1: damaged.
 */
static int parse_cursor(const char *buf, size_t n, uint64_t *lsn)
{
	size_t d = 0;
	while (d < n && buf[d] >= '0' && buf[d] <= '9')
		d++;
	if (d == 0 || d > 20)
		return -1;
	size_t i = d;
	if (i + 9 <= n && buf[i] == ' ') {
		char hex[9];
		memcpy(hex, buf + i + 1, 8);
		hex[8] = '\0';
		for (int k = 0; k < 8; k++)
			if (!((hex[k] >= '0' && hex[k] <= '9') || (hex[k] >= 'a' && hex[k] <= 'f')))
				return -1;
		if ((uint32_t)strtoul(hex, NULL, 16) != frame_crc32(buf, d))
			return -1;
		i += 9;
	}
	if (i < n && buf[i] == '\n')
		i++;
	if (i != n)
		return -1;
	char num[24];
	memcpy(num, buf, d);
	num[d] = '\0';
	errno = 0;
	unsigned long long v = strtoull(num, NULL, 10);
	if (errno || v == 0 || v > LSN_MAX)
		return -1;
	*lsn = v;
	return 0;
}

/* 1 and *lsn, 0 when there is none, -1 when it is damaged (logged). */
static int load_cursor(struct wal *w, const char *name, uint64_t *lsn)
{
	char path[600], buf[64];
	snprintf(path, sizeof(path), "%s/%s.cursor", w->dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || parse_cursor(buf, (size_t)n, lsn) < 0) {
		log_error("wal", "'%s' is damaged (not \"<lsn> <crc>\"): that output starts again "
			  "from the oldest record kept", path);
		return -1;
	}
	return 1;
}

/* Removes the last segment (empty): the next append starts one at next_lsn. */
static void drop_empty_tail(struct wal *w)
{
	struct seg *s = w->tail, **pp = &w->head;
	while (*pp != s)
		pp = &(*pp)->next;
	*pp = NULL;
	w->tail = NULL;
	for (struct seg *t = w->head; t; t = t->next)
		w->tail = t;
	w->bytes -= s->bytes;
	w->st.segments--;
	seg_free(w, s, true);
}

/*
 * A cursor is saved (fsynced) at each commit, the log only every WAL_SYNC
 * ms: after a power cut a cursor can be ahead of what was recovered. New
 * records then must not take the numbers below it (that output would skip
 * them): numbering continues above every saved cursor. Logged.
 */
static void check_cursors(struct wal *w)
{
	DIR *d = opendir(w->dir);
	if (!d)
		return;
	uint64_t top = w->next_lsn;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l <= 7 || l - 7 >= 64 || strcmp(e->d_name + l - 7, ".cursor") != 0)
			continue;
		char name[64];
		uint64_t lsn;
		memcpy(name, e->d_name, l - 7);
		name[l - 7] = '\0';
		if (load_cursor(w, name, &lsn) <= 0 || lsn <= w->next_lsn)
			continue;
		log_warn("wal", "'%s/%s': cursor at lsn %llu is ahead of the log, which ends before "
			 "lsn %llu (records lost at a power cut, or to damage): new records are "
			 "numbered from there on, so that no output skips them", w->dir, e->d_name,
			 (unsigned long long)lsn, (unsigned long long)w->next_lsn);
		if (lsn > top)
			top = lsn;
	}
	closedir(d);
	if (top == w->next_lsn)
		return;
	w->next_lsn = top;
	if (w->tail && w->tail->count == 0)
		drop_empty_tail(w);
}

static int save_cursor(struct wal_reader *r, uint64_t lsn)
{
	struct wal *w = r->w;
	char path[600], tmp[620];
	snprintf(path, sizeof(path), "%s/%s.cursor", w->dir, r->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char buf[48];
	int d = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)lsn);
	int n = d + snprintf(buf + d, sizeof(buf) - (size_t)d, " %08x\n",
			     (unsigned)frame_crc32(buf, (size_t)d));
	if (write(fd, buf, (size_t)n) != n || (w->o.sync_ms != WAL_SYNC_NEVER && fsync(fd) < 0)) {
		int e = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		return -e;
	}
	close(fd);
	if (rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/*
 * A reader whose position is in no segment (a gap left by damage, or the
 * numbers skipped above a cursor) moves to the next record there is, or to
 * next_lsn. Lock held.
 */
static void skip_gap(struct wal *w, struct wal_reader *r)
{
	if (r->lsn >= w->next_lsn || (r->cseg && r->clsn == r->lsn))
		return;
	uint64_t to = w->next_lsn;
	for (const struct seg *s = w->head; s; s = s->next) {
		if (r->lsn < s->first_lsn + s->count) {
			if (r->lsn >= s->first_lsn)
				return;
			if (s->count) {
				to = s->first_lsn;
				break;
			}
		}
	}
	if (r->committed == r->lsn)
		r->committed = to;
	r->lsn = to;
	r->cseg = NULL;
}

struct wal_reader *wal_reader_open(struct wal *w, const char *name, char *err, size_t errlen)
{
	struct wal_reader *r = calloc(1, sizeof(*r));
	if (!r || w->n_readers == MAX_READERS) {
		free(r);
		snprintf(err, errlen, "too many outputs");
		return NULL;
	}
	r->w = w;
	snprintf(r->name, sizeof(r->name), "%s", name);
	pthread_cond_init(&r->cond, NULL);
	pthread_mutex_lock(&w->lock);
	uint64_t start = w->head ? w->head->first_lsn : w->next_lsn;
	uint64_t saved;
	if (w->dir && load_cursor(w, name, &saved) > 0) {
		if (saved < start) {
			log_error("wal", "output '%s': %llu readings before its cursor are gone "
				  "(log trimmed by a bound)", name,
				  (unsigned long long)(start - saved));
			saved = start;
		}
		if (saved > w->next_lsn)
			saved = w->next_lsn;      /* check_cursors made this impossible */
		start = saved;
	}
	r->lsn = r->committed = start;
	skip_gap(w, r);
	w->readers[w->n_readers++] = r;
	if (w->next_lsn > start)
		log_info("wal", "output '%s': resuming with %llu readings to send", name,
			 (unsigned long long)(w->next_lsn - start));
	pthread_mutex_unlock(&w->lock);
	return r;
}

/*
 * Finds lsn's byte offset; uses the reader's cache when it can, else walks
 * the segment's frame headers a chunk at a time. Lock held.
 */
static const struct seg *locate(struct wal_reader *r, uint64_t lsn, uint64_t *off)
{
	struct wal *w = r->w;
	if (r->cseg && r->clsn == lsn) {
		*off = r->coff;
		return r->cseg;
	}
	for (const struct seg *s = w->head; s; s = s->next) {
		if (lsn < s->first_lsn || lsn >= s->first_lsn + s->count)
			continue;
		unsigned char *chunk = malloc(READ_MIN);
		if (!chunk)
			return NULL;
		uint64_t o = s->start, l = s->first_lsn;
		while (l < lsn) {
			uint64_t avail = s->bytes - o;
			size_t n = avail < READ_MIN ? (size_t)avail : READ_MIN;
			if (n < HDR || seg_pread(s, o, chunk, n) < 0) {
				free(chunk);
				return NULL;
			}
			size_t pos = 0;
			while (l < lsn && pos + HDR <= n) {
				pos += HDR + get32(chunk + pos);
				l++;
			}
			/* pos may point past the chunk: the next read starts there */
			o += pos;
		}
		free(chunk);
		*off = o;
		return s;
	}
	return NULL;
}

static int batch_reserve(struct wal_batch *b, size_t nrec, size_t bytes)
{
	if (nrec > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < nrec)
			cap *= 2;
		struct wal_record *nr = realloc(b->recs, cap * sizeof(*nr));
		if (!nr)
			return -1;
		b->recs = nr;
		size_t *no = realloc(b->offs, cap * 2 * sizeof(*no));
		if (!no)
			return -1;
		b->offs = no;
		b->cap = cap;
	}
	if (bytes > b->buf_cap) {
		size_t cap = b->buf_cap ? b->buf_cap : 65536;
		while (cap < bytes)
			cap *= 2;
		char *nb = realloc(b->buf, cap);
		if (!nb)
			return -1;
		b->buf = nb;
		b->buf_cap = cap;
	}
	return 0;
}

/*
 * How many bytes of s to read from off for about `records` records: the
 * segment's average frame size times that, with some slack, within
 * READ_MIN..READ_MAX and what the segment holds.
 */
static size_t read_size(const struct seg *s, uint64_t off, size_t records)
{
	uint64_t avail = s->bytes - off;
	uint64_t avg = s->count ? (s->bytes - s->start) / s->count : 256;
	uint64_t n = (uint64_t)records * (avg + avg / 8) + HDR;
	if (n < READ_MIN)
		n = READ_MIN;
	if (n > READ_MAX)
		n = READ_MAX;
	return (size_t)(avail < n ? avail : n);
}

/*
 * Turns the frames in chunk (n bytes, read from s at the reader's position)
 * into records, up to want in all. Each body becomes
 *   i64 arrival | 1 byte | topic NUL | payload
 * in place: the topic moves one byte left over its length, which makes room
 * for its NUL. Returns the bytes consumed (whole frames only).
 */
static size_t take_frames(struct wal_reader *r, const struct seg *s, struct wal_batch *b,
			  char *chunk, size_t n, size_t want)
{
	size_t pos = 0;
	uint64_t end = s->first_lsn + s->count;
	while (b->n < want && r->lsn < end && pos + HDR <= n) {
		uint32_t len = get32((unsigned char *)chunk + pos);
		if (len < BODY_FIXED || pos + HDR + len > n)
			break;
		char *body = chunk + pos + HDR;
		size_t tl = (size_t)((unsigned char)body[8] | (unsigned char)body[9] << 8);
		if (tl > len - BODY_FIXED)
			tl = len - BODY_FIXED;   /* never written so; CRC-checked at open */
		memmove(body + 9, body + BODY_FIXED, tl);
		body[9 + tl] = '\0';
		struct wal_record *rec = &b->recs[b->n];
		rec->lsn = r->lsn;
		rec->format = s->format;
		rec->arrival_ms = (int64_t)get64((unsigned char *)body);
		rec->len = len - BODY_FIXED - tl;
		size_t at = (size_t)(body - b->buf);
		b->offs[2 * b->n] = at + 9;
		b->offs[2 * b->n + 1] = at + BODY_FIXED + tl;
		b->n++;
		r->lsn++;
		pos += HDR + len;
	}
	return pos;
}

size_t wal_read(struct wal_reader *r, struct wal_batch *b, size_t max, size_t min,
		int wait_ms)
{
	struct wal *w = r->w;
	struct timespec until = clock_deadline_ms(wait_ms);
	b->n = 0;
	b->buf_len = 0;
	if (min < 1)
		min = 1;
	if (min > max)
		min = max;
	pthread_mutex_lock(&w->lock);
	skip_gap(w, r);
	while (w->next_lsn < r->lsn + min && !w->woken && !w->stopping && wait_ms > 0) {
		r->wait_min = min;
		r->waiting = true;
		w->waiting++;
		int rc = pthread_cond_timedwait(&r->cond, &w->lock, &until);
		if (r->waiting) {
			r->waiting = false;
			w->waiting--;
		}
		if (rc == ETIMEDOUT)
			break;
	}
	/* a reader behind the oldest kept record starts there */
	if (w->head && r->lsn < w->head->first_lsn)
		r->lsn = w->head->first_lsn;
	skip_gap(w, r);
	size_t want = w->next_lsn > r->lsn ? (size_t)(w->next_lsn - r->lsn) : 0;
	if (want > max)
		want = max;
	uint64_t off = 0;
	const struct seg *s = want ? locate(r, r->lsn, &off) : NULL;
	if (s && batch_reserve(b, want, 0) < 0)
		s = NULL;
	while (s && b->n < want) {
		if (r->lsn >= s->first_lsn + s->count) {
			s = s->next;
			if (!s)
				break;
			off = s->start;
			if (r->lsn < s->first_lsn)
				r->lsn = s->first_lsn;
			continue;
		}
		size_t n = read_size(s, off, want - b->n);
		if (n < HDR || batch_reserve(b, want, b->buf_len + n) < 0 ||
		    seg_pread(s, off, b->buf + b->buf_len, n) < 0)
			break;
		size_t used = take_frames(r, s, b, b->buf + b->buf_len, n, want);
		if (used == 0) {
			/* a frame larger than the chunk: read it whole */
			size_t frame = HDR + get32((unsigned char *)b->buf + b->buf_len);
			if (frame <= n || frame > s->bytes - off ||
			    batch_reserve(b, want, b->buf_len + frame) < 0 ||
			    seg_pread(s, off, b->buf + b->buf_len, frame) < 0)
				break;
			used = take_frames(r, s, b, b->buf + b->buf_len, frame, want);
			if (used == 0)
				break;
		}
		b->buf_len += used;
		off += used;
	}
	for (size_t i = 0; i < b->n; i++) {
		b->recs[i].topic = b->buf + b->offs[2 * i];
		b->recs[i].payload = b->buf + b->offs[2 * i + 1];
	}
	if (s) {
		r->cseg = s;
		r->coff = off;
		r->clsn = r->lsn;
	}
	pthread_mutex_unlock(&w->lock);
	return b->n;
}

void wal_rewind(struct wal_reader *r)
{
	pthread_mutex_lock(&r->w->lock);
	r->lsn = r->committed;
	r->cseg = NULL;
	pthread_mutex_unlock(&r->w->lock);
}

int wal_commit(struct wal_reader *r, uint64_t lsn)
{
	struct wal *w = r->w;
	int rc = 0;
	pthread_mutex_lock(&w->lock);
	if (lsn + 1 > r->committed) {
		r->committed = lsn + 1;
		if (w->dir)
			rc = save_cursor(r, r->committed);
		trim(w);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

uint64_t wal_reader_lag(struct wal_reader *r)
{
	pthread_mutex_lock(&r->w->lock);
	uint64_t lag = r->w->next_lsn - r->committed;
	pthread_mutex_unlock(&r->w->lock);
	return lag;
}

uint64_t wal_reader_take_dropped(struct wal_reader *r)
{
	pthread_mutex_lock(&r->w->lock);
	uint64_t d = r->dropped;
	r->dropped = 0;
	pthread_mutex_unlock(&r->w->lock);
	return d;
}

void wal_wake(struct wal *w)
{
	pthread_mutex_lock(&w->lock);
	w->woken = true;
	wake_all(w);
	pthread_mutex_unlock(&w->lock);
}

void wal_get_stats(struct wal *w, struct wal_stats *s)
{
	pthread_mutex_lock(&w->lock);
	*s = w->st;
	s->bytes = w->bytes;
	pthread_mutex_unlock(&w->lock);
}

void wal_batch_release(struct wal_batch *b)
{
	free(b->recs);
	free(b->buf);
	free(b->offs);
	memset(b, 0, sizeof(*b));
}
