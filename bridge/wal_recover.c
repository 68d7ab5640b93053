/*
 * wal_recover.c - what wal_open finds in STATE_DIR/wal (see wal.h for the
 * policy, wal_seg.c for the format): the segment files of both formats,
 * in LSN order, each checked (header) and scanned (frames), its torn tail
 * cut, damage logged and left in place, gaps and overlaps between segments
 * found; then the saved cursors, so that numbering continues above any
 * cursor ahead of the recovered log.
 *
 * Runs inside wal_open, before the log is shared: no locking.
 */
#include "bridge/wal_int.h"
#include "bridge/bytes.h"
#include "common/frame.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool wal_body_ok(const unsigned char *body, uint32_t len)
{
	/* the topic fits in the body (wal_read.c's take_frames relies on it) */
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
static uint64_t seg_recover(struct seg *s, const char *path, bool last)
{
	struct stat sb;
	struct frame_scan sc;
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

/*
 * Checks the header of a format 2 (or later) segment file of size bytes,
 * rewriting a torn one (created, never written); sets s->start and
 * s->format. 0, or -1 + err when it is not a segment this bridge can read.
 */
static int seg_check_header(struct seg *s, const char *path, uint64_t size, char *err,
			    size_t errlen)
{
	struct frame_src src = { .fd = s->fd, .size = size };
	unsigned char h[SEG_HDR];
	enum frame_header fh;
	int rc;
	s->start = SEG_HDR;
	wal_seg_header(h);
	if ((rc = frame_check_header(&src, h, SEG_HDR, &fh)) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-rc));
		return -1;
	}
	if (fh == FRAME_HEADER_TORN) {
		/* created, then stopped before its header was written */
		log_warn("wal", "'%s': torn header; rewritten", path);
		if (ftruncate(s->fd, 0) < 0 || write(s->fd, h, SEG_HDR) != SEG_HDR) {
			snprintf(err, errlen, "cannot repair '%s': %s", path, strerror(errno));
			return -1;
		}
	} else if (fh == FRAME_HEADER_OK) {
		/* this format */
	} else if (size < SEG_HDR || pread(s->fd, h, SEG_HDR, 0) != SEG_HDR ||
		   memcmp(h, SEG_MAGIC, 6) != 0) {
		snprintf(err, errlen, "'%s' is not a sensor-bridge log segment (no SWLOG "
			 "header); move it out of the way", path);
		return -1;
	} else if ((s->format = (unsigned)(h[6] | h[7] << 8)) != WAL_FORMAT) {
		snprintf(err, errlen, "'%s' is in log format %u, which this sensor-bridge "
			 "cannot read (it reads formats 1 and %d): it was written by a %s one",
			 path, s->format, WAL_FORMAT, s->format > WAL_FORMAT ? "newer" : "broken");
		return -1;
	}
	return 0;
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
	struct seg *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->first_lsn = first;
	s->format = format;
	wal_seg_path(w, first, format, path, sizeof(path));
	s->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (s->fd < 0 || fstat(s->fd, &sb) < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		goto err_free;
	}
	if (format != 1 && seg_check_header(s, path, (uint64_t)sb.st_size, err, errlen) < 0)
		goto err_free;
	w->st.repaired_bytes += seg_recover(s, path, last);
	return s;

err_free:
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return NULL;
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

/* The segment files in w->dir, by first LSN, in *out (n of them). 0 or -1 + err. */
static int list_segments(struct wal *w, struct seg_name **out, size_t *count, char *err,
			 size_t errlen)
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
	*out = firsts;
	*count = n;
	return 0;
}

/*
 * Whether s, just loaded, joins the log: an empty segment is kept only to
 * append to (the last, in this format, after the records before it), and
 * one overlapping the records before it refuses the log (-1 + err). *top is
 * the segment the records so far end in: not always the one before (an
 * empty damaged segment may be in between). 1: link it, 0: dropped.
 */
