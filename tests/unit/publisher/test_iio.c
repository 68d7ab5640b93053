/*
 * test_iio.c - the iio driver on fake sysfs trees: processed and raw
 * channels, unit conversion, lookup by name, and the failures a user meets
 * (no such device, no channels, an attribute that cannot be read or parsed,
 * bad options). The errno -> result mapping is tested in test_sysfs.c.
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
#include "publisher/sensor.h"
#include "tests/unit/publisher/fixture.h"

#define DEV0 "bus/iio/devices/iio:device0/"
#define DEV1 "bus/iio/devices/iio:device1/"

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
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->s.is_open)
		c->s.drv->close(&c->s);
	fixture_remove(c->root);
	free(c);
	return 0;
}

/* Opens the sensor with one option key=value. */
static int open_with(struct ctx *c, const char *key, const char *value)
{
	int rc;

	memset(&c->s, 0, sizeof(c->s));
	strcpy(c->s.name, "room");
	c->s.drv = &sensor_driver_iio;
	c->s.n_opts = 1;
	strcpy(c->s.opts[0].key, key);
	strcpy(c->s.opts[0].value, value);
	rc = c->s.drv->open(&c->s, &c->env, c->err, sizeof(c->err));
	c->s.is_open = rc == 0;
	return rc;
}

static void test_processed_channels(void **state)
{
	struct ctx *c = *state;
	struct sensor_reading r;

	assert_int_equal(fixture_write(c->root, DEV0 "name", "dht11\n"), 0);
	assert_int_equal(fixture_write(c->root, DEV0 "in_temp_input", "21400\n"), 0);
	assert_int_equal(fixture_write(c->root, DEV0 "in_humidityrelative_input", "48000\n"), 0);
	assert_int_equal(open_with(c, "device", "iio:device0"), 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.f[0].name, "temperature_celsius");
	assert_true(r.f[0].value == 21.4);
	assert_string_equal(r.f[1].name, "humidity_percent");
	assert_true(r.f[1].value == 48.0);

	/* pressure is in kPa per the IIO ABI */
	assert_int_equal(fixture_write(c->root, DEV0 "in_pressure_input", "101.325000\n"), 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.f[2].name, "pressure_hectopascals");
	assert_float_equal(r.f[2].value, 1013.25, 1e-9);
}

static void test_raw_scale_offset(void **state)
{
	struct ctx *c = *state;
	struct sensor_reading r;

	/* (raw + offset) * scale, then the unit conversion */
	fixture_write(c->root, DEV0 "in_temp_raw", "1000\n");
	fixture_write(c->root, DEV0 "in_temp_scale", "10.500000\n");
	fixture_write(c->root, DEV0 "in_temp_offset", "-500\n");
	fixture_write(c->root, DEV0 "in_humidityrelative_raw", "45000\n");   /* no scale */
	fixture_write(c->root, DEV0 "in_pressure_raw", "25000\n");
	fixture_write(c->root, DEV0 "in_pressure_scale", "0.004\n");
	assert_int_equal(open_with(c, "device", "iio:device0"), 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), 0);
	assert_int_equal(r.n, 3);
	assert_float_equal(r.f[0].value, 5.25, 1e-12);
	assert_float_equal(r.f[1].value, 45.0, 1e-12);
	assert_float_equal(r.f[2].value, 1000.0, 1e-9);

	/* _input wins over _raw when both exist */
	fixture_write(c->root, DEV0 "in_temp_input", "-3500\n");
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), 0);
	assert_true(r.f[0].value == -3.5);
}

