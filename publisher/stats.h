/*
 * stats.h - the publisher's counters as one consistent snapshot
 * (publisher_snapshot() fills it), and the two ways they leave the process:
 * Prometheus text for /metrics (HEALTH_PORT) and the retained JSON on
 * <prefix>/<node>/$stats (STATS_INTERVAL_S; docs/contract.md#statistics).
 * The renderers are pure: no I/O, no clocks, no locks.
 */
#ifndef SW_STATS_H
#define SW_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publisher/drivers/dht_decode.h"
#include "publisher/sensor.h"

/* The topic level of the statistics: '$' is in no sensor name (payload_level_ok). */
#define STATS_LEVEL "$stats"

struct sensor_snap {
	const char *name;
	const char *driver;
	uint64_t reads_ok, reads_failed, reads_transient;
	uint64_t fails[SENSOR_FAIL_KINDS];
	bool has_dht;               /* dht11/dht22/am2302: the decoder's own counters */
	struct dht_stats dht;
	bool has_ok;                /* a good reading was made in this run */
	uint64_t last_ok_age_ms;    /* ... this long ago */
	uint64_t beat_age_ms;       /* since the sensor's thread last finished a read */
};

struct publisher_snap {
	const char *node;
	const char *boot;
	const char *version;
	int64_t ts_ms;              /* wall clock of the snapshot */
	uint64_t uptime_ms;
	bool connected;
	bool outbox_durable;        /* OUTBOX_DIR set */
	bool outbox_ok;             /* the last append to it succeeded (or none failed) */
	uint64_t published;         /* readings handed to the client (incl. resends) */
	uint64_t acknowledged;      /* readings the broker acknowledged (PUBACK) */
	uint64_t queued;            /* readings that went to the outbox */
	uint64_t replayed;          /* ... delivered from it */
	uint64_t lost;              /* readings the outbox could not take */
	uint64_t connects;          /* successful connections, the first one included */
	uint64_t connection_losses;
	uint64_t outbox_readings;   /* waiting in the outbox */
	uint64_t outbox_bytes;
	uint64_t outbox_dropped;    /* deleted to respect OUTBOX_MAX_BYTES */
	bool ha;                    /* HA_DISCOVERY */
	uint64_t ha_configs;        /* discovery configs published */
	uint64_t ha_cleared;        /* ... and cleared (empty retained) */
	size_t n;
	struct sensor_snap *s;
};

/* Reconnects: connections after the first. */
uint64_t stats_reconnects(const struct publisher_snap *p);

/*
 * Prometheus text exposition format 0.0.4, metric names sensorwire_publisher_*.
 * Returns the length, or -ENOSPC when cap is too small (stats_metrics_cap()
 * is always enough).
 */
int stats_metrics(char *buf, size_t cap, const struct publisher_snap *p);
size_t stats_metrics_cap(size_t n_sensors);

/*
 * The $stats JSON (docs/contract.md): "ts" and per-sensor read counts in
 * nested objects. The bridge stores the counts as series of their own
 * (bridge/format_stats.c), never as a reading of a sensor named "$stats".
 * Returns the length or -ENOSPC.
 */
int stats_json(char *buf, size_t cap, const struct publisher_snap *p);
size_t stats_json_cap(size_t n_sensors);

#endif
