/*
 * test_wal.c - the bridge's log: order, cursors that survive a reopen,
 * independent readers, torn-tail repair, and counted drops at the bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "bridge/wal.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/sw-wal-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static struct wal *open_disk(uint64_t seg_bytes, uint64_t max_bytes)
{
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_NEVER,
			      .segment_bytes = seg_bytes, .max_bytes = max_bytes };
	char err[256];
	struct wal *w = wal_open(&o, err, sizeof(err));
	if (!w)
		fail_msg("wal_open: %s", err);
	return w;
}

static void append_n(struct wal *w, int from, int to)
{
	char topic[64], payload[64];
	for (int i = from; i < to; i++) {
		snprintf(topic, sizeof(topic), "sensors/n/s%d", i % 3);
		snprintf(payload, sizeof(payload), "{\"seq\":%d}", i);
		assert_int_equal(wal_append(w, 1700000000000LL + i, topic, payload,
					    strlen(payload)), 0);
	}
}

/* Reads everything available; checks seq continuity from `from`. Returns count. */
static int read_all(struct wal_reader *r, int from, bool commit)
{
	struct wal_batch b = { 0 };
	int expect = from, total = 0;
	size_t n;
	while ((n = wal_read(r, &b, 7, 1, 0)) > 0) {
		for (size_t i = 0; i < n; i++) {
			char want[64], topic[64];
			snprintf(want, sizeof(want), "{\"seq\":%d}", expect);
			snprintf(topic, sizeof(topic), "sensors/n/s%d", expect % 3);
			assert_int_equal(b.recs[i].len, strlen(want));
			assert_memory_equal(b.recs[i].payload, want, strlen(want));
			assert_string_equal(b.recs[i].topic, topic);
			assert_int_equal(b.recs[i].arrival_ms, 1700000000000LL + expect);
			expect++;
		}
		total += (int)n;
		if (commit)
			assert_int_equal(wal_commit(r, b.recs[n - 1].lsn), 0);
	}
	wal_batch_release(&b);
	return total;
}

static void test_disk_resume_and_independent_readers(void **state)
{
	(void)state;
	char err[256];
	struct wal *w = open_disk(1024, 0);
	struct wal_reader *a = wal_reader_open(w, "influx", err, sizeof(err));
	struct wal_reader *b = wal_reader_open(w, "remote_write", err, sizeof(err));
	append_n(w, 0, 100);
	assert_int_equal(read_all(a, 0, true), 100);
	/* b reads 40 and commits only those */
	struct wal_batch bt = { 0 };
	assert_int_equal(wal_read(b, &bt, 40, 1, 0), 40);
	assert_int_equal(wal_commit(b, bt.recs[39].lsn), 0);
	/* read more without committing: lost on "crash" */
	assert_int_equal(wal_read(b, &bt, 10, 1, 0), 10);
	wal_batch_release(&bt);
	assert_int_equal(wal_reader_lag(b), 60);
	wal_close(w);

	w = open_disk(1024, 0);
	a = wal_reader_open(w, "influx", err, sizeof(err));
	b = wal_reader_open(w, "remote_write", err, sizeof(err));
	assert_int_equal(read_all(a, 100, true), 0);
	assert_int_equal(read_all(b, 40, true), 60);
	append_n(w, 100, 110);
	assert_int_equal(read_all(a, 100, true), 10);
	assert_int_equal(read_all(b, 100, false), 10);
	wal_rewind(b);
	assert_int_equal(read_all(b, 100, true), 10);
	struct wal_stats st;
	wal_get_stats(w, &st);
	/* every cursor passed the old segments: only the active one is left */
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.dropped, 0);
	wal_close(w);
}

