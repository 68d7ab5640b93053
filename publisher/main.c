/*
 * main.c - sensor-publisher: reads the sensors of one node and publishes
 * each reading to MQTT (docs/contract.md). This file holds the configuration table
 * (every setting, its type, default and help), checks every value before
 * anything starts, and hands over to publisher.c.
 */
#include "common/config.h"
#include "common/log.h"
#include "common/mqtt.h"
#include "publisher/ha.h"
#include "publisher/health.h"
#include "publisher/outbox.h"
#include "publisher/payload.h"
#include "publisher/publisher.h"
#include "publisher/sensor.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define COMP "publisher"
#define STATS_EVERY_S 3600

static const struct cfg_key publisher_keys[] = {
	/* MQTT client, shared names with the bridge */
	{ "MQTT_URL", CFG_STR, "tcp://localhost:1883", 0, 0,
	  "broker URL: tcp://host:1883, ssl://host:8883 (mqtt:// and mqtts:// accepted)" },
	{ "MQTT_CLIENT_ID", CFG_STR, "", 0, 0,
	  "client id; empty = sensor-publisher-<NODE_NAME>" },
	{ "MQTT_USERNAME", CFG_STR, NULL, 0, 0, "broker user name" },
	{ "MQTT_PASSWORD", CFG_SECRET, NULL, 0, 0, "broker password" },
	{ "MQTT_CA_FILE", CFG_STR, NULL, 0, 0,
	  "CA certificate (PEM) to verify the broker; host name is checked" },
	{ "MQTT_CERT_FILE", CFG_STR, NULL, 0, 0, "client certificate (PEM) for mutual TLS" },
	{ "MQTT_KEY_FILE", CFG_STR, NULL, 0, 0, "client private key (PEM) for mutual TLS" },
	{ "MQTT_QOS", CFG_INT, "1", 0, 1,
	  "QoS of readings: 1 = at least once (kept until PUBACK), 0 = at most once" },
	{ "MQTT_KEEPALIVE_S", CFG_INT, "30", 1, 3600,
	  "MQTT keepalive; the broker publishes 'offline' about 1.5 x this after a silent death" },
	{ "MQTT_VERSION", CFG_STR, "5", 0, 0,
	  "5, 3.1.1, or auto (5, then 3.1.1 when the broker refuses 5)" },
	{ "MQTT_WILL_DELAY_S", CFG_INT, "30", 0, 86400,
	  "MQTT 5: the broker publishes 'offline' this long after the connection ends, unless "
	  "the publisher is back by then (a restart shows no 'offline'); 0 = at once" },
	{ "MQTT_STOP_OFFLINE", CFG_STR, "now", 0, 0,
	  "what a planned stop (SIGTERM, SIGINT) does: now = publish 'offline' at once; will = "
	  "leave it to the Will after MQTT_WILL_DELAY_S (as SIGUSR2 always does: a restart)" },
	{ "LOG_LEVEL", CFG_STR, "info", 0, 0, "error, warn, info or debug" },
	/* what is read and where it goes */
	{ "NODE_NAME", CFG_STR, NULL, 0, 0,
	  "node name, the topic level after TOPIC_PREFIX ([A-Za-z0-9_.-]); default: host name" },
	{ "TOPIC_PREFIX", CFG_STR, "sensors", 0, 0,
	  "first topic level(s): readings go to <prefix>/<node>/<sensor>" },
	{ "SENSORS", CFG_STR, NULL, 0, 0,
	  "whitespace-separated NAME=DRIVER[,key=value...], e.g. \"desk=dht22,chip=gpiochip0,"
	  "line=19 demo=sim\"" },
	{ "INTERVAL_S", CFG_INT, "10", 1, 86400,
	  "seconds between two readings of a sensor (a driver refuses less than it allows)" },
	{ "INTERVAL_MS", CFG_INT, "0", 0, 86400000,
	  "milliseconds between readings; overrides INTERVAL_S when > 0 (tests, fast demos)" },
	{ "READ_SCHEDULE", CFG_STR, "spread", 0, 0,
	  "spread: sensor i reads at i x interval / n of each interval; aligned: all at its start" },
	{ "TAGS", CFG_STR, NULL, 0, 0,
	  "extra labels in every payload: k=v,k=v (not node or sensor)" },
	{ "OUTBOX_DIR", CFG_STR, NULL, 0, 0,
	  "directory for readings the broker could not take yet (survives restarts); "
	  "unset = memory only" },
	{ "OUTBOX_MAX_BYTES", CFG_INT, "8388608", OUTBOX_MIN_BYTES, 1LL << 40,
	  "bound of the outbox (disk or memory); beyond it the oldest readings are dropped" },
	{ "SYSFS_ROOT", CFG_STR, "/sys", 0, 0,
	  "where sysfs is mounted (iio, ds18b20 drivers); a fixture tree in tests" },
	{ "SIM_SEED", CFG_INT, "0", 0, 9223372036854775807LL,
	  "seed of the sim driver: same seed, name and time give the same reading" },
	/* the tools people already run */
	{ "HA_DISCOVERY", CFG_BOOL, "false", 0, 0,
	  "announce every sensor field to Home Assistant (MQTT discovery, retained configs)" },
	{ "HA_DISCOVERY_PREFIX", CFG_STR, "homeassistant", 0, 0,
	  "Home Assistant's discovery prefix: configs go to <prefix>/sensor/<node>/<sensor>_"
	  "<field>/config" },
	{ "STATS_INTERVAL_S", CFG_INT, "300", 0, 86400,
	  "seconds between the retained read statistics on <TOPIC_PREFIX>/<node>/$stats (0 = off)" },
	{ "HEALTH_PORT", CFG_INT, "0", 0, 65535,
	  "serve /healthz (sensor loop alive), /readyz (connected, or OUTBOX_DIR takes readings) "
	  "and /metrics on this port (0 = off)" },
	{ "HEALTH_ADDR", CFG_STR, "0.0.0.0", 0, 0, "address of the health endpoint" },
	{ NULL, 0, NULL, 0, 0, NULL },
};

