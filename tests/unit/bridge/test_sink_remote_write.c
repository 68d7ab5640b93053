/*
 * test_sink_remote_write.c - the remote_write sink against an in-process
 * receiver: the four reserved headers, auth and extra headers, the decoded
 * body, out-of-order skipping (and that only a 2xx moves the mark), 503 +
 * Retry-After, a 400 split down to the refused series (the rest delivered,
 * the refused samples counted and dead-lettered, a retry inside a split
 * resending the whole batch, the request budget), staleness markers on
 * node_offline 1 ms after each series' last sample (exact NaN bits),
 * the series table (found by the reading, or by the labels it ends up with),
 * dry run and configuration errors. The sink runs behind the engine
 * (output_send(), sink_driver.h), which owns the split and dead letters.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bridge/sinks/rw_encode.h"
#include "bridge/sinks/sinks.h"
#include "proto/remote.pb-c.h"
#include "fake_server.h"
#include "sink_driver.h"

/* the shared keys the sinks read; each sink's own come from its config_map
 * (sink_key_table(), as the bridge builds its table) */
static const struct cfg_key common_keys[] = {
	{ "HTTP_TIMEOUT_MS", CFG_INT, "5000", 0, 0, "" },
	{ "STATE_DIR", CFG_STR, NULL, 0, 0, "" },
	{ "MQTT_SHARE_GROUP", CFG_STR, "", 0, 0, "" },
	{ .name = NULL },
};
static struct cfg_key *keys;

static struct cfg cfg;

static int before(void **state)
{
	(void)state;
	fake_reset(&srv);
	if (cfg_init(&cfg, keys) < 0)
		return -1;
	char err[256], url[128];
	snprintf(url, sizeof(url), "%s/api/v1/write", srv.base);
	return cfg_set(&cfg, "REMOTE_WRITE_URL", url, "test", err, sizeof(err));
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
	return drive(&remote_write_sink_ops, &cfg, dry_run);
}

/* a reading's tag and field arrays live elsewhere (in its arena when parsed):
 * here in a pool that outlives every test's readings */
static struct reading_tag desk_tag[] = { { "location", "desk" } };
static struct reading_field field_pool[64][2];
static size_t field_next;

static struct reading reading(const char *node, const char *sensor, int64_t ts, double t)
{
	struct reading_field *f = field_pool[field_next++ % 64];
	f[0] = (struct reading_field){ "humidity_percent", 48 };
	f[1] = (struct reading_field){ "temperature_celsius", t };
	return (struct reading){
		.ts_ms = ts, .node = node, .sensor = sensor,
		.n_tags = 1, .tags = desk_tag, .n_fields = 2, .fields = f,
	};
}

static void send_all(void *s, struct reading *r, size_t n, struct sink_result *res)
{
	const struct reading *p[8];
	for (size_t i = 0; i < n; i++)
		p[i] = &r[i];
	output_send(s, p, n, res);
}

/* The node went offline: the sink's hook, as the engine calls it. */
static void offline(struct output *o, const char *node, int64_t ts_ms)
{
	remote_write_sink_ops.node_offline(o->sink, node, ts_ms);
}

static char *decoded(size_t i)
{
	char *text = NULL;
	assert_true(i < srv.n_reqs);
	assert_int_equal(rw_decode_text(srv.reqs[i].body, srv.reqs[i].len, &text), 0);
	return text;
}

