/*
 * wal.c - segmented append-only log with per-output cursors (see wal.h):
 * the public API on the log as a whole (open/close, append, sync and the
 * syncer thread, commit, stats) and its bounds (trim). The rest is in the
 * files wal_int.h lists: readers (wal_read.c), segment storage and the
 * on-disk format (wal_seg.c), recovery at open (wal_recover.c), cursor
 * files (wal_cursor.c).
 */
#include "bridge/wal_int.h"
#include "bridge/bytes.h"
#include "common/log.h"
#include "common/clock.h"
#include "common/frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * The result of one fdatasync of the log covering records before upto. A
 * failure makes the log unhealthy: the records since the last good sync
 * may not be on disk (the kernel may have dropped the pages it could not
 * write), so nothing more is appended, and acknowledged, until a sync
 * succeeds again (wal_append tries one first). One line per episode. Lock
 * held.
 */
void wal_sync_result(struct wal *w, int rc, uint64_t upto)
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

int wal_sync_fd(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
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
			int rc = wal_sync_fd(fd);
			pthread_mutex_lock(&w->lock);
			wal_sync_result(w, rc, upto);
			if (rc < 0)
				w->dirty = true;
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
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
		if (wal_recover(w, err, errlen) < 0)
			goto err_free;
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
	wal_wake_all(w);
	pthread_cond_broadcast(&w->sync_cond);
	pthread_mutex_unlock(&w->lock);
	if (w->syncer_running)
		pthread_join(w->syncer, NULL);
	if (w->tail)
		wal_seg_seal(w->tail);
	if (w->tail && w->tail->fd >= 0 && w->o.sync_ms != WAL_SYNC_NEVER)
		fdatasync(w->tail->fd);
	for (int i = 0; i < w->n_readers; i++) {
		pthread_cond_destroy(&w->readers[i]->cond);
		pthread_mutex_destroy(&w->readers[i]->save_lock);
		free(w->readers[i]);
	}
	while (w->head) {
		struct seg *s = w->head;
		w->head = s->next;
		wal_seg_free(w, s, false);
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
	wal_seg_free(w, s, true);
}

/*
 * Deletes segments every cursor has passed, and enforces the bounds. Lock
 * held.
 *
 * The invariant: a segment is deleted only once the cursor of every reader
 * that passed it is durable. trim goes by r->committed, and wal_commit
 * moves that only after the cursor file saying so is written, fsynced and
 * renamed (the save runs without w->lock, so committed cannot be moved
 * first: an append's trim would then delete a segment the cursor on disk
 * has not passed yet, and a crash would leave that cursor pointing into
 * the deleted segment). Two exceptions, as ever: a bound drops records
 * whatever the cursors say (drop_head moves them on and counts the loss);
 * and a save that failed still moves committed (the records were
 * delivered, a rewind must not send them again), so after a restart that
 * output starts at the oldest record kept, and says so.
 */
void wal_trim(struct wal *w)
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

/* Frames a record into f: HDR + BODY_FIXED + tl + len bytes. */
static void frame_record(unsigned char *f, int64_t arrival_ms, const char *topic, size_t tl,
			 const void *payload, size_t len)
{
	size_t body = BODY_FIXED + tl + len;
	put64(f + HDR, (uint64_t)arrival_ms);
	f[HDR + 8] = (unsigned char)(tl & 0xff);
	f[HDR + 9] = (unsigned char)(tl >> 8);
	memcpy(f + HDR + BODY_FIXED, topic, tl);
	memcpy(f + HDR + BODY_FIXED + tl, payload, len);
	frame_put_header(f, f + HDR, (uint32_t)body);
}

/*
 * Whether the log takes appends: after a failed sync, only once one
 * succeeds (tried here). 0 or -errno. Lock held.
 */
static int append_healthy(struct wal *w)
{
	if (w->sync_err && w->tail && w->tail->fd >= 0) {
		wal_sync_result(w, wal_sync_fd(w->tail->fd), w->next_lsn);
		if (w->sync_err)
			return -w->sync_err;
	}
	return 0;
}

/*
 * Makes the last segment one that takes a frame of flen bytes: rolls to a
 * new one when there is none, it is full, or it may not be appended to.
 * 0 or -errno. Lock held.
 */
static int append_target(struct wal *w, size_t flen)
{
	/* memory segments hold 1/16 of the record bound, so a drop is at most that */
	bool full = w->dir ? w->tail && w->tail->bytes + flen > w->o.segment_bytes :
			     w->tail && w->tail->count >= w->o.max_records / 16 + 1;
	/*
	 * an old-format or damaged segment is never appended to, nor one that
	 * does not end at next_lsn (numbering continued above a cursor)
	 */
	bool old = w->tail && (w->tail->format != WAL_FORMAT || w->tail->damaged ||
			       w->tail->first_lsn + w->tail->count != w->next_lsn);
	if (w->tail && !full && !old)
		return 0;
	if (w->tail && w->tail->count == 0 && !old)
		return 0;   /* an empty segment takes any record */
	int rc = wal_roll(w);
	if (rc < 0)
		return rc;
	/* the segment just closed did not sync */
	return w->sync_err ? -w->sync_err : 0;
}

/*
 * Writes frame f (flen bytes) after the records of the last segment s; with
 * WAL_SYNC=always syncs it, and takes it back when that fails. 0 or
 * -errno. Lock held.
 */
static int append_write(struct wal *w, struct seg *s, const unsigned char *f, size_t flen)
{
	int rc = wal_seg_write(w, s, f, flen);
	if (rc < 0 || !w->dir)
		return rc;
	if (w->o.sync_ms != WAL_SYNC_ALWAYS) {
		w->dirty = true;
		return 0;
	}
	wal_sync_result(w, wal_sync_fd(s->fd), w->next_lsn + 1);
	if (!w->sync_err)
		return 0;
	/* not durable, so not appended: the caller does not acknowledge it, and
	 * the frame must not turn up as a record at the next open */
	wal_seg_unwrite(w, s, flen);
	return -w->sync_err;
}

/* Counts the frame just written to s as record next_lsn; trims, wakes readers. Lock held. */
static void append_done(struct wal *w, struct seg *s, size_t flen, int64_t arrival_ms)
{
	s->bytes += flen;
	s->count++;
	if (arrival_ms > s->newest_ms)
		s->newest_ms = arrival_ms;
	w->bytes += flen;
	w->next_lsn++;
	w->st.appended++;
	wal_trim(w);
	if (w->waiting)
		wal_wake_ready(w);
}

int wal_append(struct wal *w, int64_t arrival_ms, const char *topic, const void *payload,
	       size_t len)
{
	size_t tl = strlen(topic);
	size_t body = BODY_FIXED + tl + len;
	if (tl > 65535 || body > MAX_BODY)
		return -EMSGSIZE;
	unsigned char stackbuf[2048];
	size_t flen = HDR + body;
	unsigned char *f = flen <= sizeof(stackbuf) ? stackbuf : malloc(flen);
	if (!f)
		return -ENOMEM;
	frame_record(f, arrival_ms, topic, tl, payload, len);
	pthread_mutex_lock(&w->lock);
	int rc = append_healthy(w);
	if (rc == 0)
		rc = append_target(w, flen);
	if (rc == 0)
		rc = append_write(w, w->tail, f, flen);
	if (rc == 0)
		append_done(w, w->tail, flen, arrival_ms);
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
		rc = wal_sync_fd(w->tail->fd);
		wal_sync_result(w, rc, w->next_lsn);
	}
	w->dirty = rc < 0;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/*
 * The cursor is saved (write, fsync, rename) under r->save_lock only, not
 * w->lock, which wal_append needs: the MQTT callback does not wait for an
 * output's fsync. w->lock is taken twice, briefly: to see whether lsn moves
 * the cursor, and, once the file is saved, to publish the new position and
 * trim (see wal_trim for why in that order). r->save_lock keeps one writer
 * per cursor file and the saved positions in order.
 */
int wal_commit(struct wal_reader *r, uint64_t lsn)
{
	struct wal *w = r->w;
	uint64_t next = lsn + 1;
	int rc = 0;
	pthread_mutex_lock(&r->save_lock);
	pthread_mutex_lock(&w->lock);
	bool ahead = next > r->committed;
	pthread_mutex_unlock(&w->lock);
	if (ahead) {
		if (w->dir)
			rc = wal_cursor_save(w, r->name, next);
		pthread_mutex_lock(&w->lock);
		if (next > r->committed)
			r->committed = next;
		wal_trim(w);
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_unlock(&r->save_lock);
	return rc;
}

void wal_get_stats(struct wal *w, struct wal_stats *s)
{
	pthread_mutex_lock(&w->lock);
	*s = w->st;
	s->bytes = w->bytes;
	pthread_mutex_unlock(&w->lock);
}
