/*
 * wal_read.c - the log's readers (see wal.h, wal_int.h): a cursor per
 * output, opened at its saved position; wal_read waits for a batch's worth
 * of records, then reads the segments in large chunks and turns their
 * frames into records in place; rewind, lag and the dropped count; the
 * wake-ups the appender and shutdown send. Saving a cursor is wal_commit's
 * (wal.c, wal_cursor.c).
 *
 * Everything here runs with w->lock held, but the batch helpers.
 */
#include "bridge/wal_int.h"
#include "bridge/bytes.h"
#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Signals every waiting reader (shutdown). Lock held. */
void wal_wake_all(struct wal *w)
{
	for (int i = 0; i < w->n_readers; i++)
		pthread_cond_broadcast(&w->readers[i]->cond);
}

/* Signals the waiting readers that now have as many records as they wait for. Lock held. */
void wal_wake_ready(struct wal *w)
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
	pthread_mutex_init(&r->save_lock, NULL);
	pthread_mutex_lock(&w->lock);
	uint64_t start = w->head ? w->head->first_lsn : w->next_lsn;
	uint64_t saved;
	if (w->dir && wal_cursor_load(w, name, &saved) > 0) {
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
			if (n < HDR || wal_seg_pread(s, o, chunk, n) < 0) {
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

/*
 * wal_read's wait: until min records follow the reader's position, or
 * wal_wake, wal_close or the deadline. Lock held (released while waiting).
 */
static void read_wait(struct wal *w, struct wal_reader *r, size_t min, int wait_ms,
		      const struct timespec *until)
{
	while (w->next_lsn < r->lsn + min && !w->woken && !w->stopping && wait_ms > 0) {
		r->wait_min = min;
		r->waiting = true;
		w->waiting++;
		int rc = pthread_cond_timedwait(&r->cond, &w->lock, until);
		if (r->waiting) {
			r->waiting = false;
			w->waiting--;
		}
		if (rc == ETIMEDOUT)
			break;
	}
}

/* How many records to read now, at most max; the position moved past what is gone. Lock held. */
static size_t read_want(struct wal *w, struct wal_reader *r, size_t max)
{
	/* a reader behind the oldest kept record starts there */
	if (w->head && r->lsn < w->head->first_lsn)
		r->lsn = w->head->first_lsn;
	skip_gap(w, r);
	size_t want = w->next_lsn > r->lsn ? (size_t)(w->next_lsn - r->lsn) : 0;
	return want > max ? max : want;
}

/*
 * Reads one chunk of s from off (the reader's position) onto the end of
 * b->buf and takes its records; a frame larger than the chunk is read
 * whole. Returns the bytes taken: 0 when none could be.
 */
static size_t read_chunk(struct wal_reader *r, const struct seg *s, struct wal_batch *b,
			 uint64_t off, size_t want)
{
	size_t n = read_size(s, off, want - b->n);
	if (n < HDR || batch_reserve(b, want, b->buf_len + n) < 0 ||
	    wal_seg_pread(s, off, b->buf + b->buf_len, n) < 0)
		return 0;
	size_t used = take_frames(r, s, b, b->buf + b->buf_len, n, want);
	if (used)
		return used;
	size_t frame = HDR + get32((unsigned char *)b->buf + b->buf_len);
	if (frame <= n || frame > s->bytes - off ||
	    batch_reserve(b, want, b->buf_len + frame) < 0 ||
	    wal_seg_pread(s, off, b->buf + b->buf_len, frame) < 0)
		return 0;
	return take_frames(r, s, b, b->buf + b->buf_len, frame, want);
}

/*
 * Reads records into b from segment s at *off (the reader's position) on,
 * into the segments after it, until want. Returns the segment the reader
 * stopped in, *off its offset there; NULL past the last one.
 */
static const struct seg *read_records(struct wal_reader *r, const struct seg *s, uint64_t *off,
				      struct wal_batch *b, size_t want)
{
	while (s && b->n < want) {
		if (r->lsn >= s->first_lsn + s->count) {
			s = s->next;
			if (!s)
				break;
			*off = s->start;
			if (r->lsn < s->first_lsn)
				r->lsn = s->first_lsn;
			continue;
		}
		size_t used = read_chunk(r, s, b, *off, want);
		if (used == 0)
			break;
		b->buf_len += used;
		*off += used;
	}
	return s;
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
	read_wait(w, r, min, wait_ms, &until);
	size_t want = read_want(w, r, max);
	uint64_t off = 0;
	const struct seg *s = want ? locate(r, r->lsn, &off) : NULL;
	if (s && batch_reserve(b, want, 0) < 0)
		s = NULL;
	s = read_records(r, s, &off, b, want);
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
	wal_wake_all(w);
	pthread_mutex_unlock(&w->lock);
}

void wal_batch_release(struct wal_batch *b)
{
	free(b->recs);
	free(b->buf);
	free(b->offs);
	memset(b, 0, sizeof(*b));
}
