/*
 * outbox.c - the bounded, ordered log of undelivered readings (see
 * outbox.h for the format and the guarantees).
 *
 * The log is a list of segments, oldest first. Two cursors walk it: "read"
 * (what outbox_next() returns next) and "commit" (everything before it was
 * acknowledged by the broker). Segments wholly before the commit cursor are
 * deleted; so is the oldest segment when the bound is reached. A segment is
 * a file in the outbox directory, or a malloc'd buffer with the same bytes
 * when the outbox lives in memory, so both take the same code paths.
 */
#include "publisher/outbox.h"
#include "common/frame.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "SWOUTBX1"
#define HDR 8u          /* segment header: the magic */
#define REC_HDR 8u      /* record header: length + CRC */

struct seg {
	uint64_t id;
	int fd;                 /* -1 in memory */
	char *mem;              /* in memory: the segment's bytes */
	size_t memcap;
	uint64_t size;          /* bytes, HDR included */
	uint64_t nrec;          /* records framed in it (good or corrupt) */
};

/* A cursor: the end of the n-th record of segment seg (n = 0: its start). */
struct cursor {
	uint64_t seg;
	uint64_t off;
	uint64_t n;
};

struct outbox {
	char *dir;              /* NULL in memory */
	int dir_fd;             /* holds the flock that keeps a second publisher out */
	uint64_t max_bytes;
	uint64_t seg_limit;
	struct seg *segs;       /* oldest first */
	size_t nseg, segcap;
	uint64_t next_id;
	uint64_t total;         /* bytes in all segments */
	struct cursor rd, cm;   /* read, commit */
	/* the last run of damaged records read past while others were in flight */
	struct cursor skip_from, skip_to;
	uint64_t dropped, corrupt, cut_bytes;
	char scratch[REC_HDR + OUTBOX_REC_MAX];
};

static void seg_path(const struct outbox *ob, uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/outbox-%" PRIu64 ".log", ob->dir, id);
}

static int seg_pread(const struct outbox *ob, const struct seg *s, void *buf, size_t n,
		     uint64_t off)
{
	if (off + n > s->size)
		return -EIO;
	if (!ob->dir) {
		memcpy(buf, s->mem + off, n);
		return 0;
	}
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(s->fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Appends n bytes to a segment with one write(2); undoes a partial write. */
static int seg_write(struct outbox *ob, struct seg *s, const void *buf, size_t n)
{
	if (!ob->dir) {
		if (s->size + n > s->memcap) {
			size_t cap = s->memcap ? s->memcap : 4096;
			while (cap < s->size + n)
				cap *= 2;
			char *m = realloc(s->mem, cap);
			if (!m)
				return -ENOMEM;
			s->mem = m;
			s->memcap = cap;
		}
		memcpy(s->mem + s->size, buf, n);
		s->size += n;
		ob->total += n;
		return 0;
	}
	ssize_t w;
	do
		w = write(s->fd, buf, n);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)n) {
		s->size += n;
		ob->total += n;
		return 0;
	}
	int rc = w < 0 ? -errno : -ENOSPC;
	if (ftruncate(s->fd, (off_t)s->size) < 0)
		log_error("outbox", "cannot undo a partial write to segment %" PRIu64 ": %s",
			  s->id, strerror(errno));
	return rc;
}

static void seg_destroy(struct outbox *ob, struct seg *s, bool remove_file)
{
	if (ob->dir) {
		if (remove_file) {
			char path[4096];
			seg_path(ob, s->id, path, sizeof(path));
			if (unlink(path) < 0 && errno != ENOENT)
				log_error("outbox", "cannot delete '%s': %s", path, strerror(errno));
		}
		if (s->fd >= 0)
			close(s->fd);
	}
	free(s->mem);
	s->fd = -1;
	s->mem = NULL;
}

static struct cursor seg_start(const struct seg *s)
{
	return (struct cursor){ .seg = s->id, .off = HDR, .n = 0 };
}

