/*
 * test_payload.c - the reading payload, byte for byte: key order, number
 * spelling (shortest round trip, '.' even under a German LC_NUMERIC), tag
 * escaping, and the TAGS / topic-level parsers' refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publisher/payload.h"

static const struct payload_meta meta = {
	.ts_ms = 1732276800123LL, .seq = 42, .boot = "9f3a0c1e5b7d2a64",
};

static void test_design_example(void **state)
{
	(void)state;
	struct payload_tags tags;
	struct sensor_reading r = { .n = 2, .f = {
		{ "temperature_celsius", 21.4 }, { "humidity_percent", 48 } } };
	char err[128], buf[PAYLOAD_MAX];
	assert_int_equal(payload_tags_parse("model=dht22,location=desk", &tags, err,
					    sizeof(err)), 0);
	int n = payload_encode(buf, sizeof(buf), &meta, &r, &tags);
	const char *want = "{\"ts\":1732276800123,\"seq\":42,\"boot\":\"9f3a0c1e5b7d2a64\","
			   "\"temperature_celsius\":21.4,\"humidity_percent\":48,"
			   "\"tags\":{\"location\":\"desk\",\"model\":\"dht22\"}}";
	assert_string_equal(buf, want);
	assert_int_equal(n, (int)strlen(want));
}

static void test_no_tags_no_fields(void **state)
{
	(void)state;
	struct sensor_reading r = { .n = 0 };
	struct payload_tags none = { .n = 0 };
	char buf[256];
	struct payload_meta m = { .ts_ms = 0, .seq = 1, .boot = "0123456789abcdef" };
	assert_int_equal(payload_encode(buf, sizeof(buf), &m, &r, NULL), 42);
	assert_string_equal(buf, "{\"ts\":0,\"seq\":1,\"boot\":\"0123456789abcdef\"}");
	assert_int_equal(payload_encode(buf, sizeof(buf), &m, &r, &none), 42);
	assert_string_equal(buf, "{\"ts\":0,\"seq\":1,\"boot\":\"0123456789abcdef\"}");
	/* 64-bit extremes of seq and ts */
	m.seq = UINT64_MAX;
	m.ts_ms = INT64_MAX;
	payload_encode(buf, sizeof(buf), &m, &r, NULL);
	assert_string_equal(buf, "{\"ts\":9223372036854775807,\"seq\":18446744073709551615,"
			    "\"boot\":\"0123456789abcdef\"}");
}

static void check_num(double v, const char *want)
{
	char buf[64];
	int n = payload_format_number(buf, sizeof(buf), v);
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
	/* reads back exactly, in the C locale whatever the process locale is */
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	assert_non_null(c);
	assert_true(strtod_l(buf, NULL, c) == v);
	freelocale(c);
}

static void check_numbers(void)
{
	check_num(21.4, "21.4");
	check_num(48, "48");
	check_num(0, "0");
	check_num(-0.0, "-0");
	check_num(-12.5, "-12.5");
	check_num(0.1, "0.1");
	check_num(0.1 + 0.2, "0.30000000000000004");
	check_num(1.0 / 3, "0.3333333333333333");
	check_num(1013.25, "1013.25");
	check_num(22.75, "22.75");
	check_num(1e-7, "1e-07");
	check_num(123456789012345.0, "123456789012345");
	check_num(1e15, "1e+15");
	check_num(1e21, "1e+21");
	check_num(DBL_MAX, "1.7976931348623157e+308");
	check_num(5e-324, "5e-324");
	check_num(-273.15, "-273.15");
}

static void test_numbers_shortest_round_trip(void **state)
{
	(void)state;
	check_numbers();
	char buf[64];
	assert_int_equal(payload_format_number(buf, sizeof(buf), NAN), -EDOM);
	assert_int_equal(payload_format_number(buf, sizeof(buf), INFINITY), -EDOM);
	assert_int_equal(payload_format_number(buf, sizeof(buf), -INFINITY), -EDOM);
	assert_int_equal(payload_format_number(buf, 4, 21.25), -ENOSPC);
	assert_int_equal(payload_format_number(buf, 6, 21.25), 5);
}

