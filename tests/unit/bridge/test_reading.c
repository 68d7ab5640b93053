/*
 * test_reading.c - the bridge's payload parser on good and hostile input,
 * and, over many generated and mangled payloads, the same result as the
 * cJSON-based parser it replaced (reading_ref.h).
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
#include "reading_ref.h"

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
}

/* --- same readings as the cJSON-based parser -------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned pick(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

#define PICK(a) (a)[pick(sizeof(a) / sizeof((a)[0]))]

static const char *const ws_bits[] = { "", "", "", " ", "\t", "\n ", "\r\n", "\x01", "\x1f" };
static const char *const keys[] = {
	"\"ts\"", "\"seq\"", "\"boot\"", "\"tags\"", "\"v\"", "\"temperature_celsius\"", "\"x\"",
	"\"9bad\"", "\"node\"", "\"sensor\"", "\"__name__\"", "\"a b\"", "\"\"", "\"t\\u0000s\"",
	"\"ts\\u0000\"", "\"h\\u00e9\"", "\"ok_1\"", "\"tags\\u0000x\"", "\"room\"", "\"V\"",
};
static const char *const numbers[] = {
	"0", "-0", "01", "1.", "-.5", "1e5", "1E+2", "2e-3", "1e400", "-1e400", "1.5e", "1e",
	"0.1", "21.4", "-21.45", "1732276800123", "1732276800", "1732276800123.5",
	"9007199254740992", "9007199254740993", "123456789012345678", "0.30000000000000004",
	"1.7976931348623157e308", "5e-324", "2.2250738585072014e-308", "1e22", "1e23", "1e-22",
	"123456789012345e-22", "1234567890123456", "0.000001234", "100e-2", "-", "--1", "1.2.3",
	"0x10", "1e+", "7e-0", "00012.5000", "1234567890123456789012345678901234567890123456789"
	"0123456789012345678", "3.14159265358979323846264338327950288",
};
static const char *const strings[] = {
	"\"abc\"", "\"\"", "\"desk\"", "\"9f3a0c1e5b7d2a64\"", "\"9F3A0C1E5B7D2A64\"",
	"\"caf\\u00e9\"", "\"\\ud83c\\udf21\"", "\"\\ud83c\"", "\"\\udc00\"", "\"\\uZZZZ\"",
	"\"\\u12\"", "\"\\x\"", "\"a\\\"b\"", "\"\x01\"", "\"\\u0000x\"", "\"a\\\\b\"",
	"\"line\\nbreak\"", "\"\\/\\b\\f\\r\\t\"", "\"x,y=z\"", "\"K\xc3\xbc" "che\"",
	"\"\\ud83c\\u0041\"", "\"\\uD83C\\uDF21\"",
};
static const char *const literals[] = { "true", "false", "null", "nul", "tru", "fals", "nulls" };

static void put_s(char *buf, size_t *n, size_t cap, const char *s)
{
	size_t l = strlen(s);
	if (*n + l < cap) {
		memcpy(buf + *n, s, l);
		*n += l;
	}
}

static void gen_value(char *buf, size_t *n, size_t cap, int depth);

static void gen_object(char *buf, size_t *n, size_t cap, int depth, bool tags)
{
	unsigned members = pick(depth ? 4 : 9);
	put_s(buf, n, cap, "{");
	for (unsigned i = 0; i < members; i++) {
		if (i)
			put_s(buf, n, cap, PICK(ws_bits)), put_s(buf, n, cap, ",");
		put_s(buf, n, cap, PICK(ws_bits));
		put_s(buf, n, cap, PICK(keys));
		put_s(buf, n, cap, PICK(ws_bits));
		put_s(buf, n, cap, ":");
		put_s(buf, n, cap, PICK(ws_bits));
		if (tags && pick(3))
			put_s(buf, n, cap, PICK(strings));
		else
			gen_value(buf, n, cap, depth + 1);
	}
	put_s(buf, n, cap, PICK(ws_bits));
	put_s(buf, n, cap, "}");
}

static void gen_value(char *buf, size_t *n, size_t cap, int depth)
{
	switch (pick(depth > 3 ? 3 : 6)) {
	case 0:
		put_s(buf, n, cap, PICK(numbers));
		return;
	case 1:
		put_s(buf, n, cap, PICK(strings));
		return;
	case 2:
		put_s(buf, n, cap, PICK(literals));
		return;
	case 3: {
		unsigned k = pick(4);
		put_s(buf, n, cap, "[");
		for (unsigned i = 0; i < k; i++) {
			if (i)
				put_s(buf, n, cap, ",");
			put_s(buf, n, cap, PICK(ws_bits));
			gen_value(buf, n, cap, depth + 1);
		}
		put_s(buf, n, cap, "]");
		return;
	}
	default:
		gen_object(buf, n, cap, depth, pick(2));
	}
}

static void expect_same(const char *payload, size_t len)
{
	struct reading a, b;
	char ea[128] = "", eb[128] = "", with_space[2048];
	/* the reference sees a space after the payload: that keeps cJSON from
	 * taking a document cut right after a nested value as complete */
	memcpy(with_space, payload, len);
	with_space[len] = ' ';
	int ra = reading_parse(&a, "sensors/n/s", payload, len, ARRIVAL, ea, sizeof(ea));
	int rb = ref_reading_parse(&b, "sensors/n/s", with_space, len ? len + 1 : 0, ARRIVAL, eb,
				   sizeof(eb));
	if (ra != rb || strcmp(ea, eb) != 0)
		fail_msg("payload '%.*s': parser %d '%s', cJSON %d '%s'", (int)len, payload, ra, ea,
			 rb, eb);
	if (ra < 0)
		return;
	assert_int_equal(a.ts_ms, b.ts_ms);
	assert_int_equal(a.ts_from_payload, b.ts_from_payload);
	assert_int_equal(a.has_seq, b.has_seq);
	assert_int_equal(a.seq, b.seq);
	assert_int_equal(a.has_boot, b.has_boot);
	assert_string_equal(a.boot, b.boot);
	assert_int_equal(a.ignored_keys, b.ignored_keys);
	assert_int_equal(a.dropped_tags, b.dropped_tags);
	assert_int_equal(a.n_tags, b.n_tags);
	for (size_t i = 0; i < a.n_tags; i++) {
		assert_string_equal(a.tags[i].key, b.tags[i].key);
		assert_string_equal(a.tags[i].value, b.tags[i].value);
	}
	assert_int_equal(a.n_fields, b.n_fields);
	for (size_t i = 0; i < a.n_fields; i++) {
		assert_string_equal(a.fields[i].name, b.fields[i].name);
		if (memcmp(&a.fields[i].value, &b.fields[i].value, sizeof(double)) != 0)
			fail_msg("payload '%.*s': %s = %.17g, cJSON %.17g", (int)len, payload,
				 a.fields[i].name, a.fields[i].value, b.fields[i].value);
	}
	reading_release(&a);
	reading_release(&b);
}

