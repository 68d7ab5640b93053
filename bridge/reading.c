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
 *
 * The JSON is read in one pass straight into the reading (this runs for
 * every message, on the MQTT receive thread): strings are decoded into the
 * reading's arena, numbers need no allocation, nested values are checked
 * and skipped. It accepts what cJSON 1.7 (which it replaced) accepts, so no
 * payload that was taken before is refused now: any byte up to 0x20 is
 * whitespace, a UTF-8 BOM is skipped, raw control bytes may stand in
 * strings, a \u escape with a bad hex digit means U+0000 (which ends the
 * string as C sees it), a number is what strtod() reads of the longest run
 * of [0-9+-.eE] that starts with '-' or a digit, and values nest 1000 deep
 * (as Debian's cJSON 1.7.15, whose number length limit was lifted). One difference: cJSON took a document that ends
 * right after a nested value's closing bracket as if that bracket closed
 * the outer value too ({"v":1,"x":{} was complete); here it is invalid.
 */
#include "bridge/reading.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
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

/* Insertion sorts: a reading has a handful of tags and fields. */
static void sort_tags(struct reading_tag *t, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct reading_tag x = t[i];
		size_t k = i;
		for (; k > 0 && strcmp(t[k - 1].key, x.key) > 0; k--)
			t[k] = t[k - 1];
		t[k] = x;
	}
}

static void sort_fields(struct reading_field *f, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct reading_field x = f[i];
		size_t k = i;
		for (; k > 0 && strcmp(f[k - 1].name, x.name) > 0; k--)
			f[k] = f[k - 1];
		f[k] = x;
	}
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

/* --- the JSON reader ---------------------------------------------------- */

#define JSON_MAX_DEPTH 1000   /* objects and arrays inside each other */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

struct jr {
	const unsigned char *p, *end;
	int depth;
};

struct jval {
	enum jtype type;
	double num;                 /* J_NUMBER */
	const char *str;            /* J_STRING: decoded, NUL-terminated */
};

/*
 * Parses the value of an object member whose key, decoded, is key; the
 * value's strings are decoded at after_key onwards. false on a syntax error.
 */
typedef bool (*member_fn)(void *ctx, const char *key, char *after_key, struct jr *j);

static bool jr_value(struct jr *j, struct jval *v, char *buf);

static void jr_ws(struct jr *j)
{
	while (j->p < j->end && *j->p <= 32)
		j->p++;
}

static bool jr_lit(struct jr *j, const char *lit, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static uint32_t hex4(const unsigned char *s)
{
	uint32_t h = 0;
	for (int i = 0; i < 4; i++) {
		int c = s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return 0;   /* as cJSON: a bad digit makes U+0000 */
		h = h << 4 | (uint32_t)d;
	}
	return h;
}

/*
 * Decodes the string at j->p (its opening quote) into out, NUL-terminated;
 * *len = decoded bytes (out needs no more room than the string's raw bytes).
 */
static bool jr_string(struct jr *j, char *out, size_t *len)
{
	const unsigned char *s = j->p + 1, *q = s;
	while (q < j->end && *q != '"') {
		if (*q == '\\' && ++q >= j->end)
			return false;
		q++;
	}
	if (q >= j->end)
		return false;
	char *o = out;
	while (s < q) {
		if (*s != '\\') {
			*o++ = (char)*s++;
			continue;
		}
		switch (s[1]) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case '"':
		case '\\':
		case '/':
			*o++ = (char)s[1];
			break;
		case 'u': {
			if (q - s < 6)
				return false;
			uint32_t cp = hex4(s + 2);
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return false;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (q - (s + 6) < 6 || s[6] != '\\' || s[7] != 'u')
					return false;
				uint32_t lo = hex4(s + 8);
				if (lo < 0xdc00 || lo > 0xdfff)
					return false;
				cp = 0x10000 + (((cp & 0x3ff) << 10) | (lo & 0x3ff));
				s += 6;
			}
			if (cp < 0x80) {
				*o++ = (char)cp;
			} else if (cp < 0x800) {
				*o++ = (char)(0xc0 | cp >> 6);
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*o++ = (char)(0xe0 | cp >> 12);
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*o++ = (char)(0xf0 | cp >> 18);
				*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			}
			s += 4;   /* the hex digits; the 2 below are \u */
			break;
		}
		default:
			return false;
		}
		s += 2;
	}
	*o = '\0';
	*len = (size_t)(o - out);
	j->p = q + 1;
	return true;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_number_byte(int c)
{
	return is_digit(c) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

/*
 * A number: what strtod() takes of the longest run of [0-9+-.eE]. Done
 * without strtod() when the significant digits fit in 15 and the power of
 * ten in 22: one correctly rounded multiplication or division of two exact
 * doubles, the very value strtod() returns.
 */
static bool jr_number(struct jr *j, double *out)
{
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
					1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
					1e20, 1e21, 1e22 };
	char stack[64];
	size_t n = 0;
	while (j->p + n < j->end && is_number_byte(j->p[n]))
		n++;
	char *tok = n < sizeof(stack) ? stack : malloc(n + 1);
	if (!tok)
		return false;
	memcpy(tok, j->p, n);
	tok[n] = '\0';
	/* the part strtod() reads: sign, digits with at most one '.', exponent */
	size_t i = 0, digits = 0, sig = 0, frac = 0;
	uint64_t m = 0;
	bool neg = false, exact = true;
	if (tok[i] == '-' || tok[i] == '+')
		neg = tok[i++] == '-';
	for (bool dot = false;; i++) {
		if (tok[i] == '.' && !dot) {
			dot = true;
			continue;
		}
		if (!is_digit(tok[i]))
			break;
		digits++;
		frac += dot;
		if (sig || tok[i] != '0') {
			if (++sig > 15)
				exact = false;
			else
				m = m * 10 + (uint64_t)(tok[i] - '0');
		}
	}
	if (!digits) {
		if (tok != stack)
			free(tok);
		return false;
	}
	long e = 0;
	if (tok[i] == 'e' || tok[i] == 'E') {
		size_t k = i + 1;
		bool eneg = false;
		if (tok[k] == '-' || tok[k] == '+')
			eneg = tok[k++] == '-';
		if (is_digit(tok[k])) {
			for (; is_digit(tok[k]); k++)
				if (e < 100000)
					e = e * 10 + (tok[k] - '0');
			e = eneg ? -e : e;
			i = k;
		}
	}
	long p10 = e - (long)frac;
	double v;
	if (exact && m == 0) {
		v = 0;
	} else if (exact && p10 >= 0 && p10 <= 22) {
		v = (double)m * pow10[p10];
	} else if (exact && p10 < 0 && p10 >= -22) {
		v = (double)m / pow10[-p10];
	} else {
		/* strtod() reads the locale's decimal point, as cJSON arranged */
		char dp = localeconv()->decimal_point[0];
		for (size_t k = 0; k < i; k++)
			if (tok[k] == '.')
				tok[k] = dp;
		tok[i] = '\0';
		v = strtod(tok, NULL);
		neg = false;
	}
	*out = neg ? -v : v;
	j->p += i;
	if (tok != stack)
		free(tok);
	return true;
}

static bool jr_array(struct jr *j, char *buf)
{
	if (j->depth >= JSON_MAX_DEPTH)
		return false;
	j->depth++;
	j->p++;
	jr_ws(j);
	if (j->p < j->end && *j->p == ']')
		goto done;
	for (;;) {
		struct jval v;
		jr_ws(j);
		if (!jr_value(j, &v, buf))
			return false;
		jr_ws(j);
		if (j->p >= j->end || *j->p != ',')
			break;
		j->p++;
	}
	if (j->p >= j->end || *j->p != ']')
		return false;
done:
	j->p++;
	j->depth--;
	return true;
}

/*
 * An object: each member's key is decoded at *pos (read again for every
 * member: fn may keep strings there and move it on), then fn parses the
 * value, or without fn it is checked and skipped. *count = members.
 */
static bool jr_object(struct jr *j, char **pos, member_fn fn, void *ctx, size_t *count)
{
	size_t n = 0, kl;
	if (j->depth >= JSON_MAX_DEPTH)
		return false;
	j->depth++;
	j->p++;
	jr_ws(j);
	if (j->p < j->end && *j->p == '}')
		goto done;
	for (;;) {
		char *key = *pos;
		struct jval v;
		jr_ws(j);
		if (j->p >= j->end || *j->p != '"' || !jr_string(j, key, &kl))
			return false;
		jr_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return false;
		j->p++;
		jr_ws(j);
		if (!(fn ? fn(ctx, key, key + kl + 1, j) : jr_value(j, &v, key + kl + 1)))
			return false;
		n++;
		jr_ws(j);
		if (j->p >= j->end || *j->p != ',')
			break;
		j->p++;
	}
	if (j->p >= j->end || *j->p != '}')
		return false;
done:
	j->p++;
	j->depth--;
	if (count)
		*count = n;
	return true;
}

/* Any value; its strings are decoded at buf (and not kept). */
static bool jr_value(struct jr *j, struct jval *v, char *buf)
{
	size_t len;
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case 'n':
		v->type = J_NULL;
		return jr_lit(j, "null", 4);
	case 'f':
		v->type = J_FALSE;
		return jr_lit(j, "false", 5);
	case 't':
		v->type = J_TRUE;
		return jr_lit(j, "true", 4);
	case '"':
		v->type = J_STRING;
		v->str = buf;
		return jr_string(j, buf, &len);
	case '[':
		v->type = J_ARRAY;
		return jr_array(j, buf);
	case '{':
		v->type = J_OBJECT;
		return jr_object(j, &buf, NULL, NULL, NULL);
	default:
		v->type = J_NUMBER;
		return (*j->p == '-' || is_digit(*j->p)) && jr_number(j, &v->num);
	}
}