static void test_torn_tail_is_cut(void **state)
{
	(void)state;
	char err[256], path[128];
	struct wal *w = open_disk(1 << 20, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	(void)r;
	append_n(w, 0, 20);
	wal_close(w);
	snprintf(path, sizeof(path), "%s/wal/%016x.log", dir, 1);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(truncate(path, sb.st_size - 3), 0);

	w = open_disk(1 << 20, 0);
	struct wal_stats st;
	wal_get_stats(w, &st);
	assert_true(st.repaired_bytes > 0);
	r = wal_reader_open(w, "out", err, sizeof(err));
	assert_int_equal(read_all(r, 0, true), 19);
	/* appends continue after the cut */
	append_n(w, 19, 25);
	assert_int_equal(read_all(r, 19, true), 6);
	wal_close(w);

	/* a flipped byte inside the last record is caught by the CRC */
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(pwrite(fd, "X", 1, sb.st_size - 2), 1);
	close(fd);
	w = open_disk(1 << 20, 0);
	r = wal_reader_open(w, "fresh", err, sizeof(err));
	assert_int_equal(read_all(r, 0, false), 24);
	wal_close(w);
}

static void test_bytes_bound_drops_oldest_counted(void **state)
{
	(void)state;
	char err[256];
	struct wal *w = open_disk(512, 2048);
	struct wal_reader *r = wal_reader_open(w, "slow", err, sizeof(err));
	append_n(w, 0, 200);
	struct wal_stats st;
	wal_get_stats(w, &st);
	assert_true(st.bytes <= 2048 + 512);
	uint64_t dropped = wal_reader_take_dropped(r);
	assert_true(dropped > 0);
	assert_int_equal(st.dropped, dropped);
	/* what is left is the newest, contiguous, ending at 199 */
	assert_int_equal(read_all(r, 200 - (int)(200 - dropped), true), 200 - (int)dropped);
	wal_close(w);
}

static void test_memory_bound(void **state)
{
	(void)state;
	char err[256];
	struct wal_opts o = { .dir = NULL, .max_records = 160 };
	struct wal *w = wal_open(&o, err, sizeof(err));
	assert_non_null(w);
	assert_false(wal_durable(w));
	struct wal_reader *r = wal_reader_open(w, "stdout", err, sizeof(err));
	append_n(w, 0, 1000);
	uint64_t dropped = wal_reader_take_dropped(r);
	/* keeps at most 160, and loses at most one 1/16 segment more than needed */
	assert_true(dropped >= 1000 - 160);
	assert_true(dropped <= 1000 - 160 + 11);
	assert_int_equal(read_all(r, (int)dropped, true), 1000 - (int)dropped);
	wal_close(w);
}

static void test_age_bound(void **state)
{
	(void)state;
	char err[256];
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_NEVER, .segment_bytes = 256,
			      .max_age_ms = 60000 };
	struct wal *w = wal_open(&o, err, sizeof(err));
	assert_non_null(w);
	struct wal_reader *r = wal_reader_open(w, "slow", err, sizeof(err));
	/* append_n stamps arrivals in 2023: far older than a minute */
	append_n(w, 0, 50);
	uint64_t dropped = wal_reader_take_dropped(r);
	assert_true(dropped > 0);
	struct wal_stats st;
	wal_get_stats(w, &st);
	/* only the active segment survives */
	assert_int_equal(st.segments, 1);
	assert_int_equal(read_all(r, (int)dropped, true), 50 - (int)dropped);
	wal_close(w);
}

static void test_read_waits_and_wakes(void **state)
{
	(void)state;
	char err[256];
	struct wal_opts o = { 0 };
	struct wal *w = wal_open(&o, err, sizeof(err));
	struct wal_reader *r = wal_reader_open(w, "x", err, sizeof(err));
	struct wal_batch b = { 0 };
	assert_int_equal(wal_read(r, &b, 10, 1, 50), 0);
	wal_wake(w);
	assert_int_equal(wal_read(r, &b, 10, 1, 5000), 0);
	wal_batch_release(&b);
	wal_close(w);
}

/* Records larger than a read chunk, and chunks that end inside a record. */
static void test_chunked_reads(void **state)
{
	(void)state;
	char err[256];
	struct wal *w = open_disk(4 << 20, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	size_t sizes[] = { 10, 70000, 33, 40000, 5, 200000 };
	char *big = malloc(200000);
	assert_non_null(big);
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < 6; i++) {
			memset(big, 'a' + (int)i, sizes[i]);
			assert_int_equal(wal_append(w, (int64_t)i, "sensors/n/big", big, sizes[i]), 0);
		}
		/* many small ones, so a chunk boundary falls inside some frame */
		for (int k = 0; k < 3000; k++) {
			char p[32];
			int n = snprintf(p, sizeof(p), "{\"k\":%d}", k);
			assert_int_equal(wal_append(w, k, "sensors/n/small", p, (size_t)n), 0);
		}
	}
	struct wal_batch b = { 0 };
	size_t n, total = 0;
	while ((n = wal_read(r, &b, 333, 1, 0)) > 0) {
		for (size_t i = 0; i < n; i++) {
			size_t k = (total + i) % 3006;
			const struct wal_record *rec = &b.recs[i];
			if (k < 6) {
				assert_string_equal(rec->topic, "sensors/n/big");
				assert_int_equal(rec->len, sizes[k]);
				const char *pl = rec->payload;
				assert_int_equal(pl[0], 'a' + (int)k);
				assert_int_equal(pl[rec->len - 1], 'a' + (int)k);
			} else {
				char want[32];
				snprintf(want, sizeof(want), "{\"k\":%zu}", k - 6);
				assert_string_equal(rec->topic, "sensors/n/small");
				assert_int_equal(rec->len, strlen(want));
				assert_memory_equal(rec->payload, want, rec->len);
				assert_int_equal(rec->arrival_ms, (int64_t)(k - 6));
			}
		}
		assert_int_equal(wal_commit(r, b.recs[n - 1].lsn), 0);
		total += n;
	}
	assert_int_equal(total, 3 * 3006);
	/* a reopened log finds a position in the middle of a segment */
	wal_batch_release(&b);
	wal_close(w);
	w = open_disk(4 << 20, 0);
	r = wal_reader_open(w, "mid", err, sizeof(err));
	assert_int_equal(wal_read(r, &b, 3015, 1, 0), 3015);
	assert_int_equal(wal_commit(r, b.recs[3014].lsn), 0);
	wal_close(w);
	w = open_disk(4 << 20, 0);
	r = wal_reader_open(w, "mid", err, sizeof(err));
	assert_int_equal(wal_read(r, &b, 1, 1, 0), 1);
	assert_string_equal(b.recs[0].topic, "sensors/n/small");
	assert_memory_equal(b.recs[0].payload, "{\"k\":3}", 7);
	wal_batch_release(&b);
	wal_close(w);
	free(big);
}

