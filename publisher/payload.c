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
#include <stddef.h>
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

/* 10^0 .. 10^17: exact as doubles and as integers */
static const double pow10_d[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
				  1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17 };
static const uint64_t pow10_u[] = { 1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull,
	1000000ull, 10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
	100000000000ull, 1000000000000ull, 10000000000000ull, 100000000000000ull,
	1000000000000000ull, 10000000000000000ull, 100000000000000000ull };

/* u in decimal into p (at least 20 bytes); returns the length */
static size_t put_u64(char *p, uint64_t u)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/*
 * The common case without printf (its float formatting and the strtod
 * checks took about a fifth of a sensor thread's CPU): a number that is an
 * integer below 1e15, or has a short fixed-point form (21.4, -273.15, 0.05).
 * Writes what the
 * %.0f / shortest-%g search below would write, or returns 0 to leave the
 * number to it. Why it is the same string, for |v| >= 1e-4 and
 * |v| * 10^d < 2^52: a decimal c / 10^d with c < 2^52 reads back as
 * (double)c / 10^d, both exact, divided with correct rounding, which is what
 * strtod returns for it; decimals of d places are then further apart than
 * doubles are near v, so at most one of them reads back as v, and that is
 * the one %g prints; the first d (fewest digits) that has one is %g's
 * shortest precision; and %g writes such a number without an exponent
 * (exponent >= -4 and below the precision) and without trailing zeros.
 */
static int format_fast(char *out, double v)
{
	char *p = out;
	double a = fabs(v);
	if (signbit(v))
		*p++ = '-';
	if (v == trunc(v)) {
		if (a >= 1e15)
			return 0;
		return (int)(p - out + (ptrdiff_t)put_u64(p, (uint64_t)a));
	}
	if (a < 1e-4)
		return 0;
	for (int d = 1; d < (int)(sizeof(pow10_d) / sizeof(pow10_d[0])); d++) {
		double x = a * pow10_d[d];
		if (x >= 4503599627370496.0)    /* 2^52 */
			return 0;
		uint64_t s = (uint64_t)llround(x);
		for (int k = 0; k < 3; k++) {
			uint64_t c = k == 0 ? s : k == 1 ? s + 1 : s - 1;
			if ((k == 2 && s == 0) || (double)c / pow10_d[d] != a)
				continue;
			p += put_u64(p, c / pow10_u[d]);
			*p++ = '.';
			uint64_t frac = c % pow10_u[d];
			for (int i = d - 1; i >= 0; i--) {
				p[i] = (char)('0' + frac % 10);
				frac /= 10;
			}
			return (int)(p - out + d);
		}
	}
	return 0;
}

int payload_format_number(char *buf, size_t cap, double v)
{
	int n = 0;
	char fast[48];
	if (!isfinite(v))
		return -EDOM;
	if ((n = format_fast(fast, v)) > 0) {
		if ((size_t)n >= cap)
			return -ENOSPC;
		memcpy(buf, fast, (size_t)n);
		buf[n] = '\0';
		return n;
	}
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

	/* ts and seq without printf, as the numbers (format_fast) */
	sbuf_put(&o, "{\"ts\":", 6);
	if (m->ts_ms < 0)
		sbuf_put(&o, "-", 1);
	sbuf_put(&o, num, put_u64(num, m->ts_ms < 0 ? -(uint64_t)m->ts_ms : (uint64_t)m->ts_ms));
	sbuf_put(&o, ",\"seq\":", 7);
	sbuf_put(&o, num, put_u64(num, m->seq));
	sbuf_put(&o, ",\"boot\":\"", 9);
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
