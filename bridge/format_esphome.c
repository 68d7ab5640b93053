/*
 * format_esphome.c - ESPHome's MQTT client, as documented at
 * https://esphome.io/components/mqtt.html (topic_prefix defaults to the
 * node's name):
 *   <node>/sensor/<object_id>/state         the state as a plain number, in
 *                                           the sensor's unit_of_measurement,
 *                                           with accuracy_decimals: "21.40"
 *   <node>/binary_sensor/<object_id>/state  "ON" / "OFF"
 *   <node>/status                           "online" / "offline" (birth and
 *                                           will messages, retained)
 * Other components' state topics (switch, text_sensor, ...) and command or
 * debug topics are ignored.
 *
 * Mapping: node = <node> (the level before the component type), sensor =
 * <object_id>, one field. The payload does not say its unit, so the field
 * is named from the object id's ending, by the unit ESPHome's platforms use
 * by default (a sensor configured in another unit should not end so):
 *   ..temperature -> temperature_celsius, ..humidity -> humidity_percent,
 *   ..pressure -> pressure_hectopascals, ..battery / ..battery_level ->
 *   battery_percent, ..illuminance -> illuminance_lux, ..co2 -> co2_ppm,
 *   ..wifi_signal / ..rssi -> rssi_dbm, ..voltage -> voltage_volts,
 *   ..current -> current_amperes, ..power -> power_watts, ..uptime ->
 *   uptime_seconds; anything else -> value. A binary sensor's field is
 *   state (ON 1, OFF 0). "nan" (no state yet) and anything but a finite
 *   number is refused. Timestamp: the arrival time. No seq: no gap
 *   accounting.
 */
#include "bridge/format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *suffix, *field;
} units[] = {
	{ "temperature", "temperature_celsius" },
	{ "humidity", "humidity_percent" },
	{ "pressure", "pressure_hectopascals" },
	{ "battery_level", "battery_percent" },
	{ "battery", "battery_percent" },
	{ "illuminance", "illuminance_lux" },
	{ "co2", "co2_ppm" },
	{ "wifi_signal", "rssi_dbm" },
	{ "rssi", "rssi_dbm" },
	{ "voltage", "voltage_volts" },
	{ "current", "current_amperes" },
	{ "power", "power_watts" },
	{ "uptime", "uptime_seconds" },
};

const char *format_esphome_field(const char *object_id);

/* The field of a sensor named object_id (the table above). */
const char *format_esphome_field(const char *object_id)
{
	size_t n = strlen(object_id);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t l = strlen(units[i].suffix);
		if (n >= l && strcmp(object_id + n - l, units[i].suffix) == 0 &&
		    (n == l || object_id[n - l - 1] == '_'))
			return units[i].field;
	}
	return "value";
}

static bool level_is(const char *s, size_t l, const char *w)
{
	return l == strlen(w) && memcmp(s, w, l) == 0;
}

static enum format_kind esp_topic(const char *topic, char *node, size_t node_len)
{
	const char *lv[64];
	size_t ln[64];
	int n = format_levels(topic, lv, ln, 64);
	if (n >= 2 && level_is(lv[n - 1], ln[n - 1], "status")) {
		format_level_copy(lv[n - 2], ln[n - 2], node, node_len);
		return FORMAT_STATUS;
	}
	if (n < 4)
		return FORMAT_BAD_TOPIC;
	format_level_copy(lv[n - 4], ln[n - 4], node, node_len);
	if (level_is(lv[n - 1], ln[n - 1], "state") &&
	    (level_is(lv[n - 3], ln[n - 3], "sensor") ||
	     level_is(lv[n - 3], ln[n - 3], "binary_sensor")))
		return FORMAT_READINGS;
	return FORMAT_IGNORED;
}

static void esp_parse(const char *topic, const void *payload, size_t len, int64_t arrival_ms,
		      struct format_result *out)
{
	if (out->kind == FORMAT_STATUS) {
		if (format_availability(payload, len, &out->online) < 0) {
			out->kind = FORMAT_MALFORMED;
			snprintf(out->err, sizeof(out->err), "status is not online or offline");
		}
		return;
	}
	const char *lv[64];
	size_t ln[64];
	int n = format_levels(topic, lv, ln, 64);
	char sensor[READING_MAX_VALUE + 1], text[40];
	format_level_copy(lv[n - 2], ln[n - 2], sensor, sizeof(sensor));
	bool binary = level_is(lv[n - 3], ln[n - 3], "binary_sensor");
	out->kind = FORMAT_MALFORMED;
	if (len == 0) {
		snprintf(out->err, sizeof(out->err), "empty payload");
		return;
	}
	if (len >= sizeof(text) || memchr(payload, '\0', len)) {
		snprintf(out->err, sizeof(out->err), "state is not a number");
		return;
	}
	memcpy(text, payload, len);
	text[len] = '\0';
	double v;
	const char *field;
	if (binary) {
		if (strcmp(text, "ON") != 0 && strcmp(text, "OFF") != 0) {
			snprintf(out->err, sizeof(out->err), "binary state '%s' is not ON or OFF", text);
			return;
		}
		v = text[1] == 'N';
		field = "state";
	} else {
		char *end;
		/* digits, sign, point, exponent: no hex, no "nan" or "inf" */
		if (strspn(text, "0123456789+-.eE") != len) {
			snprintf(out->err, sizeof(out->err), "state '%s' is not a finite number", text);
			return;
		}
		v = strtod(text, &end);
		if (*end || end == text || !isfinite(v)) {
			snprintf(out->err, sizeof(out->err), "state '%s' is not a finite number", text);
			return;
		}
		field = format_esphome_field(sensor);
	}
	struct reading_build b;
	if (reading_build_begin(&b, &out->r[0], out->node, sensor, 1, 0, 64, arrival_ms, out->err,
				sizeof(out->err)) < 0)
		return;
	reading_build_field(&b, field, v);
	if (reading_build_end(&b, out->err, sizeof(out->err)) < 0)
		return;
	out->kind = FORMAT_READINGS;
	out->n = 1;
}

/* <node>/status: the first level of the filter is the node (+/sensor/+/state,
 * esp1/#, # -> +/status, esp1/status, +/status) */
static int esp_availability(const char *filter, char *out, size_t len)
{
	return format_filter_derive(filter, format_filter_last_is(filter, "#") &&
				    format_filter_depth(filter) == 1 ? 0 : 1, 1, "status",
				    out, len);
}

const struct format format_esphome = {
	.name = "esphome",
	.topics = "<node>/sensor/<name>/state, <node>/binary_sensor/<name>/state, <node>/status",
	.seq = false,
	.topic = esp_topic,
	.parse = esp_parse,
	.availability = esp_availability,
};
