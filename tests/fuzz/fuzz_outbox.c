/*
 * fuzz_outbox.c - the publisher outbox's recovery (publisher/outbox.c,
 * common/frame.c) from whatever OUTBOX_DIR may hold. Each input is written
 * into a fresh directory (under /dev/shm when there is one, one per
 * process). Input byte 0 picks the mode:
 *  - even: raw files. The rest is up to 10 records
 *      u8 kind | u8 arg | u16be length | bytes
 *    kind % 8: 0 "outbox-<id>.log" (id from arg) as given, 1 the same after
 *    the magic, 2 the magic and the bytes cut into good frames whose bodies
 *    are made valid (u8 length, then that many bytes, each), 3 the same with
 *    the bodies as given, 4 "outbox-<id>.log.tmp", 5 a junk or odd name (arg
 *    picks it: "outbox-01.log", "outbox-1.logx", ...), 6 a prefix of the
 *    magic (arg % 8 bytes), 7 "outbox-<id>.log.bad".
 *  - odd: valid plus damage. Up to 4 segments are written by the real
 *    writer (outbox_append into a scratch directory, its outbox-1.log moved
 *    in as outbox-<id>.log, ids rising by drawn steps), with known readings;
 *    then 1..3 mutations drawn from the input:
 *      u8 kind | u8 file | u16be offset | ...
 *    truncate, flip a bit, append garbage, drop a file, copy a segment under
 *    another id, zero a range, overwrite bytes, add a foreign file.
 *
 * Invariants: no crash, hang or sanitizer report; the outbox opens (only a
 * file it cannot read stops it); no segment without the magic is left
 * under its name (set aside as .bad, or removed when it is a prefix of the
 * magic); records come back well formed, in (segment, offset) order, the
 * same after a reopen; a commit then rewind gives exactly the records after
 * the commit, and so does a reopen after outbox_trim; after committing
 * everything read, nothing is pending, the outbox is empty and its files
 * are gone. In odd mode also: every reading before the damage of its file
 * comes back unchanged and in order, and (where no bytes were written in) a
 * record read from a known file is a reading written there, at its offset.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/log.h"
#include "publisher/outbox.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_dir.h"

#define MAX_BYTES (1u << 20)
#define MAXL 4096

static char dir[128], scratch[160];

static void atexit_clean(void)
{
	fuzz_rm_tree(dir);
	fuzz_rm_tree(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_dir_name(dir, sizeof(dir), "outbox");
	snprintf(scratch, sizeof(scratch), "%s.w", dir);
	log_threshold = -1;
	atexit(atexit_clean);
	return 0;
}

static void put(const char *name, const void *data, size_t n, bool append)
{
	fuzz_put(dir, name, data, n, append);
}

/* --- what the outbox gives back --- */

struct orec {
	struct outbox_pos end;
	char topic[64];
	uint32_t tcrc, pcrc;
	size_t tlen, len;
};

struct olist {
	struct orec r[MAXL];
	size_t n;
};

static bool same_content(const struct orec *a, const struct orec *b)
{
	return a->tlen == b->tlen && a->len == b->len && a->tcrc == b->tcrc && a->pcrc == b->pcrc &&
	       !strcmp(a->topic, b->topic);
}

static bool same_rec(const struct orec *a, const struct orec *b)
{
	return same_content(a, b) && a->end.seg == b->end.seg && a->end.off == b->end.off &&
	       a->end.n == b->end.n;
}

static void to_orec(const struct outbox_rec *r, struct orec *o)
{
	memset(o, 0, sizeof(*o));
	o->end = r->end;
	o->tlen = strlen(r->topic);
	snprintf(o->topic, sizeof(o->topic), "%s", r->topic);
	o->tcrc = frame_crc32(r->topic, o->tlen);
	o->len = r->len;
	o->pcrc = frame_crc32(r->payload, r->len);
}

static char rbuf[OUTBOX_REC_MAX + 2];

/* Up to max records (bounded), each checked for form and order. */
static void read_n(struct outbox *ob, struct olist *l, size_t max)
{
	struct outbox_rec r;
	int rc;
	size_t rounds = 0;
	while (l->n < max && (rc = outbox_next(ob, rbuf, sizeof(rbuf), &r)) != 0) {
		FUZZ_CHECK(rc == 1, "outbox_next: %d", rc);
		FUZZ_CHECK(++rounds <= MAXL, "reader never runs dry");
		FUZZ_CHECK(r.topic == rbuf && r.topic[0], "empty topic");
		size_t tl = strlen(r.topic);
		FUZZ_CHECK(r.payload == rbuf + tl + 1 && tl + 2 + r.len <= OUTBOX_REC_MAX,
			   "record layout");
		FUZZ_CHECK(r.payload[r.len] == '\0', "payload not terminated");
		if (l->n) {
			const struct outbox_pos *p = &l->r[l->n - 1].end;
			FUZZ_CHECK(r.end.seg > p->seg || (r.end.seg == p->seg && r.end.off > p->off &&
							    r.end.n > p->n),
				   "record at %" PRIu64 ":%" PRIu64 " after %" PRIu64 ":%" PRIu64,
				   r.end.seg, r.end.off, p->seg, p->off);
		}
		to_orec(&r, &l->r[l->n++]);
	}
}

