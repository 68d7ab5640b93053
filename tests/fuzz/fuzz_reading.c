/*
 * fuzz_reading.c - the payload parser and topic split (bridge/reading.c).
 * Input: "<topic>\n<payload>" (without a newline in the first 600 bytes the
 * topic is sensors/n/s and the whole input is the payload).
 *
 * Invariants: no crash, leak or UB; reading_topic_split and reading_parse
 * agree on the topic; every accepted reading follows reading.h's rules
 * (names, values, sizes, order); and the outputs agree: through the log
 * record, line protocol read back by tests/fuzz/lp_read.h and remote write
 * unpacked with libsnappy + protobuf-c hold exactly the reading's samples.
 */
#include <math.h>

#include "bridge/reading.h"
#include "bridge/record.h"
#include "bridge/sinks/lineproto.h"
#include "bridge/sinks/rw_encode.h"
#include "tests/fuzz/agree.h"
#include "tests/fuzz/fuzz.h"

static int is_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > READING_MAX_NAME || strcmp(s, "time") == 0)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int is_value(const char *s, int topic_level)
{
	size_t n = strlen(s);
	if (n == 0 || n > READING_MAX_VALUE)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return 0;
		if (topic_level && (c == '/' || c == '+' || c == '#'))
			return 0;
	}
	return 1;
}

static void check_rules(const struct reading *r)
{
	FUZZ_CHECK(is_value(r->node, 1) && is_value(r->sensor, 1), "node/sensor");
	FUZZ_CHECK(strcmp(r->sensor, "status") != 0, "status as a reading");
	FUZZ_CHECK(r->n_fields >= 1 && r->n_fields <= READING_MAX_FIELDS, "n_fields %zu", r->n_fields);
	FUZZ_CHECK(r->n_tags <= READING_MAX_TAGS, "n_tags");
	FUZZ_CHECK(r->ts_ms > 0 && r->ts_ms <= 9007199254740992LL, "ts %lld", (long long)r->ts_ms);
	for (size_t i = 0; i < r->n_fields; i++) {
		FUZZ_CHECK(is_name(r->fields[i].name), "field name '%s'", r->fields[i].name);
		double v = r->fields[i].value;
		FUZZ_CHECK(isfinite(v) && !(v == 0 && signbit(v)), "field value %g", v);
		if (i)
			FUZZ_CHECK(strcmp(r->fields[i - 1].name, r->fields[i].name) < 0, "field order");
	}
	for (size_t i = 0; i < r->n_tags; i++) {
		FUZZ_CHECK(is_name(r->tags[i].key) && strcmp(r->tags[i].key, "node") &&
			   strcmp(r->tags[i].key, "sensor"), "tag key '%s'", r->tags[i].key);
		FUZZ_CHECK(is_value(r->tags[i].value, 0), "tag value");
		if (i)
			FUZZ_CHECK(strcmp(r->tags[i - 1].key, r->tags[i].key) < 0, "tag order");
	}
}

static void check_outputs(const struct reading *parsed, size_t payload_len, size_t topic_len)
{
	char why[800];
	size_t cap = payload_len + topic_len + RECORD_FIXED + 8 * READING_MAX_FIELDS + 64;
	unsigned char *rec = malloc(cap);
	FUZZ_CHECK(rec, "malloc");
	int n = record_encode(parsed, rec, cap);
	FUZZ_CHECK(n > 0, "record_encode %d", n);
	struct reading r;
	FUZZ_CHECK(record_decode(&r, rec, (size_t)n) == 0, "record_decode");
	free(rec);

	struct samples exp = { 0 }, lp = { 0 }, rw = { 0 };
	FUZZ_CHECK(samples_of_reading(&exp, parsed) == 0, "samples");

	struct lp_buf b;
	lp_buf_init(&b, 1 << 20);
	int rc = lp_append_reading(&b, "sensor", &r, why, sizeof(why));
	FUZZ_CHECK(rc == 0, "line protocol refused a parsed reading: %s", why);
	FUZZ_CHECK(samples_of_lp(&lp, b.data, b.len, "sensor", why, sizeof(why)) == 0, "%s", why);
	lp_buf_release(&b);

	struct rw_request *q = rw_request_new();
	FUZZ_CHECK(q, "rw_request_new");
	for (size_t i = 0; i < r.n_fields; i++) {
		struct rw_labels ls;
		unsigned dropped = 0;
		FUZZ_CHECK(rw_labels_for_field(&ls, "sensor_", &r, i, &dropped) == 0, "labels");
		FUZZ_CHECK(dropped == 0, "remote write dropped %u labels", dropped);
		FUZZ_CHECK(rw_request_add(q, &ls, r.fields[i].value, r.ts_ms) == 0, "rw add");
		rw_labels_release(&ls);
	}
	void *body;
	size_t body_len;
	FUZZ_CHECK(rw_request_encode(q, &body, &body_len) == 0, "rw encode");
	rw_request_free(q);
	FUZZ_CHECK(samples_of_rw(&rw, body, body_len, "sensor_", why, sizeof(why)) == 0, "%s", why);
	free(body);

	FUZZ_CHECK(samples_equal(&exp, &lp, why, sizeof(why)), "reading vs line protocol: %s", why);
	FUZZ_CHECK(samples_equal(&exp, &rw, why, sizeof(why)), "reading vs remote write: %s", why);
	samples_free(&exp);
	samples_free(&lp);
	samples_free(&rw);
	reading_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char topic[601];
	const uint8_t *nl = memchr(data, '\n', size < 600 ? size : 600);
	const uint8_t *payload = data;
	size_t len = size;
	if (nl) {
		size_t tl = (size_t)(nl - data);
		memcpy(topic, data, tl);
		topic[tl] = '\0';
		payload = nl + 1;
		len = size - tl - 1;
	} else {
		strcpy(topic, "sensors/n/s");
	}

	char node[256], sensor[256], small_n[8], small_s[8];
	enum topic_kind kind = reading_topic_split(topic, node, sizeof(node), sensor, sizeof(sensor));
	/* small buffers never overflow, and refuse rather than truncate */
	enum topic_kind k2 = reading_topic_split(topic, small_n, sizeof(small_n), small_s,
						 sizeof(small_s));
	FUZZ_CHECK(k2 == TOPIC_INVALID || k2 == kind, "split with small buffers");
	if (k2 != TOPIC_INVALID)
		FUZZ_CHECK(strcmp(small_n, node) == 0 && strcmp(small_s, sensor) == 0, "split");

	/* the payload in its own buffer, so reading past it is caught */
	uint8_t *p = malloc(len ? len : 1);
	FUZZ_CHECK(p, "malloc");
	memcpy(p, payload, len);
	struct reading r;
	char err[160] = "";
	int rc = reading_parse(&r, topic, p, len, 1732276899999LL, err, sizeof(err));
	if (rc == 0) {
		FUZZ_CHECK(kind == TOPIC_READING, "parsed a reading on a topic split calls %d", kind);
		FUZZ_CHECK(strcmp(r.node, node) == 0 && strcmp(r.sensor, sensor) == 0, "node/sensor");
		check_rules(&r);
		check_outputs(&r, len, strlen(topic));
		reading_release(&r);
	} else {
		FUZZ_CHECK(rc == -1 && err[0] && r.arena == NULL, "error without reason: %d", rc);
		if (kind != TOPIC_READING)
			FUZZ_CHECK(strstr(err, "topic") != NULL, "bad topic, reason '%s'", err);
	}
	free(p);
	return 0;
}
