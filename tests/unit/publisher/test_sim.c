/*
 * test_sim.c - the sim driver: same seed, name and time give the same
 * reading; values stay in range, follow the daily curve, differ by name and
 * seed; options are checked; the driver ops work end to end.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "publisher/drivers/drivers.h"
#include "publisher/drivers/sim.h"
#include "publisher/sensor.h"

#define DAY_MS (86400LL * 1000)
#define T0 1732276800000LL      /* 2024-11-22 12:00:00 UTC */

static void default_params(struct sim_params *p)
{
	struct sensor s = { .name = "x" };
	char err[128];

	assert_int_equal(sim_params_parse(&s, p, err, sizeof(err)), 0);
}

static bool is_tenth(double v)
{
	return fabs(v * 10.0 - round(v * 10.0)) < 1e-6;
}

static void test_deterministic(void **state)
{
	struct sim_params p;
	struct sim_value a, b;

	(void)state;
	default_params(&p);
	for (int64_t t = T0; t < T0 + DAY_MS; t += 7 * 60 * 1000 + 123) {
		sim_compute(&p, 42, "desk", t, &a);
		sim_compute(&p, 42, "desk", t, &b);
		assert_true(a.temperature_celsius == b.temperature_celsius);
		assert_true(a.humidity_percent == b.humidity_percent);
		assert_true(a.fail == b.fail);
	}
}

static void test_ranges_and_rounding(void **state)
{
	struct sim_params p;
	struct sim_value v;
	double tmin = 1e9, tmax = -1e9;

	(void)state;
	default_params(&p);
	for (int64_t t = T0 - 3 * DAY_MS; t < T0 + 3 * DAY_MS; t += 60 * 1000 + 7) {
		sim_compute(&p, 7, "room", t, &v);
		assert_true(v.temperature_celsius >= 21.0 - 3.0 - 0.5 - 0.2 - 0.05);
		assert_true(v.temperature_celsius <= 21.0 + 3.0 + 0.5 + 0.2 + 0.05);
		assert_true(v.humidity_percent >= 0.0 && v.humidity_percent <= 100.0);
		assert_true(is_tenth(v.temperature_celsius));
		assert_true(is_tenth(v.humidity_percent));
		assert_false(v.fail);
		assert_true(v.pressure_hectopascals == 0.0);
		tmin = fmin(tmin, v.temperature_celsius);
		tmax = fmax(tmax, v.temperature_celsius);
	}
	/* the daily swing is there */
	assert_true(tmax - tmin > 5.0);
}

static void test_daily_curve(void **state)
{
	struct sim_params p;
	struct sim_value noon, night;
	int64_t day = T0 - T0 % DAY_MS;

	(void)state;
	default_params(&p);
	p.noise = 0.0;
	/* peak at 15:00 UTC, trough at 03:00; humidity moves the other way */
	sim_compute(&p, 3, "a", day + 15 * 3600000LL, &noon);
	sim_compute(&p, 3, "a", day + 3 * 3600000LL, &night);
	assert_true(noon.temperature_celsius - night.temperature_celsius > 5.0);
	assert_true(noon.humidity_percent < night.humidity_percent);
}

static void test_name_and_seed_matter(void **state)
{
	struct sim_params p;
	struct sim_value a, b;
	int diff_name = 0, diff_seed = 0;

	(void)state;
	default_params(&p);
	for (int64_t t = T0; t < T0 + DAY_MS; t += 3600000) {
		sim_compute(&p, 1, "desk", t, &a);
		sim_compute(&p, 1, "attic", t, &b);
		diff_name += a.temperature_celsius != b.temperature_celsius;
		sim_compute(&p, 2, "desk", t, &b);
		diff_seed += a.temperature_celsius != b.temperature_celsius;
	}
	assert_true(diff_name > 12);
	assert_true(diff_seed > 12);
}

static void test_fail_and_pressure(void **state)
{
	struct sim_params p;
	struct sim_value v;
	int fails = 0, n = 0;

	(void)state;
	default_params(&p);
	p.fail = 0.25;
	p.pressure = 1013.0;
	for (int64_t t = T0; t < T0 + 4000 * 1000LL; t += 1000, n++) {
		sim_compute(&p, 9, "baro", t, &v);
		fails += v.fail;
		assert_true(v.pressure_hectopascals > 1013.0 - 3.5 &&
			    v.pressure_hectopascals < 1013.0 + 3.5);
		assert_true(is_tenth(v.pressure_hectopascals));
	}
	assert_true(fails > n / 5 && fails < n * 3 / 10);
}

static void test_options(void **state)
{
	struct sensor s = { .name = "x", .n_opts = 2,
			    .opts = { { "base", "18.5" }, { "amplitude", "0" } } };
	struct sim_params p;
	char err[128];

	(void)state;
	assert_int_equal(sim_params_parse(&s, &p, err, sizeof(err)), 0);
	assert_true(p.base == 18.5 && p.amplitude == 0.0 && p.humidity == 50.0);

	strcpy(s.opts[1].value, "lots");
	assert_int_equal(sim_params_parse(&s, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option 'amplitude' must be a number from 0 to 30, not 'lots'");

	strcpy(s.opts[1].key, "pressure");
	strcpy(s.opts[1].value, "12");
	assert_int_equal(sim_params_parse(&s, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option 'pressure' must be 0 (none) or from 300 to 1100");
}

static void test_driver_ops(void **state)
{
	struct sensor s = { .name = "demo", .drv = &sensor_driver_sim, .n_opts = 1,
			    .opts = { { "pressure", "1000" } } };
	struct sensor_env env = { .seed = 5 };
	struct sensor_reading r;
	char err[128];

	(void)state;
	assert_int_equal(s.drv->open(&s, &env, err, sizeof(err)), 0);
	s.is_open = true;
	assert_int_equal(sensor_read(&s, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.f[0].name, "temperature_celsius");
	assert_string_equal(r.f[1].name, "humidity_percent");
	assert_string_equal(r.f[2].name, "pressure_hectopascals");
	assert_int_equal(s.reads_ok, 1);
	assert_int_equal(sensor_driver_sim.min_interval_ms, 0);
	s.drv->close(&s);
	assert_null(s.priv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_ranges_and_rounding),
		cmocka_unit_test(test_daily_curve),
		cmocka_unit_test(test_name_and_seed_matter),
		cmocka_unit_test(test_fail_and_pressure),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_driver_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
