/*
 * test_reading.c - the bridge's payload parser on good and hostile input.
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

#include "bridge/reading.h"

#define ARRIVAL 1732276899999LL

static int parse(struct reading *r, const char *topic, const char *payload, char *err)
{
	return reading_parse(r, topic, payload, strlen(payload), ARRIVAL, err, 128);
}

static void test_design_example(void **state)
{
	(void)state;
	struct reading r;
	char err[128];
	const char *p = "{\"ts\":1732276800123,\"seq\":42,\"boot\":\"9f3a0c1e5b7d2a64\","
			"\"temperature_celsius\":21.4,\"humidity_percent\":48,"
			"\"tags\":{\"model\":\"dht22\",\"location\":\"desk\"}}";
	assert_int_equal(parse(&r, "sensors/rp3/desk", p, err), 0);
	assert_int_equal(r.ts_ms, 1732276800123LL);
	assert_true(r.ts_from_payload);
	assert_string_equal(r.node, "rp3");
	assert_string_equal(r.sensor, "desk");
	assert_true(r.has_seq);
	assert_int_equal(r.seq, 42);
	assert_string_equal(r.boot, "9f3a0c1e5b7d2a64");
	assert_int_equal(r.n_tags, 2);
	assert_string_equal(r.tags[0].key, "location");
	assert_string_equal(r.tags[1].key, "model");
	assert_string_equal(r.tags[1].value, "dht22");
	assert_int_equal(r.n_fields, 2);
	assert_string_equal(r.fields[0].name, "humidity_percent");
	assert_true(r.fields[0].value == 48.0);
	assert_string_equal(r.fields[1].name, "temperature_celsius");
	assert_true(r.fields[1].value == 21.4);
	assert_int_equal(r.ignored_keys, 0);
	reading_release(&r);
}

static void test_missing_ts_uses_arrival(void **state)
{
	(void)state;
	struct reading r;
	char err[128];
	assert_int_equal(parse(&r, "a/b/n1/s1", "{\"v\":1,\"ok\":true,\"off\":false}", err), 0);
	assert_int_equal(r.ts_ms, ARRIVAL);
	assert_false(r.ts_from_payload);
	assert_string_equal(r.node, "n1"); /* multi-level prefix: last two levels */
	assert_string_equal(r.sensor, "s1");
	assert_int_equal(r.n_fields, 3);
	assert_string_equal(r.fields[0].name, "off");
	assert_true(r.fields[0].value == 0.0);
	assert_string_equal(r.fields[1].name, "ok");
	assert_true(r.fields[1].value == 1.0);
	reading_release(&r);
}

static void test_tag_cannot_override_topic(void **state)
{
	(void)state;
	struct reading r;
	char err[128];
	assert_int_equal(parse(&r, "sensors/rp3/desk",
			       "{\"v\":1,\"tags\":{\"node\":\"evil\",\"sensor\":\"x\",\"room\":\"a\"}}",
			       err), 0);
	assert_string_equal(r.node, "rp3");
	assert_string_equal(r.sensor, "desk");
	assert_int_equal(r.n_tags, 1);
	assert_string_equal(r.tags[0].key, "room");
	assert_int_equal(r.dropped_tags, 2);
	reading_release(&r);
}

static void test_hostile_tags(void **state)
{
	(void)state;
	struct reading r;
	char err[128];
	/* injection characters are kept (outputs escape them), control bytes,
	 * backslashes, bad keys, non-strings and empty values are dropped */
	assert_int_equal(parse(&r, "sensors/n/s",
			       "{\"v\":1,\"tags\":{\"a\":\"x,y=z \\\"q\\\"\",\"b\":\"c:\\\\temp\","
			       "\"c\":\"line\\nbreak\",\"bad key\":\"v\",\"__name__\":\"m\","
			       "\"n\":5,\"e\":\"\"}}", err), 0);
	assert_int_equal(r.n_tags, 1);
	assert_string_equal(r.tags[0].value, "x,y=z \"q\"");
	assert_int_equal(r.dropped_tags, 6);
	reading_release(&r);
}

