/*
 * sbuf.c - see sbuf.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "publisher/sbuf.h"

void sbuf_put(struct sbuf *o, const char *s, size_t n)
{
	if (o->full || o->len + n >= o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

void sbuf_puts(struct sbuf *o, const char *s)
{
	sbuf_put(o, s, strlen(s));
}

void sbuf_printf(struct sbuf *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		o->p[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

void sbuf_json_string(struct sbuf *o, const char *s)
{
	sbuf_put(o, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			char e[2] = { '\\', (char)ch };
			sbuf_put(o, e, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			sbuf_printf(o, "\\u%04x", ch);
		} else {
			sbuf_put(o, (const char *)&ch, 1);
		}
	}
	sbuf_put(o, "\"", 1);
}
