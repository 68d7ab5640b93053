/*
 * fuzz_wal.c - the bridge log's recovery (bridge/wal.c, common/frame.c) from
 * whatever a STATE_DIR/wal may hold. Each input is written into a fresh
 * directory (under /dev/shm when there is one, one per process), opened with
 * wal_open(), read, reopened. Input byte 0 picks the mode:
 *  - even: raw files. The rest is up to 10 records
 *      u8 kind | u8 arg | u16be length | bytes
 *    kind % 8: 0 "<lsn>.log" (lsn from arg: small, or near 2^64 from 240 on),
 *    1 "<lsn>.seg", 2 "out.cursor", 3 "slow.cursor", 4 "<lsn>.log" made of
 *    the SWLOG header and the bytes, 5 a junk name (arg picks it), 6
 *    "<lsn>.log" with the header and the bytes cut into frames with good
 *    CRCs (u8 length, then that many bytes, each), 7 the same as a ".seg".
 *  - odd: valid plus damage. The real writer (wal_append, wal_commit,
 *    wal_close) writes N (1..16) known records into segments of a size
 *    drawn from the input, commits "out" and "slow" at drawn positions; then
 *    1..3 mutations drawn from the input are applied to its files:
 *      u8 kind | u8 file | u16be offset | ...
 *    truncate, flip a bit, append garbage, drop a file, copy a segment under
 *    another lsn's name, write a (stale) cursor, zero a range, overwrite.
 *
 * Invariants: no crash, hang or sanitizer report; a refusal has an error
 * naming a file of the log; otherwise every record read is well formed, in
 * increasing lsn order; each reader (no cursor, "out", "slow") gets exactly
 * the records from its starting position on (no skip, no stall); a new
 * append is numbered above everything and every reader gets it next; a
 * second open gives the same records (recovery is idempotent) and a third
 * has the appended one too. In odd mode also: every record not after the
 * damage comes back unchanged, a record read at a known lsn is that record
 * (when no bytes were written or copied in), "out" skips nothing from its
 * committed position, and only a damaged segment header or a copied /
 * written-in file may be refused.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/wal.h"
#include "common/frame.h"
#include "common/log.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_dir.h"

#define MAXREC 8192
#define MAXN 16

static char state[128], wdir[160];

static void atexit_clean(void)
{
	fuzz_rm_tree(state);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_dir_name(state, sizeof(state), "wal");
	snprintf(wdir, sizeof(wdir), "%s/wal", state);
	log_threshold = -1;
	atexit(atexit_clean);
	return 0;
}

static void fresh_dir(void)
{
	fuzz_rm_tree(state);
	FUZZ_CHECK(mkdir(state, 0700) == 0 && mkdir(wdir, 0700) == 0, "mkdir %s", wdir);
}

static void put(const char *name, const void *data, size_t n, bool append)
{
	fuzz_put(wdir, name, data, n, append);
}

static void seg_name(char *out, size_t n, uint64_t lsn, bool seg)
{
	snprintf(out, n, "%016llx.%s", (unsigned long long)lsn, seg ? "seg" : "log");
}

/* --- what a reader gets --- */

struct rec {
	uint64_t lsn;
	int64_t arrival;
	size_t tlen, len;
	uint32_t tcrc, pcrc;
};

struct list {
	struct rec r[MAXREC];
	size_t n;
};

static bool rec_eq(const struct rec *a, const struct rec *b)
{
	return a->lsn == b->lsn && a->arrival == b->arrival && a->tlen == b->tlen &&
	       a->tcrc == b->tcrc && a->len == b->len && a->pcrc == b->pcrc;
}

/* Reads until none (never waits), bounded: the records, checked for form and order. */
static void read_all(struct wal_reader *r, struct list *l)
{
	struct wal_batch b = { 0 };
	size_t n, rounds = 0;
	l->n = 0;
	while ((n = wal_read(r, &b, 5, 1, 0)) > 0) {
		FUZZ_CHECK(++rounds < 1000, "reader never runs dry");
		FUZZ_CHECK(n <= 5, "batch of %zu", n);
		for (size_t i = 0; i < n; i++) {
			const struct wal_record *w = &b.recs[i];
			FUZZ_CHECK(w->format == 1 || w->format == WAL_FORMAT, "format %u", w->format);
			FUZZ_CHECK(l->n == 0 || w->lsn > l->r[l->n - 1].lsn, "lsn %llu after %llu",
				   (unsigned long long)w->lsn,
				   (unsigned long long)l->r[l->n - 1].lsn);
			FUZZ_CHECK(w->lsn >= 1, "lsn 0");
			size_t tl = strlen(w->topic);
			FUZZ_CHECK(w->len <= (1u << 20) && tl <= 65535, "sizes");
			FUZZ_CHECK(l->n < MAXREC, "more than %d records", MAXREC);
			struct rec *o = &l->r[l->n++];
			o->lsn = w->lsn;
			o->arrival = w->arrival_ms;
			o->tlen = tl;
			o->tcrc = frame_crc32(w->topic, tl);
			o->len = w->len;
			o->pcrc = frame_crc32(w->payload, w->len);
		}
	}
	wal_batch_release(&b);
}