static void read_all(struct outbox *ob, struct olist *l)
{
	l->n = 0;
	read_n(ob, l, MAXL);
	FUZZ_CHECK(!outbox_has_unread(ob), "unread left after outbox_next returned 0");
}

static struct outbox *open_ob(void)
{
	char err[512] = "";
	struct outbox *ob = outbox_open(dir, MAX_BYTES, err, sizeof(err));
	FUZZ_CHECK(ob, "refused: %s", err);
	return ob;
}

/* No segment file without the magic left under its name; no .tmp left. */
static void check_files(bool none)
{
	DIR *d = opendir(dir);
	FUZZ_CHECK(d, "opendir");
	for (struct dirent *e; (e = readdir(d));) {
		uint64_t id;
		int end = 0;
		char canon[64];
		if (sscanf(e->d_name, "outbox-%" SCNu64 ".log%n", &id, &end) != 1 || end == 0 ||
		    snprintf(canon, sizeof(canon), "outbox-%" PRIu64 ".log", id) != end ||
		    strncmp(canon, e->d_name, (size_t)end) != 0)
			continue;   /* not a name the outbox writes: not its file */
		FUZZ_CHECK(strcmp(e->d_name + end, ".tmp") != 0, "'%s' left", e->d_name);
		if (e->d_name[end])
			continue;
		FUZZ_CHECK(!none, "'%s' left after everything was delivered", e->d_name);
		char p[512], m[8];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		int fd = open(p, O_RDONLY);
		FUZZ_CHECK(fd >= 0, "open %s", p);
		ssize_t n = read(fd, m, 8);
		close(fd);
		FUZZ_CHECK(n == 8 && !memcmp(m, "SWOUTBX1", 8), "'%s' kept without the magic",
			   e->d_name);
	}
	closedir(d);
}

static void commit_all_and_check(struct outbox *ob, const struct olist *l)
{
	if (l->n)
		outbox_commit(ob, &l->r[l->n - 1].end);
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	FUZZ_CHECK(st.pending == 0, "%" PRIu64 " pending after every commit", st.pending);
	FUZZ_CHECK(outbox_empty(ob) && !outbox_has_unread(ob), "not empty after every commit");
}

/*
 * open 1: read everything; open 2: the same; a commit of the first j, a
 * rewind: the rest again; trim; open 3: the rest, by content; commit all.
 */
static void run_outbox(size_t j, struct olist *l1)
{
	static struct olist l2, l3;
	struct outbox_stats st;
	struct outbox *ob = open_ob();
	check_files(false);
	outbox_get_stats(ob, &st);
	l1->n = 0;
	read_all(ob, l1);
	FUZZ_CHECK(st.pending >= l1->n, "pending %" PRIu64 " < %zu readable", st.pending, l1->n);
	outbox_close(ob);

	ob = open_ob();
	read_all(ob, &l2);
	FUZZ_CHECK(l2.n == l1->n, "second open: %zu records, first %zu", l2.n, l1->n);
	for (size_t i = 0; i < l1->n; i++)
		FUZZ_CHECK(same_rec(&l1->r[i], &l2.r[i]), "second open: record %zu differs", i);
	if (j > l1->n)
		j = l1->n;
	outbox_rewind(ob);
	l2.n = 0;
	read_n(ob, &l2, j);
	FUZZ_CHECK(l2.n == j, "after a rewind: %zu of %zu", l2.n, j);
	if (j)
		outbox_commit(ob, &l1->r[j - 1].end);
	outbox_rewind(ob);
	read_all(ob, &l2);
	FUZZ_CHECK(l2.n == l1->n - j, "after commit %zu and rewind: %zu, want %zu", j, l2.n,
		   l1->n - j);
	for (size_t i = 0; i < l2.n; i++)
		FUZZ_CHECK(same_rec(&l2.r[i], &l1->r[j + i]), "after a rewind: record %zu differs",
			   i);
	outbox_get_stats(ob, &st);
	FUZZ_CHECK(st.pending >= l2.n, "pending %" PRIu64 " < %zu in flight", st.pending, l2.n);
	outbox_rewind(ob);
	FUZZ_CHECK(outbox_trim(ob) == 0, "trim");
	outbox_close(ob);

	ob = open_ob();
	read_all(ob, &l3);
	FUZZ_CHECK(l3.n == l1->n - j, "after trim: %zu records, want %zu", l3.n, l1->n - j);
	for (size_t i = 0; i < l3.n; i++)
		FUZZ_CHECK(same_content(&l3.r[i], &l1->r[j + i]), "after trim: record %zu differs",
			   i);
	commit_all_and_check(ob, &l3);
	outbox_close(ob);
	check_files(true);
}

