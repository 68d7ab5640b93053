/*
 * agree.h - what a reading becomes in each output, as a set of samples
 * (series identity, field, value, timestamp), read back independently of the
 * encoders: line protocol with tests/fuzz/lp_read.h, remote write with
 * libsnappy and the protoc-c code of proto/remote.proto. Shared by
 * tests/unit/bridge/test_outputs_agree.c and the fuzz targets.
 *
 * A sample is one string: the series' labels (node, sensor, tags; sorted by
 * key), the field name, the value's bits and the timestamp, each length
 * prefixed, so equal samples are equal strings whatever bytes they hold.
 * 0 and -0 are one value (both encoders write -0 as 0).
 * Header-only (static inline).
 */
#ifndef SW_TESTS_AGREE_H
#define SW_TESTS_AGREE_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "bridge/reading.h"
#include "proto/remote.pb-c.h"
#include "tests/fuzz/lp_read.h"

struct samples {
	char **v;
	size_t n, cap;
};

static inline void samples_free(struct samples *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct agree_kv {
	const char *k, *v;
};

static inline int agree_cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct agree_kv *)a)->k, ((const struct agree_kv *)b)->k);
}

static inline int agree_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void agree_put(FILE *f, const char *s)
{
	fprintf(f, "%zu:", strlen(s));
	fputs(s, f);
	fputc(';', f);
}

/* Adds one sample; kv (n pairs) is sorted in place. Returns 0 or -1. */
static inline int samples_add(struct samples *s, struct agree_kv *kv, size_t n,
			      const char *field, double value, int64_t ts)
{
	char *str = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&str, &len);
	if (!f)
		return -1;
	qsort(kv, n, sizeof(*kv), agree_cmp_kv);
	for (size_t i = 0; i < n; i++) {
		agree_put(f, kv[i].k);
		agree_put(f, kv[i].v);
	}
	fputc('|', f);
	agree_put(f, field);
	if (value == 0)
		value = 0.0;
	uint64_t bits;
	memcpy(&bits, &value, sizeof(bits));
	fprintf(f, "|%016" PRIx64 "|%" PRId64, bits, ts);
	if (fclose(f) != 0)
		return -1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			free(str);
			return -1;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = str;
	return 0;
}

/*
 * What the reading should become, by the mapping of README "Watching it
 * work": node and sensor from the topic, every tag (a tag named node or
 * sensor and an empty value, node and sensor too, are left out by both
 * encoders), one sample per
 * field at ts_ms.
 */
static inline int samples_of_reading(struct samples *s, const struct reading *r)
{
	struct agree_kv kv[READING_MAX_TAGS + 2];
	for (size_t f = 0; f < r->n_fields; f++) {
		size_t n = 0;
		if (*r->node)
			kv[n++] = (struct agree_kv){ "node", r->node };
		if (*r->sensor)
			kv[n++] = (struct agree_kv){ "sensor", r->sensor };
		for (size_t i = 0; i < r->n_tags && i < READING_MAX_TAGS; i++) {
			if (strcmp(r->tags[i].key, "node") == 0 ||
			    strcmp(r->tags[i].key, "sensor") == 0 || !*r->tags[i].value)
				continue;
			kv[n++] = (struct agree_kv){ r->tags[i].key, r->tags[i].value };
		}
		if (samples_add(s, kv, n, r->fields[f].name, r->fields[f].value, r->ts_ms) < 0)
			return -1;
	}
	return 0;
}

/*
 * Line protocol text (lines of measurement, all fields floats) -> samples.
 * Returns 0, or -1 with the reason in why.
 */
