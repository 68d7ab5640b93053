/*
 * test_formats.c - the payload formats (bridge/format.h) on the fixtures of
 * tests/unit/bridge/fixtures/<format>/<case>.{topic,payload}: real-looking
 * samples of each firmware's documented shape. Exact node, sensor, fields,
 * values and timestamps; availability; ignored topics; refusals with their
 * reason; MQTT_TOPICS "format:filter" and the routing by filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/format.h"

#define ARRIVAL 1732279999999LL
/* 2024-11-22T13:45:00 in CET (the fixtures' zone-less device times) */
#define T_1345 1732279500000LL

struct fixture {
	char topic[512];
	char payload[READING_MAX_PAYLOAD + 1];
	size_t len;
};

static void load(const char *name, struct fixture *fx)
{
	const char *root = getenv("SW_ROOT");
	char path[1024];
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/tests/unit/bridge/fixtures/%s.%s", root ? root : ".",
			 name, i ? "payload" : "topic");
		FILE *f = fopen(path, "rb");
		if (!f)
			fail_msg("cannot open %s", path);
		char *buf = i ? fx->payload : fx->topic;
		size_t cap = i ? sizeof(fx->payload) - 1 : sizeof(fx->topic) - 1;
		size_t n = fread(buf, 1, cap, f);
		fclose(f);
		buf[n] = '\0';
		if (i)
			fx->len = n;
	}
}

/* runs fixture <fmt>/<case> through its format */
static struct format_result *run(const char *fmt, const char *name)
{
	static struct format_result res;
	static struct fixture fx;
	char full[128];
	snprintf(full, sizeof(full), "%s/%s", fmt, name);
	load(full, &fx);
	const struct format *f = format_find(fmt);
	assert_non_null(f);
	format_message(f, fx.topic, fx.payload, fx.len, ARRIVAL, &res);
	return &res;
}

static double field(const struct reading *r, const char *name)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			return r->fields[i].value;
	fail_msg("no field %s in %s/%s", name, r->node, r->sensor);
	return NAN;
}

/* the field names, comma-separated, in the reading's (sorted) order */
static const char *names(const struct reading *r)
{
	static char buf[1024];
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_fields; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "," : "",
				      r->fields[i].name);
	return buf;
}

static void expect_reading(const struct reading *r, const char *node, const char *sensor,
			   const char *fields, int64_t ts, bool from_payload)
{
	assert_string_equal(r->node, node);
	assert_string_equal(r->sensor, sensor);
	assert_string_equal(names(r), fields);
	assert_int_equal(r->ts_ms, ts);
	assert_int_equal(r->ts_from_payload, from_payload);
	assert_false(r->has_seq);
	assert_false(r->has_boot);
}

static void expect_status(const char *fmt, const char *name, const char *node, bool online)
{
	struct format_result *res = run(fmt, name);
	assert_int_equal(res->kind, FORMAT_STATUS);
	assert_string_equal(res->node, node);
	assert_int_equal(res->online, online);
	assert_int_equal(res->n, 0);
}

static void expect_refused(const char *fmt, const char *name, enum format_kind kind,
			   const char *reason)
{
	struct format_result *res = run(fmt, name);
	assert_int_equal(res->kind, kind);
	assert_int_equal(res->n, 0);
	if (reason && !strstr(res->err, reason))
		fail_msg("%s/%s: '%s' does not say '%s'", fmt, name, res->err, reason);
}

static int set_tz(void **state)
{
	(void)state;
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	return 0;
}

static void test_sensorwire(void **state)
{
	(void)state;
	struct format_result *res = run("sensorwire", "desk");
	assert_int_equal(res->kind, FORMAT_READINGS);
	assert_int_equal(res->n, 1);
	struct reading *r = &res->r[0];
	assert_string_equal(r->node, "rp3");
	assert_string_equal(r->sensor, "desk");
	assert_int_equal(r->ts_ms, 1732276800123LL);
	assert_true(r->has_seq && r->has_boot);
	assert_int_equal(r->seq, 42);
	assert_string_equal(names(r), "humidity_percent,temperature_celsius");
	assert_int_equal(r->n_tags, 1);
	assert_string_equal(r->tags[0].value, "desk");
	format_result_release(res);
	expect_status("sensorwire", "status_offline", "rp3", false);
	assert_true(format_find("sensorwire")->seq);
}

