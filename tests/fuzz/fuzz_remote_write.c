/*
 * fuzz_remote_write.c - the remote-write encoder (bridge/sinks/rw_encode.c),
 * fed label sets and samples built straight from the input.
 *
 * Invariants: the body decompresses with libsnappy and unpacks with
 * protobuf-c (proto/remote.proto) to exactly the predicted request: one
 * TimeSeries per sample, in order, with the labels that rw_encode.h's rules
 * give (predicted here by an independent implementation: sanitised names,
 * "__" labels and empty values left out, the first of a name wins, at most
 * RW_MAX_LABELS, values made valid UTF-8, sorted), the value's bits (any NaN
 * as the one NaN, the staleness marker as given, -0 as 0) and the
 * timestamp; timestamps <= 0 are refused with -ERANGE. Also: rw_decode_text
 * and rw_unsnappy never crash on the raw input.
 */
#include <errno.h>
#include <math.h>
#include <snappy-c.h>

#include "bridge/reading.h"
#include "bridge/sinks/rw_encode.h"
#include "proto/remote.pb-c.h"
#include "tests/fuzz/fuzz.h"

/* Length of the valid UTF-8 sequence at s (1-4), 0 if none: by code point. */
static size_t u8len(const unsigned char *s)
{
	unsigned c = s[0], n, cp;
	if (c < 0x80)
		return 1;
	if (c >> 5 == 6)
		n = 2, cp = c & 0x1f;
	else if (c >> 4 == 14)
		n = 3, cp = c & 0x0f;
	else if (c >> 3 == 30)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	unsigned min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static char *name_of(const char *s, int colon)
{
	char *o = malloc(strlen(s) + 2), *w = o;
	const unsigned char *p = (const unsigned char *)s;
	if (*p >= '0' && *p <= '9')
		*w++ = '_';
	while (*p) {
		unsigned c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		    (c >= '0' && c <= '9') || (colon && c == ':')) {
			*w++ = (char)c;
			p++;
		} else {
			size_t l = u8len(p);
			p += l ? l : 1;
			*w++ = '_';
		}
	}
	*w = '\0';
	return o;
}

static char *value_of(const char *s)
{
	char *o = malloc(strlen(s) + 1), *w = o;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t l = u8len(p);
		if (!l) {
			*w++ = '_';
			p++;
		} else {
			memcpy(w, p, l);
			w += l;
			p += l;
		}
	}
	*w = '\0';
	return o;
}

struct pl {
	char *name, *value;
};

static int cmp_pl(const void *a, const void *b)
{
	return strcmp(((const struct pl *)a)->name, ((const struct pl *)b)->name);
}

/* The predicted label set; returns its size, or -1 when the metric is empty. */
static int predict(const char *metric, const struct reading_tag *pairs, size_t n,
		   struct pl *out, unsigned *dropped)
{
	size_t k = 0;
	char *m = name_of(metric, 1);
	if (!*m) {
		free(m);
		return -1;
	}
	out[k++] = (struct pl){ strdup("__name__"), m };
	for (size_t i = 0; i < n; i++) {
		char *nm = name_of(pairs[i].key, 0);
		int drop = !*pairs[i].value ? -1 : !*nm || strncmp(nm, "__", 2) == 0 || k == RW_MAX_LABELS;
		for (size_t j = 0; j < k && drop == 0; j++)
			drop = strcmp(out[j].name, nm) == 0;
		if (drop) {
			if (drop > 0)
				(*dropped)++;
			free(nm);
			continue;
		}
		out[k++] = (struct pl){ nm, value_of(pairs[i].value) };
	}
	qsort(out, k, sizeof(out[0]), cmp_pl);
	return (int)k;
}

