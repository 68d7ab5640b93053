/*
 * test_wal_sync_error.c - a failed fdatasync of the log is not ignored: the
 * append whose sync failed (WAL_SYNC=always) is not in the log, not even
 * after a reopen; later appends fail until a sync succeeds; a failed
 * periodic sync (the syncer) fails the next appends the same way; the
 * failures are counted. fdatasync is replaced here (this program's
 * definition wins over the C library's for the whole program).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bridge/wal.h"
#include "common/log.h"

static atomic_int fail_sync;    /* fdatasync fails with EIO while set */
static atomic_int sync_calls;

int fdatasync(int fd)
{
	sync_calls++;
	if (fail_sync) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

static char dir[64];

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERROR);
	fail_sync = 0;
	snprintf(dir, sizeof(dir), "/tmp/sw-walsync-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static struct wal *open_log(int sync_ms)
{
	struct wal_opts o = { .dir = dir, .sync_ms = sync_ms };
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
	return wal_append(w, 1000 + i, "t/a/b", p, (size_t)n);
}

/* The payloads in the log, in order, as "0 1 2 ". */
static void contents(struct wal *w, char *out, size_t n)
{
	char err[128];
	struct wal_reader *r = wal_reader_open(w, "check", err, sizeof(err));
	assert_non_null(r);
	struct wal_batch b = { 0 };
	size_t got, j = 0;
	out[0] = '\0';
	while ((got = wal_read(r, &b, 100, 1, 0)) > 0) {
		for (size_t i = 0; i < got; i++)
			j += (size_t)snprintf(out + j, n - j, "%.*s ", (int)b.recs[i].len - 8,
					      (const char *)b.recs[i].payload + 8);
	}
	wal_batch_release(&b);
}

static void test_always_failed_sync_is_not_appended(void **state)
{
	(void)state;
	char got[256];
	struct wal *w = open_log(WAL_SYNC_ALWAYS);
	assert_int_equal(append(w, 0), 0);
	assert_int_equal(wal_sync_error(w), 0);
	fail_sync = 1;
	assert_int_equal(append(w, 1), -EIO);
	assert_int_equal(wal_sync_error(w), EIO);
	/* the log stays unhealthy: each append tries a sync first, and fails */
	assert_int_equal(append(w, 2), -EIO);
	struct wal_stats st;
	wal_get_stats(w, &st);
	assert_int_equal(st.sync_errors, 2);
	assert_int_equal(st.appended, 1);
	fail_sync = 0;
	assert_int_equal(append(w, 3), 0);
	assert_int_equal(wal_sync_error(w), 0);
	contents(w, got, sizeof(got));
	assert_string_equal(got, "0 3 ");
	wal_close(w);
	/* the refused records do not come back from the file either */
	w = open_log(WAL_SYNC_ALWAYS);
	contents(w, got, sizeof(got));
	assert_string_equal(got, "0 3 ");
	wal_close(w);
}

static void test_periodic_failed_sync_fails_appends(void **state)
{
	(void)state;
	struct wal *w = open_log(20);
	assert_int_equal(append(w, 0), 0);
	fail_sync = 1;
	for (int i = 0; i < 100 && !wal_sync_error(w); i++) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(wal_sync_error(w), EIO);
	assert_int_equal(append(w, 1), -EIO);
	fail_sync = 0;
	assert_int_equal(append(w, 2), 0);
	assert_int_equal(wal_sync_error(w), 0);
	struct wal_stats st;
	wal_get_stats(w, &st);
	assert_true(st.sync_errors >= 2);
	assert_int_equal(st.appended, 2);
	wal_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_always_failed_sync_is_not_appended, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_periodic_failed_sync_fails_appends, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
