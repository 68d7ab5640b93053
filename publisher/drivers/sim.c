/*
 * sim.c - simulated sensor: plausible, deterministic readings for demos and
 * tests, so the whole pipeline can run on a laptop.
 *
 * Device:  none. Each reading is a function of (seed, sensor name, wall-clock
 *          time): the same SEED, name and millisecond give the same value,
 *          on every run and machine.
 * Model:   temperature = base + offset(name)
 *                        + amplitude * cos(2*pi * (hour - peak - phase(name)) / 24)
 *                        + noise (smooth, knots every 5 minutes, plus a
 *                          little per-second jitter),
 *          where hour is the UTC time of day; offset(name) lies within
 *          +-0.5 °C and phase(name) within +-30 minutes so two sim sensors
 *          differ. Humidity falls 2 %RH per °C above the mean (as air warms
 *          its relative humidity drops), plus its own noise, clamped 0..100.
 *          Optional pressure drifts +-3 hPa over about three days.
 * Output:  temperature_celsius, humidity_percent [, pressure_hectopascals],
 *          rounded to 0.1 like a DHT22.
 * Options: base=21 (°C, -50..100), amplitude=3 (°C, 0..30), humidity=50
 *          (%RH, 0..100), peak=15 (UTC hour of the daily maximum, 0..24),
 *          noise=0.2 (°C, 0..5), fail=0 (share of reads that return -EAGAIN,
 *          decided per second, 0..1), pressure=0 (mean hPa, 0 = no pressure
 *          field, else 300..1100).
 * Timing:  no minimum interval (fast demos may read every 100 ms).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "publisher/drivers/drivers.h"
#include "publisher/drivers/sim.h"

#define SIM_KNOT_MS (5 * 60 * 1000)
#define SIM_PRESSURE_PERIOD_MS (3LL * 24 * 3600 * 1000 + 7 * 3600 * 1000)

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* FNV-1a: spreads the sensor name over 64 bits before mixing with the seed. */
static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ULL;
	return h;
}

/* A value in [-1, 1) determined by (key, stream, k). */
static double unit_noise(uint64_t key, uint64_t stream, int64_t k)
{
	uint64_t h = mix64(key ^ mix64(stream ^ mix64((uint64_t)k)));

	return (double)(h >> 11) / (double)(1ULL << 52) - 1.0;
}

