/*
 * test_wal_commit.c - wal_commit saves a cursor (write, fsync, rename)
 * without holding the lock wal_append takes: while one output's cursor
 * fsync is stuck, the appends (the MQTT callback's path), another output's
 * reads, the lag and the stats all go on; and the segments that commit
 * passes are deleted only once its cursor is saved, not when an append
 * trims meanwhile. fsync is replaced here (this program's definition wins
 * over the C library's for the whole program; the log itself syncs with
 * fdatasync, only cursor saves call fsync): when armed, the next fsync
 * waits until the test lets it go.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bridge/wal.h"
#include "common/log.h"

static atomic_int armed;        /* the next fsync blocks */
static sem_t entered;           /* posted by a blocked fsync */
static sem_t release;           /* lets it go */

int fsync(int fd)
{
	if (atomic_exchange(&armed, 0)) {
		sem_post(&entered);
		while (sem_wait(&release) < 0 && errno == EINTR)
			;
	}
	return (int)syscall(SYS_fsync, fd);
}

static char dir[64];

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERROR);
	armed = 0;
	if (sem_init(&entered, 0, 0) < 0 || sem_init(&release, 0, 0) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/sw-walcommit-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	sem_destroy(&entered);
	sem_destroy(&release);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* Waits up to ms for sem: true when it was posted. */
static bool wait_sem(sem_t *sem, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int rc;
	while ((rc = sem_timedwait(sem, &until)) < 0 && errno == EINTR)
		;
	return rc == 0;
}

static struct wal *open_log(uint64_t segment_bytes)
{
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_ALWAYS,
			      .segment_bytes = segment_bytes };
	char err[256];
	struct wal *w = wal_open(&o, err, sizeof(err));
	if (!w)
		fail_msg("wal_open: %s", err);
	return w;
}

static int append(struct wal *w, int i)
{
	char p[32];
	int n = snprintf(p, sizeof(p), "payload %d", i);
	return wal_append(w, 1700000000000LL + i, "t/a/b", p, (size_t)n);
}

static bool seg_exists(uint64_t first)
{
	char path[128];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/wal/%016llx.log", dir, (unsigned long long)first);
	return stat(path, &sb) == 0;
}

/* A commit on its own thread (its cursor fsync is the one that blocks). */
struct committer {
	struct wal_reader *r;
	uint64_t lsn;
	int rc;
};

static void *commit_main(void *arg)
{
	struct committer *c = arg;
	c->rc = wal_commit(c->r, c->lsn);
	return NULL;
}

/* What the MQTT callback and the other outputs do meanwhile, on their own thread. */
struct others {
	struct wal *w;
	struct wal_reader *fast;
	int first;              /* appends records first, first + 1 */
	int rc;
	size_t read;
	sem_t done;
};

static void *others_main(void *arg)
{
	struct others *o = arg;
	struct wal_batch b = { 0 };
	struct wal_stats st;
	o->rc = append(o->w, o->first);
	if (o->rc == 0)
		o->rc = append(o->w, o->first + 1);
	if (o->fast)
		o->read = wal_read(o->fast, &b, 100, 1, 0);
	wal_get_stats(o->w, &st);
	wal_batch_release(&b);
	sem_post(&o->done);
	return NULL;
}

/*
 * Starts a commit of r through lsn whose cursor fsync blocks, then the
 * others' work: *done tells whether that finished while the fsync was
 * blocked. Then releases the fsync and joins both. Runs check() (when
 * given) while the fsync is still blocked.
 */
static void commit_blocked(struct committer *c, struct others *o, bool *done,
			   void (*check)(struct others *))
{
	pthread_t ct, ot;
	assert_int_equal(sem_init(&o->done, 0, 0), 0);
	armed = 1;
	assert_int_equal(pthread_create(&ct, NULL, commit_main, c), 0);
	bool in_fsync = wait_sem(&entered, 5000);
	assert_int_equal(pthread_create(&ot, NULL, others_main, o), 0);
	*done = in_fsync && wait_sem(&o->done, 3000);
	if (*done && check)
		check(o);
	sem_post(&release);
	pthread_join(ct, NULL);
	pthread_join(ot, NULL);
	sem_destroy(&o->done);
	assert_true(in_fsync);
}

