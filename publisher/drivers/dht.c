/*
 * dht.c - DHT11 and DHT22/AM2302 humidity and temperature sensors on a GPIO
 * line, through the GPIO character device (no kernel driver needed).
 *
 * Device:  Aosong DHT11 / DHT22 (AM2302): one data wire with a pull-up
 *          (4.7-10 kOhm to 3.3 V; most breakout boards have one).
 * Protocol: the host pulls the line low (DHT11 >= 18 ms, DHT22 >= 1 ms; we
 *          use 20 ms and 2 ms), releases it, and the sensor answers with 80
 *          µs low, 80 µs high and 40 bits (see dht_decode.c for the layout).
 *          the GPIO backend (gpio.h) sleeps through the start pulse and records the kernel's
 *          edge timestamps; dht_decode() turns them into a reading, so no
 *          timing depends on this process being scheduled on time.
 * Units:   temperature_celsius, humidity_percent (0.1 resolution on DHT22).
 * Options: chip=gpiochip0 (a name under /dev or a path), line=<offset>
 *          (required; on a Raspberry Pi the BCM GPIO number).
 * Timing:  the sensor needs 1 s (DHT11) / 2 s (DHT22) between reads, also
 *          after a failed one: min_interval_ms = min_retry_ms.
 * Errors:  every failed read is -EAGAIN with last_fail saying which kind:
 *          no_response (too few edges), timing (too many edges, no frame
 *          start where the edge count puts it, a bit pulse out of its
 *          window), checksum, implausible (out of range, or a jump held
 *          for confirmation). The message names the finer kind; struct
 *          dht_stats (dht_decode.h) counts every decoder result and jump.
 *          GPIO errors (no chip, line busy) are returned as they are.
 * Jumps:   a reading that is valid but jumps from the last published one
 *          is held until the next read confirms or contradicts it; the
 *          policy and its limits are in dht_decode.h (DHT_JUMP_*). Times
 *          are the kernel's edge timestamps (monotonic), not a read of our
 *          own clock, so the unit test controls them.
 * Refs:    Aosong DHT11 and AM2302 datasheets; Linux
 *          drivers/iio/humidity/dht11.c (ideas only); libgpiod 1.6 and 2.x APIs (gpio_v1.c, gpio_v2.c).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publisher/drivers/dht_decode.h"
#include "publisher/drivers/drivers.h"
#include "publisher/drivers/gpio.h"

#define DHT_CONSUMER "sensorwire"
#define DHT_CAPTURE_MAX 128     /* a full answer is 85 edges */
#define DHT_IDLE_US 1000        /* the longest pulse is 80 µs: 1 ms quiet = done */
#define DHT_MAX_US 20000        /* a full answer takes under 6 ms */
#define DHT_LINE_MAX 65535
#define DHT_JUMP_WINDOW_NS ((uint64_t)DHT_JUMP_WINDOW_S * 1000000000ULL)

/* One reading and when it was taken (the kernel's time of its last edge). */
struct dht_value {
	bool set;
	double temp, hum;
	uint64_t at_ns;
};

struct dht_state {
	enum dht_model model;
	unsigned start_us;
	struct gpio_line *line;
	struct dht_value last;          /* the last published reading */
	struct dht_value held;          /* a jump waiting for confirmation */
	struct dht_stats stats;
	uint64_t ts[DHT_CAPTURE_MAX];
};

const struct dht_stats *dht_sensor_stats(const struct sensor *s)
{
	const struct dht_state *st = s->priv;

	if (!st || (s->drv != &sensor_driver_dht11 && s->drv != &sensor_driver_dht22 &&
		    s->drv != &sensor_driver_am2302))
		return NULL;
	return &st->stats;
}

static int dht_check(const struct sensor *s, char *err, size_t errlen)
{
	const char *chip = sensor_opt(s, "chip");
	unsigned line;
	int rc;

	rc = sensor_opt_uint(s, "line", 0, DHT_LINE_MAX, true, &line, err, errlen);
	if (rc) {
		if (!sensor_opt(s, "line"))
			snprintf(err, errlen, "option 'line' is required (the GPIO line offset, "
				 "on a Raspberry Pi the BCM number, e.g. line=4)");
		return rc;
	}
	if (chip && !strchr(chip, '/') && (!strcmp(chip, ".") || !strcmp(chip, ".."))) {
		snprintf(err, errlen, "option 'chip' must be a name like gpiochip0 or a path, "
			 "not '%s'", chip);
		return -EINVAL;
	}
	if (chip && strchr(chip, '/') && chip[0] != '/') {
		snprintf(err, errlen, "option 'chip' must be a name like gpiochip0 or an "
			 "absolute path, not '%s'", chip);
		return -EINVAL;
	}
	return 0;
}

