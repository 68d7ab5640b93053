/*
 * sensor.c - the driver registry and the SENSORS list: parsing
 * "NAME=DRIVER[,key=value...]" items, opening them, reading with counters.
 *
 * Parsing is strict and its errors name the item and the bad part, because
 * a typo in SENSORS on a Pi is otherwise found only by the missing series in
 * Grafana. Names become MQTT topic levels, so they are limited to characters
 * that need no escaping anywhere downstream (Influx tags, Prom labels).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publisher/drivers/drivers.h"
#include "publisher/sensor.h"

/* The registry: one X() per driver, in the order --help lists them. */
#define SENSOR_DRIVERS(X) X(dht11) X(dht22) X(am2302) X(iio) X(ds18b20) X(sim)

#define REGISTRY_ENTRY(n) &sensor_driver_##n,
#define REGISTRY_NAME(n) ", " #n

static const struct sensor_driver *const registry[] = { SENSOR_DRIVERS(REGISTRY_ENTRY) };
static const char registry_names[] = SENSOR_DRIVERS(REGISTRY_NAME);

#define N_DRIVERS (sizeof(registry) / sizeof(registry[0]))

const struct sensor_driver *sensor_driver_find(const char *name)
{
	for (size_t i = 0; i < N_DRIVERS; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

const char *sensor_driver_names(void)
{
	return registry_names + 2;      /* skip the leading ", " */
}

const char *sensor_opt(const struct sensor *s, const char *key)
{
	for (size_t i = 0; i < s->n_opts; i++)
		if (!strcmp(s->opts[i].key, key))
			return s->opts[i].value;
	return NULL;
}

int sensor_opt_double(const struct sensor *s, const char *key, double def, double min,
		      double max, double *out, char *err, size_t errlen)
{
	const char *v = sensor_opt(s, key);
	char *end;
	double d;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	d = strtod(v, &end);
	if (end == v || *end || errno || !isfinite(d) || d < min || d > max) {
		snprintf(err, errlen, "option '%s' must be a number from %g to %g, not '%s'", key,
			 min, max, v);
		return -EINVAL;
	}
	*out = d;
	return 0;
}

int sensor_opt_uint(const struct sensor *s, const char *key, unsigned def, unsigned max,
		    bool required, unsigned *out, char *err, size_t errlen)
{
	const char *v = sensor_opt(s, key);
	unsigned long long u = 0;
	const char *p;

	if (!v) {
		if (required) {
			snprintf(err, errlen, "option '%s' is required", key);
			return -EINVAL;
		}
		*out = def;
		return 0;
	}
	for (p = v; *p >= '0' && *p <= '9' && u <= max; p++)
		u = u * 10 + (unsigned)(*p - '0');
	if (p == v || *p || u > max) {
		snprintf(err, errlen, "option '%s' must be a whole number from 0 to %u, not '%s'",
			 key, max, v);
		return -EINVAL;
	}
	*out = (unsigned)u;
	return 0;
}

const char *sensor_fail_name(enum sensor_fail kind)
{
	static const char *const names[SENSOR_FAIL_KINDS] = {
		[SENSOR_FAIL_NONE] = "none",
		[SENSOR_FAIL_IO] = "io",
		[SENSOR_FAIL_NO_RESPONSE] = "no_response",
		[SENSOR_FAIL_TIMING] = "timing",
		[SENSOR_FAIL_CHECKSUM] = "checksum",
		[SENSOR_FAIL_IMPLAUSIBLE] = "implausible",
	};

	if ((unsigned)kind >= SENSOR_FAIL_KINDS)
		return "unknown";
	return names[kind];
}

int sensor_read(struct sensor *s, struct sensor_reading *out, char *err, size_t errlen)
{
	int rc;

	out->n = 0;
	if (!s->is_open) {
		snprintf(err, errlen, "sensor is not open");
		return -EBADF;
	}
	s->last_fail = SENSOR_FAIL_NONE;
	rc = s->drv->read(s, out, err, errlen);
	if (!rc) {
		s->reads_ok++;
		return 0;
	}
	out->n = 0;
	if ((unsigned)s->last_fail >= SENSOR_FAIL_KINDS || s->last_fail == SENSOR_FAIL_NONE)
		s->last_fail = SENSOR_FAIL_IO;
	s->reads_failed++;
	if (rc == -EAGAIN)
		s->reads_transient++;
	s->fails[s->last_fail]++;
	return rc;
}

/* --- SENSORS parsing ------------------------------------------------------ */

/* Writes "sensor <idx> '<item>': <reason>" into err. */
__attribute__((format(printf, 5, 6)))
static int parse_fail(char *err, size_t errlen, size_t idx, const char *item,
		      const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "sensor %zu '%s': %s", idx, item, reason);
	return -1;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* Why name (len bytes) cannot be a sensor name, or NULL if it can. */
static const char *name_problem(const char *name, size_t len, char *buf, size_t buflen)
{
	if (!len)
		return "empty sensor name";
	if (len >= SENSOR_NAME_MAX) {
		snprintf(buf, buflen, "sensor name longer than %d bytes", SENSOR_NAME_MAX - 1);
		return buf;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (name_char_ok((char)c))
			continue;
		if (isprint(c))
			snprintf(buf, buflen, "invalid character '%c' in sensor name "
				 "(use A-Z a-z 0-9 _ - .)", c);
		else
			snprintf(buf, buflen, "invalid byte 0x%02x in sensor name "
				 "(use A-Z a-z 0-9 _ - .)", c);
		return buf;
	}
	if (len == 6 && !memcmp(name, "status", 6))
		return "sensor name 'status' is reserved for availability";
	return NULL;
}

static bool driver_takes(const struct sensor_driver *drv, const char *key)
{
	for (const char *const *k = drv->opt_keys; k && *k; k++)
		if (!strcmp(*k, key))
			return true;
	return false;
}

/* "line, chip" from a driver's option list, or "none". */
static void driver_keys(const struct sensor_driver *drv, char *buf, size_t buflen)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const char *const *k = drv->opt_keys; k && *k && used < buflen; k++) {
		int w = snprintf(buf + used, buflen - used, "%s%s", used ? ", " : "", *k);

		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, buflen, "none");
}

