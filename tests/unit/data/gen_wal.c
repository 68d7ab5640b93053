/*
 * gen_wal.c - writes the bridge-log fixtures of tests/unit/data/wal/ with
 * the log's own code (see README): gen_wal <out-dir>
 */
#include "bridge/wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct wal *open_at(const char *dir)
{
	/* 100-byte segments: two records each */
	struct wal_opts o = { .dir = dir, .sync_ms = WAL_SYNC_NEVER, .segment_bytes = 100 };
	char err[256];
	struct wal *w = wal_open(&o, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	return w;
}

static void put(struct wal *w, int i)
{
	char topic[32], payload[32];
	snprintf(topic, sizeof(topic), "sensors/n/s%d", i % 3);
	snprintf(payload, sizeof(payload), "{\"seq\":%d}", i);
	if (wal_append(w, 1700000000000LL + i, topic, payload, strlen(payload)) < 0)
		exit(1);
}

int main(int argc, char **argv)
{
	char dir[512], err[256];
	if (argc != 2)
		return 2;
	/* valid: records 1..6 in three segments, output "out" committed through 1 */
	snprintf(dir, sizeof(dir), "%s/valid", argv[1]);
	mkdir(dir, 0755);
	struct wal *w = open_at(dir);
	struct wal_reader *r = wal_reader_open(w, "out", err, sizeof(err));
	for (int i = 1; i <= 6; i++)
		put(w, i);
	wal_commit(r, 1);
	wal_close(w);

	/*
	 * stale-cursor: records 1..8, "out" committed through 8, "slow" through
	 * 1; then the power cut: the last segment's records never reached the
	 * disk (make_fixtures.sh cuts 0000000000000007.log back to its header)
	 */
	snprintf(dir, sizeof(dir), "%s/stale-cursor", argv[1]);
	mkdir(dir, 0755);
	w = open_at(dir);
	r = wal_reader_open(w, "out", err, sizeof(err));
	struct wal_reader *slow = wal_reader_open(w, "slow", err, sizeof(err));
	for (int i = 1; i <= 8; i++)
		put(w, i);
	wal_commit(slow, 1);
	wal_commit(r, 8);
	wal_close(w);
	return 0;
}
