/*
 * test_rw_encode.c - the remote-write encoder against PROTOCOLS.md H1 (exact
 * protobuf bytes; snappy compared after decompression), the stale-marker and
 * NaN bits, the label-sort vector, the naming rules and the --dry-run text.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bridge/sinks/rw_encode.h"
#include "proto/remote.pb-c.h"

static const uint8_t h1[89] = {
	0x0a, 0x57, 0x0a, 0x26, 0x0a, 0x08, 0x5f, 0x5f, 0x6e, 0x61, 0x6d, 0x65, 0x5f, 0x5f, 0x12,
	0x1a, 0x73, 0x65, 0x6e, 0x73, 0x6f, 0x72, 0x5f, 0x74, 0x65, 0x6d, 0x70, 0x65, 0x72, 0x61,
	0x74, 0x75, 0x72, 0x65, 0x5f, 0x63, 0x65, 0x6c, 0x73, 0x69, 0x75, 0x73, 0x0a, 0x0d, 0x0a,
	0x04, 0x72, 0x6f, 0x6f, 0x6d, 0x12, 0x05, 0x6c, 0x61, 0x62, 0x20, 0x31, 0x0a, 0x0c, 0x0a,
	0x06, 0x73, 0x65, 0x6e, 0x73, 0x6f, 0x72, 0x12, 0x02, 0x73, 0x31, 0x12, 0x10, 0x09, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x80, 0x35, 0x40, 0x10, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31,
};

static void h1_labels(struct rw_labels *ls)
{
	/* given out of order on purpose */
	struct reading_tag pairs[] = { { "sensor", "s1" }, { "room", "lab 1" } };
	assert_int_equal(rw_labels_build(ls, "sensor_temperature_celsius", pairs, 2, NULL), 0);
}

static void test_h1_exact_protobuf(void **state)
{
	(void)state;
	struct rw_labels ls;
	struct rw_request *q = rw_request_new();
	void *raw, *wire, *un;
	size_t raw_len, wire_len, un_len;

	h1_labels(&ls);
	assert_int_equal(rw_request_add(q, &ls, 21.5, 1700000000000LL), 0);
	assert_int_equal(rw_request_pack(q, &raw, &raw_len), 0);
	assert_int_equal(raw_len, sizeof(h1));
	assert_memory_equal(raw, h1, sizeof(h1));

	/* the wire body is snappy block format: decompress and compare */
	assert_int_equal(rw_request_encode(q, &wire, &wire_len), 0);
	assert_true(wire_len >= 2);
	assert_false(((uint8_t *)wire)[0] == 0xff);   /* not the framed format */
	assert_int_equal(((uint8_t *)wire)[0], 89);   /* varint length first */
	assert_int_equal(rw_unsnappy(wire, wire_len, &un, &un_len), 0);
	assert_int_equal(un_len, sizeof(h1));
	assert_memory_equal(un, h1, sizeof(h1));

	free(raw);
	free(wire);
	free(un);
	rw_labels_release(&ls);
	rw_request_free(q);
}

/* The literal-only snappy stream of H1 must decode like libsnappy's own. */
static void test_h1_literal_snappy_decodes(void **state)
{
	(void)state;
	uint8_t lit[3 + sizeof(h1)] = { 0x59, 0xf0, 0x58 };
	memcpy(lit + 3, h1, sizeof(h1));
	char *text;
	assert_int_equal(rw_decode_text(lit, sizeof(lit), &text), 0);
	assert_string_equal(text,
			    "sensor_temperature_celsius{room=\"lab 1\",sensor=\"s1\"} 21.5 "
			    "@1700000000000\n");
	free(text);
}

