/*
 * test_output.c - the engine that drives the sinks (bridge/output.h) and
 * the registry (sink.h, SINKS in sinks/sinks.h).
 *
 * The registry: the sinks, their names and the bridge's configuration table
 * all come from the one SINKS list: every sink is found by its name, the
 * name list joins them in order, and every key of every config_map is in
 * the table (once, after the shared keys) and in --help.
 *
 * The engine, with a fake sink whose receiver refuses what a test says:
 * the split of a refused batch down to the unit at fault (the rest
 * delivered), the request budget, the unbudgeted halving of a too large
 * request, a refusal without split, the slow retry of a configuration
 * error, a retry inside a split (the whole batch again, the sink told),
 * encoder drops, and the dead-letter file (a comment per unit, its bound,
 * none without STATE_DIR).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/sinks/sinks.h"
#include "common/log.h"
#include "sink_driver.h"

/* argv arrays of string literals, as a shell would hand them over */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

/* --- the registry ------------------------------------------------------ */

#define NAME_OF(n) #n,
static const char *const listed[] = { SINKS(NAME_OF) };
#undef NAME_OF
#define N_LISTED (sizeof(listed) / sizeof(listed[0]))

static void test_registry_from_one_list(void **state)
{
	(void)state;
	size_t n;
	const struct sink_ops *const *all = sink_all(&n);
	assert_int_equal(n, N_LISTED);
	char names[256] = "";
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(all[i]->name, listed[i]);
		assert_ptr_equal(sink_find(listed[i]), all[i]);
		assert_non_null(all[i]->encode);
		assert_non_null(all[i]->samples);
		assert_non_null(all[i]->send);
		assert_non_null(all[i]->destroy);
		assert_non_null(all[i]->unit);
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 i ? ", " : "", listed[i]);
	}
	/* what "OUTPUTS: unknown output" and OUTPUTS' help print */
	assert_string_equal(sink_names(), names);
	assert_string_equal(sink_names(), "influx, remote_write, stdout");
	assert_null(sink_find("kafka"));
	assert_null(sink_find(NULL));
}

static const struct cfg_key common_keys[] = {
	{ "OUTPUTS", CFG_STR, "stdout", 0, 0, "outputs" },
	{ "HTTP_TIMEOUT_MS", CFG_INT, "10000", 100, 600000, "timeout" },
	{ "STATE_DIR", CFG_STR, NULL, 0, 0, "state" },
	{ .name = NULL },
};

static size_t table_count(const struct cfg_key *t, const char *name)
{
	size_t n = 0;
	for (; t->name; t++)
		n += strcmp(t->name, name) == 0;
	return n;
}

