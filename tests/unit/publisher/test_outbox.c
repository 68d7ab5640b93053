/*
 * test_outbox.c - the publisher's log of undelivered readings: order kept
 * across reads, rewinds, segments and reopening (a crash), torn and
 * damaged records after a kill, and the bound that drops the oldest first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "publisher/outbox.h"

#define MAX 65536

struct fixture {
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-outbox.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	(void)!system(cmd);
	free(f);
	return 0;
}

static int count_segments(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, "outbox-", 7) == 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

static void seg_file(const char *dir, int id, char *path, size_t len)
{
	snprintf(path, len, "%s/outbox-%d.log", dir, id);
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Appends reading number i: topic "s/n/a", payload {"i":<i>} (7+ bytes). */
static void put(struct outbox *ob, int i)
{
	char p[32];
	int n = snprintf(p, sizeof(p), "{\"i\":%d}", i);
	assert_int_equal(outbox_append(ob, "s/n/a", p, (size_t)n), 0);
}

/* Appends reading i with a payload padded so that the record is 1000 bytes. */
static void put_1k(struct outbox *ob, int i)
{
	char p[989];
	memset(p, ' ', sizeof(p));
	int n = snprintf(p, sizeof(p), "{\"i\":%d}", i);
	p[n] = ' ';
	assert_int_equal(outbox_append(ob, "t", p, sizeof(p)), 0); /* 8 + 2 + 1 + 989 */
}

/* Reads the next record and returns its number, or -1 when none is unread. */
static int get(struct outbox *ob, struct outbox_pos *end)
{
	static char buf[OUTBOX_REC_MAX + 2];
	struct outbox_rec r;
	int rc = outbox_next(ob, buf, sizeof(buf), &r);
	assert_true(rc >= 0);
	if (rc == 0)
		return -1;
	int i = -1;
	assert_int_equal(sscanf(r.payload, "{\"i\":%d}", &i), 1);
	if (end)
		*end = r.end;
	return i;
}

static void check_order(struct outbox *ob, bool durable)
{
	struct outbox_pos pos[10];
	assert_true(outbox_empty(ob));
	assert_false(outbox_has_unread(ob));
	assert_int_equal(outbox_is_durable(ob), durable);
	for (int i = 1; i <= 5; i++)
		put(ob, i);
	assert_false(outbox_empty(ob));
	for (int i = 1; i <= 3; i++)
		assert_int_equal(get(ob, &pos[i]), i);
	/* appended while reading: behind the older ones */
	put(ob, 6);
	outbox_commit(ob, &pos[1]);
	/* the connection dropped: 2 and 3 were sent but not acknowledged */
	outbox_rewind(ob);
	for (int i = 2; i <= 6; i++)
		assert_int_equal(get(ob, &pos[i]), i);
	assert_int_equal(get(ob, NULL), -1);
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 5);
	assert_int_equal(st.bytes, 8 + 6 * 22);
	for (int i = 2; i <= 5; i++)
		outbox_commit(ob, &pos[i]);
	assert_false(outbox_empty(ob));
	/* committing an older position again changes nothing */
	outbox_commit(ob, &pos[3]);
	outbox_commit(ob, &pos[6]);
	assert_true(outbox_empty(ob));
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.bytes, 0);
	/* and it starts again after being emptied */
	put(ob, 7);
	assert_int_equal(get(ob, &pos[7]), 7);
	outbox_commit(ob, &pos[7]);
	assert_true(outbox_empty(ob));
}

static void test_order_memory(void **state)
{
	(void)state;
	char err[256];
	struct outbox *ob = outbox_open(NULL, MAX, err, sizeof(err));
	assert_non_null(ob);
	check_order(ob, false);
	outbox_close(ob);
}

static void test_order_file_and_delete_when_done(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	/* nothing written while nothing waits (SD cards) */
	assert_int_equal(count_segments(f->dir), 0);
	check_order(ob, true);
	assert_int_equal(count_segments(f->dir), 0);
	outbox_close(ob);
	outbox_close(NULL);
}

static void test_reopen_after_crash(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	for (int i = 1; i <= 40; i++)
		put_1k(ob, i);
	/* three segments of 16 records (16008 bytes each) */
	assert_int_equal(count_segments(f->dir), 3);
	/* a second process must not share the directory */
	assert_null(outbox_open(f->dir, MAX, err, sizeof(err)));
	assert_non_null(strstr(err, "in use by another process"));
	struct outbox_pos p;
	assert_int_equal(get(ob, &p), 1);
	outbox_close(ob); /* like kill -9: nothing more is written at close */

	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 40);
	assert_int_equal(st.bytes, 3 * 8 + 40 * 1000);
	put_1k(ob, 41);
	for (int i = 1; i <= 41; i++) {
		assert_int_equal(get(ob, &p), i);
		outbox_commit(ob, &p);
	}
	assert_int_equal(get(ob, NULL), -1);
	assert_true(outbox_empty(ob));
	assert_int_equal(count_segments(f->dir), 0);
	outbox_close(ob);
}