/*
 * Parses one item into s. item is only used in messages (reported whole);
 * the splitting happens in work, a copy of it.
 */
static int parse_item(const char *item, char *work, size_t idx, struct sensor *s, char *err,
		      size_t errlen)
{
	char *eq = strchr(work, '='), *comma = strchr(work, ',');
	char *opt, *next;
	char buf[160];
	const char *why;
	size_t name_len;

	if (!eq || (comma && comma < eq))
		return parse_fail(err, errlen, idx, item, "expected NAME=DRIVER[,key=value...]");
	name_len = (size_t)(eq - work);
	why = name_problem(work, name_len, buf, sizeof(buf));
	if (why)
		return parse_fail(err, errlen, idx, item, "%s", why);
	memcpy(s->name, work, name_len);
	s->name[name_len] = '\0';

	opt = NULL;
	if (comma) {
		*comma = '\0';
		opt = comma + 1;
	}
	if (!eq[1])
		return parse_fail(err, errlen, idx, item, "no driver after '=' (known: %s)",
				  sensor_driver_names());
	s->drv = sensor_driver_find(eq + 1);
	if (!s->drv)
		return parse_fail(err, errlen, idx, item, "unknown driver '%s' (known: %s)", eq + 1,
				  sensor_driver_names());

	for (; opt; opt = next) {
		char *key = opt, *val;

		next = strchr(opt, ',');
		if (next)
			*next++ = '\0';
		val = strchr(opt, '=');
		if (val)
			*val++ = '\0';
		if (!*key)
			return parse_fail(err, errlen, idx, item, "%s",
					  val ? "option with no name before '='" : "empty option");
		if (!driver_takes(s->drv, key)) {
			driver_keys(s->drv, buf, sizeof(buf));
			return parse_fail(err, errlen, idx, item,
					  "unknown option '%s' for driver '%s' (options: %s)", key,
					  s->drv->name, buf);
		}
		if (!val || !*val)
			return parse_fail(err, errlen, idx, item, "option '%s' needs a value", key);
		if (sensor_opt(s, key))
			return parse_fail(err, errlen, idx, item, "option '%s' given twice", key);
		if (s->n_opts == SENSOR_MAX_OPTS)
			return parse_fail(err, errlen, idx, item, "too many options (at most %d)",
					  SENSOR_MAX_OPTS);
		if (strlen(key) >= sizeof(s->opts[0].key) ||
		    strlen(val) >= sizeof(s->opts[0].value))
			return parse_fail(err, errlen, idx, item,
					  "value of option '%s' is longer than %zu bytes", key,
					  sizeof(s->opts[0].value) - 1);
		strcpy(s->opts[s->n_opts].key, key);
		strcpy(s->opts[s->n_opts].value, val);
		s->n_opts++;
	}
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int sensor_list_parse(const char *spec, struct sensor **out, size_t *n, char *err, size_t errlen)
{
	struct sensor *list = NULL;
	size_t count = 0, cap = 0, idx = 0;
	const char *p = spec ? spec : "";
	char *item = NULL, *work = NULL;

	*out = NULL;
	*n = 0;
	for (const char *q = p; *q;) {
		while (*q && is_space(*q))
			q++;
		if (!*q)
			break;
		cap++;
		while (*q && !is_space(*q))
			q++;
	}
	if (!cap) {
		snprintf(err, errlen, "no sensors: SENSORS is empty "
			 "(give NAME=DRIVER items, drivers: %s)", sensor_driver_names());
		return -1;
	}
	list = calloc(cap, sizeof(*list));
	if (!list)
		goto err_nomem;

	while (*p) {
		const char *start;
		struct sensor *s;
		size_t len;
		char msg[256];

		while (*p && is_space(*p))
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && !is_space(*p))
			p++;
		len = (size_t)(p - start);
		idx++;
		item = strndup(start, len);
		work = strndup(start, len);
		if (!item || !work)
			goto err_nomem;
		s = &list[count];
		if (parse_item(item, work, idx, s, err, errlen))
			goto err_free;
		for (size_t j = 0; j < count; j++) {
			if (!strcmp(list[j].name, s->name)) {
				parse_fail(err, errlen, idx, item,
					   "duplicate sensor name '%s' (also sensor %zu)", s->name,
					   j + 1);
				goto err_free;
			}
		}
		if (s->drv->check && s->drv->check(s, msg, sizeof(msg))) {
			parse_fail(err, errlen, idx, item, "%s", msg);
			goto err_free;
		}
		count++;
		free(item);
		free(work);
		item = work = NULL;
	}
	*out = list;
	*n = count;
	return 0;

err_nomem:
	snprintf(err, errlen, "out of memory parsing SENSORS");
err_free:
	free(item);
	free(work);
	free(list);
	return -1;
}

int sensor_list_open(struct sensor *s, size_t n, const struct sensor_env *env, char *err,
		     size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char msg[256];
		int rc;

		if (s[i].is_open)
			continue;
		msg[0] = '\0';
		rc = s[i].drv->open(&s[i], env, msg, sizeof(msg));
		if (rc) {
			snprintf(err, errlen, "sensor '%s' (%s): %s", s[i].name, s[i].drv->name,
				 msg[0] ? msg : strerror(-rc));
			return -1;
		}
		s[i].is_open = true;
	}
	return 0;
}

void sensor_list_free(struct sensor *s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++) {
		if (s[i].is_open && s[i].drv->close)
			s[i].drv->close(&s[i]);
		s[i].is_open = false;
	}
	free(s);
}
