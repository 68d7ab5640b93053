/*
 * lp_read.h - an independent reader of one InfluxDB line-protocol line, for
 * the tests and fuzz targets that check bridge/sinks/lineproto.c. It shares
 * no code with the encoder: it follows InfluxDB's documented syntax
 * ("Line protocol" reference, "Special characters"):
 *
 *   measurement[,tag_key=tag_value...] field_key=field_value[,...] [timestamp]
 *
 *  - measurement: '\,' and '\ ' stand for ',' and ' ';
 *  - tag keys, tag values, field keys: '\,', '\=' and '\ ' stand for the
 *    character; the unescaped ',', '=' and ' ' are syntax;
 *  - a string field value is in double quotes, '\"' and '\\' stand for '"'
 *    and '\';
 *  - any other backslash is a literal backslash;
 *  - field values: float (digits, sign, '.', exponent; no NaN/Inf), integer
 *    "<n>i", unsigned "<n>u", booleans t/T/true/True/TRUE/f/F/false/False/
 *    FALSE, or a string; the timestamp is an optional integer.
 * Header-only (static inline), so each test includes its own copy.
 */
#ifndef SW_TESTS_LP_READ_H
#define SW_TESTS_LP_READ_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LPR_MAX_TAGS 80
#define LPR_MAX_FIELDS 80

enum lpr_type { LPR_FLOAT, LPR_INT, LPR_UINT, LPR_BOOL, LPR_STRING };

struct lpr_field {
	const char *key;
	enum lpr_type type;
	double f;
	int64_t i;
	uint64_t u;
	bool b;
	const char *s;
};

struct lpr_line {
	char *buf;                      /* owns every string below */
	const char *measurement;
	size_t n_tags;
	const char *tag_key[LPR_MAX_TAGS], *tag_value[LPR_MAX_TAGS];
	size_t n_fields;
	struct lpr_field fields[LPR_MAX_FIELDS];
	bool has_ts;
	int64_t ts;
};

static inline void lpr_free(struct lpr_line *l)
{
	free(l->buf);
	l->buf = NULL;
}

/*
 * Reads one token at *r, unescaping into the same buffer from the token's
 * start (the unescaped text is never longer). Stops at the first unescaped
 * byte of stops or at end; returns that byte (0 at end) and moves *r past it.
 */
static inline char lpr_token(char **r, char *end, const char *stops, const char *escapable,
			     const char **tok)
{
	char *p = *r, *w = *r;
	*tok = w;
	while (p < end) {
		char c = *p;
		if (c == '\\' && p + 1 < end && strchr(escapable, p[1])) {
			*w++ = p[1];
			p += 2;
			continue;
		}
		if (strchr(stops, c)) {
			*w = '\0';
			*r = p + 1;
			return c;
		}
		*w++ = c;
		p++;
	}
	*w = '\0';
	*r = end;
	return 0;
}

static inline bool lpr_all_of(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(set, s[i]))
			return false;
	return n > 0;
}

static inline int lpr_number(struct lpr_field *f, const char *s)
{
	size_t n = strlen(s);
	char *e;
	static const char *const truths[] = { "t", "T", "true", "True", "TRUE" };
	static const char *const falses[] = { "f", "F", "false", "False", "FALSE" };
	for (size_t i = 0; i < 5; i++) {
		if (strcmp(s, truths[i]) == 0 || strcmp(s, falses[i]) == 0) {
			f->type = LPR_BOOL;
			f->b = strcmp(s, truths[i]) == 0;
			return 0;
		}
	}
	if (n >= 2 && s[n - 1] == 'i' && lpr_all_of(s, n - 1, "-0123456789")) {
		errno = 0;
		f->type = LPR_INT;
		f->i = strtoll(s, &e, 10);
		return errno || e != s + n - 1 ? -1 : 0;
	}
	if (n >= 2 && s[n - 1] == 'u' && lpr_all_of(s, n - 1, "0123456789")) {
		errno = 0;
		f->type = LPR_UINT;
		f->u = strtoull(s, &e, 10);
		return errno || e != s + n - 1 ? -1 : 0;
	}
	if (!lpr_all_of(s, n, "+-.0123456789eE"))
		return -1;
	f->type = LPR_FLOAT;
	f->f = strtod(s, &e);
	return e == s + n ? 0 : -1;
}

/* Parses line (len bytes, no '\n'). Returns 0, or -1 when it is not one valid line. */
static inline int lpr_parse(const char *line, size_t len, struct lpr_line *l)
{
	memset(l, 0, sizeof(*l));
	l->buf = malloc(len + 1);
	if (!l->buf)
		return -1;
	memcpy(l->buf, line, len);
	l->buf[len] = '\0';
	if (memchr(l->buf, '\n', len) || memchr(l->buf, '\0', len))
		goto bad;
	char *r = l->buf, *end = l->buf + len;
	const char *tok;
	char c = lpr_token(&r, end, ", ", ", ", &l->measurement);
	if (!*l->measurement || c == 0)
		goto bad;
	while (c == ',') {
		if (l->n_tags == LPR_MAX_TAGS)
			goto bad;
		if (lpr_token(&r, end, "=, ", ",= ", &tok) != '=' || !*tok)
			goto bad;
		l->tag_key[l->n_tags] = tok;
		c = lpr_token(&r, end, ",= ", ",= ", &tok);
		if ((c != ',' && c != ' ') || !*tok)
			goto bad;
		l->tag_value[l->n_tags++] = tok;
	}
	/* fields */
	do {
		if (l->n_fields == LPR_MAX_FIELDS)
			goto bad;
		struct lpr_field *f = &l->fields[l->n_fields++];
		if (lpr_token(&r, end, "=, ", ",= ", &f->key) != '=' || !*f->key)
			goto bad;
		if (r < end && *r == '"') {
			char *w = ++r;
			f->type = LPR_STRING;
			f->s = w;
			for (;;) {
				if (r >= end)
					goto bad;
				if (*r == '\\' && r + 1 < end && (r[1] == '"' || r[1] == '\\')) {
					*w++ = r[1];
					r += 2;
				} else if (*r == '"') {
					r++;
					break;
				} else {
					*w++ = *r++;
				}
			}
			c = r < end ? *r++ : 0;
			*w = '\0';
			if (c != 0 && c != ',' && c != ' ')
				goto bad;
		} else {
			c = lpr_token(&r, end, ", ", "", &tok);
			if (lpr_number(f, tok) < 0)
				goto bad;
		}
	} while (c == ',');
	if (c == ' ') {
		char *e;
		if (r >= end || !lpr_all_of(r, (size_t)(end - r), "-0123456789"))
			goto bad;
		errno = 0;
		l->ts = strtoll(r, &e, 10);
		if (errno || e != end)
			goto bad;
		l->has_ts = true;
	}
	return 0;
bad:
	lpr_free(l);
	return -1;
}

#endif
