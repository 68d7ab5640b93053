/*
 * test_lineproto.c - the line protocol encoder against every vector of
 * docs/protocols.md H3, the rejection rules (E3, E3a, E9), the float format, the
 * C-locale guarantee and the reading mapping of docs/contract.md.
 */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bridge/sinks/lineproto.h"

#define F(k, x) { .key = (k), .type = LP_FLOAT, .v.f = (x) }

static char err[256];

/* Encodes one line into a fresh buffer and compares it (with its newline). */
static void expect_line(const char *meas, const struct lp_tag *tags, size_t nt,
			const struct lp_field *fields, size_t nf, bool has_ts, int64_t ts,
			const char *want)
{
	struct lp_buf b;
	lp_buf_init(&b, 1 << 20);
	err[0] = '\0';
	int rc = lp_append(&b, meas, tags, nt, fields, nf, has_ts, ts, err, sizeof(err));
	if (rc != 0)
		print_error("unexpected rejection: %s\n", err);
	assert_int_equal(rc, 0);
	char line[1024];
	snprintf(line, sizeof(line), "%s\n", want);
	assert_string_equal(b.data, line);
	assert_int_equal(b.lines, 1);
	lp_buf_release(&b);
}

static void expect_reject(const char *meas, const struct lp_tag *tags, size_t nt,
			  const struct lp_field *fields, size_t nf)
{
	struct lp_buf b;
	lp_buf_init(&b, 1 << 20);
	/* a line already in the buffer must survive the rejected one */
	struct lp_field ok = F("v", 1.0);
	assert_int_equal(lp_append(&b, "m", NULL, 0, &ok, 1, false, 0, err, sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(lp_append(&b, meas, tags, nt, fields, nf, true, 1, err, sizeof(err)),
			 -EINVAL);
	assert_true(err[0] != '\0');
	assert_string_equal(b.data, "m v=1\n");
	assert_int_equal(b.len, 6);
	assert_int_equal(b.lines, 1);
	lp_buf_release(&b);
}

static void test_h3_weather(void **state)
{
	(void)state;
	struct lp_tag t[] = { { "location", "us-midwest" } };
	struct lp_field f[] = { F("temperature", 82.0) };
	expect_line("weather", t, 1, f, 1, true, 1465839830100400200LL,
		    "weather,location=us-midwest temperature=82 1465839830100400200");
}

static void test_h3_measurement_escapes(void **state)
{
	(void)state;
	struct lp_field f15[] = { F("v", 1.5) }, f1[] = { F("v", 1.0) };
	expect_line("my meas,ure", NULL, 0, f15, 1, false, 0, "my\\ meas\\,ure v=1.5");
	expect_line("a=b", NULL, 0, f1, 1, false, 0, "a=b v=1");
}

static void test_h3_tag_and_field_key_escapes(void **state)
{
	(void)state;
	struct lp_tag t[] = { { "tag key", "a,b=c d" } };
	struct lp_field f1[] = { F("v", 1.0) };
	expect_line("m", t, 1, f1, 1, false, 0, "m,tag\\ key=a\\,b\\=c\\ d v=1");
	struct lp_field f2[] = { F("f=1,x y", 1.0) };
	expect_line("m", NULL, 0, f2, 1, false, 0, "m f\\=1\\,x\\ y=1");
}

static void test_h3_strings(void **state)
{
	(void)state;
	struct lp_field f1[] = { { .key = "s", .type = LP_STRING, .v.s = "say \"hi\" \\ bye" } };
	expect_line("m", NULL, 0, f1, 1, false, 0, "m s=\"say \\\"hi\\\" \\\\ bye\"");
	struct lp_field f2[] = { { .key = "s", .type = LP_STRING, .v.s = "a,b c=d" } };
	expect_line("m", NULL, 0, f2, 1, false, 0, "m s=\"a,b c=d\"");
}

static void test_h3_int_uint_bool(void **state)
{
	(void)state;
	struct lp_field fi[] = { { .key = "n", .type = LP_INT, .v.i = 42 },
				 { .key = "neg", .type = LP_INT, .v.i = -7 } };
	expect_line("m", NULL, 0, fi, 2, false, 0, "m n=42i,neg=-7i");
	struct lp_field fu[] = { { .key = "u", .type = LP_UINT, .v.u = UINT64_MAX } };
	expect_line("m", NULL, 0, fu, 1, false, 0, "m u=18446744073709551615u");
	struct lp_field fb[] = { { .key = "ok", .type = LP_BOOL, .v.b = true },
				 { .key = "bad", .type = LP_BOOL, .v.b = false } };
	expect_line("m", NULL, 0, fb, 2, false, 0, "m ok=true,bad=false");
}

static void test_h3_tag_sort_and_empty(void **state)
{
	(void)state;
	struct lp_tag t[] = { { "b", "2" }, { "a", "1" }, { "B", "3" }, { "empty", "" } };
	struct lp_field f[] = { F("v", 0.1) };
	expect_line("m", t, 4, f, 1, true, 1700000000123LL, "m,B=3,a=1,b=2 v=0.1 1700000000123");
}

static void test_h3_utf8_and_exponent(void **state)
{
	(void)state;
	struct lp_tag t[] = { { "room", "K\xc3\xbc" "che" } };
	struct lp_field f[] = { F("v", 23.4) };
	expect_line("temp\xc2\xb0" "C", t, 1, f, 1, false, 0,
		    "temp\xc2\xb0" "C,room=K\xc3\xbc" "che v=23.4");
	struct lp_field e[] = { F("v", 1e21) };
	expect_line("m", NULL, 0, e, 1, false, 0, "m v=1e+21");
}

static void test_h3_rejections(void **state)
{
	(void)state;
	struct lp_field f[] = { F("v", 1.0) };
	struct lp_tag bs1[] = { { "path", "C:\\temp" } };
	struct lp_tag bs2[] = { { "t", "abc\\" } };
	struct lp_tag bs3[] = { { "a\\b", "x" } };
	struct lp_tag nl[] = { { "t", "a\nb" } };
	struct lp_tag ctl[] = { { "t", "a\x7f" } };
	struct lp_tag emptykey[] = { { "", "x" } };
	struct lp_tag dup[] = { { "t", "1" }, { "t", "2" } };

	expect_reject("m", bs1, 1, f, 1);
	expect_reject("m", bs2, 1, f, 1);
	expect_reject("m", bs3, 1, f, 1);
	expect_reject("m\\", NULL, 0, f, 1);
	expect_reject("m", nl, 1, f, 1);
	expect_reject("m", ctl, 1, f, 1);
	expect_reject("m", emptykey, 1, f, 1);
	expect_reject("m", dup, 2, f, 1);
	expect_reject("#m", NULL, 0, f, 1);
	expect_reject("", NULL, 0, f, 1);
	expect_reject("_m", NULL, 0, f, 1);
	expect_reject("m\tx", NULL, 0, f, 1);

	struct lp_field nan[] = { F("v", NAN) }, inf[] = { F("v", INFINITY) },
			ninf[] = { F("v", -INFINITY) };
	expect_reject("m", NULL, 0, nan, 1);
	expect_reject("m", NULL, 0, inf, 1);
	expect_reject("m", NULL, 0, ninf, 1);

	struct lp_field s[] = { { .key = "s", .type = LP_STRING, .v.s = "a\nb" } };
	expect_reject("m", NULL, 0, s, 1);
	struct lp_field s2[] = { { .key = "s", .type = LP_STRING, .v.s = "a\rb" } };
	expect_reject("m", NULL, 0, s2, 1);
	expect_reject("m", NULL, 0, NULL, 0);

	struct lp_field dupf[] = { F("v", 1.0), F("v", 2.0) };
	expect_reject("m", NULL, 0, dupf, 2);
	struct lp_field emptyf[] = { F("", 1.0) };
	expect_reject("m", NULL, 0, emptyf, 1);
	struct lp_field underf[] = { F("_value", 1.0) };
	expect_reject("m", NULL, 0, underf, 1);
}

static void test_string_tab_allowed(void **state)
{
	(void)state;
	struct lp_field f[] = { { .key = "s", .type = LP_STRING, .v.s = "a\tb" } };
	expect_line("m", NULL, 0, f, 1, false, 0, "m s=\"a\tb\"");
}

static void test_float_shortest(void **state)
{
	(void)state;
	char out[LP_FLOAT_LEN];
	static const struct { double v; const char *s; } cases[] = {
		{ 21.4, "21.4" }, { 0.1, "0.1" }, { 48, "48" }, { -1.2e78, "-1.2e+78" },
		{ 0.30000000000000004, "0.30000000000000004" }, { 1.0 / 3, "0.3333333333333333" },
		{ 0.0, "0" }, { -0.0, "0" }, { 5e-324, "4.94065645841247e-324" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = lp_format_float(cases[i].v, out, sizeof(out));
		assert_int_equal(n, (int)strlen(cases[i].s));
		assert_string_equal(out, cases[i].s);
	}
	assert_int_equal(lp_format_float(NAN, out, sizeof(out)), -EINVAL);
}

/*
 * A process locale with a decimal comma must not leak into the output. No
 * such locale is installed on a minimal Debian, so the test builds de_DE
 * with localedef into a temporary LOCPATH; it is skipped without localedef.
 */
static void test_float_c_locale(void **state)
{
	(void)state;
	char dir[] = "/tmp/sw-locale.XXXXXX", cmd[256];
	if (!mkdtemp(dir))
		skip();
	snprintf(cmd, sizeof(cmd), "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
		 dir);
	int built = system(cmd) == 0;
	setenv("LOCPATH", dir, 1);
	const char *got = built ? setlocale(LC_NUMERIC, "de_DE.UTF-8") : NULL;
	char probe[16], out[LP_FLOAT_LEN];
	snprintf(probe, sizeof(probe), "%.3g", 21.4);
	lp_format_float(21.4, out, sizeof(out));
	setlocale(LC_NUMERIC, "C");
	unsetenv("LOCPATH");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		print_message("cannot remove %s\n", dir);
	if (!got)
		skip();
	assert_string_equal(probe, "21,4");   /* the locale really is active */
	assert_string_equal(out, "21.4");
}

static void test_reading_mapping(void **state)
{
	(void)state;
	struct reading r = {
		.ts_ms = 1732276800123LL, .node = "rp3", .sensor = "desk",
		.n_tags = 3,
		.tags = (struct reading_tag[]){ { "location", "desk" }, { "model", "dht22" }, { "node", "evil" } },
		.n_fields = 2,
		.fields = (struct reading_field[]){ { "humidity_percent", 48 }, { "temperature_celsius", 21.4 } },
	};
	struct lp_buf b;
	lp_buf_init(&b, 4096);
	assert_int_equal(lp_append_reading(&b, "sensor", &r, err, sizeof(err)), 0);
	assert_string_equal(b.data, "sensor,location=desk,model=dht22,node=rp3,sensor=desk "
			    "humidity_percent=48,temperature_celsius=21.4 1732276800123\n");
	/* a second reading appends; a rejected one leaves the buffer alone */
	r.fields[0].value = NAN;
	assert_int_equal(lp_append_reading(&b, "sensor", &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(b.lines, 1);
	lp_buf_release(&b);
}

static void test_buffer_max(void **state)
{
	(void)state;
	struct lp_buf b;
	struct lp_field f[] = { F("v", 1.0) };
	lp_buf_init(&b, 12);
	assert_int_equal(lp_append(&b, "m", NULL, 0, f, 1, false, 0, err, sizeof(err)), 0);
	assert_int_equal(lp_append(&b, "m", NULL, 0, f, 1, false, 0, err, sizeof(err)), 0);
	assert_int_equal(b.len, 12);
	assert_int_equal(lp_append(&b, "m", NULL, 0, f, 1, false, 0, err, sizeof(err)),
			 -ENOBUFS);
	assert_int_equal(b.len, 12);
	assert_string_equal(b.data, "m v=1\nm v=1\n");
	lp_buf_clear(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.lines, 0);
	lp_buf_release(&b);
	lp_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h3_weather),
		cmocka_unit_test(test_h3_measurement_escapes),
		cmocka_unit_test(test_h3_tag_and_field_key_escapes),
		cmocka_unit_test(test_h3_strings),
		cmocka_unit_test(test_h3_int_uint_bool),
		cmocka_unit_test(test_h3_tag_sort_and_empty),
		cmocka_unit_test(test_h3_utf8_and_exponent),
		cmocka_unit_test(test_h3_rejections),
		cmocka_unit_test(test_string_tab_allowed),
		cmocka_unit_test(test_float_shortest),
		cmocka_unit_test(test_float_c_locale),
		cmocka_unit_test(test_reading_mapping),
		cmocka_unit_test(test_buffer_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
