/*
 * sink.c - the registry of outputs: every sink under bridge/sinks/ is listed
 * here once, by the name used in OUTPUTS.
 */
#include "bridge/sink.h"
#include "bridge/sinks/sinks.h"

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
