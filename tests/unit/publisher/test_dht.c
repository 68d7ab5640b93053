/*
 * test_dht.c - the dht11/dht22/am2302 driver glue over a fake GPIO line.
 *
 * This file defines gpio_line_open/pulse_capture/close itself, so the linker
 * takes these instead of gpio_v1.o from libpublisher.a (a link seam): the
 * driver's options, start pulse per model, error kinds, messages and
 * counters are checked without hardware, and so is the policy for readings
 * that jump implausibly from the last one (dht_decode.h). The decoder has
 * its own tests.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "publisher/drivers/dht_decode.h"
#include "publisher/drivers/drivers.h"
#include "publisher/drivers/gpio.h"
#include "publisher/sensor.h"

/* --- the fake line ------------------------------------------------------- */

struct gpio_line {
	int dummy;
};

static struct {
	struct gpio_line line;
	char chip[256];
	const char *dev_root;
	unsigned offset, low_us;
	int open_rc, capture_rc;
	uint64_t ts[DHT_FULL_EDGES + 8];
	size_t n;
	int opened;
} fake;

int gpio_line_open(const char *dev_root, const char *chip, unsigned offset,
		   const char *consumer, struct gpio_line **out, char *err, size_t errlen)
{
	(void)consumer;
	fake.dev_root = dev_root;
	snprintf(fake.chip, sizeof(fake.chip), "%s", chip);
	fake.offset = offset;
	if (fake.open_rc) {
		snprintf(err, errlen, "/dev/%s: %s", chip, strerror(-fake.open_rc));
		return fake.open_rc;
	}
	fake.opened++;
	*out = &fake.line;
	return 0;
}

int gpio_line_pulse_capture(struct gpio_line *l, unsigned low_us, unsigned idle_us,
			    unsigned max_us, uint64_t *ts, size_t cap, size_t *n, char *err,
			    size_t errlen)
{
	assert_ptr_equal(l, &fake.line);
	assert_true(idle_us >= 200 && max_us >= 6000);
	fake.low_us = low_us;
	if (fake.capture_rc) {
		snprintf(err, errlen, "gpiochip0 line 4: cannot drive it: %s",
			 strerror(-fake.capture_rc));
		return fake.capture_rc;
	}
	assert_true(fake.n <= cap);
	memcpy(ts, fake.ts, fake.n * sizeof(*ts));
	*n = fake.n;
	return 0;
}

void gpio_line_close(struct gpio_line *l)
{
	if (l)
		fake.opened--;
}

/* A clean answer for bytes b at time t (ns), the first `lost` edges missed. */
static void answer_at(const uint8_t b[5], size_t lost, uint64_t t)
{
	uint64_t all[DHT_FULL_EDGES];
	size_t n = 0;

	all[n++] = t;
	all[n++] = t += 30000;
	all[n++] = t += 80000;
	all[n++] = t += 80000;
	for (int i = 0; i < 40; i++) {
		all[n++] = t += 50000;
		all[n++] = t += (b[i / 8] & (0x80 >> (i % 8))) ? 70000 : 27000;
	}
	all[n++] = t += 50000;
	fake.n = n - lost;
	memcpy(fake.ts, all + lost, fake.n * sizeof(uint64_t));
}

static void answer(const uint8_t b[5], size_t lost)
{
	answer_at(b, lost, 5000000000ULL);
}

/* DHT22 bytes for a reading in tenths, written from the datasheet */
static void dht22_bytes(int hum, int temp, uint8_t b[5])
{
	int t = temp < 0 ? -temp : temp;

	b[0] = (uint8_t)(hum >> 8);
	b[1] = (uint8_t)hum;
	b[2] = (uint8_t)((t >> 8) | (temp < 0 ? 0x80 : 0));
	b[3] = (uint8_t)t;
	b[4] = (uint8_t)(b[0] + b[1] + b[2] + b[3]);
}

/* --- tests ---------------------------------------------------------------- */

struct ctx {
	struct sensor s;
	struct sensor_env env;
	char err[256];
};

static int setup(void **state)
{
	static struct ctx c;

	memset(&c, 0, sizeof(c));
	memset(&fake, 0, sizeof(fake));
	c.env.dev_root = "/dev";
	*state = &c;
	return 0;
}

static int open_dht(struct ctx *c, const struct sensor_driver *drv, const char *line,
		    const char *chip)
{
	int rc;

	memset(&c->s, 0, sizeof(c->s));
	strcpy(c->s.name, "desk");
	c->s.drv = drv;
	if (line) {
		strcpy(c->s.opts[c->s.n_opts].key, "line");
		strcpy(c->s.opts[c->s.n_opts++].value, line);
	}
	if (chip) {
		strcpy(c->s.opts[c->s.n_opts].key, "chip");
		strcpy(c->s.opts[c->s.n_opts++].value, chip);
	}
	rc = drv->open(&c->s, &c->env, c->err, sizeof(c->err));
	c->s.is_open = rc == 0;
	return rc;
}

