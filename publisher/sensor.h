/*
 * sensor.h - what a sensor driver provides, and the one narrow header a
 * driver includes. One const struct sensor_driver per driver file under
 * publisher/drivers/, listed once in the registry (sensor.c).
 *
 * Drivers never print or log: they return a negative errno and put a short
 * reason in err. -EAGAIN means "transient, retry no sooner than
 * min_retry_ms" (DHT checksum error, IIO EIO/ETIMEDOUT).
 */
#ifndef SW_SENSOR_H
#define SW_SENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SENSOR_MAX_FIELDS 4
#define SENSOR_MAX_OPTS 8
#define SENSOR_NAME_MAX 64

/* One measured quantity; name carries the unit (temperature_celsius). */
struct sensor_field {
	const char *name;           /* static string */
	double value;
};

struct sensor_reading {
	size_t n;
	struct sensor_field f[SENSOR_MAX_FIELDS];
};

struct sensor_opt {
	char key[32];
	char value[192];
};

/* Process-wide settings a driver may need. */
struct sensor_env {
	const char *sysfs_root;     /* "/sys" normally; fixture trees in tests */
	const char *dev_root;       /* "/dev" normally (gpiochip lookup) */
	uint64_t seed;              /* for sim */
};

struct sensor;

/*
 * Why a read failed, so the caller can count each kind on its own (a DHT
 * with a flaky wire shows timing errors, a bad model choice shows
 * implausible values). A driver's read() sets s->last_fail on failure.
 */
enum sensor_fail {
	SENSOR_FAIL_NONE = 0,
	SENSOR_FAIL_IO,             /* device missing, permission, I/O error */
	SENSOR_FAIL_NO_RESPONSE,    /* DHT: too few edges; IIO: ETIMEDOUT */
	SENSOR_FAIL_TIMING,         /* DHT: a pulse outside every window */
	SENSOR_FAIL_CHECKSUM,       /* DHT checksum, 1-Wire CRC, IIO EIO */
	SENSOR_FAIL_IMPLAUSIBLE,    /* out of range, DS18B20 85 °C power-on */
	SENSOR_FAIL_KINDS
};

struct sensor_driver {
	const char *name;           /* as in SENSORS: dht22, iio, ds18b20, sim ... */
	const char *help;           /* options it takes, for --help and errors */
	unsigned min_interval_ms;   /* shortest read interval the sensor allows */
	unsigned min_retry_ms;      /* shortest wait after a failed read */
	/*
	 * Checks the options (s->opts) and prepares s->priv. Returns 0 or
	 * -EINVAL (etc.) with a message naming the bad option in err.
	 */
	int (*open)(struct sensor *s, const struct sensor_env *env, char *err, size_t errlen);
	/* One reading into out. 0, -EAGAIN (transient) or another -errno. */
	int (*read)(struct sensor *s, struct sensor_reading *out, char *err, size_t errlen);
	void (*close)(struct sensor *s);
	/*
	 * Optional. Validates the option values without touching hardware;
	 * sensor_list_parse() calls it so --check-config catches a missing
	 * line=. Message as for open(), e.g. "option 'line' is required".
	 */
	int (*check)(const struct sensor *s, char *err, size_t errlen);
	/* NULL-terminated option keys the driver accepts; others are refused. */
	const char *const *opt_keys;
};

struct sensor {
	char name[SENSOR_NAME_MAX];   /* the NAME in NAME=DRIVER,...; MQTT topic level */
	const struct sensor_driver *drv;
	size_t n_opts;
	struct sensor_opt opts[SENSOR_MAX_OPTS];
	void *priv;                   /* driver state, owned by the driver */
	/*
	 * failure counters by kind, maintained by the caller of read()
	 * (sensor_read() does it): reads_failed counts every failure,
	 * reads_transient the -EAGAIN ones among them
	 */
	uint64_t reads_ok;
	uint64_t reads_failed;
	uint64_t reads_transient;
	/* set by read() when it fails; fails[] counted by sensor_read() */
	enum sensor_fail last_fail;
	uint64_t fails[SENSOR_FAIL_KINDS];
	bool is_open;                 /* open() succeeded; close() is due */
};

/* Registry (sensor.c). */
const struct sensor_driver *sensor_driver_find(const char *name);
const char *sensor_driver_names(void);   /* "dht11, dht22, am2302, iio, ds18b20, sim" */

/* Value of option key, or NULL. */
const char *sensor_opt(const struct sensor *s, const char *key);

/*
 * Typed option helpers for drivers: *out = def when the option is absent.
 * Return 0, or -EINVAL with "option 'key' must be ..." in err.
 */
int sensor_opt_double(const struct sensor *s, const char *key, double def, double min,
		      double max, double *out, char *err, size_t errlen);
int sensor_opt_uint(const struct sensor *s, const char *key, unsigned def, unsigned max,
		    bool required, unsigned *out, char *err, size_t errlen);

/* "io", "no_response", "timing", "checksum", "implausible" (metric-friendly). */
const char *sensor_fail_name(enum sensor_fail kind);

/*
 * Calls the driver's read() and keeps the counters: reads_ok, reads_failed,
 * reads_transient (-EAGAIN) and fails[last_fail] (SENSOR_FAIL_IO when the
 * driver left it unset). Same return as read(); -EBADF if s is not open.
 */
int sensor_read(struct sensor *s, struct sensor_reading *out, char *err, size_t errlen);

/*
 * Parses a SENSORS value ("desk=dht22,chip=gpiochip0,line=19 demo=sim") into
 * a malloc'd array of *n sensors (not yet opened). Returns 0, or -1 with a
 * message naming the bad part ("sensor 2 'probe=ds18b20,id': option 'id'
 * needs a value"). Names: 1-63 bytes of [A-Za-z0-9_.-], unique, not
 * "status"; options: only the driver's opt_keys, each once, non-empty
 * values; then the driver's check(). Free with sensor_list_free().
 */
int sensor_list_parse(const char *spec, struct sensor **out, size_t *n, char *err, size_t errlen);
/*
 * Opens every sensor (driver open()); -1 with err naming the sensor
 * ("sensor 'desk' (dht22): /dev/gpiochip0: No such file or directory").
 * Sensors opened before the failing one stay open (is_open) until
 * sensor_list_free().
 */
int sensor_list_open(struct sensor *s, size_t n, const struct sensor_env *env, char *err,
		     size_t errlen);
void sensor_list_free(struct sensor *s, size_t n);   /* closes opened ones; accepts NULL */

#endif
