/*
 * test_ds18b20.c - the ds18b20 driver on fake 1-Wire sysfs trees: the
 * temperature file, the w1_slave fallback with its CRC line, the values the
 * sensor sends when something is wrong (85 °C power-on, all zeros, out of
 * range), missing devices and files, and option checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "publisher/drivers/drivers.h"
#include "publisher/drivers/ds18b20.h"
#include "publisher/sensor.h"
#include "tests/unit/publisher/fixture.h"

#define ID "28-0000075b6b7e"
#define DEV "bus/w1/devices/" ID "/"

#define W1_OK "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n" \
	      "72 01 4b 46 7f ff 0e 10 57 t=23125\n"
#define W1_BAD_CRC "72 01 4b 46 7f ff 0e 10 57 : crc=58 NO\n" \
		   "72 01 4b 46 7f ff 0e 10 57 t=23125\n"
#define W1_ZEROS "00 00 00 00 00 00 00 00 00 : crc=00 YES\n" \
		 "00 00 00 00 00 00 00 00 00 t=0\n"

struct ctx {
	char *root;
	struct sensor s;
	struct sensor_env env;
	char err[512];
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c || !(c->root = fixture_new()))
		return -1;
	c->env.sysfs_root = c->root;
	memset(&c->s, 0, sizeof(c->s));
	strcpy(c->s.name, "probe");
	c->s.drv = &sensor_driver_ds18b20;
	c->s.n_opts = 1;
	strcpy(c->s.opts[0].key, "id");
	strcpy(c->s.opts[0].value, ID);
	if (c->s.drv->open(&c->s, &c->env, c->err, sizeof(c->err)))
		return -1;
	c->s.is_open = true;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	c->s.drv->close(&c->s);
	fixture_remove(c->root);
	free(c);
	return 0;
}

static int read_temp(struct ctx *c, double *t)
{
	struct sensor_reading r;
	int rc = sensor_read(&c->s, &r, c->err, sizeof(c->err));

	if (!rc) {
		assert_int_equal(r.n, 1);
		assert_string_equal(r.f[0].name, "temperature_celsius");
		*t = r.f[0].value;
	}
	return rc;
}

static void test_temperature_file(void **state)
{
	struct ctx *c = *state;
	double t;

	fixture_write(c->root, DEV "temperature", "23125\n");
	fixture_write(c->root, DEV "w1_slave", W1_BAD_CRC);     /* not consulted */
	assert_int_equal(read_temp(c, &t), 0);
	assert_true(t == 23.125);
	fixture_write(c->root, DEV "temperature", "-10062\n");
	assert_int_equal(read_temp(c, &t), 0);
	assert_true(t == -10.062);
}

static void test_w1_slave(void **state)
{
	struct ctx *c = *state;
	char want[600];
	double t;

	fixture_write(c->root, DEV "w1_slave", W1_OK);
	assert_int_equal(read_temp(c, &t), 0);
	assert_true(t == 23.125);

	fixture_write(c->root, DEV "w1_slave", W1_BAD_CRC);
	assert_int_equal(read_temp(c, &t), -EAGAIN);
	snprintf(want, sizeof(want), "%s/bus/w1/devices/" ID "/w1_slave: CRC mismatch", c->root);
	assert_string_equal(c->err, want);
	assert_int_equal(c->s.fails[SENSOR_FAIL_CHECKSUM], 1);
	assert_int_equal(c->s.reads_transient, 1);

	fixture_write(c->root, DEV "w1_slave", W1_ZEROS);
	assert_int_equal(read_temp(c, &t), -EAGAIN);
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_NO_RESPONSE);

	fixture_write(c->root, DEV "w1_slave", "garbage\n");
	assert_int_equal(read_temp(c, &t), -EIO);
	snprintf(want, sizeof(want), "%s/bus/w1/devices/" ID "/w1_slave: unexpected format",
		 c->root);
	assert_string_equal(c->err, want);
}

static void test_power_on_and_range(void **state)
{
	struct ctx *c = *state;
	double t;

	fixture_write(c->root, DEV "temperature", "85000\n");
	assert_int_equal(read_temp(c, &t), -EAGAIN);
	assert_string_equal(c->err, "85 °C power-on value (conversion did not run)");
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_IMPLAUSIBLE);

	fixture_write(c->root, DEV "temperature", "85062\n");  /* a real 85.062 °C */
	assert_int_equal(read_temp(c, &t), 0);

	fixture_write(c->root, DEV "temperature", "-127000\n");
	assert_int_equal(read_temp(c, &t), -EAGAIN);
	assert_string_equal(c->err, "-127000 milli-°C is outside -55..125 °C");

	fixture_write(c->root, DEV "temperature", "125000\n");
	assert_int_equal(read_temp(c, &t), 0);
	fixture_write(c->root, DEV "temperature", "-55000\n");
	assert_int_equal(read_temp(c, &t), 0);
	fixture_write(c->root, DEV "temperature", "125001\n");
	assert_int_equal(read_temp(c, &t), -EAGAIN);

	/* the same rules apply to w1_slave */
	fixture_unlink(c->root, DEV "temperature");
	fixture_write(c->root, DEV "w1_slave", "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n"
					       "50 05 4b 46 7f ff 0c 10 1c t=85000\n");
	assert_int_equal(read_temp(c, &t), -EAGAIN);
	assert_int_equal(c->s.fails[SENSOR_FAIL_IMPLAUSIBLE], 4);
}

