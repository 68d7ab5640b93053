/*
 * frame.h - the framing and recovery shared by the bridge's log
 * (bridge/wal.c) and the publisher's outbox (publisher/outbox.c).
 *
 * Both keep append-only segment files: an optional file header, then
 * frames
 *   u32le body length | u32le crc32(body) | body
 * This module encodes and decodes a frame, and classifies what a segment
 * holds after its run of good frames:
 *   CLEAN    nothing: the good frames reach the end of the file;
 *   ZEROS    only zero bytes (space reserved for appends, a crash before
 *            the file was cut to its records): nothing was lost;
 *   TORN     a damaged region reaching the end with no good frame after
 *            it: the end of a write that never reached the disk (a power
 *            cut), i.e. a torn tail;
 *   CORRUPT  a damaged region followed by a good frame: corruption in the
 *            middle (a bit flip, a page lost while later ones were
 *            written); `resume` is where the good frames start again;
 * and whether a file's header is this format's (OK), the start of it in a
 * file created but never written (TORN), or something else (FOREIGN).
 * What to do about each is the user's policy, stated in its header.
 *
 * A good frame: length within the format's bounds, the whole body in the
 * file, CRC-32 (zlib's, computed here: libcommon is linked where zlib is
 * not) matching, and the format's own check of the body
 * (when it has one) passing. Frames are looked for again after damage
 * (frame_resync) one byte at a time, so the same bytes always give the
 * same answer: recovery at open and a reader later agree.
 */
#ifndef SW_FRAME_H
#define SW_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR 8u

struct frame_fmt {
	uint32_t min_body, max_body;
	/* optional: a body whose CRC matched is still bad when this says false */
	bool (*valid)(const unsigned char *body, uint32_t len);
	/* frame_resync looks this far past the damage (0: to the end of the file) */
	uint64_t resync_max;
};

/* A segment's bytes: a file (fd >= 0, pread) or memory (mem). */
struct frame_src {
	int fd;
	const unsigned char *mem;
	uint64_t size;
};

enum frame_damage {
	FRAME_CLEAN,
	FRAME_ZEROS,
	FRAME_TORN,
	FRAME_CORRUPT,
};

struct frame_scan {
	uint64_t end;               /* after the last good frame of the run from start */
	uint64_t frames;            /* good frames in that run */
	enum frame_damage damage;   /* what follows end */
	uint64_t resume;            /* FRAME_CORRUPT: the next good frame after end */
};

enum frame_header {
	FRAME_HEADER_OK,
	FRAME_HEADER_TORN,          /* shorter than the header, and a prefix of it */
	FRAME_HEADER_FOREIGN,
};

/* CRC-32 as zlib's crc32(0, data, n) computes it. */
uint32_t frame_crc32(const void *data, size_t n);

/* Writes the 8-byte frame header of body (len bytes) to hdr. */
void frame_put_header(unsigned char *hdr, const void *body, uint32_t len);

/*
 * The frame at p, avail bytes readable there: true and *len = its body
 * length when it is a good frame (the body is at p + FRAME_HDR).
 */
bool frame_decode(const struct frame_fmt *f, const unsigned char *p, size_t avail,
		  uint32_t *len);

/*
 * Walks the good frames from start, calling cb (when not NULL) for each,
 * and classifies what follows them. 0, or -errno of a failed read.
 */
typedef void (*frame_cb)(void *arg, const unsigned char *body, uint32_t len);
int frame_scan(const struct frame_src *src, const struct frame_fmt *f, uint64_t start,
	       frame_cb cb, void *arg, struct frame_scan *out);

/* The first good frame at or after from: 1 and *at, 0 when none, -errno. */
int frame_resync(const struct frame_src *src, const struct frame_fmt *f, uint64_t from,
		 uint64_t *at);

/* Compares the start of the file with hdr (n bytes). 0 and *res, or -errno. */
int frame_check_header(const struct frame_src *src, const void *hdr, size_t n,
		       enum frame_header *res);

/* "clean", "zeros", "torn tail", "corrupt" */
const char *frame_damage_name(enum frame_damage d);

#endif