/* --- the known records of odd mode --- */

struct known {
	size_t n;
	struct rec r[MAXN + 1];         /* by lsn */
	char topic[MAXN + 1][64];
	unsigned char payload[MAXN + 1][128];
	int file[MAXN + 1];             /* index in files[], -1: not on disk */
	uint64_t end[MAXN + 1];         /* where its frame ends in that file */
	uint64_t out_cursor, slow_cursor;   /* next lsn saved, 0: none */
};

/* record lsn's topic and payload (len < 128) into topic, payload; its summary into r */
static void known_rec(struct rec *r, char *topic, unsigned char *payload, uint64_t lsn,
		      size_t len, unsigned salt)
{
	memset(r, 0, sizeof(*r));
	r->lsn = lsn;
	r->arrival = 1700000000000LL + (int64_t)lsn;
	snprintf(topic, 64, "sensors/n%u/s%llu", salt % 7, (unsigned long long)lsn);
	r->tlen = strlen(topic);
	r->tcrc = frame_crc32(topic, r->tlen);
	r->len = len;
	/* printable: no frame header can hide in it */
	for (size_t i = 0; i < len; i++)
		payload[i] = (unsigned char)(' ' + (lsn * 31 + i * 7 + salt) % 95);
	r->pcrc = frame_crc32(payload, len);
}

/* --- a directory as a list of files --- */

struct dfile {
	char name[64];
	uint64_t size;
	bool seg;           /* a segment name */
	uint64_t first;     /* its first lsn */
	uint64_t damage;    /* lowest damaged offset; UINT64_MAX: none */
	bool gone;          /* dropped */
	bool cut;           /* truncated (a cursor may have lost its CRC) */
};

static int cmp_dfile(const void *a, const void *b)
{
	return strcmp(((const struct dfile *)a)->name, ((const struct dfile *)b)->name);
}

static size_t list_dir(struct dfile *f, size_t cap)
{
	DIR *d = opendir(wdir);
	size_t n = 0;
	FUZZ_CHECK(d, "opendir");
	for (struct dirent *e; (e = readdir(d)) && n < cap;) {
		char p[512];
		struct stat sb;
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", wdir, e->d_name);
		if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		memset(&f[n], 0, sizeof(f[n]));
		snprintf(f[n].name, sizeof(f[n].name), "%s", e->d_name);
		f[n].size = (uint64_t)sb.st_size;
		unsigned long long first;
		char tail[8];
		f[n].seg = strlen(e->d_name) == 20 &&
			   sscanf(e->d_name, "%16llx.%3s", &first, tail) == 2;
		f[n].first = f[n].seg ? first : 0;
		f[n].damage = UINT64_MAX;
		n++;
	}
	closedir(d);
	qsort(f, n, sizeof(*f), cmp_dfile);
	return n;
}

/* --- the checks shared by both modes --- */

#define NREADERS 3
static const char *const rnames[NREADERS] = { "fz", "out", "slow" };

struct opened {
	struct wal *w;
	struct wal_reader *r[NREADERS];
	uint64_t lag[NREADERS];
	struct list l[NREADERS];
};

static struct wal *open_log(uint64_t seg_bytes, char *err, size_t errlen)
{
	struct wal_opts o = { .dir = state, .sync_ms = WAL_SYNC_NEVER, .segment_bytes = seg_bytes };
	err[0] = '\0';
	struct wal *w = wal_open(&o, err, errlen);
	if (!w)
		FUZZ_CHECK(err[0] && strstr(err, wdir), "refused without naming a file: '%s'", err);
	return w;
}

