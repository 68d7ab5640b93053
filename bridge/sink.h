/*
 * sink.h - an output of the bridge: a const ops struct per sink, one file
 * each under bridge/sinks/, listed once in SINKS (bridge/sinks/sinks.h).
 *
 * A sink only encodes, sends and classifies; the engine that drives it
 * (output.h) decides. For each batch the engine asks the sink to encode the
 * readings into units (an InfluxDB line, a remote-write sample) that can be
 * sent in any contiguous range, then to send ranges of them. Each send
 * answers OK, RETRY (transient: resend later, with an optional server-given
 * delay) or ERROR with a classification of the refusal; the engine then
 * retries with backoff, retries a configuration error slowly, splits a
 * refused range to isolate the units at fault, and writes what stays
 * refused to the sink's dead-letter file. Encoders are pure and live beside
 * the transport so tests can check exact bytes.
 */
#ifndef SW_SINK_H
#define SW_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/reading.h"
#include "common/config.h"

/* 401/403/404 mean a configuration error: retried, but at most this often */
#define SINK_CONFIG_RETRY_MS 60000

/* What one send of a range of units came to (the sink's answer). */
enum sink_answer_kind {
	SINK_ANSWER_OK,       /* delivered */
	SINK_ANSWER_RETRY,    /* transient (5xx, 429, 408, network): send again later */
	SINK_ANSWER_ERROR,    /* refused: see enum sink_error */
};

/* Why a range was refused: the engine's next step depends on it. */
enum sink_error {
	SINK_ERR_SPLIT,       /* some units are refused (400, 422): split the range to
				 isolate them (within a request budget), dead-letter them */
	SINK_ERR_TOO_LARGE,   /* the request is too large (413): halve it, down to one
				 unit, which is dead-lettered as too large */
	SINK_ERR_REFUSED,     /* the whole range is refused (other 4xx): dead-letter it */
	SINK_ERR_CONFIG,      /* auth or not found (401, 403, 404): a configuration error,
				 retried slowly (SINK_CONFIG_RETRY_MS) so nothing is lost */
};

#define SINK_MSG_MAX 1280     /* the server's message: a response body and context */

struct sink_answer {
	enum sink_answer_kind kind;
	enum sink_error error;    /* SINK_ANSWER_ERROR only */
	long status;              /* the HTTP status, 0 when none */
	int retry_after_ms;       /* >= 0 when the server said when to retry, else -1 */
	/* RETRY: why, for the log ("status 503: ..."); ERROR: the server's message
	 * (SINK_ERR_CONFIG: the whole log line after "configuration: ") */
	char reason[SINK_MSG_MAX];
};

/* What one batch came to: the engine's answer (output_send()). */
enum sink_verdict {
	SINK_OK,      /* delivered (some samples may have been dropped) */
	SINK_RETRY,   /* transient failure: resend the same batch later */
	SINK_DROP,    /* nothing of the batch can be delivered */
};

struct sink_result {
	enum sink_verdict verdict;
	int retry_after_ms;       /* >= 0 when the server said when to retry, else -1 */
	size_t dropped;           /* samples dropped (refused, or not encodable) */
	char reason[256];         /* SINK_RETRY: why, for the log ("status 503: ...");
				     the caller logs it when it changes, not per try */
};

struct sink_ops {
	const char *name;         /* as in OUTPUTS: "influx", "remote_write", "stdout" */
	/* its own settings, defaults and help, { .name = NULL } ended; they join
	 * the bridge's table (--help, --print-keys, the config file) */
	const struct cfg_key *config_map;
	const char *unit;         /* one unit in log lines: "line", "sample" */
	/* the dead-letter file in STATE_DIR, e.g. "deadletter-influx.lp"; NULL: none */
	const char *deadletter;
	/* Builds the sink from the configuration. NULL + err on a config error. */
	void *(*create)(const struct cfg *c, bool dry_run, char *err, size_t errlen);
	/*
	 * Encodes n readings into the sink's units, leaving out (and logging)
	 * what it cannot encode: *dropped counts those samples. Returns the
	 * number of units, or -ENOMEM (the batch is retried).
	 */
	long (*encode)(void *sink, const struct reading *const *r, size_t n, size_t *dropped);
	/* Samples (field values) in unit k of the encoded batch. */
	size_t (*samples)(void *sink, size_t k);
	/* Sends units [a, b) of the encoded batch. Never blocks longer than
	 * HTTP_TIMEOUT_MS per request. */
	void (*send)(void *sink, size_t a, size_t b, struct sink_answer *ans);
	/* Units [a, b) as text, one line each ending in '\n' (replayable to the
	 * receiver), for the dead-letter file and the log; malloc'd, NULL: none. */
	char *(*text)(void *sink, size_t a, size_t b);
	/* Optional: the batch is over; retry: it will be encoded and sent again. */
	void (*done)(void *sink, bool retry);
	/* Optional: the node went offline (status topic); e.g. staleness markers. */
	void (*node_offline)(void *sink, const char *node, int64_t ts_ms);
	void (*destroy)(void *sink);
};

/* The registry: returns the ops named name, or NULL. */
const struct sink_ops *sink_find(const char *name);
/* The registered sinks, in SINKS order; *n gets their count. */
const struct sink_ops *const *sink_all(size_t *n);
/* Comma list of all sink names, for help and errors ("influx, remote_write, stdout"). */
const char *sink_names(void);
/*
 * The bridge's configuration table: common (ended by { .name = NULL }),
 * then every sink's config_map in SINKS order, each key once (the first
 * wins: sinks may share one, stdout reads INFLUX_MEASUREMENT). malloc'd,
 * NULL when out of memory.
 */
struct cfg_key *sink_key_table(const struct cfg_key *common);

/* Sets a reason (printf-style); text past its size ends in "..." */
void sink_reason(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