/* Deletes segment 0 and moves cursors that pointed into it. */
static void drop_first(struct outbox *ob)
{
	struct seg *s = &ob->segs[0];
	ob->total -= s->size;
	seg_destroy(ob, s, true);
	memmove(ob->segs, ob->segs + 1, (ob->nseg - 1) * sizeof(*ob->segs));
	ob->nseg--;
	struct cursor next = ob->nseg ? seg_start(&ob->segs[0]) : (struct cursor){ 0 };
	if (ob->nseg == 0 || ob->rd.seg < next.seg)
		ob->rd = next;
	if (ob->nseg == 0 || ob->cm.seg < next.seg)
		ob->cm = next;
}

static int seg_push(struct outbox *ob, const struct seg *s)
{
	if (ob->nseg == ob->segcap) {
		size_t cap = ob->segcap ? ob->segcap * 2 : 8;
		struct seg *n = realloc(ob->segs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ob->segs = n;
		ob->segcap = cap;
	}
	ob->segs[ob->nseg++] = *s;
	if (ob->nseg == 1)
		ob->rd = ob->cm = seg_start(s);
	return 0;
}

/* Starts a new, empty segment (a file only now: nothing is written before). */
static int seg_new(struct outbox *ob)
{
	struct seg s = { .id = ob->next_id++, .fd = -1 };
	int rc;
	if (ob->dir) {
		char path[4096];
		seg_path(ob, s.id, path, sizeof(path));
		s.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
		if (s.fd < 0)
			return -errno;
	}
	rc = seg_write(ob, &s, MAGIC, HDR);
	if (rc < 0)
		goto err_destroy;
	rc = seg_push(ob, &s);
	if (rc < 0) {
		ob->total -= s.size;
		goto err_destroy;
	}
	return 0;
err_destroy:
	seg_destroy(ob, &s, true);
	return rc;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* The inner layout of a body: u16le topic_len | topic (no NUL, not empty) | payload. */
static bool body_ok(const unsigned char *b, uint32_t len)
{
	unsigned tl = b[0] | (unsigned)b[1] << 8;
	return tl != 0 && tl + 2u <= len && !memchr(b + 2, '\0', tl);
}

static const struct frame_fmt ob_fmt = {
	.min_body = 2,
	.max_body = OUTBOX_REC_MAX,
	.valid = body_ok,
};

static struct frame_src seg_src(const struct outbox *ob, const struct seg *s)
{
	return (struct frame_src){ .fd = ob->dir ? s->fd : -1,
				   .mem = ob->dir ? NULL : (const unsigned char *)s->mem,
				   .size = s->size };
}

/*
 * Whether a good frame starts at off; its body lands in buf (at least
 * OUTBOX_REC_MAX bytes), *len gets its length. 1, 0 or -errno.
 */
static int frame_at(const struct outbox *ob, const struct seg *s, uint64_t off, char *buf,
		    uint32_t *len)
{
	unsigned char h[REC_HDR];
	if (s->size - off < REC_HDR)
		return 0;
	int rc = seg_pread(ob, s, h, REC_HDR, off);
	if (rc < 0)
		return rc;
	*len = get_u32(h);
	if (*len < ob_fmt.min_body || *len > ob_fmt.max_body || off + REC_HDR + *len > s->size)
		return 0;
	rc = seg_pread(ob, s, buf, *len, off + REC_HDR);
	if (rc < 0)
		return rc;
	return frame_crc32(buf, *len) == get_u32(h + 4) &&
	       body_ok((const unsigned char *)buf, *len);
}

/*
 * Scans one segment left by an earlier run (the policy in outbox.h): counts
 * its records, a damaged region followed by good records as one (skipped
 * when read), and cuts a damaged region that reaches the end of the file.
 */
static int seg_recover(struct outbox *ob, struct seg *s, const char *path)
{
	struct stat st;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	s->size = (uint64_t)st.st_size;
	struct frame_src src = seg_src(ob, s);
	enum frame_header fh;
	int rc = frame_check_header(&src, MAGIC, HDR, &fh);
	if (rc < 0)
		return rc;
	if (fh == FRAME_HEADER_TORN) {
		/* created, magic not yet written: nothing in it */
		s->size = 0;
		return 0;
	}
	if (fh == FRAME_HEADER_FOREIGN)
		return -EBADMSG;
	uint64_t off = HDR, corrupt = 0;
	for (;;) {
		struct frame_scan sc;
		rc = frame_scan(&src, &ob_fmt, off, NULL, NULL, &sc);
		if (rc < 0)
			return rc;
		s->nrec += sc.frames;
		if (sc.damage == FRAME_CLEAN)
			break;
		if (sc.damage == FRAME_CORRUPT) {
			log_warn("outbox", "'%s': damaged bytes at offset %" PRIu64 "..%" PRIu64
				 " (corruption in the middle): skipped as one record when read", path,
				 sc.end, sc.resume);
			corrupt++;
			s->nrec++;
			off = sc.resume;
			continue;
		}
		uint64_t cut = s->size - sc.end;
		if (ftruncate(s->fd, (off_t)sc.end) < 0)
			return -errno;
		log_warn("outbox", "cut %" PRIu64 " bytes of a torn record at the end of "
			 "'%s' (offset %" PRIu64 "%s)", cut, path, sc.end,
			 sc.damage == FRAME_ZEROS ? ", zeros" : "");
		ob->cut_bytes += cut;
		s->size = sc.end;
		break;
	}
	if (corrupt)
		log_warn("outbox", "'%s': %" PRIu64 " damaged record(s) (CRC mismatch) will be "
			 "skipped", path, corrupt);
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Finds the segments an earlier run left, oldest first, and checks them. */
static int recover(struct outbox *ob, char *err, size_t errlen)
{
	DIR *d = opendir(ob->dir);
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	if (!d) {
		snprintf(err, errlen, "OUTBOX_DIR '%s': %s", ob->dir, strerror(errno));
		return -errno;
	}
	for (struct dirent *e; (e = readdir(d));) {
		uint64_t id;
		int end = 0;
		char canon[64];
		if (sscanf(e->d_name, "outbox-%" SCNu64 ".log%n", &id, &end) != 1 || end == 0)
			continue;
		/*
		 * only the names this code writes: sscanf also takes "outbox-01.log",
		 * "outbox-+1.log" or "outbox- 1.log", whose id names another file
		 * (opened twice, or missing: the outbox would not open)
		 */
		if (snprintf(canon, sizeof(canon), "outbox-%" PRIu64 ".log", id) != end ||
		    strncmp(e->d_name, canon, (size_t)end) != 0)
			continue;
		if (strcmp(e->d_name + end, ".tmp") == 0) {
			/* a trim that did not finish: the original is still there */
			unlinkat(dirfd(d), e->d_name, 0);
			continue;
		}
		if (e->d_name[end] != '\0')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *m = realloc(ids, cap * sizeof(*ids));
			if (!m) {
				rc = -ENOMEM;
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			ids = m;
		}
		ids[n++] = id;
	}
	if (n)
		qsort(ids, n, sizeof(*ids), id_cmp);
	uint64_t records = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct seg s = { .id = ids[i], .fd = -1 };
		seg_path(ob, s.id, path, sizeof(path));
		s.fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
		if (s.fd < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
			goto out;
		}
		rc = seg_recover(ob, &s, path);
		if (rc == -EBADMSG) {
			char bad[4200];
			snprintf(bad, sizeof(bad), "%s.bad", path);
			log_error("outbox", "'%s' is not an outbox segment; renamed to '%s'", path,
				  bad);
			close(s.fd);
			if (rename(path, bad) < 0)
				log_error("outbox", "cannot rename '%s': %s", path, strerror(errno));
			rc = 0;
			continue;
		}
		if (rc < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-rc));
			close(s.fd);
			goto out;
		}
		if (s.nrec == 0) {
			seg_destroy(ob, &s, true);
			continue;
		}
		ob->total += s.size;
		records += s.nrec;
		rc = seg_push(ob, &s);
		if (rc < 0) {
			snprintf(err, errlen, "out of memory");
			seg_destroy(ob, &s, false);
			goto out;
		}
		ob->next_id = s.id + 1;
	}
	if (records)
		log_info("outbox", "%" PRIu64 " reading(s) from an earlier run wait in '%s' "
			 "(%" PRIu64 " bytes)", records, ob->dir, ob->total);
out:
	free(ids);
	closedir(d);
	return rc;
}

