/*
 * lineproto.c - InfluxDB line protocol encoder (see lineproto.h for the
 * rules). Validation runs before anything is written, and any failure while
 * writing rolls the buffer back to where the line began.
 */
#include "bridge/sinks/lineproto.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LP_MIN_CAP 4096

void lp_buf_init(struct lp_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void lp_buf_clear(struct lp_buf *b)
{
	b->len = 0;
	b->lines = 0;
	if (b->data)
		b->data[0] = '\0';
}

void lp_buf_release(struct lp_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = b->lines = 0;
}

/* Makes room for n more bytes plus the terminating NUL. */
static int reserve(struct lp_buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return -ENOBUFS;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : LP_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	char *d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

static int put(struct lp_buf *b, const char *s, size_t n)
{
	int rc = reserve(b, n);
	if (rc < 0)
		return rc;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int putc_(struct lp_buf *b, char c)
{
	return put(b, &c, 1);
}

/* Writes s with a backslash before each byte in special. */
static int put_escaped(struct lp_buf *b, const char *s, const char *special)
{
	int rc = 0;
	while (*s && rc == 0) {
		size_t run = strcspn(s, special);
		rc = put(b, s, run);
		s += run;
		if (*s && rc == 0) {
			char esc[2] = { '\\', *s++ };
			rc = put(b, esc, 2);
		}
	}
	return rc;
}

/*
 * The C locale object used while formatting and parsing floats, so a
 * process running under e.g. de_DE never writes "21,4". Created once; it is
 * a read-only constant, not mutable state.
 */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

int lp_format_float(double v, char *out, size_t len)
{
	static const int precisions[] = { 15, 16, 17 };
	locale_t old = (locale_t)0;
	int n = -EINVAL;

	if (!isfinite(v) || len < LP_FLOAT_LEN)
		return -EINVAL;
	pthread_once(&c_locale_once, c_locale_init);
	if (c_locale)
		old = uselocale(c_locale);
	for (size_t i = 0; i < sizeof(precisions) / sizeof(precisions[0]); i++) {
		n = snprintf(out, len, "%.*g", precisions[i], v);
		if (strtod(out, NULL) == v)
			break;
	}
	if (c_locale)
		uselocale(old);
	/* belt and braces if no C locale object could be made */
	for (char *p = out; *p; p++)
		if (*p == ',')
			*p = '.';
	if (strcmp(out, "-0") == 0)
		n = snprintf(out, len, "0");
	return n;
}

static bool has_forbidden_byte(const char *s, bool allow_tab_backslash)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == 0x7f)
			return true;
		if (*p < 0x20 && !(allow_tab_backslash && *p == '\t'))
			return true;
		if (*p == '\\' && !allow_tab_backslash)
			return true;
	}
	return false;
}

static int reject(char *err, size_t errlen, const char *what, const char *name,
		  const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s '%.64s' %s", what, name ? name : "", why);
	return -EINVAL;
}

/* Checks a measurement, tag key or field key. */
static int check_name(const char *what, const char *s, char *err, size_t errlen)
{
	if (!s || !*s)
		return reject(err, errlen, what, "", "is empty");
	if (has_forbidden_byte(s, false))
		return reject(err, errlen, what, s, "contains a control byte or backslash");
	if (s[0] == '_')
		return reject(err, errlen, what, s, "starts with '_' (reserved)");
	return 0;
}

static int cmp_tag(const void *a, const void *b)
{
	const struct lp_tag *x = *(const struct lp_tag *const *)a;
	const struct lp_tag *y = *(const struct lp_tag *const *)b;
	return strcmp(x->key, y->key);   /* compares as unsigned char: memcmp order */
}

