/*
 * fuzz_record.c - the log record codec (bridge/record.c).
 * Input byte 0 picks the mode:
 *  - even: the rest is "<topic>\n<payload>" as in fuzz_reading; a parsed
 *    reading must survive encode -> decode identically (every field, tag,
 *    flag and value bit), and re-encoding the decoded one gives the same bytes;
 *    the encoder refuses a buffer one byte short (-ENOSPC) without overrun.
 *  - odd: the rest is a record as the log might hold it (damaged); decoding
 *    never crashes, and what decodes re-encodes to a record that decodes to
 *    the same reading.
 */
#include <errno.h>

#include "bridge/reading.h"
#include "bridge/record.h"
#include "tests/fuzz/fuzz.h"

static void same(const struct reading *a, const struct reading *b)
{
	FUZZ_CHECK(a->ts_ms == b->ts_ms && a->ts_from_payload == b->ts_from_payload, "ts");
	FUZZ_CHECK(a->has_seq == b->has_seq && (!a->has_seq || a->seq == b->seq), "seq");
	FUZZ_CHECK(a->has_boot == b->has_boot && (!a->has_boot || strcmp(a->boot, b->boot) == 0),
		   "boot");
	FUZZ_CHECK(strcmp(a->node, b->node) == 0 && strcmp(a->sensor, b->sensor) == 0, "topic");
	FUZZ_CHECK(a->n_tags == b->n_tags && a->n_fields == b->n_fields, "counts");
	for (size_t i = 0; i < a->n_tags; i++)
		FUZZ_CHECK(strcmp(a->tags[i].key, b->tags[i].key) == 0 &&
			   strcmp(a->tags[i].value, b->tags[i].value) == 0, "tag %zu", i);
	for (size_t i = 0; i < a->n_fields; i++)
		FUZZ_CHECK(strcmp(a->fields[i].name, b->fields[i].name) == 0 &&
			   memcmp(&a->fields[i].value, &b->fields[i].value, sizeof(double)) == 0,
			   "field %zu", i);
}

/* Encodes r into an exactly sized heap buffer; returns it (len in *n). */
static unsigned char *encode(const struct reading *r, size_t cap_hint, int *n)
{
	unsigned char *buf = malloc(cap_hint);
	FUZZ_CHECK(buf, "malloc");
	*n = record_encode(r, buf, cap_hint);
	FUZZ_CHECK(*n > 0, "record_encode %d", *n);
	/* one byte short: refused, never written past */
	unsigned char *exact = malloc((size_t)*n);
	FUZZ_CHECK(exact, "malloc");
	FUZZ_CHECK(record_encode(r, exact, (size_t)*n - 1) == -ENOSPC, "short buffer");
	FUZZ_CHECK(record_encode(r, exact, (size_t)*n) == *n, "exact buffer");
	FUZZ_CHECK(memcmp(exact, buf, (size_t)*n) == 0, "deterministic");
	free(buf);
	return exact;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int mode = data[0] & 1;
	data++;
	size--;
	if (mode == 0) {
		char topic[601];
		const uint8_t *nl = memchr(data, '\n', size < 600 ? size : 600);
		const uint8_t *payload = data;
		size_t len = size;
		if (nl) {
			memcpy(topic, data, (size_t)(nl - data));
			topic[nl - data] = '\0';
			payload = nl + 1;
			len = size - (size_t)(nl - data) - 1;
		} else {
			strcpy(topic, "sensors/n/s");
		}
		struct reading r, d, d2;
		char err[160];
		if (reading_parse(&r, topic, payload, len, 1732276899999LL, err, sizeof(err)) < 0)
			return 0;
		/* record.h: never longer than payload + topic + RECORD_FIXED + 8 per field */
		size_t bound = len + strlen(topic) + RECORD_FIXED + 8 * r.n_fields;
		int n, n2;
		unsigned char *rec = encode(&r, bound, &n);
		FUZZ_CHECK(record_decode(&d, rec, (size_t)n) == 0, "decode");
		same(&r, &d);
		unsigned char *rec2 = encode(&d, (size_t)n, &n2);
		FUZZ_CHECK(n2 == n && memcmp(rec, rec2, (size_t)n) == 0, "re-encode");
		FUZZ_CHECK(record_decode(&d2, rec2, (size_t)n2) == 0, "decode 2");
		same(&d, &d2);
		free(rec);
		free(rec2);
		reading_release(&r);
		reading_release(&d);
		reading_release(&d2);
	} else {
		unsigned char *buf = malloc(size ? size : 1);
		FUZZ_CHECK(buf, "malloc");
		memcpy(buf, data, size);
		struct reading d, d2;
		int rc = record_decode(&d, buf, size);
		free(buf);
		if (rc < 0) {
			FUZZ_CHECK(rc == -EBADMSG || rc == -ENOMEM, "decode %d", rc);
			FUZZ_CHECK(d.arena == NULL, "arena left on error");
			return 0;
		}
		/* a decoded record's strings fit in what it came from */
		int n;
		unsigned char *rec = encode(&d, size + 8, &n);
		FUZZ_CHECK(record_decode(&d2, rec, (size_t)n) == 0, "re-decode");
		same(&d, &d2);
		free(rec);
		reading_release(&d);
		reading_release(&d2);
	}
	return 0;
}