/* --- even: raw files --- */

static const char *const odd_names[] = {
	"outbox-01.log", "outbox-1.logx", "outbox-.log", "outbox- 2.log",
	"outbox-+3.log", "outbox-99999999999999999999.log", "outbox-1.log.tmp", "foo",
};

static uint64_t id_of(uint8_t arg)
{
	return arg < 250 ? (uint64_t)(arg % 16) + 1 : UINT64_MAX - (uint64_t)(arg - 250);
}

static size_t framed(const uint8_t *p, size_t n, unsigned char *out, size_t cap, bool fix)
{
	size_t o = 0;
	while (n && o + 8 + 2 + 255 <= cap) {
		size_t len = p[0];
		p++;
		n--;
		if (len > n)
			len = n;
		unsigned char body[2 + 255];
		memcpy(body, p, len);
		p += len;
		n -= len;
		if (fix) {
			if (len < 3) {
				memset(body + len, 'a', 3 - len);
				len = 3;
			}
			unsigned tl = 1 + (unsigned)(body[0] | body[1] << 8) % (unsigned)(len - 2);
			body[0] = (unsigned char)tl;
			body[1] = (unsigned char)(tl >> 8);
			for (unsigned i = 0; i < tl; i++)
				if (!body[2 + i])
					body[2 + i] = 't';
		}
		frame_put_header(out + o, body, (uint32_t)len);
		memcpy(out + o + 8, body, len);
		o += 8 + len;
	}
	return o;
}

static void raw(struct fuzz_in *in)
{
	static unsigned char buf[8 + 4096 * 10];
	static struct olist l1;
	size_t j = fuzz_u8(in);
	for (int f = 0; f < 10 && in->n >= 4; f++) {
		uint8_t kind = fuzz_u8(in) % 8, arg = fuzz_u8(in);
		size_t len = (size_t)fuzz_u64(in, 2) % 4097;
		if (len > in->n)
			len = in->n;
		const uint8_t *p = in->p;
		in->p += len;
		in->n -= len;
		char name[64];
		size_t n = 0;
		snprintf(name, sizeof(name), "outbox-%" PRIu64 ".log", id_of(arg));
		switch (kind) {
		case 0:
			memcpy(buf, p, len);
			n = len;
			break;
		case 1:
			memcpy(buf, "SWOUTBX1", 8);
			memcpy(buf + 8, p, len);
			n = 8 + len;
			break;
		case 2:
		case 3:
			memcpy(buf, "SWOUTBX1", 8);
			n = 8 + framed(p, len, buf + 8, sizeof(buf) - 8, kind == 2);
			break;
		case 4:
			snprintf(name, sizeof(name), "outbox-%" PRIu64 ".log.tmp", id_of(arg));
			memcpy(buf, p, len);
			n = len;
			break;
		case 5:
			snprintf(name, sizeof(name), "%s", odd_names[arg % 8]);
			memcpy(buf, "SWOUTBX1", 8);
			n = 8 + framed(p, len, buf + 8, sizeof(buf) - 8, true);
			break;
		case 6:
			memcpy(buf, "SWOUTBX1", 8);
			n = arg % 8;
			break;
		default:
			snprintf(name, sizeof(name), "outbox-%" PRIu64 ".log.bad", id_of(arg));
			memcpy(buf, p, len);
			n = len;
			break;
		}
		put(name, buf, n, false);
	}
	run_outbox(j, &l1);
}

/* --- odd: valid segments, then damage --- */

#define MAXSEG 4
#define MAXREC 8

struct kseg {
	size_t n;                       /* readings */
	char topic[MAXREC][16];
	unsigned char payload[MAXREC][128];
	size_t len[MAXREC];
	uint64_t end[MAXREC];
};

struct kfile {
	uint64_t id;
	int known;          /* index in segs[], -1: none */
	uint64_t size, damage;
	bool foreign;       /* bytes written in */
	bool gone;
};

