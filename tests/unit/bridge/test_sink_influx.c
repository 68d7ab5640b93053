/*
 * test_sink_influx.c - the influx sink against an in-process receiver: the
 * exact v1 and v2 requests (path, query, headers, gzip body), 413 splitting,
 * 503 + Retry-After, 400 drop and bisection, the dead-letter file in
 * STATE_DIR (format, append, bound), 401 as a configuration error, encoder
 * rejections, dry run, and configuration errors. The sink runs behind the
 * engine (output_send(), sink_driver.h), which owns the splits, the dead
 * letters and the slow retry of a configuration error.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "bridge/sinks/sinks.h"
#include "fake_server.h"
#include "sink_driver.h"

/* the shared keys the sinks read; each sink's own come from its config_map
 * (sink_key_table(), as the bridge builds its table) */
static const struct cfg_key common_keys[] = {
	{ "HTTP_TIMEOUT_MS", CFG_INT, "5000", 0, 0, "" },
	{ "STATE_DIR", CFG_STR, NULL, 0, 0, "" },
	{ .name = NULL },
};
static struct cfg_key *keys;

static struct cfg cfg;

/* Starts a fresh config and receiver log before each test. */
static int before(void **state)
{
	(void)state;
	fake_reset(&srv);
	return cfg_init(&cfg, keys);
}

static int after(void **state)
{
	(void)state;
	cfg_release(&cfg);
	return 0;
}

static void set(const char *k, const char *v)
{
	char err[256];
	if (cfg_set(&cfg, k, v, "test", err, sizeof(err)) < 0)
		fail_msg("%s", err);
}

/* The sink behind the engine: output_send() is one try of a batch. */
static struct output *create(bool dry_run)
{
	return drive(&influx_sink_ops, &cfg, dry_run);
}

static struct reading rd[8];
static const struct reading *rp[8];

/* The v1 API on the fake receiver, uncompressed so that bodies read as text. */
static void v1_plain(void)
{
	set("INFLUX_URL", srv.base);
	set("INFLUX_DB", "db");
	set("INFLUX_GZIP", "false");
}

/* n readings of sensor s<i> on rp3 at ts 1700000000000 + i. */
static void make_readings(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		static char names[8][8];
		snprintf(names[i], sizeof(names[i]), "s%zu", i);
		static struct reading_tag tag[] = { { "location", "desk" } };
		static struct reading_field fields[8][2];
		fields[i][0] = (struct reading_field){ "humidity_percent", 48 };
		fields[i][1] = (struct reading_field){ "temperature_celsius", 21.4 };
		rd[i] = (struct reading){
			.ts_ms = 1700000000000LL + (int64_t)i, .node = "rp3", .sensor = names[i],
			.n_tags = 1, .tags = tag, .n_fields = 2, .fields = fields[i],
		};
		rp[i] = &rd[i];
	}
}

static const char *line_of(size_t i)
{
	static char buf[8][256];
	snprintf(buf[i], sizeof(buf[i]), "sensor,location=desk,node=rp3,sensor=s%zu "
		 "humidity_percent=48,temperature_celsius=21.4 %lld\n", i,
		 1700000000000LL + (long long)i);
	return buf[i];
}

static char *body_text(const struct fake_req *rq)
{
	char *t = malloc(rq->len + 1);
	memcpy(t, rq->body, rq->len);
	t[rq->len] = '\0';
	return t;
}

static void test_v1_request(void **state)
{
	(void)state;
	char url[128];
	snprintf(url, sizeof(url), "%s/", srv.base);   /* trailing slash is fine */
	set("INFLUX_URL", url);
	set("INFLUX_DB", "sensors db");
	set("INFLUX_RP", "autogen");
	set("INFLUX_USERNAME", "writer");
	set("INFLUX_PASSWORD", "pw");
	void *s = create(false);
	make_readings(2);
	struct sink_result res;
	output_send(s, rp, 2, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 0);
	assert_int_equal(res.retry_after_ms, -1);

	assert_int_equal(srv.n_reqs, 1);
	const struct fake_req *rq = &srv.reqs[0];
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->uri, "/write?db=sensors%20db&rp=autogen&precision=ms");
	assert_string_equal(fake_header(rq, "Content-Type"), "text/plain; charset=utf-8");
	assert_string_equal(fake_header(rq, "Content-Encoding"), "gzip");
	assert_string_equal(fake_header(rq, "User-Agent"), "sensorwire/" SW_VERSION);
	assert_string_equal(fake_header(rq, "Authorization"), "Basic d3JpdGVyOnB3");
	char *text = fake_gunzip(rq->body, rq->len);
	assert_non_null(text);
	char want[600];
	snprintf(want, sizeof(want), "%s%s", line_of(0), line_of(1));
	assert_string_equal(text, want);
	free(text);
	undrive(s);
}

