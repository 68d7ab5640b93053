/*
 * format_stats.c - the publisher's own statistics, part of the sensorwire
 * format: the retained JSON on <prefix>/<node>/$stats (docs/contract.md
 * #statistics; publisher/stats.h, stats_json). '$' is in no sensor name
 * of ours, so the level cannot be a reading's. Shape:
 *   {"ts":1732276800123,"boot":"9f3a0c1e5b7d2a64","version":"0.1.0",
 *    "publisher":{...},
 *    "sensors":{"desk":{"driver":"dht22","reads":{"ok":7,"io":0,
 *      "no_response":1,"timing":1,"checksum":3,"implausible":0},
 *      "transient":4,"last_ok_age_s":1.5}}}
 *
 * Mapping: one reading per member of "sensors" (at most
 * FORMAT_MAX_READINGS; the others are skipped and counted in ignored_keys):
 * node from the topic, sensor = the member's name, tag driver, fields
 *   reads_<result>_total  each member of "reads" (ok, io, no_response,
 *                         timing, checksum, implausible, and any kind a
 *                         later publisher adds)
 *   reads_total           their sum: every read attempt
 *   reads_transient_total "transient" (failed reads the driver called
 *                         transient, among the kinds)
 * all counters since the publisher's boot (they restart at 0 with it).
 * Timestamp: "ts", else the arrival time. "boot", "version", "publisher" and
 * "last_ok_age_s" are left out on purpose (not counted). No seq.
 */
#include "bridge/format.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* ts must be an integer (reading.h); anything else refuses the message */
static int stats_ts(const cJSON *t, int64_t *ts)
{
	if (!cJSON_IsNumber(t))
		return -1;
	double d = t->valuedouble;
	if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(int64_t)d)
		return -1;
	*ts = (int64_t)d;
	return 0;
}

void format_stats_parse(const char *node, const void *payload, size_t len, int64_t arrival_ms,
			struct format_result *out)
{
	cJSON *root = reading_json(payload, len, out->err, sizeof(out->err));
	if (!root) {
		out->kind = FORMAT_MALFORMED;
		return;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(out->err, sizeof(out->err), "$stats is not a JSON object");
		goto bad;
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "ts");
	int64_t ts = 0;
	if (t && stats_ts(t, &ts) < 0) {
		snprintf(out->err, sizeof(out->err), "$stats ts is not an integer of Unix ms");
		goto bad;
	}
	const cJSON *sensors = cJSON_GetObjectItemCaseSensitive(root, "sensors");
	if (!cJSON_IsObject(sensors)) {
		snprintf(out->err, sizeof(out->err), "$stats without a \"sensors\" object");
		goto bad;
	}
	unsigned skipped = 0;
	const cJSON *s;
	cJSON_ArrayForEach(s, sensors) {
		const cJSON *reads = cJSON_GetObjectItemCaseSensitive(s, "reads");
		if (!cJSON_IsObject(reads)) {
			skipped++;
			continue;
		}
		if (out->n == FORMAT_MAX_READINGS) {
			skipped++;
			continue;
		}
		char err[160];
		struct reading *r = &out->r[out->n];
		struct reading_build b;
		size_t kinds = (size_t)cJSON_GetArraySize(reads);
		if (reading_build_begin(&b, r, node, s->string, kinds + 2, 1,
					(kinds + 2) * (READING_MAX_NAME + 1) + 2 * (READING_MAX_VALUE + 1),
					arrival_ms, err, sizeof(err)) < 0) {
			skipped++;
			if (!out->err[0])
				snprintf(out->err, sizeof(out->err), "'%.40s': %.100s", s->string, err);
			continue;
		}
		if (t && reading_build_ts(&b, ts, err, sizeof(err)) < 0) {
			snprintf(out->err, sizeof(out->err), "$stats ts: %.140s", err);
			reading_build_abort(&b);
			goto bad;
		}
		const cJSON *driver = cJSON_GetObjectItemCaseSensitive(s, "driver");
		if (cJSON_IsString(driver))
			reading_build_tag(&b, "driver", driver->valuestring);
		double all = 0;
		const cJSON *k;
		cJSON_ArrayForEach(k, reads) {
			char name[READING_MAX_NAME + 16];
			if (!cJSON_IsNumber(k) ||
			    (size_t)snprintf(name, sizeof(name), "reads_%s_total", k->string) >=
				    sizeof(name)) {
				r->ignored_keys++;
				continue;
			}
			size_t before = r->n_fields;
			reading_build_field(&b, name, k->valuedouble);
			if (r->n_fields > before)
				all += k->valuedouble;
		}
		reading_build_field(&b, "reads_total", all);
		const cJSON *tr = cJSON_GetObjectItemCaseSensitive(s, "transient");
		if (cJSON_IsNumber(tr))
			reading_build_field(&b, "reads_transient_total", tr->valuedouble);
		else if (tr)
			r->ignored_keys++;
		if (reading_build_end(&b, err, sizeof(err)) < 0) {
			skipped++;
			if (!out->err[0])
				snprintf(out->err, sizeof(out->err), "'%.40s': %.100s", s->string, err);
			continue;
		}
		out->n++;
	}
	if (out->n == 0) {
		if (!out->err[0])
			snprintf(out->err, sizeof(out->err),
				 "$stats without a sensor (\"sensors\":{\"<name>\":{\"reads\":{...}}})");
		goto bad;
	}
	out->err[0] = '\0';
	out->r[0].ignored_keys += skipped;
	cJSON_Delete(root);
	return;
bad:
	format_result_release(out);
	out->kind = FORMAT_MALFORMED;
	cJSON_Delete(root);
}