/* Opens the readers and reads everything each has. */
static void read_readers(struct opened *op)
{
	char err[256];
	for (int i = 0; i < NREADERS; i++) {
		op->r[i] = wal_reader_open(op->w, rnames[i], err, sizeof(err));
		FUZZ_CHECK(op->r[i], "reader %s: %s", rnames[i], err);
		op->lag[i] = wal_reader_lag(op->r[i]);
	}
	for (int i = 0; i < NREADERS; i++)
		read_all(op->r[i], &op->l[i]);
}

/*
 * Appends one record; every reader gets it next, numbered above all it
 * read. Then each reader's records must be exactly the ones from its
 * start (next_lsn - lag at open) on, as the reader without a cursor saw
 * them. Returns the new record's lsn.
 */
static uint64_t append_and_check(struct opened *op, struct rec *added)
{
	char topic[64];
	unsigned char payload[8];
	known_rec(added, topic, payload, 0, 5, 99);
	FUZZ_CHECK(wal_append(op->w, added->arrival, topic, payload, added->len) == 0, "append");
	uint64_t lsn = 0;
	for (int i = 0; i < NREADERS; i++) {
		static struct list l;
		read_all(op->r[i], &l);
		FUZZ_CHECK(l.n == 1, "reader %s: %zu records after one append", rnames[i], l.n);
		if (i == 0)
			lsn = l.r[0].lsn;
		FUZZ_CHECK(l.r[0].lsn == lsn, "readers disagree on the new lsn");
		added->lsn = lsn;
		FUZZ_CHECK(rec_eq(&l.r[0], added), "new record read back differs");
		const struct list *m = &op->l[i];
		FUZZ_CHECK(m->n == 0 || m->r[m->n - 1].lsn < lsn, "new lsn %llu not above %llu",
			   (unsigned long long)lsn, (unsigned long long)m->r[m->n - 1].lsn);
	}
	/* each reader: the records from its start on, none skipped */
	const struct list *all = &op->l[0];
	for (int i = 0; i < NREADERS; i++) {
		FUZZ_CHECK(op->lag[i] <= lsn, "lag %llu", (unsigned long long)op->lag[i]);
		uint64_t start = lsn - op->lag[i];
		size_t k = 0;
		while (k < all->n && all->r[k].lsn < start)
			k++;
		const struct list *m = &op->l[i];
		FUZZ_CHECK(m->n == all->n - k, "reader %s (from lsn %llu): %zu records, %zu there",
			   rnames[i], (unsigned long long)start, m->n, all->n - k);
		for (size_t j = 0; j < m->n; j++)
			FUZZ_CHECK(rec_eq(&m->r[j], &all->r[k + j]), "reader %s: record %zu differs",
				   rnames[i], j);
	}
	return lsn;
}

