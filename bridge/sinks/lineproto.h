/*
 * lineproto.h - InfluxDB line protocol encoder (docs/protocols.md#line-protocol, H3), pure:
 * no I/O, no state beyond the caller's buffer.
 *
 * One call appends one line "meas[,k=v...] f=v[,...] [ts]\n" to a growable
 * buffer with a hard maximum. Escaping follows E2 exactly. What the parsers
 * disagree on is refused rather than escaped (E3, E3a, E9), so a line either
 * reads back the same on InfluxDB 1.x/2.x, VictoriaMetrics and Telegraf or is
 * not written at all:
 *  - measurement, tag keys, tag values and field keys must be non-empty and
 *    contain no byte 0x00-0x1f or 0x7f and no backslash;
 *  - measurement, tag keys and field keys must not start with '_' (reserved
 *    by InfluxDB 2), the measurement not with '#' (a comment line);
 *  - string field values may hold any byte except 0x00-0x1f (tab allowed)
 *    and 0x7f, at most LP_MAX_STRING bytes; '"' and '\' are escaped;
 *  - float values must be finite; a line needs at least one field;
 *  - duplicate tag keys or field keys are refused.
 * Tags are written sorted by key (memcmp order); a tag with an empty value is
 * left out (E6). Floats use the shortest of %.15g/%.16g/%.17g that reads
 * back to the same double, always with a '.' decimal point (C locale).
 *
 * A rejected line appends nothing: the functions return -EINVAL with the
 * reason in err, -ENOBUFS when the line would pass the buffer's maximum,
 * -ENOMEM when growing fails. The buffer is unchanged in every error case.
 */
#ifndef SW_LINEPROTO_H
#define SW_LINEPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/reading.h"

#define LP_MAX_TAGS 64
#define LP_MAX_STRING 65536
#define LP_FLOAT_LEN 32     /* room for any formatted double */

/* The buffer owns data (malloc'd); lp_buf_release() frees it. */
struct lp_buf {
	char *data;          /* NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;          /* hard limit on len */
	size_t lines;        /* lines appended since init/clear */
};

enum lp_type {
	LP_FLOAT,
	LP_INT,
	LP_UINT,             /* "42u": InfluxDB 2.x and VictoriaMetrics only */
	LP_BOOL,
	LP_STRING,
};

struct lp_tag {
	const char *key;
	const char *value;
};

struct lp_field {
	const char *key;
	enum lp_type type;
	union {
		double f;
		int64_t i;
		uint64_t u;
		bool b;
		const char *s;
	} v;
};

void lp_buf_init(struct lp_buf *b, size_t max);
void lp_buf_clear(struct lp_buf *b);     /* empties it, keeps the memory */
void lp_buf_release(struct lp_buf *b);   /* frees the memory; NULL-safe */

/*
 * Appends one line. tags may be in any order (written sorted); ts is written
 * when has_ts. See the header comment for what is refused.
 */
int lp_append(struct lp_buf *b, const char *measurement,
	      const struct lp_tag *tags, size_t n_tags,
	      const struct lp_field *fields, size_t n_fields,
	      bool has_ts, int64_t ts, char *err, size_t errlen);

/*
 * Appends the line of one reading (docs/contract.md#line-protocol-lines): tags node and
 * sensor from the reading plus r->tags (a tag named node or sensor there is
 * ignored: the topic wins), every field a float, timestamp r->ts_ms (the
 * caller writes with precision=ms).
 */
int lp_append_reading(struct lp_buf *b, const char *measurement, const struct reading *r,
		      char *err, size_t errlen);

/*
 * A batch of readings as lines, for the sinks that speak line protocol
 * (influx, stdout). Each reading the encoder takes is one unit of the batch
 * (sink.h): line k is buf.data[off[k]..off[k+1]) and holds samples[k]
 * fields. buf's maximum bounds the whole batch.
 */
struct lp_batch {
	struct lp_buf buf;
	size_t *off;         /* m + 1 offsets */
	size_t *samples;
	size_t m, cap;
};

void lp_batch_init(struct lp_batch *b, size_t max_bytes);
void lp_batch_release(struct lp_batch *b);
/*
 * Encodes r[0..n) as the batch (emptied first). A reading the encoder
 * refuses is logged (under comp, with its reason) and its fields are added
 * to *dropped. Returns the number of lines, or -ENOMEM.
 */
long lp_batch_encode(struct lp_batch *b, const char *comp, const char *measurement,
		     const struct reading *const *r, size_t n, size_t *dropped);

/*
 * Formats a finite double the way lp_append() does into out (at least
 * LP_FLOAT_LEN bytes). Returns the length, or -EINVAL for NaN/Inf.
 */
int lp_format_float(double v, char *out, size_t len);

#endif
