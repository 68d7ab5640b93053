/*
 * fuzz_config.c - the config file loader (common/config.c), fed the input
 * as a file. Invariants: no crash, leak or UB; an error always says where
 * ("file:line: ..." or the file name); after a successful load every set
 * value is valid for its key's type and bounds, and loading the same file
 * again into a fresh table gives the same values. (An input naming a
 * device or /proc file in a *_FILE key is skipped: reading /dev/tty would
 * block the campaign, and that is the caller's file to name.)
 */
#include <fcntl.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/fuzz/fuzz.h"

static const struct cfg_key keys[] = {
	{ "MQTT_URL", CFG_STR, "tcp://localhost:1883", 0, 0, "broker" },
	{ "PORT", CFG_INT, "8080", 1, 65535, "port" },
	{ "COUNT", CFG_INT, NULL, 0, 0, "unbounded" },
	{ "NEG", CFG_INT, "-5", -10, -1, "negative range" },
	{ "VERBOSE", CFG_BOOL, "false", 0, 0, "flag" },
	{ "MQTT_PASSWORD", CFG_SECRET, NULL, 0, 0, "secret" },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/sw-fuzz-config.%d", (int)getpid());
	int fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	return 0;
}

static void load(struct cfg *c, int *rc, char *err, size_t errlen)
{
	FUZZ_CHECK(cfg_init(c, keys) == 0, "cfg_init");
	*rc = cfg_load_file(c, path, err, errlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memmem(data, size, "dev/", 4) || memmem(data, size, "proc/", 5) ||
	    memmem(data, size, "sys/", 4) || memmem(data, size, "fd/", 3))
		return 0;
	FILE *f = fopen(path, "w");
	FUZZ_CHECK(f, "cannot write %s", path);
	FUZZ_CHECK(fwrite(data, 1, size, f) == size, "write");
	fclose(f);

	struct cfg c, c2;
	char err[512] = "", err2[512] = "";
	int rc, rc2;
	load(&c, &rc, err, sizeof(err));
	if (rc < 0) {
		FUZZ_CHECK(rc == -1 && strncmp(err, path, strlen(path)) == 0, "error '%s'", err);
	} else {
		for (size_t i = 0; i < c.n; i++) {
			const char *v = c.val[i];
			long long n;
			bool b;
			if (!v)
				continue;
			FUZZ_CHECK(c.origin[i], "value without origin");
			if (keys[i].type == CFG_INT) {
				FUZZ_CHECK(cfg_parse_int(v, &n) == 0, "%s='%s'", keys[i].name, v);
				if (keys[i].min || keys[i].max)
					FUZZ_CHECK(n >= keys[i].min && n <= keys[i].max, "bounds");
				FUZZ_CHECK(cfg_int(&c, keys[i].name) == n, "cfg_int");
			} else if (keys[i].type == CFG_BOOL) {
				FUZZ_CHECK(cfg_parse_bool(v, &b) == 0, "%s='%s'", keys[i].name, v);
			}
		}
	}
	load(&c2, &rc2, err2, sizeof(err2));
	FUZZ_CHECK(rc == rc2 && strcmp(err, err2) == 0, "second load differs");
	for (size_t i = 0; i < c.n; i++)
		FUZZ_CHECK((!c.val[i] && !c2.val[i]) ||
			   (c.val[i] && c2.val[i] && strcmp(c.val[i], c2.val[i]) == 0),
			   "value of %s differs", keys[i].name);
	FILE *null = fopen("/dev/null", "w");
	if (null) {
		cfg_print(&c, null);
		fclose(null);
	}
	cfg_release(&c);
	cfg_release(&c2);
	return 0;
}
