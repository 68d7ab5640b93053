/*
 * payload.c - the reading payload encoder and its input parsers (see
 * payload.h). Pure: the only state is a "C" locale object made once, so
 * that number formatting ignores the process locale (a German LC_NUMERIC
 * would otherwise print 21,4 and break every JSON parser downstream).
 */
#include "publisher/sbuf.h"
#include "publisher/payload.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static bool ident_ok(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

bool payload_level_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > PAYLOAD_LEVEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!(isalnum(ch) || ch == '_' || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

void payload_boot_id(char out[17], const uint8_t rnd[8])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	out[16] = '\0';
}

static bool boot_ok(const char *b)
{
	if (!b || strlen(b) != 16)
		return false;
	for (; *b; b++)
		if (!((*b >= '0' && *b <= '9') || (*b >= 'a' && *b <= 'f')))
			return false;
	return true;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int tag_cmp(const void *a, const void *b)
{
	const struct payload_tag *x = a, *y = b;
	return strcmp(x->key, y->key);
}

int payload_tags_parse(const char *spec, struct payload_tags *out, char *err, size_t errlen)
{
	char buf[PAYLOAD_MAX_TAGS * (PAYLOAD_TAG_KEY_MAX + PAYLOAD_TAG_VALUE_MAX + 4)];
	out->n = 0;
	if (!spec || !*spec)
		return 0;
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "TAGS: longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, spec);
	int part = 0;
	char *save = NULL;
	/* strtok_r would silently merge ",," - harmless here: blank parts are skipped */
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		part++;
		char *kv = trim(p);
		if (!*kv)
			continue;
		char *eq = strchr(kv, '=');
		if (!eq) {
			snprintf(err, errlen, "TAGS: part %d '%s' is not key=value", part, kv);
			return -EINVAL;
		}
		*eq = '\0';
		char *k = trim(kv), *v = trim(eq + 1);
		if (!ident_ok(k)) {
			snprintf(err, errlen, "TAGS: part %d: key '%s' must match "
				 "[a-zA-Z_][a-zA-Z0-9_]*", part, k);
			return -EINVAL;
		}
		if (strcmp(k, "node") == 0 || strcmp(k, "sensor") == 0) {
			snprintf(err, errlen, "TAGS: part %d: '%s' is taken from the topic and "
				 "cannot be a tag", part, k);
			return -EINVAL;
		}
		if (!*v) {
			snprintf(err, errlen, "TAGS: part %d: tag '%s' has an empty value", part, k);
			return -EINVAL;
		}
		if (strlen(k) >= PAYLOAD_TAG_KEY_MAX || strlen(v) >= PAYLOAD_TAG_VALUE_MAX) {
			snprintf(err, errlen, "TAGS: part %d: tag '%.32s' is too long (key < %d, "
				 "value < %d bytes)", part, k, PAYLOAD_TAG_KEY_MAX,
				 PAYLOAD_TAG_VALUE_MAX);
			return -EINVAL;
		}
		for (size_t i = 0; i < out->n; i++) {
			if (strcmp(out->t[i].key, k) == 0) {
				snprintf(err, errlen, "TAGS: tag '%s' is given twice", k);
				return -EINVAL;
			}
		}
		if (out->n == PAYLOAD_MAX_TAGS) {
			snprintf(err, errlen, "TAGS: more than %d tags", PAYLOAD_MAX_TAGS);
			return -EINVAL;
		}
		strcpy(out->t[out->n].key, k);
		strcpy(out->t[out->n].value, v);
		out->n++;
	}
	qsort(out->t, out->n, sizeof(out->t[0]), tag_cmp);
	return 0;
}

int payload_format_number(char *buf, size_t cap, double v)
{
	int n = 0;
	if (!isfinite(v))
		return -EDOM;
	pthread_once(&c_locale_once, c_locale_init);
	locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
	if (v == trunc(v) && fabs(v) < 1e15) {
		n = snprintf(buf, cap, "%.0f", v);
		/* -0 prints as "-0": keep it, it reads back the same */
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			n = snprintf(buf, cap, "%.*g", prec, v);
			if (n < 0 || (size_t)n >= cap)
				break;
			if (strtod(buf, NULL) == v)
				break;
		}
	}
	if (old)
		uselocale(old);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

static bool reserved_key(const char *k)
{
	return !strcmp(k, "ts") || !strcmp(k, "seq") || !strcmp(k, "boot") || !strcmp(k, "tags");
}

int payload_encode(char *buf, size_t cap, const struct payload_meta *m,
		   const struct sensor_reading *r, const struct payload_tags *tags)
{
	struct sbuf o = { .p = buf, .cap = cap };
	char num[64];

	if (cap == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if (!boot_ok(m->boot) || r->n > SENSOR_MAX_FIELDS)
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++) {
		if (!ident_ok(r->f[i].name) || reserved_key(r->f[i].name))
			return -EINVAL;
		if (!isfinite(r->f[i].value))
			return -EDOM;
	}

	snprintf(num, sizeof(num), "{\"ts\":%" PRId64 ",\"seq\":%" PRIu64 ",\"boot\":\"",
		 m->ts_ms, m->seq);
	sbuf_puts(&o, num);
	sbuf_puts(&o, m->boot);
	sbuf_put(&o, "\"", 1);
	for (size_t i = 0; i < r->n; i++) {
		sbuf_put(&o, ",\"", 2);
		sbuf_puts(&o, r->f[i].name);
		sbuf_put(&o, "\":", 2);
		int n = payload_format_number(num, sizeof(num), r->f[i].value);
		if (n < 0)
			return n;
		sbuf_put(&o, num, (size_t)n);
	}
	if (tags && tags->n) {
		sbuf_puts(&o, ",\"tags\":{");
		for (size_t i = 0; i < tags->n; i++) {
			if (i)
				sbuf_put(&o, ",", 1);
			sbuf_json_string(&o, tags->t[i].key);
			sbuf_put(&o, ":", 1);
			sbuf_json_string(&o, tags->t[i].value);
		}
		sbuf_put(&o, "}", 1);
	}
	sbuf_put(&o, "}", 1);
	if (o.full) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)o.len;
}
