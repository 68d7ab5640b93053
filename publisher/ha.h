/*
 * ha.h - Home Assistant MQTT discovery (HA_DISCOVERY=true): the retained
 * config message that announces one field of one sensor as an HA "sensor"
 * entity, and the parser that recognises such a message as ours again.
 * Pure: no I/O, no clocks, no globals (publisher.c publishes and clears).
 *
 * Source: Home Assistant's MQTT discovery documentation
 * (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery) and the
 * MQTT sensor documentation (https://www.home-assistant.io/integrations/sensor.mqtt/):
 *  - topic <discovery_prefix>/<component>/[<node_id>/]<object_id>/config,
 *    node_id and object_id of [a-zA-Z0-9_-] only; we use the optional
 *    node_id level for the node, so the node's configs sit under one
 *    filter (<prefix>/sensor/<node_id>/+/config) that the start-up scan
 *    subscribes to;
 *  - a retained message; an empty retained message on the same topic
 *    removes the entity;
 *  - "unique_id" is required when "device" is given, and "device" needs
 *    "identifiers" (or "connections");
 *  - a sensor's "device_class" fixes the units HA accepts (temperature:
 *    °C °F K; humidity: %; pressure: Pa kPa hPa bar cbar mbar mmHg inHg psi);
 *  - "expire_after" is whole seconds after which the state becomes
 *    unavailable without an update;
 *  - HA's birth message, "online" on homeassistant/status, asks integrations
 *    to announce themselves again.
 *
 * Names:
 *   topic      <ha_prefix>/sensor/<id(node)>/<id(sensor)>_<field>/config
 *   unique_id  sensorwire:<node>:<sensor>:<field>   (':' is in no name, so the
 *              id splits back unambiguously, and HA allows any string here)
 *   device     identifiers ["sensorwire:<node>"], name <node>
 * id() turns each character outside [A-Za-z0-9_-] (only '.' can occur in a
 * node or sensor name) into '_'. Two sensors of one node whose names differ
 * only by '.' and '_' would share a topic: main.c refuses that when
 * HA_DISCOVERY is on. Two nodes differing only so cannot be told apart by
 * the topic either; their unique_ids still differ, and the scan checks the
 * unique_id before clearing anything.
 */
#ifndef SW_HA_H
#define SW_HA_H

#include <stdbool.h>
#include <stddef.h>

#define HA_TOPIC_MAX 512
#define HA_CONFIG_MAX 2048
/* expire_after: 3 readings missed, and never under a minute (see ha.c) */
#define HA_EXPIRE_FACTOR 3
#define HA_EXPIRE_MIN_S 60

struct ha_ctx {
	const char *ha_prefix;      /* HA_DISCOVERY_PREFIX, e.g. "homeassistant" */
	const char *prefix;         /* TOPIC_PREFIX */
	const char *node;
	const char *version;        /* sw_version */
	unsigned interval_ms;
};

/* What a field name's unit suffix says (NULL members: nothing to announce). */
struct ha_unit {
	const char *device_class;   /* "temperature", "humidity", "pressure" or NULL */
	const char *unit;           /* "°C", "%", "hPa" or NULL */
};
struct ha_unit ha_unit_of(const char *field);

/* [A-Za-z0-9_-] copy of s into out ('.' and anything else become '_'). */
void ha_id(char *out, size_t cap, const char *s);

/* expire_after for an interval: max(HA_EXPIRE_MIN_S, ceil(3 * interval)). */
unsigned ha_expire_after_s(unsigned interval_ms);

/* <ha_prefix>/sensor/<id(node)>/<id(sensor)>_<field>/config; -ENAMETOOLONG. */
int ha_config_topic(char *buf, size_t cap, const struct ha_ctx *c, const char *sensor,
		    const char *field);
/* <ha_prefix>/sensor/<id(node)>/+/config: every config of this node. */
int ha_scan_filter(char *buf, size_t cap, const struct ha_ctx *c);

/* The config JSON (compact, fixed key order). Returns its length or -ENOSPC. */
int ha_config_payload(char *buf, size_t cap, const struct ha_ctx *c, const char *sensor,
		      const char *field);

/*
 * Recognises a config message this program wrote for node: its unique_id
 * is sensorwire:<node>:<sensor>:<field> and its device identifiers are
 * ["sensorwire:<node>"]. Copies sensor and field out. False for anything
 * else (another node's, another program's, or garbage), which is never
 * cleared.
 */
bool ha_config_parse(const char *payload, size_t len, const char *node, char *sensor,
		     size_t sensor_cap, char *field, size_t field_cap);

#endif
