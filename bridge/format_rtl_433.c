/*
 * format_rtl_433.c - rtl_433's MQTT output (-F mqtt), as documented at
 * https://triq.org/rtl_433/OPERATION.html#mqtt-output and the field names
 * of https://triq.org/rtl_433/DATA_FORMAT.html:
 *   rtl_433/<host>/events   one JSON object per decoded transmission:
 *     {"time":"2024-11-22 13:45:00","model":"Acurite-Tower","id":1234,
 *      "channel":"A","battery_ok":1,"temperature_C":21.4,"humidity":48,"mic":"CHECKSUM"}
 * Other rtl_433/<host>/ topics (states, devices/...) are ignored. rtl_433
 * publishes no availability topic: its series get no staleness marker.
 *
 * Mapping: node = <host> (the receiver, the level before "events"), sensor
 * = model[-subtype][-id][-channel] lowercased, outside [a-z0-9_.-] as '_'
 * ("acurite-tower-1234-a"): stable for one radio sensor while its id is
 * (many change id on a battery swap). Keys: the table below (temperature_F
 * converted to Celsius, rounded to 0.01, when there is no temperature_C;
 * pressure_kPa to hPa); any other number is a field under its own name if
 * valid; other strings ignored (counted). "time" is the receiver's local
 * time without a zone (the default), read in the bridge's TZ (DEVICE_TZ);
 * "-M time:iso:tz" (with offset) and "-M time:unix" are read too; without
 * it, the arrival time. No seq: no gap accounting.
 */
#include "bridge/format.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *key, *field;
	double mul;
} keys[] = {
	{ "temperature_C", "temperature_celsius", 1 },
	{ "humidity", "humidity_percent", 1 },
	{ "moisture", "moisture_percent", 1 },
	{ "pressure_hPa", "pressure_hectopascals", 1 },
	{ "pressure_kPa", "pressure_hectopascals", 10 },
	{ "wind_avg_km_h", "wind_avg_kilometers_per_hour", 1 },
	{ "wind_max_km_h", "wind_max_kilometers_per_hour", 1 },
	{ "wind_avg_m_s", "wind_avg_meters_per_second", 1 },
	{ "wind_max_m_s", "wind_max_meters_per_second", 1 },
	{ "wind_dir_deg", "wind_direction_degrees", 1 },
	{ "rain_mm", "rain_millimeters", 1 },
	{ "light_lux", "illuminance_lux", 1 },
	{ "uv", "uv_index", 1 },
	{ "rssi", "rssi_db", 1 },
	{ "snr", "snr_db", 1 },
	{ "noise", "noise_db", 1 },
	{ "freq", "frequency_megahertz", 1 },
};

static bool level_is(const char *s, size_t l, const char *w)
{
	return l == strlen(w) && memcmp(s, w, l) == 0;
}

static enum format_kind rtl_topic(const char *topic, char *node, size_t node_len)
{
	const char *lv[64];
	size_t ln[64];
	int n = format_levels(topic, lv, ln, 64);
	if (n < 2)
		return FORMAT_BAD_TOPIC;
	if (level_is(lv[n - 1], ln[n - 1], "events")) {
		format_level_copy(lv[n - 2], ln[n - 2], node, node_len);
		return FORMAT_READINGS;
	}
	return FORMAT_IGNORED;
}

/* appends "-<value>" of a string or integer member */
static void append_part(char *buf, size_t n, const cJSON *v)
{
	size_t l = strlen(buf);
	if (cJSON_IsString(v) && v->valuestring[0])
		snprintf(buf + l, n - l, "-%s", v->valuestring);
	else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
		 fabs(v->valuedouble) < 1e15)
		snprintf(buf + l, n - l, "-%.0f", v->valuedouble);
}

static void rtl_parse(const char *topic, const void *payload, size_t len, int64_t arrival_ms,
		      struct format_result *out)
{
	(void)topic;
	out->kind = FORMAT_MALFORMED;
	cJSON *root = reading_json(payload, len, out->err, sizeof(out->err));
	if (!root)
		return;
	const cJSON *model = cJSON_IsObject(root) ?
			     cJSON_GetObjectItemCaseSensitive(root, "model") : NULL;
	if (!cJSON_IsString(model) || !model->valuestring[0]) {
		snprintf(out->err, sizeof(out->err), cJSON_IsObject(root) ?
			 "no \"model\": not a device event" : "payload is not a JSON object");
		cJSON_Delete(root);
		return;
	}
	char raw[READING_MAX_VALUE + 1], sensor[READING_MAX_VALUE + 1];
	snprintf(raw, sizeof(raw), "%s", model->valuestring);
	append_part(raw, sizeof(raw), cJSON_GetObjectItemCaseSensitive(root, "subtype"));
	append_part(raw, sizeof(raw), cJSON_GetObjectItemCaseSensitive(root, "id"));
	append_part(raw, sizeof(raw), cJSON_GetObjectItemCaseSensitive(root, "channel"));
	format_sanitise(raw, sensor, sizeof(sensor));

	struct reading *r = &out->r[0];
	struct reading_build b;
	int members = cJSON_GetArraySize(root);
	if (reading_build_begin(&b, r, out->node, sensor, (size_t)members, 0,
				(size_t)members * (READING_MAX_NAME + 1), arrival_ms, out->err,
				sizeof(out->err)) < 0) {
		cJSON_Delete(root);
		return;
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "time");
	if (t) {
		int64_t ts;
		if (!cJSON_IsString(t) || format_time(t->valuestring, &ts) < 0 ||
		    reading_build_ts(&b, ts, out->err, sizeof(out->err)) < 0) {
			snprintf(out->err, sizeof(out->err),
				 "time is not 'YYYY-MM-DD HH:MM:SS' (or ISO 8601, or Unix seconds)");
			goto bad;
		}
	}
	bool has_c = cJSON_GetObjectItemCaseSensitive(root, "temperature_C") != NULL;
	const cJSON *k;
	cJSON_ArrayForEach(k, root) {
		const char *name = k->string;
		if (strcmp(name, "time") == 0 || strcmp(name, "model") == 0 ||
		    strcmp(name, "id") == 0 || strcmp(name, "channel") == 0 ||
		    strcmp(name, "subtype") == 0 || strcmp(name, "mic") == 0)
			continue;
		if (!cJSON_IsNumber(k)) {
			r->ignored_keys++;
			continue;
		}
		double v = k->valuedouble;
		const char *field = name;
		if (strcmp(name, "temperature_F") == 0) {
			if (has_c) {
				r->ignored_keys++;
				continue;
			}
			field = "temperature_celsius";
			v = round((v - 32) * 500 / 9) / 100;
		}
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(keys[i].key, name) == 0) {
				field = keys[i].field;
				v *= keys[i].mul;
			}
		}
		reading_build_field(&b, field, v);
	}
	cJSON_Delete(root);
	root = NULL;
	if (reading_build_end(&b, out->err, sizeof(out->err)) < 0)
		return;
	out->kind = FORMAT_READINGS;
	out->n = 1;
	return;
bad:
	reading_build_abort(&b);
	cJSON_Delete(root);
}

const struct format format_rtl_433 = {
	.name = "rtl_433",
	.topics = "rtl_433/<host>/events",
	.seq = false,
	.topic = rtl_topic,
	.parse = rtl_parse,
};