/* A clean shutdown mid-replay: what was delivered is not sent again. */
static void test_trim_delivered_prefix(void **state)
{
	struct fixture *f = *state;
	char err[256], path[128];
	struct outbox_pos p[6];
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_int_equal(outbox_trim(ob), 0); /* nothing there: no-op */
	for (int i = 1; i <= 5; i++)
		put(ob, i);
	for (int i = 1; i <= 3; i++)
		assert_int_equal(get(ob, &p[i]), i);
	outbox_commit(ob, &p[2]);
	assert_int_equal(outbox_trim(ob), 0);
	seg_file(f->dir, 1, path, sizeof(path));
	assert_int_equal(file_size(path), 8 + 3 * 22);
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 3);
	assert_int_equal(st.bytes, 8 + 3 * 22);
	/* the cursors moved with the bytes: 3 is in flight, 4 is next */
	assert_int_equal(get(ob, &p[4]), 4);
	put(ob, 6);
	outbox_close(ob);

	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 4);
	for (int i = 3; i <= 6; i++)
		assert_int_equal(get(ob, &p[i % 6]), i);
	assert_int_equal(get(ob, NULL), -1);
	outbox_commit(ob, &p[0]);
	assert_true(outbox_empty(ob));
	assert_int_equal(count_segments(f->dir), 0);
	outbox_close(ob);

	/* in memory: nothing to do */
	ob = outbox_open(NULL, MAX, err, sizeof(err));
	put(ob, 1);
	assert_int_equal(get(ob, &p[1]), 1);
	assert_int_equal(outbox_trim(ob), 0);
	outbox_close(ob);
}

static void test_torn_last_record_is_cut(void **state)
{
	struct fixture *f = *state;
	char err[256], path[128];
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	for (int i = 1; i <= 3; i++)
		put(ob, i);
	outbox_close(ob);
	seg_file(f->dir, 1, path, sizeof(path));
	assert_int_equal(file_size(path), 8 + 3 * 22);

	/* a write cut short: the header promises 100 bytes, 10 arrived */
	int fd = open(path, O_WRONLY | O_APPEND);
	unsigned char torn[18] = { 100, 0, 0, 0, 1, 2, 3, 4, 5, 0, 's', '/', 'x' };
	assert_int_equal(write(fd, torn, sizeof(torn)), 18);
	close(fd);
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	assert_int_equal(st.cut_bytes, 18);
	assert_int_equal(st.pending, 3);
	assert_int_equal(file_size(path), 8 + 3 * 22);
	/* appends continue behind the good records */
	put(ob, 4);
	outbox_close(ob);

	/* only part of a header */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, torn, 5), 5);
	close(fd);
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	outbox_get_stats(ob, &st);
	assert_int_equal(st.cut_bytes, 5);
	for (int i = 1; i <= 4; i++)
		assert_int_equal(get(ob, NULL), i);
	assert_int_equal(get(ob, NULL), -1);
	outbox_close(ob);

	/* the copy of a trim that did not finish is removed */
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	close(fd);
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_int_equal(file_size(tmp), -1);
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 4);
	outbox_close(ob);

	/* a segment created but its magic never written: removed, not fatal */
	seg_file(f->dir, 9, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "SWO", 3), 3);
	close(fd);
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	assert_int_equal(file_size(path), -1);
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 4);
	outbox_close(ob);
}

