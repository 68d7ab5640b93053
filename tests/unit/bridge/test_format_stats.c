/*
 * test_format_stats.c - the publisher's $stats (bridge/format_stats.c)
 * through the sensorwire format: a real payload, taken from
 * sensor-publisher (SENSORS="desk=sim,fail=0.3 attic=sim",
 * STATS_INTERVAL_S=1) into tests/unit/bridge/fixtures/sensorwire/stats.*,
 * becomes one reading per sensor with exact fields, values, tag and ts;
 * its exact line-protocol line and remote-write series (through the log's
 * record codec, as a sender sees it); ts rules; refusals; more sensors than
 * FORMAT_MAX_READINGS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/format.h"
#include "bridge/record.h"
#include "bridge/sinks/lineproto.h"
#include "bridge/sinks/rw_encode.h"

#define ARRIVAL 1732279999999LL
#define TS 1796167377813LL   /* the fixture's ts */

static char payload[READING_MAX_PAYLOAD + 1];
static size_t payload_len;

static void load_fixture(void)
{
	const char *root = getenv("SW_ROOT");
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/unit/bridge/fixtures/sensorwire/stats.payload",
		 root ? root : ".");
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	payload_len = fread(payload, 1, sizeof(payload) - 1, f);
	fclose(f);
	payload[payload_len] = '\0';
}

static struct format_result res;

static void run(const char *topic, const char *p)
{
	format_message(&format_sensorwire, topic, p, strlen(p), ARRIVAL, &res);
}

static double field(const struct reading *r, const char *name)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			return r->fields[i].value;
	fail_msg("no field %s in %s/%s", name, r->node, r->sensor);
	return -1;
}

static const char *names(const struct reading *r)
{
	static char buf[1024];
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_fields; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "," : "",
				      r->fields[i].name);
	return buf;
}

#define ALL_FIELDS                                                                        \
	"reads_checksum_total,reads_implausible_total,reads_io_total,reads_no_response_total," \
	"reads_ok_total,reads_timing_total,reads_total,reads_transient_total"

static void test_real_payload(void **state)
{
	(void)state;
	load_fixture();
	format_message(&format_sensorwire, "sensors/rp3/$stats", payload, payload_len, ARRIVAL,
		       &res);
	assert_int_equal(res.kind, FORMAT_READINGS);
	assert_int_equal(res.n, 2);
	struct reading *d = &res.r[0], *a = &res.r[1];
	assert_string_equal(d->node, "rp3");
	assert_string_equal(d->sensor, "desk");
	assert_string_equal(a->sensor, "attic");
	for (int i = 0; i < 2; i++) {
		struct reading *r = &res.r[i];
		assert_string_equal(names(r), ALL_FIELDS);
		assert_int_equal(r->ts_ms, TS);
		assert_true(r->ts_from_payload);
		assert_false(r->has_seq);
		assert_false(r->has_boot);
		assert_int_equal(r->n_tags, 1);
		assert_string_equal(r->tags[0].key, "driver");
		assert_string_equal(r->tags[0].value, "sim");
		/* boot, version, publisher, last_ok_age_s: left out on purpose */
		assert_int_equal(r->ignored_keys, 0);
		assert_int_equal(r->dropped_tags, 0);
	}
	assert_true(field(d, "reads_ok_total") == 41);
	assert_true(field(d, "reads_checksum_total") == 10);
	assert_true(field(d, "reads_io_total") == 0);
	assert_true(field(d, "reads_no_response_total") == 0);
	assert_true(field(d, "reads_timing_total") == 0);
	assert_true(field(d, "reads_implausible_total") == 0);
	assert_true(field(d, "reads_total") == 51);
	assert_true(field(d, "reads_transient_total") == 10);
	assert_true(field(a, "reads_ok_total") == 50);
	assert_true(field(a, "reads_checksum_total") == 0);
	assert_true(field(a, "reads_total") == 50);
	assert_true(field(a, "reads_transient_total") == 0);

	/* both outputs, from the log's record as a sender reads it */
	unsigned char rec[4096];
	int n = record_encode(d, rec, sizeof(rec));
	assert_true(n > 0);
	struct reading back;
	assert_int_equal(record_decode(&back, rec, (size_t)n), 0);
	format_result_release(&res);

	struct lp_buf b;
	char why[256];
	lp_buf_init(&b, 1 << 16);
	assert_int_equal(lp_append_reading(&b, "sensor", &back, why, sizeof(why)), 0);
	const char *want_lp =
		"sensor,driver=sim,node=rp3,sensor=desk reads_checksum_total=10,"
		"reads_implausible_total=0,reads_io_total=0,reads_no_response_total=0,"
		"reads_ok_total=41,reads_timing_total=0,reads_total=51,reads_transient_total=10 "
		"1796167377813\n";
	assert_int_equal(b.len, strlen(want_lp));
	assert_memory_equal(b.data, want_lp, b.len);
	lp_buf_release(&b);

	static const struct {
		const char *name;
		double v;
	} want_rw[] = {
		{ "sensor_reads_checksum_total", 10 }, { "sensor_reads_implausible_total", 0 },
		{ "sensor_reads_io_total", 0 },        { "sensor_reads_no_response_total", 0 },
		{ "sensor_reads_ok_total", 41 },       { "sensor_reads_timing_total", 0 },
		{ "sensor_reads_total", 51 },          { "sensor_reads_transient_total", 10 },
	};
	assert_int_equal(back.n_fields, sizeof(want_rw) / sizeof(want_rw[0]));
	for (size_t i = 0; i < back.n_fields; i++) {
		struct rw_labels ls;
		unsigned dropped = 0;
		assert_int_equal(rw_labels_for_field(&ls, "sensor_", &back, i, &dropped), 0);
		assert_int_equal(dropped, 0);
		assert_int_equal(ls.n, 4);
		assert_string_equal(rw_labels_get(&ls, "__name__"), want_rw[i].name);
		assert_string_equal(rw_labels_get(&ls, "node"), "rp3");
		assert_string_equal(rw_labels_get(&ls, "sensor"), "desk");
		assert_string_equal(rw_labels_get(&ls, "driver"), "sim");
		assert_true(back.fields[i].value == want_rw[i].v);
		rw_labels_release(&ls);
	}
	assert_int_equal(back.ts_ms, TS);
	reading_release(&back);
}

