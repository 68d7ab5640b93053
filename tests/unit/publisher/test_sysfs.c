/*
 * test_sysfs.c - the attribute helpers the iio and ds18b20 drivers share:
 * how a failed read's errno becomes the driver's answer (the kernel's EIO
 * and ETIMEDOUT cannot be produced with regular files, hence a pure
 * function), number parsing, and reading with trailing newlines stripped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "publisher/drivers/sysfs.h"
#include "tests/unit/publisher/fixture.h"

static void test_errno_result(void **state)
{
	static const struct {
		int errnum, result;
		enum sensor_fail kind;
	} cases[] = {
		{ EIO, -EAGAIN, SENSOR_FAIL_CHECKSUM },         /* IIO dht11 checksum, w1 CRC */
		{ ETIMEDOUT, -EAGAIN, SENSOR_FAIL_NO_RESPONSE },/* IIO dht11 no answer */
		{ ENODATA, -EAGAIN, SENSOR_FAIL_NO_RESPONSE },
		{ EAGAIN, -EAGAIN, SENSOR_FAIL_IO },
		{ EBUSY, -EAGAIN, SENSOR_FAIL_IO },
		{ EINTR, -EAGAIN, SENSOR_FAIL_IO },
		{ ENOENT, -ENODEV, SENSOR_FAIL_IO },
		{ ENODEV, -ENODEV, SENSOR_FAIL_IO },
		{ ENXIO, -ENODEV, SENSOR_FAIL_IO },
		{ EACCES, -EACCES, SENSOR_FAIL_IO },
		{ EISDIR, -EISDIR, SENSOR_FAIL_IO },
		{ 0, -EIO, SENSOR_FAIL_IO },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sensor_fail kind = SENSOR_FAIL_NONE;

		assert_int_equal(sysfs_errno_result(cases[i].errnum, &kind), cases[i].result);
		assert_int_equal(kind, cases[i].kind);
	}
}

static void test_parse_double(void **state)
{
	double d = 0;

	(void)state;
	assert_int_equal(sysfs_parse_double("21400", &d), 0);
	assert_true(d == 21400);
	assert_int_equal(sysfs_parse_double(" -0.001000\n", &d), 0);
	assert_true(d == -0.001);
	assert_int_equal(sysfs_parse_double("", &d), -EINVAL);
	assert_int_equal(sysfs_parse_double("12 13", &d), -EINVAL);
	assert_int_equal(sysfs_parse_double("nan", &d), -EINVAL);
	assert_int_equal(sysfs_parse_double("1e999", &d), -EINVAL);
}

static void test_read(void **state)
{
	char *root = fixture_new();
	char path[4096], buf[16];

	(void)state;
	assert_non_null(root);
	if (!root)
		return;
	fixture_write(root, "a", "42 \n\n");
	snprintf(path, sizeof(path), "%s/a", root);
	assert_int_equal(sysfs_read(path, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "42");
	fixture_write(root, "a", "0123456789abcdef");
	assert_int_equal(sysfs_read(path, buf, sizeof(buf)), -EOVERFLOW);
	fixture_write(root, "a", "");
	assert_int_equal(sysfs_read(path, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	snprintf(path, sizeof(path), "%s/none", root);
	assert_int_equal(sysfs_read(path, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(sysfs_read(root, buf, sizeof(buf)), -EISDIR);
	fixture_remove(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_result),
		cmocka_unit_test(test_parse_double),
		cmocka_unit_test(test_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