static void test_crc_damage_skips_one_record(void **state)
{
	struct fixture *f = *state;
	char err[256], path[128];
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	for (int i = 1; i <= 3; i++)
		put(ob, i);
	outbox_close(ob);
	seg_file(f->dir, 1, path, sizeof(path));
	/* record 2 starts at 8 + 22; its payload at + 8 + 2 + 5 */
	int fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "X", 1, 8 + 22 + 15), 1);
	close(fd);

	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	assert_int_equal(st.cut_bytes, 0);
	assert_int_equal(st.pending, 3);
	struct outbox_pos p1, p3;
	assert_int_equal(get(ob, &p1), 1);
	assert_int_equal(get(ob, &p3), 3);
	assert_int_equal(get(ob, NULL), -1);
	outbox_get_stats(ob, &st);
	assert_int_equal(st.corrupt, 1);
	outbox_commit(ob, &p1);
	outbox_commit(ob, &p3);
	assert_true(outbox_empty(ob));
	assert_int_equal(count_segments(f->dir), 0);
	outbox_close(ob);

	/* a damaged record with nothing in flight before it is passed at once */
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	put(ob, 1);
	put(ob, 2);
	outbox_close(ob);
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "X", 1, 8 + 22 + 15), 1);
	close(fd);
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_int_equal(get(ob, &p1), 1);
	outbox_commit(ob, &p1);
	assert_int_equal(get(ob, NULL), -1);
	assert_true(outbox_empty(ob));
	outbox_close(ob);

	/* ... and with reading 1 in flight, when 1 is acknowledged */
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	put(ob, 1);
	put(ob, 2);
	outbox_close(ob);
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "X", 1, 8 + 22 + 15), 1);
	close(fd);
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_int_equal(get(ob, &p1), 1);
	assert_int_equal(get(ob, NULL), -1);
	assert_false(outbox_empty(ob));
	outbox_commit(ob, &p1);
	assert_true(outbox_empty(ob));
	assert_int_equal(count_segments(f->dir), 0);
	outbox_close(ob);
}

static void test_foreign_file_set_aside(void **state)
{
	struct fixture *f = *state;
	char err[256], path[128], bad[160];
	seg_file(f->dir, 3, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "not an outbox file", 18), 18);
	close(fd);
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	assert_true(outbox_empty(ob));
	snprintf(bad, sizeof(bad), "%s.bad", path);
	assert_int_equal(file_size(bad), 18);
	outbox_close(ob);
}

/*
 * Names the outbox does not write but sscanf("outbox-%lu.log") takes
 * ("outbox-01.log", "outbox- 2.log", "outbox-+3.log"): the old code took
 * their ids and opened outbox-<id>.log instead, so the outbox would not
 * open (that file missing) or read outbox-1.log twice. They are not its
 * files: left alone (tests/fuzz/corpus/outbox/regress-odd-names).
 */
static void test_odd_names_not_segments(void **state)
{
	struct fixture *f = *state;
	char err[256], path[160];
	static const char *const odd[] = { "outbox-01.log", "outbox- 2.log", "outbox-+3.log",
					   "outbox-01.log.tmp" };
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	put(ob, 1);
	outbox_close(ob);
	seg_file(f->dir, 1, path, sizeof(path));
	int src = open(path, O_RDONLY);
	char buf[64];
	ssize_t n = read(src, buf, sizeof(buf));
	close(src);
	assert_true(n > 8);
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, odd[i]);
		int fd = open(path, O_WRONLY | O_CREAT, 0600);
		assert_int_equal(write(fd, buf, (size_t)n), n);
		close(fd);
	}
	ob = outbox_open(f->dir, MAX, err, sizeof(err));
	if (!ob)
		fail_msg("refused: %s", err);
	assert_int_equal(get(ob, NULL), 1);
	assert_int_equal(get(ob, NULL), -1);
	outbox_close(ob);
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, odd[i]);
		assert_int_equal(file_size(path), n);
	}
}

/*
 * 1000-byte records, 16 per 16 KiB segment, bound 64 KiB: the 66th append
 * is the first that does not fit, and drops the oldest segment (16
 * readings); then every 16 appends another. After 100: 48 dropped, 49..100
 * kept in 4 segments.
 */
