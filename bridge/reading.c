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

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1973-03-03 in ms: anything smaller is almost surely seconds, not ms */
#define TS_MIN_MS 100000000000LL
/* 2^53: beyond it a double no longer holds every integer */
#define TS_MAX_MS 9007199254740992LL

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
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
	 * no control byte, '\\', '+' or '#'; at least three levels */
	size_t levels = 0;
	const char *node_start = NULL, *sensor_start = NULL;
	size_t nl = 0, sl = 0;
	for (const char *p = topic;;) {
		size_t n = strcspn(p, "/");
		if (n > READING_MAX_VALUE || !is_topic_level(p, n) ||
		    !utf8_valid((const unsigned char *)p, n))
			return TOPIC_INVALID;
		levels++;
		node_start = sensor_start;
		nl = sl;
		sensor_start = p;
		sl = n;
		if (p[n] == '\0')
			break;
		p += n + 1;
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

static const char *arena_put(char **cur, const char *s, size_t n)
{
	char *p = *cur;
	memcpy(p, s, n);
	p[n] = '\0';
	*cur = p + n + 1;
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

static void parse_tags(struct reading *r, const cJSON *tags, char **cur)
{
	const cJSON *t;
	if (!cJSON_IsObject(tags)) {
		r->dropped_tags++;
		return;
	}
	cJSON_ArrayForEach(t, tags) {
		const char *k = t->string;
		if (!cJSON_IsString(t) || !is_name(k) || strcmp(k, "node") == 0 || strcmp(k, "sensor") == 0 ||
		    !is_safe_value(t->valuestring, strlen(t->valuestring)) ||
		    r->n_tags == r->max_tags) {
			r->dropped_tags++;
			continue;
		}
		bool dup = false;
		for (size_t i = 0; i < r->n_tags; i++)
			if (strcmp(r->tags[i].key, k) == 0)
				dup = true;
		if (dup) {
			r->dropped_tags++;
			continue;
		}
		r->tags[r->n_tags].key = arena_put(cur, k, strlen(k));
		r->tags[r->n_tags].value = arena_put(cur, t->valuestring, strlen(t->valuestring));
		r->n_tags++;
	}
}

static void add_field(struct reading *r, const char *name, double v, char **cur,
		      const char **bad_name)
{
	if (!is_name(name) || !isfinite(v) || r->n_fields == r->max_fields) {
		if (!*bad_name && !is_name(name))
			*bad_name = name;
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
	r->fields[r->n_fields].name = arena_put(cur, name, strlen(name));
	r->fields[r->n_fields].value = v;
	r->n_fields++;
}

int reading_parse(struct reading *r, const char *topic, const void *payload, size_t len,
		  int64_t arrival_ms, char *err, size_t errlen)
{
	char node[256], sensor[256];
	memset(r, 0, sizeof(*r));
	enum topic_kind kind = reading_topic_split(topic, node, sizeof(node), sensor,
						   sizeof(sensor));
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
	if (!utf8_valid(payload, len)) {
		snprintf(err, errlen, "payload is not valid UTF-8");
		return -1;
	}
	if (has_nul_escape(payload, len)) {
		snprintf(err, errlen, "payload has a \\u0000 escape (a NUL inside a string)");
		return -1;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(payload, len, &end, 0);
	if (!root) {
		snprintf(err, errlen, "payload is not valid JSON");
		return -1;
	}
	/* cJSON stops after the first value: anything but spaces after it is junk */
	for (; end && end < (const char *)payload + len; end++) {
		if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
			snprintf(err, errlen, "payload is not valid JSON (data after the object)");
			cJSON_Delete(root);
			return -1;
		}
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "payload is not a JSON object");
		goto err_json;
	}
	/* the arena: room for as many tags and fields as the payload has
	 * members (capped), then the strings, which are shorter than the payload */
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(root, "tags");
	int n_members = cJSON_GetArraySize(root);
	int n_tagm = cJSON_IsObject(tags) ? cJSON_GetArraySize(tags) : 0;
	size_t max_fields = n_members < READING_MAX_FIELDS ? (size_t)n_members : READING_MAX_FIELDS;
	size_t max_tags = n_tagm < READING_MAX_TAGS ? (size_t)n_tagm : READING_MAX_TAGS;
	size_t arrays = max_tags * sizeof(struct reading_tag) +
			max_fields * sizeof(struct reading_field);
	r->arena = malloc(arrays + strlen(topic) + 2 * len + 64);
	if (!r->arena) {
		snprintf(err, errlen, "out of memory");
		goto err_json;
	}
	r->tags = (struct reading_tag *)r->arena;
	r->fields = (struct reading_field *)(r->arena + max_tags * sizeof(struct reading_tag));
	r->max_tags = max_tags;
	r->max_fields = max_fields;
	char *cur = r->arena + arrays;
	r->node = arena_put(&cur, node, strlen(node));
	r->sensor = arena_put(&cur, sensor, strlen(sensor));
	r->ts_ms = arrival_ms;

	const cJSON *item;
	const char *bad_name = NULL;
	cJSON_ArrayForEach(item, root) {
		const char *k = item->string;
		if (strcmp(k, "ts") == 0) {
			double d = item->valuedouble;
			if (!cJSON_IsNumber(item) || d != floor(d) || d <= 0 || d > TS_MAX_MS) {
				snprintf(err, errlen, "ts must be a positive integer (Unix ms)");
				goto err_arena;
			}
			if (d < TS_MIN_MS) {
				snprintf(err, errlen, "ts %.0f looks like seconds; expected Unix milliseconds", d);
				goto err_arena;
			}
			r->ts_ms = (int64_t)d;
			r->ts_from_payload = true;
		} else if (strcmp(k, "seq") == 0) {
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
			parse_tags(r, item, &cur);
		} else if (cJSON_IsNumber(item)) {
			add_field(r, k, item->valuedouble, &cur, &bad_name);
		} else if (cJSON_IsBool(item)) {
			add_field(r, k, cJSON_IsTrue(item) ? 1.0 : 0.0, &cur, &bad_name);
		} else {
			r->ignored_keys++;
		}
	}
	if (r->n_fields == 0) {
		if (bad_name)
			snprintf(err, errlen, "no numeric field with a valid name ('%.40s' is not "
				 "[a-zA-Z][a-zA-Z0-9_]*, at most %d bytes, not 'time')",
				 bad_name, READING_MAX_NAME);
		else
			snprintf(err, errlen, "no numeric field");
		goto err_arena;
	}
	qsort(r->tags, r->n_tags, sizeof(r->tags[0]), cmp_tag);
	qsort(r->fields, r->n_fields, sizeof(r->fields[0]), cmp_field);
	cJSON_Delete(root);
	return 0;

err_arena:
	free(r->arena);
	r->arena = NULL;
err_json:
	cJSON_Delete(root);
	return -1;
}

void reading_release(struct reading *r)
{
	if (!r)
		return;
	free(r->arena);
	r->arena = NULL;
}
