/*
 * rw_encode.c - remote-write 1.0 encoder/decoder (see rw_encode.h for the
 * naming rules). The request is written straight into one buffer in
 * protobuf's wire format, the few fields of proto/remote.proto by hand (so a
 * series' labels can be encoded once and copied for every sample); the
 * decoder, for --dry-run and tests, uses protoc-c's generated code, and the
 * compression is libsnappy's C API. This file maps readings onto the
 * messages and keeps label sets valid for strict receivers like Prometheus.
 */
#include "bridge/sinks/rw_encode.h"
#include "bridge/bytes.h"
#include "bridge/sinks/lineproto.h"
#include "proto/remote.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

/* protobuf wire types and the field keys of proto/remote.proto */
#define KEY_LEN(field) ((field) << 3 | 2)     /* length-delimited */
#define KEY_WRITE_REQUEST_TIMESERIES KEY_LEN(1)
#define KEY_TIMESERIES_LABELS KEY_LEN(1)
#define KEY_TIMESERIES_SAMPLES KEY_LEN(2)
#define KEY_LABEL_NAME KEY_LEN(1)
#define KEY_LABEL_VALUE KEY_LEN(2)
#define KEY_SAMPLE_VALUE (1 << 3 | 1)         /* fixed64 */
#define KEY_SAMPLE_TIMESTAMP (2 << 3 | 0)     /* varint */

/* The WriteRequest as protobuf bytes: one TimeSeries entry per sample. */
struct rw_request {
	unsigned char *buf;
	size_t len, cap;
	size_t n;
};

/*
 * Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there
 * are not one: overlong forms, surrogates and code points above U+10FFFF are
 * invalid (RFC 3629).
 */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		if (p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		if (p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

static bool is_name_char(unsigned char c, bool colon, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (colon && c == ':')
		return true;
	return !first && c >= '0' && c <= '9';
}

/* One '_' per invalid code point; '_' before a leading digit. */
static char *sanitize_name(const char *s, bool colon)
{
	size_t len = strlen(s);
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	if (*p >= '0' && *p <= '9')
		out[o++] = '_';
	while (*p) {
		if (is_name_char(*p, colon, false)) {
			out[o++] = (char)*p++;
			continue;
		}
		size_t l = utf8_len(p);
		p += l ? l : 1;
		out[o++] = '_';
	}
	out[o] = '\0';
	return out;
}

char *rw_sanitize_metric_name(const char *s)
{
	return sanitize_name(s, true);
}

char *rw_sanitize_label_name(const char *s)
{
	return sanitize_name(s, false);
}

char *rw_sanitize_label_value(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	while (*p) {
		size_t l = utf8_len(p);
		if (l == 0) {
			out[o++] = '_';
			p++;
			continue;
		}
		memcpy(out + o, p, l);
		o += l;
		p += l;
	}
	out[o] = '\0';
	return out;
}

void rw_labels_release(struct rw_labels *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		free(ls->l[i].name);
		free(ls->l[i].value);
	}
	ls->n = 0;
}

const char *rw_labels_get(const struct rw_labels *ls, const char *name)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->l[i].name, name) == 0)
			return ls->l[i].value;
	return NULL;
}

/* Adds name (owned) = value (copied, sanitised) unless a rule says no. */
static int add_label(struct rw_labels *ls, char *name, const char *value, bool is_metric,
		     unsigned *dropped)
{
	bool drop = false;

	if (!value || !*value) {
		free(name);
		return 0;               /* A6: omit, not an error */
	}
	if (!*name || (!is_metric && strncmp(name, "__", 2) == 0) ||
	    rw_labels_get(ls, name) || ls->n == RW_MAX_LABELS)
		drop = true;
	if (drop) {
		free(name);
		if (dropped)
			(*dropped)++;
		return 0;
	}
	char *v = rw_sanitize_label_value(value);
	if (!v) {
		free(name);
		return -ENOMEM;
	}
	ls->l[ls->n++] = (struct rw_label){ .name = name, .value = v };
	return 0;
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct rw_label *)a)->name, ((const struct rw_label *)b)->name);
}

int rw_labels_build(struct rw_labels *ls, const char *metric,
		    const struct reading_tag *pairs, size_t n, unsigned *dropped)
{
	ls->n = 0;
	char *m = rw_sanitize_metric_name(metric ? metric : "");
	if (!m)
		return -ENOMEM;
	if (!*m) {
		free(m);
		return -EINVAL;
	}
	char *nm = strdup("__name__");
	if (!nm || add_label(ls, nm, m, true, dropped) < 0)
		goto err_release;
	free(m);
	m = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!pairs[i].key) {
			if (dropped)
				(*dropped)++;
			continue;
		}
		char *k = rw_sanitize_label_name(pairs[i].key);
		if (!k || add_label(ls, k, pairs[i].value, false, dropped) < 0)
			goto err_release;
	}
	qsort(ls->l, ls->n, sizeof(ls->l[0]), cmp_label);
	return 0;