static void test_empty_request(void **state)
{
	(void)state;
	struct rw_request *q = rw_request_new();
	void *wire;
	size_t len;
	assert_int_equal(rw_request_encode(q, &wire, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(((uint8_t *)wire)[0], 0x00);
	free(wire);
	rw_request_free(q);
}

/* The packed sample of a series with one label, to look at its bytes. */
static void packed_sample(double v, bool stale, int64_t ts, uint8_t *sample, size_t n)
{
	struct rw_labels ls;
	struct rw_request *q = rw_request_new();
	void *raw;
	size_t len;
	assert_int_equal(rw_labels_build(&ls, "m", NULL, 0, NULL), 0);
	if (stale)
		assert_int_equal(rw_request_add_stale(q, &ls, ts), 0);
	else
		assert_int_equal(rw_request_add(q, &ls, v, ts), 0);
	assert_int_equal(rw_request_pack(q, &raw, &len), 0);
	/* the sample is the tail: 12 <len> <sample bytes> */
	assert_true(len > n);
	memcpy(sample, (uint8_t *)raw + len - n, n);
	free(raw);
	rw_labels_release(&ls);
	rw_request_free(q);
}

static void test_stale_and_nan_bits(void **state)
{
	(void)state;
	static const uint8_t stale[] = { 0x09, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f,
					 0x10, 0x98, 0xc5, 0x96, 0xff, 0xbc, 0x31 };
	static const uint8_t nan[] = { 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f };
	uint8_t got[sizeof(stale)];

	packed_sample(0, true, 1700000015000LL, got, sizeof(stale));
	assert_memory_equal(got, stale, sizeof(stale));

	/* any NaN, even one with the stale payload, is sent as the plain NaN */
	uint64_t sneaky = RW_STALE_NAN_BITS;
	double sv;
	memcpy(&sv, &sneaky, sizeof(sv));
	double nans[] = { NAN, -NAN, sv };
	for (size_t i = 0; i < 3; i++) {
		packed_sample(nans[i], false, 1700000015000LL, got, sizeof(stale));
		assert_memory_equal(got, nan, sizeof(nan));
	}
	assert_int_equal(rw_double_bits(NAN), RW_NAN_BITS);
}

static void test_label_sort_vector(void **state)
{
	(void)state;
	struct reading_tag pairs[] = { { "sensor", "s" }, { "Zone", "z" }, { "area", "a" } };
	struct rw_labels ls;
	assert_int_equal(rw_labels_build(&ls, "m", pairs, 3, NULL), 0);
	assert_int_equal(ls.n, 4);
	assert_string_equal(ls.l[0].name, "Zone");
	assert_string_equal(ls.l[1].name, "__name__");
	assert_string_equal(ls.l[2].name, "area");
	assert_string_equal(ls.l[3].name, "sensor");
	rw_labels_release(&ls);
}

static void expect_sanitized(char *(*fn)(const char *), const char *in, const char *want)
{
	char *got = fn(in);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_sanitize(void **state)
{
	(void)state;
	expect_sanitized(rw_sanitize_metric_name, "sensor_temp-c", "sensor_temp_c");
	expect_sanitized(rw_sanitize_metric_name, "9lives", "_9lives");
	expect_sanitized(rw_sanitize_metric_name, "a:b.c", "a:b_c");
	expect_sanitized(rw_sanitize_metric_name, "t\xc2\xb0" "C", "t_C");
	expect_sanitized(rw_sanitize_label_name, "a:b", "a_b");
	expect_sanitized(rw_sanitize_label_name, "1abc", "_1abc");
	expect_sanitized(rw_sanitize_label_name, "K\xc3\xbc" "che", "K_che");
	expect_sanitized(rw_sanitize_label_name, "x\xff" "y", "x_y");
	expect_sanitized(rw_sanitize_label_value, "K\xc3\xbc" "che", "K\xc3\xbc" "che");
	expect_sanitized(rw_sanitize_label_value, "a\xff" "b", "a_b");
	expect_sanitized(rw_sanitize_label_value, "\xc0\xaf", "__");           /* overlong */
	expect_sanitized(rw_sanitize_label_value, "\xed\xa0\x80", "___");      /* surrogate */
	expect_sanitized(rw_sanitize_label_value, "\xf0\x9f\x8c\xa1", "\xf0\x9f\x8c\xa1");
	expect_sanitized(rw_sanitize_label_value, "end\xe2\x82", "end__");     /* truncated */
}

static void test_label_rules(void **state)
{
	(void)state;
	struct reading r = {
		.ts_ms = 1, .node = "rp3", .sensor = "desk", .n_tags = 6,
		.tags = (struct reading_tag[]){ { "__evil", "x" }, { "a-b", "first" }, { "a_b", "second" },
			  { "empty", "" }, { "node", "other" }, { "room", "K\xc3\xbc" "che" } },
		.n_fields = 1, .fields = (struct reading_field[]){ { "temperature_celsius", 21.4 } },
	};
	struct rw_labels ls;
	unsigned dropped = 0;
	assert_int_equal(rw_labels_for_field(&ls, "sensor_", &r, 0, &dropped), 0);
	/* __evil (reserved), a_b (duplicate), node (topic wins) */
	assert_int_equal(dropped, 3);
	assert_int_equal(ls.n, 5);
	assert_string_equal(ls.l[0].name, "__name__");
	assert_string_equal(ls.l[0].value, "sensor_temperature_celsius");
	assert_string_equal(ls.l[1].name, "a_b");
	assert_string_equal(ls.l[1].value, "first");
	assert_string_equal(rw_labels_get(&ls, "node"), "rp3");
	assert_string_equal(rw_labels_get(&ls, "sensor"), "desk");
	assert_null(rw_labels_get(&ls, "empty"));

	char *key = rw_series_key(&ls);
	assert_string_equal(key, "__name__\xfesensor_temperature_celsius\xff" "a_b\xfe" "first\xff"
			    "node\xferp3\xffroom\xfeK\xc3\xbc" "che\xffsensor\xfe" "desk\xff");
	free(key);
	rw_labels_release(&ls);

	assert_int_equal(rw_labels_for_field(&ls, "sensor_", &r, 1, NULL), -EINVAL);
	assert_int_equal(rw_labels_build(&ls, "", NULL, 0, NULL), -EINVAL);
}

static void test_timestamps(void **state)
{
	(void)state;
	struct rw_labels ls;
	struct rw_request *q = rw_request_new();
	assert_int_equal(rw_labels_build(&ls, "m", NULL, 0, NULL), 0);
	assert_int_equal(rw_request_add(q, &ls, 1, 0), -ERANGE);
	assert_int_equal(rw_request_add(q, &ls, 1, -5), -ERANGE);
	assert_int_equal(rw_request_samples(q), 0);
	assert_int_equal(rw_request_add(q, &ls, 1, 1), 0);
	assert_int_equal(rw_request_samples(q), 1);
	rw_request_clear(q);
	assert_int_equal(rw_request_samples(q), 0);
	rw_labels_release(&ls);
	rw_request_free(q);
}

static void test_decode_text(void **state)
{
	(void)state;
	struct reading r = {
		.ts_ms = 1732276800123LL, .node = "rp3", .sensor = "desk", .n_tags = 2,
		.tags = (struct reading_tag[]){ { "location", "desk" }, { "note", "say \"hi\"\\" } },
		.n_fields = 2,
		.fields = (struct reading_field[]){ { "humidity_percent", 48 }, { "temperature_celsius", 21.4 } },
	};
	struct rw_request *q = rw_request_new();
	for (size_t i = 0; i < r.n_fields; i++) {
		struct rw_labels ls;
		assert_int_equal(rw_labels_for_field(&ls, "sensor_", &r, i, NULL), 0);
		assert_int_equal(rw_request_add(q, &ls, r.fields[i].value, r.ts_ms), 0);
		if (i == 0)
			assert_int_equal(rw_request_add_stale(q, &ls, r.ts_ms + 1), 0);
		rw_labels_release(&ls);
	}
	void *wire;
	size_t len;
	char *text;
	assert_int_equal(rw_request_encode(q, &wire, &len), 0);
	assert_int_equal(rw_decode_text(wire, len, &text), 0);
	assert_string_equal(text,
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",note=\"say \\\"hi\\\"\\\\\","
		"sensor=\"desk\"} 48 @1732276800123\n"
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",note=\"say \\\"hi\\\"\\\\\","
		"sensor=\"desk\"} StaleNaN @1732276800124\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"rp3\",note=\"say \\\"hi\\\"\\\\\","
		"sensor=\"desk\"} 21.4 @1732276800123\n");
	free(text);
	free(wire);
	rw_request_free(q);

	static const uint8_t junk[] = { 0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59 };
	assert_true(rw_decode_text(junk, sizeof(junk), &text) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h1_exact_protobuf),
		cmocka_unit_test(test_h1_literal_snappy_decodes),
		cmocka_unit_test(test_empty_request),
		cmocka_unit_test(test_stale_and_nan_bits),
		cmocka_unit_test(test_label_sort_vector),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_label_rules),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_decode_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
