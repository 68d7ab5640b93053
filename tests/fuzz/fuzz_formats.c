/*
 * fuzz_formats.c - the payload formats (bridge/format.h) on hostile input.
 * Byte 0 picks the format (mod their number), the rest is
 * "<topic>\n<payload>" as in fuzz_reading. Whatever a format makes obeys
 * reading.h's rules (node and sensor topic levels, field names, finite
 * values and no -0, sorted unique fields, 1 to READING_MAX_FIELDS of them,
 * a payload ts in [1e11, 2^53]), at most FORMAT_MAX_READINGS readings, no
 * seq outside sensorwire, an availability names a valid node, and every
 * reading survives the log's record codec.
 */
#include <errno.h>
#include <math.h>

#include "bridge/format.h"
#include "bridge/record.h"
#include "tests/fuzz/fuzz.h"

#define ENTRY(n) &format_##n,
static const struct format *const formats[] = { FORMATS(ENTRY) };
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static void check_reading(const struct format *f, const struct reading *r)
{
	FUZZ_CHECK(reading_level_ok(r->node, strlen(r->node)) && r->node[0], "%s: node", f->name);
	FUZZ_CHECK(reading_level_ok(r->sensor, strlen(r->sensor)) && r->sensor[0], "%s: sensor",
		   f->name);
	FUZZ_CHECK(r->n_fields >= 1 && r->n_fields <= READING_MAX_FIELDS, "%s: fields", f->name);
	FUZZ_CHECK(r->n_tags <= READING_MAX_TAGS, "%s: tags", f->name);
	FUZZ_CHECK(f->seq || (!r->has_seq && !r->has_boot), "%s: seq", f->name);
	FUZZ_CHECK(!r->ts_from_payload || (r->ts_ms >= 100000000000LL &&
					   r->ts_ms <= 9007199254740992LL), "%s: ts", f->name);
	for (size_t i = 0; i < r->n_fields; i++) {
		FUZZ_CHECK(reading_name_ok(r->fields[i].name), "%s: name", f->name);
		double v = r->fields[i].value;
		FUZZ_CHECK(isfinite(v) && !(v == 0 && signbit(v)), "%s: value", f->name);
		FUZZ_CHECK(i == 0 || strcmp(r->fields[i - 1].name, r->fields[i].name) < 0,
			   "%s: sorted", f->name);
	}
	for (size_t i = 0; i < r->n_tags; i++)
		FUZZ_CHECK(reading_name_ok(r->tags[i].key) && strcmp(r->tags[i].key, "node") &&
			   strcmp(r->tags[i].key, "sensor"), "%s: tag", f->name);
	static unsigned char buf[65536];
	int n = record_encode(r, buf, sizeof(buf));
	FUZZ_CHECK(n > 0, "%s: encode %d", f->name, n);
	struct reading d;
	int rc = record_decode(&d, buf, (size_t)n);
	FUZZ_CHECK(rc == 0 || rc == -ENOMEM, "%s: decode %d", f->name, rc);
	if (rc == 0) {
		FUZZ_CHECK(d.n_fields == r->n_fields && strcmp(d.node, r->node) == 0 &&
			   strcmp(d.sensor, r->sensor) == 0 && d.ts_ms == r->ts_ms, "%s: roundtrip",
			   f->name);
		reading_release(&d);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const struct format *f = formats[data[0] % N_FORMATS];
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	const char *nl = memchr(p, '\n', n);
	if (!nl || nl - p > 600)
		return 0;
	char topic[601];
	memcpy(topic, p, (size_t)(nl - p));
	topic[nl - p] = '\0';
	if (strlen(topic) != (size_t)(nl - p))
		return 0;   /* a NUL in the topic: MQTT topics are strings */
	static struct format_result res;
	format_message(f, topic, nl + 1, n - (size_t)(nl - p) - 1, 1732276899999LL, &res);
	switch (res.kind) {
	case FORMAT_READINGS:
		FUZZ_CHECK(res.n >= 1 && res.n <= FORMAT_MAX_READINGS, "%s: n", f->name);
		for (size_t i = 0; i < res.n; i++)
			check_reading(f, &res.r[i]);
		format_result_release(&res);
		break;
	case FORMAT_STATUS:
		FUZZ_CHECK(res.node[0] && reading_level_ok(res.node, strlen(res.node)), "%s: status",
			   f->name);
		break;
	default:
		FUZZ_CHECK(res.n == 0, "%s: readings left with kind %d", f->name, res.kind);
		break;
	}
	return 0;
}