static int seg_fits(struct wal *w, struct seg *s, const struct seg *top, bool last, char *err,
		    size_t errlen)
{
	char path[512], prev[512] = "";
	wal_seg_path(w, s->first_lsn, s->format, path, sizeof(path));
	uint64_t end = top ? top->first_lsn + top->count : 1;
	const struct seg *before = top ? top : w->tail;
	if (before)
		wal_seg_path(w, before->first_lsn, before->format, prev, sizeof(prev));
	if (s->count == 0 && !s->damaged &&
	    (!last || s->format != WAL_FORMAT || s->first_lsn < end))
		return 0;
	if (s->count && top && s->first_lsn < end) {
		snprintf(err, errlen, "'%s' (lsn %llu..%llu) overlaps '%s' (lsn %llu..%llu): "
			 "the log is inconsistent (written by two bridges?); move one of "
			 "them out of the way", path, (unsigned long long)s->first_lsn,
			 (unsigned long long)(s->first_lsn + s->count - 1), prev,
			 (unsigned long long)top->first_lsn, (unsigned long long)end - 1);
		return -1;
	}
	if (s->first_lsn > end && before)
		log_error("wal", "records lsn %llu..%llu are missing between '%s' and '%s' "
			  "(lost to damage): outputs skip them", (unsigned long long)end,
			  (unsigned long long)s->first_lsn - 1, prev, path);
	return 1;
}

/* Loads segment file f and adds it to the log (seg_fits). 0 or -1 + err. */
static int add_segment(struct wal *w, const struct seg_name *f, bool last,
		       const struct seg **top, char *err, size_t errlen)
{
	if (f->first == 0 || f->first > LSN_MAX) {
		/* a number no bridge gives (past it, lsn + count could wrap): not read, not cut */
		char path[512];
		wal_seg_path(w, f->first, f->format, path, sizeof(path));
		snprintf(err, errlen, "'%s' names lsn %llu, outside the log's numbering "
			 "(1..%llu): not a sensor-bridge log segment; move it out of the way",
			 path, (unsigned long long)f->first, (unsigned long long)LSN_MAX);
		return -1;
	}
	struct seg *s = seg_load(w, f->first, f->format, last, err, errlen);
	if (!s)
		return -1;
	uint64_t end = *top ? (*top)->first_lsn + (*top)->count : 1;
	int fits = seg_fits(w, s, *top, last, err, errlen);
	if (fits <= 0) {
		wal_seg_free(w, s, fits == 0);
		return fits;
	}
	wal_seg_link(w, s);
	w->bytes += s->bytes;
	if (s->first_lsn + s->count > w->next_lsn)
		w->next_lsn = s->first_lsn + s->count;
	if (s->count && (!*top || s->first_lsn + s->count > end))
		*top = s;
	return 0;
}

static int load_segments(struct wal *w, char *err, size_t errlen)
{
	struct seg_name *firsts = NULL;
	size_t n = 0;
	if (list_segments(w, &firsts, &n, err, errlen) < 0)
		return -1;
	w->next_lsn = 1;
	const struct seg *top = NULL;
	for (size_t i = 0; i < n; i++) {
		if (add_segment(w, &firsts[i], i + 1 == n, &top, err, errlen) < 0) {
			free(firsts);
			return -1;
		}
	}
	free(firsts);
	if (w->head)
		log_info("wal", "'%s': %llu records in %llu segments (lsn %llu..%llu)", w->dir,
			 (unsigned long long)(w->next_lsn - w->head->first_lsn),
			 (unsigned long long)w->st.segments, (unsigned long long)w->head->first_lsn,
			 (unsigned long long)w->next_lsn - 1);
	return 0;
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
	wal_seg_free(w, s, true);
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
		if (wal_cursor_load(w, name, &lsn) <= 0 || lsn <= w->next_lsn)
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

/*
 * Loads the log in w->dir (which exists), repairing what the policy says to
 * repair. 0, or -1 + err: the log must not be opened.
 */
int wal_recover(struct wal *w, char *err, size_t errlen)
{
	if (load_segments(w, err, errlen) < 0)
		return -1;
	w->synced_lsn = w->next_lsn;
	check_cursors(w);
	return 0;
}
