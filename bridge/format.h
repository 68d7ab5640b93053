/*
 * format.h - the registry of payload formats: what a message on the broker
 * means, for our own JSON (sensorwire) and for the firmwares people already
 * run (Tasmota, ESPHome, Zigbee2MQTT, Shelly Gen2, rtl_433). One file each,
 * bridge/format_<name>.c, each naming in its header the documented shape it
 * follows; README "Watching it work" and docs/contract.md#payload-formats
 * give the mapping.
 *
 * A format is chosen per topic filter: MQTT_TOPICS="sensors/+/+,
 * tasmota:tele/+/SENSOR,tasmota:tele/+/LWT" (no prefix = sensorwire). A
 * message goes to the format of the first filter in MQTT_TOPICS that
 * matches its topic (format_route()).
 *
 * A format turns topic + payload into readings built with reading_build_*()
 * (reading.h: the one set of rules), or into a node's availability
 * (online/offline: the same staleness markers as sensors/<node>/status), or
 * says the topic is one of its own that carries no reading (ignored:
 * counted, never stored), or refuses it. Only sensorwire carries seq/boot:
 * the others have no gap or duplicate accounting (format.seq is false).
 * Pure: no I/O, no globals (the local time of Tasmota and rtl_433 is read in
 * the process's TZ, which main.c sets from DEVICE_TZ).
 */
#ifndef SW_FORMAT_H
#define SW_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/reading.h"

/* The registry: one X() per format, in the order --help lists them. */
#define FORMATS(X) X(sensorwire) X(tasmota) X(esphome) X(zigbee2mqtt) X(shelly) X(rtl_433)

/* the most readings one message makes (a Tasmota SENSOR with several sensors) */
#define FORMAT_MAX_READINGS 16

enum format_kind {
	FORMAT_READINGS,     /* n readings (>= 1) in r[] */
	FORMAT_STATUS,       /* node is online or offline */
	FORMAT_IGNORED,      /* a topic of the format that holds no reading (e.g. Shelly's sys) */
	FORMAT_BAD_TOPIC,    /* not a topic of this format */
	FORMAT_TOO_LARGE,    /* payload over READING_MAX_PAYLOAD */
	FORMAT_MALFORMED,    /* payload refused (err) */
};

struct format_result {
	enum format_kind kind;
	size_t n;
	struct reading r[FORMAT_MAX_READINGS];
	char node[READING_MAX_VALUE + 1];   /* FORMAT_STATUS */
	bool online;                        /* FORMAT_STATUS */
	char err[160];                      /* FORMAT_MALFORMED, FORMAT_IGNORED: why */
};

struct format {
	const char *name;
	const char *topics;   /* the topics it reads, for messages and --help */
	bool seq;             /* payloads carry seq and boot: gap accounting */
	/*
	 * What topic is: FORMAT_READINGS (a reading's topic), FORMAT_STATUS
	 * (an availability topic: node filled), FORMAT_IGNORED or
	 * FORMAT_BAD_TOPIC.
	 */
	enum format_kind (*topic)(const char *topic, char *node, size_t node_len);
	/*
	 * Parses a message whose topic() is FORMAT_READINGS or FORMAT_STATUS
	 * (payload at most READING_MAX_PAYLOAD bytes). Fills out; on
	 * FORMAT_READINGS the caller releases out->r[0..n).
	 */
	void (*parse)(const char *topic, const void *payload, size_t len, int64_t arrival_ms,
		      struct format_result *out);
	/*
	 * The availability filter that goes with a data filter of this format
	 * (MQTT_TOPICS), e.g. tasmota's tele/+/SENSOR -> tele/+/LWT. Under
	 * MQTT_SHARE_GROUP the bridge subscribes it unshared, so every replica
	 * learns every node's availability (and writes the staleness markers
	 * of the series it holds). 1 with the filter in out (len bytes), 0 when
	 * the format has no availability topic (or it does not fit). NULL = none.
	 */
	int (*availability)(const char *filter, char *out, size_t len);
};

#define FORMAT_DECLARE(n) extern const struct format format_##n;
FORMATS(FORMAT_DECLARE)
#undef FORMAT_DECLARE

/* The format named name, or NULL. */
const struct format *format_find(const char *name);
/* "sensorwire, tasmota, ..." */
const char *format_names(void);

/*
 * One MQTT_TOPICS item, "[format:]filter": the format (sensorwire without a
 * prefix) and the filter as subscribed. -1 with a message for an unknown
 * format. (A filter itself has no ':' before its first '/' in practice; a
 * prefix that names no format is an error, so a typo is caught.)
 */
int format_spec(const char *item, const struct format **f, const char **filter,
		char *err, size_t errlen);

/* Whether topic matches an MQTT filter (+ and #; $-topics only by name). */
bool format_filter_match(const char *filter, const char *topic);

/*
 * The sensorwire format's <prefix>/<node>/$stats (format_stats.c): the
 * publisher's read counters, one reading per sensor (fields
 * reads_<result>_total, reads_total, reads_transient_total; tag driver).
 */
#define FORMAT_STATS_LEVEL "$stats"
void format_stats_parse(const char *node, const void *payload, size_t len, int64_t arrival_ms,
			struct format_result *out);

/* The whole path for one message: topic(), the size bound, parse(). */
void format_message(const struct format *f, const char *topic, const void *payload, size_t len,
		    int64_t arrival_ms, struct format_result *out);
/* Releases the readings of out. */
void format_result_release(struct format_result *out);

/* --- helpers for the format files ------------------------------------- */

/*
 * A device's clock reading: "YYYY-MM-DD[T| ]HH:MM:SS[.frac][Z|+HH:MM|+HHMM]"
 * (local time in the process's TZ when no zone is given), or Unix seconds
 * as digits ("1732276800", "1732276800.5"). Unix ms in *ms, or -1.
 */
int format_time(const char *s, int64_t *ms);
/* Lowercases and maps every byte outside [a-z0-9_.-] to '_' (at most n-1 bytes). */
void format_sanitise(const char *in, char *out, size_t n);
/* Splits topic into its levels (at most max, each checked by reading_level_ok):
 * start and length of each; returns the count, or -1. */
int format_levels(const char *topic, const char **lv, size_t *ln, int max);
/* Copies a level into buf (n bytes). */
void format_level_copy(const char *s, size_t l, char *buf, size_t n);
/*
 * For the availability hooks: the first keep levels of filter (keep < 0:
 * all but the last -keep; fewer if it has fewer), padded with "+" levels up
 * to pad levels, then "/" tail ("tail" alone when none are left). 1 with the
 * filter in out, 0 when it does not fit in len bytes.
 */
int format_filter_derive(const char *filter, int keep, int pad, const char *tail, char *out,
			 size_t len);
/* The number of levels of filter, and whether its last level is w ("+", "#", "SENSOR"). */
int format_filter_depth(const char *filter);
bool format_filter_last_is(const char *filter, const char *w);
/* online/offline style availability payloads: "online"/"offline", "Online"/
 * "Offline", "true"/"false", {"state":"online"}: 0 with *online, or -1. */
int format_availability(const void *payload, size_t len, bool *online);

#endif
