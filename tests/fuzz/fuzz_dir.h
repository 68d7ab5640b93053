/*
 * fuzz_dir.h - for the fuzz targets that recover state from a directory
 * (fuzz_wal.c, fuzz_outbox.c): a scratch directory per process on a tmpfs
 * when there is one, files written into it, and its removal.
 */
#ifndef SW_TESTS_FUZZ_DIR_H
#define SW_TESTS_FUZZ_DIR_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

/* out := <tmpfs or /tmp>/sw-fuzz-<what>.<pid> (not created) */
static inline void fuzz_dir_name(char *out, size_t n, const char *what)
{
	struct stat sb;
	const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
	snprintf(out, n, "%s/sw-fuzz-%s.%d", base, what, (int)getpid());
}

static inline void fuzz_rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		for (struct dirent *e; (e = readdir(d));) {
			char p[512];
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
			struct stat sb;
			if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
				fuzz_rm_tree(p);
			else
				unlink(p);
		}
		closedir(d);
	}
	rmdir(path);
}

/* Writes (or, with append, appends) n bytes as dir/name. */
static inline void fuzz_put(const char *dir, const char *name, const void *data, size_t n,
			    bool append)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
	FUZZ_CHECK(fd >= 0, "open %s", p);
	FUZZ_CHECK(n == 0 || write(fd, data, n) == (ssize_t)n, "write %s", p);
	close(fd);
}

#endif
