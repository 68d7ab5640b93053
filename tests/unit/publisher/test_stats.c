/*
 * test_stats.c - /metrics text and the $stats JSON from a fixed snapshot:
 * every counter where it belongs, reads by result summing to the total,
 * DHT counters only for DHT sensors, no age before a first good reading,
 * and a $stats payload whose only top-level number is ts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publisher/stats.h"

static struct sensor_snap sensors[2];
static struct publisher_snap snap;

static int setup(void **state)
{
	(void)state;
	memset(sensors, 0, sizeof(sensors));
	sensors[0] = (struct sensor_snap){ .name = "desk", .driver = "dht22", .reads_ok = 7,
					   .reads_failed = 5, .reads_transient = 4,
					   .has_dht = true, .has_ok = true,
					   .last_ok_age_ms = 1500, .beat_age_ms = 20 };
	sensors[0].fails[SENSOR_FAIL_TIMING] = 1;
	sensors[0].fails[SENSOR_FAIL_CHECKSUM] = 3;
	sensors[0].fails[SENSOR_FAIL_NO_RESPONSE] = 1;
	sensors[0].dht.decode[DHT_OK] = 8;
	sensors[0].dht.decode[DHT_ERR_CHECKSUM] = 3;
	sensors[0].dht.jumps_held = 2;
	sensors[0].dht.jumps_rejected = 1;
	sensors[1] = (struct sensor_snap){ .name = "probe", .driver = "ds18b20", .reads_failed = 2,
					   .beat_age_ms = 1001 };
	sensors[1].fails[SENSOR_FAIL_IO] = 2;
	snap = (struct publisher_snap){
		.node = "rp3", .boot = "9f3a0c1e5b7d2a64", .version = "0.1.0",
		.ts_ms = 1732276800123LL, .uptime_ms = 61001, .connected = true,
		.published = 9, .acknowledged = 7, .queued = 3, .replayed = 2, .lost = 1,
		.connects = 3, .connection_losses = 2, .outbox_readings = 1, .outbox_bytes = 120,
		.outbox_dropped = 4, .n = 2, .s = sensors,
	};
	return 0;
}

static void has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("missing: %s\n--- in:\n%s", line, text);
}

static void test_metrics(void **state)
{
	(void)state;
	size_t cap = stats_metrics_cap(snap.n);
	char *buf = malloc(cap);
	assert_non_null(buf);
	int n = stats_metrics(buf, cap, &snap);
	assert_true(n > 0);
	assert_int_equal(n, (int)strlen(buf));
	has(buf, "sensorwire_publisher_info{node=\"rp3\",boot=\"9f3a0c1e5b7d2a64\",version=\"0.1.0\"} 1\n");
	has(buf, "sensorwire_publisher_uptime_seconds 61.001\n");
	has(buf, "sensorwire_publisher_connected 1\n");
	has(buf, "# TYPE sensorwire_publisher_reads_total counter\n");
	has(buf, "sensorwire_publisher_reads_total{sensor=\"desk\",result=\"ok\"} 7\n");
	has(buf, "sensorwire_publisher_reads_total{sensor=\"desk\",result=\"checksum\"} 3\n");
	has(buf, "sensorwire_publisher_reads_total{sensor=\"desk\",result=\"timing\"} 1\n");
	has(buf, "sensorwire_publisher_reads_total{sensor=\"desk\",result=\"io\"} 0\n");
	has(buf, "sensorwire_publisher_reads_total{sensor=\"probe\",result=\"io\"} 2\n");
	has(buf, "sensorwire_publisher_reads_transient_total{sensor=\"desk\"} 4\n");
	has(buf, "sensorwire_publisher_last_reading_age_seconds{sensor=\"desk\"} 1.500\n");
	assert_null(strstr(buf, "last_reading_age_seconds{sensor=\"probe\"}"));
	has(buf, "sensorwire_publisher_sensor_heartbeat_age_seconds{sensor=\"probe\"} 1.001\n");
	has(buf, "sensorwire_publisher_dht_decode_total{sensor=\"desk\",result=\"ok\"} 8\n");
	has(buf, "sensorwire_publisher_dht_decode_total{sensor=\"desk\",result=\"checksum\"} 3\n");
	has(buf, "sensorwire_publisher_dht_jumps_total{sensor=\"desk\",outcome=\"held\"} 2\n");
	has(buf, "sensorwire_publisher_dht_jumps_total{sensor=\"desk\",outcome=\"rejected\"} 1\n");
	assert_null(strstr(buf, "dht_decode_total{sensor=\"probe\""));
	has(buf, "sensorwire_publisher_published_total 9\n");
	has(buf, "sensorwire_publisher_acknowledged_total 7\n");
	has(buf, "sensorwire_publisher_outbox_readings 1\n");
	has(buf, "sensorwire_publisher_outbox_bytes 120\n");
	has(buf, "sensorwire_publisher_outbox_dropped_total 4\n");
	has(buf, "sensorwire_publisher_reconnects_total 2\n");
	has(buf, "sensorwire_publisher_connection_losses_total 2\n");
	assert_null(strstr(buf, "ha_configs_total"));
	/* the sum of reads_total by result is ok + failed, per sensor */
	unsigned long long sum = 0, v;
	for (char *l = buf; (l = strstr(l, "reads_total{sensor=\"desk\",")); l++) {
		char *sp = strchr(l, ' ');
		assert_int_equal(sscanf(sp, " %llu", &v), 1);
		sum += v;
	}
	assert_int_equal(sum, 7 + 5);
	/* every sample line is "name{labels} value" or "name value"; families once */
	assert_int_equal(stats_metrics(buf, 100, &snap), -ENOSPC);
	snap.ha = true;
	snap.ha_configs = 5;
	n = stats_metrics(buf, cap, &snap);
	assert_true(n > 0);
	has(buf, "sensorwire_publisher_ha_configs_total 5\n");
	free(buf);
}

static void test_json(void **state)
{
	(void)state;
	char buf[4096];
	int n = stats_json(buf, sizeof(buf), &snap);
	const char *want =
		"{\"ts\":1732276800123,\"boot\":\"9f3a0c1e5b7d2a64\",\"version\":\"0.1.0\","
		"\"publisher\":{\"uptime_s\":61.001,\"connected\":true,\"published\":9,"
		"\"acknowledged\":7,\"queued\":3,\"replayed\":2,\"lost\":1,\"reconnects\":2,"
		"\"outbox_readings\":1,\"outbox_bytes\":120,\"outbox_dropped\":4},"
		"\"sensors\":{"
		"\"desk\":{\"driver\":\"dht22\",\"reads\":{\"ok\":7,\"io\":0,\"no_response\":1,"
		"\"timing\":1,\"checksum\":3,\"implausible\":0},\"transient\":4,\"last_ok_age_s\":1.500},"
		"\"probe\":{\"driver\":\"ds18b20\",\"reads\":{\"ok\":0,\"io\":2,\"no_response\":0,"
		"\"timing\":0,\"checksum\":0,\"implausible\":0},\"transient\":0,\"last_ok_age_s\":null}}}";
	assert_string_equal(buf, want);
	assert_int_equal(n, (int)strlen(want));
	assert_true(stats_json_cap(2) > (size_t)n);
	assert_int_equal(stats_json(buf, 50, &snap), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_metrics, setup),
		cmocka_unit_test_setup(test_json, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
