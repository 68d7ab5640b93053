/*
 * test_format_availability.c - each format's availability hook (format.h):
 * the filter a share group subscribes unshared beside a data filter. For
 * every format with an availability topic and typical data filters: the
 * exact filter, and that it matches the format's real availability topic
 * (which the format's own topic() calls FORMAT_STATUS), so every replica
 * learns every node's availability. rtl_433 has none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "bridge/format.h"

struct avail_case {
	const struct format *f;
	const char *data_filter;
	const char *want;          /* the availability filter */
	const char *status_topic;  /* a real availability topic it must match */
};

static void test_hooks(void **state)
{
	(void)state;
	static const struct avail_case cases[] = {
		{ &format_sensorwire, "sensors/+/+", "sensors/+/status", "sensors/n1/status" },
		{ &format_sensorwire, "sensors/#", "sensors/+/status", "sensors/n1/status" },
		{ &format_sensorwire, "site/a/+/+", "site/a/+/status", "site/a/n1/status" },
		{ &format_sensorwire, "sensors/n1/desk", "sensors/n1/status", "sensors/n1/status" },
		{ &format_tasmota, "tele/+/SENSOR", "tele/+/LWT", "tele/plug1/LWT" },
		{ &format_tasmota, "tele/+/+", "tele/+/LWT", "tele/plug1/LWT" },
		{ &format_tasmota, "tele/#", "tele/+/LWT", "tele/plug1/LWT" },
		{ &format_esphome, "+/sensor/+/state", "+/status", "livingroom/status" },
		{ &format_esphome, "livingroom/#", "livingroom/status", "livingroom/status" },
		{ &format_esphome, "#", "+/status", "livingroom/status" },
		{ &format_zigbee2mqtt, "zigbee2mqtt/+", "zigbee2mqtt/bridge/state",
		  "zigbee2mqtt/bridge/state" },
		{ &format_zigbee2mqtt, "zigbee2mqtt/#", "zigbee2mqtt/bridge/state",
		  "zigbee2mqtt/bridge/state" },
		{ &format_shelly, "+/status/+", "+/online", "shellyhtg3-84fce63ff0a4/online" },
		{ &format_shelly, "shellyplus1-a8/#", "shellyplus1-a8/online", "shellyplus1-a8/online" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct avail_case *c = &cases[i];
		char out[256] = "";
		assert_non_null(c->f->availability);
		assert_int_equal(c->f->availability(c->data_filter, out, sizeof(out)), 1);
		if (strcmp(out, c->want) != 0)
			fail_msg("%s '%s': '%s', want '%s'", c->f->name, c->data_filter, out, c->want);
		assert_true(format_filter_match(out, c->status_topic));
		char node[READING_MAX_VALUE + 1];
		assert_int_equal(c->f->topic(c->status_topic, node, sizeof(node)), FORMAT_STATUS);
	}
	/* rtl_433 publishes no availability */
	assert_null(format_rtl_433.availability);
	/* too small a buffer: none rather than a cut filter */
	char tiny[8];
	assert_int_equal(format_tasmota.availability("tele/+/SENSOR", tiny, sizeof(tiny)), 0);
}

static void test_derive(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(format_filter_depth("a/b/c"), 3);
	assert_int_equal(format_filter_depth("#"), 1);
	assert_true(format_filter_last_is("a/+/#", "#"));
	assert_false(format_filter_last_is("a/+/SENSOR", "#"));
	assert_int_equal(format_filter_derive("a/b/c", -1, 0, "x", out, sizeof(out)), 1);
	assert_string_equal(out, "a/b/x");
	assert_int_equal(format_filter_derive("#", 0, 2, "LWT", out, sizeof(out)), 1);
	assert_string_equal(out, "+/+/LWT");
	assert_int_equal(format_filter_derive("a/b", 5, 0, "s", out, sizeof(out)), 1);
	assert_string_equal(out, "a/b/s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hooks),
		cmocka_unit_test(test_derive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
