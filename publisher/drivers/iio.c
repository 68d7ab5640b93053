/*
 * iio.c - sensors behind the Linux Industrial I/O subsystem, read from sysfs.
 *
 * Device:  any IIO device with temperature, relative humidity or pressure
 *          channels: the kernel's own DHT11/DHT22 driver
 *          (dtoverlay=dht11,gpiopin=N; it times the pulses in the kernel, so
 *          no GPIO privileges are needed), BME280/BMP280, SHT3x, HTU21 ...
 * Layout:  <sysfs_root>/bus/iio/devices/<device>/ with, per channel,
 *          in_<ch>_input (processed), or in_<ch>_raw with optional
 *          in_<ch>_scale (default 1) and in_<ch>_offset (default 0), where
 *          processed = (raw + offset) * scale.
 * Units:   IIO ABI (Documentation/ABI/testing/sysfs-bus-iio): temp in milli
 *          °C, humidityrelative in milli %RH, pressure in kPa. Published as
 *          temperature_celsius (/1000), humidity_percent (/1000) and
 *          pressure_hectopascals (x10). Channels that are absent are skipped.
 * Options: device=iio:device0, or name=<the device's name attribute> (e.g.
 *          name=dht11, stable across reboots while device numbers are not);
 *          exactly one of them. The device is looked up on every read, so a
 *          sensor that appears late or is re-probed is found.
 * Errors:  the kernel DHT driver fails a read with EIO (checksum) or
 *          ETIMEDOUT (no answer): -EAGAIN, see sysfs_errno_result().
 * Timing:  the kernel DHT driver keeps a reading for 2 s and a failed DHT22
 *          read should not be repeated sooner, hence min_retry_ms 2000.
 * Refs:    Documentation/ABI/testing/sysfs-bus-iio,
 *          drivers/iio/humidity/dht11.c (Linux).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "publisher/drivers/drivers.h"
#include "publisher/drivers/sysfs.h"

struct iio_channel {
	const char *ch;         /* in_<ch>_input */
	const char *field;
	double mul, div;        /* IIO unit -> field unit */
};

static const struct iio_channel iio_channels[] = {
	{ "temp", "temperature_celsius", 1.0, 1000.0 },
	{ "humidityrelative", "humidity_percent", 1.0, 1000.0 },
	{ "pressure", "pressure_hectopascals", 10.0, 1.0 },
};

struct iio_state {
	char devices[PATH_MAX];         /* <sysfs_root>/bus/iio/devices */
	const char *device;             /* option value, or NULL */
	const char *name;               /* option value, or NULL */
};

static bool iio_dirname_ok(const char *s)
{
	return *s && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/');
}

static int iio_check(const struct sensor *s, char *err, size_t errlen)
{
	const char *device = sensor_opt(s, "device"), *name = sensor_opt(s, "name");

	if (!device == !name) {
		snprintf(err, errlen, "give either option 'device' (e.g. iio:device0) or "
			 "option 'name' (e.g. dht11)%s", device ? ", not both" : "");
		return -EINVAL;
	}
	if (device && !iio_dirname_ok(device)) {
		snprintf(err, errlen, "option 'device' must be a name in /sys/bus/iio/devices, "
			 "not '%s'", device);
		return -EINVAL;
	}
	return 0;
}

static int iio_open(struct sensor *s, const struct sensor_env *env, char *err, size_t errlen)
{
	const char *root = env && env->sysfs_root ? env->sysfs_root : "/sys";
	struct iio_state *st;
	int rc;

	rc = iio_check(s, err, errlen);
	if (rc)
		return rc;
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((size_t)snprintf(st->devices, sizeof(st->devices), "%s/bus/iio/devices", root) >=
	    sizeof(st->devices)) {
		snprintf(err, errlen, "sysfs root path too long");
		free(st);
		return -ENAMETOOLONG;
	}
	st->device = sensor_opt(s, "device");
	st->name = sensor_opt(s, "name");
	s->priv = st;
	return 0;
}