static void test_tasmota(void **state)
{
	(void)state;
	struct format_result *res = run("tasmota", "sensor_am2301");
	assert_int_equal(res->kind, FORMAT_READINGS);
	assert_int_equal(res->n, 1);
	struct reading *r = &res->r[0];
	expect_reading(r, "plug1", "am2301", "dew_point_celsius,humidity_percent,temperature_celsius",
		       T_1345, true);
	assert_true(field(r, "temperature_celsius") == 21.4);
	assert_true(field(r, "humidity_percent") == 48.0);
	assert_true(field(r, "dew_point_celsius") == 10.0);
	assert_int_equal(r->ignored_keys, 0);
	format_result_release(res);

	/* two sensors: two readings, one Time */
	res = run("tasmota", "sensor_multi");
	assert_int_equal(res->kind, FORMAT_READINGS);
	assert_int_equal(res->n, 2);
	expect_reading(&res->r[0], "garage", "bme280",
		       "dew_point_celsius,humidity_percent,pressure_hectopascals,temperature_celsius",
		       T_1345 + 10000, true);
	assert_true(field(&res->r[0], "pressure_hectopascals") == 1013.4);
	assert_true(field(&res->r[0], "temperature_celsius") == 18.2);
	expect_reading(&res->r[1], "garage", "ds18b20-1", "temperature_celsius", T_1345 + 10000,
		       true);
	assert_true(field(&res->r[1], "temperature_celsius") == 17.9);
	assert_int_equal(res->r[1].n_tags, 1);
	assert_string_equal(res->r[1].tags[0].key, "id");
	assert_string_equal(res->r[1].tags[0].value, "01144A0CB2AA");
	format_result_release(res);

	/* TempUnit F: stored in Celsius, to 0.01 */
	res = run("tasmota", "sensor_fahrenheit");
	assert_int_equal(res->kind, FORMAT_READINGS);
	expect_reading(&res->r[0], "porch", "si7021",
		       "dew_point_celsius,humidity_percent,temperature_celsius", T_1345 + 20000, true);
	assert_true(field(&res->r[0], "temperature_celsius") == 21.39);
	assert_true(field(&res->r[0], "dew_point_celsius") == 7.39);
	assert_true(field(&res->r[0], "humidity_percent") == 40.1);
	format_result_release(res);

	expect_status("tasmota", "lwt_offline", "plug1", false);
	expect_status("tasmota", "lwt_online", "plug1", true);
	expect_refused("tasmota", "state", FORMAT_IGNORED, NULL);
	expect_refused("tasmota", "bad_time", FORMAT_MALFORMED, "Time is not YYYY-MM-DDTHH:MM:SS");
	expect_refused("tasmota", "no_sensor", FORMAT_MALFORMED, "no sensor object");
	assert_false(format_find("tasmota")->seq);
}

static void test_esphome(void **state)
{
	(void)state;
	struct format_result *res = run("esphome", "temperature");
	assert_int_equal(res->kind, FORMAT_READINGS);
	expect_reading(&res->r[0], "livingroom", "livingroom_temperature", "temperature_celsius",
		       ARRIVAL, false);
	assert_true(field(&res->r[0], "temperature_celsius") == 21.4);
	format_result_release(res);
	res = run("esphome", "humidity");
	expect_reading(&res->r[0], "livingroom", "livingroom_humidity", "humidity_percent", ARRIVAL,
		       false);
	assert_true(field(&res->r[0], "humidity_percent") == 48.2);
	format_result_release(res);
	/* no known unit word at the end: "value" */
	res = run("esphome", "pm25");
	expect_reading(&res->r[0], "livingroom", "pm_2_5", "value", ARRIVAL, false);
	assert_true(field(&res->r[0], "value") == 12);
	format_result_release(res);
	expect_status("esphome", "status_offline", "livingroom", false);
	expect_refused("esphome", "nan", FORMAT_MALFORMED, "state 'nan' is not a finite number");
}

