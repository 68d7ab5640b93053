/*
 * test_ha.c - Home Assistant discovery messages: topic format, the config
 * JSON byte for byte, units and device classes from field names,
 * expire_after, and the parser that decides what the start-up scan may
 * clear (only our own configs of our own node).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "publisher/ha.h"

static const struct ha_ctx ctx = { .ha_prefix = "homeassistant", .prefix = "sensors",
				   .node = "rp3", .version = "0.1.0", .interval_ms = 10000 };

static void test_units(void **state)
{
	(void)state;
	struct ha_unit u = ha_unit_of("temperature_celsius");
	assert_string_equal(u.device_class, "temperature");
	assert_string_equal(u.unit, "\xc2\xb0" "C");
	u = ha_unit_of("humidity_percent");
	assert_string_equal(u.device_class, "humidity");
	assert_string_equal(u.unit, "%");
	u = ha_unit_of("pressure_hectopascals");
	assert_string_equal(u.device_class, "pressure");
	assert_string_equal(u.unit, "hPa");
	u = ha_unit_of("battery_percent");      /* a % that is not humidity: no class */
	assert_null(u.device_class);
	assert_string_equal(u.unit, "%");
	u = ha_unit_of("celsius");              /* no quantity before the unit */
	assert_null(u.device_class);
	assert_null(u.unit);
	u = ha_unit_of("light_lux");
	assert_null(u.device_class);
	assert_null(u.unit);
}

static void test_expire_after(void **state)
{
	(void)state;
	assert_int_equal(ha_expire_after_s(100), 60);
	assert_int_equal(ha_expire_after_s(10000), 60);
	assert_int_equal(ha_expire_after_s(20000), 60);
	assert_int_equal(ha_expire_after_s(20001), 61);   /* rounded up */
	assert_int_equal(ha_expire_after_s(60000), 180);
	assert_int_equal(ha_expire_after_s(86400000), 259200);
}

static void test_topics(void **state)
{
	(void)state;
	char buf[HA_TOPIC_MAX];
	assert_true(ha_config_topic(buf, sizeof(buf), &ctx, "desk", "temperature_celsius") > 0);
	assert_string_equal(buf, "homeassistant/sensor/rp3/desk_temperature_celsius/config");
	assert_true(ha_scan_filter(buf, sizeof(buf), &ctx) > 0);
	assert_string_equal(buf, "homeassistant/sensor/rp3/+/config");
	/* '.' is not in HA's [a-zA-Z0-9_-] */
	struct ha_ctx c = ctx;
	c.node = "pi.lan";
	assert_true(ha_config_topic(buf, sizeof(buf), &c, "a.b-c", "humidity_percent") > 0);
	assert_string_equal(buf, "homeassistant/sensor/pi_lan/a_b-c_humidity_percent/config");
	assert_int_equal(ha_config_topic(buf, 20, &ctx, "desk", "temperature_celsius"),
			 -ENAMETOOLONG);
}

static void test_payload(void **state)
{
	(void)state;
	char buf[HA_CONFIG_MAX];
	int n = ha_config_payload(buf, sizeof(buf), &ctx, "desk", "temperature_celsius");
	const char *want =
		"{\"name\":\"desk temperature\",\"unique_id\":\"sensorwire:rp3:desk:temperature_celsius\","
		"\"state_topic\":\"sensors/rp3/desk\","
		"\"value_template\":\"{{ value_json.temperature_celsius }}\","
		"\"device_class\":\"temperature\",\"unit_of_measurement\":\"\xc2\xb0" "C\","
		"\"state_class\":\"measurement\",\"expire_after\":60,"
		"\"availability_topic\":\"sensors/rp3/status\",\"payload_available\":\"online\","
		"\"payload_not_available\":\"offline\","
		"\"device\":{\"identifiers\":[\"sensorwire:rp3\"],\"name\":\"rp3\","
		"\"manufacturer\":\"sensorwire\",\"model\":\"sensor-publisher\",\"sw_version\":\"0.1.0\"},"
		"\"origin\":{\"name\":\"sensorwire\",\"sw_version\":\"0.1.0\"}}";
	assert_string_equal(buf, want);
	assert_int_equal(n, (int)strlen(want));
	/* no unit known: neither class nor unit, the rest as ever */
	ha_config_payload(buf, sizeof(buf), &ctx, "desk", "light_lux");
	assert_null(strstr(buf, "device_class"));
	assert_null(strstr(buf, "unit_of_measurement"));
	assert_non_null(strstr(buf, "\"state_class\":\"measurement\""));
	/* a prefix with a quote is escaped */
	struct ha_ctx c = ctx;
	c.prefix = "a\"b";
	ha_config_payload(buf, sizeof(buf), &c, "desk", "humidity_percent");
	assert_non_null(strstr(buf, "\"state_topic\":\"a\\\"b/rp3/desk\""));
	assert_int_equal(ha_config_payload(buf, 100, &ctx, "desk", "humidity_percent"), -ENOSPC);
}

