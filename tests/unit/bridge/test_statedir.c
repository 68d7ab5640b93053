/*
 * test_statedir.c - the STATE_DIR lock (one holder, its PID in the error,
 * released on close) and the read-only check (changes nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/statedir.h"

static char base[64];

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/sw-statedir.XXXXXX");
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_one_holder(void **state)
{
	(void)state;
	char dir[128], err[1024], want[64], lock[160];
	snprintf(dir, sizeof(dir), "%s/state", base);
	int fd = statedir_lock(dir, err, sizeof(err));
	assert_true(fd >= 0);
	/* made the directory and wrote our PID */
	snprintf(lock, sizeof(lock), "%s/" STATEDIR_LOCK_NAME, dir);
	FILE *f = fopen(lock, "r");
	assert_non_null(f);
	long pid = 0;
	assert_int_equal(fscanf(f, "%ld", &pid), 1);
	fclose(f);
	assert_int_equal(pid, (long)getpid());
	/* a second open file (another bridge) is refused, naming dir and PID */
	assert_int_equal(statedir_lock(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, dir));
	snprintf(want, sizeof(want), "(PID %ld)", (long)getpid());
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "in use by another sensor-bridge"));
	/* closing releases it */
	close(fd);
	fd = statedir_lock(dir, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
}

static void test_unusable(void **state)
{
	(void)state;
	char dir[128], err[1024];
	snprintf(dir, sizeof(dir), "%s/no/such", base);
	assert_int_equal(statedir_lock(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create STATE_DIR"));
	assert_int_equal(statedir_check(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nor does its parent"));
	/* a file where the directory should be */
	snprintf(dir, sizeof(dir), "%s/file", base);
	FILE *f = fopen(dir, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(statedir_check(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a directory"));
}

static void test_check_changes_nothing(void **state)
{
	(void)state;
	char dir[128], msg[1024];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s/fresh", base);
	assert_int_equal(statedir_check(dir, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "does not exist yet"));
	assert_int_equal(stat(dir, &st), -1); /* not created */

	snprintf(dir, sizeof(dir), "%s/held", base);
	int fd = statedir_lock(dir, msg, sizeof(msg));
	assert_true(fd >= 0);
	char lock[160];
	snprintf(lock, sizeof(lock), "%s/" STATEDIR_LOCK_NAME, dir);
	struct stat before, after;
	assert_int_equal(stat(lock, &before), 0);
	assert_int_equal(statedir_check(dir, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "writable directory"));
	assert_int_equal(stat(lock, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	/* the check took no lock: the holder still holds, nobody else gets it */
	char err[1024];
	assert_int_equal(statedir_lock(dir, err, sizeof(err)), -1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_holder),
		cmocka_unit_test(test_unusable),
		cmocka_unit_test(test_check_changes_nothing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