static int dht_open(struct sensor *s, const struct sensor_env *env, char *err, size_t errlen)
{
	const char *chip = sensor_opt(s, "chip");
	struct dht_state *st;
	unsigned line;
	int rc;

	rc = dht_check(s, err, errlen);
	if (rc)
		return rc;
	sensor_opt_uint(s, "line", 0, DHT_LINE_MAX, true, &line, err, errlen);
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	st->model = s->drv == &sensor_driver_dht11 ? DHT_MODEL_DHT11 : DHT_MODEL_DHT22;
	st->start_us = st->model == DHT_MODEL_DHT11 ? 20000 : 2000;
	rc = gpio_line_open(env ? env->dev_root : NULL, chip ? chip : "gpiochip0", line,
			    DHT_CONSUMER, &st->line, err, errlen);
	if (rc) {
		free(st);
		return rc;
	}
	s->priv = st;
	return 0;
}

/* Message and failure kind for a frame the decoder refused. */
static void dht_explain(struct sensor *s, enum dht_result res, const struct dht_reading *r,
			size_t n, char *err, size_t errlen)
{
	const uint8_t *b = r->bytes;

	switch (res) {
	case DHT_ERR_TOO_FEW_EDGES:
		s->last_fail = SENSOR_FAIL_NO_RESPONSE;
		if (!n)
			snprintf(err, errlen, "no answer: 0 edges, need %d to %d (check wiring, "
				 "power and the pull-up resistor)", DHT_MIN_EDGES, DHT_FULL_EDGES);
		else
			snprintf(err, errlen, "incomplete answer: %zu edges, need %d to %d (edges "
				 "lost: the reader fell behind, or a loose contact)", n,
				 DHT_MIN_EDGES, DHT_FULL_EDGES);
		break;
	case DHT_ERR_TOO_MANY_EDGES:
		s->last_fail = SENSOR_FAIL_TIMING;
		snprintf(err, errlen, "too many edges: %zu, an answer has at most %d (glitches: "
			 "noise on the wire, a long cable, a weak pull-up)", n, DHT_FULL_EDGES);
		break;
	case DHT_ERR_FRAMING: {
		static const struct {
			const char *name;
			int min_us, max_us;
		} slot[] = {
			{ "?", 0, 0 },
			{ "gap before the answer", DHT_GO_MIN_US, DHT_GO_MAX_US },
			{ "response low", DHT_RESPONSE_MIN_US, DHT_RESPONSE_MAX_US },
			{ "response high", DHT_RESPONSE_MIN_US, DHT_RESPONSE_MAX_US },
			{ "low of bit 0", DHT_LOW_MIN_US, DHT_LOW_MAX_US },
		};
		size_t e = r->bad_edge + r->lost;

		if (e >= sizeof(slot) / sizeof(slot[0]))
			e = 0;
		s->last_fail = SENSOR_FAIL_TIMING;
		snprintf(err, errlen, "no frame start: %zu edges, so the first %zu were missed and "
			 "the pulse ending at edge %zu is the %s (%d-%d us), but it is %.1f us "
			 "(edges lost or added)", n, r->lost, r->bad_edge + 1, slot[e].name,
			 slot[e].min_us, slot[e].max_us, (double)r->bad_pulse_ns / 1000.0);
		break;
	}
	case DHT_ERR_TIMING:
		s->last_fail = SENSOR_FAIL_TIMING;
		snprintf(err, errlen, "bad timing: a %.1f us pulse ending at edge %zu of %zu",
			 (double)r->bad_pulse_ns / 1000.0, r->bad_edge + 1, n);
		break;
	case DHT_ERR_CHECKSUM:
		s->last_fail = SENSOR_FAIL_CHECKSUM;
		snprintf(err, errlen, "checksum mismatch: %02x %02x %02x %02x sum to %02x, "
			 "sensor sent %02x", b[0], b[1], b[2], b[3],
			 (uint8_t)(b[0] + b[1] + b[2] + b[3]), b[4]);
		break;
	default:
		s->last_fail = SENSOR_FAIL_IMPLAUSIBLE;
		snprintf(err, errlen, "implausible value: %02x %02x %02x %02x (is it a %s?)",
			 b[0], b[1], b[2], b[3], s->drv == &sensor_driver_dht11 ? "DHT22" : "DHT11");
		break;
	}
}