static void test_v2_request(void **state)
{
	(void)state;
	set("INFLUX_URL", srv.base);
	set("INFLUX_ORG", "my org");
	set("INFLUX_BUCKET", "sensors/raw");
	set("INFLUX_TOKEN", "tok==");
	set("INFLUX_GZIP", "false");
	set("INFLUX_MEASUREMENT", "env");
	void *s = create(false);
	make_readings(1);
	struct sink_result res;
	output_send(s, rp, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);

	const struct fake_req *rq = &srv.reqs[0];
	assert_string_equal(rq->uri,
			    "/api/v2/write?org=my%20org&bucket=sensors%2Fraw&precision=ms");
	assert_string_equal(fake_header(rq, "Authorization"), "Token tok==");
	assert_string_equal(fake_header(rq, "Content-Type"), "text/plain; charset=utf-8");
	assert_null(fake_header(rq, "Content-Encoding"));
	char *text = body_text(rq);
	assert_string_equal(text, "env,location=desk,node=rp3,sensor=s0 "
			    "humidity_percent=48,temperature_celsius=21.4 1700000000000\n");
	free(text);
	undrive(s);
}

/* 413 unless the body is one line. */
static void too_large_policy(struct fake_srv *f, const struct fake_req *rq,
			     struct fake_resp *out)
{
	(void)f;
	size_t lines = 0;
	for (size_t i = 0; i < rq->len; i++)
		lines += rq->body[i] == '\n';
	out->status = lines > 1 ? 413 : 204;
}

static void test_413_split(void **state)
{
	(void)state;
	v1_plain();
	srv.policy = too_large_policy;
	void *s = create(false);
	make_readings(4);
	struct sink_result res;
	output_send(s, rp, 4, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 0);
	/* 4 lines -> 2+2 -> 1+1+1+1: 7 requests, the single lines in order */
	assert_int_equal(srv.n_reqs, 7);
	size_t k = 0;
	for (size_t i = 0; i < srv.n_reqs; i++) {
		if (srv.reqs[i].len != strlen(line_of(0)))
			continue;
		char *t = body_text(&srv.reqs[i]);
		assert_string_equal(t, line_of(k++));
		free(t);
	}
	assert_int_equal(k, 4);
	undrive(s);
}

