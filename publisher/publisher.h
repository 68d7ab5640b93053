/*
 * publisher.h - the sensor-publisher's run loop: every sensor read on its
 * own schedule, each reading encoded (payload.h) and published with QoS 1 to
 * <prefix>/<node>/<sensor>, availability on <prefix>/<node>/status, and the
 * outbox (outbox.h) for whatever the broker could not take.
 *
 * Threads: one small thread per sensor (64 KiB stack) that sleeps until its
 * next slot, so a slow or retrying sensor never delays another, and hands
 * its reading to the MQTT client itself when nothing waits before it (the
 * client only queues it: no network wait); one sender thread for what does
 * wait (the outbox backlog, readings behind it, Home Assistant configs),
 * asleep while there is none; the MQTT client's reconnect thread and
 * Paho's send and receive threads; the main thread (signals, timers).
 * Sensor i of n first reads at i * interval / n, so reads are spread out.
 *
 * Delivery: a reading is published directly while the broker is connected
 * and no backlog exists, and kept in memory until its PUBACK. When the
 * connection drops, unacknowledged readings go to the outbox first, then
 * every newer one behind them; once connected again the outbox is replayed
 * in order (original ts, seq, boot), with new readings still appended
 * behind it until it is empty. At-least-once: a reading whose PUBACK was
 * lost is sent again (the bridge sees the same boot/seq twice).
 */
#ifndef SW_PUBLISHER_H
#define SW_PUBLISHER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/mqtt.h"
#include "publisher/outbox.h"
#include "publisher/payload.h"
#include "publisher/sensor.h"

struct publisher_opts {
	const char *node;                 /* topic level, checked by payload_level_ok */
	const char *prefix;               /* TOPIC_PREFIX, one or more levels */
	const struct payload_tags *tags;  /* may be NULL */
	const char *boot;                 /* 16 hex digits of this process */
	unsigned interval_ms;
	bool aligned;                     /* READ_SCHEDULE=aligned: every sensor at the interval's start */
	int qos;                          /* 0 or 1 */
	struct sensor *sensors;           /* opened; borrowed, caller frees */
	size_t n_sensors;
	struct outbox *outbox;            /* borrowed, caller closes (after publisher_free) */
	bool ha_discovery;                /* HA_DISCOVERY: announce every field to Home Assistant */
	const char *ha_prefix;            /* HA_DISCOVERY_PREFIX */
	unsigned stats_interval_s;        /* STATS_INTERVAL_S: retained <prefix>/<node>/$stats; 0 = off */
	bool stop_via_will;               /* MQTT_STOP_OFFLINE=will: SIGTERM/SIGINT as SIGUSR2 */
};

struct publisher;

/*
 * Creates the publisher and its MQTT client from mo (URL, credentials, TLS,
 * keepalive; the publisher sets the client id default, clean session and
 * the Last Will itself). Copies what it needs from o. Returns NULL with a
 * message in err. Free with publisher_free().
 */
struct publisher *publisher_new(const struct publisher_opts *o, const struct mqtt_opts *mo,
				char *err, size_t errlen);

/*
 * Starts the sensor threads and the MQTT connection, then waits for one
 * of the signals in stop (blocked by the caller in every thread) and shuts
 * down: sensors stop, a retained "offline" is published and its PUBACK
 * awaited (up to 3 s), unacknowledged readings go to the outbox, the
 * client disconnects. SIGUSR2 (or any stop signal with stop_via_will)
 * means "restarting": on MQTT 5 no "offline" is published, the DISCONNECT
 * asks for the Will instead, which the broker publishes after the Will
 * Delay Interval unless the publisher is back by then. Logs counters every stats_every_s seconds (0 = never).
 * Returns 0, or -errno when it could not start.
 */
int publisher_run(struct publisher *p, const sigset_t *stop, unsigned stats_every_s);

void publisher_free(struct publisher *p);   /* accepts NULL */

/*
 * The routes of the health endpoint (health.h's health_route_fn; ctx is the
 * publisher), valid from publisher_new() to publisher_free():
 *  /healthz  200 while every sensor thread has finished a read (or started)
 *            within 3 intervals + 5 s, else 503 naming the stuck sensor;
 *  /readyz   200 while connected to the broker, or while not connected but
 *            OUTBOX_DIR is set and its last append succeeded; else 503;
 *  /metrics  stats.h's Prometheus text.
 */
int publisher_http(void *ctx, const char *path, char **body, size_t *len, const char **ctype);

/*
 * --once: reads every sensor once (a transient failure is retried twice,
 * min_retry_ms apart), prints one payload line per sensor to out, no MQTT.
 * Returns 0 when every sensor gave a reading, -EIO otherwise.
 */
int publisher_once(const struct publisher_opts *o, FILE *out);

#endif