static void test_dht22_reading(void **state)
{
	struct ctx *c = *state;
	const uint8_t b[5] = { 0x02, 0x8c, 0x01, 0x5f, 0xee };
	struct sensor_reading r;

	assert_int_equal(open_dht(c, &sensor_driver_dht22, "4", NULL), 0);
	assert_string_equal(fake.chip, "gpiochip0");
	assert_int_equal(fake.offset, 4);
	answer(b, 3);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), 0);
	assert_int_equal(fake.low_us, 2000);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.f[0].name, "temperature_celsius");
	assert_true(r.f[0].value == 35.1);
	assert_string_equal(r.f[1].name, "humidity_percent");
	assert_true(r.f[1].value == 65.2);
	c->s.drv->close(&c->s);
	assert_int_equal(fake.opened, 0);
	assert_null(c->s.priv);
}

static void test_dht11_and_am2302(void **state)
{
	struct ctx *c = *state;
	const uint8_t b[5] = { 45, 0, 22, 0, 67 };
	struct sensor_reading r;

	assert_int_equal(open_dht(c, &sensor_driver_dht11, "17", "/dev/gpiochip4"), 0);
	assert_string_equal(fake.chip, "/dev/gpiochip4");
	answer(b, 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), 0);
	assert_int_equal(fake.low_us, 20000);       /* DHT11 wants >= 18 ms */
	assert_true(r.f[0].value == 22.0 && r.f[1].value == 45.0);
	c->s.drv->close(&c->s);

	assert_int_equal(sensor_driver_dht11.min_interval_ms, 1000);
	assert_int_equal(sensor_driver_dht11.min_retry_ms, 1000);
	assert_int_equal(sensor_driver_dht22.min_retry_ms, 2000);
	assert_int_equal(sensor_driver_am2302.min_interval_ms, 2000);

	/* am2302 is a DHT22: the DHT11 frame is implausible for it */
	assert_int_equal(open_dht(c, &sensor_driver_am2302, "4", NULL), 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EAGAIN);
	assert_int_equal(fake.low_us, 2000);
	assert_string_equal(c->err, "implausible value: 2d 00 16 00 (is it a DHT11?)");
	c->s.drv->close(&c->s);
}

static void test_failure_kinds(void **state)
{
	struct ctx *c = *state;
	uint8_t b[5] = { 0x01, 0xe0, 0x00, 0xd6, 0xb7 };
	const struct dht_stats *st;
	struct sensor_reading r;

	assert_int_equal(open_dht(c, &sensor_driver_dht22, "4", NULL), 0);

	fake.n = 0;
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EAGAIN);
	assert_string_equal(c->err, "no answer: 0 edges, need 82 to 85 (check wiring, power "
			    "and the pull-up resistor)");
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_NO_RESPONSE);

	answer(b, 0);
	fake.n = 60;                            /* the reader fell behind */
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EAGAIN);
	assert_string_equal(c->err, "incomplete answer: 60 edges, need 82 to 85 (edges lost: "
			    "the reader fell behind, or a loose contact)");
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_NO_RESPONSE);

	answer(b, 0);
	fake.ts[fake.n] = fake.ts[fake.n - 1] + 300000;        /* a glitch after the end */
	fake.ts[fake.n + 1] = fake.ts[fake.n] + 2000;
	fake.n += 2;
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EAGAIN);
	assert_string_equal(c->err, "too many edges: 87, an answer has at most 85 (glitches: "
			    "noise on the wire, a long cable, a weak pull-up)");
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_TIMING);

	answer(b, 1);
	fake.n -= 2;                            /* 1 first and 2 last edges lost */
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EAGAIN);
	assert_string_equal(c->err, "no frame start: 82 edges, so the first 3 were missed and "
			    "the pulse ending at edge 2 is the low of bit 0 (35-65 us), but it is "
			    "80.0 us (edges lost or added)");
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_TIMING);

	answer(b, 0);
	fake.ts[fake.n - 2] = fake.ts[fake.n - 3] + 49000;     /* bit 39 high: 49 µs */
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EAGAIN);
	assert_string_equal(c->err, "bad timing: a 49.0 us pulse ending at edge 84 of 85");
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_TIMING);

	b[4] ^= 0x10;
	answer(b, 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EAGAIN);
	assert_string_equal(c->err, "checksum mismatch: 01 e0 00 d6 sum to b7, sensor sent a7");
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_CHECKSUM);

	b[4] ^= 0x10;
	answer(b, 0);
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), 0);
	assert_true(r.f[0].value == 21.4 && r.f[1].value == 48.0);

	fake.capture_rc = -EBUSY;
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EBUSY);
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_IO);

	assert_int_equal(c->s.reads_ok, 1);
	assert_int_equal(c->s.reads_failed, 7);
	assert_int_equal(c->s.reads_transient, 6);
	assert_int_equal(c->s.fails[SENSOR_FAIL_NO_RESPONSE], 2);
	assert_int_equal(c->s.fails[SENSOR_FAIL_TIMING], 3);
	assert_int_equal(c->s.fails[SENSOR_FAIL_CHECKSUM], 1);
	assert_int_equal(c->s.fails[SENSOR_FAIL_IO], 1);

	/* the driver's own counters tell the timing kinds apart */
	st = dht_sensor_stats(&c->s);
	assert_non_null(st);
	assert_int_equal(st->decode[DHT_OK], 1);
	assert_int_equal(st->decode[DHT_ERR_TOO_FEW_EDGES], 2);
	assert_int_equal(st->decode[DHT_ERR_TOO_MANY_EDGES], 1);
	assert_int_equal(st->decode[DHT_ERR_FRAMING], 1);
	assert_int_equal(st->decode[DHT_ERR_TIMING], 1);
	assert_int_equal(st->decode[DHT_ERR_CHECKSUM], 1);
	assert_int_equal(st->decode[DHT_ERR_IMPLAUSIBLE], 0);
	c->s.drv->close(&c->s);
	assert_null(dht_sensor_stats(&c->s));
}