enum { FLAG_ONCE, FLAG_COUNT };
static const struct cfg_flag publisher_flags[] = {
	{ "--once", "read every sensor once, print the JSON payloads, no MQTT; exit 1 if a read "
		    "failed" },
	{ NULL, NULL },
};

/* TOPIC_PREFIX: one or more non-empty levels, no wildcards, not $SYS-like. */
static int check_prefix(const char *key, const char *s, char *err, size_t errlen)
{
	const char *why = NULL;
	size_t n = s ? strlen(s) : 0;
	if (n == 0)
		why = "must not be empty";
	else if (s[0] == '$')
		why = "must not start with '$' (reserved for the broker)";
	else if (strpbrk(s, "+#"))
		why = "must not contain the wildcards '+' or '#'";
	else if (s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
		why = "must not have empty levels (leading, trailing or double '/')";
	else if (n > 128)
		why = "is longer than 128 bytes";
	if (why) {
		snprintf(err, errlen, "%s '%s' %s", key, s ? s : "", why);
		return -EINVAL;
	}
	return 0;
}

/* NODE_NAME defaults to the host name (first label kept whole: 'pi.lan' stays). */
static int default_node(struct cfg *c, char *err, size_t errlen)
{
	char host[256];
	if (cfg_is_set(c, "NODE_NAME"))
		return 0;
	if (gethostname(host, sizeof(host)) < 0) {
		snprintf(err, errlen, "NODE_NAME is not set and the host name is unknown: %s",
			 strerror(errno));
		return -errno;
	}
	host[sizeof(host) - 1] = '\0';
	return cfg_set(c, "NODE_NAME", host, "host name", err, errlen) < 0 ? -EINVAL : 0;
}

static int boot_id(char out[17])
{
	uint8_t rnd[8];
	ssize_t n = getrandom(rnd, sizeof(rnd), 0);
	if (n != (ssize_t)sizeof(rnd))
		return -EIO;
	payload_boot_id(out, rnd);
	return 0;
}

/*
 * Checks every setting that the table's types cannot (names, TAGS,
 * SENSORS, intervals against each driver's minimum) and fills o. On
 * success the sensors are parsed but not opened; *sensors is the caller's.
 */
static int validate(struct cfg *c, struct publisher_opts *o, struct payload_tags *tags,
		    char *err, size_t errlen)
{
	char *url;
	int rc = default_node(c, err, errlen);
	if (rc < 0)
		return rc;
	o->node = cfg_str(c, "NODE_NAME");
	if (!payload_level_ok(o->node)) {
		snprintf(err, errlen, "NODE_NAME '%s' cannot be a topic level: use 1..%d of "
			 "A-Z a-z 0-9 _ - . (set NODE_NAME explicitly)", o->node, PAYLOAD_LEVEL_MAX);
		return -EINVAL;
	}
	if (!cfg_is_set(c, "MQTT_CLIENT_ID")) {
		char id[128];
		snprintf(id, sizeof(id), "sensor-publisher-%s", o->node);
		if (cfg_set(c, "MQTT_CLIENT_ID", id, "from NODE_NAME", err, errlen) < 0)
			return -EINVAL;
	}
	o->prefix = cfg_str(c, "TOPIC_PREFIX");
	rc = check_prefix("TOPIC_PREFIX", o->prefix, err, errlen);
	if (rc < 0)
		return rc;
	o->ha_discovery = cfg_bool(c, "HA_DISCOVERY");
	o->ha_prefix = cfg_str(c, "HA_DISCOVERY_PREFIX");
	if (o->ha_discovery) {
		rc = check_prefix("HA_DISCOVERY_PREFIX", o->ha_prefix, err, errlen);
		if (rc < 0)
			return rc;
	}
	o->stats_interval_s = (unsigned)cfg_int(c, "STATS_INTERVAL_S");
	url = mqtt_normalise_url(cfg_str(c, "MQTT_URL"));
	if (!url) {
		snprintf(err, errlen, "MQTT_URL '%s' must start with tcp://, ssl://, mqtt:// or "
			 "mqtts://", cfg_str(c, "MQTT_URL") ? cfg_str(c, "MQTT_URL") : "");
		return -EINVAL;
	}
	bool tls = strncmp(url, "ssl://", 6) == 0;
	free(url);
	if (!tls && (cfg_is_set(c, "MQTT_CERT_FILE") || cfg_is_set(c, "MQTT_KEY_FILE") ||
		     cfg_is_set(c, "MQTT_CA_FILE"))) {
		snprintf(err, errlen, "MQTT_CA_FILE/MQTT_CERT_FILE/MQTT_KEY_FILE need an ssl:// or "
			 "mqtts:// MQTT_URL");
		return -EINVAL;
	}
	if (cfg_is_set(c, "MQTT_CERT_FILE") != cfg_is_set(c, "MQTT_KEY_FILE")) {
		snprintf(err, errlen, "MQTT_CERT_FILE and MQTT_KEY_FILE go together");
		return -EINVAL;
	}
	rc = payload_tags_parse(cfg_str(c, "TAGS"), tags, err, errlen);
	if (rc < 0)
		return rc;
	o->tags = tags;
	o->qos = (int)cfg_int(c, "MQTT_QOS");
	if (mqtt_parse_version(cfg_str(c, "MQTT_VERSION")) < 0) {
		snprintf(err, errlen, "MQTT_VERSION '%s': use 5, 3.1.1 or auto",
			 cfg_str(c, "MQTT_VERSION"));
		return -EINVAL;
	}
	const char *so = cfg_str(c, "MQTT_STOP_OFFLINE");
	if (so && strcmp(so, "now") != 0 && strcmp(so, "will") != 0) {
		snprintf(err, errlen, "MQTT_STOP_OFFLINE '%s': use now or will", so);
		return -EINVAL;
	}
	o->stop_via_will = so && strcmp(so, "will") == 0;
	const char *rs = cfg_str(c, "READ_SCHEDULE");
	if (strcmp(rs, "spread") != 0 && strcmp(rs, "aligned") != 0) {
		snprintf(err, errlen, "READ_SCHEDULE '%s': use spread or aligned", rs);
		return -EINVAL;
	}
	o->aligned = strcmp(rs, "aligned") == 0;
	o->interval_ms = cfg_int(c, "INTERVAL_MS") > 0 ? (unsigned)cfg_int(c, "INTERVAL_MS")
						       : (unsigned)cfg_int(c, "INTERVAL_S") * 1000u;
	char msg[512];
	if (sensor_list_parse(cfg_str(c, "SENSORS"), &o->sensors, &o->n_sensors, msg,
			      sizeof(msg)) < 0) {
		snprintf(err, errlen, "SENSORS: %s", msg);
		return -EINVAL;
	}
	for (size_t i = 0; i < o->n_sensors; i++) {
		const struct sensor *s = &o->sensors[i];
		for (size_t j = 0; o->ha_discovery && j < i; j++) {
			char a[SENSOR_NAME_MAX], b[SENSOR_NAME_MAX];
			ha_id(a, sizeof(a), s->name);
			ha_id(b, sizeof(b), o->sensors[j].name);
			if (strcmp(a, b) == 0) {
				snprintf(err, errlen, "sensors '%s' and '%s' would share Home Assistant "
					 "discovery topics ('.' becomes '_' there): rename one",
					 o->sensors[j].name, s->name);
				return -EINVAL;
			}
		}
		if (o->interval_ms < s->drv->min_interval_ms) {
			snprintf(err, errlen, "sensor '%s': a %s needs at least %u ms between "
				 "reads; the interval is %u ms (raise INTERVAL_S)", s->name,
				 s->drv->name, s->drv->min_interval_ms, o->interval_ms);
			return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cfg c;
	bool flags[FLAG_COUNT] = { false };
	bool check = false;
	struct cfg_cli cli = {
		.prog = "sensor-publisher",
		.summary = "Reads the sensors of this node and publishes each reading to MQTT.",
		.flags = publisher_flags,
	};
	struct publisher_opts o = { 0 };
	struct payload_tags tags;
	struct outbox *ob = NULL;
	struct publisher *p = NULL;
	char err[640], boot[17];
	int status = 1;

	/* one malloc arena: a handful of threads, a few KiB each (RSS target < 2 MiB) */
	mallopt(M_ARENA_MAX, 1);
	if (cfg_init(&c, publisher_keys) < 0) {
		log_error(COMP, "out of memory");
		return 1;
	}
	int rc = cfg_from_cli(&c, &cli, SW_VERSION, argc, argv, flags, &check);
	if (rc != 0) {
		cfg_release(&c);
		return rc > 0 ? 0 : 1;
	}
	if (validate(&c, &o, &tags, err, sizeof(err)) < 0) {
		log_error("config", "%s", err);
		if (check)
			cfg_print(&c, stdout);
		goto out_sensors;
	}
	if (check) {
		cfg_print(&c, stdout);
		printf("# configuration ok: %zu sensor(s), readings on %s/%s/<sensor>\n",
		       o.n_sensors, o.prefix, o.node);
		status = 0;
		goto out_sensors;
	}
	if (boot_id(boot) < 0) {
		log_error(COMP, "getrandom failed: %s", strerror(errno));
		goto out_sensors;
	}
	o.boot = boot;

	struct sensor_env env = {
		.sysfs_root = cfg_str(&c, "SYSFS_ROOT"),
		.dev_root = "/dev",
		.seed = (uint64_t)cfg_int(&c, "SIM_SEED"),
	};
	if (sensor_list_open(o.sensors, o.n_sensors, &env, err, sizeof(err)) < 0) {
		log_error(COMP, "%s", err);
		goto out_sensors;
	}
	if (flags[FLAG_ONCE]) {
		status = publisher_once(&o, stdout) == 0 ? 0 : 1;
		goto out_sensors;
	}

	/* the stop signals are blocked in every thread; publisher_run waits for them */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGUSR2); /* stop for a restart: 'offline' left to the delayed Will */
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	ob = outbox_open(cfg_str(&c, "OUTBOX_DIR"), (uint64_t)cfg_int(&c, "OUTBOX_MAX_BYTES"),
			 err, sizeof(err));
	if (!ob) {
		log_error(COMP, "%s", err);
		goto out_sensors;
	}
	if (!outbox_is_durable(ob))
		log_info(COMP, "no OUTBOX_DIR: readings made while the broker is unreachable are "
			 "kept in memory (up to %lld bytes) and lost on restart",
			 cfg_int(&c, "OUTBOX_MAX_BYTES"));
	o.outbox = ob;

	struct mqtt_opts mo = {
		.url = cfg_str(&c, "MQTT_URL"),
		.client_id = cfg_str(&c, "MQTT_CLIENT_ID"),
		.username = cfg_str(&c, "MQTT_USERNAME"),
		.password = cfg_str(&c, "MQTT_PASSWORD"),
		.ca_file = cfg_str(&c, "MQTT_CA_FILE"),
		.cert_file = cfg_str(&c, "MQTT_CERT_FILE"),
		.key_file = cfg_str(&c, "MQTT_KEY_FILE"),
		.keepalive_s = (int)cfg_int(&c, "MQTT_KEEPALIVE_S"),
		.version = (enum mqtt_version)mqtt_parse_version(cfg_str(&c, "MQTT_VERSION")),
		.will_delay_s = (unsigned)cfg_int(&c, "MQTT_WILL_DELAY_S"),
	};
	p = publisher_new(&o, &mo, err, sizeof(err));
	if (!p) {
		log_error(COMP, "%s", err);
		goto out_outbox;
	}
	log_info(COMP, "sensor-publisher %s starting", SW_VERSION);
	/* HEALTH_PORT=0: no thread, no socket, nothing allocated */
	struct health *h = NULL;
	if (cfg_int(&c, "HEALTH_PORT") > 0) {
		h = health_start(cfg_str(&c, "HEALTH_ADDR"), (int)cfg_int(&c, "HEALTH_PORT"),
				 publisher_http, p, err, sizeof(err));
		if (!h) {
			log_error(COMP, "%s", err);
			publisher_free(p);
			goto out_outbox;
		}
	}
	status = publisher_run(p, &stop, STATS_EVERY_S) == 0 ? 0 : 1;
	health_stop(h);
	publisher_free(p);
out_outbox:
	outbox_close(ob);
out_sensors:
	sensor_list_free(o.sensors, o.n_sensors);
	cfg_release(&c);
	return status;
}
