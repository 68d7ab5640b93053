/*
 * main.c - sensor-bridge: MQTT readings to InfluxDB line protocol and
 * Prometheus remote-write. This file holds the settings every output
 * shares (their type, default and help; each sink brings its own,
 * sink.h config_map, joined after these), the flags, and the signal loop.
 */
#include "bridge/bridge.h"
#include "bridge/format.h"
#include "bridge/health.h"
#include "bridge/json_arena.h"
#include "bridge/sink.h"
#include "common/config.h"
#include "common/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define I64 9223372036854775807LL
#define HELP_NAME(n) " " #n

/*
 * DEVICE_TZ becomes the process's TZ, once, before any thread starts (the
 * formats read zone-less device times with mktime()). A name must be in
 * the zone database; otherwise a POSIX TZ: a 3+ letter name and an offset,
 * or UTC/GMT. glibc would take anything and silently use UTC.
 */
static int apply_device_tz(const struct cfg *c)
{
	if (!cfg_is_set(c, "DEVICE_TZ") || !*cfg_str(c, "DEVICE_TZ"))
		return 0;
	const char *tz = cfg_str(c, "DEVICE_TZ");
	const char *name = *tz == ':' ? tz + 1 : tz;
	const char *dir = getenv("TZDIR") ? getenv("TZDIR") : "/usr/share/zoneinfo";
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	size_t alpha = strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
	bool posix = (alpha >= 3 && tz[alpha] && strchr("+-0123456789", tz[alpha])) ||
		     strcmp(tz, "UTC") == 0 || strcmp(tz, "GMT") == 0;
	if (strstr(name, "..") || (!posix && access(path, R_OK) != 0)) {
		log_error("config", "DEVICE_TZ: '%s' is neither a zone in %s nor a POSIX TZ such "
			  "as UTC or CET-1CEST,M3.5.0,M10.5.0/3", tz, dir);
		return -1;
	}
	setenv("TZ", tz, 1);
	tzset();
	return 0;
}

/* "comma list of " and the registered sinks (sinks.h SINKS), filled in main() */
static char outputs_help[256];

