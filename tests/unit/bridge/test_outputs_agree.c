/*
 * test_outputs_agree.c - one hostile corpus through the parser and then both
 * encoders, as the bridge runs them (parse -> log record -> decode -> each
 * output). For every accepted reading, the line protocol read back by an
 * independent reader (tests/fuzz/lp_read.h) and the remote-write request
 * decompressed with libsnappy and unpacked with protobuf-c hold the same
 * samples (series, field, value, timestamp), and those are the reading's.
 * For every refused one, neither encoder is reached. The rules are
 * bridge/reading.h's.
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
#include "bridge/record.h"
#include "bridge/sinks/lineproto.h"
#include "bridge/sinks/rw_encode.h"
#include "tests/fuzz/agree.h"

#define ARRIVAL 1732276899999LL
#define MEAS "sensor"
#define PREFIX "sensor_"

enum expect { REFUSE, ACCEPT };

static unsigned encoder_calls;

/*
 * The bridge's path for one message. Returns the parse result; the samples
 * each output would store go to lp/rw.
 */
static int deliver(const char *topic, const char *payload, size_t len, struct reading *parsed,
		   struct samples *lp, struct samples *rw, char *err, size_t errlen)
{
	if (reading_parse(parsed, topic, payload, len, ARRIVAL, err, errlen) < 0)
		return -1;
	/* the log record, as on_message appends it and each sender reads it */
	size_t cap = len + strlen(topic) + RECORD_FIXED + 8 * READING_MAX_FIELDS + 64;
	unsigned char *rec = malloc(cap);
	assert_non_null(rec);
	int n = record_encode(parsed, rec, cap);
	if (n < 0)
		fail_msg("record_encode: %d", n);
	struct reading r;
	assert_int_equal(record_decode(&r, rec, (size_t)n), 0);
	free(rec);

	encoder_calls++;
	char why[512];
	struct lp_buf b;
	lp_buf_init(&b, 1 << 20);
	int rc = lp_append_reading(&b, MEAS, &r, why, sizeof(why));
	if (rc != 0)
		fail_msg("line protocol refused a parsed reading on '%s': %s", topic, why);
	if (samples_of_lp(lp, b.data, b.len, MEAS, why, sizeof(why)) < 0)
		fail_msg("line protocol of '%s': %s", topic, why);
	lp_buf_release(&b);

	struct rw_request *q = rw_request_new();
	assert_non_null(q);
	for (size_t i = 0; i < r.n_fields; i++) {
		struct rw_labels ls;
		unsigned dropped = 0;
		assert_int_equal(rw_labels_for_field(&ls, PREFIX, &r, i, &dropped), 0);
		if (dropped)
			fail_msg("remote write dropped %u labels of '%s'", dropped, topic);
		assert_int_equal(rw_request_add(q, &ls, r.fields[i].value, r.ts_ms), 0);
		rw_labels_release(&ls);
	}
	void *body;
	size_t body_len;
	assert_int_equal(rw_request_encode(q, &body, &body_len), 0);
	rw_request_free(q);
	if (samples_of_rw(rw, body, body_len, PREFIX, why, sizeof(why)) < 0)
		fail_msg("remote write of '%s': %s", topic, why);
	free(body);
	reading_release(&r);
	return 0;
}