/* --- payload -> reading ------------------------------------------------- */

/*
 * Whether the decoded key k is the C string lit. Compares sizeof(lit) bytes,
 * NUL included; k has at least that many readable bytes after it (a key is
 * decoded into the arena, which has more room than the payload's length).
 */
#define KEY_IS(k, lit) ((k)[0] == (lit)[0] && memcmp((k), (lit), sizeof(lit)) == 0)

struct parse {
	struct reading *r;
	char *cur;                  /* the arena's free space */
	int tags_cap;               /* tags taken from a "tags" object; -1 before the first */
	bool failed;                /* err says why */
	char *err;
	size_t errlen;
};

/* Keeps the NUL-terminated s (decoded at or after p->cur) at p->cur. */
static const char *keep(struct parse *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *at = p->cur;
	memmove(at, s, n);
	p->cur += n;
	return at;
}

static bool tag_member(void *ctx, const char *k, char *after_key, struct jr *j)
{
	struct parse *p = ctx;
	struct reading *r = p->r;
	struct jval v;
	if (!jr_value(j, &v, after_key))
		return false;
	if (p->failed)
		return true;
	size_t cap = p->tags_cap < 0 ? READING_MAX_TAGS : (size_t)p->tags_cap;
	if (v.type != J_STRING || !is_ident(k) || (k[0] == '_' && k[1] == '_') ||
	    KEY_IS(k, "node") || KEY_IS(k, "sensor") ||
	    !is_safe_value(v.str, strlen(v.str)) || r->n_tags >= cap) {
		r->dropped_tags++;
		return true;
	}
	for (size_t i = 0; i < r->n_tags; i++) {
		if (strcmp(r->tags[i].key, k) == 0) {
			r->dropped_tags++;
			return true;
		}
	}
	/* k is at p->cur: keep it, then the value right after it */
	r->tags[r->n_tags].key = keep(p, k);
	r->tags[r->n_tags].value = keep(p, v.str);
	r->n_tags++;
	return true;
}

