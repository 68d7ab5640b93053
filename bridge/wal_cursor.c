/*
 * wal_cursor.c - the log's cursor files (see wal.h, wal_int.h):
 * STATE_DIR/wal/<name>.cursor holds the next LSN the output <name> reads,
 * as "<lsn> <crc32 of the digits, 8 hex digits>\n" (a plain "<lsn>\n" from
 * an older bridge is read too), and is saved atomically: written to
 * <name>.cursor.tmp, fsynced (unless WAL_SYNC=never), renamed over.
 *
 * These functions touch no shared state but the immutable w->dir and
 * w->o: wal_commit calls wal_cursor_save without w->lock.
 */
#include "bridge/wal_int.h"
#include "common/frame.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 0 and *lsn, or -1: damaged. */
static int parse_cursor(const char *buf, size_t n, uint64_t *lsn)
{
	size_t d = 0;
	while (d < n && buf[d] >= '0' && buf[d] <= '9')
		d++;
	if (d == 0 || d > 20)
		return -1;
	size_t i = d;
	if (i + 9 <= n && buf[i] == ' ') {
		char hex[9];
		memcpy(hex, buf + i + 1, 8);
		hex[8] = '\0';
		for (int k = 0; k < 8; k++)
			if (!((hex[k] >= '0' && hex[k] <= '9') || (hex[k] >= 'a' && hex[k] <= 'f')))
				return -1;
		if ((uint32_t)strtoul(hex, NULL, 16) != frame_crc32(buf, d))
			return -1;
		i += 9;
	}
	if (i < n && buf[i] == '\n')
		i++;
	if (i != n)
		return -1;
	char num[24];
	memcpy(num, buf, d);
	num[d] = '\0';
	errno = 0;
	unsigned long long v = strtoull(num, NULL, 10);
	if (errno || v == 0 || v > LSN_MAX)
		return -1;
	*lsn = v;
	return 0;
}

/* 1 and *lsn, 0 when there is none, -1 when it is damaged (logged). */
int wal_cursor_load(const struct wal *w, const char *name, uint64_t *lsn)
{
	char path[600], buf[64];
	snprintf(path, sizeof(path), "%s/%s.cursor", w->dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || parse_cursor(buf, (size_t)n, lsn) < 0) {
		log_error("wal", "'%s' is damaged (not \"<lsn> <crc>\"): that output starts again "
			  "from the oldest record kept", path);
		return -1;
	}
	return 1;
}

/*
 * Saves lsn as the cursor of output name. 0 or -errno. One caller per
 * name at a time (the tmp file is shared): wal_commit holds r->save_lock.
 */
int wal_cursor_save(const struct wal *w, const char *name, uint64_t lsn)
{
	char path[600], tmp[620];
	snprintf(path, sizeof(path), "%s/%s.cursor", w->dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char buf[48];
	int d = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)lsn);
	int n = d + snprintf(buf + d, sizeof(buf) - (size_t)d, " %08x\n",
			     (unsigned)frame_crc32(buf, (size_t)d));
	if (write(fd, buf, (size_t)n) != n || (w->o.sync_ms != WAL_SYNC_NEVER && fsync(fd) < 0)) {
		int e = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		return -e;
	}
	close(fd);
	if (rename(tmp, path) < 0)
		return -errno;
	return 0;
}
