/*
 * sinks.h - the one list of the sinks under bridge/sinks/, and small
 * helpers they share.
 *
 * SINKS is the registry: each X(name) stands for bridge/sinks/<name>.c,
 * which defines `const struct sink_ops name_sink_ops`. The extern
 * declarations below, the registry array and the name list (sink.c), and
 * so the bridge's configuration table, OUTPUTS' help and the "unknown
 * output" error (main.c, bridge.c) all come from it. Adding an output is
 * its file and one X() here (docs/outputs.md).
 *
 * The sink_cfg_* helpers return the default when a key is unset or is not
 * in the caller's table at all, so unit tests can build a struct cfg with
 * only the keys they care about (cfg_str() aborts on unknown keys).
 */
#ifndef SW_SINKS_H
#define SW_SINKS_H

#include "bridge/http.h"
#include "bridge/sink.h"
#include "common/config.h"

#define SINKS(X) \
	X(influx) \
	X(remote_write) \
	X(stdout)

#define SINK_EXTERN(n) extern const struct sink_ops n##_sink_ops;
SINKS(SINK_EXTERN)
#undef SINK_EXTERN

#define SINK_USER_AGENT "sensorwire/" SW_VERSION
#define SINK_DEFAULT_TIMEOUT_MS 10000

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

/*
 * The receiver URL setting key (value url): 0, or -1 with "KEY is not set"
 * or "KEY: '...' is not an http:// or https:// URL" in err.
 */
int sink_check_url(const char *key, const char *url, char *err, size_t errlen);

/*
 * An HTTP exchange as a sink's answer: rc and resp from http_post() to url.
 * 2xx OK; 5xx, 429, 408 and transport errors RETRY ("cannot reach '<url>':
 * ...", "status 503: <body>", Retry-After kept); 401/403/404
 * SINK_ERR_CONFIG ("status 401 from '<url>' (check <check>): <body>"); 413
 * SINK_ERR_TOO_LARGE; 400 and 422 SINK_ERR_SPLIT; any other status
 * SINK_ERR_REFUSED, with the body as reason.
 */
void sink_answer_http(struct sink_answer *ans, int rc, const struct http_response *resp,
		      const char *url, const char *check);

#endif
