/*
 * reading.h - one sensor reading as the bridge sees it, parsed from an MQTT
 * topic and JSON payload (docs/contract.md#payload).
 *
 * reading_parse() is pure: no I/O, no globals. The tag and field arrays and
 * all strings live in the reading's own arena (r->arena), sized to the
 * payload, so a reading is freed with one reading_release() and a batch of a
 * thousand costs what their payloads cost, not a thousand times the maximum.
 * Tags are sorted by key (byte order) and never contain "node" or "sensor";
 * fields are sorted by name.
 *
 * What a reading is: these rules are the only ones. Every name and value
 * they let through is valid verbatim in InfluxDB line protocol (escaped by
 * its syntax only) and in Prometheus remote write, so both outputs store
 * every parsed reading with the same series, fields, values and timestamp,
 * and neither renames, sanitises or refuses anything of it (README
 * "Watching it work"; tests/unit/bridge/test_outputs_agree.c).
 *  - Topic: <prefix>/<node>/<sensor>, at least three levels; every level,
 *    the prefix's too, is 1 to READING_MAX_VALUE bytes of valid UTF-8 with
 *    no control byte (0x00-0x1f, 0x7f), '\', '+' or '#'. A last level
 *    "status" is the node's status topic, not a reading. Otherwise the
 *    message is refused ("topic ...").
 *  - Payload: 1 to READING_MAX_PAYLOAD bytes of valid UTF-8 holding one JSON
 *    object (whitespace around it only), with no "\u0000" escape; else it
 *    is refused ("empty payload", "... UTF-8", "... JSON ...").
 *  - "ts": an integer of Unix milliseconds in [1e11, 2^53]; a bad one
 *    refuses the reading. Without it the arrival time is used (must be > 0).
 *  - "seq": an integer in [0, 2^53]; "boot": 16 lowercase hex digits; else
 *    skipped (ignored_keys).
 *  - Field: any other member whose value is a JSON number that is a finite
 *    double (1e400 is not) or a boolean (1 / 0), named
 *    [a-zA-Z][a-zA-Z0-9_]* of at most READING_MAX_NAME bytes and not "time"
 *    (no leading '_': reserved by InfluxDB 2, "__" by Prometheus; "time" is
 *    InfluxDB's timestamp). -0 is stored as 0. Other members (strings,
 *    arrays, objects, null, bad names, past READING_MAX_FIELDS, a repeated
 *    name after its first) are skipped and counted in ignored_keys. A
 *    reading needs at least one field, else it is refused ("no numeric
 *    field", naming a skipped bad name if there was one).
 *  - Tags: the members of "tags" whose value is a string of 1 to
 *    READING_MAX_VALUE bytes with no control byte or '\', keyed by a name
 *    as for fields and not "node" or "sensor"; the first of a repeated key,
 *    at most READING_MAX_TAGS. The others are dropped and counted in
 *    dropped_tags.
 * The same rules hold for the readings of the other payload formats
 * (bridge/format.h): each builds its readings with reading_build_*() below,
 * which apply the node, sensor, field and ts rules above (names, finite
 * values, -0, repeats, READING_MAX_FIELDS, "no numeric field"), so what a
 * Tasmota or rtl_433 message becomes passes exactly what a sensorwire
 * payload must.
 */
#ifndef SW_READING_H
#define SW_READING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define READING_MAX_TAGS 16
#define READING_MAX_FIELDS 32
#define READING_MAX_PAYLOAD 16384
#define READING_MAX_NAME 128        /* field names, tag keys (bytes) */
#define READING_MAX_VALUE 255       /* tag values, topic levels (bytes) */

struct reading_tag {
	const char *key;
	const char *value;
};

struct reading_field {
	const char *name;
	double value;
};

