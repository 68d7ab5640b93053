/*
 * template.c - a driver skeleton to copy; compiled (so it keeps up with
 * sensor.h) but not in the registry, so never linked into a binary.
 *
 * Device:  what it is, how it is attached (bus, overlay, wiring).
 * Layout:  what the driver reads (files, frames, registers) and in what form.
 * Units:   what comes in, what goes out (field names carry the unit).
 * Options: key=value ... (which are required, defaults, ranges).
 * Timing:  the shortest interval the sensor allows, and after a failure.
 * Refs:    datasheets, kernel ABI documents.
 *
 * Adding a driver:
 *  1. copy this file to publisher/drivers/<name>.c, rename the symbols;
 *  2. keep decoding pure (bytes or timestamps in, values out) in a function
 *     a unit test can call; keep I/O thin; never print or log;
 *  3. declare the struct in drivers.h and add X(<name>) to SENSOR_DRIVERS in
 *     publisher/sensor.c (the order is the order --help lists them);
 *  4. write tests/unit/publisher/test_<name>.c (fixture trees for sysfs,
 *     a link seam for hardware, see test_dht.c);
 *  5. document the driver and its options in the README, and any new field
 *     name in docs/contract.md#payload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "publisher/sensor.h"

struct template_state {
	double offset;
};

/* Options only, no hardware: runs at parse time (--check-config). */
static int template_check(const struct sensor *s, char *err, size_t errlen)
{
	double offset;

	return sensor_opt_double(s, "offset", 0.0, -10.0, 10.0, &offset, err, errlen);
}

static int template_open(struct sensor *s, const struct sensor_env *env, char *err,
			 size_t errlen)
{
	struct template_state *st;
	int rc;

	(void)env;
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = sensor_opt_double(s, "offset", 0.0, -10.0, 10.0, &st->offset, err, errlen);
	if (rc)
		goto err_free;
	s->priv = st;
	return 0;

err_free:
	free(st);
	return rc;
}

/* On failure: set s->last_fail, a short reason in err, return -EAGAIN if a retry may help. */
static int template_read(struct sensor *s, struct sensor_reading *out, char *err,
			 size_t errlen)
{
	const struct template_state *st = s->priv;

	(void)err;
	(void)errlen;
	out->f[0].name = "temperature_celsius";
	out->f[0].value = 20.0 + st->offset;
	out->n = 1;
	return 0;
}

static void template_close(struct sensor *s)
{
	free(s->priv);
	s->priv = NULL;
}

static const char *const template_opt_keys[] = { "offset", NULL };

const struct sensor_driver sensor_driver_template = {
	.name = "template",
	.help = "skeleton: offset=0",
	.min_interval_ms = 1000,
	.min_retry_ms = 1000,
	.open = template_open,
	.read = template_read,
	.close = template_close,
	.check = template_check,
	.opt_keys = template_opt_keys,
};
