/*
 * wal_seg.c - the log's segment storage (see wal.h, wal_int.h): file names
 * and header, reads, the append path (a shared mapping with fallocate, or
 * write()), memory segments, sealing and rolling to a new segment.
 *
 * On disk: STATE_DIR/wal/<first-lsn as 16 hex digits>.log, a header
 *   "SWLOG" 0 | u16 format
 * then records framed as
 *   u32 body length | u32 crc32(body) | body
 *   body = i64 arrival_ms | u16 topic length | topic | payload
 * (little endian). Format 1 segments (<first-lsn>.seg, sensor-bridge
 * 0.1.0) have the same frames and no header; they are read, never written
 * (wal_recover.c). In memory the same frames live in malloc'd segment
 * buffers.
 *
 * Appends go through a shared mapping of the last segment, a window of
 * MAP_WINDOW bytes at a time (so a record costs a copy, not a write() call;
 * once copied it is in the page cache and survives a kill -9 just the same).
 * The window's blocks are reserved with fallocate() first, so a full disk is
 * an error from the append and never a SIGBUS. The file is therefore longer
 * than its records while it is appended to: a closed segment is cut to its
 * records, and after a crash the zeros past the last record are cut when the
 * log is opened. Where a file cannot be mapped, write() is used.
 *
 * Everything here runs with w->lock held (or before the log is shared).
 */
#include "bridge/wal_int.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void wal_seg_path(const struct wal *w, uint64_t first, unsigned format, char *out, size_t n)
{
	snprintf(out, n, "%s/%016llx.%s", w->dir, (unsigned long long)first,
		 format == 1 ? "seg" : "log");
}

void wal_seg_header(unsigned char *h)
{
	memcpy(h, SEG_MAGIC, 6);
	h[6] = WAL_FORMAT & 0xff;
	h[7] = WAL_FORMAT >> 8;
}

/* Reads n bytes at off from a segment. 0 or -1. */
int wal_seg_pread(const struct seg *s, uint64_t off, void *buf, size_t n)
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
void wal_seg_seal(struct seg *s)
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

void wal_seg_free(struct wal *w, struct seg *s, bool unlink_file)
{
	wal_seg_seal(s);
	if (s->fd >= 0)
		close(s->fd);
	if (unlink_file && w->dir) {
		char path[512];
		wal_seg_path(w, s->first_lsn, s->format, path, sizeof(path));
		unlink(path);
	}
	free(s->mem);
	free(s);
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
		wal_seg_header(h);
		wal_seg_path(w, first, WAL_FORMAT, path, sizeof(path));
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

void wal_seg_link(struct wal *w, struct seg *s)
{
	if (w->tail)
		w->tail->next = s;
	else
		w->head = s;
	w->tail = s;
	w->st.segments++;
}

/* From now on the log is appended to with write(), not through a mapping. */
static void stop_mapping(struct wal *w, struct seg *s, const char *why, int err)
{
	log_warn("wal", "cannot map the log for appending (%s: %s); using write()", why,
		 strerror(err));
	w->no_map = true;
	wal_seg_seal(s);
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
static int seg_write_disk(struct wal *w, struct seg *s, const void *f, size_t n)
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

/* Appends frame f (n bytes) to memory segment s, growing its buffer. */
static int seg_write_mem(struct seg *s, const void *f, size_t n)
{
	if (s->bytes + n > s->mem_cap) {
		uint64_t cap = s->mem_cap ? s->mem_cap * 2 : 4096;
		while (cap < s->bytes + n)
			cap *= 2;
		char *m = realloc(s->mem, cap);
		if (!m)
			return -ENOMEM;
		s->mem = m;
		s->mem_cap = cap;
	}
	memcpy(s->mem + s->bytes, f, n);
	return 0;
}

/*
 * Writes frame f (n bytes) after the records of segment s, without counting
 * it (the caller does, once it is appended). 0 or -errno.
 */
int wal_seg_write(struct wal *w, struct seg *s, const void *f, size_t n)
{
	return w->dir ? seg_write_disk(w, s, f, n) : seg_write_mem(s, f, n);
}

/*
 * Takes back the n bytes wal_seg_write just wrote to disk segment s (their
 * sync failed): zeros in the mapping (cut at the next open), else the file
 * cut to its records, so the frame never turns up as a record.
 */
void wal_seg_unwrite(struct wal *w, struct seg *s, size_t n)
{
	if (!w->no_map && s->map)
		memset(s->map + (s->bytes - s->map_off), 0, n);
	else if (ftruncate(s->fd, (off_t)s->bytes) < 0)
		log_debug("wal", "cannot cut back the log: %s", strerror(errno));
}

/*
 * Starts a new last segment at next_lsn; the one before is sealed and
 * (unless WAL_SYNC=never) synced, the result in w->sync_err. 0 or -errno.
 */
int wal_roll(struct wal *w)
{
	struct seg *s = seg_new(w, w->next_lsn);
	if (!s)
		return -errno;
	if (w->tail)
		wal_seg_seal(w->tail);
	if (w->tail && w->tail->fd >= 0 && w->o.sync_ms != WAL_SYNC_NEVER)
		wal_sync_result(w, wal_sync_fd(w->tail->fd), w->next_lsn);
	wal_seg_link(w, s);
	w->bytes += s->bytes;
	return 0;
}