static void test_missing(void **state)
{
	struct ctx *c = *state;
	char want[600];
	double t;

	assert_int_equal(read_temp(c, &t), -ENODEV);
	snprintf(want, sizeof(want), "no 1-Wire device %s/bus/w1/devices/" ID " (is "
		 "dtoverlay=w1-gpio set, the sensor wired and the id right?)", c->root);
	assert_string_equal(c->err, want);

	fixture_mkdirs(c->root, DEV, 1);
	assert_int_equal(read_temp(c, &t), -ENODEV);
	snprintf(want, sizeof(want), "%s/bus/w1/devices/" ID " has neither temperature nor "
		 "w1_slave", c->root);
	assert_string_equal(c->err, want);

	/* an attribute that errors on read (here: a directory) */
	fixture_mkdirs(c->root, DEV "temperature", 1);
	assert_int_equal(read_temp(c, &t), -EISDIR);

	fixture_write(c->root, DEV "w1_slave", W1_OK);
	snprintf(want, sizeof(want), "%s/" DEV "temperature", c->root);
	rmdir(want);
	fixture_write(c->root, DEV "temperature", "warm\n");
	assert_int_equal(read_temp(c, &t), -EIO);
	assert_int_equal(c->s.reads_failed, 4);
}

static void test_parse_w1_slave(void **state)
{
	enum sensor_fail kind;
	long milli = 1;

	(void)state;
	assert_int_equal(ds18b20_parse_w1_slave(W1_OK, &milli, &kind), 0);
	assert_int_equal(milli, 23125);
	assert_int_equal(ds18b20_parse_w1_slave("ff ff ff ff ff ff ff ff ff : crc=c9 YES\n"
						"ff ff ff ff ff ff ff ff ff t=-1250\n", &milli,
						&kind), 0);
	assert_int_equal(milli, -1250);
	assert_int_equal(ds18b20_parse_w1_slave(W1_BAD_CRC, &milli, &kind), -EAGAIN);
	assert_int_equal(kind, SENSOR_FAIL_CHECKSUM);
	assert_int_equal(ds18b20_parse_w1_slave(W1_ZEROS, &milli, &kind), -EAGAIN);
	assert_int_equal(kind, SENSOR_FAIL_NO_RESPONSE);
	/* first line only, no verdict, no t=, bad number, "YESNO" */
	assert_int_equal(ds18b20_parse_w1_slave("72 01 : crc=57 YES", &milli, &kind), -EIO);
	assert_int_equal(ds18b20_parse_w1_slave("72 01 : crc=57\n72 01 t=1\n", &milli, &kind),
			 -EIO);
	assert_int_equal(ds18b20_parse_w1_slave("72 01 : crc=57 YES\n72 01\n", &milli, &kind),
			 -EIO);
	assert_int_equal(ds18b20_parse_w1_slave("72 01 : crc=57 YES\n72 01 t=\n", &milli,
						&kind), -EIO);
	assert_int_equal(ds18b20_parse_w1_slave("72 01 : crc=57 YES\n72 01 t=12x\n", &milli,
						&kind), -EIO);
	assert_int_equal(ds18b20_parse_w1_slave("72 01 : crc=57 XYES\n72 01 t=1\n", &milli,
						&kind), -EIO);
	assert_int_equal(kind, SENSOR_FAIL_IO);
}

static void test_check_milli(void **state)
{
	enum sensor_fail kind;

	(void)state;
	assert_int_equal(ds18b20_check_milli(85000, &kind), -EAGAIN);
	assert_int_equal(kind, SENSOR_FAIL_IMPLAUSIBLE);
	assert_int_equal(ds18b20_check_milli(-127000, &kind), -EAGAIN);
	assert_int_equal(ds18b20_check_milli(-55001, &kind), -EAGAIN);
	assert_int_equal(ds18b20_check_milli(0, &kind), 0);
	assert_int_equal(kind, SENSOR_FAIL_NONE);
	assert_int_equal(ds18b20_check_milli(84999, &kind), 0);
}

static void test_options(void **state)
{
	struct sensor s = { .drv = &sensor_driver_ds18b20 };
	char err[256];

	(void)state;
	assert_int_equal(s.drv->check(&s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option 'id' is required (e.g. id=28-0000075b6b7e, see "
			    "/sys/bus/w1/devices)");
	s.n_opts = 1;
	strcpy(s.opts[0].key, "id");
	strcpy(s.opts[0].value, "28-0000075B6B7E");
	assert_int_equal(s.drv->check(&s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option 'id' must look like 28-0000075b6b7e (family, '-', "
			    "12 lower-case hex digits), not '28-0000075B6B7E'");
	strcpy(s.opts[0].value, "28-0000075b6b7/");
	assert_int_equal(s.drv->check(&s, err, sizeof(err)), -EINVAL);
	strcpy(s.opts[0].value, "10-000802b4f1c2");
	assert_int_equal(s.drv->check(&s, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_temperature_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_w1_slave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_on_and_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test(test_parse_w1_slave),
		cmocka_unit_test(test_check_milli),
		cmocka_unit_test(test_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