static void test_wrong_types_and_bad_values(void **state)
{
	(void)state;
	struct reading r;
	char err[128];
	assert_int_equal(parse(&r, "sensors/n/s",
			       "{\"temp\":\"21\",\"arr\":[1],\"obj\":{},\"nul\":null,"
			       "\"huge\":1e400,\"9bad\":1,\"ok_1\":-1e300,\"seq\":-1,\"boot\":\"XYZ\"}",
			       err), 0);
	assert_int_equal(r.n_fields, 1);
	assert_string_equal(r.fields[0].name, "ok_1");
	assert_false(r.has_seq);
	assert_false(r.has_boot);
	assert_int_equal(r.ignored_keys, 8);
	reading_release(&r);
}

static void expect_error(const char *topic, const char *payload, size_t len, const char *reason)
{
	struct reading r;
	char err[128] = "";
	if (reading_parse(&r, topic, payload, len, ARRIVAL, err, sizeof(err)) != -1) {
		reading_release(&r);
		fail_msg("accepted topic '%s' payload '%.*s'", topic, (int)len, payload);
	}
	if (!strstr(err, reason))
		fail_msg("expected '%s' in error, got '%s'", reason, err);
	assert_null(r.arena);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_error("sensors/n/s", "", strlen(""), "empty payload");
	expect_error("sensors/n/s", "{\"v\":", strlen("{\"v\":"), "not valid JSON");
	expect_error("sensors/n/s", "[1,2]", strlen("[1,2]"), "not a JSON object");
	expect_error("sensors/n/s", "21.5", strlen("21.5"), "not a JSON object");
	expect_error("sensors/n/s", "{\"v\":NaN}", strlen("{\"v\":NaN}"), "not valid JSON");
	expect_error("sensors/n/s", "{\"v\":Infinity}", strlen("{\"v\":Infinity}"), "not valid JSON");
	expect_error("sensors/n/s", "{\"note\":\"hi\"}", strlen("{\"note\":\"hi\"}"), "no numeric field");
	expect_error("sensors/n/s", "{\"ts\":\"now\",\"v\":1}", strlen("{\"ts\":\"now\",\"v\":1}"), "ts must be");
	expect_error("sensors/n/s", "{\"ts\":true,\"v\":1}", strlen("{\"ts\":true,\"v\":1}"), "ts must be");
	expect_error("sensors/n/s", "{\"ts\":1700000000123.5,\"v\":1}", strlen("{\"ts\":1700000000123.5,\"v\":1}"), "ts must be");
	expect_error("sensors/n/s", "{\"ts\":-5,\"v\":1}", strlen("{\"ts\":-5,\"v\":1}"), "ts must be");
	expect_error("sensors/n/s", "{\"ts\":1e300,\"v\":1}", strlen("{\"ts\":1e300,\"v\":1}"), "ts must be");
	expect_error("sensors/n/s", "{\"ts\":1732276800,\"v\":1}", strlen("{\"ts\":1732276800,\"v\":1}"), "looks like seconds");
	expect_error("sensors/n/status", "{\"v\":1}", strlen("{\"v\":1}"), "status");
	expect_error("desk", "{\"v\":1}", strlen("{\"v\":1}"), "topic");
	expect_error("n/s", "{\"v\":1}", strlen("{\"v\":1}"), "topic");
	expect_error("sensors/n/", "{\"v\":1}", strlen("{\"v\":1}"), "topic");
	expect_error("sensors/a\\b/s", "{\"v\":1}", strlen("{\"v\":1}"), "topic");
	/* invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate */
	expect_error("sensors/n/s", "{\"v\":1,\"t\":\"\x80\"}", strlen("{\"v\":1,\"t\":\"\x80\"}"), "UTF-8");
	expect_error("sensors/n/s", "{\"v\":1,\"t\":\"\xc0\xaf\"}", strlen("{\"v\":1,\"t\":\"\xc0\xaf\"}"), "UTF-8");
	expect_error("sensors/n/s", "{\"v\":1,\"t\":\"\xed\xa0\x80\"}", strlen("{\"v\":1,\"t\":\"\xed\xa0\x80\"}"), "UTF-8");
	/* embedded NUL */
	expect_error("sensors/n/s", "{\"v\":1}\0x", 9, "JSON");
}

