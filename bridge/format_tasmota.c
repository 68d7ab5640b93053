/*
 * format_tasmota.c - Tasmota's telemetry, as documented at
 * https://tasmota.github.io/docs/MQTT/ and .../docs/Commands/#teleperiod
 * (default FullTopic "%prefix%/%topic%/", prefix "tele"):
 *   tele/<topic>/SENSOR  every TelePeriod, one JSON object:
 *     {"Time":"2024-11-22T13:45:00","AM2301":{"Temperature":21.4,"Humidity":48.0,
 *      "DewPoint":10.0},"DS18B20-1":{"Id":"01144A0CB2AA","Temperature":21.3},
 *      "TempUnit":"C","PressureUnit":"hPa"}
 *   tele/<topic>/LWT     "Online" / "Offline" (retained; the Last Will)
 * Other tele/<topic>/ topics (STATE, INFO1, RESULT, ...) hold no reading:
 * ignored.
 *
 * Mapping: node = <topic> (the level before SENSOR), one reading per sensor
 * object, sensor = its key lowercased, outside [a-z0-9_.-] as '_'
 * ("DS18B20-1" -> "ds18b20-1"). Keys: the table below, with TempUnit F
 * converted to Celsius and PressureUnit mmHg/inHg to hPa (rounded to 0.01);
 * any other number is a field named by its key in snake_case ("A0" -> "a0");
 * a DS18B20's "Id" is the tag "id"; other non-numbers are ignored (counted).
 * Time is the device's local time without a zone (or with one, SetOption52):
 * read in the bridge's TZ (DEVICE_TZ); without Time, the arrival time. No
 * seq: no gap accounting.
 */
#include "bridge/format.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum unit { U_NONE, U_TEMP, U_PRESSURE };

static const struct {
	const char *key, *field;
	enum unit unit;
} keys[] = {
	{ "Temperature", "temperature_celsius", U_TEMP },
	{ "DewPoint", "dew_point_celsius", U_TEMP },
	{ "Humidity", "humidity_percent", U_NONE },
	{ "Pressure", "pressure_hectopascals", U_PRESSURE },
	{ "SeaPressure", "sea_level_pressure_hectopascals", U_PRESSURE },
	{ "Illuminance", "illuminance_lux", U_NONE },
	{ "CarbonDioxide", "co2_ppm", U_NONE },
	{ "eCO2", "eco2_ppm", U_NONE },
	{ "TVOC", "tvoc_ppb", U_NONE },
	{ "Gas", "gas_resistance_kiloohms", U_NONE },
	{ "Distance", "distance_centimeters", U_NONE },
	{ "Power", "power_watts", U_NONE },
	{ "ApparentPower", "apparent_power_voltamperes", U_NONE },
	{ "ReactivePower", "reactive_power_voltamperes_reactive", U_NONE },
	{ "Factor", "power_factor", U_NONE },
	{ "Voltage", "voltage_volts", U_NONE },
	{ "Current", "current_amperes", U_NONE },
	{ "Frequency", "frequency_hertz", U_NONE },
	{ "Total", "energy_total_kilowatt_hours", U_NONE },
	{ "Today", "energy_today_kilowatt_hours", U_NONE },
	{ "Yesterday", "energy_yesterday_kilowatt_hours", U_NONE },
};

static enum format_kind tas_topic(const char *topic, char *node, size_t node_len)
{
	const char *lv[64];
	size_t ln[64];
	int n = format_levels(topic, lv, ln, 64);
	if (n < 2)
		return FORMAT_BAD_TOPIC;
	format_level_copy(lv[n - 2], ln[n - 2], node, node_len);
	if (ln[n - 1] == 6 && memcmp(lv[n - 1], "SENSOR", 6) == 0)
		return FORMAT_READINGS;
	if (ln[n - 1] == 3 && memcmp(lv[n - 1], "LWT", 3) == 0)
		return FORMAT_STATUS;
	return FORMAT_IGNORED;
}

/* "ApparentPower" -> "apparent_power", "A0" -> "a0" */
static void snake(const char *in, char *out, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; in[i] && j + 2 < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (isupper(c) && i > 0 && islower((unsigned char)in[i - 1]))
			out[j++] = '_';
		out[j++] = (char)tolower(c);
	}
	out[j] = '\0';
}

static double round2(double v)
{
	return round(v * 100) / 100;
}

