/*
 * reading.c - topic + JSON payload -> struct reading (see reading.h).
 *
 * The parser is the bridge's front door for data from every publisher on
 * the broker, so it assumes nothing. It applies the rules of reading.h,
 * which are the only ones: whatever it accepts, both outputs store verbatim
 * (the encoders' own checks and sanitisers never fire on a parsed reading;
 * tests/unit/bridge/test_outputs_agree.c checks that). What does not fit is
 * skipped and counted, and only a payload with nothing usable is an error.
 * Tags that would let a publisher pose as another node ("node", "sensor")
 * are dropped.
 */
#include "bridge/reading.h"
#include "bridge/json_arena.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1973-03-03 in ms: anything smaller is almost surely seconds, not ms */
#define TS_MIN_MS 100000000000LL
/* 2^53: beyond it a double no longer holds every integer */
#define TS_MAX_MS 9007199254740992LL
/* a topic level and its NUL */
#define LEVEL_BUF (READING_MAX_VALUE + 1)

/* eight bytes at a time while they are ASCII (nearly always, in a payload) */
static size_t ascii_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		if (w & 0x8080808080808080ull)
			break;
	}
	return i;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = ascii_run(s, n);
	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/*
 * A field name or tag key (reading.h): [a-zA-Z][a-zA-Z0-9_]*, 1 to
 * READING_MAX_NAME bytes, not "time". A leading '_' is reserved by InfluxDB
 * 2 (and "__" by Prometheus), "time" is InfluxDB's timestamp column.
 */
static bool is_name(const char *s)
{
	size_t n = 0;
	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	n = strlen(s);
	return n <= READING_MAX_NAME && strcmp(s, "time") != 0;
}

/*
 * A value that can be a tag/label value in every output: 1 to
 * READING_MAX_VALUE bytes, no control bytes, no backslash (UTF-8 is checked
 * by the caller).
 */
static bool is_safe_value(const char *s, size_t n)
{
	if (n == 0 || n > READING_MAX_VALUE)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
	}
	return true;
}