err_release:
	free(m);
	rw_labels_release(ls);
	return -ENOMEM;
}

int rw_labels_for_field(struct rw_labels *ls, const char *prefix,
			const struct reading *r, size_t field, unsigned *dropped)
{
	struct reading_tag pairs[READING_MAX_TAGS + 2];
	size_t n = 0;
	char *metric;

	if (field >= r->n_fields || r->n_tags > READING_MAX_TAGS)
		return -EINVAL;
	if (asprintf(&metric, "%s%s", prefix ? prefix : "", r->fields[field].name) < 0)
		return -ENOMEM;
	pairs[n++] = (struct reading_tag){ .key = "node", .value = r->node };
	pairs[n++] = (struct reading_tag){ .key = "sensor", .value = r->sensor };
	for (size_t i = 0; i < r->n_tags; i++)
		pairs[n++] = r->tags[i];
	int rc = rw_labels_build(ls, metric, pairs, n, dropped);
	free(metric);
	return rc;
}

uint64_t rw_double_bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

int rw_is_stale(double v)
{
	return rw_double_bits(v) == RW_STALE_NAN_BITS;
}

struct rw_request *rw_request_new(void)
{
	return calloc(1, sizeof(struct rw_request));
}

void rw_request_clear(struct rw_request *q)
{
	q->len = 0;
	q->n = 0;
}

void rw_request_free(struct rw_request *q)
{
	if (!q)
		return;
	free(q->buf);
	free(q);
}

