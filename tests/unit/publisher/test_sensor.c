/*
 * test_sensor.c - the registry and SENSORS parsing: good lists, and each
 * kind of mistake with the exact message (it must name the item and the
 * bad part), list open/free and the counters sensor_read() keeps.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "publisher/sensor.h"

static void test_registry(void **state)
{
	static const char *const names[] = { "dht11", "dht22", "am2302", "iio", "ds18b20",
					     "sim" };
	char joined[128] = "";

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct sensor_driver *d = sensor_driver_find(names[i]);

		assert_non_null(d);
		assert_string_equal(d->name, names[i]);
		assert_non_null(d->open);
		assert_non_null(d->read);
		assert_non_null(d->close);
		assert_non_null(d->opt_keys);
		assert_non_null(d->help);
		/*
		 * "too many options" cannot happen while no driver takes more
		 * keys than a sensor holds (duplicates are refused first)
		 */
		size_t k = 0;

		while (d->opt_keys[k])
			k++;
		assert_true(k <= SENSOR_MAX_OPTS);
		strcat(strcat(joined, i ? ", " : ""), names[i]);
	}
	assert_string_equal(sensor_driver_names(), joined);
	assert_null(sensor_driver_find("dht21"));
	assert_null(sensor_driver_find(""));
	assert_string_equal(sensor_fail_name(SENSOR_FAIL_CHECKSUM), "checksum");
	assert_string_equal(sensor_fail_name(SENSOR_FAIL_KINDS), "unknown");
}