static bool is_topic_level(const char *s, size_t n)
{
	if (!is_safe_value(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '+' || s[i] == '#' || s[i] == '/')
			return false;
	return true;
}

enum topic_kind reading_topic_split(const char *topic, char *node, size_t node_len,
				    char *sensor, size_t sensor_len)
{
	/* every level, the prefix's too, is 1 to 255 bytes of valid UTF-8 with
	 * no control byte, '\\', '+' or '#'; at least three levels. One pass
	 * over the bytes (it runs three times per message: the format's topic
	 * check, the parse, and the output reading the log back); the UTF-8
	 * check only for a level with a byte over 0x7f */
	size_t levels = 0;
	const char *node_start = NULL, *sensor_start = NULL, *start = topic;
	size_t nl = 0, sl = 0;
	bool high = false;
	for (const char *p = topic;; p++) {
		unsigned char c = (unsigned char)*p;
		if (c != '/' && c != '\0') {
			if (c < 0x20 || c == 0x7f || c == '\\' || c == '+' || c == '#')
				return TOPIC_INVALID;
			high |= c >= 0x80;
			continue;
		}
		size_t n = (size_t)(p - start);
		if (n == 0 || n > READING_MAX_VALUE ||
		    (high && !utf8_valid((const unsigned char *)start, n)))
			return TOPIC_INVALID;
		levels++;
		node_start = sensor_start;
		nl = sl;
		sensor_start = start;
		sl = n;
		if (c == '\0')
			break;
		start = p + 1;
		high = false;
	}
	if (levels < 3)
		return TOPIC_INVALID;
	if (nl >= node_len || sl >= sensor_len)
		return TOPIC_INVALID;
	memcpy(node, node_start, nl);
	node[nl] = '\0';
	memcpy(sensor, sensor_start, sl);
	sensor[sl] = '\0';
	return strcmp(sensor, "status") == 0 ? TOPIC_STATUS : TOPIC_READING;
}

/*
 * Whether a JSON string in the payload holds the escape \u0000, which cJSON
 * would turn into a NUL that silently cuts the key or value short. Tracks
 * only strings and escapes: cJSON checks the rest.
 */
static bool has_nul_escape(const char *s, size_t n)
{
	if (!memchr(s, '\\', n))
		return false; /* no escape at all: the usual payload */
	bool in_string = false;
	for (size_t i = 0; i < n; i++) {
		if (!in_string) {
			in_string = s[i] == '"';
		} else if (s[i] == '"') {
			in_string = false;
		} else if (s[i] == '\\' && i + 1 < n) {
			if (s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0)
				return true;
			i++;
		}
	}
	return false;
}

bool reading_level_ok(const char *s, size_t n)
{
	return n <= READING_MAX_VALUE && is_topic_level(s, n) &&
	       utf8_valid((const unsigned char *)s, n);
}

bool reading_name_ok(const char *s)
{
	return is_name(s);
}

/* Copies s (n bytes) into the arena, NUL-terminated; NULL when it is full. */
static const char *arena_put(struct reading_build *b, const char *s, size_t n)
{
	char *p = b->cur;
	if ((size_t)(b->end - p) < n + 1)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	b->cur = p + n + 1;
	return p;
}

static int cmp_tag(const void *a, const void *b)
{
	return strcmp(((const struct reading_tag *)a)->key, ((const struct reading_tag *)b)->key);
}

static int cmp_field(const void *a, const void *b)
{
	return strcmp(((const struct reading_field *)a)->name,
		      ((const struct reading_field *)b)->name);
}

static bool is_hex16(const char *s)
{
	if (strlen(s) != 16)
		return false;
	for (int i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int reading_build_begin(struct reading_build *b, struct reading *r, const char *node,
			const char *sensor, size_t max_fields, size_t max_tags, size_t str_bytes,
			int64_t arrival_ms, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	memset(b, 0, sizeof(*b));
	b->r = r;
	size_t nl = strlen(node), sl = strlen(sensor);
	if (!reading_level_ok(node, nl) || nl == 0) {
		snprintf(err, errlen, "node '%.40s' is not 1 to %d bytes of UTF-8 without control "
			 "characters, '\\', '+', '#' or '/'", node, READING_MAX_VALUE);
		return -1;
	}
	if (!reading_level_ok(sensor, sl) || sl == 0) {
		snprintf(err, errlen, "sensor '%.40s' is not 1 to %d bytes of UTF-8 without control "
			 "characters, '\\', '+', '#' or '/'", sensor, READING_MAX_VALUE);
		return -1;
	}
	if (arrival_ms <= 0) {
		snprintf(err, errlen, "arrival time is not a positive Unix ms");
		return -1;
	}
	if (max_fields > READING_MAX_FIELDS)
		max_fields = READING_MAX_FIELDS;
	if (max_tags > READING_MAX_TAGS)
		max_tags = READING_MAX_TAGS;
	size_t arrays = max_tags * sizeof(struct reading_tag) +
			max_fields * sizeof(struct reading_field);
	size_t total = arrays + nl + sl + 2 + str_bytes;
	r->arena = malloc(total);
	if (!r->arena) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->tags = (struct reading_tag *)r->arena;
	r->fields = (struct reading_field *)(r->arena + max_tags * sizeof(struct reading_tag));
	r->max_tags = max_tags;
	r->max_fields = max_fields;
	b->cur = r->arena + arrays;
	b->end = r->arena + total;
	r->node = arena_put(b, node, nl);
	r->sensor = arena_put(b, sensor, sl);
	r->ts_ms = arrival_ms;
	return 0;
}

void reading_build_field(struct reading_build *b, const char *name, double v)
{
	struct reading *r = b->r;
	if (!is_name(name) || !isfinite(v) || r->n_fields == r->max_fields) {
		if (!b->has_bad_name && !is_name(name)) {
			snprintf(b->bad_name, sizeof(b->bad_name), "%s", name ? name : "");
			b->has_bad_name = true;
		}
		r->ignored_keys++;
		return;
	}
	if (v == 0)
		v = 0.0;   /* -0 is stored as 0: line protocol cannot write -0 */
	for (size_t i = 0; i < r->n_fields; i++) {
		if (strcmp(r->fields[i].name, name) == 0) {
			r->ignored_keys++;
			return;
		}
	}
	const char *n = arena_put(b, name, strlen(name));
	if (!n) {
		r->ignored_keys++;
		return;
	}
	r->fields[r->n_fields].name = n;
	r->fields[r->n_fields].value = v;
	r->n_fields++;
}

void reading_build_tag(struct reading_build *b, const char *k, const char *v)
{
	struct reading *r = b->r;
	if (!v || !is_name(k) || strcmp(k, "node") == 0 || strcmp(k, "sensor") == 0 ||
	    !is_safe_value(v, strlen(v)) || r->n_tags == r->max_tags) {
		r->dropped_tags++;
		return;
	}
	for (size_t i = 0; i < r->n_tags; i++) {
		if (strcmp(r->tags[i].key, k) == 0) {
			r->dropped_tags++;
			return;
		}
	}
	char *mark = b->cur;
	const char *key = arena_put(b, k, strlen(k));
	const char *val = key ? arena_put(b, v, strlen(v)) : NULL;
	if (!val) {
		b->cur = mark;
		r->dropped_tags++;
		return;
	}
	r->tags[r->n_tags].key = key;
	r->tags[r->n_tags].value = val;
	r->n_tags++;
}

int reading_build_ts(struct reading_build *b, int64_t ts_ms, char *err, size_t errlen)
{
	if (ts_ms <= 0 || ts_ms > TS_MAX_MS) {
		snprintf(err, errlen, "ts must be a positive integer (Unix ms)");
		return -1;
	}
	if (ts_ms < TS_MIN_MS) {
		snprintf(err, errlen, "ts %lld looks like seconds; expected Unix milliseconds",
			 (long long)ts_ms);
		return -1;
	}
	b->r->ts_ms = ts_ms;
	b->r->ts_from_payload = true;
	return 0;
}

void reading_build_abort(struct reading_build *b)
{
	if (b->r) {
		free(b->r->arena);
		b->r->arena = NULL;
	}
}

int reading_build_end(struct reading_build *b, char *err, size_t errlen)
{
	struct reading *r = b->r;
	if (r->n_fields == 0) {
		if (b->has_bad_name)
			snprintf(err, errlen, "no numeric field with a valid name ('%.40s' is not "
				 "[a-zA-Z][a-zA-Z0-9_]*, at most %d bytes, not 'time')",
				 b->bad_name, READING_MAX_NAME);
		else
			snprintf(err, errlen, "no numeric field");
		reading_build_abort(b);
		return -1;
	}
	qsort(r->tags, r->n_tags, sizeof(r->tags[0]), cmp_tag);
	qsort(r->fields, r->n_fields, sizeof(r->fields[0]), cmp_field);
	return 0;
}

struct cJSON *reading_json(const void *payload, size_t len, char *err, size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "empty payload");
		return NULL;
	}
	if (len > READING_MAX_PAYLOAD) {
		snprintf(err, errlen, "payload of %zu bytes exceeds %d", len, READING_MAX_PAYLOAD);
		return NULL;
	}
	if (!utf8_valid(payload, len)) {
		snprintf(err, errlen, "payload is not valid UTF-8");
		return NULL;
	}
	if (has_nul_escape(payload, len)) {
		snprintf(err, errlen, "payload has a \\u0000 escape (a NUL inside a string)");
		return NULL;
	}
	const char *end = NULL;
	json_arena_begin();
	cJSON *root = cJSON_ParseWithLengthOpts(payload, len, &end, 0);
	json_arena_end();
	if (!root) {
		snprintf(err, errlen, "payload is not valid JSON");
		return NULL;
	}
	/* cJSON stops after the first value: anything but spaces after it is junk */
	for (; end && end < (const char *)payload + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
			snprintf(err, errlen, "payload is not valid JSON (data after the object)");
			cJSON_Delete(root);
			return NULL;
		}
	}
	return root;
}

