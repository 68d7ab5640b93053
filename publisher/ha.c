/*
 * ha.c - Home Assistant discovery messages (see ha.h for the sources and
 * the naming rules).
 *
 * expire_after is 3 intervals, at least 60 s: one lost or failed reading
 * (a DHT's checksum error, a retry that spills into the next slot) must not
 * flip the entity to "unavailable", two in a row should not either, and a
 * sensor that stays silent for three readings is really gone. The floor:
 * HA counts whole seconds, and with a fast interval (INTERVAL_MS=100 in
 * tests and demos) three intervals would be under a second, so any
 * scheduling hiccup or a broker reconnect would flap the entity. A dead
 * publisher is reported sooner anyway, by the availability topic (its Will).
 */
#include "publisher/sbuf.h"
#include "publisher/ha.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void put_key(struct sbuf *o, const char *key, const char *value)
{
	sbuf_json_string(o, key);
	sbuf_put(o, ":", 1);
	sbuf_json_string(o, value);
	sbuf_put(o, ",", 1);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

struct ha_unit ha_unit_of(const char *field)
{
	struct ha_unit u = { NULL, NULL };
	if (ends_with(field, "_celsius")) {
		u.device_class = "temperature";
		u.unit = "\xc2\xb0" "C";
	} else if (ends_with(field, "_percent")) {
		/* "humidity" is relative humidity in %; another percentage has no class */
		if (strcmp(field, "humidity_percent") == 0)
			u.device_class = "humidity";
		u.unit = "%";
	} else if (ends_with(field, "_hectopascals")) {
		u.device_class = "pressure";
		u.unit = "hPa";
	}
	return u;
}

void ha_id(char *out, size_t cap, const char *s)
{
	size_t i = 0;
	if (!cap)
		return;
	for (; *s && i + 1 < cap; s++, i++) {
		char ch = *s;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
		out[i] = ok ? ch : '_';
	}
	out[i] = '\0';
}

unsigned ha_expire_after_s(unsigned interval_ms)
{
	unsigned long long s = ((unsigned long long)interval_ms * HA_EXPIRE_FACTOR + 999) / 1000;
	return s < HA_EXPIRE_MIN_S ? HA_EXPIRE_MIN_S : (unsigned)s;
}

static int topic_done(const struct sbuf *o)
{
	return o->full ? -ENAMETOOLONG : (int)o->len;
}

int ha_config_topic(char *buf, size_t cap, const struct ha_ctx *c, const char *sensor,
		    const char *field)
{
	char node[128], sid[128];
	struct sbuf o = { buf, cap, 0, cap == 0 };
	ha_id(node, sizeof(node), c->node);
	ha_id(sid, sizeof(sid), sensor);
	sbuf_printf(&o, "%s/sensor/%s/%s_%s/config", c->ha_prefix, node, sid, field);
	return topic_done(&o);
}

int ha_scan_filter(char *buf, size_t cap, const struct ha_ctx *c)
{
	char node[128];
	struct sbuf o = { buf, cap, 0, cap == 0 };
	ha_id(node, sizeof(node), c->node);
	sbuf_printf(&o, "%s/sensor/%s/+/config", c->ha_prefix, node);
	return topic_done(&o);
}

/* "temperature_celsius" -> "temperature" (the quantity, without its unit) */
static void quantity(char *out, size_t cap, const char *field)
{
	const char *us = strrchr(field, '_');
	size_t n = us && us != field ? (size_t)(us - field) : strlen(field);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, field, n);
	out[n] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = ' ';
}