static void same_list(const struct list *a, const struct list *b, const char *what)
{
	FUZZ_CHECK(a->n == b->n, "%s: %zu records, then %zu", what, a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		FUZZ_CHECK(rec_eq(&a->r[i], &b->r[i]), "%s: record %zu (lsn %llu) differs", what, i,
			   (unsigned long long)a->r[i].lsn);
}

/*
 * open 1: read; open 2: the same records, then an append every reader gets;
 * open 3: the same plus the appended one. Returns whether it opened (the
 * records of open 1 in *first).
 */
static bool run_log(uint64_t seg_bytes, struct opened *op1)
{
	char err[1024];
	memset(op1, 0, sizeof(*op1));
	op1->w = open_log(seg_bytes, err, sizeof(err));
	if (!op1->w)
		return false;
	read_readers(op1);
	wal_close(op1->w);
	op1->w = NULL;

	static struct opened op2;
	memset(&op2, 0, sizeof(op2));
	op2.w = open_log(seg_bytes, err, sizeof(err));
	FUZZ_CHECK(op2.w, "opened, then refused: %s", err);
	read_readers(&op2);
	for (int i = 0; i < NREADERS; i++)
		same_list(&op1->l[i], &op2.l[i], "second open");
	struct rec added;
	append_and_check(&op2, &added);
	wal_close(op2.w);

	struct wal *w = open_log(seg_bytes, err, sizeof(err));
	FUZZ_CHECK(w, "refused after an append: %s", err);
	struct wal_reader *r = wal_reader_open(w, "fz", err, sizeof(err));
	FUZZ_CHECK(r, "reader: %s", err);
	static struct list l3;
	read_all(r, &l3);
	FUZZ_CHECK(l3.n == op1->l[0].n + 1, "third open: %zu records, want %zu", l3.n,
		   op1->l[0].n + 1);
	static struct list l1;
	l1 = op1->l[0];
	FUZZ_CHECK(l1.n < MAXREC, "too many records");
	l1.r[l1.n++] = added;
	same_list(&l1, &l3, "third open");
	wal_close(w);
	return true;
}

/* --- even: raw files --- */

static const char *const junk[] = {
	"junk", "0000000000000001.log.tmp", "out.cursor.tmp", "0000000000000001.LOG",
	"000000000000000g.log", "00000000000000001.lo", "0000000000000001.sog", ".cursor",
	"0000000000000000.log", "fz.cursor.tmp",
};

static uint64_t lsn_of(uint8_t arg)
{
	return arg < 240 ? (uint64_t)(arg % 32) + 1 : UINT64_MAX - (uint64_t)(arg - 240) * 3;
}

static void put_seg_header(unsigned char *h)
{
	memcpy(h, "SWLOG", 6);
	h[6] = WAL_FORMAT & 0xff;
	h[7] = WAL_FORMAT >> 8;
}

/* bytes cut into frames: u8 length, then that many bytes as a body (its topic length fixed) */
static size_t framed(const uint8_t *p, size_t n, unsigned char *out, size_t cap)
{
	size_t o = 0;
	while (n && o + 8 + 10 + 255 <= cap) {
		size_t len = p[0];
		p++;
		n--;
		if (len > n)
			len = n;
		size_t took = len;
		unsigned char body[10 + 255];
		memset(body, 0, sizeof(body));
		memcpy(body, p, len);
		if (len < 10)
			len = 10;
		unsigned tl = (unsigned)(body[8] | body[9] << 8);
		if (tl > len - 10) {
			tl %= (unsigned)(len - 10 + 1);
			body[8] = (unsigned char)tl;
			body[9] = (unsigned char)(tl >> 8);
		}
		frame_put_header(out + o, body, (uint32_t)len);
		memcpy(out + o + 8, body, len);
		o += 8 + len;
		p += took;
		n -= took;
	}
	return o;
}

static void raw(struct fuzz_in *in)
{
	static unsigned char buf[8 + 4096 * 4];
	fresh_dir();
	uint64_t seg_bytes = 64 + fuzz_u8(in) * 8;
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
		switch (kind) {
		case 0:
		case 1:
			seg_name(name, sizeof(name), lsn_of(arg), kind == 1);
			memcpy(buf, p, len);
			n = len;
			break;
		case 2:
		case 3:
			snprintf(name, sizeof(name), "%s.cursor", kind == 2 ? "out" : "slow");
			memcpy(buf, p, len);
			n = len;
			break;
		case 4:
			seg_name(name, sizeof(name), lsn_of(arg), false);
			put_seg_header(buf);
			memcpy(buf + 8, p, len);
			n = 8 + len;
			break;
		case 5:
			snprintf(name, sizeof(name), "%s", junk[arg % (sizeof(junk) / sizeof(junk[0]))]);
			memcpy(buf, p, len);
			n = len;
			break;
		default:
			seg_name(name, sizeof(name), lsn_of(arg), kind == 7);
			n = 0;
			if (kind == 6) {
				put_seg_header(buf);
				n = 8;
			}
			n += framed(p, len, buf + n, sizeof(buf) - n);
			break;
		}
		put(name, buf, n, false);
	}
	static struct opened op;
	run_log(seg_bytes, &op);
}

/* --- odd: a valid log, then damage --- */

static void write_valid(struct fuzz_in *in, struct known *k, uint64_t *seg_bytes)
{
	char err[256];
	k->n = 1 + fuzz_u8(in) % MAXN;
	*seg_bytes = 40 + fuzz_u8(in) * 4;
	unsigned salt = fuzz_u8(in);
	uint8_t oc = fuzz_u8(in), sc = fuzz_u8(in);
	struct wal_opts o = { .dir = state, .sync_ms = WAL_SYNC_NEVER, .segment_bytes = *seg_bytes };
	struct wal *w = wal_open(&o, err, sizeof(err));
	FUZZ_CHECK(w, "fresh log: %s", err);
	struct wal_reader *out = wal_reader_open(w, "out", err, sizeof(err));
	struct wal_reader *slow = wal_reader_open(w, "slow", err, sizeof(err));
	FUZZ_CHECK(out && slow, "readers");
	for (uint64_t i = 1; i <= k->n; i++) {
		size_t len = fuzz_u8(in) % 100;
		known_rec(&k->r[i], k->topic[i], k->payload[i], i, len, salt);
		FUZZ_CHECK(wal_append(w, k->r[i].arrival, k->topic[i], k->payload[i], len) == 0,
			   "append %llu", (unsigned long long)i);
	}
	/* commits: through oc % (n + 1) (0: none), slow never ahead of out */
	uint64_t c = oc % (k->n + 1), s = sc % (c + 1);
	if (s)
		FUZZ_CHECK(wal_commit(slow, s) == 0, "commit");
	if (c)
		FUZZ_CHECK(wal_commit(out, c) == 0, "commit");
	k->out_cursor = c ? c + 1 : 0;
	k->slow_cursor = s ? s + 1 : 0;
	wal_close(w);
}