static void test_request(void **state)
{
	(void)state;
	set("REMOTE_WRITE_BEARER_TOKEN", "tok");
	set("REMOTE_WRITE_HEADERS", "X-Scope-OrgID: team1; X-Extra:  two words\nX-Third: 3");
	void *s = create(false);
	struct reading r[] = { reading("rp3", "desk", 1732276800123LL, 21.4) };
	struct sink_result res;
	send_all(s, r, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 0);

	assert_int_equal(srv.n_reqs, 1);
	const struct fake_req *rq = &srv.reqs[0];
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->uri, "/api/v1/write");
	assert_string_equal(fake_header(rq, "Content-Encoding"), "snappy");
	assert_string_equal(fake_header(rq, "Content-Type"), "application/x-protobuf");
	assert_string_equal(fake_header(rq, "X-Prometheus-Remote-Write-Version"), "0.1.0");
	assert_string_equal(fake_header(rq, "User-Agent"), "sensorwire/" SW_VERSION);
	assert_string_equal(fake_header(rq, "Authorization"), "Bearer tok");
	assert_string_equal(fake_header(rq, "X-Scope-OrgID"), "team1");
	assert_string_equal(fake_header(rq, "X-Extra"), "two words");
	assert_string_equal(fake_header(rq, "X-Third"), "3");
	char *text = decoded(0);
	assert_string_equal(text,
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 48 "
		"@1732276800123\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 21.4 "
		"@1732276800123\n");
	free(text);
	undrive(s);
}

