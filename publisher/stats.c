/*
 * stats.c - /metrics text and the $stats JSON from one snapshot (stats.h).
 * Sensor and node names are [A-Za-z0-9_.-] (payload_level_ok), boot ids
 * hex and the version a constant, so no label value or JSON string here
 * needs escaping.
 */
#include "publisher/sbuf.h"
#include "publisher/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define M "sensorwire_publisher_"

static void family(struct sbuf *o, const char *name, const char *type, const char *help)
{
	sbuf_printf(o, "# HELP " M "%s %s\n# TYPE " M "%s %s\n", name, help, name, type);
}

/* metric-friendly names of the DHT decoder's results */
static const char *const dht_names[DHT_RESULT_KINDS] = {
	[DHT_OK] = "ok",
	[DHT_ERR_TOO_FEW_EDGES] = "too_few_edges",
	[DHT_ERR_TOO_MANY_EDGES] = "too_many_edges",
	[DHT_ERR_FRAMING] = "framing",
	[DHT_ERR_TIMING] = "timing",
	[DHT_ERR_CHECKSUM] = "checksum",
	[DHT_ERR_IMPLAUSIBLE] = "implausible",
};

uint64_t stats_reconnects(const struct publisher_snap *p)
{
	return p->connects ? p->connects - 1 : 0;
}

size_t stats_metrics_cap(size_t n_sensors)
{
	return 6144 + n_sensors * 2560;
}

size_t stats_json_cap(size_t n_sensors)
{
	return 1024 + n_sensors * 512;
}

