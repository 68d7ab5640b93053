/*
 * test_rw_encode.c - the remote-write encoder against docs/protocols.md H1 (exact
 * protobuf bytes; snappy compared after decompression) and against
 * protobuf-c's own packer for many shapes, the stale-marker and NaN bits, the
 * label-sort vector, the naming rules and the --dry-run text.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

	/* sorted by name, UTF-8 values kept */
	assert_string_equal(ls.l[2].name, "node");
	assert_string_equal(ls.l[3].name, "room");
	assert_string_equal(ls.l[3].value, "K\xc3\xbc" "che");
	assert_string_equal(ls.l[4].name, "sensor");
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

/*
 * The hand-written encoder gives the bytes protobuf-c packs for the same
 * messages: zero, negative zero, NaN, stale, infinities, small and huge
 * timestamps, no and many labels, strings around the 1- and 2-byte varint
 * lengths, and the same labels encoded once and reused.
 */
static void test_same_bytes_as_protobuf_c(void **state)
{
	(void)state;
	static const double values[] = { 0.0, -0.0, 1.0, -21.5, 1e-310, 1.7976931348623157e308,
					 INFINITY, -INFINITY, NAN };
	static const int64_t stamps[] = { 1, 127, 128, 16383, 16384, 1700000000000LL,
					  INT64_MAX };
	char long_value[300];
	memset(long_value, 'v', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	char *names = malloc(RW_MAX_LABELS * 8);
	assert_non_null(names);

	for (size_t shape = 0; shape < 4; shape++) {
		struct rw_labels ls;
		struct reading_tag pairs[RW_MAX_LABELS];
		size_t n = 0;
		if (shape == 1) {
			pairs[n++] = (struct reading_tag){ "room", "lab 1" };
		} else if (shape == 2) {
			/* values of 126, 127, 128 and 299 bytes */
			static char v126[127], v127[128], v128[129];
			memset(v126, 'a', 126);
			memset(v127, 'b', 127);
			memset(v128, 'c', 128);
			pairs[n++] = (struct reading_tag){ "a", v126 };
			pairs[n++] = (struct reading_tag){ "b", v127 };
			pairs[n++] = (struct reading_tag){ "c", v128 };
			pairs[n++] = (struct reading_tag){ "d", long_value };
		} else if (shape == 3) {
			for (size_t i = 0; i + 1 < RW_MAX_LABELS; i++) {
				snprintf(names + 8 * i, 8, "l%02zu", i);
				pairs[n++] = (struct reading_tag){ names + 8 * i, "x\xc3\xa9" };
			}
		}
		assert_int_equal(rw_labels_build(&ls, "sensor_temperature_celsius", pairs, n, NULL), 0);

		/* protobuf-c: one TimeSeries per sample, as the encoder writes them */
		size_t count = sizeof(values) / sizeof(values[0]) * (sizeof(stamps) / sizeof(stamps[0])) + 1;
		Prometheus__TimeSeries *ts = calloc(count, sizeof(*ts));
		Prometheus__TimeSeries **tsp = calloc(count, sizeof(*tsp));
		Prometheus__Sample *smp = calloc(count, sizeof(*smp));
		Prometheus__Sample **smpp = calloc(count, sizeof(*smpp));
		Prometheus__Label lab[RW_MAX_LABELS], *labp[RW_MAX_LABELS];
		assert_true(ts && tsp && smp && smpp);
		for (size_t i = 0; i < ls.n; i++) {
			prometheus__label__init(&lab[i]);
			lab[i].name = ls.l[i].name;
			lab[i].value = ls.l[i].value;
			labp[i] = &lab[i];
		}
		struct rw_request *q = rw_request_new();
		size_t elen = rw_labels_encoded_len(&ls);
		unsigned char *enc = malloc(elen);
		assert_non_null(enc);
		assert_int_equal(rw_labels_encode(&ls, enc), elen);
		size_t k = 0;
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			for (size_t t = 0; t < sizeof(stamps) / sizeof(stamps[0]); t++, k++) {
				prometheus__time_series__init(&ts[k]);
				prometheus__sample__init(&smp[k]);
				/* any NaN goes out as the plain NaN */
				smp[k].value = isnan(values[v]) ? NAN : values[v];
				smp[k].timestamp = stamps[t];
				smpp[k] = &smp[k];
				ts[k].n_labels = ls.n;
				ts[k].labels = labp;
				ts[k].n_samples = 1;
				ts[k].samples = &smpp[k];
				tsp[k] = &ts[k];
				/* alternately from the label set and from its encoded bytes */
				if (k % 2)
					assert_int_equal(rw_request_add(q, &ls, values[v], stamps[t]), 0);
				else
					assert_int_equal(rw_request_add_encoded(q, enc, elen, values[v],
										stamps[t]), 0);
			}
		}
		prometheus__time_series__init(&ts[k]);
		prometheus__sample__init(&smp[k]);
		uint64_t stale = RW_STALE_NAN_BITS;
		memcpy(&smp[k].value, &stale, sizeof(stale));
		smp[k].timestamp = 1700000000001LL;
		smpp[k] = &smp[k];
		ts[k].n_labels = ls.n;
		ts[k].labels = labp;
		ts[k].n_samples = 1;
		ts[k].samples = &smpp[k];
		tsp[k] = &ts[k];
		assert_int_equal(rw_request_add_stale_encoded(q, enc, elen, 1700000000001LL), 0);

		Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
		wr.n_timeseries = count;
		wr.timeseries = tsp;
		size_t want_len = prometheus__write_request__get_packed_size(&wr);
		uint8_t *want = malloc(want_len);
		assert_non_null(want);
		assert_int_equal(prometheus__write_request__pack(&wr, want), want_len);
		void *got;
		size_t got_len;
		assert_int_equal(rw_request_pack(q, &got, &got_len), 0);
		assert_int_equal(rw_request_samples(q), count);
		assert_int_equal(got_len, want_len);
		assert_memory_equal(got, want, want_len);

		free(got);
		free(want);
		free(enc);
		free(ts);
		free(tsp);
		free(smp);
		free(smpp);
		rw_request_free(q);
		rw_labels_release(&ls);
	}
	free(names);
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
		cmocka_unit_test(test_same_bytes_as_protobuf_c),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