static void tas_parse(const char *topic, const void *payload, size_t len, int64_t arrival_ms,
		      struct format_result *out)
{
	(void)topic;
	if (out->kind == FORMAT_STATUS) {
		if (format_availability(payload, len, &out->online) < 0) {
			out->kind = FORMAT_MALFORMED;
			snprintf(out->err, sizeof(out->err), "LWT is not Online or Offline");
		}
		return;
	}
	cJSON *root = reading_json_object(payload, len, out->err, sizeof(out->err));
	if (!root) {
		out->kind = FORMAT_MALFORMED;
		return;
	}
	int64_t ts = 0;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "Time");
	if (t && (!cJSON_IsString(t) || format_time(t->valuestring, &ts) < 0)) {
		snprintf(out->err, sizeof(out->err), "Time is not YYYY-MM-DDTHH:MM:SS");
		goto bad;
	}
	const cJSON *tu = cJSON_GetObjectItemCaseSensitive(root, "TempUnit");
	bool fahrenheit = cJSON_IsString(tu) && strcmp(tu->valuestring, "F") == 0;
	if (tu && !(cJSON_IsString(tu) && (fahrenheit || strcmp(tu->valuestring, "C") == 0))) {
		snprintf(out->err, sizeof(out->err), "TempUnit is not C or F");
		goto bad;
	}
	const cJSON *pu = cJSON_GetObjectItemCaseSensitive(root, "PressureUnit");
	double pmul = 1;
	if (pu) {
		if (cJSON_IsString(pu) && strcmp(pu->valuestring, "hPa") == 0)
			pmul = 1;
		else if (cJSON_IsString(pu) && strcmp(pu->valuestring, "mmHg") == 0)
			pmul = 1.33322387415;
		else if (cJSON_IsString(pu) && strcmp(pu->valuestring, "inHg") == 0)
			pmul = 33.8638866667;
		else {
			snprintf(out->err, sizeof(out->err), "PressureUnit is not hPa, mmHg or inHg");
			goto bad;
		}
	}
	unsigned skipped = 0;
	char node[READING_MAX_VALUE + 1];
	snprintf(node, sizeof(node), "%s", out->node);
	const cJSON *obj;
	cJSON_ArrayForEach(obj, root) {
		if (!cJSON_IsObject(obj))
			continue;   /* Time, TempUnit, PressureUnit, SpeedUnit */
		if (out->n == FORMAT_MAX_READINGS) {
			skipped++;
			continue;
		}
		char sensor[READING_MAX_VALUE + 1], err[160];
		format_sanitise(obj->string, sensor, sizeof(sensor));
		struct reading *r = &out->r[out->n];
		struct reading_build b;
		int members = cJSON_GetArraySize(obj);
		if (reading_build_begin(&b, r, node, sensor, (size_t)members, 1,
					(size_t)members * (READING_MAX_NAME + 1) + 512, arrival_ms,
					err, sizeof(err)) < 0) {
			skipped++;
			if (!out->err[0])
				snprintf(out->err, sizeof(out->err), "'%.40s': %.100s", obj->string, err);
			continue;
		}
		if (t)
			reading_build_ts(&b, ts, err, sizeof(err)); /* checked below */
		const cJSON *k;
		cJSON_ArrayForEach(k, obj) {
			if (strcmp(k->string, "Id") == 0 && cJSON_IsString(k)) {
				reading_build_tag(&b, "id", k->valuestring);
				continue;
			}
			if (!cJSON_IsNumber(k)) {
				r->ignored_keys++;
				continue;
			}
			double v = k->valuedouble;
			char name[READING_MAX_NAME + 8];
			const char *field = NULL;
			for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
				if (strcmp(keys[i].key, k->string) == 0) {
					field = keys[i].field;
					if (keys[i].unit == U_TEMP && fahrenheit)
						v = round((v - 32) * 500 / 9) / 100;
					else if (keys[i].unit == U_PRESSURE && pmul != 1)
						v = round2(v * pmul);
				}
			}
			if (!field) {
				snake(k->string, name, sizeof(name));
				field = name;
			}
			reading_build_field(&b, field, v);
		}
		if (t && !r->ts_from_payload) {
			snprintf(out->err, sizeof(out->err), "Time: %.140s", err);
			reading_build_abort(&b);
			goto bad;
		}
		if (reading_build_end(&b, err, sizeof(err)) < 0) {
			skipped++;
			if (!out->err[0])
				snprintf(out->err, sizeof(out->err), "'%.40s': %.100s", obj->string, err);
			continue;
		}
		out->n++;
	}
	if (out->n == 0) {
		if (!out->err[0])
			snprintf(out->err, sizeof(out->err), "no sensor object (e.g. \"AM2301\":{...})");
		goto bad;
	}
	out->err[0] = '\0';
	out->r[0].ignored_keys += skipped;   /* sensor objects without a field */
	cJSON_Delete(root);
	return;
bad:
	format_result_release(out);
	out->kind = FORMAT_MALFORMED;
	cJSON_Delete(root);
}

/* tele/<topic>/LWT beside tele/<topic>/SENSOR (tele/+/SENSOR, tele/+/+,
 * tele/# -> tele/+/LWT) */
static int tas_availability(const char *filter, char *out, size_t len)
{
	if (format_filter_last_is(filter, "#"))
		return format_filter_derive(filter, -1, 2, "LWT", out, len);
	return format_filter_derive(filter, -1, 0, "LWT", out, len);
}

const struct format format_tasmota = {
	.name = "tasmota",
	.topics = "tele/<topic>/SENSOR, tele/<topic>/LWT",
	.seq = false,
	.topic = tas_topic,
	.parse = tas_parse,
	.availability = tas_availability,
};
