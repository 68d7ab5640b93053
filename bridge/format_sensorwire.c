/*
 * format_sensorwire.c - our own payload (docs/contract.md#payload): topic
 * <prefix>/<node>/<sensor>, one JSON object with ts, seq, boot, tags and
 * unit-carrying fields, parsed by reading_parse() (reading.h); availability
 * on <prefix>/<node>/status ("online"/"offline", retained, the publisher's
 * Last Will); the publisher's statistics on <prefix>/<node>/$stats, one
 * reading per sensor (format_stats.c). The only format with seq and boot:
 * gap accounting.
 */
#include "bridge/format.h"

#include <stdio.h>
#include <string.h>

static enum format_kind sw_topic(const char *topic, char *node, size_t node_len)
{
	char n[256], s[256];
	enum topic_kind k = reading_topic_split(topic, n, sizeof(n), s, sizeof(s));
	if (k == TOPIC_INVALID)
		return FORMAT_BAD_TOPIC;
	format_level_copy(n, strlen(n), node, node_len);
	return k == TOPIC_STATUS ? FORMAT_STATUS : FORMAT_READINGS;
}

static void sw_parse(const char *topic, const void *payload, size_t len, int64_t arrival_ms,
		     struct format_result *out)
{
	if (out->kind == FORMAT_STATUS) {
		/* as ever: only "offline" means offline; stored as it came */
		out->online = !(len == 7 && memcmp(payload, "offline", 7) == 0);
		return;
	}
	const char *last = strrchr(topic, '/');
	if (last && strcmp(last + 1, FORMAT_STATS_LEVEL) == 0) {
		/* the publisher's statistics (format_stats.c), not a sensor */
		format_stats_parse(out->node, payload, len, arrival_ms, out);
		return;
	}
	if (reading_parse(&out->r[0], topic, payload, len, arrival_ms, out->err,
			  sizeof(out->err)) < 0) {
		out->kind = FORMAT_MALFORMED;
		return;
	}
	out->n = 1;
}

/* <prefix>/<node>/status beside <prefix>/<node>/<sensor> (sensors/+/+,
 * sensors/#, sensors/n1/temp -> sensors/+/status, sensors/+/status,
 * sensors/n1/status) */
static int sw_availability(const char *filter, char *out, size_t len)
{
	if (format_filter_last_is(filter, "#"))
		return format_filter_derive(filter, -1, 2, "status", out, len);
	return format_filter_depth(filter) >= 2 &&
	       format_filter_derive(filter, -1, 0, "status", out, len);
}

const struct format format_sensorwire = {
	.name = "sensorwire",
	.topics = "<prefix>/<node>/<sensor>, <prefix>/<node>/status",
	.seq = true,
	.topic = sw_topic,
	.parse = sw_parse,
	.availability = sw_availability,
};