/* Where each known record is: its segment file and where its frame ends. */
static void locate_known(struct known *k, const struct dfile *f, size_t nf)
{
	for (uint64_t i = 1; i <= k->n; i++)
		k->file[i] = -1;
	for (size_t j = 0; j < nf; j++) {
		if (!f[j].seg)
			continue;
		uint64_t off = 8;
		for (uint64_t i = f[j].first; i <= k->n; i++) {
			if (i > f[j].first) {
				bool other = false;
				for (size_t q = 0; q < nf; q++)
					other |= f[q].seg && f[q].first == i;
				if (other)
					break;
			}
			off += 8 + 10 + k->r[i].tlen + k->r[i].len;
			if (off > f[j].size)
				break;
			k->file[i] = (int)j;
			k->end[i] = off;
		}
	}
}

struct damage {
	bool header;        /* a segment's first 8 bytes touched */
	bool foreign;       /* bytes written in, or a segment copied */
	bool cursor[NREADERS];  /* a cursor written (may move ahead) */
};

static void damage_at(struct dfile *f, uint64_t off, struct damage *dm)
{
	if (off < f->damage)
		f->damage = off;
	if (f->seg && off < 8)
		dm->header = true;
}

static void file_path(const struct dfile *f, char *p, size_t n)
{
	snprintf(p, n, "%s/%s", wdir, f->name);
}

static void mutate(struct fuzz_in *in, struct dfile *f, size_t *nf, struct damage *dm)
{
	char p[512];
	uint8_t kind = fuzz_u8(in) % 8;
	size_t fi = *nf ? fuzz_u8(in) % *nf : 0;
	uint64_t off = fuzz_u64(in, 2);
	if (*nf == 0 && kind != 5)
		return;
	struct dfile *d = &f[fi];
	file_path(d, p, sizeof(p));
	struct stat sb;
	if (stat(p, &sb) == 0)
		d->size = (uint64_t)sb.st_size;   /* a cursor written may have changed it */
	if (d->gone && kind != 5)
		return;
	switch (kind) {
	case 0:     /* truncate */
		off %= d->size + 1;
		FUZZ_CHECK(truncate(p, (off_t)off) == 0, "truncate");
		d->size = off;
		d->cut = true;
		damage_at(d, off, dm);
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
		damage_at(d, off / 8, dm);
		/* a cursor cut to its digits reads as one without a CRC (older
		 * bridges): a flipped digit there cannot be told from a real one */
		if (!d->seg && d->cut)
			for (int r = 0; r < NREADERS; r++)
				dm->cursor[r] |= !strncmp(d->name, rnames[r], strlen(rnames[r]));
		break;
	}
	case 2: {   /* garbage appended */
		size_t len = (size_t)(off % 64);
		if (len > in->n)
			len = in->n;
		put(d->name, in->p, len, true);
		in->p += len;
		in->n -= len;
		damage_at(d, d->size, dm);
		d->size += len;
		dm->foreign = true;
		break;
	}
	case 3:     /* dropped */
		unlink(p);
		d->gone = true;
		damage_at(d, 0, dm);
		d->size = 0;
		break;
	case 4: {   /* a segment copied under another name */
		if (!d->seg)
			return;
		static unsigned char buf[1 << 16];
		int fd = open(p, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (fd >= 0)
			close(fd);
		if (n < 0)
			return;
		char name[64];
		seg_name(name, sizeof(name), lsn_of((uint8_t)off), (off >> 8) & 1);
		for (size_t j = 0; j < *nf; j++)
			if (!strcmp(f[j].name, name))
				damage_at(&f[j], 0, dm);
		put(name, buf, (size_t)n, false);
		dm->foreign = true;
		break;
	}
	case 5: {   /* a cursor written: any lsn, with or without its CRC */
		int ri = 1 + (int)(off % 2);
		uint64_t lsn = (off >> 1) % 40;
		char name[64], text[48];
		int dl = snprintf(text, sizeof(text), "%llu", (unsigned long long)lsn);
		int n = dl;
		if (off & 0x8000)
			n += snprintf(text + dl, sizeof(text) - (size_t)dl, " %08x\n",
				      (unsigned)frame_crc32(text, (size_t)dl));
		snprintf(name, sizeof(name), "%s.cursor", rnames[ri]);
		put(name, text, (size_t)n, false);
		dm->cursor[ri] = true;
		break;
	}
	case 6: {   /* a range zeroed */
		if (!d->size)
			return;
		off %= d->size;
		size_t len = 1 + fuzz_u8(in) % 64;
		static const unsigned char z[64];
		int fd = open(p, O_RDWR);
		FUZZ_CHECK(fd >= 0, "open");
		if (off + len > d->size)
			len = (size_t)(d->size - off);
		FUZZ_CHECK(pwrite(fd, z, len, (off_t)off) == (ssize_t)len, "write");
		close(fd);
		damage_at(d, off, dm);
		break;
	}
	default: {  /* bytes overwritten */
		off %= d->size + 1;
		size_t len = 1 + fuzz_u8(in) % 32;
		if (len > in->n)
			len = in->n;
		int fd = open(p, O_RDWR);
		FUZZ_CHECK(fd >= 0, "open");
		FUZZ_CHECK(pwrite(fd, in->p, len, (off_t)off) == (ssize_t)len, "write");
		close(fd);
		in->p += len;
		in->n -= len;
		damage_at(d, off, dm);
		if (off + len > d->size)
			d->size = off + len;
		dm->foreign = true;
		if (!d->seg)
			for (int r = 0; r < NREADERS; r++)
				dm->cursor[r] |= !strncmp(d->name, rnames[r], strlen(rnames[r]));
		break;
	}
	}
}