static void test_rules(void **state)
{
	(void)state;
	/* no ts: the arrival time; a later publisher's new kind is a field, and counts in reads_total */
	run("home/pi/$stats", "{\"sensors\":{\"s1\":{\"reads\":{\"ok\":3,\"brownout\":2,"
			      "\"bad\":\"x\"}}}}");
	assert_int_equal(res.kind, FORMAT_READINGS);
	assert_int_equal(res.n, 1);
	assert_string_equal(res.r[0].node, "pi");
	assert_string_equal(names(&res.r[0]), "reads_brownout_total,reads_ok_total,reads_total");
	assert_true(field(&res.r[0], "reads_total") == 5);
	assert_int_equal(res.r[0].ts_ms, ARRIVAL);
	assert_false(res.r[0].ts_from_payload);
	assert_int_equal(res.r[0].ignored_keys, 1);   /* "bad" */
	assert_int_equal(res.r[0].n_tags, 0);
	format_result_release(&res);

	/* ts in seconds, or not an integer: refused, as for a reading */
	run("sensors/rp3/$stats", "{\"ts\":1732276800,\"sensors\":{\"a\":{\"reads\":{\"ok\":1}}}}");
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	assert_non_null(strstr(res.err, "ts"));
	assert_int_equal(res.n, 0);
	run("sensors/rp3/$stats", "{\"ts\":\"x\",\"sensors\":{\"a\":{\"reads\":{\"ok\":1}}}}");
	assert_int_equal(res.kind, FORMAT_MALFORMED);

	/* no sensors, no reads, bad sensor names: malformed, with the reason */
	run("sensors/rp3/$stats", "{\"ts\":1732276800123}");
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	assert_non_null(strstr(res.err, "sensors"));
	run("sensors/rp3/$stats", "{\"sensors\":{\"a\":{\"driver\":\"sim\"}}}");
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	run("sensors/rp3/$stats", "{\"sensors\":{\"a+b\":{\"reads\":{\"ok\":1}}}}");
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	assert_non_null(strstr(res.err, "sensor 'a+b'"));
	run("sensors/rp3/$stats", "[1]");
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	run("sensors/rp3/$stats", "{\"sensors\":");
	assert_int_equal(res.kind, FORMAT_MALFORMED);
	/* one bad sensor among good ones: skipped, counted */
	run("sensors/rp3/$stats",
	    "{\"sensors\":{\"a+b\":{\"reads\":{\"ok\":1}},\"c\":{\"reads\":{\"ok\":2}}}}");
	assert_int_equal(res.kind, FORMAT_READINGS);
	assert_int_equal(res.n, 1);
	assert_string_equal(res.r[0].sensor, "c");
	assert_int_equal(res.r[0].ignored_keys, 1);
	format_result_release(&res);

	/* only the last level "$stats" is the statistics; "$stats" elsewhere is not */
	run("sensors/$stats/desk", "{\"temperature_celsius\":1}");
	assert_int_equal(res.kind, FORMAT_READINGS);
	assert_string_equal(names(&res.r[0]), "temperature_celsius");
	format_result_release(&res);
}

static void test_many_sensors(void **state)
{
	(void)state;
	char p[8192];
	size_t n = (size_t)snprintf(p, sizeof(p), "{\"ts\":1732276800123,\"sensors\":{");
	for (int i = 0; i < FORMAT_MAX_READINGS + 3; i++)
		n += (size_t)snprintf(p + n, sizeof(p) - n, "%s\"s%02d\":{\"reads\":{\"ok\":%d}}",
				      i ? "," : "", i, i);
	snprintf(p + n, sizeof(p) - n, "}}");
	run("sensors/rp3/$stats", p);
	assert_int_equal(res.kind, FORMAT_READINGS);
	assert_int_equal(res.n, FORMAT_MAX_READINGS);
	assert_int_equal(res.r[0].ignored_keys, 3);
	assert_string_equal(res.r[FORMAT_MAX_READINGS - 1].sensor, "s15");
	assert_true(field(&res.r[15], "reads_ok_total") == 15);
	format_result_release(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_payload),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_many_sensors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