#define MAX_SERIES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	{   /* the decoders on the raw input */
		char *text = NULL;
		if (rw_decode_text(data, size, &text) == 0)
			free(text);
		void *raw;
		size_t raw_len;
		if (rw_unsnappy(data, size, &raw, &raw_len) == 0)
			free(raw);
	}
	struct fuzz_in in = { data, size };
	struct rw_request *q = rw_request_new();
	FUZZ_CHECK(q, "rw_request_new");
	struct pl want[MAX_SERIES][RW_MAX_LABELS + 1];
	int want_n[MAX_SERIES];
	uint64_t want_bits[MAX_SERIES];
	int64_t want_ts[MAX_SERIES];
	size_t ns = 0;
	for (int s = 0; s < MAX_SERIES && in.n; s++) {
		char *metric = fuzz_str(&in, 12);
		size_t n = fuzz_u8(&in) % (RW_MAX_LABELS + 6);
		struct reading_tag pairs[RW_MAX_LABELS + 6];
		for (size_t i = 0; i < n; i++) {
			pairs[i].key = fuzz_str(&in, 6);
			pairs[i].value = fuzz_str(&in, 6);
		}
		uint64_t bits = fuzz_u64(&in, 8);
		double v;
		memcpy(&v, &bits, sizeof(v));
		int64_t ts = (int64_t)fuzz_u64(&in, 8);
		int stale = fuzz_u8(&in) % 8 == 0;

		struct rw_labels ls;
		unsigned dropped = 0, pdropped = 0;
		struct pl pred[RW_MAX_LABELS + 1];
		int np = predict(metric, pairs, n, pred, &pdropped);
		int rc = rw_labels_build(&ls, metric, pairs, n, &dropped);
		if (np < 0) {
			FUZZ_CHECK(rc == -EINVAL, "empty metric: rc %d", rc);
		} else {
			FUZZ_CHECK(rc == 0, "rw_labels_build %d", rc);
			FUZZ_CHECK(dropped == pdropped, "dropped %u, predicted %u", dropped, pdropped);
			FUZZ_CHECK(ls.n == (size_t)np, "labels %zu, predicted %d", ls.n, np);
			for (int i = 0; i < np; i++)
				FUZZ_CHECK(strcmp(ls.l[i].name, pred[i].name) == 0 &&
					   strcmp(ls.l[i].value, pred[i].value) == 0,
					   "label %d: %s=%s, predicted %s=%s", i, ls.l[i].name,
					   ls.l[i].value, pred[i].name, pred[i].value);
			rc = stale ? rw_request_add_stale(q, &ls, ts) : rw_request_add(q, &ls, v, ts);
			if (ts <= 0) {
				FUZZ_CHECK(rc == -ERANGE, "ts %lld: rc %d", (long long)ts, rc);
			} else {
				FUZZ_CHECK(rc == 0, "add %d", rc);
				memcpy(want[ns], pred, sizeof(pred));
				want_n[ns] = np;
				want_bits[ns] = stale ? RW_STALE_NAN_BITS : isnan(v) ? RW_NAN_BITS :
						v == 0 ? 0 : bits;
				want_ts[ns] = ts;
				ns++;
				np = 0;   /* now owned by want[] */
			}
			rw_labels_release(&ls);
		}
		for (int i = 0; i < np; i++) {
			free(pred[i].name);
			free(pred[i].value);
		}
		for (size_t i = 0; i < n; i++) {
			free((char *)pairs[i].key);
			free((char *)pairs[i].value);
		}
		free(metric);
	}
	FUZZ_CHECK(rw_request_samples(q) == ns, "samples");

	void *body;
	size_t len, raw_len;
	FUZZ_CHECK(rw_request_encode(q, &body, &len) == 0, "encode");
	rw_request_free(q);
	FUZZ_CHECK(snappy_uncompressed_length(body, len, &raw_len) == SNAPPY_OK, "snappy length");
	char *raw = malloc(raw_len ? raw_len : 1);
	FUZZ_CHECK(raw && snappy_uncompress(body, len, raw, &raw_len) == SNAPPY_OK, "unsnappy");
	Prometheus__WriteRequest *wr =
		prometheus__write_request__unpack(NULL, raw_len, (const uint8_t *)raw);
	FUZZ_CHECK(wr, "unpack");
	FUZZ_CHECK(wr->n_timeseries == ns, "%zu series, predicted %zu", wr->n_timeseries, ns);
	for (size_t s = 0; s < ns; s++) {
		const Prometheus__TimeSeries *t = wr->timeseries[s];
		FUZZ_CHECK(t->n_labels == (size_t)want_n[s] && t->n_samples == 1, "series %zu", s);
		for (size_t i = 0; i < t->n_labels; i++)
			FUZZ_CHECK(strcmp(t->labels[i]->name, want[s][i].name) == 0 &&
				   strcmp(t->labels[i]->value, want[s][i].value) == 0, "label");
		uint64_t bits;
		memcpy(&bits, &t->samples[0]->value, sizeof(bits));
		FUZZ_CHECK(bits == want_bits[s], "value %016llx, predicted %016llx",
			   (unsigned long long)bits, (unsigned long long)want_bits[s]);
		FUZZ_CHECK(t->samples[0]->timestamp == want_ts[s], "timestamp");
		for (int i = 0; i < want_n[s]; i++) {
			free(want[s][i].name);
			free(want[s][i].value);
		}
	}
	char *text = NULL;
	FUZZ_CHECK(rw_decode_text(body, len, &text) == 0, "rw_decode_text");
	free(text);
	prometheus__write_request__free_unpacked(wr, NULL);
	free(raw);
	free(body);
	return 0;
}
