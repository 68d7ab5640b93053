/*
 * ds18b20.c - Maxim DS18B20 (and other w1_therm family) temperature sensors
 * through the kernel's 1-Wire sysfs interface.
 *
 * Device:  1-Wire thermometer on a GPIO with the w1-gpio bus master
 *          (dtoverlay=w1-gpio[,gpiopin=4]) and the w1_therm slave driver.
 *          The kernel does the bus timing; reading starts a conversion and
 *          blocks for up to 750 ms (12-bit resolution).
 * Layout:  <sysfs_root>/bus/w1/devices/<id>/temperature: milli-°C as one
 *          integer (kernels >= 5.10); otherwise w1_slave, two lines:
 *              72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
 *              72 01 4b 46 7f ff 0e 10 57 t=23125
 *          the first ends in YES when the scratchpad CRC matched, the second
 *          carries t=<milli-°C>.
 * Units:   milli-°C in, temperature_celsius out.
 * Options: id=28-xxxxxxxxxxxx (required; family code, dash, 12 hex digits,
 *          lower case as in sysfs: 28 DS18B20, 10 DS18S20, 22 DS1822, 3b
 *          DS1825, 42 DS28EA00).
 * Errors:  CRC NO, an all-zero scratchpad, the 85 °C power-on value and
 *          values outside -55..125 °C are transient (-EAGAIN); EIO from the
 *          temperature file is a CRC failure (-EAGAIN).
 * Refs:    Maxim DS18B20 datasheet; Linux Documentation/w1/slaves/w1_therm.rst.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "publisher/drivers/drivers.h"
#include "publisher/drivers/ds18b20.h"
#include "publisher/drivers/sysfs.h"

#define DS18B20_MIN_MILLI (-55000)
#define DS18B20_MAX_MILLI 125000
#define DS18B20_POWER_ON_MILLI 85000

static int parse_milli(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || errno)
		return -EINVAL;
	while (*end == ' ' || *end == '\n')
		end++;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int ds18b20_parse_w1_slave(const char *text, long *milli, enum sensor_fail *kind)
{
	const char *nl = strchr(text, '\n'), *end1, *verdict, *t;
	bool all_zero = true;
	char *stop;
	long v;

	*kind = SENSOR_FAIL_IO;
	if (!nl)
		return -EIO;
	/* the first line's last word is the CRC verdict */
	end1 = nl;
	while (end1 > text && (end1[-1] == ' ' || end1[-1] == '\r'))
		end1--;
	verdict = end1;
	while (verdict > text && verdict[-1] != ' ')
		verdict--;
	if (end1 - verdict == 2 && !memcmp(verdict, "NO", 2)) {
		*kind = SENSOR_FAIL_CHECKSUM;
		return -EAGAIN;
	}
	if (end1 - verdict != 3 || memcmp(verdict, "YES", 3))
		return -EIO;
	/* "xx xx xx xx xx xx xx xx xx : crc=xx YES": a shorted bus reads zeros */
	for (const char *p = text; p < verdict && *p != ':'; p++)
		if (*p != '0' && *p != ' ')
			all_zero = false;
	if (all_zero) {
		*kind = SENSOR_FAIL_NO_RESPONSE;
		return -EAGAIN;
	}
	t = strstr(nl + 1, "t=");
	if (!t)
		return -EIO;
	errno = 0;
	v = strtol(t + 2, &stop, 10);
	if (stop == t + 2 || errno || (*stop && *stop != '\n' && *stop != ' '))
		return -EIO;
	*milli = v;
	*kind = SENSOR_FAIL_NONE;
	return 0;
}

int ds18b20_check_milli(long milli, enum sensor_fail *kind)
{
	if (milli == DS18B20_POWER_ON_MILLI || milli < DS18B20_MIN_MILLI ||
	    milli > DS18B20_MAX_MILLI) {
		*kind = SENSOR_FAIL_IMPLAUSIBLE;
		return -EAGAIN;
	}
	*kind = SENSOR_FAIL_NONE;
	return 0;
}

struct ds18b20_state {
	char dir[PATH_MAX];     /* <sysfs_root>/bus/w1/devices/<id> */
};

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int ds18b20_check(const struct sensor *s, char *err, size_t errlen)
{
	const char *id = sensor_opt(s, "id");
	bool ok;

	if (!id) {
		snprintf(err, errlen, "option 'id' is required (e.g. id=28-0000075b6b7e, "
			 "see /sys/bus/w1/devices)");
		return -EINVAL;
	}
	ok = strlen(id) == 15 && id[2] == '-';
	for (int i = 0; ok && i < 15; i++)
		ok = i == 2 || is_lower_hex(id[i]);
	if (!ok) {
		snprintf(err, errlen, "option 'id' must look like 28-0000075b6b7e (family, '-', "
			 "12 lower-case hex digits), not '%s'", id);
		return -EINVAL;
	}
	return 0;
}