struct appender {
	struct wal *w;
	int n;
	int delay_ms;
};

static void *append_later(void *arg)
{
	struct appender *a = arg;
	struct timespec ts = { 0, a->delay_ms * 1000000L };
	for (int i = 0; i < a->n; i++) {
		nanosleep(&ts, NULL);
		wal_append(a->w, i, "sensors/n/s", "{}", 2);
	}
	return NULL;
}

/* A reader waiting for min records is not released by fewer, unless time is up. */
static void test_read_waits_for_min(void **state)
{
	(void)state;
	char err[256];
	struct wal_opts o = { 0 };
	struct wal *w = wal_open(&o, err, sizeof(err));
	struct wal_reader *r = wal_reader_open(w, "x", err, sizeof(err));
	struct wal_batch b = { 0 };
	pthread_t t;

	/* 5 records, 10 ms apart: a wait for 5 returns all of them */
	struct appender a = { w, 5, 10 };
	assert_int_equal(pthread_create(&t, NULL, append_later, &a), 0);
	assert_int_equal(wal_read(r, &b, 100, 5, 5000), 5);
	pthread_join(t, NULL);

	/* 3 records: a wait for 5 times out and returns the 3 */
	a.n = 3;
	assert_int_equal(pthread_create(&t, NULL, append_later, &a), 0);
	int64_t t0 = clock_now_ms();
	assert_int_equal(wal_read(r, &b, 100, 5, 300), 3);
	assert_true(clock_now_ms() - t0 >= 250);
	pthread_join(t, NULL);

	/* min is capped at max */
	wal_append(w, 1, "sensors/n/s", "{}", 2);
	assert_int_equal(wal_read(r, &b, 1, 5, 5000), 1);
	wal_batch_release(&b);
	wal_close(w);
}

/* Writes a file of bytes. */
static void put_file(const char *name, const void *data, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/wal", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/wal/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* Appends one frame (u32 len | u32 crc | i64 arrival | u16 tl | topic | payload) to buf. */
static size_t put_frame(unsigned char *buf, int64_t arrival, const char *topic,
			const char *payload)
{
	size_t tl = strlen(topic), pl = strlen(payload), body = 10 + tl + pl;
	unsigned char *b = buf + 8;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)arrival >> (8 * i));
	b[8] = (unsigned char)tl;
	b[9] = (unsigned char)(tl >> 8);
	memcpy(b + 10, topic, tl);
	memcpy(b + 10 + tl, payload, pl);
	uint32_t crc = (uint32_t)crc32(0, b, (uInt)body);
	for (int i = 0; i < 4; i++) {
		buf[i] = (unsigned char)(body >> (8 * i));
		buf[4 + i] = (unsigned char)(crc >> (8 * i));
	}
	return 8 + body;
}

static bool file_exists(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/wal/%s", dir, name);
	return access(path, F_OK) == 0;
}

/*
 * A log left by sensor-bridge 0.1.0 (format 1: .seg files, no header) is
 * read, each record marked format 1; new records go to a .log segment after
 * it; once every cursor has passed the old segment it is deleted.
 */
