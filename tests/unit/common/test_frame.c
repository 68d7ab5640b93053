/*
 * test_frame.c - the shared framing: zlib's CRC-32, encode/decode, and
 * the classification of what follows a segment's good frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/frame.h"

static const struct frame_fmt fmt = { .min_body = 1, .max_body = 64 };

static size_t put(unsigned char *p, const char *body)
{
	uint32_t n = (uint32_t)strlen(body);
	frame_put_header(p, body, n);
	memcpy(p + FRAME_HDR, body, n);
	return FRAME_HDR + n;
}

static struct frame_scan scan(const unsigned char *m, size_t n)
{
	struct frame_src src = { .fd = -1, .mem = m, .size = n };
	struct frame_scan sc;
	assert_int_equal(frame_scan(&src, &fmt, 0, NULL, NULL, &sc), 0);
	return sc;
}

static void test_crc_is_zlibs(void **state)
{
	(void)state;
	assert_int_equal(frame_crc32("123456789", 9), 0xcbf43926u);
	assert_int_equal(frame_crc32("", 0), 0);
	/* a long run takes the 8-byte path */
	assert_int_equal(frame_crc32("The quick brown fox jumps over the lazy dog", 43), 0x414fa339u);
}

static void test_classification(void **state)
{
	(void)state;
	unsigned char m[256];
	size_t a = put(m, "one"), b = a + put(m + a, "two"), c = b + put(m + b, "three");
	struct frame_scan sc = scan(m, c);
	assert_int_equal(sc.damage, FRAME_CLEAN);
	assert_int_equal(sc.frames, 3);
	assert_int_equal(sc.end, c);
	/* a torn tail: every cut inside the last frame */
	for (size_t t = b + 1; t < c; t++) {
		sc = scan(m, t);
		assert_int_equal(sc.damage, FRAME_TORN);
		assert_int_equal(sc.end, b);
		assert_int_equal(sc.frames, 2);
	}
	/* zeros after the frames */
	memset(m + c, 0, 40);
	sc = scan(m, c + 40);
	assert_int_equal(sc.damage, FRAME_ZEROS);
	assert_int_equal(sc.end, c);
	/* a bad middle frame: corruption, found again where the next one starts */
	m[a + FRAME_HDR] ^= 4;
	sc = scan(m, c);
	assert_int_equal(sc.damage, FRAME_CORRUPT);
	assert_int_equal(sc.end, a);
	assert_int_equal(sc.resume, b);
	/* its length damaged instead */
	m[a + FRAME_HDR] ^= 4;
	m[a] ^= 0x20;
	sc = scan(m, c);
	assert_int_equal(sc.damage, FRAME_CORRUPT);
	assert_int_equal(sc.resume, b);
	assert_string_equal(frame_damage_name(FRAME_TORN), "torn tail");
}

static void test_header(void **state)
{
	(void)state;
	enum frame_header h;
	struct frame_src src = { .fd = -1, .mem = (const unsigned char *)"SWLOG", .size = 3 };
	assert_int_equal(frame_check_header(&src, "SWLOG", 5, &h), 0);
	assert_int_equal(h, FRAME_HEADER_TORN);
	src.size = 5;
	assert_int_equal(frame_check_header(&src, "SWLOG", 5, &h), 0);
	assert_int_equal(h, FRAME_HEADER_OK);
	src.mem = (const unsigned char *)"SWLOX";
	assert_int_equal(frame_check_header(&src, "SWLOG", 5, &h), 0);
	assert_int_equal(h, FRAME_HEADER_FOREIGN);
	src.size = 2;
	src.mem = (const unsigned char *)"XW";
	assert_int_equal(frame_check_header(&src, "SWLOG", 5, &h), 0);
	assert_int_equal(h, FRAME_HEADER_FOREIGN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_is_zlibs),
		cmocka_unit_test(test_classification),
		cmocka_unit_test(test_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