/* The printf search payload_format_number() makes when its fast path does not apply. */
static void reference_number(char *buf, size_t cap, double v)
{
	if (v == trunc(v) && fabs(v) < 1e15) {
		snprintf(buf, cap, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * The fast path (no printf for integers and short fixed-point numbers)
 * writes exactly what the printf search writes: sensor-like decimals of 0 to
 * 8 places over many magnitudes, their neighbouring doubles, values near
 * 1e-4, 1e15 and 2^52 / 10^d, and random bit patterns.
 */
static void test_numbers_fast_path_is_printf(void **state)
{
	(void)state;
	char got[64], want[64];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	long checked = 0;
	/* PAYLOAD_NUMBERS: fewer under qemu (scripts/matrix.sh) */
	const char *env = getenv("PAYLOAD_NUMBERS");
	long count = env && atol(env) >= 1000 ? atol(env) : 200000;
	for (long i = 0; i < count; i++) {
		uint64_t r = rng_next(&x);
		double v;
		switch (i % 4) {
		case 0: {   /* k / 10^d: what sensors give */
			int d = (int)(r % 9);
			int64_t k = (int64_t)(rng_next(&x) % 2000000001ull) - 1000000000;
			if (r & 0x100)
				k %= 100000;
			v = (double)k / pow(10, d);
			break;
		}
		case 1: {   /* a neighbour of such a decimal */
			int d = (int)(r % 7);
			v = (double)((int64_t)(rng_next(&x) % 200001) - 100000) / pow(10, d);
			v = nextafter(v, (r & 0x200) ? INFINITY : -INFINITY);
			break;
		}
		case 2: {   /* near the edges of the fast path */
			static const double edge[] = { 1e-4, 1e15, 4503599627370496.0 / 10,
						       4503599627370496.0 / 1e6, 0.1, 1 };
			v = edge[r % 6] * (1 + ((double)(int)(rng_next(&x) % 2001) - 1000) * 1e-12);
			break;
		}
		default: {  /* any finite double */
			uint64_t bits = rng_next(&x);
			memcpy(&v, &bits, sizeof(v));
			if (!isfinite(v))
				continue;
		}
		}
		reference_number(want, sizeof(want), v);
		int n = payload_format_number(got, sizeof(got), v);
		if (n != (int)strlen(want) || strcmp(got, want) != 0)
			fail_msg("%.17g: got '%s', printf says '%s'", v, got, want);
		checked++;
	}
	assert_true(checked > count * 39 / 40);
}

/*
 * Makes de_DE.UTF-8 available when the system has not generated it but has
 * its source (Debian's locales package): compile it into a temporary
 * directory and point LOCPATH there. Returns true when setlocale() worked.
 */
static bool german_numeric_locale(char *dir, size_t len)
{
	if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "de_DE.utf8"))
		return true;
	snprintf(dir, len, "/tmp/sw-locale.XXXXXX");
	if (!mkdtemp(dir))
		return false;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
		 dir);
	if (system(cmd) != 0)
		return false;
	setenv("LOCPATH", dir, 1);
	return setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL;
}

/* A German LC_NUMERIC spells 21,4; the payload must still say 21.4. */
static void test_numbers_ignore_process_locale(void **state)
{
	(void)state;
	char dir[64] = "";
	if (!german_numeric_locale(dir, sizeof(dir))) {
		if (*dir) {
			char cmd[128];
			snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
			(void)!system(cmd);
		}
		skip();
		return;
	}
	char probe[16];
	snprintf(probe, sizeof(probe), "%.1f", 21.4);
	assert_string_equal(probe, "21,4"); /* the locale really is active */
	check_numbers();
	struct sensor_reading r = { .n = 1, .f = { { "temperature_celsius", 21.4 } } };
	char buf[256];
	payload_encode(buf, sizeof(buf), &meta, &r, NULL);
	assert_string_equal(buf, "{\"ts\":1732276800123,\"seq\":42,\"boot\":\"9f3a0c1e5b7d2a64\","
			    "\"temperature_celsius\":21.4}");
	setlocale(LC_NUMERIC, "C");
	if (*dir) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
}

static void test_refusals(void **state)
{
	(void)state;
	char buf[512];
	struct sensor_reading r = { .n = 1, .f = { { "temperature_celsius", NAN } } };
	assert_int_equal(payload_encode(buf, sizeof(buf), &meta, &r, NULL), -EDOM);
	assert_string_equal(buf, "");
	r.f[0].value = INFINITY;
	assert_int_equal(payload_encode(buf, sizeof(buf), &meta, &r, NULL), -EDOM);
	const char *bad_names[] = { "1abc", "temp-c", "", "ts", "seq", "boot", "tags", "a b" };
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct sensor_reading b = { .n = 1, .f = { { bad_names[i], 1 } } };
		assert_int_equal(payload_encode(buf, sizeof(buf), &meta, &b, NULL), -EINVAL);
	}
	struct sensor_reading ok = { .n = 1, .f = { { "_x1", 1 } } };
	const char *bad_boots[] = { "9F3A0C1E5B7D2A64", "9f3a0c1e5b7d2a6", "9f3a0c1e5b7d2a645",
				    "9f3a0c1e5b7d2a6g" };
	for (size_t i = 0; i < 4; i++) {
		struct payload_meta m = meta;
		m.boot = bad_boots[i];
		assert_int_equal(payload_encode(buf, sizeof(buf), &m, &ok, NULL), -EINVAL);
	}
	struct sensor_reading many = { .n = SENSOR_MAX_FIELDS + 1 };
	assert_int_equal(payload_encode(buf, sizeof(buf), &meta, &many, NULL), -EINVAL);
}

