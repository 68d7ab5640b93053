/*
 * sysfs.c - reading kernel attributes for the iio and ds18b20 drivers.
 *
 * One open/read/close per attribute, because sysfs produces the whole value
 * on the first read and some attributes (a DHT behind IIO, a DS18B20) start
 * a measurement on each open-and-read.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "publisher/drivers/sysfs.h"

int sysfs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, rc = 0;

	if (len < 2)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		rc = -errno;
		goto out_close;
	}
	if ((size_t)n == len - 1) {
		rc = -EOVERFLOW;
		goto out_close;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';

out_close:
	close(fd);
	return rc;
}

int sysfs_parse_double(const char *s, double *out)
{
	char *end;
	double d;

	while (*s == ' ' || *s == '\t')
		s++;
	errno = 0;
	d = strtod(s, &end);
	if (end == s || errno || !isfinite(d))
		return -EINVAL;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end)
		return -EINVAL;
	*out = d;
	return 0;
}

int sysfs_errno_result(int errnum, enum sensor_fail *kind)
{
	switch (errnum) {
	case EIO:
		*kind = SENSOR_FAIL_CHECKSUM;
		return -EAGAIN;
	case ETIMEDOUT:
	case ENODATA:
		*kind = SENSOR_FAIL_NO_RESPONSE;
		return -EAGAIN;
	case EAGAIN:
	case EBUSY:
	case EINTR:
		*kind = SENSOR_FAIL_IO;
		return -EAGAIN;
	case ENOENT:
	case ENODEV:
	case ENXIO:
		*kind = SENSOR_FAIL_IO;
		return -ENODEV;
	default:
		*kind = SENSOR_FAIL_IO;
		return errnum > 0 ? -errnum : -EIO;
	}
}
