/*
 * format_shelly.c - Shelly Gen2/Gen3 devices over MQTT, as documented at
 * https://shelly-api-docs.shelly.cloud/gen2/General/RPCChannels#mqtt and
 * the component pages (Temperature, Humidity, DevicePower, Switch, PM1,
 * Illuminance), with "Generic status update over MQTT" on
 * (topic_prefix defaults to the device id, e.g. shellyhtg3-84fce63ff0a4):
 *   <id>/status/temperature:0   {"id":0,"tC":21.4,"tF":70.5}
 *   <id>/status/humidity:0      {"id":0,"rh":48.2}
 *   <id>/status/devicepower:0   {"id":0,"battery":{"V":2.95,"percent":84},
 *                                "external":{"present":false}}
 *   <id>/status/switch:0        {"id":0,"output":true,"apower":12.3,"voltage":230.1,
 *                                "current":0.07,"freq":50,"aenergy":{"total":1.234},
 *                                "temperature":{"tC":40.1,"tF":104.2}}
 *   <id>/online                 "true" / "false" (retained; the Last Will)
 * Other components (sys, wifi, cloud, mqtt, input, ...) are ignored.
 *
 * Mapping: node = <id> (the level before "status"), sensor = the component
 * key as Shelly names it ("temperature:0"). Keys: the table below (tF, the
 * same value in Fahrenheit, and id are left out; any other member is
 * ignored, counted). Timestamp: the arrival time (a status carries none).
 * No seq: no gap accounting.
 */
#include "bridge/format.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *type, *key, *sub, *field;
} keys[] = {
	{ "temperature", "tC", NULL, "temperature_celsius" },
	{ "humidity", "rh", NULL, "humidity_percent" },
	{ "illuminance", "lux", NULL, "illuminance_lux" },
	{ "devicepower", "battery", "percent", "battery_percent" },
	{ "devicepower", "battery", "V", "battery_volts" },
	{ "devicepower", "external", "present", "external_power" },
	{ "switch", "output", NULL, "output" },
	{ "switch", "apower", NULL, "power_watts" },
	{ "switch", "voltage", NULL, "voltage_volts" },
	{ "switch", "current", NULL, "current_amperes" },
	{ "switch", "freq", NULL, "frequency_hertz" },
	{ "switch", "aenergy", "total", "energy_watt_hours" },
	{ "switch", "temperature", "tC", "temperature_celsius" },
	{ "pm1", "apower", NULL, "power_watts" },
	{ "pm1", "voltage", NULL, "voltage_volts" },
	{ "pm1", "current", NULL, "current_amperes" },
	{ "pm1", "freq", NULL, "frequency_hertz" },
	{ "pm1", "aenergy", "total", "energy_watt_hours" },
};

static bool level_is(const char *s, size_t l, const char *w)
{
	return l == strlen(w) && memcmp(s, w, l) == 0;
}

/* the type of a component key "<type>:<n>" known to the table, or false */
static bool known_type(const char *s, size_t l, char *type, size_t n)
{
	const char *colon = memchr(s, ':', l);
	if (!colon || colon == s || colon + 1 == s + l)
		return false;
	for (const char *p = colon + 1; p < s + l; p++)
		if (*p < '0' || *p > '9')
			return false;
	format_level_copy(s, (size_t)(colon - s), type, n);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].type, type) == 0)
			return true;
	return false;
}

static enum format_kind shelly_topic(const char *topic, char *node, size_t node_len)
{
	const char *lv[64];
	size_t ln[64];
	char type[32];
	int n = format_levels(topic, lv, ln, 64);
	if (n >= 2 && level_is(lv[n - 1], ln[n - 1], "online")) {
		format_level_copy(lv[n - 2], ln[n - 2], node, node_len);
		return FORMAT_STATUS;
	}
	if (n < 3 || !level_is(lv[n - 2], ln[n - 2], "status"))
		return FORMAT_BAD_TOPIC;
	format_level_copy(lv[n - 3], ln[n - 3], node, node_len);
	return known_type(lv[n - 1], ln[n - 1], type, sizeof(type)) ? FORMAT_READINGS :
								      FORMAT_IGNORED;
}

static void shelly_parse(const char *topic, const void *payload, size_t len, int64_t arrival_ms,
			 struct format_result *out)
{
	if (out->kind == FORMAT_STATUS) {
		if (format_availability(payload, len, &out->online) < 0) {
			out->kind = FORMAT_MALFORMED;
			snprintf(out->err, sizeof(out->err), "online is not true or false");
		}
		return;
	}
	const char *lv[64];
	size_t ln[64];
	int n = format_levels(topic, lv, ln, 64);
	char sensor[READING_MAX_VALUE + 1], type[32];
	format_level_copy(lv[n - 1], ln[n - 1], sensor, sizeof(sensor));
	known_type(lv[n - 1], ln[n - 1], type, sizeof(type));
	out->kind = FORMAT_MALFORMED;
	cJSON *root = reading_json_object(payload, len, out->err, sizeof(out->err));
	if (!root)
		return;
	struct reading *r = &out->r[0];
	struct reading_build b;
	if (reading_build_begin(&b, r, out->node, sensor, 8, 0, 8 * (READING_MAX_NAME + 1),
				arrival_ms, out->err, sizeof(out->err)) < 0) {
		cJSON_Delete(root);
		return;
	}
	const cJSON *m;
	cJSON_ArrayForEach(m, root) {
		bool used = strcmp(m->string, "id") == 0 ||
			    (strcmp(type, "temperature") == 0 && strcmp(m->string, "tF") == 0);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(keys[i].type, type) != 0 || strcmp(keys[i].key, m->string) != 0)
				continue;
			const cJSON *v = keys[i].sub ?
					 cJSON_GetObjectItemCaseSensitive(m, keys[i].sub) : m;
			if (cJSON_IsNumber(v)) {
				reading_build_field(&b, keys[i].field, v->valuedouble);
				used = true;
			} else if (cJSON_IsBool(v)) {
				reading_build_field(&b, keys[i].field, cJSON_IsTrue(v) ? 1 : 0);
				used = true;
			}
		}
		if (!used)
			r->ignored_keys++;
	}
	cJSON_Delete(root);
	if (reading_build_end(&b, out->err, sizeof(out->err)) < 0)
		return;
	out->kind = FORMAT_READINGS;
	out->n = 1;
}

/* <id>/online beside <id>/status/<component>:<n> (+/status/+, shellyx/#,
 * # -> +/online, shellyx/online, +/online) */
static int shelly_availability(const char *filter, char *out, size_t len)
{
	return format_filter_derive(filter, format_filter_last_is(filter, "#") &&
				    format_filter_depth(filter) == 1 ? 0 : 1, 1, "online",
				    out, len);
}

const struct format format_shelly = {
	.name = "shelly",
	.topics = "<id>/status/<component>:<n>, <id>/online",
	.seq = false,
	.topic = shelly_topic,
	.parse = shelly_parse,
	.availability = shelly_availability,
};