static int check_line(const char *measurement, const struct lp_tag *tags, size_t n_tags,
		      const struct lp_field *fields, size_t n_fields,
		      const struct lp_tag **sorted, size_t *n_sorted, char *err, size_t errlen)
{
	int rc;

	if ((rc = check_name("measurement", measurement, err, errlen)) < 0)
		return rc;
	if (measurement[0] == '#')
		return reject(err, errlen, "measurement", measurement, "starts with '#'");
	if (n_tags > LP_MAX_TAGS)
		return reject(err, errlen, "line", measurement, "has too many tags");

	*n_sorted = 0;
	for (size_t i = 0; i < n_tags; i++) {
		if ((rc = check_name("tag key", tags[i].key, err, errlen)) < 0)
			return rc;
		if (!tags[i].value || !*tags[i].value)
			continue;   /* E6: omit empty values */
		if (has_forbidden_byte(tags[i].value, false))
			return reject(err, errlen, "tag value of", tags[i].key,
				      "contains a control byte or backslash");
		sorted[(*n_sorted)++] = &tags[i];
	}
	qsort(sorted, *n_sorted, sizeof(*sorted), cmp_tag);
	for (size_t i = 1; i < *n_sorted; i++)
		if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0)
			return reject(err, errlen, "tag key", sorted[i]->key, "is repeated");

	if (n_fields == 0)
		return reject(err, errlen, "line", measurement, "has no fields");
	for (size_t i = 0; i < n_fields; i++) {
		const struct lp_field *f = &fields[i];
		if ((rc = check_name("field key", f->key, err, errlen)) < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(fields[j].key, f->key) == 0)
				return reject(err, errlen, "field key", f->key, "is repeated");
		switch (f->type) {
		case LP_FLOAT:
			if (!isfinite(f->v.f))
				return reject(err, errlen, "field", f->key,
					      "is not a finite number");
			break;
		case LP_STRING:
			if (!f->v.s)
				return reject(err, errlen, "field", f->key, "has no value");
			if (strlen(f->v.s) > LP_MAX_STRING)
				return reject(err, errlen, "field", f->key,
					      "is longer than 64 KiB");
			if (has_forbidden_byte(f->v.s, true))
				return reject(err, errlen, "field", f->key,
					      "contains a newline or control byte");
			break;
		case LP_INT:
		case LP_UINT:
		case LP_BOOL:
			break;
		default:
			return reject(err, errlen, "field", f->key, "has an unknown type");
		}
	}
	return 0;
}

static int put_value(struct lp_buf *b, const struct lp_field *f)
{
	char num[LP_FLOAT_LEN];
	int n;

	switch (f->type) {
	case LP_FLOAT:
		n = lp_format_float(f->v.f, num, sizeof(num));
		return n < 0 ? n : put(b, num, (size_t)n);
	case LP_INT:
		n = snprintf(num, sizeof(num), "%" PRId64 "i", f->v.i);
		return put(b, num, (size_t)n);
	case LP_UINT:
		n = snprintf(num, sizeof(num), "%" PRIu64 "u", f->v.u);
		return put(b, num, (size_t)n);
	case LP_BOOL:
		return f->v.b ? put(b, "true", 4) : put(b, "false", 5);
	case LP_STRING: {
		int rc = putc_(b, '"');
		if (rc == 0)
			rc = put_escaped(b, f->v.s, "\"\\");
		return rc ? rc : putc_(b, '"');
	}
	}
	return -EINVAL;
}