static void test_zigbee2mqtt(void **state)
{
	(void)state;
	struct format_result *res = run("zigbee2mqtt", "aqara");
	assert_int_equal(res->kind, FORMAT_READINGS);
	assert_int_equal(res->n, 1);
	struct reading *r = &res->r[0];
	expect_reading(r, "zigbee2mqtt", "bedroom_sensor",
		       "battery_percent,device_temperature_celsius,humidity_percent,linkquality,"
		       "power_outage_count,pressure_hectopascals,temperature_celsius,voltage",
		       ARRIVAL, false);
	assert_true(field(r, "battery_percent") == 87);
	assert_true(field(r, "humidity_percent") == 48.2);
	assert_true(field(r, "linkquality") == 120);
	assert_true(field(r, "pressure_hectopascals") == 1013.2);
	assert_true(field(r, "temperature_celsius") == 21.4);
	assert_true(field(r, "voltage") == 2985);
	assert_int_equal(r->ignored_keys, 2);   /* update (object), update_available (null) */
	format_result_release(res);
	expect_status("zigbee2mqtt", "bridge_state_json", "zigbee2mqtt", false);
	expect_status("zigbee2mqtt", "bridge_state_plain", "zigbee2mqtt", true);
	expect_refused("zigbee2mqtt", "bridge_info", FORMAT_IGNORED, NULL);
	expect_refused("zigbee2mqtt", "not_object", FORMAT_MALFORMED, "not a JSON object");
}

static void test_shelly(void **state)
{
	(void)state;
	const char *id = "shellyhtg3-84fce63ff0a4";
	struct format_result *res = run("shelly", "temperature");
	assert_int_equal(res->kind, FORMAT_READINGS);
	expect_reading(&res->r[0], id, "temperature:0", "temperature_celsius", ARRIVAL, false);
	assert_true(field(&res->r[0], "temperature_celsius") == 21.4);
	assert_int_equal(res->r[0].ignored_keys, 0);   /* id and tF are left out on purpose */
	format_result_release(res);
	res = run("shelly", "humidity");
	expect_reading(&res->r[0], id, "humidity:0", "humidity_percent", ARRIVAL, false);
	assert_true(field(&res->r[0], "humidity_percent") == 48.2);
	format_result_release(res);
	res = run("shelly", "devicepower");
	expect_reading(&res->r[0], id, "devicepower:0", "battery_percent,battery_volts,external_power",
		       ARRIVAL, false);
	assert_true(field(&res->r[0], "battery_percent") == 84);
	assert_true(field(&res->r[0], "battery_volts") == 2.95);
	assert_true(field(&res->r[0], "external_power") == 0);
	format_result_release(res);
	expect_status("shelly", "online_false", id, false);
	expect_refused("shelly", "sys", FORMAT_IGNORED, NULL);
	expect_refused("shelly", "no_field", FORMAT_MALFORMED, "no numeric field");
}

static void test_rtl_433(void **state)
{
	(void)state;
	struct format_result *res = run("rtl_433", "acurite");
	assert_int_equal(res->kind, FORMAT_READINGS);
	expect_reading(&res->r[0], "pi-radio", "acurite-tower-1234-a",
		       "battery_ok,humidity_percent,temperature_celsius", T_1345, true);
	assert_true(field(&res->r[0], "temperature_celsius") == 21.4);
	assert_true(field(&res->r[0], "humidity_percent") == 48);
	assert_true(field(&res->r[0], "battery_ok") == 1);
	assert_int_equal(res->r[0].ignored_keys, 0);
	format_result_release(res);
	res = run("rtl_433", "fahrenheit");
	expect_reading(&res->r[0], "pi-radio", "ambientweather-f007th-44-1",
		       "battery_ok,humidity_percent,temperature_celsius", T_1345 + 60000, true);
	assert_true(field(&res->r[0], "temperature_celsius") == 21.39);
	format_result_release(res);
	expect_refused("rtl_433", "no_model", FORMAT_MALFORMED, "no \"model\"");
}