struct outbox *outbox_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	if (!ob) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ob->dir_fd = -1;
	ob->next_id = 1;
	if (max_bytes < OUTBOX_MIN_BYTES)
		max_bytes = OUTBOX_MIN_BYTES;
	ob->max_bytes = max_bytes;
	ob->seg_limit = max_bytes / 4;
	if (!dir || !*dir)
		return ob;

	ob->dir = strdup(dir);
	if (!ob->dir) {
		snprintf(err, errlen, "out of memory");
		goto err_free;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "OUTBOX_DIR '%s': cannot create: %s", dir, strerror(errno));
		goto err_free;
	}
	ob->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ob->dir_fd < 0) {
		snprintf(err, errlen, "OUTBOX_DIR '%s': %s", dir, strerror(errno));
		goto err_free;
	}
	if (flock(ob->dir_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "OUTBOX_DIR '%s' is in use by another process (%s)", dir,
			 strerror(errno));
		goto err_free;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "OUTBOX_DIR '%s' is not writable: %s", dir, strerror(errno));
		goto err_free;
	}
	if (recover(ob, err, errlen) < 0)
		goto err_free;
	return ob;
err_free:
	outbox_close(ob);
	return NULL;
}

void outbox_close(struct outbox *ob)
{
	if (!ob)
		return;
	for (size_t i = 0; i < ob->nseg; i++)
		seg_destroy(ob, &ob->segs[i], false);
	free(ob->segs);
	if (ob->dir_fd >= 0)
		close(ob->dir_fd);
	free(ob->dir);
	free(ob);
}

