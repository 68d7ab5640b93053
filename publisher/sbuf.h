/*
 * sbuf.h - a bounded string builder for the publisher's payloads, discovery
 * configs and metrics: every append checks the room left; once one does not
 * fit, `full` is set, later appends do nothing, and the text so far stays
 * NUL-terminated. The caller owns the buffer.
 */
#ifndef SW_SBUF_H
#define SW_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *p;
	size_t cap, len;
	bool full;
};

void sbuf_put(struct sbuf *o, const char *s, size_t n);
void sbuf_puts(struct sbuf *o, const char *s);
void sbuf_printf(struct sbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a JSON string: quotes, backslashes and control bytes (and DEL) escaped */
void sbuf_json_string(struct sbuf *o, const char *s);

#endif
