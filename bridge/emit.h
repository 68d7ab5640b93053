/*
 * emit.h - text into a bounded buffer, the way snprintf counts: emitf()
 * appends at offset n and returns the offset after it as if the buffer were
 * large enough, so a caller whose result is >= its buffer's size knows the
 * text was cut and how large a buffer it needs (health.c's /metrics).
 */
#ifndef SW_EMIT_H
#define SW_EMIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline size_t emitf(char *buf, size_t len, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline size_t emitf(char *buf, size_t len, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, fmt, ap);
	va_end(ap);
	return m > 0 ? n + (size_t)m : n;
}

#endif
