/*
 * fixture.h - fake sysfs trees for driver tests: a mkdtemp directory the
 * test fills with files (parents created as needed) and removes at the end.
 * Header-only so each test binary stays one file; the caller owns the
 * returned root (fixture_remove frees it).
 */
#ifndef SW_TEST_FIXTURE_H
#define SW_TEST_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *fixture_new(void)
{
	char tmpl[] = "/tmp/sw-sysfs.XXXXXX";
	char *dir = mkdtemp(tmpl);

	return dir ? strdup(dir) : NULL;
}

/* mkdir -p of root/rel's parent directories (or of root/rel if dir). */
static inline int fixture_mkdirs(const char *root, const char *rel, int last_too)
{
	char path[4096];
	size_t n = (size_t)snprintf(path, sizeof(path), "%s/%s", root, rel);

	if (n >= sizeof(path))
		return -1;
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && access(path, F_OK))
			return -1;
		*p = '/';
	}
	if (last_too && mkdir(path, 0755) && access(path, F_OK))
		return -1;
	return 0;
}

/* Writes root/rel with content (exactly, no newline added). */
static inline int fixture_write(const char *root, const char *rel, const char *content)
{
	char path[4096];
	FILE *f;

	if (fixture_mkdirs(root, rel, 0))
		return -1;
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(content, f);
	return fclose(f);
}

static inline int fixture_unlink(const char *root, const char *rel)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return unlink(path);
}

static inline int fixture_rm_one(const char *path, const struct stat *sb, int flag,
				 struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void fixture_remove(char *root)
{
	if (!root)
		return;
	nftw(root, fixture_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
}

#endif