static void test_503_retry_after(void **state)
{
	(void)state;
	set("INFLUX_URL", srv.base);
	set("INFLUX_DB", "db");
	fake_script(&srv, (struct fake_resp){ 503, "Retry-After: 3", "overloaded", 0 });
	void *s = create(false);
	make_readings(2);
	struct sink_result res;
	output_send(s, rp, 2, &res);
	assert_int_equal(res.verdict, SINK_RETRY);
	assert_int_equal(res.retry_after_ms, 3000);
	assert_string_equal(res.reason, "status 503: overloaded");
	/* the same batch goes through once the server is back */
	output_send(s, rp, 2, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(srv.n_reqs, 2);
	undrive(s);
}

static void test_400_drop(void **state)
{
	(void)state;
	set("INFLUX_URL", srv.base);
	set("INFLUX_DB", "db");
	fake_script(&srv, (struct fake_resp){ 400, NULL, "{\"error\":\"partial write\"}", 0 });
	void *s = create(false);
	make_readings(1);
	struct sink_result res;
	output_send(s, rp, 1, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);
	assert_int_equal(srv.n_reqs, 1);
	undrive(s);
}

/* 400 whenever the body holds the line of sensor s2. */
static void bad_line_policy(struct fake_srv *f, const struct fake_req *rq,
			    struct fake_resp *out)
{
	(void)f;
	out->status = memmem(rq->body, rq->len, "sensor=s2 ", 10) ? 400 : 204;
	out->body = out->status == 400 ? "unable to parse" : NULL;
}

/* Every line but that of s2 reached the server, in requests without s2, once. */
static void assert_delivered_all_but_s2(void)
{
	char delivered[2048] = "";
	for (size_t i = 0; i < srv.n_reqs; i++) {
		if (memmem(srv.reqs[i].body, srv.reqs[i].len, "sensor=s2 ", 10))
			continue;
		strncat(delivered, (char *)srv.reqs[i].body, srv.reqs[i].len);
	}
	char want[2048];
	snprintf(want, sizeof(want), "%s%s%s", line_of(0), line_of(1), line_of(3));
	assert_string_equal(delivered, want);
}

static void test_400_bisect(void **state)
{
	(void)state;
	v1_plain();
	srv.policy = bad_line_policy;
	void *s = create(false);
	make_readings(4);
	struct sink_result res;
	output_send(s, rp, 4, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 2);   /* the two fields of s2 */
	assert_delivered_all_but_s2();
	undrive(s);
}

/* 400 with refuse_msg whenever the body holds the line of sensor s2. */
static const char *refuse_msg;

static void poison_policy(struct fake_srv *f, const struct fake_req *rq,
			  struct fake_resp *out)
{
	(void)f;
	out->status = memmem(rq->body, rq->len, "sensor=s2 ", 10) ? 400 : 204;
	out->body = out->status == 400 ? refuse_msg : NULL;
}

/* The whole file, NUL-terminated (malloc'd), or NULL when it does not exist. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *t = calloc(1, 1 << 16);
	size_t n = fread(t, 1, (1 << 16) - 1, f);
	t[n] = '\0';
	fclose(f);
	return t;
}

/*
 * Checks one dead-letter record at *p: "# <now, UTC ms>Z status=400 <msg>\n"
 * then the line of sensor s2; moves *p past it.
 */
static void expect_record(const char **p, const char *msg)
{
	struct tm tm = { 0 };
	int ms = -1, status = 0, at = 0;
	assert_int_equal(sscanf(*p, "# %4d-%2d-%2dT%2d:%2d:%2d.%3dZ status=%d %n", &tm.tm_year,
				&tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
				&ms, &status, &at), 8);
	assert_int_equal(status, 400);
	assert_true(ms >= 0 && ms <= 999);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	/* the record's clock is CLOCK_REALTIME; time() reads the coarse clock,
	 * which trails it by up to a tick, so a record written in the last
	 * milliseconds of a second failed "t <= time(NULL)" (a CI run did) */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	time_t t = timegm(&tm), now = ts.tv_sec;
	assert_true(t <= now && t >= now - 30);
	*p += at;
	size_t ml = strlen(msg);
	assert_memory_equal(*p, msg, ml);
	assert_int_equal((*p)[ml], '\n');
	*p += ml + 1;
	size_t ll = strlen(line_of(2));
	assert_memory_equal(*p, line_of(2), ll);
	*p += ll;
}

static void test_400_deadletter(void **state)
{
	(void)state;
	char dir[] = "/tmp/sw-influx-dl.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/deadletter-influx.lp", dir);
	v1_plain();
	set("STATE_DIR", dir);
	srv.policy = poison_policy;
	/* two lines in the answer: the comment must stay one line */
	refuse_msg = "partial write:\nfield type conflict\n";
	void *s = create(false);
	make_readings(4);
	struct sink_result res;
	output_send(s, rp, 4, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 2);   /* the two fields of s2 */


	assert_delivered_all_but_s2();

	/* exactly the poison line, with its comment */
	char *text = slurp(path);
	assert_non_null(text);
	const char *p = text;
	expect_record(&p, "partial write: field type conflict");
	assert_string_equal(p, "");
	free(text);

	/* a second refusal is appended; a long message is cut to 300 bytes */
	char longmsg[600];
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	refuse_msg = longmsg;
	output_send(s, &rp[2], 1, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);
	text = slurp(path);
	assert_non_null(text);
	p = text;
	expect_record(&p, "partial write: field type conflict");
	longmsg[300] = '\0';
	expect_record(&p, longmsg);
	assert_string_equal(p, "");
	free(text);

	undrive(s);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* At 64 MiB the dead-letter file takes nothing more; the rest is still sent. */
static void test_deadletter_bounded(void **state)
{
	(void)state;
	char dir[] = "/tmp/sw-influx-dl.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/deadletter-influx.lp", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 << 20), 0);   /* sparse */
	close(fd);
	v1_plain();
	set("STATE_DIR", dir);
	srv.policy = poison_policy;
	refuse_msg = "partial write: field type conflict";
	void *s = create(false);
	make_readings(4);
	struct sink_result res;
	output_send(s, rp, 4, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 2);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	undrive(s);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_401_configuration(void **state)
{
	(void)state;
	set("INFLUX_URL", srv.base);
	set("INFLUX_ORG", "o");
	set("INFLUX_BUCKET", "b");
	fake_script(&srv, (struct fake_resp){ 401, NULL, "unauthorized", 0 });
	void *s = create(false);
	make_readings(1);
	struct sink_result res;
	output_send(s, rp, 1, &res);
	assert_int_equal(res.verdict, SINK_RETRY);
	assert_true(res.retry_after_ms >= SINK_CONFIG_RETRY_MS);
	undrive(s);
}