/* Remembers the first reason the reading is refused; parsing goes on, so that
 * a JSON syntax error further on is what gets reported, as it comes first. */
__attribute__((format(printf, 2, 3)))
static void fail_with(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	if (!p->failed) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	p->failed = true;
}

static bool root_member(void *ctx, const char *k, char *after_key, struct jr *j)
{
	struct parse *p = ctx;
	struct reading *r = p->r;
	struct jval v;
	if (KEY_IS(k, "tags")) {
		/* a later "tags" member adds no more tags than the first one had */
		bool first = p->tags_cap < 0;
		if (j->p < j->end && *j->p == '{') {
			size_t n;
			char *skip = after_key;
			if (!jr_object(j, p->failed ? &skip : &p->cur, p->failed ? NULL : tag_member,
				       p, &n))
				return false;
			if (first)
				p->tags_cap = n < READING_MAX_TAGS ? (int)n : READING_MAX_TAGS;
		} else {
			if (!jr_value(j, &v, after_key))
				return false;
			r->dropped_tags++;
			if (first)
				p->tags_cap = 0;
		}
		return true;
	}
	if (!jr_value(j, &v, after_key))
		return false;
	if (p->failed)
		return true;
	if (KEY_IS(k, "ts")) {
		double d = v.num;
		if (v.type != J_NUMBER || d != floor(d) || d <= 0 || d > TS_MAX_MS) {
			fail_with(p, "ts must be a positive integer (Unix ms)");
		} else if (d < TS_MIN_MS) {
			fail_with(p, "ts %.0f looks like seconds; expected Unix milliseconds", d);
		} else {
			r->ts_ms = (int64_t)d;
			r->ts_from_payload = true;
		}
	} else if (KEY_IS(k, "seq")) {
		double d = v.num;
		if (v.type == J_NUMBER && d >= 0 && d == floor(d) && d <= TS_MAX_MS) {
			r->seq = (uint64_t)d;
			r->has_seq = true;
		} else {
			r->ignored_keys++;
		}
	} else if (KEY_IS(k, "boot")) {
		if (v.type == J_STRING && is_hex16(v.str)) {
			memcpy(r->boot, v.str, 17);
			r->has_boot = true;
		} else {
			r->ignored_keys++;
		}
	} else if (v.type == J_NUMBER || v.type == J_TRUE || v.type == J_FALSE) {
		double d = v.type == J_NUMBER ? v.num : v.type == J_TRUE ? 1.0 : 0.0;
		if (!is_ident(k) || !isfinite(d) || r->n_fields == READING_MAX_FIELDS) {
			r->ignored_keys++;
			return true;
		}
		for (size_t i = 0; i < r->n_fields; i++) {
			if (strcmp(r->fields[i].name, k) == 0) {
				r->ignored_keys++;
				return true;
			}
		}
		r->fields[r->n_fields].name = keep(p, k);
		r->fields[r->n_fields].value = d;
		r->n_fields++;
	} else {
		r->ignored_keys++;
	}
	return true;
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
	/* the arena: the arrays, node and sensor, then the strings decoded from
	 * the payload (never longer than it), kept or not, one after another */
	size_t arrays = READING_MAX_TAGS * sizeof(struct reading_tag) +
			READING_MAX_FIELDS * sizeof(struct reading_field);
	r->arena = malloc(arrays + strlen(topic) + 2 * len + 64);
	if (!r->arena) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->tags = (struct reading_tag *)r->arena;
	r->fields = (struct reading_field *)(r->arena +
					     READING_MAX_TAGS * sizeof(struct reading_tag));
	r->max_tags = READING_MAX_TAGS;
	r->max_fields = READING_MAX_FIELDS;
	struct parse p = { .r = r, .cur = r->arena + arrays, .tags_cap = -1, .err = err,
			   .errlen = errlen };
	r->node = arena_put(&p.cur, node, strlen(node));
	r->sensor = arena_put(&p.cur, sensor, strlen(sensor));
	r->ts_ms = arrival_ms;

	struct jr j = { .p = payload, .end = (const unsigned char *)payload + len };
	if (len >= 5 && memcmp(j.p, "\xef\xbb\xbf", 3) == 0)
		j.p += 3;
	jr_ws(&j);
	bool object = j.p < j.end && *j.p == '{';
	struct jval v;
	if (!(object ? jr_object(&j, &p.cur, root_member, &p, NULL) : jr_value(&j, &v, p.cur))) {
		snprintf(err, errlen, "payload is not valid JSON");
		goto err_arena;
	}
	/* the object ends the payload: only spaces may follow */
	for (; j.p < j.end; j.p++) {
		if (*j.p != ' ' && *j.p != '\t' && *j.p != '\n' && *j.p != '\r') {
			snprintf(err, errlen, "payload is not valid JSON (data after the object)");
			goto err_arena;
		}
	}
	if (!object) {
		snprintf(err, errlen, "payload is not a JSON object");
		goto err_arena;
	}
	if (p.failed)
		goto err_arena;
	if (r->n_fields == 0) {
		snprintf(err, errlen, "no numeric field");
		goto err_arena;
	}
	sort_tags(r->tags, r->n_tags);
	sort_fields(r->fields, r->n_fields);
	return 0;

err_arena:
	free(r->arena);
	r->arena = NULL;
	return -1;
}

void reading_release(struct reading *r)
{
	if (!r)
		return;
	free(r->arena);
	r->arena = NULL;
}