int ha_config_payload(char *buf, size_t cap, const struct ha_ctx *c, const char *sensor,
		      const char *field)
{
	struct sbuf o = { buf, cap, 0, cap == 0 };
	char tmp[HA_TOPIC_MAX], q[128];
	struct ha_unit u = ha_unit_of(field);

	quantity(q, sizeof(q), field);
	sbuf_put(&o, "{", 1);
	snprintf(tmp, sizeof(tmp), "%s %s", sensor, q);
	put_key(&o, "name", tmp);
	snprintf(tmp, sizeof(tmp), "sensorwire:%s:%s:%s", c->node, sensor, field);
	put_key(&o, "unique_id", tmp);
	if (snprintf(tmp, sizeof(tmp), "%s/%s/%s", c->prefix, c->node, sensor) >= (int)sizeof(tmp))
		return -ENOSPC;
	put_key(&o, "state_topic", tmp);
	snprintf(tmp, sizeof(tmp), "{{ value_json.%s }}", field);
	put_key(&o, "value_template", tmp);
	if (u.device_class)
		put_key(&o, "device_class", u.device_class);
	if (u.unit)
		put_key(&o, "unit_of_measurement", u.unit);
	put_key(&o, "state_class", "measurement");
	sbuf_printf(&o, "\"expire_after\":%u,", ha_expire_after_s(c->interval_ms));
	if (snprintf(tmp, sizeof(tmp), "%s/%s/status", c->prefix, c->node) >= (int)sizeof(tmp))
		return -ENOSPC;
	put_key(&o, "availability_topic", tmp);
	put_key(&o, "payload_available", "online");
	put_key(&o, "payload_not_available", "offline");
	sbuf_puts(&o, "\"device\":{\"identifiers\":[");
	snprintf(tmp, sizeof(tmp), "sensorwire:%s", c->node);
	sbuf_json_string(&o, tmp);
	sbuf_puts(&o, "],");
	put_key(&o, "name", c->node);
	put_key(&o, "manufacturer", "sensorwire");
	put_key(&o, "model", "sensor-publisher");
	sbuf_json_string(&o, "sw_version");
	sbuf_put(&o, ":", 1);
	sbuf_json_string(&o, c->version);
	sbuf_puts(&o, "},\"origin\":{");
	put_key(&o, "name", "sensorwire");
	sbuf_json_string(&o, "sw_version");
	sbuf_put(&o, ":", 1);
	sbuf_json_string(&o, c->version);
	sbuf_puts(&o, "}}");
	return o.full ? -ENOSPC : (int)o.len;
}

/* The string value of "key":"..." in our own compact output, or false. */
static bool find_str(const char *p, size_t len, const char *needle, char *out, size_t cap)
{
	size_t nl = strlen(needle);
	for (size_t i = 0; i + nl <= len; i++) {
		if (memcmp(p + i, needle, nl) != 0)
			continue;
		size_t j = i + nl, k = 0;
		while (j < len && p[j] != '"' && p[j] != '\\') {
			if (k + 1 >= cap)
				return false;
			out[k++] = p[j++];
		}
		if (j >= len || p[j] != '"')
			return false;
		out[k] = '\0';
		return true;
	}
	return false;
}

static bool name_ok(const char *s, bool field)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char ch = *s;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || (!field && (ch == '-' || ch == '.'));
		if (!ok)
			return false;
	}
	return true;
}

bool ha_config_parse(const char *payload, size_t len, const char *node, char *sensor,
		     size_t sensor_cap, char *field, size_t field_cap)
{
	char uid[HA_TOPIC_MAX], want[HA_TOPIC_MAX];
	if (!payload || !len || !find_str(payload, len, "\"unique_id\":\"", uid, sizeof(uid)))
		return false;
	snprintf(want, sizeof(want), "\"identifiers\":[\"sensorwire:%s\"]", node);
	size_t wl = strlen(want);
	bool dev = false;
	for (size_t i = 0; i + wl <= len && !dev; i++)
		dev = memcmp(payload + i, want, wl) == 0;
	if (!dev)
		return false;
	/* sensorwire:<node>:<sensor>:<field> */
	size_t nl = strlen(node);
	if (strncmp(uid, "sensorwire:", 11) != 0 || strncmp(uid + 11, node, nl) != 0 ||
	    uid[11 + nl] != ':')
		return false;
	const char *s = uid + 11 + nl + 1;
	const char *colon = strchr(s, ':');
	if (!colon || strchr(colon + 1, ':'))
		return false;
	size_t sl = (size_t)(colon - s);
	if (sl == 0 || sl >= sensor_cap || strlen(colon + 1) >= field_cap)
		return false;
	memcpy(sensor, s, sl);
	sensor[sl] = '\0';
	snprintf(field, field_cap, "%s", colon + 1);
	return name_ok(sensor, false) && name_ok(field, true);
}