static void test_reads_format1_log(void **state)
{
	(void)state;
	char err[256];
	unsigned char seg[1024];
	size_t n = 0;
	n += put_frame(seg + n, 1700000000001LL, "sensors/n/s1", "{\"seq\":1,\"x\":1}");
	n += put_frame(seg + n, 1700000000002LL, "sensors/n/status", "online");
	n += put_frame(seg + n, 1700000000003LL, "sensors/n/s1", "{\"seq\":2,\"x\":2}");
	put_file("0000000000000001.seg", seg, n);
	put_file("out.cursor", "2\n", 2);

	struct wal *w = open_disk(1 << 20, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	assert_int_equal(wal_append(w, 1700000000004LL, "sensors/n/s1", "\xb2new", 4), 0);
	assert_true(file_exists("0000000000000004.log"));
	struct wal_batch b = { 0 };
	assert_int_equal(wal_read(r, &b, 10, 1, 0), 3);
	assert_int_equal(b.recs[0].lsn, 2);
	assert_int_equal(b.recs[0].format, 1);
	assert_string_equal(b.recs[0].topic, "sensors/n/status");
	assert_memory_equal(b.recs[0].payload, "online", 6);
	assert_int_equal(b.recs[1].format, 1);
	assert_int_equal(b.recs[1].len, strlen("{\"seq\":2,\"x\":2}"));
	assert_memory_equal(b.recs[1].payload, "{\"seq\":2,\"x\":2}", b.recs[1].len);
	assert_int_equal(b.recs[1].arrival_ms, 1700000000003LL);
	assert_int_equal(b.recs[2].lsn, 4);
	assert_int_equal(b.recs[2].format, WAL_FORMAT);
	assert_memory_equal(b.recs[2].payload, "\xb2new", 4);
	assert_int_equal(wal_commit(r, 4), 0);
	assert_false(file_exists("0000000000000001.seg"));
	wal_batch_release(&b);
	wal_close(w);
}

/* An old log whose last segment is empty: the new records start a .log segment. */
static void test_format1_empty_tail(void **state)
{
	(void)state;
	char err[256];
	unsigned char seg[256];
	size_t n = put_frame(seg, 1700000000001LL, "sensors/n/s1", "{\"x\":1}");
	put_file("0000000000000001.seg", seg, n);
	put_file("0000000000000002.seg", seg, 0);
	struct wal *w = open_disk(1 << 20, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	assert_false(file_exists("0000000000000002.seg"));
	assert_int_equal(wal_append(w, 1700000000002LL, "sensors/n/s1", "\xb2", 1), 0);
	assert_true(file_exists("0000000000000002.log"));
	struct wal_batch b = { 0 };
	assert_int_equal(wal_read(r, &b, 10, 1, 0), 2);
	assert_int_equal(b.recs[0].format, 1);
	assert_int_equal(b.recs[1].format, WAL_FORMAT);
	assert_int_equal(b.recs[1].lsn, 2);
	wal_batch_release(&b);
	wal_close(w);
}

/* A segment this code cannot read stops wal_open with the file's name. */
static void test_unknown_format_refused(void **state)
{
	(void)state;
	char err[256];
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_NEVER };
	unsigned char h[8 + 64] = { 'S', 'W', 'L', 'O', 'G', 0, 3, 0 };
	put_file("0000000000000001.log", h, 8);
	assert_null(wal_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "0000000000000001.log"));
	assert_non_null(strstr(err, "format 3"));
	assert_non_null(strstr(err, "newer"));

	put_file("0000000000000001.log", "not a log segment", 17);
	assert_null(wal_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "not a sensor-bridge log segment"));
}

/*
 * A segment named with an lsn no bridge gives (0, or near 2^64) is refused,
 * naming it, and left as it is: numbering from there wrapped past 2^64 and
 * the next append was numbered below what the readers had (found by
 * tests/fuzz/fuzz_wal.c, corpus regress-huge-lsn). A cursor that far ahead
 * is damaged.
 */
static void test_lsn_out_of_range_refused(void **state)
{
	(void)state;
	char err[512];
	unsigned char seg[256] = { 'S', 'W', 'L', 'O', 'G', 0, 2, 0 };
	size_t n = 8;
	for (int i = 0; i < 3; i++)
		n += put_frame(seg + n, 1700000000000LL + i, "sensors/n/s", "{\"seq\":1}");
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_NEVER };
	put_file("fffffffffffffffe.log", seg, n);
	assert_null(wal_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "fffffffffffffffe.log"));
	assert_non_null(strstr(err, "outside the log's numbering"));
	assert_true(file_exists("fffffffffffffffe.log"));
	char path[160];
	snprintf(path, sizeof(path), "%s/wal/fffffffffffffffe.log", dir);
	unlink(path);
	put_file("0000000000000000.log", seg, n);
	assert_null(wal_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "0000000000000000.log"));
	snprintf(path, sizeof(path), "%s/wal/0000000000000000.log", dir);
	unlink(path);

	put_file("0000000000000001.log", seg, n);
	put_file("out.cursor", "18446744073709551615\n", 21);
	struct wal *w = open_disk(0, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(wal_append(w, 1700000000100LL, "sensors/n/s", "{\"seq\":4}", 9), 0);
	struct wal_batch b = { 0 };
	assert_int_equal(wal_read(r, &b, 10, 1, 0), 4);
	assert_int_equal(b.recs[3].lsn, 4);
	wal_batch_release(&b);
	wal_close(w);
}