/* the reading.h rules hold for every format: the same refusals */
static void test_same_rules(void **state)
{
	(void)state;
	static struct format_result res;
	const struct format *z = format_find("zigbee2mqtt");
	/* a bad name and a non-finite number are skipped; nothing left: refused */
	const char *p = "{\"_x\":1,\"temperature\":1e400}";
	format_message(z, "zigbee2mqtt/s1", p, strlen(p), ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	assert_non_null(strstr(res.err, "'_x' is not [a-zA-Z][a-zA-Z0-9_]*"));
	/* -0 is 0, "time" is no field */
	p = "{\"temperature\":-0.0,\"time\":5}";
	format_message(z, "zigbee2mqtt/s1", p, strlen(p), ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_READINGS);
	assert_string_equal(names(&res.r[0]), "temperature_celsius");
	assert_false(signbit(res.r[0].fields[0].value));
	assert_int_equal(res.r[0].ignored_keys, 1);
	format_result_release(&res);
	/* a timestamp in seconds is refused as in our JSON */
	p = "{\"temperature\":1,\"last_seen\":1732276800}";
	format_message(z, "zigbee2mqtt/s1", p, strlen(p), ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	/* last_seen in ms and as ISO 8601 with a zone */
	p = "{\"temperature\":1,\"last_seen\":1732276800123}";
	format_message(z, "zigbee2mqtt/s1", p, strlen(p), ARRIVAL, &res);
	assert_int_equal(res.r[0].ts_ms, 1732276800123LL);
	format_result_release(&res);
	p = "{\"temperature\":1,\"last_seen\":\"2024-11-22T13:45:00.250+01:00\"}";
	format_message(z, "zigbee2mqtt/s1", p, strlen(p), ARRIVAL, &res);
	assert_int_equal(res.r[0].ts_ms, T_1345 + 250);
	format_result_release(&res);
	/* invalid UTF-8, trailing junk, as in our JSON */
	format_message(z, "zigbee2mqtt/s1", "{\"a\":\"\xff\"}", 9, ARRIVAL, &res);
	assert_string_equal(res.err, "payload is not valid UTF-8");
	p = "{\"temperature\":1} x";
	format_message(z, "zigbee2mqtt/s1", p, strlen(p), ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	/* a topic level the rules refuse: bad topic; too large a payload */
	format_message(z, "zigbee2mqtt/a\\b", "{}", 2, ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_BAD_TOPIC);
	static char big[READING_MAX_PAYLOAD + 2];
	memset(big, ' ', sizeof(big));
	format_message(z, "zigbee2mqtt/s1", big, sizeof(big), ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_TOO_LARGE);
	/* ESPHome: hex and inf are no numbers */
	const struct format *e = format_find("esphome");
	format_message(e, "n/sensor/x/state", "0x10", 4, ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	format_message(e, "n/sensor/x/state", "inf", 3, ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	format_message(e, "n/binary_sensor/door/state", "ON", 2, ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_READINGS);
	assert_string_equal(names(&res.r[0]), "state");
	assert_true(res.r[0].fields[0].value == 1);
	format_result_release(&res);
	/* a bad LWT payload */
	format_message(format_find("tasmota"), "tele/p/LWT", "maybe", 5, ARRIVAL, &res);
	assert_int_equal(res.kind, FORMAT_MALFORMED);
}

static void test_spec_and_routing(void **state)
{
	(void)state;
	const struct format *f;
	const char *filter;
	char err[256];
	assert_int_equal(format_spec("sensors/+/+", &f, &filter, err, sizeof(err)), 0);
	assert_ptr_equal(f, &format_sensorwire);
	assert_string_equal(filter, "sensors/+/+");
	assert_int_equal(format_spec("tasmota:tele/+/SENSOR", &f, &filter, err, sizeof(err)), 0);
	assert_ptr_equal(f, &format_tasmota);
	assert_string_equal(filter, "tele/+/SENSOR");
	/* a ':' after the first '/' is part of the filter (Shelly's components) */
	assert_int_equal(format_spec("shelly:+/status/temperature:0", &f, &filter, err,
				     sizeof(err)), 0);
	assert_ptr_equal(f, &format_shelly);
	assert_string_equal(filter, "+/status/temperature:0");
	assert_int_equal(format_spec("x/status/temperature:0", &f, &filter, err, sizeof(err)), 0);
	assert_ptr_equal(f, &format_sensorwire);
	assert_int_equal(format_spec("tasmot:tele/#", &f, &filter, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown payload format 'tasmot' (known: sensorwire, tasmota, "
				    "esphome, zigbee2mqtt, shelly, rtl_433)"));
	assert_int_equal(format_spec("esphome:", &f, &filter, err, sizeof(err)), -1);
	assert_string_equal(format_names(), "sensorwire, tasmota, esphome, zigbee2mqtt, shelly, rtl_433");

	assert_true(format_filter_match("sensors/+/+", "sensors/rp3/desk"));
	assert_false(format_filter_match("sensors/+/+", "sensors/rp3"));
	assert_false(format_filter_match("sensors/+/+", "sensors/rp3/desk/x"));
	assert_true(format_filter_match("tele/+/SENSOR", "tele/plug1/SENSOR"));
	assert_false(format_filter_match("tele/+/SENSOR", "tele/plug1/STATE"));
	assert_true(format_filter_match("rtl_433/#", "rtl_433/host/events"));
	assert_true(format_filter_match("rtl_433/#", "rtl_433"));
	assert_true(format_filter_match("#", "a/b"));
	assert_false(format_filter_match("#", "$SYS/x"));
	assert_false(format_filter_match("+/status", "$SYS/status"));
	assert_true(format_filter_match("+/sensor/+/state", "n/sensor/t/state"));
}

static void test_time(void **state)
{
	(void)state;
	int64_t ms;
	assert_int_equal(format_time("2024-11-22T13:45:00", &ms), 0);
	assert_int_equal(ms, T_1345);
	assert_int_equal(format_time("2024-11-22 13:45:00", &ms), 0);
	assert_int_equal(ms, T_1345);
	assert_int_equal(format_time("2024-07-01T12:00:00", &ms), 0);  /* CEST */
	assert_int_equal(ms, 1719828000000LL);
	assert_int_equal(format_time("2024-11-22T12:45:00Z", &ms), 0);
	assert_int_equal(ms, T_1345);
	assert_int_equal(format_time("2024-11-22T08:45:00.5-0400", &ms), 0);
	assert_int_equal(ms, T_1345 + 500);
	assert_int_equal(format_time("1732279500", &ms), 0);
	assert_int_equal(ms, T_1345);
	assert_int_equal(format_time("2024-11-22", &ms), -1);
	assert_int_equal(format_time("2024-13-22T13:45:00", &ms), -1);
	assert_int_equal(format_time("2024-11-22T13:45:00+1", &ms), -1);
	assert_int_equal(format_time("2024-11-22T13:45:00x", &ms), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sensorwire),
		cmocka_unit_test(test_tasmota),
		cmocka_unit_test(test_esphome),
		cmocka_unit_test(test_zigbee2mqtt),
		cmocka_unit_test(test_shelly),
		cmocka_unit_test(test_rtl_433),
		cmocka_unit_test(test_same_rules),
		cmocka_unit_test(test_spec_and_routing),
		cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests(tests, set_tz, NULL);
}
