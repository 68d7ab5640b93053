/*
 * sink.h - an output of the bridge: a const ops struct per sink, one file
 * each under bridge/sinks/, listed once in the registry (sink.c).
 *
 * A sink gets batches of parsed readings from its own sender thread and
 * answers ok, retry (with an optional server-given delay) or drop. Encoders
 * are pure and live beside the transport so tests can check exact bytes.
 */
#ifndef SW_SINK_H
#define SW_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/reading.h"
#include "common/config.h"

enum sink_verdict {
	SINK_OK,      /* delivered (or nothing to deliver) */
	SINK_RETRY,   /* transient failure: resend the same batch later */
	SINK_DROP,    /* permanent failure: the batch cannot be delivered */
};

struct sink_result {
	enum sink_verdict verdict;
	int retry_after_ms;       /* >= 0 when the server said when to retry, else -1 */
	size_t dropped;           /* samples dropped inside the sink (bad lines, out of order) */
	char reason[256];         /* SINK_RETRY: why, for the log ("status 503: ...");
				     the caller logs it when it changes, not per try */
};

struct sink_stats {
	uint64_t sent_samples;
	uint64_t dropped_samples;
	uint64_t out_of_order;
	uint64_t retries;
	uint64_t requests;
};

struct sink_ops {
	const char *name;         /* as in OUTPUTS: "influx", "remote_write", "stdout" */
	/* Builds the sink from the configuration. NULL + err on a config error. */
	void *(*create)(const struct cfg *c, bool dry_run, char *err, size_t errlen);
	/* Sends n readings; fills res. Never blocks longer than HTTP_TIMEOUT_MS per request. */
	void (*send)(void *sink, const struct reading *const *r, size_t n,
		     struct sink_result *res);
	/* Optional: the node went offline (status topic); e.g. staleness markers. */
	void (*node_offline)(void *sink, const char *node, int64_t ts_ms);
	void (*destroy)(void *sink);
};

/* The registry: returns the ops named name, or NULL. */
const struct sink_ops *sink_find(const char *name);
/* Comma list of all sink names, for help and errors. */
const char *sink_names(void);

/* Sets a sink_result's reason (printf-style); text past its size ends in "..." */
void sink_reason(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