static void test_find_by_name(void **state)
{
	struct ctx *c = *state;
	struct sensor_reading r;
	char want[600];

	fixture_write(c->root, DEV0 "name", "bme280\n");
	fixture_write(c->root, DEV0 "in_temp_input", "30000\n");
	fixture_write(c->root, DEV1 "name", "dht11\n");
	fixture_write(c->root, DEV1 "in_temp_input", "19000\n");
	assert_int_equal(open_with(c, "name", "dht11"), 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), 0);
	assert_int_equal(r.n, 1);
	assert_true(r.f[0].value == 19.0);
	c->s.drv->close(&c->s);

	assert_int_equal(open_with(c, "name", "sht3x"), 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -ENODEV);
	snprintf(want, sizeof(want), "no IIO device named 'sht3x' in %s/bus/iio/devices",
		 c->root);
	assert_string_equal(c->err, want);
	assert_int_equal(c->s.fails[SENSOR_FAIL_IO], 1);
}

static void test_missing_device_and_channels(void **state)
{
	struct ctx *c = *state;
	struct sensor_reading r;
	char want[600];

	assert_int_equal(open_with(c, "device", "iio:device7"), 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -ENODEV);
	snprintf(want, sizeof(want), "no IIO device %s/bus/iio/devices/iio:device7", c->root);
	assert_string_equal(c->err, want);

	fixture_write(c->root, "bus/iio/devices/iio:device7/name", "adc\n");
	fixture_write(c->root, "bus/iio/devices/iio:device7/in_voltage0_raw", "12\n");
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -ENODEV);
	snprintf(want, sizeof(want), "%s/bus/iio/devices/iio:device7 has no in_temp, "
		 "in_humidityrelative or in_pressure channel", c->root);
	assert_string_equal(c->err, want);
	assert_int_equal(r.n, 0);
}

static void test_unreadable_and_garbage(void **state)
{
	struct ctx *c = *state;
	struct sensor_reading r;
	char want[600];

	/* a directory where the attribute should be: read() fails (EISDIR) */
	fixture_mkdirs(c->root, DEV0 "in_temp_input", 1);
	assert_int_equal(open_with(c, "device", "iio:device0"), 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EISDIR);
	snprintf(want, sizeof(want), "%s/" DEV0 "in_temp_input: %s", c->root, strerror(EISDIR));
	assert_string_equal(c->err, want);
	assert_int_equal(c->s.reads_failed, 1);
	assert_int_equal(c->s.reads_transient, 0);

	fixture_write(c->root, DEV0 "in_humidityrelative_input", "n/a\n");
	rmdir(strcat(strcpy(want, c->root), "/" DEV0 "in_temp_input"));
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EIO);
	snprintf(want, sizeof(want), "%s/" DEV0 "in_humidityrelative_input: not a number: 'n/a'",
		 c->root);
	assert_string_equal(c->err, want);

	/* a broken scale file breaks the channel too */
	fixture_write(c->root, DEV0 "in_humidityrelative_input", "40000\n");
	fixture_write(c->root, DEV0 "in_temp_raw", "100\n");
	fixture_write(c->root, DEV0 "in_temp_scale", "\n");
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EIO);
}

static void test_options(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(open_with(c, "device", "../../etc"), -EINVAL);
	assert_string_equal(c->err, "option 'device' must be a name in /sys/bus/iio/devices, "
			    "not '../../etc'");
	memset(&c->s, 0, sizeof(c->s));
	c->s.drv = &sensor_driver_iio;
	assert_int_equal(c->s.drv->check(&c->s, c->err, sizeof(c->err)), -EINVAL);
	assert_string_equal(c->err, "give either option 'device' (e.g. iio:device0) or "
			    "option 'name' (e.g. dht11)");
	c->s.n_opts = 2;
	strcpy(c->s.opts[0].key, "device");
	strcpy(c->s.opts[0].value, "iio:device0");
	strcpy(c->s.opts[1].key, "name");
	strcpy(c->s.opts[1].value, "dht11");
	assert_int_equal(c->s.drv->check(&c->s, c->err, sizeof(c->err)), -EINVAL);
	assert_string_equal(c->err, "give either option 'device' (e.g. iio:device0) or "
			    "option 'name' (e.g. dht11), not both");
	assert_int_equal(sensor_driver_iio.min_retry_ms, 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_processed_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_scale_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_device_and_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_and_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