static const struct cfg_key bridge_keys[] = {
	/* MQTT client, shared names with the publisher */
	{ "MQTT_URL", CFG_STR, "tcp://localhost:1883", 0, 0,
	  "broker URL: tcp://host:1883, ssl://host:8883 (mqtt:// and mqtts:// accepted)" },
	{ "MQTT_CLIENT_ID", CFG_STR, "sensor-bridge", 0, 0,
	  "client id; stable, so the broker keeps the session (and queues) while the bridge is away" },
	{ "MQTT_USERNAME", CFG_STR, NULL, 0, 0, "broker user name" },
	{ "MQTT_PASSWORD", CFG_SECRET, NULL, 0, 0, "broker password" },
	{ "MQTT_CA_FILE", CFG_STR, NULL, 0, 0, "CA certificate (PEM) to verify the broker; host name is checked" },
	{ "MQTT_CERT_FILE", CFG_STR, NULL, 0, 0, "client certificate (PEM) for mutual TLS" },
	{ "MQTT_KEY_FILE", CFG_STR, NULL, 0, 0, "client private key (PEM) for mutual TLS" },
	{ "MQTT_QOS", CFG_INT, "1", 0, 2, "subscription QoS (1 = at least once)" },
	{ "MQTT_KEEPALIVE_S", CFG_INT, "30", 5, 3600, "MQTT keepalive in seconds" },
	{ "MQTT_VERSION", CFG_STR, "5", 0, 0,
	  "5, 3.1.1, or auto (5, then 3.1.1 when the broker refuses 5)" },
	{ "MQTT_SESSION_EXPIRY_S", CFG_INT, "259200", 0, 4294967295LL,
	  "MQTT 5: how long the broker keeps the session and queues readings while the bridge "
	  "is away; past it they are lost (README \"Delivery guarantees\")" },
	{ "MQTT_RECEIVE_MAX", CFG_INT, "64", 1, 65535,
	  "MQTT 5 Receive Maximum: unacknowledged readings the broker may send at once" },
	{ "MQTT_SHARE_GROUP", CFG_STR, "", 0, 0,
	  "replicas: subscribe as $share/<group>/<filter>, so bridges of one group split the "
	  "readings (each its own STATE_DIR and MQTT_CLIENT_ID); empty = no sharing" },
	{ "MQTT_TOPICS", CFG_STR, "sensors/+/+", 0, 0,
	  "comma-separated topic filters, each [format:]filter, e.g. sensors/+/+,"
	  "tasmota:tele/+/SENSOR,tasmota:tele/+/LWT; formats:" FORMATS(HELP_NAME)
	  " (none = sensorwire: the last two levels are node and sensor); a message goes to "
	  "the first filter that matches (a change is applied to a resumed session too: "
	  "STATE_DIR/subscriptions)" },
	{ "DEVICE_TZ", CFG_STR, NULL, 0, 0,
	  "time zone of device clocks that send local time without a zone (Tasmota Time, "
	  "rtl_433 time): a zone name such as Europe/Berlin, or a POSIX TZ such as UTC or "
	  "CET-1CEST,M3.5.0,M10.5.0/3; unset = the bridge's own TZ" },
	{ "LOG_LEVEL", CFG_STR, "info", 0, 0, "error, warn, info or debug" },
	/* the pipeline */
	{ "OUTPUTS", CFG_STR, "stdout", 0, 0, outputs_help },
	{ "STATE_DIR", CFG_STR, NULL, 0, 0,
	  "directory of the durable log, output cursors and MQTT session, locked by one bridge "
	  "(STATE_DIR/bridge.lock); unset = memory only" },
	{ "WAL_SYNC", CFG_STR, "1000", 0, 0,
	  "when the log is fsynced: always, never, or every N ms" },
	{ "WAL_MAX_BYTES", CFG_INT, "268435456", 1048576, I64,
	  "size bound of the log; beyond it the oldest readings are dropped (counted, logged)" },
	{ "WAL_MAX_AGE", CFG_STR, "7d", 0, 0,
	  "age bound of the log (seconds, or with s/m/h/d); 0 = none" },
	{ "QUEUE_MAX_SAMPLES", CFG_INT, "100000", 100, 100000000,
	  "without STATE_DIR: readings held in memory; beyond it the oldest are dropped" },
	{ "BATCH_MAX_SAMPLES", CFG_INT, "1000", 1, 1000000, "send when a batch holds this many samples" },
	{ "BATCH_MAX_DELAY_MS", CFG_INT, "1000", 0, 600000, "... or when its oldest reading waited this long" },
	{ "REPLAY_MAX_SAMPLES_PER_S", CFG_INT, "0", 0, 100000000,
	  "hard cap on each output's rate while catching up on a backlog, samples/s; "
	  "0 = none, only the adaptive pacing" },
	{ "PACING", CFG_STR, "adaptive", 0, 0,
	  "adaptive = each output follows its store while catching up on a backlog (slower "
	  "on 429, 5xx, timeouts or rising latency, faster while it keeps up); off = only "
	  "REPLAY_MAX_SAMPLES_PER_S and Retry-After" },
	{ "TIMESTAMP_POLICY", CFG_STR, "clamp", 0, 0,
	  "a payload ts beyond TIMESTAMP_MAX_FUTURE/PAST of the arrival time (a node's clock is "
	  "wrong): clamp = store the reading at its arrival time, refuse = drop it (counted, logged)" },
	{ "TIMESTAMP_MAX_FUTURE", CFG_STR, "10m", 0, 0,
	  "how far ahead of the arrival time a ts may be (seconds, or with s/m/h/d; 0 = no bound)" },
	{ "TIMESTAMP_MAX_PAST", CFG_STR, "7d", 0, 0,
	  "how far behind the arrival time a ts may be, e.g. an outbox replay (0 = no bound)" },
	{ "HTTP_TIMEOUT_MS", CFG_INT, "10000", 100, 600000, "timeout of one HTTP request" },
	{ "TLS_CA_FILE", CFG_STR, NULL, 0, 0, "CA bundle for HTTPS outputs (default: system store)" },
	{ "HEALTH_PORT", CFG_INT, "0", 0, 65535,
	  "serve /healthz, /readyz (connected, and the log takes messages), /metrics on this "
	  "port (0 = off)" },
	{ "HEALTH_ADDR", CFG_STR, "0.0.0.0", 0, 0, "address of the health endpoint" },
	/* then each sink's config_map (sink_key_table) */
	{ NULL, 0, NULL, 0, 0, NULL },
};