struct reading {
	int64_t ts_ms;              /* payload "ts", or arrival time when absent */
	bool ts_from_payload;
	const char *node;           /* from the topic, always */
	const char *sensor;         /* from the topic, always */
	bool has_seq;
	uint64_t seq;
	bool has_boot;
	char boot[17];              /* 16 lowercase hex digits + NUL */
	size_t n_tags;
	struct reading_tag *tags;     /* n_tags entries (at most READING_MAX_TAGS) */
	size_t n_fields;
	struct reading_field *fields; /* n_fields entries (at most READING_MAX_FIELDS) */
	size_t max_tags, max_fields;  /* room in the arena (the parser's bookkeeping) */
	/* what was skipped while parsing (counted by the caller) */
	unsigned ignored_keys;      /* non-numeric keys, bad field names */
	unsigned dropped_tags;      /* tags named node/sensor, non-string tags */
	char *arena;                /* owns every string above */
};

enum topic_kind {
	TOPIC_READING,              /* <prefix>/<node>/<sensor> */
	TOPIC_STATUS,               /* <prefix>/<node>/status */
	TOPIC_INVALID,
};

/*
 * Splits a topic into node (second-last level) and sensor (last level).
 * Writes at most len-1 bytes into node/sensor. Returns the kind.
 */
enum topic_kind reading_topic_split(const char *topic, char *node, size_t node_len,
				    char *sensor, size_t sensor_len);

/*
 * Parses payload (len bytes, need not be NUL-terminated) received on topic.
 * arrival_ms is used when the payload has no "ts". Returns 0, or -1 with a
 * short reason in err (e.g. "payload is not a JSON object", "no numeric
 * field"). On error nothing needs releasing.
 */
int reading_parse(struct reading *r, const char *topic, const void *payload, size_t len,
		  int64_t arrival_ms, char *err, size_t errlen);

void reading_release(struct reading *r);

/*
 * Building a reading field by field (reading_parse() uses it, and every
 * format of bridge/format.h): the one validation path.
 */
struct reading_build {
	struct reading *r;
	char *cur, *end;            /* free room for strings in r->arena */
	char bad_name[48];          /* the first field name refused, for the error */
	bool has_bad_name;
};

/* true if s (n bytes) may be a topic level, a node or a sensor (rules above) */
bool reading_level_ok(const char *s, size_t n);
/* true if s is a field name or tag key: [a-zA-Z][a-zA-Z0-9_]*, <= 128 bytes, not "time" */
bool reading_name_ok(const char *s);

/*
 * Starts r for node and sensor (each must pass reading_level_ok: else -1
 * "node ..."/"sensor ..."), with room for max_fields fields, max_tags tags
 * and str_bytes bytes of their names and values (NULs included). ts is
 * arrival_ms (must be > 0). On error nothing needs releasing.
 */
int reading_build_begin(struct reading_build *b, struct reading *r, const char *node,
			const char *sensor, size_t max_fields, size_t max_tags, size_t str_bytes,
			int64_t arrival_ms, char *err, size_t errlen);
/* Adds a field; a bad name, a non-finite value, a repeat or no room is
 * skipped and counted in ignored_keys. */
void reading_build_field(struct reading_build *b, const char *name, double v);
/* Adds a tag (rules above); else counted in dropped_tags. */
void reading_build_tag(struct reading_build *b, const char *key, const char *value);
/* The payload's time, Unix ms: [1e11, 2^53], else -1 with a reason. */
int reading_build_ts(struct reading_build *b, int64_t ts_ms, char *err, size_t errlen);
/* Ends the reading: at least one field (else -1 "no numeric field ...", and r
 * is released), tags and fields sorted. */
int reading_build_end(struct reading_build *b, char *err, size_t errlen);
/* Gives up on a reading being built. */
void reading_build_abort(struct reading_build *b);

/*
 * The payload checks every JSON format shares (rules above): 1 to
 * READING_MAX_PAYLOAD bytes of UTF-8, no \u0000, one JSON value with only
 * whitespace around it. Returns the cJSON tree (cJSON_Delete() it) or NULL
 * with the reason in err.
 */
struct cJSON;
struct cJSON *reading_json(const void *payload, size_t len, char *err, size_t errlen);
/* reading_json(), and the payload must be a JSON object ("payload is not a JSON object"). */
struct cJSON *reading_json_object(const void *payload, size_t len, char *err, size_t errlen);

#endif
