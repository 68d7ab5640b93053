/*
 * frame.c - frame encoding, decoding and segment recovery (see frame.h).
 *
 * Files are read through a buffer of at least one largest frame, so a
 * scan costs a pread per chunk, not per frame.
 */
#include "common/frame.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64u << 10)

/*
 * CRC-32 (IEEE 802.3, reflected, as zlib's crc32(0, ...)): libcommon is
 * linked into programs and tests that do not link zlib, so it has its own.
 */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = crc_table[0][crc_table[t - 1][i] & 0xff] ^
					  (crc_table[t - 1][i] >> 8);
}

uint32_t frame_crc32(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint32_t c = 0xffffffffu;
	pthread_once(&crc_once, crc_init);
	/* slicing by 8 */
	while (n >= 8) {
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
		    crc_table[0][p[7]];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void frame_put_header(unsigned char *hdr, const void *body, uint32_t len)
{
	put_u32(hdr, len);
	put_u32(hdr + 4, frame_crc32(body, len));
}

/* Whether the header at p could start a frame that fits in room bytes. */
static bool plausible(const struct frame_fmt *f, const unsigned char *p, uint64_t room,
		      uint32_t *len)
{
	*len = get_u32(p);
	return *len >= f->min_body && *len <= f->max_body && (uint64_t)*len + FRAME_HDR <= room;
}

bool frame_decode(const struct frame_fmt *f, const unsigned char *p, size_t avail,
		  uint32_t *len)
{
	if (avail < FRAME_HDR || !plausible(f, p, avail, len))
		return false;
	if (frame_crc32(p + FRAME_HDR, *len) != get_u32(p + 4))
		return false;
	return !f->valid || f->valid(p + FRAME_HDR, *len);
}

/* A window on the source: bytes [at, at + len) are in buf. */
struct rbuf {
	const struct frame_src *src;
	unsigned char *buf;
	size_t cap;
	uint64_t at;
	size_t len;
};

static int rb_init(struct rbuf *b, const struct frame_src *src, const struct frame_fmt *f)
{
	memset(b, 0, sizeof(*b));
	b->src = src;
	if (src->mem)
		return 0;
	b->cap = (size_t)f->max_body + FRAME_HDR;
	if (b->cap < CHUNK)
		b->cap = CHUNK;
	b->buf = malloc(b->cap);
	return b->buf ? 0 : -ENOMEM;
}

/*
 * Makes at least need bytes from off readable (fewer only where the file
 * ends): *p points at off, the return value is how many bytes are there,
 * or -errno.
 */
static long long rb_at(struct rbuf *b, uint64_t off, size_t need, const unsigned char **p)
{
	uint64_t size = b->src->size;
	if (off >= size)
		return 0;
	if (b->src->mem) {
		*p = b->src->mem + off;
		return (long long)(size - off);
	}
	if (need > b->cap)
		need = b->cap;
	if (need > size - off)
		need = (size_t)(size - off);
	if (off < b->at || off + need > b->at + b->len) {
		uint64_t want = size - off < b->cap ? size - off : b->cap;
		size_t done = 0;
		while (done < want) {
			ssize_t r = pread(b->src->fd, b->buf + done, (size_t)want - done,
					  (off_t)(off + done));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				break;
			done += (size_t)r;
		}
		b->at = off;
		b->len = done;
		if (done < need)
			return -EIO;     /* the file shrank under us */
	}
	*p = b->buf + (off - b->at);
	return (long long)(b->len - (off - b->at));
}

/* Whether a good frame starts at off: 1 (*len), 0, -errno. */
static int good_at(struct rbuf *b, const struct frame_fmt *f, uint64_t off, uint32_t *len)
{
	const unsigned char *p;
	long long n = rb_at(b, off, FRAME_HDR, &p);
	if (n < 0)
		return (int)n;
	if (n < FRAME_HDR || !plausible(f, p, b->src->size - off, len))
		return 0;
	n = rb_at(b, off, FRAME_HDR + *len, &p);
	if (n < 0)
		return (int)n;
	return frame_decode(f, p, (size_t)n, len);
}

static int resync(struct rbuf *b, const struct frame_fmt *f, uint64_t from, uint64_t *at)
{
	uint64_t size = b->src->size;
	uint64_t stop = f->resync_max && size - from > f->resync_max ? from + f->resync_max : size;
	for (uint64_t o = from; o + FRAME_HDR + f->min_body <= size && o < stop; o++) {
		uint32_t len;
		int rc = good_at(b, f, o, &len);
		if (rc < 0)
			return rc;
		if (rc) {
			*at = o;
			return 1;
		}
	}
	return 0;
}

/* Whether bytes [from, size) are all zero: 1, 0 or -errno. */
static int zeros_to_end(struct rbuf *b, uint64_t from)
{
	for (uint64_t o = from; o < b->src->size;) {
		const unsigned char *p;
		long long n = rb_at(b, o, b->cap ? b->cap : CHUNK, &p);
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		for (long long i = 0; i < n; i++)
			if (p[i])
				return 0;
		o += (uint64_t)n;
	}
	return 1;
}

int frame_scan(const struct frame_src *src, const struct frame_fmt *f, uint64_t start,
	       frame_cb cb, void *arg, struct frame_scan *out)
{
	struct rbuf b;
	int rc = rb_init(&b, src, f);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	uint64_t off = start;
	for (;;) {
		uint32_t len;
		if (off >= src->size) {
			out->damage = FRAME_CLEAN;
			break;
		}
		rc = good_at(&b, f, off, &len);
		if (rc < 0)
			goto out;
		if (rc == 0) {
			rc = zeros_to_end(&b, off);
			if (rc < 0)
				goto out;
			if (rc) {
				out->damage = FRAME_ZEROS;
				break;
			}
			rc = resync(&b, f, off + 1, &out->resume);
			if (rc < 0)
				goto out;
			out->damage = rc ? FRAME_CORRUPT : FRAME_TORN;
			break;
		}
		if (cb) {
			const unsigned char *p;
			rb_at(&b, off, FRAME_HDR + len, &p);
			cb(arg, p + FRAME_HDR, len);
		}
		out->frames++;
		off += FRAME_HDR + len;
	}
	out->end = off;
	rc = 0;
out:
	free(b.buf);
	return rc;
}

int frame_resync(const struct frame_src *src, const struct frame_fmt *f, uint64_t from,
		 uint64_t *at)
{
	struct rbuf b;
	int rc = rb_init(&b, src, f);
	if (rc < 0)
		return rc;
	rc = resync(&b, f, from, at);
	free(b.buf);
	return rc;
}

int frame_check_header(const struct frame_src *src, const void *hdr, size_t n,
		       enum frame_header *res)
{
	unsigned char buf[64];
	size_t have = src->size < n ? (size_t)src->size : n;
	if (n > sizeof(buf))
		return -EINVAL;
	if (src->mem) {
		memcpy(buf, src->mem, have);
	} else {
		size_t done = 0;
		while (done < have) {
			ssize_t r = pread(src->fd, buf + done, have - done, (off_t)done);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			done += (size_t)r;
		}
	}
	if (memcmp(buf, hdr, have) != 0)
		*res = FRAME_HEADER_FOREIGN;
	else
		*res = have < n ? FRAME_HEADER_TORN : FRAME_HEADER_OK;
	return 0;
}

const char *frame_damage_name(enum frame_damage d)
{
	switch (d) {
	case FRAME_CLEAN:
		return "clean";
	case FRAME_ZEROS:
		return "zeros";
	case FRAME_TORN:
		return "torn tail";
	case FRAME_CORRUPT:
		return "corrupt";
	}
	return "?";
}