/* A segment created but stopped before its header was written is repaired. */
static void test_torn_header_repaired(void **state)
{
	(void)state;
	char err[256];
	put_file("0000000000000001.log", "SWL", 3);
	struct wal *w = open_disk(1 << 20, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	append_n(w, 0, 5);
	assert_int_equal(read_all(r, 0, true), 5);
	wal_close(w);
	w = open_disk(1 << 20, 0);
	r = wal_reader_open(w, "again", err, sizeof(err));
	assert_int_equal(read_all(r, 0, false), 5);
	wal_close(w);
}

/*
 * Appends go through a mapping: a process killed with SIGKILL leaves every
 * appended record in the file (and zeros past them, which the next open cuts
 * without calling it a repair); a closed segment is exactly its records.
 */
static void test_kill9_keeps_appends(void **state)
{
	(void)state;
	char err[256], path[128];
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct wal *w = open_disk(1 << 20, 0);
		append_n(w, 0, 3000);
		raise(SIGKILL);
		_exit(1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	struct stat sb;
	snprintf(path, sizeof(path), "%s/wal/%016x.log", dir, 1);
	assert_int_equal(stat(path, &sb), 0);
	off_t reserved = sb.st_size;
	struct wal *w = open_disk(1 << 20, 0);
	struct wal_stats ws;
	wal_get_stats(w, &ws);
	assert_int_equal(ws.repaired_bytes, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	assert_int_equal(read_all(r, 0, true), 3000);
	append_n(w, 3000, 3010);
	assert_int_equal(read_all(r, 3000, true), 10);
	wal_close(w);

	/* closed: no reserved space left, and the last byte is a record's */
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size < reserved);
	int fd = open(path, O_RDONLY);
	char last;
	assert_int_equal(pread(fd, &last, 1, sb.st_size - 1), 1);
	close(fd);
	assert_int_equal(last, '}');
}

/*
 * When the file cannot grow (here RLIMIT_FSIZE, as a full disk would), the
 * append fails with an error, never a SIGBUS, and what was appended stays.
 */
static void test_full_disk_is_an_error(void **state)
{
	(void)state;
	char err[256];
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = { 300 << 10, 300 << 10 };
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(2);
		struct wal *w = open_disk(4 << 20, 0);
		char payload[1000];
		memset(payload, 'p', sizeof(payload));
		int rc = 0, n = 0;
		while (n < 1000 && (rc = wal_append(w, n, "sensors/n/s", payload, sizeof(payload))) == 0)
			n++;
		if (rc != -EFBIG || n < 200 || n > 300)
			_exit(3);
		/* still refused, still no signal */
		if (wal_append(w, n, "sensors/n/s", payload, sizeof(payload)) != -EFBIG)
			_exit(4);
		wal_close(w);
		_exit(n == 0 ? 5 : 0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* every record appended before the error is there */
	struct wal *w = open_disk(4 << 20, 0);
	struct wal_stats ws;
	wal_get_stats(w, &ws);
	assert_int_equal(ws.repaired_bytes, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	struct wal_batch b = { 0 };
	size_t n = wal_read(r, &b, 1000, 1, 0);
	assert_true(n >= 200 && n <= 300);
	assert_int_equal(b.recs[n - 1].lsn, n);
	assert_int_equal(b.recs[n - 1].len, 1000);
	wal_batch_release(&b);
	wal_close(w);
}

/* --- committed damaged states (tests/unit/data/wal, see its README) --- */

#include <dirent.h>
#include <time.h>

/* The fixture files of tests/unit/data/wal/<name>/wal go into dir/wal (emptied first). */
static void copy_fixture(const char *name)
{
	char src[512], dst[256], a[800], b[800];
	const char *root = getenv("SW_ROOT");
	snprintf(src, sizeof(src), "%s/tests/unit/data/wal/%s/wal", root ? root : ".", name);
	snprintf(dst, sizeof(dst), "%s/wal", dir);
	mkdir(dst, 0700);
	DIR *d = opendir(dst);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));) {
		snprintf(b, sizeof(b), "%s/%s", dst, e->d_name);
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
		snprintf(b, sizeof(b), "%s/%s", dst, e->d_name);
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

static off_t wal_file_size(const char *name)
{
	char path[256];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/wal/%s", dir, name);
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* stderr into a file while the log is captured */
static int saved_stderr = -1;
static char cap_path[64];

static void capture_start(void)
{
	snprintf(cap_path, sizeof(cap_path), "/tmp/sw-wal-log-XXXXXX");
	int fd = mkstemp(cap_path);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
	log_set_level(LOG_LVL_INFO);
}

/* Returns what was logged (static buffer). */
static const char *capture_end(void)
{
	static char buf[8192];
	log_set_level(LOG_LVL_ERROR);
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	FILE *f = fopen(cap_path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	unlink(cap_path);
	return buf;
}

/* Reads everything available: lsns into out (up to cap), returns the count. */
static int read_lsns(struct wal_reader *r, uint64_t *out, int cap, bool check_seq)
{
	struct wal_batch b = { 0 };
	int total = 0;
	size_t n;
	while ((n = wal_read(r, &b, 7, 1, 0)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (check_seq) {
				char want[64];
				snprintf(want, sizeof(want), "{\"seq\":%d}", (int)b.recs[i].lsn);
				assert_int_equal(b.recs[i].len, strlen(want));
				assert_memory_equal(b.recs[i].payload, want, strlen(want));
			}
			if (total < cap)
				out[total] = b.recs[i].lsn;
			total++;
		}
	}
	wal_batch_release(&b);
	return total;
}

/*
 * A power cut after "out" committed through lsn 8 (its cursor is fsynced)
 * but before the log's last segment (7, 8) reached the disk. The old code
 * numbered new records from 7 again, below that cursor: "out" restarting
 * before a commit skipped them. Now numbering continues at 9, logged.
 */
static void test_fixture_stale_cursor(void **state)
{
	(void)state;
	char err[256];
	uint64_t l[32];
	copy_fixture("stale-cursor");
	capture_start();
	struct wal *w = open_disk(100, 0);
	const char *logged = capture_end();
	assert_non_null(strstr(logged, "out.cursor"));
	assert_non_null(strstr(logged, "ahead of the log"));
	struct wal_reader *out = wal_reader_open(w, "out", err, sizeof(err));
	assert_non_null(wal_reader_open(w, "slow", err, sizeof(err)));
	assert_int_equal(read_lsns(out, l, 32, true), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wal_append(w, 1700000000100LL, "sensors/n/s1", "{\"new\":1}", 9), 0);
	/* out had read nothing new: restarts before committing */
	wal_close(w);

	w = open_disk(100, 0);
	out = wal_reader_open(w, "out", err, sizeof(err));
	struct wal_reader *slow = wal_reader_open(w, "slow", err, sizeof(err));
	assert_int_equal(read_lsns(out, l, 32, false), 3);
	assert_int_equal(l[0], 9);
	assert_int_equal(l[2], 11);
	/* slow resumes at 2 and passes the records lost at the cut without stalling */
	assert_int_equal(read_lsns(slow, l, 32, false), 8);
	assert_int_equal(l[0], 2);
	assert_int_equal(l[4], 6);
	assert_int_equal(l[5], 9);
	wal_close(w);
}

/*
 * The first record of the sealed middle segment is damaged: lsn 3..4 are
 * missing. A reader whose cursor (3) is in that gap gets 5 at once; the old
 * code returned nothing for ever (until an append). The damaged segment is
 * left as it is, not cut as if it were the tail.
 */
static void test_fixture_gap_does_not_stall(void **state)
{
	(void)state;
	char err[256];
	copy_fixture("gap");
	capture_start();
	struct wal *w = open_disk(100, 0);
	const char *logged = capture_end();
	assert_non_null(strstr(logged, "0000000000000003.log"));
	assert_non_null(strstr(logged, "lsn 3..4 are missing"));
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	struct wal_batch b = { 0 };
	int64_t t0 = clock_now_ms();
	assert_int_equal(wal_read(r, &b, 10, 1, 2000), 2);
	assert_true(clock_now_ms() - t0 < 1000);
	assert_int_equal(b.recs[0].lsn, 5);
	assert_int_equal(b.recs[1].lsn, 6);
	assert_int_equal(wal_file_size("0000000000000003.log"), 86);
	assert_int_equal(wal_commit(r, 6), 0);
	/* a later read waits (nothing there), then gets the next append */
	assert_int_equal(wal_read(r, &b, 10, 1, 0), 0);
	assert_int_equal(wal_append(w, 1700000000100LL, "sensors/n/s1", "{\"seq\":7}", 9), 0);
	assert_int_equal(wal_read(r, &b, 10, 1, 0), 1);
	assert_int_equal(b.recs[0].lsn, 7);
	wal_batch_release(&b);
	wal_close(w);
}

/*
 * A bad frame in a sealed segment (lsn 2 of 1..2) is corruption, not a
 * torn tail: the file keeps its bytes (the old code cut it), the other
 * records are all read, and the gap is passed.
 */
static void test_fixture_sealed_corrupt_not_cut(void **state)
{
	(void)state;
	char err[256];
	uint64_t l[32];
	copy_fixture("sealed-corrupt");
	capture_start();
	struct wal *w = open_disk(100, 0);
	const char *logged = capture_end();
	assert_non_null(strstr(logged, "0000000000000001.log"));
	assert_non_null(strstr(logged, "sealed segment"));
	struct wal_reader *r = wal_reader_open(w, "fresh", err, sizeof(err));
	assert_int_equal(read_lsns(r, l, 32, true), 5);
	assert_int_equal(l[0], 1);
	assert_int_equal(l[1], 3);
	assert_int_equal(l[4], 6);
	wal_close(w);
	assert_int_equal(wal_file_size("0000000000000001.log"), 86);
	/* the same again on the next open: nothing was changed by the first */
	w = open_disk(100, 0);
	r = wal_reader_open(w, "fresh", err, sizeof(err));
	assert_int_equal(read_lsns(r, l, 32, true), 5);
	wal_close(w);
}

/* Two segments claim lsn 2: refused, naming both (the old code read a different record). */
static void test_fixture_overlap_refused(void **state)
{
	(void)state;
	char err[512];
	copy_fixture("overlap");
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_NEVER, .segment_bytes = 100 };
	assert_null(wal_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "0000000000000001.log"));
	assert_non_null(strstr(err, "0000000000000002.log"));
	assert_non_null(strstr(err, "overlaps"));
}

/*
 * A segment overlapping an earlier one that is not the one just before it
 * (an empty damaged segment in between: here a copy of a format 2 file
 * named .seg) is refused as well. The old code compared with the segment
 * just before only: it read lsn 5.. from the copy of lsn 1.. (fuzz_wal,
 * corpus regress-overlap-past-empty).
 */
static void test_overlap_past_empty_damaged_refused(void **state)
{
	(void)state;
	char err[512], a[256];
	copy_fixture("valid");
	snprintf(a, sizeof(a), "%s/wal/0000000000000005.log", dir);
	unlink(a);
	static char buf[256];
	snprintf(a, sizeof(a), "%s/wal/0000000000000001.log", dir);
	FILE *f = fopen(a, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	put_file("0000000000000004.seg", buf, n);
	put_file("0000000000000004.log", buf, n);
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_NEVER, .segment_bytes = 100 };
	assert_null(wal_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "0000000000000004.log"));
	assert_non_null(strstr(err, "0000000000000003.log"));
	assert_non_null(strstr(err, "overlaps"));
}

/* A damaged cursor file resends from the oldest record; never skips. */
static void test_damaged_cursor_resends(void **state)
{
	(void)state;
	char err[256];
	uint64_t l[32];
	copy_fixture("valid");
	put_file("out.cursor", "4 00000000\n", 11);
	capture_start();
	struct wal *w = open_disk(100, 0);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	const char *logged = capture_end();
	assert_non_null(strstr(logged, "out.cursor' is damaged"));
	assert_int_equal(read_lsns(r, l, 32, true), 6);
	assert_int_equal(wal_commit(r, 3), 0);
	wal_close(w);
	/* what is saved now carries a CRC, and reads back */
	w = open_disk(100, 0);
	r = wal_reader_open(w, "out", err, sizeof(err));
	assert_int_equal(read_lsns(r, l, 32, true), 3);
	assert_int_equal(l[0], 4);
	wal_close(w);
}

static const char *const valid_files[] = { "0000000000000001.log", "0000000000000003.log",
					   "0000000000000005.log", "out.cursor" };

/*
 * Reopens the damaged copy in dir: refused with the file's name, or every
 * record read is the one written with that lsn, every record not after the
 * damage (file index fi, damage at offset off) is there, "out" (cursor 2)
 * skips none of them, and a new record is numbered above all of them.
 */
static void check_damaged(int fi, long off, int *refused)
{
	char err[512];
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_NEVER, .segment_bytes = 100 };
	struct wal *w = wal_open(&o, err, sizeof(err));
	if (!w) {
		if (!strstr(err, valid_files[fi]))
			fail_msg("refused without naming %s: %s", valid_files[fi], err);
		/* only a segment's header is worth a refusal */
		if (fi == 3 || off >= 8)
			fail_msg("%s offset %ld: refused: %s", valid_files[fi], off, err);
		(*refused)++;
		return;
	}
	uint64_t fresh[16], out[16];
	struct wal_reader *rf = wal_reader_open(w, "fresh", err, sizeof(err));
	struct wal_reader *ro = wal_reader_open(w, "out", err, sizeof(err));
	int nf = read_lsns(rf, fresh, 16, true);
	int no = read_lsns(ro, out, 16, true);
	bool seen[8] = { 0 };
	for (int i = 0; i < nf; i++) {
		assert_true(fresh[i] >= 1 && fresh[i] <= 6);
		assert_true(i == 0 || fresh[i] > fresh[i - 1]);
		seen[fresh[i]] = true;
	}
	for (int lsn = 1; lsn <= 6; lsn++) {
		int seg = (lsn - 1) / 2;
		long end = lsn % 2 ? 47 : 86;   /* where the record's frame ends in its file */
		bool before = fi == 3 || seg != fi || end <= off;
		if (before && !seen[lsn])
			fail_msg("%s offset %ld: lsn %d lost", valid_files[fi], off, lsn);
	}
	/* out resumes at 2 at the latest: it gets every record from 2 on */
	int k = 0;
	for (int i = 0; i < nf; i++) {
		if (fresh[i] < 2)
			continue;
		while (k < no && out[k] < fresh[i])
			k++;
		if (k == no || out[k] != fresh[i])
			fail_msg("%s offset %ld: out skipped lsn %d", valid_files[fi], off,
				 (int)fresh[i]);
	}
	assert_int_equal(wal_append(w, 1700000000100LL, "sensors/n/s1", "{\"seq\":99}", 10), 0);
	struct wal_batch b = { 0 };
	assert_int_equal(wal_read(ro, &b, 7, 1, 0), 1);
	assert_true(b.recs[0].lsn >= 2 && (nf == 0 || b.recs[0].lsn > fresh[nf - 1]));
	wal_batch_release(&b);
	wal_close(w);
}

/*
 * The fixture's cursor is as the bridge wrote it before cursors carried a
 * CRC ("2\n", still read); a flipped digit there cannot be told from a
 * real one, so the cursor's own damage is tried on what is written now.
 */
static void crc_cursor(void)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "2 %08x\n", (unsigned)frame_crc32("2", 1));
	put_file("out.cursor", text, (size_t)n);
}

