/*
 * sinks.h - what the registry (bridge/sink.c) needs to know about the sinks
 * under bridge/sinks/, plus small helpers they share for reading settings.
 *
 * The sink_cfg_* helpers return the default when a key is unset or is not
 * in the caller's table at all, so unit tests can build a struct cfg with
 * only the keys they care about (cfg_str() aborts on unknown keys).
 */
#ifndef SW_SINKS_H
#define SW_SINKS_H

#include "bridge/sink.h"
#include "common/config.h"

extern const struct sink_ops influx_sink_ops;
extern const struct sink_ops remote_write_sink_ops;
extern const struct sink_ops stdout_sink_ops;

#define SINK_USER_AGENT "sensorwire/" SW_VERSION
#define SINK_DEFAULT_TIMEOUT_MS 10000
/* 401/403/404 mean a configuration error: retry, but slowly */
#define SINK_CONFIG_RETRY_MS 60000

static inline const char *sink_cfg_str(const struct cfg *c, const char *name, const char *def)
{
	if (cfg_find(c, name) < 0 || !cfg_is_set(c, name))
		return def;
	return cfg_str(c, name);
}

static inline long long sink_cfg_int(const struct cfg *c, const char *name, long long def)
{
	if (cfg_find(c, name) < 0 || !cfg_is_set(c, name))
		return def;
	return cfg_int(c, name);
}

static inline bool sink_cfg_bool(const struct cfg *c, const char *name, bool def)
{
	if (cfg_find(c, name) < 0 || !cfg_is_set(c, name))
		return def;
	return cfg_bool(c, name);
}

#endif