/* ref was taken at most DHT_JUMP_WINDOW_S before now */
static bool recent(const struct dht_value *ref, uint64_t now)
{
	return ref->set && now >= ref->at_ns && now - ref->at_ns <= DHT_JUMP_WINDOW_NS;
}

static bool near(const struct dht_value *ref, const struct dht_value *v)
{
	return fabs(v->temp - ref->temp) <= DHT_JUMP_TEMP_C &&
	       fabs(v->hum - ref->hum) <= DHT_JUMP_HUM_PCT;
}

/*
 * The jump policy (dht_decode.h): true if v may be published now, false
 * if it is held (err says so).
 */
static bool dht_plausible(struct sensor *s, struct dht_state *st, const struct dht_value *v,
			  char *err, size_t errlen)
{
	bool held = recent(&st->held, v->at_ns);
	bool jump = recent(&st->last, v->at_ns) && !near(&st->last, v);

	if (jump && !(held && near(&st->held, v))) {
		st->held = *v;
		st->stats.jumps_held++;
		s->last_fail = SENSOR_FAIL_IMPLAUSIBLE;
		snprintf(err, errlen, "implausible jump: %.1f C, %.1f %%RH %.1f s after %.1f C, "
			 "%.1f %%RH; held until the next read confirms it", v->temp, v->hum,
			 (double)(v->at_ns - st->last.at_ns) / 1e9, st->last.temp, st->last.hum);
		return false;
	}
	if (held && near(&st->held, v))
		st->stats.jumps_confirmed++;
	else if (held)
		st->stats.jumps_rejected++;
	st->held.set = false;
	return true;
}

static int dht_read(struct sensor *s, struct sensor_reading *out, char *err, size_t errlen)
{
	struct dht_state *st = s->priv;
	struct dht_reading r;
	struct dht_value v;
	enum dht_result res;
	size_t n = 0;
	int rc;

	out->n = 0;
	rc = gpio_line_pulse_capture(st->line, st->start_us, DHT_IDLE_US, DHT_MAX_US, st->ts,
				     DHT_CAPTURE_MAX, &n, err, errlen);
	if (rc) {
		s->last_fail = SENSOR_FAIL_IO;
		return rc;
	}
	res = dht_decode(st->model, st->ts, n, &r);
	st->stats.decode[res]++;
	if (res != DHT_OK) {
		dht_explain(s, res, &r, n, err, errlen);
		return -EAGAIN;
	}
	v.set = true;
	v.temp = r.temperature_celsius;
	v.hum = r.humidity_percent;
	v.at_ns = st->ts[n - 1];
	if (!dht_plausible(s, st, &v, err, errlen))
		return -EAGAIN;
	st->last = v;
	out->f[0].name = "temperature_celsius";
	out->f[0].value = r.temperature_celsius;
	out->f[1].name = "humidity_percent";
	out->f[1].value = r.humidity_percent;
	out->n = 2;
	return 0;
}

static void dht_close(struct sensor *s)
{
	struct dht_state *st = s->priv;

	if (st)
		gpio_line_close(st->line);
	free(st);
	s->priv = NULL;
}

static const char *const dht_opt_keys[] = { "chip", "line", NULL };

const struct sensor_driver sensor_driver_dht11 = {
	.name = "dht11",
	.help = "DHT11 on a GPIO line via libgpiod: line=<offset> (required), chip=gpiochip0",
	.min_interval_ms = 1000,
	.min_retry_ms = 1000,
	.open = dht_open,
	.read = dht_read,
	.close = dht_close,
	.check = dht_check,
	.opt_keys = dht_opt_keys,
};

const struct sensor_driver sensor_driver_dht22 = {
	.name = "dht22",
	.help = "DHT22 on a GPIO line via libgpiod: line=<offset> (required), chip=gpiochip0",
	.min_interval_ms = 2000,
	.min_retry_ms = 2000,
	.open = dht_open,
	.read = dht_read,
	.close = dht_close,
	.check = dht_check,
	.opt_keys = dht_opt_keys,
};

/* AM2302 is the DHT22 in a wired case. */
const struct sensor_driver sensor_driver_am2302 = {
	.name = "am2302",
	.help = "AM2302 (= DHT22) on a GPIO line via libgpiod: line=<offset> (required), "
		"chip=gpiochip0",
	.min_interval_ms = 2000,
	.min_retry_ms = 2000,
	.open = dht_open,
	.read = dht_read,
	.close = dht_close,
	.check = dht_check,
	.opt_keys = dht_opt_keys,
};
