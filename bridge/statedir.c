/*
 * statedir.c - the STATE_DIR lock and the read-only check (see statedir.h).
 */
#include "bridge/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The PID written in the lock file at fd (or path when fd < 0); 0 if none. */
static long read_pid(int fd, const char *path)
{
	char buf[32];
	int f = fd >= 0 ? fd : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0)
		return 0;
	ssize_t n = pread(f, buf, sizeof(buf) - 1, 0);
	if (f != fd)
		close(f);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *end;
	long pid = strtol(buf, &end, 10);
	return end != buf && (*end == '\n' || *end == '\0') && pid > 0 ? pid : 0;
}

/* Whether pid is a running sensor-bridge (by /proc/PID/comm). */
static bool is_bridge(long pid)
{
	char path[64], comm[32];
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool yes = fgets(comm, sizeof(comm), f) && strcmp(comm, "sensor-bridge\n") == 0;
	fclose(f);
	return yes;
}

int statedir_lock(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/" STATEDIR_LOCK_NAME, dir) >= sizeof(path)) {
		snprintf(err, errlen, "STATE_DIR '%s': path too long", dir);
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create STATE_DIR '%s': %s", dir, strerror(errno));
		return -1;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the lock file '%s': %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK) {
			long pid = read_pid(fd, path);
			char who[48] = "";
			if (pid)
				snprintf(who, sizeof(who), " (PID %ld)", pid);
			snprintf(err, errlen, "STATE_DIR '%s' is in use by another sensor-bridge%s, "
				 "which holds '%s'; one bridge per STATE_DIR", dir, who, path);
		} else {
			snprintf(err, errlen, "cannot lock '%s': %s", path, strerror(e));
		}
		close(fd);
		return -1;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write the lock file '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int statedir_check(const char *dir, char *msg, size_t msglen)
{
	struct stat st;
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT) {
			snprintf(msg, msglen, "STATE_DIR '%s': %s", dir, strerror(errno));
			return -1;
		}
		/* the bridge creates one level (mkdir), so the parent must be there */
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", dir);
		size_t l = strlen(parent);
		while (l > 1 && parent[l - 1] == '/')
			parent[--l] = '\0';
		char *slash = strrchr(parent, '/');
		if (!slash)
			snprintf(parent, sizeof(parent), ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(msg, msglen, "STATE_DIR '%s' does not exist, nor does its parent '%s'",
				 dir, parent);
			return -1;
		}
		if (access(parent, W_OK | X_OK) < 0) {
			snprintf(msg, msglen, "STATE_DIR '%s' does not exist and cannot be created: "
				 "'%s': %s", dir, parent, strerror(errno));
			return -1;
		}
		snprintf(msg, msglen, "STATE_DIR '%s' does not exist yet; the bridge will create it "
			 "(checked read-only)", dir);
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(msg, msglen, "STATE_DIR '%s' is not a directory", dir);
		return -1;
	}
	if (access(dir, R_OK | W_OK | X_OK) < 0) {
		snprintf(msg, msglen, "STATE_DIR '%s' is not usable: %s", dir, strerror(errno));
		return -1;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/" STATEDIR_LOCK_NAME, dir);
	long pid = read_pid(-1, path);
	if (pid && is_bridge(pid))
		snprintf(msg, msglen, "STATE_DIR '%s' is a writable directory (checked read-only), "
			 "in use by sensor-bridge PID %ld: a second bridge on it would be refused",
			 dir, pid);
	else
		snprintf(msg, msglen, "STATE_DIR '%s' is a writable directory (checked read-only)",
			 dir);
	return 0;
}