static void property(struct fuzz_in *in)
{
	static struct known k;
	static struct dfile f[32];
	static struct opened op;
	uint64_t seg_bytes;
	fresh_dir();
	memset(&k, 0, sizeof(k));
	write_valid(in, &k, &seg_bytes);
	size_t nf = list_dir(f, 32);
	locate_known(&k, f, nf);
	struct damage dm;
	memset(&dm, 0, sizeof(dm));
	int muts = 1 + fuzz_u8(in) % 3;
	for (int m = 0; m < muts; m++)
		mutate(in, f, &nf, &dm);
	/* safe: on disk before the damage, in a file not copied over */
	bool safe[MAXN + 1] = { false };
	for (uint64_t i = 1; i <= k.n; i++)
		safe[i] = k.file[i] >= 0 && k.end[i] <= f[k.file[i]].damage;

	if (!run_log(seg_bytes, &op)) {
		FUZZ_CHECK(dm.header || dm.foreign, "a valid log with damage past its headers "
			   "refused");
		return;
	}
	const struct list *all = &op.l[0];
	size_t j = 0;
	for (uint64_t i = 1; i <= k.n; i++) {
		while (j < all->n && all->r[j].lsn < i)
			j++;
		bool there = j < all->n && all->r[j].lsn == i;
		if (safe[i])
			FUZZ_CHECK(there, "lsn %llu (before the damage) lost", (unsigned long long)i);
		if (there && (safe[i] || !dm.foreign))
			FUZZ_CHECK(rec_eq(&all->r[j], &k.r[i]), "lsn %llu read back changed",
				   (unsigned long long)i);
	}
	if (!dm.foreign)
		for (size_t q = 0; q < all->n; q++)
			FUZZ_CHECK(all->r[q].lsn <= k.n, "lsn %llu was never written",
				   (unsigned long long)all->r[q].lsn);
	/* out and slow: nothing safe skipped from their committed positions */
	uint64_t cur[NREADERS] = { 1, k.out_cursor ? k.out_cursor : 1,
				   k.slow_cursor ? k.slow_cursor : 1 };
	for (int r = 1; r < NREADERS; r++) {
		if (dm.cursor[r])
			continue;
		const struct list *m = &op.l[r];
		uint64_t first = m->n ? m->r[0].lsn : UINT64_MAX;
		for (uint64_t i = cur[r]; i <= k.n && i < first; i++)
			FUZZ_CHECK(!safe[i], "reader %s (cursor %llu) skipped lsn %llu", rnames[r],
				   (unsigned long long)cur[r], (unsigned long long)i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	if (size < 1)
		return 0;
	if (fuzz_u8(&in) & 1)
		property(&in);
	else
		raw(&in);
	return 0;
}