static void for_each_damage(bool flips, int *cases, int *refused)
{
	char path[256];
	for (int fi = 0; fi < 4; fi++) {
		copy_fixture("valid");
		if (fi == 3)
			crc_cursor();
		off_t size = wal_file_size(valid_files[fi]);
		assert_true(size > 0);
		long end = flips ? size * 8 : size;
		for (long c = 0; c < end; c++) {
			copy_fixture("valid");
			if (fi == 3)
				crc_cursor();
			snprintf(path, sizeof(path), "%s/wal/%s", dir, valid_files[fi]);
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
			check_damaged(fi, flips ? c / 8 : c, refused);
			(*cases)++;
		}
	}
}

/*
 * Every truncation and every single-bit flip of each file of a valid state
 * (written by the bridge before this change: three segments, a cursor).
 */
static void test_fixture_every_truncation_and_bit_flip(void **state)
{
	(void)state;
	int cases = 0, refused = 0;
	int saved = log_threshold;
	/* thousands of small files: in memory where there is a tmpfs */
	char disk[64], cmd[128];
	memcpy(disk, dir, sizeof(disk));
	snprintf(dir, sizeof(dir), "/dev/shm/sw-wal-XXXXXX");
	if (!mkdtemp(dir))
		memcpy(dir, disk, sizeof(disk));
	log_threshold = -1;
	for_each_damage(false, &cases, &refused);
	for_each_damage(true, &cases, &refused);
	log_threshold = saved;
	if (strcmp(dir, disk) != 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
		memcpy(dir, disk, sizeof(disk));
	}
	assert_true(cases > 2000);
	/* a flipped bit in a header's magic or format is refused, nothing else */
	assert_true(refused > 0 && refused <= 3 * 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_disk_resume_and_independent_readers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bytes_bound_drops_oldest_counted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_memory_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_age_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_waits_and_wakes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_waits_for_min, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_format1_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format1_empty_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_format_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lsn_out_of_range_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_header_repaired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_keeps_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_disk_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixture_stale_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixture_gap_does_not_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixture_sealed_corrupt_not_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixture_overlap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_past_empty_damaged_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_cursor_resends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixture_every_truncation_and_bit_flip, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