size_t rw_request_samples(const struct rw_request *q)
{
	return q->n;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

/* A string field; proto3 leaves an empty one out (as protobuf-c does). */
static size_t str_field_len(const char *s)
{
	size_t n = strlen(s);
	return n ? 1 + varint_len(n) + n : 0;
}

static unsigned char *put_str_field(unsigned char *p, unsigned key, const char *s)
{
	size_t n = strlen(s);
	if (!n)
		return p;
	*p++ = (unsigned char)key;
	p = put_varint(p, n);
	memcpy(p, s, n);
	return p + n;
}

size_t rw_labels_encoded_len(const struct rw_labels *ls)
{
	size_t len = 0;
	for (size_t i = 0; i < ls->n; i++) {
		size_t m = str_field_len(ls->l[i].name) + str_field_len(ls->l[i].value);
		len += 1 + varint_len(m) + m;
	}
	return len;
}

size_t rw_labels_encode(const struct rw_labels *ls, void *out)
{
	unsigned char *p = out;
	for (size_t i = 0; i < ls->n; i++) {
		size_t m = str_field_len(ls->l[i].name) + str_field_len(ls->l[i].value);
		*p++ = KEY_TIMESERIES_LABELS;
		p = put_varint(p, m);
		p = put_str_field(p, KEY_LABEL_NAME, ls->l[i].name);
		p = put_str_field(p, KEY_LABEL_VALUE, ls->l[i].value);
	}
	return (size_t)(p - (unsigned char *)out);
}

/*
 * Appends TimeSeries { labels, Sample { value, timestamp } }. proto3 leaves
 * out a zero value (protobuf-c compares the double with 0, so -0.0 too).
 */
static int add_raw(struct rw_request *q, const void *labels, size_t labels_len, uint64_t bits,
		   int64_t ts_ms)
{
	if (ts_ms <= 0)
		return -ERANGE;
	if (labels_len == 0)
		return -EINVAL;
	double v;
	memcpy(&v, &bits, sizeof(v));
	size_t sample = (v != 0 ? 9 : 0) + 1 + varint_len((uint64_t)ts_ms);
	size_t series = labels_len + 1 + varint_len(sample) + sample;
	size_t need = q->len + 1 + varint_len(series) + series;
	if (need > q->cap) {
		size_t cap = q->cap ? q->cap : 16384;
		while (cap < need)
			cap *= 2;
		unsigned char *nb = realloc(q->buf, cap);
		if (!nb)
			return -ENOMEM;
		q->buf = nb;
		q->cap = cap;
	}
	unsigned char *p = q->buf + q->len;
	*p++ = KEY_WRITE_REQUEST_TIMESERIES;
	p = put_varint(p, series);
	memcpy(p, labels, labels_len);
	p += labels_len;
	*p++ = KEY_TIMESERIES_SAMPLES;
	p = put_varint(p, sample);
	if (v != 0) {
		*p++ = KEY_SAMPLE_VALUE;
		put64(p, bits);
		p += 8;
	}
	*p++ = KEY_SAMPLE_TIMESTAMP;
	p = put_varint(p, (uint64_t)ts_ms);
	q->len = (size_t)(p - q->buf);
	q->n++;
	return 0;
}

/* A sample value's bits: any NaN goes as the one ordinary NaN (markers: *_stale) */
static uint64_t value_bits(double value)
{
	return isnan(value) ? RW_NAN_BITS : rw_double_bits(value);
}

int rw_request_add_encoded(struct rw_request *q, const void *labels, size_t len, double value,
			   int64_t ts_ms)
{
	return add_raw(q, labels, len, value_bits(value), ts_ms);
}

int rw_request_add_stale_encoded(struct rw_request *q, const void *labels, size_t len,
				 int64_t ts_ms)
{
	return add_raw(q, labels, len, RW_STALE_NAN_BITS, ts_ms);
}

/* Encodes ls and appends a sample with those labels. */
static int add_labels(struct rw_request *q, const struct rw_labels *ls, uint64_t bits,
		      int64_t ts_ms)
{
	unsigned char stack[1024];
	size_t len = rw_labels_encoded_len(ls);
	unsigned char *labels = len <= sizeof(stack) ? stack : malloc(len);
	if (!labels)
		return -ENOMEM;
	rw_labels_encode(ls, labels);
	int rc = add_raw(q, labels, len, bits, ts_ms);
	if (labels != stack)
		free(labels);
	return rc;
}

int rw_request_add(struct rw_request *q, const struct rw_labels *ls, double value,
		   int64_t ts_ms)
{
	return add_labels(q, ls, value_bits(value), ts_ms);
}

int rw_request_add_stale(struct rw_request *q, const struct rw_labels *ls, int64_t ts_ms)
{
	return add_labels(q, ls, RW_STALE_NAN_BITS, ts_ms);
}

int rw_request_pack(const struct rw_request *q, void **out, size_t *out_len)
{
	void *buf = malloc(q->len ? q->len : 1);
	if (!buf)
		return -ENOMEM;
	if (q->len)
		memcpy(buf, q->buf, q->len);
	*out = buf;
	*out_len = q->len;
	return 0;
}

int rw_request_encode(const struct rw_request *q, void **out, size_t *out_len)
{
	size_t cap = snappy_max_compressed_length(q->len);
	char *z = malloc(cap);
	if (!z)
		return -ENOMEM;
	if (snappy_compress(q->len ? (const char *)q->buf : "", q->len, z, &cap) != SNAPPY_OK) {
		free(z);
		return -EIO;
	}
	*out = z;
	*out_len = cap;
	return 0;
}

int rw_unsnappy(const void *in, size_t len, void **out, size_t *out_len)
{
	size_t n;
	if (snappy_uncompressed_length(in, len, &n) != SNAPPY_OK)
		return -EBADMSG;
	if (n > RW_MAX_DECODED)
		return -EFBIG;
	char *buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	if (snappy_uncompress(in, len, buf, &n) != SNAPPY_OK) {
		free(buf);
		return -EBADMSG;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

/* Prometheus text-format escaping of a label value. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void put_value(FILE *f, double v)
{
	char num[LP_FLOAT_LEN];
	if (rw_is_stale(v))
		fputs("StaleNaN", f);
	else if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (lp_format_float(v, num, sizeof(num)) > 0)
		fputs(num, f);
}

int rw_decode_text(const void *body, size_t len, char **text)
{
	void *raw;
	size_t raw_len, tlen;
	int rc = rw_unsnappy(body, len, &raw, &raw_len);
	if (rc < 0)
		return rc;
	Prometheus__WriteRequest *wr = prometheus__write_request__unpack(NULL, raw_len, raw);
	free(raw);
	if (!wr)
		return -EBADMSG;

	/* open_memstream writes to memory only: the decoder stays free of I/O */
	FILE *f = open_memstream(text, &tlen);
	if (!f) {
		rc = -ENOMEM;
		goto out_free_msg;
	}
	for (size_t i = 0; i < wr->n_timeseries; i++) {
		const Prometheus__TimeSeries *ts = wr->timeseries[i];
		const char *name = NULL;
		for (size_t j = 0; j < ts->n_labels; j++)
			if (strcmp(ts->labels[j]->name, "__name__") == 0)
				name = ts->labels[j]->value;
		for (size_t k = 0; k < ts->n_samples; k++) {
			bool first = true;
			fputs(name ? name : "", f);
			fputc('{', f);
			for (size_t j = 0; j < ts->n_labels; j++) {
				if (strcmp(ts->labels[j]->name, "__name__") == 0)
					continue;
				if (!first)
					fputc(',', f);
				first = false;
				fputs(ts->labels[j]->name, f);
				fputc('=', f);
				put_quoted(f, ts->labels[j]->value);
			}
			fputs("} ", f);
			put_value(f, ts->samples[k]->value);
			fprintf(f, " @%" PRId64 "\n", ts->samples[k]->timestamp);
		}
	}
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		rc = -ENOMEM;
	}
out_free_msg:
	prometheus__write_request__free_unpacked(wr, NULL);
	return rc;
}
