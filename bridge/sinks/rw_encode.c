/*
 * rw_encode.c - remote-write 1.0 encoder/decoder (see rw_encode.h for the
 * naming rules). The messages come from protoc-c (proto/remote.proto), the
 * compression from libsnappy's C API; this file only maps readings onto
 * them and keeps label sets valid for strict receivers like Prometheus.
 */
#include "bridge/sinks/rw_encode.h"
#include "bridge/sinks/lineproto.h"
#include "proto/remote.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

struct rw_request {
	Prometheus__TimeSeries **ts;   /* each the head of one malloc'd block */
	size_t n;
	size_t cap;
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

char *rw_series_key(const struct rw_labels *ls)
{
	size_t len = 1;
	for (size_t i = 0; i < ls->n; i++)
		len += strlen(ls->l[i].name) + strlen(ls->l[i].value) + 2;
	char *k = malloc(len), *p = k;
	if (!k)
		return NULL;
	for (size_t i = 0; i < ls->n; i++) {
		p = stpcpy(p, ls->l[i].name);
		*p++ = '\xfe';
		p = stpcpy(p, ls->l[i].value);
		*p++ = '\xff';
	}
	*p = '\0';
	return k;
}

uint64_t rw_double_bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static double bits_double(uint64_t b)
{
	double v;
	memcpy(&v, &b, sizeof(v));
	return v;
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
	for (size_t i = 0; i < q->n; i++)
		free(q->ts[i]);
	q->n = 0;
}

void rw_request_free(struct rw_request *q)
{
	if (!q)
		return;
	rw_request_clear(q);
	free(q->ts);
	free(q);
}

size_t rw_request_samples(const struct rw_request *q)
{
	return q->n;
}

static size_t align_up(size_t n)
{
	size_t a = alignof(max_align_t);
	return (n + a - 1) / a * a;
}

/*
 * One block per series: TimeSeries, its one Sample, the pointer arrays, the
 * Labels and their strings, so a request costs one malloc per sample.
 */
static int add_raw(struct rw_request *q, const struct rw_labels *ls, uint64_t bits,
		   int64_t ts_ms)
{
	if (ts_ms <= 0)
		return -ERANGE;
	if (ls->n == 0)
		return -EINVAL;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		Prometheus__TimeSeries **t = realloc(q->ts, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		q->ts = t;
		q->cap = cap;
	}

	size_t off_sample = align_up(sizeof(Prometheus__TimeSeries));
	size_t off_sptr = align_up(off_sample + sizeof(Prometheus__Sample));
	size_t off_lptr = align_up(off_sptr + sizeof(Prometheus__Sample *));
	size_t off_labels = align_up(off_lptr + ls->n * sizeof(Prometheus__Label *));
	size_t off_str = off_labels + ls->n * sizeof(Prometheus__Label);
	size_t total = off_str;
	for (size_t i = 0; i < ls->n; i++)
		total += strlen(ls->l[i].name) + strlen(ls->l[i].value) + 2;

	char *blk = malloc(total);
	if (!blk)
		return -ENOMEM;
	Prometheus__TimeSeries *ts = (Prometheus__TimeSeries *)blk;
	Prometheus__Sample *s = (Prometheus__Sample *)(blk + off_sample);
	Prometheus__Sample **sp = (Prometheus__Sample **)(blk + off_sptr);
	Prometheus__Label **lp = (Prometheus__Label **)(blk + off_lptr);
	Prometheus__Label *lab = (Prometheus__Label *)(blk + off_labels);
	char *str = blk + off_str;

	prometheus__time_series__init(ts);
	prometheus__sample__init(s);
	s->value = bits_double(bits);
	s->timestamp = ts_ms;
	sp[0] = s;
	ts->n_samples = 1;
	ts->samples = sp;
	for (size_t i = 0; i < ls->n; i++) {
		prometheus__label__init(&lab[i]);
		lab[i].name = str;
		str = stpcpy(str, ls->l[i].name) + 1;
		lab[i].value = str;
		str = stpcpy(str, ls->l[i].value) + 1;
		lp[i] = &lab[i];
	}
	ts->n_labels = ls->n;
	ts->labels = lp;
	q->ts[q->n++] = ts;
	return 0;
}

int rw_request_add(struct rw_request *q, const struct rw_labels *ls, double value,
		   int64_t ts_ms)
{
	uint64_t bits = isnan(value) ? RW_NAN_BITS : rw_double_bits(value);
	return add_raw(q, ls, bits, ts_ms);
}

int rw_request_add_stale(struct rw_request *q, const struct rw_labels *ls, int64_t ts_ms)
{
	return add_raw(q, ls, RW_STALE_NAN_BITS, ts_ms);
}

int rw_request_pack(const struct rw_request *q, void **out, size_t *out_len)
{
	Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
	wr.n_timeseries = q->n;
	wr.timeseries = q->ts;
	size_t len = prometheus__write_request__get_packed_size(&wr);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	*out_len = prometheus__write_request__pack(&wr, buf);
	*out = buf;
	return 0;
}

int rw_request_encode(const struct rw_request *q, void **out, size_t *out_len)
{
	void *raw;
	size_t raw_len;
	int rc = rw_request_pack(q, &raw, &raw_len);
	if (rc < 0)
		return rc;

	size_t cap = snappy_max_compressed_length(raw_len);
	char *z = malloc(cap);
	if (!z) {
		rc = -ENOMEM;
		goto out_free_raw;
	}
	if (snappy_compress(raw, raw_len, z, &cap) != SNAPPY_OK) {
		free(z);
		rc = -EIO;
		goto out_free_raw;
	}
	*out = z;
	*out_len = cap;
out_free_raw:
	free(raw);
	return rc;
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