static inline int samples_of_lp(struct samples *s, const char *text, size_t len,
				const char *measurement, char *why, size_t whylen)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			snprintf(why, whylen, "line without a newline: %.80s", p);
			return -1;
		}
		struct lpr_line l;
		if (lpr_parse(p, (size_t)(nl - p), &l) < 0) {
			snprintf(why, whylen, "line does not read back: %.*s", (int)(nl - p), p);
			return -1;
		}
		if (strcmp(l.measurement, measurement) != 0 || !l.has_ts) {
			snprintf(why, whylen, "measurement '%s' or no timestamp", l.measurement);
			lpr_free(&l);
			return -1;
		}
		struct agree_kv kv[LPR_MAX_TAGS];
		for (size_t f = 0; f < l.n_fields; f++) {
			if (l.fields[f].type != LPR_FLOAT) {
				snprintf(why, whylen, "field %s is not a float", l.fields[f].key);
				lpr_free(&l);
				return -1;
			}
			for (size_t i = 0; i < l.n_tags; i++)
				kv[i] = (struct agree_kv){ l.tag_key[i], l.tag_value[i] };
			if (samples_add(s, kv, l.n_tags, l.fields[f].key, l.fields[f].f, l.ts) < 0) {
				lpr_free(&l);
				return -1;
			}
		}
		lpr_free(&l);
		p = nl + 1;
	}
	return 0;
}

/*
 * A remote-write body (snappy block + WriteRequest) -> samples; the field is
 * __name__ without prefix. Returns 0, or -1 with the reason in why.
 */
static inline int samples_of_rw(struct samples *s, const void *body, size_t len,
				const char *prefix, char *why, size_t whylen)
{
	size_t raw_len;
	if (snappy_uncompressed_length(body, len, &raw_len) != SNAPPY_OK || raw_len > (64u << 20)) {
		snprintf(why, whylen, "not a snappy block");
		return -1;
	}
	char *raw = malloc(raw_len ? raw_len : 1);
	if (!raw || snappy_uncompress(body, len, raw, &raw_len) != SNAPPY_OK) {
		free(raw);
		snprintf(why, whylen, "snappy block does not decompress");
		return -1;
	}
	Prometheus__WriteRequest *wr =
		prometheus__write_request__unpack(NULL, raw_len, (const uint8_t *)raw);
	free(raw);
	if (!wr) {
		snprintf(why, whylen, "not a WriteRequest");
		return -1;
	}
	int rc = 0;
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < wr->n_timeseries && rc == 0; i++) {
		const Prometheus__TimeSeries *ts = wr->timeseries[i];
		struct agree_kv kv[64];
		size_t n = 0;
		const char *name = NULL;
		for (size_t j = 0; j < ts->n_labels; j++) {
			if (strcmp(ts->labels[j]->name, "__name__") == 0)
				name = ts->labels[j]->value;
			else if (n < 64)
				kv[n++] = (struct agree_kv){ ts->labels[j]->name, ts->labels[j]->value };
		}
		if (!name || strncmp(name, prefix, plen) != 0 || n > 63) {
			snprintf(why, whylen, "series without a %s... name", prefix);
			rc = -1;
			break;
		}
		for (size_t k = 0; k < ts->n_samples && rc == 0; k++)
			rc = samples_add(s, kv, n, name + plen, ts->samples[k]->value,
					 ts->samples[k]->timestamp);
	}
	prometheus__write_request__free_unpacked(wr, NULL);
	return rc;
}

/* Whether a and b hold the same samples (sorts both); the first difference in why. */
static inline bool samples_equal(struct samples *a, struct samples *b, char *why, size_t whylen)
{
	qsort(a->v, a->n, sizeof(*a->v), agree_cmp_str);
	qsort(b->v, b->n, sizeof(*b->v), agree_cmp_str);
	for (size_t i = 0; i < a->n || i < b->n; i++) {
		const char *x = i < a->n ? a->v[i] : "(none)", *y = i < b->n ? b->v[i] : "(none)";
		if (strcmp(x, y) != 0) {
			snprintf(why, whylen, "sample %zu differs:\n  %.300s\n  %.300s", i, x, y);
			return false;
		}
	}
	return true;
}

#endif
