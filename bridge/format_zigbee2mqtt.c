/*
 * format_zigbee2mqtt.c - Zigbee2MQTT, as documented at
 * https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html
 * (base_topic "zigbee2mqtt"):
 *   zigbee2mqtt/<friendly_name>   the device's state, one JSON object:
 *     {"battery":87,"humidity":48.2,"linkquality":120,"pressure":1013.2,
 *      "temperature":21.4,"voltage":2985}
 *   zigbee2mqtt/bridge/state      "online" / "offline", or (Zigbee2MQTT 2.x)
 *                                 {"state":"online"}, retained: the
 *                                 availability of the bridge, and so of
 *                                 every device behind it
 * The other zigbee2mqtt/bridge/... topics (info, devices, logging, ...),
 * and <friendly_name>/set, /get and /availability, are ignored.
 *
 * Mapping: node = the base topic's last level ("zigbee2mqtt"), sensor =
 * <friendly_name> (a name with '/' is not supported: subscribe
 * zigbee2mqtt/+), so the bridge's state is its node's, and staleness
 * covers all its devices. Keys: the table below; any other number or
 * boolean (1/0) is a field under its own name (occupancy, contact,
 * battery_low, ...), if it is a valid name; strings, objects and null are
 * ignored (counted). Timestamp: "last_seen" when the device reports it
 * (advanced.last_seen: epoch ms, or ISO 8601), else the arrival time. No
 * seq: no gap accounting.
 */
#include "bridge/format.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *key, *field;
} keys[] = {
	{ "temperature", "temperature_celsius" },
	{ "device_temperature", "device_temperature_celsius" },
	{ "local_temperature", "local_temperature_celsius" },
	{ "humidity", "humidity_percent" },
	{ "soil_moisture", "soil_moisture_percent" },
	{ "pressure", "pressure_hectopascals" },
	{ "battery", "battery_percent" },
	{ "co2", "co2_ppm" },
	{ "power", "power_watts" },
	{ "energy", "energy_kilowatt_hours" },
	{ "current", "current_amperes" },
	{ "pm25", "pm25_micrograms_per_cubic_meter" },
	{ "linkquality", "linkquality" },
};

static bool level_is(const char *s, size_t l, const char *w)
{
	return l == strlen(w) && memcmp(s, w, l) == 0;
}

static enum format_kind z2m_topic(const char *topic, char *node, size_t node_len)
{
	const char *lv[64];
	size_t ln[64];
	int n = format_levels(topic, lv, ln, 64);
	if (n < 2)
		return FORMAT_BAD_TOPIC;
	for (int i = 0; i + 1 < n; i++) {
		if (level_is(lv[i], ln[i], "bridge") && i > 0) {
			format_level_copy(lv[i - 1], ln[i - 1], node, node_len);
			return i + 2 == n && level_is(lv[i + 1], ln[i + 1], "state") ? FORMAT_STATUS :
										    FORMAT_IGNORED;
		}
	}
	const char *last = lv[n - 1];
	size_t ll = ln[n - 1];
	if (n >= 3 && (level_is(last, ll, "set") || level_is(last, ll, "get") ||
		       level_is(last, ll, "availability")))
		return FORMAT_IGNORED;
	format_level_copy(lv[n - 2], ln[n - 2], node, node_len);
	return FORMAT_READINGS;
}

static void z2m_parse(const char *topic, const void *payload, size_t len, int64_t arrival_ms,
		      struct format_result *out)
{
	if (out->kind == FORMAT_STATUS) {
		if (format_availability(payload, len, &out->online) < 0) {
			out->kind = FORMAT_MALFORMED;
			snprintf(out->err, sizeof(out->err),
				 "bridge state is not online/offline nor {\"state\":\"online\"}");
		}
		return;
	}
	const char *lv[64];
	size_t ln[64];
	int n = format_levels(topic, lv, ln, 64);
	char sensor[READING_MAX_VALUE + 1];
	format_level_copy(lv[n - 1], ln[n - 1], sensor, sizeof(sensor));
	out->kind = FORMAT_MALFORMED;
	cJSON *root = reading_json_object(payload, len, out->err, sizeof(out->err));
	if (!root)
		return;
	struct reading *r = &out->r[0];
	struct reading_build b;
	int members = cJSON_GetArraySize(root);
	if (reading_build_begin(&b, r, out->node, sensor, (size_t)members, 0,
				(size_t)members * (READING_MAX_NAME + 1), arrival_ms, out->err,
				sizeof(out->err)) < 0) {
		cJSON_Delete(root);
		return;
	}
	const cJSON *k;
	cJSON_ArrayForEach(k, root) {
		if (strcmp(k->string, "last_seen") == 0) {
			int64_t ts;
			bool ok = cJSON_IsNumber(k) ? k->valuedouble == floor(k->valuedouble) &&
							  k->valuedouble > 0 && k->valuedouble < 9e15 :
				  cJSON_IsString(k) && format_time(k->valuestring, &ts) == 0;
			if (ok && cJSON_IsNumber(k))
				ts = (int64_t)k->valuedouble;
			if (!ok || reading_build_ts(&b, ts, out->err, sizeof(out->err)) < 0) {
				snprintf(out->err, sizeof(out->err),
					 "last_seen is not Unix ms nor an ISO 8601 time");
				reading_build_abort(&b);
				cJSON_Delete(root);
				return;
			}
			continue;
		}
		double v;
		if (cJSON_IsNumber(k))
			v = k->valuedouble;
		else if (cJSON_IsBool(k))
			v = cJSON_IsTrue(k) ? 1 : 0;
		else {
			r->ignored_keys++;
			continue;
		}
		const char *field = k->string;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(keys[i].key, k->string) == 0)
				field = keys[i].field;
		reading_build_field(&b, field, v);
	}
	cJSON_Delete(root);
	if (reading_build_end(&b, out->err, sizeof(out->err)) < 0)
		return;
	out->kind = FORMAT_READINGS;
	out->n = 1;
}

/* the base topic's bridge state (the topic named in this file's header)
 * beside <base>/<friendly_name>: the filter's levels but the last, then the
 * levels "bridge" and "state" (zigbee2mqtt/+, zigbee2mqtt/# or one device's
 * topic: all the same one) */
static int z2m_availability(const char *filter, char *out, size_t len)
{
	char tail[16];
	snprintf(tail, sizeof(tail), "%s/state", "bridge"); /* (not a path of this tree) */
	return format_filter_derive(filter, -1, 1, tail, out, len);
}

const struct format format_zigbee2mqtt = {
	.name = "zigbee2mqtt",
	.topics = "zigbee2mqtt/<friendly_name>, zigbee2mqtt/bridge/state",
	.seq = false,
	.topic = z2m_topic,
	.parse = z2m_parse,
	.availability = z2m_availability,
};