static void test_basic_auth_and_prefix(void **state)
{
	(void)state;
	set("REMOTE_WRITE_USERNAME", "u");
	set("REMOTE_WRITE_PASSWORD", "p");
	set("METRIC_PREFIX", "home_");
	void *s = create(false);
	struct reading r[] = { reading("rp3", "desk", 1000, 1) };
	struct sink_result res;
	send_all(s, r, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_string_equal(fake_header(&srv.reqs[0], "Authorization"), "Basic dTpw");
	char *text = decoded(0);
	assert_non_null(strstr(text, "home_temperature_celsius{"));
	free(text);
	undrive(s);
}

static void test_out_of_order(void **state)
{
	(void)state;
	void *s = create(false);
	struct sink_result res;
	struct reading first[] = { reading("rp3", "desk", 2000, 20) };
	send_all(s, first, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);

	/* older than sent, newer, and a repeat of the newer one in the same batch */
	struct reading b[] = { reading("rp3", "desk", 1000, 10), reading("rp3", "desk", 3000, 30),
			       reading("rp3", "desk", 3000, 31), reading("rp3", "other", 1000, 5) };
	send_all(s, b, 4, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 4);   /* two readings x two fields */
	char *text = decoded(1);
	assert_string_equal(text,
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 48 @3000\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 30 @3000\n"
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",sensor=\"other\"} 48 @1000\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"rp3\",sensor=\"other\"} 5 @1000\n");
	free(text);

	/* everything stale: nothing is sent at all */
	send_all(s, first, 1, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);
	assert_int_equal(srv.n_reqs, 2);

	/* a timestamp <= 0 is never sent */
	struct reading zero[] = { reading("rp4", "desk", 0, 1) };
	send_all(s, zero, 1, &res);
	assert_int_equal(res.dropped, 2);
	assert_int_equal(srv.n_reqs, 2);
	undrive(s);
}

static void expect_config_error(const char *contains);

/*
 * REMOTE_WRITE_OUT_OF_ORDER=send, and auto in a share group: an older sample
 * is sent (the receiver's out-of-order window takes it); one at a timestamp
 * already sent, or twice in a batch, is still the same reading and skipped.
 */
static void check_send_older(void)
{
	void *s = create(false);
	struct sink_result res;
	struct reading first[] = { reading("rp3", "desk", 2000, 20) };
	send_all(s, first, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);

	struct reading b[] = { reading("rp3", "desk", 1000, 10), reading("rp3", "desk", 3000, 30),
			       reading("rp3", "desk", 3000, 31), reading("rp3", "desk", 2000, 20),
			       reading("rp3", "desk", 1500, 15) };
	send_all(s, b, 5, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 4);   /* 3000 again and 2000 again, two fields each */
	char *text = decoded(1);
	assert_string_equal(text,
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 48 @1000\n"
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 48 @3000\n"
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 48 @1500\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 10 @1000\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 30 @3000\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 15 @1500\n");
	free(text);

	/* the mark is the newest sent (3000), not the last one in the batch */
	struct reading again[] = { reading("rp3", "desk", 3000, 30) };
	send_all(s, again, 1, &res);
	assert_int_equal(res.dropped, 2);
	assert_int_equal(srv.n_reqs, 2);
	undrive(s);
}

static void test_out_of_order_send(void **state)
{
	(void)state;
	set("REMOTE_WRITE_OUT_OF_ORDER", "send");
	check_send_older();
}

static void test_out_of_order_share_group(void **state)
{
	(void)state;
	set("MQTT_SHARE_GROUP", "bridges");
	check_send_older();
}

static void test_out_of_order_setting(void **state)
{
	(void)state;
	set("REMOTE_WRITE_OUT_OF_ORDER", "sometimes");
	expect_config_error("REMOTE_WRITE_OUT_OF_ORDER: 'sometimes' is not skip, send or auto");
	/* skip wins over a share group */
	set("REMOTE_WRITE_OUT_OF_ORDER", "skip");
	set("MQTT_SHARE_GROUP", "bridges");
	void *s = create(false);
	struct sink_result res;
	struct reading b[] = { reading("rp3", "desk", 2000, 20), reading("rp3", "desk", 1000, 10) };
	send_all(s, b, 2, &res);
	assert_int_equal(res.dropped, 2);
	undrive(s);
}

/* 3000 sensors = 6000 series: the series table grows (it starts at 1024
 * buckets) and still finds every series, so each one's newest timestamp is
 * remembered: a second round with older samples is skipped in full. */
static void test_many_series(void **state)
{
	(void)state;
	void *s = create(false);
	struct sink_result res;
	static char names[3000][8];
	for (int round = 0; round < 2; round++) {
		size_t ok = 0, dropped = 0;
		for (int i = 0; i < 3000; i += 8) {
			struct reading b[8];
			for (int k = 0; k < 8; k++) {
				snprintf(names[i + k], sizeof(names[0]), "s%d", i + k);
				b[k] = reading("rp3", names[i + k], round == 0 ? 5000 : 4000, i + k);
			}
			fake_reset(&srv);
			send_all(s, b, i + 8 <= 3000 ? 8 : 3000 - i, &res);
			ok += res.verdict == SINK_OK;
			dropped += res.dropped;
		}
		assert_int_equal(ok, round == 0 ? 375 : 0); /* 3000 / 8 batches */
		assert_int_equal(dropped, round == 0 ? 0 : 6000);
	}
	undrive(s);
}

/*
 * A series is found from the reading's own strings first; two readings whose
 * strings differ but whose labels end up the same after the naming rules are
 * the same series (one out-of-order mark), and a key longer than the quick
 * path's buffer works too.
 */
static void test_series_identity(void **state)
{
	(void)state;
	void *s = create(false);
	struct sink_result res;
	/* invalid UTF-8 in the node: both become "n_" */
	struct reading a[] = { reading("n\xff", "desk", 2000, 1) };
	struct reading b[] = { reading("n\xfe", "desk", 1000, 2), reading("n\xfe", "desk", 2000, 3),
			       reading("n\xfe", "desk", 3000, 4) };
	send_all(s, a, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);
	send_all(s, b, 3, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 4);
	char *text = decoded(1);
	assert_string_equal(text,
		"sensor_humidity_percent{location=\"desk\",node=\"n_\",sensor=\"desk\"} 48 @3000\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"n_\",sensor=\"desk\"} 4 @3000\n");
	free(text);

	/* a payload tag named node is dropped (the topic wins): same series */
	struct reading_tag extra[] = { { "location", "desk" }, { "node", "elsewhere" } };
	struct reading c[] = { reading("n\xff", "desk", 3000, 5) };
	c[0].tags = extra;
	c[0].n_tags = 2;
	send_all(s, c, 1, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);

	/* a raw key longer than 512 bytes */
	static char longv[700];
	memset(longv, 'x', sizeof(longv) - 1);
	struct reading_tag big[] = { { "location", longv } };
	struct reading d[] = { reading("rp3", "desk", 5000, 6), reading("rp3", "desk", 4000, 7),
			       reading("rp3", "desk", 6000, 8) };
	for (int i = 0; i < 3; i++)
		d[i].tags = big;
	send_all(s, d, 3, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 2);
	text = decoded(2);
	assert_non_null(strstr(text, longv));
	assert_non_null(strstr(text, "} 6 @5000\n"));
	assert_non_null(strstr(text, "} 8 @6000\n"));
	assert_null(strstr(text, "} 7 @4000\n"));
	free(text);
	undrive(s);
}

static void test_retry_keeps_mark(void **state)
{
	(void)state;
	fake_script(&srv, (struct fake_resp){ 503, "Retry-After: 2", "try later", 0 });
	fake_script(&srv, (struct fake_resp){ 429, NULL, NULL, 0 });
	void *s = create(false);
	struct reading r[] = { reading("rp3", "desk", 5000, 1) };
	struct sink_result res;
	send_all(s, r, 1, &res);
	assert_int_equal(res.verdict, SINK_RETRY);
	assert_int_equal(res.retry_after_ms, 2000);
	assert_string_equal(res.reason, "status 503: try later");
	send_all(s, r, 1, &res);
	assert_int_equal(res.verdict, SINK_RETRY);
	assert_int_equal(res.retry_after_ms, -1);
	assert_string_equal(res.reason, "status 429");
	/* the resend is not "out of order": the failed sends did not move the mark */
	send_all(s, r, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 0);
	assert_int_equal(srv.n_reqs, 3);
	char *text = decoded(2);
	assert_non_null(strstr(text, "@5000"));
	free(text);
	undrive(s);
}

static void test_400_drop(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		fake_script(&srv, (struct fake_resp){ 400, NULL, "out of order sample", 0 });
	void *s = create(false);
	struct reading r[] = { reading("rp3", "desk", 5000, 1) };
	struct sink_result res;
	send_all(s, r, 1, &res);
	/* two samples: both halves refused too, so all of it is dropped */
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 2);
	assert_int_equal(srv.n_reqs, 3);
	/* nothing was delivered: the mark did not move, the same reading goes out */
	send_all(s, r, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 0);
	undrive(s);
}

/* the receiver refuses a request that holds any sample of node "bad" (as
 * Prometheus does for one sample out of bounds: the whole request) */
static void refuse_bad(struct fake_srv *f, const struct fake_req *rq, struct fake_resp *out)
{
	(void)f;
	char *text = NULL;
	out->status = 204;
	if (rw_decode_text(rq->body, rq->len, &text) < 0) {
		out->status = 500;
		return;
	}
	if (strstr(text, "node=\"bad\"")) {
		out->status = 400;
		out->body = "out of bounds";
	}
	free(text);
}

/* the samples every 2xx request held, in order, as text */
static char *delivered(void)
{
	size_t cap = 8192, n = 0;
	char *all = calloc(1, cap);
	for (size_t i = 0; i < srv.n_reqs; i++) {
		char *text = NULL;
		if (strstr(fake_header(&srv.reqs[i], "Content-Type"), "protobuf") == NULL ||
		    rw_decode_text(srv.reqs[i].body, srv.reqs[i].len, &text) < 0)
			continue;
		if (!strstr(text, "node=\"bad\"")) {
			size_t l = strlen(text);
			assert_true(n + l < cap);
			memcpy(all + n, text, l + 1);
			n += l;
		}
		free(text);
	}
	return all;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[16384];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/*
 * One node's samples refused: the batch is split until they are alone; the
 * other nodes' samples are all delivered, once each; the refused ones are
 * counted, dead-lettered in the text format, and their series' mark did not
 * move while the good series' marks did.
 */
static void test_400_split(void **state)
{
	(void)state;
	char dir[] = "/tmp/sw-rw-dl.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	set("STATE_DIR", dir);
	snprintf(path, sizeof(path), "%s/deadletter-remote_write.prom", dir);
	srv.policy = refuse_bad;
	void *s = create(false);
	struct sink_result res;
	/* interleaved: a, bad, b, a, bad, b, a, bad */
	struct reading r[] = {
		reading("a", "s", 1000, 1), reading("bad", "s", 1000, 2), reading("b", "s", 1000, 3),
		reading("a", "s", 2000, 4), reading("bad", "s", 2000, 5), reading("b", "s", 2000, 6),
		reading("a", "s", 3000, 7), reading("bad", "s", 3000, 8),
	};
	send_all(s, r, 8, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 6);   /* three readings of "bad" x two fields */
	/* grouped by series: 16 samples, the 6 bad ones contiguous; 16 -> 8+8,
	 * 8 (a, b) sent; 8 (b: 2, bad: 6) -> 4+4, 4 -> 2 (b) + 2 (bad) ... */
	char *text = delivered();
	assert_int_equal(count(text, "\n"), 10);
	assert_int_equal(count(text, "node=\"a\""), 6);
	assert_int_equal(count(text, "node=\"b\""), 4);
	for (int v = 1; v <= 7; v += 3) {
		char want[128];
		snprintf(want, sizeof(want), "sensor_temperature_celsius{location=\"desk\",node=\"a\","
			 "sensor=\"s\"} %d @%d000\n", v, (v + 2) / 3);
		assert_int_equal(count(text, want), 1);
	}
	free(text);
	size_t reqs = srv.n_reqs;
	assert_true(reqs <= 1 + 64);

	/* the dead-letter file: a comment and a text-format line per refused sample */
	char *dl = slurp(path);
	assert_non_null(dl);
	assert_int_equal(count(dl, "\n"), 12);
	assert_int_equal(count(dl, " status=400 out of bounds\n"), 6);
	assert_int_equal(count(dl, "\n# "), 5);
	assert_non_null(strstr(dl, "Z status=400 out of bounds\nsensor_temperature_celsius{location="
				   "\"desk\",node=\"bad\",sensor=\"s\"} 8 3000\n"));
	assert_null(strstr(dl, "@"));
	assert_null(strstr(dl, "node=\"a\""));

	/* marks: a and b moved to 3000 / 2000, bad did not move */
	fake_reset(&srv);
	srv.policy = refuse_bad;
	struct reading again[] = { reading("a", "s", 3000, 9), reading("b", "s", 2000, 9),
				   reading("bad", "s", 1000, 9) };
	send_all(s, again, 3, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 6);    /* a and b out of order; bad refused again */
	assert_int_equal(srv.n_reqs, 3);     /* bad's two samples, then each alone */
	assert_int_equal(count(slurp(path), "\n"), 16);
	undrive(s);
	unlink(path);
	rmdir(dir);
}

/* A 503 inside a split: the whole batch is retried, no mark moves. */
static void test_split_retry(void **state)
{
	(void)state;
	fake_script(&srv, (struct fake_resp){ 400, NULL, "out of bounds", 0 });
	fake_script(&srv, (struct fake_resp){ 204, NULL, NULL, 0 });
	fake_script(&srv, (struct fake_resp){ 503, NULL, "busy", 0 });
	void *s = create(false);
	struct sink_result res;
	struct reading r[] = { reading("a", "s", 1000, 1), reading("b", "s", 1000, 2) };
	send_all(s, r, 2, &res);
	assert_int_equal(res.verdict, SINK_RETRY);
	assert_string_equal(res.reason, "status 503: busy");
	assert_int_equal(srv.n_reqs, 3);
	/* the resend is whole: the half delivered before the 503 is not skipped */
	send_all(s, r, 2, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 0);
	char *text = decoded(3);
	assert_int_equal(count(text, "\n"), 4);
	free(text);
	undrive(s);
}

/* Every sample refused: the budget bounds the requests, all is dropped. */
static void test_split_budget(void **state)
{
	(void)state;
	srv.policy = refuse_bad;
	void *s = create(false);
	struct sink_result res;
	static char names[100][8];
	struct reading r[100];
	const struct reading *p[100];
	for (int i = 0; i < 100; i++) {
		snprintf(names[i], sizeof(names[i]), "s%d", i);
		r[i] = reading("bad", names[i], 1000, i);
		p[i] = &r[i];
	}
	output_send(s, p, 100, &res);
	assert_int_equal(res.verdict, SINK_DROP);
	assert_int_equal(res.dropped, 200);
	assert_int_equal(srv.n_reqs, 1 + 64);
	undrive(s);
}

static void test_staleness_markers(void **state)
{
	(void)state;
	void *s = create(false);
	struct sink_result res;
	struct reading r[] = { reading("rp3", "desk", 1000, 1), reading("rp4", "desk", 1000, 1),
			       reading("rp3", "attic", 9000, 1) };
	send_all(s, r, 3, &res);
	assert_int_equal(res.verdict, SINK_OK);

	offline(s, "rp3", 5000);
	assert_int_equal(srv.n_reqs, 2);
	void *raw;
	size_t len;
	assert_int_equal(rw_unsnappy(srv.reqs[1].body, srv.reqs[1].len, &raw, &len), 0);
	Prometheus__WriteRequest *wr = prometheus__write_request__unpack(NULL, len, raw);
	assert_non_null(wr);
	assert_int_equal(wr->n_timeseries, 4);   /* two sensors x two fields, rp3 only */
	for (size_t i = 0; i < wr->n_timeseries; i++) {
		const Prometheus__TimeSeries *ts = wr->timeseries[i];
		const char *node = NULL, *sensor = NULL;
		for (size_t j = 0; j < ts->n_labels; j++) {
			if (strcmp(ts->labels[j]->name, "node") == 0)
				node = ts->labels[j]->value;
			if (strcmp(ts->labels[j]->name, "sensor") == 0)
				sensor = ts->labels[j]->value;
		}
		assert_string_equal(node, "rp3");
		assert_int_equal(ts->n_samples, 1);
		assert_int_equal(rw_double_bits(ts->samples[0]->value), RW_STALE_NAN_BITS);
		/* 1 ms after the last sample of the series, not at the offline time */
		assert_int_equal(ts->samples[0]->timestamp,
				 strcmp(sensor, "attic") == 0 ? 9001 : 1001);
	}
	prometheus__write_request__free_unpacked(wr, NULL);
	free(raw);

	/* once is enough; an unknown node sends nothing */
	offline(s, "rp3", 6000);
	offline(s, "nope", 6000);
	assert_int_equal(srv.n_reqs, 2);

	/* back online: new samples go out, and a later offline marks them again */
	struct reading again[] = { reading("rp3", "desk", 7000, 2) };
	send_all(s, again, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);
	offline(s, "rp3", 8000);
	assert_int_equal(srv.n_reqs, 4);
	char *text = decoded(3);
	assert_string_equal(text,
		"sensor_humidity_percent{location=\"desk\",node=\"rp3\",sensor=\"desk\"} StaleNaN @7001\n"
		"sensor_temperature_celsius{location=\"desk\",node=\"rp3\",sensor=\"desk\"} StaleNaN "
		"@7001\n");
	free(text);

	/* what the node took while its link was down, replayed after the
	 * marker: newer than the marker, so none of it is out of order */
	struct reading replay[] = { reading("rp3", "desk", 7500, 3), reading("rp3", "desk", 7900, 4) };
	send_all(s, replay, 2, &res);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(res.dropped, 0);
	text = decoded(4);
	assert_non_null(strstr(text, "} 3 @7500\n"));
	assert_non_null(strstr(text, "} 4 @7900\n"));
	free(text);
	undrive(s);
}

static void test_real_nan(void **state)
{
	(void)state;
	void *s = create(false);
	struct reading r[] = { reading("rp3", "desk", 1000, NAN) };
	struct sink_result res;
	send_all(s, r, 1, &res);
	assert_int_equal(res.verdict, SINK_OK);
	char *text = decoded(0);
	assert_non_null(strstr(text, "sensor_temperature_celsius{location=\"desk\",node=\"rp3\","
				     "sensor=\"desk\"} NaN @1000\n"));
	free(text);
	undrive(s);
}

static void test_dry_run(void **state)
{
	(void)state;
	void *s = create(true);
	struct reading r[] = { reading("rp3", "desk", 1000, 1.5) };

	char path[] = "/tmp/sw-rw-dry.XXXXXX";
	int fd = mkstemp(path);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	struct sink_result res;
	send_all(s, r, 1, &res);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	char out[1024] = "";
	ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	assert_int_equal(res.verdict, SINK_OK);
	assert_int_equal(srv.n_reqs, 0);
	char want[512];
	snprintf(want, sizeof(want), "# POST %s/api/v1/write\n"
		 "sensor_humidity_percent{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 48 @1000\n"
		 "sensor_temperature_celsius{location=\"desk\",node=\"rp3\",sensor=\"desk\"} 1.5 "
		 "@1000\n", srv.base);
	assert_string_equal(out, want);
	undrive(s);
}

static void expect_config_error(const char *contains)
{
	char err[256] = "";
	assert_null(remote_write_sink_ops.create(&cfg, false, err, sizeof(err)));
	if (!strstr(err, contains))
		fail_msg("error '%s' does not mention '%s'", err, contains);
}

static void test_config_errors(void **state)
{
	(void)state;
	set("REMOTE_WRITE_HEADERS", "X-Scope-OrgID: a; Content-Type: text/plain");
	expect_config_error("reserved");
	set("REMOTE_WRITE_HEADERS", "user-agent: me");
	expect_config_error("reserved");
	set("REMOTE_WRITE_HEADERS", "X-Prometheus-Remote-Write-Version: 2.0.0");
	expect_config_error("reserved");
	set("REMOTE_WRITE_HEADERS", "no colon here");
	expect_config_error("Name: value");
	set("REMOTE_WRITE_HEADERS", "");
	set("REMOTE_WRITE_BEARER_TOKEN", "t");
	set("REMOTE_WRITE_USERNAME", "u");
	expect_config_error("not both");
	set("REMOTE_WRITE_URL", "");
	expect_config_error("REMOTE_WRITE_URL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request, before, after),
		cmocka_unit_test_setup_teardown(test_basic_auth_and_prefix, before, after),
		cmocka_unit_test_setup_teardown(test_out_of_order, before, after),
		cmocka_unit_test_setup_teardown(test_out_of_order_send, before, after),
		cmocka_unit_test_setup_teardown(test_out_of_order_share_group, before, after),
		cmocka_unit_test_setup_teardown(test_out_of_order_setting, before, after),
		cmocka_unit_test_setup_teardown(test_many_series, before, after),
		cmocka_unit_test_setup_teardown(test_series_identity, before, after),
		cmocka_unit_test_setup_teardown(test_retry_keeps_mark, before, after),
		cmocka_unit_test_setup_teardown(test_400_drop, before, after),
		cmocka_unit_test_setup_teardown(test_400_split, before, after),
		cmocka_unit_test_setup_teardown(test_split_retry, before, after),
		cmocka_unit_test_setup_teardown(test_split_budget, before, after),
		cmocka_unit_test_setup_teardown(test_staleness_markers, before, after),
		cmocka_unit_test_setup_teardown(test_real_nan, before, after),
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