bool outbox_is_durable(const struct outbox *ob)
{
	return ob->dir != NULL;
}

int outbox_append(struct outbox *ob, const char *topic, const void *payload, size_t len)
{
	size_t tl = strlen(topic);
	size_t body = 2 + tl + len;
	unsigned char *p = (unsigned char *)ob->scratch;
	int rc;

	if (tl == 0 || tl > 0xffff || body > OUTBOX_REC_MAX)
		return -EMSGSIZE;
	put_u32(p, (uint32_t)body);
	p[REC_HDR] = (unsigned char)tl;
	p[REC_HDR + 1] = (unsigned char)(tl >> 8);
	memcpy(p + REC_HDR + 2, topic, tl);
	memcpy(p + REC_HDR + 2 + tl, payload, len);
	frame_put_header(p, p + REC_HDR, (uint32_t)body);

	uint64_t need = REC_HDR + body;
	if (ob->nseg == 0 || ob->segs[ob->nseg - 1].size + need > ob->seg_limit) {
		rc = seg_new(ob);
		if (rc < 0)
			return rc;
	}
	uint64_t dropped = 0;
	while (ob->total + need > ob->max_bytes && ob->nseg > 1) {
		const struct seg *s = &ob->segs[0];
		uint64_t done = ob->cm.seg == s->id ? ob->cm.n : ob->cm.seg > s->id ? s->nrec : 0;
		dropped += s->nrec - done;
		drop_first(ob);
	}
	if (dropped) {
		ob->dropped += dropped;
		log_warn("outbox", "full (%" PRIu64 " bytes): dropped the %" PRIu64 " oldest "
			 "reading(s), %" PRIu64 " since start", ob->max_bytes, dropped, ob->dropped);
	}
	struct seg *s = &ob->segs[ob->nseg - 1];
	rc = seg_write(ob, s, p, need);
	if (rc < 0)
		return rc;
	s->nrec++;
	return 0;
}

static bool cursor_eq(const struct cursor *a, const struct cursor *b)
{
	return a->seg == b->seg && a->off == b->off;
}

