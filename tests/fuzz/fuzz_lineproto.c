/*
 * fuzz_lineproto.c - the line-protocol encoder (bridge/sinks/lineproto.c),
 * fed readings built straight from the input (any bytes in any name or
 * value, any double), not only what the parser lets through.
 *
 * Invariants, per reading appended to one buffer: the encoder accepts it
 * exactly when lineproto.h's rules say so (checked here independently), an
 * accepted reading adds one line that tests/fuzz/lp_read.h reads back to the
 * same measurement, tags (node, sensor, the payload's; empty values left
 * out) and float fields, value for value, at the reading's timestamp; a
 * refused one leaves the buffer as it was, byte for byte.
 */
#include <errno.h>
#include <math.h>

#include "bridge/reading.h"
#include "bridge/sinks/lineproto.h"
#include "tests/fuzz/agree.h"
#include "tests/fuzz/fuzz.h"

static int bad_bytes(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			return 1;
	return 0;
}

static int name_ok(const char *s)
{
	return *s && !bad_bytes(s) && s[0] != '_';
}

/* lineproto.h's rules for lp_append_reading */
static int should_accept(const char *meas, const struct reading *r)
{
	const char *keys[READING_MAX_TAGS + 2], *vals[READING_MAX_TAGS + 2];
	size_t n = 0;
	if (!name_ok(meas) || meas[0] == '#')
		return 0;
	keys[n] = "node", vals[n++] = r->node;
	keys[n] = "sensor", vals[n++] = r->sensor;
	for (size_t i = 0; i < r->n_tags; i++) {
		if (strcmp(r->tags[i].key, "node") == 0 || strcmp(r->tags[i].key, "sensor") == 0)
			continue;
		keys[n] = r->tags[i].key, vals[n++] = r->tags[i].value;
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_ok(keys[i]))
			return 0;
		if (!*vals[i])
			continue;
		if (bad_bytes(vals[i]))
			return 0;
		for (size_t j = 0; j < i; j++)
			if (*vals[j] && strcmp(keys[i], keys[j]) == 0)
				return 0;
	}
	if (r->n_fields == 0)
		return 0;
	for (size_t i = 0; i < r->n_fields; i++) {
		if (!name_ok(r->fields[i].name) || !isfinite(r->fields[i].value))
			return 0;
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->fields[i].name, r->fields[j].name) == 0)
				return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	char *meas = fuzz_str(&in, 12);
	struct lp_buf b;
	lp_buf_init(&b, 4096 + fuzz_u64(&in, 2));
	for (int k = 0; k < 4 && in.n; k++) {
		struct reading r;
		struct reading_tag tags[READING_MAX_TAGS];
		struct reading_field fields[6];
		char *strs[2 + 2 * READING_MAX_TAGS + 6];
		size_t ns = 0;
		memset(&r, 0, sizeof(r));
		r.node = strs[ns++] = fuzz_str(&in, 10);
		r.sensor = strs[ns++] = fuzz_str(&in, 10);
		r.n_tags = fuzz_u8(&in) % 5;
		for (size_t i = 0; i < r.n_tags; i++) {
			tags[i].key = strs[ns++] = fuzz_str(&in, 8);
			tags[i].value = strs[ns++] = fuzz_str(&in, 10);
		}
		r.n_fields = fuzz_u8(&in) % 5;
		for (size_t i = 0; i < r.n_fields; i++) {
			fields[i].name = strs[ns++] = fuzz_str(&in, 8);
			uint64_t bits = fuzz_u64(&in, 8);
			memcpy(&fields[i].value, &bits, sizeof(double));
		}
		r.tags = tags;
		r.fields = fields;
		r.ts_ms = (int64_t)fuzz_u64(&in, 8);

		int want = should_accept(meas, &r);
		size_t len0 = b.len, lines0 = b.lines;
		char *before = b.data ? strdup(b.data) : NULL;
		char err[200] = "";
		int rc = lp_append_reading(&b, meas, &r, err, sizeof(err));
		if (rc == 0) {
			FUZZ_CHECK(want, "accepted what the rules refuse");
			FUZZ_CHECK(b.lines == lines0 + 1 && b.len > len0, "one line");
			FUZZ_CHECK(memchr(b.data + len0, '\n', b.len - len0) == b.data + b.len - 1,
				   "one newline, at the end");
			struct samples got = { 0 }, exp = { 0 };
			char why[800];
			FUZZ_CHECK(samples_of_lp(&got, b.data + len0, b.len - len0, meas, why,
						 sizeof(why)) == 0, "%s", why);
			FUZZ_CHECK(samples_of_reading(&exp, &r) == 0, "samples");
			FUZZ_CHECK(samples_equal(&exp, &got, why, sizeof(why)), "%s", why);
			samples_free(&got);
			samples_free(&exp);
		} else {
			FUZZ_CHECK(rc == -EINVAL || rc == -ENOBUFS, "rc %d", rc);
			FUZZ_CHECK(rc == -ENOBUFS || !want, "refused what the rules accept: %s", err);
			FUZZ_CHECK(err[0], "no reason");
			FUZZ_CHECK(b.len == len0 && b.lines == lines0, "buffer changed");
			FUZZ_CHECK(!before || strcmp(before, b.data) == 0, "buffer bytes changed");
		}
		free(before);
		for (size_t i = 0; i < ns; i++)
			free(strs[i]);
	}
	lp_buf_release(&b);
	free(meas);
	return 0;
}