static struct wal_reader *reader(struct wal *w, const char *name)
{
	char err[128];
	struct wal_reader *r = wal_reader_open(w, name, err, sizeof(err));
	if (!r)
		fail_msg("wal_reader_open: %s", err);
	return r;
}

static uint64_t slow_lag_blocked;
static struct wal_reader *slow_reader;

static void check_lag(struct others *o)
{
	(void)o;
	slow_lag_blocked = wal_reader_lag(slow_reader);
}

static void test_append_while_cursor_fsync_blocks(void **state)
{
	(void)state;
	struct wal *w = open_log(0);
	struct wal_reader *slow = reader(w, "slow"), *fast = reader(w, "fast");
	for (int i = 1; i <= 3; i++)
		assert_int_equal(append(w, i), 0);
	struct wal_batch b = { 0 };
	assert_int_equal(wal_read(slow, &b, 100, 1, 0), 3);
	struct committer c = { .r = slow, .lsn = b.recs[2].lsn };
	struct others o = { .w = w, .fast = fast, .first = 4 };
	bool done;
	slow_reader = slow;
	commit_blocked(&c, &o, &done, check_lag);
	/* the appends and fast's read did not wait for slow's cursor fsync */
	assert_true(done);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.read, 5);
	/* and slow's position moved only once its cursor was saved */
	assert_int_equal(slow_lag_blocked, 5);
	assert_int_equal(c.rc, 0);
	assert_int_equal(wal_reader_lag(slow), 2);
	wal_batch_release(&b);
	wal_close(w);
	/* the saved cursor is the one committed */
	w = open_log(0);
	slow = reader(w, "slow");
	assert_int_equal(wal_reader_lag(slow), 2);
	wal_close(w);
}

static bool kept_blocked[8];

static void check_segments(struct others *o)
{
	(void)o;
	for (uint64_t l = 1; l <= 7; l++)
		kept_blocked[l] = seg_exists(l);
}

static void test_segment_kept_until_cursor_saved(void **state)
{
	(void)state;
	/* 16-byte segments: one record each, segment n holds lsn n */
	struct wal *w = open_log(16);
	struct wal_reader *out = reader(w, "out");
	for (int i = 1; i <= 5; i++)
		assert_int_equal(append(w, i), 0);
	struct wal_batch b = { 0 };
	assert_int_equal(wal_read(out, &b, 100, 1, 0), 5);
	for (uint64_t l = 1; l <= 5; l++)
		assert_true(seg_exists(l));
	/* commit through lsn 4; meanwhile appends 6 and 7 trim the log */
	struct committer c = { .r = out, .lsn = 4 };
	struct others o = { .w = w, .first = 6 };
	bool done;
	commit_blocked(&c, &o, &done, check_segments);
	assert_true(done);
	assert_int_equal(o.rc, 0);
	/* while the cursor was not saved, no segment it passes was deleted */
	for (uint64_t l = 1; l <= 7; l++)
		assert_true(kept_blocked[l]);
	/* once it is, they are */
	assert_int_equal(c.rc, 0);
	for (uint64_t l = 1; l <= 4; l++)
		assert_false(seg_exists(l));
	for (uint64_t l = 5; l <= 7; l++)
		assert_true(seg_exists(l));
	struct wal_stats st;
	wal_get_stats(w, &st);
	assert_int_equal(st.segments, 3);
	assert_int_equal(st.dropped, 0);
	wal_batch_release(&b);
	wal_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_while_cursor_fsync_blocks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_segment_kept_until_cursor_saved, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
