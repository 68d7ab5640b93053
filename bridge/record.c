/*
 * record.c - struct reading <-> the log's binary record (see record.h).
 *
 * The decoder trusts nothing it reads: the log is CRC-checked when it is
 * opened, but a record is only used if its counts are within the reading
 * limits and its string area holds exactly the strings they announce.
 */
#include "bridge/record.h"
#include "bridge/bytes.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define F_TS_FROM_PAYLOAD 1
#define F_HAS_SEQ 2
#define F_HAS_BOOT 4

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies s and its NUL to *p; -ENOSPC past end. */
static int put_str(unsigned char **p, const unsigned char *end, const char *s)
{
	size_t n = strlen(s) + 1;
	if ((size_t)(end - *p) < n)
		return -ENOSPC;
	memcpy(*p, s, n);
	*p += n;
	return 0;
}

int record_encode(const struct reading *r, void *buf, size_t cap)
{
	unsigned char *out = buf, *end = out + cap, *p;
	if (r->n_tags > READING_MAX_TAGS || r->n_fields > READING_MAX_FIELDS)
		return -EINVAL;
	if (cap < RECORD_FIXED + 8 * r->n_fields)
		return -ENOSPC;
	uint8_t flags = (r->ts_from_payload ? F_TS_FROM_PAYLOAD : 0) |
			(r->has_seq ? F_HAS_SEQ : 0);
	unsigned char boot[8] = { 0 };
	if (r->has_boot) {
		flags |= F_HAS_BOOT;
		for (int i = 0; i < 8; i++) {
			int hi = hexval(r->boot[2 * i]), lo = hexval(r->boot[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			boot[i] = (unsigned char)(hi << 4 | lo);
		}
	}
	out[0] = RECORD_MAGIC;
	out[1] = flags;
	out[2] = (unsigned char)r->n_tags;
	out[3] = (unsigned char)r->n_fields;
	put64(out + 4, (uint64_t)r->ts_ms);
	put64(out + 12, r->has_seq ? r->seq : 0);
	memcpy(out + 20, boot, 8);
	p = out + RECORD_FIXED;
	for (size_t i = 0; i < r->n_fields; i++, p += 8) {
		uint64_t bits;
		memcpy(&bits, &r->fields[i].value, sizeof(bits));
		put64(p, bits);
	}
	if (put_str(&p, end, r->node) < 0 || put_str(&p, end, r->sensor) < 0)
		return -ENOSPC;
	for (size_t i = 0; i < r->n_tags; i++)
		if (put_str(&p, end, r->tags[i].key) < 0 || put_str(&p, end, r->tags[i].value) < 0)
			return -ENOSPC;
	for (size_t i = 0; i < r->n_fields; i++)
		if (put_str(&p, end, r->fields[i].name) < 0)
			return -ENOSPC;
	return (int)(p - out);
}

int record_decode(struct reading *r, const void *buf, size_t len)
{
	const unsigned char *in = buf;
	memset(r, 0, sizeof(*r));
	if (len < RECORD_FIXED || in[0] != RECORD_MAGIC || in[2] > READING_MAX_TAGS ||
	    in[3] > READING_MAX_FIELDS || (in[1] & ~(F_TS_FROM_PAYLOAD | F_HAS_SEQ | F_HAS_BOOT)))
		return -EBADMSG;
	size_t n_tags = in[2], n_fields = in[3];
	size_t values = RECORD_FIXED + 8 * n_fields;
	if (len <= values || in[len - 1] != '\0')
		return -EBADMSG;
	const char *str = (const char *)in + values;
	size_t str_len = len - values;
	/* exactly node, sensor, the tags' keys and values and the field names */
	size_t want = 2 + 2 * n_tags + n_fields, got = 0;
	for (const char *s = str, *e = str + str_len; s < e; s++)
		got += *s == '\0';
	if (got != want)
		return -EBADMSG;

	size_t arrays = n_tags * sizeof(struct reading_tag) + n_fields * sizeof(struct reading_field);
	r->arena = malloc(arrays + str_len);
	if (!r->arena)
		return -ENOMEM;
	r->tags = (struct reading_tag *)r->arena;
	r->fields = (struct reading_field *)(r->arena + n_tags * sizeof(struct reading_tag));
	r->max_tags = r->n_tags = n_tags;
	r->max_fields = r->n_fields = n_fields;
	char *s = r->arena + arrays;
	memcpy(s, str, str_len);

	r->ts_from_payload = in[1] & F_TS_FROM_PAYLOAD;
	r->has_seq = in[1] & F_HAS_SEQ;
	r->has_boot = in[1] & F_HAS_BOOT;
	r->ts_ms = (int64_t)get64(in + 4);
	r->seq = r->has_seq ? get64(in + 12) : 0;
	if (r->has_boot) {
		static const char hex[] = "0123456789abcdef";
		for (int i = 0; i < 8; i++) {
			r->boot[2 * i] = hex[in[20 + i] >> 4];
			r->boot[2 * i + 1] = hex[in[20 + i] & 15];
		}
	}
	r->node = s;
	s += strlen(s) + 1;
	r->sensor = s;
	s += strlen(s) + 1;
	for (size_t i = 0; i < n_tags; i++) {
		r->tags[i].key = s;
		s += strlen(s) + 1;
		r->tags[i].value = s;
		s += strlen(s) + 1;
	}
	for (size_t i = 0; i < n_fields; i++) {
		uint64_t bits = get64(in + RECORD_FIXED + 8 * i);
		memcpy(&r->fields[i].value, &bits, sizeof(bits));
		r->fields[i].name = s;
		s += strlen(s) + 1;
	}
	return 0;
}
