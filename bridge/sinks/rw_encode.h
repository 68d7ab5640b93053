/*
 * rw_encode.h - Prometheus remote-write 1.0 encoder and decoder
 * (docs/protocols.md#remote-write, H1), pure: no I/O, no global state.
 *
 * A reading becomes one series per field (docs/contract.md#remote-write-series):
 * __name__ = prefix + field, plus node, sensor and the payload tags. Label
 * sets are built by rw_labels_build()/rw_labels_for_field(), which apply the
 * naming rules once, so the request and the sender's out-of-order table see
 * the same names:
 *  - metric names become [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 *    [a-zA-Z_][a-zA-Z0-9_]*: each invalid UTF-8 code point (or invalid byte)
 *    turns into one '_', and a leading digit gets a '_' in front;
 *  - a label whose sanitised name starts with "__" is dropped (the prefix is
 *    reserved for Prometheus; renaming could collide with a real tag);
 *  - a label with an empty value is left out (A6);
 *  - when two labels end up with the same name, the first one given wins;
 *    rw_labels_for_field() gives node and sensor first, so the topic wins;
 *  - label values are made valid UTF-8: each byte that is not part of a
 *    valid sequence becomes '_';
 *  - labels are sorted by name in byte order ("Z" < "_" < "a").
 * Labels dropped by these rules are counted in *dropped.
 *
 * Samples: timestamps are milliseconds and must be > 0 (rw_request_add
 * refuses others with -ERANGE, for the caller to count). Any NaN value is sent
 * as the ordinary NaN 0x7ff8000000000000; only rw_request_add_stale() writes
 * the staleness marker 0x7ff0000000000002.
 *
 * The wire body is the protobuf WriteRequest compressed with the snappy block
 * format (never the framed format).
 */
#ifndef SW_RW_ENCODE_H
#define SW_RW_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/reading.h"

/* The four reserved request headers of remote-write 1.0 (A2). */
#define RW_CONTENT_ENCODING "snappy"
#define RW_CONTENT_TYPE "application/x-protobuf"
#define RW_VERSION_HEADER "X-Prometheus-Remote-Write-Version"
#define RW_VERSION "0.1.0"

#define RW_NAN_BITS 0x7ff8000000000000ULL
#define RW_STALE_NAN_BITS 0x7ff0000000000002ULL

#define RW_MAX_LABELS 32
#define RW_MAX_DECODED (64u << 20)  /* refuse to unsnappy more than this */

struct rw_label {
	char *name;
	char *value;
};

/* A sanitised, sorted label set. Owns every string; rw_labels_release(). */
struct rw_labels {
	size_t n;
	struct rw_label l[RW_MAX_LABELS];
};

/*
 * Builds the set for metric (unsanitised, e.g. "sensor_" "temperature") and
 * the n (key, value) pairs in pairs. Returns 0; -EINVAL when the metric name
 * is empty; -ENOMEM (ls is then empty). *dropped (may be NULL) is increased
 * by the labels left out.
 */
int rw_labels_build(struct rw_labels *ls, const char *metric,
		    const struct reading_tag *pairs, size_t n, unsigned *dropped);

/* The set of field number field of r: prefix + name, node, sensor, tags. */
int rw_labels_for_field(struct rw_labels *ls, const char *prefix,
			const struct reading *r, size_t field, unsigned *dropped);

void rw_labels_release(struct rw_labels *ls);

/* The value of label name in ls, or NULL. */
const char *rw_labels_get(const struct rw_labels *ls, const char *name);

/*
 * Sanitisers, exposed for tests and for callers that build names
 * themselves. Each returns a malloc'd string (caller frees) or NULL.
 */
char *rw_sanitize_metric_name(const char *s);
char *rw_sanitize_label_name(const char *s);
char *rw_sanitize_label_value(const char *s);

/*
 * A label set in protobuf form: its TimeSeries.labels entries, in order, as
 * they go on the wire (and a canonical key for the set: equal sets, equal
 * bytes). A caller can encode a series' labels once and add every sample of
 * it with rw_request_add_encoded(). rw_labels_encode() writes
 * rw_labels_encoded_len(ls) bytes to out and returns that length.
 */
size_t rw_labels_encoded_len(const struct rw_labels *ls);
size_t rw_labels_encode(const struct rw_labels *ls, void *out);

/* A request being built: owned by the caller, freed by rw_request_free(). */
struct rw_request;

struct rw_request *rw_request_new(void);
void rw_request_free(struct rw_request *q);   /* NULL-safe */
void rw_request_clear(struct rw_request *q);  /* drops all series, keeps q */
size_t rw_request_samples(const struct rw_request *q);

/*
 * Appends one sample of the series ls (copied). Returns 0, -ERANGE for a
 * timestamp <= 0, -EINVAL for an empty label set, -ENOMEM.
 */
int rw_request_add(struct rw_request *q, const struct rw_labels *ls, double value,
		   int64_t ts_ms);

/* Appends a staleness marker (A10) for the series ls at ts_ms. */
int rw_request_add_stale(struct rw_request *q, const struct rw_labels *ls, int64_t ts_ms);

/* The same two with the labels as rw_labels_encode() wrote them (len > 0). */
int rw_request_add_encoded(struct rw_request *q, const void *labels, size_t len, double value,
			   int64_t ts_ms);
int rw_request_add_stale_encoded(struct rw_request *q, const void *labels, size_t len,
				 int64_t ts_ms);

/* The uncompressed protobuf bytes (for tests). Caller frees *out. */
int rw_request_pack(const struct rw_request *q, void **out, size_t *out_len);

/* The wire body: protobuf + snappy block. Caller frees *out. */
int rw_request_encode(const struct rw_request *q, void **out, size_t *out_len);

/* Snappy block decompression with a size limit. Caller frees *out. */
int rw_unsnappy(const void *in, size_t len, void **out, size_t *out_len);

/*
 * Decodes a wire body (snappy + protobuf) into text, one sample per line:
 *   sensor_temperature_celsius{location="desk",node="rp3"} 21.4 @1732276800123
 * (label values escaped as in the Prometheus text format; NaN prints as NaN,
 * the staleness marker as StaleNaN). For --dry-run. Returns 0 or a negative
 * errno (-EBADMSG for a body that does not decode). Caller frees *text.
 */
int rw_decode_text(const void *body, size_t len, char **text);

/* The raw bits of a double, and whether v is the staleness marker. */
uint64_t rw_double_bits(double v);
int rw_is_stale(double v);

#endif
