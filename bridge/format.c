/*
 * format.c - the registry of payload formats and what they share (format.h).
 */
#include "bridge/format.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REGISTRY_ENTRY(n) &format_##n,
#define REGISTRY_NAME(n) ", " #n

static const struct format *const registry[] = { FORMATS(REGISTRY_ENTRY) };
static const char registry_names[] = FORMATS(REGISTRY_NAME);

#define N_FORMATS (sizeof(registry) / sizeof(registry[0]))

const struct format *format_find(const char *name)
{
	for (size_t i = 0; i < N_FORMATS; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const char *format_names(void)
{
	return registry_names + 2;
}

int format_spec(const char *item, const struct format **f, const char **filter,
		char *err, size_t errlen)
{
	const char *colon = strchr(item, ':');
	const char *slash = strchr(item, '/');
	*f = &format_sensorwire;
	*filter = item;
	/* "name:filter": a ':' before any '/' (Shelly's "temperature:0" comes after one) */
	if (!colon || (slash && slash < colon))
		return 0;
	char name[32];
	size_t l = (size_t)(colon - item);
	snprintf(name, sizeof(name), "%.*s", (int)(l < 31 ? l : 31), item);
	*f = format_find(name);
	if (!*f || l > 31) {
		snprintf(err, errlen, "'%s': unknown payload format '%s' (known: %s)", item, name,
			 format_names());
		return -1;
	}
	*filter = colon + 1;
	if (!**filter) {
		snprintf(err, errlen, "'%s': no topic filter after '%s:'", item, name);
		return -1;
	}
	return 0;
}

bool format_filter_match(const char *filter, const char *topic)
{
	/* [MQTT-4.7.2-1]: a wildcard first level does not match a $-topic */
	if ((*filter == '+' || *filter == '#') && *topic == '$')
		return false;
	for (;;) {
		size_t fl = strcspn(filter, "/"), tl = strcspn(topic, "/");
		if (fl == 1 && *filter == '#')
			return true;
		if (!(fl == 1 && *filter == '+') && (fl != tl || memcmp(filter, topic, fl) != 0))
			return false;
		filter += fl;
		topic += tl;
		if (!*filter && !*topic)
			return true;
		if (!*topic)   /* "a/#" matches "a" as well */
			return filter[0] == '/' && filter[1] == '#' && !filter[2];
		if (!*filter)
			return false;
		filter++;
		topic++;
	}
}

void format_message(const struct format *f, const char *topic, const void *payload, size_t len,
		    int64_t arrival_ms, struct format_result *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = f->topic(topic, out->node, sizeof(out->node));
	if (out->kind != FORMAT_READINGS && out->kind != FORMAT_STATUS)
		return;
	if (len > READING_MAX_PAYLOAD) {
		out->kind = FORMAT_TOO_LARGE;
		return;
	}
	f->parse(topic, payload, len, arrival_ms, out);
	if (out->kind == FORMAT_READINGS && out->n == 0) {
		out->kind = FORMAT_MALFORMED;
		if (!out->err[0])
			snprintf(out->err, sizeof(out->err), "no reading");
	}
}

void format_result_release(struct format_result *out)
{
	for (size_t i = 0; i < out->n; i++)
		reading_release(&out->r[i]);
	out->n = 0;
}

static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's) */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int format_time(const char *s, int64_t *ms)
{
	if (!s)
		return -1;
	size_t n = strlen(s);
	if (n && strspn(s, "0123456789.") == n) {
		/* Unix seconds (rtl_433 -M time:unix) */
		char *end;
		double v = strtod(s, &end);
		if (*end || v < 1e8 || v > 9e12)
			return -1;
		*ms = (int64_t)(v * 1000 + 0.5);
		return 0;
	}
	int Y, M, D, h, m, sec;
	if (n < 19 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
	    digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != ' ') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' || digits(s + 17, 2, &sec))
		return -1;
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	const char *p = s + 19;
	int frac_ms = 0;
	if (*p == '.') {
		int k = 0;
		for (p++; isdigit((unsigned char)*p); p++, k++)
			if (k < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		if (k == 0)
			return -1;
		for (; k < 3; k++)
			frac_ms *= 10;
	}
	int64_t t;
	if (*p == '\0') {
		/* local time without a zone: the process's TZ (DEVICE_TZ) */
		struct tm tm = { 0 };
		tm.tm_year = Y - 1900;
		tm.tm_mon = M - 1;
		tm.tm_mday = D;
		tm.tm_hour = h;
		tm.tm_min = m;
		tm.tm_sec = sec;
		tm.tm_isdst = -1;
		time_t tt = mktime(&tm);
		if (tt == (time_t)-1)
			return -1;
		t = (int64_t)tt;
	} else {
		int off = 0;
		if (*p == 'Z' && !p[1]) {
			off = 0;
		} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
			int oh, om;
			const char *q = p + 1;
			if (digits(q, 2, &oh))
				return -1;
			q += 2;
			if (*q == ':')
				q++;
			if (digits(q, 2, &om) || q[2] || oh > 14 || om > 59)
				return -1;
			off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		} else {
			return -1;
		}
		t = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off;
	}
	*ms = t * 1000 + frac_ms;
	return 0;
}

void format_sanitise(const char *in, char *out, size_t n)
{
	size_t j = 0;
	for (; in && *in && j + 1 < n; in++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*in);
		out[j++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
			   c == '-' ? (char)c : '_';
	}
	if (n)
		out[j] = '\0';
}

int format_levels(const char *topic, const char **lv, size_t *ln, int max)
{
	int k = 0;
	for (const char *p = topic;;) {
		size_t l = strcspn(p, "/");
		if (k == max || l == 0 || !reading_level_ok(p, l))
			return -1;
		lv[k] = p;
		ln[k++] = l;
		if (!p[l])
			return k;
		p += l + 1;
	}
}

void format_level_copy(const char *s, size_t l, char *buf, size_t n)
{
	if (l >= n)
		l = n - 1;
	memcpy(buf, s, l);
	buf[l] = '\0';
}

int format_filter_depth(const char *filter)
{
	int n = 1;
	for (const char *p = filter; *p; p++)
		n += *p == '/';
	return n;
}

bool format_filter_last_is(const char *filter, const char *w)
{
	const char *last = strrchr(filter, '/');
	return strcmp(last ? last + 1 : filter, w) == 0;
}

int format_filter_derive(const char *filter, int keep, int pad, const char *tail, char *out,
			 size_t len)
{
	int depth = format_filter_depth(filter);
	if (keep < 0)
		keep += depth;
	if (keep > depth)
		keep = depth;
	if (keep < 0)
		keep = 0;
	size_t n = 0;
	const char *p = filter;
	for (int i = 0; i < keep; i++) {
		size_t l = strcspn(p, "/");
		if (n + l + 2 > len)
			return 0;
		memcpy(out + n, p, l);
		n += l;
		out[n++] = '/';
		p += l + (p[l] == '/');
	}
	for (int i = keep; i < pad; i++) {
		if (n + 3 > len)
			return 0;
		memcpy(out + n, "+/", 2);
		n += 2;
	}
	size_t tl = strlen(tail);
	if (n + tl + 1 > len)
		return 0;
	memcpy(out + n, tail, tl + 1);
	return 1;
}

static bool word(const char *p, size_t len, const char *w)
{
	size_t l = strlen(w);
	if (len != l)
		return false;
	for (size_t i = 0; i < l; i++)
		if (tolower((unsigned char)p[i]) != w[i])
			return false;
	return true;
}

int format_availability(const void *payload, size_t len, bool *online)
{
	const char *p = payload;
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	while (len && (*p == ' ' || *p == '\n')) {
		p++;
		len--;
	}
	if (word(p, len, "online") || word(p, len, "true")) {
		*online = true;
		return 0;
	}
	if (word(p, len, "offline") || word(p, len, "false")) {
		*online = false;
		return 0;
	}
	/* Zigbee2MQTT's JSON form, {"state":"online"} */
	if (len && *p == '{') {
		char err[96];
		cJSON *root = reading_json(p, len, err, sizeof(err));
		const cJSON *st = cJSON_IsObject(root) ?
				  cJSON_GetObjectItemCaseSensitive(root, "state") : NULL;
		int rc = -1;
		if (cJSON_IsString(st) && (strcmp(st->valuestring, "online") == 0 ||
					   strcmp(st->valuestring, "offline") == 0)) {
			*online = st->valuestring[1] == 'n';
			rc = 0;
		}
		cJSON_Delete(root);
		return rc;
	}
	return -1;
}