enum { FLAG_DRY_RUN, FLAG_COUNT };
static const struct cfg_flag bridge_flags[] = {
	{ "--dry-run", "print instead of sending; own session, no STATE_DIR: safe beside the bridge" },
	{ NULL, NULL },
};

static int run(int argc, char **argv, const struct cfg_key *keys)
{
	struct cfg c;
	bool flags[FLAG_COUNT] = { false };
	bool check = false;
	struct cfg_cli cli = {
		.prog = "sensor-bridge",
		.summary = "Forwards sensor readings from MQTT to InfluxDB and Prometheus remote-write.",
		.flags = bridge_flags,
	};
	if (cfg_init(&c, keys) < 0) {
		log_error("bridge", "out of memory");
		return 1;
	}
	int rc = cfg_from_cli(&c, &cli, SW_VERSION, argc, argv, flags, &check);
	if (rc != 0) {
		cfg_release(&c);
		return rc > 0 ? 0 : 1;
	}

	/* block the stop signals in every thread; main waits for them below */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (apply_device_tz(&c) < 0) {
		cfg_release(&c);
		return 1;
	}
	enum bridge_mode mode = check ? BRIDGE_CHECK : flags[FLAG_DRY_RUN] ? BRIDGE_DRY_RUN :
				BRIDGE_RUN;
	struct bridge *b = bridge_new(&c, mode);
	if (check) {
		cfg_print(&c, stdout);
		if (b)
			printf("# configuration ok\n");
		bridge_free(b);
		cfg_release(&c);
		return b ? 0 : 1;
	}
	if (!b) {
		cfg_release(&c);
		return 1;
	}
	log_info("bridge", "sensor-bridge %s starting: outputs %s", SW_VERSION, cfg_str(&c, "OUTPUTS"));
	if (bridge_start(b) < 0) {
		bridge_free(b);
		cfg_release(&c);
		return 1;
	}
	struct health *h = NULL;
	if (cfg_int(&c, "HEALTH_PORT") > 0)
		h = health_start(b, cfg_str(&c, "HEALTH_ADDR"), (int)cfg_int(&c, "HEALTH_PORT"));

	/* wait for a stop signal; log counters every 5 minutes */
	for (;;) {
		struct timespec ts = { 300, 0 };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("bridge", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		}
		if (sig < 0 && errno == EAGAIN)
			bridge_log_stats(b);
	}
	/* bounded: an output that is down keeps its readings in the log */
	bridge_stop(b, 5000);
	health_stop(h);
	bridge_free(b);
	cfg_release(&c);
	return 0;
}

int main(int argc, char **argv)
{
	json_arena_install(); /* before any cJSON call (bridge/json_arena.h) */
	snprintf(outputs_help, sizeof(outputs_help), "comma list of %s", sink_names());
	struct cfg_key *keys = sink_key_table(bridge_keys);
	if (!keys) {
		log_error("bridge", "out of memory");
		return 1;
	}
	int rc = run(argc, argv, keys);
	free(keys);
	return rc;
}