static struct kseg segs[MAXSEG];
static struct kfile files[16];
static size_t nfiles;

static void write_seg(struct fuzz_in *in, int g, uint64_t id, unsigned salt)
{
	char err[256], from[512], to[512];
	struct kseg *k = &segs[g];
	fuzz_rm_tree(scratch);
	struct outbox *ob = outbox_open(scratch, MAX_BYTES, err, sizeof(err));
	FUZZ_CHECK(ob, "scratch outbox: %s", err);
	k->n = 1 + fuzz_u8(in) % MAXREC;
	uint64_t off = 8;
	for (size_t i = 0; i < k->n; i++) {
		snprintf(k->topic[i], sizeof(k->topic[i]), "s/n%d/%zu", g, i);
		k->len[i] = fuzz_u8(in) % 128;
		for (size_t b = 0; b < k->len[i]; b++)
			k->payload[i][b] = (unsigned char)(' ' + (i * 13 + b * 5 + salt + g) % 95);
		FUZZ_CHECK(outbox_append(ob, k->topic[i], k->payload[i], k->len[i]) == 0, "append");
		off += 8 + 2 + strlen(k->topic[i]) + k->len[i];
		k->end[i] = off;
	}
	outbox_close(ob);
	snprintf(from, sizeof(from), "%s/outbox-1.log", scratch);
	snprintf(to, sizeof(to), "%s/outbox-%" PRIu64 ".log", dir, id);
	FUZZ_CHECK(rename(from, to) == 0, "rename");
	files[nfiles++] = (struct kfile){ .id = id, .known = g, .size = off,
					  .damage = UINT64_MAX };
}

static void file_path(const struct kfile *f, char *p, size_t n)
{
	snprintf(p, n, "%s/outbox-%" PRIu64 ".log", dir, f->id);
}

static void damage_at(struct kfile *f, uint64_t off)
{
	if (off < f->damage)
		f->damage = off;
}