/* Runs one message and checks the outcome; returns the number of samples. */
static size_t check(const char *topic, const char *payload, size_t len, enum expect want)
{
	struct reading r;
	struct samples lp = { 0 }, rw = { 0 }, exp = { 0 };
	char err[160] = "", why[800];
	unsigned before = encoder_calls;
	int rc = deliver(topic, payload, len, &r, &lp, &rw, err, sizeof(err));
	if (rc < 0) {
		if (want == ACCEPT)
			fail_msg("refused '%s' %.*s: %s", topic, (int)len, payload, err);
		if (!*err)
			fail_msg("refused '%s' without a reason", topic);
		assert_int_equal(encoder_calls, before);
		assert_null(r.arena);
		return 0;
	}
	if (want == REFUSE)
		fail_msg("accepted '%s' %.*s", topic, (int)len, payload);
	assert_int_equal(encoder_calls, before + 1);
	assert_int_equal(samples_of_reading(&exp, &r), 0);
	size_t n = exp.n;
	assert_int_equal(n, r.n_fields);
	if (!samples_equal(&exp, &lp, why, sizeof(why)))
		fail_msg("'%s' %.*s: reading vs line protocol: %s", topic, (int)len, payload, why);
	if (!samples_equal(&exp, &rw, why, sizeof(why)))
		fail_msg("'%s' %.*s: reading vs remote write: %s", topic, (int)len, payload, why);
	samples_free(&lp);
	samples_free(&rw);
	samples_free(&exp);
	reading_release(&r);
	return n;
}

static size_t ok(const char *topic, const char *payload)
{
	return check(topic, payload, strlen(payload), ACCEPT);
}

static void no(const char *topic, const char *payload)
{
	check(topic, payload, strlen(payload), REFUSE);
}

/* A field's value after the whole path (the reading's first field). */
static double value_of(const char *payload)
{
	struct reading r;
	char err[160];
	assert_int_equal(reading_parse(&r, "s/n/s", payload, strlen(payload), ARRIVAL, err,
				       sizeof(err)), 0);
	double v = r.fields[0].value;
	reading_release(&r);
	return v;
}

