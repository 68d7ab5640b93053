/*
 * sysfs.h - small helpers for drivers that read kernel attributes (iio,
 * ds18b20): read one attribute, parse a number, and turn the errno of a
 * failed read into the driver's answer. No allocation; callers own buffers.
 */
#ifndef SW_SYSFS_H
#define SW_SYSFS_H

#include <stddef.h>

#include "publisher/sensor.h"

/*
 * Reads the attribute at path into buf (NUL-terminated, trailing newlines
 * and spaces removed). Returns 0, -errno of open/read, or -EOVERFLOW when it
 * does not fit in len - 1 bytes.
 */
int sysfs_read(const char *path, char *buf, size_t len);

/* Parses a whole decimal number ("21400", "-3", "0.001000"): 0 or -EINVAL. */
int sysfs_parse_double(const char *s, double *out);

/*
 * What a driver returns when reading an attribute failed with errnum (> 0),
 * and which failure kind to count. Kernel drivers report a transient sensor
 * problem through the read: IIO dht11 gives EIO (bad checksum or bits) and
 * ETIMEDOUT (no answer), w1_therm EIO (CRC); those, and EAGAIN, EBUSY,
 * EINTR and ENODATA, become -EAGAIN. A missing device (ENOENT, ENODEV, ENXIO)
 * becomes -ENODEV; anything else is returned as -errnum. Pure.
 */
int sysfs_errno_result(int errnum, enum sensor_fail *kind);

#endif