static void mutate(struct fuzz_in *in)
{
	char p[512];
	uint8_t kind = fuzz_u8(in) % 8;
	struct kfile *d = &files[fuzz_u8(in) % nfiles];
	uint64_t off = fuzz_u64(in, 2);
	if (d->gone)
		return;
	file_path(d, p, sizeof(p));
	switch (kind) {
	case 0:     /* truncate */
		off %= d->size + 1;
		FUZZ_CHECK(truncate(p, (off_t)off) == 0, "truncate");
		d->size = off;
		damage_at(d, off);
		break;
	case 1: {   /* flip one bit */
		if (!d->size)
			return;
		off %= d->size * 8;
		int fd = open(p, O_RDWR);
		unsigned char b;
		FUZZ_CHECK(fd >= 0 && pread(fd, &b, 1, (off_t)(off / 8)) == 1, "read");
		b ^= (unsigned char)(1u << (off % 8));
		FUZZ_CHECK(pwrite(fd, &b, 1, (off_t)(off / 8)) == 1, "write");
		close(fd);
		damage_at(d, off / 8);
		break;
	}
	case 2: {   /* garbage appended */
		size_t len = (size_t)(off % 64);
		if (len > in->n)
			len = in->n;
		int fd = open(p, O_WRONLY | O_APPEND);
		FUZZ_CHECK(fd >= 0 && write(fd, in->p, len) == (ssize_t)len, "append");
		close(fd);
		in->p += len;
		in->n -= len;
		damage_at(d, d->size);
		d->size += len;
		d->foreign = true;
		break;
	}
	case 3:     /* dropped */
		unlink(p);
		d->gone = true;
		break;
	case 4: {   /* copied under another id (over it, when there is one) */
		static unsigned char buf[1 << 16];
		int fd = open(p, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (fd >= 0)
			close(fd);
		FUZZ_CHECK(n >= 0, "read");
		uint64_t id = id_of((uint8_t)off);
		struct kfile *t = NULL;
		for (size_t i = 0; i < nfiles; i++)
			if (files[i].id == id)
				t = &files[i];
		if (t == d)
			return;
		if (!t) {
			if (nfiles == sizeof(files) / sizeof(files[0]))
				return;
			t = &files[nfiles++];
		}
		*t = *d;
		t->id = id;
		t->gone = false;
		char q[512];
		file_path(t, q, sizeof(q));
		fd = open(q, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		FUZZ_CHECK(fd >= 0 && write(fd, buf, (size_t)n) == n, "copy");
		close(fd);
		break;
	}
	case 5: {   /* a range zeroed */
		if (!d->size)
			return;
		off %= d->size;
		size_t len = 1 + fuzz_u8(in) % 64;
		static const unsigned char z[64];
		if (off + len > d->size)
			len = (size_t)(d->size - off);
		int fd = open(p, O_RDWR);
		FUZZ_CHECK(fd >= 0 && pwrite(fd, z, len, (off_t)off) == (ssize_t)len, "zero");
		close(fd);
		damage_at(d, off);
		break;
	}
	case 6: {   /* bytes overwritten */
		off %= d->size + 1;
		size_t len = 1 + fuzz_u8(in) % 32;
		if (len > in->n)
			len = in->n;
		int fd = open(p, O_RDWR);
		FUZZ_CHECK(fd >= 0 && pwrite(fd, in->p, len, (off_t)off) == (ssize_t)len, "write");
		close(fd);
		in->p += len;
		in->n -= len;
		damage_at(d, off);
		if (off + len > d->size)
			d->size = off + len;
		d->foreign = true;
		break;
	}
	default: {  /* a foreign file under a segment's name */
		uint64_t id = id_of((uint8_t)off);
		for (size_t i = 0; i < nfiles; i++)
			if (files[i].id == id && !files[i].gone)
				return;
		if (nfiles == sizeof(files) / sizeof(files[0]))
			return;
		files[nfiles++] = (struct kfile){ .id = id, .known = -1, .damage = 0,
						  .foreign = true };
		char q[512], text[] = "not an outbox segment\n";
		snprintf(q, sizeof(q), "outbox-%" PRIu64 ".log", id);
		put(q, text, sizeof(text) - 1, false);
		break;
	}
	}
}

static void property(struct fuzz_in *in)
{
	static struct olist l1;
	size_t j = fuzz_u8(in);
	int ng = 1 + fuzz_u8(in) % MAXSEG;
	unsigned salt = fuzz_u8(in);
	uint64_t id = 0;
	nfiles = 0;
	for (int g = 0; g < ng; g++) {
		id += 1 + fuzz_u8(in) % 3;
		write_seg(in, g, id, salt);
	}
	int muts = 1 + fuzz_u8(in) % 3;
	for (int m = 0; m < muts; m++)
		mutate(in);
	run_outbox(j, &l1);

	/* per file, in id order: its readings before the damage, unchanged, in order */
	size_t at = 0;
	uint64_t prev_seg = 0;
	for (size_t q = 0; q < l1.n; q++) {
		FUZZ_CHECK(l1.r[q].end.seg >= prev_seg, "segments out of order");
		prev_seg = l1.r[q].end.seg;
	}
	for (size_t fi = 0; fi < nfiles; fi++) {
		const struct kfile *f = &files[fi];
		size_t k = 0;
		while (k < l1.n && l1.r[k].end.seg != f->id)
			k++;
		size_t got = 0;
		while (k + got < l1.n && l1.r[k + got].end.seg == f->id)
			got++;
		if (f->gone || f->known < 0) {
			FUZZ_CHECK(f->known >= 0 || got == 0, "records from a foreign file");
			continue;
		}
		const struct kseg *s = &segs[f->known];
		size_t safe = 0;
		while (safe < s->n && s->end[safe] <= f->damage)
			safe++;
		FUZZ_CHECK(got >= safe, "segment %" PRIu64 ": %zu of its %zu readings before the "
			   "damage read", f->id, got, safe);
		size_t kr = 0;
		for (size_t g = 0; g < got; g++) {
			const struct orec *r = &l1.r[k + g];
			if (g >= safe && f->foreign)
				break;
			while (kr < s->n && s->end[kr] < r->end.off)
				kr++;
			FUZZ_CHECK(kr < s->n && s->end[kr] == r->end.off && (g >= safe || kr == g),
				   "segment %" PRIu64 ": record ending at %" PRIu64 " is not a "
				   "reading written there", f->id, r->end.off);
			struct orec want = { .tlen = strlen(s->topic[kr]), .len = s->len[kr] };
			snprintf(want.topic, sizeof(want.topic), "%s", s->topic[kr]);
			want.tcrc = frame_crc32(s->topic[kr], want.tlen);
			want.pcrc = frame_crc32(s->payload[kr], s->len[kr]);
			FUZZ_CHECK(same_content(r, &want), "segment %" PRIu64 ": reading %zu changed",
				   f->id, kr);
		}
		at += got;
	}
	(void)at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	if (size < 1)
		return 0;
	fuzz_rm_tree(dir);
	FUZZ_CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
	if (fuzz_u8(&in) & 1)
		property(&in);
	else
		raw(&in);
	return 0;
}