/* Smooth noise: cosine interpolation between knots every SIM_KNOT_MS. */
static double smooth_noise(uint64_t key, uint64_t stream, int64_t unix_ms)
{
	int64_t k = unix_ms >= 0 ? unix_ms / SIM_KNOT_MS : (unix_ms + 1) / SIM_KNOT_MS - 1;
	double frac = (double)(unix_ms - k * SIM_KNOT_MS) / SIM_KNOT_MS;
	double w = (1.0 - cos(M_PI * frac)) / 2.0;

	return unit_noise(key, stream, k) * (1.0 - w) + unit_noise(key, stream, k + 1) * w;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static double round1(double v)
{
	return round(v * 10.0) / 10.0;
}

void sim_compute(const struct sim_params *p, uint64_t seed, const char *name, int64_t unix_ms,
		 struct sim_value *out)
{
	uint64_t key = mix64(seed ^ name_hash(name));
	double offset = 0.5 * unit_noise(key, 1, 0);
	double phase_h = 0.5 * unit_noise(key, 2, 0);
	int64_t day_ms = unix_ms - floor_div(unix_ms, 86400000) * 86400000;
	double hour = (double)day_ms / 3600000.0;
	int64_t second = floor_div(unix_ms, 1000);
	double dev, t, h;

	dev = p->amplitude * cos(2.0 * M_PI * (hour - p->peak_hour - phase_h) / 24.0)
	      + p->noise * (0.8 * smooth_noise(key, 3, unix_ms) + 0.2 * unit_noise(key, 4, second));
	t = p->base + offset + dev;
	h = p->humidity - 2.0 * dev + 1.5 * smooth_noise(key, 5, unix_ms);
	if (h < 0.0)
		h = 0.0;
	if (h > 100.0)
		h = 100.0;

	out->temperature_celsius = round1(t);
	out->humidity_percent = round1(h);
	out->pressure_hectopascals = 0.0;
	if (p->pressure > 0.0) {
		int64_t in_period = unix_ms - floor_div(unix_ms, SIM_PRESSURE_PERIOD_MS) *
						      SIM_PRESSURE_PERIOD_MS;
		double x = (double)in_period / (double)SIM_PRESSURE_PERIOD_MS;

		out->pressure_hectopascals = round1(p->pressure + 3.0 * sin(2.0 * M_PI * x)
						    + 0.3 * smooth_noise(key, 6, unix_ms));
	}
	out->fail = p->fail > 0.0 && (unit_noise(key, 7, second) + 1.0) / 2.0 < p->fail;
}

int sim_params_parse(const struct sensor *s, struct sim_params *p, char *err, size_t errlen)
{
	int rc;

	if ((rc = sensor_opt_double(s, "base", 21.0, -50.0, 100.0, &p->base, err, errlen)) ||
	    (rc = sensor_opt_double(s, "amplitude", 3.0, 0.0, 30.0, &p->amplitude, err, errlen)) ||
	    (rc = sensor_opt_double(s, "humidity", 50.0, 0.0, 100.0, &p->humidity, err, errlen)) ||
	    (rc = sensor_opt_double(s, "peak", 15.0, 0.0, 24.0, &p->peak_hour, err, errlen)) ||
	    (rc = sensor_opt_double(s, "noise", 0.2, 0.0, 5.0, &p->noise, err, errlen)) ||
	    (rc = sensor_opt_double(s, "fail", 0.0, 0.0, 1.0, &p->fail, err, errlen)) ||
	    (rc = sensor_opt_double(s, "pressure", 0.0, 0.0, 1100.0, &p->pressure, err, errlen)))
		return rc;
	if (p->pressure != 0.0 && p->pressure < 300.0) {
		snprintf(err, errlen, "option 'pressure' must be 0 (none) or from 300 to 1100");
		return -EINVAL;
	}
	return 0;
}

struct sim_state {
	struct sim_params params;
	uint64_t seed;
};

static int sim_check(const struct sensor *s, char *err, size_t errlen)
{
	struct sim_params p;

	return sim_params_parse(s, &p, err, errlen);
}

static int sim_open(struct sensor *s, const struct sensor_env *env, char *err, size_t errlen)
{
	struct sim_state *st;
	int rc;

	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = sim_params_parse(s, &st->params, err, errlen);
	if (rc)
		goto err_free;
	st->seed = env ? env->seed : 0;
	s->priv = st;
	return 0;

err_free:
	free(st);
	return rc;
}

static int sim_read(struct sensor *s, struct sensor_reading *out, char *err, size_t errlen)
{
	struct sim_state *st = s->priv;
	struct sim_value v;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	sim_compute(&st->params, st->seed, s->name,
		    (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, &v);
	if (v.fail) {
		s->last_fail = SENSOR_FAIL_CHECKSUM;
		snprintf(err, errlen, "simulated checksum error");
		return -EAGAIN;
	}
	out->n = 0;
	out->f[out->n++] = (struct sensor_field){ "temperature_celsius", v.temperature_celsius };
	out->f[out->n++] = (struct sensor_field){ "humidity_percent", v.humidity_percent };
	if (st->params.pressure > 0.0)
		out->f[out->n++] = (struct sensor_field){ "pressure_hectopascals",
							  v.pressure_hectopascals };
	return 0;
}

static void sim_close(struct sensor *s)
{
	free(s->priv);
	s->priv = NULL;
}

static const char *const sim_opt_keys[] = {
	"base", "amplitude", "humidity", "peak", "noise", "fail", "pressure", NULL
};

const struct sensor_driver sensor_driver_sim = {
	.name = "sim",
	.help = "simulated readings: base=21 amplitude=3 humidity=50 peak=15 noise=0.2 "
		"fail=0 pressure=0",
	.min_interval_ms = 0,
	.min_retry_ms = 0,
	.open = sim_open,
	.read = sim_read,
	.close = sim_close,
	.check = sim_check,
	.opt_keys = sim_opt_keys,
};