static void test_parse_good(void **state)
{
	struct sensor *s;
	size_t n;
	char err[256] = "";

	(void)state;
	assert_int_equal(sensor_list_parse("desk=dht22,chip=gpiochip0,line=19 "
					   "probe=ds18b20,id=28-0000075b6b7e\n\t"
					   "room=iio,device=iio:device0  demo=sim "
					   "My.Sensor_2-b=am2302,line=4 baro=iio,name=bme280 "
					   "old=dht11,line=17,chip=/dev/gpiochip4",
					   &s, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 7);
	assert_string_equal(s[0].name, "desk");
	assert_string_equal(s[0].drv->name, "dht22");
	assert_int_equal(s[0].n_opts, 2);
	assert_string_equal(sensor_opt(&s[0], "chip"), "gpiochip0");
	assert_string_equal(sensor_opt(&s[0], "line"), "19");
	assert_null(sensor_opt(&s[0], "id"));
	assert_string_equal(sensor_opt(&s[1], "id"), "28-0000075b6b7e");
	assert_string_equal(s[2].drv->name, "iio");
	assert_string_equal(s[3].name, "demo");
	assert_int_equal(s[3].n_opts, 0);
	assert_string_equal(s[4].name, "My.Sensor_2-b");
	assert_string_equal(s[4].drv->name, "am2302");
	assert_false(s[0].is_open);
	sensor_list_free(s, n);

	/* a value may contain '=' (split at the first one) */
	assert_int_equal(sensor_list_parse("  a=sim,base=18.5  ", &s, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(sensor_opt(&s[0], "base"), "18.5");
	sensor_list_free(s, n);
	sensor_list_free(NULL, 0);
}

static void expect_error(const char *spec, const char *want)
{
	struct sensor *s = (struct sensor *)1;
	size_t n = 99;
	char err[512] = "";

	if (sensor_list_parse(spec, &s, &n, err, sizeof(err)) != -1)
		fail_msg("accepted: %s", spec);
	assert_null(s);
	assert_int_equal(n, 0);
	assert_string_equal(err, want);
}

static void test_parse_errors(void **state)
{
	char name64[80], spec[160], want[320];

	(void)state;
	expect_error("", "no sensors: SENSORS is empty (give NAME=DRIVER items, drivers: "
		     "dht11, dht22, am2302, iio, ds18b20, sim)");
	expect_error(" \t\n", "no sensors: SENSORS is empty (give NAME=DRIVER items, drivers: "
		     "dht11, dht22, am2302, iio, ds18b20, sim)");
	expect_error(NULL, "no sensors: SENSORS is empty (give NAME=DRIVER items, drivers: "
		     "dht11, dht22, am2302, iio, ds18b20, sim)");
	expect_error("demo=sim probe=ds18b20,id",
		     "sensor 2 'probe=ds18b20,id': option 'id' needs a value");
	expect_error("probe=ds18b20,id=", "sensor 1 'probe=ds18b20,id=': option 'id' needs a value");
	expect_error("desk", "sensor 1 'desk': expected NAME=DRIVER[,key=value...]");
	expect_error("desk,line=4=dht22",
		     "sensor 1 'desk,line=4=dht22': expected NAME=DRIVER[,key=value...]");
	expect_error("=dht22", "sensor 1 '=dht22': empty sensor name");
	expect_error("desk=", "sensor 1 'desk=': no driver after '=' (known: dht11, dht22, "
		     "am2302, iio, ds18b20, sim)");
	expect_error("desk=dht21,line=4", "sensor 1 'desk=dht21,line=4': unknown driver "
		     "'dht21' (known: dht11, dht22, am2302, iio, ds18b20, sim)");
	expect_error("a=sim b=sim a=sim", "sensor 3 'a=sim': duplicate sensor name 'a' "
		     "(also sensor 1)");
	expect_error("status=sim", "sensor 1 'status=sim': sensor name 'status' is reserved "
		     "for availability");
	expect_error("de/sk=sim", "sensor 1 'de/sk=sim': invalid character '/' in sensor name "
		     "(use A-Z a-z 0-9 _ - .)");
	expect_error("desk+=sim", "sensor 1 'desk+=sim': invalid character '+' in sensor name "
		     "(use A-Z a-z 0-9 _ - .)");
	expect_error("d#=sim", "sensor 1 'd#=sim': invalid character '#' in sensor name "
		     "(use A-Z a-z 0-9 _ - .)");
	expect_error("d\x01=sim", "sensor 1 'd\x01=sim': invalid byte 0x01 in sensor name "
		     "(use A-Z a-z 0-9 _ - .)");
	memset(name64, 'n', 64);
	name64[64] = '\0';
	snprintf(spec, sizeof(spec), "%s=sim", name64);
	snprintf(want, sizeof(want), "sensor 1 '%s': sensor name longer than 63 bytes", spec);
	expect_error(spec, want);
	name64[63] = '\0';      /* 63 is fine */
	snprintf(spec, sizeof(spec), "%s=sim", name64);
	{
		struct sensor *s;
		size_t n;

		assert_int_equal(sensor_list_parse(spec, &s, &n, want, sizeof(want)), 0);
		sensor_list_free(s, n);
	}
	expect_error("desk=dht22,line=4,pin=4", "sensor 1 'desk=dht22,line=4,pin=4': unknown "
		     "option 'pin' for driver 'dht22' (options: chip, line)");
	expect_error("demo=sim,speed=2", "sensor 1 'demo=sim,speed=2': unknown option 'speed' "
		     "for driver 'sim' (options: base, amplitude, humidity, peak, noise, fail, "
		     "pressure)");
	expect_error("desk=dht22,line=4,line=5",
		     "sensor 1 'desk=dht22,line=4,line=5': option 'line' given twice");
	expect_error("desk=dht22,,line=4", "sensor 1 'desk=dht22,,line=4': empty option");
	expect_error("desk=dht22,line=4,", "sensor 1 'desk=dht22,line=4,': empty option");
	expect_error("desk=dht22,=4", "sensor 1 'desk=dht22,=4': option with no name before '='");
	expect_error("demo=sim,base=1,amplitude=1,humidity=1,peak=1,noise=1,fail=0,"
		     "pressure=0,base=2", "sensor 1 'demo=sim,base=1,amplitude=1,humidity=1,"
		     "peak=1,noise=1,fail=0,pressure=0,base=2': option 'base' given twice");
	/* driver checks run at parse time (so --check-config sees them) */
	expect_error("a=sim desk=dht22,chip=gpiochip0", "sensor 2 'desk=dht22,chip=gpiochip0': "
		     "option 'line' is required (the GPIO line offset, on a Raspberry Pi the BCM "
		     "number, e.g. line=4)");
	expect_error("probe=ds18b20", "sensor 1 'probe=ds18b20': option 'id' is required "
		     "(e.g. id=28-0000075b6b7e, see /sys/bus/w1/devices)");
	expect_error("room=iio", "sensor 1 'room=iio': give either option 'device' (e.g. "
		     "iio:device0) or option 'name' (e.g. dht11)");
	expect_error("demo=sim,base=hot", "sensor 1 'demo=sim,base=hot': option 'base' must be "
		     "a number from -50 to 100, not 'hot'");
}

static void test_too_long(void **state)
{
	char spec[1024], want[1200], longval[300];
	size_t len = 0;

	(void)state;
	memset(longval, '1', 200);
	longval[200] = '\0';
	len = (size_t)snprintf(spec, sizeof(spec), "demo=sim,base=%s", longval);
	assert_true(len < sizeof(spec));
	snprintf(want, sizeof(want), "sensor 1 '%s': value of option 'base' is longer than "
		 "191 bytes", spec);
	expect_error(spec, want);
}

static void test_open_read_free(void **state)
{
	struct sensor_env env = { .sysfs_root = "/nonexistent", .dev_root = "/nonexistent",
				  .seed = 1 };
	struct sensor_reading r;
	struct sensor *s;
	size_t n;
	char err[512];

	(void)state;
	assert_int_equal(sensor_list_parse("a=sim b=sim,fail=1 c=dht22,line=4", &s, &n, err,
					   sizeof(err)), 0);
	assert_int_equal(sensor_list_open(s, n, &env, err, sizeof(err)), -1);
	assert_string_equal(err, "sensor 'c' (dht22): /nonexistent/gpiochip0: No such file or "
			    "directory");
	assert_true(s[0].is_open && s[1].is_open && !s[2].is_open);

	assert_int_equal(sensor_read(&s[0], &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(sensor_read(&s[1], &r, err, sizeof(err)), -EAGAIN);
	assert_string_equal(err, "simulated checksum error");
	assert_int_equal(r.n, 0);
	assert_int_equal(s[1].reads_failed, 1);
	assert_int_equal(s[1].reads_transient, 1);
	assert_int_equal(s[1].fails[SENSOR_FAIL_CHECKSUM], 1);
	assert_int_equal(sensor_read(&s[2], &r, err, sizeof(err)), -EBADF);
	sensor_list_free(s, n);         /* closes a and b (ASan would see a leak) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_open_read_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