/* --- readings that jump ------------------------------------------------------- */

#define SEC 1000000000ULL

/* One read of a DHT22 answering hum/temp (tenths) at time at_s; read()'s rc. */
static int read_at(struct ctx *c, double at_s, int hum, int temp, struct sensor_reading *r)
{
	uint8_t b[5];

	dht22_bytes(hum, temp, b);
	answer_at(b, 2, (uint64_t)(at_s * (double)SEC));
	c->err[0] = '\0';
	return sensor_read(&c->s, r, c->err, sizeof(c->err));
}

static void assert_published(const struct sensor_reading *r, double temp, double hum)
{
	assert_int_equal(r->n, 2);
	assert_true(r->f[0].value == temp);
	assert_true(r->f[1].value == hum);
}

/* A real step (a sensor carried outdoors): held once, then published. */
static void test_jump_confirmed(void **state)
{
	struct ctx *c = *state;
	const struct dht_stats *st;
	struct sensor_reading r;

	assert_int_equal(open_dht(c, &sensor_driver_dht22, "4", NULL), 0);
	st = dht_sensor_stats(&c->s);
	assert_int_equal(read_at(c, 100, 480, 214, &r), 0);    /* the first: nothing to compare */
	assert_published(&r, 21.4, 48.0);
	assert_int_equal(read_at(c, 110, 470, 228, &r), 0);    /* +1.4 °C in 10 s */
	assert_published(&r, 22.8, 47.0);

	assert_int_equal(read_at(c, 112, 470, -12, &r), -EAGAIN);      /* -24 °C in 2 s */
	assert_int_equal(r.n, 0);
	assert_int_equal(c->s.last_fail, SENSOR_FAIL_IMPLAUSIBLE);
	assert_string_equal(c->err, "implausible jump: -1.2 C, 47.0 %RH 2.0 s after 22.8 C, "
			    "47.0 %RH; held until the next read confirms it");
	assert_int_equal(st->jumps_held, 1);

	/* the retry, min_retry_ms later, agrees with the held one: the step is real */
	assert_int_equal(read_at(c, 114, 475, -15, &r), 0);
	assert_published(&r, -1.5, 47.5);
	assert_int_equal(st->jumps_confirmed, 1);
	assert_int_equal(st->jumps_rejected, 0);
	/* and is the new reference */
	assert_int_equal(read_at(c, 124, 480, -20, &r), 0);
	assert_published(&r, -2.0, 48.0);

	/* humidity counts too: 48 -> 95 %RH in 2 s */
	assert_int_equal(read_at(c, 126, 950, -20, &r), -EAGAIN);
	assert_int_equal(read_at(c, 128, 940, -20, &r), 0);
	assert_published(&r, -2.0, 94.0);
	assert_int_equal(st->jumps_held, 2);
	assert_int_equal(st->jumps_confirmed, 2);
	assert_int_equal(c->s.reads_ok, 5);
	assert_int_equal(c->s.fails[SENSOR_FAIL_IMPLAUSIBLE], 2);
	c->s.drv->close(&c->s);
}