static void test_parse_round_trip(void **state)
{
	(void)state;
	char buf[HA_CONFIG_MAX], s[64], f[64];
	struct ha_ctx c = ctx;
	c.node = "pi.lan";
	int n = ha_config_payload(buf, sizeof(buf), &c, "a.b-c", "humidity_percent");
	assert_true(ha_config_parse(buf, (size_t)n, "pi.lan", s, sizeof(s), f, sizeof(f)));
	assert_string_equal(s, "a.b-c");
	assert_string_equal(f, "humidity_percent");
	/* another node's config (same topic after '.' -> '_') is never ours */
	assert_false(ha_config_parse(buf, (size_t)n, "pi_lan", s, sizeof(s), f, sizeof(f)));
	assert_false(ha_config_parse(buf, (size_t)n, "pi", s, sizeof(s), f, sizeof(f)));
	/* not NUL-terminated: the length counts */
	assert_false(ha_config_parse(buf, 40, "pi.lan", s, sizeof(s), f, sizeof(f)));
}

static void test_parse_refuses_foreign(void **state)
{
	(void)state;
	char s[64], f[64];
	const char *cases[] = {
		"",
		"not json",
		/* someone else's device */
		"{\"unique_id\":\"sensorwire:rp3:desk:temperature_celsius\","
		"\"device\":{\"identifiers\":[\"zigbee2mqtt_0x1\"]}}",
		/* our device, a unique_id of another shape */
		"{\"unique_id\":\"rp3_desk_temperature\",\"device\":{\"identifiers\":[\"sensorwire:rp3\"]}}",
		"{\"unique_id\":\"sensorwire:rp3:desk\",\"device\":{\"identifiers\":[\"sensorwire:rp3\"]}}",
		"{\"unique_id\":\"sensorwire:rp3::x\",\"device\":{\"identifiers\":[\"sensorwire:rp3\"]}}",
		"{\"unique_id\":\"sensorwire:rp3:a:b:c\",\"device\":{\"identifiers\":[\"sensorwire:rp3\"]}}",
		"{\"unique_id\":\"sensorwire:rp3:a/b:x\",\"device\":{\"identifiers\":[\"sensorwire:rp3\"]}}",
		"{\"unique_id\":\"sensorwire:rp3:a:x.y\",\"device\":{\"identifiers\":[\"sensorwire:rp3\"]}}",
		/* unterminated */
		"{\"unique_id\":\"sensorwire:rp3:a:x",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_false(ha_config_parse(cases[i], strlen(cases[i]), "rp3", s, sizeof(s), f,
					     sizeof(f)));
	const char *ok = "{\"unique_id\":\"sensorwire:rp3:desk:x\",\"device\":{\"identifiers\":"
			 "[\"sensorwire:rp3\"]}}";
	assert_true(ha_config_parse(ok, strlen(ok), "rp3", s, sizeof(s), f, sizeof(f)));
	assert_string_equal(s, "desk");
	assert_string_equal(f, "x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_expire_after),
		cmocka_unit_test(test_topics),
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_parse_round_trip),
		cmocka_unit_test(test_parse_refuses_foreign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