static void parse_tags(struct reading_build *b, const cJSON *tags)
{
	const cJSON *t;
	if (!cJSON_IsObject(tags)) {
		b->r->dropped_tags++;
		return;
	}
	cJSON_ArrayForEach(t, tags)
		reading_build_tag(b, t->string, cJSON_IsString(t) ? t->valuestring : NULL);
}

/*
 * reading_parse's checks before the JSON: a reading topic (node and sensor
 * out of it, into LEVEL_BUF-byte buffers), a payload of 1 to READING_MAX_PAYLOAD
 * bytes, an arrival time. 0 or -1 + err.
 */
static int parse_envelope(const char *topic, size_t len, int64_t arrival_ms, char *node,
			  char *sensor, char *err, size_t errlen)
{
	enum topic_kind kind = reading_topic_split(topic, node, LEVEL_BUF, sensor, LEVEL_BUF);
	if (kind == TOPIC_INVALID) {
		snprintf(err, errlen, "topic is not <prefix>/<node>/<sensor>");
		return -1;
	}
	if (kind == TOPIC_STATUS) {
		snprintf(err, errlen, "status topic is not a reading");
		return -1;
	}
	if (len == 0) {
		snprintf(err, errlen, "empty payload");
		return -1;
	}
	if (len > READING_MAX_PAYLOAD) {
		snprintf(err, errlen, "payload of %zu bytes exceeds %d", len, READING_MAX_PAYLOAD);
		return -1;
	}
	if (arrival_ms <= 0) {
		snprintf(err, errlen, "arrival time is not a positive Unix ms");
		return -1;
	}
	return 0;
}