static struct seg *seg_by_id(struct outbox *ob, uint64_t id, size_t *idx);
static void commit_to(struct outbox *ob, struct cursor c);

/*
 * A position at the end of a segment is the start of the next one: the
 * two compare equal (a record in flight at the end of one segment, a
 * damaged one at the start of the next).
 */
static struct cursor norm_pos(const struct outbox *ob, struct cursor c)
{
	for (size_t i = 0; i + 1 < ob->nseg; i++)
		if (ob->segs[i].id == c.seg && c.off >= ob->segs[i].size)
			c = seg_start(&ob->segs[i + 1]);
	return c;
}

static bool same_pos(const struct outbox *ob, const struct cursor *a, const struct cursor *b)
{
	struct cursor x = norm_pos(ob, *a), y = norm_pos(ob, *b);
	return cursor_eq(&x, &y);
}

/* Everything read and committed: the log is finished, delete it. */
static void finish_if_done(struct outbox *ob)
{
	if (ob->nseg == 0 || outbox_has_unread(ob) || !same_pos(ob, &ob->cm, &ob->rd))
		return;
	while (ob->nseg)
		drop_first(ob);
}

static struct seg *seg_by_id(struct outbox *ob, uint64_t id, size_t *idx)
{
	for (size_t i = 0; i < ob->nseg; i++) {
		if (ob->segs[i].id == id) {
			if (idx)
				*idx = i;
			return &ob->segs[i];
		}
	}
	return NULL;
}

bool outbox_has_unread(const struct outbox *ob)
{
	for (size_t i = 0; i < ob->nseg; i++) {
		const struct seg *s = &ob->segs[i];
		if (s->id < ob->rd.seg)
			continue;
		if (s->id == ob->rd.seg ? ob->rd.off < s->size : s->size > HDR)
			return true;
	}
	return false;
}

int outbox_next(struct outbox *ob, char *buf, size_t cap, struct outbox_rec *rec)
{
	if (cap < OUTBOX_REC_MAX + 2)
		return -EINVAL;
	for (;;) {
		size_t i;
		struct seg *s = seg_by_id(ob, ob->rd.seg, &i);
		if (!s)
			return 0;
		if (ob->rd.off >= s->size) {
			if (i + 1 == ob->nseg)
				return 0;
			ob->rd = seg_start(&ob->segs[i + 1]);
			continue;
		}
		uint32_t len = 0;
		int rc = frame_at(ob, s, ob->rd.off, buf, &len);
		if (rc < 0)
			return rc;
		struct cursor before = ob->rd;
		if (rc == 0) {
			/* a damaged region: it ends where good frames start again */
			struct frame_src src = seg_src(ob, s);
			uint64_t at = s->size;
			rc = frame_resync(&src, &ob_fmt, ob->rd.off + 1, &at);
			if (rc < 0)
				return rc;
			ob->rd.off = rc ? at : s->size;
			ob->rd.n++;
			ob->corrupt++;
			log_warn("outbox", "skipped a damaged record (CRC mismatch) in segment %"
				 PRIu64 ", %" PRIu64 " so far", s->id, ob->corrupt);
			/*
			 * Nothing will ever acknowledge it: if nothing is in
			 * flight before it, pass it at once, else when the
			 * record before it is committed.
			 */
			if (same_pos(ob, &ob->cm, &before)) {
				commit_to(ob, ob->rd);
				if (ob->nseg == 0)
					return 0;
			} else {
				if (!ob->skip_to.seg || !same_pos(ob, &ob->skip_to, &before))
					ob->skip_from = before;
				ob->skip_to = ob->rd;
			}
			continue;
		}
		ob->rd.off += REC_HDR + len;
		ob->rd.n++;
		unsigned tl = (unsigned char)buf[0] | (unsigned)(unsigned char)buf[1] << 8;
		/* shift the topic down by 2 to NUL-terminate it; payload follows */
		memmove(buf, buf + 2, tl);
		buf[tl] = '\0';
		size_t plen = len - 2 - tl;
		memmove(buf + tl + 1, buf + 2 + tl, plen);
		buf[tl + 1 + plen] = '\0';
		rec->topic = buf;
		rec->payload = buf + tl + 1;
		rec->len = plen;
		rec->end.seg = ob->rd.seg;
		rec->end.off = ob->rd.off;
		rec->end.n = ob->rd.n;
		return 1;
	}
}