static void test_deep_nesting_and_huge(void **state)
{
	(void)state;
	size_t depth = 5000;
	char *p = malloc(depth * 2 + 16);
	size_t n = 0;
	for (size_t i = 0; i < depth; i++)
		p[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		p[n++] = ']';
	expect_error("sensors/n/s", p, n, "JSON");
	/* nested inside an object: no crash, field still found */
	n = (size_t)sprintf(p, "{\"v\":2,\"x\":");
	for (size_t i = 0; i < 200; i++)
		p[n++] = '[';
	for (size_t i = 0; i < 200; i++)
		p[n++] = ']';
	p[n++] = '}';
	struct reading r;
	char err[128];
	assert_int_equal(reading_parse(&r, "sensors/n/s", p, n, ARRIVAL, err, sizeof(err)), 0);
	assert_int_equal(r.n_fields, 1);
	reading_release(&r);
	free(p);

	char *big = malloc(READING_MAX_PAYLOAD + 2);
	memset(big, ' ', READING_MAX_PAYLOAD + 1);
	big[0] = '{';
	expect_error("sensors/n/s", big, READING_MAX_PAYLOAD + 1, "exceeds");
	free(big);
}

static void test_many_fields_capped(void **state)
{
	(void)state;
	char p[4096];
	size_t n = (size_t)sprintf(p, "{");
	for (int i = 0; i < READING_MAX_FIELDS + 5; i++)
		n += (size_t)sprintf(p + n, "%s\"f%02d\":%d", i ? "," : "", i, i);
	p[n++] = '}';
	struct reading r;
	char err[128];
	assert_int_equal(reading_parse(&r, "sensors/n/s", p, n, ARRIVAL, err, sizeof(err)), 0);
	assert_int_equal(r.n_fields, READING_MAX_FIELDS);
	assert_int_equal(r.ignored_keys, 5);
	reading_release(&r);
}

static void test_topic_split(void **state)
{
	(void)state;
	char n[16], s[16];
	assert_int_equal(reading_topic_split("sensors/rp3/desk", n, sizeof(n), s, sizeof(s)),
			 TOPIC_READING);
	assert_string_equal(n, "rp3");
	assert_int_equal(reading_topic_split("sensors/rp3/status", n, sizeof(n), s, sizeof(s)),
			 TOPIC_STATUS);
	assert_int_equal(reading_topic_split("sensors/averyveryverylongnodename/x", n, sizeof(n),
					     s, sizeof(s)), TOPIC_INVALID);
	assert_int_equal(reading_topic_split("sensors/+/x", n, sizeof(n), s, sizeof(s)),
			 TOPIC_INVALID);
	/* every level counts, the prefix's too: none empty, all valid UTF-8 */
	assert_int_equal(reading_topic_split("/n/s", n, sizeof(n), s, sizeof(s)), TOPIC_INVALID);
	assert_int_equal(reading_topic_split("a//n/s", n, sizeof(n), s, sizeof(s)), TOPIC_INVALID);
	assert_int_equal(reading_topic_split("a/\xff/s", n, sizeof(n), s, sizeof(s)), TOPIC_INVALID);
	assert_int_equal(reading_topic_split("a/b/n/s", n, sizeof(n), s, sizeof(s)), TOPIC_READING);
	assert_string_equal(n, "n");
	assert_string_equal(s, "s");
}

static void test_field_names(void **state)
{
	(void)state;
	struct reading r;
	char err[128];
	/* a leading '_', "time", a leading digit: skipped, not fields */
	assert_int_equal(parse(&r, "sensors/n/s", "{\"_x\":1,\"time\":2,\"v\":-0.0}", err), 0);
	assert_int_equal(r.n_fields, 1);
	assert_string_equal(r.fields[0].name, "v");
	assert_false(signbit(r.fields[0].value));
	assert_int_equal(r.ignored_keys, 2);
	reading_release(&r);
	expect_error("sensors/n/s", "{\"_x\":1}", 8, "'_x'");
	expect_error("sensors/n/s", "{\"v\\u0000\":1}", 13, "u0000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_missing_ts_uses_arrival),
		cmocka_unit_test(test_tag_cannot_override_topic),
		cmocka_unit_test(test_hostile_tags),
		cmocka_unit_test(test_wrong_types_and_bad_values),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_deep_nesting_and_huge),
		cmocka_unit_test(test_many_fields_capped),
		cmocka_unit_test(test_topic_split),
		cmocka_unit_test(test_field_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