/* Every buffer one byte too small fails cleanly; the exact size works. */
static void test_buffer_bounds(void **state)
{
	(void)state;
	struct payload_tags tags;
	char err[128], full[PAYLOAD_MAX], buf[PAYLOAD_MAX];
	struct sensor_reading r = { .n = 2, .f = { { "a_celsius", 1.5 }, { "b_percent", 2 } } };
	assert_int_equal(payload_tags_parse("k=v,x=y", &tags, err, sizeof(err)), 0);
	int n = payload_encode(full, sizeof(full), &meta, &r, &tags);
	assert_true(n > 0);
	for (int cap = 0; cap <= n; cap++)
		assert_int_equal(payload_encode(buf, (size_t)cap, &meta, &r, &tags), -ENOSPC);
	assert_int_equal(payload_encode(buf, (size_t)n + 1, &meta, &r, &tags), n);
	assert_string_equal(buf, full);
}

static void test_tag_escaping(void **state)
{
	(void)state;
	struct payload_tags tags = { .n = 1 };
	strcpy(tags.t[0].key, "room");
	strcpy(tags.t[0].value, "lab \"1\"\\\x01\tü");
	struct sensor_reading r = { .n = 0 };
	char buf[256];
	payload_encode(buf, sizeof(buf), &meta, &r, &tags);
	assert_string_equal(buf, "{\"ts\":1732276800123,\"seq\":42,\"boot\":\"9f3a0c1e5b7d2a64\","
			    "\"tags\":{\"room\":\"lab \\\"1\\\"\\\\\\u0001\\u0009ü\"}}");
}

static void test_tags_parse(void **state)
{
	(void)state;
	struct payload_tags t;
	char err[160];
	assert_int_equal(payload_tags_parse(NULL, &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(payload_tags_parse("", &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(payload_tags_parse(" room = lab 1 ,, model=dht22, ", &t, err,
					    sizeof(err)), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.t[0].key, "model");
	assert_string_equal(t.t[0].value, "dht22");
	assert_string_equal(t.t[1].key, "room");
	assert_string_equal(t.t[1].value, "lab 1");
	assert_int_equal(payload_tags_parse("a=b=c", &t, err, sizeof(err)), 0);
	assert_string_equal(t.t[0].value, "b=c");

	struct { const char *spec, *msg; } bad[] = {
		{ "location", "TAGS: part 1 'location' is not key=value" },
		{ "a=1,=x", "TAGS: part 2: key '' must match [a-zA-Z_][a-zA-Z0-9_]*" },
		{ "1a=b", "TAGS: part 1: key '1a' must match [a-zA-Z_][a-zA-Z0-9_]*" },
		{ "a-b=c", "TAGS: part 1: key 'a-b' must match [a-zA-Z_][a-zA-Z0-9_]*" },
		{ "node=rp3", "TAGS: part 1: 'node' is taken from the topic and cannot be a tag" },
		{ "x=1,sensor=a", "TAGS: part 2: 'sensor' is taken from the topic and cannot be "
				  "a tag" },
		{ "a=", "TAGS: part 1: tag 'a' has an empty value" },
		{ "a=1,a=2", "TAGS: tag 'a' is given twice" },
		{ "a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,o=1",
		  "TAGS: more than 14 tags" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(payload_tags_parse(bad[i].spec, &t, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, bad[i].msg);
	}
	char longv[300];
	memset(longv, 'v', sizeof(longv));
	memcpy(longv, "k=", 2);
	longv[sizeof(longv) - 1] = '\0';
	assert_int_equal(payload_tags_parse(longv, &t, err, sizeof(err)), -EINVAL);
}

static void test_level_and_boot(void **state)
{
	(void)state;
	assert_true(payload_level_ok("rp3"));
	assert_true(payload_level_ok("pi-kitchen.local"));
	assert_true(payload_level_ok("desk_2"));
	assert_false(payload_level_ok(""));
	assert_false(payload_level_ok(NULL));
	assert_false(payload_level_ok("a/b"));
	assert_false(payload_level_ok("a+"));
	assert_false(payload_level_ok("#"));
	assert_false(payload_level_ok("a b"));
	assert_false(payload_level_ok("$SYS"));
	char l[80];
	memset(l, 'a', 65);
	l[65] = '\0';
	assert_false(payload_level_ok(l));
	l[64] = '\0';
	assert_true(payload_level_ok(l));

	const uint8_t rnd[8] = { 0x9f, 0x3a, 0x0c, 0x1e, 0x5b, 0x7d, 0x2a, 0x64 };
	char boot[17];
	payload_boot_id(boot, rnd);
	assert_string_equal(boot, "9f3a0c1e5b7d2a64");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_no_tags_no_fields),
		cmocka_unit_test(test_numbers_shortest_round_trip),
		cmocka_unit_test(test_numbers_fast_path_is_printf),
		cmocka_unit_test(test_numbers_ignore_process_locale),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_buffer_bounds),
		cmocka_unit_test(test_tag_escaping),
		cmocka_unit_test(test_tags_parse),
		cmocka_unit_test(test_level_and_boot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
