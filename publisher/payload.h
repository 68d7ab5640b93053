/*
 * payload.h - the JSON payload of one reading (docs/contract.md#payload),
 * and the small parsers that feed it: TAGS and topic levels.
 *
 *   {"ts":1732276800123,"seq":42,"boot":"9f3a0c1e5b7d2a64",
 *    "temperature_celsius":21.4,"humidity_percent":48,"tags":{"location":"desk"}}
 *
 * Everything here is pure: no I/O, no clocks, no globals the caller can see.
 * The output is compact and byte-for-byte stable: keys in the order ts, seq,
 * boot, the driver's fields in driver order, tags sorted by key; numbers in
 * the shortest form that reads back to the same double, always with a '.'
 * (C locale), whatever setlocale() the process made.
 */
#ifndef SW_PAYLOAD_H
#define SW_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publisher/sensor.h"

/* Longest payload the publisher builds (4 fields, 14 tags of 64+128 bytes). */
#define PAYLOAD_MAX 4096
/* The bridge keeps 16 tags and adds node and sensor itself. */
#define PAYLOAD_MAX_TAGS 14
#define PAYLOAD_TAG_KEY_MAX 64
#define PAYLOAD_TAG_VALUE_MAX 128
/* One topic level (node or sensor name). */
#define PAYLOAD_LEVEL_MAX 64

struct payload_tag {
	char key[PAYLOAD_TAG_KEY_MAX];
	char value[PAYLOAD_TAG_VALUE_MAX];
};

/* Parsed TAGS, sorted by key. Plain value type: nothing to free. */
struct payload_tags {
	size_t n;
	struct payload_tag t[PAYLOAD_MAX_TAGS];
};

/* What identifies one reading besides its values. */
struct payload_meta {
	int64_t ts_ms;              /* wall clock when the sensor was read */
	uint64_t seq;               /* per sensor, from 1 */
	const char *boot;           /* 16 lowercase hex digits */
};

/*
 * Parses TAGS ("location=desk,room=lab 1"): comma-separated key=value,
 * keys [a-zA-Z_][a-zA-Z0-9_]*, not "node" or "sensor" (the bridge takes
 * those from the topic), no duplicates, values non-empty. Blank parts and
 * blanks around keys and values are ignored. NULL or "" gives no tags.
 * Returns 0, or -EINVAL with a message naming the bad part in err.
 */
int payload_tags_parse(const char *spec, struct payload_tags *out, char *err, size_t errlen);

/*
 * Encodes one reading into buf (NUL-terminated). Returns the length, or
 * -ENOSPC (buf too small), -EINVAL (a field name that is not
 * [a-zA-Z_][a-zA-Z0-9_]* or is ts/seq/boot/tags, a boot that is not 16 hex
 * digits) or -EDOM (a NaN or infinite value: JSON has no spelling for it).
 * tags may be NULL.
 */
int payload_encode(char *buf, size_t cap, const struct payload_meta *m,
		   const struct sensor_reading *r, const struct payload_tags *tags);

/*
 * Writes v in the shortest decimal form that strtod() reads back exactly
 * (integers below 1e15 without exponent), in the C locale. Returns the
 * length, -ENOSPC or -EDOM.
 */
int payload_format_number(char *buf, size_t cap, double v);

/*
 * True when s can be one MQTT topic level naming a node or sensor: 1..64
 * bytes of [A-Za-z0-9_.-] (no '/', '+', '#', blanks or control characters,
 * nothing the bridge or a shell would trip over). Callers also refuse the
 * sensor name "status".
 */
bool payload_level_ok(const char *s);

/* Turns 8 random bytes into the 16 lowercase hex digits of a boot id. */
void payload_boot_id(char out[17], const uint8_t rnd[8]);

#endif
