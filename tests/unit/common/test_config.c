/*
 * test_config.c - configuration precedence (defaults < file < env < flags),
 * file:line errors, *_FILE secrets, masking, typed checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

/* argv arrays of string literals, as a shell would hand them over */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#include "common/log.h"

static const struct cfg_key keys[] = {
	{ "MQTT_URL", CFG_STR, "tcp://localhost:1883", 0, 0, "url" },
	{ "MQTT_QOS", CFG_INT, "1", 0, 2, "qos" },
	{ "INFLUX_GZIP", CFG_BOOL, "true", 0, 0, "gzip" },
	{ "INFLUX_TOKEN", CFG_SECRET, NULL, 0, 0, "token" },
	{ "SENSORS", CFG_STR, NULL, 0, 0, "sensors" },
	{ "LOG_LEVEL", CFG_STR, "info", 0, 0, "level" },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static char dir[64];

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/sw-cfg-XXXXXX");
	unsetenv("MQTT_URL");
	unsetenv("MQTT_QOS");
	unsetenv("INFLUX_TOKEN");
	unsetenv("INFLUX_TOKEN_FILE");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int run_cli(struct cfg *c, int argc, char **argv, bool *check)
{
	struct cfg_cli cli = { .prog = "t", .summary = "test", .flags = NULL };
	return cfg_from_cli(c, &cli, "0", argc, argv, NULL, check);
}

static void test_precedence(void **state)
{
	(void)state;
	struct cfg c;
	bool check;
	const char *path = write_file("a.env",
				      "# comment\n\nMQTT_URL=tcp://file:1883\nMQTT_QOS=0\n"
				      "SENSORS=\"desk=dht22,line=4 demo=sim\"\nexport INFLUX_GZIP=no\n");
	char *p = strdup(path);
	assert_int_equal(cfg_init(&c, keys), 0);
	assert_string_equal(cfg_str(&c, "MQTT_URL"), "tcp://localhost:1883");
	setenv("MQTT_URL", "tcp://env:1883", 1);
	char *argv[] = { "t", "--config", p, "--mqtt-qos", "2", NULL };
	assert_int_equal(run_cli(&c, 5, argv, &check), 0);
	assert_false(check);
	assert_string_equal(cfg_str(&c, "MQTT_URL"), "tcp://env:1883"); /* env > file */
	assert_int_equal(cfg_int(&c, "MQTT_QOS"), 2);                   /* flag > file */
	assert_false(cfg_bool(&c, "INFLUX_GZIP"));                       /* file > default */
	assert_string_equal(cfg_str(&c, "SENSORS"), "desk=dht22,line=4 demo=sim");
	cfg_release(&c);

	/* flag beats env too, in --key=value form */
	assert_int_equal(cfg_init(&c, keys), 0);
	char *argv2[] = { "t", "--mqtt-url=tcp://flag:1883", "--check-config", NULL };
	assert_int_equal(run_cli(&c, 3, argv2, &check), 0);
	assert_true(check);
	assert_string_equal(cfg_str(&c, "MQTT_URL"), "tcp://flag:1883");
	cfg_release(&c);
	free(p);
}

static void expect_file_error(const char *text, const char *want)
{
	struct cfg c;
	char err[512];
	const char *path = write_file("bad.env", text);
	assert_int_equal(cfg_init(&c, keys), 0);
	assert_int_equal(cfg_load_file(&c, path, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("expected '%s' in '%s'", want, err);
	cfg_release(&c);
}

static void test_file_errors_name_file_and_line(void **state)
{
	(void)state;
	char want[256];
	snprintf(want, sizeof(want), "%s/bad.env:3: unknown key 'MQTT_URI'", dir);
	expect_file_error("MQTT_QOS=1\n# fine\nMQTT_URI=tcp://x\n", want);
	snprintf(want, sizeof(want), "%s/bad.env:2: expected KEY=VALUE", dir);
	expect_file_error("\nMQTT_URL tcp://x\n", want);
	snprintf(want, sizeof(want), "%s/bad.env:1: MQTT_QOS: 5 is out of range 0..2", dir);
	expect_file_error("MQTT_QOS=5\n", want);
	snprintf(want, sizeof(want), "%s/bad.env:1: MQTT_QOS: 'one' is not an integer", dir);
	expect_file_error("MQTT_QOS=one\n", want);
	snprintf(want, sizeof(want), "%s/bad.env:1: INFLUX_GZIP: 'maybe' is not a boolean", dir);
	expect_file_error("INFLUX_GZIP=maybe\n", want);
	snprintf(want, sizeof(want), "%s/bad.env:1: SENSORS: unterminated quote", dir);
	expect_file_error("SENSORS=\"desk=sim\n", want);
	/* _FILE only exists for secrets */
	snprintf(want, sizeof(want), "%s/bad.env:1: unknown key 'MQTT_URL_FILE'", dir);
	expect_file_error("MQTT_URL_FILE=/x\n", want);
}

static void test_secret_file_and_mask(void **state)
{
	(void)state;
	struct cfg c;
	bool check;
	const char *sp = write_file("token", "s3cr3t-token\n");
	char *secret_path = strdup(sp);
	setenv("INFLUX_TOKEN_FILE", secret_path, 1);
	assert_int_equal(cfg_init(&c, keys), 0);
	char *argv[] = { "t", NULL };
	assert_int_equal(run_cli(&c, 1, argv, &check), 0);
	assert_string_equal(cfg_str(&c, "INFLUX_TOKEN"), "s3cr3t-token");

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cfg_print(&c, f);
	fclose(f);
	assert_null(strstr(buf, "s3cr3t"));
	assert_non_null(strstr(buf, "INFLUX_TOKEN=********"));
	free(buf);
	cfg_release(&c);
	unsetenv("INFLUX_TOKEN_FILE");

	/* a secret on the command line is refused (it would show in ps) */
	assert_int_equal(cfg_init(&c, keys), 0);
	char *argv2[] = { "t", "--influx-token", "abc", NULL };
	assert_int_equal(run_cli(&c, 3, argv2, &check), -1);
	cfg_release(&c);

	/* but its _FILE variant is fine */
	assert_int_equal(cfg_init(&c, keys), 0);
	char opt[200];
	snprintf(opt, sizeof(opt), "--influx-token-file=%s", secret_path);
	char *argv3[] = { "t", opt, NULL };
	assert_int_equal(run_cli(&c, 2, argv3, &check), 0);
	assert_string_equal(cfg_str(&c, "INFLUX_TOKEN"), "s3cr3t-token");
	cfg_release(&c);

	/* a missing secret file is an error naming the key */
	char err[256];
	assert_int_equal(cfg_init(&c, keys), 0);
	assert_int_equal(cfg_set(&c, "INFLUX_TOKEN_FILE", "/nonexistent/x", "env", err,
				 sizeof(err)), -1);
	assert_non_null(strstr(err, "INFLUX_TOKEN_FILE"));
	cfg_release(&c);
	free(secret_path);
}

static void test_bad_flags(void **state)
{
	(void)state;
	struct cfg c;
	bool check;
	assert_int_equal(cfg_init(&c, keys), 0);
	char *a1[] = { "t", "--no-such-thing", "x", NULL };
	assert_int_equal(run_cli(&c, 3, a1, &check), -1);
	char *a2[] = { "t", "--mqtt-qos", NULL };
	assert_int_equal(run_cli(&c, 2, a2, &check), -1);
	char *a3[] = { "t", "--log-level", "loud", NULL };
	assert_int_equal(run_cli(&c, 3, a3, &check), -1);
	char *a4[] = { "t", "--config", "/nonexistent.env", NULL };
	assert_int_equal(run_cli(&c, 3, a4, &check), -1);
	cfg_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors_name_file_and_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_file_and_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_flags, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