static int ds18b20_open(struct sensor *s, const struct sensor_env *env, char *err,
			size_t errlen)
{
	const char *root = env && env->sysfs_root ? env->sysfs_root : "/sys";
	struct ds18b20_state *st;
	int rc;

	rc = ds18b20_check(s, err, errlen);
	if (rc)
		return rc;
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((size_t)snprintf(st->dir, sizeof(st->dir), "%s/bus/w1/devices/%s", root,
			     sensor_opt(s, "id")) >= sizeof(st->dir)) {
		snprintf(err, errlen, "sysfs root path too long");
		free(st);
		return -ENAMETOOLONG;
	}
	s->priv = st;
	return 0;
}

/* Reads one attribute of the device; sets err and s->last_fail on failure. */
static int ds18b20_attr(struct sensor *s, const char *attr, char *buf, size_t len, char *err,
			size_t errlen)
{
	const struct ds18b20_state *st = s->priv;
	char path[PATH_MAX];
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", st->dir, attr) >= sizeof(path))
		return -ENAMETOOLONG;
	rc = sysfs_read(path, buf, len);
	if (rc == -ENOENT)
		return rc;
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return sysfs_errno_result(-rc, &s->last_fail);
	}
	return 0;
}

static int ds18b20_read(struct sensor *s, struct sensor_reading *out, char *err, size_t errlen)
{
	const struct ds18b20_state *st = s->priv;
	char buf[256];
	struct stat sb;
	long milli;
	int rc;

	out->n = 0;
	if (stat(st->dir, &sb)) {
		snprintf(err, errlen, "no 1-Wire device %s (is dtoverlay=w1-gpio set, the sensor "
			 "wired and the id right?)", st->dir);
		s->last_fail = SENSOR_FAIL_IO;
		return -ENODEV;
	}
	rc = ds18b20_attr(s, "temperature", buf, sizeof(buf), err, errlen);
	if (!rc) {
		if (parse_milli(buf, &milli)) {
			snprintf(err, errlen, "%s/temperature: not a number: '%s'", st->dir, buf);
			s->last_fail = SENSOR_FAIL_IO;
			return -EIO;
		}
	} else if (rc == -ENOENT) {
		rc = ds18b20_attr(s, "w1_slave", buf, sizeof(buf), err, errlen);
		if (rc == -ENOENT) {
			snprintf(err, errlen, "%s has neither temperature nor w1_slave", st->dir);
			s->last_fail = SENSOR_FAIL_IO;
			return -ENODEV;
		}
		if (rc)
			return rc;
		rc = ds18b20_parse_w1_slave(buf, &milli, &s->last_fail);
		if (rc == -EAGAIN) {
			snprintf(err, errlen, "%s/w1_slave: %s", st->dir,
				 s->last_fail == SENSOR_FAIL_CHECKSUM ? "CRC mismatch"
								      : "no data (all zeros)");
			return rc;
		}
		if (rc) {
			snprintf(err, errlen, "%s/w1_slave: unexpected format", st->dir);
			return rc;
		}
	} else {
		return rc;
	}
	rc = ds18b20_check_milli(milli, &s->last_fail);
	if (rc) {
		if (milli == DS18B20_POWER_ON_MILLI)
			snprintf(err, errlen, "85 °C power-on value (conversion did not run)");
		else
			snprintf(err, errlen, "%ld milli-°C is outside -55..125 °C", milli);
		return rc;
	}
	out->f[0].name = "temperature_celsius";
	out->f[0].value = milli / 1000.0;
	out->n = 1;
	return 0;
}

static void ds18b20_close(struct sensor *s)
{
	free(s->priv);
	s->priv = NULL;
}

static const char *const ds18b20_opt_keys[] = { "id", NULL };

const struct sensor_driver sensor_driver_ds18b20 = {
	.name = "ds18b20",
	.help = "1-Wire sysfs thermometer: id=28-xxxxxxxxxxxx (required)",
	.min_interval_ms = 1000,
	.min_retry_ms = 1000,
	.open = ds18b20_open,
	.read = ds18b20_read,
	.close = ds18b20_close,
	.check = ds18b20_check,
	.opt_keys = ds18b20_opt_keys,
};