static void test_same_as_cjson(void **state)
{
	(void)state;
	static const char *const fixed[] = {
		"{\"v\":1}", "\xef\xbb\xbf{\"v\":1}", "\xef\xbb\xbf", " \x01{\"v\":1}\n",
		"{\"v\":1}\x01", "{\"v\":1,\"x\":{}", "[[]", "{\"tags\":5,\"tags\":{\"a\":\"b\"},\"v\":1}",
		"{\"tags\":{},\"tags\":{\"a\":\"b\"},\"v\":1}",
		"{\"tags\":{\"a\":\"b\",\"c\":\"d\"},\"tags\":{\"e\":\"f\",\"g\":\"h\",\"i\":\"j\"},\"v\":1}",
		"{\"ts\":1,\"ts\":1732276800123,\"v\":1}", "{\"ts\":1732276800123,\"ts\":\"x\",\"v\":1,",
		"{\"ts\":\"x\",\"v\":1", "{\"v\":1 \"w\":2}", "{\"v\"::1}", "{,}", "{\"v\":1,}", "{}",
		"", " ", "{", "}", "\"s\"", "nul", "[1,2", "{\"v\":[1,[2,{\"a\":[]}]],\"w\":2}",
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		expect_same(fixed[i], strlen(fixed[i]));

	char buf[1024];
	for (int round = 0; round < 200000; round++) {
		size_t n = 0;
		put_s(buf, &n, sizeof(buf), PICK(ws_bits));
		if (pick(10))
			gen_object(buf, &n, sizeof(buf), 0, false);
		else
			gen_value(buf, &n, sizeof(buf), 0);
		put_s(buf, &n, sizeof(buf), PICK(ws_bits));
		/* mangle one in four: cut, drop, double or change a byte */
		if (n && !pick(4)) {
			size_t at = pick((unsigned)n);
			static const char junk[] = "{}[]\",:\\ -.0e\x01\xff";
			switch (pick(4)) {
			case 0:
				n = at;
				break;
			case 1:
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			case 2:
				if (n + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, n - at);
					n++;
				}
				break;
			default:
				buf[at] = junk[pick(sizeof(junk) - 1)];
			}
		}
		expect_same(buf, n);
	}
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
		cmocka_unit_test(test_same_as_cjson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