/* The payload as a JSON object; NULL + err when it is not one. */
cJSON *reading_json_object(const void *payload, size_t len, char *err, size_t errlen)
{
	cJSON *root = reading_json(payload, len, err, errlen);
	if (root && !cJSON_IsObject(root)) {
		snprintf(err, errlen, "payload is not a JSON object");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/*
 * Starts the reading in an arena with room for as many tags and fields as
 * the payload has members (capped), then the strings, which are shorter
 * than the payload. 0 or -1 + err.
 */
static int parse_begin(struct reading_build *b, struct reading *r, const cJSON *root,
		       const char *node, const char *sensor, size_t len, int64_t arrival_ms,
		       char *err, size_t errlen)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(root, "tags");
	int n_members = cJSON_GetArraySize(root);
	int n_tagm = cJSON_IsObject(tags) ? cJSON_GetArraySize(tags) : 0;
	return reading_build_begin(b, r, node, sensor, (size_t)n_members, (size_t)n_tagm,
				   2 * len + 64, arrival_ms, err, errlen);
}

/* "ts": a positive integer of Unix ms, or the reading is refused. 0 or -1 + err. */
static int parse_ts(struct reading_build *b, const cJSON *item, char *err, size_t errlen)
{
	double d = item->valuedouble;
	if (!cJSON_IsNumber(item) || d != floor(d) || d <= 0 || d > TS_MAX_MS) {
		snprintf(err, errlen, "ts must be a positive integer (Unix ms)");
		return -1;
	}
	return reading_build_ts(b, (int64_t)d, err, errlen);
}

/*
 * One member of the payload object: ts, seq, boot, tags, or a field (a
 * number or a bool); anything else is ignored and counted. 0, or -1 + err
 * (a bad ts).
 */
static int parse_member(struct reading_build *b, const cJSON *item, char *err, size_t errlen)
{
	struct reading *r = b->r;
	const char *k = item->string;
	if (strcmp(k, "ts") == 0)
		return parse_ts(b, item, err, errlen);
	if (strcmp(k, "seq") == 0) {
		double d = item->valuedouble;
		if (cJSON_IsNumber(item) && d >= 0 && d == floor(d) && d <= TS_MAX_MS) {
			r->seq = (uint64_t)d;
			r->has_seq = true;
		} else {
			r->ignored_keys++;
		}
	} else if (strcmp(k, "boot") == 0) {
		if (cJSON_IsString(item) && is_hex16(item->valuestring)) {
			memcpy(r->boot, item->valuestring, 17);
			r->has_boot = true;
		} else {
			r->ignored_keys++;
		}
	} else if (strcmp(k, "tags") == 0) {
		parse_tags(b, item);
	} else if (cJSON_IsNumber(item)) {
		reading_build_field(b, k, item->valuedouble);
	} else if (cJSON_IsBool(item)) {
		reading_build_field(b, k, cJSON_IsTrue(item) ? 1.0 : 0.0);
	} else {
		r->ignored_keys++;
	}
	return 0;
}

int reading_parse(struct reading *r, const char *topic, const void *payload, size_t len,
		  int64_t arrival_ms, char *err, size_t errlen)
{
	char node[LEVEL_BUF], sensor[LEVEL_BUF];
	memset(r, 0, sizeof(*r));
	if (parse_envelope(topic, len, arrival_ms, node, sensor, err, errlen) < 0)
		return -1;
	cJSON *root = reading_json_object(payload, len, err, errlen);
	if (!root)
		return -1;
	struct reading_build b;
	if (parse_begin(&b, r, root, node, sensor, len, arrival_ms, err, errlen) < 0) {
		cJSON_Delete(root);
		return -1;
	}
	const cJSON *item;
	cJSON_ArrayForEach(item, root) {
		if (parse_member(&b, item, err, errlen) < 0) {
			reading_build_abort(&b);
			cJSON_Delete(root);
			return -1;
		}
	}
	cJSON_Delete(root);
	return reading_build_end(&b, err, errlen);
}

void reading_release(struct reading *r)
{
	if (!r)
		return;
	free(r->arena);
	r->arena = NULL;
}