static void counter(struct sbuf *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", help);
	sbuf_printf(o, M "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct sbuf *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "gauge", help);
	sbuf_printf(o, M "%s %" PRIu64 "\n", name, v);
}

static void seconds(struct sbuf *o, uint64_t ms)
{
	sbuf_printf(o, "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
}

int stats_metrics(char *buf, size_t cap, const struct publisher_snap *p)
{
	struct sbuf o = { buf, cap, 0, cap == 0 };
	if (cap)
		buf[0] = '\0';

	family(&o, "info", "gauge", "this publisher: node, boot id and version");
	sbuf_printf(&o, M "info{node=\"%s\",boot=\"%s\",version=\"%s\"} 1\n", p->node, p->boot,
	     p->version);
	family(&o, "uptime_seconds", "gauge", "seconds since the publisher started");
	sbuf_printf(&o, M "uptime_seconds ");
	seconds(&o, p->uptime_ms);
	sbuf_printf(&o, "\n");
	gauge(&o, "connected", "1 while connected to the broker", p->connected);

	family(&o, "reads_total", "counter",
	       "sensor reads by result: ok, or the kind of failure (io, no_response, timing, "
	       "checksum, implausible)");
	for (size_t i = 0; i < p->n; i++) {
		const struct sensor_snap *s = &p->s[i];
		sbuf_printf(&o, M "reads_total{sensor=\"%s\",result=\"ok\"} %" PRIu64 "\n", s->name,
		     s->reads_ok);
		for (int k = SENSOR_FAIL_NONE + 1; k < SENSOR_FAIL_KINDS; k++)
			sbuf_printf(&o, M "reads_total{sensor=\"%s\",result=\"%s\"} %" PRIu64 "\n", s->name,
			     sensor_fail_name((enum sensor_fail)k), s->fails[k]);
	}
	family(&o, "reads_transient_total", "counter",
	       "failed reads the driver called transient (retried sooner)");
	for (size_t i = 0; i < p->n; i++)
		sbuf_printf(&o, M "reads_transient_total{sensor=\"%s\"} %" PRIu64 "\n", p->s[i].name,
		     p->s[i].reads_transient);
	family(&o, "last_reading_age_seconds", "gauge",
	       "seconds since the sensor's last good reading (absent before the first)");
	for (size_t i = 0; i < p->n; i++) {
		if (!p->s[i].has_ok)
			continue;
		sbuf_printf(&o, M "last_reading_age_seconds{sensor=\"%s\"} ", p->s[i].name);
		seconds(&o, p->s[i].last_ok_age_ms);
		sbuf_printf(&o, "\n");
	}
	family(&o, "sensor_heartbeat_age_seconds", "gauge",
	       "seconds since the sensor's thread last finished a read (or started)");
	for (size_t i = 0; i < p->n; i++) {
		sbuf_printf(&o, M "sensor_heartbeat_age_seconds{sensor=\"%s\"} ", p->s[i].name);
		seconds(&o, p->s[i].beat_age_ms);
		sbuf_printf(&o, "\n");
	}
	bool any_dht = false;
	for (size_t i = 0; i < p->n; i++)
		any_dht |= p->s[i].has_dht;
	if (any_dht) {
		family(&o, "dht_decode_total", "counter",
		       "DHT captures by decoder result (dht11, dht22, am2302)");
		for (size_t i = 0; i < p->n; i++) {
			if (!p->s[i].has_dht)
				continue;
			for (int k = 0; k < DHT_RESULT_KINDS; k++)
				sbuf_printf(&o, M "dht_decode_total{sensor=\"%s\",result=\"%s\"} %" PRIu64 "\n",
				     p->s[i].name, dht_names[k], p->s[i].dht.decode[k]);
		}
		family(&o, "dht_jumps_total", "counter",
		       "DHT readings held as implausible jumps, and how the next read judged them");
		for (size_t i = 0; i < p->n; i++) {
			const struct sensor_snap *s = &p->s[i];
			if (!s->has_dht)
				continue;
			sbuf_printf(&o, M "dht_jumps_total{sensor=\"%s\",outcome=\"held\"} %" PRIu64 "\n"
			     M "dht_jumps_total{sensor=\"%s\",outcome=\"confirmed\"} %" PRIu64 "\n"
			     M "dht_jumps_total{sensor=\"%s\",outcome=\"rejected\"} %" PRIu64 "\n",
			     s->name, s->dht.jumps_held, s->name, s->dht.jumps_confirmed, s->name,
			     s->dht.jumps_rejected);
		}
	}
	counter(&o, "published_total", "readings handed to the MQTT client (resends included)",
		p->published);
	counter(&o, "acknowledged_total", "readings the broker acknowledged (QoS 1 PUBACK)",
		p->acknowledged);
	counter(&o, "queued_total", "readings that went to the outbox", p->queued);
	counter(&o, "replayed_total", "readings delivered from the outbox", p->replayed);
	counter(&o, "lost_total", "readings the outbox could not take", p->lost);
	counter(&o, "outbox_dropped_total", "undelivered readings deleted to respect "
		"OUTBOX_MAX_BYTES", p->outbox_dropped);
	gauge(&o, "outbox_readings", "readings waiting in the outbox", p->outbox_readings);
	gauge(&o, "outbox_bytes", "bytes the outbox holds", p->outbox_bytes);
	counter(&o, "reconnects_total", "connections to the broker after the first",
		stats_reconnects(p));
	counter(&o, "connection_losses_total", "connections to the broker that dropped",
		p->connection_losses);
	if (p->ha) {
		counter(&o, "ha_configs_total", "Home Assistant discovery configs published",
			p->ha_configs);
		counter(&o, "ha_cleared_total", "Home Assistant discovery configs cleared",
			p->ha_cleared);
	}
	return o.full ? -ENOSPC : (int)o.len;
}

int stats_json(char *buf, size_t cap, const struct publisher_snap *p)
{
	struct sbuf o = { buf, cap, 0, cap == 0 };
	if (cap)
		buf[0] = '\0';
	sbuf_printf(&o, "{\"ts\":%" PRId64 ",\"boot\":\"%s\",\"version\":\"%s\",\"publisher\":{"
	     "\"uptime_s\":", p->ts_ms, p->boot, p->version);
	seconds(&o, p->uptime_ms);
	sbuf_printf(&o, ",\"connected\":%s,\"published\":%" PRIu64 ",\"acknowledged\":%" PRIu64
	     ",\"queued\":%" PRIu64 ",\"replayed\":%" PRIu64 ",\"lost\":%" PRIu64
	     ",\"reconnects\":%" PRIu64 ",\"outbox_readings\":%" PRIu64 ",\"outbox_bytes\":%"
	     PRIu64 ",\"outbox_dropped\":%" PRIu64 "},\"sensors\":{",
	     p->connected ? "true" : "false", p->published, p->acknowledged, p->queued,
	     p->replayed, p->lost, stats_reconnects(p), p->outbox_readings, p->outbox_bytes,
	     p->outbox_dropped);
	for (size_t i = 0; i < p->n; i++) {
		const struct sensor_snap *s = &p->s[i];
		sbuf_printf(&o, "%s\"%s\":{\"driver\":\"%s\",\"reads\":{\"ok\":%" PRIu64, i ? "," : "",
		     s->name, s->driver, s->reads_ok);
		for (int k = SENSOR_FAIL_NONE + 1; k < SENSOR_FAIL_KINDS; k++)
			sbuf_printf(&o, ",\"%s\":%" PRIu64, sensor_fail_name((enum sensor_fail)k),
			     s->fails[k]);
		sbuf_printf(&o, "},\"transient\":%" PRIu64 ",\"last_ok_age_s\":", s->reads_transient);
		if (s->has_ok)
			seconds(&o, s->last_ok_age_ms);
		else
			sbuf_printf(&o, "null");
		sbuf_printf(&o, "}");
	}
	sbuf_printf(&o, "}}");
	return o.full ? -ENOSPC : (int)o.len;
}
