/*
 * bridge.h - the bridge's run loop: MQTT in (common/mqtt.h), the log
 * (wal.h), and one sender thread per configured output (sink.h).
 */
#ifndef SW_BRIDGE_H
#define SW_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

struct bridge;

/*
 * Every message taken counts once in received and once in exactly one of
 * accepted, status, lost, malformed, bad_topic, topic_too_long,
 * payload_too_large, bad_timestamp, ignored (a topic of a payload format
 * that holds no reading, format.h FORMAT_IGNORED) and duplicate (a reading
 * with the boot and seq of one already in the log: acknowledged, not stored
 * again; counted in seq_duplicates too); the last three are only in
 * /metrics: sensorwire_bridge_messages_total{result=...}. A message of
 * several readings (a Tasmota SENSOR, a publisher's $stats: one reading per
 * sensor) counts once in accepted.
 */
struct bridge_counters {
	uint64_t received;        /* MQTT messages taken */
	uint64_t accepted;        /* readings appended to the log */
	uint64_t status;          /* availability messages appended to the log */
	uint64_t lost;            /* can never be appended (over the log's record limit) */
	/* refused (logged with the topic and reason, never stored): */
	uint64_t malformed;       /* payload refused by the parser (reading.h) */
	uint64_t bad_topic;       /* topic is not <prefix>/<node>/<sensor> */
	uint64_t topic_too_long;  /* topic over MQTT_TOPIC_MAX bytes */
	uint64_t payload_too_large; /* payload over READING_MAX_PAYLOAD bytes */
	/* parts of accepted readings left out (reading.h) */
	uint64_t ignored_keys;
	uint64_t dropped_tags;
	uint64_t seq_gaps;        /* readings that never arrived */
	uint64_t seq_duplicates;
};

enum bridge_mode {
	/* the daemon: takes the STATE_DIR lock (statedir.h), opens the log and
	 * the durable MQTT session of MQTT_CLIENT_ID */
	BRIDGE_RUN,
	/* --dry-run: prints instead of sending; never touches STATE_DIR nor the
	 * production session (a log in memory, a random client id
	 * "<MQTT_CLIENT_ID>-dry-run-<hex>" with a clean session, no Paho
	 * persistence), so it can run beside the daemon */
	BRIDGE_DRY_RUN,
	/* --check-config: builds and validates everything, writes nothing (no
	 * log, no lock; STATE_DIR is only looked at, statedir_check()) */
	BRIDGE_CHECK,
};

/* Builds everything from the configuration (no connection yet). NULL on error (logged). */
struct bridge *bridge_new(const struct cfg *c, enum bridge_mode mode);
/* Starts the sender threads and the MQTT client. */
int bridge_start(struct bridge *b);
/* Stops taking messages, flushes outputs (bounded by timeout_ms), joins threads. */
void bridge_stop(struct bridge *b, int timeout_ms);
void bridge_free(struct bridge *b);

bool bridge_connected(struct bridge *b);
/*
 * false (with the reason in why) while the log refuses appends (messages
 * then wait at the broker, unacknowledged) or its last sync failed. Never
 * blocks, nor waits for Paho.
 */
bool bridge_log_healthy(struct bridge *b, char *why, size_t n);
void bridge_get_counters(struct bridge *b, struct bridge_counters *out);
/*
 * Writes Prometheus text-format metrics into buf. Returns the length of the
 * whole text, as snprintf does: when it is >= len, buf holds a cut copy and
 * the caller asks again with a larger buffer (health.c).
 */
size_t bridge_metrics(struct bridge *b, char *buf, size_t len);
/* Logs one summary line of the counters (periodic). */
void bridge_log_stats(struct bridge *b);

#endif
