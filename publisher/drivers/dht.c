/*
 * dht.c - DHT11 and DHT22/AM2302 humidity and temperature sensors on a GPIO
 * line, through the GPIO character device (no kernel driver needed).
 *
 * Device:  Aosong DHT11 / DHT22 (AM2302): one data wire with a pull-up
 *          (4.7-10 kOhm to 3.3 V; most breakout boards have one).
 * Protocol: the host pulls the line low (DHT11 >= 18 ms, DHT22 >= 1 ms; we
 *          use 20 ms and 2 ms), releases it, and the sensor answers with 80
 *          µs low, 80 µs high and 40 bits (see dht_decode.c for the layout).
 *          gpio_v1.c sleeps through the start pulse and records the kernel's
 *          edge timestamps; dht_decode() turns them into a reading, so no
 *          timing depends on this process being scheduled on time.
 * Units:   temperature_celsius, humidity_percent (0.1 resolution on DHT22).
 * Options: chip=gpiochip0 (a name under /dev or a path), line=<offset>
 *          (required; on a Raspberry Pi the BCM GPIO number).
 * Timing:  the sensor needs 1 s (DHT11) / 2 s (DHT22) between reads, also
 *          after a failed one: min_interval_ms = min_retry_ms.
 * Errors:  every failed read is -EAGAIN with last_fail saying which kind:
 *          no_response (too few edges), timing, checksum, implausible.
 *          GPIO errors (no chip, line busy) are returned as they are.
 * Refs:    Aosong DHT11 and AM2302 datasheets; Linux
 *          drivers/iio/humidity/dht11.c (ideas only); libgpiod 1.6 API.
 */
#include <errno.h>
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

struct dht_state {
	enum dht_model model;
	unsigned start_us;
	struct gpio_line *line;
	uint64_t ts[DHT_CAPTURE_MAX];
};

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
		snprintf(err, errlen, "no answer: %zu edges, need %d (check wiring, power and "
			 "the pull-up resistor)", n, DHT_MIN_EDGES);
		break;
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

static int dht_read(struct sensor *s, struct sensor_reading *out, char *err, size_t errlen)
{
	struct dht_state *st = s->priv;
	struct dht_reading r;
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
	if (res != DHT_OK) {
		dht_explain(s, res, &r, n, err, errlen);
		return -EAGAIN;
	}
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
