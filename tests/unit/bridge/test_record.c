/*
 * test_record.c - the log's binary record: every reading the parser makes
 * comes back whole from record_decode(), within the size bound record.h
 * promises, and damaged bytes are refused rather than misread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/reading.h"
#include "bridge/record.h"

#define ARRIVAL 1732276899999LL

static void assert_same(const struct reading *a, const struct reading *b)
{
	assert_int_equal(a->ts_ms, b->ts_ms);
	assert_int_equal(a->ts_from_payload, b->ts_from_payload);
	assert_string_equal(a->node, b->node);
	assert_string_equal(a->sensor, b->sensor);
	assert_int_equal(a->has_seq, b->has_seq);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->has_boot, b->has_boot);
	if (a->has_boot)
		assert_string_equal(a->boot, b->boot);
	assert_int_equal(a->n_tags, b->n_tags);
	for (size_t i = 0; i < a->n_tags; i++) {
		assert_string_equal(a->tags[i].key, b->tags[i].key);
		assert_string_equal(a->tags[i].value, b->tags[i].value);
	}
	assert_int_equal(a->n_fields, b->n_fields);
	for (size_t i = 0; i < a->n_fields; i++) {
		assert_string_equal(a->fields[i].name, b->fields[i].name);
		/* bit for bit: -0.0 stays -0.0 */
		assert_memory_equal(&a->fields[i].value, &b->fields[i].value, sizeof(double));
	}
}

/* parse -> encode -> decode gives the parsed reading back. */
static void round_trip(const char *topic, const char *payload)
{
	struct reading r, d;
	char err[128];
	unsigned char buf[RECORD_FIXED + READING_MAX_PAYLOAD + 512 + 8 * READING_MAX_FIELDS];
	assert_int_equal(reading_parse(&r, topic, payload, strlen(payload), ARRIVAL, err,
				       sizeof(err)), 0);
	int n = record_encode(&r, buf, sizeof(buf));
	assert_true(n > 0);
	/* the bound the bridge sizes its buffer by */
	assert_true((size_t)n <= RECORD_FIXED + strlen(topic) + strlen(payload) + 8 * r.n_fields);
	assert_int_equal(buf[0], RECORD_MAGIC);
	assert_int_equal(record_decode(&d, buf, (size_t)n), 0);
	assert_same(&r, &d);
	/* every shorter buffer is refused, never overrun */
	for (int cap = 0; cap < n; cap++)
		assert_int_equal(record_encode(&r, buf, (size_t)cap), -ENOSPC);
	reading_release(&r);
	reading_release(&d);
}

static void test_round_trips(void **state)
{
	(void)state;
	round_trip("sensors/rp3/desk",
		   "{\"ts\":1732276800123,\"seq\":42,\"boot\":\"9f3a0c1e5b7d2a64\","
		   "\"temperature_celsius\":21.4,\"humidity_percent\":48,"
		   "\"tags\":{\"model\":\"dht22\",\"location\":\"desk\"}}");
	/* no ts, seq, boot or tags; booleans; negative zero; tiny and huge values */
	round_trip("a/b/n1/s1", "{\"v\":1,\"ok\":true,\"off\":false,\"nz\":-0.0,"
				"\"tiny\":5e-324,\"huge\":1.7976931348623157e308}");
	/* unicode and escapes in tag values, short names */
	round_trip("sensors/n\xc3\xa9/s", "{\"x\":1,\"tags\":{\"room\":\"caf\\u00e9 \\\"2\\\"\","
					   "\"a\":\"\xf0\x9f\x8c\xa1\"}}");
	/* seq 0 and the largest seq the parser keeps */
	round_trip("s/n/s", "{\"seq\":0,\"x\":1}");
	round_trip("s/n/s", "{\"seq\":9007199254740992,\"boot\":\"0000000000000000\",\"x\":1}");
}