static void check_bound(struct outbox *ob, bool durable, const char *dir)
{
	struct outbox_stats st;
	struct outbox_pos p;
	for (int i = 1; i <= 65; i++)
		put_1k(ob, i);
	outbox_get_stats(ob, &st);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.bytes, 65040);
	/* reading 1 is in flight when its segment is dropped */
	assert_int_equal(get(ob, &p), 1);
	put_1k(ob, 66);
	outbox_get_stats(ob, &st);
	assert_int_equal(st.dropped, 16);
	/* its acknowledgement arrives late and is ignored */
	outbox_commit(ob, &p);
	for (int i = 67; i <= 100; i++)
		put_1k(ob, i);
	outbox_get_stats(ob, &st);
	assert_int_equal(st.dropped, 48);
	assert_int_equal(st.pending, 52);
	assert_int_equal(st.bytes, 3 * 16008 + 4008);
	assert_true(st.bytes <= MAX);
	if (durable)
		assert_int_equal(count_segments(dir), 4);
	for (int i = 49; i <= 100; i++) {
		assert_int_equal(get(ob, &p), i);
		outbox_commit(ob, &p);
	}
	assert_true(outbox_empty(ob));
	/* one record larger than the limit is refused, nothing else changes */
	char big[OUTBOX_REC_MAX];
	memset(big, 'x', sizeof(big));
	assert_int_equal(outbox_append(ob, "t", big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(outbox_append(ob, "", "x", 1), -EMSGSIZE);
	assert_true(outbox_empty(ob));
}

static void test_bound_drops_oldest_file(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	check_bound(ob, true, f->dir);
	assert_int_equal(count_segments(f->dir), 0);
	outbox_close(ob);
}

static void test_bound_drops_oldest_memory(void **state)
{
	(void)state;
	char err[256];
	/* a bound below the minimum is raised to it */
	struct outbox *ob = outbox_open("", 1000, err, sizeof(err));
	assert_non_null(ob);
	check_bound(ob, false, NULL);
	outbox_close(ob);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	char err[256], path[128];
	snprintf(path, sizeof(path), "%s/file", f->dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	assert_null(outbox_open(path, MAX, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	snprintf(path, sizeof(path), "%s/file/sub", f->dir);
	assert_null(outbox_open(path, MAX, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot create"));
	/* a missing directory (one level) is created */
	snprintf(path, sizeof(path), "%s/new", f->dir);
	struct outbox *ob = outbox_open(path, MAX, err, sizeof(err));
	assert_non_null(ob);
	outbox_close(ob);
}

/* --- committed damaged states (tests/unit/data/outbox, see its README) --- */

/* The fixture files of tests/unit/data/outbox/<name> go into dir (emptied first). */
static void copy_fixture(const char *dir, const char *name)
{
	char src[512], a[800], b[800];
	const char *root = getenv("SW_ROOT");
	snprintf(src, sizeof(src), "%s/tests/unit/data/outbox/%s", root ? root : ".", name);
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));) {
		snprintf(b, sizeof(b), "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.')
			unlink(b);
	}
	closedir(d);
	d = opendir(src);
	if (!d)
		fail_msg("no fixture '%s' (run from the source tree or set SW_ROOT)", src);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		static char buf[65536];
		snprintf(a, sizeof(a), "%s/%s", src, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", dir, e->d_name);
		int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(in >= 0 && out >= 0);
		ssize_t n = read(in, buf, sizeof(buf));
		assert_true(n >= 0);
		assert_int_equal(write(out, buf, (size_t)n), n);
		close(in);
		close(out);
	}
	closedir(d);
}

/*
 * Reading 3, the end of segment 1, and reading 4, the start of segment 2,
 * are damaged. The old code lost track of the first run of damaged records
 * when the second began a segment: the outbox stayed pending for ever.
 */
static void test_fixture_damaged_start_after_damaged(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct outbox_pos p1, p2;
	copy_fixture(f->dir, "damaged-start-after-damaged");
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	assert_int_equal(get(ob, &p1), 1);
	assert_int_equal(get(ob, &p2), 2);
	assert_int_equal(get(ob, NULL), -1);
	outbox_commit(ob, &p1);
	outbox_commit(ob, &p2);
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 0);
	assert_true(outbox_empty(ob));
	outbox_close(ob);
}

/* Damaged records on both sides of a segment boundary, good ones between and after. */
static void test_fixture_chained_damage(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct outbox_pos p[7];
	copy_fixture(f->dir, "chained");
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	assert_int_equal(get(ob, &p[1]), 1);
	assert_int_equal(get(ob, &p[3]), 3);
	assert_int_equal(get(ob, &p[5]), 5);
	assert_int_equal(get(ob, &p[6]), 6);
	assert_int_equal(get(ob, NULL), -1);
	outbox_commit(ob, &p[1]);
	outbox_commit(ob, &p[3]);
	/* 2 and 4 passed with the commits before them: only 5 and 6 wait */
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	assert_int_equal(st.pending, 2);
	outbox_commit(ob, &p[5]);
	outbox_commit(ob, &p[6]);
	assert_true(outbox_empty(ob));
	outbox_close(ob);
}

/* A damaged length in the middle: the records after it are found again, not cut. */
static void test_fixture_length_flip(void **state)
{
	struct fixture *f = *state;
	char err[256], path[128];
	copy_fixture(f->dir, "length-flip");
	struct outbox *ob = outbox_open(f->dir, MAX, err, sizeof(err));
	assert_non_null(ob);
	seg_file(f->dir, 1, path, sizeof(path));
	assert_int_equal(file_size(path), 74);
	assert_int_equal(get(ob, NULL), 1);
	assert_int_equal(get(ob, NULL), 3);
	assert_int_equal(get(ob, NULL), -1);
	struct outbox_stats st;
	outbox_get_stats(ob, &st);
	assert_int_equal(st.corrupt, 1);
	outbox_close(ob);
}

/*
 * Reopens a damaged copy (file seg, damage at offset off): refused with the
 * file named (set aside as .bad), or the readings come back in order, each
 * as written, none missing before the damage (nor in the other segment),
 * and committing them all empties the outbox.
 */
static void check_damaged(const char *dir, int seg, long off, int *set_aside)
{
	char err[256], bad[160];
	struct outbox *ob = outbox_open(dir, MAX, err, sizeof(err));
	if (!ob)
		fail_msg("outbox-%d.log offset %ld: open failed: %s", seg, off, err);
	snprintf(bad, sizeof(bad), "%s/outbox-%d.log.bad", dir, seg);
	bool aside = file_size(bad) >= 0;
	if (aside)
		(*set_aside)++;
	static char buf[OUTBOX_REC_MAX + 2];
	bool seen[8] = { 0 };
	int last = 0;
	struct outbox_rec r;
	struct outbox_pos end = { 0 };
	bool any = false;
	int rc;
	while ((rc = outbox_next(ob, buf, sizeof(buf), &r)) == 1) {
		int i = -1;
		char want[32];
		assert_int_equal(sscanf(r.payload, "{\"i\":%d}", &i), 1);
		snprintf(want, sizeof(want), "{\"i\":%d}", i);
		assert_int_equal(r.len, strlen(want));
		assert_memory_equal(r.payload, want, r.len);
		assert_string_equal(r.topic, "s/n/a");
		assert_true(i > last && i <= 6);
		last = i;
		seen[i] = true;
		end = r.end;
		any = true;
	}
	assert_int_equal(rc, 0);
	for (int i = 1; i <= 6; i++) {
		int s = i <= 3 ? 1 : 2;
		long rend = 8 + 22L * ((i - 1) % 3 + 1);
		bool before = s != seg || (!aside && rend <= off);
		if (before && !seen[i])
			fail_msg("outbox-%d.log offset %ld: reading %d lost", seg, off, i);
	}
	if (any)
		outbox_commit(ob, &end);
	if (!outbox_empty(ob))
		fail_msg("outbox-%d.log offset %ld: still pending after every commit", seg, off);
	outbox_close(ob);
}

static void for_each_damage(const char *dir, bool flips, int *cases, int *set_aside)
{
	char path[128];
	for (int seg = 1; seg <= 2; seg++) {
		long size = 74;
		long n = flips ? size * 8 : size;
		for (long c = 0; c < n; c++) {
			copy_fixture(dir, "valid");
			seg_file(dir, seg, path, sizeof(path));
			if (flips) {
				int fd = open(path, O_RDWR);
				unsigned char byte;
				assert_int_equal(pread(fd, &byte, 1, c / 8), 1);
				byte ^= (unsigned char)(1u << (c % 8));
				assert_int_equal(pwrite(fd, &byte, 1, c / 8), 1);
				close(fd);
			} else {
				assert_int_equal(truncate(path, c), 0);
			}
			check_damaged(dir, seg, flips ? c / 8 : c, set_aside);
			(*cases)++;
		}
	}
}

static void test_fixture_every_truncation_and_bit_flip(void **state)
{
	struct fixture *f = *state;
	char dir[64], cmd[128];
	int cases = 0, set_aside = 0;
	/* thousands of small files: in memory where there is a tmpfs */
	snprintf(dir, sizeof(dir), "/dev/shm/sw-outbox.XXXXXX");
	if (!mkdtemp(dir))
		snprintf(dir, sizeof(dir), "%s", f->dir);
	int saved = dup(2), null = open("/dev/null", O_WRONLY);
	dup2(null, 2);
	close(null);
	for_each_damage(dir, false, &cases, &set_aside);
	for_each_damage(dir, true, &cases, &set_aside);
	dup2(saved, 2);
	close(saved);
	if (strcmp(dir, f->dir) != 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(cases, 2 * 74 * 9);
	/* a flipped bit of the magic sets that file aside (2 files x 64 bits) */
	assert_int_equal(set_aside, 2 * 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_memory),
		cmocka_unit_test_setup_teardown(test_order_file_and_delete_when_done, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_delivered_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_last_record_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crc_damage_skips_one_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_file_set_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_drops_oldest_file, setup, teardown),
		cmocka_unit_test(test_bound_drops_oldest_memory),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_names_not_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixture_damaged_start_after_damaged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fixture_chained_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixture_length_flip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixture_every_truncation_and_bit_flip, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
