/*
 * reading.c - topic + JSON payload -> struct reading (see reading.h).
 *
 * The parser is the bridge's front door for data from every publisher on
 * the broker, so it assumes nothing: the payload must be valid UTF-8 and a
 * JSON object; "ts" must be integral milliseconds; tags must be strings with
 * label-safe keys; fields must be finite numbers (or booleans) with
 * [a-zA-Z_][a-zA-Z0-9_]* names. What does not fit is skipped and counted,
 * and only a payload with nothing usable is an error. Tags that would let a
 * publisher pose as another node ("node", "sensor") are dropped.
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

static bool is_ident(const char *s)
{
	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* A value that can be a tag/label value in every output: no control bytes, no backslash. */
static bool is_safe_value(const char *s, size_t n)
{
	if (n == 0)
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
	const char *last = strrchr(topic, '/');
	if (!last || last == topic)
		return TOPIC_INVALID;
	const char *prev = last - 1;
	while (prev > topic && *prev != '/')
		prev--;
	const char *node_start = *prev == '/' ? prev + 1 : prev;
	/* a reading topic has at least <prefix>/<node>/<sensor> */
	if (*prev != '/')
		return TOPIC_INVALID;
	size_t nl = (size_t)(last - node_start);
	size_t sl = strlen(last + 1);
	if (!is_topic_level(node_start, nl) || !is_topic_level(last + 1, sl))
		return TOPIC_INVALID;
	if (nl >= node_len || sl >= sensor_len)
		return TOPIC_INVALID;
	memcpy(node, node_start, nl);
	node[nl] = '\0';
	memcpy(sensor, last + 1, sl + 1);
	return strcmp(sensor, "status") == 0 ? TOPIC_STATUS : TOPIC_READING;
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
		if (!cJSON_IsString(t) || !is_ident(k) || strncmp(k, "__", 2) == 0 ||
		    strcmp(k, "node") == 0 || strcmp(k, "sensor") == 0 ||
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

static void add_field(struct reading *r, const char *name, double v, char **cur)
{
	if (!is_ident(name) || !isfinite(v) || r->n_fields == r->max_fields) {
		r->ignored_keys++;
		return;
	}
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
	if (!utf8_valid(payload, len)) {
		snprintf(err, errlen, "payload is not valid UTF-8");
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
			add_field(r, k, item->valuedouble, &cur);
		} else if (cJSON_IsBool(item)) {
			add_field(r, k, cJSON_IsTrue(item) ? 1.0 : 0.0, &cur);
		} else {
			r->ignored_keys++;
		}
	}
	if (r->n_fields == 0) {
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
