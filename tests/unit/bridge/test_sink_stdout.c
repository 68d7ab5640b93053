/*
 * test_sink_stdout.c - the default output: one line-protocol line per
 * reading on stdout (INFLUX_MEASUREMENT honoured), bad readings counted.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/sinks/sinks.h"
#include "sink_driver.h"

static const struct cfg_key keys[] = {
	{ "INFLUX_MEASUREMENT", CFG_STR, "sensor", 0, 0, "" },
	{ .name = NULL },
};

static void test_lines(void **state)
{
	(void)state;
	struct cfg c;
	assert_int_equal(cfg_init(&c, keys), 0);
	assert_ptr_equal(sink_find("stdout"), &stdout_sink_ops);
	assert_ptr_equal(sink_find("influx"), &influx_sink_ops);
	assert_ptr_equal(sink_find("remote_write"), &remote_write_sink_ops);
	assert_null(sink_find("kafka"));
	struct output *s = drive(&stdout_sink_ops, &c, false);

	struct reading r[3];
	struct reading_field f[3][1];
	const struct reading *p[3];
	for (int i = 0; i < 3; i++) {
		f[i][0] = (struct reading_field){ "temperature_celsius", 21.4 };
		r[i] = (struct reading){ .ts_ms = 1000 + i, .node = "rp3", .sensor = "desk",
					 .n_fields = 1, .fields = f[i] };
		p[i] = &r[i];
	}
	r[1].fields[0].value = INFINITY;

	char path[] = "/tmp/sw-stdout.XXXXXX";
	int fd = mkstemp(path);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	struct sink_result res;
	output_send(s, p, 3, &res);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	char out[512] = "";
	ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	unlink(path);

	assert_true(n > 0);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 1);
	assert_string_equal(out, "sensor,node=rp3,sensor=desk temperature_celsius=21.4 1000\n"
			    "sensor,node=rp3,sensor=desk temperature_celsius=21.4 1002\n");
	undrive(s);
	cfg_release(&c);
}

static void test_reason(void **state)
{
	(void)state;
	char buf[24];
	sink_reason(buf, sizeof(buf), "status %d: %s", 503, "busy");
	assert_string_equal(buf, "status 503: busy");
	/* longer than the buffer: cut, and says so */
	sink_reason(buf, sizeof(buf), "status %d: %s", 503, "a long body from the server");
	assert_string_equal(buf, "status 503: a long b...");
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