static void test_key_table_and_help(void **state)
{
	(void)state;
	struct cfg_key *t = sink_key_table(common_keys);
	assert_non_null(t);
	/* the shared keys first, as given */
	for (size_t i = 0; common_keys[i].name; i++)
		assert_string_equal(t[i].name, common_keys[i].name);
	size_t n, keys = 0;
	const struct sink_ops *const *all = sink_all(&n);
	for (size_t s = 0; s < n; s++) {
		for (const struct cfg_key *k = all[s]->config_map; k && k->name; k++) {
			assert_int_equal(table_count(t, k->name), 1);
			assert_non_null(k->help);
			keys++;
		}
	}
	assert_true(keys >= 16);   /* 10 INFLUX_*, 5 REMOTE_WRITE_*, METRIC_PREFIX */
	assert_int_equal(table_count(t, "INFLUX_URL"), 1);
	assert_int_equal(table_count(t, "METRIC_PREFIX"), 1);

	/* --help lists every one of them */
	struct cfg c;
	assert_int_equal(cfg_init(&c, t), 0);
	char path[] = "/tmp/sw-output-help.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	struct cfg_cli cli = { .prog = "sensor-bridge", .summary = "test" };
	char *argv[] = { "sensor-bridge", "--help", NULL };
	bool check = false;
	int rc = cfg_from_cli(&c, &cli, "0", 2, argv, NULL, &check);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	assert_int_equal(rc, 1);
	static char help[32768];
	ssize_t len = pread(fd, help, sizeof(help) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(len > 0);
	help[len] = '\0';
	for (size_t s = 0; s < n; s++) {
		for (const struct cfg_key *k = all[s]->config_map; k && k->name; k++) {
			char want[128];
			snprintf(want, sizeof(want), "\n  %s ", k->name);
			if (!strstr(help, want))
				fail_msg("--help does not list %s", k->name);
			if (!strstr(help, k->help))
				fail_msg("--help does not show the help of %s", k->name);
		}
	}
	cfg_release(&c);
	free(t);
}

/* --- the engine, with a fake sink ------------------------------------- */

#define UNITS_MAX 128

enum refuse_mode { ACCEPT, REFUSE_BAD, REFUSE_ALL, TOO_LARGE, REFUSE_NOSPLIT, CONFIG,
		   RETRY_THIRD };

static struct {
	enum refuse_mode mode;
	bool bad[UNITS_MAX];      /* units the receiver refuses (REFUSE_BAD) */
	size_t n;                 /* units in the encoded batch */
	size_t reqs;              /* sends */
	size_t ra[512], rb[512];  /* their ranges */
	size_t delivered[UNITS_MAX];
	int retry_after_ms;
	int done_calls, done_retry;
	size_t skip;              /* readings the encoder refuses (the first ones) */
} fk;

static void *fake_create(const struct cfg *c, bool dry_run, char *err, size_t errlen)
{
	(void)c;
	(void)dry_run;
	(void)err;
	(void)errlen;
	static int sink;
	return &sink;
}

/* Each reading is one unit of its n_fields samples, unless skipped. */
static long fake_encode(void *sink, const struct reading *const *r, size_t n, size_t *dropped)
{
	(void)sink;
	fk.n = 0;
	for (size_t i = 0; i < n; i++) {
		if (i < fk.skip)
			*dropped += r[i]->n_fields;
		else
			fk.n++;
	}
	return (long)fk.n;
}

static size_t fake_samples(void *sink, size_t k)
{
	(void)sink;
	(void)k;
	return 2;
}

static void fake_send(void *sink, size_t a, size_t b, struct sink_answer *ans)
{
	(void)sink;
	size_t q = fk.reqs++;
	fk.ra[q % 512] = a;
	fk.rb[q % 512] = b;
	bool bad = false;
	for (size_t k = a; k < b; k++)
		bad |= fk.bad[k];
	ans->kind = SINK_ANSWER_ERROR;
	ans->status = 400;
	snprintf(ans->reason, sizeof(ans->reason), "refused\nsecond line");
	switch (fk.mode) {
	case REFUSE_BAD:
		if (bad)
			return;
		break;
	case REFUSE_ALL:
		return;
	case TOO_LARGE:
		ans->error = SINK_ERR_TOO_LARGE;
		ans->status = 413;
		if (b - a > 1 || bad)
			return;
		break;
	case REFUSE_NOSPLIT:
		ans->error = SINK_ERR_REFUSED;
		ans->status = 409;
		return;
	case CONFIG:
		ans->error = SINK_ERR_CONFIG;
		ans->status = 401;
		ans->retry_after_ms = fk.retry_after_ms;
		snprintf(ans->reason, sizeof(ans->reason), "status 401 from 'x' (check it): no");
		return;
	case RETRY_THIRD:
		if (q == 0)
			return;
		if (q == 2) {
			ans->kind = SINK_ANSWER_RETRY;
			ans->status = 503;
			memset(ans->reason, 'x', 400);
			ans->reason[400] = '\0';
			return;
		}
		break;
	case ACCEPT:
		break;
	}
	ans->kind = SINK_ANSWER_OK;
	for (size_t k = a; k < b; k++)
		fk.delivered[k]++;
}

static char *fake_text(void *sink, size_t a, size_t b)
{
	(void)sink;
	char *t = malloc(32 * (b - a) + 1), *p = t;
	for (size_t k = a; k < b; k++)
		p += sprintf(p, "unit %zu\n", k);
	*p = '\0';
	return t;
}

static void fake_done(void *sink, bool retry)
{
	(void)sink;
	fk.done_calls++;
	fk.done_retry += retry;
}

static void fake_destroy(void *sink)
{
	(void)sink;
}

static const struct sink_ops fake_ops = {
	.name = "fake",
	.unit = "unit",
	.deadletter = "deadletter-fake.txt",
	.create = fake_create,
	.encode = fake_encode,
	.samples = fake_samples,
	.send = fake_send,
	.text = fake_text,
	.done = fake_done,
	.destroy = fake_destroy,
};

static const struct cfg_key fake_keys[] = {
	{ "STATE_DIR", CFG_STR, NULL, 0, 0, "" },
	{ .name = NULL },
};

static struct cfg cfg;
static char dir[64], dl[96];
static struct reading rd[UNITS_MAX];
static const struct reading *rp[UNITS_MAX];

static int before(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	fk.retry_after_ms = -1;
	snprintf(dir, sizeof(dir), "/tmp/sw-output.XXXXXX");
	if (!mkdtemp(dir) || cfg_init(&cfg, fake_keys) < 0)
		return -1;
	snprintf(dl, sizeof(dl), "%s/deadletter-fake.txt", dir);
	char err[128];
	static struct reading_field f[2] = { { "a", 1 }, { "b", 2 } };
	for (size_t i = 0; i < UNITS_MAX; i++) {
		rd[i] = (struct reading){ .ts_ms = 1000 + (int64_t)i, .node = "n", .sensor = "s",
					  .n_fields = 2, .fields = f };
		rp[i] = &rd[i];
	}
	return cfg_set(&cfg, "STATE_DIR", dir, "test", err, sizeof(err));
}

static int after(void **state)
{
	(void)state;
	unlink(dl);
	rmdir(dir);
	cfg_release(&cfg);
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_split_to_the_bad_unit(void **state)
{
	(void)state;
	struct output *o = drive(&fake_ops, &cfg, false);
	fk.mode = REFUSE_BAD;
	fk.bad[5] = true;
	struct sink_result res;
	output_send(o, rp, 8, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 2);
	/* 8 -> [0,4) ok, [4,8) -> [4,6) -> [4,5) ok, [5,6) refused; [6,8) ok */
	assert_int_equal(fk.reqs, 7);
	assert_int_equal(fk.ra[4], 4);
	assert_int_equal(fk.rb[4], 5);
	assert_int_equal(fk.ra[5], 5);
	assert_int_equal(fk.rb[5], 6);
	for (size_t k = 0; k < 8; k++)
		assert_int_equal(fk.delivered[k], k == 5 ? 0 : 1);
	assert_int_equal(fk.done_calls, 1);
	assert_int_equal(fk.done_retry, 0);
	/* one comment (the message on one line) and the unit's text */
	const char *t = slurp(dl);
	assert_non_null(t);
	assert_int_equal(count(t, "\n"), 2);
	assert_non_null(strstr(t, "Z status=400 refused second line\nunit 5\n"));
	assert_memory_equal(t, "# ", 2);
	undrive(o);
}

static void test_split_budget(void **state)
{
	(void)state;
	struct output *o = drive(&fake_ops, &cfg, false);
	fk.mode = REFUSE_ALL;
	struct sink_result res;
	output_send(o, rp, 100, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 200);
	assert_int_equal(fk.reqs, 1 + 64);
	/* every unit is in the file once, each after its comment */
	const char *t = slurp(dl);
	assert_non_null(t);
	assert_int_equal(count(t, "\n# "), 99);
	assert_int_equal(count(t, " status=400 refused second line\nunit "), 100);
	undrive(o);
}

static void test_too_large_halves_without_budget(void **state)
{
	(void)state;
	struct output *o = drive(&fake_ops, &cfg, false);
	fk.mode = TOO_LARGE;
	struct sink_result res;
	output_send(o, rp, 128, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 0);
	assert_int_equal(fk.reqs, 255);   /* a full binary tree of 128 leaves: past 64 */
	for (size_t k = 0; k < 128; k++)
		assert_int_equal(fk.delivered[k], 1);
	/* a single unit too large: dropped as such */
	memset(&fk, 0, sizeof(fk));
	fk.mode = TOO_LARGE;
	fk.bad[0] = true;
	output_send(o, rp, 1, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);
	assert_non_null(strstr(slurp(dl), " status=413 unit too large for the server\nunit 0\n"));
	undrive(o);
}

static void test_refused_without_split(void **state)
{
	(void)state;
	struct output *o = drive(&fake_ops, &cfg, false);
	fk.mode = REFUSE_NOSPLIT;
	struct sink_result res;
	output_send(o, rp, 4, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 8);
	assert_int_equal(fk.reqs, 1);
	assert_int_equal(count(slurp(dl), " status=409 "), 4);
	undrive(o);
}

static void test_config_error_slow_retry(void **state)
{
	(void)state;
	struct output *o = drive(&fake_ops, &cfg, false);
	fk.mode = CONFIG;
	struct sink_result res;
	output_send(o, rp, 4, &res);
	assert_int_equal(res.verdict, SINK_RETRY);
	assert_int_equal(res.retry_after_ms, SINK_CONFIG_RETRY_MS);
	assert_int_equal(fk.reqs, 1);
	assert_int_equal(fk.done_retry, 1);
	assert_null(slurp(dl));   /* nothing is dropped */
	/* a longer Retry-After is honoured */
	fk.retry_after_ms = 120000;
	output_send(o, rp, 4, &res);
	assert_int_equal(res.retry_after_ms, 120000);
	undrive(o);
}

static void test_retry_inside_split(void **state)
{
	(void)state;
	struct output *o = drive(&fake_ops, &cfg, false);
	fk.mode = RETRY_THIRD;   /* refused, first half ok, second half 503 */
	struct sink_result res;
	output_send(o, rp, 4, &res);
	assert_int_equal(res.verdict, SINK_RETRY);
	assert_int_equal(res.retry_after_ms, -1);
	assert_int_equal(fk.reqs, 3);
	assert_int_equal(fk.done_retry, 1);
	/* the reason, cut to the result's size */
	assert_int_equal(strlen(res.reason), sizeof(res.reason) - 1);
	assert_string_equal(res.reason + sizeof(res.reason) - 4, "...");
	assert_null(slurp(dl));
	undrive(o);
}

static void test_encoder_drops(void **state)
{
	(void)state;
	struct output *o = drive(&fake_ops, &cfg, false);
	fk.skip = 1;
	struct sink_result res;
	output_send(o, rp, 3, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 2);
	assert_int_equal(fk.reqs, 1);
	/* nothing left to send: nothing sent */
	output_send(o, rp, 1, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);
	assert_int_equal(fk.reqs, 1);
	output_send(o, rp, 0, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(fk.done_calls, 3);
	undrive(o);
}

static void test_deadletter_bounded(void **state)
{
	(void)state;
	int fd = open(dl, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 << 20), 0);   /* sparse */
	close(fd);
	struct output *o = drive(&fake_ops, &cfg, false);
	fk.mode = REFUSE_BAD;
	fk.bad[2] = true;
	struct sink_result res;
	output_send(o, rp, 4, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 2);
	struct stat st;
	assert_int_equal(stat(dl, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	undrive(o);
}

static void test_no_state_dir(void **state)
{
	(void)state;
	struct cfg bare;
	assert_int_equal(cfg_init(&bare, fake_keys), 0);
	struct output *o = drive(&fake_ops, &bare, false);
	assert_null(o->dl_path);
	fk.mode = REFUSE_ALL;
	struct sink_result res;
	output_send(o, rp, 1, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);
	assert_null(slurp(dl));
	undrive(o);
	cfg_release(&bare);
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_from_one_list),
		cmocka_unit_test(test_key_table_and_help),
		cmocka_unit_test_setup_teardown(test_split_to_the_bad_unit, before, after),
		cmocka_unit_test_setup_teardown(test_split_budget, before, after),
		cmocka_unit_test_setup_teardown(test_too_large_halves_without_budget, before, after),
		cmocka_unit_test_setup_teardown(test_refused_without_split, before, after),
		cmocka_unit_test_setup_teardown(test_config_error_slow_retry, before, after),
		cmocka_unit_test_setup_teardown(test_retry_inside_split, before, after),
		cmocka_unit_test_setup_teardown(test_encoder_drops, before, after),
		cmocka_unit_test_setup_teardown(test_deadletter_bounded, before, after),
		cmocka_unit_test_setup_teardown(test_no_state_dir, before, after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