static void test_rejected_reading_skipped(void **state)
{
	(void)state;
	v1_plain();
	void *s = create(false);
	make_readings(3);
	rd[1].fields[0].value = NAN;
	struct sink_result res;
	output_send(s, rp, 3, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 2);
	char *t = body_text(&srv.reqs[0]);
	char want[600];
	snprintf(want, sizeof(want), "%s%s", line_of(0), line_of(2));
	assert_string_equal(t, want);
	free(t);

	/* a batch of nothing but bad readings sends nothing */
	output_send(s, &rp[1], 1, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);
	assert_int_equal(srv.n_reqs, 1);
	undrive(s);
}

static void test_dry_run(void **state)
{
	(void)state;
	set("INFLUX_URL", "http://127.0.0.1:1");
	set("INFLUX_DB", "db");
	void *s = create(true);
	make_readings(1);

	char path[] = "/tmp/sw-influx-dry.XXXXXX";
	int fd = mkstemp(path);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	struct sink_result res;
	output_send(s, rp, 1, &res);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);

	char out[1024] = "";
	ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	assert_int_equal(res.verdict, SINK_OK);
	char want[600];
	snprintf(want, sizeof(want), "# POST http://127.0.0.1:1/write?db=db&precision=ms\n%s",
		 line_of(0));
	assert_string_equal(out, want);
	undrive(s);
}

static void expect_config_error(const char *contains)
{
	char err[256] = "";
	assert_null(influx_sink_ops.create(&cfg, false, err, sizeof(err)));
	if (!strstr(err, contains))
		fail_msg("error '%s' does not mention '%s'", err, contains);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_config_error("INFLUX_URL");
	set("INFLUX_URL", "ftp://x");
	expect_config_error("http");
	set("INFLUX_URL", srv.base);
	expect_config_error("INFLUX_DB");
	set("INFLUX_DB", "db");
	set("INFLUX_ORG", "o");
	set("INFLUX_BUCKET", "b");
	expect_config_error("not both");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v1_request, before, after),
		cmocka_unit_test_setup_teardown(test_v2_request, before, after),
		cmocka_unit_test_setup_teardown(test_413_split, before, after),
		cmocka_unit_test_setup_teardown(test_503_retry_after, before, after),
		cmocka_unit_test_setup_teardown(test_400_drop, before, after),
		cmocka_unit_test_setup_teardown(test_400_bisect, before, after),
		cmocka_unit_test_setup_teardown(test_400_deadletter, before, after),
		cmocka_unit_test_setup_teardown(test_deadletter_bounded, before, after),
		cmocka_unit_test_setup_teardown(test_401_configuration, before, after),
		cmocka_unit_test_setup_teardown(test_rejected_reading_skipped, before, after),
		cmocka_unit_test_setup_teardown(test_dry_run, before, after),
		cmocka_unit_test_setup_teardown(test_config_errors, before, after),
	};
	keys = sink_key_table(common_keys);
	if (!keys)
		return 1;
	int failed = cmocka_run_group_tests(tests, fake_group_setup, fake_group_teardown);
	free(keys);
	return failed;
}