/* A corrupted frame that passed the checksum: held, contradicted, dropped. */
static void test_jump_rejected(void **state)
{
	struct ctx *c = *state;
	const struct dht_stats *st;
	struct sensor_reading r;

	assert_int_equal(open_dht(c, &sensor_driver_dht22, "4", NULL), 0);
	st = dht_sensor_stats(&c->s);
	assert_int_equal(read_at(c, 50, 480, 214, &r), 0);
	/* 21.4 -> 47.0 °C: bit 0 of byte 2 and of the checksum flipped, say */
	assert_int_equal(read_at(c, 60, 480, 470, &r), -EAGAIN);
	/* a failed read in between keeps it held */
	fake.n = 0;
	assert_int_equal(sensor_read(&c->s, &r, c->err, sizeof(c->err)), -EAGAIN);
	assert_int_equal(read_at(c, 64, 481, 215, &r), 0);
	assert_published(&r, 21.5, 48.1);
	assert_int_equal(st->jumps_held, 1);
	assert_int_equal(st->jumps_rejected, 1);
	assert_int_equal(st->jumps_confirmed, 0);

	/* two different jumps in a row: the second is held in place of the first */
	assert_int_equal(read_at(c, 74, 480, 500, &r), -EAGAIN);
	assert_int_equal(read_at(c, 76, 480, -300, &r), -EAGAIN);
	assert_int_equal(read_at(c, 78, 481, -298, &r), 0);
	assert_published(&r, -29.8, 48.1);
	assert_int_equal(st->jumps_held, 3);
	assert_int_equal(st->jumps_confirmed, 1);
	c->s.drv->close(&c->s);
}

/* Within the limits, or with no recent reading to compare with: published. */
static void test_jump_not_checked(void **state)
{
	struct ctx *c = *state;
	const struct dht_stats *st;
	struct sensor_reading r;

	assert_int_equal(open_dht(c, &sensor_driver_dht22, "4", NULL), 0);
	st = dht_sensor_stats(&c->s);
	assert_int_equal(read_at(c, 10, 480, 214, &r), 0);
	assert_int_equal(read_at(c, 12, 600, 270, &r), 0);     /* +5.6 °C, +12 %RH */
	assert_published(&r, 27.0, 60.0);
	/* the last reading is 5 minutes old (sensor unplugged): nothing to compare */
	assert_int_equal(read_at(c, 312, 300, -50, &r), 0);
	assert_published(&r, -5.0, 30.0);
	/* a held jump expires with its reference */
	assert_int_equal(read_at(c, 314, 300, 400, &r), -EAGAIN);
	assert_int_equal(read_at(c, 700, 300, 20, &r), 0);
	assert_published(&r, 2.0, 30.0);
	assert_int_equal(st->jumps_held, 1);
	assert_int_equal(st->jumps_confirmed + st->jumps_rejected, 0);
	c->s.drv->close(&c->s);
}

static void test_options_and_open_errors(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(open_dht(c, &sensor_driver_dht22, NULL, NULL), -EINVAL);
	assert_string_equal(c->err, "option 'line' is required (the GPIO line offset, on a "
			    "Raspberry Pi the BCM number, e.g. line=4)");
	assert_int_equal(open_dht(c, &sensor_driver_dht22, "GPIO4", NULL), -EINVAL);
	assert_string_equal(c->err, "option 'line' must be a whole number from 0 to 65535, "
			    "not 'GPIO4'");
	assert_int_equal(open_dht(c, &sensor_driver_dht22, "4", "dev/gpiochip0"), -EINVAL);
	assert_string_equal(c->err, "option 'chip' must be a name like gpiochip0 or an "
			    "absolute path, not 'dev/gpiochip0'");
	assert_int_equal(fake.opened, 0);

	fake.open_rc = -ENOENT;
	assert_int_equal(open_dht(c, &sensor_driver_dht22, "4", "gpiochip9"), -ENOENT);
	assert_string_equal(c->err, "/dev/gpiochip9: No such file or directory");
	assert_null(c->s.priv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_dht22_reading, setup),
		cmocka_unit_test_setup(test_dht11_and_am2302, setup),
		cmocka_unit_test_setup(test_failure_kinds, setup),
		cmocka_unit_test_setup(test_jump_confirmed, setup),
		cmocka_unit_test_setup(test_jump_rejected, setup),
		cmocka_unit_test_setup(test_jump_not_checked, setup),
		cmocka_unit_test_setup(test_options_and_open_errors, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