/*
 * Moves the commit cursor to c (past a run of damaged records that follows
 * it), deletes what is delivered. Not for a position before the cursor.
 */
static void commit_to(struct outbox *ob, struct cursor c)
{
	ob->cm = c;
	if (ob->skip_to.seg && same_pos(ob, &ob->cm, &ob->skip_from)) {
		ob->cm = ob->skip_to;
		ob->skip_from = ob->skip_to = (struct cursor){ 0 };
	}
	while (ob->nseg > 1 && ob->segs[0].id < ob->cm.seg)
		drop_first(ob);
	/* a fully delivered segment that is no longer appended to goes at once */
	while (ob->nseg > 1 && ob->cm.seg == ob->segs[0].id && ob->cm.off == ob->segs[0].size)
		drop_first(ob);
	finish_if_done(ob);
}

void outbox_commit(struct outbox *ob, const struct outbox_pos *end)
{
	if (!seg_by_id(ob, end->seg, NULL))
		return;         /* dropped meanwhile */
	if (end->seg < ob->cm.seg || (end->seg == ob->cm.seg && end->off <= ob->cm.off))
		return;
	commit_to(ob, (struct cursor){ .seg = end->seg, .off = end->off, .n = end->n });
}

int outbox_trim(struct outbox *ob)
{
	char path[4096], tmp[4200];
	int fd, rc = 0;

	if (!ob->dir || ob->nseg == 0)
		return 0;
	struct seg *s = &ob->segs[0];
	if (ob->cm.seg != s->id || ob->cm.off <= HDR)
		return 0;
	uint64_t cut = ob->cm.off - HDR;
	seg_path(ob, s->id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct seg t = { .id = s->id, .fd = fd };
	rc = seg_write(ob, &t, MAGIC, HDR);
	for (uint64_t off = ob->cm.off; rc == 0 && off < s->size;) {
		size_t n = s->size - off < sizeof(ob->scratch) ? s->size - off : sizeof(ob->scratch);
		rc = seg_pread(ob, s, ob->scratch, n, off);
		if (rc == 0)
			rc = seg_write(ob, &t, ob->scratch, n);
		off += n;
	}
	ob->total -= t.size;    /* seg_write counted the copy */
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		unlink(tmp);
		log_error("outbox", "cannot trim '%s': %s", path, strerror(-rc));
		return rc;
	}
	close(s->fd);
	s->fd = fd;
	s->size -= cut;
	s->nrec -= ob->cm.n;
	ob->total -= cut;
	if (ob->rd.seg == s->id) {
		ob->rd.off -= cut;
		ob->rd.n -= ob->cm.n;
	}
	if (ob->skip_from.seg == s->id || ob->skip_to.seg == s->id)
		ob->skip_from = ob->skip_to = (struct cursor){ 0 };
	ob->cm = seg_start(s);
	return 0;
}

void outbox_rewind(struct outbox *ob)
{
	ob->rd = ob->cm;
	ob->skip_from = ob->skip_to = (struct cursor){ 0 };
}

bool outbox_empty(const struct outbox *ob)
{
	return ob->nseg == 0;
}

void outbox_get_stats(const struct outbox *ob, struct outbox_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < ob->nseg; i++) {
		const struct seg *s = &ob->segs[i];
		if (s->id == ob->cm.seg)
			st->pending += s->nrec - ob->cm.n;
		else if (s->id > ob->cm.seg)
			st->pending += s->nrec;
	}
	st->bytes = ob->total;
	st->dropped = ob->dropped;
	st->corrupt = ob->corrupt;
	st->cut_bytes = ob->cut_bytes;
}
