/*
 * sink.c - the registry of outputs: every sink under bridge/sinks/ is listed
 * here once, by the name used in OUTPUTS.
 */
#include "bridge/sink.h"
#include "bridge/sinks/sinks.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct sink_ops *const sinks[] = {
	&influx_sink_ops,
	&remote_write_sink_ops,
	&stdout_sink_ops,
};

const struct sink_ops *sink_find(const char *name)
{
	for (size_t i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++)
		if (name && strcmp(sinks[i]->name, name) == 0)
			return sinks[i];
	return NULL;
}

const char *sink_names(void)
{
	return "influx, remote_write, stdout";
}

void sink_reason(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}