/* Finds the device directory (by name: the first match in version order). */
static int iio_find(const struct iio_state *st, char *dir, size_t dirlen, char *err,
		    size_t errlen)
{
	struct dirent **list = NULL;
	char path[PATH_MAX], val[128];
	int n, rc = -ENODEV;

	if (st->device) {
		if ((size_t)snprintf(dir, dirlen, "%s/%s", st->devices, st->device) >= dirlen)
			return -ENAMETOOLONG;
		return 0;
	}
	n = scandir(st->devices, &list, NULL, versionsort);
	if (n < 0) {
		snprintf(err, errlen, "no IIO devices: %s: %s", st->devices, strerror(errno));
		return -ENODEV;
	}
	for (int i = 0; i < n; i++) {
		if (rc && list[i]->d_name[0] != '.' &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s/name", st->devices,
				     list[i]->d_name) < sizeof(path) &&
		    !sysfs_read(path, val, sizeof(val)) && !strcmp(val, st->name) &&
		    (size_t)snprintf(dir, dirlen, "%s/%s", st->devices, list[i]->d_name) <
			    dirlen)
			rc = 0;
		free(list[i]);
	}
	free(list);
	if (rc)
		snprintf(err, errlen, "no IIO device named '%s' in %s", st->name, st->devices);
	return rc;
}

/*
 * Reads in_<ch>_<attr> into *v. Returns 0, 1 when the attribute does not
 * exist, or the driver's error (with err and s->last_fail set).
 */
static int iio_attr(struct sensor *s, const char *dir, const char *ch, const char *attr,
		    double *v, char *err, size_t errlen)
{
	char path[PATH_MAX], buf[64];
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/in_%s_%s", dir, ch, attr) >= sizeof(path))
		return -ENAMETOOLONG;
	rc = sysfs_read(path, buf, sizeof(buf));
	if (rc == -ENOENT)
		return 1;
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return sysfs_errno_result(-rc, &s->last_fail);
	}
	if (sysfs_parse_double(buf, v)) {
		snprintf(err, errlen, "%s: not a number: '%s'", path, buf);
		s->last_fail = SENSOR_FAIL_IO;
		return -EIO;
	}
	return 0;
}

/* One channel: 0 with *v in IIO units, 1 if the device lacks it, or error. */
static int iio_channel_read(struct sensor *s, const char *dir, const char *ch, double *v,
			    char *err, size_t errlen)
{
	double raw, scale = 1.0, offset = 0.0;
	int rc;

	rc = iio_attr(s, dir, ch, "input", v, err, errlen);
	if (rc != 1)
		return rc;
	rc = iio_attr(s, dir, ch, "raw", &raw, err, errlen);
	if (rc)
		return rc;
	rc = iio_attr(s, dir, ch, "scale", &scale, err, errlen);
	if (rc < 0)
		return rc;
	rc = iio_attr(s, dir, ch, "offset", &offset, err, errlen);
	if (rc < 0)
		return rc;
	*v = (raw + offset) * scale;
	return 0;
}

static int iio_read(struct sensor *s, struct sensor_reading *out, char *err, size_t errlen)
{
	const struct iio_state *st = s->priv;
	char dir[PATH_MAX];
	int rc;

	out->n = 0;
	rc = iio_find(st, dir, sizeof(dir), err, errlen);
	if (rc) {
		s->last_fail = SENSOR_FAIL_IO;
		return rc;
	}
	for (size_t i = 0; i < sizeof(iio_channels) / sizeof(iio_channels[0]); i++) {
		const struct iio_channel *c = &iio_channels[i];
		double v;

		rc = iio_channel_read(s, dir, c->ch, &v, err, errlen);
		if (rc == 1)
			continue;
		if (rc)
			return rc;
		out->f[out->n].name = c->field;
		out->f[out->n].value = v * c->mul / c->div;
		out->n++;
	}
	if (!out->n) {
		if (access(dir, F_OK))
			snprintf(err, errlen, "no IIO device %s", dir);
		else
			snprintf(err, errlen, "%s has no in_temp, in_humidityrelative or "
				 "in_pressure channel", dir);
		s->last_fail = SENSOR_FAIL_IO;
		return -ENODEV;
	}
	return 0;
}

static void iio_close(struct sensor *s)
{
	free(s->priv);
	s->priv = NULL;
}

static const char *const iio_opt_keys[] = { "device", "name", NULL };

const struct sensor_driver sensor_driver_iio = {
	.name = "iio",
	.help = "Linux IIO sysfs (kernel dht11 overlay, BME280 ...): device=iio:device0 "
		"or name=<IIO name>",
	.min_interval_ms = 1000,
	.min_retry_ms = 2000,
	.open = iio_open,
	.read = iio_read,
	.close = iio_close,
	.check = iio_check,
	.opt_keys = iio_opt_keys,
};