static void test_corpus(void **state)
{
	(void)state;
	/* the README example */
	assert_int_equal(ok("sensors/rp3/desk",
			    "{\"ts\":1732276800123,\"seq\":42,\"boot\":\"9f3a0c1e5b7d2a64\","
			    "\"temperature_celsius\":21.4,\"humidity_percent\":48,"
			    "\"tags\":{\"location\":\"desk\"}}"), 2);

	/* topics: empty levels, odd characters, UTF-8 */
	no("/n/s", "{\"v\":1}");
	no("a//n/s", "{\"v\":1}");
	no("sensors//s", "{\"v\":1}");
	no("sensors/n/", "{\"v\":1}");
	no("//", "{\"v\":1}");
	no("n/s", "{\"v\":1}");
	no("", "{\"v\":1}");
	no("sensors/a\\b/s", "{\"v\":1}");
	no("sensors/a\tb/s", "{\"v\":1}");
	no("sensors/+/s", "{\"v\":1}");
	no("sensors/n/#", "{\"v\":1}");
	no("sensors/\xff/s", "{\"v\":1}");
	no("se\xc0\xafnsors/n/s", "{\"v\":1}");
	no("sensors/n/status", "{\"v\":1}");
	ok("sensors/status/x", "{\"v\":1}");
	ok("sensors/my node/s,1=2", "{\"v\":1}");
	ok("sensors/a=b/\"q\"", "{\"v\":1}");
	ok("sensors/k\xc3\xbc" "che/temp\xc2\xb0", "{\"v\":1}");
	ok("sensors/ x /_", "{\"v\":1}");
	ok("a/b/c/d/e/n/s", "{\"v\":1}");
	ok("sensors/\xf0\x9f\x8c\xa1/\xe2\x80\x8b", "{\"v\":1}");

	/* field names */
	no("s/n/s", "{\"_x\":1}");
	no("s/n/s", "{\"__name__\":1}");
	no("s/n/s", "{\"\":1}");
	no("s/n/s", "{\"1v\":1}");
	no("s/n/s", "{\"time\":1}");
	no("s/n/s", "{\"temp\xc3\xa9rature\":1}");
	no("s/n/s", "{\"a b\":1,\"a,b\":2,\"a=b\":3,\"a\\\\b\":4,\"a\\\"b\":5}");
	no("s/n/s", "{\"v\\u0000x\":1}");
	assert_int_equal(ok("s/n/s", "{\"_x\":1,\"v\":2,\"time\":3,\"Time\":4}"), 2);
	assert_int_equal(ok("s/n/s", "{\"v\":1,\"v\":2}"), 1);
	assert_true(value_of("{\"v\":1,\"v\":2}") == 1.0);
	ok("s/n/s", "{\"A_1\":1,\"a\":2,\"Z\":3,\"z9_\":4}");

	/* values */
	ok("s/n/s", "{\"v\":1.7976931348623157e308,\"w\":-1.7976931348623157e308}");
	ok("s/n/s", "{\"v\":5e-324,\"w\":-2.2250738585072014e-308,\"x\":1e-400}");
	ok("s/n/s", "{\"v\":12345678901234567890,\"w\":0.1,\"x\":-1e-300,\"y\":3.141592653589793}");
	ok("s/n/s", "{\"v\":-0.0,\"w\":-0,\"x\":0e10}");
	assert_true(value_of("{\"v\":-0.0}") == 0.0 && !signbit(value_of("{\"v\":-0.0}")));
	ok("s/n/s", "{\"on\":true,\"off\":false}");
	no("s/n/s", "{\"v\":1e400}");
	no("s/n/s", "{\"v\":-1e999}");
	no("s/n/s", "{\"v\":\"NaN\"}");
	no("s/n/s", "{\"v\":\"Inf\",\"w\":\"-Infinity\"}");
	no("s/n/s", "{\"v\":NaN}");
	no("s/n/s", "{\"v\":Infinity}");
	no("s/n/s", "{\"v\":null,\"w\":[1],\"x\":{\"y\":1}}");
	assert_int_equal(ok("s/n/s", "{\"v\":\"Infinity\",\"w\":1}"), 1);

	/* ts, seq, boot */
	ok("s/n/s", "{\"ts\":100000000000,\"v\":1}");
	ok("s/n/s", "{\"ts\":9007199254740992,\"v\":1}");
	no("s/n/s", "{\"ts\":9007199254740993000,\"v\":1}");
	no("s/n/s", "{\"ts\":0,\"v\":1}");
	no("s/n/s", "{\"ts\":1732276800,\"v\":1}");
	no("s/n/s", "{\"ts\":\"1732276800123\",\"v\":1}");
	ok("s/n/s", "{\"ts\":1732276800123,\"ts\":1732276800124,\"v\":1}");
	ok("s/n/s", "{\"seq\":-1,\"boot\":\"XYZ\",\"tags\":5,\"v\":1}");

	/* tags: escapes, quotes, commas, spaces, '=', backslashes, unicode */
	assert_int_equal(ok("s/n/s", "{\"v\":1,\"tags\":{\"a\":\"x,y=z w\",\"b\":\" \",\"c\":\"=\","
			    "\"d\":\"\\\"q\\\"\",\"e\":\"K\xc3\xbc" "che \xf0\x9f\x8c\xa1\","
			    "\"f\":\"\\u00e9\\ud83c\\udf21\",\"g\":\"#x\",\"h\":\"_\",\"i\":\"a\\/b\"}}"), 1);
	ok("s/n/s", "{\"v\":1,\"tags\":{\"bs\":\"c:\\\\temp\",\"nl\":\"a\\nb\",\"tab\":\"\\t\","
	   "\"_t\":\"x\",\"__name__\":\"m\",\"time\":\"t\",\"node\":\"evil\",\"sensor\":\"x\","
	   "\"\":\"x\",\"a b\":\"x\",\"n\":5,\"e\":\"\",\"del\":\"\\u007f\"}}");
	ok("s/n/s", "{\"v\":1,\"tags\":{\"a\":\"1\",\"a\":\"2\"}}");
	no("s/n/s", "{\"v\":1,\"tags\":{\"a\":\"x\\u0000y\"}}");
	ok("s/n/s", "{\"tags\":{\"a\":\"1\"},\"v\":1,\"tags\":{\"b\":\"2\"}}");

	/* malformed payloads */
	no("s/n/s", "");
	no("s/n/s", "{");
	no("s/n/s", "[1]");
	no("s/n/s", "{\"v\":1} x");
	no("s/n/s", "{\"v\":1,\"t\":\"\x80\"}");
	check("s/n/s", "{\"v\":1}\0", 8, REFUSE);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_sizes(void **state)
{
	(void)state;
	char topic[1200], payload[READING_MAX_PAYLOAD + 64];
	char *name = repeat('n', READING_MAX_NAME), *longer = repeat('n', READING_MAX_NAME + 1);
	char *val = repeat('v', READING_MAX_VALUE), *lval = repeat('v', READING_MAX_VALUE + 1);

	snprintf(payload, sizeof(payload), "{\"%s\":1}", name);
	ok("s/n/s", payload);
	snprintf(payload, sizeof(payload), "{\"%s\":1}", longer);
	no("s/n/s", payload);
	snprintf(payload, sizeof(payload), "{\"v\":1,\"tags\":{\"%s\":\"%s\"}}", name, val);
	ok("s/n/s", payload);
	snprintf(payload, sizeof(payload), "{\"v\":1,\"tags\":{\"%s\":\"x\",\"k\":\"%s\"}}", longer,
		 lval);
	ok("s/n/s", payload);
	snprintf(topic, sizeof(topic), "%s/%s/%s", val, val, val);
	ok(topic, "{\"v\":1}");
	snprintf(topic, sizeof(topic), "s/%s/s", lval);
	no(topic, "{\"v\":1}");
	snprintf(topic, sizeof(topic), "%s/n/s", lval);
	no(topic, "{\"v\":1}");

	/* every tag and field slot full, names and values at their limits */
	size_t n = (size_t)sprintf(payload, "{\"tags\":{");
	for (int i = 0; i < READING_MAX_TAGS + 4; i++)
		n += (size_t)sprintf(payload + n, "%s\"t%02d%.100s\":\"%.200s, =\\\"\"", i ? "," : "",
				     i, name, val);
	n += (size_t)sprintf(payload + n, "}");
	for (int i = 0; i < READING_MAX_FIELDS + 4; i++)
		n += (size_t)sprintf(payload + n, ",\"f%02d%.100s\":%d.5e-3", i, name, i);
	payload[n++] = '}';
	payload[n] = '\0';
	assert_true(n <= READING_MAX_PAYLOAD);
	snprintf(topic, sizeof(topic), "%.200s/%.250s/%.250s", val, val, val);
	assert_int_equal(check(topic, payload, n, ACCEPT), READING_MAX_FIELDS);

	/* deep nesting beside a field, and alone */
	n = (size_t)sprintf(payload, "{\"v\":2,\"x\":");
	for (int i = 0; i < 900; i++)
		payload[n++] = '[';
	for (int i = 0; i < 900; i++)
		payload[n++] = ']';
	payload[n++] = '}';
	payload[n] = '\0';
	check("s/n/s", payload, n, ACCEPT);
	memset(payload, '{', 5000);
	check("s/n/s", payload, 5000, REFUSE);
	/* a payload over the limit */
	memset(payload, ' ', READING_MAX_PAYLOAD + 1);
	memcpy(payload, "{\"v\":1}", 7);
	check("s/n/s", payload, READING_MAX_PAYLOAD + 1, REFUSE);
	free(name);
	free(longer);
	free(val);
	free(lval);
}

static void test_errors_say_why(void **state)
{
	(void)state;
	struct reading r;
	char err[200];
	assert_int_equal(reading_parse(&r, "s/n/s", "{\"_x\":1}", 8, ARRIVAL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no numeric field"));
	assert_non_null(strstr(err, "'_x'"));
	assert_int_equal(reading_parse(&r, "/n/s", "{\"v\":1}", 7, ARRIVAL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "topic"));
	assert_int_equal(reading_parse(&r, "s/n/s", "{\"v\":1}", 7, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "arrival"));
	assert_int_equal(reading_parse(&r, "s/n/s", "{\"a\\u0000\":1}", 13, ARRIVAL, err,
				       sizeof(err)), -1);
	assert_non_null(strstr(err, "u0000"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_errors_say_why),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