int lp_append(struct lp_buf *b, const char *measurement,
	      const struct lp_tag *tags, size_t n_tags,
	      const struct lp_field *fields, size_t n_fields,
	      bool has_ts, int64_t ts, char *err, size_t errlen)
{
	const struct lp_tag *sorted[LP_MAX_TAGS];
	size_t n_sorted, start = b->len;
	int rc;

	rc = check_line(measurement, tags, n_tags, fields, n_fields, sorted, &n_sorted,
			err, errlen);
	if (rc < 0)
		return rc;

	rc = put_escaped(b, measurement, ", ");
	for (size_t i = 0; i < n_sorted && rc == 0; i++) {
		rc = putc_(b, ',');
		if (rc == 0)
			rc = put_escaped(b, sorted[i]->key, ",= ");
		if (rc == 0)
			rc = putc_(b, '=');
		if (rc == 0)
			rc = put_escaped(b, sorted[i]->value, ",= ");
	}
	for (size_t i = 0; i < n_fields && rc == 0; i++) {
		rc = putc_(b, i == 0 ? ' ' : ',');
		if (rc == 0)
			rc = put_escaped(b, fields[i].key, ",= ");
		if (rc == 0)
			rc = putc_(b, '=');
		if (rc == 0)
			rc = put_value(b, &fields[i]);
	}
	if (rc == 0 && has_ts) {
		char num[32];
		int n = snprintf(num, sizeof(num), " %" PRId64, ts);
		rc = put(b, num, (size_t)n);
	}
	if (rc == 0)
		rc = putc_(b, '\n');
	if (rc < 0) {
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
		if (err && errlen)
			snprintf(err, errlen, "%s", rc == -ENOBUFS ? "line does not fit the buffer" :
				 "out of memory");
		return rc;
	}
	b->lines++;
	return 0;
}

int lp_append_reading(struct lp_buf *b, const char *measurement, const struct reading *r,
		      char *err, size_t errlen)
{
	struct lp_tag tags[READING_MAX_TAGS + 2];
	struct lp_field fields[READING_MAX_FIELDS];
	size_t nt = 0;

	if (r->n_tags > READING_MAX_TAGS || r->n_fields > READING_MAX_FIELDS)
		return reject(err, errlen, "reading of", r->sensor, "has too many tags or fields");
	tags[nt++] = (struct lp_tag){ .key = "node", .value = r->node };
	tags[nt++] = (struct lp_tag){ .key = "sensor", .value = r->sensor };
	for (size_t i = 0; i < r->n_tags; i++) {
		const char *k = r->tags[i].key;
		if (k && (strcmp(k, "node") == 0 || strcmp(k, "sensor") == 0))
			continue;
		tags[nt++] = (struct lp_tag){ .key = k, .value = r->tags[i].value };
	}
	for (size_t i = 0; i < r->n_fields; i++)
		fields[i] = (struct lp_field){ .key = r->fields[i].name, .type = LP_FLOAT,
					       .v.f = r->fields[i].value };
	return lp_append(b, measurement, tags, nt, fields, r->n_fields, true, r->ts_ms,
			 err, errlen);
}

void lp_batch_init(struct lp_batch *b, size_t max_bytes)
{
	memset(b, 0, sizeof(*b));
	lp_buf_init(&b->buf, max_bytes);
}

void lp_batch_release(struct lp_batch *b)
{
	if (!b)
		return;
	lp_buf_release(&b->buf);
	free(b->off);
	free(b->samples);
	b->off = b->samples = NULL;
	b->m = b->cap = 0;
}

static int batch_reserve(struct lp_batch *b, size_t n)
{
	if (n + 1 <= b->cap)
		return 0;
	size_t *off = realloc(b->off, (n + 1) * sizeof(*off));
	if (!off)
		return -ENOMEM;
	b->off = off;
	size_t *sm = realloc(b->samples, (n + 1) * sizeof(*sm));
	if (!sm)
		return -ENOMEM;
	b->samples = sm;
	b->cap = n + 1;
	return 0;
}

long lp_batch_encode(struct lp_batch *b, const char *comp, const char *measurement,
		     const struct reading *const *r, size_t n, size_t *dropped)
{
	char why[160];

	b->m = 0;
	if (batch_reserve(b, n) < 0)
		return -ENOMEM;
	lp_buf_clear(&b->buf);
	b->off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		int rc = lp_append_reading(&b->buf, measurement, r[i], why, sizeof(why));
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			log_warn(comp, "reading of '%s/%s' dropped: %s", r[i]->node, r[i]->sensor,
				 why);
			*dropped += r[i]->n_fields;
			continue;
		}
		b->samples[b->m++] = r[i]->n_fields;
		b->off[b->m] = b->buf.len;
	}
	return (long)b->m;
}