/* As many tags and fields as a reading can hold. */
static void test_full_reading(void **state)
{
	(void)state;
	char p[READING_MAX_PAYLOAD];
	size_t n = 0;
	n += (size_t)snprintf(p + n, sizeof(p) - n, "{\"tags\":{");
	for (int i = 0; i < READING_MAX_TAGS; i++)
		n += (size_t)snprintf(p + n, sizeof(p) - n, "%s\"tag%02d\":\"value %d\"",
				      i ? "," : "", i, i);
	n += (size_t)snprintf(p + n, sizeof(p) - n, "}");
	for (int i = 0; i < READING_MAX_FIELDS; i++)
		n += (size_t)snprintf(p + n, sizeof(p) - n, ",\"field_%02d\":%d.5", i, i);
	snprintf(p + n, sizeof(p) - n, "}");
	round_trip("sensors/node/sensor", p);
}

static int encode(const char *payload, unsigned char *buf, size_t cap, struct reading *r)
{
	char err[128];
	assert_int_equal(reading_parse(r, "sensors/n/s", payload, strlen(payload), ARRIVAL, err,
				       sizeof(err)), 0);
	return record_encode(r, buf, cap);
}

static void test_damaged_records_refused(void **state)
{
	(void)state;
	struct reading r, d;
	unsigned char buf[512], bad[512];
	int n = encode("{\"ts\":1732276800123,\"a\":1,\"b\":2,\"tags\":{\"k\":\"v\"}}", buf,
		       sizeof(buf), &r);
	assert_true(n > 0);

	/* every truncation */
	for (int len = 0; len < n; len++)
		assert_int_equal(record_decode(&d, buf, (size_t)len), -EBADMSG);
	/* a JSON payload (a format 1 record) is not a binary one */
	assert_int_equal(record_decode(&d, "{\"a\":1}", 7), -EBADMSG);
	/* wrong magic, unknown flags, counts over the limits */
	size_t at[] = { 0, 1, 2, 3 };
	unsigned char val[] = { '{', 0x80, READING_MAX_TAGS + 1, READING_MAX_FIELDS + 1 };
	for (size_t i = 0; i < 4; i++) {
		memcpy(bad, buf, (size_t)n);
		bad[at[i]] = val[i];
		assert_int_equal(record_decode(&d, bad, (size_t)n), -EBADMSG);
	}
	/* counts that do not match the strings: one tag more or less, one field more */
	for (int delta = -1; delta <= 1; delta += 2) {
		memcpy(bad, buf, (size_t)n);
		bad[2] = (unsigned char)(bad[2] + delta);
		assert_int_equal(record_decode(&d, bad, (size_t)n), -EBADMSG);
	}
	memcpy(bad, buf, (size_t)n);
	bad[3]++;
	assert_int_equal(record_decode(&d, bad, (size_t)n), -EBADMSG);
	/* a NUL too many inside a string, or a last string without its NUL */
	memcpy(bad, buf, (size_t)n);
	bad[n - 2] = '\0';
	assert_int_equal(record_decode(&d, bad, (size_t)n), -EBADMSG);
	memcpy(bad, buf, (size_t)n);
	bad[n - 1] = 'x';
	assert_int_equal(record_decode(&d, bad, (size_t)n), -EBADMSG);
	/* trailing bytes */
	memcpy(bad, buf, (size_t)n);
	bad[n] = '\0';
	assert_int_equal(record_decode(&d, bad, (size_t)n + 1), -EBADMSG);

	/* and the intact one still decodes */
	assert_int_equal(record_decode(&d, buf, (size_t)n), 0);
	assert_same(&r, &d);
	reading_release(&d);
	reading_release(&r);
}

/* Readings built by hand beyond the limits, or with a broken boot, are refused. */
static void test_encode_refuses_impossible_readings(void **state)
{
	(void)state;
	struct reading r;
	unsigned char buf[512];
	assert_true(encode("{\"x\":1}", buf, sizeof(buf), &r) > 0);
	size_t n_fields = r.n_fields;
	r.n_fields = READING_MAX_FIELDS + 1;
	assert_int_equal(record_encode(&r, buf, sizeof(buf)), -EINVAL);
	r.n_fields = n_fields;
	r.has_boot = true;
	memcpy(r.boot, "9F3A0C1E5B7D2A64", 17);   /* upper case: not what the parser keeps */
	assert_int_equal(record_encode(&r, buf, sizeof(buf)), -EINVAL);
	reading_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_full_reading),
		cmocka_unit_test(test_damaged_records_refused),
		cmocka_unit_test(test_encode_refuses_impossible_readings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
